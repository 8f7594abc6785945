#!/usr/bin/env bash
# Issue 10's first device call (≈ 3 minutes): the launch-shape experiment of
# scripts/map-variants.py (shipped kernels on kroute's grid and on others, chunked shapes,
# torch's calls, one run), then ncu's launch statistics, occupancy, speed of light and memory
# workload of one launch of each (the shipped kernels, the chunked add, torch's add, exp, gelu,
# sum). Run from the repo root on the GPU machine; results in $OUT.
#   OUT=/some/dir scripts/h200-issue10.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/kroute-issue10}
source scripts/device-lib.sh
{
step 300 map-variants python3 scripts/map-variants.py .
step 200 ncu "$NCU" --clock-control none -k "regex:map_|add_chunk|reduce|quantiz|elementwise|gelu" \
    --section LaunchStats --section Occupancy --section SpeedOfLight --section MemoryWorkloadAnalysis \
    python3 scripts/map-variants.py . --profile
echo; echo "== done $(date -u +%FT%TZ) status=$status"
exit $status
} 2>&1 | tee "$OUT/log.txt"
