"""The same encoder/decoder as crates/model/src/model.rs, in PyTorch, for the burn/PyTorch ratio.

Times what `cargo bench -p faketagger-train --bench step` and `cargo bench --bench engine` time in
Rust: one training step at batch 16 (identity attack: encoder, residual added, clamped and
quantised to 8 bits with a straight-through estimator, decoder, BCE + 300·MSE, backward, Adam) and
one 128×128 inference (encoder + decoder, batch 1).

    python3 -m venv venv && venv/bin/pip install torch numpy
    venv/bin/python benches/pytorch_reference.py --threads 2

Prints a JSON line with median seconds per training step and milliseconds per inference.
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BITS, RES, PATCH, WIDTH, GRID, MSG_CH, BLOCKS, HEAD_CH = 256, 128, 4, 32, 16, 8, 2, 16


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def act(x):
    return F.leaky_relu(x, 0.2)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        packed = 3 * PATCH * PATCH
        self.stem = conv3(packed, WIDTH)
        self.message = nn.Linear(BITS, MSG_CH * GRID * GRID)
        self.fuse = conv3(WIDTH + MSG_CH, WIDTH)
        self.blocks = nn.ModuleList(conv3(WIDTH, WIDTH) for _ in range(BLOCKS))
        self.head = conv3(WIDTH, packed)
        self.smooth = conv3(3, 3)

    def forward(self, image, message):
        x = act(self.stem(F.pixel_unshuffle(image - 0.5, PATCH)))
        g = x.shape[-1]
        m = self.message(message).reshape(-1, MSG_CH, GRID, GRID)
        m = F.interpolate(m, size=(g, g), mode="nearest")
        h = act(self.fuse(torch.cat([x, m], 1)))
        for block in self.blocks:
            h = h + act(block(h))
        return self.smooth(F.pixel_shuffle(self.head(h), PATCH))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        packed = 3 * PATCH * PATCH
        f = RES // PATCH // 4
        self.stem = conv3(packed, WIDTH)
        self.conv = conv3(WIDTH, WIDTH)
        self.down1 = conv3(WIDTH, 2 * WIDTH, 2)
        self.conv2 = conv3(2 * WIDTH, 2 * WIDTH)
        self.down2 = conv3(2 * WIDTH, 2 * WIDTH, 2)
        self.reduce = nn.Conv2d(2 * WIDTH, HEAD_CH, 1)
        self.head = nn.Linear(HEAD_CH * f * f, BITS)

    def forward(self, image):
        h = act(self.stem(F.pixel_unshuffle(image - 0.5, PATCH)))
        h = h + act(self.conv(h))
        h = act(self.down1(h))
        h = h + act(self.conv2(h))
        h = act(self.down2(h))
        h = act(self.reduce(h))
        return self.head(h.flatten(1))


def macs():
    g = RES // PATCH
    g2 = g * g
    packed = 3 * PATCH * PATCH
    c3 = lambda cin, cout, n: 9 * cin * cout * n  # noqa: E731
    enc = (c3(packed, WIDTH, g2) + BITS * MSG_CH * GRID * GRID + c3(WIDTH + MSG_CH, WIDTH, g2)
           + BLOCKS * c3(WIDTH, WIDTH, g2) + c3(WIDTH, packed, g2) + c3(3, 3, RES * RES))
    f = g // 4
    dec = (c3(packed, WIDTH, g2) + c3(WIDTH, WIDTH, g2) + c3(WIDTH, 2 * WIDTH, g2 // 4)
           + c3(2 * WIDTH, 2 * WIDTH, g2 // 4) + c3(2 * WIDTH, 2 * WIDTH, g2 // 16)
           + 2 * WIDTH * HEAD_CH * g2 // 16 + HEAD_CH * f * f * BITS)
    return enc, dec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--inferences", type=int, default=50)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (issue 20's ratio on a GPU)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    enc, dec = Encoder().to(dev), Decoder().to(dev)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)

    def step():
        cover = torch.rand(args.batch, 3, RES, RES, device=dev)
        bits = torch.randint(0, 2, (args.batch, BITS), device=dev).float() * 2 - 1
        tagged = (cover + enc(cover, bits)).clamp(0, 1)
        tagged = tagged + ((tagged * 255).round() / 255 - tagged).detach()
        logits = dec(tagged)
        loss = F.binary_cross_entropy_with_logits(logits, (bits + 1) / 2) + 300 * F.mse_loss(tagged, cover)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(args.steps):
        sync()
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    step_s = statistics.median(times)

    def infer(threads):
        torch.set_num_threads(threads)
        image, bits = torch.rand(1, 3, RES, RES, device=dev), torch.ones(1, BITS, device=dev)
        with torch.no_grad():
            for _ in range(5):
                dec(enc(image, bits) + image)
            ts = []
            for _ in range(args.inferences):
                sync()
                t = time.perf_counter()
                dec(enc(image, bits) + image)
                sync()
                ts.append(time.perf_counter() - t)
        return 1000 * statistics.median(ts)

    def profile(rounds=8):
        # the split crates/model/examples/profile_step.rs prints for burn
        cover = torch.full((args.batch, 3, RES, RES), 0.5, device=dev)
        bits = torch.ones(args.batch, BITS, device=dev)
        acc = [0.0] * 4
        for r in range(rounds + 2):
            sync()
            t0 = time.perf_counter()
            residual = enc(cover, bits)
            sync()
            t1 = time.perf_counter()
            loss = dec(cover + residual).pow(2).mean()
            sync()
            t2 = time.perf_counter()
            opt.zero_grad()
            loss.backward()
            sync()
            t3 = time.perf_counter()
            opt.step()
            sync()
            t4 = time.perf_counter()
            if r >= 2:
                for k, v in enumerate([t1 - t0, t2 - t1, t3 - t2, t4 - t3]):
                    acc[k] += 1000 * v / rounds
        return [round(v, 1) for v in acc]

    split_ms = profile()
    infer_1 = infer(1)
    infer_n = infer(args.threads)
    params = sum(p.numel() for p in enc.parameters()) + sum(p.numel() for p in dec.parameters())
    e, d = macs()
    print(json.dumps({
        "torch": torch.__version__, "device": args.device, "threads": args.threads,
        "batch": args.batch, "train_step_s": round(step_s, 4),
        "train_faces_per_s": round(args.batch / step_s, 1),
        "encoder_fwd_decoder_fwd_backward_optim_ms": split_ms, "inference_ms_1_thread": round(infer_1, 2),
        f"inference_ms_{args.threads}_threads": round(infer_n, 2), "params": params,
        "encoder_mmac": round(e / 1e6, 1), "decoder_mmac": round(d / 1e6, 1),
    }))


if __name__ == "__main__":
    main()
