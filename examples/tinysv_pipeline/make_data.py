#!/usr/bin/python3
"""Writes examples/tinysv_pipeline/data/: a stream of utterances for the TinySV pipeline example
(README.md), rendered with the zoo's synthetic speech (examples/models/zoo_data.py) for the
zoo's *unseen* speakers (regenerated exactly as examples/models/tinysv/make_tinysv.py does), and
the PyTorch references of both models, so run_pipeline.py can check the device's decisions.

Every utterance is one log-mel spectrogram turned into the two models' features: the keyword
gate's MFCC (statistics of the KWS training set) and the embedder's MFCC (statistics of the
speaker training set), as a device front-end with two normalisations would.

Stream (in this order; the device does not see the labels):
  - USER_ENROL keyword utterances of the user (unseen speaker 0): the device enrols them;
  - then, shuffled: USER_TEST keyword utterances of the user (genuine), IMPOSTOR keyword
    utterances of each of the unseen speakers 1..3 (impostors), OTHER non-keyword utterances
    (other words, silence) of all four (the gate should reject them).
Files: kws_mfcc.bin, sv_mfcc.bin (float32 [N, 1, 49, 40] each, raw), labels.txt (one line per
utterance: kind speaker), ref.npz (PyTorch: kws probabilities [N, 3], d-vectors [N, 256]).
Needs torch (run once, the files are committed): /usr/bin/python3 examples/tinysv_pipeline/make_data.py
"""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.normpath(os.path.join(HERE, "..", "models"))
sys.path.insert(0, ZOO)
sys.path.insert(0, os.path.join(ZOO, "tinysv"))
import make_tinysv as tsv  # noqa: E402
from zoo_data import MEL, Renderer, keyword, make_kws, make_speech, random_speaker, random_word, to_mfcc  # noqa: E402

USER_ENROL, USER_TEST, IMPOSTOR, OTHER = 4, 10, 5, 6
OUT = os.path.join(HERE, "data")


def load(module, onnx_path):
    sd = module.state_dict()
    for init in onnx.load(onnx_path).graph.initializer:
        if init.name in sd:
            sd[init.name] = torch.from_numpy(numpy_helper.to_array(init).copy())
    module.load_state_dict(sd)
    return module.eval()


def check(module, folder, fn):
    rin = numpy_helper.to_array(onnx.load_tensor(os.path.join(folder, "test_data_set_0", "input_0.pb")))
    rout = numpy_helper.to_array(onnx.load_tensor(os.path.join(folder, "test_data_set_0", "output_0.pb")))
    with torch.no_grad():
        d = np.abs(fn(module, torch.from_numpy(rin.copy())).numpy() - rout).max()
    assert d < 1e-5, f"{folder}: PyTorch module differs from the export's reference by {d}"


def main():
    torch.set_num_threads(1)
    R = Renderer()
    # feature statistics, as make_tinysv.py computes them
    drng = np.random.default_rng(310)
    kx, _ = make_kws(2000, drng, R)
    _, kst = to_mfcc(kx, MEL)
    rng = np.random.default_rng(311)
    train_spk = [random_speaker(rng) for _ in range(20)]
    new_spk = [random_speaker(rng) for _ in range(8)]
    sx, _ = make_speech(train_spk, 90, rng, R)
    _, sst = to_mfcc(sx, MEL)
    kws = load(tsv.KWS(), os.path.join(ZOO, "tinysv", "kws_op13", "kws_op13.onnx"))
    sv = load(tsv.DVector(20), os.path.join(ZOO, "tinysv", "dvector_op13", "dvector_op13.onnx"))
    check(kws, os.path.join(ZOO, "tinysv", "kws_op13"), lambda m, x: m.logits(x))
    check(sv, os.path.join(ZOO, "tinysv", "dvector_op13"), lambda m, x: m(x))

    # the stream
    srng = np.random.default_rng(1313)
    mels, labels = [], []

    def kw(spk):
        return R.render(keyword(R, new_spk[spk], srng, srng.uniform(0, 14)), srng, srng.uniform(0.002, 0.02))

    for _ in range(USER_ENROL):
        mels.append(kw(0))
        labels.append("enrol 0")
    rest = [(kw(0), "genuine 0") for _ in range(USER_TEST)]
    rest += [(kw(s), f"impostor {s}") for s in (1, 2, 3) for _ in range(IMPOSTOR)]
    for j in range(OTHER):
        s = j % 4
        if j % 3 == 2:
            m = R.render([], srng, srng.uniform(0.005, 0.08))  # silence
        else:
            m = R.render(random_word(R, new_spk[s], srng, srng.uniform(0, 15), int(srng.integers(1, 4))), srng,
                         srng.uniform(0.002, 0.02))
        rest.append((m, f"other {s}"))
    for i in srng.permutation(len(rest)):
        mels.append(rest[i][0])
        labels.append(rest[i][1])
    mels = np.stack(mels).astype(np.float32)
    xk, _ = to_mfcc(mels, MEL, kst)
    xs, _ = to_mfcc(mels, MEL, sst)
    with torch.no_grad():
        probs = kws(torch.from_numpy(xk))[1].numpy()
        dvec = sv(torch.from_numpy(xs)).numpy()
    os.makedirs(OUT, exist_ok=True)
    xk.astype(np.float32).tofile(os.path.join(OUT, "kws_mfcc.bin"))
    xs.astype(np.float32).tofile(os.path.join(OUT, "sv_mfcc.bin"))
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    np.savez(os.path.join(OUT, "ref.npz"), kws_probs=probs.astype(np.float32), dvector=dvec.astype(np.float32))
    kwd = probs.argmax(1) == 2
    print(f"wrote {OUT}: {len(labels)} utterances; PyTorch gate fires on "
          f"{sum(k for k, l in zip(kwd, labels) if not l.startswith('other'))}/"
          f"{sum(not l.startswith('other') for l in labels)} keyword utterances and "
          f"{sum(k for k, l in zip(kwd, labels) if l.startswith('other'))}/{OTHER} others")


if __name__ == "__main__":
    main()
