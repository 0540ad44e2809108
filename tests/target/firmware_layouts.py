#!/usr/bin/env python3
"""The drop-in firmware layouts of `tinyodlc compile --emit cmake|arduino|modustoolbox` (issue 17).

For a training build of the keyword spotter, on the Cortex-M4 (psoc62s2) and the Cortex-M7
(nicla-vision):
  cmake         a minimal firmware project (own CMakeLists.txt, arm-none-eabi toolchain, -Wall
                -Wextra -Werror) that add_subdirectory()s the output folder, links tinyodlc::NAME and
                its board linker script through tinyodlc_NAME_link_script(), whose SECTIONS start
                with `INCLUDE NAME_sections.ld`; configured and built with cmake + ninja;
  modustoolbox  a Makefile that includes NAME.mk and compiles/links the way the ModusToolbox
                recipe does (SOURCES, INCLUDES, CXXFLAGS, DEFINES, LDFLAGS before -T);
  arduino       no arduino-cli / arduino-lint package exists on Debian 12, so: a layout check
                against the Arduino library specification (1.5 format, rev. 2.2: library.properties
                fields and values, src/ layout, examples/<E>/<E>.ino), and every example sketch
                compiled as C++17 for the core against the library's src/ only (as arduino-builder
                does, with a stub Arduino.h), -Werror.
Every linked ELF: the .tinyodlc.NAME.<REGION> sections equal memory.json's section_bytes
(arena + persistent training state) and .tinyodlc.NAME.weights its weight_bytes; no __aeabi_d*
on the M4.

usage: firmware_layouts.py --tinyodlc BIN [--work DIR]
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
NAME = "kws"
CORES = {
    "m4": ("psoc62s2", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
           "MEMORY {\n  flash (rx) : ORIGIN = 0x10000000, LENGTH = 2M\n  ram (rwx) : ORIGIN = 0x08000000, LENGTH = 1M\n}\n",
           "flash", "ram"),
    "m7": ("nicla-vision", ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
           "MEMORY {\n  FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 1M\n  ITCMRAM (rwx) : ORIGIN = 0x00000000, LENGTH = 64K\n"
           "  DTCMRAM (rwx) : ORIGIN = 0x20000000, LENGTH = 128K\n  RAM_D1 (rwx) : ORIGIN = 0x24000000, LENGTH = 512K\n"
           "  RAM_D2 (rwx) : ORIGIN = 0x30000000, LENGTH = 288K\n  RAM_D3 (rwx) : ORIGIN = 0x38000000, LENGTH = 64K\n}\n",
           "FLASH", "RAM_D1"),
}
WARN = ["-Wall", "-Wextra", "-Werror", "-Wno-psabi", "-Wdouble-promotion"]
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections", "-Wl,-z,noexecstack"]

MAIN_CPP = """// minimal firmware: one inference and one training step of the generated model
#include <stdint.h>
#include "%(name)s.h"
alignas(16) static uint8_t g_buf[4][8192];
extern "C" int main() {
  const void* in[] = {g_buf[0]};
  void* out[] = {g_buf[1], g_buf[2]};
  int rc = %(name)s::invoke_generic(in, out);
  const void* sample[] = {g_buf[0], g_buf[3]};
  const float loss = %(name)s::accumulate_generic(sample);
  rc += %(name)s::apply_update();
  return rc + (loss > 0.0f ? 1 : 0);
}
extern "C" void Reset_Handler() { main(); for (;;) {} }
extern "C" uint32_t __stack_top;
__attribute__((section(".isr_vector"), used)) const void* const g_vectors[2] = {&__stack_top, (const void*)&Reset_Handler};
"""


def board_ld(core):
    _, _, memory, flash, ram = CORES[core]
    return memory + f"""ENTRY(Reset_Handler)
SECTIONS
{{
  INCLUDE {NAME}_sections.ld
  .isr_vector : {{ KEEP(*(.isr_vector)) }} > {flash}
  .text : {{ *(.text .text.*) *(.rodata .rodata.*) KEEP(*(.init)) KEEP(*(.fini)) }} > {flash}
  .ARM.exidx : {{ *(.ARM.exidx*) }} > {flash}
  .data : {{ *(.data .data.*) }} > {ram} AT> {flash}
  .bss (NOLOAD) : {{ __bss_start__ = .; *(.bss .bss.* COMMON) __bss_end__ = .; end = .; }} > {ram}
  __stack_top = ORIGIN({ram}) + LENGTH({ram});
}}
"""


def run(cmd, cwd=None, what=""):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{what or cmd[0]} failed ({' '.join(cmd)}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


CTYPE_BYTES = {"float": 4, "int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4,
               "int64_t": 8, "uint64_t": 8, "bool": 1, "double": 8}


def unreferenced_weight_bytes(cpp):
    """Bytes of weight arrays that nothing in the generated .cpp reads (the compiler drops them):
    declared in the weights section and named nowhere else."""
    text = open(cpp).read()
    total = 0
    for m in re.finditer(r"const (\w+) (\w+)\[(\d+)\] __attribute__\(\(section\(\"\.rodata\.tinyodlc\.", text):
        if len(re.findall(r"\b%s\b" % re.escape(m.group(2)), text)) == 1:
            total += CTYPE_BYTES[m.group(1)] * int(m.group(3))
    return total


def check_elf(elf, report, core, outdir):
    """.tinyodlc.* section sizes of the linked ELF == memory.json (every emitted weight array is
    read by the code: the compiler emits no dead constants); no double helpers on the M4."""
    out = run(["arm-none-eabi-readelf", "-S", "-W", elf])
    secs = {}
    for m in re.finditer(r"\]\s+(\.tinyodlc\.\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        secs[m.group(1)] = int(m.group(2), 16)
    want = {f".tinyodlc.{NAME}.{r['name']}": r["section_bytes"] for r in report["regions"] if r["section_bytes"]}
    dead = unreferenced_weight_bytes(os.path.join(outdir, NAME + ".cpp"))
    if dead:
        raise AssertionError(f"{outdir}: {dead} bytes of constant arrays are emitted but read by no code")
    want[f".tinyodlc.{NAME}.weights"] = report["weight_bytes"]
    if secs != want:
        raise AssertionError(f"{elf}: linked sections {secs} != memory.json {want}")
    if core == "m4":
        syms = run(["arm-none-eabi-nm", elf])
        bad = sorted({s for s in re.findall(r"\b(__aeabi_d\w+)", syms)})
        if bad:
            raise AssertionError(f"{elf}: double helpers linked on the M4: {bad}")
    return secs


def cmake_firmware(work, out, core):
    _, cflags, *_ = CORES[core]
    proj = os.path.join(work, f"cmake_fw_{core}")
    os.makedirs(proj)
    with open(os.path.join(proj, "main.cpp"), "w") as f:
        f.write(MAIN_CPP % {"name": NAME})
    with open(os.path.join(proj, "board.ld"), "w") as f:
        f.write(board_ld(core))
    flags = " ".join(cflags + WARN)
    with open(os.path.join(proj, "CMakeLists.txt"), "w") as f:
        f.write(f"""cmake_minimum_required(VERSION 3.13)
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
project(fw CXX)
set(CMAKE_CXX_FLAGS "{flags} -O2 -ffunction-sections -fdata-sections")
add_subdirectory({out} tinyodlc_{NAME})
add_executable(fw.elf main.cpp)
target_compile_options(fw.elf PRIVATE -fno-exceptions -fno-rtti)
target_link_libraries(fw.elf PRIVATE tinyodlc::{NAME})
target_link_options(fw.elf PRIVATE {" ".join(LDFLAGS)})
tinyodlc_{NAME}_link_script(fw.elf ${{CMAKE_CURRENT_SOURCE_DIR}}/board.ld)
""")
    build = os.path.join(proj, "build")
    run(["cmake", "-S", proj, "-B", build, "-G", "Ninja"], what="cmake configure")
    run(["cmake", "--build", build], what="cmake build")
    return os.path.join(build, "fw.elf")


def mtb_firmware(work, out, core):
    """A Makefile shaped like the ModusToolbox recipe: it only consumes the .mk's variables."""
    _, cflags, *_ = CORES[core]
    proj = os.path.join(work, f"mtb_fw_{core}")
    os.makedirs(proj)
    with open(os.path.join(proj, "main.cpp"), "w") as f:
        f.write(MAIN_CPP % {"name": NAME})
    with open(os.path.join(proj, "board.ld"), "w") as f:
        f.write(board_ld(core))
    with open(os.path.join(proj, "Makefile"), "w") as f:
        f.write(f"""SOURCES := main.cpp
INCLUDES :=
CXXFLAGS := {" ".join(cflags + WARN)} -O2 -ffunction-sections -fdata-sections
DEFINES :=
LDFLAGS :=
include {out}/{NAME}.mk
OBJS := $(patsubst %.cpp,%.o,$(notdir $(SOURCES)))
vpath %.cpp $(sort $(dir $(SOURCES)))
fw.elf: $(OBJS)
\tarm-none-eabi-g++ {" ".join(cflags)} $(OBJS) {" ".join(LDFLAGS)} $(LDFLAGS) -T board.ld -o $@
%.o: %.cpp
\tarm-none-eabi-g++ $(CXXFLAGS) $(addprefix -I,$(INCLUDES)) $(addprefix -D,$(DEFINES)) -c $< -o $@
""")
    run(["make", "-s", "-C", proj], what="make (ModusToolbox-style)")
    return os.path.join(proj, "fw.elf")


# Arduino library specification, 1.5 format rev. 2.2 (library.properties)
REQUIRED = ["name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url", "architectures"]
CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
              "Data Storage", "Data Processing", "Other"}
ARDUINO_H = """#pragma once
#include <stdint.h>
struct StubSerial {
  void begin(unsigned long) {}
  void print(const char*) {}
  void print(int) {}
  void print(float, int) {}
  void println(unsigned long) {}
  void println(int) {}
};
extern StubSerial Serial;
unsigned long micros();
void delay(unsigned long);
"""


def check_arduino(work, out, core, training):
    _, cflags, *_ = CORES[core]
    lib = os.path.join(out, "arduino", f"tinyodlc_{NAME}")
    props = {}
    with open(os.path.join(lib, "library.properties")) as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                props[k] = v
    missing = [k for k in REQUIRED if not props.get(k)]
    if missing:
        raise AssertionError(f"library.properties misses {missing}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,62}", props["name"]) or props["name"].lower().startswith("arduino"):
        raise AssertionError(f"library name {props['name']!r} not allowed by the specification")
    if not re.fullmatch(r"\d+\.\d+\.\d+", props["version"]):
        raise AssertionError(f"version {props['version']!r} is not semver")
    if props["category"] not in CATEGORIES:
        raise AssertionError(f"category {props['category']!r} not one of {sorted(CATEGORIES)}")
    if "mbed_nicla" not in props["architectures"].split(","):
        raise AssertionError("architectures must name mbed_nicla")
    for inc in props.get("includes", "").split(","):
        if inc and not os.path.isfile(os.path.join(lib, "src", inc)):
            raise AssertionError(f"includes= names {inc}, not in src/")
    if os.path.exists(os.path.join(lib, "utility")):
        raise AssertionError("src-layout library must not have utility/")
    examples = sorted(os.listdir(os.path.join(lib, "examples")))
    want = [f"{NAME}_invoke"] + ([f"{NAME}_train"] if training else [])
    if examples != sorted(want):
        raise AssertionError(f"examples {examples} != {want}")
    stub = os.path.join(work, f"arduino_stub_{core}")
    os.makedirs(stub, exist_ok=True)
    with open(os.path.join(stub, "Arduino.h"), "w") as f:
        f.write(ARDUINO_H)
    for ex in examples:
        ino = os.path.join(lib, "examples", ex, ex + ".ino")
        if not os.path.isfile(ino):
            raise AssertionError(f"example folder {ex} has no {ex}.ino")
        # the IDE adds #include <Arduino.h> and compiles the sketch as C++ with the library's src/
        run(["arm-none-eabi-g++", "-x", "c++", "-std=gnu++17", "-O2"] + cflags + WARN +
            ["-include", "Arduino.h", "-I", stub, "-I", os.path.join(lib, "src"), "-c", ino, "-o",
             os.path.join(stub, ex + ".o")], what=f"sketch {ex}")
    for src in ["%s.cpp" % NAME]:
        run(["arm-none-eabi-g++", "-std=gnu++17", "-O2"] + cflags + WARN + ["-I", os.path.join(lib, "src"), "-c",
             os.path.join(lib, "src", src), "-o", os.path.join(stub, "lib.o")], what="library source")
    # C++14 (older cores): the header stops with a clear #error naming the fix
    r = subprocess.run(["arm-none-eabi-g++", "-x", "c++", "-std=gnu++14"] + cflags + ["-include", "Arduino.h", "-I", stub,
                        "-I", os.path.join(lib, "src"), "-fsyntax-only", os.path.join(lib, "examples", want[0], want[0] + ".ino")],
                       capture_output=True, text=True)
    if r.returncode == 0 or "needs C++17" not in r.stderr or r.stderr.count(": error:") != 1:
        raise AssertionError(f"gnu++14 build should stop at one #error naming C++17, got:\n{r.stderr[-1500:]}")
    return examples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    a = ap.parse_args()
    for tool in ("arm-none-eabi-g++", "cmake", "ninja", "make"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not installed (scripts/setup-debian.sh installs it)")
            return 77
    tmp = None
    if a.work:
        work = a.work
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    else:
        work = tmp = tempfile.mkdtemp(prefix="tinyodlc-fw-")
    failures = 0
    try:
        for core, (target, *_rest) in CORES.items():
            out = os.path.join(work, f"out_{core}")
            run([a.tinyodlc, "compile", MODEL, "-o", out, "--name", NAME, "--target", target, "--loss-output", "logits",
                 "--trainable-last", "1", "--optimizer", "adam", "--emit", "cmake", "--emit", "arduino",
                 "--emit", "modustoolbox"], what="tinyodlc compile")
            with open(os.path.join(out, "memory.json")) as f:
                report = json.load(f)
            assert report["build"] == "training" and report["persistent_bytes"] > 0, report.get("build")
            for kind, fn in (("cmake", cmake_firmware), ("modustoolbox", mtb_firmware)):
                try:
                    secs = check_elf(fn(work, out, core), report, core, out)
                    print(f"ok   {core} {kind}: firmware links; sections {secs} == memory.json", flush=True)
                except AssertionError as e:
                    failures += 1
                    print(f"FAIL {core} {kind}: {e}", flush=True)
            try:
                ex = check_arduino(work, out, core, True)
                print(f"ok   {core} arduino: library layout per the specification, sketches {ex} compile (-Werror), "
                      "gnu++14 stops at the C++17 #error", flush=True)
            except AssertionError as e:
                failures += 1
                print(f"FAIL {core} arduino: {e}", flush=True)
        print(f"firmware_layouts: {failures} failed")
        return 1 if failures else 0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
