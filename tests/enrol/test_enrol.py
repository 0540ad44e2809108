#!/usr/bin/python3
"""Enrolment and verification tests (docs/enrolment.md; ctest label `enrol`).

References are independent of tinyodlc: the d-vectors of the zoo's unseen TinySV speakers
computed by PyTorch (tests/enrol/data, written by make_enrol_data.py) and numpy:
    prototype = l2normalize(mean_j l2normalize(e_j)),  score = cosine(e, prototype),
    EER threshold = the candidate score t minimising |FAR(t) - FRR(t)| (accept: score > t;
    ties: the smallest t).

Cases (each `python3 test_enrol.py --tinyodlc BIN CASE`):
  host      `tinyodlc run --enrol-output dvector --enrol DIR` on the host, float: prototype_0.pb
            within 1e-6 of numpy, score.pb within 1e-5, output_0.pb within 1e-5 of PyTorch;
            genuine and impostor trials
  m4 / m7   the same in QEMU on the PSoC 62S2 (Cortex-M4) / Nicla Vision (Cortex-M7)
  int8      --quantize int8: scores within 0.03 of the float (numpy) scores (host, and one trial on the M4)
  api       the generated API compiled into a test program (host, -Wall -Wextra -Werror):
            K = 4 speakers enrolled, scores of every test utterance against every class,
            identify(), verify(), forget(), calibrate_threshold() vs the numpy EER point, and
            the prototypes saved/restored through save_state()/load_state() (a NOR flash in RAM)
  errors    bad flags and bad enrolment folders: precise errors, exit codes 1 / 2
  cosine    --loss cosine-prototype on the enrolled prototypes (run time, no --prototypes): the
            4 speakers' 8 enrolment utterances enrolled on the device give the prototypes of the
            zoo's PyTorch reference gradients (dvector_train_op13/grad_ref); loss and the
            last layer's gradients vs PyTorch (rtol 1e-4 of max |ref|, as tests/training)
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
MODEL = os.path.join(ROOT, "examples", "models", "tinysv", "dvector_op13", "dvector_op13.onnx")
TARGETS = {"m4": "psoc62s2", "m7": "nicla-vision"}


def fail(msg):
    sys.exit("FAIL: " + msg)


def load(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def run(cmd, expect=0, timeout=900):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if expect is not None and p.returncode != expect:
        fail("%s\nexit %d (expected %d)\nstdout:\n%s\nstderr:\n%s" % (" ".join(cmd), p.returncode, expect, p.stdout,
                                                                    p.stderr))
    return p


def l2n(x):
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(n > 0, x / np.where(n > 0, n, 1), 0)


def samples(spk, kind):
    return sorted(glob.glob(os.path.join(DATA, f"spk_{spk}", kind, "sample_*")))


def torch_embedding(sample):
    return load(os.path.join(sample, "output_0.pb")).reshape(-1).astype(np.float64)


def ref_prototype(spk):
    return l2n(np.mean([l2n(torch_embedding(s)) for s in samples(spk, "enrol")], axis=0))


def check_trial(tinyodlc, enrol_spk, test_sample, extra, tol_proto, tol_score, what):
    with tempfile.TemporaryDirectory() as out:
        run([tinyodlc, "run", MODEL, "--enrol-output", "dvector", "--enrol", os.path.join(DATA, f"spk_{enrol_spk}", "enrol"),
             "--inputs", test_sample, "--outputs", out] + extra)
        proto = load(os.path.join(out, "prototype_0.pb"))
        score = load(os.path.join(out, "score.pb"))
        emb = load(os.path.join(out, "output_0.pb"))
    if proto.dtype != np.float32 or proto.shape != (1, 256):
        fail(f"{what}: prototype_0.pb is {proto.dtype}{list(proto.shape)}, expected float32 [1, 256]")
    if score.dtype != np.float32 or score.size != 1:
        fail(f"{what}: score.pb is {score.dtype}{list(score.shape)}, expected one float32")
    p_ref = ref_prototype(enrol_spk)
    s_ref = float(l2n(torch_embedding(test_sample)) @ p_ref)
    dp = np.abs(proto.reshape(-1) - p_ref).max()
    ds = abs(float(score.reshape(-1)[0]) - s_ref)
    de = np.abs(emb.reshape(-1) - torch_embedding(test_sample)).max()
    print(f"  {what}: |prototype - numpy| {dp:.2e}, score {float(score.reshape(-1)[0]):.6f} "
          f"(numpy {s_ref:.6f}, diff {ds:.2e}), |embedding - PyTorch| {de:.2e}")
    if tol_proto is not None and dp > tol_proto:
        fail(f"{what}: prototype differs from numpy by {dp:.3g} > {tol_proto}")
    if ds > tol_score:
        fail(f"{what}: score differs from numpy by {ds:.3g} > {tol_score}")
    if tol_proto is not None and de > 1e-5:
        fail(f"{what}: embedding differs from PyTorch by {de:.3g}")
    return float(score.reshape(-1)[0]), s_ref


def trials():
    # a genuine and an impostor trial against speaker 0's prototype
    return [(0, samples(0, "test")[0], "genuine spk0"), (0, samples(1, "test")[0], "impostor spk1 vs spk0")]


def case_float(tinyodlc, extra, name):
    print(f"{name}: float enrolment run")
    for spk, sample, what in trials():
        check_trial(tinyodlc, spk, sample, extra, 1e-6, 1e-5, what)


def case_int8(tinyodlc):
    print("int8: --quantize int8, calibrated on speaker 2/3 utterances")
    calib = os.path.join(DATA, "spk_2", "test")
    worst = 0.0
    for spk, sample, what in trials() + [(1, samples(1, "test")[1], "genuine spk1")]:
        s, ref = check_trial(tinyodlc, spk, sample, ["--quantize", "int8", "--calibration", calib], None, 0.03,
                             "int8 " + what)
        worst = max(worst, abs(s - ref))
    s, ref = check_trial(tinyodlc, 0, samples(0, "test")[0], ["--quantize", "int8", "--calibration", calib,
                                                              "--target", TARGETS["m4"]], None, 0.03,
                         "int8 on the M4 (QEMU) genuine spk0")
    worst = max(worst, abs(s - ref))
    print(f"  int8: largest |score - float score| {worst:.4f} (limit 0.03)")


API_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sv.h"
#include "sv_enrol.h"
// argv: n_enrol_per_class n_test_per_class files... (enrol files class by class, then test files
// class by class); prints scores, identify, verify and the calibrated threshold.
static float g_in[49 * 40];
// A NOR flash in RAM for save_state()/load_state() (docs/persistence.md).
static uint8_t g_flash[64 * 1024];
static int fl_erase(void*, uint32_t off, uint32_t len) { memset(g_flash + off, 0xFF, len); return 0; }
static int fl_program(void*, uint32_t off, const void* d, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) g_flash[off + i] &= static_cast<const uint8_t*>(d)[i];
  return 0;
}
static int fl_read(void*, uint32_t off, void* d, uint32_t len) { memcpy(d, g_flash + off, len); return 0; }
static bool load(const char* p) {
  FILE* f = fopen(p, "rb");
  if (!f) return false;
  size_t n = fread(g_in, 1, sizeof g_in, f);
  fclose(f);
  return n == sizeof g_in;
}
int main(int argc, char** argv) {
  const int ne = atoi(argv[1]), nt = atoi(argv[2]);
  const int K = sv::kEnrolClasses;
  if (argc != 3 + K * (ne + nt)) return 2;
  if (sv::prototype(0) != nullptr || sv::identify(g_in, nullptr) != -1) return 4;
  for (int c = 0; c < K; ++c)
    for (int j = 0; j < ne; ++j) {
      if (!load(argv[3 + c * ne + j])) return 2;
      if (sv::enrol(c, g_in) != j + 1) return 5;
    }
  if (sv::enrol(K, g_in) >= 0 || sv::enrol(-1, g_in) >= 0) return 6;
  static float gen[64], imp[256];
  int ng = 0, ni = 0;
  for (int c = 0; c < K; ++c)
    for (int j = 0; j < nt; ++j) {
      if (!load(argv[3 + K * ne + c * nt + j])) return 2;
      float best = 0.0f;
      const int id = sv::identify(g_in, &best);
      printf("identify %d %d %.9g\n", c, id, best);
      for (int k = 0; k < K; ++k) {
        const float s = sv::score(g_in, k);
        float s2 = 0.0f;
        const bool acc = sv::verify(g_in, k, &s2);
        if (s2 != s || acc != (s > sv::threshold())) return 7;
        printf("score %d %d %d %.9g\n", c, j, k, s);
        if (k == c) gen[ng++] = s; else imp[ni++] = s;
      }
    }
  const float t = sv::calibrate_threshold(gen, ng, imp, ni);
  printf("threshold %.9g\n", t);
  sv::set_threshold(t);
  if (sv::threshold() != t) return 8;
  // The prototypes are learned state: saved, forgotten, restored bit for bit.
  static float saved[sv::kEnrolClasses][sv::kEmbeddingSize];
  for (int c = 0; c < K; ++c) memcpy(saved[c], sv::prototype(c), sizeof saved[c]);
  const tinyodlc::StoragePort port = {nullptr, sizeof g_flash, 4096, 16, fl_erase, fl_program, fl_read};
  memset(g_flash, 0xFF, sizeof g_flash);
  if (sv::load_state(port) != 1) return 10;
  if (sv::save_state(port) != 0) return 11;
  sv::forget_all();
  if (sv::prototype(0) != nullptr) return 12;
  if (sv::load_state(port) != 0) return 13;
  for (int c = 0; c < K; ++c)
    if (!sv::prototype(c) || memcmp(saved[c], sv::prototype(c), sizeof saved[c]) != 0 || sv::enrolled_count(c) != ne)
      return 14;
  printf("persisted %u bytes\n", static_cast<unsigned>(sv::kLearnedStateBytes));
  sv::forget(1);
  if (sv::prototype(1) != nullptr || sv::enrolled_count(1) != 0 || sv::prototype(0) == nullptr) return 9;
  printf("ok\n");
  return 0;
}
"""


def numpy_eer(gen, imp):
    """EER threshold: candidates = every score; exact gap |fa * n - fr * m|; ties -> smallest t."""
    gen = np.asarray(gen, dtype=np.float32)
    imp = np.asarray(imp, dtype=np.float32)
    cands = np.concatenate([gen, imp])
    fa = (imp[None, :] > cands[:, None]).sum(1).astype(np.int64)
    fr = (gen[None, :] <= cands[:, None]).sum(1).astype(np.int64)
    gap = np.abs(fa * len(gen) - fr * len(imp))
    best = cands[gap == gap.min()].min()
    i = int(np.nonzero(cands == best)[0][0])
    return float(best), fa[i] / len(imp), fr[i] / len(gen)


def case_api(tinyodlc, cxx):
    print("api: generated enrolment API in a host program (K = 4)")
    K = 4
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "gen")
        run([tinyodlc, "compile", MODEL, "--name", "sv", "--enrol-output", "dvector", "--classes", str(K),
             "--threshold", "0.9", "-o", out])
        with open(os.path.join(d, "main.cpp"), "w") as f:
            f.write(API_MAIN)
        exe = os.path.join(d, "api")
        run([cxx, "-std=c++17", "-O2", "-ffp-contract=off", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror",
             "-I", out, os.path.join(out, "sv.cpp"), os.path.join(out, "sv_enrol.cpp"), os.path.join(d, "main.cpp"),
             "-o", exe, "-lm"])
        files, ne, nt = [], len(samples(0, "enrol")), len(samples(0, "test"))
        for kind in ("enrol", "test"):
            for c in range(K):
                for s in samples(c, kind):
                    p = os.path.join(d, f"{kind}_{c}_{os.path.basename(s)}.bin")
                    load(os.path.join(s, "input_0.pb")).astype(np.float32).tofile(p)
                    files.append(p)
        p = run([exe, str(ne), str(nt)] + files)
    lines = p.stdout.split()
    if "ok" not in lines:
        fail("api program did not finish: " + p.stdout)
    protos = np.stack([ref_prototype(c) for c in range(K)])
    gen, imp, worst = [], [], 0.0
    ident_ok = 0
    for line in p.stdout.splitlines():
        w = line.split()
        if w[0] == "score":
            c, j, k, s = int(w[1]), int(w[2]), int(w[3]), float(w[4])
            ref = float(l2n(torch_embedding(samples(c, "test")[j])) @ protos[k])
            worst = max(worst, abs(s - ref))
            (gen if c == k else imp).append(np.float32(s))
        elif w[0] == "identify":
            c, ident, best = int(w[1]), int(w[2]), float(w[3])
            ident_ok += ident == c
        elif w[0] == "threshold":
            t = float(w[1])
    if "persisted" not in p.stdout:
        fail("api: no persistence check")
    # memory.json reports the store (and the glue's output copy) outside the arena, in SRAM
    import json
    with tempfile.TemporaryDirectory() as d:
        run([tinyodlc, "compile", MODEL, "--name", "sv", "--enrol-output", "dvector", "--classes", str(K),
             "--target", "psoc62s2", "-o", d])
        with open(os.path.join(d, "memory.json")) as f:
            mj = json.load(f)
    want = K * (2 * 256 * 4 + 4) + 256 * 4
    st = [x for x in mj.get("static_state", []) if x["name"] == "enrol.prototypes"]
    if not st or st[0]["bytes"] != want or st[0]["region"] != "SRAM":
        fail(f"api: memory.json static_state {mj.get('static_state')} (expected enrol.prototypes {want} bytes in SRAM)")
    print(f"  memory.json: enrol.prototypes {want} bytes in SRAM")
    print(f"  {len(gen)} genuine + {len(imp)} impostor scores: largest |score - numpy| {worst:.2e}")
    if worst > 1e-5:
        fail(f"api: a score differs from numpy by {worst:.3g} > 1e-5")
    t_ref, far, frr = numpy_eer(gen, imp)
    print(f"  calibrate_threshold {t:.7f}, numpy EER point {t_ref:.7f} (FAR {100 * far:.1f}%, FRR {100 * frr:.1f}%); "
          f"identify correct {ident_ok}/{len(gen)}")
    if np.float32(t) != np.float32(t_ref):
        fail(f"api: calibrate_threshold gave {t}, numpy EER threshold is {t_ref}")


def case_errors(tinyodlc):
    print("errors: precise messages and exit codes")
    enrol = os.path.join(DATA, "spk_0", "enrol")
    test = samples(0, "test")[0]
    with tempfile.TemporaryDirectory() as d:
        base = [tinyodlc, "run", MODEL, "--inputs", test, "--outputs", os.path.join(d, "o")]
        checks = [
            (base + ["--enrol", enrol], 2, "--enrol: needs --enrol-output"),
            (base + ["--enrol-output", "dvector"], 2, "--enrol-output: 'run' with --enrol-output needs --enrol DIR"),
            (base + ["--enrol-output", "dvector", "--enrol", enrol, "--classes", "0"], 2, "--classes: must be between 1"),
            (base + ["--enrol-output", "dvector", "--enrol", enrol, "--threshold", "1.5"], 2,
             "--threshold: must be a cosine in [-1, 1]"),
            (base + ["--classes", "3"], 2, "--classes: only applies with --enrol-output"),
            (base + ["--enrol-output", "nope", "--enrol", enrol], 1, "--enrol-output 'nope': is not an output of the model"),
            (base + ["--enrol-output", "dvector", "--enrol", os.path.join(DATA, "spk_0")], 1, "has no input_0.pb"),
            (base + ["--enrol-output", "dvector", "--enrol", os.path.join(d, "empty")], 1, "holds no enrolment sample"),
            ([tinyodlc, "compile", MODEL, "--threshold", "0.3", "-o", os.path.join(d, "c")], 2,
             "--threshold: only applies with --enrol-output"),
            ([tinyodlc, "compile", MODEL, "--trainable-last", "1", "--loss", "cosine-prototype", "-o",
              os.path.join(d, "c")], 2, "cosine-prototype needs --prototypes FILE.pb, or --enrol-output TENSOR"),
            ([tinyodlc, "compile", MODEL, "--trainable-last", "1", "--loss", "cosine-prototype", "--enrol-output",
              "dvector", "--prototypes", os.path.join(ROOT, "examples", "models", "tinysv", "dvector_train_op13",
                                                      "grad_ref", "prototypes.pb"), "-o", os.path.join(d, "c")], 2,
             "--prototypes: with --enrol-output the cosine-prototype loss reads the enrolled prototypes"),
            ([tinyodlc, "compile", MODEL, "--arena-symbol", "1bad", "-o", os.path.join(d, "c")], 1,
             "--arena-symbol: '1bad' cannot name a C symbol"),
            (base + ["--arena-symbol", "shared"], 2, "--arena-symbol: only applies to 'compile'"),
        ]
        os.makedirs(os.path.join(d, "bad", "s0"))
        os.makedirs(os.path.join(d, "empty"))
        bad = np.zeros((1, 1, 49, 39), dtype=np.float32)
        onnx.save_tensor(numpy_helper.from_array(bad, "mfcc"), os.path.join(d, "bad", "s0", "input_0.pb"))
        checks.append((base + ["--enrol-output", "dvector", "--enrol", os.path.join(d, "bad")], 1,
                       "s0/input_0.pb: holds f32[1,1,49,39] but model input 0 ('mfcc') is f32[1,1,49,40]"))
        for cmd, code, msg in checks:
            p = run(cmd, expect=code)
            if msg not in p.stderr:
                fail("%s\nexpected '%s' in stderr:\n%s" % (" ".join(cmd[3:]), msg, p.stderr))
            print(f"  exit {code}: {msg}")


COSINE_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "svt.h"
#include "svt_enrol.h"
// argv: OUT_DIR LABEL n_per_class enrol files (class by class) test file
static float g_in[49 * 40];
static bool load(const char* p) {
  FILE* f = fopen(p, "rb");
  if (!f) return false;
  size_t n = fread(g_in, 1, sizeof g_in, f);
  fclose(f);
  return n == sizeof g_in;
}
int main(int argc, char** argv) {
  const int n = atoi(argv[3]);
  const int K = svt::kEnrolClasses;
  if (argc != 4 + K * n + 1) return 2;
  for (int c = 0; c < K; ++c)
    for (int j = 0; j < n; ++j) {
      if (!load(argv[4 + c * n + j])) return 2;
      if (svt::enrol(c, g_in) != j + 1) return 3;
    }
  if (!load(argv[4 + K * n])) return 2;
  const int64_t label = atoll(argv[2]);
  const float loss = svt::accumulate(g_in, &label);
  printf("loss %.9g\n", loss);
  for (int p = 0; p < svt::kNumTrainable; ++p) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.bin", argv[1], svt::kTrainable[p].name);
    FILE* f = fopen(path, "wb");
    if (!f) return 2;
    fwrite(svt::gradient_data() + svt::kTrainable[p].offset, sizeof(float), svt::kTrainable[p].count, f);
    fclose(f);
  }
  return 0;
}
"""


def case_cosine(tinyodlc, cxx):
    print("cosine: cosine-prototype training on the enrolled prototypes (vs PyTorch grad_ref)")
    zoo = os.path.join(ROOT, "examples", "models", "tinysv", "dvector_train_op13")
    ref = os.path.join(zoo, "grad_ref")
    K = 4
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "gen")
        run([tinyodlc, "compile", os.path.join(zoo, "dvector_train_op13.onnx"), "--name", "svt", "--enrol-output",
             "dvector", "--classes", str(K), "--loss", "cosine-prototype", "--trainable-last", "1", "-o", out])
        with open(os.path.join(out, "svt.cpp")) as f:
            src = f.read()
        if "load_enrolled_prototypes();" not in src:
            fail("cosine: the training step does not load the enrolled prototypes")
        with open(os.path.join(d, "main.cpp"), "w") as f:
            f.write(COSINE_MAIN)
        exe = os.path.join(d, "cos")
        run([cxx, "-std=c++17", "-O2", "-ffp-contract=off", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror",
             "-I", out, os.path.join(out, "svt.cpp"), os.path.join(out, "svt_enrol.cpp"), os.path.join(d, "main.cpp"),
             "-o", exe, "-lm"])
        files = []
        per = None
        for c in range(K):
            ss = samples(c, "enrol") + sorted(glob.glob(os.path.join(DATA, f"spk_{c}", "enrol_more", "sample_*")))
            per = len(ss)
            for j, s in enumerate(ss):
                p = os.path.join(d, f"e_{c}_{j}.bin")
                load(os.path.join(s, "input_0.pb")).astype(np.float32).tofile(p)
                files.append(p)
        test = os.path.join(d, "test.bin")
        load(os.path.join(ref, "input_0.pb")).astype(np.float32).tofile(test)
        label = int(load(os.path.join(ref, "label.pb")).reshape(-1)[0])
        p = run([exe, d, str(label), str(per)] + files + [test])
        loss = float(p.stdout.split()[1])
        grads = {n: np.fromfile(os.path.join(d, f"{n}.bin"), dtype=np.float32) for n in ("conv4.weight", "conv4.bias")}
    loss_ref = float(load(os.path.join(ref, "loss.pb")))
    print(f"  {per} enrolment utterances x {K} speakers; loss {loss:.7f} (PyTorch {loss_ref:.7f})")
    if abs(loss - loss_ref) > 1e-4 * max(1.0, abs(loss_ref)):
        fail(f"cosine: loss {loss} differs from PyTorch {loss_ref}")
    for n, g in grads.items():
        r = load(os.path.join(ref, "last_layer", f"{n}.pb")).reshape(-1)
        err = np.abs(g - r).max() / np.abs(r).max()
        print(f"  grad {n}: max |got - ref| / max |ref| = {err:.2e}")
        if g.shape != r.shape or err > 1e-4:
            fail(f"cosine: gradient of {n} differs from PyTorch ({err:.3g} of max |ref|)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--cxx", default=os.environ.get("CXX", "c++"))
    ap.add_argument("case", choices=["host", "m4", "m7", "int8", "api", "errors", "cosine"])
    a = ap.parse_args()
    if a.case == "host":
        case_float(a.tinyodlc, [], "host")
    elif a.case in TARGETS:
        case_float(a.tinyodlc, ["--target", TARGETS[a.case]], a.case)
    elif a.case == "int8":
        case_int8(a.tinyodlc)
    elif a.case == "api":
        case_api(a.tinyodlc, a.cxx)
    elif a.case == "cosine":
        case_cosine(a.tinyodlc, a.cxx)
    else:
        case_errors(a.tinyodlc)
    print("PASS")


if __name__ == "__main__":
    main()
