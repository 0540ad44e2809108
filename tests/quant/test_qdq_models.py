#!/usr/bin/env python3
# Over 500 lines on purpose: one script per QDQ model family with its independent numpy integer
# reference; the reference helpers are shared by every case below.
"""QDQ import test: quantized ONNX models (QuantizeLinear/DequantizeLinear around float ops,
int8 per-channel weights, int8 per-tensor activations, int32 biases) compile to tinyodlc's
integer kernels and match an independent numpy integer reference bit-exactly.

Models (built here, with onnx.helper):
  tiny_cnn_qdq  the example examples/tiny_cnn/tiny_cnn.onnx (its weights; BatchNormalization
                folded into conv1): Conv+Relu, MaxPool, Conv+Relu, GlobalAveragePool, Flatten,
                Gemm (the final Softmax is left out: the output is the dequantized logits)
  block_qdq     a DS-CNN/attention-style block: depthwise Conv + Clip(0, 6), pointwise Conv,
                residual Add, Reshape, Transpose, MatMul activation x activation, MatMul with
                per-column weights, Mul; more outputs: Softmax(scores / c) (Div by a constant
                -> QRequantize, integer QSoftmax) and Sigmoid(scores / c) (QLookup table), x - pw (QSub), AveragePool 2x2 (QAvgPool)
  kws_qdq       the zoo's trained keyword spotter (examples/models/tinysv/kws_op13, its weights):
                Pad + Conv 8x20 stride 2 + Relu, MaxPool, Pad + Conv 4x10 + Relu, MaxPool,
                Flatten, Gemm -> logits, Softmax -> probs; calibrated and tested on inputs from
                the zoo's own data generator (examples/models/quant_data.py)

Activation scales come from a float numpy forward pass on calibration inputs; the test
inputs are different. The reference implements the arithmetic of docs/quantization.md
(TFLite's MultiplyByQuantizedMultiplier) in numpy int64, independently of the compiler.

Also checks that the generated code calls only integer kernels between the input
QuantizeLinear and the output DequantizeLinear, that every kernel of tinyodlc/ref/int8.h
compiles with -mgeneral-regs-only (no floating point instruction can be emitted for the
integer kernels), and, with arm-none-eabi-g++, that the generated code built for Cortex-M4
with -mfloat-abi=soft -fno-inline reaches software floating point (__aeabi_f*, __aeabi_d*,
libm) only from QuantizeLinear/DequantizeLinear.

usage: test_qdq_models.py --tinyodlc BIN [--keep DIR]
"""
import argparse, math, os, re, shutil, subprocess, sys, tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "models"))
import quant_data  # noqa: E402  (the zoo's data generators, numpy only)
f32 = np.float32


# ---- float numpy ops (for calibration of the QDQ models) -------------------------------------
def conv_f(x, w, b, pads, group=1):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    y = np.zeros((n, m, oh, ow), np.float64)
    mg = m // group
    for o in range(m):
        g = o // mg
        for i in range(kh):
            for j in range(kw):
                y[:, o] += np.einsum("nchw,c->nhw", xp[:, g * cg:(g + 1) * cg, i:i + oh, j:j + ow], w[o, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def maxpool2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


# ---- integer reference (TFLite arithmetic, docs/quantization.md) -----------------------------
def quantize_multiplier(real):
    if real <= 0:
        return 0, 0
    q, e = math.frexp(real)
    qf = int(math.floor(q * (1 << 31) + 0.5))  # round half away from zero (positive)
    if qf == 1 << 31:
        qf //= 2
        e += 1
    if e < -31:
        return 0, 0
    return qf, e


def srdhm(a, b):
    a = np.asarray(a, np.int64)
    ab = a * np.int64(b)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = ab + nudge
    r = np.where(q >= 0, q >> 31, -((-q) >> 31))  # C++ division truncates toward zero
    return np.where((a == -2**31) & (b == -2**31), 2**31 - 1, r)


def rdbpot(x, e):
    if e <= 0:
        return x
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def requant(acc, real):
    m, s = quantize_multiplier(real)
    x = np.asarray(acc, np.int64)
    if s > 0:
        x = np.clip(x * (1 << s), -2**31, 2**31 - 1)
    return rdbpot(srdhm(x, m), -s if s < 0 else 0)


def q_act(x, s, z):  # QuantizeLinear (float32 division, round half to even, saturate)
    return np.clip(np.rint(x.astype(f32) / f32(s)) + z, -128, 127).astype(np.int64)


def dq(q, s, z):  # DequantizeLinear in float32
    return ((q.astype(f32) - f32(z)) * f32(s)).astype(f32)


def conv_acc(xq, zx, wq, pads, group=1):
    return conv_f((xq - zx).astype(np.int64), wq.astype(np.int64), None, pads, group).astype(np.int64)


def per_channel(acc, sx, sw, sy, zy, lo=-128, hi=127, axis=1):
    out = np.empty_like(acc)
    for m in range(acc.shape[axis]):
        idx = [slice(None)] * acc.ndim
        idx[axis] = m
        out[tuple(idx)] = requant(acc[tuple(idx)], float(f32(sx)) * float(f32(sw[m])) / float(f32(sy)))
    return np.clip(out + zy, lo, hi)


def act_params(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = f32((hi - lo) / 255.0)
    z = int(max(-128, min(127, round(-128 - lo / float(s)))))
    return s, z


def weight_q(w, axis):
    red = tuple(i for i in range(w.ndim) if i != axis)
    s = (np.abs(w).max(axis=red) / 127.0).astype(f32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / s.reshape(shape)), -127, 127).astype(np.int8)
    return q, s


# ---- ONNX building helpers -------------------------------------------------------------------
class Builder:
    def __init__(self):
        self.nodes, self.inits, self.k = [], [], 0

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def q(self, x, s, z, name):
        sn = self.const(name + "_s", np.array(s, f32))
        zn = self.const(name + "_z", np.array(z, np.int8))
        self.nodes.append(helper.make_node("QuantizeLinear", [x, sn, zn], [name + "_q"]))
        self.nodes.append(helper.make_node("DequantizeLinear", [name + "_q", sn, zn], [name + "_dq"]))
        return name + "_dq"

    def wdq(self, name, q, s, axis):
        self.const(name + "_i8", q)
        self.const(name + "_s", s)
        self.const(name + "_z", np.zeros(s.shape, np.int8))
        self.nodes.append(helper.make_node("DequantizeLinear", [name + "_i8", name + "_s", name + "_z"], [name],
                                           axis=axis))
        return name

    def bias(self, name, b, sx, sw):
        scale = (f32(sx) * sw).astype(f32)
        bq = np.rint(b.astype(np.float64) / scale.astype(np.float64)).astype(np.int32)
        self.const(name + "_i32", bq)
        self.const(name + "_s", scale)
        self.const(name + "_z", np.zeros(scale.shape, np.int32))
        self.nodes.append(helper.make_node("DequantizeLinear", [name + "_i32", name + "_s", name + "_z"], [name], axis=0))
        return name, bq

    def node(self, op, ins, out, **attrs):
        self.nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def model(self, name, x_shape, y_name, y_shape, more_outputs=()):
        outs = [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, y_shape)]
        outs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in more_outputs]
        g = helper.make_graph(self.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              outs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 7
        onnx.checker.check_model(m)
        return m


# ---- model 1: tiny_cnn ---------------------------------------------------------------------
def tiny_cnn(cal):
    src = onnx.load(os.path.join(ROOT, "examples", "tiny_cnn", "tiny_cnn.onnx"))
    p = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in src.graph.initializer}
    k = p["gamma"] / np.sqrt(p["var"] + 1e-5)
    w1 = p["w1"] * k.reshape(-1, 1, 1, 1)
    b1 = (p["b1"] - p["mean"]) * k + p["beta"]

    def fwd(x):
        r1 = np.maximum(conv_f(x, w1, b1, [1, 1, 1, 1]), 0)
        p1 = maxpool2(r1)
        r2 = np.maximum(conv_f(p1, p["w2"], p["b2"], [1, 1, 1, 1]), 0)
        g = r2.mean(axis=(2, 3), keepdims=True)
        logits = g.reshape(1, -1) @ p["fc_w"].T + p["fc_b"]
        return dict(x=x, r1=r1, r2=r2, g=g, logits=logits)

    acts = [fwd(x) for x in cal]
    P = {k_: act_params(min(a[k_].min() for a in acts), max(a[k_].max() for a in acts)) for k_ in acts[0]}
    P["p1"] = P["r1"]
    P["f"] = P["g"]
    w1q, w1s = weight_q(w1, 0)
    w2q, w2s = weight_q(p["w2"], 0)
    fcq, fcs = weight_q(p["fc_w"], 0)

    b = Builder()
    x = b.q("x", *P["x"], "x")
    _, b1q = b.bias("b1", b1, P["x"][0], w1s)
    c1 = b.node("Conv", [x, b.wdq("w1", w1q, w1s, 0), "b1"], "c1", pads=[1, 1, 1, 1])
    r1 = b.q(b.node("Relu", [c1], "r1"), *P["r1"], "r1")
    p1 = b.q(b.node("MaxPool", [r1], "p1", kernel_shape=[2, 2], strides=[2, 2]), *P["p1"], "p1")
    _, b2q = b.bias("b2", p["b2"], P["p1"][0], w2s)
    c2 = b.node("Conv", [p1, b.wdq("w2", w2q, w2s, 0), "b2"], "c2", pads=[1, 1, 1, 1])
    r2 = b.q(b.node("Relu", [c2], "r2"), *P["r2"], "r2")
    g = b.q(b.node("GlobalAveragePool", [r2], "g"), *P["g"], "g")
    f = b.q(b.node("Flatten", [g], "f"), *P["f"], "f")
    _, fbq = b.bias("fb", p["fc_b"], P["f"][0], fcs)
    lg = b.node("Gemm", [f, b.wdq("fcw", fcq, fcs, 0), "fb"], "logits_f", transB=1)
    b.q(lg, *P["logits"], "logits")
    b.node("Identity", ["logits_dq"], "y")
    model = b.model("tiny_cnn_qdq", [1, 1, 28, 28], "y", [1, 4])

    def ref(xf):
        sx, zx = P["x"]
        xq = q_act(xf, sx, zx)
        a = conv_acc(xq, zx, w1q, [1, 1, 1, 1]) + b1q.reshape(1, -1, 1, 1)
        s, z = P["r1"]
        r1q = per_channel(a, sx, w1s, s, z, lo=max(-128, z))
        p1q = maxpool2(r1q)
        a = conv_acc(p1q, z, w2q, [1, 1, 1, 1]) + b2q.reshape(1, -1, 1, 1)
        s2, z2 = P["r2"]
        r2q = per_channel(a, s, w2s, s2, z2, lo=max(-128, z2))
        sg, zg = P["g"]
        acc = (r2q - z2).sum(axis=(2, 3)).reshape(1, -1)
        gq = np.clip(requant(acc, float(s2) / (float(sg) * 196)) + zg, -128, 127)
        acc = (gq - zg) @ fcq.T.astype(np.int64) + fbq.astype(np.int64)
        sl, zl = P["logits"]
        lq = per_channel(acc, sg, fcs, sl, zl)
        return dq(lq, sl, zl)

    return model, ref


# ---- model 2: block ------------------------------------------------------------------------
def block(cal, rng):
    C = 8
    wd = rng.normal(0, 0.4, (C, 1, 3, 3))
    bd = rng.normal(0, 0.1, C)
    wp = rng.normal(0, 0.3, (C, C, 1, 1))
    wm = rng.normal(0, 0.3, (C, 4))

    def fwd(x):
        d = np.clip(conv_f(x, wd, bd, [1, 1, 1, 1], group=C), 0, 6)
        pw = conv_f(d, wp, None, [0, 0, 0, 0])
        s = x + pw
        sub = x - pw
        ap = d.reshape(1, C, 3, 2, 3, 2).mean(axis=(3, 5))
        t = s.reshape(1, C, 36)
        tt = t.transpose(0, 2, 1)
        att = t @ tt / 8
        mm = att @ wm
        mul = mm * mm
        return dict(x=x, d=d, pw=pw, s=s, sub=sub, ap=ap, att=att, mm=mm, mul=mul)

    acts = [fwd(x) for x in cal]
    P = {k: act_params(min(a[k].min() for a in acts), max(a[k].max() for a in acts)) for k in acts[0]}
    # a softmax over the attention scores, scaled down by a constant so that it does not saturate
    c_sc = f32(max(np.abs(a["att"]).max() for a in acts) / 4)
    P["sc"] = act_params(min(a["att"].min() for a in acts) / float(c_sc), max(a["att"].max() for a in acts) / float(c_sc))
    P["probs"] = (f32(1.0 / 256), -128)
    sig = [1 / (1 + np.exp(-a["att"] / float(c_sc))) for a in acts]
    P["sig"] = act_params(min(v.min() for v in sig), max(v.max() for v in sig))
    wdq_, wds = weight_q(wd, 0)
    wpq, wps = weight_q(wp, 0)
    wmq, wms = weight_q(wm, 1)

    b = Builder()
    x = b.q("x", *P["x"], "x")
    _, bdq = b.bias("bd", bd, P["x"][0], wds)
    c = b.node("Conv", [x, b.wdq("wd", wdq_, wds, 0), "bd"], "dconv", pads=[1, 1, 1, 1], group=C)
    lo, hi = b.const("lo", np.array(0, f32)), b.const("hi", np.array(6, f32))
    d = b.q(b.node("Clip", [c, lo, hi], "d"), *P["d"], "d")
    pw = b.q(b.node("Conv", [d, b.wdq("wp", wpq, wps, 0)], "pw"), *P["pw"], "pw")
    s = b.q(b.node("Add", [x, pw], "s"), *P["s"], "s")
    shp = b.const("shp", np.array([1, C, 36], np.int64))
    t = b.q(b.node("Reshape", [s, shp], "t"), *P["s"], "t")
    tt = b.q(b.node("Transpose", [t], "tt", perm=[0, 2, 1]), *P["s"], "tt")
    # att = t @ tt / 8: the 1/8 is folded into the output scale of the MatMul (a QDQ export
    # of a scaled product quantizes the MatMul output with scale s_att * 8)
    sa, za = P["att"]
    att = b.q(b.node("MatMul", [t, tt], "att"), f32(sa * 8), za, "att")
    mm = b.q(b.node("MatMul", [att, b.wdq("wm", wmq, wms, 1)], "mm"), *P["mm"], "mm")
    b.q(b.node("Mul", [mm, mm], "mul"), *P["mul"], "mul")
    b.node("Identity", ["mul_dq"], "y")
    sc = b.q(b.node("Div", [att, b.const("c_sc", np.array(c_sc, f32))], "sc"), *P["sc"], "sc")
    b.q(b.node("Softmax", [sc], "sm", axis=-1), *P["probs"], "sm")
    b.node("Identity", ["sm_dq"], "probs")
    b.q(b.node("Sigmoid", [sc], "sg"), *P["sig"], "sg")
    b.node("Identity", ["sg_dq"], "sig")
    b.q(b.node("Sub", [x, pw], "sub"), *P["sub"], "sub")
    b.node("Identity", ["sub_dq"], "diff")
    b.q(b.node("AveragePool", [d], "ap", kernel_shape=[2, 2], strides=[2, 2]), *P["ap"], "ap")
    b.node("Identity", ["ap_dq"], "avg")
    model = b.model("block_qdq", [1, C, 6, 6], "y", [1, C, 4],
                    more_outputs=[("probs", [1, C, C]), ("sig", [1, C, C]), ("diff", [1, C, 6, 6]),
                                  ("avg", [1, C, 3, 3])])

    def ref(xf):
        sx, zx = P["x"]
        xq = q_act(xf, sx, zx)
        sd, zd = P["d"]
        a = conv_acc(xq, zx, wdq_, [1, 1, 1, 1], group=C) + bdq.reshape(1, -1, 1, 1)
        dq_ = per_channel(a, sx, wds, sd, zd, lo=max(-128, zd + int(np.rint(0 / float(sd)))),
                          hi=min(127, zd + int(np.rint(6 / float(sd)))))
        sp, zp = P["pw"]
        pwq = per_channel(conv_acc(dq_, zd, wpq, [0, 0, 0, 0]), sd, wps, sp, zp)
        ss, zs = P["s"]
        twice = 2 * max(float(sx), float(sp))
        l1 = (xq - zx) * (1 << 20)
        l2 = (pwq - zp) * (1 << 20)
        r = requant(l1, float(sx) / twice) + requant(l2, float(sp) / twice)
        sq = np.clip(requant(r, twice / ((1 << 20) * float(ss))) + zs, -128, 127)
        tq = sq.reshape(1, C, 36)
        ttq = tq.transpose(0, 2, 1)
        sa8 = float(f32(sa * 8))
        acc = np.matmul(tq - zs, ttq - zs)
        attq = np.clip(requant(acc, float(ss) * float(ss) / sa8) + za, -128, 127)
        smm, zmm = P["mm"]
        acc = np.matmul(attq - za, wmq.astype(np.int64))
        mmq = per_channel(acc, f32(sa8), wms, smm, zmm, axis=2)
        sm, zm = P["mul"]
        mq = np.clip(requant((mmq - zmm) * (mmq - zmm), float(smm) * float(smm) / float(sm)) + zm, -128, 127)
        ssc, zsc = P["sc"]
        scq = np.clip(requant(attq - za, sa8 / (float(c_sc) * float(ssc))) + zsc, -128, 127)
        sprob, zprob = P["probs"]
        pq = softmax_lut_ref(scq, ssc, zsc, sprob, zprob)
        sgs, sgz = P["sig"]
        table = [int(np.clip(np.rint((1.0 / (1.0 + math.exp(-float(ssc) * (q - zsc)))) / float(sgs)) + sgz, -128, 127))
                 for q in range(-128, 128)]
        sgq = np.array([table[int(v) + 128] for v in scq.ravel()], np.int64).reshape(scq.shape)
        sds, sdz = P["sub"]
        r = requant(l1, float(sx) / twice) - requant(l2, float(sp) / twice)
        subq = np.clip(requant(r, twice / ((1 << 20) * float(sds))) + sdz, -128, 127)
        sap, zap = P["ap"]
        acc = (dq_ - zd).reshape(1, C, 3, 2, 3, 2).sum(axis=(3, 5))
        apq = np.clip(requant(acc, float(sd) / (float(sap) * 4)) + zap, -128, 127)
        return [dq(mq, sm, zm), dq(pq, sprob, zprob), dq(sgq, sgs, sgz), dq(subq, sds, sdz), dq(apq, sap, zap)]

    return model, ref


# ---- model 3: the zoo's keyword spotter (examples/models/tinysv/kws_op13) -------------------
def softmax_lut_ref(xq, sx, zx, sy, zy):
    """QSoftmax (docs/quantization.md) over the last axis, in Python integers."""
    lut = [int(np.rint(1048576.0 * math.exp(-d * float(sx)))) for d in range(256)]
    out = np.empty_like(xq)
    for idx in np.ndindex(*xq.shape[:-1]):
        row = [int(v) for v in xq[idx]]
        mx = max(row)
        e = [lut[mx - v] for v in row]
        tot = sum(e)
        p = np.array([(v * (1 << 30) + tot // 2) // tot for v in e], np.int64)
        out[idx] = np.clip(requant(p, 1.0 / (float(sy) * (1 << 30))) + zy, -128, 127)
    return out


def kws(cal):
    """Pad -> Conv 8x20 stride 2 + Relu -> MaxPool -> Pad -> Conv 4x10 + Relu -> MaxPool ->
    Flatten -> Gemm -> Softmax, with the trained weights of the zoo model; outputs logits and
    probs (the int8 softmax: output scale 1/256, zero point -128, as TFLite)."""
    src = onnx.load(os.path.join(ROOT, "examples", "models", "tinysv", "kws_op13", "kws_op13.onnx"))
    p = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in src.graph.initializer}
    pads1, pads2 = [3, 9, 4, 9], [1, 4, 2, 5]  # Keras 'same' (F.pad in the export): top, left, bottom, right

    def pad_f(x, pd, value=0.0):
        return np.pad(x, ((0, 0), (0, 0), (pd[0], pd[2]), (pd[1], pd[3])), constant_values=value)

    def fwd(x):
        c1 = conv_f(pad_f(x, pads1), p["conv1.weight"], p["conv1.bias"], [0, 0, 0, 0])[:, :, ::2, ::2]
        r1 = np.maximum(c1, 0)
        p1 = maxpool2(r1)
        r2 = np.maximum(conv_f(pad_f(p1, pads2), p["conv2.weight"], p["conv2.bias"], [0, 0, 0, 0]), 0)
        f = maxpool2(r2).reshape(1, -1)
        logits = f @ p["fc.weight"].T + p["fc.bias"]
        return dict(x=x, r1=r1, r2=r2, logits=logits)

    acts = [fwd(x) for x in cal]
    P = {k_: act_params(min(a[k_].min() for a in acts), max(a[k_].max() for a in acts)) for k_ in acts[0]}
    P["probs"] = (f32(1.0 / 256), -128)
    w1q, w1s = weight_q(p["conv1.weight"], 0)
    w2q, w2s = weight_q(p["conv2.weight"], 0)
    fcq, fcs = weight_q(p["fc.weight"], 0)

    b = Builder()
    x = b.q("x", *P["x"], "x")
    pd1 = b.const("pads1", np.array([0, 0, pads1[0], pads1[1], 0, 0, pads1[2], pads1[3]], np.int64))
    x1 = b.q(b.node("Pad", [x, pd1], "pad1"), *P["x"], "pad1")
    _, b1q = b.bias("b1", p["conv1.bias"], P["x"][0], w1s)
    c1 = b.node("Conv", [x1, b.wdq("w1", w1q, w1s, 0), "b1"], "c1", kernel_shape=[8, 20], strides=[2, 2])
    r1 = b.q(b.node("Relu", [c1], "r1"), *P["r1"], "r1")
    p1 = b.q(b.node("MaxPool", [r1], "p1", kernel_shape=[2, 2], strides=[2, 2]), *P["r1"], "p1")
    pd2 = b.const("pads2", np.array([0, 0, pads2[0], pads2[1], 0, 0, pads2[2], pads2[3]], np.int64))
    x2 = b.q(b.node("Pad", [p1, pd2], "pad2"), *P["r1"], "pad2")
    _, b2q = b.bias("b2", p["conv2.bias"], P["r1"][0], w2s)
    c2 = b.node("Conv", [x2, b.wdq("w2", w2q, w2s, 0), "b2"], "c2", kernel_shape=[4, 10])
    r2 = b.q(b.node("Relu", [c2], "r2"), *P["r2"], "r2")
    p2 = b.q(b.node("MaxPool", [r2], "p2", kernel_shape=[2, 2], strides=[2, 2]), *P["r2"], "p2")
    fl = b.q(b.node("Flatten", [p2], "fl"), *P["r2"], "fl")
    _, fbq = b.bias("fb", p["fc.bias"], P["r2"][0], fcs)
    lg = b.q(b.node("Gemm", [fl, b.wdq("fcw", fcq, fcs, 0), "fb"], "lg", transB=1), *P["logits"], "lg")
    b.q(b.node("Softmax", [lg], "sm", axis=-1), *P["probs"], "sm")
    b.node("Identity", ["sm_dq"], "y")
    b.node("Identity", [lg], "logits")
    model = b.model("kws_qdq", [1, 1, 49, 40], "y", [1, 3], more_outputs=[("logits", [1, 3])])

    def ref(xf):
        sx, zx = P["x"]
        xq = q_act(xf, sx, zx)
        a = conv_acc(pad_f(xq, pads1, zx), zx, w1q, [0, 0, 0, 0])[:, :, ::2, ::2] + b1q.reshape(1, -1, 1, 1)
        s1, z1 = P["r1"]
        r1q = per_channel(a, sx, w1s, s1, z1, lo=max(-128, z1))
        p1q = maxpool2(r1q)
        a = conv_acc(pad_f(p1q, pads2, z1), z1, w2q, [0, 0, 0, 0]) + b2q.reshape(1, -1, 1, 1)
        s2, z2 = P["r2"]
        r2q = per_channel(a, s1, w2s, s2, z2, lo=max(-128, z2))
        fq = maxpool2(r2q).reshape(1, -1)
        acc = (fq - z2) @ fcq.T.astype(np.int64) + fbq.astype(np.int64)
        sl, zl = P["logits"]
        lq = per_channel(acc, s2, fcs, sl, zl)
        sp, zp = P["probs"]
        pq = softmax_lut_ref(lq, sl, zl, sp, zp)
        return [dq(pq, sp, zp), dq(lq, sl, zl)]

    return model, ref


def run(tinyodlc, model_path, x, work):
    ind = os.path.join(work, "in")
    os.makedirs(ind, exist_ok=True)
    onnx.save_tensor(numpy_helper.from_array(x, "x"), os.path.join(ind, "input_0.pb"))
    out = os.path.join(work, "out")
    bd = os.path.join(work, "build")
    r = subprocess.run([tinyodlc, "run", model_path, "--inputs", ind, "--outputs", out, "--build-dir", bd],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"tinyodlc run failed: {r.stderr}")
    ys = []
    while os.path.exists(os.path.join(out, f"output_{len(ys)}.pb")):
        ys.append(numpy_helper.to_array(onnx.load_tensor(os.path.join(out, f"output_{len(ys)}.pb"))))
    return ys, bd


def check_kernels(build_dir, name, outputs=1):
    src = open(os.path.join(build_dir, os.listdir(build_dir)[0]) if False else
               next(os.path.join(build_dir, f) for f in os.listdir(build_dir)
                    if f.endswith(".cpp") and not f.startswith("harness")), encoding="utf-8").read()
    calls = re.findall(r"tinyodlc::ref::(\w+)(<[^>]*>)?\(", src)
    kinds = [c[0] + c[1] for c in calls]
    allowed_float = {"quantize_linear<int8_t>", "dequantize_linear<int8_t>"}
    bad = [k for k in kinds if not (k.endswith("_s8") or k in allowed_float or "<int8_t>" in k or k == "copy_bytes")]
    if bad:
        raise AssertionError(f"{name}: non-integer kernels in the generated code: {bad}")
    if kinds.count("quantize_linear<int8_t>") != 1 or kinds.count("dequantize_linear<int8_t>") != outputs:
        raise AssertionError(f"{name}: expected exactly one QuantizeLinear (input) and {outputs} DequantizeLinear "
                             f"(outputs) at run time, got {kinds}")
    return kinds


def check_no_float(build_dir, cxx="g++"):
    """Every int8.h kernel compiled with -mgeneral-regs-only: any float op would fail."""
    tu = os.path.join(build_dir, "int8_nofloat.cpp")
    with open(tu, "w") as f:
        f.write('#include "tinyodlc/ref/int8.h"\n'
                "namespace tinyodlc { namespace ref {\n"
                "void (*keep[])() = {\n"
                "  reinterpret_cast<void (*)()>(&qconv_s8), reinterpret_cast<void (*)()>(&qmatmul_s8),\n"
                "  reinterpret_cast<void (*)()>(&qadd_s8), reinterpret_cast<void (*)()>(&qmul_s8),\n"
                "  reinterpret_cast<void (*)()>(&qglobal_avg_pool_s8), reinterpret_cast<void (*)()>(&qrequantize_s8),\n"
                "  reinterpret_cast<void (*)()>(&qsoftmax_s8), reinterpret_cast<void (*)()>(&qlookup_s8),\n"
                "  reinterpret_cast<void (*)()>(&qsub_s8), reinterpret_cast<void (*)()>(&qavg_pool_s8)};\n"
                "} }\n")
    inc = os.path.join(ROOT, "kernels")
    r = subprocess.run([cxx, "-std=c++17", "-O2", "-mgeneral-regs-only", "-Wall", "-Wextra", "-Werror", "-I", inc,
                        "-c", tu, "-o", tu + ".o"], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"int8.h kernels need floating point registers:\n{r.stderr}")


FLOAT_HELPER = re.compile(r"^(__aeabi_(f|d|[ui]?[il]2[fd]|[fd]2)\w*|__(add|sub|mul|div|fix|float|extend|trunc)\w*[sd]f\w*|"
                          r"(floor|ceil|round|lrint|nearbyint|rint|exp|log|sqrt|fmod|pow|tanh|erf)[fl]?)$")
# qmatmul_dq_s8 (tinyodlc.QMatMulDq): the output DequantizeLinear fused into the last layer
# (int32 accumulator -> float, one multiply; kernels/tinyodlc/ref/int8_out.h).
FLOAT_OK = ("quantize_linear", "dequantize_linear", "saturate_round", "round_half_even", "qmatmul_dq_s8", "std::")


def check_arm_soft_float(build_dir, name, model_name):
    """The generated code compiled for Cortex-M4 with -mfloat-abi=soft and -fno-inline: every
    function that (transitively) calls a software floating-point helper (__aeabi_f*/d*, libm)
    must be the input QuantizeLinear / output DequantizeLinear (or their helpers); the model's
    entry points may reach them only through those calls. Returns the integer kernels checked."""
    cxx = shutil.which("arm-none-eabi-g++")
    if not cxx:
        print(f"skip {name}: arm-none-eabi-g++ not installed (soft-float check)")
        return None
    src = os.path.join(build_dir, model_name + ".cpp")
    obj = os.path.join(build_dir, model_name + ".arm.o")
    r = subprocess.run([cxx, "-std=c++17", "-O2", "-fno-inline", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft",
                        "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror", "-I", build_dir,
                        "-I", os.path.join(ROOT, "kernels"), "-c", src, "-o", obj],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{name}: arm-none-eabi-g++ failed:\n{r.stderr}")
    dis = subprocess.run(["arm-none-eabi-objdump", "-dr", obj], capture_output=True, text=True, check=True).stdout
    calls, fn = {}, None
    for line in dis.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            fn = m.group(1)
            calls.setdefault(fn, set())
            continue
        m = re.search(r"R_ARM_THM_(CALL|JUMP24)\s+(\S+)", line)
        if m and fn:
            calls[fn].add(m.group(2))
    names = list(calls)
    dem = dict(zip(names, subprocess.run(["arm-none-eabi-c++filt"], input="\n".join(names), capture_output=True,
                                         text=True, check=True).stdout.splitlines()))
    reach = {f for f, cs in calls.items() if any(FLOAT_HELPER.match(c) for c in cs)}
    while True:  # transitive closure over the calls inside the object
        more = {f for f, cs in calls.items() if f not in reach and cs & reach}
        if not more:
            break
        reach |= more
    # the detector itself must see the float code of the input QuantizeLinear or, for models whose
    # input is not float (token ids), of the output stage (DequantizeLinear, qmatmul_dq_s8)
    if not any(k in dem[f] for f in reach for k in ("quantize_linear", "qmatmul_dq_s8")):
        raise AssertionError(f"{name}: soft-float check found no floating point in QuantizeLinear / the output "
                             "dequantization: broken check")
    entry = {f for f in calls if dem[f].startswith(model_name + "::")}
    bad = [dem[f] for f in reach if f not in entry and not any(k in dem[f] for k in FLOAT_OK)]
    bad += [dem[f] + " (direct call)" for f in entry if any(FLOAT_HELPER.match(c) for c in calls[f])]
    if bad:
        raise AssertionError(f"{name}: floating point in integer code (soft-float helpers reached): {sorted(bad)}")
    kernels = sorted({dem[f].split("(")[0].split("::")[-1] for f in calls
                      if f not in reach and "tinyodlc::ref::" in dem[f]})
    return kernels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--keep", help="keep models and builds in this folder")
    a = ap.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="tinyodlc-qdq-")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(7)
    failures = 0
    try:
        check_no_float(work)
        print("ok   int8.h kernels compile with -mgeneral-regs-only (no floating point)")
        noise = lambda shape: lambda n: [rng.normal(0, 1, shape) * rng.uniform(0.3, 2.0) for _ in range(n)]  # noqa: E731
        kws_dir = os.path.join(ROOT, "examples", "models", "tinysv", "kws_op13")
        seeds = iter(range(500, 600))
        zoo_kws = lambda n: [s_[0].astype(np.float64) for s_ in  # noqa: E731
                             quant_data.make_inputs(kws_dir, n, next(seeds))]
        cases = [("tiny_cnn_qdq", lambda cal: tiny_cnn(cal), noise((1, 1, 28, 28)), 1),
                 ("block_qdq", lambda cal: block(cal, rng), noise((1, 8, 6, 6)), 5),
                 # the zoo's trained keyword spotter, calibrated and tested on its own data
                 ("kws_qdq", lambda cal: kws(cal), zoo_kws, 2)]
        for name, make, data, n_out in cases:
            model, ref = make(data(8))
            mp = os.path.join(work, name + ".onnx")
            onnx.save(model, mp)
            for t, x in enumerate(data(3)):
                x = x.astype(f32)
                ys, bd = run(a.tinyodlc, mp, x, os.path.join(work, f"{name}_{t}"))
                es = ref(x)
                es = es if isinstance(es, list) else [es]
                for k, (y, e) in enumerate(zip(ys, es)):
                    e = e.reshape(y.shape)
                    if y.dtype != np.float32 or y.tobytes() != e.tobytes():
                        failures += 1
                        print(f"FAIL {name} input {t} output {k}: {np.count_nonzero(y != e)} of {y.size} differ; "
                              f"got {y.ravel()[:6]}, expected {e.ravel()[:6]}")
                    else:
                        print(f"ok   {name} input {t} output {k}: bit-exact ({y.size} values)")
            kinds = check_kernels(bd, name, n_out)
            print(f"ok   {name}: integer kernels only: {sorted(set(kinds))}")
            ints = check_arm_soft_float(bd, name, name)
            if ints is not None:
                print(f"ok   {name}: Cortex-M4 soft-float build: no floating point outside the input "
                      f"QuantizeLinear / output DequantizeLinear (integer functions: {', '.join(ints)})")
    except (AssertionError, RuntimeError) as ex:
        print(f"FAIL {ex}")
        failures += 1
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("PASS" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
