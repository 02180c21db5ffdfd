"""Trains a regenerator (issue 16) with PyTorch on the CPU: the twin of
`faketagger_model::noise::regenerator` (TAESD layout, 8-bit latent), from the same run file.

Why a twin: burn's CPU backend spends ~11.5 s on one batch-16 step of the width-16 regenerator on
the 2-core development machine; PyTorch (oneDNN) spends ~0.35 s on the same step there. The
regenerators are frozen attacks, not the tagger, so they are trained here and converted to burn
once (`cargo run --release -p faketagger-train --example convert_regenerator`), and a test checks
the converted network against this one's outputs (`reference.json`).

    python3 -m venv venv && venv/bin/pip install torch==2.11.0 numpy pillow
    venv/bin/python training/pytorch/regenerator.py --config training/configs/regen-f8c16.toml
    # stopped? the same command with --resume continues from the last checkpoint

The module and parameter names are the burn module's (`stem`, `first.c1`, `downs.0`, ...), so the
state dict saved as `<out>/regenerator.pt` loads into burn without renaming. Seeded: the same run
file, thread count and machine give the same weights.

Writes into the run file's `out`: `log.csv` (step, stage, lr, batch MSE, seconds), `val.csv`
(step, PSNR and 8-bit PSNR of the first `eval_faces` val faces), `checkpoint.pt` (weights, Adam's
moments, step, random state; every `checkpoint_minutes` and at each stage's end),
`regenerator.pt` (the final weights) and `reference.json` (outputs on fixed inputs, for the
conversion test).
"""

import argparse
import csv
import json
import math
import os
import sys
import time
import tomllib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

LATENT_MAGNITUDE = 3.0
LATENT_LEVELS = 255.0


def conv3(cin, cout, stride=1, bias=True):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


class Block(nn.Module):
    """Three 3x3 convolutions with ReLUs, a residual, and a ReLU after the sum."""

    def __init__(self, width):
        super().__init__()
        self.c1 = conv3(width, width)
        self.c2 = conv3(width, width)
        self.c3 = conv3(width, width)

    def forward(self, x):
        return F.relu(self.c3(F.relu(self.c2(F.relu(self.c1(x))))) + x)


def quantise_latent(latent):
    """As burn's `quantise_latent`: to 0..1, rounded to 8 bits (straight-through), back."""
    unit = (latent / (2 * LATENT_MAGNITUDE) + 0.5).clamp(0.0, 1.0) * LATENT_LEVELS
    stored = unit - unit.detach() + unit.detach().round()
    return (stored / LATENT_LEVELS - 0.5) * (2 * LATENT_MAGNITUDE)


class Regenerator(nn.Module):
    def __init__(self, width, latent_channels, downsamples, blocks):
        super().__init__()
        self.blocks = blocks
        stages = downsamples * blocks
        self.stem = conv3(3, width)
        self.first = Block(width)
        self.downs = nn.ModuleList(conv3(width, width, 2, False) for _ in range(downsamples))
        self.down_blocks = nn.ModuleList(Block(width) for _ in range(stages))
        self.to_latent = conv3(width, latent_channels)
        self.from_latent = conv3(latent_channels, width)
        self.up_blocks = nn.ModuleList(Block(width) for _ in range(stages))
        self.ups = nn.ModuleList(conv3(width, width, 1, False) for _ in range(downsamples))
        self.last = Block(width)
        self.head = conv3(width, 3)

    def encode(self, images):
        x = self.first(self.stem(images))
        b = self.blocks
        for s, down in enumerate(self.downs):
            x = down(x)
            for block in self.down_blocks[s * b:(s + 1) * b]:
                x = block(x)
        return self.to_latent(x)

    def decode(self, latent):
        latent = torch.tanh(latent / LATENT_MAGNITUDE) * LATENT_MAGNITUDE
        x = F.relu(self.from_latent(latent))
        b = self.blocks
        for s, up in enumerate(self.ups):
            for block in self.up_blocks[s * b:(s + 1) * b]:
                x = block(x)
            x = up(F.interpolate(x, scale_factor=2, mode="nearest"))
        return self.head(self.last(x))

    def forward(self, images):
        return self.decode(quantise_latent(self.encode(images)))


def load_split(data, split, limit=None):
    """The faces of `split` in meta.csv order, as uint8 [N, 3, R, R]."""
    with open(os.path.join(data, "meta.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split]
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        sys.exit(f"regenerator.py: no faces of split {split!r} in {data}/meta.csv")
    faces = [np.asarray(Image.open(os.path.join(data, r["file"])).convert("RGB")) for r in rows]
    return torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).contiguous()


def to_unit(faces):
    return faces.float().div_(255.0).contiguous(memory_format=torch.channels_last)


def psnr_8bit(output, target_u8):
    """Mean PSNR of the outputs rounded to 8 bits against the 8-bit targets (as the Rust
    metrics measure a saved image)."""
    out = (output.clamp(0, 1) * 255).round()
    mse = (out - target_u8.float()).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))).clamp(max=100).mean())


def stages_of(run):
    """[(name, first step, last step, lr)] from the run file's stages."""
    lr = run["model"]["learning_rate"]
    out, start = [], 1
    for stage in run["stages"]:
        lr = stage.get("set", {}).get("learning_rate", lr)
        out.append((stage["name"], start, start + stage["steps"] - 1, lr))
        start += stage["steps"]
    return out


def reference_inputs():
    """Three synthetic 128 px images, made the same way by the conversion test in Rust: a ramp
    (R = x, G = y, B = x*y), waves, and a checkerboard (computed in float64, stored as float32)."""
    i = torch.arange(128, dtype=torch.float64)
    x, y = i[None, :].expand(128, 128), i[:, None].expand(128, 128)
    ramp = torch.stack([x / 127, y / 127, x * y / 127**2])
    waves = torch.stack([0.5 + 0.4 * torch.sin(x / 5), 0.5 + 0.4 * torch.cos(y / 7),
                         0.5 + 0.4 * torch.sin((x + y) / 11)])
    cells = ((x // 8 + y // 8) % 2).to(torch.float64)
    checker = torch.stack([0.2 + 0.6 * cells, 0.8 - 0.6 * cells, 0.3 + 0.4 * cells])
    return torch.stack([ramp, waves, checker]).float()


def reference(net):
    """Outputs on `reference_inputs()`: latent and output sums and 64 sampled output values
    per image, for the conversion test."""
    inputs = reference_inputs()
    with torch.no_grad():
        latent = net.encode(inputs)
        output = net(inputs)
    g = torch.Generator().manual_seed(7)
    picks = torch.randint(0, output[0].numel(), (64,), generator=g)
    return {
        "inputs": "reference_inputs() of training/pytorch/regenerator.py: ramp, waves, checker",
        "latent_sum": [float(v) for v in latent.flatten(1).sum(1)],
        "output_sum": [float(v) for v in output.flatten(1).sum(1)],
        "picks": [int(p) for p in picks],
        "output_picks": [[float(v) for v in o.flatten()[picks]] for o in output],
    }


def write_reference(net, out):
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference(net), f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-after", type=float, default=None,
                    help="minutes after which to checkpoint and stop (resume later)")
    ap.add_argument("--reference-only", action="store_true",
                    help="only (re)write reference.json from the run's regenerator.pt")
    args = ap.parse_args()

    with open(args.config, "rb") as f:
        run = tomllib.load(f)
    shape = run["model"]["regenerator"]
    if shape.get("resolution", 128) != 128:
        sys.exit("regenerator.py: only 128 px regenerators")
    out = run["out"]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(run["seed"])
    batch = run["model"]["batch_size"]
    stages = stages_of(run)
    last_step = stages[-1][2]

    net = Regenerator(shape["width"], shape["latent_channels"], shape["downsamples"],
                      shape["blocks"]).to(memory_format=torch.channels_last)
    if args.reference_only:
        net.load_state_dict(torch.load(os.path.join(out, "regenerator.pt")))
        net.eval()
        write_reference(net, out)
        return
    opt = torch.optim.Adam(net.parameters(), lr=run["model"]["learning_rate"])
    gen = torch.Generator().manual_seed(run["seed"])
    step = 0
    ckpt_path = os.path.join(out, "checkpoint.pt")
    if args.resume:
        ck = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        step = ck["step"]
        # rows logged after the checkpoint (a run stopped between checkpoints) are redone
        for name in ("log.csv", "val.csv"):
            path = os.path.join(out, name)
            with open(path) as f:
                lines = f.readlines()
            keep = lines[:1] + [l for l in lines[1:] if int(l.split(",")[0]) <= step]
            with open(path, "w") as f:
                f.writelines(keep)
        print(f"resumed at step {step}", flush=True)
    elif os.path.exists(ckpt_path):
        sys.exit(f"regenerator.py: {ckpt_path} exists: pass --resume, or remove {out}")

    data = run["data"]
    train = load_split(data, "train")
    val = load_split(data, "val", run.get("eval_faces", 128))
    print(f"{len(train)} train faces, {len(val)} val faces; {sum(p.numel() for p in net.parameters())}"
          f" parameters; steps {step + 1}..{last_step}", flush=True)

    log = open(os.path.join(out, "log.csv"), "a")
    vlog = open(os.path.join(out, "val.csv"), "a")
    if step == 0:
        log.write("step,stage,lr,mse,seconds\n")
        vlog.write("step,psnr_8bit\n")

    def save_checkpoint():
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                    "step": step}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        log.flush()
        vlog.flush()

    def validate():
        net.eval()
        with torch.no_grad():
            p = psnr_8bit(torch.cat([net(to_unit(val[i:i + 32])) for i in range(0, len(val), 32)]),
                          val)
        net.train()
        vlog.write(f"{step},{p:.4f}\n")
        vlog.flush()
        return p

    started = time.time()
    last_ckpt = started
    while step < last_step:
        step += 1
        name, first, end, lr = next(s for s in stages if s[1] <= step <= s[2])
        for group in opt.param_groups:
            group["lr"] = lr
        t = time.time()
        idx = torch.randint(0, len(train), (batch,), generator=gen)
        flips = torch.rand(batch, generator=gen) < 0.5
        x = train[idx]
        x[flips] = x[flips].flip(-1)
        x = to_unit(x)
        loss = F.mse_loss(net(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.write(f"{step},{name},{lr:g},{loss.item():.6f},{time.time() - t:.3f}\n")
        if step % run.get("eval_every", 200) == 0 or step == end:
            p = validate()
            mse = loss.item()
            print(f"step {step} [{name}] mse {mse:.5f} ({-10 * math.log10(max(mse, 1e-10)):.2f} dB)"
                  f" val {p:.2f} dB, {time.time() - started:.0f} s", flush=True)
        now = time.time()
        if step == end or now - last_ckpt > 60 * run.get("checkpoint_minutes", 3.0):
            save_checkpoint()
            last_ckpt = now
        if args.stop_after is not None and now - started > 60 * args.stop_after:
            save_checkpoint()
            print(f"stopped at step {step} (--stop-after); resume with --resume", flush=True)
            return

    net.eval()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    torch.save(state, os.path.join(out, "regenerator.pt"))
    write_reference(net, out)
    print(f"done: {out}/regenerator.pt, {out}/reference.json", flush=True)


if __name__ == "__main__":
    main()
