#!/usr/bin/python3
"""int8 PTQ on EmbBERT-Q variants (issue 18): every variant of embbert_variants.py, quantized
with `tinyodlc compile --quantize int8 --calibration CAL` on its 8 calibration sets, must reach
centered cosine >= 0.97 and top-1 agreement >= 95 % against the float model on its 32 held-out
sets (the report's evaluation, quantization.json: the compiler's reference kernels, which the
generated code calls). The float model is checked against PyTorch first (`tinyodlc check` on
--float-sets held-out sets, generated code on the host), so the float reference is the model.

Needs torch (python3-torch) to generate the variants; exits 77 (ctest: skipped) without it.
Writes WORK/embbert_variants.md (the table) and WORK/embbert_variants.json.

usage: embbert_variants_check.py --tinyodlc BIN --work DIR [--only NAME...] [--method M]
                                 [--float-sets N] [--extra ARG...]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

COS_MIN, TOP1_MIN = 0.97, 0.95


def run(cmd, timeout=900):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", nargs="*", help="these variants only (ignored with TINYODLC_FULL=1: every variant)")
    ap.add_argument("--method", default=None, help="--calibration-method (default: the compiler's)")
    ap.add_argument("--float-sets", type=int, default=1, help="held-out sets checked float vs PyTorch")
    ap.add_argument("--extra", nargs="*", default=[], help="more compile options")
    a = ap.parse_args()
    if os.environ.get("TINYODLC_FULL") == "1":
        a.only = None  # the full suite: every variant, the 256-token paper-sized one included
    try:
        import torch  # noqa: F401
    except ImportError:
        print("SKIP: python3-torch is not installed (needed to generate the variants)")
        return 77
    import embbert_variants as ev
    tool = os.path.abspath(a.tinyodlc)
    os.makedirs(a.work, exist_ok=True)
    rows, failures = [], 0
    for v in ev.VARIANTS:
        if a.only and v["name"] not in a.only:
            continue
        t0 = time.time()
        folder, info = ev.generate(v, a.work, 8, 32)
        info = json.load(open(os.path.join(folder, "info.json")))
        t_gen = time.time() - t0
        model = os.path.join(folder, v["name"] + ".onnx")
        problems = []
        # float build vs PyTorch (generated code, host)
        for sd in sorted(glob.glob(os.path.join(folder, "eval", "set_*")))[:a.float_sets]:
            r = subprocess.run([tool, "check", model, "--data", sd, "--rtol", "1e-3", "--atol", "1e-4",
                                "--build-dir", os.path.join(folder, "float_build")], capture_output=True, text=True,
                               timeout=900)
            if r.returncode != 0:
                problems.append(f"float build differs from PyTorch on {os.path.basename(sd)}: {r.stdout[-500:]}"
                                f"{r.stderr[-1500:]}")
        out = os.path.join(folder, "int8")
        cmd = [tool, "compile", model, "-o", out, "--quantize", "int8", "--calibration", os.path.join(folder, "cal"),
               "--quant-eval", os.path.join(folder, "eval")] + a.extra
        if a.method:
            cmd += ["--calibration-method", a.method]
        run(cmd)
        rep = json.load(open(os.path.join(out, "quantization.json")))
        o = rep["outputs"][0]
        cos, top1 = o["centered_cosine"], o["top1_agreement"]
        if cos is None or cos < COS_MIN:
            problems.append(f"centered cosine {cos} < {COS_MIN}")
        if top1 is None or top1 < TOP1_MIN:
            problems.append(f"top-1 agreement {top1} < {TOP1_MIN}")
        worst = sorted((t for t in rep["tensors"] if t["sqnr_db"] is not None), key=lambda t: t["sqnr_db"])[:3]
        row = dict(name=v["name"], vocab=v["vocab"], d=v["d"], L=v["max_len"], layers=v["layers"], mask=v["mask"],
                   norm=v["norm"], residual=v["residual"], opset=v["opset"], centered_cosine=cos, top1=top1,
                   fallback=rep["float_fallback"], worst_tensors=worst, generate_s=round(t_gen, 1),
                   seconds=round(time.time() - t0, 1), float_eval_acc=info["eval_acc"], problems=problems)
        rows.append(row)
        status = "ok" if not problems else "FAIL " + "; ".join(problems)
        print(f"{v['name']}: centered cosine {cos:.4f} top-1 {100 * top1:.1f}% ({row['seconds']} s) {status}",
              flush=True)
        for t in worst:
            print(f"    worst SQNR {t['sqnr_db']:.1f} dB  {t['name']}")
        failures += bool(problems)
    md = ("| variant | vocab | d | L | layers | mask | norm | residual | centered cosine | top-1 |\n"
          "|---|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        md += (f"| {r['name']} | {r['vocab']} | {r['d']} | {r['L']} | {r['layers']} | {r['mask']} | {r['norm']} | "
               f"{'on' if r['residual'] else 'off'} | {r['centered_cosine']:.4f} | {100 * r['top1']:.1f}% |\n")
    open(os.path.join(a.work, "embbert_variants.md"), "w").write(md)
    json.dump(rows, open(os.path.join(a.work, "embbert_variants.json"), "w"), indent=1)
    print(md)
    print(f"{failures} of {len(rows)} variant(s) below centered cosine {COS_MIN} / top-1 {TOP1_MIN}"
          if failures else f"all {len(rows)} variants pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
