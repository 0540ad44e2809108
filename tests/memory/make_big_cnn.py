#!/usr/bin/python3
"""Writes big_cnn.onnx: a conv net whose activations (16x256x256 float32 = 4 MiB) fit no
microcontroller target; tests/memory/run_memory_checks.py uses it for the fit errors.
Run with Debian's python3 (python3-onnx): /usr/bin/python3 make_big_cnn.py"""
import os

from onnx import TensorProto, helper, save

HERE = os.path.dirname(os.path.abspath(__file__))


def weights(name, shape, seed):
    n = 1
    for d in shape:
        n *= d
    vals = [((i * 7919 + seed) % 200 - 100) / 1000.0 for i in range(n)]
    return helper.make_tensor(name, TensorProto.FLOAT, shape, vals)


g = helper.make_graph(
    [helper.make_node("Conv", ["x", "w1"], ["h"], name="conv_big", pads=[1, 1, 1, 1]),
     helper.make_node("Relu", ["h"], ["r"], name="relu_big"),
     helper.make_node("Conv", ["r", "w2"], ["y"], name="conv_out", strides=[4, 4])],
    "big_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 256, 256])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 64, 64])],
    initializer=[weights("w1", [16, 3, 3, 3], 1), weights("w2", [4, 16, 3, 3], 2)])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), os.path.join(HERE, "big_cnn.onnx"))
