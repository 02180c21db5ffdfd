#!/usr/bin/env bash
# The GPU sweep of issue 4 on a lent device machine (a bare Linux box with an NVIDIA GPU, no network).
# What travels with the working tree: the release binary built here with `--features wgpu`, xz'd
# (.dev/faketagger.xz), a dataset folder tarred (.dev/data.tar, made by .dev/make_data.py), and the
# Vulkan loader packages (.gl/*.deb, see the device tool's README in the tool library). Build that binary
# without AVIF, which would link the system's libavif (absent there), and for any x86-64 CPU
# (RUSTFLAGS replaces `.cargo/config.toml`'s target-cpu=native: the GPU machine's CPU is another):
#   RUSTFLAGS="-C target-cpu=x86-64-v2" cargo build --release --no-default-features --features cli,flex,wgpu
#
#   training/gpu/device.sh setup              unpack loader, binary and data into $ROOT
#   training/gpu/device.sh speed CONFIG       steps/s on wgpu and on flex (all CPU cores)
#   training/gpu/device.sh start CONFIG...    one background training process per run file
#   training/gpu/device.sh wait SECONDS       print progress every minute for SECONDS
#   training/gpu/device.sh collect DIR [RUN]  logs of every run, weights of each, RUN's optimizer
#
# Status: written for a session that was lent a GPU and lost it before the first call; the run files
# in training/configs/gpu/ were checked on flex (one step each), this script has not run on a GPU yet.
set -euo pipefail
ROOT=${ROOT:-/root/ft}
BIN=$ROOT/faketagger
cmd=$1; shift
case $cmd in
setup)
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    mkdir -p "$ROOT"
    xz -dc .dev/faketagger.xz > "$BIN"; chmod +x "$BIN"
    tar -C "$ROOT" -xf .dev/data.tar
    nvidia-smi -L
    ls /usr/local/nvidia/share/vulkan/icd.d/ /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>/dev/null || true
    ;;
speed)
    config=$1
    for dev in wgpu flex; do
        steps=$([ $dev = wgpu ] && echo 200 || echo 20)
        start=$(date +%s%N)
        "$BIN" train --config "$config" --device $dev --data "$ROOT/data" --out "$ROOT/speed-$dev" \
            --max-steps "$steps" > "$ROOT/speed-$dev.log" 2>&1 || { tail -20 "$ROOT/speed-$dev.log"; exit 1; }
        end=$(date +%s%N)
        echo "$dev: $steps steps, whole command $(( (end - start) / 1000000 )) ms"
        # seconds per step from the run's own log, after the first 10% (kernel compilation, autotune)
        awk -F, -v n="$steps" 'NR==2+int(n/10){a=$3; s=$1} END{printf "  %s s/step over steps %d..%d (log.csv)\n", ($3-a)/($1-s), s, $1}' "$ROOT/speed-$dev/log.csv"
    done
    ;;
start)
    mkdir -p "$ROOT/runs"
    for config in "$@"; do
        name=$(basename "$config" .toml)
        setsid nohup "$BIN" train --config "$config" --device wgpu --data "$ROOT/data" \
            --out "$ROOT/runs/$name" > "$ROOT/runs/$name.progress" 2>&1 < /dev/null &
        echo "started $name (pid $!)"
    done
    ;;
wait)
    end=$(( $(date +%s) + $1 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep $(( end - $(date +%s) < 60 ? end - $(date +%s) : 60 ))
        for log in "$ROOT"/runs/*/log.csv; do
            echo "$(basename "$(dirname "$log")"): $(tail -1 "$log" | cut -d, -f1-3,7,9)"
        done
        nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
    done
    ;;
collect)
    out=$1; keep=${2:-}
    for run in "$ROOT"/runs/*/; do
        name=$(basename "$run")
        tail -30 "$run/val.csv" | sed "s/^/$name: /" | grep -v unmarked || true
    done
    (cd "$ROOT/runs" && tar -cJf "$out/logs.tar.xz" --exclude='*.bpk' .)
    for run in "$ROOT"/runs/*/; do
        name=$(basename "$run")
        [ -f "$run/checkpoint/tagger.bpk" ] || continue
        files=(checkpoint/tagger.bpk checkpoint/tagger.json checkpoint/state.json)
        [ "$name" = "$keep" ] && files+=(checkpoint/optimizer.bpk)
        (cd "$run" && tar -cf "$out/$name.tar" "${files[@]}")
        # at most 16 MiB a file comes back
        if [ "$(stat -c %s "$out/$name.tar")" -gt 16000000 ]; then
            split -b 15000000 "$out/$name.tar" "$out/$name.tar.part-" && rm "$out/$name.tar"
        fi
    done
    ls -la "$out"
    ;;
esac
