#!/bin/sh
# Long fuzz run of the in-tree libFuzzer target (tests/fuzz/fuzz_compile.cpp) under ASan+UBSan
# (docs/robustness.md). Builds with tests/fuzz/sanitizer_job.sh (0 fuzz runs), then fuzzes.
#   scripts/fuzz.sh [RUNS (default 1000000; -1 = until stopped)] [BUILD_DIR (default build-asan)] [JOBS (default 1)]
# Findings (crash-*, leak-*, timeout-*, oom-*) land in BUILD_DIR/fuzz-findings; the grown corpus in
# BUILD_DIR/fuzz-corpus. Minimize a finding and add it to tests/fuzz/regression (gen_corpus.py).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-1000000}
BLD=${2:-$ROOT/build-asan}
JOBS=${3:-1}
sh "$ROOT/tests/fuzz/sanitizer_job.sh" "$ROOT" "$BLD" 0 >/dev/null
mkdir -p "$BLD/fuzz-corpus" "$BLD/fuzz-findings"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$BLD/fuzz-findings"
exec nice -n 10 "$BLD/tests/fuzz_compile" -runs="$RUNS" -jobs="$JOBS" -workers="$JOBS" -rss_limit_mb=2560 -timeout=20 \
  -max_len=4096 -print_final_stats=1 -artifact_prefix="$BLD/fuzz-findings/" \
  "$BLD/fuzz-corpus" "$ROOT/tests/fuzz/seeds" "$ROOT/tests/fuzz/regression"
