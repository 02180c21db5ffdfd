#!/usr/bin/env bash
# The strength → PSNR → recovery trade-off of a tagger: `faketagger eval` at each strength on one
# split, the training issue's target attacks and the DeepFake simulators, as a Markdown table
# (stdout) and one JSON report per strength.
#
#   training/tradeoff.sh DATA_DIR OUT_DIR [WEIGHTS_DIR] [COUNT] [STRENGTHS]
#
# e.g. training/tradeoff.sh ../shared/datasets/celeba-faces128 docs/tradeoff-v1 \
#          weights/faketagger-v1 693 "0.5 0.75 1 1.5 2 3 4" > docs/tradeoff-v1.md
# REUSE=1 keeps the reports already in OUT_DIR and only renders the table for them.
# Needs jq. The engine's boost (×1.5 up to 3 times for a face whose tag does not come back clean)
# acts at every strength, as it does for users; the minimum PSNR shows it.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: training/tradeoff.sh DATA_DIR OUT_DIR [WEIGHTS_DIR] [COUNT] [STRENGTHS]}
out=${2:?usage: training/tradeoff.sh DATA_DIR OUT_DIR [WEIGHTS_DIR] [COUNT] [STRENGTHS]}
weights=${3:-weights/faketagger-v1}
count=${4:-693}
strengths=${5:-0.5 0.75 1 1.5 2 3 4}
bin=${FAKETAGGER:-target/release/faketagger}
attacks=identity,jpeg:50,webp,resize:0.5,blur:1,noise:0.02,crop:0.8,social:0.5
simulators=weights/autoencoder,weights/faceswap-w24
command -v jq > /dev/null || { echo "training/tradeoff.sh needs jq" >&2; exit 2; }
[ -x "$bin" ] || cargo build --release --quiet
mkdir -p "$out"

for s in $strengths; do
    if [ "${REUSE:-0}" = 1 ] && [ -s "$out/strength-$s.json" ]; then
        echo "strength $s: reusing $out/strength-$s.json" >&2
        continue
    fi
    echo "strength $s" >&2
    "$bin" eval --data "$data" --split test --count "$count" --weights "$weights" \
        --strength "$s" --attacks "$attacks" --simulators "$simulators" \
        --report "$out/strength-$s.json" -q > /dev/null
done

echo "Trade-off of \`$weights\` on the first $count faces of the test split"
echo "(\`training/tradeoff.sh $data $out $weights $count \"$strengths\"\`, commit"
echo "$(git rev-parse --short HEAD)). Each cell: channel-bit accuracy, exact 64-bit tag in brackets."
echo
header=$(jq -r '[.rows[].attack] | join(" | ")' "$out/strength-$(echo $strengths | cut -d' ' -f1).json")
echo "| strength | PSNR mean (min) | SSIM | false tags | $header |"
echo "|---$(jq -r '[.rows[] | "|---"] | join("")' "$out/strength-$(echo $strengths | cut -d' ' -f1).json")|---|---|---|"
for s in $strengths; do
    jq -r --arg s "$s" '"| \($s) | \(.psnr_mean * 100 | round / 100) (\(.psnr_min * 100 | round / 100)) | \(.ssim_mean * 10000 | round / 10000) | \(.false_positives)/\(.faces) | " +
        ([.rows[] | "\(.bit_accuracy * 1000 | round / 1000) (\(.exact_tag * 1000 | round / 10)%)"] | join(" | ")) + " |"' \
        "$out/strength-$s.json"
done
