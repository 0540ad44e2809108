#!/usr/bin/env python3
"""int8 post-training quantization of the model zoo, evaluated on held-out inputs.

For every example model (examples/models/*/*_op13, float inference exports; the _op17 twins
are the same graphs and the *_train exports are for on-device training):
  1. calibration sets (--cal, default 32) and a disjoint evaluation set (--eval, default 32)
     from the zoo's own data generators (examples/models/quant_data.py, other seeds than the
     reference sets), written into the work folder at test time; the generators of the
     EmbBERT-Q and keyword-spotting models are first checked to reproduce the committed
     reference inputs (quant_data.py --check-refs);
  2. `tinyodlc compile --quantize int8 --calibration CAL --quant-eval EVAL`;
  3. from its quantization.json: every float output's centered cosine similarity to the float
     model (outputs minus the mean float output over the evaluation inputs) >= 0.98, top-1
     agreement >= 95 % for the classifier outputs (logits/probs), weights ~1 byte/parameter;
  4. the same with the generated code: the int8 and the float model are built for the host
     (`tinyodlc run`) and run on the evaluation sets (--crosscheck N: the first N only); their
     centered cosine and top-1 agreement must pass too, and agree with the report's (1e-3);
  5. models without float fallback: the int8 generated code built for Cortex-M4 with
     -mfloat-abi=soft reaches floating point only from the input QuantizeLinear and the output
     DequantizeLinear (test_qdq_models.check_arm_soft_float);
  6. EmbBERT-Q release configuration: weights + activation arena (incl. scratch) <= 781 kB
     (the paper's total for its 8-bit model), from the compile's memory.json.
Writes WORK/zoo_ptq.md (the table of docs/quantization.md) and WORK/zoo_ptq.json.

usage: zoo_ptq.py --tinyodlc BIN [--work DIR] [--models NAME...] [--method minmax]
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ZOO = os.path.join(ROOT, "examples", "models")
sys.path.insert(0, ZOO)
import quant_data  # noqa: E402
sys.path.insert(0, HERE)
from test_qdq_models import check_arm_soft_float  # noqa: E402

COS_MIN = 0.98
TOP1_MIN = 0.95
CLASSIFIER_OUTPUTS = {"logits", "probs"}
EMBBERT_Q_BUDGET = 781000  # bytes: EmbBERT-Q paper, total memory of its 8-bit model (781 kB)


def zoo_models():
    out = []
    for d in sorted(glob.glob(os.path.join(ZOO, "*", "*_op13"))):
        if "_train" in os.path.basename(d):
            continue
        out.append(d)
    return out


def run(cmd, timeout=900):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def params_and_float_bytes(onnx_file):
    m = onnx.load(onnx_file)
    n = 0
    for t in m.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            n += int(np.prod(t.dims)) if len(t.dims) else 1
    return n


def param_array_bytes(cpp):
    """Bytes of the constant kernel-parameter arrays (`const int32_t conv1_pads[] = {...}`, the
    "kernel parameters" section) of a generated model: shapes, strides, per-channel
    requantization multipliers and shifts."""
    sizes = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "int64_t": 8, "float": 4}
    total = 0
    a = cpp.find("// ---- kernel parameters")
    cpp = cpp[a:cpp.find("// ---- activation arena", a)]
    for m in re.finditer(r"const (\w+) \w+\[\d*\]\s*=\s*\{([^}]*)\}", cpp):
        total += sizes.get(m.group(1), 8) * len([x for x in m.group(2).split(",") if x.strip()])
    return total


def centered_cos(f, q, mean):
    a = (f - mean).ravel().astype(np.float64)
    b = (q - mean).ravel().astype(np.float64)
    if not a.any() and not b.any():
        return 1.0
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work", help="work folder (kept); default: a temporary folder, removed")
    ap.add_argument("--models", nargs="*", help="model names (e.g. kws dscnn_kws stn_t4_gray64_g)")
    ap.add_argument("--cal", type=int, default=32)
    ap.add_argument("--eval", type=int, default=32)
    ap.add_argument("--method", default="minmax")
    ap.add_argument("--crosscheck", type=int, default=-1,
                    help="evaluation sets run through the generated code (default: all)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tinyodlc-zoo-ptq-")
    os.makedirs(work, exist_ok=True)
    tool = os.path.abspath(a.tinyodlc)
    models = zoo_models()
    if a.models:
        models = [m for m in models if quant_data.model_name(m) in a.models]
    failures, rows, js = 0, [], []
    # the data generators still match the committed models (cheap ones; all: quant_data.py --check-refs)
    drift = quant_data.check_refs([m for m in models if "embbert_q" in m or m.endswith("kws_op13")])
    if drift:
        print(f"FAIL examples/models/quant_data.py no longer reproduces {drift} reference input(s): update it "
              "to the export script that made the committed models")
        failures += 1
    try:
        for d in models:
            name = quant_data.model_name(d)
            t0 = time.time()
            mw = os.path.join(work, name)
            shutil.rmtree(mw, ignore_errors=True)
            cal, ev, out = os.path.join(mw, "cal"), os.path.join(mw, "eval"), os.path.join(mw, "out")
            names = quant_data.graph_inputs(d)
            shared = os.path.join(work, "shared")
            seed = zlib.crc32(name.encode()) % 100000  # per model, independent of --models
            quant_data.write_sets(cal, names, quant_data.make_inputs(d, a.cal, 1000000 + seed, tool, shared))
            quant_data.write_sets(ev, names, quant_data.make_inputs(d, a.eval, 2000000 + seed, tool, shared))
            model = quant_data.onnx_path(d)
            run([tool, "compile", model, "-o", out, "--quantize", "int8", "--calibration", cal, "--quant-eval", ev,
                 "--calibration-method", a.method])
            rep = json.load(open(os.path.join(out, "quantization.json")))
            mem = json.load(open(os.path.join(out, "memory.json")))
            nparam = params_and_float_bytes(model)
            problems = []
            res = dict(model=name, outputs=[], flash_float=rep["flash_bytes_float"], flash_int8=rep["flash_bytes_int8"],
                       params=nparam, arena=mem["peak_bytes"], fallback=rep["float_fallback"])
            float_outputs = {o.name for o in onnx.load(model, load_external_data=False).graph.output
                             if o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
            for o in rep["outputs"]:
                cos, top1 = o["centered_cosine"], o["top1_agreement"]
                if o["name"] not in float_outputs or cos is None:  # e.g. a bool decision
                    continue
                res["outputs"].append(dict(name=o["name"], centered_cosine=cos, top1=top1))
                if cos < COS_MIN:
                    problems.append(f"{o['name']}: centered cosine {cos:.4f} < {COS_MIN}")
                if o["name"] in CLASSIFIER_OUTPUTS and (top1 is None or top1 < TOP1_MIN):
                    problems.append(f"{o['name']}: top-1 agreement {top1} < {TOP1_MIN}")
            if name == "embbert_q":  # the release configuration: the paper's 8-bit total
                # + the kernel parameter arrays of the generated code (per-channel mult/shift, ...)
                cpp = open(os.path.join(out, os.path.splitext(os.path.basename(model))[0] + ".cpp")).read()
                params_bytes = param_array_bytes(cpp)
                total = mem["weight_bytes"] + params_bytes + mem["peak_bytes"]
                res["memory_total"] = dict(weights=mem["weight_bytes"], kernel_parameters=params_bytes,
                                           arena=mem["peak_bytes"], total=total)
                print(f"     embbert_q: weights {mem['weight_bytes']} + kernel parameter arrays {params_bytes} + "
                      f"arena {mem['peak_bytes']} = {total} bytes (budget {EMBBERT_Q_BUDGET})")
                if total > EMBBERT_Q_BUDGET:
                    problems.append(f"weights {mem['weight_bytes']} + parameters {params_bytes} + arena "
                                    f"{mem['peak_bytes']} = {total} bytes > {EMBBERT_Q_BUDGET}")
            # weights ~1 byte/parameter: int8 flash <= params + 4 bytes per output channel-ish slack
            if rep["flash_bytes_int8"] > 1.35 * nparam + 4096:
                problems.append(f"int8 flash {rep['flash_bytes_int8']} bytes for {nparam} parameters")
            # the generated code: int8 vs float on the first evaluation sets, run through the
            # host builds of both (independent of the report's evaluation with the reference kernels)
            if a.crosscheck:
                sets = sorted(glob.glob(os.path.join(ev, "set_*")))
                sets = sets[:a.crosscheck] if a.crosscheck > 0 else sets
                fm = quant_data.FloatModel(tool, d, mw, tag="_float", first_inputs=sets[0])
                qm = quant_data.FloatModel(tool, d, mw, tag="_int8", first_inputs=sets[0],
                                           extra=["--quantize", "int8", "--calibration", cal,
                                                  "--calibration-method", a.method])
                onames = [o.name for o in onnx.load(model, load_external_data=False).graph.output]
                fo, qo = [], []
                for sd in sets:
                    ins = [numpy_helper.to_array(onnx.load_tensor(os.path.join(sd, f"input_{j}.pb")))
                           for j in range(len(names))]
                    fo.append(dict(zip(onames, fm(*ins))))
                    qo.append(dict(zip(onames, qm(*ins))))
                for o in res["outputs"]:
                    f = np.stack([r[o["name"]] for r in fo]).astype(np.float64)
                    q = np.stack([r[o["name"]] for r in qo]).astype(np.float64)
                    c = centered_cos(f, q, f.mean(axis=0))
                    o["generated_code_centered_cosine"] = c
                    if c < COS_MIN and len(sets) >= 8:  # (a centered cosine over 2-3 sets says little)
                        problems.append(f"{o['name']}: generated int8 code vs float code on {len(sets)} sets: "
                                        f"centered cosine {c:.4f}")
                    if len(sets) == a.eval and abs(c - o["centered_cosine"]) > 1e-3:
                        problems.append(f"{o['name']}: the report's centered cosine {o['centered_cosine']:.5f} "
                                        f"differs from the generated code's {c:.5f}")
                    if o["name"] in CLASSIFIER_OUTPUTS:
                        agree = float(np.mean(f.reshape(len(sets), -1).argmax(1) == q.reshape(len(sets), -1).argmax(1)))
                        o["generated_code_top1"] = agree
                        if agree < TOP1_MIN:
                            problems.append(f"{o['name']}: generated code top-1 agreement {agree:.3f}")
                if not rep["float_fallback"]:  # all-integer model: no float outside the input/output Q/DQ
                    try:
                        res["soft_float_check"] = check_arm_soft_float(
                            qm.dir, name, os.path.splitext(os.path.basename(model))[0]) is not None
                    except AssertionError as ex:
                        problems.append(str(ex))
            res["seconds"] = round(time.time() - t0, 1)
            js.append(res)
            cosines = ", ".join(f"{o['name']} {o['centered_cosine']:.4f}" for o in res["outputs"])
            top1s = ", ".join(f"{100 * o['top1']:.0f}%" for o in res["outputs"]
                              if o["name"] in CLASSIFIER_OUTPUTS and o["top1"] is not None) or "-"
            fb = ", ".join(f"{k} x{len(v)}" for k, v in res["fallback"].items()) or "none"
            gc = ", ".join(f"{o['generated_code_centered_cosine']:.4f}" for o in res["outputs"]
                           if "generated_code_centered_cosine" in o) or "-"
            rows.append(f"| {name} | {cosines} | {gc} | {top1s} | {res['flash_float']} -> {res['flash_int8']} "
                        f"({res['params']} params) | {res['arena']} | {fb} |")
            if problems:
                failures += 1
                print(f"FAIL {name} ({res['seconds']} s): " + "; ".join(problems), flush=True)
            else:
                print(f"ok   {name} ({res['seconds']} s): {cosines}; top-1 {top1s}; flash {res['flash_float']} -> "
                      f"{res['flash_int8']}; float fallback: {fb}", flush=True)
    except (RuntimeError, subprocess.TimeoutExpired) as ex:
        print(f"FAIL {ex}")
        failures += 1
    finally:
        table = ("| model | centered cosine (report) | centered cosine (generated code) | top-1 agreement | "
                 "flash bytes float -> int8 | int8 arena bytes | float fallback |\n"
                 "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
        with open(os.path.join(work, "zoo_ptq.md"), "w") as f:
            f.write(table)
        with open(os.path.join(work, "zoo_ptq.json"), "w") as f:
            json.dump(js, f, indent=1)
        print(table)
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print("PASS" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
