#!/usr/bin/python3
"""On-device learning against PyTorch: for every training-friendly example model with reference
gradients (examples/models/*/*/grad_ref*/, written by the zoo scripts with torch.autograd), and
every scenario folder in it (last_layer, biases, head2), runs

  tinyodlc run MODEL --inputs grad_ref --trainable <the scenario's parameters> --loss ... --label ...

(the generated C++ training step, built and run on the host) and checks the loss and each
parameter's gradient of the first step against PyTorch: max |got - ref| <= rtol * max |ref| per
tensor (rtol 1e-4, the issue's bar). Also checks that the selection flags pick the scenario's
parameters where the scenario is defined that way (--trainable-last 1 = last_layer,
--trainable biases = biases), and that a few SGD steps on the sample reduce the loss.

Usage: run_grad_refs.py --tinyodlc BUILD/tinyodlc [--filter REGEX] [--report FILE.md] [-v]
Exit 0 iff every check passes.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTOL = 1e-4


def load(p):
    return numpy_helper.to_array(onnx.load_tensor(p))


def safe(n):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in n)


def loss_args(gdir):
    """(flags, label file) of the loss a grad_ref folder was made with."""
    if os.path.exists(os.path.join(gdir, "target.pb")):
        return ["--loss", "mse"], os.path.join(gdir, "target.pb")
    if os.path.exists(os.path.join(gdir, "prototypes.pb")):
        scale = float(load(os.path.join(gdir, "scale.pb")))
        return (["--loss", "cosine-prototype", "--prototypes", os.path.join(gdir, "prototypes.pb"), "--scale", repr(scale)],
                os.path.join(gdir, "label.pb"))
    return ["--loss", "cross-entropy"], os.path.join(gdir, "label.pb")


def loss_output(model):
    outs = [o.name for o in onnx.load(model, load_external_data=False).graph.output]
    return [] if len(outs) == 1 else ["--loss-output", "logits" if "logits" in outs else outs[0]]


def run(cmd, verbose):
    if verbose:
        print("  $ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def selected(tinyodlc, model, flags, tmp):
    out = os.path.join(tmp, "sel")
    r = subprocess.run([tinyodlc, "compile", model, "-o", out] + flags, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return None, r.stdout
    with open(os.path.join(out, "training.json")) as f:
        return sorted(t["name"] for t in json.load(f)["trainable"]), ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--filter", default="")
    ap.add_argument("--report")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    failures, rows = [], []
    for gdir in sorted(glob.glob(os.path.join(ROOT, "examples/models/*/*/grad_ref*"))):
        mdir = os.path.dirname(gdir)
        model = glob.glob(os.path.join(mdir, "*.onnx"))[0]
        mname = os.path.basename(mdir)
        lflags, label = loss_args(gdir)
        for sdir in sorted(d for d in glob.glob(os.path.join(gdir, "*")) if os.path.isdir(d)):
            scen = os.path.basename(sdir)
            key = f"{mname}/{os.path.basename(gdir)}/{scen}"
            if a.filter and not re.search(a.filter, key):
                continue
            names = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(sdir, "*.pb")))
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "out")
                common = [model] + loss_output(model) + lflags
                cmd = [a.tinyodlc, "run"] + common + ["--inputs", gdir, "--outputs", out, "--trainable", ",".join(names),
                                                      "--label", label, "--train-steps", "4", "--lr", "0.01",
                                                      "--build-dir", os.path.join(tmp, "build")]
                r = run(cmd, a.verbose)
                if r.returncode != 0:
                    failures.append(f"{key}: tinyodlc run failed (exit {r.returncode}):\n{r.stdout[-2000:]}")
                    print(f"FAIL {key}: run failed", flush=True)
                    continue
                errs = []
                worst = 0.0
                ref_loss, got_loss = float(load(os.path.join(gdir, "loss.pb"))), float(load(os.path.join(out, "loss.pb")))
                if abs(got_loss - ref_loss) > RTOL * max(1.0, abs(ref_loss)):
                    errs.append(f"loss {got_loss} vs PyTorch {ref_loss}")
                for n in names:
                    ref = load(os.path.join(sdir, n + ".pb"))
                    got = load(os.path.join(out, f"grad_{safe(n)}.pb"))
                    if got.shape != ref.shape:
                        errs.append(f"{n}: shape {got.shape} vs {ref.shape}")
                        continue
                    rel = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
                    worst = max(worst, rel)
                    if rel > RTOL:
                        errs.append(f"{n}: max rel err {rel:.2e}")
                losses = load(os.path.join(out, "losses.pb"))
                if not losses[-1] < losses[0]:
                    errs.append(f"4 SGD steps did not reduce the loss: {losses}")
                with open(os.path.join(r_build := os.path.join(tmp, "build"), "training.json")) as f:
                    tj = json.load(f)
                # selection flags
                flag = {"last_layer": ["--trainable-last", "1"], "biases": ["--trainable", "biases"]}.get(scen)
                if flag and "grad_ref_mse" not in gdir:
                    sel, msg = selected(a.tinyodlc, model, loss_output(model) + lflags + flag, tmp)
                    if sel != names:
                        errs.append(f"{' '.join(flag)} selects {sel or msg.strip()} instead of {names}")
            status = "ok" if not errs else "FAIL"
            print(f"{status} {key}: {len(names)} tensors, max rel err {worst:.1e}, loss {got_loss:.4f} (PyTorch "
                  f"{ref_loss:.4f}), losses {np.array2string(losses, precision=4)}" + ("" if not errs else "\n  " + "\n  ".join(errs)),
                  flush=True)
            if errs:
                failures.append(f"{key}: " + "; ".join(errs))
            rows.append((mname, os.path.basename(gdir), scen, tj["trainable_parameters"],
                         worst, tj["inference_arena_bytes"], tj["training_arena_bytes"], tj["state_bytes"],
                         tj["training_extra_ram_bytes"], status))
    if a.report:
        with open(a.report, "w") as f:
            f.write("| model | reference | scenario | trainable params | max rel err vs PyTorch | inference arena B | "
                    "training arena B | state B | extra RAM for training B | |\n|---|---|---|---|---|---|---|---|---|---|\n")
            for r in rows:
                f.write("| " + " | ".join(str(x) if not isinstance(x, float) else f"{x:.1e}" for x in r) + " |\n")
    print(f"\n{len(rows) - len(failures)}/{len(rows)} scenarios pass")
    for fl in failures:
        print("FAILED: " + fl)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
