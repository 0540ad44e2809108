#!/usr/bin/env python3
"""Memory-planning suite (ctest label `memory`).

For every example model (examples/tiny_cnn, examples/models/**), float32 and int8 (`--quantize
int8 --calibration <model folder>`: the model's reference data sets calibrate): compiles it for
each target (host, nicla-vision, psoc62s2), checks memory.json with check_memory_json.py
(independent of the planner: no overlap of buffers whose live ranges intersect, peak <= 1.05 x
the liveness lower bound and <= greedy by size), and runs the generated code under ASan + UBSan
on the model's first data set (float: `tinyodlc check` against the reference; int8: `tinyodlc
run`, clean exit). Then checks the fit errors: a model too large for the PSoC 62S2 and the Nicla
Vision fails `compile` with exit code 5 and a message naming the region, the bytes over budget
and the layer at the peak, while the same model compiles for host.
Prints a table (model, variant, target, peak, lower bound, ratio, greedy-by-size) at the end.
"""
import argparse
import concurrent.futures as cf
import glob
import json
import re
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHECKER = os.path.join(HERE, "check_memory_json.py")
KNOWN = os.path.join(HERE, "known_failures.txt")


def known_failures():
    """{(model, variant, target): reason} from known_failures.txt (`MODEL VARIANT TARGET  # why`):
    plan checks that fail for a reason tracked elsewhere; reported as KNOWN FAILURE, and as a
    failure when they pass (so the list cannot go stale)."""
    r = {}
    with open(KNOWN) as f:
        for line in f:
            text, _, why = line.partition("#")
            fields = text.split()
            if fields:
                r[tuple(fields[:3])] = why.strip()
    return r
SANITIZE = "--cxxflags=-fsanitize=address,undefined -fno-sanitize-recover=all -g"


def run(cmd, timeout=900):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout


def models():
    ms = sorted(glob.glob(os.path.join(ROOT, "examples", "tiny_cnn", "*.onnx")))
    ms += sorted(glob.glob(os.path.join(ROOT, "examples", "models", "**", "*.onnx"), recursive=True))
    return ms


def quant_flags(m, variant):
    return ["--quantize", "int8", "--calibration", os.path.dirname(m)] if variant == "int8" else []


def check_model(a, tmp, m, variant, known):
    """Compiles, checks and runs one model variant. Returns (log lines, failures, table rows)."""
    name = os.path.splitext(os.path.basename(m))[0]
    log, failures, rows = [], [], []
    unsupported = None
    q = quant_flags(m, variant)
    for t in a.targets.split(","):
        out = os.path.join(tmp, variant, name, t)
        rc, text = run([a.tinyodlc, "compile", m, "-o", out, "--target", t] + q)
        if rc == 1 and t == "host" and re.search(r"unsupported|not supported", text, re.I):
            unsupported = text.strip().splitlines()[-1] if text.strip() else "compile error"
            log.append(f"SKIP {name} [{variant}]: {unsupported}")
            break
        if rc == 5 and t != "host":
            log.append(f"{name} [{variant}, {t}]: does not fit: {text.strip()}")
            rows.append((name, variant, t, "does not fit", "", "", ""))
            continue
        if rc != 0:
            failures.append(f"{name} [{variant}, {t}]: compile exit {rc}: {text}")
            continue
        rc, text = run([sys.executable, CHECKER, os.path.join(out, "memory.json")])
        log.append(f"{name} [{variant}, {t}]: {text.strip()}")
        why = known.get((name, variant, t))
        if rc != 0 and why is not None:
            log.append(f"  KNOWN FAILURE ({why})")
        elif rc != 0:
            failures.append(text)
            continue
        elif why is not None:
            failures.append(f"{name} {variant} {t} passes now: remove it from {KNOWN}")
        with open(os.path.join(out, "memory.json")) as f:
            mj = json.load(f)
        lb = mj["lower_bound_bytes"]
        rows.append((name, variant, t, mj["peak_bytes"], lb,
                     f"{mj['single_arena_bytes'] / lb:.3f}" if lb else "-", mj["greedy_by_size_bytes"]))
    if unsupported or a.no_asan:
        return log, failures, rows
    if variant == "int8" and re.search(r"_op17$|_train_op13$", name):
        return log, failures, rows  # same int8 code as the _op13 export (its ASan run covers it)
    ds = os.path.join(os.path.dirname(m), "test_data_set_0")
    if not os.path.exists(os.path.join(ds, "output_0.pb")):
        return log, failures, rows
    if variant == "int8":
        # int8 outputs are not the float reference: a clean run under the sanitizers is the check
        # (the quant suite checks the numbers)
        rc, text = run([a.tinyodlc, "run", m, "--inputs", ds, "--outputs", os.path.join(tmp, variant, name, "asan")]
                       + q + [SANITIZE])
    else:
        rc, text = run([a.tinyodlc, "check", m, "--data", ds, SANITIZE])
    log.append(f"{name} [{variant}, host, ASan+UBSan]: exit {rc}: "
               f"{text.strip().splitlines()[-1] if text.strip() else ''}")
    if rc == 3 and re.search(r"got \S+\[[^]]*\], expected \S+\[[^]]*\]: MISMATCH", text):
        # The reference data has another shape than the model's output: a data-set
        # problem, not a memory error (ASan ran clean, or the exit would be 4).
        log.append(f"  note: {name}: reference output has another shape; ASan clean, values not compared")
    elif rc != 0:
        failures.append(f"{name} [{variant}]: ASan run failed (exit {rc}):\n{text}")
    return log, failures, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--targets", default="host,nicla-vision,psoc62s2")
    ap.add_argument("--variants", default="float,int8", help="float and/or int8 (default: both)")
    ap.add_argument("--no-asan", action="store_true")
    ap.add_argument("--filter", default="")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    failures, rows = [], []
    with tempfile.TemporaryDirectory(prefix="tinyodlc-memory-") as tmp:
        jobs = [(m, v) for m in models() if not a.filter or a.filter in m for v in a.variants.split(",")]
        with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
            known = known_failures()
            results = list(ex.map(lambda mv: check_model(a, tmp, *mv, known), jobs))
        for log, fails, rs in results:
            print("\n".join(log), flush=True)
            failures += fails
            rows += rs

        # Fit errors.
        big = os.path.join(HERE, "big_cnn.onnx")  # written by make_big_cnn.py
        for t, region in [("psoc62s2", "SRAM"), ("nicla-vision", "AXISRAM")]:
            rc, text = run([a.tinyodlc, "compile", big, "-o", os.path.join(tmp, "big", t), "--target", t])
            ok = rc == 5 and f"'{region}'" in text and "over budget" in text and "conv_big" in text and "int8" in text
            print(f"big_cnn [{t}]: exit {rc}: {text.strip()}")
            if not ok:
                failures.append(f"big_cnn [{t}]: expected exit 5 naming region '{region}', the bytes over budget, the "
                                f"layer and a remedy; got exit {rc}: {text}")
        rc, text = run([a.tinyodlc, "compile", big, "-o", os.path.join(tmp, "big", "host"), "--target", "host"])
        if rc != 0:
            failures.append(f"big_cnn [host]: expected to compile, exit {rc}: {text}")
        tiny = os.path.join(ROOT, "examples", "tiny_cnn", "tiny_cnn.onnx")
        rc, text = run([a.tinyodlc, "compile", tiny, "-o", os.path.join(tmp, "res"), "--target", "psoc62s2",
                        "--reserve", "SRAM=1010K"])
        print(f"tiny_cnn [psoc62s2, --reserve SRAM=1010K]: exit {rc}: {text.strip()}")
        if rc != 5 or "reserved" not in text:
            failures.append(f"tiny_cnn with --reserve SRAM=1010K: expected exit 5 mentioning the reservation: {text}")
        rc, text = run([a.tinyodlc, "compile", tiny, "-o", os.path.join(tmp, "res2"), "--target", "psoc62s2",
                        "--reserve", "DTCM=1K"])
        if rc != 1 or "no region 'DTCM'" not in text:
            failures.append(f"--reserve of an unknown region: expected exit 1 naming it, got {rc}: {text}")

    print("\n| model | variant | target | peak (bytes) | lower bound | single arena / bound | greedy by size |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    if failures:
        print(f"\n{len(failures)} FAILURES:")
        for f in failures:
            print(f)
        return 1
    print("\nmemory checks: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
