#!/usr/bin/env python3
"""Bit-exact check of the ONNX quantization node tests.

`tinyodlc check` compares with ONNX's tolerance (rtol 1e-3), which would let an off-by-one
in a uint8/int16 output pass. This script runs `tinyodlc run` on every quantization node
test that tinyodlc supports and requires the outputs to be *identical* (same dtype, shape,
bytes; float outputs bit-identical) to the reference outputs shipped with the test.

usage: node_tests_exact.py --tinyodlc BIN [--tests-dir DIR]
Exit 0 when every supported test matches exactly, 1 otherwise.
"""
import argparse, os, re, subprocess, sys, tempfile

import numpy as np
from onnx import numpy_helper, TensorProto

PATTERN = re.compile(r"^test_(quantizelinear|dequantizelinear|dynamicquantizelinear|qlinearconv|qlinearmatmul|"
                     r"matmulinteger|convinteger)")


def load(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--tests-dir", default=os.path.join(os.path.dirname(__file__), "../../../shared/onnx-node-tests"))
    args = ap.parse_args()
    node_dir = os.path.join(args.tests_dir, "node")
    tests = sorted(t for t in os.listdir(node_dir) if PATTERN.match(t) and "expanded" not in t)
    exact = bad = skipped = 0
    for t in tests:
        d = os.path.join(node_dir, t)
        for ds in sorted(x for x in os.listdir(d) if x.startswith("test_data_set_")):
            with tempfile.TemporaryDirectory() as out:
                r = subprocess.run([args.tinyodlc, "run", os.path.join(d, "model.onnx"), "--inputs",
                                    os.path.join(d, ds), "--outputs", out], capture_output=True, text=True)
                if r.returncode != 0:
                    if re.search(r"unsupported|not supported", r.stderr, re.I):
                        skipped += 1
                        continue
                    print(f"FAILED {t}/{ds}: exit {r.returncode}: {r.stderr.strip()[:300]}")
                    bad += 1
                    continue
                k = 0
                ok = True
                while os.path.exists(os.path.join(d, ds, f"output_{k}.pb")):
                    e = load(os.path.join(d, ds, f"output_{k}.pb"))
                    a = load(os.path.join(out, f"output_{k}.pb"))
                    if a.dtype != e.dtype or a.shape != e.shape or a.tobytes() != e.tobytes():
                        ok = False
                        print(f"MISMATCH {t}/{ds} output {k}: got {a.dtype}{a.shape} {a.ravel()[:8]}, "
                              f"expected {e.dtype}{e.shape} {e.ravel()[:8]}")
                    k += 1
                if ok:
                    exact += 1
                else:
                    bad += 1
    print(f"{exact} bit-exact, {bad} failed, {skipped} unsupported")
    return 1 if bad or exact == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
