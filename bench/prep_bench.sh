#!/usr/bin/env bash
# Ingestion benchmark, one run, the same capture for every tool:
#   - libpcap's read floor:     tcpdump -r FILE -w /dev/null
#   - a full dissector:         tshark -r FILE -T fields -e frame.len
#   - trafficfm prep (mmae):    read, flows, encode, write HDF5 shards
#   - YaTC-style extraction:    scapy (bench/yatc_mfr.py bench)
# then peak memory of prep on a capture 4x larger (flat = streaming works), and the loader.
# Targets (issue 3): prep >= 25% of tcpdump, >= 20x tshark, >= 100x scapy; loader >= 50k/s.
#   bench/prep_bench.sh [WORKDIR] [FLOWS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-/tmp/trafficfm-bench}"
flows="${2:-6000}"
bin="$here/build/launch/trafficfm"
rm -rf "$work" && mkdir -p "$work"

seconds() { local s=$(date +%s.%N); "$@" > /dev/null 2>&1; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

"$bin" synth --out "$work/cap" --flows "$flows" --flows-per-file "$flows" --hosts 200 --seed 1 --log.level warn > /dev/null
file="$work/cap/synth-00000.pcap"
packets=$(tcpdump -r "$file" 2>/dev/null | wc -l)
size=$(stat -c %s "$file")
cat "$file" > /dev/null  # page cache
echo "capture: $file, $packets packets, $((size / 1000000)) MB"

t_tcpdump=$(seconds tcpdump -r "$file" -w /dev/null)
t_tshark=$(seconds tshark -r "$file" -T fields -e frame.len)
t_prep=$(seconds "$bin" prep --input "$file" --out "$work/corpus" --encoder mmae --log.level warn)
scapy_line=$(/usr/bin/python3 "$here/bench/yatc_mfr.py" bench "$file")
t_scapy=$(echo "$scapy_line" | sed -E 's/.* in ([0-9.]+) s.*/\1/')

r_tcpdump=$(rate "$packets" "$t_tcpdump"); r_tshark=$(rate "$packets" "$t_tshark")
r_prep=$(rate "$packets" "$t_prep"); r_scapy=$(rate "$packets" "$t_scapy")
printf '%-28s %10s packets/s  (%.2f s)\n' "tcpdump -r -w /dev/null" "$r_tcpdump" "$t_tcpdump"
printf '%-28s %10s packets/s  (%.2f s)\n' "tshark -T fields frame.len" "$r_tshark" "$t_tshark"
printf '%-28s %10s packets/s  (%.2f s)\n' "scapy YaTC-style mfr" "$r_scapy" "$t_scapy"
printf '%-28s %10s packets/s  (%.2f s)\n' "trafficfm prep --encoder mmae" "$r_prep" "$t_prep"
echo "prep / tcpdump = $(ratio "$r_prep" "$r_tcpdump") (target >= 0.25)"
echo "prep / tshark  = $(ratio "$r_prep" "$r_tshark") (target >= 20)"
echo "prep / scapy   = $(ratio "$r_prep" "$r_scapy") (target >= 100)"

echo "== peak memory of prep: capture of $flows flows vs $((4 * flows)) flows"
"$bin" synth --out "$work/big" --flows $((4 * flows)) --flows-per-file $((4 * flows)) --hosts 400 --seed 2 --log.level warn > /dev/null
small=$("$bin" prep --input "$file" --out "$work/m1" --shard.mb 8 --log.level warn | grep -o 'peak memory [0-9.]* MB')
big=$("$bin" prep --input "$work/big/synth-00000.pcap" --out "$work/m2" --shard.mb 8 --log.level warn | grep -o 'peak memory [0-9.]* MB')
echo "  $((size / 1000000)) MB capture: $small;  $(( $(stat -c %s "$work/big/synth-00000.pcap") / 1000000 )) MB capture: $big"

echo "== loader (one rank, one assembling thread, page cache)"
"$here/build/bench/trafficfm_loader_bench" "$work/m2" 256 3
