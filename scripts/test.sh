#!/usr/bin/env bash
# Sets everything up and runs the whole test suite:
#   1. scripts/setup.sh --test-tools  (Debian packages incl. tshark and the Python peers; Release build)
#   2. ctest on the Release build     (labels unit, mpi, e2e, slurm: a local Slurm it installs and starts;
#                                      lint: clang-format --dry-run -Werror on every C++ source)
#   3. the unit tests again in a Debug build with AddressSanitizer + UBSan (build-asan/)
# Extra arguments go to both ctest runs (e.g. -L unit, -R Synth).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
start=$(date +%s)
jobs=$(nproc)

scripts/setup.sh --test-tools
# Each ctest run's output is kept, so that the tests that did not run (skipped: no GPU, no data,
# a missing peer tool) are counted and named at the end, never hidden among the passed ones.
skipped_of() { grep -E '\(Skipped\)$' "$1" | sed 's/^[[:space:]]*[0-9]* - /  /' || true; }
echo "== ctest (Release)"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 900 "$@" 2>&1 | tee build/ctest.log

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (Debug)"
scripts/setup.sh --build-dir build-asan --build-type Asan --target trafficfm_unit_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
LSAN_OPTIONS=suppressions="$here/tests/lsan.supp" \
  ctest --test-dir build-asan -L unit -j "$jobs" --output-on-failure --timeout 900 "$@" 2>&1 | tee build-asan/ctest.log

release_skipped=$(skipped_of build/ctest.log); asan_skipped=$(skipped_of build-asan/ctest.log)
count() { [ -z "$1" ] && echo 0 || wc -l <<< "$1"; }
echo "test.sh: skipped $(count "$release_skipped") in the Release run, $(count "$asan_skipped") under the sanitizers"
[ -n "$release_skipped" ] && printf '%s\n' "$release_skipped"
[ -n "$asan_skipped" ] && printf '%s\n' "$asan_skipped"
echo "test.sh: all tests that ran passed in $(( $(date +%s) - start )) s"
