#!/usr/bin/env python3
"""Issue 17's row "photos that are not faces": is the tag invisible and readable on graphics,
flat colours and grey photos, through the real `faketagger` command?

    python3 benches/photos.py OUT_DIR WEIGHTS_DIR [WEIGHTS_DIR ...] [--bin target/release/faketagger]

Needs numpy, Pillow, scipy and the `ssimulacra2` package (PyPI, BSD-3, a port of libjxl's
metric): `python3 -m venv /tmp/p && /tmp/p/bin/pip install numpy pillow scipy ssimulacra2`.

The photos are drawn here (seeded, nothing downloaded) or public domain / CC0 (`assets/`, see
its README): a flat grey frame, a logo (a red disc and a blue box on white), a sky gradient, a
chart (thin dark lines and bars on white), the astronaut and its grey copy (`faketagger attack
grey`), a grey cameraman, a cat, a cup of coffee, a rocket launch, a page of grey text and a
horse's silhouette.
Each is tagged whole (`embed --faces off`, default strength; the engine raises the strength when
the tag does not survive saving), then measured on the written PNG:
- strength the engine settled on and the PSNR it reports of the written file;
- SSIMULACRA 2 of the tagged file against the original (libjxl's scale: 90 and above is "very
  high quality", not told apart at 1:1 viewing; 70 "high quality");
- in the flat regions (8×8 blocks of the original whose luma varies by less than 1 level): RMS
  change of luma Y and of chroma Cb, Cr (0–255, BT.601), where a tag shows first;
- whether the tag reads back from the PNG and from a 4:2:0 JPEG q75 copy (`attack jpeg:75`).
Writes OUT_DIR/photos.json, a Markdown table on stdout, and before/after crops of each photo's
flattest corner (3× enlarged, the difference ×10 on mid-grey) as OUT_DIR/crops/NAME-MODEL.png.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw

TAG = "0123456789abcdef"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def draw_photos(out):
    """The photos, as (name, path) pairs, written into `out`."""
    os.makedirs(out, exist_ok=True)
    photos = []

    def save(name, img):
        path = os.path.join(out, name + ".png")
        img.save(path)
        photos.append((name, path))

    save("flat-grey", Image.new("RGB", (640, 480), (128, 128, 128)))
    logo = Image.new("RGB", (640, 480), (255, 255, 255))
    d = ImageDraw.Draw(logo)
    d.ellipse((120, 140, 320, 340), fill=(220, 30, 40))
    d.rectangle((360, 160, 520, 320), fill=(30, 60, 200))
    save("logo", logo)
    y = np.linspace(0.0, 1.0, 480)[:, None, None]
    sky = (1 - y) * np.array([70, 130, 220]) + y * np.array([235, 240, 250])
    save("gradient", Image.fromarray(np.broadcast_to(sky, (480, 640, 3)).round().astype(np.uint8)))
    chart = Image.new("RGB", (640, 480), (255, 255, 255))
    d = ImageDraw.Draw(chart)
    rng = np.random.default_rng(17)
    for k in range(12):
        d.line((40, 40 + 34 * k, 600, 40 + 34 * k), fill=(200, 200, 200), width=1)
    for k in range(10):
        h = int(rng.integers(40, 380))
        d.rectangle((60 + 54 * k, 440 - h, 90 + 54 * k, 440), fill=(40, 40, 60))
    d.line((40, 440, 600, 440), fill=(0, 0, 0), width=2)
    save("chart", chart)
    astronaut = os.path.join(ROOT, "assets", "astronaut.jpg")
    photos.append(("astronaut", astronaut))
    folder = os.path.join(ROOT, "assets", "photos")
    for name in sorted(os.listdir(folder)):
        photos.append((os.path.splitext(name)[0], os.path.join(folder, name)))
    return photos


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def ycbcr(img):
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return y, cb, cr


def flat_mask(y):
    """Pixels in 8×8 blocks whose luma spans less than 1 level."""
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    blocks = y[:h, :w].reshape(h // 8, 8, w // 8, 8)
    flat = (blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))) < 1.0
    mask = np.zeros(y.shape, dtype=bool)
    mask[:h, :w] = np.repeat(np.repeat(flat, 8, axis=0), 8, axis=1)
    return mask


def flattest_corner(mask, side=96):
    """Top-left of the side² window with the most flat pixels (a corner of a flat area)."""
    best, at = -1, (0, 0)
    for y in range(0, mask.shape[0] - side + 1, 16):
        for x in range(0, mask.shape[1] - side + 1, 16):
            n = int(mask[y:y + side, x:x + side].sum())
            if n > best:
                best, at = n, (x, y)
    return at


def crops(original, tagged, path, side=96, zoom=3):
    y, _, _ = ycbcr(original)
    x0, y0 = flattest_corner(flat_mask(y), side)
    box = (x0, y0, x0 + side, y0 + side)
    a = original.convert("RGB").crop(box)
    b = tagged.convert("RGB").crop(box)
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    amp = Image.fromarray(np.clip(128 + 10 * diff, 0, 255).round().astype(np.uint8))
    sheet = Image.new("RGB", (3 * side * zoom + 2 * 8, side * zoom), (255, 255, 255))
    for k, im in enumerate((a, b, amp)):
        sheet.paste(im.resize((side * zoom, side * zoom), Image.NEAREST), (k * (side * zoom + 8), 0))
    sheet.save(path)


def reads(binary, weights, path):
    r = run([binary, "decode", path, "--json", "--faces", "off", "--weights", weights, "-q"])
    try:
        found = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False
    return found.get("tag") == TAG


def main():
    from ssimulacra2 import compute_ssimulacra2

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("weights", nargs="+")
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "faketagger"))
    args = p.parse_args()
    photos = draw_photos(os.path.join(args.out, "photos"))
    grey = os.path.join(args.out, "photos", "astronaut-grey.png")
    astronaut = dict(photos)["astronaut"]
    r = run([args.bin, "attack", "grey", astronaut, "--output", grey, "--force", "-q"])
    if r.returncode != 0:
        sys.exit(f"attack grey failed: {r.stderr}")
    photos.append(("astronaut-grey", grey))
    os.makedirs(os.path.join(args.out, "crops"), exist_ok=True)
    rows = []
    print("| photo | model | strength | PSNR dB | SSIMULACRA 2 | flat ΔY / ΔCb / ΔCr (RMS) | reads PNG / JPEG q75 |")
    print("|---|---|---|---|---|---|---|")
    for name, src in photos:
        for weights in args.weights:
            model = os.path.basename(os.path.normpath(weights))
            out = os.path.join(args.out, f"{name}-{model}.png")
            r = run([args.bin, "embed", src, "-o", out, "--tag", TAG, "--faces", "off",
                     "--weights", weights, "--json", "--force", "-q"])
            try:
                embed = json.loads(r.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                embed = {"error": (r.stderr or "no output").strip()}
            row = {"photo": name, "model": model, "strength": embed.get("strength"),
                   "psnr": embed.get("psnr"), "error": embed.get("error")}
            if row["error"] is None:
                original = Image.open(src)
                tagged = Image.open(out)
                row["ssimulacra2"] = round(float(compute_ssimulacra2(src, out)), 2)
                y0, cb0, cr0 = ycbcr(original)
                y1, cb1, cr1 = ycbcr(tagged)
                mask = flat_mask(y0)
                row["flat_share"] = round(float(mask.mean()), 3)
                rms = lambda a, b: round(float(np.sqrt(((a - b)[mask] ** 2).mean())), 3) if mask.any() else None
                row["flat_rms_y"], row["flat_rms_cb"], row["flat_rms_cr"] = rms(y1, y0), rms(cb1, cb0), rms(cr1, cr0)
                jpeg = os.path.join(args.out, f"{name}-{model}-q75.jpg")
                run([args.bin, "attack", "jpeg:75", out, "--output", jpeg, "--force", "-q"])
                row["reads_png"], row["reads_jpeg75"] = reads(args.bin, weights, out), reads(args.bin, weights, jpeg)
                crops(original, tagged, os.path.join(args.out, "crops", f"{name}-{model}.png"))
                flat = (f"{row['flat_rms_y']} / {row['flat_rms_cb']} / {row['flat_rms_cr']}"
                        if row["flat_rms_y"] is not None else "no flat area")
                print(f"| {name} | {model} | {row['strength']} | {row['psnr']} | {row['ssimulacra2']} | "
                      f"{flat} | {'yes' if row['reads_png'] else 'no'} / {'yes' if row['reads_jpeg75'] else 'no'} |")
            else:
                print(f"| {name} | {model} | refused | — | — | — | — |")
            rows.append(row)
            sys.stdout.flush()
    with open(os.path.join(args.out, "photos.json"), "w") as f:
        json.dump(rows, f, indent=1)
    # the same, a photo a row: strength the engine settled on, PSNR, SSIMULACRA 2
    models = [os.path.basename(os.path.normpath(w)) for w in args.weights]
    print()
    print("| photo | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for name, _ in photos:
        cells = []
        for model in models:
            row = next(r for r in rows if r["photo"] == name and r["model"] == model)
            cells.append("refused" if row["error"] else
                         f"{row['strength']}×, {row['psnr']} dB, {row['ssimulacra2']}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print("Refused: \"the tag does not survive being saved as PNG, even at strength 3.375\" "
          "(photos.json has each message).")


if __name__ == "__main__":
    main()
