#!/usr/bin/env bash
# The CPU benchmark of docs/benchmarks.md: kroute's three CPU backends and the numpy peers on the
# same shapes, in one run, then the side-by-side table.
#   scripts/bench-cpu.sh [N ...]        (default: 1e7 1e8)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-1e7}")
[ $# -eq 0 ] && sizes=(1e7 1e8)
out=${OUT_DIR:-bench-out}
mkdir -p "$out"
cargo build --release -q -p kroute-cli
nargs=(); for n in "${sizes[@]}"; do nargs+=(--n "$n"); done
./target/release/kroute probe | tee "$out/probe.txt"
./target/release/kroute bench "${nargs[@]}" --json "$out/kroute-cpu.json" | tee "$out/kroute-cpu.txt"
# numpy is timed as it ships: OpenBLAS overrides of this machine are dropped for the peer run.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 peers/numpy_peers.py --kroute ./target/release/kroute \
    "${nargs[@]}" --json "$out/numpy.json" | tee "$out/numpy.txt"
python3 peers/compare.py "$out/kroute-cpu.json" "$out/numpy.json" | tee "$out/compare.md"
