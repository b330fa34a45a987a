#!/usr/bin/env bash
# Checkpoint write bandwidth against dd on the same disk, and resume time, in one run.
#   bench/checkpoint_bench.sh [BUILD_DIR] [WORK_DIR]   (env: RANKS, default 4)
# Trains MMAE at the paper's sizes (configs/mmae-base.ini) for 8 steps on a synth corpus at RANKS
# ranks (ZeRO-1), a checkpoint at every step, reads the trainer's "checkpoint ... MB/s" lines
# (every rank writes its own parts of the sharded checkpoint: serialize, write, fsync, rename,
# hash; rank 0 commits), then writes the same number of bytes 8 times with RANKS parallel
# `dd conv=fsync` (each its share) to the same directory, at the same cadence and back to back,
# and compares the medians; then times a resume.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
work="${2:-$(mktemp -d /tmp/trafficfm-ckpt-bench.XXXXXX)}"
bin="$build/launch/trafficfm"
ranks="${RANKS:-4}"
launch=()
[ "$ranks" -gt 1 ] && launch=(mpirun --oversubscribe --bind-to none -np "$ranks")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"
[ -d "$work/corpus" ] || {
  "$bin" synth --out "$work/captures" --flows 400 --hosts 20 --seed 2 --log.level warn
  "$bin" prep --input "$work/captures" --labels "$work/captures/labels.csv" --out "$work/corpus" --log.level warn
}
rm -rf "$work/run"
"${launch[@]}" "$bin" pretrain --config "$here/configs/mmae-base.ini" --corpus "$work/corpus" --out "$work/run" \
  --train.steps 8 --train.ckpt-every 1 --train.batch-size 4 --train.eval-batches 1 --parallel.zero 1 \
  2>&1 | tee "$work/train.log" | grep "checkpoint: step" || true
line=$(grep "checkpoint: step 8 " "$work/train.log")
mb=$(sed -E 's/.* ([0-9.e+]+) MB from .*/\1/' <<<"$line")
ours=$(grep "checkpoint: step" "$work/train.log" | sed -E 's/.* ([0-9.e+]+) MB\/s\).*/\1/' |
  python3 -c "import sys, statistics; print(round(statistics.median(float(x) for x in sys.stdin), 1))")
count=$(python3 -c "import math; print(math.ceil($mb))")
# The idle time between two saves (a training step), from the log's timestamps: a VM disk
# writes much faster into pages it has just freed than after an idle gap, so the like-for-like
# reference runs dd at the same cadence, keeping the last 3 files as checkpoint retention does.
gap=$(grep "checkpoint: step" "$work/train.log" | python3 -c "
import sys, statistics, datetime
ts = [datetime.datetime.fromisoformat(l[:23]) for l in sys.stdin]
d = [(b - a).total_seconds() for a, b in zip(ts, ts[1:])]
print(round(max(0.0, statistics.median(d) - 0.3), 2))")
share=$(python3 -c "import math; print(math.ceil($count / $ranks))")
dd_mbs_of() {  # median MB/s of 8 rounds of RANKS parallel dd writers; $1: seconds idle before each
  local runs=() started
  for i in 1 2 3 4 5 6 7 8; do
    sleep "$1"
    started=$(date +%s.%N)
    for r in $(seq 1 "$ranks"); do
      dd if=/dev/zero of="$work/dd-$i-$r.bin" bs=1M count="$share" conv=fsync 2>/dev/null &
    done
    wait
    runs+=("$(python3 -c "print($(date +%s.%N) - $started)")")
    if [ "$1" = 0 ]; then rm -f "$work"/dd-"$i"-*.bin; else rm -f "$work"/dd-"$((i - 3))"-*.bin; fi
  done
  rm -f "$work"/dd-*.bin
  printf '%s\n' "${runs[@]}" |
    python3 -c "import sys, statistics; print(round($share * $ranks * 1.048576 / statistics.median(float(x) for x in sys.stdin), 1))"
}
dd_cadence=$(dd_mbs_of "$gap")
dd_hot=$(dd_mbs_of 0)
start=$(date +%s.%N)
"${launch[@]}" "$bin" pretrain --config "$here/configs/mmae-base.ini" --corpus "$work/corpus" --out "$work/run" \
  --train.steps 8 --train.batch-size 4 --train.eval-batches 1 --parallel.zero 1 --resume auto 2>&1 | grep "state restored" | tee "$work/resume.log"
end=$(date +%s.%N)
echo "checkpoint: ${mb} MB from $ranks rank(s), median ${ours} MB/s over 8 saves (save to commit)"
echo "$ranks x dd conv=fsync of ${share} MiB each, median of 8: ${dd_cadence} MB/s at the checkpoint cadence (${gap} s idle before" \
  "each): ratio $(python3 -c "print(round($ours / $dd_cadence * 100))")%; ${dd_hot} MB/s back to back:" \
  "ratio $(python3 -c "print(round($ours / $dd_hot * 100))")%"
echo "resume: $(sed -E 's/.*restored in ([0-9.]+) s.*/\1/' "$work/resume.log") s to restore state; whole process (start, load, nothing to train) $(python3 -c "print(round($end-$start,2))") s"
