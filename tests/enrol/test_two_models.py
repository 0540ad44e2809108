#!/usr/bin/python3
"""Two compiled models in one firmware (docs/enrolment.md, "Several models in one firmware";
ctest enrol-two-models-m4 / -m7).

The TinySV keyword gate (kws_op13) and the speaker embedder with its enrolment glue
(dvector_op13 --enrol-output dvector) are compiled separately for the target, then compiled
together with a main() with arm-none-eabi-g++ -Wall -Wextra -Werror and linked into one ELF:
  - separate arenas: each model defines its own (two arena buffers in the ELF);
  - --arena-symbol tinysv_arena on both: the firmware defines one buffer sized for the larger
    (static_assert in main), and the linked ELF holds exactly one arena buffer (nm), of
    max(kArenaBytes) bytes, and no model-defined arena.
Linking both proves distinct namespaces and no duplicate symbols (each model's folder has its
own copy of the header-only kernels; inline functions merge).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TINYSV = os.path.join(ROOT, "examples", "models", "tinysv")
KWS = os.path.join(TINYSV, "kws_op13", "kws_op13.onnx")
SV = os.path.join(TINYSV, "dvector_op13", "dvector_op13.onnx")
TARGETS = {"m4": ("psoc62s2", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]),
           "m7": ("nicla-vision", ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"])}

MAIN = r"""
#include <stdint.h>
#include "kws.h"
#include "sv.h"
#include "sv_enrol.h"
#ifdef SHARED
constexpr size_t kShared = kws::kArenaBytes > sv::kArenaBytes ? kws::kArenaBytes : sv::kArenaBytes;
extern "C" {
alignas(16) uint8_t tinysv_arena[kShared];
}
static_assert(sizeof(tinysv_arena) >= kws::kArenaBytes && sizeof(tinysv_arena) >= sv::kArenaBytes, "shared arena");
#endif
static float g_mfcc[49 * 40];
static float g_logits[3], g_probs[3];
int main() {
  // The gate, then the embedder: one after the other (they share the arena).
  if (kws::invoke(g_mfcc, g_logits, g_probs) != 0) return 1;
  if (g_probs[2] > 0.5f && sv::enrol(0, g_mfcc) < 0) return 2;
  float s = 0.0f;
  return sv::verify(g_mfcc, 0, &s) ? 0 : 3;
}
"""


def fail(msg):
    sys.exit("FAIL: " + msg)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    if p.returncode != 0:
        fail("%s\nexit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


def arena_bytes(header):
    with open(header) as f:
        return int(re.search(r"kArenaBytes = (\d+);", f.read()).group(1))


def build(tinyodlc, core, shared, d):
    target, cflags = TARGETS[core]
    extra = ["--arena-symbol", "tinysv_arena"] if shared else []
    kdir, sdir = os.path.join(d, "kws"), os.path.join(d, "sv")
    run([tinyodlc, "compile", KWS, "--name", "kws", "--target", target, "-o", kdir] + extra)
    run([tinyodlc, "compile", SV, "--name", "sv", "--target", target, "--enrol-output", "dvector", "-o", sdir] + extra)
    with open(os.path.join(d, "main.cpp"), "w") as f:
        f.write(MAIN)
    pre = os.environ.get("TINYODLC_ARM_PREFIX", "arm-none-eabi-")
    flags = cflags + ["-std=c++17", "-O2", "-ffunction-sections", "-fdata-sections", "-fno-exceptions", "-fno-rtti",
                      "-fno-threadsafe-statics", "-Wall", "-Wextra", "-Werror", "-Wno-psabi"]
    objs = []
    for src, inc in ((os.path.join(kdir, "kws.cpp"), [kdir]), (os.path.join(sdir, "sv.cpp"), [sdir]),
                     (os.path.join(sdir, "sv_enrol.cpp"), [sdir]),
                     (os.path.join(d, "main.cpp"), [kdir, sdir])):
        obj = os.path.join(d, os.path.basename(src) + ".o")
        cmd = [pre + "g++"] + flags + (["-DSHARED"] if shared else [])
        for i in inc:
            cmd += ["-I", i]
        run(cmd + ["-c", src, "-o", obj])
        objs.append(obj)
    elf = os.path.join(d, "app.elf")
    run([pre + "g++"] + cflags + ["--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"] + objs +
        ["-lm", "-o", elf])
    syms = []
    for line in run([pre + "nm", "-S", "-C", elf]).splitlines():
        w = line.split(maxsplit=3)
        if len(w) == 4 and "arena" in w[3] and w[2] in "bBdD":
            syms.append((w[3], int(w[1], 16)))
    size = run([pre + "size", elf]).splitlines()[1].split()
    return syms, arena_bytes(os.path.join(kdir, "kws.h")), arena_bytes(os.path.join(sdir, "sv.h")), int(size[2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("core", choices=sorted(TARGETS))
    a = ap.parse_args()
    for shared in (False, True):
        with tempfile.TemporaryDirectory() as d:
            syms, ka, sa, bss = build(a.tinyodlc, a.core, shared, d)
        what = "shared arena" if shared else "separate arenas"
        print(f"{a.core} {what}: kws kArenaBytes {ka}, sv kArenaBytes {sa}; arena buffers in the ELF: {syms}; "
              f".bss {bss} bytes")
        if shared:
            if len(syms) != 1 or syms[0][0] != "tinysv_arena" or syms[0][1] != max(ka, sa):
                fail(f"{what}: expected one buffer tinysv_arena of {max(ka, sa)} bytes, found {syms}")
        else:
            if sorted(s for _, s in syms) != sorted([ka, sa]):
                fail(f"{what}: expected two arena buffers of {ka} and {sa} bytes, found {syms}")
    print("PASS")


if __name__ == "__main__":
    main()
