#!/usr/bin/env bash
# One-step setup: install the Debian packages trafficfm needs (when root), then configure and
# build a Release tree with Ninja and ccache. Idempotent: a second run installs nothing and
# rebuilds only what changed.
#
#   scripts/setup.sh [--test-tools] [--build-dir DIR] [--build-type Release|Debug|Asan] [--target T]
#
# --test-tools also installs the peers the test suite and benchmarks compare against (tshark,
# tcpdump, Debian's python3-torch/h5py/scapy, seen by /usr/bin/python3, and clang-format for the
# format check).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$here/build"
build_type=Release
want_test_tools=0
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --test-tools) want_test_tools=1 ;;
    --build-dir) build_dir="$2"; shift ;;
    --build-type) build_type="$2"; shift ;;
    --target) target="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

build_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-dev libboost-program-options-dev libgtest-dev libgmock-dev
  libpcap-dev libmetis-dev libsentencepiece-dev zlib1g-dev libisal-dev libxxhash-dev libssl-dev
  python3-matplotlib  # `trafficfm sweep fit` draws its plots with it (/usr/bin/python3)
)
test_packages=(tshark tcpdump python3-torch python3-h5py python3-scapy python3-numpy clang-format)

packages=("${build_packages[@]}")
[ "$want_test_tools" = 1 ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: missing Debian packages. Run as root, or install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer once, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's LibTorch calls BLAS through the libblas.so.3 alternative; make sure it points at
# OpenBLAS (about 8x faster than the reference BLAS on these machines).
if [ "$(id -u)" = 0 ] && command -v update-alternatives >/dev/null; then
  openblas=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas | head -n1 || true)
  if [ -n "$openblas" ]; then
    current=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || true)
    [ "$current" = "$(readlink -f "$openblas")" ] || update-alternatives --set libblas.so.3-x86_64-linux-gnu "$openblas" >/dev/null
  fi
fi

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake_args=(-S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type")
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake "${cmake_args[@]}" >/dev/null
fi
jobs=$(nproc)
start=$(date +%s)
cmake --build "$build_dir" -j "$jobs" ${target:+--target "$target"}
echo "setup.sh: build ($build_type) in $build_dir took $(( $(date +%s) - start )) s"
