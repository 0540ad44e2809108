#!/usr/bin/env python3
"""Whole-model instructions/MAC of the zoo models issue 16 names, float32 and int8, Cortex-M4
(psoc62s2) and M7 (nicla-vision), with the reference kernels ("before": a copy of the target
with "isa": "none") and with the kernel variants ("after"), through `tinyodlc bench` (QEMU
instruction counter). Prints a Markdown table (docs/performance.md). Not a test: about 40
builds and QEMU runs.

  bench_models.py --tinyodlc build/tinyodlc [--models kws,sv,...] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
Z = os.path.join(ROOT, "examples", "models")
MODELS = {  # key: (label, model folder)
    "kws": ("DS-CNN KWS", "tinysv/dscnn_kws_op13"),
    "sv": ("DS-CNN speaker embedder", "tinysv/dscnn_sv_op13"),
    "stn_g": ("StreamTinyNet frame backbone (t4 gray64 g)", "streamtinynet/stn_t4_gray64_g_op13"),
    "dvector": ("d-vector", "tinysv/dvector_op13"),
    "embbert": ("EmbBERT-Q small", "embbert_q/embbert_q_small_op13"),
}
TARGETS = {"m4": "psoc62s2", "m7": "nicla-vision"}


def bench(tool, folder, target_args, quant, build):
    d = os.path.join(Z, folder)
    name = os.path.basename(folder)
    js = os.path.join(build, "r.json")
    cmd = [tool, "bench", os.path.join(d, name + ".onnx"), "--inputs", os.path.join(d, "test_data_set_0"),
           "--json", js, "--build-dir", os.path.join(build, "b")] + target_args
    if quant:
        cmd += ["--quantize", "int8", "--calibration", d]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    if r.returncode:
        print(r.stdout[-3000:], file=sys.stderr)
        return None
    return json.load(open(js))


def totals(j):
    # tinyodlc bench JSON: total instructions and MACs (compiler/bench)
    t = j.get("total", j)
    return t["insns"], t["macs"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    build = tempfile.mkdtemp(prefix="tinyodlc-mbench-")
    res = []
    for key in a.models.split(","):
        label, folder = MODELS[key]
        for quant in (False, True):
            row = {"model": label, "dtype": "int8" if quant else "float32"}
            for core, tname in TARGETS.items():
                tj = json.load(open(os.path.join(ROOT, "targets", tname + ".json")))
                tj["isa"] = "none"
                tfile = os.path.join(build, tname + "_ref.json")
                json.dump(tj, open(tfile, "w"))
                for when, targs in (("before", ["--target-file", tfile]), ("after", ["--target", tname])):
                    j = bench(a.tinyodlc, folder, targs, quant, build)
                    if j is None:
                        row[f"{core}_{when}"] = None
                        continue
                    insns, macs = totals(j)
                    row[f"{core}_{when}"] = insns
                    row[f"{core}_{when}_text"] = j["run"]["sections"]["text"]["model"]
                    row["macs"] = macs
            res.append(row)
            print(json.dumps(row), file=sys.stderr)
    print("| model | dtype | MACs | M4 before | M4 after | M7 before | M7 after | .text M4 before/after |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in res:
        def f(k):
            v = r.get(k)
            return "n/a" if v is None else f"{v:,} ({v / r['macs']:.2f})"
        print(f"| {r['model']} | {r['dtype']} | {r.get('macs', 0):,} | {f('m4_before')} | {f('m4_after')} | "
              f"{f('m7_before')} | {f('m7_after')} | {r.get('m4_before_text')} / {r.get('m4_after_text')} |")
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
