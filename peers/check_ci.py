#!/usr/bin/env python3
"""CI's verdict on the peers (scripts/ci-peers.sh).

usage: check_ci.py VERIFY.json SELFTEST.json

VERIFY.json, from `kroute bench --peers numpy --repeats 0`: every kernel kroute ran has a numpy
row that passed kroute's verification (each idiom's outputs against the f64 reference).
SELFTEST.json, from `kroute bench --peers selftest`: a wrong result and an unwritten output fail
verification, a replayed (lazy) result is refused as implausible, and an idiom that does its work
twice is slower than the honest one, which is the peer.
"""
import json
import sys


def main(verify_path, self_path):
    problems = []
    verify = json.load(open(verify_path))["results"]
    kernels = {(r["kernel"], r["n"]) for r in verify if r["implementation"] not in ("numpy", "numpy-chain")}
    numpy_rows = {(r["kernel"], r["n"]): r for r in verify if r["implementation"] == "numpy"}
    for key in sorted(kernels):
        r = numpy_rows.get(key)
        if r is None:
            problems.append(f"{key[0]} n={key[1]}: no numpy peer")
        elif not r["verified"]:
            problems.append(f"{key[0]} n={key[1]}: numpy peer failed: {r['error']}")
        else:
            bad = [a["idiom"] for a in r["alternatives"] if not a["verified"]]
            print(f"numpy {key[0]:<28} n={key[1]:<7} verified: {r['idiom']}"
                  + (f"  (refused: {', '.join(bad)})" if bad else ""))

    rows = {r["kernel"]: r for r in json.load(open(self_path))["results"] if r["implementation"] == "selftest"}
    expect = {
        "map_add": {"honest add(out=)": "peer", "wrong: subtract": "verification failed",
                    "lazy: writes nothing": "verification failed", "double work: add twice": "slower"},
        "reduce_sum": {"honest sum": "peer", "wrong: 0.1% off": "verification failed",
                       "lazy: replays a cached sum": "implausible"},
    }
    for kernel, verdicts in expect.items():
        r = rows.get(kernel)
        if r is None or not r["verified"]:
            problems.append(f"selftest {kernel}: no verified peer row")
            continue
        alts = {a["idiom"]: a for a in r["alternatives"]}
        honest = next(i for i, v in verdicts.items() if v == "peer")
        for idiom, want in verdicts.items():
            a = alts.get(idiom)
            err = (a or {}).get("error") or ""
            if want == "peer":
                ok = r["idiom"] == idiom
            elif want == "slower":
                ok = a is not None and a["times"] and a["times"]["median_s"] > 1.3 * alts[honest]["times"]["median_s"] \
                    and r["idiom"] != idiom
            else:
                ok = err.startswith(want)
            print(f"selftest {kernel:<12} {idiom:<28} expected {want:<20} {'ok' if ok else 'WRONG: ' + err[:100]}")
            if not ok:
                problems.append(f"selftest {kernel} {idiom}: expected {want}")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main(*sys.argv[1:3])
