#!/usr/bin/env python3
"""llvm-mca cycle estimates (LLVM 14 scheduling models of the Cortex-M4 and Cortex-M7) for the
hot inner loops of the optimized kernels, as arm-none-eabi-g++ 12 -O2 compiled them
(docs/performance.md). QEMU counts instructions; this estimates cycles per loop iteration
(no caches, no flash wait states, branch predicted).

  mca_loops.py --objdir DIR   (DIR: bench_compare.py --build DIR, holding m4_compare.o, m7_compare.o)

For every function whose name matches a kernel below, each loop (a backward branch) is taken
from the disassembly; the innermost loop with the most multiply instructions is fed to
llvm-mca (-iterations=200). MACs per iteration are counted from the loop: SMLAD, SMUAD = 2,
SMLAxy/MLA = 1, VMUL.F32 = 1 (float MACs are a VMUL and a VADD under -ffp-contract=off).
Not a test.
"""
import argparse
import os
import re
import subprocess
import sys

KERNELS = [  # (label, regex on the demangled function name)
    ("int8 conv GEMM 2x2 (qconv_gemm, dot_2x2)", r"armv7em::detail::qconv_gemm"),
    ("int8 depthwise 3x3 (qconv_dw3x3)", r"armv7em::detail::qconv_dw3x3"),
    ("int8 matmul / FC (qmatmul_s8, inlined in the bench's qfc)", r"qfc\("),
    ("float pointwise GEMM 4x4 (pw_block<4,4>)", r"pw_block<4, 4>"),
    ("float depthwise 3x3 s1 (depthwise_channel<3,3,1,1>)", r"depthwise_channel<3, 3, 1, 1>"),
    ("float dense 10x4 s2, 4 channels (dense_channels<4,10,4,2,2>)", r"dense_channels<4, 10, 4, 2, 2>"),
]
MCA = "/usr/lib/llvm-14/bin/llvm-mca"
LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
BR = re.compile(r"^(b|bne|beq|bgt|blt|bge|ble|bhi|bls|bcc|bcs|bmi|bpl|cbz|cbnz)(\.n|\.w)?$")


def functions(obj):
    out = subprocess.check_output(["arm-none-eabi-objdump", "-d", "-C", "--no-show-raw-insn", obj], text=True)
    funcs, cur = {}, None
    for l in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", l)
        if m:
            cur = m.group(1)
            funcs[cur] = []
            continue
        m = LINE.match(l)
        if cur and m:
            ops = m.group(3).split("@")[0].split(";")[0].strip()
            funcs[cur].append((int(m.group(1), 16), m.group(2), ops))
    return funcs


def mults(body):
    n = 0
    for _, mn, _ in body:
        if mn.startswith(("smlad", "smuad")):
            n += 2
        elif mn.startswith(("smlabb", "smlatb", "smlabt", "smlatt", "mla")) or mn == "vmul.f32":
            n += 1
    return n


def hot_loop(ins):
    best = None
    for i, (addr, mn, ops) in enumerate(ins):
        if not BR.match(mn):
            continue
        tgt = re.match(r"^(?:\S+,\s*)?([0-9a-f]+)\b", ops)
        if not tgt:
            continue
        t = int(tgt.group(1), 16)
        if t >= addr:
            continue
        body = [x for x in ins if t <= x[0] <= addr]
        if not body or mults(body) == 0:
            continue
        # innermost first: prefer the most MACs per instruction
        key = (mults(body) / len(body), -len(body))
        if best is None or key > best[0]:
            best = (key, body)
    return best[1] if best else None


def to_asm(body):
    lines = [".syntax unified", ".thumb", ".Lloop:"]
    for _, mn, ops in body:
        # Width suffixes dropped (the assembler picks the encoding): llvm-mca 14 crashes on
        # post-indexed "ldr.w rX, [rY], #imm" (InstrBuilder::populateReads).
        mn = re.sub(r"\.(w|n)$", "", mn)
        if BR.match(mn):
            ops = re.sub(r"[0-9a-f]+\s*<[^>]*>", ".Lloop", ops)
            ops = re.sub(r"^(\S+,\s*)?[0-9a-f]+$", lambda m: (m.group(1) or "") + ".Lloop", ops)
        ops = re.sub(r"\s*<[^>]*>", "", ops)
        if mn.startswith("ldr") and "[pc" in ops:
            ops = re.sub(r"\[pc,\s*#\d+\]", "[r0]", ops)  # literal-pool load: any address
        lines.append(f"  {mn} {ops}".rstrip())
    return "\n".join(lines) + "\n"


def strip_it(asm):
    """IT blocks -> unconditional instructions (llvm-mca 14 crashes on some IT blocks for
    cortex-m7; the estimate then counts the conditional instructions as always executed)."""
    out, cond = [], 0
    for l in asm.splitlines():
        m = re.match(r"^\s+(it[te]*)\s+(\w+)$", l)
        if m:
            cond = len(m.group(1)) - 1
            continue
        if cond:
            l = re.sub(r"^(\s+[a-z]+?)(eq|ne|gt|lt|ge|le|hi|ls|cc|cs|mi|pl)(\.w|\.n)?\b", r"\1", l, count=1)
            cond -= 1
        out.append(l)
    return "\n".join(out) + "\n"


def mca(asm, cpu):
    c = mca_once(asm, cpu)
    return c if c is not None else mca_once(strip_it(asm), cpu)


def mca_once(asm, cpu):
    r = subprocess.run([MCA, "-mtriple=thumbv7em-none-eabihf", f"-mcpu={cpu}", "-iterations=200"], input=asm,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"Total Cycles:\s+(\d+)", r.stdout)
    return int(m.group(1)) / 200.0 if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objdir", required=True)
    a = ap.parse_args()
    rows = []
    for core, cpu in (("m4", "cortex-m4"), ("m7", "cortex-m7")):
        funcs = functions(os.path.join(a.objdir, f"{core}_compare.o"))
        for label, rx in KERNELS:
            names = [n for n in funcs if re.search(rx, n)]
            if not names:
                rows.append((label, core, None))
                continue
            body = hot_loop(funcs[names[0]])
            if body is None:
                rows.append((label, core, None))
                continue
            cyc = mca(to_asm(body), cpu)
            rows.append((label, core, (len(body), mults(body), cyc)))
    print("| hot loop | core | instructions / iteration | MACs / iteration | llvm-mca cycles / iteration | "
          "cycles / MAC | instructions / MAC |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, core, v in rows:
        if v is None or v[2] is None:
            print(f"| {label} | {core.upper()} | n/a | | | | |")
            continue
        n, macs, cyc = v
        print(f"| {label} | {core.upper()} | {n} | {macs} | {cyc:.2f} | {cyc / macs:.2f} | {n / macs:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
