#!/usr/bin/python3
"""The training flags end to end, each against an independent numpy computation:
  --train-input  the KWS gate cut at its flattened features: only the classifier remains and
                 trains; its gradient is (softmax(W f + b) - onehot) f^T
  --append-head  a zero-initialized 4-class head on the d-vector embedding e: gradient
                 (1/4 - onehot) e^T, (1/4 - onehot)
  int8 frozen    --quantize int8 with a trainable float head: integer backbone, float head
  sanitizers     a bias-only training step through the whole KWS gate built with
                 -fsanitize=address,undefined runs clean and gives the PyTorch gradients
  determinism    compiling a training build twice gives byte-identical files
  errors         bad selections and losses are precise errors with exit code 1."""
import argparse
import filecmp
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KWS = os.path.join(ROOT, "examples/models/tinysv/kws_train_op13")
DVEC = os.path.join(ROOT, "examples/models/tinysv/dvector_train_op13")
FAILS = []


def load(p):
    return numpy_helper.to_array(onnx.load_tensor(p))


def save(a, name, p):
    onnx.save_tensor(numpy_helper.from_array(a, name), p)


def run(cmd, expect=0):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != expect:
        FAILS.append(f"exit {r.returncode} (expected {expect}): {' '.join(cmd)}\n{r.stdout[-3000:]}")
    return r


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}", flush=True)
    if not ok:
        FAILS.append(f"{name}: {detail}")


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    t = ap.parse_args().tinyodlc
    model = os.path.join(KWS, "kws_train_op13.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        # --train-input
        rng = np.random.default_rng(3)
        f = rng.normal(size=(1, 960)).astype(np.float32)
        ind = os.path.join(tmp, "feat")
        os.makedirs(ind)
        save(f, "/Flatten_output_0", os.path.join(ind, "input_0.pb"))
        save(np.array([1], np.int64), "label", os.path.join(tmp, "label1.pb"))
        out = os.path.join(tmp, "o1")
        run([t, "run", model, "--train-input", "/Flatten_output_0", "--loss-output", "logits", "--inputs", ind,
             "--outputs", out, "--label", os.path.join(tmp, "label1.pb"), "--build-dir", os.path.join(tmp, "b1")])
        if os.path.exists(os.path.join(out, "grad_fc.weight.pb")):
            inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(model).graph.initializer}
            W, b = inits["fc.weight"].astype(np.float64), inits["fc.bias"].astype(np.float64)
            y = W @ f[0] + b
            p = np.exp(y - y.max())
            p /= p.sum()
            p[1] -= 1
            check("--train-input fc.weight", rel(load(os.path.join(out, "grad_fc.weight.pb")), np.outer(p, f[0])) < 1e-5)
            check("--train-input fc.bias", rel(load(os.path.join(out, "grad_fc.bias.pb")), p) < 1e-5)
            check("--train-input trains only the head", sorted(x for x in os.listdir(out) if x.startswith("grad_")) ==
                  ["grad_fc.bias.pb", "grad_fc.weight.pb"])
        # --append-head
        out = os.path.join(tmp, "o2")
        run([t, "run", os.path.join(DVEC, "dvector_train_op13.onnx"), "--append-head", "4", "--inputs",
             os.path.join(DVEC, "test_data_set_0"), "--outputs", out, "--label", os.path.join(tmp, "label1.pb"),
             "--build-dir", os.path.join(tmp, "b2")])
        if os.path.exists(os.path.join(out, "grad_head.weight.pb")):
            e = load(os.path.join(out, "output_0.pb")).reshape(-1).astype(np.float64)
            g = np.full(4, 0.25)
            g[1] -= 1
            check("--append-head head.weight", rel(load(os.path.join(out, "grad_head.weight.pb")), np.outer(g, e)) < 1e-5)
            check("--append-head head.bias", rel(load(os.path.join(out, "grad_head.bias.pb")), g) < 1e-6)
            check("--append-head trains only the head", sorted(x for x in os.listdir(out) if x.startswith("grad_")) ==
                  ["grad_head.bias.pb", "grad_head.weight.pb"])
        # sanitizers
        out = os.path.join(tmp, "o3")
        gref = os.path.join(KWS, "grad_ref")
        run([t, "run", model, "--loss-output", "logits", "--trainable", "biases", "--inputs", gref, "--outputs", out,
             "--label", os.path.join(gref, "label.pb"), "--train-steps", "2", "--build-dir", os.path.join(tmp, "b3"),
             "--cxxflags", "-fsanitize=address,undefined -fno-sanitize-recover=all -g"])
        if os.path.exists(os.path.join(out, "grad_conv1.bias.pb")):
            worst = max(rel(load(os.path.join(out, f"grad_{n}.pb")), load(os.path.join(gref, "biases", f"{n}.pb")))
                        for n in ("conv1.bias", "conv2.bias", "fc.bias"))
            check("ASan+UBSan bias-only step", worst < 1e-4, f"max rel err {worst:.1e}")
        # int8 frozen part, float trainable head: the backbone runs integer kernels, the features
        # are dequantized at the boundary; gradients then differ from the float model's by the
        # quantization error of the features only
        out = os.path.join(tmp, "o4")
        run([t, "run", model, "--loss-output", "logits", "--trainable", "fc.weight,fc.bias", "--quantize", "int8",
             "--calibration", KWS, "--inputs", gref, "--outputs", out, "--label", os.path.join(gref, "label.pb"),
             "--train-steps", "3", "--build-dir", os.path.join(tmp, "b4")])
        if os.path.exists(os.path.join(out, "grad_fc.weight.pb")):
            code = open(os.path.join(tmp, "b4", "kws_train_op13.cpp")).read()
            check("int8 backbone runs integer convolutions", "(QConv)" in code and "DequantizeLinear" in code)
            gw = rel(load(os.path.join(out, "grad_fc.weight.pb")), load(os.path.join(gref, "last_layer", "fc.weight.pb")))
            gb = rel(load(os.path.join(out, "grad_fc.bias.pb")), load(os.path.join(gref, "last_layer", "fc.bias.pb")))
            check("int8 backbone: head gradients close to the float model's", gw < 0.05 and gb < 1e-3,
                  f"weight {gw:.1e}, bias {gb:.1e}")
            losses = load(os.path.join(out, "losses.pb"))
            check("int8 backbone: training reduces the loss", losses[-1] < 0.5 * losses[0], str(losses))
        # determinism
        a, b = os.path.join(tmp, "c1"), os.path.join(tmp, "c2")
        for d in (a, b):
            run([t, "compile", model, "--loss-output", "logits", "--trainable-last", "2", "--optimizer", "adam", "-o", d])
        same = all(filecmp.cmp(os.path.join(a, x), os.path.join(b, x), shallow=False) for x in os.listdir(a)
                   if os.path.isfile(os.path.join(a, x)))
        check("deterministic training build", same)
        # errors
        for flags, msg in [(["--trainable", "nope"], "matches no float initializer"),
                           (["--trainable-last", "9"], "has only 3 parametric layers"),
                           (["--trainable", "fc.weight"], "name the one the loss is computed on with --loss-output"),
                           (["--trainable", "fc.weight", "--loss-output", "logits", "--loss", "cosine-prototype"],
                            "cosine-prototype needs --prototypes"),
                           (["--train-input", "nope"], "--train-input 'nope': no such tensor")]:
            r = run([t, "compile", model, "-o", os.path.join(tmp, "e")] + flags, expect=2 if "prototypes" in msg else 1)
            check(f"error for {' '.join(flags)}", msg in r.stdout, r.stdout.strip()[-300:])
    for fl in FAILS:
        print("FAILED: " + fl)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
