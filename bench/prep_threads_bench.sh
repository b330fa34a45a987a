#!/usr/bin/env bash
# Prep on one real capture at 1 and 2 threads against libpcap's read floor (issue 21):
#   the nDPI Ethernet captures of ../shared/data concatenated, then 8 copies of that (about
#   660k packets, ~10 packets a flow), through `prep --encoder mmae`, each ratio taken pair by
#   pair by farm-bench against `tcpdump -r FILE -w /dev/null` on the same file; then the corpus
#   of 1 and of 2 threads compared byte for byte.
#   bench/prep_threads_bench.sh [WORKDIR] [DEFLATE]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-/tmp/trafficfm-prep-threads}"
deflate="${2:-1}"
bin="${TRAFFICFM_BIN:-$here/build/launch/trafficfm}"
ndpi="$here/../shared/data/ndpi/pcap"
[ -d "$ndpi" ] || { echo "no $ndpi: this benchmark needs the shared captures" >&2; exit 2; }
command -v farm-bench > /dev/null || { echo "farm-bench is not installed" >&2; exit 2; }
mkdir -p "$work"
capture="$work/ndpi-x8.pcap"
if [ ! -s "$capture" ]; then
  ether=()
  for f in "$ndpi"/*.pcap; do
    [ "$(capinfos -T -E -r "$f" 2> /dev/null | awk -F'\t' '{print $2}')" = ether ] && ether+=("$f")
  done
  mergecap -F pcap -a -w "$work/ndpi-x1.pcap" "${ether[@]}"
  mergecap -F pcap -a -w "$capture" $(for _ in 1 2 3 4 5 6 7 8; do echo "$work/ndpi-x1.pcap"; done)
  rm -f "$work/ndpi-x1.pcap"
fi
cat "$capture" > /dev/null  # page cache
echo "capture: $capture, $(capinfos -c -M "$capture" | awk '/Number of packets/ {print $NF}') packets," \
  "$(($(stat -L -c %s "$capture") / 1000000)) MB; deflate $deflate; $(nproc) cores"
for threads in 1 2; do
  echo "== prep --threads $threads vs tcpdump -r -w /dev/null (A/B wall: prep time / tcpdump time)"
  farm-bench -n 5 --vs "tcpdump -r $capture -w /dev/null" -- \
    "$bin" prep --input "$capture" --out "$work/corpus-$threads" --overwrite --encoder mmae \
    --shard.deflate "$deflate" --threads "$threads" --log.level warn | grep -E 'wall'
done
same=yes
for f in "$work"/corpus-1/shard-*.h5; do
  cmp -s "$f" "$work/corpus-2/$(basename "$f")" || same=no
done
cmp -s "$work/corpus-1/manifest.json" "$work/corpus-2/manifest.json" || same=no
echo "corpus bytes identical at 1 and 2 threads: $same"
