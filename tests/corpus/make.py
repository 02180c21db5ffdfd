#!/usr/bin/env python3
"""Regenerates tests/corpus/: malformed image files for the reader and the decode path (issue 19).

From one synthetic 64x64 photo made here (no outside image), in JPEG, PNG, WebP and TIFF:
  FORMAT-cutNN.EXT   the file truncated at NN% (10..90) of its length
  FORMAT-flipN.EXT   N seeded bit flips past the first 32 bytes (1, 8, 64)
  FORMAT-lying.EXT   a header that lies about the size (larger than the data)
  FORMAT-whole.EXT   the intact file (must decode)
and the fuzzer's findings (fuzz/README.md), rebuilt here with valid checksums:
  png-palette-short.png   a palette of 710 bytes, not whole RGB entries (png 0.18.1 panicked)
tests/bad_inputs.rs reads every file through the library and the CLI: no panic, every refusal
names the file, truncated and lying files are never decoded as if whole.

    python3 tests/corpus/make.py   (Pillow)
"""
import io
import random
import struct
import zlib
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent


def photo():
    img = Image.new("RGB", (64, 64))
    img.putdata([((x * 4) % 256, (y * 4) % 256, ((x * y) // 8) % 256)
                 for y in range(64) for x in range(64)])
    return img


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_lying(data):
    # IHDR width/height doubled, CRC recomputed: a valid header promising more rows than there are
    w, h = struct.unpack(">II", data[16:24])
    body = b"IHDR" + struct.pack(">II", w * 2, h * 2) + data[24:29]
    return data[:12] + body + struct.pack(">I", zlib.crc32(body)) + data[33:]


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_palette_short():
    # 64x64, 8-bit indexed, a PLTE chunk of 710 bytes (236 entries and 2 bytes), valid CRCs
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 3, 0, 0, 0)
    rows = b"".join(b"\0" + bytes(range(64)) for _ in range(64))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"PLTE", bytes(710))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg_lying(data):
    # SOF0 height and width doubled
    i = data.index(b"\xff\xc0")
    h, w = struct.unpack(">HH", data[i + 5:i + 9])
    return data[:i + 5] + struct.pack(">HH", h * 2, w * 2) + data[i + 9:]


def webp_lying(data):
    # VP8L: 14-bit width-1 and height-1 after the signature byte 0x2f
    i = data.index(b"VP8L") + 8
    assert data[i] == 0x2F
    bits = int.from_bytes(data[i + 1:i + 5], "little")
    w = (bits & 0x3FFF) + 1
    h = ((bits >> 14) & 0x3FFF) + 1
    bits = (bits & ~0xFFFFFFF) | ((w * 2 - 1) & 0x3FFF) | (((h * 2 - 1) & 0x3FFF) << 14)
    return data[:i + 1] + bits.to_bytes(4, "little") + data[i + 5:]


def tiff_lying(data):
    # ImageLength (tag 257) doubled in the first IFD (little-endian, SHORT or LONG)
    assert data[:2] == b"II"
    ifd = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[ifd:ifd + 2])[0]
    for k in range(n):
        e = ifd + 2 + 12 * k
        tag, typ = struct.unpack("<HH", data[e:e + 4])
        if tag == 257:
            fmt = "<H" if typ == 3 else "<I"
            size = 2 if typ == 3 else 4
            v = struct.unpack(fmt, data[e + 8:e + 8 + size])[0]
            return data[:e + 8] + struct.pack(fmt, v * 2) + data[e + 8 + size:]
    raise ValueError("no ImageLength")


def main():
    img = photo()
    formats = {
        "jpeg": ("jpg", encode(img, "JPEG", quality=90), jpeg_lying),
        "png": ("png", encode(img, "PNG"), png_lying),
        "webp": ("webp", encode(img, "WEBP", lossless=True), webp_lying),
        "tiff": ("tif", encode(img, "TIFF"), tiff_lying),
    }
    for old in OUT.glob("*-*.*"):
        if old.suffix != ".py":
            old.unlink()
    rng = random.Random(19)
    for name, (ext, data, lying) in formats.items():
        (OUT / f"{name}-whole.{ext}").write_bytes(data)
        for tenth in range(1, 10):
            (OUT / f"{name}-cut{tenth * 10}.{ext}").write_bytes(data[: len(data) * tenth // 10])
        for flips in (1, 8, 64):
            b = bytearray(data)
            for _ in range(flips):
                i = rng.randrange(32, len(b))
                b[i] ^= 1 << rng.randrange(8)
            (OUT / f"{name}-flip{flips}.{ext}").write_bytes(bytes(b))
        (OUT / f"{name}-lying.{ext}").write_bytes(lying(data))
    (OUT / "png-palette-short.png").write_bytes(png_palette_short())
    print(f"{len(list(OUT.glob('*-*.*')))} files in {OUT}")


if __name__ == "__main__":
    main()
