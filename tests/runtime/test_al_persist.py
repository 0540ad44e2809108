#!/usr/bin/env python3
"""save_state()/load_state() of active-learning builds (docs/active-learning.md, docs/persistence.md).

Two builds of the KWS model (last layer trainable with Adam, buffer 4, budget 3):
  * float, hybrid strategy, DualRV reference values (scores from the model, the diversity term,
    both running references), the buffer storing the last layer's input features;
  * int8 backbone + float head, random strategy, InfoRV (the rng and its seed), the buffer storing
    the raw inputs.
For each, on the host and on a Cortex-M4 in QEMU (tests/runtime/al_persist_main.cpp):

  * offer 10 samples + label 2 (phase A), save, reboot (a new process / QEMU run), load, then
    label until the budget is spent, re-label, al_train, offer, al_reset, offer (phase B) ==
    A then B without a reboot: every API result (slots, score bits, pending lists, label return
    codes, budget, loss bits) and the final learned state and an invoke() output, bit for bit;
  * the loaded state == the saved one, bit for bit (parameters, Adam moments, the al.buffer block:
    samples, labels, scores, status, budget, reference values, rng, seed), and the al.buffer part
    of it decodes (numpy) to the expected status/budget/seed;
  * control: the same reboot without load_state() gives a different trace (the test can fail);
  * a power cut at every erase/program call of a save that changes only the AL block leaves the
    old or the new state (with the API's budget / held / pending views matching it);
  * host and M4 traces: reported (identical selections expected for the float build).
"""
import os, re, struct, sys, tempfile, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from persist_harness import check, parse_args, constant, host_program, m4_program, reboot_scenario, sh, summary  # noqa: E402

KWS_DIR = os.path.join(ROOT, "examples/models/tinysv/kws_train_op13")
KWS = os.path.join(KWS_DIR, "kws_train_op13.onnx")
NS = "kws_train_op13"
BUFFER, BUDGET = 4, 3


def al_block(state, k, sample_bytes):
    """Decodes the al.buffer block (the last block of the payload; runtime/.../active_learning.h
    Buffer::State) with numpy: status, labels, budget, ready, rng, offered, seed."""
    b = BUFFER
    n = b * sample_bytes + b * 20 + 9 * 4
    n = (n + 7) // 8 * 8
    blk = state[len(state) - n:]
    o = b * sample_bytes
    labels = np.frombuffer(blk, np.int64, b, o)
    o += 8 * b
    scores = np.frombuffer(blk, np.float32, b, o)
    o += 4 * b
    status = np.frombuffer(blk, np.int32, b, o)
    o += 8 * b  # status, seq
    budget, ready = np.frombuffer(blk, np.int32, 2, o)
    rv_all, rv_in = np.frombuffer(blk, np.float32, 2, o + 8)
    rng, offered, seed = np.frombuffer(blk, np.uint32, 3, o + 24)
    return dict(labels=labels, scores=scores, status=status, budget=int(budget), ready=int(ready), rv_all=rv_all,
                rv_in=rv_in, rng=int(rng), offered=int(offered), seed=int(seed), bytes=n)


def scenario(label, run, nbytes, sample_bytes, rv):
    d = tempfile.mkdtemp(prefix="al_persist_")
    t = time.time()
    got = reboot_scenario(label, run, d, nbytes, "offer, save, reboot, load, label + train + offer + reset")
    if got is None:
        return None
    f, s = got
    blk = al_block(s, BUFFER, sample_bytes)
    st = blk["status"].tolist()
    check(f"{label}: saved al.buffer: 2 labelled (+ {st.count(1)} pending), budget 1, seed 0xC0FFEE, 10 offered",
          st.count(2) == 2 and set(st) <= {0, 1, 2} and blk["budget"] == BUDGET - 2 and blk["ready"] == 1 and
          blk["seed"] == 0xC0FFEE and blk["offered"] == 10, str({k: blk[k] for k in ("status", "budget", "seed",
                                                                                   "offered", "rng")}))
    if rv != "none":
        check(f"{label}: saved reference value rv_all is set (finite, non-zero)",
              bool(np.isfinite(blk["rv_all"])) and blk["rv_all"] != 0, str(blk["rv_all"]))
    n = struct.unpack_from("<I", f, nbytes)[0]
    tr = np.frombuffer(f, np.int32, n, nbytes + 4)
    check(f"{label}: the trace records budget exhaustion (-1) in phase B", (tr == -1).any(), str(tr[:12].tolist()))
    cut = run("cuts", os.path.join(d, "flash.img"), os.path.join(d, "unused"))
    check(f"{label}: power cut at every erase/program call of save_state(): old or new state after reboot", cut == 0,
          f"exit {cut}")
    print(f"info {label}: {time.time() - t:.1f} s")
    return f


def main():
    a, work = parse_args("al_persist_model_")
    tempfile.tempdir = work  # the scenarios' scratch folders go inside the work folder, not /tmp
    common = ["--loss-output", "logits", "--trainable-last", "1", "--optimizer", "adam", "--lr", "0.01",
              "--al-buffer", str(BUFFER), "--al-budget", str(BUDGET)]
    builds = {
        "float, hybrid, dual, features": (["--active-learning", "hybrid", "--al-rv", "dual", "--al-store", "features"],
                                          "dual"),
        "int8 backbone, random, info, inputs": (["--active-learning", "random", "--al-rv", "info", "--al-store", "inputs",
                                                 "--quantize", "int8", "--calibration", KWS_DIR], "info"),
    }
    for label, (extra, rv) in builds.items():
        out = os.path.join(work, re.sub(r"\W+", "_", label))
        sh([a.tinyodlc, "compile", KWS, "-o", out] + common + extra)
        h = open(os.path.join(out, NS + ".h")).read()
        nbytes, sample, al_state = (constant(h, k) for k in ("kLearnedStateBytes", "kAlSampleBytes", "kAlStateBytes"))
        check(f"{label}: learned state = Adam state (3 x 2884 floats + 12) + al.buffer ({al_state} bytes)",
              nbytes == 3 * 2884 * 4 + 12 + al_state and al_state == al_block(b"\0" * nbytes, BUFFER, sample)["bytes"],
              f"{nbytes} {al_state}")
        cpp = open(os.path.join(out, NS + ".cpp")).read()
        check(f"{label}: al.buffer is a learned-state block", "al.buffer" in cpp)
        defs = [f'TINYODLC_MODEL_HEADER="{NS}.h"', f"TINYODLC_MODEL_NS={NS}"]
        src = [os.path.join(HERE, "al_persist_main.cpp"), os.path.join(out, NS + ".cpp")]
        host_run = host_program(out, defs, src, os.path.join(out, "al_persist_host"))
        host = scenario(f"{label} (host)", host_run, nbytes, sample, rv)
        if a.no_target:
            continue
        m4 = scenario(f"{label} (Cortex-M4, QEMU)", m4_program(out, defs, src, ("cuts",)), nbytes, sample, rv)
        if host is not None and m4 is not None:
            nh = struct.unpack_from("<I", host, nbytes)[0]
            th = np.frombuffer(host, np.int32, nh, nbytes + 4)
            tm = np.frombuffer(m4, np.int32, struct.unpack_from("<I", m4, nbytes)[0], nbytes + 4)
            print(f"info {label}: host and M4 traces {'identical' if np.array_equal(th, tm) else 'differ'}, "
                  f"learned state {'identical' if host == m4 else 'differs'}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
