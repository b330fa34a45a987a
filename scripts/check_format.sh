#!/usr/bin/env bash
# Fails when a C++ source file is not formatted as .clang-format says (Debian's clang-format,
# installed by scripts/setup.sh --test-tools). Exit 77 (ctest: skipped) when clang-format is
# missing. Fix with: git ls-files '*.cpp' '*.h' | xargs clang-format -i
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
command -v clang-format >/dev/null || { echo "check_format: clang-format not installed: skipped"; exit 77; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h')
else
  mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o \( -name '*.cpp' -o -name '*.h' \) -print | sort)
fi
[ ${#files[@]} -gt 0 ] || { echo "check_format: no source files found" >&2; exit 1; }
if ! clang-format --dry-run -Werror "${files[@]}" 2>/tmp/check_format.$$; then
  bad=$(grep -o '^[^:]*:[0-9]*:[0-9]*: error' /tmp/check_format.$$ | cut -d: -f1 | sort -u)
  rm -f /tmp/check_format.$$
  echo "check_format: $(echo "$bad" | wc -l) of ${#files[@]} files are not formatted ($(clang-format --version)):" >&2
  echo "$bad" | sed 's/^/  /' >&2
  exit 1
fi
rm -f /tmp/check_format.$$
echo "check_format: ${#files[@]} files formatted as .clang-format says ($(clang-format --version))"
