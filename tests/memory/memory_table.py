#!/usr/bin/env python3
"""Prints the table of docs/memory.md ("Measured"): for every example model, float32 and int8
(`--quantize int8 --calibration <model folder>`), the host plan (peak, liveness lower bound,
greedy by size, from memory.json) and where the plan goes on nicla-vision and psoc62s2 (bytes
per region, or "does not fit" for exit 5). Exports with identical numbers share a row.
Not a test (run_memory_checks.py checks the plans); run by hand:
    python3 tests/memory/memory_table.py --tinyodlc build/tinyodlc
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def compile_plan(tinyodlc, model, variant, target, tmp):
    out = os.path.join(tmp, f"{os.path.basename(model)}-{variant}-{target}")
    q = ["--quantize", "int8", "--calibration", os.path.dirname(model)] if variant == "int8" else []
    p = subprocess.run([tinyodlc, "compile", model, "-o", out, "--target", target] + q, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode == 5:
        return None
    if p.returncode != 0:
        sys.exit(f"{model} [{variant}, {target}]: exit {p.returncode}\n{p.stdout}")
    with open(os.path.join(out, "memory.json")) as f:
        return json.load(f)


def placement(mj):
    if mj is None:
        return "**does not fit**"
    return " + ".join(f"{r['name']} {r['used']:,}" for r in mj["regions"] if r["used"] > 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tinyodlc", required=True)
    a = ap.parse_args()
    models = sorted(glob.glob(os.path.join(ROOT, "examples", "tiny_cnn", "*.onnx")))
    models += sorted(glob.glob(os.path.join(ROOT, "examples", "models", "*", "*", "*.onnx")))
    groups = {}
    with tempfile.TemporaryDirectory(prefix="tinyodlc-memtable-") as tmp:
        for m in models:
            name = os.path.splitext(os.path.basename(m))[0]
            row = []
            for v in ("float", "int8"):
                h = compile_plan(a.tinyodlc, m, v, "host", tmp)
                row.append((h["peak_bytes"], h["lower_bound_bytes"], h["greedy_by_size_bytes"],
                            placement(compile_plan(a.tinyodlc, m, v, "nicla-vision", tmp)),
                            placement(compile_plan(a.tinyodlc, m, v, "psoc62s2", tmp))))
            base = name.replace("_op13", "").replace("_op17", "").replace("_train", "")
            groups.setdefault((base, json.dumps(row)), []).append(name)
    print("| model (exports) | variant | peak (bytes) | lower bound | peak / bound | greedy by size | "
          "nicla-vision: bytes per region | psoc62s2 |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for (base, rj), names in groups.items():
        suffix = [n[len(base):].lstrip("_") for n in names]
        label = f"{base} ({', '.join(s or '-' for s in suffix)})" if suffix != [""] else base
        for v, (pk, lb, gr, ni, ps) in zip(("float", "int8"), json.loads(rj)):
            ratio = f"{pk / lb:.3f}" if lb else "-"
            if lb and pk / lb > 1.05:
                ratio = f"**{ratio}**"
            print(f"| {label if v == 'float' else ''} | {v} | {pk:,} | {lb:,} | {ratio} | {gr:,} | {ni} | {ps} |")


if __name__ == "__main__":
    main()
