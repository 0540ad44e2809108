#!/usr/bin/python3
"""TinySV (Pavan, Mombelli, Sinacori, Roveri 2024, arXiv:2406.01655; code
github.com/pavmassimo/TinySV) and DS-CNN variants, re-implemented in PyTorch:

  kws          the keyword-spotting gate (Sheila-NormDoubleConvModel): MFCC 49x40 ->
               Conv 16@8x20 stride 2 'same' + ReLU + MaxPool2 -> Conv 32@4x10 'same' + ReLU +
               MaxPool2 -> Flatten(960) -> Dense 3 (silence / unknown / keyword) -> Softmax.
               Outputs the logits and the probabilities. 25,971 parameters, as the Keras model.
  dvector      the d-vector speaker embedder (d-vector-extractor-256): BatchNorm on the input ->
               Conv 8@3x3 'same' ReLU -> MaxPool3 -> Conv 16@3x3 'same' ReLU -> MaxPool2 ->
               Conv 32@3x3 stride 2 'same' ReLU -> Conv 64@3x3 stride 2 'same' ReLU -> Flatten
               (256) -> L2 normalisation. Trained as a speaker classifier (head Dense 128 + ReLU +
               Dropout 0.3 + Dense, cut off afterwards), as the authors did.
  tinysv       the verifier: dvector + the enrolment decision: cosine similarity with the enrolled (mean)
               d-vector, accept = score > threshold (bool output).
  dscnn_kws    DS-CNN keyword spotter (Zhang et al., "Hello Edge", DS-CNN-S): MFCC 49x10 ->
               Conv 64@10x4 stride 2 'same' + BN + ReLU -> 4 x [depthwise 3x3 + BN + ReLU +
               pointwise 1x1 + BN + ReLU] -> global average pool -> Dense 3 (logits).
  dscnn_sv     DS-CNN speaker embedder: MFCC 49x40 -> the DS-CNN trunk with 32 channels ->
               global average pool -> Linear 256 -> L2 normalisation.
Keras 'same' padding with stride 2 (or even kernels) is asymmetric: it is written with F.pad,
as people porting these Keras models do. Exported at opset 13 and 17, plus training-friendly
exports of kws, dvector and dscnn_kws.
Trained on synthetic spectrogram-like patterns (see README.md).
Run: /usr/bin/python3 examples/models/tinysv/make_tinysv.py [model names]
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import zoo_common as zc  # noqa: E402
from zoo_data import MEL, Renderer, make_kws, make_speech, random_speaker, to_mfcc  # noqa: E402

FAMILY = "tinysv"
KWS_CLASSES = ["silence", "unknown", "keyword"]


def same_pads(size, k, s):
    """Keras/TensorFlow 'same' padding (before, after) of one dimension.

    Written with non-negative operands only: torch 1.13 exports `//` on traced sizes as a
    truncating ONNX Div (its floor_divide symbolic truncates), so the usual ceil idiom
    -(-size // s) would export a different padding than PyTorch computes."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def tf_same_pad(x, k, s, traced=False):
    """F.pad for Keras 'same' padding of a [N, C, H, W] tensor (extra padding bottom/right).

    traced=False: the pads are Python ints (F.pad(x, (9, 9, 3, 4)) as written by hand);
    traced=True: they are computed from x.shape inside the traced graph, as generic
    "Conv2dSame" helpers do (the export then computes them with Shape/Gather/arithmetic)."""
    h, w = (x.shape[2], x.shape[3]) if traced else (int(x.shape[2]), int(x.shape[3]))
    top, bottom = same_pads(h, k[0], s[0])
    left, right = same_pads(w, k[1], s[1])
    return F.pad(x, (left, right, top, bottom))


class KWS(nn.Module):
    """Sheila-NormDoubleConvModel."""

    def __init__(self, classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, (8, 20), stride=2)
        self.conv2 = nn.Conv2d(16, 32, (4, 10))
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 6 * 5, classes)

    def logits(self, mfcc):
        x = self.pool(F.relu(self.conv1(tf_same_pad(mfcc, (8, 20), (2, 2)))))
        x = self.pool(F.relu(self.conv2(tf_same_pad(x, (4, 10), (1, 1)))))
        return self.fc(torch.flatten(x, 1))

    def forward(self, mfcc):
        z = self.logits(mfcc)
        return z, torch.softmax(z, dim=1)


class DVector(nn.Module):
    """d-vector-extractor-256 (+ the training head, not exported)."""

    def __init__(self, speakers):
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool1 = nn.MaxPool2d(3)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(16, 32, 3, stride=2)
        self.conv4 = nn.Conv2d(32, 64, 3, stride=2)
        self.head = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, speakers))

    def features(self, mfcc):
        x = self.pool1(F.relu(self.conv1(self.bn(mfcc))))
        x = self.pool2(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(tf_same_pad(x, (3, 3), (2, 2), traced=True)))
        x = F.relu(self.conv4(tf_same_pad(x, (3, 3), (2, 2), traced=True)))
        return torch.flatten(x, 1)

    def classify(self, mfcc):
        return self.head(self.features(mfcc))

    def forward(self, mfcc):
        return F.normalize(self.features(mfcc), dim=1)


class Verify(nn.Module):
    """d-vector + cosine score against the enrolled d-vector + threshold decision."""

    def __init__(self, embedder, threshold):
        super().__init__()
        self.embedder = embedder
        self.threshold = float(threshold)

    def forward(self, mfcc, enrolled):
        d = self.embedder(mfcc)
        score = torch.sum(d * F.normalize(enrolled, dim=1), dim=1)
        return d, score, score > self.threshold


class DSCNN(nn.Module):
    """DS-CNN trunk; head 'classes' (logits) or 'embedding' (Linear + L2 normalisation)."""

    def __init__(self, channels, blocks, out, embedding=False, speakers=0):
        super().__init__()
        self.embedding = embedding
        self.conv1 = nn.Conv2d(1, channels, (10, 4), stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        layers = []
        for _ in range(blocks):
            layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU(),
                       nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
        self.ds = nn.Sequential(*layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(channels, out)
        if embedding:
            self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(out, speakers))

    def features(self, mfcc):
        x = F.relu(self.bn1(self.conv1(tf_same_pad(mfcc, (10, 4), (2, 2)))))
        x = torch.flatten(self.gap(self.ds(x)), 1)
        return self.fc(self.dropout(x))

    def classify(self, mfcc):
        return self.head(self.features(mfcc)) if self.embedding else self.features(mfcc)

    def forward(self, mfcc):
        z = self.features(mfcc)
        return F.normalize(z, dim=1) if self.embedding else z


# --------------------------------------------------------------------------------------------
# synthetic speech-like log-mel spectrograms -> MFCC


def eer_threshold(model, x_enrol, x_test, y_enrol, y_test):
    """Mean-cosine verification (the authors' testing-meancos): prototype = mean d-vector of the
    enrolment utterances of a speaker; equal-error-rate threshold over all (test, speaker) pairs."""
    with torch.no_grad():
        de = model(torch.from_numpy(x_enrol)).numpy()
        dt = model(torch.from_numpy(x_test)).numpy()
    protos = np.stack([de[y_enrol == s].mean(0) for s in np.unique(y_enrol)])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    scores = dt @ protos.T
    target = y_test[:, None] == np.unique(y_enrol)[None, :]
    best = (1.0, 0.0)
    for th in np.linspace(-1, 1, 2001):
        far = (scores[~target] > th).mean()
        frr = (scores[target] <= th).mean()
        if abs(far - frr) < best[0]:
            best = (abs(far - frr), th, (far + frr) / 2)
    return best[1], best[2], protos


# --------------------------------------------------------------------------------------------
# on-device learning for speakers: cosine-prototype loss

PROTO_SCALE = 10.0   # s of logits_k = s * cos(embedding, prototype_k)
PROTO_SPEAKERS = 4   # K: prototypes = mean d-vectors of the enrolment utterances of unseen speakers 0..K-1


def speaker_prototypes(model, x_enrol, y_enrol, k=PROTO_SPEAKERS):
    """[K, D] float32: the L2-normalised mean embedding of the enrolment utterances of speakers
    0..K-1 (the authors' mean-cosine prototypes)."""
    with torch.no_grad():
        d = model(torch.from_numpy(x_enrol)).numpy()
    p = np.stack([d[y_enrol == s].mean(0) for s in range(k)])
    return (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)


def cosine_prototype_logits(model, mfcc, prototypes, scale=PROTO_SCALE):
    """logits_k = scale * cos(embedding, prototype_k) (both L2-normalised; works in the model's
    dtype, so the float64 finite-difference check uses float64 prototypes)."""
    e = model(mfcc)
    p = torch.from_numpy(prototypes).to(e.dtype)
    return scale * (F.normalize(e, dim=1) @ F.normalize(p, dim=1).t())


def write_dvector_grad_refs(onnx_path, model, mfcc, label, prototypes):
    """grad_ref of dvector_train_op13: cross-entropy on cosine-prototype logits (label: a
    prototype index); scenarios last_layer / biases / head2 as for the
    classifiers (conv4 is the last layer, conv3 + conv4 the last two)."""
    biases = [n for n, _ in model.named_parameters() if n.endswith(".bias") and not n.startswith("head.")]
    zc.write_grad_refs(onnx_path, model, [mfcc], lambda m, a: cosine_prototype_logits(m, a, prototypes), label,
                       {"last_layer": ["conv4.weight", "conv4.bias"], "biases": biases,
                        "head2": ["conv3.weight", "conv3.bias", "conv4.weight", "conv4.bias"]},
                       extra={"prototypes": prototypes, "scale": np.array(PROTO_SCALE, dtype=np.float32)})
    with open(os.path.join(os.path.dirname(onnx_path), "grad_ref", "README.md"), "w") as f:
        f.write(f"""# grad_ref of dvector_train_op13: cosine-prototype loss

The d-vector has no classifier; on-device learning for speakers scores the embedding against
K = {len(prototypes)} speaker prototypes:

    e        = model(mfcc)                                   # graph output 'dvector' [1, {prototypes.shape[1]}]
    logits_k = s * cos(e, prototypes[k])    k = 0..K-1       # s = {PROTO_SCALE:g} (scale.pb)
    loss     = cross_entropy(logits, label) = -log softmax(logits)[label]

- prototypes.pb: float [K, {prototypes.shape[1]}] named 'prototypes': L2-normalised mean d-vectors of
  8 enrolment utterances of each of the unseen synthetic speakers 0..K-1 (make_tinysv.py);
- scale.pb: float scalar named 'scale' (s);
- label.pb: int64 [1] = {label}; input_0.pb = test_data_set_0/input_0.pb, an utterance of unseen
  speaker 0, which the model already scores closest to prototype 0 (loss ~0.02), so the label is
  another speaker, as for the other exports (gradients not ~0);
- loss.pb and the scenarios last_layer (conv4.*), biases (bn.bias, conv1..4.bias), head2
  (conv3.*, conv4.*): PyTorch autograd gradients, eval mode (the input BatchNorm uses its
  running statistics), as in ../../../README.md "Reference gradients".
""")


# --------------------------------------------------------------------------------------------


def export_all(name, model, sets, in_names, out_names, train=False, grad=None):
    for opset in (13, 17):
        zc.export_with_refs(f"{name} opset {opset}", model, sets, f"{FAMILY}/{name}_op{opset}", in_names,
                            out_names, opset)
    if train:
        p, _ = zc.export_with_refs(f"{name}_train", model, sets, f"{FAMILY}/{name}_train_op13", in_names,
                                   out_names, 13, training_friendly=True)
        if grad:
            logits_fn, label, scen = grad
            zc.write_grad_refs(p, model, list(sets[0]), logits_fn, label, scen)


def main():
    only = set(sys.argv[1:])
    want = lambda n: not only or n in only  # noqa: E731
    zc.seed_everything(31)
    R = Renderer()
    results = {}
    # every model and data set has its own seeded generator: running the script for a subset of
    # the models gives the same models as a full run

    # ---------------- keyword spotting data (shared by kws and dscnn_kws)
    drng = np.random.default_rng(310)
    kx, ky = make_kws(2000, drng, R)
    kvx, kvy = make_kws(600, drng, R)
    ref_idx = [int(np.nonzero(kvy == c)[0][0]) for c in (0, 1, 2)]

    if want("kws"):
        zc.log("== tinysv/kws (Sheila-NormDoubleConvModel)")
        torch.manual_seed(32)
        rng = np.random.default_rng(32)
        x, st = to_mfcc(kx, MEL)
        xv, _ = to_mfcc(kvx, MEL, st)
        m = KWS()
        acc = zc.train_classifier(m, x, ky, epochs=5, lr=3e-3, batch=32, rng=rng, x_val=xv, y_val=kvy,
                                  name="kws", forward=lambda mm, a: mm.logits(a))
        results["kws"] = acc
        sets = [(xv[i:i + 1],) for i in ref_idx]
        biases = [n for n, _ in m.named_parameters() if n.endswith(".bias")]
        export_all("kws", m, sets, ["mfcc"], ["logits", "probs"], train=True,
                   grad=(lambda mm, a: mm.logits(a), 2,
                         {"last_layer": ["fc.weight", "fc.bias"], "biases": biases,
                          "head2": ["conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]}))

    if want("dscnn_kws"):
        zc.log("== tinysv/dscnn_kws (DS-CNN, MFCC 49x10)")
        torch.manual_seed(33)
        rng = np.random.default_rng(33)
        x, st = to_mfcc(kx, 10)
        xv, _ = to_mfcc(kvx, 10, st)
        m = DSCNN(64, 4, 3)
        acc = zc.train_classifier(m, x, ky, epochs=5, lr=4e-3, batch=32, rng=rng, x_val=xv, y_val=kvy,
                                  name="dscnn_kws")
        results["dscnn_kws"] = acc
        sets = [(xv[i:i + 1],) for i in ref_idx]
        biases = [n for n, _ in m.named_parameters() if n.endswith(".bias")]
        export_all("dscnn_kws", m, sets, ["mfcc"], ["logits"], train=True,
                   grad=(lambda mm, a: mm(a), 1,
                         {"last_layer": ["fc.weight", "fc.bias"], "biases": biases,
                          "head2": ["ds.21.weight", "ds.22.weight", "ds.22.bias", "fc.weight", "fc.bias"]}))

    # ---------------- speakers
    if want("dvector") or want("tinysv") or want("dscnn_sv"):
        rng = np.random.default_rng(311)
        train_spk = [random_speaker(rng) for _ in range(20)]
        new_spk = [random_speaker(rng) for _ in range(8)]
        sx, sy = make_speech(train_spk, 90, rng, R)
        svx, svy = make_speech(train_spk, 20, rng, R)
        ex, ey = make_speech(new_spk, 8, rng, R)   # enrolment of unseen speakers
        tx, ty = make_speech(new_spk, 16, rng, R)  # their test utterances

    for name, n_coeff in (("dvector", MEL), ("dscnn_sv", MEL)):
        if not (want(name) or (name == "dvector" and want("tinysv"))):
            continue
        zc.log(f"== tinysv/{name}")
        torch.manual_seed(34 if name == "dvector" else 35)
        rng = np.random.default_rng(34 if name == "dvector" else 35)
        x, st = to_mfcc(sx, n_coeff)
        xv, _ = to_mfcc(svx, n_coeff, st)
        xe, _ = to_mfcc(ex, n_coeff, st)
        xt, _ = to_mfcc(tx, n_coeff, st)
        m = DVector(len(train_spk)) if name == "dvector" else DSCNN(32, 4, 256, embedding=True,
                                                                      speakers=len(train_spk))
        acc = zc.train_classifier(m, x, sy, epochs=10 if name == "dvector" else 5, lr=4e-3, batch=32, rng=rng,
                                  x_val=xv, y_val=svy, name=name, forward=lambda mm, a: mm.classify(a))
        th, eer, protos = eer_threshold(m, xe, xt, ey, ty)
        zc.log(f"  unseen speakers, mean-cosine verification: EER {100 * eer:.1f}% at threshold {th:.3f}")
        results[name] = (acc, eer, th)
        # reference sets: test utterances of 3 different unseen speakers
        idx = [int(np.nonzero(ty == s)[0][0]) for s in (0, 3, 6)]
        sets = [(xt[i:i + 1],) for i in idx]
        if want(name):
            export_all(name, m, sets, ["mfcc"], ["dvector" if name == "dvector" else "embedding"],
                       train=(name == "dvector"))
            if name == "dvector":
                write_dvector_grad_refs(os.path.join(zc.ROOT, FAMILY, "dvector_train_op13", "dvector_train_op13.onnx"),
                                        m, sets[0][0], 1, speaker_prototypes(m, xe, ey))
        if name == "dvector" and want("tinysv"):
            zc.log("== tinysv/tinysv (speaker verification: d-vector + cosine score + decision)")
            v = Verify(m, th)
            # set 0: the best genuine trial; set 1: the impostor trial with the lowest score (ReLU
            # d-vectors are non-negative, so cosine scores crowd near 1); set 2: the trial whose
            # score is closest to the middle of the two
            with torch.no_grad():
                dall = m(torch.from_numpy(xt)).numpy()
            sc = dall @ protos.T
            genuine = sc[np.arange(len(ty)), ty]
            imp = sc.copy()
            imp[np.arange(len(ty)), ty] = np.inf
            zc.log(f"  cosine scores: genuine {genuine.min():.3f}..{genuine.max():.3f} (mean {genuine.mean():.3f}), "
                   f"impostor {imp[np.isfinite(imp)].min():.3f}..{imp[np.isfinite(imp)].max():.3f} "
                   f"(mean {imp[np.isfinite(imp)].mean():.3f})")
            g_utt = int(np.argmax(genuine))
            i_utt, i_spk = np.unravel_index(int(np.argmin(imp)), imp.shape)
            mid = (genuine[g_utt] + imp[i_utt, i_spk]) / 2
            m_utt, m_spk = np.unravel_index(int(np.argmin(np.abs(sc - mid))), sc.shape)
            pairs = [(g_utt, int(ty[g_utt])), (int(i_utt), int(i_spk)), (int(m_utt), int(m_spk))]
            vsets = [(xt[i:i + 1], protos[s:s + 1].astype(np.float32)) for i, s in pairs]
            export_all("tinysv", v, vsets, ["mfcc", "enrolled"], ["dvector", "score", "accept"])

    for k, v in results.items():
        if isinstance(v, tuple):
            zc.log(f"tinysv/{k}: speaker-id validation accuracy {v[0]:.3f} (20 training speakers); "
                   f"unseen speakers: EER {100 * v[1]:.1f}% (threshold {v[2]:.3f})")
        else:
            zc.log(f"tinysv/{k}: validation accuracy {v:.3f} (3 classes)")


if __name__ == "__main__":
    main()
