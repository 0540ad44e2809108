#!/usr/bin/env bash
# The test command: installs dependencies (Debian 12), builds tinyodlc and runs every test
# suite (unit, lit, conformance, ...) through ctest.
#   scripts/test.sh              # all default suites
#   TINYODLC_BUILD=dir scripts/test.sh   # another build folder (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${TINYODLC_SKIP_SETUP:-0}" != 1 ]; then scripts/setup-debian.sh; fi
BUILD="${TINYODLC_BUILD:-build}"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYODLC_WERROR=ON > /dev/null
cmake --build "$BUILD"
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" "$@"
