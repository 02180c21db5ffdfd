#!/usr/bin/env bash
# Runs one fuzz target under AFL++ for SECONDS on one core, then prints AFL++'s summary.
#   fuzz/run.sh read|decode|codec SECONDS
# Needs cargo-afl (`cargo install cargo-afl --locked`, `cargo afl config --build`). Findings land
# in fuzz/out/TARGET/default/crashes; turn each into a file of tests/corpus (or a unit test) with
# its fix. The queue AFL++ grew is kept in fuzz/out/TARGET and resumed by the next run.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?target: read, decode or codec}
seconds=${2:?seconds}
case $target in
  read|decode) seeds=seeds/image ;;
  codec) seeds=seeds/codec ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
cargo afl build --release --bin "$target"
# resume a previous run's queue when there is one
input=$seeds
[[ -d out/$target/default/queue ]] && input=-
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
# -t: the decode path runs networks (a slow input is a finding too, past 5 s)
cargo afl fuzz -i "$input" -o "out/$target" -t 5000 -V "$seconds" "target/release/$target"
cargo afl whatsup -s "out/$target" || true
