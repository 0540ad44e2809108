#!/usr/bin/python3
"""Prints the model table of examples/models/README.md (markdown) for every model folder.

Columns:
  params     parameters counted by `tinyodlc inspect` (constant inputs of the nodes after
             optimization: weights, plus small shape/pad constants)
  MACs       multiply-accumulates counted by `tinyodlc inspect` (its per-node rule)
  flash      fp32 bytes of constant data of the compiled model (kWeightBytes of `tinyodlc compile`)
  naive peak activation bytes of the ONNX graph in its own node order when every tensor lives
             from its producer to its last consumer and nothing is shared or computed in place
             (graph inputs and outputs included; initializers and Constant outputs excluded);
             computed here from onnx shape inference, independently of the compiler
  arena      the activation arena tinyodlc plans (kArenaBytes)
Needs only python3-onnx and a tinyodlc binary:
    /usr/bin/python3 examples/models/model_stats.py --tinyodlc build/tinyodlc
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

ROOT = os.path.dirname(os.path.abspath(__file__))
ELEM_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8}


def _attr(n, name, default=None):
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _eval_const(n, ins):
    """numpy evaluation of the small constant (shape / pad computing) subgraphs of the exports."""
    op = n.op_type
    if op == "Constant":
        return numpy_helper.to_array(_attr(n, "value"))
    if op == "Unsqueeze":
        axes = _attr(n, "axes") if len(ins) < 2 else ins[1]
        x = ins[0]
        for ax in sorted(int(a) % (x.ndim + len(axes)) for a in axes):
            x = np.expand_dims(x, ax)
        return x
    if op == "Squeeze":
        axes = _attr(n, "axes") if len(ins) < 2 else ins[1]
        return np.squeeze(ins[0], axis=tuple(int(a) for a in axes)) if axes is not None else np.squeeze(ins[0])
    if op == "Shape":
        return np.array(ins[0].shape, dtype=np.int64)
    if op == "Concat":
        return np.concatenate(ins, axis=_attr(n, "axis"))
    if op == "Cast":
        to = _attr(n, "to")
        if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):
            return ins[0].astype(onnx.helper.tensor_dtype_to_np_dtype(to))
        return ins[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[to])  # onnx < 1.13 (Debian 12: 1.12)
    if op == "Reshape":
        shape = [d if d != 0 else ins[0].shape[i] for i, d in enumerate(ins[1])]
        return ins[0].reshape(shape)
    if op == "Transpose":
        return np.transpose(ins[0], _attr(n, "perm"))
    if op == "ConstantOfShape":
        v = _attr(n, "value")
        fill = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
        return np.full(tuple(int(d) for d in ins[0]), fill.reshape(-1)[0], dtype=fill.dtype)
    if op == "Gather":
        return np.take(ins[0], ins[1], axis=_attr(n, "axis", 0))
    if op == "Slice":
        x = ins[0]
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            dim = x.shape[ax]
            st = int(np.clip(st + dim if st < 0 else st, 0 if sp > 0 else -1, dim if sp > 0 else dim - 1))
            en = int(np.clip(en + dim if en < 0 else en, -1, dim))
            sl[ax] = slice(st, en if en >= 0 else None, int(sp))
        return x[tuple(sl)]
    if op == "Div":
        return ins[0] // ins[1] if ins[0].dtype.kind in "iu" else ins[0] / ins[1]
    binops = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal}
    if op in binops:
        return binops[op](ins[0], ins[1])
    if op == "Where":
        return np.where(ins[0], ins[1], ins[2])
    return None


def static_shapes(m):
    """{tensor name: static shape} of the graph inputs and the shape-inferred tensors."""
    r = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if vi.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            r[vi.name] = tuple(d.dim_value for d in dims)
    return r


def fold_shape_constants(m, shapes=None):
    """Replaces constant-only nodes by initializers so that onnx shape inference sees the
    reshape shapes and pads of un-folded (training-friendly) exports. shapes: known static
    shapes; a Shape node of such a tensor folds too (pads computed from x.shape)."""
    g = m.graph
    known = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    keep = []
    for n in g.node:
        if n.op_type == "Shape" and shapes and n.input[0] in shapes and not n.attribute:
            val = np.array(shapes[n.input[0]], dtype=np.int64)
            known[n.output[0]] = val
            g.initializer.append(numpy_helper.from_array(val, n.output[0]))
            continue
        ins = [known.get(t) if t else None for t in n.input]
        val = None
        if all(t == "" or t in known for t in n.input) and len(n.output) == 1:
            try:
                val = _eval_const(n, ins)
            except Exception:  # noqa: BLE001 - anything unusual stays a node
                val = None
        if val is not None and (val.size <= 4096):
            known[n.output[0]] = np.asarray(val)
            g.initializer.append(numpy_helper.from_array(np.asarray(val), n.output[0]))
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    return m


def naive_peak(path):
    m = onnx.load(path)
    nodes = -1
    while nodes != len(m.graph.node):  # fold, infer shapes, fold Shape of inferred tensors, ...
        nodes = len(m.graph.node)
        m = fold_shape_constants(m, static_shapes(m))
        m = shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    g = m.graph
    sizes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        dims = [d.dim_value for d in tt.shape.dim]
        if all(d > 0 for d in dims) or not dims:
            sizes[vi.name] = int(np.prod(dims, dtype=np.int64)) * ELEM_BYTES.get(tt.elem_type, 4)
    consts = {t.name for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts.update(n.output)
    start, end = {}, {}
    for vi in g.input:
        if vi.name not in consts:
            start[vi.name] = 0
    for i, n in enumerate(g.node):
        for t in n.input:
            if t in start:
                end[t] = i
        for t in n.output:
            if t and t not in consts:
                start[t] = i
                end.setdefault(t, i)
    for vi in g.output:
        end[vi.name] = len(g.node)
    missing = [t for t in start if t not in sizes]
    if missing:
        raise RuntimeError(f"{path}: no static shape for {missing[:5]}")
    peak = 0
    for i in range(len(g.node)):
        live = sum(sizes.get(t, 0) for t in start if start[t] <= i <= end.get(t, start[t]))
        peak = max(peak, live)
    return peak


def tinyodlc_numbers(tinyodlc, path):
    p = subprocess.run([tinyodlc, "inspect", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mt = re.search(r"total: (\d+) parameters, (\d+) MACs", p.stdout)
    if p.returncode != 0 or not mt:
        msg = p.stdout.strip().splitlines()
        return None, (msg[0] if msg else f"exit {p.returncode}")
    with tempfile.TemporaryDirectory() as d:
        c = subprocess.run([tinyodlc, "compile", path, "-o", d], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        hdr = [f for f in os.listdir(d) if f.endswith(".h")]
        text = open(os.path.join(d, hdr[0])).read() if c.returncode == 0 and hdr else ""
    w = re.search(r"kWeightBytes = (\d+)", text)
    a = re.search(r"kArenaBytes = (\d+)", text)
    return (int(mt.group(1)), int(mt.group(2)), int(w.group(1)) if w else None, int(a.group(1)) if a else None), None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tinyodlc", required=True)
    args = ap.parse_args()
    rows = []
    for family in sorted(os.listdir(ROOT)):
        fdir = os.path.join(ROOT, family)
        if not os.path.isdir(fdir):
            continue
        for model in sorted(os.listdir(fdir)):
            path = os.path.join(fdir, model, model + ".onnx")
            if os.path.exists(path):
                rows.append((family, model, path))
    print("| model | inputs | outputs | params | MACs | fp32 flash bytes | naive activation peak | tinyodlc arena | .onnx bytes |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for family, model, path in rows:
        m = onnx.load(path)
        shape = lambda vi: "x".join(str(d.dim_value) if d.HasField("dim_value") else "?"  # noqa: E731
                                    for d in vi.type.tensor_type.shape.dim)
        ins = ", ".join(f"{vi.name} {shape(vi)}" for vi in m.graph.input)
        outs = ", ".join(f"{vi.name} {shape(vi)}" for vi in m.graph.output)
        nums, err = tinyodlc_numbers(args.tinyodlc, path)
        peak = naive_peak(path)
        size = os.path.getsize(path)
        if nums:
            params, macs, wbytes, arena = nums
            print(f"| {family}/{model} | {ins} | {outs} | {params:,} | {macs:,} | {wbytes:,} | {peak:,} | "
                  f"{arena:,} | {size:,} |")
        else:
            print(f"| {family}/{model} | {ins} | {outs} | - | - | - | {peak:,} | - | {size:,} |", flush=True)
            print(f"{family}/{model}: tinyodlc: {err}", file=sys.stderr)


if __name__ == "__main__":
    main()
