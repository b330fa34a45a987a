#!/usr/bin/env bash
# Does pretraining help when labels are scarce? One model family's tiny config
# (MODEL=mmae: configs/mmae-tiny.ini, MODEL=lens: configs/lens-tiny.ini) on real captures:
#   1. corpora: ../shared/data/ndpi (labels: nDPI's category per flow) and, unlabeled, ndpi +
#      pretrain captures for pretraining; both through the model's encoder, whose splits hash the
#      5-tuple, so every model puts a flow in the same split;
#   2. pretrain the tiny config on the unlabeled corpus;
#   3. fine-tune from it and from scratch, same step budget and batch, at 10% and 100% of the
#      labels, seeds 1 2 3; classes: categories with >= 40 labeled flows, not Unspecified;
#   4. each ablation switch (mmae: --mmae.flowmix/teacher/pmp off; lens: --lens.pop/htp off)
#      pretrains a few steps;
#   5. summary: test macro-F1 and accuracy, mean ± std over the seeds (summary.md).
#   bench/ndpi_finetune_experiment.sh [WORK_DIR]   (env: MODEL, PRETRAIN_STEPS, FINETUNE_STEPS,
#   FINETUNE_BATCH, FRACTIONS, FINETUNE_LRS (learning rates to choose from on val, per start),
#   THREADS, PRETRAIN_THREADS, LENS_MAX_TOKENS, LENS_PACKETS, PRETRAIN_ONLY,
#   TRAFFICFM_SHARED_DATA, TRAFFICFM_BIN; exits 1 when the data or the build is missing)
# The same step budget for every run (1,000 steps of 32 by default: about 63 epochs of the 10%
# labels, 6 of the 100%; a 150-step budget underfits and compares nothing). Lens fine-tunes with
# the MMAE recipe (AdamW, lr 1e-3) rather than its pretraining AdamWScale at 2e-2.
# Stages whose output exists are skipped, and a fine-tuning run cut short resumes from its last
# checkpoint (every 100 steps; the same model selection as uninterrupted), so an interrupted
# experiment continues.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TRAFFICFM_SHARED_DATA:-$here/../shared/data}"
# No data, no experiment: a failure, never a silent success that a script could take for a result.
for need in "$data/ndpi/pcap" "$data/ndpi/flows.csv" "$data/pretrain"; do
  [ -e "$need" ] || { echo "ndpi_finetune_experiment: $need not found (real data lives beside the checkout, or set TRAFFICFM_SHARED_DATA)" >&2; exit 1; }
done
model="${MODEL:-mmae}"
work="${1:-/tmp/trafficfm-ndpi-experiment-$model}"
bin="${TRAFFICFM_BIN:-$here/build/launch/trafficfm}"  # a copy keeps a long run off a rebuild
[ -x "$bin" ] || { echo "ndpi_finetune_experiment: $bin not built (scripts/setup.sh)" >&2; exit 1; }
config="$here/configs/$model-tiny.ini"
pretrain_steps="${PRETRAIN_STEPS:-400}"
finetune_steps="${FINETUNE_STEPS:-1000}"
finetune_batch="${FINETUNE_BATCH:-32}"
fractions="${FRACTIONS:-0.1 1.0}"
threads="${THREADS:-1}"  # one thread per run, two runs at a time on 2 cores (no OpenMP spinning)
pretrain_threads="${PRETRAIN_THREADS:-$(nproc)}"  # pretraining runs alone
case "$model" in
  mmae) prep_options=(--encoder mmae); finetune_options=(); default_lr=""; ablations=(flowmix teacher pmp) ;;
  # 3 packets in 256 tokens keep each header whole (docs/lens.md, next-packet generation).
  lens) prep_options=(--encoder lens --lens.max-tokens "${LENS_MAX_TOKENS:-256}" --lens.packets "${LENS_PACKETS:-3}")
        finetune_options=(--train.optimizer adamw); default_lr=1e-3; ablations=(pop htp) ;;
  *) echo "ndpi_finetune_experiment: MODEL must be mmae or lens, not '$model'" >&2; exit 2 ;;
esac
mkdir -p "$work" && cd "$work"
common=(--log.level warn)

[ -f corpus-ndpi/manifest.json ] || "$bin" prep --input "$data/ndpi/pcap" --labels "$data/ndpi/flows.csv" --out corpus-ndpi \
  "${prep_options[@]}" --log.level warn
[ -f corpus-pre/manifest.json ] || "$bin" prep --input "$data/ndpi/pcap" "$data/pretrain" --out corpus-pre \
  "${prep_options[@]}" --log.level warn
if [ ! -f pretrain/done ]; then
  echo "== pretrain $model-tiny, $pretrain_steps steps, $pretrain_threads threads"
  "$bin" pretrain --config "$config" --corpus corpus-pre --out pretrain --train.steps "$pretrain_steps" \
    --train.eval-every 100 --train.ckpt-every 100 --resume auto --train.threads "$pretrain_threads" "${common[@]}"
  touch pretrain/done
fi
# PRETRAIN_ONLY=1: the corpora and the pretraining run, nothing more (the generation experiment).
[ -n "${PRETRAIN_ONLY:-}" ] && exit 0

finetune() {  # name, then finetune options
  local name="$1"; shift
  [ -f "runs/$name/report.json" ] && return 0
  "$bin" finetune --config "$config" --corpus corpus-ndpi --out "runs/$name" --finetune.min-class-samples 40 \
    --finetune.exclude-labels Unspecified --train.steps "$finetune_steps" --train.batch-size "$finetune_batch" \
    --train.eval-every 100 --train.ckpt-every 100 --resume auto --train.warmup 0.1 --train.threads "$threads" \
    "${finetune_options[@]}" "${common[@]}" "$@" >> "runs/$name.log" 2>&1 || { echo "failed: runs/$name (see runs/$name.log)"; return 1; }
}
mkdir -p runs
run_pairs() {  # runs the entries of jobs_list two at a time
  for ((i = 0; i < ${#jobs_list[@]}; i += 2)); do
    finetune ${jobs_list[i]} &
    [ $((i + 1)) -lt ${#jobs_list[@]} ] && finetune ${jobs_list[i + 1]} &
    wait
  done
}
# The fine-tuning learning rate of each start: the recipe's, or (FINETUNE_LRS="1e-4 3e-4 1e-3") the
# one whose seed-1 run at the first label fraction reaches the best val macro-F1 (model selection
# on val only; test is read once, by the runs below).
lr_pre="$default_lr" lr_scratch="$default_lr"
if [ -n "${FINETUNE_LRS:-}" ]; then
  first_fraction="${fractions%% *}"
  echo "== learning rate per start from {$FINETUNE_LRS}: seed 1, $first_fraction of the labels, best val macro-F1"
  jobs_list=()
  for lr in $FINETUNE_LRS; do
    jobs_list+=("select-pre-$lr --from pretrain --label-fraction $first_fraction --seed 1 --train.lr $lr")
    jobs_list+=("select-scratch-$lr --from-scratch --label-fraction $first_fraction --seed 1 --train.lr $lr")
  done
  run_pairs
  best_lr() {
    /usr/bin/python3 -c "import json, sys
scores = {lr: json.load(open(f'runs/select-$1-{lr}/report.json'))['val_macro_f1'] for lr in sys.argv[1:]}
print(max(scores, key=lambda lr: (scores[lr], -float(lr))))" $FINETUNE_LRS
  }
  lr_pre=$(best_lr pre) lr_scratch=$(best_lr scratch)
  echo "   chosen on val: pretrained lr $lr_pre, scratch lr $lr_scratch"
  echo "{\"pre\": \"$lr_pre\", \"scratch\": \"$lr_scratch\", \"candidates\": \"$FINETUNE_LRS\"}" > runs/chosen_lr.json
fi
echo "== fine-tune: {pretrained, scratch} x label fractions {$fractions} x seeds 1 2 3, $finetune_steps steps each, two at a time"
jobs_list=()
for seed in 1 2 3; do
  for fraction in $fractions; do
    jobs_list+=("pre-$fraction-$seed --from pretrain --label-fraction $fraction --seed $seed ${lr_pre:+--train.lr $lr_pre}")
    jobs_list+=("scratch-$fraction-$seed --from-scratch --label-fraction $fraction --seed $seed ${lr_scratch:+--train.lr $lr_scratch}")
  done
done
run_pairs

echo "== ablations: each switch off, 10 pretraining steps"
for part in "${ablations[@]}"; do
  [ -f "ablation-$part/metrics.jsonl" ] && continue
  "$bin" pretrain --config "$config" --corpus corpus-pre --out "ablation-$part" --train.steps 10 --train.log-every 5 \
    --train.eval-batches 2 "--$model.$part" off --train.threads "$pretrain_threads" "${common[@]}"
done

/usr/bin/python3 - "$work" "$model" <<'PY' | tee summary.md
import json, statistics, sys, glob, os
work, model = sys.argv[1], sys.argv[2]
rows = {}
reports = [p for p in glob.glob(os.path.join(work, "runs", "*", "report.json"))
           if not os.path.basename(os.path.dirname(p)).startswith("select-")]
for path in reports:
    start, fraction, seed = os.path.basename(os.path.dirname(path)).split("-")
    r = json.load(open(path))
    rows.setdefault((start, fraction), []).append((int(seed), r["macro_f1"], r["accuracy"], r["best_step"]))
classes = json.load(open(reports[0]))["classes"]
print(f"{model}-tiny: {len(classes)} classes (nDPI categories with >= 40 labeled flows, not Unspecified): {', '.join(classes)}\n")
chosen = os.path.join(work, "runs", "chosen_lr.json")
if os.path.exists(chosen):
    c = json.load(open(chosen))
    lines = []
    for start in ("pre", "scratch"):
        scores = ", ".join(f"{lr} {json.load(open(os.path.join(work, 'runs', f'select-{start}-{lr}', 'report.json')))['val_macro_f1']:.3f}"
                           for lr in c["candidates"].split())
        lines.append(f"{'pretrained' if start == 'pre' else 'scratch'}: lr {c[start]} (val macro-F1 by lr, seed 1: {scores})")
    print("Fine-tuning learning rate chosen on val per start: " + "; ".join(lines) + "\n")
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
for part in ("flowmix", "teacher", "pmp", "pop", "htp"):
    m = os.path.join(work, f"ablation-{part}", "metrics.jsonl")
    if os.path.exists(m):
        last = json.loads(open(m).read().strip().splitlines()[-1])
        terms = ", ".join(f"{k} {last[k]:.3f}" for k in ("loss", "rec", "distill", "rank", "msp", "pop", "htp") if k in last)
        print(f"ablation {part} off: ran {last['step']} steps, last {terms}")
PY
