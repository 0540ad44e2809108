"""Shared helpers of the model-zoo export scripts (examples/models/*/make_*.py).

Run with Debian's python3 (python3-torch 1.13, python3-onnx 1.12, numpy):
    /usr/bin/python3 examples/models/make_all.py
Nothing here is needed at test time: tests read the committed .onnx and .pb files.
"""
import copy
import os
import shutil
import sys
import time
import warnings

import numpy as np
import onnx
import torch
from onnx import numpy_helper

# torch.onnx.export warns about traced Python values (shapes become constants, as intended here:
# the exports have static shapes) and about the constant-folding of training-mode exports.
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")

ROOT = os.path.dirname(os.path.abspath(__file__))
MAX_ONNX_BYTES = 2 * 1024 * 1024
ALIVE_FRACTION = 0.10  # reference outputs must differ pairwise by >= 10 % of their magnitude


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    # one thread: on a busy 2-core machine intra-op threading made small ops 10x slower
    torch.set_num_threads(1)
    return np.random.default_rng(seed)


def log(*a):
    print(*a, flush=True)


def fail(msg):
    print(f"ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# --------------------------------------------------------------------------------------------
# training


def train_classifier(model, x, y, *, epochs, lr, batch, rng, x_val, y_val, batcher=None, prep=None,
                     weight_decay=0.0, name="model", forward=None, eval_every_epoch=True, lr_scale=None):
    """Adam (one-cycle schedule) + cross-entropy on (x, y) numpy arrays (x may be a tuple of
    arrays). forward(model, *xb) -> logits (default model(*xb)); batcher(rng) -> list of index
    arrays (default: shuffled batches); prep(list of batch tensors) -> list (e.g. crop padding).
    lr_scale(parameter name) -> factor of the learning rate of that parameter (default 1).
    Returns the validation accuracy."""
    forward = forward or (lambda m, *xb: m(*xb))
    xs = x if isinstance(x, tuple) else (x,)
    xvs = x_val if isinstance(x_val, tuple) else (x_val,)
    groups = {}
    for pname, p in model.named_parameters():
        groups.setdefault(lr_scale(pname) if lr_scale else 1.0, []).append(p)
    param_groups = [{"params": ps, "lr": lr * f} for f, ps in sorted(groups.items())]
    opt = torch.optim.Adam(param_groups, lr=lr, weight_decay=weight_decay)
    n = len(y)
    if batcher is None:
        def batcher(r):
            perm = r.permutation(n)
            return [perm[i:i + batch] for i in range(0, n, batch)]
    prep = prep or (lambda xb: xb)
    steps = epochs * len(batcher(np.random.default_rng(0)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in param_groups], total_steps=steps,
                                                pct_start=0.15)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        tot, correct, seen = 0.0, 0, 0
        for idx in batcher(rng):
            xb = prep([torch.from_numpy(a[idx]) for a in xs])
            yb = torch.from_numpy(y[idx])
            logits = forward(model, *xb)
            loss = torch.nn.functional.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
        last = ep == epochs - 1
        acc = evaluate(model, xvs, y_val, forward) if eval_every_epoch or last else float("nan")
        log(f"  [{name}] epoch {ep + 1}/{epochs}: loss {tot / seen:.4f} train acc {correct / seen:.3f} "
            f"val acc {acc:.3f} ({time.time() - t0:.0f} s)")
    model.eval()
    return acc


@torch.no_grad()
def evaluate(model, xs, y, forward=None, batch=64, prep=None):
    forward = forward or (lambda m, *xb: m(*xb))
    prep = prep or (lambda xb: xb)
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        xb = prep([torch.from_numpy(a[i:i + batch]) for a in xs])
        correct += int((forward(model, *xb).argmax(1) == torch.from_numpy(y[i:i + batch])).sum())
    return correct / len(y)


# --------------------------------------------------------------------------------------------
# export


def export(model, args, folder, input_names, output_names, opset, training_friendly=False, root=None):
    """Exports `model` (eval mode, static shapes) to <root>/<folder>/<basename>.onnx (root:
    default examples/models).

    Standard export: do_constant_folding=True, TrainingMode.EVAL (torch fuses BatchNorm into
    the preceding Conv), exactly as users run torch.onnx.export. Training-friendly export:
    do_constant_folding=False, TrainingMode.PRESERVE on an eval-mode model (BatchNormalization
    stays, in inference form), initializers keep the PyTorch parameter names.
    """
    path = os.path.join(root or ROOT, folder, os.path.basename(folder) + ".onnx")
    if os.path.isdir(os.path.dirname(path)):
        shutil.rmtree(os.path.dirname(path))
    os.makedirs(os.path.dirname(path))
    model.eval()
    kw = dict(opset_version=opset, input_names=input_names, output_names=output_names,
              export_params=True, keep_initializers_as_inputs=False)
    if training_friendly:
        kw.update(do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    else:
        kw.update(do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    with torch.no_grad():
        torch.onnx.export(model, args, path, **kw)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    size = os.path.getsize(path)
    if size > MAX_ONNX_BYTES:
        fail(f"{path}: {size} bytes > {MAX_ONNX_BYTES}")
    for vi in m.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                fail(f"{path}: input {vi.name} has a symbolic dimension")
    for vi in m.graph.output:
        # torch 1.13 leaves output dimensions symbolic (e.g. 'Gemmlogits_dim_0') when its own shape
        # inference loses track behind an un-folded constant subgraph (F.pad); a quirk of the
        # export that is kept: the compiler infers the static shapes from the inputs.
        if any(not d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim):
            log(f"  note: output {vi.name} has symbolic dimensions in the export: "
                f"{[d.dim_value or d.dim_param for d in vi.type.tensor_type.shape.dim]}")
    ops = sorted({n.op_type for n in m.graph.node})
    log(f"  exported {os.path.relpath(path, root or ROOT)} ({size} bytes, {len(m.graph.node)} nodes): {' '.join(ops)}")
    return path


def torch_outputs(model, args):
    model.eval()
    with torch.no_grad():
        out = model(*args)
    if not isinstance(out, (tuple, list)):
        out = (out,)
    return [o.detach().cpu().numpy() for o in out]


def check_alive(name, output_names, outputs_per_set):
    """Fails unless every float output differs, for every pair of reference sets, by at least
    ALIVE_FRACTION of its magnitude (max |a - b| >= 0.1 * max(max|a|, max|b|))."""
    worst = []
    for k, oname in enumerate(output_names):
        arrs = [s[k] for s in outputs_per_set]
        if arrs[0].dtype.kind != "f":
            continue
        rel_min = float("inf")
        for i in range(len(arrs)):
            for j in range(i + 1, len(arrs)):
                a, b = arrs[i].astype(np.float64), arrs[j].astype(np.float64)
                mag = max(np.abs(a).max(), np.abs(b).max(), 1e-30)
                rel_min = min(rel_min, np.abs(a - b).max() / mag)
        worst.append(f"{oname} {rel_min:.2f}")
        if rel_min < ALIVE_FRACTION:
            fail(f"{name}: output '{oname}' is not alive: reference sets differ by only "
                 f"{100 * rel_min:.1f}% of the output magnitude (need >= {100 * ALIVE_FRACTION:.0f}%)")
    return ", ".join(worst)


def write_sets(onnx_path, inputs_per_set, outputs_per_set):
    """Writes test_data_set_K/input_N.pb and output_N.pb beside onnx_path (ONNX backend-test
    layout). Tensor names are the graph input / output names; checks dtypes and shapes against
    the graph."""
    m = onnx.load(onnx_path)
    ins = [vi for vi in m.graph.input]
    outs = [vi for vi in m.graph.output]
    folder = os.path.dirname(onnx_path)
    for k, (xs, ys) in enumerate(zip(inputs_per_set, outputs_per_set)):
        d = os.path.join(folder, f"test_data_set_{k}")
        os.makedirs(d, exist_ok=True)
        if len(xs) != len(ins) or len(ys) != len(outs):
            fail(f"{onnx_path}: {len(xs)} inputs / {len(ys)} outputs for a graph with "
                 f"{len(ins)} / {len(outs)}")
        for kind, vis, arrs in (("input", ins, xs), ("output", outs, ys)):
            for n, (vi, a) in enumerate(zip(vis, arrs)):
                a = np.ascontiguousarray(a)
                shape = [d_.dim_value if d_.HasField("dim_value") else None
                         for d_ in vi.type.tensor_type.shape.dim]
                if vi.type.tensor_type.HasField("shape") and len(a.shape) != len(shape) or any(s_ is not None and s_ != x_ for s_, x_ in zip(shape, a.shape)):
                    fail(f"{onnx_path}: {kind} {vi.name}: reference shape {list(a.shape)} != graph {shape}")
                t = numpy_helper.from_array(a, vi.name)
                if t.data_type != vi.type.tensor_type.elem_type:
                    fail(f"{onnx_path}: {kind} {vi.name}: reference dtype {a.dtype} != graph elem_type "
                         f"{vi.type.tensor_type.elem_type}")
                onnx.save_tensor(t, os.path.join(d, f"{kind}_{n}.pb"))


def export_with_refs(name, model, sets, folder, input_names, output_names, opset,
                     training_friendly=False, root=None):
    """Exports and writes the 3 reference sets (inputs: list of tuples of numpy arrays);
    reference outputs come from PyTorch. Returns (onnx path, outputs per set)."""
    example = tuple(torch.from_numpy(a) for a in sets[0])
    path = export(model, example, folder, input_names, output_names, opset, training_friendly, root)
    outs = [torch_outputs(model, tuple(torch.from_numpy(a) for a in s)) for s in sets]
    alive = check_alive(name, output_names, outs)
    write_sets(path, sets, outs)
    log(f"    alive (min pairwise rel. difference per output): {alive}")
    return path, outs


# --------------------------------------------------------------------------------------------
# reference gradients for on-device learning


def cross_entropy(logits, label):
    return torch.nn.functional.cross_entropy(logits, label)


def write_grad_refs(onnx_path, model, inputs, logits_fn, label, scenarios, loss_fn=None, folder="grad_ref",
                    extra=None):
    """PyTorch autograd reference gradients for the training-friendly export at onnx_path.

    loss = loss_fn(logits_fn(model, *inputs), label); the default loss_fn is
    torch.nn.functional.cross_entropy (mean over the batch of 1 = -log softmax(logits)[label])
    with an integer label. Model in eval mode (BatchNorm uses its running statistics, Dropout is
    off). scenarios: {folder: [parameter names]}. Writes into <model folder>/<folder>/:
    label.pb (an int label: int64 [1] named 'label'; an array label, e.g. an MSE target: float
    named 'target', file target.pb), input_N.pb, loss.pb (float [], name 'loss'), one
    <name>.pb per entry of extra ({name: array}: loss constants such as prototypes) and
    <scenario>/<initializer name>.pb (the gradient, tensor name = initializer name)."""
    loss_fn = loss_fn or cross_entropy
    m = onnx.load(onnx_path)
    init_names = {t.name for t in m.graph.initializer}
    gdir = os.path.join(os.path.dirname(onnx_path), folder)
    os.makedirs(gdir, exist_ok=True)
    model.eval()
    params = dict(model.named_parameters())
    for p in params.values():
        p.requires_grad_(True)
        p.grad = None
    xs = [torch.from_numpy(a) for a in inputs]
    if isinstance(label, (int, np.integer)):
        lab = torch.tensor([int(label)], dtype=torch.int64)
        lab_name = "label"
    else:
        lab = torch.from_numpy(np.asarray(label))
        lab_name = "target"
    loss = loss_fn(logits_fn(model, *xs), lab)
    loss.backward()
    if float(loss) < 0.05:
        fail(f"{onnx_path}: reference loss {float(loss):.2g} for {lab_name} {label} is too small "
             "(the model already predicts it: gradients ~0); choose another label")
    onnx.save_tensor(numpy_helper.from_array(lab.numpy(), lab_name), os.path.join(gdir, lab_name + ".pb"))
    onnx.save_tensor(numpy_helper.from_array(np.array(float(loss), dtype=np.float32), "loss"),
                     os.path.join(gdir, "loss.pb"))
    for name, a in (extra or {}).items():
        onnx.save_tensor(numpy_helper.from_array(np.asarray(a), name), os.path.join(gdir, name + ".pb"))
    for n, (vi, a) in enumerate(zip(m.graph.input, inputs)):
        onnx.save_tensor(numpy_helper.from_array(a, vi.name), os.path.join(gdir, f"input_{n}.pb"))
    for scen, names in scenarios.items():
        sdir = os.path.join(gdir, scen)
        os.makedirs(sdir, exist_ok=True)
        for pname in names:
            if pname not in init_names:
                fail(f"{onnx_path}: parameter {pname} is not an initializer of the export")
            g = params[pname].grad
            if g is None:
                fail(f"{onnx_path}: no gradient for {pname}")
            onnx.save_tensor(numpy_helper.from_array(g.numpy().astype(np.float32), pname),
                             os.path.join(sdir, pname + ".pb"))
    _finite_difference_check(onnx_path, model, inputs, logits_fn, lab,
                             sorted({n for names in scenarios.values() for n in names}), loss_fn)
    log(f"    {folder}: loss {float(loss):.4f}, " +
        ", ".join(f"{k}: {len(v)} tensors" for k, v in scenarios.items()))


def _finite_difference_check(onnx_path, model, inputs, logits_fn, label, names, loss_fn, probes=3, eps=1e-6):
    """Checks the float32 autograd gradients against central differences of the loss computed
    in float64 (a few random entries per parameter). label: the tensor given to loss_fn."""
    m64 = copy.deepcopy(model).double().eval()
    xs = [torch.from_numpy(a).double() if a.dtype.kind == "f" else torch.from_numpy(a) for a in inputs]
    lab = label.double() if label.is_floating_point() else label
    p64 = dict(m64.named_parameters())
    p32 = dict(model.named_parameters())
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for name in names:
            flat = p64[name].view(-1)
            g32 = p32[name].grad.view(-1)
            for k in rng.choice(flat.numel(), size=min(probes, flat.numel()), replace=False):
                old = float(flat[k])
                flat[k] = old + eps
                lp = float(loss_fn(logits_fn(m64, *xs), lab))
                flat[k] = old - eps
                lm = float(loss_fn(logits_fn(m64, *xs), lab))
                flat[k] = old
                fd = (lp - lm) / (2 * eps)
                # float64 central differences with a small step (ReLU/MaxPool kinks are rarely
                # crossed); the float32 autograd value must agree to 1e-3 relative
                if abs(fd - float(g32[k])) > 1e-3 * max(1.0, abs(fd)):
                    fail(f"{onnx_path}: gradient of {name}[{k}]: autograd {float(g32[k]):.6g} vs "
                         f"finite difference {fd:.6g}")
