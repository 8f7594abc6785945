#!/usr/bin/env python3
"""numpy peers for kroute's first 38 kernels.

Each kernel is computed exactly as its docs/kernels/KERNELS.md entry's **Peers** line says, on the very bytes
kroute generates (`kroute workload`), into preallocated outputs where numpy allows. Every peer is
verified with `kroute check` (the same f64 reference and tolerance as kroute's own backends)
before it is timed; a failing peer is reported and not timed. Timing follows kroute's harness:
input sets rotated past 4x the last-level cache, warm-up, samples until the spread is low or the
budget is spent; min / median / p90. Results use the kroute.bench/2 schema with backend and implementation "numpy".

usage: numpy_peers.py --kroute target/release/kroute --n 1e7 [--n 1e8] [--kernel K]... --json out.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    from scipy.special import erf as _erf
except ImportError:  # the entry says: skipped where scipy is missing
    _erf = None

F = np.float32


def gelu_tanh(x, y):
    k = F(np.sqrt(2.0 / np.pi))
    y[...] = F(0.5) * x * (F(1) + np.tanh(k * (x + F(0.044715) * x * x * x)))


def histogram(x, bins=256, lo=-4.0, hi=4.0):
    # torch.histc's f32 formula, evaluated in numpy f32 (the entry's numpy peer).
    q = ((x - F(lo)) * F(bins)) / F(hi - lo)
    b = np.minimum(np.floor(q), F(bins - 1)).astype(np.int64)
    mask = (x >= F(lo)) & (x <= F(hi))
    return np.bincount(b[mask], minlength=bins).astype(np.uint64)


def quant_i8(x):
    s = np.abs(x).max(1).astype(np.float32) / np.float32(127)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.clip(np.nan_to_num(np.rint(x.astype(np.float32) / s[:, None]), nan=0.0), -127, 127).astype(np.int8)
    return q, s


def cosine(a, b, eps=1e-8):
    d = np.einsum("ij,ij->i", a, b)
    na = np.maximum(np.sqrt(np.einsum("ij,ij->i", a, a)), F(eps))
    nb = np.maximum(np.sqrt(np.einsum("ij,ij->i", b, b)), F(eps))
    return d / (na * nb)


def scalar(v, dtype):
    return np.asarray(v, dtype=dtype).reshape(())


# name -> (function(inputs, outputs) that fills outputs, output allocators from inputs)
def peers():
    z1 = lambda i: [np.empty_like(i[0])]
    return {
        "map_add": (lambda i, o: np.add(i[0], i[1], out=o[0]), z1),
        "map_mul": (lambda i, o: np.multiply(i[0], i[1], out=o[0]), z1),
        "map_div": (lambda i, o: np.divide(i[0], i[1], out=o[0]), z1),
        "map_fma": (lambda i, o: (np.multiply(i[0], i[1], out=o[0]), np.add(o[0], i[2], out=o[0])), z1),
        "map_exp": (lambda i, o: np.exp(i[0], out=o[0]), z1),
        "map_log": (lambda i, o: np.log(i[0], out=o[0]), z1),
        "map_tanh": (lambda i, o: np.tanh(i[0], out=o[0]), z1),
        "map_sigmoid": (lambda i, o: (np.negative(i[0], out=o[0]), np.exp(o[0], out=o[0]),
                                      np.add(o[0], F(1), out=o[0]), np.divide(F(1), o[0], out=o[0])), z1),
        "map_softplus": (lambda i, o: np.logaddexp(F(0), i[0], out=o[0]), z1),
        "map_clamp": (lambda i, o: np.clip(i[0], F(-1), F(1), out=o[0]), z1),
        "map_abs": (lambda i, o: np.abs(i[0], out=o[0]), z1),
        "map_compare": (lambda i, o: np.greater(i[0], i[1], out=o[0].view(bool)),
                        lambda i: [np.empty(i[0].shape, np.uint8)]),
        "map_relu": (lambda i, o: np.maximum(i[0], F(0), out=o[0]), z1),
        "map_leaky_relu": (lambda i, o: o[0].__setitem__(Ellipsis, np.where(i[0] > 0, i[0], F(0.01) * i[0])), z1),
        "map_elu": (lambda i, o: o[0].__setitem__(Ellipsis, np.where(i[0] > 0, i[0], F(1) * np.expm1(i[0]))), z1),
        "map_gelu": (lambda i, o: gelu_tanh(i[0], o[0]), z1),
        "map_gelu_erf": (lambda i, o: o[0].__setitem__(Ellipsis, F(0.5) * i[0] * (F(1) + _erf(i[0] / F(np.sqrt(2))))), z1)
        if _erf is not None else None,
        "map_silu": (lambda i, o: o[0].__setitem__(Ellipsis, i[0] / (F(1) + np.exp(-i[0]))), z1),
        "map_mish": (lambda i, o: o[0].__setitem__(Ellipsis, i[0] * np.tanh(np.logaddexp(F(0), i[0]))), z1),
        "reduce_sum": (lambda i, o: o[0].__setitem__((), np.sum(i[0])), lambda i: [scalar(0, np.float32)]),
        "reduce_mean": (lambda i, o: o[0].__setitem__((), np.mean(i[0])), lambda i: [scalar(0, np.float32)]),
        "reduce_min": (lambda i, o: o[0].__setitem__((), np.min(i[0])), lambda i: [scalar(0, np.float32)]),
        "reduce_max": (lambda i, o: o[0].__setitem__((), np.max(i[0])), lambda i: [scalar(0, np.float32)]),
        "reduce_argmax": (lambda i, o: o[0].__setitem__((), np.argmax(i[0])), lambda i: [scalar(0, np.uint64)]),
        "reduce_argmin": (lambda i, o: o[0].__setitem__((), np.argmin(i[0])), lambda i: [scalar(0, np.uint64)]),
        "reduce_l2": (lambda i, o: o[0].__setitem__((), np.linalg.norm(i[0])), lambda i: [scalar(0, np.float32)]),
        "reduce_var": (lambda i, o: o[0].__setitem__((), np.var(i[0])), lambda i: [scalar(0, np.float32)]),
        "reduce_stddev": (lambda i, o: o[0].__setitem__((), np.std(i[0])), lambda i: [scalar(0, np.float32)]),
        "reduce_histogram": (lambda i, o: o[0].__setitem__(Ellipsis, histogram(i[0])), lambda i: [np.zeros(256, np.uint64)]),
        "map_reduce_abs_sum": (lambda i, o: o[0].__setitem__((), np.sum(np.abs(i[0]))), lambda i: [scalar(0, np.float32)]),
        "map_reduce_square_sum": (lambda i, o: o[0].__setitem__((), np.sum(i[0] * i[0])), lambda i: [scalar(0, np.float32)]),
        "map_reduce_masked_sum": (lambda i, o: o[0].__setitem__((), np.sum(i[0], where=i[1].view(bool))),
                                  lambda i: [scalar(0, np.float32)]),
        "map_reduce_threshold_count": (lambda i, o: o[0].__setitem__((), np.count_nonzero(i[0] > F(0.5))),
                                       lambda i: [scalar(0, np.uint64)]),
        "dot_batched": (lambda i, o: np.einsum("ij,ij->i", i[0], i[1], out=o[0]),
                        lambda i: [np.empty(i[0].shape[0], np.float32)]),
        "cosine_similarity": (lambda i, o: o[0].__setitem__(Ellipsis, cosine(i[0], i[1])),
                              lambda i: [np.empty(i[0].shape[0], np.float32)]),
        "quantize_f32_to_f16": (lambda i, o: np.copyto(o[0], i[0], casting="same_kind"),
                                lambda i: [np.empty(i[0].shape, np.float16)]),
        "quantize_f16_to_i8": (lambda i, o: [a.__setitem__(Ellipsis, b) for a, b in zip(o, quant_i8(i[0]))],
                               lambda i: [np.empty(i[0].shape, np.int8), np.empty(i[0].shape[0], np.float32)]),
        "dequantize_i8_to_f16": (lambda i, o: o[0].__setitem__(Ellipsis, (i[0].astype(np.float32) * i[1][:, None]).astype(np.float16)),
                                 lambda i: [np.empty(i[0].shape, np.float16)]),
    }


def sample(fn, sets, budget, min_samples=5, max_samples=500, target=0.02):
    t0 = time.perf_counter()
    for k in range(max(2, len(sets))):
        fn(*sets[k % len(sets)])
    while time.perf_counter() - t0 < 0.05:
        fn(*sets[0])
    times = []
    start = time.perf_counter()
    while True:
        i, o = sets[len(times) % len(sets)]
        t = time.perf_counter()
        fn(i, o)
        times.append(time.perf_counter() - t)
        n = len(times)
        if n >= max_samples:
            break
        if n >= min_samples:
            s = sorted(times)
            med, p90 = s[round((n - 1) * 0.5)], s[round((n - 1) * 0.9)]
            if (n >= 10 and (p90 - med) / med < target) or time.perf_counter() - start > budget:
                break
    s = sorted(times)
    n = len(s)
    return {"min_s": s[0], "median_s": s[round((n - 1) * 0.5)], "p90_s": s[round((n - 1) * 0.9)], "samples": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kroute", default="target/release/kroute")
    ap.add_argument("--n", action="append", type=float)
    ap.add_argument("--kernel", action="append")
    ap.add_argument("--json", required=True)
    ap.add_argument("--budget", type=float, default=1.5)
    args = ap.parse_args()
    sizes = [int(n) for n in (args.n or [1e7])]
    probe = json.loads(subprocess.run([args.kroute, "probe", "--json"], check=True, capture_output=True, text=True).stdout)
    def catalog_at(n):
        out = subprocess.run([args.kroute, "list", "--json", "--n", str(n)], check=True, capture_output=True, text=True)
        return {e["spec"]["name"]: e for e in json.loads(out.stdout)}
    table = peers()
    names = [k for k in table if not args.kernel or k in args.kernel]
    results = []
    for n in sizes:
        catalog = catalog_at(n)
        for name in names:
            spec = catalog[name]["spec"]
            rec = {"kernel": name, "domain": spec["domain"], "backend": "numpy", "implementation": "numpy", "n": n, "params": {},
                   "bytes": None, "flops": None, "verified": False, "verify_worst_ratio": None, "error": None,
                   "times": None, "gbps": None, "gflops": None, "pattern": None, "peak_gbps": None,
                   "pct_of_peak": None, "rotation_sets": 0, "flags": []}
            entry = table[name]
            if entry is None:
                rec["error"] = "skipped: scipy is not installed (numpy has no erf)"
                results.append(rec)
                print(f"{name:<28} numpy  n={n}: {rec['error']}", flush=True)
                continue
            fn, alloc = entry
            with tempfile.TemporaryDirectory() as d:
                files = subprocess.run([args.kroute, "workload", name, "--n", str(n), "--dir", d], check=True,
                                       capture_output=True, text=True).stdout.split()
                inputs = [np.load(f) for f in files]
                outputs = alloc(inputs)
                with np.errstate(all="ignore"):
                    fn(inputs, outputs)
                outs = []
                for k, o in enumerate(outputs):
                    p = os.path.join(d, f"out{k}.npy")
                    np.save(p, o)
                    outs += ["--output", p]
                chk = subprocess.run([args.kroute, "check", name] + sum((["--input", f] for f in files), []) + outs,
                                     capture_output=True, text=True)
                ratios = [float(l.split("worst error ")[1].split(" ")[0]) for l in chk.stdout.splitlines() if "worst error" in l]
                rec["verify_worst_ratio"] = max(ratios) if ratios else None
                if chk.returncode != 0:
                    rec["error"] = "verification failed: " + (chk.stdout + chk.stderr).strip().replace("\n", " | ")
                    results.append(rec)
                    print(f"{name:<28} numpy  n={n}: {rec['error']}", flush=True)
                    continue
                rec["verified"] = True
                set_bytes = sum(a.nbytes for a in inputs) + sum(o.nbytes for o in outputs)
                k = max(1, min(4096, -(-4 * probe["llc_bytes"] // max(set_bytes, 1))))
                sets = [(inputs, outputs)] + [([a.copy() for a in inputs], alloc(inputs)) for _ in range(k - 1)]
                with np.errstate(all="ignore"):
                    t = sample(fn, sets, args.budget)
            rec["times"] = t
            rec["rotation_sets"] = k
            rec["bytes"] = catalog[name]["bytes"]
            rec["flops"] = catalog[name]["flops"]
            rec["gbps"] = rec["bytes"] / t["median_s"] / 1e9
            rec["gflops"] = rec["flops"] / t["median_s"] / 1e9
            results.append(rec)
            print(f"{name:<28} numpy  n={n:>10}  median {t['median_s'] * 1e3:9.3f} ms  {rec['gbps']:7.1f} GB/s", flush=True)
    report = {"schema": "kroute.bench/2", "kroute_version": "peer:numpy " + np.__version__, "started_unix": int(time.time()),
              "command": " ".join(sys.argv), "seed": 42, "machine": probe, "results": results}
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
