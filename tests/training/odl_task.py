#!/usr/bin/python3
"""On-device learning on a Cortex-M4 (QEMU): the keyword-spotting gate (examples/models/tinysv/
kws_train_op13) meets a shifted input distribution -- a new microphone whose frequency response
tilts the log-mel spectrum (and a noisier room) -- that the frozen model gets wrong. The
generated training step (last layer, SGD) runs in qemu-system-arm -M mps2-an386 on a few labelled
samples of the new distribution, and the accuracy on held-out samples of that distribution must
rise (and the training loss fall).

Data: the zoo's own synthetic keyword generator (examples/models/quant_data.py, a numpy copy of
make_tinysv.py's), with the training-set MFCC standardisation of the model; seeds differ from
the zoo's training/validation seeds.

Usage: odl_task.py --tinyodlc BUILD/tinyodlc [--work DIR] [--train N] [--eval N] [--epochs E]
Prints a summary and writes DIR/odl_task.json; exit 0 iff accuracy and loss improve as required.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples", "models"))
import quant_data as qd  # noqa: E402

MODEL = os.path.join(ROOT, "examples/models/tinysv/kws_train_op13/kws_train_op13.onnx")


def shifted_kws(n, seed, work):
    """n keyword samples of the shifted distribution: MFCC [n, 1, 49, 40] and labels."""
    rng = np.random.default_rng(seed)
    R = qd.Renderer()
    x, y = qd.make_kws(n, rng, R)
    # new microphone: +-2.5 (log units) spectral tilt across the mel bands, and more noise
    tilt = np.linspace(-2.5, 2.5, qd.MEL, dtype=np.float32)
    x = x + tilt[None, None, :] + rng.normal(0, 0.3, x.shape).astype(np.float32)
    st = qd.mfcc_stats(work, "kws40")
    m, _ = qd.to_mfcc(x, qd.MEL, st)
    return m.astype(np.float32), y.astype(np.int64)


def write_sets(folder, x, y):
    for i in range(len(y)):
        d = os.path.join(folder, f"set_{i:03d}")
        os.makedirs(d, exist_ok=True)
        onnx.save_tensor(numpy_helper.from_array(x[i:i + 1], "mfcc"), os.path.join(d, "input_0.pb"))
        onnx.save_tensor(numpy_helper.from_array(y[i:i + 1], "label"), os.path.join(d, "label.pb"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    ap.add_argument("--train", type=int, default=32)
    ap.add_argument("--eval", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", default="0.005")
    ap.add_argument("--trainable", default="fc.weight,fc.bias")
    ap.add_argument("--target", default="cortex-m4")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tinyodlc-odl-")
    os.makedirs(work, exist_ok=True)
    xt, yt = shifted_kws(a.train, 4242, work)
    xe, ye = shifted_kws(a.eval, 4343, work)
    write_sets(os.path.join(work, "train"), xt, yt)
    write_sets(os.path.join(work, "eval"), xe, ye)
    out = os.path.join(work, "out")
    cmd = [a.tinyodlc, "run", MODEL, "--loss-output", "logits", "--trainable", a.trainable, "--lr", a.lr,
           "--target", a.target, "--inputs", os.path.join(work, "train", "set_000"), "--outputs", out,
           "--train-data", os.path.join(work, "train"), "--eval-data", os.path.join(work, "eval"),
           "--train-steps", str(a.epochs), "--build-dir", os.path.join(work, "build"), "--timeout", "900"]
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print(r.stdout)
        return 1
    with open(os.path.join(out, "target_run.json")) as f:
        tr = json.load(f)
    st = tr["harness_stats"]
    losses = numpy_helper.to_array(onnx.load_tensor(os.path.join(out, "losses.pb")))
    n = a.train
    first, last = float(losses[:n].mean()), float(losses[-n:].mean())
    before, after = st["correct_before"] / st["eval_samples"], st["correct_after"] / st["eval_samples"]
    res = {"model": "kws_train_op13", "target": tr["target"], "trainable": a.trainable, "lr": float(a.lr),
           "train_samples": st["train_samples"], "epochs": a.epochs, "eval_samples": st["eval_samples"],
           "accuracy_before": before, "accuracy_after": after, "mean_loss_first_epoch": first,
           "mean_loss_last_epoch": last, "insns_per_training_step": tr["insns"], "qemu_seconds": tr["qemu_seconds"]}
    with open(os.path.join(work, "odl_task.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))
    ok = after >= before + 0.15 and last < 0.7 * first
    print("odl task:", "PASS" if ok else "FAIL (accuracy must rise by >= 15 points and the mean loss fall by >= 30%)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
