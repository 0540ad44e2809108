#!/usr/bin/python3
"""Builds and runs the TinySV pipeline example (README.md) on the PSoC 62S2 (Cortex-M4) in QEMU
and checks the device's decisions against PyTorch + numpy (ctest enrol-pipeline).

Steps:
  1. tinyodlc compile the keyword gate (kws_op13, --name kws) and the embedder (dvector_op13,
     --name sv, --enrol-output dvector --threshold T), both --target psoc62s2
     --arena-symbol tinysv_arena;
  2. the bare-metal runtime of tinyodlc's QEMU harness (startup, semihosting, linker script),
     taken from a `tinyodlc run --target psoc62s2 --build-dir` of examples/tiny_cnn;
  3. arm-none-eabi-g++ -Wall -Wextra -Werror: both models, the enrolment glue and main.cpp,
     linked into one ELF; qemu-system-arm -M mps2-an386 runs it on data/;
  4. reference: the gate's decisions from PyTorch's probabilities, enrolment of the first N
     detections, prototype and scores in numpy from PyTorch's d-vectors; every device decision
     must match and every score be within 1e-5. Prints the genuine / impostor accept rates.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TINYSV = os.path.join(ROOT, "examples", "models", "tinysv")
DATA = os.path.join(HERE, "data")
TARGET = "psoc62s2"
CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
ENROL = 4
THRESHOLD = 0.6937490  # the EER threshold of the unseen speakers (docs/enrolment.md, enrol-api)


def fail(msg):
    sys.exit("FAIL: " + msg)


def run(cmd, timeout=900):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        fail("%s\nexit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def l2n(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference(labels):
    ref = np.load(os.path.join(DATA, "ref.npz"))
    probs, dvec = ref["kws_probs"], ref["dvector"]
    gate = (probs[:, 2] > probs[:, 0]) & (probs[:, 2] > probs[:, 1])
    sums, count, actions, scores = np.zeros(dvec.shape[1]), 0, [], []
    for i in range(len(labels)):
        if not gate[i]:
            actions.append(0), scores.append(0.0)
        elif count < ENROL:
            sums += l2n(dvec[i])
            count += 1
            actions.append(1), scores.append(0.0)
        else:
            s = float(l2n(dvec[i]) @ l2n(sums / count))
            actions.append(2 if s > THRESHOLD else 3), scores.append(s)
    return gate.astype(int), np.array(actions), np.array(scores)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--keep", help="keep the build in this folder")
    a = ap.parse_args()
    pre = os.environ.get("TINYODLC_ARM_PREFIX", "arm-none-eabi-")
    d = a.keep or tempfile.mkdtemp(prefix="tinysv-")
    os.makedirs(d, exist_ok=True)
    try:
        shared = ["--target", TARGET, "--arena-symbol", "tinysv_arena"]
        run([a.tinyodlc, "compile", os.path.join(TINYSV, "kws_op13", "kws_op13.onnx"), "--name", "kws", "-o",
             os.path.join(d, "kws")] + shared)
        run([a.tinyodlc, "compile", os.path.join(TINYSV, "dvector_op13", "dvector_op13.onnx"), "--name", "sv",
             "--enrol-output", "dvector", "--threshold", repr(THRESHOLD), "-o", os.path.join(d, "sv")] + shared)
        tiny = os.path.join(ROOT, "examples", "tiny_cnn")
        run([a.tinyodlc, "run", os.path.join(tiny, "tiny_cnn.onnx"), "--target", TARGET, "--inputs",
             os.path.join(tiny, "test_data_set_0"), "--outputs", os.path.join(d, "rt_out"), "--build-dir",
             os.path.join(d, "rt")])
        rt = os.path.join(d, "rt", "tinyodlc_target")
        flags = CFLAGS + ["-O2", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror"]
        cxx = [pre + "g++"] + flags + ["-std=c++17", "-ffp-contract=off", "-fno-exceptions", "-fno-rtti",
                                       "-fno-threadsafe-statics", "-Wno-psabi"]
        objs = []
        for src, inc in ((os.path.join(d, "kws", "kws.cpp"), ["kws"]), (os.path.join(d, "sv", "sv.cpp"), ["sv"]),
                         (os.path.join(d, "sv", "sv_enrol.cpp"), ["sv"]),
                         (os.path.join(HERE, "main.cpp"), ["kws", "sv"])):
            obj = os.path.join(d, os.path.basename(src) + ".o")
            cmd = cxx + sum([["-I", os.path.join(d, i)] for i in inc], []) + ["-I", rt, "-c", src, "-o", obj]
            run(cmd)
            objs.append(obj)
        for c in ("startup.c", "semihost.c"):
            obj = os.path.join(d, c + ".o")
            run([pre + "gcc"] + flags + ["-std=c11", "-c", os.path.join(rt, c), "-o", obj])
            objs.append(obj)
        elf = os.path.join(d, "tinysv.elf")
        run([pre + "g++"] + CFLAGS + ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                                      "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-T", os.path.join(rt, "target.ld")] +
            objs + ["-lm", "-o", elf])
        arenas = [l.split(maxsplit=3) for l in run([pre + "nm", "-S", "-C", elf]).stdout.splitlines()
                  if "arena" in l and len(l.split(maxsplit=3)) == 4 and l.split(maxsplit=3)[2] in "bBdD"]
        size = run([pre + "size", elf]).stdout.splitlines()[1].split()
        work = os.path.join(d, "run")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        for f in ("kws_mfcc.bin", "sv_mfcc.bin"):
            shutil.copy(os.path.join(DATA, f), work)
        run([os.environ.get("TINYODLC_QEMU", "qemu-system-arm"), "-M", "mps2-an386", "-nographic", "-monitor", "none",
             "-serial", "none", "-semihosting-config", f"enable=on,target=native,arg=tinysv,arg={work}",
             "-kernel", elf], timeout=600)
        res = np.fromfile(os.path.join(work, "results.bin"),
                          dtype=np.dtype([("keyword", "<i4"), ("action", "<i4"), ("score", "<f4")]))
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)

    labels = [l.split() for l in open(os.path.join(DATA, "labels.txt")).read().splitlines()]
    if len(res) != len(labels):
        fail(f"{len(res)} results for {len(labels)} utterances")
    gate, actions, scores = reference(labels)
    print(f"one ELF: text {size[0]} data {size[1]} bss {size[2]} bytes; arena symbols {arenas}")
    if len(arenas) != 1 or arenas[0][-1] != "tinysv_arena":
        fail(f"expected one shared arena buffer in the ELF, found {arenas}")
    bad = [i for i in range(len(labels)) if res["keyword"][i] != gate[i] or res["action"][i] != actions[i]]
    if bad:
        fail(f"device decisions differ from the reference at utterances {bad}")
    ds = np.abs(res["score"].astype(np.float64) - scores).max()
    if ds > 1e-5:
        fail(f"a device score differs from numpy by {ds:.3g}")
    kinds = [l[0] for l in labels]

    def count(kind, action):
        return sum(1 for k, a in zip(kinds, res["action"]) if k == kind and a == action)

    n = {k: kinds.count(k) for k in ("enrol", "genuine", "impostor", "other")}
    print(f"gate: keyword detected in {int(res['keyword'][[k != 'other' for k in kinds]].sum())}/"
          f"{n['enrol'] + n['genuine'] + n['impostor']} keyword utterances, "
          f"{int(res['keyword'][[k == 'other' for k in kinds]].sum())}/{n['other']} others")
    print(f"enrolled: {int((res['action'] == 1).sum())} utterances "
          f"({sum(1 for k, a in zip(kinds, res['action']) if a == 1 and k == 'enrol')} of them the user's enrolment ones)")
    print(f"genuine: {count('genuine', 2)} accepted, {count('genuine', 3)} rejected, {count('genuine', 0)} missed by the gate "
          f"(genuine accept {100 * count('genuine', 2) / n['genuine']:.0f}% of {n['genuine']})")
    print(f"impostor: {count('impostor', 2)} accepted, {count('impostor', 3)} rejected, {count('impostor', 0)} missed by "
          f"the gate (impostor accept {100 * count('impostor', 2) / n['impostor']:.0f}% of {n['impostor']})")
    print(f"device decisions = PyTorch/numpy reference; largest |score - numpy| {ds:.2e}")
    print("PASS")


if __name__ == "__main__":
    main()
