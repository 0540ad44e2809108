#!/usr/bin/env python3
"""Fails when a source file includes a folder above its own layer (docs/design.md "Layers").

Data flows one way: frontend -> passes -> backends -> compiler. A folder may include only
itself and the folders below it. `kernels/` and `runtime/` ship with the generated code and
include nothing of the compiler; `harness/` (what `run`/`check`/`bench` build around the
generated code) sees only them. Quoted includes ("dir/file.h") are checked; the kernels'
include root is kernels/, so "tinyodlc/ref/x.h" means kernels/.

    check_layers.py [ROOT]     # exit 0: no upward include; 1: lists each offending line
"""
import os
import re
import sys

# folder -> the folders it may include (besides itself)
ALLOWED = {
    "kernels": set(),
    "runtime": {"kernels"},
    "harness": {"kernels", "runtime"},
    "support": set(),
    "ir": {"support", "kernels"},
    "frontend": {"ir", "support", "kernels"},
    "passes": {"ir", "support", "kernels"},
    "backends": {"passes", "ir", "support", "kernels", "runtime"},
    "compiler": {"backends", "frontend", "passes", "ir", "support", "kernels", "runtime"},
}
# include prefixes that name a folder other than their first path component
ALIASES = {"tinyodlc": "kernels"}  # "tinyodlc/ref/conv.h", "tinyodlc/runtime/..." resolved below
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = (".h", ".hpp", ".c", ".cc", ".cpp", ".in")


def layer_of_include(path, root, including_dir):
    """The top-level folder an include refers to, or None (same-folder or system-like)."""
    first = path.split("/", 1)[0]
    if first == "tinyodlc":
        for base in ("kernels", "runtime"):
            if os.path.exists(os.path.join(root, base, path)):
                return base
        return "kernels"
    if first in ALLOWED:
        return first
    if os.path.exists(os.path.join(including_dir, path)):
        return None  # relative include within the same folder
    return None


def check(root):
    bad = []
    files = 0
    for top in ALLOWED:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith(SOURCES):
                    continue
                files += 1
                p = os.path.join(dirpath, name)
                with open(p, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = layer_of_include(m.group(1), root, dirpath)
                        if target is None or target == top or target in ALLOWED[top]:
                            continue
                        bad.append(f"{os.path.relpath(p, root)}:{lineno}: {top}/ includes \"{m.group(1)}\" "
                                   f"({target}/ is not below {top}/)")
    return files, bad


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    files, bad = check(root)
    for b in bad:
        print(b)
    print(f"layers: {files} files checked, {len(bad)} upward includes")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
