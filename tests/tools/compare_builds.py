#!/usr/bin/env python3
"""Compares the outputs of two tinyodlc binaries, byte for byte.

  tests/tools/compare_builds.py --old /work/baseline/build/tinyodlc --new build/tinyodlc

For every zoo model (examples/models/*/*/*.onnx with its test_data_set_0, and
examples/tiny_cnn) it runs `tinyodlc run MODEL --inputs SET --outputs DIR` with both binaries
and compares every .pb file the runs write (output_K.pb, and for training builds the losses,
gradients and parameters). Then a few builds on Cortex-M targets in QEMU, int8 builds
(--quantize int8 --calibration <the model's folder: its test_data_set_* are the calibration
sets>) and training builds (--trainable-last 1 --loss-output logits --label ...).

Exit status: 0 when every case gives identical files, 1 on any difference or a run that fails
with one binary and not the other. Not part of the default ctest (it takes minutes: run it
before merging a backend change, see docs/design.md "Backend").
"""
import argparse
import filecmp
import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINYSV = os.path.join(ROOT, "examples", "models", "tinysv")


def zoo_models():
    ms = sorted(glob.glob(os.path.join(ROOT, "examples", "models", "*", "*", "*.onnx")))
    ms = [m for m in ms if os.path.isdir(os.path.join(os.path.dirname(m), "test_data_set_0"))]
    tiny = os.path.join(ROOT, "examples", "tiny_cnn", "tiny_cnn.onnx")
    if os.path.exists(tiny):
        ms.append(tiny)
    return ms


def cases(args):
    """(name, model, extra arguments) of every comparison."""
    r = []
    for m in zoo_models():
        d = os.path.dirname(m)
        r.append((os.path.relpath(m, ROOT), m, ["--inputs", os.path.join(d, "test_data_set_0")]))
    if args.host_only:
        return r
    kws = os.path.join(TINYSV, "kws_op13", "kws_op13.onnx")
    dscnn = os.path.join(TINYSV, "dscnn_kws_op13", "dscnn_kws_op13.onnx")
    tiny = os.path.join(ROOT, "examples", "tiny_cnn", "tiny_cnn.onnx")
    stn = os.path.join(ROOT, "examples", "models", "streamtinynet", "stn_t4_gray64_op13", "stn_t4_gray64_op13.onnx")
    ktrain = os.path.join(TINYSV, "kws_train_op13", "kws_train_op13.onnx")
    gref = os.path.join(TINYSV, "kws_train_op13", "grad_ref")
    set0 = lambda m: ["--inputs", os.path.join(os.path.dirname(m), "test_data_set_0")]
    cal = lambda m: ["--quantize", "int8", "--calibration", os.path.dirname(m)]
    for tgt in ("cortex-m4", "cortex-m7"):
        for m in (tiny, kws, dscnn):
            r.append((f"{os.path.basename(m)} --target {tgt}", m, set0(m) + ["--target", tgt]))
    for m in (kws, dscnn, stn):
        r.append((f"{os.path.basename(m)} int8", m, set0(m) + cal(m)))
    r.append(("kws_op13 int8 --target cortex-m4", kws, set0(kws) + cal(kws) + ["--target", "cortex-m4"]))
    train = ["--loss-output", "logits", "--inputs", gref, "--label", os.path.join(gref, "label.pb")]
    r.append(("kws_train_op13 training --trainable-last 1", ktrain, train + ["--trainable-last", "1", "--train-steps", "2"]))
    r.append(("kws_train_op13 training adam --trainable-last 2", ktrain,
              train + ["--trainable-last", "2", "--optimizer", "adam", "--train-steps", "3"]))
    r.append(("kws_train_op13 training biases --target cortex-m4", ktrain,
              train + ["--trainable", "biases", "--target", "cortex-m4"]))
    r.append(("kws_train_op13 training int8 backbone", ktrain,
              train + ["--trainable", "fc.weight,fc.bias", "--quantize", "int8", "--calibration",
                       os.path.dirname(ktrain), "--train-steps", "2"]))
    return r


def run(tool, model, extra, out, build):
    cmd = [tool, "run", model, "--outputs", out, "--build-dir", build] + extra
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def pb_files(d):
    return sorted(os.path.relpath(p, d) for p in glob.glob(os.path.join(d, "**", "*.pb"), recursive=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="baseline tinyodlc binary")
    ap.add_argument("--new", required=True, help="tinyodlc binary under test")
    ap.add_argument("--host-only", action="store_true", help="only the zoo models on the host")
    ap.add_argument("--filter", default="", help="only cases whose name contains this text")
    ap.add_argument("--keep", default="", help="keep the build folders here")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="tinyodlc-compare-")
    same = differ = files = 0
    failures = []
    for i, (name, model, extra) in enumerate(c for c in cases(args) if args.filter in c[0]):
        outs = {}
        for tag, tool in (("old", args.old), ("new", args.new)):
            base = os.path.join(tmp, f"{i:02d}_{tag}")
            rc, text = run(tool, model, extra, base + "_out", base + "_build")
            outs[tag] = (rc, text, base + "_out")
        (orc, otext, odir), (nrc, ntext, ndir) = outs["old"], outs["new"]
        problems = []
        if orc != nrc:
            problems.append(f"exit {orc} (old) vs {nrc} (new)\n--- new output:\n{ntext[-2000:]}")
        elif orc != 0:
            problems.append(f"both runs failed (exit {orc}); not compared\n{ntext[-1000:]}")
        else:
            of, nf = pb_files(odir), pb_files(ndir)
            if of != nf:
                problems.append(f"different files: old {of}, new {nf}")
            if not of:
                problems.append("no .pb output written")
            for f in sorted(set(of) & set(nf)):
                files += 1
                if not filecmp.cmp(os.path.join(odir, f), os.path.join(ndir, f), shallow=False):
                    problems.append(f"{f} differs")
        if problems:
            differ += 1
            failures.append(name)
            print(f"DIFF {name}: " + "; ".join(problems), flush=True)
        else:
            same += 1
            print(f"same {name} ({len(pb_files(odir))} files)", flush=True)
    print(f"\n{same} cases identical, {differ} different; {files} output files compared byte for byte")
    if failures:
        print("different: " + ", ".join(failures))
    if not args.keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
