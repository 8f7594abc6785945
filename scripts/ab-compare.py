#!/usr/bin/env python3
"""Compare A/B benchmark JSON files (kroute.bench/2) written by `scripts/gpu-check.sh ab` or by
alternating CPU runs: for every (kernel, implementation, n), the range of medians of each side
across rounds and the ratio of their means (after / before; > 1 is slower).

    scripts/ab-compare.py BEFORE_GLOB AFTER_GLOB
"""
import glob
import json
import statistics
import sys


def medians(pattern):
    out = {}
    for f in sorted(glob.glob(pattern)):
        for r in json.load(open(f))["results"]:
            t = (r.get("times") or {}).get("median_s")
            if t is not None:
                out.setdefault((r["kernel"], r["implementation"], r["n"]), []).append(t * 1e6)
    return out


before, after = medians(sys.argv[1]), medians(sys.argv[2])
print(f"{'kernel':<24} {'impl':<9} {'n':>10}  {'before µs (range)':>19}  {'after µs (range)':>19}  after/before")
for key in sorted(before, key=lambda k: (k[2], k[0], k[1])):
    if key not in after:
        continue
    b, a = before[key], after[key]
    print(f"{key[0]:<24} {key[1]:<9} {key[2]:>10}  {min(b):8.1f} – {max(b):8.1f}  {min(a):8.1f} – {max(a):8.1f}  "
          f"{statistics.mean(a) / statistics.mean(b):.3f}")
