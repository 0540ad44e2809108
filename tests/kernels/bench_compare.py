#!/usr/bin/env python3
"""Same-run per-layer comparison on Cortex-M4 and M7 (QEMU instruction counts,
docs/performance.md): tinyodlc's reference and optimized kernels against CMSIS-NN (int8) and
onnx2c (float32) on the same shapes, same compiler (arm-none-eabi-g++ 12 -O2
-ffp-contract=off), same counter, one ELF per core. CMSIS-NN and onnx2c are built from scratch
folders outside the repository (never committed):

  bench_compare.py --plugin build/qemu_insn_plugin.so --cmsis-nn /work/scratch/cmsis-nn
                   [--onnx2c /work/scratch/onnx2c/build/onnx2c] [--build DIR]

--cmsis-nn is a CMSIS-NN source tree; its Source/{Convolution,NNSupport,FullyConnected}Functions
are compiled here for each core. --onnx2c is an onnx2c executable: each float layer is written
as a one-node ONNX model (python3-onnx), compiled by onnx2c to C, and linked in. Not a test.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from run_kernel_tests import CORES  # noqa: E402

# (name, MACs); the order of main() in compare_bench.cpp
INT8 = [
    ("conv 10x4 s2, 1->64, 49x10 (DS-CNN stem)", 25 * 5 * 64 * 40),
    ("depthwise 3x3 s1, 64ch, 25x5 (DS-CNN)", 25 * 5 * 64 * 9),
    ("pointwise 1x1, 64->64, 25x5 (DS-CNN)", 25 * 5 * 64 * 64),
    ("dense 3x3 s1, 16->32, 16x16", 16 * 16 * 32 * 16 * 9),
    ("depthwise 3x3 s2, 32ch, 16x16", 8 * 8 * 32 * 9),
    ("FC 64->12 (DS-CNN classifier)", 64 * 12),
    ("FC 256->128", 256 * 128),
    ("MatMul 16x64 by 64x64", 16 * 64 * 64),
    ("conv 3x3 s1, 1->8, 64x64 (StreamTinyNet first conv)", 64 * 64 * 8 * 9),
    ("dense 3x3 s1, 8->16, 32x32 (StreamTinyNet)", 32 * 32 * 16 * 72),
    ("conv 10x4 s2, 1->32, 49x40 (speaker stem)", 25 * 20 * 32 * 40),
    ("depthwise 3x3 s1, 32ch, 25x20 (speaker)", 25 * 20 * 32 * 9),
    ("pointwise 1x1, 32->32, 25x20 (speaker)", 25 * 20 * 32 * 32),
]
# (name, MACs, onnx2c symbol, ONNX node description)
FLOAT = [
    ("conv 10x4 s2, 1->64, 49x10 (DS-CNN stem)", 25 * 5 * 64 * 40, "o2c_stem",
     dict(c_in=1, c_out=64, group=1, hw=(49, 10), k=(10, 4), s=2, pads=(4, 1, 5, 1))),
    ("depthwise 3x3 s1, 64ch, 25x5 (DS-CNN)", 25 * 5 * 64 * 9, "o2c_dw",
     dict(c_in=64, c_out=64, group=64, hw=(25, 5), k=(3, 3), s=1, pads=(1, 1, 1, 1))),
    ("pointwise 1x1, 64->64, 25x5 (DS-CNN)", 25 * 5 * 64 * 64, "o2c_pw",
     dict(c_in=64, c_out=64, group=1, hw=(25, 5), k=(1, 1), s=1, pads=(0, 0, 0, 0))),
    ("dense 3x3 s1, 16->32, 16x16", 16 * 16 * 32 * 16 * 9, "o2c_dense",
     dict(c_in=16, c_out=32, group=1, hw=(16, 16), k=(3, 3), s=1, pads=(1, 1, 1, 1))),
    ("depthwise 3x3 s2, 32ch, 16x16", 8 * 8 * 32 * 9, "o2c_dw2",
     dict(c_in=32, c_out=32, group=32, hw=(16, 16), k=(3, 3), s=2, pads=(0, 0, 1, 1))),
    ("FC 64->12 (Gemm)", 64 * 12, "o2c_fc", dict(fc=(64, 12))),
]


def sh(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode:
        sys.stdout.write(r.stdout[-4000:])
        raise SystemExit(f"failed: {' '.join(cmd[:3])} ...")
    return r.stdout


def onnx_layers(onnx2c, build):
    """One-node ONNX models -> onnx2c C files with renamed entry points."""
    gen = os.path.join(build, "gen_onnx.py")
    with open(gen, "w") as f:
        f.write('''import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
name, spec, out = sys.argv[1], eval(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(1)
if "fc" in spec:
    K, N = spec["fc"]
    W = numpy_helper.from_array(rng.uniform(-1, 1, (N, K)).astype(np.float32), "W")
    B = numpy_helper.from_array(rng.uniform(-1, 1, (N,)).astype(np.float32), "B")
    node = helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)
    xi = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K])
    yi = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])
    inits = [W, B]
else:
    ci, co, g = spec["c_in"], spec["c_out"], spec["group"]
    (h, w), (kh, kw), s, (pt, pl, pb, pr) = spec["hw"], spec["k"], spec["s"], spec["pads"]
    oh, ow = (h + pt + pb - kh) // s + 1, (w + pl + pr - kw) // s + 1
    W = numpy_helper.from_array(rng.uniform(-1, 1, (co, ci // g, kh, kw)).astype(np.float32), "W")
    B = numpy_helper.from_array(rng.uniform(-1, 1, (co,)).astype(np.float32), "B")
    node = helper.make_node("Conv", ["x", "W", "B"], ["y"], group=g, kernel_shape=[kh, kw], strides=[s, s],
                            pads=[pt, pl, pb, pr])
    xi = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ci, h, w])
    yi = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, co, oh, ow])
    inits = [W, B]
m = helper.make_model(helper.make_graph([node], name, [xi], [yi], inits), opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save(m, out)
''')
    srcs = []
    for _, _, sym, spec in FLOAT:
        model = os.path.join(build, sym + ".onnx")
        sh(["/usr/bin/python3", gen, sym, repr(spec), model])
        c = sh([onnx2c, model])
        src = os.path.join(build, sym + ".c")
        # Rename the entry point and keep every other global symbol file-local.
        c = re.sub(r"\bentry\b", sym, c)
        with open(src, "w") as f:
            f.write(c)
        srcs.append(src)
    with open(os.path.join(build, "onnx2c_layers.h"), "w") as f:
        for _, _, sym, _ in FLOAT:
            f.write(f'extern "C" void {sym}(const float* x, float* y);\n')
    return srcs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--cmsis-nn", required=True)
    ap.add_argument("--onnx2c", default=None)
    ap.add_argument("--build", default=None)
    a = ap.parse_args()
    build = a.build or tempfile.mkdtemp(prefix="tinyodlc-cmp-")
    os.makedirs(build, exist_ok=True)
    tgt = os.path.join(ROOT, "harness", "target")
    cmsis_inc = os.path.join(a.cmsis_nn, "Include")
    o2c = onnx_layers(a.onnx2c, build) if a.onnx2c else []
    res, text = {}, {}
    for core, (flags, machine) in CORES.items():
        common = flags + ["-O2", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off"]
        objs = []
        for c in ("startup.c", "semihost.c"):
            o = os.path.join(build, f"{core}_{c}.o")
            sh(["arm-none-eabi-gcc"] + common + ["-I" + tgt, "-c", os.path.join(tgt, c), "-o", o])
            objs.append(o)
        lib = os.path.join(build, f"cmsisnn_{core}")
        os.makedirs(lib, exist_ok=True)
        members = []
        for d in ("ConvolutionFunctions", "NNSupportFunctions", "FullyConnectedFunctions"):
            for src in sorted(glob.glob(os.path.join(a.cmsis_nn, "Source", d, "*.c"))):
                o = os.path.join(lib, os.path.basename(src)[:-2] + ".o")
                if not os.path.exists(o):
                    r = subprocess.run(["arm-none-eabi-gcc"] + common + ["-I" + cmsis_inc, "-c", src, "-o", o],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    if r.returncode:
                        continue  # f16 sources (no _Float16 on this target)
                members.append(o)
        archive = os.path.join(build, f"libcmsisnn_{core}.a")
        if os.path.exists(archive):
            os.remove(archive)
        sh(["arm-none-eabi-ar", "rcs", archive] + members)
        for src in o2c:
            o = os.path.join(build, f"{core}_{os.path.basename(src)}.o")
            sh(["arm-none-eabi-gcc"] + common + ["-std=c99", "-c", src, "-o", o])
            objs.append(o)
        o = os.path.join(build, f"{core}_compare.o")
        sh(["arm-none-eabi-g++"] + common + ["-std=c++17", "-fno-exceptions", "-fno-rtti", "-Wno-psabi", "-I" + tgt,
            "-I" + os.path.join(ROOT, "kernels"), "-I" + cmsis_inc, "-I" + build] +
           (["-DTINYODLC_HAVE_ONNX2C"] if o2c else []) + ["-c", os.path.join(HERE, "compare_bench.cpp"), "-o", o])
        elf = os.path.join(build, f"compare_{core}.elf")
        sh(["arm-none-eabi-g++"] + flags + objs + [o, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
            "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-T", os.path.join(HERE, "qemu_mps2.ld"), archive, "-o", elf])
        nm = sh(["arm-none-eabi-nm", "-S", "--size-sort", elf])
        text[core] = nm
        addr = {}
        for l in sh(["arm-none-eabi-nm", elf]).splitlines():
            p = l.split()
            if len(p) == 3:
                addr[p[2]] = p[0]
        out = os.path.join(build, f"compare_{core}.txt")
        r = subprocess.run(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
                            "-semihosting-config", "enable=on,target=native", "-plugin",
                            f"{a.plugin},start=0x{addr['tinyodlc_perf_begin']},stop=0x{addr['tinyodlc_perf_end']},"
                            f"out={out}", "-kernel", elf], timeout=300)
        if r.returncode:
            print(f"{core}: a kernel failed or an optimized kernel differs from the reference (exit {r.returncode})")
            return 1
        res[core] = [int(m.group(1)) for m in re.finditer(r"region \d+ insns (\d+)", open(out).read())]
    print("int8 (instructions/MAC; ratio = tinyodlc armv7em / CMSIS-NN, < 1 is better)\n")
    print("| layer (MACs) | ref M4 | armv7em M4 | CMSIS-NN M4 | ratio M4 | ref M7 | armv7em M7 | CMSIS-NN M7 | ratio M7 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, (name, macs) in enumerate(INT8):
        cells = []
        for core in ("m4", "m7"):
            r, o, c = res[core][3 * i:3 * i + 3]
            cells += [f"{r / macs:.2f}", f"**{o / macs:.2f}**", f"{c / macs:.2f}", f"{o / c:.2f}"]
        print(f"| {name} ({macs:,}) | " + " | ".join(cells) + " |")
    n = 3 if o2c else 2
    base = 3 * len(INT8)
    print("\nfloat32 (instructions/MAC" + ("; ratio = tinyodlc opt / onnx2c" if o2c else "") + ")\n")
    hdr = "| layer (MACs) | ref M4 | opt M4 |" + (" onnx2c M4 | ratio M4 |" if o2c else "") + " ref M7 | opt M7 |" + \
          (" onnx2c M7 | ratio M7 |" if o2c else "")
    print(hdr)
    print("|---|" + "---:|" * (hdr.count("|") - 2))
    for i, (name, macs, _, _) in enumerate(FLOAT):
        cells = []
        for core in ("m4", "m7"):
            v = res[core][base + n * i:base + n * i + n]
            cells += [f"{v[0] / macs:.2f}", f"**{v[1] / macs:.2f}**"]
            if o2c:
                cells += [f"{v[2] / macs:.2f}", f"{v[1] / v[2]:.2f}"]
        print(f"| {name} ({macs:,}) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
