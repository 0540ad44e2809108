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
rc=0
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" "$@" || rc=$?
# Where the time went: the slowest tests of this run (ctest's per-test cost data, seconds).
COST="$BUILD/Testing/Temporary/CTestCostData.txt"
if [ -f "$COST" ]; then
  echo "slowest tests (seconds, ctest's recorded cost; TINYODLC_FULL=1 runs the full conformance/stream/int8 variants):"
  awk 'NF == 3 && $1 != "---" {printf "%8.1f  %s\n", $3, $1}' "$COST" | sort -rn | head -8
fi
# The conformance suites' summary lines (N passed, N failed, N skipped).
LOG="$BUILD/Testing/Temporary/LastTest.log"
if [ -f "$LOG" ]; then
  grep -E "^(conformance: |[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped)" "$LOG" || true
fi
exit "$rc"
