#!/usr/bin/env python3
"""`compile --persist-area REGION:OFFSET:SIZE[:ERASE:PROGRAM]` (docs/persistence.md).

For a training build of the keyword spotter (Adam on the last layer):
  - psoc62s2 (FLASH: 512-byte rows) and nicla-vision (FLASH: 128 KiB sectors, 32-byte flash
    words): the header's kPersistArea* constants, memory.json's "persist_area" (address, size,
    units, and the two slots' size recomputed here from kLearnedStateBytes with the format's
    rules: 24-byte header and payload each rounded up to the program unit, the slot to the erase
    unit), memory.md's line, and the flash region reduced by the area;
  - the linker fragment linked into a minimal M4 firmware (arm-none-eabi-g++): the symbols
    __tinyodlc_<name>_persist_start/_end sit at the area's address, and an area over the
    weights (offset 0) stops the link with the fragment's ASSERT message;
  - errors, each with its exit code and a message naming the problem: too small for the state
    (5), not erase-aligned, past the region's end, unknown region, a host target, a build with
    no learned state, units the target does not state, a malformed spec (2).

usage: test_persist_area.py --tinyodlc BIN [--work DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
MODEL = os.path.join(ROOT, "examples/models/tinysv/kws_train_op13/kws_train_op13.onnx")
TRAIN = ["--trainable-last", "1", "--optimizer", "adam", "--loss-output", "logits"]
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)
    if not ok:
        failures.append(name)


def tiny(args, out):
    return subprocess.run([ARGS.tinyodlc, "compile", MODEL, "-o", out] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def up(v, u):
    return (v + u - 1) // u * u


def needed(state, erase, program):
    return 2 * up(up(24, program) + up(state, program), erase)


def build_ok(work, label, target, spec, want_addr, erase, program, name):
    out = os.path.join(work, label)
    r = tiny(["--target", target, "--name", name, "--persist-area", spec] + TRAIN, out)
    check(f"{label}: compile exits 0", r.returncode == 0, r.stdout[-800:])
    if r.returncode:
        return None
    h = open(os.path.join(out, name + ".h")).read()
    state = int(re.search(r"kLearnedStateBytes = (\d+);", h).group(1))
    consts = dict(re.findall(r"constexpr uint32_t (kPersist\w+) = (0x[0-9A-F]+|\d+)u;", h))
    size = int(consts.get("kPersistAreaBytes", "0"), 0)
    check(f"{label}: header constants", int(consts.get("kPersistAreaAddress", "0"), 0) == want_addr and
          int(consts.get("kPersistEraseSize", "0")) == erase and int(consts.get("kPersistProgramSize", "0")) == program,
          str(consts))
    mj = json.load(open(os.path.join(out, "memory.json")))
    pa = mj.get("persist_area", {})
    check(f"{label}: memory.json persist_area", pa.get("address") == want_addr and pa.get("bytes") == size and
          pa.get("state_bytes") == state and pa.get("needed_bytes") == needed(state, erase, program) and
          pa.get("erase_size") == erase and pa.get("program_size") == program,
          f"{pa} (state {state} B needs {needed(state, erase, program)} B)")
    md = open(os.path.join(out, "memory.md")).read()
    check(f"{label}: memory.md states the area", f"0x{want_addr:08X}" in md and "--persist-area" in md)
    ld = open(os.path.join(out, name + "_sections.ld")).read()
    check(f"{label}: linker fragment symbols", f"__tinyodlc_{name}_persist_start = 0x{want_addr:08X};" in ld and
          f"__tinyodlc_{name}_persist_end = 0x{want_addr + size:08X};" in ld)
    return out, state


MAIN = """#include "{name}.h"
#include <stdint.h>
extern "C" const uint8_t __tinyodlc_{name}_persist_start[];
extern "C" const uint8_t __tinyodlc_{name}_persist_end[];
extern "C" void _exit(int) {{ for (;;) {{}} }}
extern "C" void Reset_Handler() {{
  // The linker's symbols and the header's constants name the same area.
  const bool same = reinterpret_cast<uintptr_t>(__tinyodlc_{name}_persist_start) == {name}::kPersistAreaAddress &&
                    reinterpret_cast<uintptr_t>(__tinyodlc_{name}_persist_end) ==
                        {name}::kPersistAreaAddress + {name}::kPersistAreaBytes;
  static float x[8192], y0[1024], y1[1024];  // larger than the model's inputs/outputs
  const void* in[] = {{x}};
  void* out[] = {{y0, y1}};
  {name}::invoke_generic(in, out);
  _exit(same ? 0 : 1);
}}
__attribute__((section(".isr_vector"), used)) const void* const g_vectors[2] = {{
    reinterpret_cast<const void*>(0x08010000), reinterpret_cast<const void*>(&Reset_Handler)}};
"""
BOARD = """MEMORY {{
  flash (rx) : ORIGIN = 0x10000000, LENGTH = 2M
  ram (rwx) : ORIGIN = 0x08000000, LENGTH = 1M
}}
ENTRY(Reset_Handler)
SECTIONS {{
  INCLUDE {name}_sections.ld
  .text : {{ KEEP(*(.isr_vector)) *(.text .text.*) *(.rodata .rodata.*) }} > flash
  .ARM.exidx : {{ *(.ARM.exidx*) }} > flash
  .data : {{ *(.data .data.*) }} > ram AT > flash
  .bss (NOLOAD) : {{ *(.bss .bss.*) *(COMMON) }} > ram
}}
"""


def link(out, name):
    gxx = shutil.which("arm-none-eabi-g++")
    if not gxx:
        return None, "arm-none-eabi-g++ missing"
    with open(os.path.join(out, "fw_main.cpp"), "w") as f:
        f.write(MAIN.format(name=name))
    with open(os.path.join(out, "board.ld"), "w") as f:
        f.write(BOARD.format(name=name))
    srcs = [os.path.join(out, "fw_main.cpp"), os.path.join(out, name + ".cpp")]
    cmd = [gxx, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c++17", "-O2",
           "-Wall", "-Wextra", "-Werror", "-Wno-psabi", "-fno-exceptions", "-fno-rtti", "-I", out, "-nostartfiles",
           "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections", "-Wl,-z,noexecstack",
           "-L", out, "-T", os.path.join(out, "board.ld"), "-o", os.path.join(out, "fw.elf")] + srcs
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=out)
    return r, ""


def symbol(elf, sym):
    nm = subprocess.run(["arm-none-eabi-nm", elf], stdout=subprocess.PIPE, text=True).stdout
    m = re.search(r"^([0-9a-f]+) \w " + re.escape(sym) + "$", nm, re.M)
    return int(m.group(1), 16) if m else None


def expect_error(work, label, args, code, pattern):
    out = os.path.join(work, "err_" + label)
    r = tiny(args, out)
    ok = r.returncode == code and re.search(pattern, r.stdout) is not None
    check(f"error {label}: exit {code}, message matches /{pattern}/", ok, f"exit {r.returncode}: {r.stdout.strip()[-400:]}")


def main():
    work = ARGS.work or tempfile.mkdtemp(prefix="persist_area_")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # PSoC 62S2: the last 128 KiB of the 2 MiB application flash.
    m4 = build_ok(work, "psoc62s2", "psoc62s2", "FLASH:0x1E0000:128K", 0x101E0000, 512, 512, "kws")
    # Nicla Vision: two 128 KiB sectors at the end of bank 1 (the slot is one whole sector).
    m7 = build_ok(work, "nicla", "nicla-vision", "FLASH:0xC0000:256K", 0x080C0000, 128 << 10, 32, "kws")
    if m7:
        mj = json.load(open(os.path.join(m7[0], "memory.json")))
        check("nicla: two slots are two whole sectors", mj["persist_area"]["needed_bytes"] == 256 << 10)
    # The area is taken out of the flash region: a region left too small for the weights fails.
    if m4:
        r, why = link(m4[0], "kws")
        if r is None:
            print(f"skip link: {why}")
        else:
            check("psoc62s2: firmware links with the fragment (-Werror)", r.returncode == 0, r.stdout[-1500:])
            if r.returncode == 0:
                elf = os.path.join(m4[0], "fw.elf")
                check("psoc62s2: __tinyodlc_kws_persist_start/_end in the ELF",
                      symbol(elf, "__tinyodlc_kws_persist_start") == 0x101E0000 and
                      symbol(elf, "__tinyodlc_kws_persist_end") == 0x101E0000 + (128 << 10))
        # An area over the weights (offset 0: the fragment places the weights first in flash).
        over = os.path.join(work, "overlap")
        r0 = tiny(["--target", "psoc62s2", "--name", "kws", "--persist-area", "FLASH:0:128K"] + TRAIN, over)
        check("overlap: compile exits 0 (only the link sees the firmware's layout)", r0.returncode == 0, r0.stdout[-400:])
        if r0.returncode == 0:
            r, why = link(over, "kws")
            if r is not None:
                check("overlap: the link stops with the fragment's ASSERT",
                      r.returncode != 0 and "the weights of kws overlap its --persist-area" in r.stdout, r.stdout[-600:])
        state = m4[1]
        need = needed(state, 512, 512)
        small = (need // 512 - 1) * 512
        expect_error(work, "too-small", ["--target", "psoc62s2", "--persist-area", f"FLASH:0x100000:{small}"] + TRAIN,
                     5, rf"{small} bytes are too few .* {need} bytes in all")
    expect_error(work, "unaligned", ["--target", "psoc62s2", "--persist-area", "FLASH:0x100:64K"] + TRAIN, 1,
                 r"multiples of the 512-byte erase unit")
    expect_error(work, "past-end", ["--target", "psoc62s2", "--persist-area", "FLASH:0x1F0000:128K"] + TRAIN, 1,
                 r"runs past the end of region 'FLASH'")
    expect_error(work, "too-big-for-region", ["--target", "psoc62s2", "--reserve", "FLASH=1900K", "--persist-area",
                                              "FLASH:0:256K"] + TRAIN, 5, r"has only \d+ bytes left")
    expect_error(work, "no-region", ["--target", "psoc62s2", "--persist-area", "QSPI:0:64K"] + TRAIN, 1,
                 r"no region 'QSPI' \(regions: FLASH, SRAM\)")
    expect_error(work, "host", ["--persist-area", "FLASH:0:64K"] + TRAIN, 1, r"no memory map")
    expect_error(work, "no-learned-state", ["--target", "psoc62s2", "--persist-area", "FLASH:0x1F0000:64K"], 1,
                 r"no learned state to keep")
    expect_error(work, "units-unknown", ["--target", "cortex-m4", "--persist-area", "FLASH:0x10000:64K"] + TRAIN, 1,
                 r"does not state the erase/program units")
    expect_error(work, "malformed", ["--target", "psoc62s2", "--persist-area", "FLASH:64K"] + TRAIN, 2,
                 r"expected REGION:OFFSET:SIZE")
    expect_error(work, "bad-unit", ["--target", "psoc62s2", "--persist-area", "FLASH:0:64K:3000:8"] + TRAIN, 2,
                 r"ERASE unit 3000 .* power of two")
    # Units given on the command line for a target without them (the QEMU M4 board's flash).
    out = os.path.join(work, "m4_units")
    r = tiny(["--target", "cortex-m4", "--name", "kws", "--persist-area", "FLASH:0x30000:80K:4K:8"] + TRAIN, out)
    ok = r.returncode == 0 and "kPersistEraseSize = 4096u" in open(os.path.join(out, "kws.h")).read()
    check("cortex-m4: units from the spec", ok, r.stdout[-400:])
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("all --persist-area checks passed")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    ARGS = ap.parse_args()
    sys.exit(main())
