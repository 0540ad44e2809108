#!/usr/bin/python3
"""Writes tests/enrol/data/: utterances of the zoo's *unseen* TinySV speakers (the held-out
speakers of examples/models/tinysv/make_tinysv.py, regenerated with the same seeded generators)
and their d-vectors computed by PyTorch, the independent reference of the enrolment tests
(tests/enrol/test_enrol.py, docs/enrolment.md).

The PyTorch DVector module (make_tinysv.py) gets the weights of the committed export
dvector_op13.onnx; the script checks that it reproduces the export's own reference data
(test_data_set_0: input and output) before writing anything, so the data below are the zoo's
data and the embeddings are PyTorch's.

Layout (ONNX backend-test layout, `tinyodlc run --enrol DIR` reads it):
    data/spk_S/enrol/sample_J/{input_0.pb, output_0.pb}   S = 0..3, J < ENROL
    data/spk_S/test/sample_J/{input_0.pb, output_0.pb}    J < TEST
    data/spk_S/enrol_more/sample_J/...                    the other ENROL_ALL - ENROL enrolment
        utterances: enrolling enrol/ and enrol_more/ gives the prototypes of the zoo's reference
        gradients (dvector_train_op13/grad_ref/prototypes.pb, checked here)
input_0.pb: MFCC float [1, 1, 49, 40]; output_0.pb: the PyTorch d-vector float [1, 256].
Needs torch (run once, the files are committed):  /usr/bin/python3 tests/enrol/make_enrol_data.py
"""
import os
import shutil
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "models"))
sys.path.insert(0, ZOO)
sys.path.insert(0, os.path.join(ZOO, "tinysv"))
import make_tinysv as tsv  # noqa: E402
from zoo_data import MEL, Renderer, make_speech, random_speaker, to_mfcc  # noqa: E402

SPEAKERS, ENROL, TEST, ENROL_ALL = 4, 3, 5, 8
OUT = os.path.join(HERE, "data")


def load_dvector():
    onnx_path = os.path.join(ZOO, "tinysv", "dvector_op13", "dvector_op13.onnx")
    m = tsv.DVector(20)
    sd = m.state_dict()
    for init in onnx.load(onnx_path).graph.initializer:
        if init.name in sd:
            sd[init.name] = torch.from_numpy(numpy_helper.to_array(init).copy())
    m.load_state_dict(sd)
    return m.eval()


def save(folder, name, arr, tensor_name):
    os.makedirs(folder, exist_ok=True)
    onnx.save_tensor(numpy_helper.from_array(arr, tensor_name), os.path.join(folder, name))


def main():
    torch.set_num_threads(1)
    R = Renderer()
    # make_tinysv.py main(), "speakers": the same generator and the same draws in the same order
    rng = np.random.default_rng(311)
    train_spk = [random_speaker(rng) for _ in range(20)]
    new_spk = [random_speaker(rng) for _ in range(8)]
    sx, _ = make_speech(train_spk, 90, rng, R)
    make_speech(train_spk, 20, rng, R)
    ex, ey = make_speech(new_spk, 8, rng, R)
    tx, ty = make_speech(new_spk, 16, rng, R)
    _, st = to_mfcc(sx, MEL)
    xe, _ = to_mfcc(ex, MEL, st)
    xt, _ = to_mfcc(tx, MEL, st)
    m = load_dvector()
    # the export's reference set 0 is the first test utterance of unseen speaker 0
    ref = os.path.join(ZOO, "tinysv", "dvector_op13", "test_data_set_0")
    rin = numpy_helper.to_array(onnx.load_tensor(os.path.join(ref, "input_0.pb")))
    rout = numpy_helper.to_array(onnx.load_tensor(os.path.join(ref, "output_0.pb")))
    i0 = int(np.nonzero(ty == 0)[0][0])
    assert np.array_equal(rin, xt[i0:i0 + 1]), "regenerated data differ from the zoo's reference input"
    with torch.no_grad():
        d0 = m(torch.from_numpy(rin)).numpy()
    assert np.abs(d0 - rout).max() < 1e-6, f"PyTorch module differs from the export's reference: {np.abs(d0 - rout).max()}"
    shutil.rmtree(OUT, ignore_errors=True)
    with torch.no_grad():
        for s in range(SPEAKERS):
            for kind, x, y, lo, hi in (("enrol", xe, ey, 0, ENROL), ("test", xt, ty, 0, TEST),
                                       ("enrol_more", xe, ey, ENROL, ENROL_ALL)):
                for j, i in enumerate(np.nonzero(y == s)[0][lo:hi]):
                    folder = os.path.join(OUT, f"spk_{s}", kind, f"sample_{j:02d}")
                    save(folder, "input_0.pb", x[i:i + 1], "mfcc")
                    save(folder, "output_0.pb", m(torch.from_numpy(x[i:i + 1])).numpy(), "dvector")
    # the zoo's grad_ref prototypes are the normalised means of these 8 utterances' d-vectors
    gp = numpy_helper.to_array(onnx.load_tensor(os.path.join(ZOO, "tinysv", "dvector_train_op13", "grad_ref",
                                                             "prototypes.pb")))
    with torch.no_grad():
        d = m(torch.from_numpy(xe)).numpy().astype(np.float64)
    p = np.stack([d[ey == s][:ENROL_ALL].mean(0) for s in range(SPEAKERS)])
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    assert np.abs(p - gp).max() < 1e-6, f"grad_ref prototypes differ: {np.abs(p - gp).max()}"
    print(f"wrote {OUT}: {SPEAKERS} speakers x ({ENROL} enrolment + {TEST} test) utterances")


if __name__ == "__main__":
    main()
