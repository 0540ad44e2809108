#!/usr/bin/env python3
"""save_state()/load_state() of real training builds (docs/persistence.md): the KWS model with a
trainable float head (--trainable-last 1 --optimizer adam), float and with an int8 backbone
(--quantize int8 --calibration). For each build, on the host and on a Cortex-M4 in QEMU:

  Adam trained 5 steps == Adam trained 3 steps, saved, rebooted (a new process / QEMU run),
  restored and trained 2 steps -- bit for bit (parameters, the whole learned state incl. the
  Adam moments and step count, and an invoke() output);

and a control where only the parameters survive the reboot (optimizer state lost), which must
differ. Also: the layout hash is deterministic and changes with the trainable set, the optimizer
and the shapes (an appended head of another width)."""
import os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from persist_harness import check, parse_args, host_program, m4_program, sh, summary  # noqa: E402

KWS_DIR = os.path.join(ROOT, "examples/models/tinysv/kws_train_op13")
KWS = os.path.join(KWS_DIR, "kws_train_op13.onnx")
NS = "kws_train_op13"


def compile_model(tinyodlc, out, extra):
    sh([tinyodlc, "compile", KWS, "-o", out, "--loss-output", "logits"] + extra)
    h = open(os.path.join(out, NS + ".h")).read()
    m = re.search(r"kLearnedStateLayoutHash = (0x[0-9A-F]+)u", h)
    b = re.search(r"kLearnedStateBytes = (\d+);", h)
    return (m.group(1) if m else None), (int(b.group(1)) if b else None)


def read(p):
    return open(p, "rb").read()


def scenario(label, run):
    """run(mode, image, out) -> exit status. Returns the dumps."""
    with tempfile.TemporaryDirectory(prefix="persist_") as d:  # removed afterwards (issue 17)
        return scenario_in(d, label, run)


def scenario_in(d, label, run):
    img, a, b, c = (os.path.join(d, n) for n in ("flash.img", "full5.bin", "resume.bin", "params.bin"))
    rc = [run("full5", img, a), run("first3", img, os.path.join(d, "unused")), run("resume2", img, b),
          run("params2", img, c)]
    check(f"{label}: all runs succeed (full5, first3 + save, resume2 after load, control)", rc == [0, 0, 0, 0], str(rc))
    if rc != [0, 0, 0, 0]:
        return None
    full, resumed, control = read(a), read(b), read(c)
    check(f"{label}: 5 steps == 3 steps + save + reboot + load + 2 steps, bit for bit ({len(full)} bytes)",
          full == resumed)
    check(f"{label}: control (optimizer state lost) differs", full != control)
    cut = run("cuts", img, os.path.join(d, "unused"))
    check(f"{label}: power cut at every erase/program call of save_state(): old or new state after reboot", cut == 0,
          f"exit {cut}")
    return full


def main():
    a, work = parse_args("persist_model_")
    builds = {
        "float head": ["--trainable-last", "1", "--optimizer", "adam", "--lr", "0.005"],
        "int8 backbone + float head": ["--trainable-last", "1", "--optimizer", "adam", "--lr", "0.005",
                                       "--quantize", "int8", "--calibration", KWS_DIR],
    }
    hashes = {}
    for label, extra in builds.items():
        out = os.path.join(work, re.sub(r"\W+", "_", label))
        hashes[label], nbytes = compile_model(a.tinyodlc, out, extra)
        check(f"{label}: kLearnedStateBytes = 3 x 2884 floats + step, lr, weight decay", nbytes == 3 * 2884 * 4 + 12,
              str(nbytes))
        if label.startswith("int8"):
            code = open(os.path.join(out, NS + ".cpp")).read()
            check(f"{label}: the backbone is integer (QConv)", "(QConv)" in code)
        defs = [f'TINYODLC_MODEL_HEADER="{NS}.h"', f"TINYODLC_MODEL_NS={NS}"]
        src = [os.path.join(HERE, "persist_main.cpp"), os.path.join(out, NS + ".cpp")]
        host = scenario(f"{label} (host)", host_program(out, defs, src, os.path.join(out, "persist_host")))
        if a.no_target:
            continue
        qrun = m4_program(out, defs, src)
        m4 = scenario(f"{label} (Cortex-M4, QEMU)", qrun)
        if host is not None and m4 is not None:
            print(f"info {label}: host and M4 learned state {'identical' if host == m4 else 'differ'}")
    # A state saved by a different compile (SGD instead of Adam, same parameters) is refused.
    sgd = os.path.join(work, "sgd")
    compile_model(a.tinyodlc, sgd, ["--trainable-last", "1", "--optimizer", "sgd"])
    defs = [f'TINYODLC_MODEL_HEADER="{NS}.h"', f"TINYODLC_MODEL_NS={NS}"]
    sgd_exe = os.path.join(sgd, "persist_host")
    sh(["g++", "-O2", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", sgd, "-I", HERE] + [f"-D{d}" for d in defs] +
       [os.path.join(HERE, "persist_main.cpp"), os.path.join(sgd, NS + ".cpp"), "-o", sgd_exe])
    img = os.path.join(sgd, "flash.img")
    check("SGD build saves", subprocess.run([sgd_exe, "first3", img, img + ".unused"]).returncode == 0)
    for label in builds:
        exe = os.path.join(work, re.sub(r"\W+", "_", label), "persist_host")
        rc = subprocess.run([exe, "foreign", img, os.path.join(work, "foreign.bin")]).returncode
        check(f"{label}: a state saved by the SGD compile is refused (load_state 1, initial state kept)", rc == 0,
              f"exit {rc}")
    # clang: the generated save/load and the runtime header compile warning-free.
    clang = next((c for c in ("clang++-14", "clang++") if subprocess.run(["which", c], stdout=subprocess.DEVNULL).returncode == 0), None)
    if clang:
        r = subprocess.run([clang, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", sgd,
                            os.path.join(work, "float_head", NS + ".cpp"), "-I", os.path.join(work, "float_head")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check("clang: generated code with save_state/load_state compiles warning-free", r.returncode == 0, r.stdout[-2000:])
    # The layout hash: deterministic, and it changes with what is learned.
    variants = {
        "adam last-1": ["--trainable-last", "1", "--optimizer", "adam"],
        "adam last-1 again": ["--trainable-last", "1", "--optimizer", "adam", "--lr", "0.1"],
        "sgd last-1": ["--trainable-last", "1", "--optimizer", "sgd"],
        "momentum last-1": ["--trainable-last", "1", "--optimizer", "momentum"],
        "adam biases": ["--trainable", "biases", "--optimizer", "adam"],
        "adam head 5": ["--append-head", "5", "--optimizer", "adam"],
        "adam head 4": ["--append-head", "4", "--optimizer", "adam"],
    }
    vh = {}
    for k, extra in variants.items():
        vh[k] = compile_model(a.tinyodlc, os.path.join(work, "v_" + re.sub(r"\W+", "_", k)), extra)[0]
    check("layout hash deterministic (same trainable set/optimizer; lr is saved state, not layout)",
          vh["adam last-1"] == vh["adam last-1 again"] == hashes["float head"], str(vh))
    distinct = [vh[k] for k in variants if k != "adam last-1 again"]
    check("layout hash differs across trainable set / optimizer / shapes", len(set(distinct)) == len(distinct),
          str(vh))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
