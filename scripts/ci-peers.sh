#!/usr/bin/env bash
# CI for the peers: numpy (from PyPI, into kroute's NVRTC virtual environment, or
# $KROUTE_PEERS_VENV), then every numpy idiom of peers/numpy_peers.py verified by `kroute check` on
# small inputs, and the self-test that wrong and lazy peers are refused.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${KROUTE_PEERS_VENV:-${KROUTE_NVRTC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kroute/nvrtc-venv}}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import numpy' 2>/dev/null \
    || "$venv/bin/python" -m pip install -q --disable-pip-version-check numpy
cargo build -q -p kroute-cli
"$venv/bin/python" peers/numpy_peers.py --kroute target/debug/kroute --n 10007 --n 131073 --verify-only
"$venv/bin/python" peers/numpy_peers.py --kroute target/debug/kroute --self-test
