#!/usr/bin/env python3
"""No double-precision arithmetic in Cortex-M4 builds of the model zoo (issue 17).

The M4 (PSoC 62S2) has a single-precision FPU: any `double` in the generated code becomes a call
to a software helper (`__aeabi_dmul`, `__aeabi_f2d`, ...) or to a double libm function (`exp`,
`log`, `pow`, ...). For every zoo model (examples/models/*/*_op13) this compiles the generated
code for `--target psoc62s2` in four variants -- float, int8 (`--quantize int8`, calibrated on
the model's own test_data_set_N folders), float training step and int8 backbone + training step
(`--trainable-last 1`) -- with arm-none-eabi-g++ for the M4 (hard float, fpv4-sp-d16, -O2,
-Wall -Wextra -Werror), and scans every object's undefined symbols for double helpers. A
positive control (a source that uses double) proves the scan sees them.

By default every model gets the float and float-training variants and the int8 variants run
on a sample (one model per family); TINYODLC_FULL=1 (or --full) runs every variant of every
model.

usage: no_double_m4.py --tinyodlc BIN [--work DIR] [--full] [--models REGEX]
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ZOO = os.path.join(ROOT, "examples", "models")

M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
CXXFLAGS = ["-std=c++17", "-O2", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off", "-fno-exceptions",
            "-fno-rtti", "-fno-threadsafe-statics", "-Wall", "-Wextra", "-Werror", "-Wno-psabi",
            "-Wdouble-promotion"]
# Software double helpers of the ARM EABI run-time (RTABI 4.1.2) and double libm functions.
DOUBLE_HELPER = re.compile(r"^(__aeabi_d\w+|__aeabi_[filu]+2d|__aeabi_l2d|__aeabi_ul2d|"
                           r"(exp|exp2|expm1|log|log2|log10|log1p|pow|sqrt|floor|ceil|fmod|erf|erfc|tanh|sinh|cosh|"
                           r"sin|cos|tan|asin|acos|atan|atan2|round|lround|llround|rint|lrint|nearbyint|trunc|frexp|"
                           r"ldexp|fabs|hypot|cbrt|remainder|fmin|fmax))$")
# one model per family gets the int8 variants by default (int8 calibration dominates the time)
INT8_SAMPLE = {"kws_op13", "stn_t4_gray64_g_op13", "embbert_q_small_op13", "kws_train_op13"}


def loss_flags(model):
    """Loss selection as tests/training/memory_table.py (embedders/verifier: mse)."""
    import onnx  # only for the output names
    outs = [o.name for o in onnx.load(model, load_external_data=False).graph.output]
    flags = [] if len(outs) == 1 else ["--loss-output", "logits" if "logits" in outs else outs[0]]
    if os.path.basename(model).startswith(("dvector", "dscnn_sv", "tinysv")):
        flags += ["--loss", "mse"]
    return flags


def double_symbols(obj):
    out = subprocess.run(["arm-none-eabi-nm", "-u", obj], capture_output=True, text=True, check=True).stdout
    syms = [line.split()[-1] for line in out.splitlines() if line.strip()]
    return sorted(s for s in syms if DOUBLE_HELPER.match(s))


def compile_objects(cxx, src_dir, obj_dir):
    """Every generated .cpp of src_dir compiled for the M4; returns the object paths."""
    objs = []
    for src in sorted(glob.glob(os.path.join(src_dir, "*.cpp"))):
        obj = os.path.join(obj_dir, os.path.basename(src)[:-4] + ".o")
        r = subprocess.run([cxx] + M4 + CXXFLAGS + ["-I", src_dir, "-c", src, "-o", obj], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise AssertionError(f"arm-none-eabi-g++ failed on {os.path.basename(src)}:\n{r.stderr[-3000:]}")
        objs.append(obj)
    if not objs:
        raise AssertionError(f"no .cpp written into {src_dir}")
    return objs


def control(cxx, work):
    """The scan must see double helpers in code that uses double (else it proves nothing)."""
    src = os.path.join(work, "control.cpp")
    with open(src, "w") as f:
        f.write("#include <math.h>\nfloat f(float x, float y) { double d = x; return (float)(exp(d * y)); }\n")
    obj = os.path.join(work, "control.o")
    subprocess.run([cxx] + M4 + ["-std=c++17", "-O2", "-c", src, "-o", obj], check=True)
    found = double_symbols(obj)
    if not any(s.startswith("__aeabi_d") for s in found) or "exp" not in found:
        raise AssertionError(f"control: the scan found {found} in code using double: broken check")
    print(f"ok   control: scan finds {', '.join(found)} in code that uses double", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    ap.add_argument("--full", action="store_true", default=os.environ.get("TINYODLC_FULL") == "1")
    ap.add_argument("--models", default="", help="only models matching this regex")
    a = ap.parse_args()
    cxx = shutil.which("arm-none-eabi-g++")
    if not cxx:
        print("SKIP: arm-none-eabi-g++ not installed (scripts/setup-debian.sh installs it)")
        return 77
    tmp = None
    if a.work:
        work = a.work
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    else:
        work = tmp = tempfile.mkdtemp(prefix="tinyodlc-nodouble-")
    try:
        control(cxx, work)
        failures, checked = [], 0
        t0 = time.time()
        for d in sorted(glob.glob(os.path.join(ZOO, "*", "*_op13"))):
            name = os.path.basename(d)
            if a.models and not re.search(a.models, name):
                continue
            model = os.path.join(d, name + ".onnx")
            int8 = ["--quantize", "int8", "--calibration", d]
            train = loss_flags(model) + ["--trainable-last", "1"]
            variants = [("float", []), ("float+train", train)]
            if a.full or name in INT8_SAMPLE:
                variants += [("int8", int8), ("int8+train", int8 + train)]
            for kind, flags in variants:
                out = os.path.join(work, f"{name}.{kind}")
                os.makedirs(out)
                t = time.time()
                r = subprocess.run([a.tinyodlc, "compile", model, "-o", out, "--name", "net", "--target", "psoc62s2"]
                                   + flags, capture_output=True, text=True)
                if r.returncode != 0:
                    msg = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
                    if r.returncode == 5:  # does not fit the board: compile for the core without a budget
                        r = subprocess.run([a.tinyodlc, "compile", model, "-o", out, "--name", "net"] + flags,
                                           capture_output=True, text=True)
                    if r.returncode != 0:
                        failures.append(f"{name} {kind}: compile failed: {msg}")
                        print(f"FAIL {name} {kind}: compile failed: {msg}", flush=True)
                        continue
                try:
                    objs = compile_objects(cxx, out, out)
                except AssertionError as e:
                    failures.append(f"{name} {kind}: {e}")
                    print(f"FAIL {name} {kind}: {e}", flush=True)
                    continue
                bad = {os.path.basename(o): double_symbols(o) for o in objs}
                bad = {k: v for k, v in bad.items() if v}
                checked += 1
                if bad:
                    failures.append(f"{name} {kind}: double helpers {bad}")
                    print(f"FAIL {name} {kind}: double helpers {bad}", flush=True)
                else:
                    print(f"ok   {name} {kind}: {len(objs)} objects, no double ({time.time() - t:.1f} s)", flush=True)
                if tmp is None:
                    pass
                else:
                    shutil.rmtree(out, ignore_errors=True)
        print(f"no_double_m4: {checked} builds checked, {len(failures)} failed ({time.time() - t0:.0f} s)"
              + ("" if a.full else "; int8 variants on a sample, TINYODLC_FULL=1 for all"))
        for f in failures:
            print("  " + f)
        return 1 if failures or checked == 0 else 0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
