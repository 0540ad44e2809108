#!/usr/bin/env python3
"""Whole-model float32 side by side with onnx2c on Cortex-M4 and M7 (QEMU instruction counts,
docs/performance.md), in one run: the zoo models of bench_models.py, tinyodlc through `tinyodlc
bench <model> --inputs <model>/test_data_set_0 --target psoc62s2|nicla-vision` (instructions of
invoke()), onnx2c through its generated C, compiled with the same compiler and flags (-O2
-ffp-contract=off, the cores' -mcpu/-mfpu, as bench_compare.py) and counted with the same QEMU
plugin between the same perf markers around one call of its entry function. onnx2c's output is
compared with the model's test_data_set_0 output, so the count is of a correct run. Not a test:
onnx2c is not a Debian package; it is built in a scratch folder outside the repository.

  bench_onnx2c_models.py --tinyodlc build/tinyodlc --plugin build/qemu_insn_plugin.so
                         --onnx2c /work/scratch/onnx2c/build/onnx2c [--models kws,sv,...]
                         [--build DIR] [--json out.json]

onnx2c (at ea045cc) cannot Cast to INT64, and every zoo model but StreamTinyNet has such a Cast
in a constant shape subgraph (PyTorch's export of the padding). The script first tries the model
as it is, records onnx2c's error, then gives onnx2c a copy in which the subgraphs that depend only
on constants and on static shapes are folded to initializers (FOLD below, numpy); the graph
that computes on the input is unchanged. If Casts that onnx2c lacks still compute on the input
(EmbBERT-Q's segment ids), it tries once more with that integer index arithmetic done here and
given as extra inputs (a smaller computation than tinyodlc's, so it would favour onnx2c), and
records why that fails too. The printed notes say which form was counted.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_compare import sh  # noqa: E402
from bench_models import MODELS, TARGETS, Z, bench  # noqa: E402
from run_kernel_tests import CORES  # noqa: E402

PY = "/usr/bin/python3"  # the Debian python with python3-onnx and numpy

# Runs in PY (python3-onnx, numpy): folds the constant subgraphs of argv[1] into initializers,
# writes argv[2]; prints the folded node count.
FOLD = r'''
import sys, numpy as np, onnx
from onnx import numpy_helper, helper, shape_inference
m = shape_inference.infer_shapes(onnx.load(sys.argv[1]))
g = m.graph
const = {t.name: numpy_helper.to_array(t) for t in g.initializer}
shapes = {}
for v in list(g.value_info) + list(g.input):
    d = v.type.tensor_type.shape.dim
    if v.type.tensor_type.HasField("shape") and all(x.HasField("dim_value") for x in d):
        shapes[v.name] = [x.dim_value for x in d]
def attr(n, k, dflt=None):
    for a in n.attribute:
        if a.name == k:
            return helper.get_attribute_value(a)
    return dflt
def np_type(to):
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[to]
def ev(n, x):
    o = n.op_type
    if o == "Constant": return numpy_helper.to_array(attr(n, "value"))
    if o == "Shape": return np.array(shapes[n.input[0]], np.int64)
    if o == "ConstantOfShape":
        v = attr(n, "value")
        v = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
        return np.full(tuple(x[0]), v.reshape(-1)[0], v.dtype)
    if o == "Cast": return x[0].astype(np_type(attr(n, "to")))
    if o == "Concat": return np.concatenate(x, attr(n, "axis"))
    if o == "Reshape":
        s = [d if d != 0 else x[0].shape[i] for i, d in enumerate(x[1])]
        return x[0].reshape(s)
    if o == "Transpose": return np.transpose(x[0], attr(n, "perm"))
    if o == "Unsqueeze":
        r = x[0]
        for a in sorted(int(v) for v in x[1]): r = np.expand_dims(r, a)
        return r
    if o == "Squeeze": return np.squeeze(x[0], tuple(int(v) for v in x[1])) if len(x) > 1 else np.squeeze(x[0])
    if o == "Gather": return np.take(x[0], x[1], attr(n, "axis", 0))
    if o == "Slice":
        st, en = x[1], x[2]
        ax = x[3] if len(x) > 3 else range(len(st))
        sp = x[4] if len(x) > 4 else [1] * len(st)
        sl = [slice(None)] * x[0].ndim
        for s, e, a, p in zip(st, en, ax, sp):
            sl[int(a)] = slice(int(s), None if (p < 0 and e < -x[0].shape[int(a)]) else int(e), int(p))
        return x[0][tuple(sl)]
    if o in ("Add", "Sub", "Mul"): return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[o](x[0], x[1])
    if o == "Div":
        return (x[0] // x[1]) if np.issubdtype(x[0].dtype, np.integer) else x[0] / x[1]
    if o == "Equal": return np.equal(x[0], x[1])
    if o == "Expand": return x[0] * np.ones(tuple(x[1]), x[0].dtype)
    if o == "Greater": return np.greater(x[0], x[1])
    if o == "Where": return np.where(x[0], x[1], x[2])
    if o == "CumSum": return np.cumsum(x[0], int(x[1]))
    raise KeyError(o)
# --cut DIR: the graph inputs take test_data_set DIR's values, and the integer/bool nodes computed
# from them (index arithmetic) are evaluated here; the values that the kept nodes read become
# new graph inputs, written to DIR_OUT as input_K.pb. Floating-point nodes are never evaluated.
cut = sys.argv[3:5] if len(sys.argv) > 4 and sys.argv[3] else None
dep = set()
if cut:
    import glob, os
    real = [i for i in g.input if i.name not in const]
    for i, f in zip(real, sorted(glob.glob(os.path.join(cut[0], "input_*.pb")))):
        t = onnx.TensorProto(); t.ParseFromString(open(f, "rb").read())
        const[i.name] = numpy_helper.to_array(t); dep.add(i.name)
keep, folded = [], 0
for n in g.node:
    ins = [i for i in n.input if i]
    ok = n.op_type in ("Constant", "Shape") or (ins and all(i in const for i in ins))
    if n.op_type == "Shape": ok = n.input[0] in shapes
    if ok:
        try:
            v = np.asarray(ev(n, [const.get(i) for i in n.input if i]))
            if not (dep & set(ins)) or not np.issubdtype(v.dtype, np.floating):
                const[n.output[0]] = v
                if dep & set(ins): dep.add(n.output[0])
                folded += 1
                continue
        except KeyError:
            pass
    keep.append(n)
used = {i for n in keep for i in n.input} | {o.name for o in g.output}
if cut:
    import shutil
    os.makedirs(cut[1], exist_ok=True)
    for f in glob.glob(os.path.join(cut[0], "*.pb")): shutil.copy(f, cut[1])
    k = len(real)
    for name in sorted(dep - {i.name for i in real}):
        if name in used:
            v = const[name]
            g.input.append(helper.make_tensor_value_info(name, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[v.dtype], v.shape))
            open(os.path.join(cut[1], f"input_{k}.pb"), "wb").write(numpy_helper.from_array(v, name).SerializeToString())
            print("cut:", name, file=sys.stderr); k += 1
    for i in real: del const[i.name]
inits = [numpy_helper.from_array(v, k) for k, v in const.items() if k in used and k not in dep]
del g.node[:]; g.node.extend(keep)
del g.initializer[:]; g.initializer.extend(inits)
del g.value_info[:]
onnx.checker.check_model(m)
onnx.save(m, sys.argv[2])
left = [n.name for n in keep if n.op_type == "Cast" and attr(n, "to") not in (1, 6, 11)]
print("casts left:", " ".join(left) or "none")
print(folded)
'''

# Runs in PY: argv[1] = test_data_set_0, argv[2] = C file to write (the inputs as arrays)
# and argv[3] = JSON with the output names, element counts and types.
IO = r'''
import sys, glob, json, os, numpy as np, onnx
from onnx import numpy_helper
d, cfile, jfile = sys.argv[1:4]
def load(p):
    t = onnx.TensorProto(); t.ParseFromString(open(p, "rb").read()); return numpy_helper.to_array(t)
ins = [load(p) for p in sorted(glob.glob(os.path.join(d, "input_*.pb")))]
outs = [load(p) for p in sorted(glob.glob(os.path.join(d, "output_*.pb")))]
ct = {np.dtype(np.float32): "float", np.dtype(np.int64): "int64_t", np.dtype(np.int32): "int32_t"}
with open(cfile, "w") as f:
    f.write("#include <stdint.h>\n")
    for i, a in enumerate(ins):
        v = ", ".join(repr(float(x)) + "f" if a.dtype == np.float32 else str(int(x)) for x in a.reshape(-1))
        f.write(f"const {ct[a.dtype]} o2c_in{i}[{a.size}] = {{{v}}};\n")
    f.write(f"const unsigned o2c_n_in = {len(ins)};\n")
json.dump({"inputs": len(ins), "outputs": [[a.size, ct[a.dtype]] for a in outs]}, open(jfile, "w"))
'''

# Runs in PY: compares the output files argv[2..] (raw, as the ELF wrote them) with test_data_set argv[1].
CHECK = r'''
import sys, glob, os, numpy as np, onnx
from onnx import numpy_helper
def load(p):
    t = onnx.TensorProto(); t.ParseFromString(open(p, "rb").read()); return numpy_helper.to_array(t)
exp = [load(p) for p in sorted(glob.glob(os.path.join(sys.argv[1], "output_*.pb")))]
worst = 0.0
for e, f in zip(exp, sys.argv[2:]):
    y = np.fromfile(f, e.dtype)
    if y.size != e.size: print("size", y.size, e.size); sys.exit(1)
    err = float(np.max(np.abs(y - e.reshape(-1)))) if e.size else 0.0
    worst = max(worst, err)
    if not np.allclose(y, e.reshape(-1), rtol=1e-3, atol=1e-4): print("mismatch", err); sys.exit(1)
print(worst)
'''


def write_main(build, entry_sig, io):
    """The driver: inputs from arrays, one counted call of onnx2c's entry, outputs to files."""
    lines = ['#include <stdint.h>', '#include "tinyodlc_target.h"', entry_sig + ";",
             "extern const unsigned o2c_n_in;"]
    for i in range(io["inputs"]):
        lines.append(f"extern const char o2c_in{i}[];")  # the element type does not matter to the call
    for i, (n, t) in enumerate(io["outputs"]):
        lines.append(f"static {t} o2c_out{i}[{max(n, 1)}];")
    args = [f"(void*)o2c_in{i}" for i in range(io["inputs"])] + [f"(void*)o2c_out{i}" for i in
                                                                  range(len(io["outputs"]))]
    lines += ["int main(void) {", "  tinyodlc_perf_begin();", f"  entry({', '.join(args)});",
              "  tinyodlc_perf_end();"]
    for i, (n, t) in enumerate(io["outputs"]):
        lines += [f'  {{ int h = tinyodlc_sh_open("out{i}.bin", "wb"); if (h < 0) return 2;',
                  f"    tinyodlc_sh_write(h, o2c_out{i}, sizeof o2c_out{i}); tinyodlc_sh_close(h); }}"]
    lines += ["  return 0;", "}", ""]
    path = os.path.join(build, "main.c")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def section_sizes(obj):
    """.text / .rodata / .bss bytes of one object (onnx2c's model file), summed over -ffunction-sections."""
    s = {"text": 0, "rodata": 0, "bss": 0, "data": 0}
    for line in sh(["arm-none-eabi-size", "-A", obj]).splitlines():
        p = line.split()
        if len(p) >= 2 and p[1].isdigit():
            for k in s:
                if p[0] == "." + k or p[0].startswith("." + k + "."):
                    s[k] += int(p[1])
    return s


def onnx2c_model(a, key, build):
    """onnx2c on one model, both cores: {'form', 'error', 'm4': {...}, 'm7': {...}} or an error."""
    label, folder = MODELS[key]
    name = os.path.basename(folder)
    d = os.path.join(Z, folder)
    onnx_path = os.path.join(d, name + ".onnx")
    b = os.path.join(build, key)
    os.makedirs(b, exist_ok=True)
    res = {"form": "as is"}
    tests = os.path.join(d, "test_data_set_0")
    r = subprocess.run([a.onnx2c, onnx_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        res["error_as_is"] = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        res["error_as_is"] = re.sub(r"^[\d-]+ [\d.-]+ ", "", res["error_as_is"])
        folded = os.path.join(b, name + "_folded.onnx")
        fold = os.path.join(build, "fold.py")
        open(fold, "w").write(FOLD)
        # Folding a Shape needs the static shape of its input, which ONNX shape inference gives only
        # once the Pad sizes feeding it are constants: fold until nothing changes.
        src, res["folded_nodes"] = onnx_path, 0
        for _ in range(8):
            out = sh([PY, fold, src, folded]).strip().splitlines()
            res["folded_nodes"] += int(out[-1])
            res["casts_left"] = out[-2].split(":", 1)[1].strip()
            src = folded
            if int(out[-1]) == 0:
                break
        res["form"] = "constant subgraphs folded"
        r = subprocess.run([a.onnx2c, folded], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            res["error"] = re.sub(r"^[\d-]+ [\d.-]+ ", "", (r.stderr.strip().splitlines() or ["?"])[-1])
            if res["casts_left"] == "none":
                return res
            res["error"] += f" (Cast to a type onnx2c lacks, not constant: {res['casts_left']})"
            # Last resort, a different (smaller) computation: the integer index arithmetic on the
            # input is done here and its results become extra inputs; counted as "cut".
            cutm, tests = os.path.join(b, name + "_cut.onnx"), os.path.join(b, "test_data_cut")
            p = subprocess.run([PY, fold, folded, cutm, os.path.join(d, "test_data_set_0"), tests],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            r = subprocess.run([a.onnx2c, cutm], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode or r.returncode:
                return res
            res["form"] = "cut: index arithmetic on the input done outside, given as inputs " + \
                ", ".join(x.split(": ", 1)[1] for x in p.stderr.splitlines() if x.startswith("cut: "))
            res["cut_error"] = res.pop("error")
    csrc = os.path.join(b, "model.c")
    open(csrc, "w").write(r.stdout)
    m = re.search(r"^void entry\(.*\)\s*\{", r.stdout, re.M)
    sig = m.group(0).rstrip("{ \n")
    iopy = os.path.join(build, "io.py")
    open(iopy, "w").write(IO)
    sh([PY, iopy, tests, os.path.join(b, "inputs.c"), os.path.join(b, "io.json")])
    io = json.load(open(os.path.join(b, "io.json")))
    main_c = write_main(b, sig, io)
    tgt = os.path.join(ROOT, "harness", "target")
    chk = os.path.join(build, "check.py")
    open(chk, "w").write(CHECK)
    for core, (flags, machine) in CORES.items():
        common = flags + ["-O2", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off"]
        objs = []
        for c in (os.path.join(tgt, "startup.c"), os.path.join(tgt, "semihost.c"), main_c, os.path.join(b, "inputs.c"),
                  csrc):
            o = os.path.join(b, f"{core}_{os.path.basename(c)}.o")
            cc = subprocess.run(["arm-none-eabi-gcc"] + common + ["-std=gnu99", "-w", "-I" + tgt, "-c", c, "-o", o],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if cc.returncode:
                errs = sorted({re.sub(r"'[^']*'", "'...'", e.split("error: ", 1)[1])
                               for e in cc.stdout.splitlines() if "error: " in e})
                res["error"] = f"onnx2c's C does not compile ({res['form']}): " + "; ".join(errs)
                return res
            objs.append(o)
        elf = os.path.join(b, f"{core}.elf")
        sh(["arm-none-eabi-gcc"] + flags + objs + ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
            "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-T", os.path.join(HERE, "qemu_mps2.ld"), "-lm", "-o", elf])
        addr = {}
        for line in sh(["arm-none-eabi-nm", elf]).splitlines():
            p = line.split()
            if len(p) == 3:
                addr[p[2]] = p[0]
        out = os.path.join(b, f"{core}_count.txt")
        for i in range(len(io["outputs"])):
            if os.path.exists(os.path.join(b, f"out{i}.bin")):
                os.remove(os.path.join(b, f"out{i}.bin"))
        q = subprocess.run(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
                            "-semihosting-config", "enable=on,target=native", "-plugin",
                            f"{a.plugin},start=0x{addr['tinyodlc_perf_begin']},stop=0x{addr['tinyodlc_perf_end']},"
                            f"out={out}", "-kernel", elf], cwd=b, timeout=900)
        if q.returncode:
            res["error"] = f"{core}: the onnx2c ELF exited with {q.returncode}"
            return res
        counts = [int(x) for x in re.findall(r"region \d+ insns (\d+)", open(out).read())]
        c = subprocess.run([PY, chk, tests] +
                           [os.path.join(b, f"out{i}.bin") for i in range(len(io["outputs"]))],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if c.returncode or len(counts) != 1:
            res["error"] = f"{core}: onnx2c's output differs from test_data_set_0: {c.stdout.strip()}"
            return res
        res[core] = {"insns": counts[0], "max_abs_err": float(c.stdout.strip().splitlines()[-1]),
                     **section_sizes(objs[-1])}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--onnx2c", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--build", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    a.plugin = os.path.abspath(a.plugin)
    build = a.build or tempfile.mkdtemp(prefix="tinyodlc-o2cm-")
    os.makedirs(build, exist_ok=True)
    rows = []
    for key in a.models.split(","):
        row = {"key": key, "model": MODELS[key][0], "onnx2c": onnx2c_model(a, key, build)}
        for core, tname in TARGETS.items():
            j = bench(a.tinyodlc, MODELS[key][1], ["--target", tname], False, build)
            if j is None:
                row[core] = None
                continue
            t = j.get("total", j)
            secs = j["run"]["sections"]
            row[core] = {"insns": t["insns"], "text": secs["text"]["model"], "rodata": secs["rodata"]["model"],
                         "bss": secs["bss"]["model"]}
            row["macs"] = t["macs"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    print("| model | MACs | core | tinyodlc instr (instr/MAC) | onnx2c instr (instr/MAC) | tinyodlc / onnx2c |"
          " .text+.rodata tinyodlc | .text+.rodata onnx2c | .bss tinyodlc | .bss onnx2c |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, macs = r["onnx2c"], r.get("macs", 0)
        for core in ("m4", "m7"):
            t, oc = r.get(core), o.get(core)
            cells = [f"{t['insns']:,} ({t['insns'] / macs:.2f})" if t else "failed",
                     f"{oc['insns']:,} ({oc['insns'] / macs:.2f})" if oc else "fails: " + o.get("error", "?"),
                     f"{t['insns'] / oc['insns']:.2f}" if t and oc else "",
                     f"{t['text']:,} + {t['rodata']:,}" if t else "", f"{oc['text']:,} + {oc['rodata']:,}" if oc else "",
                     f"{t['bss']:,}" if t else "", f"{oc['bss']:,}" if oc else ""]
            print(f"| {r['model']} | {macs:,} | {core.upper()} | " + " | ".join(cells) + " |")
    print()
    for r in rows:
        o = r["onnx2c"]
        print(f"- {r['model']}: onnx2c given the model {o['form']}" +
              (f" ({o['folded_nodes']} nodes folded; as is: {o['error_as_is']})" if "error_as_is" in o else "") +
              (f"; max |onnx2c - expected| M4 {o['m4']['max_abs_err']:.3g}, M7 {o['m7']['max_abs_err']:.3g}"
               if "m7" in o else ""))
    if a.json:
        json.dump(rows, open(a.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
