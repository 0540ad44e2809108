#!/usr/bin/python3
"""EmbBERT-Q (Bravin, Pavan, Shalby, Pittorino, Roveri 2025, arXiv:2502.10001; code
github.com/RiccardoBravin/tiny-LLM): tiny text classifier, re-implemented here from the
authors' description and code structure (lib/embedders.py, lib/attentions.py,
lib/Models/EmbBERT.py, lib/Models/final_classifiers.py Classifier_rms).

  Nano Embedder: token Embedding(V, r, padding_idx=0) -> Linear(r->d, no bias)
               + position Embedding(L, r) -> Linear(r->d, no bias)
               + segment Embedding(3, d, padding_idx=0) (segment 1 before the first separator
                 token 4, 2 from it on, 0 on padding)
  per layer:   x = RMSNorm(x); x = EfficientDifferentialSkipAttention(x)
                 attention path: Q = Linear(x), K = V = x, softmax(Q x^T / sqrt(d)) x -> Linear
                 conv path: causal depthwise Conv1d(k, padding k-1, first L steps) -> SiLU -> Linear
                 out = exp(lq1 . lk1) * attention - exp(lq2 . lk2) * conv
  head:        sqrt(mean(x^2 over the sequence)) -> Sigmoid -> Linear (Classifier_rms)

Models:
  embbert_q             the released configuration (vocab 8192, hidden 128, reduced embedding 16,
                        length 256, 4 layers, 1 head, kernel 32); one input (right-padded ids),
                        the attention mask is derived from it (ids != 0): masked softmax +
                        nan_to_num, as in the authors' code
  embbert_q_small       vocab 512, hidden 32, reduced 8, length 64, 2 layers, kernel 8; no mask
                        (every position attends to every position, padding included)
  embbert_q_small_mask  the small one with the attention mask as a second input
Exported at opset 13 and 17, plus a training-friendly export of embbert_q_small.
Trained on a synthetic topic-classification task over token sequences (see README.md).
Run: /usr/bin/python3 examples/models/embbert_q/make_embbert_q.py [model names]
"""
import math
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import zoo_common as zc  # noqa: E402
from zoo_data import PAD, SEP, make_texts  # noqa: E402

FAMILY = "embbert_q"


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class NanoEmbedder(nn.Module):
    def __init__(self, vocab, max_len, d, r, segments=3):
        super().__init__()
        self.token = nn.Embedding(vocab, r, padding_idx=0)
        self.tok_expander = nn.Linear(r, d, bias=False)
        self.position = nn.Embedding(max_len, r)
        self.pos_expander = nn.Linear(r, d, bias=False)
        self.sentence = nn.Embedding(segments, d, padding_idx=0)

    def forward(self, tokens):
        positions = torch.arange(tokens.size(1), device=tokens.device).unsqueeze(0).expand_as(tokens)
        # the authors' loop over separator positions, written without Python control flow:
        # segment 2 from the first separator (token 4) on, 1 before it, 0 on padding
        after_sep = torch.cumsum((tokens == SEP).long(), dim=1) > 0
        sentence_ids = (after_sep.long() + 1).masked_fill(tokens == PAD, 0)
        return (self.tok_expander(self.token(tokens)) + self.pos_expander(self.position(positions))
                + self.sentence(sentence_ids))


class EfficientDifferentialSkipAttention(nn.Module):
    def __init__(self, d, kernel_size, forward_expansion=1, dropout=0.1):
        super().__init__()
        self.d_inner = int(d * forward_expansion)
        self.dropout = nn.Dropout(dropout)
        self.act = nn.SiLU()
        self.lambda_q1 = nn.Parameter(torch.zeros(d).normal_(mean=0, std=0.1))
        self.lambda_k1 = nn.Parameter(torch.zeros(d).normal_(mean=0, std=0.1))
        self.lambda_q2 = nn.Parameter(torch.zeros(d).normal_(mean=0, std=0.1))
        self.lambda_k2 = nn.Parameter(torch.zeros(d).normal_(mean=0, std=0.1))
        self.query = nn.Linear(d, d)
        self.att_output = nn.Linear(d, d)
        self.conv1d = nn.Conv1d(d, self.d_inner, kernel_size=kernel_size, groups=d, padding=kernel_size - 1)
        self.contract = nn.Linear(self.d_inner, d)

    def forward(self, x, score_mask=None):
        lamb1 = torch.exp(torch.dot(self.lambda_q1, self.lambda_k1))
        lamb2 = torch.exp(torch.dot(self.lambda_q2, self.lambda_k2))
        q = self.query(x)
        scores = torch.matmul(q, x.permute(0, 2, 1)) / math.sqrt(x.size(-1))
        if score_mask is not None:
            scores = scores.masked_fill(score_mask == 0, float("-inf"))
        weights = nn.functional.softmax(scores, dim=-1)
        if score_mask is not None:
            # fully masked rows (padding queries) give NaN; the authors zero them. Without a
            # mask no row can be fully masked and nan_to_num is the identity, so it is omitted.
            weights = torch.nan_to_num(weights)
        weights = self.dropout(weights)
        out1 = self.att_output(torch.matmul(weights, x))
        L = x.shape[1]
        y = self.conv1d(x.transpose(1, 2))[:, :, :L].transpose(1, 2)
        out2 = self.contract(self.act(y))
        return lamb1 * out1 - lamb2 * out2


class EmbBERTClassifier(nn.Module):
    """EmbBERT encoder + Classifier_rms head."""

    def __init__(self, vocab, max_len, d, r, layers, kernel, labels, mask="none"):
        super().__init__()
        assert mask in ("none", "input", "ids")
        self.mask = mask
        self.embedder = NanoEmbedder(vocab, max_len, d, r)
        self.norms = nn.ModuleList([RMSNorm(d) for _ in range(layers)])
        self.attentions = nn.ModuleList([EfficientDifferentialSkipAttention(d, kernel) for _ in range(layers)])
        self.act = nn.Sigmoid()
        self.fc = nn.Linear(d, labels)

    def forward(self, input_ids, attention_mask=None):
        score_mask = None
        if self.mask == "ids":
            # single-input deployment form: the tokenizer's attention mask of right-padded ids
            attention_mask = (input_ids != PAD).long()
        if self.mask != "none":
            # [B, L, L]: query i may attend key j iff both are real tokens (for right padding this
            # is the authors' make_score_mask)
            score_mask = attention_mask.unsqueeze(2) * attention_mask.unsqueeze(1)
        x = self.embedder(input_ids)
        for norm, att in zip(self.norms, self.attentions):
            x = att(norm(x), score_mask)
        x = torch.sqrt(torch.mean(torch.pow(x, 2), dim=1))
        return self.fc(self.act(x))


# --------------------------------------------------------------------------------------------
# synthetic token-sequence task


def build(cfg):
    name = cfg["name"]
    rng = zc.seed_everything(cfg["seed"])
    zc.log(f"== {FAMILY}/{name}: vocab {cfg['vocab']} hidden {cfg['d']} reduced {cfg['r']} "
           f"length {cfg['max_len']} layers {cfg['layers']} kernel {cfg['kernel']} mask {cfg['mask']}")
    model = EmbBERTClassifier(cfg["vocab"], cfg["max_len"], cfg["d"], cfg["r"], cfg["layers"],
                              cfg["kernel"], cfg["labels"], mask=cfg["mask"])
    nparams = sum(p.numel() for p in model.parameters())
    zc.log(f"  {nparams} parameters")
    ids, mask, y = make_texts(cfg["n_train"], cfg, rng)
    vids, vmask, vy = make_texts(cfg["n_val"], cfg, rng)
    if cfg["mask"] == "input":
        x, xv = (ids, mask), (vids, vmask)
    else:
        x, xv = ids, vids
    # Cheaper training of long sequences: batches of similar lengths, most of them cropped to
    # their longest sequence (rounded up to 32 tokens), some kept at the full length so that the
    # model also learns the long right padding it sees at the exported length.
    lengths = mask.sum(1)
    batch, L = cfg["batch"], cfg["max_len"]

    def batcher(r):
        order = np.argsort(lengths + r.uniform(0, 8, len(lengths)), kind="stable")
        batches = [order[i:i + batch] for i in range(0, len(order), batch)]
        return [batches[k] for k in r.permutation(len(batches))]

    def prep(xb):
        if r_crop.random() < cfg["full_length_fraction"]:
            return xb
        longest = int((xb[0] != PAD).sum(1).max())
        keep = min(L, -(-longest // 32) * 32)
        return [a[:, :keep] for a in xb]

    r_crop = np.random.default_rng(cfg["seed"] + 1000)
    acc = zc.train_classifier(model, x, y, epochs=cfg["epochs"], lr=cfg["lr"], batch=batch, rng=rng,
                              x_val=xv, y_val=vy, name=name, batcher=batcher, prep=prep,
                              eval_every_epoch=cfg["max_len"] <= 64,
                              lr_scale=lambda n: cfg.get("lambda_lr_scale", 1.0) if "lambda_" in n else 1.0)
    model.eval()
    # reference sets: validation sequences of 3 different topics and lengths
    idx = [int(np.nonzero(vy == c)[0][k]) for k, c in enumerate(cfg["ref_classes"])]
    if cfg["mask"] == "input":
        sets = [(vids[i:i + 1], vmask[i:i + 1]) for i in idx]
        in_names = ["input_ids", "attention_mask"]
    else:
        sets = [(vids[i:i + 1],) for i in idx]
        in_names = ["input_ids"]
    for opset in (13, 17):
        zc.export_with_refs(f"{name} opset {opset}", model, sets, f"{FAMILY}/{name}_op{opset}",
                            in_names, ["logits"], opset)
    if cfg.get("train_export"):
        p, _ = zc.export_with_refs(f"{name}_train", model, sets, f"{FAMILY}/{name}_train_op13",
                                   in_names, ["logits"], 13, training_friendly=True)
        last = len(model.attentions) - 1
        biases = [n for n, _ in model.named_parameters() if n.endswith(".bias")]
        zc.write_grad_refs(p, model, list(sets[0]), lambda m, *a: m(*a), cfg["grad_label"], {
            "last_layer": ["fc.weight", "fc.bias"],
            "biases": biases,
            "head2": [f"attentions.{last}.att_output.weight", f"attentions.{last}.att_output.bias",
                      f"attentions.{last}.contract.weight", f"attentions.{last}.contract.bias",
                      "fc.weight", "fc.bias"],
        })
    return {"val_acc": acc, "params": nparams, "n_train": cfg["n_train"], "n_val": cfg["n_val"]}


SMALL = dict(vocab=512, max_len=64, d=32, r=8, layers=2, kernel=8, labels=4, keywords=16, min_len=12,
             full_length_fraction=1.0)
CONFIGS = [
    dict(name="embbert_q", vocab=8192, max_len=256, d=128, r=16, layers=4, kernel=32, labels=4,
         keywords=24, min_len=16, mask="ids", n_train=2000, n_val=200, epochs=4, lr=1.5e-3, batch=16,
         full_length_fraction=0.05, lambda_lr_scale=0.1,
         seed=21, ref_classes=[0, 1, 3]),
    dict(name="embbert_q_small", **SMALL, mask="none", n_train=3000, n_val=400, epochs=12, lr=4e-3,
         batch=32, seed=22, ref_classes=[0, 2, 3], train_export=True, grad_label=1),
    dict(name="embbert_q_small_mask", **SMALL, mask="input", n_train=3000, n_val=400, epochs=12, lr=4e-3,
         batch=32, seed=23, ref_classes=[1, 2, 3]),
]


def main():
    only = sys.argv[1:]
    out = {}
    for cfg in CONFIGS:
        if only and cfg["name"] not in only:
            continue
        out[cfg["name"]] = build(cfg)
    for k, v in out.items():
        zc.log(f"{FAMILY}/{k}: {v['params']} parameters, validation accuracy {v['val_acc']:.3f} "
               f"({v['n_train']} train / {v['n_val']} val sequences)")


if __name__ == "__main__":
    main()
