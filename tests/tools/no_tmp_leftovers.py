#!/usr/bin/env python3
"""The compiler and its runners leave nothing in the temporary folder (issue 17).

`tinyodlc run/check/bench` build in a temporary folder (fs::temp_directory_path(), i.e. $TMPDIR
or /tmp) unless --build-dir is given; it must be removed on success and on every error path.
Each command below runs with TMPDIR set to a fresh empty folder, which must be empty again
afterwards (the host compiler and QEMU honour TMPDIR too):
  compile (ok, and a fit error), run on the host (ok; build failure with a bad --cxx; bad input
  files after the build folder exists), check (ok; mismatch exit 3), run on the Cortex-M4 in QEMU
  (ok; training ok; cross build failure; a --timeout that stops QEMU), bench (ok), and --build-dir
  (kept where asked, nothing in TMPDIR).
Also: no source file of the compiler, backends, support or harness names /tmp directly.

usage: no_tmp_leftovers.py --tinyodlc BIN [--work DIR]
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TINY = os.path.join(ROOT, "examples/tiny_cnn/tiny_cnn.onnx")
DATA = os.path.join(ROOT, "examples/tiny_cnn/test_data_set_0")
KWS = os.path.join(ROOT, "examples/models/tinysv/kws_train_op13/kws_train_op13.onnx")
FAILS = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else f": {detail}"), flush=True)
    if not ok:
        FAILS.append(what)


def case(a, tmpdir, label, args, want_rc, kept=None):
    shutil.rmtree(tmpdir, ignore_errors=True)
    os.makedirs(tmpdir)
    env = dict(os.environ, TMPDIR=tmpdir, TINYODLC_PROGRESS_SECONDS="600")
    r = subprocess.run([a.tinyodlc] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                       timeout=900)
    left = sorted(os.listdir(tmpdir))
    check(f"{label}: exit {r.returncode} (want {want_rc})", r.returncode == want_rc, r.stdout[-1500:])
    check(f"{label}: nothing left in TMPDIR", not left, str(left))
    if kept:
        check(f"{label}: --build-dir kept", os.path.isdir(kept) and os.listdir(kept), kept)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    a = ap.parse_args()
    own = None if a.work else tempfile.mkdtemp(prefix="tinyodlc-tmpaudit-")
    work = a.work or own
    if a.work:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    tmpdir = os.path.join(work, "tmp")
    out = os.path.join(work, "out")
    try:
        # no hard-coded /tmp in the code that ships or runs builds
        hits = []
        for d in ["compiler", "backends", "support", "harness", "runtime", "templates", "kernels"]:
            for f in glob.glob(os.path.join(ROOT, d, "**", "*"), recursive=True):
                if os.path.isfile(f) and re.search(r"[\"']/tmp\b", open(f, errors="replace").read()):
                    hits.append(os.path.relpath(f, ROOT))
        check("no source names /tmp (temporary folders come from fs::temp_directory_path)", not hits, str(hits))
        # control: the check sees a folder left in TMPDIR
        shutil.rmtree(tmpdir, ignore_errors=True)
        os.makedirs(tmpdir)
        subprocess.run(["sh", "-c", "mktemp -d >/dev/null"], env=dict(os.environ, TMPDIR=tmpdir), check=True)
        check("control: a folder left by a program in TMPDIR is seen", len(os.listdir(tmpdir)) == 1)
        bad = os.path.join(work, "bad_inputs")
        os.makedirs(bad, exist_ok=True)
        shutil.copy(os.path.join(DATA, "output_0.pb"), os.path.join(bad, "input_0.pb"))  # wrong shape
        wrong = os.path.join(work, "wrong_ref")
        os.makedirs(wrong, exist_ok=True)
        shutil.copy(os.path.join(DATA, "input_0.pb"), os.path.join(wrong, "input_0.pb"))
        shutil.copy(os.path.join(DATA, "input_0.pb"), os.path.join(wrong, "output_0.pb"))  # not the output
        case(a, tmpdir, "compile", ["compile", TINY, "-o", os.path.join(work, "c")], 0)
        case(a, tmpdir, "compile, fit error", ["compile", KWS, "-o", os.path.join(work, "c2"), "--target", "psoc62s2",
                                               "--reserve", "SRAM=1000K"], 5)
        case(a, tmpdir, "run host", ["run", TINY, "--inputs", DATA, "--outputs", out], 0)
        case(a, tmpdir, "run host, build fails (--cxx false)", ["run", TINY, "--inputs", DATA, "--outputs", out,
                                                                 "--cxx", "false"], 4)
        case(a, tmpdir, "run host, bad input file", ["run", TINY, "--inputs", bad, "--outputs", out], 1)
        case(a, tmpdir, "check host", ["check", TINY, "--data", DATA], 0)
        case(a, tmpdir, "check host, mismatch", ["check", TINY, "--data", wrong], 3)
        if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-g++"):
            case(a, tmpdir, "run cortex-m4", ["run", TINY, "--target", "cortex-m4", "--inputs", DATA, "--outputs", out], 0)
            case(a, tmpdir, "run cortex-m4, training",
                 ["run", KWS, "--target", "cortex-m4", "--loss-output", "logits", "--trainable-last", "1",
                  "--inputs", os.path.join(ROOT, "examples/models/tinysv/kws_train_op13/test_data_set_0"),
                  "--outputs", out, "--label", os.path.join(work, "label.pb")] if make_label(work) else [], 0)
            case(a, tmpdir, "run cortex-m4, cross build fails", ["run", TINY, "--target", "cortex-m4", "--inputs", DATA,
                                                                 "--outputs", out, "--cxx", "false"], 4)
            case(a, tmpdir, "run cortex-m7, a hanging program stopped by --timeout",
                 ["run", TINY, "--target", "cortex-m7", "--inputs", DATA, "--outputs", out, "--timeout", "2",
                  "--cxxflags=-DTINYODLC_HARNESS_TEST_HANG"], 4)
            case(a, tmpdir, "run cortex-m4, a faulting program",
                 ["run", TINY, "--target", "cortex-m4", "--inputs", DATA, "--outputs", out,
                  "--cxxflags=-DTINYODLC_HARNESS_TEST_FAULT"], 4)
            case(a, tmpdir, "bench cortex-m4", ["bench", TINY, "--target", "cortex-m4"], 0)
            kept = os.path.join(work, "kept")
            case(a, tmpdir, "run cortex-m4 --build-dir", ["run", TINY, "--target", "cortex-m4", "--inputs", DATA,
                                                          "--outputs", out, "--build-dir", kept], 0, kept)
        else:
            print("note: no qemu-system-arm / arm-none-eabi-g++: QEMU cases skipped")
        kept = os.path.join(work, "kept_host")
        case(a, tmpdir, "run host --build-dir", ["run", TINY, "--inputs", DATA, "--outputs", out, "--build-dir", kept],
             0, kept)
    finally:
        if own:
            shutil.rmtree(own, ignore_errors=True)
    print("no tmp leftovers: PASS" if not FAILS else f"no tmp leftovers: {len(FAILS)} check(s) failed")
    return 1 if FAILS else 0


def make_label(work):
    # an int64 [1] TensorProto: dims=1 (field 1), data_type=7 INT64 (field 2), int64_data (field 7)
    with open(os.path.join(work, "label.pb"), "wb") as f:
        f.write(bytes([0x08, 0x01, 0x10, 0x07, 0x38, 0x01]))
    return True


if __name__ == "__main__":
    sys.exit(main())
