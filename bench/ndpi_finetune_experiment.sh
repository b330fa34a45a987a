#!/usr/bin/env bash
# Does pretraining help when labels are scarce? MMAE (configs/mmae-tiny.ini) on real captures:
#   1. corpora: ../shared/data/ndpi (labels: nDPI's category per flow) and, unlabeled, ndpi +
#      pretrain captures for pretraining;
#   2. pretrain mmae-tiny on the unlabeled corpus;
#   3. fine-tune from it and from scratch, same step budget, at 10% and 100% of the labels,
#      seeds 1 2 3; classes: categories with >= 40 labeled flows, not Unspecified;
#   4. each ablation switch (--mmae.flowmix/teacher/pmp off) pretrains a few steps;
#   5. summary: test macro-F1 and accuracy, mean ± std over the seeds (summary.md).
#   bench/ndpi_finetune_experiment.sh [WORK_DIR]   (env: PRETRAIN_STEPS, FINETUNE_STEPS, FRACTIONS, THREADS,
#   TRAFFICFM_SHARED_DATA; exits 1 when the data or the build is missing)
# The same step budget for every run (1,000 steps of 32 by default: about 63 epochs of the 10%
# labels, 6 of the 100%; a 150-step budget underfits and compares nothing).
# Stages whose output exists are skipped, so an interrupted run continues.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TRAFFICFM_SHARED_DATA:-$here/../shared/data}"
# No data, no experiment: a failure, never a silent success that a script could take for a result.
for need in "$data/ndpi/pcap" "$data/ndpi/flows.csv" "$data/pretrain"; do
  [ -e "$need" ] || { echo "ndpi_finetune_experiment: $need not found (real data lives beside the checkout, or set TRAFFICFM_SHARED_DATA)" >&2; exit 1; }
done
[ -x "$here/build/launch/trafficfm" ] || { echo "ndpi_finetune_experiment: $here/build/launch/trafficfm not built (scripts/setup.sh)" >&2; exit 1; }
work="${1:-/tmp/trafficfm-ndpi-experiment}"
bin="$here/build/launch/trafficfm"
config="$here/configs/mmae-tiny.ini"
pretrain_steps="${PRETRAIN_STEPS:-400}"
finetune_steps="${FINETUNE_STEPS:-1000}"
fractions="${FRACTIONS:-0.1 1.0}"
threads="${THREADS:-1}"  # one thread per run, two runs at a time on 2 cores (no OpenMP spinning)
mkdir -p "$work" && cd "$work"
common=(--log.level warn --train.threads "$threads")

[ -f corpus-ndpi/manifest.json ] || "$bin" prep --input "$data/ndpi/pcap" --labels "$data/ndpi/flows.csv" --out corpus-ndpi --log.level warn
[ -f corpus-pre/manifest.json ] || "$bin" prep --input "$data/ndpi/pcap" "$data/pretrain" --out corpus-pre --log.level warn
if [ ! -f pretrain/done ]; then
  echo "== pretrain mmae-tiny, $pretrain_steps steps"
  "$bin" pretrain --config "$config" --corpus corpus-pre --out pretrain --train.steps "$pretrain_steps" \
    --train.eval-every 100 --train.ckpt-every 100 --resume auto "${common[@]}"
  touch pretrain/done
fi

finetune() {  # name, then finetune options
  local name="$1"; shift
  [ -f "runs/$name/report.json" ] && return 0
  "$bin" finetune --config "$config" --corpus corpus-ndpi --out "runs/$name" --finetune.min-class-samples 40 \
    --finetune.exclude-labels Unspecified --train.steps "$finetune_steps" --train.eval-every 100 --train.warmup 0.1 \
    "${common[@]}" "$@" > "runs/$name.log" 2>&1 || { echo "failed: runs/$name (see runs/$name.log)"; return 1; }
}
mkdir -p runs
echo "== fine-tune: {pretrained, scratch} x label fractions {$fractions} x seeds 1 2 3, $finetune_steps steps each, two at a time"
jobs_list=()
for seed in 1 2 3; do
  for fraction in $fractions; do
    jobs_list+=("pre-$fraction-$seed --from pretrain --label-fraction $fraction --seed $seed")
    jobs_list+=("scratch-$fraction-$seed --from-scratch --label-fraction $fraction --seed $seed")
  done
done
for ((i = 0; i < ${#jobs_list[@]}; i += 2)); do
  finetune ${jobs_list[i]} &
  [ $((i + 1)) -lt ${#jobs_list[@]} ] && finetune ${jobs_list[i + 1]} &
  wait
done

echo "== ablations: each switch off, 10 pretraining steps"
for part in flowmix teacher pmp; do
  [ -f "ablation-$part/metrics.jsonl" ] && continue
  "$bin" pretrain --config "$config" --corpus corpus-pre --out "ablation-$part" --train.steps 10 --train.log-every 5 \
    --train.eval-batches 2 "--mmae.$part" off "${common[@]}"
done

/usr/bin/python3 - "$work" <<'PY' | tee summary.md
import json, statistics, sys, glob, os
work = sys.argv[1]
rows = {}
for path in glob.glob(os.path.join(work, "runs", "*", "report.json")):
    start, fraction, seed = os.path.basename(os.path.dirname(path)).split("-")
    r = json.load(open(path))
    rows.setdefault((start, fraction), []).append((int(seed), r["macro_f1"], r["accuracy"], r["best_step"]))
classes = json.load(open(glob.glob(os.path.join(work, "runs", "*", "report.json"))[0]))["classes"]
print(f"{len(classes)} classes (nDPI categories with >= 40 labeled flows, not Unspecified): {', '.join(classes)}\n")
print("| start | labels | test macro-F1 (mean ± std) | accuracy (mean ± std) | per seed (macro-F1) |")
print("|---|---|---|---|---|")
def ms(v): return f"{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}"
for fraction in ("0.1", "1.0"):
    for start in ("pre", "scratch"):
        v = sorted(rows.get((start, fraction), []))
        if not v: continue
        print(f"| {'pretrained' if start == 'pre' else 'scratch'} | {float(fraction):.0%} | {ms([x[1] for x in v])} | "
              f"{ms([x[2] for x in v])} | {', '.join(f'{x[1]:.3f}' for x in v)} |")
pre, scratch = rows.get(("pre", "0.1"), []), rows.get(("scratch", "0.1"), [])
if pre and scratch:
    a, b = statistics.mean(x[1] for x in pre), statistics.mean(x[1] for x in scratch)
    wins = sum(p[1] > s[1] for p, s in zip(sorted(pre), sorted(scratch)))
    print(f"\nAt 10% of the labels: pretrained {a:.3f} vs scratch {b:.3f} macro-F1 "
          f"({'pretrained better' if a > b else 'scratch better or equal'}; pretrained wins {wins} of {len(pre)} seeds).")
for part in ("flowmix", "teacher", "pmp"):
    m = os.path.join(work, f"ablation-{part}", "metrics.jsonl")
    if os.path.exists(m):
        last = json.loads(open(m).read().strip().splitlines()[-1])
        terms = ", ".join(f"{k} {last[k]:.3f}" for k in ("loss", "rec", "distill", "rank") if k in last)
        print(f"ablation {part} off: ran {last['step']} steps, last {terms}")
PY
