#!/usr/bin/env python3
"""Generates the robustness corpora (docs/robustness.md) with python3-onnx:

  tests/fuzz/regression/*.onnx, *.pb + regression.json
      every bad input named in issue 19, each with the exit code(s) and a substring of the
      message `tinyodlc compile` must give (run by tests/fuzz/run_regression.py);
  tests/fuzz/seeds/*.onnx
      tiny valid and near-valid models with extreme attributes: the seed corpus of the
      libFuzzer target tests/fuzz/fuzz_compile.cpp.

The files are committed; rerun after changing this script:
  /usr/bin/python3 tests/fuzz/gen_corpus.py
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
I32_MIN = -(2**31)


def model(nodes, inputs, outputs, inits=(), opset=13, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="gen_corpus")
    m.ir_version = 7
    return m


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def binary_fold(op, dtype, a, b):
    """y = op(a, b) of two constants: folded at compile time by the reference kernels."""
    elem = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(dtype)]
    return model([helper.make_node(op, ["a", "b"], ["y"])], [], [vi("y", elem, [len(a)])],
                 [const("a", np.array(a, dtype=dtype)), const("b", np.array(b, dtype=dtype))])


def unary_fold(op, dtype, a):
    elem = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(dtype)]
    return model([helper.make_node(op, ["a"], ["y"])], [], [vi("y", elem, [len(a)])],
                 [const("a", np.array(a, dtype=dtype))])


def binary_runtime(op, dtype, b):
    """y = op(x, b) with x a graph input: the kernel runs in the generated code."""
    elem = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(dtype)]
    return model([helper.make_node(op, ["x", "b"], ["y"])], [vi("x", elem, [len(b)])], [vi("y", elem, [len(b)])],
                 [const("b", np.array(b, dtype=dtype))])


def declared_only_initializer(dims, elem=TensorProto.FLOAT):
    """An initializer that declares `dims` but holds no data (the 83-byte model of the issue)."""
    t = TensorProto()
    t.name = "w"
    t.data_type = elem
    t.dims.extend(dims)
    t.raw_data = b""
    return model([helper.make_node("Relu", ["w"], ["y"])], [], [vi("y", elem, None)], [t])


def unary_input(op, shape, elem=TensorProto.FLOAT, **attrs):
    return model([helper.make_node(op, ["x"], ["y"], **attrs)], [vi("x", elem, shape)], [vi("y", elem, None)])


def regression_cases():
    """(file name, model or bytes, expected exit codes, message substring)."""
    c = []
    # Integer semantics: constant folding must not trap; results wrap (numpy).
    c.append(("div_int32_min_by_minus1.onnx", binary_fold("Div", np.int32, [I32_MIN, 7], [-1, 0]), [0], ""))
    c.append(("div_int64_min_by_minus1.onnx", binary_fold("Div", np.int64, [I64_MIN, 7], [-1, 0]), [0], ""))
    c.append(("div_int32_runtime.onnx", binary_runtime("Div", np.int32, [-1, 0]), [0], ""))
    c.append(("mul_int64_overflow.onnx", binary_fold("Mul", np.int64, [I64_MAX, 2**62], [2, 4]), [0], ""))
    c.append(("add_int64_overflow.onnx", binary_fold("Add", np.int64, [I64_MAX], [1]), [0], ""))
    c.append(("neg_int64_min.onnx", unary_fold("Neg", np.int64, [I64_MIN, 5]), [0], ""))
    c.append(("abs_int64_min.onnx", unary_fold("Abs", np.int64, [I64_MIN, -5]), [0], ""))
    c.append(("abs_int32_min.onnx", unary_fold("Abs", np.int32, [I32_MIN, -5]), [0], ""))
    # Allocation before validation.
    m = declared_only_initializer([2**38])
    c.append(("init_dims_2p38.onnx", m, [1], "more than 2147483647 elements"))
    c.append(("init_dims_1e9.onnx", declared_only_initializer([10**9]), [1], "bytes, more than the limit"))
    c.append(("init_dims_wrap_size_t.onnx", declared_only_initializer([2**62, 2**3]), [1], "more than 2147483647"))
    c.append(("init_dims_small_mismatch.onnx", declared_only_initializer([4]), [1], "raw_data has 0 bytes"))
    # Element counts >= 2^31 and byte counts that would wrap size_t.
    c.append(("input_numel_2p31.onnx", unary_input("Relu", [65536, 32768]), [1], "more than 2147483647 elements"))
    c.append(("input_bytes_over_2g.onnx", unary_input("Relu", [2**29, 2]), [1], "bytes, more than the limit"))
    c.append(("input_dims_wrap.onnx", unary_input("Relu", [2**62, 2**62]), [1], "more than 2147483647"))
    # Shape arithmetic with extreme attributes.
    c.append(("tile_overflow.onnx",
              model([helper.make_node("Tile", ["x", "r"], ["y"])], [vi("x", TensorProto.FLOAT, [2, 3])],
                    [vi("y", TensorProto.FLOAT, None)], [const("r", np.array([2**62, 4], np.int64))]),
              [1], "tiled size"))
    c.append(("tile_2p31.onnx",
              model([helper.make_node("Tile", ["x", "r"], ["y"])], [vi("x", TensorProto.FLOAT, [2, 3])],
                    [vi("y", TensorProto.FLOAT, None)], [const("r", np.array([2**30, 1], np.int64))]),
              [1], "elements"))
    c.append(("reshape_overflow.onnx",
              model([helper.make_node("Reshape", ["x", "s"], ["y"])], [vi("x", TensorProto.FLOAT, [2, 3])],
                    [vi("y", TensorProto.FLOAT, None)], [const("s", np.array([2**40, 2**40, -1], np.int64))]),
              [1], "element count of the target shape"))
    c.append(("pad_overflow.onnx",
              model([helper.make_node("Pad", ["x", "p"], ["y"])], [vi("x", TensorProto.FLOAT, [2, 3])],
                    [vi("y", TensorProto.FLOAT, None)], [const("p", np.array([0, I64_MAX, 0, 5], np.int64))]),
              [1], "padded size"))
    c.append(("pad_2p31.onnx",
              model([helper.make_node("Pad", ["x", "p"], ["y"])], [vi("x", TensorProto.FLOAT, [2, 3])],
                    [vi("y", TensorProto.FLOAT, None)], [const("p", np.array([0, 2**31, 0, 0], np.int64))]),
              [1], "elements"))
    c.append(("slice_step_int64_min.onnx",
              model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
                    [vi("x", TensorProto.FLOAT, [4, 3])], [vi("y", TensorProto.FLOAT, None)],
                    [const("s", np.array([I64_MAX], np.int64)), const("e", np.array([I64_MIN], np.int64)),
                     const("a", np.array([0], np.int64)), const("st", np.array([I64_MIN], np.int64))]),
              [1], "(Slice)"))
    c.append(("slice_step_int64_max.onnx",
              model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
                    [vi("x", TensorProto.FLOAT, [4, 3])], [vi("y", TensorProto.FLOAT, None)],
                    [const("s", np.array([1], np.int64)), const("e", np.array([I64_MAX], np.int64)),
                     const("a", np.array([0], np.int64)), const("st", np.array([I64_MAX], np.int64))]),
              [1], "(Slice)"))
    c.append(("maxpool_dilation_overflow.onnx",
              unary_input("MaxPool", [1, 1, 8, 8], kernel_shape=[3, 3], dilations=[2**62, 1]),
              [1], "window extent"))
    c.append(("maxpool_pads_overflow.onnx",
              unary_input("MaxPool", [1, 1, 8, 8], kernel_shape=[2, 2], pads=[0, 0, I64_MAX, 0]),
              [1], "padded input size"))
    c.append(("avgpool_kernel_huge.onnx",
              unary_input("AveragePool", [1, 1, 8, 8], kernel_shape=[2**40, 2**40], pads=[2**41, 2**41, 0, 0]),
              [1], ""))
    c.append(("conv_transpose_strides_overflow.onnx",
              model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2**62, 1])],
                    [vi("x", TensorProto.FLOAT, [1, 1, 8, 8])], [vi("y", TensorProto.FLOAT, None)],
                    [const("w", np.ones([1, 1, 3, 3], np.float32))]),
              [1], "output size"))
    c.append(("conv_transpose_out_2p31.onnx",
              model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2**28, 1])],
                    [vi("x", TensorProto.FLOAT, [1, 1, 8, 8])], [vi("y", TensorProto.FLOAT, None)],
                    [const("w", np.ones([1, 1, 3, 3], np.float32))]),
              [1], "elements"))
    c.append(("conv_pads_overflow.onnx",
              model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[I64_MAX, 0, I64_MAX, 0])],
                    [vi("x", TensorProto.FLOAT, [1, 1, 8, 8])], [vi("y", TensorProto.FLOAT, None)],
                    [const("w", np.ones([1, 1, 3, 3], np.float32))]),
              [1], "padded input size"))
    c.append(("conv_macs_large.onnx",  # MACs of a legal but large Conv: positive, no overflow
              model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[2**14, 2**14, 2**14, 2**14])],
                    [vi("x", TensorProto.FLOAT, [1, 1, 8, 8])], [vi("y", TensorProto.FLOAT, None)],
                    [const("w", np.ones([1, 1, 3, 3], np.float32))]),
              [1], "bytes, more than the limit"))
    c.append(("concat_overflow.onnx",
              model([helper.make_node("Concat", ["x", "x"], ["y"], axis=0)],
                    [vi("x", TensorProto.FLOAT, [2**62, 0])], [vi("y", TensorProto.FLOAT, None)]),
              [1], "more than 2147483647 elements"))
    c.append(("expand_2p31.onnx",
              model([helper.make_node("Expand", ["x", "s"], ["y"])], [vi("x", TensorProto.FLOAT, [1, 1])],
                    [vi("y", TensorProto.FLOAT, None)], [const("s", np.array([2**31, 2**31], np.int64))]),
              [1], "elements"))
    c.append(("constant_of_shape_huge.onnx",
              model([helper.make_node("ConstantOfShape", ["s"], ["y"])], [], [vi("y", TensorProto.FLOAT, None)],
                    [const("s", np.array([2**40, 2**40], np.int64))]),
              [1], ""))
    c.append(("range_huge.onnx",
              model([helper.make_node("Range", ["a", "b", "d"], ["y"])], [], [vi("y", TensorProto.INT64, None)],
                    [const("a", np.array(I64_MIN, np.int64)), const("b", np.array(I64_MAX, np.int64)),
                     const("d", np.array(1, np.int64))]),
              [1], "too many elements"))
    # Opsets and empty graphs.
    c.append(("opset_0.onnx", unary_input("Relu", [2], opset=0) if False else
              model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", TensorProto.FLOAT, [2])],
                    [vi("y", TensorProto.FLOAT, [2])], opset=0), [1], "version 0"))
    c.append(("opset_99.onnx", model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", TensorProto.FLOAT, [2])],
                                     [vi("y", TensorProto.FLOAT, [2])], opset=99), [1], "newer than any ONNX release"))
    c.append(("empty_graph.onnx", model([], [], []), [1], "no outputs"))
    return c


def pb_cases():
    """Input .pb files (TensorProto) that declare more than they hold."""
    out = []
    for name, dims in (("input_dims_2p38.pb", [2**38]), ("input_dims_1e9.pb", [10**9])):
        t = TensorProto()
        t.name = "x"
        t.data_type = TensorProto.FLOAT
        t.dims.extend(dims)
        t.raw_data = b""
        out.append((name, t))
    return out


def seed_models():
    """Small valid models over many ops, with boundary attributes, to seed the fuzzer."""
    f = TensorProto.FLOAT
    s = []
    s.append(unary_input("Relu", [1, 4]))
    s.append(unary_input("MaxPool", [1, 2, 5, 5], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1))
    s.append(unary_input("AveragePool", [1, 1, 6], kernel_shape=[3], pads=[1, 1], count_include_pad=1))
    s.append(unary_input("GlobalAveragePool", [1, 3, 2, 2]))
    s.append(unary_input("Softmax", [2, 3], axis=-1))
    s.append(unary_input("Flatten", [2, 3, 4], axis=2))
    s.append(unary_input("Transpose", [2, 3, 4], perm=[2, 0, 1]))
    s.append(unary_input("LeakyRelu", [3], alpha=1e30))
    s.append(model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2], group=1)],
                   [vi("x", f, [1, 2, 5, 5])], [vi("y", f, None)],
                   [const("w", np.ones([3, 2, 3, 3], np.float32)), const("b", np.zeros([3], np.float32))]))
    s.append(model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_padding=[1, 1])],
                   [vi("x", f, [1, 1, 3, 3])], [vi("y", f, None)], [const("w", np.ones([1, 2, 2, 2], np.float32))]))
    s.append(model([helper.make_node("Gemm", ["a", "b"], ["y"], transB=1)], [vi("a", f, [2, 3])], [vi("y", f, None)],
                   [const("b", np.ones([4, 3], np.float32))]))
    s.append(model([helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", f, [2, 1, 3])], [vi("y", f, None)],
                   [const("b", np.ones([3, 3, 2], np.float32))]))
    s.append(model([helper.make_node("Tile", ["x", "r"], ["y"])], [vi("x", f, [2, 3])], [vi("y", f, None)],
                   [const("r", np.array([2, 1], np.int64))]))
    s.append(model([helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")], [vi("x", f, [3, 3])],
                   [vi("y", f, None)], [const("p", np.array([1, 2, 1, 2], np.int64))]))
    s.append(model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])], [vi("x", f, [5, 4])],
                   [vi("y", f, None)],
                   [const("s", np.array([-1], np.int64)), const("e", np.array([I64_MIN], np.int64)),
                    const("a", np.array([0], np.int64)), const("st", np.array([-2], np.int64))]))
    s.append(model([helper.make_node("Reshape", ["x", "s"], ["y"])], [vi("x", f, [2, 3, 4])], [vi("y", f, None)],
                   [const("s", np.array([0, -1], np.int64))]))
    s.append(model([helper.make_node("Concat", ["x", "x"], ["y"], axis=1)], [vi("x", f, [2, 3])], [vi("y", f, None)]))
    s.append(model([helper.make_node("Split", ["x"], ["y", "z"], axis=1)], [vi("x", f, [2, 4])],
                   [vi("y", f, None), vi("z", f, None)]))
    s.append(model([helper.make_node("ReduceSum", ["x", "a"], ["y"], keepdims=0)], [vi("x", f, [2, 3])],
                   [vi("y", f, None)], [const("a", np.array([1], np.int64))]))
    s.append(model([helper.make_node("Range", ["a", "b", "d"], ["y"])], [], [vi("y", TensorProto.INT64, None)],
                   [const("a", np.array(0, np.int64)), const("b", np.array(10, np.int64)),
                    const("d", np.array(3, np.int64))]))
    s.append(model([helper.make_node("Expand", ["x", "s"], ["y"])], [vi("x", f, [3, 1])], [vi("y", f, None)],
                   [const("s", np.array([2, 3, 4], np.int64))]))
    s.append(model([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i"], ["g"], axis=0),
                    helper.make_node("Unsqueeze", ["g", "ax"], ["u"]),
                    helper.make_node("Reshape", ["x", "u"], ["y"])],
                   [vi("x", f, [2, 3])], [vi("y", f, None)],
                   [const("i", np.array(0, np.int64)), const("ax", np.array([0], np.int64))]))
    s.append(binary_fold("Div", np.int32, [I32_MIN, 5], [-1, 0]))
    s.append(binary_fold("Mul", np.int64, [I64_MAX], [3]))
    s.append(binary_runtime("Sub", np.int64, [I64_MIN, 1]))
    s.append(unary_fold("Neg", np.int64, [I64_MIN]))
    s.append(model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
                   [vi("x", f, [1, 2, 3])], [vi("y", f, None)],
                   [const(n, np.ones([2], np.float32)) for n in ("s", "b", "m", "v")]))
    s.append(model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT8)], [vi("x", f, [4])],
                   [vi("y", TensorProto.INT8, None)]))
    s.append(model([helper.make_node("CumSum", ["x", "a"], ["y"], exclusive=1, reverse=1)],
                   [vi("x", TensorProto.INT64, [4])], [vi("y", TensorProto.INT64, None)],
                   [const("a", np.array(0, np.int64))]))
    s.append(model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                    helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
                   [vi("x", f, [4])], [vi("y", f, None)],
                   [const("s", np.array(0.1, np.float32)), const("z", np.array(3, np.uint8))]))
    return s


def main():
    reg = os.path.join(HERE, "regression")
    seeds = os.path.join(HERE, "seeds")
    os.makedirs(reg, exist_ok=True)
    os.makedirs(seeds, exist_ok=True)
    manifest = {}
    for name, m, codes, msg in regression_cases():
        data = m.SerializeToString()
        with open(os.path.join(reg, name), "wb") as fh:
            fh.write(data)
        manifest[name] = {"exit": codes, "message": msg}
    for name, t in pb_cases():
        with open(os.path.join(reg, name), "wb") as fh:
            fh.write(t.SerializeToString())
    with open(os.path.join(reg, "regression.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
        fh.write("\n")
    for i, m in enumerate(seed_models()):
        with open(os.path.join(seeds, f"seed_{i:02d}.onnx"), "wb") as fh:
            fh.write(m.SerializeToString())
    print(f"{len(manifest)} regression models, {len(pb_cases())} .pb files, {len(seed_models())} seeds")
    print("init_dims_2p38.onnx:", os.path.getsize(os.path.join(reg, "init_dims_2p38.onnx")), "bytes")


if __name__ == "__main__":
    sys.exit(main())
