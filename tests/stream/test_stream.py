#!/usr/bin/env python3
"""Streaming builds (`--stream`, docs/streaming.md) against the full model.

For each StreamTinyNet export of the zoo (both sizes, opset 13 and 17) a clip of T + 3 frames
is streamed (`tinyodlc run --stream`: one push_frame per frame, infer() after each from the
T-th on); every window's outputs must match the non-streaming model run on the same T frames
(within 1e-5; in practice bit for bit). int8 builds (PTQ on the model's test sets) must be byte
identical to the non-streaming int8 model. A model exported from PyTorch in the unrolled form
(a Python loop over frames + torch.stack) streams too, and models that are not separable get a
precise error.
The streaming build runs in QEMU on a Cortex-M4 and M7 too (`run --stream --target`), against the
full model on the same core; the per-new-frame instruction count must be <= full/T + infer + 5 %.
The shared arena, the ring in memory.json and the fit check; learning on the ring in QEMU.

    test_stream.py --tinyodlc BUILD/tinyodlc [--quick]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ZOO = os.path.join(ROOT, "examples", "models", "streamtinynet")
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def run(cmd, expect=0):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if expect is not None and p.returncode != expect:
        raise RuntimeError(f"exit {p.returncode} (expected {expect}): {' '.join(cmd)}\n{p.stdout}")
    return p


def save(path, arr, name):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def load(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def stream_vs_full(tool, model, clip, T, work, extra, exact):
    """Streams `clip` and runs the full model on each window; returns the worst difference."""
    save(os.path.join(work, "clip", "input_0.pb"), clip, "frames")
    run([tool, "run", model, "--stream", "--inputs", os.path.join(work, "clip"), "--outputs",
         os.path.join(work, "out")] + extra)
    streamed = load(os.path.join(work, "out", "output_0.pb"))
    windows = clip.shape[1] - T + 1
    if streamed.shape[0] != windows:
        return f"{streamed.shape[0]} windows, expected {windows}"
    worst = 0.0
    for w in range(windows):
        d = os.path.join(work, f"w{w}")
        save(os.path.join(d, "input_0.pb"), np.ascontiguousarray(clip[:, w:w + T]), "frames")
        run([tool, "run", model, "--inputs", d, "--outputs", os.path.join(d, "out")] + extra)
        full = load(os.path.join(d, "out", "output_0.pb"))
        if exact and streamed[w].tobytes() != full.tobytes():
            return f"window {w} differs (max abs {np.abs(streamed[w].astype(np.float64) - full).max():.3g})"
        worst = max(worst, float(np.abs(streamed[w].astype(np.float64) - full).max()))
    return worst


def zoo(tool, work, quick):
    models = ["stn_t4_gray64_op13", "stn_t8_rgb48_op17"] if quick else \
        ["stn_t4_gray64_op13", "stn_t4_gray64_op17", "stn_t8_rgb48_op13", "stn_t8_rgb48_op17"]
    for m in models:
        d = os.path.join(ZOO, m)
        a = load(os.path.join(d, "test_data_set_0", "input_0.pb"))
        b = load(os.path.join(d, "test_data_set_1", "input_0.pb"))
        T = a.shape[1]
        clip = np.concatenate([a, b[:, :3]], axis=1)
        r = stream_vs_full(tool, os.path.join(d, m + ".onnx"), clip, T, os.path.join(work, m), [], False)
        check(not isinstance(r, str) and r <= 1e-5, f"{m} float: {T + 3} frames, 4 windows, max abs diff vs full "
                                                     f"model {r}")
    for m in (["stn_t4_gray64_op13"] if quick else ["stn_t4_gray64_op13", "stn_t8_rgb48_op17"]):
        d = os.path.join(ZOO, m)
        a = load(os.path.join(d, "test_data_set_2", "input_0.pb"))
        b = load(os.path.join(d, "test_data_set_0", "input_0.pb"))
        T = a.shape[1]
        clip = np.concatenate([a, b[:, :3]], axis=1)
        r = stream_vs_full(tool, os.path.join(d, m + ".onnx"), clip, T, os.path.join(work, m + "_int8"),
                           ["--quantize", "int8", "--calibration", d], True)
        check(r == 0.0, f"{m} int8: streamed windows byte-identical to the non-streaming int8 model ({r})")


def target_run_json(out):
    import json
    with open(os.path.join(out, "target_run.json")) as f:
        return json.load(f)


def on_target(tool, model, clip, T, work, extra, core, label, every_window):
    """`run --stream --target core` in QEMU against the full model run on the same core for the
    last window (the one after the ring wrapped; every window if every_window): float within 1e-5
    (bit-identical expected), int8 byte-identical; target_run.json's per-call instruction counts
    and the per-new-frame bound full/T + infer + 5 %."""
    save(os.path.join(work, "clip", "input_0.pb"), clip, "frames")
    out = os.path.join(work, "out")
    run([tool, "run", model, "--stream", "--inputs", os.path.join(work, "clip"), "--outputs", out, "--target", core,
         "--quiet"] + extra)
    streamed = load(os.path.join(out, "output_0.pb"))
    F, windows = clip.shape[1], clip.shape[1] - T + 1
    rep = target_run_json(out)["stream"]
    push, inf = rep["push_frame_insns"], rep["infer_insns"]
    check(push["calls"] == F and inf["calls"] == windows and len(push["each"]) == F and
          push["total"] == sum(push["each"]) and inf["total"] == sum(inf["each"]) and
          abs(push["mean"] - push["total"] / F) < 0.1 and abs(inf["mean"] - inf["total"] / windows) < 0.1 and
          min(push["each"]) > 0 and min(inf["each"]) > 0,
          f"{label} on {core}: target_run.json reports {F} push_frame() and {windows} infer() counts, mean and total")
    worst, same, full_insns = 0.0, True, []
    if streamed.shape[0] != windows:
        check(False, f"{label} on {core}: {streamed.shape[0]} windows, expected {windows}")
        return
    compared = list(range(windows)) if every_window else [windows - 1]
    for w in compared:
        d = os.path.join(work, f"w{w}")
        save(os.path.join(d, "input_0.pb"), np.ascontiguousarray(clip[:, w:w + T]), "frames")
        run([tool, "run", model, "--inputs", d, "--outputs", os.path.join(d, "out"), "--target", core, "--quiet"] + extra)
        full = load(os.path.join(d, "out", "output_0.pb"))
        full_insns.append(target_run_json(os.path.join(d, "out"))["insns"])
        same = same and streamed[w].tobytes() == full.tobytes()
        worst = max(worst, float(np.abs(streamed[w].astype(np.float64) - full.astype(np.float64)).max()))
    if extra:  # int8
        check(same, f"{label} on {core}: {len(compared)} streamed window(s) byte-identical to the non-streaming int8 model "
                    f"on {core} (max abs {worst})")
    else:
        check(worst <= 1e-5, f"{label} on {core}: {len(compared)} streamed window(s) vs the full model on {core}: max abs diff "
                             f"{worst} ({'bit-identical' if same else 'not bit-identical'})")
    full = sum(full_insns) / len(full_insns)
    per_frame = push["mean"] + inf["mean"]
    bound = (full / T + inf["mean"]) * 1.05
    check(per_frame <= bound, f"{label} on {core}: per new frame push_frame {push['mean']:.0f} + infer {inf['mean']:.0f}"
                              f" = {per_frame:.0f} instructions <= (full {full:.0f} / {T} + infer) + 5 % = {bound:.0f}")


def targets(tool, work, full):
    """QEMU runs: a float and an int8 model per core (all four exports, float and int8, with TINYODLC_FULL=1)."""
    runs = [("stn_t4_gray64_op13", False), ("stn_t8_rgb48_op17", True)]
    if full:  # and the training-friendly export, BatchNormalization kept (float)
        runs = [(m, q) for m in ["stn_t4_gray64_op13", "stn_t4_gray64_op17", "stn_t8_rgb48_op13", "stn_t8_rgb48_op17"]
                for q in (False, True)] + [("stn_t4_gray64_train_op13", False)]
    for core in ("cortex-m4", "cortex-m7"):
        for m, q in runs:
            d = os.path.join(ZOO, m)
            a = load(os.path.join(d, "test_data_set_2" if q else "test_data_set_0", "input_0.pb"))
            b = load(os.path.join(d, "test_data_set_1", "input_0.pb"))
            T = a.shape[1]
            clip = np.concatenate([a, b[:, :1]], axis=1)  # T + 1 frames: 2 windows
            extra = ["--quantize", "int8", "--calibration", d] if q else []
            on_target(tool, os.path.join(d, m + ".onnx"), clip, T, os.path.join(work, f"{m}_{core}_{q}"), extra, core,
                      f"{m} {'int8' if q else 'float'}", full)


def memory(tool, work):
    """One arena shared by g and h (the larger per region), the ring as a persistent block, one fit check."""
    import json
    import re
    m = os.path.join(ZOO, "stn_t4_gray64_op13", "stn_t4_gray64_op13.onnx")
    out = os.path.join(work, "mem_host")
    run([tool, "compile", m, "--stream", "-o", out])
    mj = {k: json.load(open(os.path.join(out, f"memory{k}.json"))) for k in ("", "_frame", "_head")}
    hdr = open(os.path.join(out, "stn_t4_gray64_op13.h")).read()
    const = {k: int(v) for k, v in re.findall(r"constexpr size_t (k\w+) = (\d+);", hdr)}
    ring = const.get("kFeatureRingBytes")
    shared = max(mj["_frame"]["peak_bytes"], mj["_head"]["peak_bytes"])
    check(mj[""]["build"] == "streaming" and mj[""]["peak_bytes"] == shared == const.get("kArenaBytes") and
          shared < mj["_frame"]["peak_bytes"] + mj["_head"]["peak_bytes"] and
          mj[""]["persistent"] == [{"name": "feature ring", "region": "arena", "bytes": ring}] and
          mj[""]["persistent_bytes"] == ring == 2 * 4 * const.get("kFeatureBytes") and
          mj[""]["weight_bytes"] == mj["_frame"]["weight_bytes"] + mj["_head"]["weight_bytes"],
          f"host memory.json: shared arena {mj['']['peak_bytes']} = max(backbone {mj['_frame']['peak_bytes']}, head "
          f"{mj['_head']['peak_bytes']}) = kArenaBytes, feature ring {ring} B a persistent block, weights of both")
    cpp = open(os.path.join(out, "stn_t4_gray64_op13.cpp")).read()
    check(cpp.count("alignas(16) uint8_t stn_t4_gray64_op13_arena[") == 1 and
          "g_arena[" not in open(os.path.join(out, "stn_t4_gray64_op13_frame.cpp")).read() and
          "g_arena[" not in open(os.path.join(out, "stn_t4_gray64_op13_head.cpp")).read(),
          "one arena buffer, defined by the glue; the backbone and the head define none")
    # One fit check: the arena alone fits the RAM left by --reserve, arena + ring does not.
    arena = mj[""]["peak_bytes"]
    left = lambda n: ["--target", "cortex-m4", "--reserve", f"RAM={4 * 1024 * 1024 - n}"]
    p = run([tool, "compile", m, "--stream", "-o", os.path.join(work, "mem_nofit")] + left(arena + ring - 16), expect=None)
    check(p.returncode == 5 and "feature ring" in p.stdout and "does not fit" in p.stdout,
          f"arena + ring 16 bytes over the RAM left: FitError (exit 5) naming the ring: {p.stdout.strip()[-200:]}")
    p = run([tool, "compile", m, "--stream", "-o", os.path.join(work, "mem_fit")] + left(arena + ring), expect=None)
    check(p.returncode == 0, "arena + ring exactly the RAM left: fits")
    # int8 T=8 RGB on the Nicla Vision next to a 320x240 RGB565 frame buffer.
    d = os.path.join(ZOO, "stn_t8_rgb48_op17")
    out = os.path.join(work, "mem_nicla")
    p = run([tool, "compile", os.path.join(d, "stn_t8_rgb48_op17.onnx"), "--stream", "--quantize", "int8",
             "--calibration", d, "--target", "nicla-vision", "--reserve", "AXISRAM=153600", "-o", out], expect=None)
    ok = p.returncode == 0
    if ok:
        j = json.load(open(os.path.join(out, "memory.json")))
        ok = j["build"] == "streaming" and [b["name"] for b in j["persistent"]] == ["feature ring"] and \
            all(r["section_bytes"] <= r["size"] for r in j["regions"])
    check(ok, "int8 T=8 RGB streaming build fits the Nicla Vision with --reserve AXISRAM=153600 (320x240 RGB565)")


def ring_training(tool, work, cores):
    """Learning on the ring in QEMU (Cortex-M4): the last layer of stn_t4_gray64's head trains on a
    shifted clip task (moving-shapes clips of the zoo's generator, labels shifted y -> (y+1) mod 5,
    which the trained model gets wrong) from the features in the ring; the loss must fall and the
    held-out accuracy rise."""
    import json
    sys.path.insert(0, os.path.join(ROOT, "examples", "models"))
    from zoo_data import MOTIONS_5, make_videos
    rng = np.random.default_rng(5)
    for split, n in (("train", 20), ("eval", 10)):
        x, y = make_videos(n, 4, 1, 64, 64, MOTIONS_5, rng)
        for i in range(n):
            d = os.path.join(work, "ring", split, f"set_{i:03d}")
            save(os.path.join(d, "input_0.pb"), x[i:i + 1], "frames")
            save(os.path.join(d, "label.pb"), np.array([(y[i] + 1) % 5], dtype=np.int64), "label")
    m = os.path.join(ZOO, "stn_t4_gray64_op13", "stn_t4_gray64_op13.onnx")
    for core in cores:
        out = os.path.join(work, "ring", "out_" + core)
        p = run([tool, "run", m, "--stream", "--trainable-last", "1", "--lr", "0.05", "--inputs",
                 os.path.join(work, "ring", "train", "set_000"), "--train-data", os.path.join(work, "ring", "train"),
                 "--eval-data", os.path.join(work, "ring", "eval"), "--train-steps", "3", "--target", core,
                 "--outputs", out], expect=None)
        if p.returncode != 0:
            check(False, f"learning on the ring in QEMU ({core}): exit {p.returncode}: {p.stdout[-400:]}")
            continue
        losses = load(os.path.join(out, "losses.pb"))
        st = target_run_json(out)["harness_stats"]
        first, last = float(losses[:20].mean()), float(losses[-20:].mean())
        before, after = st["correct_before"], st["correct_after"]
        check(last < 0.5 * first and after > before and after >= 7,
              f"learning on the ring ({core}): mean loss {first:.4f} -> {last:.4f}, held-out accuracy {before}/10 -> "
              f"{after}/10")
        params = [f for f in os.listdir(out) if f.startswith("param_")]
        check(len(params) == 2, f"only the head's last layer trained (2 parameters: {sorted(params)})")
    mem = os.path.join(work, "ring", "mem")
    run([tool, "compile", m, "--stream", "--trainable-last", "1", "-o", mem])
    j = json.load(open(os.path.join(mem, "memory.json")))
    names = [b["name"] for b in j["persistent"]]
    check(names[:3] == ["feature ring", "head parameters", "head gradients"] and
          j["persistent_bytes"] == sum(b["bytes"] for b in j["persistent"]),
          f"memory.json of a streaming build learning on the ring: persistent {names}")
    d = os.path.join(ZOO, "stn_t4_gray64_op13")
    p = run([tool, "compile", m, "--stream", "--trainable-last", "1", "--quantize", "int8", "--calibration", d, "-o",
             os.path.join(work, "ring", "q")], expect=None)
    check(p.returncode == 1 and "trains a float head" in p.stdout, f"int8 head training refused: {p.stdout.strip()[-120:]}")


def pytorch_unrolled(tool, work):
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        check(False, "python3-torch is needed for the unrolled-export test")
        return
    torch.manual_seed(0)
    T, C, H, W = 3, 2, 8, 8

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(C, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            return self.pool(torch.relu(self.conv(x)))

    class Unrolled(nn.Module):
        def __init__(self, shared=True):
            super().__init__()
            self.g = G()
            self.gs = nn.ModuleList([self.g if shared else G() for _ in range(T)])
            self.fc = nn.Linear(T * 4 * 4 * 4, 5)

        def forward(self, frames):
            feats = [self.gs[t](frames[:, t]) for t in range(T)]
            return self.fc(torch.stack(feats, dim=1).flatten(1))

    for shared in (True, False):
        model = Unrolled(shared).eval()
        path = os.path.join(work, f"unrolled_{'shared' if shared else 'distinct'}.onnx")
        torch.onnx.export(model, (torch.rand(1, T, C, H, W),), path, opset_version=13, input_names=["frames"],
                          output_names=["logits"])
        if shared:
            clip = np.random.default_rng(1).random((1, T + 2, C, H, W), dtype=np.float32)
            r = stream_vs_full(tool, path, clip, T, os.path.join(work, "unrolled"), [], False)
            check(not isinstance(r, str) and r <= 1e-5, f"PyTorch unrolled export (loop + torch.stack) streams: "
                                                         f"max abs diff vs full model {r}")
        else:
            p = run([tool, "compile", path, "-o", os.path.join(work, "distinct_out"), "--stream"], expect=None)
            check(p.returncode == 1 and "processed differently from frame 0" in p.stdout and "per-frame weights" in
                  p.stdout, f"per-frame weights that differ are refused naming the node: {p.stdout.strip()[:160]}")


def errors(tool, work):
    tiny = os.path.join(ROOT, "examples", "tiny_cnn", "tiny_cnn.onnx")
    p = run([tool, "compile", tiny, "-o", os.path.join(work, "e1"), "--stream"], expect=None)
    check(p.returncode == 1 and "no input of rank 5" in p.stdout, f"--stream on a model without frames: "
                                                                  f"{p.stdout.strip()[:120]}")
    m = os.path.join(ZOO, "stn_t4_gray64_op13")
    short = load(os.path.join(m, "test_data_set_0", "input_0.pb"))[:, :2]
    save(os.path.join(work, "short", "input_0.pb"), short, "frames")
    p = run([tool, "run", os.path.join(m, "stn_t4_gray64_op13.onnx"), "--stream", "--inputs",
             os.path.join(work, "short"), "--outputs", os.path.join(work, "short_out")], expect=None)
    check(p.returncode == 1 and "at least 4 frames" in p.stdout, f"a clip shorter than T: {p.stdout.strip()[:140]}")
    p = run([tool, "compile", os.path.join(m, "stn_t4_gray64_op13.onnx"), "-o", os.path.join(work, "e3"),
             "--stream=frames:2"], expect=None)
    check(p.returncode == 1 and "dims before the time axis 2 must be 1" in p.stdout,
          f"a wrong time axis: {p.stdout.strip()[:140]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--quick", action="store_true", help="two float models and one int8 model (the default unless "
                    "TINYODLC_FULL=1)")
    a = ap.parse_args()
    a.quick = a.quick or os.environ.get("TINYODLC_FULL") != "1"
    with tempfile.TemporaryDirectory(prefix="tinyodlc-stream-") as work:
        zoo(a.tinyodlc, work, a.quick)
        targets(a.tinyodlc, work, not a.quick)
        memory(a.tinyodlc, work)
        ring_training(a.tinyodlc, work, ["cortex-m4"] + ([] if a.quick else ["cortex-m7"]))
        pytorch_unrolled(a.tinyodlc, work)
        errors(a.tinyodlc, work)
    print(f"{len(FAILURES)} failed" if FAILURES else "PASS")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
