#!/usr/bin/env python3
"""faketagger's JPEG attack against a reference libjpeg (Pillow's), issue 16.

    pip install pillow numpy
    python3 benches/peers/jpeg_crosscheck.py --faketagger target/debug/faketagger \
        --data ../shared/datasets/celeba-faces128 --split test --count 40

Tags the faces (one tag, PNG, so the tag is intact), then JPEG-compresses each tagged face at
q30/50/70/90 with 4:2:0 chroma twice: with faketagger's `attack jpeg:Q` and with Pillow
(`quality=Q, subsampling=2`, libjpeg's standard tables). Both files are decoded by the same
decoder (faketagger's, which also reads the attack's own JPEG) and compared: PSNR between the two
decodings, and the tag decoder's channel-bit accuracy on each. Passes when every quality gives a
mean PSNR >= 45 dB and bit accuracies within 1 point; exit 1 otherwise. Prints a Markdown table
and writes the numbers as JSON (--out).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

QUALITIES = [30, 50, 70, 90]
MIN_PSNR_DB = 45.0
MAX_BIT_GAP = 0.01
TAG = "5eed0123456789ab"


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode not in (0, 1):  # 1: no tag found, a result
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return out.stdout


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def decode_bits(binary, paths):
    lines = run([binary, "decode", "--json", *paths]).splitlines()
    return {json.loads(l)["path"]: json.loads(l)["channel_bits"] for l in lines if l.strip()}


def accuracy(decoded, truth):
    right = [sum(a == b for a, b in zip(bits, truth[p])) / len(truth[p]) for p, bits in decoded.items()]
    return sum(right) / len(right)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faketagger", default="target/release/faketagger")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--out", help="write the numbers as JSON here")
    args = ap.parse_args()

    with open(os.path.join(args.data, "meta.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == args.split][: args.count]
    if not rows:
        sys.exit(f"no faces of split {args.split!r} in {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        src, tagged = os.path.join(tmp, "src"), os.path.join(tmp, "tagged")
        os.makedirs(src)
        os.makedirs(tagged)
        names = []
        for r in rows:
            name = os.path.splitext(r["file"])[0] + ".png"
            Image.open(os.path.join(args.data, r["file"])).convert("RGB").save(os.path.join(src, name))
            names.append(name)
        run([args.faketagger, "embed", "--tag", TAG, "--out-dir", tagged, "--json",
             *[os.path.join(src, n) for n in names]])
        truth_bits = json.loads(run([args.faketagger, "codec", "encode", "--tag", TAG, "--json"]))["channel_bits"]
        results = []
        for q in QUALITIES:
            ours_dir, pil_dir = os.path.join(tmp, f"ours{q}"), os.path.join(tmp, f"pil{q}")
            os.makedirs(ours_dir)
            os.makedirs(pil_dir)
            psnrs = []
            for n in names:
                ours = os.path.join(ours_dir, n)
                run([args.faketagger, "attack", f"jpeg:{q}", os.path.join(tagged, n), "-o", ours])
                jpg = os.path.join(pil_dir, n[:-4] + ".jpg")
                Image.open(os.path.join(tagged, n)).save(jpg, quality=q, subsampling=2)
                pil = os.path.join(pil_dir, n)
                # the same decoder as the attack's: faketagger reads Pillow's file
                run([args.faketagger, "attack", "identity", jpg, "-o", pil])
                psnrs.append(psnr(np.asarray(Image.open(ours)), np.asarray(Image.open(pil))))
            truth = {}
            ours_paths = [os.path.join(ours_dir, n) for n in names]
            pil_paths = [os.path.join(pil_dir, n) for n in names]
            for p in ours_paths + pil_paths:
                truth[p] = truth_bits
            acc_ours = accuracy(decode_bits(args.faketagger, ours_paths), truth)
            acc_pil = accuracy(decode_bits(args.faketagger, pil_paths), truth)
            finite = [p for p in psnrs if p != float("inf")]
            results.append({
                "quality": q,
                "psnr_mean_db": float(np.mean(finite)) if finite else float("inf"),
                "psnr_min_db": float(min(psnrs)),
                "bit_accuracy_faketagger": acc_ours,
                "bit_accuracy_pillow": acc_pil,
            })
    print(f"{len(names)} {args.split} faces, tagged (PNG), JPEG 4:2:0; Pillow {Image.__version__}\n")
    print("| quality | PSNR ours vs Pillow, mean (min) | bit accuracy, ours | Pillow | pass |")
    print("|---|---|---|---|---|")
    failed = False
    for r in results:
        ok = r["psnr_mean_db"] >= MIN_PSNR_DB and abs(r["bit_accuracy_faketagger"] - r["bit_accuracy_pillow"]) <= MAX_BIT_GAP
        failed |= not ok
        print(f"| {r['quality']} | {r['psnr_mean_db']:.2f} dB ({r['psnr_min_db']:.2f}) | "
              f"{r['bit_accuracy_faketagger']:.4f} | {r['bit_accuracy_pillow']:.4f} | {'yes' if ok else 'NO'} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"faces": len(names), "split": args.split, "pillow": Image.__version__,
                       "rows": results}, f, indent=2)
    if failed:
        sys.exit(f"JPEG cross-check failed: needs mean PSNR >= {MIN_PSNR_DB} dB and bit accuracy within {MAX_BIT_GAP}")
    print(f"\njpeg-crosscheck: {len(QUALITIES)} passed, 0 failed")


if __name__ == "__main__":
    main()
