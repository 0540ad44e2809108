#!/usr/bin/env python3
"""Generates calibration / held-out input sets for a model: DIR/set_K/input_N.pb.

Inputs imitate the model's reference sets (test_data_set_*/input_N.pb next to model.onnx,
if any): float inputs ~ normal with mean and std drawn per set within the reference sets' range (or N(0,1)), integer
inputs uniform in the reference sets' [min, max] (token ids, masks). Deterministic per seed,
so calibration (seed 1) and evaluation (seed 2) sets never coincide.

usage: make_sets.py MODEL.onnx OUTDIR --count N --seed S
"""
import argparse, glob, os

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    m = onnx.load(a.model, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    refs = sorted(glob.glob(os.path.join(os.path.dirname(a.model), "test_data_set_*")))
    ref_data = []
    for k, _ in enumerate(inputs):
        arrs = []
        for r in refs:
            p = os.path.join(r, f"input_{k}.pb")
            if os.path.exists(p):
                arrs.append(numpy_helper.to_array(onnx.load_tensor(p)))
        ref_data.append(arrs)
    rng = np.random.default_rng(a.seed)
    for s in range(a.count):
        d = os.path.join(a.outdir, f"set_{s:03d}")
        os.makedirs(d, exist_ok=True)
        for k, inp in enumerate(inputs):
            tt = inp.type.tensor_type
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type) if hasattr(onnx.helper, "tensor_dtype_to_np_dtype") \
                else onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[tt.elem_type]
            refs_k = ref_data[k]
            shape = list(refs_k[0].shape) if refs_k else [d.dim_value or 1 for d in tt.shape.dim]
            if np.issubdtype(dtype, np.floating):
                # mean and amplitude drawn within the reference sets' range, per set
                mus = [float(r.mean()) for r in refs_k] or [0.0]
                sds = [float(r.std()) for r in refs_k] or [1.0]
                mu = rng.uniform(min(mus), max(mus)) if max(mus) > min(mus) else mus[0]
                sd = rng.uniform(min(sds), max(sds)) if max(sds) > min(sds) else sds[0]
                x = rng.normal(mu, sd if sd > 0 else 1.0, size=shape).astype(dtype)
            elif dtype == np.bool_:
                x = rng.integers(0, 2, size=shape).astype(dtype)
            else:
                lo = int(min(r.min() for r in refs_k)) if refs_k else 0
                hi = int(max(r.max() for r in refs_k)) if refs_k else 1
                x = rng.integers(lo, hi + 1, size=shape).astype(dtype)
                # keep structure of masks/positions that are constant across the reference sets
                if refs_k and all(np.array_equal(r, refs_k[0]) for r in refs_k):
                    x = refs_k[0].copy()
            onnx.save_tensor(numpy_helper.from_array(x, inp.name), os.path.join(d, f"input_{k}.pb"))


if __name__ == "__main__":
    main()
