#!/usr/bin/python3
"""Adds reference gradients to committed training-friendly exports WITHOUT retraining: loads the
committed ONNX initializers into the PyTorch module (the training-friendly exports keep the
PyTorch parameter names), checks that the module reproduces the committed reference outputs,
and writes
  tinysv/dvector_train_op13/grad_ref/            cosine-prototype loss (make_tinysv.py:
                                                 write_dvector_grad_refs; prototypes from the
                                                 regenerated synthetic enrolment utterances)
  streamtinynet/stn_t4_gray64_h_train_op13/grad_ref_mse/   MSE loss against a one-hot target
The family scripts write the same files when the zoo is regenerated (make_all.py). As a check of
the weight loading, the committed cross-entropy grad_ref of stn_t4_gray64_h_train_op13 is
recomputed and compared.
Run: /usr/bin/python3 examples/models/add_grad_refs.py
"""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.abspath(__file__))
for sub in ("", "streamtinynet", "tinysv"):
    sys.path.insert(0, os.path.join(ROOT, sub))
import zoo_common as zc  # noqa: E402
import make_streamtinynet as stn  # noqa: E402
import make_tinysv as tsv  # noqa: E402


def load_onnx_weights(module, onnx_path, ignore=()):
    """Copies the named initializers of a training-friendly export into module; every parameter
    and buffer (except num_batches_tracked and names starting with an `ignore` prefix) must be
    there with the same shape."""
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(onnx_path).graph.initializer}
    state = module.state_dict()
    for name, v in state.items():
        if name.endswith("num_batches_tracked") or name.startswith(tuple(ignore)):
            continue
        if name not in inits:
            zc.fail(f"{onnx_path}: no initializer named {name}")
        a = inits[name]
        if tuple(a.shape) != tuple(v.shape):
            zc.fail(f"{onnx_path}: {name}: shape {a.shape} != {tuple(v.shape)}")
        state[name] = torch.from_numpy(a.copy())
    module.load_state_dict(state)
    module.eval()


def load_pb(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def check_reference(module, folder, forward=None):
    """The module must reproduce every committed reference output of the folder."""
    forward = forward or (lambda m, *xs: m(*xs))
    k = 0
    while os.path.isdir(os.path.join(folder, f"test_data_set_{k}")):
        d = os.path.join(folder, f"test_data_set_{k}")
        x = torch.from_numpy(load_pb(os.path.join(d, "input_0.pb")).copy())
        with torch.no_grad():
            y = forward(module, x).numpy()
        ref = load_pb(os.path.join(d, "output_0.pb"))
        err = float(np.abs(y - ref).max())
        if err > 1e-5 * max(1.0, float(np.abs(ref).max())):
            zc.fail(f"{folder}: the loaded module differs from the reference of set {k} by {err}")
        k += 1
    zc.log(f"  {os.path.relpath(folder, ROOT)}: loaded weights reproduce {k} reference sets")


def speaker_enrolment(st_check):
    """The synthetic speaker data of make_tinysv.py main() (same generator and order): returns
    the MFCC of the enrolment utterances of the 8 unseen speakers and their labels, after
    checking that the regenerated test utterance of set 0 equals the committed input."""
    R = tsv.Renderer()
    rng = np.random.default_rng(311)
    train_spk = [tsv.random_speaker(rng) for _ in range(20)]
    new_spk = [tsv.random_speaker(rng) for _ in range(8)]
    sx, _ = tsv.make_speech(train_spk, 90, rng, R)
    tsv.make_speech(train_spk, 20, rng, R)
    ex, ey = tsv.make_speech(new_spk, 8, rng, R)
    tx, ty = tsv.make_speech(new_spk, 16, rng, R)
    _, st = tsv.to_mfcc(sx, tsv.MEL)
    xe, _ = tsv.to_mfcc(ex, tsv.MEL, st)
    xt, _ = tsv.to_mfcc(tx, tsv.MEL, st)
    i0 = int(np.nonzero(ty == 0)[0][0])
    err = float(np.abs(xt[i0:i0 + 1] - st_check).max())
    if err > 1e-5:
        zc.fail(f"regenerated speaker data differs from the committed dvector input by {err}")
    zc.log(f"  regenerated speaker data matches the committed input (max abs diff {err:.1e})")
    return xe, ey


def dvector():
    zc.seed_everything(34)
    folder = os.path.join(ROOT, "tinysv", "dvector_train_op13")
    path = os.path.join(folder, "dvector_train_op13.onnx")
    m = tsv.DVector(20)
    load_onnx_weights(m, path, ignore=("head.",))
    check_reference(m, folder)
    x0 = load_pb(os.path.join(folder, "test_data_set_0", "input_0.pb")).copy()
    xe, ey = speaker_enrolment(x0)
    protos = tsv.speaker_prototypes(m, xe, ey)
    with torch.no_grad():
        cos = (tsv.cosine_prototype_logits(m, torch.from_numpy(x0), protos) / tsv.PROTO_SCALE).numpy()
    zc.log(f"  cosine of set 0 (speaker 0) with the {len(protos)} prototypes: {np.round(cos, 4).tolist()}")
    tsv.write_dvector_grad_refs(path, m, x0, 1, protos)


def stn_h():
    zc.seed_everything(11)
    folder = os.path.join(ROOT, "streamtinynet", "stn_t4_gray64_h_train_op13")
    path = os.path.join(folder, os.path.basename(folder) + ".onnx")
    h = stn.H(4, 16, 8, 8, 2, 32, 5)
    load_onnx_weights(h, path)
    check_reference(h, folder)
    # the committed cross-entropy gradients must come out again
    g = os.path.join(folder, "grad_ref")
    x = load_pb(os.path.join(g, "input_0.pb")).copy()
    label = int(load_pb(os.path.join(g, "label.pb"))[0])
    for p in h.parameters():
        p.grad = None
    torch.nn.functional.cross_entropy(h(torch.from_numpy(x.copy())), torch.tensor([label])).backward()
    worst = 0.0
    for scen in ("last_layer", "biases", "head2"):
        for f in os.listdir(os.path.join(g, scen)):
            ref = load_pb(os.path.join(g, scen, f))
            got = dict(h.named_parameters())[f[:-3]].grad.numpy()
            worst = max(worst, float(np.abs(got - ref).max() / max(1e-30, np.abs(ref).max())))
    if worst > 1e-5:
        zc.fail(f"{folder}: recomputed cross-entropy gradients differ from grad_ref (rel {worst:.2g})")
    zc.log(f"  committed grad_ref reproduced (max rel diff {worst:.1e})")
    stn.write_mse_grad_refs(path, h, x, label, 5)


def main():
    dvector()
    stn_h()


if __name__ == "__main__":
    main()
