#!/usr/bin/env python3
"""Model-zoo test: every example model compiles, runs on host and matches its PyTorch reference.

For every folder under examples/models (the zoo) and tests/models/unseen (the zoo families in
configurations the compiler was never developed against, see make_unseen.py) that holds a .onnx
file and test_data_set_K folders, runs
    tinyodlc check MODEL --data SET --rtol 0 --atol A
with A = 1e-4 * max(1, max |reference output|) over the outputs of that set (the reference
.pb files are read with onnx.numpy_helper when python3-onnx is available, else with a minimal
TensorProto parser). Bool outputs are compared exactly by `check`.

A model is
  passed   when all its data sets match;
  skipped  when tinyodlc rejects it as unsupported (the reason is printed);
  failed   otherwise (wrong numbers, build failure, other compile errors, crash, timeout).
The committed expectations file (expected_pass.txt) lists the models that must pass: any of them
not passing is a failure, so a regression cannot hide as a skip; --update-expectations rewrites
it. Prints one line per model and ends with 'N passed, N failed, N skipped'; exits 1 on any
failure (and, with --strict, on any skip).
"""
import argparse
import concurrent.futures as cf
import os
import re
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODELS = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "models"))
# models of the zoo families in configurations the compiler was not developed against
# (make_unseen.py); listed as unseen/<family>/<model> in the expectations
UNSEEN_MODELS = os.path.join(HERE, "unseen")
DEFAULT_EXPECT = os.path.join(HERE, "expected_pass.txt")
UNSUPPORTED = re.compile(r"unsupported|not supported|not implemented", re.IGNORECASE)

# TensorProto data types -> struct format of one element (raw_data is little-endian)
_FMT = {1: "f", 2: "B", 3: "b", 4: "H", 5: "h", 6: "i", 7: "q", 9: "?", 10: "e", 11: "d", 12: "I", 13: "Q"}


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _parse_tensor_values(buf):
    """Minimal TensorProto reader: returns the element values as a flat list of numbers."""
    i, dtype, raw, vals = 0, 0, None, []
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
            if field == 2:
                dtype = v
            elif field in (5, 7, 11):  # unpacked int32_data / int64_data / uint64_data
                vals.append(v if v < 1 << 63 else v - (1 << 64))
        elif wire == 1:
            if field == 10:
                vals.append(struct.unpack_from("<d", buf, i)[0])
            i += 8
        elif wire == 5:
            if field == 4:
                vals.append(struct.unpack_from("<f", buf, i)[0])
            i += 4
        elif wire == 2:
            n, i = _varint(buf, i)
            chunk = buf[i:i + n]
            i += n
            if field == 9:
                raw = chunk
            elif field == 4:
                vals += list(struct.unpack(f"<{n // 4}f", chunk))
            elif field == 10:
                vals += list(struct.unpack(f"<{n // 8}d", chunk))
            elif field in (5, 7, 11):
                j = 0
                while j < len(chunk):
                    v, j = _varint(chunk, j)
                    vals.append(v if field == 11 or v < 1 << 63 else v - (1 << 64))
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if raw is not None:
        fmt = _FMT.get(dtype)
        if fmt is None:
            raise ValueError(f"unsupported data type {dtype}")
        n = len(raw) // struct.calcsize(fmt)
        vals = list(struct.unpack(f"<{n}{fmt}", raw))
    return [float(v) for v in vals]


def max_abs(path):
    try:
        import onnx
        from onnx import numpy_helper
        a = numpy_helper.to_array(onnx.load_tensor(path))
        return float(abs(a.astype("float64")).max()) if a.size else 0.0
    except ImportError:
        with open(path, "rb") as f:
            vals = _parse_tensor_values(f.read())
        return max((abs(v) for v in vals), default=0.0)


def find_models(root):
    models = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        onnx_files = sorted(f for f in filenames if f.endswith(".onnx"))
        sets = sorted(d for d in dirnames if re.fullmatch(r"test_data_set_\d+", d))
        if onnx_files and sets:
            models.append((os.path.join(dirpath, onnx_files[0]), [os.path.join(dirpath, s) for s in sets]))
    return models


def run_model(tinyodlc, model, sets, timeout, extra):
    t0 = time.time()
    details = []
    for d in sets:
        outs = sorted(f for f in os.listdir(d) if re.fullmatch(r"output_\d+\.pb", f))
        ref_max = max((max_abs(os.path.join(d, f)) for f in outs), default=0.0)
        atol = 1e-4 * max(1.0, ref_max)
        cmd = [tinyodlc, "check", model, "--data", d, "--rtol", "0", "--atol", f"{atol:.6g}"] + extra
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, text=True)
        except subprocess.TimeoutExpired:
            return "failed", f"{os.path.basename(d)}: timed out after {timeout} s", time.time() - t0
        out = p.stdout.strip()
        if p.returncode == 1 and UNSUPPORTED.search(out):
            msgs = [re.sub(r"^tinyodlc: error: \S+: ", "", l) for l in out.splitlines() if "error" in l]
            return "skipped", "; ".join(msgs) or out.splitlines()[0], time.time() - t0
        if p.returncode != 0:
            return "failed", f"{os.path.basename(d)} (atol {atol:.3g}, exit {p.returncode}):\n{out[-3000:]}", \
                time.time() - t0
        errs = re.findall(r"max abs err (\S+)", out)
        details.append(f"{os.path.basename(d)[-1]}:{max((float(e.rstrip(',')) for e in errs), default=0):.1e}")
    return "passed", "max abs err per set " + " ".join(details), time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tinyodlc", required=True, help="path of the tinyodlc binary")
    ap.add_argument("--models-dir", default=None,
                    help=f"default: {DEFAULT_MODELS} and {UNSEEN_MODELS} (as unseen/...)")
    ap.add_argument("--filter", default="", help="only models whose path matches this regex")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per data set")
    ap.add_argument("--cxx", default="", help="host C++ compiler for the generated code")
    ap.add_argument("--cxxflags", default="", help="extra flags for building the generated code")
    ap.add_argument("--strict", action="store_true", help="also fail when a model is skipped")
    ap.add_argument("--expectations", default=DEFAULT_EXPECT, help="list of models that must pass")
    ap.add_argument("--update-expectations", action="store_true", help="rewrite the expectations file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the full output of failures")
    args = ap.parse_args()

    roots = [(args.models_dir, "")] if args.models_dir else [(DEFAULT_MODELS, ""), (UNSEEN_MODELS, "unseen/")]
    names = {}  # model path -> name in the expectations (folder relative to its root, prefixed)
    models = []
    for root, prefix in roots:
        for m, sets in find_models(root):
            names[m] = prefix + os.path.relpath(os.path.dirname(m), root)
            models.append((m, sets))
    if args.filter:
        models = [m for m in models if re.search(args.filter, names[m[0]] + "/" + os.path.basename(m[0]))]
    if not models:
        print(f"models: no models found under {', '.join(r for r, _ in roots)}", file=sys.stderr)
        return 2
    extra = []
    if args.cxx:
        extra += ["--cxx", args.cxx]
    if args.cxxflags:
        extra += [f"--cxxflags={args.cxxflags}"]

    results = {}
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = {ex.submit(run_model, args.tinyodlc, m, s, args.timeout, extra): m for m, s in models}
        for fut in cf.as_completed(futs):
            model = futs[fut]
            status, msg, dt = fut.result()
            rel = names[model]
            results[rel] = (status, msg)
            first = msg.splitlines()[0] if msg else ""
            print(f"{status.upper():8} {rel} ({dt:.1f} s): {first}", flush=True)
            if status == "failed" and args.verbose:
                print("    " + msg.replace("\n", "\n    "), flush=True)

    expected = set()
    if os.path.exists(args.expectations):
        with open(args.expectations) as f:
            expected = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    for rel, (s, msg) in list(results.items()):
        if s == "skipped" and rel in expected and not args.update_expectations:
            results[rel] = ("failed", "listed in expected_pass.txt but skipped: " + msg)
    if args.update_expectations:
        passed = sorted(r for r, (s, _) in results.items() if s == "passed")
        keep = sorted(e for e in expected if e not in results)  # models not run (--filter)
        with open(args.expectations, "w") as f:
            f.write("# models (paths relative to examples/models; unseen/...: tests/models/unseen) that must pass\n"
                    "# tests/models/run_models.py\n")
            f.write("# regenerate: run_models.py --tinyodlc BIN --update-expectations\n")
            for r in sorted(set(passed + keep)):
                f.write(r + "\n")
        print(f"wrote {args.expectations}")
    new_passes = sorted(r for r, (s, _) in results.items() if s == "passed" and r not in expected)
    if new_passes and not args.update_expectations:
        print(f"\n{len(new_passes)} model(s) pass but are not in expected_pass.txt (--update-expectations adds them):")
        for r in new_passes:
            print(f"  {r}")

    counts = {s: sum(1 for v in results.values() if v[0] == s) for s in ("passed", "failed", "skipped")}
    if counts["failed"]:
        print("\nfailed:")
        for rel, (s, msg) in sorted(results.items()):
            if s == "failed":
                print(f"  {rel}: {msg.splitlines()[0] if msg else ''}")
    if counts["skipped"]:
        print("\nskipped (unsupported):")
        for rel, (s, msg) in sorted(results.items()):
            if s == "skipped":
                print(f"  {rel}: {msg}")
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] or (args.strict and counts["skipped"]) else 0


if __name__ == "__main__":
    sys.exit(main())
