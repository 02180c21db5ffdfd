"""Reference outputs of facenet-pytorch 2.6.0's MTCNN, for checking the burn port.

Writes `reference.json` beside this file: the three networks' raw outputs on a fixed synthetic
batch, and the full detector's boxes, scores and landmarks on photos that the Rust tests rebuild
exactly (the bundled public-domain astronaut, CelebA test faces read from ../shared, and
composites of them on a generated canvas). Only numbers and file names are written, never pixels.

Needs torch, torchvision, facenet-pytorch (no-deps), numpy, Pillow:

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.11.0 numpy pillow requests tqdm
    /tmp/ref/bin/pip install --no-deps torchvision==0.26.0 facenet-pytorch==2.6.0
    /tmp/ref/bin/python weights/mtcnn/reference.py --data ../shared/datasets/celeba-faces128

Run from the repository root. CPU only; a few seconds.
"""

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from facenet_pytorch import MTCNN

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# How many CelebA test faces are checked one by one, and which go into the composites.
SINGLE_FACES = 24
CANVAS = (800, 600)


def synthetic(batch, side):
    """x[b, c, i, j] = sin(0.37 i + 0.23 j + 1.1 c + 0.7 b), as the Rust test builds it."""
    b, c, i, j = np.meshgrid(
        np.arange(batch), np.arange(3), np.arange(side), np.arange(side), indexing="ij"
    )
    return np.sin(0.37 * i + 0.23 * j + 1.1 * c + 0.7 * b).astype(np.float32)


def canvas():
    """The composites' background: red along x, green along y, blue 128 (integer arithmetic)."""
    w, h = CANVAS
    x = np.arange(w)[None, :].repeat(h, 0)
    y = np.arange(h)[:, None].repeat(w, 1)
    rgb = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full((h, w), 128)], -1)
    return rgb.astype(np.uint8)


def double(face):
    """Nearest-neighbour 2x."""
    return face.repeat(2, 0).repeat(2, 1)


def halve(face):
    """2x2 box mean, rounded half up."""
    f = face.astype(np.int32)
    s = f[0::2, 0::2] + f[1::2, 0::2] + f[0::2, 1::2] + f[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def paste(dst, face, x, y):
    dst[y : y + face.shape[0], x : x + face.shape[1]] = face


def composites(faces):
    """Two photos with several faces at several sizes (positions given in the JSON)."""
    a = canvas()
    placements_a = [(faces[0], 40, 60), (double(faces[1]), 300, 200), (halve(faces[2]), 650, 40)]
    for face, x, y in placements_a:
        paste(a, face, x, y)
    b = canvas()
    placements_b = [(faces[3], 100 + 150 * k, 100 + 60 * k) for k in range(4)]
    for face, x, y in placements_b:
        paste(b, face, x, y)
    return [("composite-a", a), ("composite-b", b)]


def detections(mtcnn, rgb):
    boxes, probs, points = mtcnn.detect(Image.fromarray(rgb), landmarks=True)
    if boxes is None:
        return []
    return [
        {"bbox": [float(v) for v in b], "score": float(p), "landmarks": [[float(v) for v in q] for q in pts]}
        for b, p, pts in zip(boxes, probs, points)
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help="the celeba-faces128 folder")
    args = parser.parse_args()
    torch.manual_seed(0)
    mtcnn = MTCNN(keep_all=True, device="cpu")
    out = {"source": "facenet-pytorch 2.6.0, torch " + torch.__version__, "networks": {}, "photos": []}

    with torch.no_grad():
        reg, prob = mtcnn.pnet(torch.from_numpy(synthetic(2, 37)))
        out["networks"]["pnet"] = {"batch": 2, "side": 37, "regression": reg.flatten().tolist(), "face": prob[:, 1].flatten().tolist()}
        reg, prob = mtcnn.rnet(torch.from_numpy(synthetic(3, 24)))
        out["networks"]["rnet"] = {"batch": 3, "side": 24, "regression": reg.flatten().tolist(), "face": prob[:, 1].tolist()}
        reg, pts, prob = mtcnn.onet(torch.from_numpy(synthetic(3, 48)))
        out["networks"]["onet"] = {
            "batch": 3,
            "side": 48,
            "regression": reg.flatten().tolist(),
            "landmarks": pts.flatten().tolist(),
            "face": prob[:, 1].tolist(),
        }

    astronaut = np.asarray(Image.open(ROOT / "assets" / "astronaut.jpg").convert("RGB"))
    out["photos"].append({"name": "assets/astronaut.jpg", "faces": detections(mtcnn, astronaut)})

    with open(args.data / "meta.csv", newline="") as f:
        test = sorted(r["file"] for r in csv.DictReader(f) if r["split"] == "test")
    chosen = test[:SINGLE_FACES]
    faces = []
    for name in chosen:
        rgb = np.asarray(Image.open(args.data / name).convert("RGB"))
        faces.append(rgb)
        out["photos"].append({"name": name, "faces": detections(mtcnn, rgb)})
    for name, rgb in composites(faces):
        out["photos"].append({"name": name, "faces": detections(mtcnn, rgb)})
    out["composite_faces"] = chosen[:4]

    (HERE / "reference.json").write_text(json.dumps(out, indent=1) + "\n")
    found = sum(len(p["faces"]) for p in out["photos"])
    print(f"wrote reference.json: {len(out['photos'])} photos, {found} faces")


if __name__ == "__main__":
    main()
