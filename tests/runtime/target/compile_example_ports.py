#!/usr/bin/env python3
"""Compiles the example flash ports of examples/persistence for their cores with
arm-none-eabi-g++ (warnings as errors, no exceptions/RTTI, -Wdouble-promotion), together with a
caller of storage::save/load, and checks that the objects contain no double-precision helper
calls. The ports are not run (no board, no vendor SDK): see docs/persistence.md."""
import os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FLAGS = ["-mthumb", "-mfloat-abi=hard", "-O2", "-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics",
         "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-ffunction-sections", "-I", os.path.join(ROOT, "runtime")]
CORES = {"m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16"], "m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"]}
PORTS = [("stm32h7_flash_port.cpp", "m7", "stm32h7_learned_state_port"),
         ("psoc6_flash_port.cpp", "m4", "psoc6_learned_state_port")]
CALLER = """#include "tinyodlc/runtime/storage.h"
extern "C" const tinyodlc::StoragePort* %s();
static float g_w[64];
static const tinyodlc::LearnedStateBlock kBlocks[] = {{"w", g_w, sizeof(g_w)}};
static const tinyodlc::LearnedStateLayout kLayout = {kBlocks, 1, 0x1234u, sizeof(g_w)};
int save() { return tinyodlc::storage::save(*%s(), kLayout); }
int load() { return tinyodlc::storage::load(*%s(), kLayout); }
"""

failed = False
with tempfile.TemporaryDirectory() as work:
    for src, core, fn in PORTS:
        caller = os.path.join(work, f"caller_{core}.cpp")
        open(caller, "w").write(CALLER % (fn, fn, fn))
        for f in [os.path.join(ROOT, "examples", "persistence", src), caller]:
            o = os.path.join(work, os.path.basename(f) + ".o")
            r = subprocess.run(["arm-none-eabi-g++"] + CORES[core] + FLAGS + ["-c", f, "-o", o],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                print(f"FAIL {src} ({core}):\n{r.stdout}")
                failed = True
                continue
            syms = subprocess.run(["arm-none-eabi-nm", "-u", o], stdout=subprocess.PIPE, text=True).stdout
            dbl = [s for s in syms.split() if s.startswith("__aeabi_d")]
            if dbl:
                print(f"FAIL {src}: double-precision helpers {dbl}")
                failed = True
            size = subprocess.run(["arm-none-eabi-size", o], stdout=subprocess.PIPE, text=True).stdout.splitlines()[-1]
            print(f"ok {os.path.basename(f)} for cortex-{core}: {size.split()[0]} bytes of code")
sys.exit(1 if failed else 0)
