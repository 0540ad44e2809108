#!/usr/bin/env python3
"""Builds and runs tests/kernels/int8_kernels_test.cpp (optimized int8 kernels vs the reference
kernels, bit-exact) or tests/kernels/float_kernels_test.cpp (optimized float32 conv vs the
reference) on the host (portable fallback of the DSP intrinsics) or on Cortex-M4 / Cortex-M7 in
QEMU (real SMLAD/SXTB16/..., the FPU). Exit status 0 only if every case matched. Every build uses
-ffp-contract=off, like the generated code.

  run_kernel_tests.py --core host|m4|m7 [--test int8|float] [--build DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SRCS = {"int8": os.path.join(HERE, "int8_kernels_test.cpp"), "float": os.path.join(HERE, "float_kernels_test.cpp")}
CORES = {
    "m4": (["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], "mps2-an386"),
    "m7": (["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"], "mps2-an500"),
}
WARN = ["-Wall", "-Wextra", "-Werror"]


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    return r.returncode, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", choices=["host", "m4", "m7"], required=True)
    ap.add_argument("--test", choices=sorted(SRCS), default="int8")
    ap.add_argument("--build", default=None)
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    a = ap.parse_args()
    build = a.build or tempfile.mkdtemp(prefix="tinyodlc-ktest-")
    os.makedirs(build, exist_ok=True)
    inc = ["-I" + os.path.join(ROOT, "kernels")]
    SRC = SRCS[a.test]
    tag = a.core if a.test == "int8" else a.core + "_float"
    if a.core == "host":
        exe = os.path.join(build, "ktest_" + tag)
        rc, out = run([a.cxx, "-std=c++17", "-O2", "-g", "-ffp-contract=off", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
                      + WARN + inc + [SRC, "-o", exe])
        if rc:
            print(out)
            return 1
        rc, out = run([exe], timeout=120)
        print(out, end="")
        return 0 if rc == 0 and out.startswith("OK") else 1
    flags, machine = CORES[a.core]
    prefix = os.environ.get("TINYODLC_ARM_PREFIX", "arm-none-eabi-")
    tgt = os.path.join(ROOT, "harness", "target")
    common = flags + ["-O2", "-g", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off"] + WARN
    objs = []
    for c in ("startup.c", "semihost.c"):
        o = os.path.join(build, f"{a.core}_{c}.o")
        rc, out = run([prefix + "gcc"] + common + ["-I" + tgt, "-c", os.path.join(tgt, c), "-o", o])
        if rc:
            print(out)
            return 1
        objs.append(o)
    o = os.path.join(build, f"{tag}_test.o")
    rc, out = run([prefix + "g++"] + common + ["-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics",
                                               "-Wno-psabi", "-DTINYODLC_KTEST_TARGET", "-I" + tgt] + inc +
                  ["-c", SRC, "-o", o])
    if rc:
        print(out)
        return 1
    elf = os.path.join(build, f"ktest_{tag}.elf")
    rc, out = run([prefix + "g++"] + flags + objs + [o, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                                                     "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-T",
                                                     os.path.join(HERE, "qemu_mps2.ld"), "-o", elf])
    if rc:
        print(out)
        return 1
    qemu = os.environ.get("TINYODLC_QEMU", "qemu-system-arm")
    try:
        rc, out = run([qemu, "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
                       "-semihosting-config", "enable=on,target=native", "-kernel", elf], timeout=100)
    except subprocess.TimeoutExpired:
        print(f"FAIL: the {a.core} run did not finish within 100 s")
        return 1
    print(out, end="")
    ok = rc == 0 and "OK:" in out and (a.test == "float" or "DSP instructions: yes" in out)
    if not ok:
        print(f"FAIL: exit status {rc}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
