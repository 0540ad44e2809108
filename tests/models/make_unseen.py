#!/usr/bin/python3
"""Writes tests/models/unseen/: small models of the three zoo families in configurations the
compiler was never developed against (other widths, depths, frame counts, resolutions,
sequence lengths, kernel sizes), exported by torch exactly like the zoo (zoo_common.export),
with 3 PyTorch reference data sets each. tests/models/run_models.py runs them with the zoo
models (expectations: the `unseen/...` lines of expected_pass.txt).

The modules are the zoo's own classes (examples/models/*/make_*.py), instantiated with other
hyper-parameters. The weights are seeded random initialisations (no training: these models
test the compiler, not a task), with BatchNorm statistics calibrated on random inputs and
random affine BatchNorm parameters, so that every output is alive (zoo_common.check_alive).
Needs torch (run once, the files are committed; CI only reads them):
    /usr/bin/python3 tests/models/make_unseen.py
"""
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "models"))
OUT = os.path.join(HERE, "unseen")
for sub in ("", "streamtinynet", "embbert_q", "tinysv"):
    sys.path.insert(0, os.path.join(ZOO, sub))
import zoo_common as zc  # noqa: E402
import zoo_data as zd  # noqa: E402
import make_streamtinynet as stn  # noqa: E402
import make_embbert_q as emb  # noqa: E402
import make_tinysv as tsv  # noqa: E402

MAX_TOTAL_BYTES = 200 * 1024


@torch.no_grad()
def calibrate(model, make_input, seed, batches=4):
    """Random BatchNorm affine parameters, then running statistics from random inputs (cumulative
    average over a few batches), then eval mode."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.weight.copy_(0.6 + 0.8 * torch.rand(bn.weight.shape, generator=g))
        bn.bias.copy_(0.3 * torch.randn(bn.bias.shape, generator=g))
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    for b in range(batches):
        model(*make_input(8, b))
    model.eval()


def export(name, model, sets, in_names, out_names, opset):
    zc.export_with_refs(name, model, sets, f"{name.split('/')[0]}/{name.split('/')[1]}_op{opset}", in_names,
                        out_names, opset, root=OUT)


def video(n, T, C, H, W, rng):
    return rng.uniform(0.0, 1.0, (n, T, C, H, W)).astype(np.float32)


def streamtinynet():
    # depth 2 instead of 3, T=3, 16x16 grayscale, temporal multiplier 3, 4 classes
    rng = zc.seed_everything(101)
    m = stn.StreamTinyNet(3, 1, 16, 16, (4, 8), 3, 8, 4)
    calibrate(m, lambda n, b: (torch.from_numpy(video(n, 3, 1, 16, 16, np.random.default_rng(1000 + b))),), 101)
    sets = [(video(1, 3, 1, 16, 16, rng),) for _ in range(3)]
    export("streamtinynet/stn_t3_gray16_d2", m, sets, ["frames"], ["logits"], 13)
    # T=5, RGB 18x18, widths 6/12/12 (18 -> 9 -> 4 -> 2 under MaxPool 2: odd sizes), 7 classes;
    # g alone at opset 17 and the temporal head h alone at opset 13 (features 12x2x2)
    rng = zc.seed_everything(102)
    m = stn.StreamTinyNet(5, 3, 18, 18, (6, 12, 12), 2, 12, 7)
    calibrate(m, lambda n, b: (torch.from_numpy(video(n, 5, 3, 18, 18, np.random.default_rng(2000 + b))),), 102)
    clips = [video(1, 5, 3, 18, 18, rng) for _ in range(3)]
    export("streamtinynet/stn_t5_rgb18_g", m.g, [(c[:, k],) for k, c in enumerate(clips)], ["frame"],
           ["features"], 17)
    with torch.no_grad():
        feats = [m.g(torch.from_numpy(c[0])).unsqueeze(0).numpy() for c in clips]
    export("streamtinynet/stn_t5_rgb18_h", m.h, [(f,) for f in feats], ["features"], ["logits"], 13)


def tokens(n, L, vocab, rng, lengths):
    ids = np.zeros((n, L), dtype=np.int64)
    mask = np.zeros((n, L), dtype=np.int64)
    for i, length in enumerate(lengths):
        seq = rng.integers(zd.FIRST_WORD, vocab, length)
        seq[0] = zd.CLS
        if length > 6:
            seq[length // 2] = zd.SEP
        ids[i, :length] = seq
        mask[i, :length] = 1
    return ids, mask


@torch.no_grad()
def spread_head(m, sets):
    """Random init: pooled features (EmbBERT: RMS pooling + Sigmoid, slightly above 0.5; DS-CNN:
    global average pool of ReLU outputs) differ little between inputs; centring the classifier
    on their mean over the sets (bias = -W . mean), as training would, and a larger weight make
    the logits differ visibly."""
    m.eval()
    fc, m.fc = m.fc, nn.Identity()
    feats = torch.cat([m(*[torch.from_numpy(a) for a in s]) for s in sets])
    m.fc = fc
    m.fc.weight.mul_(10.0)
    m.fc.bias.copy_(-(m.fc.weight @ feats.mean(0)))


def embbert():
    # 3 layers, hidden 16, reduced 6, length 40, kernel 5, 3 labels, attention mask input
    rng = zc.seed_everything(201)
    m = emb.EmbBERTClassifier(120, 40, 16, 6, 3, 5, 3, mask="input")
    ids, mask = tokens(3, 40, 120, rng, [40, 23, 9])
    spread_head(m, [(ids[i:i + 1], mask[i:i + 1]) for i in range(3)])
    export("embbert_q/embbert_l3_d16_len40_mask", m, [(ids[i:i + 1], mask[i:i + 1]) for i in range(3)],
           ["input_ids", "attention_mask"], ["logits"], 13)
    # 1 layer, hidden 12, reduced 4, length 48, kernel 3, 5 labels, mask derived from the ids
    rng = zc.seed_everything(202)
    m = emb.EmbBERTClassifier(100, 48, 12, 4, 1, 3, 5, mask="ids")
    ids, _ = tokens(3, 48, 100, rng, [48, 30, 12])
    spread_head(m, [(ids[i:i + 1],) for i in range(3)])
    export("embbert_q/embbert_l1_d12_len48_ids", m, [(ids[i:i + 1],) for i in range(3)], ["input_ids"],
           ["logits"], 17)


def tinysv():
    mf = lambda n, h, w, r: r.normal(0, 1, (n, 1, h, w)).astype(np.float32)  # noqa: E731
    # d-vector on 48 frames x 24 coefficients with narrower conv3/conv4 (8, 12 channels): the
    # traced 'same' pads see other (odd) sizes, Flatten -> 12x2x1 = 24
    rng = zc.seed_everything(301)
    m = tsv.DVector(4)
    m.conv3 = nn.Conv2d(16, 8, 3, stride=2)
    m.conv4 = nn.Conv2d(8, 12, 3, stride=2)
    calibrate(m, lambda n, b: (torch.from_numpy(mf(n, 48, 24, np.random.default_rng(3000 + b))),), 301)
    export("tinysv/dvector_c8x12_48x24", m, [(mf(1, 48, 24, rng),) for _ in range(3)], ["mfcc"], ["dvector"], 13)
    # DS-CNN keyword spotter: 24 channels, 2 blocks, 49x20 MFCC, 5 classes
    rng = zc.seed_everything(302)
    m = tsv.DSCNN(24, 2, 5)
    calibrate(m, lambda n, b: (torch.from_numpy(mf(n, 49, 20, np.random.default_rng(3100 + b))),), 302)
    sets = [(mf(1, 49, 20, rng),) for _ in range(3)]
    spread_head(m, sets)
    export("tinysv/dscnn_c24_b2_49x20", m, sets, ["mfcc"], ["logits"], 17)
    # DS-CNN speaker embedder: 16 channels, 3 blocks, 29x20, 64-d embedding
    rng = zc.seed_everything(303)
    m = tsv.DSCNN(16, 3, 64, embedding=True, speakers=4)
    calibrate(m, lambda n, b: (torch.from_numpy(mf(n, 29, 20, np.random.default_rng(3200 + b))),), 303)
    sets = [(mf(1, 29, 20, rng),) for _ in range(3)]
    spread_head(m, sets)
    export("tinysv/dscnn_sv_c16_b3_29x20", m, sets, ["mfcc"], ["embedding"], 13)


def main():
    import shutil
    shutil.rmtree(OUT, ignore_errors=True)
    streamtinynet()
    embbert()
    tinysv()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    zc.log(f"tests/models/unseen: {total} bytes")
    if total > MAX_TOTAL_BYTES:
        zc.fail(f"tests/models/unseen holds {total} bytes > {MAX_TOTAL_BYTES}")


if __name__ == "__main__":
    main()
