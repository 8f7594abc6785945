#!/usr/bin/env python3
"""Side-by-side table (markdown) of kroute bench JSON files and peer JSON files (schema kroute.bench/1).

usage: compare.py kroute.json numpy.json [more.json ...] [--baseline parallel --peer numpy]
"""
import argparse
import json
from collections import defaultdict


def fmt_t(s):
    if s is None:
        return "—"
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else (f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--baseline", default="parallel")
    ap.add_argument("--peer", default="numpy")
    args = ap.parse_args()
    rows = defaultdict(dict)
    order = []
    for f in args.files:
        for r in json.load(open(f))["results"]:
            key = (r["n"], r["kernel"])
            if key not in rows:
                order.append(key)
            rows[key][r["backend"]] = r
    backends = ["scalar", "simd", "parallel"]
    print(f"| kernel | n | scalar | simd | parallel | {args.peer} | {args.baseline} vs {args.peer} | parallel GB/s | % of measured | {args.peer} GB/s | simd / scalar |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    wins = losses = 0
    for key in order:
        r = rows[key]
        med = {b: (r[b]["times"]["median_s"] if b in r and r[b].get("times") else None) for b in backends + [args.peer]}
        base, peer = med.get(args.baseline), med.get(args.peer)
        if base and peer:
            ratio = peer / base
            wins += ratio > 1
            losses += ratio <= 1
            speed = f"**{ratio:.2f}×**" if ratio > 1 else f"{ratio:.2f}× (slower)"
        else:
            err = r.get(args.peer, {}).get("error") or "—"
            speed = "n/a: " + err[:60]
        par = r.get("parallel", {})
        pg = f"{par['gbps']:.1f}" if par.get("gbps") else "—"
        pct = f"{par['pct_of_peak']:.0f}% {par.get('pattern') or ''}" if par.get("pct_of_peak") else "—"
        ng = f"{r[args.peer]['gbps']:.1f}" if r.get(args.peer, {}).get("gbps") else "—"
        ss = f"{med['scalar'] / med['simd']:.1f}×" if med["scalar"] and med["simd"] else "—"
        print(f"| {key[1]} | {key[0]:.0e} | {fmt_t(med['scalar'])} | {fmt_t(med['simd'])} | {fmt_t(base)} | {fmt_t(peer)} | {speed} | {pg} | {pct} | {ng} | {ss} |")
    print(f"\n{args.baseline} faster than {args.peer} on {wins} of {wins + losses} comparable rows.")


if __name__ == "__main__":
    main()
