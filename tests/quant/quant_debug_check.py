#!/usr/bin/python3
"""`tinyodlc compile --quantize int8 --quant-debug` (per-tensor report, issue 18) on the zoo's
masked EmbBERT-Q (embbert_q_small_mask_op13, 8 calibration sets from quant_data.py):

- quant_debug.md / quant_debug.json exist; every tensor listed once in graph order (the order of
  the ONNX graph's nodes: each tensor's producer comes after the producers of the tensors it
  reads), `worst_first` is a permutation sorted by `added`;
- the output `logits` (dequantized from the int32 accumulator, tinyodlc.QMatMulDq) is not listed;
- a tensor quantized badly on purpose (--quant-range NAME=LO:HI with an eighth of its
  calibrated range) comes first in worst_first, with clipped > 10 %, and the output gets worse;
- --quant-range with an unknown name fails naming it; --quant-debug without --quantize is a
  usage error;
- mixed precision: --int8-keep-float NAME keeps NAME float (no int8 twin in quant_debug.json, listed
  in quantization.json `kept_float` with its RAM/flash cost and on stderr); --int8-sensitivity 1
  keeps one tensor that raises the output score on the calibration sets and says so; an unknown
  --int8-keep-float name fails naming it.

usage: quant_debug_check.py --tinyodlc BIN --work DIR
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "examples", "models", "embbert_q", "embbert_q_small_mask_op13")


def run(cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if ok and r.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)} ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    cal = os.path.join(a.work, "cal")
    if not os.path.isdir(os.path.join(cal, "set_007")):
        run([sys.executable, os.path.join(ROOT, "examples", "models", "quant_data.py"), MODEL, "--outdir", cal,
             "--count", "8", "--seed", "181"])
    model = os.path.join(MODEL, "embbert_q_small_mask_op13.onnx")
    base = [a.tinyodlc, "compile", model, "--quantize", "int8", "--calibration", cal, "--quant-debug"]
    fails = []

    def check(cond, msg):
        if not cond:
            fails.append(msg)

    out1 = os.path.join(a.work, "plain")
    r = run(base + ["-o", out1])
    check("quant-debug:" in r.stderr, "no quant-debug note on stderr")
    for f in ("quant_debug.md", "quant_debug.json"):
        check(os.path.exists(os.path.join(out1, f)), f"{f} missing")
    dbg = json.load(open(os.path.join(out1, "quant_debug.json")))
    rep = json.load(open(os.path.join(out1, "quantization.json")))
    names = [t["name"] for t in dbg["tensors"]]
    check(len(names) == len(set(names)) and len(names) > 30, f"{len(names)} tensors, duplicates?")
    check(sorted(dbg["worst_first"]) == sorted(names), "worst_first is not a permutation of the tensors")
    added = {t["name"]: t["added"] for t in dbg["tensors"]}
    w = [added[n] for n in dbg["worst_first"]]
    check(all(x >= y for x, y in zip(w, w[1:])), "worst_first is not sorted by added")
    # graph order: the position of each tensor's producer in the ONNX graph increases
    import onnx
    g = onnx.load(model).graph
    pos = {o: i for i, n in enumerate(g.node) for o in n.output}
    order = [pos[n] for n in names if n in pos]
    check(len(order) > 20 and order == sorted(order), "tensors are not in graph order")
    # the logits come from the int32 accumulator (QMatMulDq): no int8 twin to report
    check("logits" not in names, "logits (dequantized from the accumulator) listed as an int8 tensor")
    want = rep["outputs"][0]["centered_cosine"]
    for t in dbg["tensors"]:
        check(0 <= t["clipped"] <= 1 and (t["rel_err"] is None or t["rel_err"] >= 0), f"bad numbers for {t['name']}")

    # a tensor in the middle, quantized badly on purpose
    victim = next(t for t in dbg["tensors"] if t["op"] == "Conv" and t["hi"] - t["lo"] > 0)
    lo, hi = victim["lo"] / 8, victim["hi"] / 8
    out2 = os.path.join(a.work, "bad")
    run(base + ["-o", out2, "--quant-range", f"{victim['name']}={lo}:{hi}"])
    dbg2 = json.load(open(os.path.join(out2, "quant_debug.json")))
    rep2 = json.load(open(os.path.join(out2, "quantization.json")))
    v2 = next(t for t in dbg2["tensors"] if t["name"] == victim["name"])
    check(dbg2["worst_first"][0] == victim["name"], f"{victim['name']} clipped on purpose is not worst: "
          f"{dbg2['worst_first'][:3]}")
    check(v2["clipped"] > 0.1, f"clipped share {v2['clipped']} of the badly quantized tensor")
    check(abs(v2["hi"] - hi) < 1e-6 * max(1, abs(hi)), "the range override is not the reported range")
    check(rep2["outputs"][0]["centered_cosine"] < want, "the output did not get worse")

    r = run(base + ["-o", os.path.join(a.work, "err"), "--quant-range", "no_such_tensor=0:1"], ok=False)
    check(r.returncode != 0 and "no_such_tensor" in r.stderr, f"unknown --quant-range name: rc {r.returncode} {r.stderr}")
    r = run([a.tinyodlc, "compile", model, "-o", os.path.join(a.work, "err2"), "--quant-debug"], ok=False)
    check(r.returncode == 2 and "--quant-debug" in r.stderr, f"--quant-debug alone: rc {r.returncode} {r.stderr}")
    r = run(base + ["-o", os.path.join(a.work, "err3"), "--quant-range", "x=2:1"], ok=False)
    check(r.returncode == 2 and "LO <= HI" in r.stderr, f"--quant-range x=2:1: rc {r.returncode} {r.stderr}")

    # mixed precision
    out3 = os.path.join(a.work, "keep")
    r = run(base + ["-o", out3, "--int8-keep-float", victim["name"]])
    dbg3 = json.load(open(os.path.join(out3, "quant_debug.json")))
    rep3 = json.load(open(os.path.join(out3, "quantization.json")))
    check(victim["name"] not in [t["name"] for t in dbg3["tensors"]], "kept-float tensor still has an int8 twin")
    kf = rep3["kept_float"]
    check(len(kf) == 1 and kf[0]["name"] == victim["name"] and kf[0]["chosen_by"] == "--int8-keep-float" and
          isinstance(kf[0]["ram_bytes"], int) and isinstance(kf[0]["flash_bytes"], int), f"kept_float {kf}")
    check(f"'{victim['name']}' (Conv) kept in float" in r.stderr, "kept-float tensor not announced on stderr")
    check(json.load(open(os.path.join(out1, "quantization.json")))["kept_float"] == [], "kept_float not empty by default")
    out4 = os.path.join(a.work, "sens")
    r = run(base + ["-o", out4, "--int8-sensitivity", "1"])
    kf = json.load(open(os.path.join(out4, "quantization.json")))["kept_float"]
    check(len(kf) <= 1 and all(k["chosen_by"] == "--int8-sensitivity" and k["score_float"] > k["score_int8"]
                               for k in kf), f"--int8-sensitivity 1 chose {kf}")
    check(r.stderr.count("int8-sensitivity:") >= 8, "candidates not reported on stderr")
    check(("kept in float" in r.stderr) == (len(kf) == 1), "choice not announced on stderr")
    r = run(base + ["-o", os.path.join(a.work, "err4"), "--int8-keep-float", "nope"], ok=False)
    check(r.returncode != 0 and "nope" in r.stderr, f"unknown --int8-keep-float: rc {r.returncode} {r.stderr}")

    print(f"victim {victim['name']}: clipped {v2['clipped']:.3f}, added {v2['added']:.4f}; output centered cosine "
          f"{want:.4f} -> {rep2['outputs'][0]['centered_cosine']:.4f}")
    if fails:
        print("FAIL:\n  " + "\n  ".join(fails))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
