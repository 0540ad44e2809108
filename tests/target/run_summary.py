#!/usr/bin/env python3
"""Runs that say what they did (issue 17): `tinyodlc run --target`.

1. Training run (KWS head, SGD) on the Cortex-M4 in QEMU with --train-data/--eval-data, 3 rounds:
   stdout has the header, a `start` row and one row per round whose mean loss equals the mean
   of losses.pb over that round, whose accuracy equals round_correct (last row == correct_after,
   start == correct_before) and whose instructions/step equal target_run.json round_insns /
   samples; then `run: done: mean loss A -> B, accuracy X -> Y; first step N instructions ...`.
   With TINYODLC_PROGRESS_SECONDS=0.2, progress lines ("run: ... s in QEMU ..., training step
   k of n") go to stderr.
2. The same with --quiet: nothing on stdout or stderr, identical target_run.json numbers.
3. An inference run (tiny_cnn, cortex-m7): one line naming invoke()'s instructions (== insns of
   target_run.json) and the stack; the run folder's memory.svg has the linked code in its flash
   panel (data-code = model .text + .rodata + .data - weights).
4. `tinyodlc run --help` lists the target aliases (mps2-an386 (also cortex-m4), ...).

usage: run_summary.py --tinyodlc BIN [--work DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
KWS = os.path.join(ROOT, "examples/models/tinysv/kws_train_op13/kws_train_op13.onnx")
TINY = os.path.join(ROOT, "examples/tiny_cnn/tiny_cnn.onnx")
FAILS = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else f": {detail}"), flush=True)
    if not ok:
        FAILS.append(what)


def write_sets(folder, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
        d = os.path.join(folder, f"set_{i:02d}")
        os.makedirs(d, exist_ok=True)
        x = rng.normal(0, 1, (1, 1, 49, 40)).astype(np.float32)
        onnx.save_tensor(numpy_helper.from_array(x, "mfcc"), os.path.join(d, "input_0.pb"))
        onnx.save_tensor(numpy_helper.from_array(np.array([i % 4], dtype=np.int64), "label"),
                         os.path.join(d, "label.pb"))


def run(cmd, env=None):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def training(a, work):
    train, held = os.path.join(work, "train"), os.path.join(work, "eval")
    write_sets(train, 5, 1)
    write_sets(held, 6, 2)
    rounds, samples = 3, 5
    base = [a.tinyodlc, "run", KWS, "--loss-output", "logits", "--trainable", "fc.weight,fc.bias", "--lr", "0.01",
            "--target", "cortex-m4", "--inputs", os.path.join(train, "set_00"), "--train-data", train,
            "--eval-data", held, "--train-steps", str(rounds)]
    env = dict(os.environ, TINYODLC_PROGRESS_SECONDS="0.2")
    out = os.path.join(work, "out")
    r = run(base + ["--outputs", out, "--build-dir", os.path.join(work, "build")], env)
    print(r.stdout)
    print("stderr:", r.stderr[:600])
    check("training run exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode:
        return
    tr = json.load(open(os.path.join(out, "target_run.json")))
    st = tr["harness_stats"]
    losses = numpy_helper.to_array(onnx.load_tensor(os.path.join(out, "losses.pb"))).reshape(-1)
    hits = np.fromfile(os.path.join(work, "build", "round_correct.bin"), dtype=np.int32)
    check("target_run.json has one round_insns entry per round", len(tr.get("round_insns", [])) == rounds,
          str(tr.get("round_insns")))
    check("round 1's instructions include the measured first step", tr["round_insns"][0] >= tr["insns"])
    check("last round's accuracy == correct_after", len(hits) == rounds and hits[-1] == st["correct_after"],
          f"{hits} vs {st['correct_after']}")
    lines = r.stdout.splitlines()
    check("header line names the target, rounds and samples",
          any(re.match(rf"run: psoc62s2|run: mps2-an386|run: cortex-m4", l) and f"{rounds} round(s) x {samples} sample(s)" in l
              for l in lines), r.stdout)
    rows = {}
    for l in lines:
        m = re.match(r"\s+(start|\d+)\s+(\S+)\s+(\S+%|-)(?: \((\d+)/(\d+)\))?\s+(\S+)$", l)
        if m:
            rows[m.group(1)] = m
    check("a start row and one row per round", sorted(rows) == sorted(["start"] + [str(k + 1) for k in range(rounds)]),
          str(sorted(rows)))
    ev = st["eval_samples"]
    if "start" in rows:
        check("start accuracy == correct_before", rows["start"].group(4) == str(st["correct_before"]) and
              rows["start"].group(5) == str(ev), rows["start"].group(0))
    for k in range(rounds):
        m = rows.get(str(k + 1))
        if not m:
            continue
        mean = float(np.mean(losses[k * samples:(k + 1) * samples], dtype=np.float64))
        check(f"round {k + 1}: mean loss {m.group(2)} == {mean:.4f}", abs(float(m.group(2)) - mean) < 6e-5)
        check(f"round {k + 1}: accuracy {m.group(4)}/{m.group(5)} == round_correct {hits[k]}/{ev}",
              m.group(4) == str(hits[k]) and m.group(5) == str(ev))
        want = tr["round_insns"][k] // samples
        check(f"round {k + 1}: instructions/step {m.group(6)} == {want}", m.group(6).replace(",", "") == str(want))
    done = [l for l in lines if l.startswith("run: done:")]
    check("one final 'run: done:' line", len(done) == 1, r.stdout)
    if done:
        first = float(np.mean(losses[:samples], dtype=np.float64))
        last = float(np.mean(losses[-samples:], dtype=np.float64))
        m = re.search(r"mean loss (\S+) -> (\S+), accuracy \S+ \((\d+)/\d+\) -> \S+ \((\d+)/\d+\); first step ([\d,]+) "
                      r"instructions", done[0])
        check("summary: loss and accuracy before -> after, first step instructions", m is not None and
              abs(float(m.group(1)) - first) < 6e-5 and abs(float(m.group(2).rstrip(",")) - last) < 6e-5 and
              int(m.group(3)) == st["correct_before"] and int(m.group(4)) == st["correct_after"] and
              int(m.group(5).replace(",", "")) == tr["insns"], done[0])
    prog = [l for l in r.stderr.splitlines() if re.match(r"run: [\d.]+ s in QEMU \(.*\)(, training step \d+ of 15)?$", l)]
    check("progress lines on stderr (TINYODLC_PROGRESS_SECONDS=0.2)", tr["qemu_seconds"] < 0.25 or len(prog) >= 1,
          f"qemu {tr['qemu_seconds']} s, stderr: {r.stderr[-500:]}")
    # --quiet
    out_q = os.path.join(work, "out_q")
    # the same build folder: the instruction counts depend on the length of its path
    q = run(base + ["--outputs", out_q, "--build-dir", os.path.join(work, "build"), "--quiet"], env)
    check("--quiet: exit 0, nothing on stdout or stderr", q.returncode == 0 and q.stdout == "" and q.stderr == "",
          f"rc {q.returncode}, stdout {q.stdout[:300]!r}, stderr {q.stderr[:300]!r}")
    if q.returncode == 0:
        tq = json.load(open(os.path.join(out_q, "target_run.json")))
        check("--quiet: same instruction counts", tq["insns"] == tr["insns"] and tq["round_insns"] == tr["round_insns"])


def inference(a, work):
    out, build = os.path.join(work, "inf_out"), os.path.join(work, "inf_build")
    r = run([a.tinyodlc, "run", TINY, "--target", "cortex-m7", "--inputs", os.path.join(ROOT, "examples/tiny_cnn/test_data_set_0"),
             "--outputs", out, "--build-dir", build])
    check("inference run exits 0", r.returncode == 0, r.stderr[-2000:])
    if r.returncode:
        return
    print(r.stdout)
    tr = json.load(open(os.path.join(out, "target_run.json")))
    lines = r.stdout.splitlines()
    m = re.match(r"run: \S+ \(cortex-m7, QEMU mps2-an500\): invoke\(\) ([\d,]+) instructions, stack ([\d,]+) B", lines[0]) \
        if lines else None
    check("one summary line with invoke()'s instructions == target_run.json insns", len(lines) == 1 and m is not None and
          int(m.group(1).replace(",", "")) == tr["insns"] and int(m.group(2).replace(",", "")) == tr["stack_peak_bytes"],
          r.stdout)
    svg = ET.parse(os.path.join(build, "memory.svg")).getroot()
    flash = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "flash"]
    mem = json.load(open(os.path.join(build, "memory.json")))
    s = tr["sections"]
    want = s["text"]["model"] + s["rodata"]["model"] + s["data"]["model"] - mem["weight_bytes"]
    check("run folder memory.svg: flash panel has the linked code (model text+rodata+data - weights)",
          len(flash) == 1 and flash[0].get("data-code") == str(want) and
          flash[0].get("data-weights") == str(mem["weight_bytes"]), f"{flash[0].attrib if flash else None} vs {want}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    a = ap.parse_args()
    if not shutil.which("qemu-system-arm") or not shutil.which("arm-none-eabi-g++"):
        print("SKIP: needs qemu-system-arm and arm-none-eabi-g++")
        return 77
    tmp = None if a.work else tempfile.mkdtemp(prefix="tinyodlc-summary-")
    work = a.work or tmp
    if a.work:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    try:
        h = run([a.tinyodlc, "run", "--help"])
        check("run --help lists the target aliases", "mps2-an386 (also cortex-m4)" in h.stdout and
              "mps2-an500 (also cortex-m7)" in h.stdout and "--quiet" in h.stdout, h.stdout[-800:])
        training(a, work)
        inference(a, work)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print("run summary: PASS" if not FAILS else f"run summary: {len(FAILS)} check(s) failed: {FAILS}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
