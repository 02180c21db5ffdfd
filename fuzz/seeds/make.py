#!/usr/bin/env python3
"""Regenerates fuzz/seeds/: small, valid starting files for the fuzz targets (fuzz/README.md).

One synthetic 64x64 photo made here (no outside image) in every container the reader takes
(JPEG, PNG, WebP, TIFF, BMP; AVIF is written, not read), with the features it handles besides
pixels: EXIF orientation, an ICC profile, alpha, grey, 16 bits, a palette.
The codec target starts from 128 random bytes (seeded).

    python3 fuzz/seeds/make.py   (Pillow)
"""
import io
import random
from pathlib import Path

from PIL import Image, ImageCms

OUT = Path(__file__).resolve().parent


def photo(mode="RGB"):
    img = Image.new("RGB", (64, 64))
    img.putdata([((x * 4) % 256, (y * 4) % 256, ((x * y) // 8) % 256)
                 for y in range(64) for x in range(64)])
    return img.convert(mode)


def save(name, img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    (OUT / "image" / name).write_bytes(buf.getvalue())


def main():
    (OUT / "image").mkdir(exist_ok=True)
    (OUT / "codec").mkdir(exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turned 90°
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save("turned-icc.jpg", photo(), "JPEG", quality=80, exif=exif.tobytes(), icc_profile=icc)
    save("grey-progressive.jpg", photo("L"), "JPEG", quality=60, progressive=True)
    save("alpha.png", photo("RGBA"), "PNG")
    save("grey.png", photo("L"), "PNG")
    save("wide.png", photo("I;16"), "PNG")
    save("palette.png", photo("P"), "PNG")
    save("lossy.webp", photo(), "WEBP", quality=50)
    save("lossless-alpha.webp", photo("RGBA"), "WEBP", lossless=True)
    save("deflate.tif", photo(), "TIFF", compression="tiff_adobe_deflate")
    save("plain.bmp", photo(), "BMP")
    rng = random.Random(19)
    (OUT / "codec" / "random.bin").write_bytes(bytes(rng.randrange(256) for _ in range(128)))


if __name__ == "__main__":
    main()
