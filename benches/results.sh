#!/usr/bin/env bash
# Regenerates docs/RESULTS.md: faketagger's table on the test split, the side-by-side table with
# invisible-watermark, and the benchmark figures, all measured on this machine now.
#
#   benches/results.sh DATA_DIR [PYTHON_WITH_INVISIBLE_WATERMARK]
#
# e.g. benches/results.sh ../shared/datasets/celeba-faces128 .peers/bin/python
# (python3 -m venv .peers && .peers/bin/pip install invisible-watermark onnxruntime). Without the
# second argument the peer table is left out. Takes about 40 minutes on 2 cores.
# SECTIONS="eval peers bench" (the default: all) re-measures only the sections named and keeps
# the others as the document has them; each section says which command and commit measured it.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: benches/results.sh DATA_DIR [PYTHON]}
python=${2:-}
peer_faces=${PEER_FACES:-100}
out=docs/RESULTS.md
sections=${SECTIONS:-eval peers bench}
want() { [[ " $sections " == *" $1 "* ]]; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin=target/release/faketagger
commit=$(git rev-parse --short HEAD)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //' || echo unknown)

stamp="at commit $commit on $(date -u +%Y-%m-%d), $(nproc) cores ($cpu), flex (CPU) backend"
# every trained simulator: the DeepFake simulators (the sharp face swap and the first one,
# faceswap-w24, whose rows stay) and the regenerators (weights/regen-*)
simulators=$(ls -d weights/autoencoder weights/faceswap weights/faceswap-w24 weights/regen-* 2>/dev/null | paste -sd, -)
protocol_cmd="cargo run --release -p faketagger-train --example tagged_swap -- $data weights/faketagger-v1 weights/faceswap-tagged-v1 0 1 693"
eval_cmd="faketagger eval --data $data --split test --simulators $simulators --plot docs/eval-test.svg --report docs/eval-test.json"
if want eval; then
echo "eval: the test split with every attack and every simulator ($simulators)" >&2
$bin eval --data "$data" --split test --simulators "$simulators" \
    --plot docs/eval-test.svg --report docs/eval-test.json -q > "$work/eval.md"
echo "protocol: the face swap trained on v1-tagged photos (weights/faceswap-tagged-v1)" >&2
cargo run --release --quiet -p faketagger-train --example tagged_swap -- "$data" \
    weights/faketagger-v1 weights/faceswap-tagged-v1 0 1 693 > "$work/protocol.md"
fi

if want peers && [ -n "$python" ]; then
    echo "peers: $peer_faces test faces at 256 px" >&2
    peers_cmd="$python benches/peers/peers.py --data $data --split test --count $peer_faces --size 256 --out docs/peers.json"
    $python benches/peers/peers.py --data "$data" --split test --count "$peer_faces" --size 256 \
        --faketagger "$bin" --out docs/peers.json > "$work/peers.md"
fi

if want bench; then
echo "benchmarks" >&2
for bench in codec engine; do
    cargo bench --quiet --bench "$bench" -- --output-format bencher 2>/dev/null \
        | grep '^test ' > "$work/$bench.txt" || true
done
cargo bench --quiet --bench memory 2>/dev/null | grep -E 'px|MiB' > "$work/memory.txt" || true
fi

# each section measured now goes to its own file; the rest are kept from the document
if want eval; then
{
    echo "## faketagger on the CelebA test split"
    echo
    echo "Measured $stamp, the built-in weights (weights/faketagger-v1):"
    echo "\`$eval_cmd\` (every face tagged with its own tag at the default strength, each attack"
    echo "applied to the tagged face, decoded by the engine as a platform would; JSON in"
    echo "[eval-test.json](eval-test.json), bit accuracy against strength in [eval-test.svg](eval-test.svg)):"
    echo
    cat "$work/eval.md"
    echo
    echo "### FakeTagger's protocol: a face swap trained on tagged photos"
    echo
    echo "\`weights/faceswap-tagged-v1\` ([its card](../weights/faceswap-tagged-v1/MODEL_CARD.md)): the"
    echo "sharp face swap's recipe trained on its 4 identities' photos, each identity's tagged by v1"
    echo "with its own tag. Its swaps of the untagged test faces into each identity, and its"
    echo "reconstructions of the held-out tagged photos, decoded against that identity's tag:"
    echo "\`$protocol_cmd\`"
    echo
    grep '^|' "$work/protocol.md"
    echo
} > "$work/section-eval.md"
fi
if want peers && [ -n "$python" ]; then
{
    echo "## Side by side with invisible-watermark"
    echo
    echo "Measured $stamp: \`$peers_cmd\`"
    echo
    cat "$work/peers.md"
    echo
} > "$work/section-peers.md"
fi
if want bench; then
{
    echo "## Benchmarks (criterion, \`cargo bench\`)"
    echo
    echo "Measured $stamp. Median time per iteration (ns), \`--output-format bencher\`:"
    echo
    echo '```'
    cat "$work/codec.txt" "$work/engine.txt"
    echo '```'
    echo
    echo "Peak resident memory (\`cargo bench --bench memory\`):"
    echo
    echo '```'
    cat "$work/memory.txt"
    echo '```'
} > "$work/section-bench.md"
fi
python3 - "$out" "$work" <<'PY'
import os, sys
out, work = sys.argv[1], sys.argv[2]
order = [("eval", "## faketagger on"), ("peers", "## Side by side"), ("bench", "## Benchmarks")]
old = open(out).read() if os.path.exists(out) else ""
def kept(prefix):
    start = old.find("\n" + prefix)
    if start < 0:
        return ""
    end = old.find("\n## ", start + 1)
    return old[start + 1 : end + 1 if end >= 0 else len(old)]
parts = ["# faketagger results\n\nRegenerated section by section by `benches/results.sh` (see its header);"
         " numbers are as the tools printed them.\n\n"]
for name, prefix in order:
    path = os.path.join(work, f"section-{name}.md")
    part = open(path).read() if os.path.exists(path) else kept(prefix)
    if part:
        parts.append(part.rstrip("\n") + "\n\n")
open(out, "w").write("".join(parts).rstrip("\n") + "\n")
PY
echo "wrote $out" >&2
