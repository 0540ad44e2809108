#!/usr/bin/env python3
"""ONNX node conformance suite for tinyodlc.

Runs `tinyodlc check` (compile -> generated C++ -> host build -> run -> compare with the
ONNX reference outputs, rtol 1e-3 / atol 1e-7 as ONNX's own backend runner) on every test
in ../shared/onnx-node-tests (or --tests-dir), in parallel.

A test is
  passed   when the outputs match;
  skipped  when tinyodlc rejects it as unsupported (operator, element type or attribute
           value), or it is listed in KNOWN_SKIPS; the reason is printed;
  failed   otherwise (wrong numbers, crash, build failure, any other compile error).
The committed expectations file lists the tests that must pass: any of them not passing
fails the suite (exit 1), so a regression cannot hide as a skip. Tests passing that are
not listed are reported, and --update-expectations rewrites the list.

Prints 'N passed, N failed, N skipped' as its last line.
"""
import argparse
import concurrent.futures as cf
import csv
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TESTS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "onnx-node-tests"))
DEFAULT_EXPECT = os.path.join(HERE, "expected_pass.txt")

# Tests that cannot pass by construction, with the reason.
KNOWN_SKIPS = {
    "test_training_dropout": "training-mode Dropout with a random mask (not reproducible)",
    "test_training_dropout_default": "training-mode Dropout with a random mask (not reproducible)",
    "test_training_dropout_mask": "training-mode Dropout with a random mask (not reproducible)",
    "test_training_dropout_default_mask": "training-mode Dropout with a random mask (not reproducible)",
}

UNSUPPORTED = re.compile(r"unsupported|not supported", re.IGNORECASE)


def run_one(tinyodlc, tests_dir, name, timeout, extra):
    if name in KNOWN_SKIPS:
        return name, "skipped", KNOWN_SKIPS[name], 0.0
    d = os.path.join(tests_dir, "node", name)
    t0 = time.time()
    try:
        p = subprocess.run([tinyodlc, "check", os.path.join(d, "model.onnx"), "--data",
                            os.path.join(d, "test_data_set_0")] + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        return name, "failed", f"timed out after {timeout} s", time.time() - t0
    dt = time.time() - t0
    out = p.stdout.strip()
    if p.returncode == 0:
        return name, "passed", "", dt
    if p.returncode == 1 and UNSUPPORTED.search(out):
        # Keep only the message after the model path.
        msg = out.splitlines()[0] if out else ""
        msg = re.sub(r"^tinyodlc: error: \S+: ", "", msg)
        return name, "skipped", msg, dt
    return name, "failed", out[-2000:], dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tinyodlc", required=True, help="path of the tinyodlc binary")
    ap.add_argument("--tests-dir", default=DEFAULT_TESTS, help="onnx-node-tests folder (default: %(default)s)")
    ap.add_argument("--expectations", default=DEFAULT_EXPECT, help="list of tests that must pass")
    ap.add_argument("--filter", default="", help="only tests whose name matches this regex")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=int, default=300, help="seconds per test")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every test, with failure output")
    ap.add_argument("--cxx", default="", help="host C++ compiler for the generated code")
    ap.add_argument("--cxxflags", default="", help="extra flags for building the generated code")
    ap.add_argument("--sample", type=int, default=1,
                    help="run only every N-th test (by name), for the second-compiler and sanitizer runs; "
                         "the environment variable TINYODLC_FULL=1 forces 1")
    ap.add_argument("--report", default="", help="write name<TAB>status<TAB>reason per test to this file")
    ap.add_argument("--update-expectations", action="store_true", help="rewrite the expectations file")
    args = ap.parse_args()

    index = os.path.join(args.tests_dir, "INDEX.tsv")
    if not os.path.exists(index):
        print(f"SKIP conformance: {index} not found. The suite reads the ONNX node tests from ../shared/"
              "onnx-node-tests beside the checkout (or --tests-dir); without them it is skipped (exit 77).")
        return 77
    with open(index) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    names = [row["test"] for row in rows]
    op_of = {row["test"]: row.get("op", "") for row in rows}
    if args.filter:
        names = [n for n in names if re.search(args.filter, n)]
    expected = set()
    if os.path.exists(args.expectations):
        with open(args.expectations) as f:
            expected = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    sample = 1 if os.environ.get("TINYODLC_FULL") == "1" else max(1, args.sample)
    if sample > 1:
        # every sample-th test, plus for every operator one test that must pass (or its first
        # test), so that each op's kernel still runs at least once
        keep = set(names[::sample])
        by_op = {}
        for n in names:
            cur = by_op.get(op_of[n])
            if cur is None or (n in expected and cur not in expected):
                by_op[op_of[n]] = n
        keep |= set(by_op.values())
        total = len(names)
        names = [n for n in names if n in keep]
        print(f"conformance: sampled {len(names)} of {total} tests (every {sample}th + one per operator, "
              f"{len(by_op)} operators); TINYODLC_FULL=1 runs all", flush=True)

    extra = []
    if args.cxx:
        extra += ["--cxx", args.cxx]
    if args.cxxflags:
        extra += [f"--cxxflags={args.cxxflags}"]
    results = {}
    t0 = time.time()
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = [ex.submit(run_one, args.tinyodlc, args.tests_dir, n, args.timeout, extra) for n in names]
        for fut in cf.as_completed(futs):
            name, status, msg, dt = fut.result()
            results[name] = (status, msg)
            if args.verbose or status == "failed":
                line = f"{status.upper():8} {name} ({dt:.1f} s)"
                if msg and status == "skipped":
                    line += f": {msg}"
                print(line, flush=True)
                if status == "failed" and args.verbose:
                    print("    " + msg.replace("\n", "\n    "), flush=True)

    passed = sorted(n for n, (s, _) in results.items() if s == "passed")
    failed = sorted(n for n, (s, _) in results.items() if s == "failed")
    skipped = sorted(n for n, (s, _) in results.items() if s == "skipped")
    regressions = sorted(n for n in expected if n in results and results[n][0] != "passed")
    new_passes = sorted(n for n in passed if n not in expected)

    if args.report:
        with open(args.report, "w") as f:
            for n in sorted(results):
                f.write(f"{n}\t{results[n][0]}\t{results[n][1].splitlines()[0] if results[n][1] else ''}\n")
    # Skip reasons, grouped.
    reasons = {}
    for n in skipped:
        key = re.sub(r"'[^']*'", "'…'", results[n][1])
        reasons.setdefault(key, []).append(n)
    print(f"\nskip reasons ({len(skipped)} tests):")
    for r, ns in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(ns):4}  {r[:150]}   e.g. {ns[0]}")
    if regressions:
        print(f"\nREGRESSIONS: {len(regressions)} tests in {os.path.basename(args.expectations)} did not pass:")
        for n in regressions:
            print(f"  {n}: {results[n][0]}: {results[n][1].splitlines()[0] if results[n][1] else ''}")
    if new_passes and not args.update_expectations:
        print(f"\n{len(new_passes)} tests pass but are not in the expectations file (run with --update-expectations)")
    if args.update_expectations:
        keep = {n for n in expected if n not in results}  # tests outside the filter stay listed
        with open(args.expectations, "w") as f:
            f.write("# ONNX node tests that must pass (tests/conformance/run_conformance.py --update-expectations)\n")
            for n in sorted(keep | set(passed)):
                f.write(n + "\n")
        print(f"\nwrote {args.expectations}")
    print(f"\nconformance: {len(names)} tests in {time.time() - t0:.0f} s")
    print(f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
    if regressions:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
