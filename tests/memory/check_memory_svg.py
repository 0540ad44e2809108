#!/usr/bin/env python3
"""memory.svg says what memory.json says (issue 17).

For a set of builds (host float, board float split over two regions, board training builds
with Adam state, int8, a reserve given with --reserve), compile, parse memory.svg as XML and
memory.json, and check:
  - the SVG root: data-peak-bytes == peak_bytes (kArenaBytes), data-weight-bytes == weight_bytes;
  - one panel (g.region) per RAM region holding an arena or persistent state, with data-arena,
    data-persistent, data-size, data-firmware-reserve equal to the region's arena, persistent,
    size and firmware_reserve; the budget line (board targets) at size + persistent; every other
    region listed as collapsed (desc.empty-region);
  - the panel's visible header text states the arena bytes (as printed, 1,234 style);
  - every buffer of memory.json (name, region, offset, size, first, last) is one rect.buffer of
    its region's panel, and nothing else is;
  - every persistent block (name, region, bytes) is one rect.persistent of its panel;
  - the flash panel: data-weights == weight_bytes, data-region/size == the largest flash region
    of memory.json ("flash"), none on host;
  - peak markers name real schedule steps, and at least one buffer is labelled with visible text;
  - the file renders (rsvg-convert, when installed) to a PNG.

usage: check_memory_svg.py --tinyodlc BIN [--work DIR] [--png-dir DIR]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
NS = "{http://www.w3.org/2000/svg}"
M = os.path.join(ROOT, "examples/models")
BUILDS = [
    ("tiny_cnn_host", os.path.join(ROOT, "examples/tiny_cnn/tiny_cnn.onnx"), []),
    ("kws_train_psoc_adam", os.path.join(M, "tinysv/kws_train_op13/kws_train_op13.onnx"),
     ["--target", "psoc62s2", "--loss-output", "logits", "--trainable-last", "1", "--optimizer", "adam"]),
    ("kws_train_nicla_adam", os.path.join(M, "tinysv/kws_train_op13/kws_train_op13.onnx"),
     ["--target", "nicla-vision", "--loss-output", "logits", "--trainable-last", "1", "--optimizer", "adam"]),
    ("stn_g_nicla_fast", os.path.join(M, "streamtinynet/stn_t4_gray64_g_op13/stn_t4_gray64_g_op13.onnx"),
     ["--target", "nicla-vision", "--placement", "fast"]),
    ("kws_int8_psoc_reserve", os.path.join(M, "tinysv/kws_op13/kws_op13.onnx"),
     ["--target", "psoc62s2", "--quantize", "int8", "--calibration", os.path.join(M, "tinysv/kws_op13"),
      "--reserve", "SRAM=100K"]),
]
FAILS = []


def check(what, ok, detail=""):
    if not ok:
        print("FAIL " + what + (f": {detail}" if detail else ""), flush=True)
        FAILS.append(what)
    return ok


def num(n):
    return f"{n:,}"


def check_build(label, svg_path, mem):
    root = ET.parse(svg_path).getroot()
    check(f"{label}: data-peak-bytes == peak_bytes", root.get("data-peak-bytes") == str(mem["peak_bytes"]),
          f"{root.get('data-peak-bytes')} vs {mem['peak_bytes']}")
    check(f"{label}: data-weight-bytes == weight_bytes", root.get("data-weight-bytes") == str(mem["weight_bytes"]))
    groups = {g.get("data-region"): g for g in root.iter(NS + "g") if g.get("class") == "region"}
    collapsed = {d.get("data-region") for d in root.iter(NS + "desc") if d.get("class") == "empty-region"}
    host = mem["target"] == "host"
    for r in mem["regions"]:
        holds = r["arena"] or r["persistent"] or len(mem["regions"]) == 1
        name = r["name"]
        if not holds:
            check(f"{label}: empty region {name} collapsed", name in collapsed and name not in groups)
            continue
        g = groups.get(name)
        if not check(f"{label}: a panel for region {name}", g is not None, str(sorted(groups))):
            continue
        want = {"data-arena": r["arena"], "data-persistent": r["persistent"],
                "data-size": r["size"], "data-firmware-reserve": r["firmware_reserve"]}
        got = {k: g.get(k) for k in want}
        check(f"{label}: region {name} numbers == memory.json", got == {k: str(v) for k, v in want.items()},
              f"{got} vs {want}")
        header = " ".join("".join(t.itertext()) for t in g.findall(NS + "text")[:2])
        check(f"{label}: region {name} header shows the arena bytes", f"arena {num(r['arena'])} B" in header, header)
        if not host:
            lines = [l for l in g.iter(NS + "line") if l.get("class") == "budget"]
            check(f"{label}: region {name} budget line at size + persistent",
                  len(lines) == 1 and lines[0].get("data-bytes") == str(r["size"] + r["persistent"]))
        rects = {(x.get("data-name"), int(x.get("data-offset")), int(x.get("data-size")), int(x.get("data-first")),
                  int(x.get("data-last"))) for x in g.iter(NS + "rect") if x.get("class") == "buffer"}
        want_b = {(b["name"], b["offset"], b["size"], b["first"], b["last"]) for b in mem["buffers"]
                  if b["region"] == name and b["size"]}
        check(f"{label}: region {name}: the buffers drawn == memory.json's ({len(want_b)})", rects == want_b,
              f"missing {sorted(want_b - rects)[:3]}, extra {sorted(rects - want_b)[:3]}")
        pers = sorted((x.get("data-name"), int(x.get("data-bytes"))) for x in g.iter(NS + "rect")
                      if x.get("class") == "persistent")
        want_p = sorted((p["name"], p["bytes"]) for p in mem["persistent"] if p["region"] == name and p["bytes"])
        check(f"{label}: region {name}: persistent blocks == memory.json", pers == want_p, f"{pers} vs {want_p}")
        peaks = [int(l.get("data-step")) for l in g.iter(NS + "line") if l.get("class") == "peak"]
        check(f"{label}: region {name}: peak steps marked", (not want_b) or (peaks and all(
            0 <= s < len(mem["schedule"]) for s in peaks)), str(peaks))
    labels = [t for t in root.iter(NS + "text") if t.get("class") == "label"]
    check(f"{label}: largest buffers labelled", labels or not mem["buffers"])
    flash = [g for g in root.iter(NS + "g") if g.get("class") == "flash"]
    if check(f"{label}: one flash panel", len(flash) == 1):
        f = flash[0]
        check(f"{label}: flash data-weights == weight_bytes", f.get("data-weights") == str(mem["weight_bytes"]))
        fl = mem.get("flash", [])
        if fl:
            big = max(fl, key=lambda x: x["size"])
            check(f"{label}: flash region == the largest in memory.json", f.get("data-region") == big["name"] and
                  f.get("data-size") == str(big["size"]), f"{f.attrib} vs {big}")
        else:
            check(f"{label}: host: no flash region", host and f.get("data-region") == "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work")
    ap.add_argument("--png-dir", help="also write the PNG renderings here")
    a = ap.parse_args()
    tmp = None if a.work else tempfile.mkdtemp(prefix="tinyodlc-svg-")
    work = a.work or tmp
    os.makedirs(work, exist_ok=True)
    rsvg = shutil.which("rsvg-convert")
    try:
        for label, model, extra in BUILDS:
            out = os.path.join(work, label)
            r = subprocess.run([a.tinyodlc, "compile", model, "-o", out] + extra, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if not check(f"{label}: compile", r.returncode == 0, r.stdout[-1500:]):
                continue
            mem = json.load(open(os.path.join(out, "memory.json")))
            before = len(FAILS)
            check_build(label, os.path.join(out, "memory.svg"), mem)
            if rsvg:
                png = os.path.join(a.png_dir or out, label + ".png")
                if a.png_dir:
                    os.makedirs(a.png_dir, exist_ok=True)
                rr = subprocess.run([rsvg, "-o", png, os.path.join(out, "memory.svg")], stderr=subprocess.PIPE, text=True)
                check(f"{label}: rsvg-convert renders it", rr.returncode == 0 and os.path.getsize(png) > 1000, rr.stderr)
            print(("ok   " if len(FAILS) == before else "FAIL ") + label, flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    passed = len(BUILDS) - len({f.split(":")[0] for f in FAILS})
    print(f"{passed} passed, {len(BUILDS) - passed} failed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
