"""What the model-level persistence tests share (test_al_persist.py, test_enrol_persist.py,
test_persist_model.py): checks with a failure list, building a test program for the host and the
Cortex-M4, and the reboot scenario of persist_session.h's run_phases() (modes full / first /
resume / noload)."""
import os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "target"))
import run_m4  # noqa: E402

failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)
    if not ok:
        failures.append(name)


def sh(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}")
    return r.stdout


def constant(header_text, name):
    """A `constexpr ... NAME = VALUE;` of a generated header, as an int (None if absent)."""
    m = re.search(rf"{name} = (0x[0-9A-Fa-f]+|\d+)u?;", header_text)
    return int(m.group(1), 0) if m else None


def host_program(out, defs, src, exe):
    """Builds the test program for the host (-Wall -Wextra -Werror); returns run(mode, image, out)."""
    sh(["g++", "-O2", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-I", out, "-I", HERE]
       + [f"-D{d}" for d in defs] + src + ["-o", exe])
    return lambda mode, img, o: subprocess.run([exe, mode, img, o]).returncode


def m4_program(out, defs, src, verbose_modes=(), forbid_double=True):
    """Builds the test program for the Cortex-M4 (QEMU); returns run(mode, image, out). The
    program's output is printed when it fails or its mode is in verbose_modes."""
    elf = run_m4.build(src, [HERE], os.path.join(out, "m4"), defs, forbid_double=forbid_double, first_includes=[out])

    def run(mode, img, o):
        rc, text = run_m4.qemu(elf, ["tinyodlc", mode, img, o], timeout=300)
        if rc != 0 or mode in verbose_modes:
            print(text, end="")
        return rc
    return run


def reboot_scenario(label, run, work, nbytes, what):
    """full / first / resume / noload (persist_session.h): A, save, reboot, load, B == A, B without
    a reboot, bit for bit; the control without load differs. Returns (full, saved) or None."""
    img, full, first, resume, noload = (os.path.join(work, n) for n in ("flash.img", "full.bin", "first.bin",
                                                                        "resume.bin", "noload.bin"))
    rc = [run("full", img, full), run("first", img, first), run("resume", img, resume), run("noload", img, noload)]
    check(f"{label}: runs succeed (full, first + save, resume after load, control without load)",
          rc == [0, 0, 0, 0], str(rc))
    if rc != [0, 0, 0, 0]:
        return None
    f, s, r, c = (open(p, "rb").read() for p in (full, first, resume, noload))
    check(f"{label}: loaded state == saved state, bit for bit ({nbytes} bytes)", r[:nbytes] == s)
    check(f"{label}: state after phase A: reboot + load == no reboot", f[:nbytes] == s)
    check(f"{label}: {what} == no reboot: trace and final state bit for bit ({len(f)} bytes)", f == r)
    check(f"{label}: control (reboot without load_state) differs", f[nbytes:] != c[nbytes:])
    return f, s


def summary():
    print(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} failure(s)")
    return 1 if failures else 0


def parse_args(prefix):
    """--tinyodlc BIN [--work DIR] [--no-target]; returns (args, work folder)."""
    import argparse, tempfile
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyodlc", required=True)
    ap.add_argument("--work", default=None)
    ap.add_argument("--no-target", action="store_true", help="host only (no Cortex-M4 build and QEMU runs)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    return a, work
