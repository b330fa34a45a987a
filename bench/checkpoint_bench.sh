#!/usr/bin/env bash
# Checkpoint write bandwidth against dd on the same disk, and resume time, in one run.
#   bench/checkpoint_bench.sh [BUILD_DIR] [WORK_DIR]
# Trains MMAE at the paper's sizes (configs/mmae-base.ini) for 2 steps on a synth corpus with a
# checkpoint at step 1 and 2, reads the trainer's "checkpoint ... MB/s" line (rank 0 writes the
# whole model and optimizer state: serialize, write, fsync, rename, hash, commit), then writes
# the same number of bytes with `dd conv=fsync` to the same directory, then times a resume.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
work="${2:-$(mktemp -d /tmp/trafficfm-ckpt-bench.XXXXXX)}"
bin="$build/launch/trafficfm"
mkdir -p "$work"
[ -d "$work/corpus" ] || {
  "$bin" synth --out "$work/captures" --flows 400 --hosts 20 --seed 2 --log.level warn
  "$bin" prep --input "$work/captures" --labels "$work/captures/labels.csv" --out "$work/corpus" --log.level warn
}
rm -rf "$work/run"
"$bin" pretrain --config "$here/configs/mmae-base.ini" --corpus "$work/corpus" --out "$work/run" \
  --train.steps 2 --train.ckpt-every 1 --train.batch-size 4 --train.eval-batches 1 2>&1 | tee "$work/train.log" |
  grep "checkpoint: step" || true
line=$(grep "checkpoint: step 2 " "$work/train.log")
mb=$(sed -E 's/.*rank 0 wrote ([0-9.e+]+) MB.*/\1/' <<<"$line")
ours=$(sed -E 's/.* ([0-9.e+]+) MB\/s\).*/\1/' <<<"$line")
count=$(python3 -c "import math; print(math.ceil($mb))")
dd_out=$(dd if=/dev/zero of="$work/dd.bin" bs=1M count="$count" conv=fsync 2>&1 | tail -1)
rm -f "$work/dd.bin"
dd_mbs=$(python3 -c "
import re; s='''$dd_out'''; m=re.search(r'([0-9.]+) s, ([0-9.]+) ([kMG]B)/s', s)
secs=float(m.group(1)); print(round($count*1.048576/secs, 1))")
start=$(date +%s.%N)
"$bin" pretrain --config "$here/configs/mmae-base.ini" --corpus "$work/corpus" --out "$work/run" \
  --train.steps 2 --train.batch-size 4 --train.eval-batches 1 --resume auto 2>&1 | grep "state restored" | tee "$work/resume.log"
end=$(date +%s.%N)
echo "checkpoint: ${mb} MB at ${ours} MB/s (save to commit); dd conv=fsync of ${count} MiB: ${dd_mbs} MB/s;" \
  "ratio $(python3 -c "print(round($ours/$dd_mbs*100))")%"
echo "resume: $(sed -E 's/.*restored in ([0-9.]+) s.*/\1/' "$work/resume.log") s to restore state; whole process (start, load, nothing to train) $(python3 -c "print(round($end-$start,2))") s"
