#!/usr/bin/env bash
# Trains the sharp face swaps (training/pytorch/faceswap.py) on a lent GPU, the run files side by
# side on the one card, and packs what comes back into 3 files per run under $OUT (the device
# tool returns at most 8 files of 16 MiB): <run>-clean.pt, <run>-tagged.pt, <run>-rest.tar
# (pretrain.pt, logs, run.json, faceswap.json, console.log). Run from the repository root with
# the data folder .swapdata carried (training/README.md, "The sharp face swap").
set -u
DEVICE=${DEVICE:-cuda}
CONFIGS=${CONFIGS:-"training/configs/faceswap-w64.toml training/configs/faceswap-w48.toml"}
export PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null
for c in $CONFIGS; do
  n=$(basename "$c" .toml)
  python3 training/pytorch/faceswap.py --config "$c" --device "$DEVICE" --data .swapdata/celeba \
    --tagged .swapdata/tagged --out "$OUT/$n" > "$OUT/$n.log" 2>&1 &
done
wait
for c in $CONFIGS; do
  n=$(basename "$c" .toml)
  echo "== $n"; tail -n 25 "$OUT/$n.log"
  mv "$OUT/$n.log" "$OUT/$n/console.log"
  for fork in clean tagged; do
    [ -f "$OUT/$n/faceswap-$fork.pt" ] && mv "$OUT/$n/faceswap-$fork.pt" "$OUT/$n-$fork.pt"
  done
  tar -C "$OUT" -cf "$OUT/$n-rest.tar" "$n" && rm -rf "${OUT:?}/$n"
done
ls -la "$OUT"
