#!/usr/bin/env python3
"""Checks a memory.json written by `tinyodlc compile`, independently of the planner.

Verified (exit 1 with a message on the first violation):
  - schema: target, regions[{name,size,used}], buffers[{name,region,offset,size,first,last,
    tensors}], schedule, peak_bytes, lower_bound_bytes;
  - every buffer lies inside its region's arena, at an aligned offset; 0 <= first <= last <
    len(schedule); every tensor is in at most one buffer; arenas fit their region budgets;
  - no two buffers of one region whose live ranges intersect overlap in memory;
  - lower_bound_bytes equals the largest live set recomputed here;
  - peak_bytes equals the sum of the regions' used bytes;
  - for plans in one region: peak <= RATIO x lower bound (default 1.05) and peak <= the
    greedy-by-size (TFLM) peak recomputed here.
Prints one summary line: peak, lower bound, ratio, greedy.
"""
import argparse
import json
import sys


def align_up(v, a):
    return (v + a - 1) // a * a


def greedy_by_size(bufs, align):
    """TFLM-style greedy: largest first, lowest aligned offset that fits. Returns the peak."""
    order = sorted(range(len(bufs)), key=lambda i: (-bufs[i]["size"], bufs[i]["first"]))
    placed, peak = [], 0
    for i in order:
        b = bufs[i]
        if b["size"] == 0:
            continue
        busy = sorted((p["off"], p["off"] + p["size"]) for p in placed
                      if p["first"] <= b["last"] and b["first"] <= p["last"])
        off = 0
        for s, e in busy:
            if off + b["size"] <= s:
                break
            off = max(off, align_up(e, align))
        placed.append({"off": off, "size": b["size"], "first": b["first"], "last": b["last"]})
        peak = max(peak, align_up(off + b["size"], align))
    return peak


def fail(path, msg):
    print(f"{path}: FAIL: {msg}")
    sys.exit(1)


def check(path, ratio):
    with open(path) as f:
        m = json.load(f)
    for k, t in [("target", str), ("regions", list), ("buffers", list), ("schedule", list),
                 ("peak_bytes", int), ("lower_bound_bytes", int)]:
        if not isinstance(m.get(k), t):
            fail(path, f"key '{k}' missing or not {t.__name__}")
    align = m.get("alignment", 16)
    regions = {}
    for r in m["regions"]:
        for k in ("name", "size", "used"):
            if k not in r:
                fail(path, f"region without '{k}'")
        regions[r["name"]] = r
    n_steps = len(m["schedule"])
    seen_tensors = {}
    by_region = {name: [] for name in regions}
    for b in m["buffers"]:
        for k in ("name", "region", "offset", "size", "first", "last", "tensors"):
            if k not in b:
                fail(path, f"buffer without '{k}': {b}")
        if b["region"] not in regions:
            fail(path, f"buffer '{b['name']}' in unknown region '{b['region']}'")
        if not (0 <= b["first"] <= b["last"] < n_steps):
            fail(path, f"buffer '{b['name']}': live range [{b['first']}, {b['last']}] outside the schedule (0..{n_steps - 1})")
        if b["offset"] % align:
            fail(path, f"buffer '{b['name']}': offset {b['offset']} not aligned to {align}")
        r = regions[b["region"]]
        if b["offset"] + b["size"] > r["used"]:
            fail(path, f"buffer '{b['name']}' ends at {b['offset'] + b['size']} beyond region '{r['name']}' used {r['used']}")
        for t in b["tensors"]:
            if t in seen_tensors:
                fail(path, f"tensor '{t}' in buffers '{seen_tensors[t]}' and '{b['name']}'")
            seen_tensors[t] = b["name"]
        by_region[b["region"]].append(b)
    for name, r in regions.items():
        if not r.get("unlimited") and r["used"] > r["size"]:
            fail(path, f"region '{name}': used {r['used']} > size {r['size']}")
        bs = sorted((b for b in by_region[name] if b["size"] > 0), key=lambda b: b["offset"])
        # Pairwise check on intersecting live ranges (sorted by offset: stop once past the end).
        for i, a in enumerate(bs):
            a_end = a["offset"] + a["size"]
            for c in bs[i + 1:]:
                if c["offset"] >= a_end:
                    break
                if a["first"] <= c["last"] and c["first"] <= a["last"]:
                    fail(path, f"buffers '{a['name']}' [{a['offset']}, {a_end}) steps {a['first']}..{a['last']} and "
                               f"'{c['name']}' [{c['offset']}, {c['offset'] + c['size']}) steps {c['first']}..{c['last']} overlap")
    live = [0] * max(n_steps, 1)
    for b in m["buffers"]:
        for t in range(b["first"], b["last"] + 1):
            live[t] += align_up(b["size"], align) if b["size"] else 0
    lb = max(live)
    if lb != m["lower_bound_bytes"]:
        fail(path, f"lower_bound_bytes {m['lower_bound_bytes']} but the largest live set is {lb}")
    total_used = sum(r["used"] for r in m["regions"])
    if total_used != m["peak_bytes"]:
        fail(path, f"peak_bytes {m['peak_bytes']} != sum of regions' used {total_used}")
    used_regions = [n for n, bs in by_region.items() if any(b["size"] for b in bs)]
    greedy = greedy_by_size(m["buffers"], align)
    peak = m["peak_bytes"]
    line = f"{path}: ok: target {m['target']}, {len(m['buffers'])} buffers, peak {peak}, lower bound {lb}"
    if len(used_regions) <= 1:
        r = peak / lb if lb else 1.0
        if lb and peak > ratio * lb:
            fail(path, f"peak {peak} > {ratio} x lower bound {lb} ({r:.3f})")
        if peak > greedy:
            fail(path, f"peak {peak} worse than greedy-by-size {greedy}")
        line += f" ({r:.3f} x), greedy-by-size {greedy}"
    else:
        line += f", split over {len(used_regions)} regions: " + ", ".join(
            f"{n} {regions[n]['used']}/{regions[n]['size']}" for n in used_regions)
    print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("memory_json", nargs="+")
    ap.add_argument("--ratio", type=float, default=1.05, help="allowed peak / lower bound (default 1.05)")
    a = ap.parse_args()
    for p in a.memory_json:
        check(p, a.ratio)


if __name__ == "__main__":
    main()
