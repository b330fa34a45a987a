#!/usr/bin/env bash
# Sets everything up and runs the main job on a corpus trafficfm generates itself:
#   synth (pcap + labels)
# Output goes to demo-out/ (or $1). Each stage prints what it wrote.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
out="${1:-$here/demo-out}"
scripts/setup.sh
bin="$here/build/launch/trafficfm"
"$bin" --version
rm -rf "$out"
mkdir -p "$out"
echo "== 1. synth: a labeled pcap corpus of 2,000 flows between 60 hosts"
"$bin" synth --config configs/demo-synth.ini --out "$out/captures"
echo "demo: done; outputs under $out"
