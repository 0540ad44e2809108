#!/usr/bin/env python3
"""Per-kernel instruction counts (QEMU plugin) of the reference and armv7em int8 kernels on
fixed layer shapes, Cortex-M4 and M7 (docs/performance.md). Not a test.

  bench_kernels.py --plugin build/qemu_insn_plugin.so [--build DIR]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from run_kernel_tests import CORES, WARN  # noqa: E402

# name, MACs; the order of the calls in int8_kernels_bench.cpp
SHAPES = [
    ("DS-CNN stem conv 10x4 s2, 1->64, 49x10", 25 * 5 * 64 * 40),
    ("DS-CNN depthwise 3x3 s1, 64ch, 25x5", 25 * 5 * 64 * 9),
    ("DS-CNN pointwise 1x1, 64->64, 25x5", 25 * 5 * 64 * 64),
    ("DS-CNN classifier FC 64->12", 64 * 12),
    ("dense 3x3 s1, 16->32, 16x16", 16 * 16 * 32 * 16 * 9),
    ("depthwise 3x3 s2, 32ch, 16x16", 8 * 8 * 32 * 9),
    ("FC 256->128", 256 * 128),
    ("MatMul 16x64 by 64x64", 16 * 64 * 64),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--build", default=None)
    a = ap.parse_args()
    build = a.build or tempfile.mkdtemp(prefix="tinyodlc-kbench-")
    os.makedirs(build, exist_ok=True)
    tgt = os.path.join(ROOT, "harness", "target")
    res = {}
    for core, (flags, machine) in CORES.items():
        common = flags + ["-O2", "-g", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off"] + WARN
        objs = []
        for c in ("startup.c", "semihost.c"):
            o = os.path.join(build, f"{core}_{c}.o")
            subprocess.check_call(["arm-none-eabi-gcc"] + common + ["-I" + tgt, "-c", os.path.join(tgt, c), "-o", o])
            objs.append(o)
        o = os.path.join(build, f"{core}_bench.o")
        subprocess.check_call(["arm-none-eabi-g++"] + common + ["-std=c++17", "-fno-exceptions", "-fno-rtti",
                              "-Wno-psabi", "-I" + tgt, "-I" + os.path.join(ROOT, "kernels"), "-c",
                              os.path.join(HERE, "int8_kernels_bench.cpp"), "-o", o])
        elf = os.path.join(build, f"kbench_{core}.elf")
        subprocess.check_call(["arm-none-eabi-g++"] + flags + objs + [o, "-nostartfiles", "--specs=nano.specs",
                              "--specs=nosys.specs", "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-T",
                              os.path.join(HERE, "qemu_mps2.ld"), "-o", elf])
        nm = subprocess.check_output(["arm-none-eabi-nm", elf], text=True)
        addr = {l.split()[2]: l.split()[0] for l in nm.splitlines() if len(l.split()) == 3}
        out = os.path.join(build, f"kbench_{core}.txt")
        r = subprocess.run(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
                            "-semihosting-config", "enable=on,target=native", "-plugin",
                            f"{a.plugin},start=0x{addr['tinyodlc_perf_begin']},stop=0x{addr['tinyodlc_perf_end']},out={out}",
                            "-kernel", elf], timeout=300)
        if r.returncode:
            print(f"{core}: the optimized kernels differ from the reference (exit {r.returncode})")
            return 1
        counts = [int(m.group(1)) for m in re.finditer(r"region \d+ insns (\d+)", open(out).read())]
        res[core] = counts
    print("| layer (MACs) | ref M4 insns/MAC | armv7em M4 insns/MAC | ref M7 | armv7em M7 | speed-up M4 |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, (name, macs) in enumerate(SHAPES):
        r4, o4 = res["m4"][2 * i], res["m4"][2 * i + 1]
        r7, o7 = res["m7"][2 * i], res["m7"][2 * i + 1]
        print(f"| {name} ({macs:,}) | {r4 / macs:.2f} | {o4 / macs:.2f} | {r7 / macs:.2f} | {o7 / macs:.2f} | "
              f"{r4 / o4:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
