#!/usr/bin/env python3
"""numpy peers for kroute's first 38 kernels.

Each kernel is computed exactly as its docs/kernels/KERNELS.md entry's **Peers** line says, on the very bytes
kroute generates (`kroute workload`), into preallocated outputs where numpy allows. Every peer is
verified with `kroute check` (the same f64 reference and tolerance as kroute's own backends)
before it is timed; a failing peer is reported and not timed. Timing follows kroute's harness:
input sets rotated past 4x the last-level cache, warm-up, samples until the spread is low or the
budget is spent; min / median / p90. Results use the kroute.bench/2 schema with backend and implementation "numpy".

Where numpy offers several idioms for one definition (np.where against np.maximum, an expression
against a chain of out= ufuncs, np.sum(x * x) against np.dot(x, x)), each is verified and timed,
and the fastest verified one is the peer: its record names the `idiom`, and `alternatives` keeps
every idiom's verification and times.

usage: numpy_peers.py --kroute target/release/kroute --n 1e7 [--n 1e8] [--kernel K]... --json out.json
       numpy_peers.py --kroute target/debug/kroute --n 10007 --verify-only   (CI: every idiom verified)
       numpy_peers.py --kroute target/debug/kroute --self-test               (wrong and lazy peers fail)
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
    from scipy.special import erf as _erf, expit as _expit
except ImportError:  # the entry says: skipped where scipy is missing
    _erf = _expit = None

F = np.float32


SQRT_2_PI = F(np.sqrt(2.0 / np.pi))
INV_SQRT2 = F(1.0 / np.sqrt(2.0))


def gelu_tanh_expr(x, y):
    y[...] = F(0.5) * x * (F(1) + np.tanh(SQRT_2_PI * (x + F(0.044715) * x * x * x)))


def gelu_tanh_out(x, y):
    # The same formula as a chain of out= ufuncs: no temporaries, no final copy.
    np.multiply(x, x, out=y)
    np.multiply(y, x, out=y)
    np.multiply(y, F(0.044715), out=y)
    np.add(y, x, out=y)
    np.multiply(y, SQRT_2_PI, out=y)
    np.tanh(y, out=y)
    np.add(y, F(1), out=y)
    np.multiply(y, x, out=y)
    np.multiply(y, F(0.5), out=y)


def elu_out(x, y, a=F(1)):
    np.expm1(x, out=y)
    np.multiply(y, a, out=y)
    np.copyto(y, x, where=x > 0)


def silu_out(x, y):
    np.negative(x, out=y)
    np.exp(y, out=y)
    np.add(y, F(1), out=y)
    np.divide(x, y, out=y)


def mish_out(x, y):
    np.logaddexp(F(0), x, out=y)
    np.tanh(y, out=y)
    np.multiply(y, x, out=y)


def sigmoid_out(x, y):
    np.negative(x, out=y)
    np.exp(y, out=y)
    np.add(y, F(1), out=y)
    np.divide(F(1), y, out=y)


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


def cosine(a, b, eps=1e-8, dot=lambda a, b: np.einsum("ij,ij->i", a, b)):
    d = dot(a, b)
    na = np.maximum(np.sqrt(dot(a, a)), F(eps))
    nb = np.maximum(np.sqrt(dot(b, b)), F(eps))
    return d / (na * nb)


def scalar(v, dtype):
    return np.asarray(v, dtype=dtype).reshape(())


def put(o, v):
    o[...] = v


def peers():
    """kernel -> list of (idiom, fn(inputs, outputs), allocate(inputs)). Each idiom is what a numpy
    user writes for the entry's definition: the natural call, into out= where numpy has it, else
    the allocating call alone. Every idiom is verified; the fastest verified one is the peer."""
    z1 = lambda i: [np.empty_like(i[0])]
    f32 = lambda i: [scalar(0, np.float32)]
    u64 = lambda i: [scalar(0, np.uint64)]
    rows = lambda i: [np.empty(i[0].shape[0], np.float32)]
    vecdot = getattr(np, "vecdot", None)  # numpy >= 2.0
    t = {
        "map_add": [("np.add(out=)", lambda i, o: np.add(i[0], i[1], out=o[0]), z1)],
        "map_mul": [("np.multiply(out=)", lambda i, o: np.multiply(i[0], i[1], out=o[0]), z1)],
        "map_div": [("np.divide(out=)", lambda i, o: np.divide(i[0], i[1], out=o[0]), z1)],
        "map_fma": [("multiply, add (out=)", lambda i, o: (np.multiply(i[0], i[1], out=o[0]), np.add(o[0], i[2], out=o[0])), z1)],
        "map_exp": [("np.exp(out=)", lambda i, o: np.exp(i[0], out=o[0]), z1)],
        "map_log": [("np.log(out=)", lambda i, o: np.log(i[0], out=o[0]), z1)],
        "map_tanh": [("np.tanh(out=)", lambda i, o: np.tanh(i[0], out=o[0]), z1)],
        "map_sigmoid": [("negative, exp, add, divide (out=)", lambda i, o: sigmoid_out(i[0], o[0]), z1)],
        "map_softplus": [("np.logaddexp(0, x, out=)", lambda i, o: np.logaddexp(F(0), i[0], out=o[0]), z1)],
        "map_clamp": [("np.clip(out=)", lambda i, o: np.clip(i[0], F(-1), F(1), out=o[0]), z1),
                      ("np.minimum(np.maximum(out=), out=)", lambda i, o: np.minimum(np.maximum(i[0], F(-1), out=o[0]), F(1), out=o[0]), z1)],
        "map_abs": [("np.abs(out=)", lambda i, o: np.abs(i[0], out=o[0]), z1)],
        "map_compare": [("np.greater(out=bool view)", lambda i, o: np.greater(i[0], i[1], out=o[0].view(bool)),
                         lambda i: [np.empty(i[0].shape, np.uint8)])],
        "map_relu": [("np.maximum(x, 0, out=)", lambda i, o: np.maximum(i[0], F(0), out=o[0]), z1)],
        "map_leaky_relu": [("np.where", lambda i, o: put(o[0], np.where(i[0] > 0, i[0], F(0.01) * i[0])), z1),
                           # max(x, αx) is leaky relu for 0 ≤ α ≤ 1 (the default α = 0.01).
                           ("np.maximum(x, αx, out=)", lambda i, o: np.maximum(i[0], np.multiply(i[0], F(0.01), out=o[0]), out=o[0]), z1)],
        "map_elu": [("np.where(expm1)", lambda i, o: put(o[0], np.where(i[0] > 0, i[0], F(1) * np.expm1(i[0]))), z1),
                    ("expm1, multiply, copyto(where=) (out=)", lambda i, o: elu_out(i[0], o[0]), z1)],
        "map_gelu": [("expression", lambda i, o: gelu_tanh_expr(i[0], o[0]), z1),
                     ("ufunc chain (out=)", lambda i, o: gelu_tanh_out(i[0], o[0]), z1)],
        "map_silu": [("x / (1 + exp(-x))", lambda i, o: put(o[0], i[0] / (F(1) + np.exp(-i[0]))), z1),
                     ("negative, exp, add, divide (out=)", lambda i, o: silu_out(i[0], o[0]), z1)],
        "map_mish": [("x * tanh(logaddexp(0, x))", lambda i, o: put(o[0], i[0] * np.tanh(np.logaddexp(F(0), i[0]))), z1),
                     ("logaddexp, tanh, multiply (out=)", lambda i, o: mish_out(i[0], o[0]), z1)],
        "reduce_sum": [("np.sum", lambda i, o: put(o[0], np.sum(i[0])), f32)],
        "reduce_mean": [("np.mean", lambda i, o: put(o[0], np.mean(i[0])), f32)],
        "reduce_min": [("np.min", lambda i, o: put(o[0], np.min(i[0])), f32)],
        "reduce_max": [("np.max", lambda i, o: put(o[0], np.max(i[0])), f32)],
        "reduce_argmax": [("np.argmax", lambda i, o: put(o[0], np.argmax(i[0])), u64)],
        "reduce_argmin": [("np.argmin", lambda i, o: put(o[0], np.argmin(i[0])), u64)],
        "reduce_l2": [("np.linalg.norm", lambda i, o: put(o[0], np.linalg.norm(i[0])), f32),
                      ("sqrt(np.dot(x, x))", lambda i, o: put(o[0], np.sqrt(np.dot(i[0], i[0]))), f32)],
        "reduce_var": [("np.var", lambda i, o: put(o[0], np.var(i[0])), f32)],
        "reduce_stddev": [("np.std", lambda i, o: put(o[0], np.std(i[0])), f32)],
        "reduce_histogram": [("f32 formula + np.bincount", lambda i, o: put(o[0], histogram(i[0])), lambda i: [np.zeros(256, np.uint64)])],
        "map_reduce_abs_sum": [("np.sum(np.abs(x))", lambda i, o: put(o[0], np.sum(np.abs(i[0]))), f32),
                               ("np.linalg.norm(x, 1)", lambda i, o: put(o[0], np.linalg.norm(i[0], 1)), f32)],
        "map_reduce_square_sum": [("np.sum(x * x)", lambda i, o: put(o[0], np.sum(i[0] * i[0])), f32),
                                  ("np.dot(x, x)", lambda i, o: put(o[0], np.dot(i[0], i[0])), f32),
                                  ("np.vdot(x, x)", lambda i, o: put(o[0], np.vdot(i[0], i[0])), f32)],
        "map_reduce_masked_sum": [("np.sum(x, where=mask)", lambda i, o: put(o[0], np.sum(i[0], where=i[1].view(bool))), f32),
                                  ("np.sum(x[mask])", lambda i, o: put(o[0], np.sum(i[0][i[1].view(bool)])), f32)],
        "map_reduce_threshold_count": [("np.count_nonzero(x > t)", lambda i, o: put(o[0], np.count_nonzero(i[0] > F(0.5))), u64)],
        "dot_batched": [("np.einsum(out=)", lambda i, o: np.einsum("ij,ij->i", i[0], i[1], out=o[0]), rows),
                        ("(a * b).sum(1)", lambda i, o: np.sum(np.multiply(i[0], i[1]), axis=1, out=o[0]), rows)],
        "cosine_similarity": [("einsum", lambda i, o: put(o[0], cosine(i[0], i[1])), rows)],
        "quantize_f32_to_f16": [("np.copyto", lambda i, o: np.copyto(o[0], i[0], casting="same_kind"),
                                 lambda i: [np.empty(i[0].shape, np.float16)])],
        "quantize_f16_to_i8": [("abs-max, rint, clip", lambda i, o: [a.__setitem__(Ellipsis, b) for a, b in zip(o, quant_i8(i[0]))],
                                lambda i: [np.empty(i[0].shape, np.int8), np.empty(i[0].shape[0], np.float32)])],
        "dequantize_i8_to_f16": [("(q.astype(f32) * s).astype(f16)", lambda i, o: put(o[0], (i[0].astype(np.float32) * i[1][:, None]).astype(np.float16)),
                                  lambda i: [np.empty(i[0].shape, np.float16)]),
                                 # One ufunc computing in f32 and rounding into the f16 output.
                                 ("np.multiply(q, s, dtype=f32, out=f16)", lambda i, o: np.multiply(i[0], i[1][:, None], out=o[0], dtype=np.float32, casting="unsafe"),
                                  lambda i: [np.empty(i[0].shape, np.float16)])],
    }
    if vecdot is not None:
        t["dot_batched"].append(("np.vecdot(out=)", lambda i, o: vecdot(i[0], i[1], out=o[0]), rows))
        t["cosine_similarity"].append(("np.vecdot", lambda i, o: put(o[0], cosine(i[0], i[1], dot=vecdot)), rows))
    if _erf is not None:
        t["map_gelu_erf"] = [("0.5x(1 + erf(x/√2))", lambda i, o: put(o[0], F(0.5) * i[0] * (F(1) + _erf(i[0] * INV_SQRT2))), z1)]
        t["map_sigmoid"].append(("scipy.special.expit(out=)", lambda i, o: _expit(i[0], out=o[0]), z1))
    else:
        t["map_gelu_erf"] = []
    return t


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


def verify(kroute, name, files, outputs, d):
    """kroute check on the outputs: (passed, worst ratio, message)."""
    outs = []
    for k, o in enumerate(outputs):
        p = os.path.join(d, f"out{k}.npy")
        np.save(p, o)
        outs += ["--output", p]
    chk = subprocess.run([kroute, "check", name] + sum((["--input", f] for f in files), []) + outs,
                         capture_output=True, text=True)
    ratios = [float(l.split("worst error ")[1].split(" ")[0]) for l in chk.stdout.splitlines() if "worst error" in l]
    msg = (chk.stdout + chk.stderr).strip().replace("\n", " | ")
    return chk.returncode == 0, (max(ratios) if ratios else None), msg


def run_idiom(kroute, name, files, inputs, fn, alloc, d):
    outputs = alloc(inputs)
    for o in outputs:
        # Poison: an idiom that leaves an element unwritten cannot pass by luck.
        o.reshape(-1).view(np.uint8)[...] = 0xFF
    try:
        with np.errstate(all="ignore"):
            fn(inputs, outputs)
    except Exception as e:  # a numpy call this version lacks, a dtype rule…
        return False, None, f"raised {type(e).__name__}: {e}"
    return verify(kroute, name, files, outputs, d)


def self_test(kroute):
    """Peers that compute something else, or leave the output unwritten, must fail verification."""
    bad = {
        "map_add": ("np.subtract", lambda i, o: np.subtract(i[0], i[1], out=o[0]), lambda i: [np.empty_like(i[0])]),
        "reduce_sum": ("a sum 0.1% off", lambda i, o: put(o[0], np.sum(i[0]) * F(1.001)),
                       lambda i: [scalar(0, np.float32)]),
        "map_exp": ("lazy (writes nothing)", lambda i, o: None, lambda i: [np.empty_like(i[0])]),
        "dot_batched": ("first half of each row", lambda i, o: np.einsum("ij,ij->i", i[0][:, :64], i[1][:, :64], out=o[0]),
                        lambda i: [np.empty(i[0].shape[0], np.float32)]),
    }
    failures = 0
    for name, (idiom, fn, alloc) in bad.items():
        with tempfile.TemporaryDirectory() as d:
            files = subprocess.run([kroute, "workload", name, "--n", "10007", "--dir", d], check=True,
                                   capture_output=True, text=True).stdout.split()
            inputs = [np.load(f) for f in files]
            ok, _, msg = run_idiom(kroute, name, files, inputs, fn, alloc, d)
        print(f"self-test {name:<24} {idiom:<28} {'WRONGLY PASSED' if ok else 'refused as it must be'}")
        failures += ok
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kroute", default="target/release/kroute")
    ap.add_argument("--n", action="append", type=float)
    ap.add_argument("--kernel", action="append")
    ap.add_argument("--json")
    ap.add_argument("--budget", type=float, default=1.5)
    ap.add_argument("--verify-only", action="store_true",
                    help="verify every idiom (no timing); exit 1 if a kernel has no verified idiom")
    ap.add_argument("--self-test", action="store_true",
                    help="check that wrong and lazy peers fail verification, then exit")
    args = ap.parse_args()
    if args.self_test:
        sys.exit(1 if self_test(args.kroute) else 0)
    if not args.verify_only and not args.json:
        ap.error("--json is required unless --verify-only")
    sizes = [int(n) for n in (args.n or [1e7])]
    probe = json.loads(subprocess.run([args.kroute, "probe", "--json"], check=True, capture_output=True, text=True).stdout) \
        if not args.verify_only else None
    def catalog_at(n):
        out = subprocess.run([args.kroute, "list", "--json", "--n", str(n)], check=True, capture_output=True, text=True)
        return {e["spec"]["name"]: e for e in json.loads(out.stdout)}
    table = peers()
    names = [k for k in table if not args.kernel or k in args.kernel]
    results, unverified = [], []
    for n in sizes:
        catalog = catalog_at(n)
        for name in names:
            spec = catalog[name]["spec"]
            rec = {"kernel": name, "domain": spec["domain"], "backend": "numpy", "implementation": "numpy", "n": n, "params": {},
                   "bytes": None, "flops": None, "verified": False, "verify_worst_ratio": None, "error": None,
                   "times": None, "gbps": None, "gflops": None, "pattern": None, "peak_gbps": None,
                   "pct_of_peak": None, "rotation_sets": 0, "flags": [], "idiom": None, "alternatives": []}
            if not table[name]:
                rec["error"] = "skipped: scipy is not installed (numpy has no erf)"
                results.append(rec)
                print(f"{name:<28} numpy  n={n}: {rec['error']}", flush=True)
                continue
            best = None
            with tempfile.TemporaryDirectory() as d:
                files = subprocess.run([args.kroute, "workload", name, "--n", str(n), "--dir", d], check=True,
                                       capture_output=True, text=True).stdout.split()
                inputs = [np.load(f) for f in files]
                for idiom, fn, alloc in table[name]:
                    alt = {"idiom": idiom, "verified": False, "verify_worst_ratio": None, "error": None, "times": None}
                    ok, worst, msg = run_idiom(args.kroute, name, files, inputs, fn, alloc, d)
                    alt["verified"], alt["verify_worst_ratio"] = ok, worst
                    if not ok:
                        alt["error"] = "verification failed: " + msg
                    elif not args.verify_only:
                        first = (inputs, alloc(inputs))
                        set_bytes = sum(a.nbytes for a in inputs) + sum(o.nbytes for o in first[1])
                        k = max(1, min(4096, -(-4 * probe["llc_bytes"] // max(set_bytes, 1))))
                        sets = [first] + [([a.copy() for a in inputs], alloc(inputs)) for _ in range(k - 1)]
                        with np.errstate(all="ignore"):
                            alt["times"] = sample(fn, sets, args.budget)
                        alt["rotation_sets"] = k
                        if best is None or alt["times"]["median_s"] < best["times"]["median_s"]:
                            best = alt
                    elif best is None:
                        best = alt
                    rec["alternatives"].append(alt)
                    state = "verified" if ok else "FAILED " + (alt["error"] or "")[:120]
                    timing = f"  median {alt['times']['median_s'] * 1e3:9.3f} ms" if alt["times"] else ""
                    print(f"{name:<28} numpy  n={n:>10}  {idiom:<40} {state}{timing}", flush=True)
            if best is None:
                rec["error"] = "no idiom passed verification"
                unverified.append(f"{name} n={n}")
                results.append(rec)
                continue
            rec["verified"] = True
            rec["idiom"] = best["idiom"]
            rec["verify_worst_ratio"] = best["verify_worst_ratio"]
            if best["times"]:
                t = best["times"]
                rec["times"] = t
                rec["rotation_sets"] = best["rotation_sets"]
                rec["bytes"] = catalog[name]["bytes"]
                rec["flops"] = catalog[name]["flops"]
                rec["gbps"] = rec["bytes"] / t["median_s"] / 1e9
                rec["gflops"] = rec["flops"] / t["median_s"] / 1e9
            results.append(rec)
    if args.json:
        report = {"schema": "kroute.bench/2", "kroute_version": "peer:numpy " + np.__version__, "started_unix": int(time.time()),
                  "command": " ".join(sys.argv), "seed": 42, "machine": probe, "results": results}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if unverified:
        print("no verified numpy idiom for: " + ", ".join(unverified), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
