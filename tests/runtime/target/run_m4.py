#!/usr/bin/env python3
"""Builds a bare-metal Cortex-M4 test program with arm-none-eabi-g++ (the startup code and
semihosting of harness/target) and runs it on qemu-system-arm -M mps2-an386; the program's
exit status (semihosting) is this script's result. Used by the `runtime;target` ctests."""
import argparse, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
COMMON = ["-O2", "-g", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror",
          "-Wdouble-promotion"]
CXX = ["-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics", "-Wno-psabi"]


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(cmd)}\n{r.stdout}")
    return r.stdout


def build(sources, includes, work, defines=(), forbid_double=True, first_includes=()):
    """Compiles and links sources with the startup code; returns the ELF path. forbid_double: fail
    when a software double-precision helper is linked (the storage engine and its tests use none).
    first_includes: searched before the source tree's runtime/ and kernels/ (a generated model's
    folder, whose kernel headers must not mix with the tree's copies)."""
    os.makedirs(work, exist_ok=True)
    tgt = os.path.join(ROOT, "harness", "target")
    inc = []
    for d in list(first_includes) + [tgt, os.path.join(ROOT, "runtime"), os.path.join(ROOT, "kernels")] + list(includes):
        inc += ["-I", d]
    objs = []
    for f in [os.path.join(tgt, "startup.c"), os.path.join(tgt, "semihost.c")]:
        o = os.path.join(work, os.path.basename(f) + ".o")
        run(["arm-none-eabi-gcc"] + M4 + COMMON + inc + ["-c", f, "-o", o])
        objs.append(o)
    for f in sources:
        o = os.path.join(work, os.path.basename(f) + ".o")
        run(["arm-none-eabi-g++"] + M4 + COMMON + CXX + inc + [f"-D{d}" for d in defines] + ["-c", f, "-o", o])
        objs.append(o)
    elf = os.path.join(work, "app.elf")
    ld = os.path.join(ROOT, "tests", "runtime", "target", "mps2_m4.ld")
    run(["arm-none-eabi-g++"] + M4 + objs + ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                                            "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-T", ld, "-o", elf])
    # No software double on the single-precision core: no double-precision helper may be linked.
    syms = run(["arm-none-eabi-nm", elf])
    dbl = [l.split()[-1] for l in syms.splitlines() if "__aeabi_d" in l or "__adddf3" in l or "__muldf3" in l]
    if dbl and forbid_double:
        sys.exit(f"FAILED: software double-precision helpers linked: {dbl}")
    return elf


def qemu(elf, args=(), timeout=120):
    """Runs the ELF on mps2-an386; args become the semihosting command line. Returns (status, output)."""
    sh = "enable=on,target=native" + "".join(f",arg={a}" for a in args)
    t = time.time()
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                        "-semihosting-config", sh, "-kernel", elf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return r.returncode, r.stdout + f"qemu exit {r.returncode} in {time.time() - t:.1f} s\n"


def build_and_run(sources, includes, work, defines=(), timeout=120):
    rc, out = qemu(build(sources, includes, work, defines), timeout=timeout)
    print(out, end="")
    return rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sources", nargs="+")
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("-D", dest="defines", action="append", default=[])
    ap.add_argument("--work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tinyodlc_m4_")
    sys.exit(build_and_run(a.sources, a.includes, work, a.defines))


if __name__ == "__main__":
    main()
