#!/usr/bin/env python3
"""Measures the example models on the two boards' cores in QEMU with `tinyodlc bench`, float32
and int8, and prints the markdown table of docs/target.md ("Measurements").

For every model (default: tiny_cnn and one export of every zoo model), board (psoc62s2 =
Cortex-M4F, nicla-vision = Cortex-M7) and variant (float, int8 = `--quantize int8 --calibration
<model folder>`), runs
    tinyodlc bench MODEL --target BOARD --inputs <model>/test_data_set_0 --json F [int8 flags]
and reports instructions per inference (QEMU count of invoke(), exact), instructions per MAC
(MACs of the float model, as `inspect` counts them), flash and RAM as linked (model + harness,
stack excluded) and the model's stack. A model that does not fit the board is reported as such
(exit 5), with its instruction counts in parentheses measured on the same core with the QEMU
board's 4 MB + 4 MB budget (--target cortex-m4 / cortex-m7). Not a ctest (it takes minutes); run by hand:
    python3 tests/target/bench_table.py --tinyodlc build/tinyodlc [-j 2] [--json all.json]
"""
import argparse
import concurrent.futures as cf
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
Z = os.path.join(ROOT, "examples", "models")
MODELS = [os.path.join(ROOT, "examples", "tiny_cnn", "tiny_cnn.onnx")] + [
    os.path.join(Z, f, m, m + ".onnx") for f, m in [
        ("streamtinynet", "stn_t4_gray64_op13"), ("streamtinynet", "stn_t4_gray64_g_op13"),
        ("streamtinynet", "stn_t4_gray64_h_op13"), ("streamtinynet", "stn_t8_rgb48_op13"),
        ("streamtinynet", "stn_t8_rgb48_g_op13"), ("streamtinynet", "stn_t8_rgb48_h_op13"),
        ("embbert_q", "embbert_q_op13"), ("embbert_q", "embbert_q_small_op13"),
        ("embbert_q", "embbert_q_small_mask_op13"), ("tinysv", "kws_op13"), ("tinysv", "dvector_op13"),
        ("tinysv", "tinysv_op13"), ("tinysv", "dscnn_kws_op13"), ("tinysv", "dscnn_sv_op13")]]
BOARDS = [("psoc62s2", "M4"), ("nicla-vision", "M7")]
QEMU_CORE = {"psoc62s2": "cortex-m4", "nicla-vision": "cortex-m7"}  # same core, 4 MB + 4 MB budget


def bench(tinyodlc, model, board, variant, tmp):
    name = os.path.splitext(os.path.basename(model))[0]
    js = os.path.join(tmp, f"{name}-{board}-{variant}.json")
    cmd = [tinyodlc, "bench", model, "--target", board, "--json", js, "--timeout", "900",
           "--inputs", os.path.join(os.path.dirname(model), "test_data_set_0")]
    if variant == "int8":
        cmd += ["--quantize", "int8", "--calibration", os.path.dirname(model)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode == 5:
        why = next((l for l in p.stderr.splitlines() if "does not fit" in l), p.stderr.strip())
        m = re.search(r"(?:region|the largest,) '([A-Za-z0-9_]+)'|region ([A-Za-z0-9_]+) \(", why)
        r = {"fit": False, "why": why, "region": (m.group(1) or m.group(2)) if m else "?"}
        if board in QEMU_CORE:  # instruction counts on the same core with the QEMU board's budget
            r["qemu_core"] = bench(tinyodlc, model, QEMU_CORE[board], variant, tmp)
        return r
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[-500:]}"}
    with open(js) as f:
        b = json.load(f)
    run = b["run"]
    flash = sum(r["used"] for r in run["regions"] if r["kind"] == "flash")
    ram_regions = [r for r in run["regions"] if r["kind"] == "ram" and r["used"] > 0]
    return {"fit": True, "insns": b["insns"], "macs": b["macs"], "flash": flash,
            "ram": sum(r["used"] for r in ram_regions),
            "ram_regions": {r["name"]: r["used"] for r in ram_regions},
            "model_stack": run["model_stack_bytes"], "sections": run["sections"]}


def fmt_int(v):
    return f"{v:,}"


def float_macs(tinyodlc, model):
    """MACs of the float model as `tinyodlc inspect` counts them (the int8 graph's ops may count
    differently)."""
    p = subprocess.run([tinyodlc, "inspect", model], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"total: (\d+) parameters, (\d+) MACs", p.stdout)
    return int(m.group(2)) if m else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write all measurements to this file")
    ap.add_argument("--filter", default="", help="only models whose file name contains this")
    a = ap.parse_args()
    models = [m for m in MODELS if os.path.exists(m) and a.filter in os.path.basename(m)]
    jobs = [(m, b, v) for m in models for b, _ in BOARDS for v in ("float", "int8")]
    macs_of = {m: float_macs(a.tinyodlc, m) for m in models}
    with tempfile.TemporaryDirectory(prefix="tinyodlc-bench-") as tmp, cf.ThreadPoolExecutor(a.jobs) as ex:
        res = dict(zip(jobs, ex.map(lambda j: bench(a.tinyodlc, *j, tmp), jobs)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({f"{os.path.basename(m)}|{b}|{v}": r for (m, b, v), r in res.items()}, f, indent=1)
    print("| model (MACs) | board (core) | float insns | float insns/MAC | int8 insns | int8 insns/MAC | "
          "int8 / float insns | float flash / RAM (bytes) | int8 flash / RAM (bytes) | model stack float / int8 |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|---|")
    errors = 0
    for m in models:
        name = os.path.splitext(os.path.basename(m))[0]
        for b, core in BOARDS:
            f, q = res[(m, b, "float")], res[(m, b, "int8")]
            macs = macs_of[m]

            def cols(r):
                if "error" in r:
                    return ["error", "", f"error: {r['error'][:80]}"]
                if not r["fit"]:
                    c = r.get("qemu_core", {})
                    if c.get("fit"):  # counted on the same core with the QEMU board's budget
                        return [f"({fmt_int(c['insns'])})", f"({c['insns'] / macs:.2f})" if macs else "-",
                                f"does not fit ({r['region']})"]
                    return ["does not fit", "", f"does not fit ({r['region']})"]
                return [fmt_int(r["insns"]), f"{r['insns'] / macs:.2f}" if macs else "-",
                        f"{fmt_int(r['flash'])} / {fmt_int(r['ram'])}"]
            fc, qc = cols(f), cols(q)
            errors += ("error" in f) + ("error" in q)
            fi, qi = (r["insns"] if r.get("fit") else r.get("qemu_core", {}).get("insns") for r in (f, q))
            ratio = f"{qi / fi:.2f}" if fi and qi else "-"
            stack = " / ".join(str(r["model_stack"]) if r.get("fit") else "-" for r in (f, q))
            print(f"| {name} ({fmt_int(macs)}) | {b} ({core}) | {fc[0]} | {fc[1]} | {qc[0]} | {qc[1]} | {ratio} | "
                  f"{fc[2]} | {qc[2]} | {stack} |")
    for (m, b, v), r in res.items():
        if "error" in r:
            print(f"error: {os.path.basename(m)} {b} {v}: {r['error']}", file=sys.stderr)
        elif not r["fit"]:
            print(f"does not fit: {os.path.basename(m)} {b} {v}: {r['why'][:400]}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
