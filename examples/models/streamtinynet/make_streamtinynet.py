#!/usr/bin/python3
"""StreamTinyNet (Shalby, Pavan, Roveri 2024, arXiv:2407.17524): multi-frame video classifier.

f(x_t, ..., x_{t-T+1}) = h(g(x_t), ..., g(x_{t-T+1})):
  g (spatial, shared across frames): [Conv3x3 + BatchNorm + ReLU + MaxPool2] x 3
  h (temporal): stack the T feature maps, split them per channel (Conv 1x1 with groups=C mixes
     the T frames of each channel: "1x1 temporal processing"), BatchNorm + ReLU, AvgPool2,
     Flatten, Linear + ReLU, Linear -> class logits.
Two sizes: T=4 grayscale 64x64 (5 classes) and T=8 RGB 48x48 (6 classes). Each is exported as
the whole model, as g alone (one frame -> one feature map) and as h alone (T feature maps ->
logits), at opset 13 and 17; plus training-friendly exports (BatchNormalization kept).

Trained on a synthetic "moving shapes" task generated here (see README.md).
Run: /usr/bin/python3 examples/models/streamtinynet/make_streamtinynet.py
"""
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import zoo_common as zc  # noqa: E402
from zoo_data import MOTIONS_5, MOTIONS_6, make_videos  # noqa: E402

FAMILY = "streamtinynet"


class G(nn.Module):
    """Per-frame spatial CNN."""

    def __init__(self, c_in, channels):
        super().__init__()
        layers = []
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c
        self.blocks = nn.Sequential(*layers)

    def forward(self, frame):  # [B, C, H, W] -> [B, C', H', W']
        return self.blocks(frame)


class H(nn.Module):
    """Temporal head over a stack of T feature maps [B, T, C, H, W]."""

    def __init__(self, T, C, Hf, Wf, mult, hidden, classes):
        super().__init__()
        self.temporal = nn.Conv2d(C * T, C * mult, 1, groups=C)
        self.bn = nn.BatchNorm2d(C * mult)
        self.act = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(C * mult * (Hf // 2) * (Wf // 2), hidden)
        self.act1 = nn.ReLU()
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, features):
        b, t, c, hh, ww = features.shape
        # split per channel: [B, C, T, H, W] -> [B, C*T, H, W]; group c holds the T frames of channel c
        x = features.permute(0, 2, 1, 3, 4).reshape(b, c * t, hh, ww)
        x = self.pool(self.act(self.bn(self.temporal(x))))
        x = self.act1(self.fc1(self.flatten(x)))
        return self.fc2(self.dropout(x))


class StreamTinyNet(nn.Module):
    def __init__(self, T, C, H_, W_, channels, mult, hidden, classes):
        super().__init__()
        self.g = G(C, channels)
        s = 2 ** len(channels)
        self.h = H(T, channels[-1], H_ // s, W_ // s, mult, hidden, classes)

    def forward(self, frames):  # [B, T, C, H, W]
        b, t, c, hh, ww = frames.shape
        f = self.g(frames.reshape(b * t, c, hh, ww))
        f = f.reshape(b, t, f.shape[1], f.shape[2], f.shape[3])
        return self.h(f)


# --------------------------------------------------------------------------------------------
# synthetic "moving shapes" video


def pick_one_per_class(y, classes, count=3):
    idx = []
    for c in classes[:count]:
        idx.append(int(np.nonzero(y == c)[0][0]))
    return idx


def build(cfg):
    name, T, C, H_, W_ = cfg["name"], cfg["T"], cfg["C"], cfg["H"], cfg["W"]
    motions = cfg["motions"]
    rng = zc.seed_everything(cfg["seed"])
    zc.log(f"== {FAMILY}/{name}: T={T} C={C} {H_}x{W_}, classes {motions}")
    xtr, ytr = make_videos(cfg["n_train"], T, C, H_, W_, motions, rng)
    xva, yva = make_videos(cfg["n_val"], T, C, H_, W_, motions, rng)
    model = StreamTinyNet(T, C, H_, W_, cfg["channels"], cfg["mult"], cfg["hidden"], len(motions))
    acc = zc.train_classifier(model, xtr, ytr, epochs=cfg["epochs"], lr=cfg["lr"], batch=32, rng=rng,
                              x_val=xva, y_val=yva, name=name)
    model.eval()
    results = {"val_acc": acc, "n_train": cfg["n_train"], "n_val": cfg["n_val"]}

    # 3 reference sets: validation clips of 3 different classes (first, second and a later class)
    idx = pick_one_per_class(yva, cfg["ref_classes"])
    clips = [xva[i:i + 1] for i in idx]
    with torch.no_grad():
        feats = [model.g(torch.from_numpy(c[0])).unsqueeze(0).numpy() for c in clips]  # [1,T,C',H',W']
    frames = [c[:, k] for k, c in enumerate(clips)]  # frame k of clip k: [1, C, H, W]
    # frame sets: different frames of different clips; feature sets: the g outputs of whole clips
    for opset in (13, 17):
        zc.export_with_refs(f"{name} opset {opset}", model, [(c,) for c in clips],
                            f"{FAMILY}/{name}_op{opset}", ["frames"], ["logits"], opset)
        zc.export_with_refs(f"{name}_g opset {opset}", model.g, [(f,) for f in frames],
                            f"{FAMILY}/{name}_g_op{opset}", ["frame"], ["features"], opset)
        zc.export_with_refs(f"{name}_h opset {opset}", model.h, [(f,) for f in feats],
                            f"{FAMILY}/{name}_h_op{opset}", ["features"], ["logits"], opset)

    # training-friendly exports (opset 13) + reference gradients
    label = int(cfg["grad_label"])
    h_fc = ["h.fc2.weight", "h.fc2.bias"]
    head2 = ["h.fc1.weight", "h.fc1.bias", "h.fc2.weight", "h.fc2.bias"]
    if cfg.get("train_full"):
        p, _ = zc.export_with_refs(f"{name}_train", model, [(c,) for c in clips],
                                   f"{FAMILY}/{name}_train_op13", ["frames"], ["logits"], 13,
                                   training_friendly=True)
        biases = [n for n, _ in model.named_parameters() if n.endswith(".bias")]
        zc.write_grad_refs(p, model, [clips[0]], lambda m, x: m(x), label,
                           {"last_layer": h_fc, "biases": biases, "head2": head2})
    hm = model.h
    p, _ = zc.export_with_refs(f"{name}_h_train", hm, [(f,) for f in feats],
                               f"{FAMILY}/{name}_h_train_op13", ["features"], ["logits"], 13,
                               training_friendly=True)
    strip = lambda names: [n[len("h."):] for n in names]  # noqa: E731  (h alone: names lose "h.")
    hb = [n for n, _ in hm.named_parameters() if n.endswith(".bias")]
    zc.write_grad_refs(p, hm, [feats[0]], lambda m, x: m(x), label,
                       {"last_layer": strip(h_fc), "biases": hb, "head2": strip(head2)})
    if cfg.get("grad_mse"):
        write_mse_grad_refs(p, hm, feats[0], label, len(motions))
    return results


def write_mse_grad_refs(onnx_path, h, features, label, classes):
    """grad_ref_mse: loss = mse_loss(logits, target) (mean over the classes), target = one-hot of
    `label` ([1, classes] float, saved as target.pb); same scenarios as grad_ref."""
    target = np.zeros((1, classes), dtype=np.float32)
    target[0, label] = 1.0
    hb = [n for n, _ in h.named_parameters() if n.endswith(".bias")]
    zc.write_grad_refs(onnx_path, h, [features], lambda m, x: m(x), target,
                       {"last_layer": ["fc2.weight", "fc2.bias"], "biases": hb,
                        "head2": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]},
                       loss_fn=torch.nn.functional.mse_loss, folder="grad_ref_mse")


CONFIGS = [
    dict(name="stn_t4_gray64", T=4, C=1, H=64, W=64, channels=(8, 16, 16), mult=2, hidden=32,
         motions=MOTIONS_5, ref_classes=[0, 3, 4], n_train=1200, n_val=400, epochs=4, lr=3e-3,
         seed=11, train_full=True, grad_label=1, grad_mse=True),
    dict(name="stn_t8_rgb48", T=8, C=3, H=48, W=48, channels=(8, 16, 16), mult=2, hidden=32,
         motions=MOTIONS_6, ref_classes=[1, 2, 4], n_train=1200, n_val=400, epochs=4, lr=3e-3,
         seed=12, train_full=False, grad_label=0),
]


def main():
    only = sys.argv[1:]
    out = {}
    for cfg in CONFIGS:
        if only and cfg["name"] not in only:
            continue
        out[cfg["name"]] = build(cfg)
    for k, v in out.items():
        zc.log(f"{FAMILY}/{k}: validation accuracy {v['val_acc']:.3f} ({v['n_train']} train / {v['n_val']} val clips)")


if __name__ == "__main__":
    main()
