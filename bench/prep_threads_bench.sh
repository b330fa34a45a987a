#!/usr/bin/env bash
# Prep on one real capture at 1 and 2 threads against libpcap's read floor (issue 21):
#   the nDPI Ethernet captures of ../shared/data concatenated, then 8 copies of that (about
#   660k packets, ~10 packets a flow), through `prep --encoder mmae`, in turn with
#   `tcpdump -r FILE -w /dev/null` on the same file (prep, tcpdump, prep, tcpdump, ...: RUNS pairs
#   after one warm-up pair, wall time of each whole process by /usr/bin/time); the rate ratio is
#   taken pair by pair (tcpdump's wall / prep's wall) and its median reported, with the min-max.
#   Then the corpus of 1 and of 2 threads compared byte for byte.
#   bench/prep_threads_bench.sh [WORKDIR] [DEFLATE] [RUNS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-/tmp/trafficfm-prep-threads}"
deflate="${2:-1}"
runs="${3:-9}"
bin="${TRAFFICFM_BIN:-$here/build/launch/trafficfm}"
ndpi="$here/../shared/data/ndpi/pcap"
[ -d "$ndpi" ] || { echo "no $ndpi: this benchmark needs the shared captures" >&2; exit 2; }
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
  "$(($(stat -L -c %s "$capture") / 1000000)) MB; deflate $deflate; $(nproc) cores; $runs pairs"

wall() {  # the command's wall seconds
  /usr/bin/time -f %e -o "$work/time" "$@" > /dev/null 2>&1
  cat "$work/time"
}
for threads in 1 2; do
  : > "$work/pairs-$threads"
  for i in $(seq 0 "$runs"); do  # pair 0 is the warm-up
    rm -rf "$work/corpus-$threads"  # untimed: deleting the last run's corpus is not reading this one
    p=$(wall "$bin" prep --input "$capture" --out "$work/corpus-$threads" --encoder mmae \
      --shard.deflate "$deflate" --threads "$threads" --log.level warn)
    t=$(wall tcpdump -r "$capture" -w /dev/null)
    [ "$i" -gt 0 ] && echo "$p $t" >> "$work/pairs-$threads"
  done
  /usr/bin/python3 - "$work/pairs-$threads" "$threads" <<'PY'
import statistics, sys
pairs = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
prep, tcpdump = [p for p, _ in pairs], [t for _, t in pairs]
ratios = sorted(t / p for p, t in pairs)
print(f"--threads {sys.argv[2]}: prep {statistics.median(prep):.3f} s, tcpdump {statistics.median(tcpdump):.3f} s "
      f"(medians); prep / tcpdump rate {statistics.median(ratios):.3f}x (min {ratios[0]:.3f}, max {ratios[-1]:.3f})")
PY
done
same=yes
for f in "$work"/corpus-1/shard-*.h5; do
  cmp -s "$f" "$work/corpus-2/$(basename "$f")" || same=no
done
cmp -s "$work/corpus-1/manifest.json" "$work/corpus-2/manifest.json" || same=no
echo "corpus bytes identical at 1 and 2 threads: $same"
