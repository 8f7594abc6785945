#!/usr/bin/env python3
"""The H200 table of docs/benchmarks.md from `kroute bench --backend cuda --json` and
`peers/torch_cuda.py --json` output: per kernel at each n, kroute's median time, GB/s, % of the
probe's device copy bandwidth, torch-cuda's median at the same n, and which bar it misses.

usage: gpu-table.py docs/data/h200-bench-cuda.json docs/data/h200-torch-cuda.json
"""
import json
import sys

kr = json.load(open(sys.argv[1]))
to = json.load(open(sys.argv[2]))
peak = kr["machine"]["gpus"][0]["d2d_copy_gbps"]
torch = {(r["kernel"], r["n"]): r for r in to["results"]}
sizes = sorted({r["n"] for r in kr["results"]})
kernels = list(dict.fromkeys(r["kernel"] for r in kr["results"]))
rec = {(r["kernel"], r["n"]): r for r in kr["results"]}


def us(s):
    return f"{s * 1e6:.1f}"


print(f"Device copy bandwidth (probe, 1 GiB cuMemcpyDtoD, read + write): **{peak:.0f} GB/s**.\n")
head = "| kernel |"
rule = "| --- |"
for n in sizes:
    e = f"1e{len(str(n)) - 1}"
    head += f" µs @{e} | GB/s | % copy | torch µs | torch ÷ kroute |"
    rule += " ---: | ---: | ---: | ---: | ---: |"
print(head + " below bar |")
print(rule + " --- |")
below = []
for k in kernels:
    row = f"| `{k}` |"
    miss = []
    for n in sizes:
        r = rec.get((k, n))
        t = torch.get((k, n))
        if not r or not r.get("times"):
            row += " failed | | | | |"
            miss.append(f"n={n}: {r and r.get('error')}")
            continue
        m = r["times"]["median_s"]
        pct = 100 * r["gbps"] / peak
        tm = t["times"]["median_s"] if t and t.get("times") and t.get("verified") else None
        ratio = f"{tm / m:.2f}×" if tm else ("unverified" if t else "—")
        row += f" {us(m)} | {r['gbps']:.0f} | {pct:.0f}% | {us(tm) if tm else '—'} | {ratio} |"
        last = n == sizes[-1]
        if k == "reduce_histogram":
            if last and r["gbps"] < 2500:
                miss.append("< 2.5 TB/s")
        elif last and pct < 90:
            miss.append(f"{pct:.0f}% < 90% at 1e8")
        if n == sizes[0] and tm and m >= tm:
            miss.append("not faster than torch at 1e7")
    row += " " + ("; ".join(miss) if miss else "") + " |"
    print(row)
