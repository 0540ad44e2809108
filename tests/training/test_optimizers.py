#!/usr/bin/python3
"""The generated optimizers against an independent numpy implementation of PyTorch's update
rules (torch.optim.SGD with momentum/dampening 0, torch.optim.Adam, L2 weight decay): a linear
classifier y = W x + b (an ONNX Gemm built here), cross-entropy or MSE loss, K steps of
`tinyodlc run --trainable W,b --train-steps K` on one sample; the parameters after K steps and
every step's loss must match numpy (float64) to 1e-5 relative. Also --batch 2 (the update uses
the mean of 2 accumulated gradients; with one repeated sample: every 2nd step)."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)
X = rng.normal(size=(1, 8)).astype(np.float32)
W0 = (rng.normal(size=(3, 8)) * 0.5).astype(np.float32)
B0 = (rng.normal(size=3) * 0.1).astype(np.float32)
LABEL = np.array([2], dtype=np.int64)
TARGET = rng.normal(size=(1, 3)).astype(np.float32)


def model(path):
    g = helper.make_graph([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], "lin",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                          [numpy_helper.from_array(W0, "W"), numpy_helper.from_array(B0, "b")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def grads(W, b, loss):
    y = W @ X[0].astype(np.float64) + b
    if loss == "mse":
        d = y - TARGET[0]
        return float(np.mean(d * d)), np.outer(2 * d / 3, X[0]), 2 * d / 3
    p = np.exp(y - y.max())
    p /= p.sum()
    l = -np.log(p[LABEL[0]])
    p[LABEL[0]] -= 1
    return float(l), np.outer(p, X[0]), p


def reference(opt, steps, loss, lr, wd, batch, mom=0.9, b1=0.9, b2=0.999, eps=1e-8):
    P = [W0.astype(np.float64), B0.astype(np.float64)]
    M = [np.zeros_like(p) for p in P]
    V = [np.zeros_like(p) for p in P]
    acc = [np.zeros_like(p) for p in P]
    count, t, losses = 0, 0, []
    for _ in range(steps):
        l, gw, gb = grads(P[0], P[1], loss)
        losses.append(l)
        acc[0] += gw
        acc[1] += gb
        count += 1
        if count < batch:
            continue
        t += 1
        for i in range(2):
            d = acc[i] / count + wd * P[i]
            if opt == "momentum":
                M[i] = mom * M[i] + d
                d = M[i]
            if opt == "adam":
                M[i] = b1 * M[i] + (1 - b1) * d
                V[i] = b2 * V[i] + (1 - b2) * d * d
                d = (M[i] / (1 - b1 ** t)) / (np.sqrt(V[i] / (1 - b2 ** t)) + eps)
            P[i] = P[i] - lr * d
            acc[i][:] = 0
        count = 0
    return P, losses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    a = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        mp = os.path.join(tmp, "lin.onnx")
        model(mp)
        ind = os.path.join(tmp, "in")
        os.makedirs(ind)
        onnx.save_tensor(numpy_helper.from_array(X, "x"), os.path.join(ind, "input_0.pb"))
        onnx.save_tensor(numpy_helper.from_array(LABEL, "label"), os.path.join(tmp, "label.pb"))
        onnx.save_tensor(numpy_helper.from_array(TARGET, "target"), os.path.join(tmp, "target.pb"))
        cases = [("sgd", "cross-entropy", 0.1, 0.0, 1), ("sgd", "mse", 0.05, 0.01, 1), ("momentum", "cross-entropy", 0.05, 0.0, 1),
                 ("adam", "cross-entropy", 0.01, 0.0, 1), ("adam", "mse", 0.02, 0.001, 1), ("sgd", "cross-entropy", 0.1, 0.0, 2)]
        for opt, loss, lr, wd, batch in cases:
            out = os.path.join(tmp, f"out_{opt}_{loss}_{batch}")
            steps = 6
            cmd = [a.tinyodlc, "run", mp, "--inputs", ind, "--outputs", out, "--trainable", "W,b", "--loss", loss,
                   "--label", os.path.join(tmp, "target.pb" if loss == "mse" else "label.pb"), "--optimizer", opt,
                   "--lr", repr(lr), "--weight-decay", repr(wd), "--batch", str(batch), "--train-steps", str(steps)]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                print(f"FAIL {opt} {loss}: {r.stdout}")
                bad += 1
                continue
            P, losses = reference(opt, steps, loss, lr, wd, batch)
            got = [numpy_helper.to_array(onnx.load_tensor(os.path.join(out, f"param_{n}.pb"))) for n in ("W", "b")]
            gl = numpy_helper.to_array(onnx.load_tensor(os.path.join(out, "losses.pb")))
            err = max(float(np.abs(g - p).max() / np.abs(p).max()) for g, p in zip(got, P))
            lerr = float(np.abs(gl - np.array(losses)).max() / max(1e-9, np.abs(losses).max()))
            ok = err < 1e-5 and lerr < 1e-5
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {opt:8s} {loss:13s} lr {lr} wd {wd} batch {batch}: params rel err {err:.1e}, losses rel err {lerr:.1e}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
