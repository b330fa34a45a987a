#!/usr/bin/env bash
# Lens pretraining tokens/s: trafficfm (C++) against the same T5 step in python3-torch
# (bench/lens_twin.py: Debian's PyTorch, T5 v1.1 layer for layer, cross-entropy over the targets,
# clipping, torch.optim.AdamW), same batch, same intra-op threads, for lens-tiny and lens-small.
# The two run in turn ROUNDS times (3); the ratio is Python's step time over C++'s, pair by pair.
#   bench/lens_step_bench.sh [BUILD_DIR] [THREADS]
# Both sides run exactly T5: MSP only (--lens.pop/htp off), no segment or packet embedding, AdamW
# (not AdamWScale). The corpus is synthetic (400 flows, 128 tokens per sample). Python gets fixed
# lengths: per batch, the longest span-corrupted input and target that T5's noise counts give the
# corpus's samples, the median over 200 random batches. That ignores the extra sentinels where a
# special token splits a span, so Python's shapes are at most a few tokens shorter than the C++
# side's (in Python's favour); the last column says by how much, from the FLOPs each side counts. Tokens/s for both = batch x mean stored tokens per sample / median
# step time after 3 warm-up steps (the C++ step time from metrics.jsonl includes its data time).
# Python runs with glibc's allocator tuned the way trafficfm tunes its own (as
# bench/mmae_step_bench.sh explains). Run on an otherwise idle machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
threads="${2:-$(nproc)}"
rounds="${ROUNDS:-3}"
bin="$build/launch/trafficfm"
work="$(mktemp -d /tmp/trafficfm-lens-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
"$bin" synth --out "$work/captures" --flows 400 --hosts 20 --seed 2 --log.level warn > /dev/null
"$bin" prep --input "$work/captures" --out "$work/corpus" --encoder lens --lens.max-tokens 128 --log.level warn > /dev/null
value() { sed -nE "s/^$1 *= *([^ #]+).*/\1/p" "$2" | head -1; }
tuned_malloc="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647:glibc.malloc.top_pad=268435456"
printf '| model | batch | threads | input/target tokens (python) | C++ step (s) | C++ tokens/s | python3-torch step (s) | python tokens/s | C++ / python, median (min-max) of the rounds | C++ FLOPs per step / python |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n'
for model in tiny small; do
  config="$here/configs/lens-$model.ini"
  batch=16
  steps=$([ "$model" = tiny ] && echo 20 || echo 8)
  # Per batch of this size: the padded lengths span corruption gives, and mean stored tokens.
  read -r input_length target_length mean_tokens < <(/usr/bin/python3 - "$work/corpus" "$batch" <<'PY'
import h5py, json, random, statistics, sys
corpus, batch = sys.argv[1], int(sys.argv[2])
m = json.load(open(f"{corpus}/manifest.json"))
shapes = []
for shard in m["shards"]:
    if shard["split"] != "train":
        continue
    with h5py.File(f"{corpus}/{shard['file']}", "r") as f:
        for row in f["tokens"][:]:
            n = int((row != 0).sum())
            maskable = n - int(sum((row == t).sum() for t in (1, 3, 4, 5)))
            noise = min(max(round(maskable * 0.15), 1), maskable - 1)
            spans = min(max(1, round(noise / 3)), noise, maskable - noise)
            shapes.append((n - noise + spans, noise + spans + 1, n))
rng = random.Random(0)
draws = [rng.sample(shapes, batch) for _ in range(200)]
print(statistics.median(max(s[0] for s in d) for d in draws), statistics.median(max(s[1] for s in d) for d in draws),
      statistics.mean(s[2] for s in shapes))
PY
)
  cpp_step() {  # one C++ run: its median step time
    rm -rf "$work/run-$model"
    "$bin" pretrain --config "$config" --corpus "$work/corpus" --out "$work/run-$model" --train.steps "$steps" \
      --train.batch-size "$batch" --train.threads "$threads" --train.log-every 1 --train.eval-batches 1 \
      --train.eval-every 0 --train.ckpt-every 0 --lens.pop off --lens.htp off --lens.segment-embedding off \
      --lens.packet-embedding off --train.optimizer adamw --train.lr 1e-3 --log.level warn > /dev/null
    /usr/bin/python3 -c "
import json, statistics
t = [json.loads(l)['step_time_s'] for l in open('$work/run-$model/metrics.jsonl') if 'step_time_s' in l][3:]
f = [json.loads(l)['model_flops_per_s'] * json.loads(l)['step_time_s'] for l in open('$work/run-$model/metrics.jsonl') if 'step_time_s' in l]
print(statistics.median(t), statistics.median(f))"
  }
  python_step() {
    GLIBC_TUNABLES="$tuned_malloc" /usr/bin/python3 "$here/bench/lens_twin.py" --d-model "$(value d-model "$config")" \
      --d-kv "$(value d-kv "$config")" --d-ff "$(value d-ff "$config")" --heads "$(value heads "$config")" \
      --encoder-layers "$(value encoder-layers "$config")" --decoder-layers "$(value decoder-layers "$config")" \
      --batch "$batch" --input-length "${input_length%.*}" --target-length "${target_length%.*}" --steps "$steps" \
      --threads "$threads" | /usr/bin/python3 -c "import json, sys; r = json.load(sys.stdin); print(r['median_step_s'], r['step_flops'])"
  }
  # C++ and Python in turn, $rounds times: the machine's drift hits both alike.
  cpp_times=() py_times=()
  for ((round = 0; round < rounds; round++)); do
    read -r t cpp_flops < <(cpp_step) && cpp_times+=("$t")
    read -r t py_flops < <(python_step) && py_times+=("$t")
  done
  /usr/bin/python3 -c "
import statistics
c, p, b, n = [$(IFS=,; echo "${cpp_times[*]}")], [$(IFS=,; echo "${py_times[*]}")], $batch, $mean_tokens
work = $cpp_flops / $py_flops
ratios = sorted(y / x for x, y in zip(c, p))
mc, mp = statistics.median(c), statistics.median(p)
print(f'| lens-$model | {b} | $threads | ${input_length%.*}/${target_length%.*} | {mc:.3f} | {b * n / mc:,.0f} | {mp:.3f} | '
      f'{b * n / mp:,.0f} | {statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f}) | {work:.3f} |')"
done
