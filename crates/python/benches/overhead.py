"""The Python package's overhead (issue 21): embed and decode of one photo through `faketagger`
(a NumPy array in, the tagged array out) against the same calls in a Rust process
(`examples/in_process.rs`), in rounds of one then the other (median of REPEAT runs each, after a
warm-up), the overhead being the median of the rounds' ratios; and the wheel's size.

    cargo build --release --example in_process
    python crates/python/benches/overhead.py PHOTO [--repeat 5] [--rounds 5] \
        [--rust target/release/examples/in_process] [--wheel target/wheels/faketagger-*.whl]

Run it with a release build of the package (`pip install ./crates/python`).
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np
from PIL import Image

import faketagger

TAG = "0123456789abcdef"


def times_ms(call, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def median_ms(call, repeat):
    return float(np.median(times_ms(call, repeat)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("--repeat", type=int, default=5, help="runs per round (median)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of Python then Rust")
    parser.add_argument("--rust", default="target/release/examples/in_process")
    parser.add_argument("--wheel", help="a built wheel, to report its size")
    args = parser.parse_args()

    photo = np.asarray(Image.open(args.photo).convert("RGB"))
    tagger = faketagger.Tagger()
    tagged, _ = tagger.embed(photo, TAG)
    tagger.decode(tagged)
    # rounds of the two in turn, so that the machine's drift (±15% between runs here) falls
    # on both: the overhead is the median of the rounds' ratios
    # the tagged photo as a PIL image's array (its samples in an immutable bytes object, read
    # where they lie) and as the package returned it (a writable array: copied once)
    tagged_pil = np.asarray(Image.fromarray(tagged))
    rows = [("embed_ms", "embed_ms", "embed (faces auto)"),
            ("decode_pil_ms", "decode_ms", "decode, tagged, a PIL image's array"),
            ("decode_ms", "decode_ms", "decode, tagged, the array embed returned"),
            ("decode_untagged_ms", "decode_untagged_ms", "decode, untagged"),
            ("decode_pil_min_ms", "decode_min_ms", "decode, tagged, a PIL image's array: fastest run"),
            ("decode_min_ms", "decode_min_ms", "decode, tagged, the array embed returned: fastest run")]
    rounds = []
    for _ in range(args.rounds):
        python = {
            "embed_ms": median_ms(lambda: tagger.embed(photo, TAG), args.repeat),
            "decode_ms": float(np.median(decode := times_ms(lambda: tagger.decode(tagged),
                                                            args.repeat))),
            "decode_min_ms": min(decode),
            "decode_pil_ms": float(np.median(pil := times_ms(lambda: tagger.decode(tagged_pil),
                                                             args.repeat))),
            "decode_pil_min_ms": min(pil),
            "decode_untagged_ms": median_ms(lambda: tagger.decode(photo), args.repeat),
        }
        rust = json.loads(subprocess.run([args.rust, args.photo, str(args.repeat)], check=True,
                                         capture_output=True, text=True).stdout)
        rounds.append((python, rust))
    print(f"{photo.shape[1]}×{photo.shape[0]}, {args.rounds} rounds of {args.repeat} runs each")
    print("| | Python package (ms) | Rust, same calls (ms) | overhead |")
    print("|---|---|---|---|")
    for key, rust_key, label in rows:
        python = float(np.median([p[key] for p, _ in rounds]))
        rust = float(np.median([r[rust_key] for _, r in rounds]))
        overhead = float(np.median([p[key] / r[rust_key] for p, r in rounds])) - 1
        print(f"| {label} | {python:.1f} | {rust:.1f} | {overhead:+.1%} |")
    if args.wheel:
        print(f"wheel {os.path.basename(args.wheel)}: {os.path.getsize(args.wheel) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
