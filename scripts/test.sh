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
echo "== ctest (Release)"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 900 "$@"

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (Debug)"
scripts/setup.sh --build-dir build-asan --build-type Asan --target trafficfm_unit_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
LSAN_OPTIONS=suppressions="$here/tests/lsan.supp" \
  ctest --test-dir build-asan -L unit -j "$jobs" --output-on-failure --timeout 900 "$@"

echo "test.sh: all tests passed in $(( $(date +%s) - start )) s"
