#!/usr/bin/python3
"""EmbBERT-Q variants the int8 path was not tuned on (issue 18), generated at test time.

The building blocks are the zoo's (examples/models/embbert_q/make_embbert_q.py: NanoEmbedder,
EfficientDifferentialSkipAttention, RMSNorm, Classifier_rms head); what varies per variant:
vocabulary (4096-8192), hidden size (96-128), sequence length (32-256), how the attention mask
arrives (a second input `attention_mask`, derived from the ids, or none), the norm (RMSNorm or
LayerNorm), residual connections around the attention blocks (on/off), layers and conv kernel.
Every model is trained for a few Adam steps on the zoo's synthetic topic task (zoo_data.make_texts:
log-uniform lengths, so the padding varies from none to most of the window), so its outputs
depend on its inputs (checked: the logits of the held-out sets differ), and exported with
torch.onnx.export (do_constant_folding=True, eval mode, static shapes), as the zoo does.

Per variant, in OUT/<name>/:
  <name>.onnx
  cal/set_KKK/input_J.pb         8 calibration sets (seed per variant)
  eval/set_KKK/input_J.pb        32 held-out sets (another seed), output_0.pb = PyTorch logits
Everything is seeded and single-threaded: the same torch build gives the same files. A variant
whose folder already holds `done.json` with the same configuration is not regenerated.

usage: embbert_variants.py OUT [--only NAME...] [--cal 8] [--eval 32]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "models"))
sys.path.insert(0, os.path.join(ROOT, "examples", "models", "embbert_q"))

# name, vocab, d, reduced r, length, layers, kernel, mask (input|ids|none), norm (rms|layer),
# residual, opset, training steps, seed
VARIANTS = [
    dict(name="v_l48_in_rms", vocab=4096, d=96, r=16, max_len=48, layers=2, kernel=8, mask="input", norm="rms",
         residual=False, opset=13, steps=60, seed=181),
    dict(name="v_l256_ids_rms_paper", vocab=8192, d=128, r=16, max_len=256, layers=4, kernel=32, mask="ids",
         norm="rms", residual=False, opset=13, steps=40, seed=182),
    dict(name="v_l128_in_ln_res", vocab=6144, d=112, r=16, max_len=128, layers=2, kernel=16, mask="input",
         norm="layer", residual=True, opset=17, steps=50, seed=183),
    dict(name="v_l32_nomask_rms_res", vocab=4096, d=128, r=16, max_len=32, layers=2, kernel=8, mask="none",
         norm="rms", residual=True, opset=13, steps=60, seed=184),
    dict(name="v_l192_in_ln", vocab=8192, d=96, r=16, max_len=192, layers=2, kernel=16, mask="input",
         norm="layer", residual=False, opset=17, steps=40, seed=185),
    dict(name="v_l64_ids_rms_res", vocab=5000, d=128, r=16, max_len=64, layers=3, kernel=16, mask="ids",
         norm="rms", residual=True, opset=13, steps=50, seed=186),
]
LABELS, KEYWORDS, BATCH = 4, 16, 16


def text_cfg(v):
    return dict(vocab=v["vocab"], max_len=v["max_len"], labels=LABELS, keywords=KEYWORDS,
                min_len=min(12, v["max_len"] // 2))


def build_model(v):
    import torch
    from torch import nn
    from make_embbert_q import EfficientDifferentialSkipAttention, NanoEmbedder, RMSNorm
    from zoo_data import PAD

    class Variant(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedder = NanoEmbedder(v["vocab"], v["max_len"], v["d"], v["r"])
            norm = (lambda: RMSNorm(v["d"])) if v["norm"] == "rms" else (lambda: nn.LayerNorm(v["d"]))
            self.norms = nn.ModuleList([norm() for _ in range(v["layers"])])
            self.attentions = nn.ModuleList([EfficientDifferentialSkipAttention(v["d"], v["kernel"])
                                             for _ in range(v["layers"])])
            self.act = nn.Sigmoid()
            self.fc = nn.Linear(v["d"], LABELS)

        def forward(self, input_ids, attention_mask=None):
            score_mask = None
            if v["mask"] == "ids":
                attention_mask = (input_ids != PAD).long()
            if v["mask"] != "none":
                score_mask = attention_mask.unsqueeze(2) * attention_mask.unsqueeze(1)
            x = self.embedder(input_ids)
            for norm, att in zip(self.norms, self.attentions):
                y = att(norm(x), score_mask)
                x = x + y if v["residual"] else y
            x = torch.sqrt(torch.mean(torch.pow(x, 2), dim=1))
            return self.fc(self.act(x))

    return Variant()


def inputs_of(v, ids, mask):
    return (ids, mask) if v["mask"] == "input" else (ids,)


def write_set(d, names, arrays, outputs=None):
    import onnx
    from onnx import numpy_helper
    os.makedirs(d, exist_ok=True)
    for j, (n, a) in enumerate(zip(names, arrays)):
        onnx.save_tensor(numpy_helper.from_array(np.ascontiguousarray(a), n), os.path.join(d, f"input_{j}.pb"))
    for j, a in enumerate(outputs or []):
        onnx.save_tensor(numpy_helper.from_array(np.ascontiguousarray(a), "logits"), os.path.join(d, f"output_{j}.pb"))


def generate(v, out, n_cal, n_eval):
    import torch
    from zoo_data import make_texts
    folder = os.path.join(out, v["name"])
    stamp = dict(v, n_cal=n_cal, n_eval=n_eval, torch=torch.__version__, version=1)
    done = os.path.join(folder, "done.json")
    if os.path.exists(done) and json.load(open(done)) == stamp:
        return folder, None
    t0 = time.time()
    torch.manual_seed(v["seed"])
    torch.set_num_threads(1)
    rng = np.random.default_rng(v["seed"])
    model = build_model(v)
    cfg = text_cfg(v)
    ids, mask, y = make_texts(v["steps"] * BATCH, cfg, rng)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for s in range(v["steps"]):
        sl = slice(s * BATCH, (s + 1) * BATCH)
        xb = [torch.from_numpy(a[sl]) for a in inputs_of(v, ids, mask)]
        loss = torch.nn.functional.cross_entropy(model(*xb), torch.from_numpy(y[sl]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    names = ["input_ids", "attention_mask"][:2 if v["mask"] == "input" else 1]
    cal_ids, cal_mask, _ = make_texts(n_cal, cfg, np.random.default_rng(v["seed"] + 1000))
    ev_ids, ev_mask, ev_y = make_texts(n_eval, cfg, np.random.default_rng(v["seed"] + 2000))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, v["name"] + ".onnx")
    ex = tuple(torch.from_numpy(a[:1]) for a in inputs_of(v, cal_ids, cal_mask))
    with torch.no_grad():
        torch.onnx.export(model, ex, path, opset_version=v["opset"], input_names=names, output_names=["logits"],
                          export_params=True, keep_initializers_as_inputs=False, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.EVAL)
    for k in range(n_cal):
        write_set(os.path.join(folder, "cal", f"set_{k:03d}"), names,
                  [a[k:k + 1] for a in inputs_of(v, cal_ids, cal_mask)])
    logits = []
    with torch.no_grad():
        for k in range(n_eval):
            xs = [a[k:k + 1] for a in inputs_of(v, ev_ids, ev_mask)]
            lg = model(*[torch.from_numpy(a) for a in xs]).numpy()
            logits.append(lg)
            write_set(os.path.join(folder, "eval", f"set_{k:03d}"), names, xs, [lg])
    logits = np.concatenate(logits)
    # outputs depend on inputs: the held-out logits are not all alike
    spread = float(np.std(logits, axis=0).mean() / (np.abs(logits).mean() + 1e-12))
    acc = float(np.mean(logits.argmax(1) == ev_y))
    info = dict(seconds=round(time.time() - t0, 1), final_loss=float(loss), eval_acc=acc, logit_spread=spread,
                eval_padding=[float(1 - ev_mask.mean()), int(ev_mask.sum(1).min()), int(ev_mask.sum(1).max())])
    if spread < 0.02:
        raise SystemExit(f"{v['name']}: outputs barely depend on the input (spread {spread:.4f})")
    json.dump(stamp, open(done, "w"))
    json.dump(info, open(os.path.join(folder, "info.json"), "w"))
    return folder, info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--cal", type=int, default=8)
    ap.add_argument("--eval", type=int, default=32)
    a = ap.parse_args()
    for v in VARIANTS:
        if a.only and v["name"] not in a.only:
            continue
        folder, info = generate(v, a.out, a.cal, a.eval)
        print(f"{v['name']}: {folder} {'(cached)' if info is None else info}", flush=True)


if __name__ == "__main__":
    main()
