#!/usr/bin/env bash
# Issue 20: the `tch` build (burn's LibTorch backend) on a lent NVIDIA machine, in one call.
# What travels: the release binary built here with
#   LIBTORCH=<PyPI torch 2.11.0>/torch LIBTORCH_BYPASS_VERSION_CHECK=1 \
#     RUSTFLAGS="-C target-cpu=x86-64-v2" \
#     cargo build --release --no-default-features --features cli,flex,tch
# (RUSTFLAGS replaces `.cargo/config.toml`'s target-cpu=native: the GPU machine's CPU is another)
# xz'd as .dev/faketagger-tch.xz, a small face folder .dev/data (meta.csv, train and val faces),
# and weights/faketagger-v1 and weights/autoencoder. It loads the machine's own torch/lib.
#   1. same tags: embed on flex → decode on tch; embed on tch → decode on flex
#   2. the first training step on tch and on flex from the same seed (losses side by side)
#   3. faces/s at batch 64 (identity step; v1's attacks + autoencoder) on tch, and the PyTorch
#      twin on CUDA at the same batch (benches/pytorch_reference.py)
#   4. eval per face on tch and flex (200 test-like faces: the val faces carried)
set -uo pipefail
ROOT=${ROOT:-/tmp/ft}
BIN=$ROOT/faketagger
OUT=${OUT:-$ROOT/out}
mkdir -p "$ROOT" "$OUT"
xz -dc .dev/faketagger-tch.xz > "$BIN" && chmod +x "$BIN"
TORCH_LIB=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L; python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

echo "== 1. tags across backends"
for pair in "flex tch" "tch flex"; do
    set -- $pair
    t=$(date +%s%N)
    "$BIN" embed assets/astronaut.jpg -o "$ROOT/tagged-$1.png" --tag 0123456789abcdef --device "$1" --force \
        || echo "embed on $1 failed"
    echo "embed on $1: $(ms $t) ms"
    t=$(date +%s%N)
    "$BIN" decode "$ROOT/tagged-$1.png" --device "$2" --json > "$ROOT/decode-$1-$2.json" \
        || echo "decode on $2 failed"
    echo "decode on $2 of the $1 embed: $(ms $t) ms: $(head -c 300 "$ROOT/decode-$1-$2.json")"
    cmp -s "$ROOT/tagged-$1.png" "$ROOT/tagged-$2.png" 2>/dev/null && echo "the two embeds are byte-identical"
done
[ -f "$ROOT/tagged-flex.png" ] && [ -f "$ROOT/tagged-tch.png" ] && python3 - "$ROOT" <<'PY'
import sys, numpy as np
from PIL import Image
a = np.asarray(Image.open(f"{sys.argv[1]}/tagged-flex.png"), dtype=np.int16)
b = np.asarray(Image.open(f"{sys.argv[1]}/tagged-tch.png"), dtype=np.int16)
d = np.abs(a - b)
print(f"embeds flex vs tch: max |diff| {d.max()} levels, {100 * (d > 0).mean():.3f}% of values differ")
PY

echo "== 2. first training step, same seed"
for dev in flex tch; do
    "$BIN" train --config training/configs/gpu/speed-identity.toml --device $dev --data .dev/data \
        --out "$ROOT/step-$dev" --max-steps 2 -q > "$ROOT/step-$dev.log" 2>&1 || tail -5 "$ROOT/step-$dev.log"
    echo "$dev: $(sed -n 2,3p "$ROOT/step-$dev/log.csv" | tr '\n' ' ')"
done

echo "== 3. faces/s at batch 64"
for config in speed-identity speed-v1; do
    steps=200
    t=$(date +%s%N)
    "$BIN" train --config training/configs/gpu/$config.toml --device tch --data .dev/data \
        --out "$ROOT/speed-$config" --max-steps $steps -q > "$ROOT/speed-$config.log" 2>&1 \
        || tail -5 "$ROOT/speed-$config.log"
    echo "tch $config: $steps steps, whole command $(ms $t) ms"
    awk -F, -v n=$steps 'NR==2+int(n/4){a=$3; s=$1} END{d=($3-a)/($1-s); printf "  %.4f s/step over steps %d..%d = %.0f faces/s (log.csv)\n", d, s, $1, 64/d}' \
        "$ROOT/speed-$config/log.csv"
done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
python3 benches/pytorch_reference.py --device cuda --batch 64 --steps 50 --inferences 20

echo "== 4. eval per face (the carried val faces)"
for dev in tch flex; do
    t=$(date +%s%N)
    "$BIN" eval --data .dev/data --split val --attacks identity --device $dev -q > "$ROOT/eval-$dev.md" 2>&1 \
        || tail -3 "$ROOT/eval-$dev.md"
    echo "eval on $dev: $(ms $t) ms; $(grep '^| identity' "$ROOT/eval-$dev.md")"
done
cp "$ROOT"/*.json "$OUT"/ 2>/dev/null
tar -C "$ROOT" -czf "$OUT/logs.tar.gz" --exclude='*.bpk' --exclude='*.png' --exclude=faketagger . 2>/dev/null
ls -la "$OUT"
