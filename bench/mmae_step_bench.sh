#!/usr/bin/env bash
# MMAE pretraining steps: trafficfm (C++) against the same step in python3-torch
# (bench/mmae_twin.py: Debian's PyTorch, same architecture, objective, optimizer and EMA), same
# batch and the same intra-op thread count, one run each, for mmae-tiny and mmae-base.
#   bench/mmae_step_bench.sh [BUILD_DIR] [THREADS]
# Reports the median step time after 3 warm-up steps and samples/s. The C++ number comes from
# metrics.jsonl (step_time_s, which includes its few ms of data loading); Python feeds random
# tensors of the same shapes. Python runs twice: as it comes, and with glibc's allocator set the
# way trafficfm sets its own (core/malloc_tuning.cpp, through GLIBC_TUNABLES: no mmap'd blocks,
# no trimming), since glibc otherwise hands every large tensor's memory back to the kernel and
# page-faults it in again each step. Run on an otherwise idle machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
threads="${2:-$(nproc)}"
bin="$build/launch/trafficfm"
work="$(mktemp -d /tmp/trafficfm-step-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
"$bin" synth --out "$work/captures" --flows 400 --hosts 20 --seed 2 --log.level warn > /dev/null
"$bin" prep --input "$work/captures" --labels "$work/captures/labels.csv" --out "$work/corpus" --log.level warn > /dev/null
value() { sed -nE "s/^$1 *= *([^ #]+).*/\1/p" "$2" | head -1; }
printf '| model | batch | threads | C++ step (s) | C++ samples/s | python3-torch step (s) | python samples/s | C++ / python | python, tuned malloc (s) | C++ / tuned python |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
tuned_malloc="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647:glibc.malloc.top_pad=268435456"
for model in tiny base; do
  config="$here/configs/mmae-$model.ini"
  batch=$([ "$model" = tiny ] && echo 32 || echo 8)
  steps=$([ "$model" = tiny ] && echo 20 || echo 10)
  "$bin" pretrain --config "$config" --corpus "$work/corpus" --out "$work/run-$model" --train.steps "$steps" \
    --train.batch-size "$batch" --train.threads "$threads" --train.log-every 1 --train.eval-batches 1 \
    --train.ckpt-every 0 --log.level warn > /dev/null
  cpp=$(/usr/bin/python3 -c "
import json, statistics
t = [json.loads(l)['step_time_s'] for l in open('$work/run-$model/metrics.jsonl')][3:]
print(statistics.median(t))")
  twin() {
    /usr/bin/python3 "$here/bench/mmae_twin.py" --dim "$(value dim "$config")" --depth "$(value depth "$config")" \
    --heads "$(value heads "$config")" --decoder-dim "$(value decoder-dim "$config")" \
    --decoder-depth "$(value decoder-depth "$config")" --decoder-heads "$(value decoder-heads "$config")" \
    --rank-pairs "$(value rank-pairs "$config")" --mask-ratio "$(value mask-ratio "$config")" \
    --drop-path "$(value drop-path "$config")" --batch "$batch" --steps "$steps" --threads "$threads" |
    /usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin)['median_step_s'])"
  }
  py=$(twin)
  py_tuned=$(GLIBC_TUNABLES="$tuned_malloc" twin)
  /usr/bin/python3 -c "
c, p, t, b = $cpp, $py, $py_tuned, $batch
print(f'| mmae-$model | {b} | $threads | {c:.3f} | {b / c:.1f} | {p:.3f} | {b / p:.1f} | {p / c:.2f}x | {t:.3f} | {t / c:.2f}x |')"
done
