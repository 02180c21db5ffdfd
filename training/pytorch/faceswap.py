"""Trains the sharp face swap (issue 16) with PyTorch: the twin of burn's `FaceSwap`
(`faketagger_model::noise::simulators`: one shared encoder, one decoder per identity), and the
same recipe on tagged photos (FakeTagger's protocol: the faker trains on the victim's tagged
photos; what the swaps carry is the measure).

    python3 training/pytorch/faceswap.py --config training/configs/faceswap-sharp.toml \
        [--device cuda] [--tagged DIR] [--data DIR] [--out DIR]
    python3 training/pytorch/faceswap.py --config ... --reference-only   # reference.json files

Recipe (DeepFakes' design, started from a generic face model, as face-swap tools start from
pretrained weights):
1. `pretrain`: the encoder and one decoder, trained as a plain autoencoder on every `train` face
   that belongs to none of the swap's identities (MSE, random flips).
2. `swap` (run twice from 1, with the same seed: `clean`, and `tagged` when `--tagged` is given):
   the decoder copied once per identity; each step takes `batch_per_identity` training photos of
   every identity, warps the inputs with a smooth random displacement field (DeepFakes' random
   warp; the target is not warped) and trains the encoder and every decoder on MSE. The
   identities are the `identities` training identities with the most faces (ties by label), the
   last `holdout` of each (in meta.csv order) held out: the rule of burn's simulator trainer.

A stage stops at its `steps`, or earlier when its `max_seconds` would be passed: after 40 steps
(the last 30 timed) the script fixes the stage's step count to what fits (`run.json` records
the steps run),
so the learning-rate schedule is a function of the step count as written there.

Writes into `out`: `log.csv`, `val.csv`, `run.json`, `faceswap.json` (the burn config),
`pretrain.pt` (burn `Autoencoder` names), `faceswap-clean.pt` and `faceswap-tagged.pt` (burn
`FaceSwap` names), weights stored as float16 to halve the transfer (the converted burn model is
the float16 values widened, and is what gets graded). `--reference-only` then writes
`reference-clean.json` / `reference-tagged.json` (outputs of every decoder on the synthetic
inputs of regenerator.py, computed on the CPU) for the conversion test, and the weights widened
to float32 (`faceswap-<fork>.f32.pt`), which `examples/convert_twin.rs` reads.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regenerator import psnr_8bit, reference_inputs  # noqa: E402

LEAKY = 0.2
PATCH = 2
MAX_WIDTH = 256
# A stage's step count is fitted to its max_seconds from the time of steps
# WARM_STEPS + 1 ..= WARM_STEPS + TIMED_STEPS (the first ones pick kernels).
WARM_STEPS = 10
TIMED_STEPS = 30


def conv(cin, cout, kernel, stride):
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def widths(shape):
    return [min(shape["width"] << l, MAX_WIDTH) for l in range(shape["levels"] + 1)]


class AeEncoder(nn.Module):
    """burn's `AeEncoder`: unshuffle 2, stem, stride-2 downs, 1x1 bottleneck, tanh."""

    def __init__(self, shape):
        super().__init__()
        w = widths(shape)
        self.stem = conv(3 * PATCH * PATCH, w[0], 3, 1)
        self.downs = nn.ModuleList(conv(w[l], w[l + 1], 3, 2) for l in range(shape["levels"]))
        self.bottleneck = conv(w[-1], shape["bottleneck_channels"], 1, 1)

    def forward(self, image):
        h = F.leaky_relu(self.stem(F.pixel_unshuffle(image - 0.5, PATCH)), LEAKY)
        for down in self.downs:
            h = F.leaky_relu(down(h), LEAKY)
        return torch.tanh(self.bottleneck(h))


class AeDecoder(nn.Module):
    """burn's `AeDecoder`: expand, (conv, shuffle 2) per level, head, shuffle 2, sigmoid."""

    def __init__(self, shape):
        super().__init__()
        w = widths(shape)
        levels = shape["levels"]
        self.expand = conv(shape["bottleneck_channels"], w[levels], 3, 1)
        self.ups = nn.ModuleList(conv(w[l + 1], 4 * w[l], 3, 1) for l in reversed(range(levels)))
        self.head = conv(w[0], 3 * PATCH * PATCH, 3, 1)

    def forward(self, code):
        h = F.leaky_relu(self.expand(code), LEAKY)
        for up in self.ups:
            h = F.leaky_relu(F.pixel_shuffle(up(h), 2), LEAKY)
        return torch.sigmoid(F.pixel_shuffle(self.head(h), PATCH))


class Autoencoder(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.encoder = AeEncoder(shape)
        self.decoder = AeDecoder(shape)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class FaceSwap(nn.Module):
    def __init__(self, shape, identities):
        super().__init__()
        self.encoder = AeEncoder(shape)
        self.decoders = nn.ModuleList(AeDecoder(shape) for _ in range(identities))

    def render_as(self, faces, identity):
        return self.decoders[identity](self.encoder(faces))


def read_rows(data):
    with open(os.path.join(data, "meta.csv"), newline="") as f:
        return list(csv.DictReader(f))


def load_images(folder, files):
    """uint8 [N, 3, R, R] from image files."""
    if not files:
        sys.exit(f"faceswap.py: no images to load from {folder}")
    arr = np.stack([np.asarray(Image.open(os.path.join(folder, f)).convert("RGB")) for f in files])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def pick_identities(rows, count, holdout):
    """burn's `split_identities`: the `count` train identities with the most faces (ties by
    label), each one's last `holdout` faces (meta.csv order) held out."""
    by_id = {}
    for r in rows:
        if r["split"] == "train" and r["identity"]:
            by_id.setdefault(r["identity"], []).append(r["file"])
    ranked = sorted(by_id.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:count]
    if len(ranked) < count or any(len(f) <= holdout for _, f in ranked):
        sys.exit(f"faceswap.py: fewer than {count} identities with more than {holdout} faces")
    return [(name, files[:-holdout], files[-holdout:]) for name, files in ranked]


def random_warp(x, amplitude, gen):
    """DeepFakes' random warp: a smooth displacement field (5x5 normal offsets of std
    `amplitude`, in units of the half-side, upsampled bicubically), reflection at the edges."""
    if amplitude <= 0:
        return x
    b, _, h, w = x.shape
    coarse = (torch.randn(b, 2, 5, 5, generator=gen) * amplitude).to(x.device)
    flow = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=x.device)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=x.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None] + flow.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection",
                         align_corners=False)


def flip_some(x, gen):
    flips = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)
    return torch.where(flips[:, None, None, None], x.flip(-1), x)


def unit(u8, device):
    return u8.to(device).float().div_(255.0).contiguous(memory_format=torch.channels_last)


def half_state(module):
    return {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in module.state_dict().items()}


class Stage:
    """A stage's step count, time budget and learning-rate schedule."""

    def __init__(self, name, cfg, note):
        self.name = name
        self.steps = cfg["steps"]
        self.max_seconds = cfg.get("max_seconds")
        self.lr = cfg["learning_rate"]
        self.final_lr = cfg.get("final_learning_rate", self.lr)
        self.final_fraction = cfg.get("final_fraction", 0.0)
        self.note = note
        self.begun = None
        self.warm = None

    def lr_at(self, step):
        return self.final_lr if step > self.steps * (1 - self.final_fraction) else self.lr

    def after(self, step, device):
        """Call after each step; fits the step count to the time budget once."""
        if step not in (1, WARM_STEPS, WARM_STEPS + TIMED_STEPS) or not self.max_seconds:
            return
        if device.type == "cuda":
            torch.cuda.synchronize()
        now = time.time()
        if step == 1:
            self.begun = now
        elif step == WARM_STEPS:
            self.warm = now
        else:
            per = (now - self.warm) / TIMED_STEPS
            fit = step + int((self.max_seconds - (now - self.begun)) / per)
            self.note[self.name] = {"configured_steps": self.steps, "seconds_per_step": per}
            if fit < self.steps:
                self.note[self.name]["fitted_steps"] = fit
                self.steps = max(fit, step)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", help="dataset folder (default: the run file's)")
    ap.add_argument("--tagged", help="folder of tagged identity photos with manifest.csv "
                    "(written by `--example tagged_swap -- --export`)")
    ap.add_argument("--out", help="output folder (default: the run file's)")
    ap.add_argument("--pretrained", help="a pretrain.pt of an earlier run: skip stage 1 and "
                    "fork from it (e.g. the tagged fork again, for another tagger's photos)")
    ap.add_argument("--reference-only", action="store_true")
    args = ap.parse_args()

    with open(args.config, "rb") as f:
        run = tomllib.load(f)
    shape = run["autoencoder"]
    if shape.get("resolution", 128) != 128:
        sys.exit("faceswap.py: only 128 px face swaps")
    out = args.out or run["out"]
    data = args.data or run["data"]
    count, holdout = run["identities"], run["holdout"]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    if args.reference_only:
        for fork in ("clean", "tagged"):
            path = os.path.join(out, f"faceswap-{fork}.pt")
            if not os.path.exists(path):
                continue
            state = {k: v.float().contiguous() for k, v in torch.load(path).items()}
            net = FaceSwap(shape, count)
            net.load_state_dict(state)
            net.eval()
            torch.save(state, os.path.join(out, f"faceswap-{fork}.f32.pt"))
            write_reference(net, os.path.join(out, f"reference-{fork}.json"))
        return

    torch.manual_seed(run["seed"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    rows = read_rows(data)
    present = set(os.listdir(data))
    ids = pick_identities(rows, count, holdout)
    id_files = {f for _, tr, ho in ids for f in tr + ho}
    generic_files = [r["file"] for r in rows if r["split"] == "train" and r["file"] not in id_files
                     and r["file"] in present]
    missing = [f for f in id_files if f not in present]
    if missing:
        sys.exit(f"faceswap.py: {len(missing)} identity photos missing from {data}")
    val_files = [r["file"] for r in rows if r["split"] == "val" and r["file"] in present]
    val_files = val_files[:run.get("eval_faces", 64)]
    generic = load_images(data, generic_files).to(device)
    val = load_images(data, val_files)
    print(f"identities {[n for n, _, _ in ids]}; {len(generic)} generic train faces, "
          f"{len(val)} val faces; device {device}", flush=True)

    forks = {"clean": {k: (load_images(data, tr).to(device), load_images(data, ho))
                       for k, (_, tr, ho) in enumerate(ids)}}
    note = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "generic_faces": len(generic),
            "identities": [n for n, _, _ in ids]}
    if args.tagged:
        with open(os.path.join(args.tagged, "manifest.csv"), newline="") as f:
            manifest = list(csv.DictReader(f))
        by_file = {m["file"]: m for m in manifest}
        tagged = {}
        for k, (name, tr, ho) in enumerate(ids):
            for f in tr + ho:
                m = by_file.get(f)
                if m is None or m["identity"] != name or int(m["index"]) != k:
                    sys.exit(f"faceswap.py: {f} of {name} is not in the manifest as identity {k}")
            png = lambda files: [os.path.splitext(f)[0] + ".png" for f in files]  # noqa: E731
            tagged[k] = (load_images(args.tagged, png(tr)).to(device),
                         load_images(args.tagged, png(ho)))
        forks["tagged"] = tagged
        note["tags"] = {m["identity"]: m["tag"] for m in manifest}

    log = open(os.path.join(out, "log.csv"), "w")
    log.write("stage,step,lr,mse,seconds\n")
    vlog = open(os.path.join(out, "val.csv"), "w")
    vlog.write("stage,step,psnr_8bit,held_out_psnr_8bit,cross_psnr_8bit\n")
    with open(os.path.join(out, "faceswap.json"), "w") as f:
        json.dump({"autoencoder": shape, "identities": count}, f, indent=2)
    started = time.time()

    # 1. pretrain
    gen = torch.Generator().manual_seed(run["seed"])
    ae = Autoencoder(shape).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(ae.parameters(), lr=run["pretrain"]["learning_rate"])
    stage = Stage("pretrain", run["pretrain"], note)
    if args.pretrained:
        ae.load_state_dict({k: v.float() for k, v in torch.load(args.pretrained).items()})
        note["pretrain"] = {"from": args.pretrained}
        stage.steps = 0
    batch = run["pretrain"]["batch_size"]
    every = run.get("eval_every", 500)
    step = 0
    while step < stage.steps:
        step += 1
        for g in opt.param_groups:
            g["lr"] = stage.lr_at(step)
        idx = torch.randint(0, len(generic), (batch,), generator=gen).to(device)
        x = flip_some(unit(generic[idx], device), gen)
        with autocast:
            y = ae(x)
        loss = F.mse_loss(y.float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stage.after(step, device)
        if step % 50 == 0 or step % every == 0 or step == stage.steps:
            log.write(f"pretrain,{step},{stage.lr_at(step):g},{loss.item():.6f},"
                      f"{time.time() - started:.1f}\n")
        if step % every == 0 or step == stage.steps:
            ae.eval()
            with torch.no_grad(), autocast:
                p = psnr_8bit(torch.cat([ae(unit(val[i:i + 64], device)).float().cpu()
                                         for i in range(0, len(val), 64)]), val)
            ae.train()
            vlog.write(f"pretrain,{step},{p:.4f},,\n")
            vlog.flush()
            log.flush()
            print(f"pretrain step {step}/{stage.steps} mse {loss.item():.5f} val {p:.2f} dB "
                  f"{time.time() - started:.0f} s", flush=True)
    if not args.pretrained:
        torch.save(half_state(ae), os.path.join(out, "pretrain.pt"))
        note["pretrain"] = {**note.get("pretrain", {}), "steps_run": step}

    # 2. swap forks, each from the pretrained autoencoder with the same seed
    cfg = run["swap"]
    for fork, faces in forks.items():
        gen = torch.Generator().manual_seed(run["seed"] + 1)
        net = FaceSwap(shape, count)
        net.encoder.load_state_dict(ae.encoder.state_dict())
        for d in net.decoders:
            d.load_state_dict(ae.decoder.state_dict())
        net = net.to(device, memory_format=torch.channels_last)
        opt = torch.optim.Adam(net.parameters(), lr=cfg["learning_rate"])
        name = f"swap-{fork}"
        stage = Stage(name, cfg, note)
        per = cfg["batch_per_identity"]
        step = 0

        def validate():
            net.eval()
            own, cross = [], []
            with torch.no_grad(), autocast:
                for k, (_, held) in faces.items():
                    x = unit(held, device)
                    out_k = net.render_as(x, k).float().cpu()
                    own.append(psnr_8bit(out_k, held))
                    for j in faces:
                        if j != k:
                            other = net.render_as(x, j).float().cpu()
                            cross.append(psnr_8bit(other, (out_k.clamp(0, 1) * 255).round()))
            net.train()
            return sum(own) / len(own), sum(cross) / len(cross)

        while step < stage.steps:
            step += 1
            for g in opt.param_groups:
                g["lr"] = stage.lr_at(step)
            opt.zero_grad(set_to_none=True)
            latent_in, targets = [], []
            for k, (train, _) in faces.items():
                idx = torch.randint(0, len(train), (per,), generator=gen).to(device)
                t = flip_some(unit(train[idx], device), gen)
                targets.append(t)
                latent_in.append(random_warp(t, cfg["warp"], gen))
            with autocast:
                codes = net.encoder(torch.cat(latent_in))
                outs = [net.decoders[k](c) for k, c in enumerate(codes.split(per))]
            loss = sum(F.mse_loss(o.float(), t) for o, t in zip(outs, targets)) / len(outs)
            loss.backward()
            opt.step()
            stage.after(step, device)
            report = step % 50 == 0 or step % every == 0 or step == stage.steps
            loss_sum = loss.item() if report else 0.0
            if report:
                log.write(f"{name},{step},{stage.lr_at(step):g},{loss_sum:.6f},"
                          f"{time.time() - started:.1f}\n")
            if step % every == 0 or step == stage.steps:
                own, cross = validate()
                vlog.write(f"{name},{step},,{own:.4f},{cross:.4f}\n")
                vlog.flush()
                log.flush()
                print(f"{name} step {step}/{stage.steps} mse {loss_sum:.5f} held-out {own:.2f} dB "
                      f"cross {cross:.2f} dB {time.time() - started:.0f} s", flush=True)
        torch.save(half_state(net), os.path.join(out, f"faceswap-{fork}.pt"))
        note[name] = {**note.get(name, {}), "steps_run": step}
    note["seconds"] = time.time() - started
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(note, f, indent=1)
    print(f"done in {note['seconds']:.0f} s: {out}", flush=True)


def write_reference(net, path):
    """The encoder's code sums and every decoder's output sums and 64 sampled values on
    `reference_inputs()`, computed in float32 on the CPU."""
    inputs = reference_inputs()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        code = net.encoder(inputs)
        outputs = [net.decoders[k](code) for k in range(len(net.decoders))]
    picks = torch.randint(0, outputs[0][0].numel(), (64,), generator=g)
    ref = {
        "inputs": "reference_inputs() of training/pytorch/regenerator.py: ramp, waves, checker",
        "latent_sum": [float(v) for v in code.flatten(1).sum(1)],
        "picks": [int(p) for p in picks],
        "identities": [{
            "output_sum": [float(v) for v in o.flatten(1).sum(1)],
            "output_picks": [[float(v) for v in img.flatten()[picks]] for img in o],
        } for o in outputs],
    }
    with open(path, "w") as f:
        json.dump(ref, f, indent=1)


if __name__ == "__main__":
    main()
