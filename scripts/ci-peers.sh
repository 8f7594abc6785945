#!/usr/bin/env bash
# CI for the peers: numpy and scipy (from PyPI, into kroute's NVRTC virtual environment, or
# $KROUTE_PEERS_VENV); then `kroute bench --peers numpy --repeats 0` verifies every numpy idiom of
# peers/serve.py against kroute's reference on small inputs, and the self-test checks that a wrong,
# an unwritten, a replayed and a doubled peer are each caught (peers/check_ci.py).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${KROUTE_PEERS_VENV:-${KROUTE_NVRTC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kroute/nvrtc-venv}}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import numpy, scipy' 2>/dev/null \
    || "$venv/bin/python" -m pip install -q --disable-pip-version-check numpy scipy
# The test profile (opt-level 3, into target/debug like dev): the references and kroute's own
# implementations run optimised. In the dev profile the kroute crate is unoptimised, and
# attention's f64 reference and scalar kernel (a whole batch of S = 2048 at any N, 69 GFLOP)
# would take tens of minutes. The workspace with the cuda feature, as the README's test command
# builds it: after `cargo test --workspace --features cuda` this is already built (a `-p
# kroute-cli` build without the feature resolves features differently and rebuilds for minutes).
# The cuda feature loads the driver at run time only: without a GPU its implementations report
# themselves unavailable.
cargo build -q --workspace --features cuda --profile test --bins
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
k="${CARGO_TARGET_DIR:-target}/debug/kroute"
$k bench --peers numpy --repeats 0 --impl scalar --n 10007 --n 131073 --python "$venv/bin/python" \
    --json "$out/verify.json" >"$out/verify.log" 2>&1 || { cat "$out/verify.log"; exit 1; }
$k bench --peers selftest --kernel map_add --kernel reduce_sum --impl simd --n 1000000 --budget-ms 150 \
    --python "$venv/bin/python" --json "$out/self.json" >"$out/self.log" 2>&1 || { cat "$out/self.log"; exit 1; }
"$venv/bin/python" peers/check_ci.py "$out/verify.json" "$out/self.json"
