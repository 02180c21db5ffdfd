"""Tags a folder of photos and plots how the tag survives JPEG: bit accuracy and exact tags
against the JPEG quality, with Pillow's encoder (libjpeg-turbo, 4:2:0 as platforms write it).

    python crates/python/examples/jpeg_curve.py PHOTOS_DIR --out jpeg-curve.png \
        [--count 40] [--qualities 95 90 80 70 60 50 40 30 20] [--tagged-dir OUT_DIR]

Needs `pip install ./crates/python matplotlib pillow`. Prints the table it plots.
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import faketagger

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def bit_accuracy(read: faketagger.Detection, sent: str) -> float:
    return sum(a == b for a, b in zip(read.channel_bits, sent)) / len(sent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="folder of photos")
    parser.add_argument("--out", type=Path, default=Path("jpeg-curve.png"), help="the plot")
    parser.add_argument("--count", type=int, default=40, help="photos to use (sorted by name)")
    parser.add_argument("--qualities", type=int, nargs="+",
                        default=[95, 90, 80, 70, 60, 50, 40, 30, 20])
    parser.add_argument("--tagged-dir", type=Path, help="also save the tagged copies (PNG) here")
    args = parser.parse_args()

    files = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    files = files[: args.count]
    if not files:
        print(f"error: no photos in {args.photos}", file=sys.stderr)
        return 2
    if args.tagged_dir:
        args.tagged_dir.mkdir(parents=True, exist_ok=True)

    tagger = faketagger.Tagger()
    bits = {q: [] for q in args.qualities}
    exact = {q: [] for q in args.qualities}
    psnrs = []
    for number, path in enumerate(files, start=1):
        photo = np.asarray(Image.open(path).convert("RGB"))
        tag = f"{number:016x}"
        try:
            tagged, info = tagger.embed(photo, tag, retag=True)
        except faketagger.FaketaggerError as error:
            print(f"skipped: {error}", file=sys.stderr)
            continue
        psnrs.append(info.psnr)
        if args.tagged_dir:
            Image.fromarray(tagged).save(args.tagged_dir / f"{path.stem}-tagged.png")
        for quality in args.qualities:
            read = tagger.decode(jpeg(tagged, quality), faces="off")
            bits[quality].append(bit_accuracy(read, info.channel_bits))
            exact[quality].append(read.tag == tag)

    count = len(psnrs)
    if count == 0:
        print("error: no photo could be tagged", file=sys.stderr)
        return 2
    print(f"{count} photos, PSNR mean {np.mean(psnrs):.1f} dB (min {np.min(psnrs):.1f})")
    print("quality  bit accuracy  exact tag")
    for quality in args.qualities:
        print(f"{quality:7d}  {np.mean(bits[quality]):12.4f}  {np.mean(exact[quality]):8.1%}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    qualities = args.qualities
    axis.plot(qualities, [np.mean(bits[q]) for q in qualities], "o-", label="bit accuracy")
    axis.plot(qualities, [np.mean(exact[q]) for q in qualities], "s--", label="exact tag")
    axis.set_xlabel("JPEG quality (Pillow, 4:2:0)")
    axis.set_ylabel("fraction")
    axis.set_ylim(0, 1.02)
    axis.invert_xaxis()
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(f"faketagger {faketagger.__version__}: {count} photos, "
                   f"PSNR {np.mean(psnrs):.1f} dB")
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
