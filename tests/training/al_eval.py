#!/usr/bin/python3
"""Active learning on the shifted-KWS task (docs/active-learning.md): the keyword-spotting gate
(examples/models/tinysv/kws_train_op13) meets a new microphone (tests/training/odl_task.py's
shifted distribution) that the frozen model gets wrong. A stream of --stream samples goes through
al_offer(); every --window samples the harness answers the pending label requests within
--budget labels and trains the last layer (al_train); accuracy on --eval held-out samples.

For each strategy (least-confidence, margin, entropy, hybrid), random selection at the same
budget, and labelling everything (buffer = window, budget = stream), over --seeds seeds (the
seed permutes the stream order and seeds the random strategy): final accuracy mean and spread.

--task text: the second task, EmbBERT-Q small's topic classification with the keywords of
topics 0 and 1 swapped (shifted_texts()); use --lr 0.1 --epochs 5 (docs/active-learning.md).

Usage: al_eval.py --tinyodlc BUILD/tinyodlc [--task kws|text] [--target cortex-m4|host] [--seeds 5]
       [--jobs 2] [--quick] [--work DIR] [--int8]
--quick: a small host-vs-target check (the ctest): least-confidence and hybrid with seed 1 on
the host and on the target must select the same samples, and the budget must be respected.
Writes DIR/al_eval.json.
"""
import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import odl_task  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = {"kws": odl_task.MODEL,
          "text": os.path.join(ROOT, "examples/models/embbert_q/embbert_q_small_train_op13/"
                                     "embbert_q_small_train_op13.onnx")}
TASK_TITLE = {"kws": "shifted KWS", "text": "EmbBERT-Q topics, two topics' keywords swapped"}


def shifted_texts(n, seed):
    """The second task: EmbBERT-Q small's topic classification (examples/models/zoo_data.py's
    generator, the zoo's SMALL configuration) for a user whose words for topics 0 and 1 are the
    other way round: every keyword of topic 0 becomes the same-rank keyword of topic 1 and back
    (the labels stay). The frozen model, trained on the zoo's data, calls those sequences by the
    other topic; topics 2 and 3 are unchanged. Returns ids [n, 1, 64] int64 and labels [n]."""
    sys.path.insert(0, os.path.join(ROOT, "examples", "models"))
    import zoo_data  # noqa: E402
    import quant_data  # noqa: E402
    cfg = quant_data.SMALL
    ids, _, y = zoo_data.make_texts(n, cfg, np.random.default_rng(seed))
    kw = cfg["keywords"]
    k = ids - zoo_data.FIRST_WORD
    topic0, topic1 = (k >= 0) & (k < kw), (k >= kw) & (k < 2 * kw)
    ids = np.where(topic0, ids + kw, np.where(topic1, ids - kw, ids))
    return ids[:, None, :].astype(np.int64), y.astype(np.int64)


def write_text_sets(folder, x, y):
    import onnx
    from onnx import numpy_helper
    for i in range(len(y)):
        d = os.path.join(folder, f"set_{i:03d}")
        os.makedirs(d, exist_ok=True)
        onnx.save_tensor(numpy_helper.from_array(x[i], "input_ids"), os.path.join(d, "input_0.pb"))
        onnx.save_tensor(numpy_helper.from_array(y[i:i + 1], "label"), os.path.join(d, "label.pb"))


def run(a, work, strategy, seed, target, buffer, budget, tag, rv="none", store=None):
    store = store or a.store
    out = os.path.join(work, "runs", f"{tag}_{strategy}_{rv}_{store}_{target}_{seed}")
    cmd = [a.tinyodlc, "run", MODELS[a.task], "--loss-output", "logits", "--trainable", "fc.weight,fc.bias", "--lr", a.lr,
           "--active-learning", strategy, "--al-buffer", str(buffer), "--al-budget", str(budget), "--al-rv", rv,
           "--al-store", store,
           "--al-window", str(a.window), "--train-data", os.path.join(work, "train"),
           "--eval-data", os.path.join(work, "eval"), "--train-steps", str(a.epochs), "--seed", str(seed),
           "--outputs", out, "--build-dir", out + "_build", "--timeout", "1200", "--target", target]
    if a.int8:
        cmd += ["--quantize", "int8", "--calibration", os.path.join(work, "calib")]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(" ".join(cmd) + "\n" + r.stdout)
    with open(os.path.join(out, "target_run.json")) as f:
        res = json.load(f)
    with open(os.path.join(out + "_build", "params.bin"), "rb") as f:
        res["params"] = f.read()
    with open(os.path.join(out, "al_log.txt")) as f:
        res["log_rounds"] = [l.strip() for l in f if l.startswith("round ")]
    with open(os.path.join(out + "_build", "active_learning.json") if os.path.exists(
            os.path.join(out + "_build", "active_learning.json")) else os.devnull) as f:
        txt = f.read()
    res["al_json"] = json.loads(txt) if txt else {}
    return res


def initial_params(a, work):
    """fc.weight and fc.bias of the ONNX model, in the blob order (weight, bias), or None."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    m = onnx.load(MODELS[a.task])
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    if "fc.weight" not in init or "fc.bias" not in init:
        return None
    return np.concatenate([init["fc.weight"].ravel(), init["fc.bias"].ravel()]).astype(np.float32)


def summary(runs):
    accs = [r["active_learning"]["rounds"][-1]["accuracy_after"] for r in runs]
    return {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "min": min(accs), "max": max(accs), "runs": accs,
            "labels": [r["active_learning"]["labels_asked"] for r in runs]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    ap.add_argument("--target", default="cortex-m4")
    ap.add_argument("--task", choices=sorted(MODELS), default="kws",
                    help="kws: the shifted-KWS gate; text: EmbBERT-Q small with two topics' keywords swapped")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--stream", type=int, default=96)
    ap.add_argument("--eval", type=int, default=60)
    ap.add_argument("--buffer", type=int, default=8)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", default="0.002")
    ap.add_argument("--strategies", default="least-confidence,margin,entropy,hybrid,random,all")
    ap.add_argument("--rv", default="none")
    ap.add_argument("--int8", action="store_true", help="int8 backbone + float head")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--store", default="auto", help="--al-store of the runs (auto = features for the last layer)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tinyodlc-al-")
    os.makedirs(work, exist_ok=True)
    if a.task == "text" and not os.path.isdir(os.path.join(work, "train")):
        for sub, n, seed in (("train", a.stream, 5252), ("eval", a.eval, 5353), ("calib", 16, 5454)):
            write_text_sets(os.path.join(work, sub), *shifted_texts(n, seed))
    if not os.path.isdir(os.path.join(work, "train")):
        xt, yt = odl_task.shifted_kws(a.stream, 4242, work)
        xe, ye = odl_task.shifted_kws(a.eval, 4343, work)
        odl_task.write_sets(os.path.join(work, "train"), xt, yt)
        odl_task.write_sets(os.path.join(work, "eval"), xe, ye)
        xc, yc = odl_task.shifted_kws(16, 4444, work)  # int8 calibration (held apart from both)
        odl_task.write_sets(os.path.join(work, "calib"), xc, yc)

    if a.quick:
        ok = True
        res = {}
        p0 = initial_params(a, work)
        for s in ("least-confidence", "hybrid"):
            hf = run(a, work, s, 1, "host", a.buffer, a.budget, "quick")
            tf = run(a, work, s, 1, a.target, a.buffer, a.budget, "quick")
            h, t = hf["active_learning"], tf["active_learning"]
            hs = [r["selected"] for r in h["rounds"]]
            ts = [r["selected"] for r in t["rounds"]]
            same = hs == ts
            within = h["labels_asked"] <= a.budget and t["labels_asked"] <= a.budget
            asked = sum(len(x) for x in hs)
            print(f"{s}: host selected {hs}\n{' ' * len(s)}  {a.target} selected {ts}\n  same: {same}, labels "
                  f"{h['labels_asked']}/{a.budget}")
            ok = ok and same and within and asked == h["labels_asked"] and asked > 0
            res[s] = {"host": hs, "target": ts, "same": same}
            if s != "least-confidence":
                continue
            # --al-store features (auto here) vs inputs: same scores, so the same selections; the
            # training step from the stored features computes the head exactly as the one that
            # re-runs the frozen part, so the same losses and trained parameters, bit for bit.
            for tgt, feat in (("host", hf), (a.target, tf)):
                inp = run(a, work, s, 1, tgt, a.buffer, a.budget, "quick", store="inputs")
                fi, ii = feat["active_learning"], inp["active_learning"]
                sel_same = [r["selected"] for r in fi["rounds"]] == [r["selected"] for r in ii["rounds"]]
                log_same = feat["log_rounds"] == inp["log_rounds"]
                pf = np.frombuffer(feat["params"], np.float32)
                pi = np.frombuffer(inp["params"], np.float32)
                moved = float(np.abs(pf[:len(p0)] - p0).max()) if p0 is not None else float("nan")  # blob is padded
                bitwise = feat["params"] == inp["params"]
                sf, si = fi["buffer_state_bytes"], ii["buffer_state_bytes"]
                print(f"{s} on {tgt}: features vs inputs: same selections {sel_same}, same per-round losses and "
                      f"accuracies {log_same}, trained parameters bit for bit {bitwise} (max |diff| "
                      f"{float(np.abs(pf - pi).max()):.3g}, moved {moved:.3g} from the initial ones); buffer state "
                      f"{sf} vs {si} bytes ({100.0 * (si - sf) / si:.1f} % less)")
                ok = ok and sel_same and log_same and bitwise and moved > 0 and sf < si and \
                    feat["al_json"].get("store") == "features" and inp["al_json"].get("store") == "inputs"
                res[f"{s} features vs inputs ({tgt})"] = {"selections": sel_same, "params_bitwise": bitwise,
                                                          "state_bytes_features": sf, "state_bytes_inputs": si}
        with open(os.path.join(work, "al_eval.json"), "w") as f:
            json.dump(res, f, indent=2)
        print("al quick:", "PASS" if ok else "FAIL")
        return 0 if ok else 1

    jobs = {}
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for s in a.strategies.split(","):
            for seed in range(1, a.seeds + 1):
                if s == "all":  # label everything: every window sample kept and labelled
                    jobs[ex.submit(run, a, work, "random", seed, a.target, a.window, a.stream, "all", "none")] = (s, seed)
                else:
                    jobs[ex.submit(run, a, work, s, seed, a.target, a.buffer, a.budget, "al", a.rv)] = (s, seed)
        results = {}
        for fut in cf.as_completed(jobs):
            s, seed = jobs[fut]
            results.setdefault(s, {})[seed] = fut.result()
            print(f"done {s} seed {seed}: {fut.result()['active_learning']['rounds'][-1]['accuracy_after']:.1f} %",
                  flush=True)
    table = {}
    for s in a.strategies.split(","):
        runs = [results[s][k] for k in sorted(results[s])]
        table[s] = summary(runs)
    any_run = next(iter(results.values()))[1]
    initial = any_run["active_learning"]["rounds"][0]["accuracy_after"]
    print(f"\n{TASK_TITLE[a.task]}, {a.target}, stream {a.stream}, eval {a.eval}, buffer {a.buffer}, window {a.window}, "
          f"budget {a.budget}, rv {a.rv}, {a.epochs} epochs/round, lr {a.lr}, {'int8 backbone' if a.int8 else 'float'}; "
          f"initial accuracy {initial:.1f} %")
    print("| selection | labels | accuracy after (mean ± std over %d seeds) | min | max |" % a.seeds)
    print("|---|---|---|---|---|")
    for s, t in table.items():
        print(f"| {s} | {max(t['labels'])} | {t['mean']:.1f} ± {t['std']:.1f} % | {t['min']:.1f} | {t['max']:.1f} |")
    insns = {s: results[s][1].get("insns") for s in results}
    print("instructions per al_offer (seed 1):", insns)
    with open(os.path.join(work, "al_eval.json"), "w") as f:
        json.dump({"table": table, "initial": initial, "insns_per_offer": insns,
                   "buffer_ram_bytes": any_run["active_learning"]["buffer_ram_bytes"], "args": vars(a)}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
