#!/usr/bin/env bash
# The dev machine's report (docs/report-dev): kroute's CPU implementations and the CPU peers in one
# interleaved run at the given sizes, then `kroute report`. The peers' Python is $KROUTE_PYTHON
# (numpy needed; torch, JAX where installed), default python3.
#   OUT_DIR=/tmp/x scripts/bench-cpu.sh 1e7 1e8
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT_DIR:-docs/report-dev}
mkdir -p "$out"
cargo build --release -q -p kroute-cli
sizes=()
for n in "${@:-1e7}"; do sizes+=(--n "$n"); done
./target/release/kroute bench --impl scalar --impl simd --impl parallel \
    --peers "${PEERS:-numpy,torch-cpu,torch-cpu-1t,jax-cpu}" "${sizes[@]}" \
    --budget-ms "${BUDGET_MS:-1000}" --json "$out/cpu.json" | tee "$out/bench.log"
./target/release/kroute report "$out/cpu.json" -o "$out"
