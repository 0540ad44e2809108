#!/usr/bin/env python3
"""Every constant array the compiler emits is read by the generated code (issue 17).

A constant that the compiler folds into kernel parameters (a Reshape's shape, Pad's pads, a
Cast's folded shape tensor, a gradient's shape arguments...) must not be emitted as an array:
it would cost flash (the linker keeps it in .rodata unless --gc-sections drops it) and make
kWeightBytes / memory.json's weight_bytes larger than what the code needs.

For every zoo export (examples/models/*/*_op13, float, host), every training export with
--trainable-last 1 (+ Adam), tiny_cnn, and int8 builds of one model per family: compile, then
check that each `const T name[N]` array of <name>.cpp is named somewhere else in the file, and
that weight_bytes equals the bytes of the emitted weight arrays (plus the trainable parameters'
initial values of a training build); peak_bytes equals the header's kArenaBytes, and a
training build's report says "training" and lists parameters/gradients(/optimizer state) that
add up to kTrainingStateBytes.

usage: check_constants_referenced.py --tinyodlc BIN [--work DIR]
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CTYPE_BYTES = {"float": 4, "int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4,
               "int64_t": 8, "uint64_t": 8, "bool": 1, "double": 8}
ARRAY = re.compile(r"^(?:\[\[maybe_unused\]\] )?alignas\(16\) const (\w+) (\w+)\[(\d+)\]", re.M)


def builds():
    models = sorted(glob.glob(os.path.join(ROOT, "examples/models/*/*_op13/*.onnx")))
    out = [("tiny_cnn", os.path.join(ROOT, "examples/tiny_cnn/tiny_cnn.onnx"), [])]
    for m in models:
        name = os.path.basename(m)[:-5]
        if name.endswith("_train_op13"):
            extra = ["--loss-output", "logits"] if name == "kws_train_op13" else []  # two outputs
            out.append((name + "_train", m, ["--trainable-last", "1", "--optimizer", "adam"] + extra))
        else:
            out.append((name, m, []))
    # int8: one model per family (calibrated on its reference sets)
    for rel in ["tinysv/kws_op13", "streamtinynet/stn_t4_gray64_h_op13", "embbert_q/embbert_q_small_op13"]:
        d = os.path.join(ROOT, "examples/models", rel)
        onnx = glob.glob(os.path.join(d, "*.onnx"))
        if onnx:
            out.append((os.path.basename(rel) + "_int8", onnx[0], ["--quantize", "int8", "--calibration", d]))
    return out


def check_one(tinyodlc, work, label, model, extra):
    out = os.path.join(work, label)
    r = subprocess.run([tinyodlc, "compile", model, "-o", out, "--name", "net"] + extra,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return f"{label}: compile failed ({r.returncode}):\n{r.stdout}"
    text = open(os.path.join(out, "net.cpp")).read()
    arrays = ARRAY.findall(text)
    dead, weights = [], 0
    for ctype, name, n in arrays:
        if len(re.findall(r"\b%s\b" % re.escape(name), text)) < 2:
            dead.append(f"{name} ({CTYPE_BYTES[ctype] * int(n)} B)")
        if name != "kTrainableInit":
            weights += CTYPE_BYTES[ctype] * int(n)
    header = open(os.path.join(out, "net.h")).read()
    m = re.search(r"kTrainableCount\s*=\s*(\d+)", header)
    if m:  # the initial values of the trainable parameters (one float each) are weights too
        weights += 4 * int(m.group(1))
    report = json.load(open(os.path.join(out, "memory.json")))
    errors = []
    if dead:
        errors.append(f"{label}: {len(dead)} constant array(s) emitted but read by no code: {', '.join(dead[:6])}")
    if report["weight_bytes"] != weights:
        errors.append(f"{label}: memory.json weight_bytes {report['weight_bytes']} != {weights} B of emitted arrays")
    # Report invariants (issue 17): the reported peak is the arena the code defines; a training
    # build reports the training plan and its persistent blocks, which add up to the state it defines.
    arena = re.search(r"kArenaBytes = (\d+);", header)
    if not arena or report.get("peak_bytes") != int(arena.group(1)):
        errors.append(f"{label}: memory.json peak_bytes {report.get('peak_bytes')} != kArenaBytes "
                      f"{arena.group(1) if arena else '(missing)'}")
    state = re.search(r"kTrainingStateBytes = (\d+);", header)
    if state:
        names = [b["name"] for b in report.get("persistent", [])]
        if report.get("build") != "training" or report.get("persistent_bytes") != int(state.group(1)) or \
                not {"parameters", "gradients"} <= set(names):
            errors.append(f"{label}: training report: build {report.get('build')}, persistent {names} = "
                          f"{report.get('persistent_bytes')} B, kTrainingStateBytes {state.group(1)}")
    shutil.rmtree(out, ignore_errors=True)
    return "\n".join(errors) if errors else None, len(arrays)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    a = ap.parse_args()
    tmp = None if a.work else tempfile.mkdtemp(prefix="tinyodlc-constref-")
    work = a.work or tmp
    os.makedirs(work, exist_ok=True)
    try:
        todo = builds()
        with ThreadPoolExecutor(a.jobs) as ex:
            results = list(ex.map(lambda b: (b[0], check_one(a.tinyodlc, work, *b)), todo))
        failed, arrays = 0, 0
        for label, res in results:
            if isinstance(res, str):
                print("FAIL", res)
                failed += 1
                continue
            err, n = res
            arrays += n
            if err:
                print("FAIL", err)
                failed += 1
        print(f"constants referenced: {len(todo)} builds, {arrays} constant arrays, every one read by the code"
              if not failed else f"constants referenced: {failed} of {len(todo)} builds failed")
        print(f"{len(todo) - failed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
