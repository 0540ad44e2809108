#!/usr/bin/python3
"""Regenerates the whole model zoo (all families): trains, exports, writes the reference data
sets and gradients, checks that every model is alive. Needs python3-torch (Debian 12: 1.13),
python3-onnx and numpy; run from anywhere:
    /usr/bin/python3 examples/models/make_all.py
Each family script can also be run alone (optionally with model names), e.g.
    /usr/bin/python3 examples/models/tinysv/make_tinysv.py kws
"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["streamtinynet/make_streamtinynet.py", "embbert_q/make_embbert_q.py", "tinysv/make_tinysv.py"]


def main():
    t0 = time.time()
    for s in SCRIPTS:
        print(f"### {s}", flush=True)
        r = subprocess.run([sys.executable, os.path.join(ROOT, s)])
        if r.returncode != 0:
            print(f"### {s} failed (exit {r.returncode})", flush=True)
            return r.returncode
    print(f"### model zoo regenerated in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
