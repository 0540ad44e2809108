#!/usr/bin/python3
"""Builds examples/tiny_cnn/tiny_cnn.onnx (a small keyword-spotting style CNN on a 1x1x28x28
input) with onnx.helper, plus 3 reference data sets computed by an independent numpy
implementation (test_data_set_K/input_0.pb, output_0.pb).

Run with Debian's python3 (python3-onnx, python3-numpy): /usr/bin/python3 make_tiny_cnn.py
The model is the bundled example of the README; the real model zoo (PyTorch exports of
StreamTinyNet, EmbBERT-Q, TinySV) lives in examples/models/.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)


def conv2d(x, w, b, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.zeros((n, o, oh, ow), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + oh, j:j + ow]  # n c oh ow
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y + b.reshape(1, -1, 1, 1)


def maxpool2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def reference(x, p):
    y = conv2d(x, p["w1"], p["b1"], 1)
    y = (y - p["mean"].reshape(1, -1, 1, 1)) / np.sqrt(p["var"].reshape(1, -1, 1, 1) + 1e-5) * \
        p["gamma"].reshape(1, -1, 1, 1) + p["beta"].reshape(1, -1, 1, 1)
    y = np.maximum(y, 0)
    y = maxpool2(y)
    y = np.maximum(conv2d(y, p["w2"], p["b2"], 1), 0)
    y = y.mean(axis=(2, 3))
    logits = y @ p["fc_w"].T + p["fc_b"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    f32 = np.float32
    p = {
        "w1": rng.normal(0, 0.5, (8, 1, 3, 3)).astype(f32), "b1": rng.normal(0, 0.1, 8).astype(f32),
        "gamma": rng.uniform(0.5, 1.5, 8).astype(f32), "beta": rng.normal(0, 0.1, 8).astype(f32),
        "mean": rng.normal(0, 0.1, 8).astype(f32), "var": rng.uniform(0.5, 1.5, 8).astype(f32),
        "w2": rng.normal(0, 0.3, (16, 8, 3, 3)).astype(f32), "b2": rng.normal(0, 0.1, 16).astype(f32),
        "fc_w": rng.normal(0, 0.04, (4, 16)).astype(f32), "fc_b": rng.normal(0, 0.1, 4).astype(f32),
    }
    inits = [numpy_helper.from_array(v, k) for k, v in p.items()]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn1"], name="bn1"),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(nodes, "tiny_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_tiny_cnn.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "tiny_cnn.onnx"))
    for k in range(3):
        d = os.path.join(HERE, f"test_data_set_{k}")
        os.makedirs(d, exist_ok=True)
        x = rng.normal(0, 1, (1, 1, 28, 28)).astype(f32) * rng.uniform(0.2, 3.0)
        y = reference(x.astype(np.float64), {a: b.astype(np.float64) for a, b in p.items()}).astype(f32)
        onnx.save_tensor(numpy_helper.from_array(x, "x"), os.path.join(d, "input_0.pb"))
        onnx.save_tensor(numpy_helper.from_array(y, "probs"), os.path.join(d, "output_0.pb"))
        print(f"set {k}: probs {y.ravel()}")


if __name__ == "__main__":
    main()
