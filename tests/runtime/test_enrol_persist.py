#!/usr/bin/env python3
"""save_state()/load_state() of enrolment builds (docs/enrolment.md, docs/persistence.md).

The zoo's d-vector embedder with K = 4 enrolment classes, float and int8 (calibrated on
tests/enrol/data/spk_2/test). For each build, on the host and on a Cortex-M4 in QEMU
(tests/runtime/enrol_persist_main.cpp):

  * enrol (phase A), save, reboot (a new process / QEMU run), load, then score, enrol, forget,
    enrol, score, verify (phase B) == A then B without a reboot: every API result (enrol counts,
    score bits, verify, counts, prototype hashes, threshold bits) and the final learned state,
    bit for bit;
  * the saved state decodes (numpy, from the layout of docs/enrolment.md) to the enrolled counts
    [2, 3, 1, 0], sums whose norm is at most the count (sums of unit vectors), and the threshold
    0.42 set at run time (it is learned state: a calibrated threshold survives the reboot);
  * control: the same reboot without load_state() gives a different trace (the test can fail);
  * a power cut at every erase/program call of a save leaves the old or the new state, with the
    API's counts, prototypes and threshold matching it;
  * every header bit and a spread of payload bits of the newest slot flipped: never loaded.
"""
import os, sys, tempfile, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from persist_harness import check, parse_args, constant, host_program, m4_program, reboot_scenario, sh, summary  # noqa: E402

MODEL = os.path.join(ROOT, "examples/models/tinysv/dvector_op13/dvector_op13.onnx")
CALIB = os.path.join(ROOT, "tests/enrol/data/spk_2/test")
NS = "sv"
K = 4


def decode(state, d):
    """The enrol.prototypes block (f32[K,D] sums, u32[K] counts) and enrol.threshold (f32)."""
    sums = np.frombuffer(state, np.float32, K * d, 0).reshape(K, d)
    counts = np.frombuffer(state, np.uint32, K, 4 * K * d)
    thr = np.frombuffer(state, np.float32, 1, 4 * K * d + 4 * K)[0]
    return sums, counts, thr


def scenario(label, run, nbytes, d):
    with tempfile.TemporaryDirectory(prefix="enrol_persist_") as w:
        t = time.time()
        got = reboot_scenario(label, run, w, nbytes, "enrol, save, reboot, load, score + enrol + forget + enrol")
        if got is None:
            return None
        f, s = got
        sums, counts, thr = decode(s, d)
        norms = np.linalg.norm(sums.astype(np.float64), axis=1)
        check(f"{label}: saved state decodes to counts [2, 3, 1, 0], |sum| <= count, threshold 0.42",
              counts.tolist() == [2, 3, 1, 0] and bool((norms <= counts + 1e-4).all()) and
              bool((norms[:3] > 0.5).all()) and norms[3] == 0 and thr == np.float32(0.42),
              f"counts {counts.tolist()} norms {np.round(norms, 4).tolist()} threshold {thr}")
        for mode, what in (("cuts", "power cut at every erase/program call of save_state(): old or new state "
                                    "(counts, prototypes, threshold) after reboot"),
                           ("flips", "a flipped bit in a slot is never loaded")):
            code = run(mode, os.path.join(w, "flash.img"), os.path.join(w, "unused"))
            check(f"{label}: {what}", code == 0, f"exit {code}")
        print(f"info {label}: {time.time() - t:.1f} s")
        return f


def main():
    a, work = parse_args("enrol_persist_")
    builds = {"float": [], "int8": ["--quantize", "int8", "--calibration", CALIB]}
    for label, extra in builds.items():
        out = os.path.join(work, label)
        sh([a.tinyodlc, "compile", MODEL, "--name", NS, "--enrol-output", "dvector", "--classes", str(K),
            "--threshold", "1", "-o", out] + extra)
        h = open(os.path.join(out, NS + ".h")).read()
        eh = open(os.path.join(out, NS + "_enrol.h")).read()
        nbytes, d = constant(h, "kLearnedStateBytes"), constant(eh, "kEmbeddingSize")
        check(f"{label}: learned state = f32[{K},{d}] sums + u32[{K}] counts + f32 threshold",
              nbytes == K * d * 4 + K * 4 + 4, f"{nbytes}")
        cpp = open(os.path.join(out, NS + ".cpp")).read()
        check(f"{label}: enrol.prototypes and enrol.threshold are learned-state blocks; --threshold 1 emitted as a "
              f"valid literal", '"enrol.prototypes"' in cpp and '"enrol.threshold"' in cpp and
              "g_enrol_threshold = 1.0f;" in cpp)
        defs = [f'TINYODLC_MODEL_HEADER="{NS}.h"', f'TINYODLC_ENROL_HEADER="{NS}_enrol.h"', f"TINYODLC_MODEL_NS={NS}"]
        src = [os.path.join(HERE, "enrol_persist_main.cpp"), os.path.join(out, NS + ".cpp"),
               os.path.join(out, NS + "_enrol.cpp")]
        host = scenario(f"{label} (host)", host_program(out, defs, src, os.path.join(out, "enrol_persist_host")),
                        nbytes, d)
        if a.no_target:
            continue
        m4 = scenario(f"{label} (Cortex-M4, QEMU)", m4_program(out, defs, src, ("cuts", "flips")), nbytes, d)
        if host is not None and m4 is not None:
            print(f"info {label}: host and M4 trace + final state {'identical' if host == m4 else 'differ'}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
