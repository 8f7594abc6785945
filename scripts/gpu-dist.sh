#!/usr/bin/env bash
# Build what scripts/gpu-check.sh runs on the GPU machine (which has no Rust toolchain): the
# release `kroute` with the cuda feature and the CUDA test binaries, stripped, into dist/
# (ignored by git; carried to the device with `carry: ["dist"]`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p kroute-cli --features cuda
mkdir -p dist
cp target/release/kroute dist/kroute
for t in "kroute-bench cuda_verify" "kroute-bench defects" "kroute cuda_compile"; do
    set -- $t
    exe=$(cargo test --release -q -p "$1" --features cuda --test "$2" --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -1)
    cp "$exe" "dist/$2"
done
strip dist/kroute dist/cuda_verify dist/defects dist/cuda_compile
ls -la dist
du -sh dist
