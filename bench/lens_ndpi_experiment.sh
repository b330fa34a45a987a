#!/usr/bin/env bash
# Lens on real captures, judged on the same flows as MMAE (issue 18's experiments):
#   1. classification: bench/ndpi_finetune_experiment.sh with MODEL=lens and MODEL=mmae, same
#      pretraining data (ndpi + pretrain captures, unlabeled), same fine-tuning step budget and
#      batch, 10% of the labels (FRACTIONS), seeds 1 2 3, the same class rule (>= 40 flows, not
#      Unspecified). Both corpora split by the 5-tuple hash, so a flow lands in the same split
#      for both models;
#   2. next-packet generation: lens-tiny fine-tuned with --finetune.task generate from the
#      pretraining run and from scratch (same steps), then `trafficfm generate` on the test
#      split, three ways: greedy with the header grammar (the default), greedy free
#      (--constrain none), and sampled with the grammar (temperature 1 over the whole
#      vocabulary, seed 1): exact match, JSD and TVD per header field beside the copy-previous and
#      train-marginal baselines;
#   3. summary.md: both tables.
#   bench/lens_ndpi_experiment.sh [WORK_DIR]   (env: as ndpi_finetune_experiment.sh, plus
#   LENS_PRETRAIN_STEPS (1,000), MMAE_PRETRAIN_STEPS (400), COMPARE_MMAE, GENERATION_STEPS, GENERATION_BATCH,
#   GENERATION_ONLY (=1: the corpora, pretraining and generation; no classification runs);
#   exits 1 when the data or the build is missing)
# Stages whose output exists are skipped, so an interrupted run continues where it stopped.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-/tmp/trafficfm-lens-experiment}"
bin="${TRAFFICFM_BIN:-$here/build/launch/trafficfm}"  # a copy keeps a long run off a rebuild
export FRACTIONS="${FRACTIONS:-0.1}"
generation_steps="${GENERATION_STEPS:-600}"
generation_batch="${GENERATION_BATCH:-16}"
threads="${THREADS:-1}"
mkdir -p "$work"

echo "=== lens: pretrain, fine-tune pretrained and from scratch"
PRETRAIN_ONLY="${GENERATION_ONLY:-}" MODEL=lens PRETRAIN_STEPS="${LENS_PRETRAIN_STEPS:-1000}" \
  "$here/bench/ndpi_finetune_experiment.sh" "$work/lens"
if [ -n "${COMPARE_MMAE-1}" ] && [ -z "${GENERATION_ONLY:-}" ]; then  # COMPARE_MMAE= (empty) leaves MMAE out: on 2 cores it takes about an hour
  echo "=== mmae: the same"
  MODEL=mmae PRETRAIN_STEPS="${MMAE_PRETRAIN_STEPS:-400}" "$here/bench/ndpi_finetune_experiment.sh" "$work/mmae"
fi

cd "$work/lens"
generation() {  # name, then the start option
  local name="$1"; shift
  if [ ! -f "gen/$name/model.pt" ]; then
    "$bin" finetune --config "$here/configs/lens-tiny.ini" --corpus corpus-ndpi --out "gen/$name" \
      --finetune.task generate --train.steps "$generation_steps" --train.batch-size "$generation_batch" --train.warmup 0.1 \
      --train.optimizer adamw --train.lr 1e-3 --train.threads "$threads" --log.level warn "$@" \
      > "gen/$name.log" 2>&1 || { echo "failed: gen/$name (see gen/$name.log)"; return 1; }
  fi
  decode "$name" test
  decode "$name" free --constrain none
  decode "$name" sampled --top-k 65536 --temperature 1 --seed 1
}
decode() {  # run, way, then generate options
  local name="$1" way="$2"; shift 2
  [ -f "gen/$name-$way/report.json" ] || "$bin" generate --from "gen/$name" --corpus corpus-ndpi --split test \
    --out "gen/$name-$way" --log.level warn --batch-size 64 "$@" > "gen/$name-$way.log" 2>&1
}
mkdir -p gen
echo "=== lens: next-packet generation, $generation_steps steps, pretrained and from scratch"
generation pre --from pretrain &
generation scratch --from-scratch &
wait

/usr/bin/python3 - "$work" <<'PY' | tee "$work/summary.md"
import json, os, sys
work = sys.argv[1]
for model in ("lens", "mmae"):
    if not os.path.exists(os.path.join(work, model, "runs")) and model == "lens":
        continue  # GENERATION_ONLY
    if not os.path.exists(os.path.join(work, model, "summary.md")):
        print(f"## {model}-tiny classification: not run\n")
        continue
    print(f"## {model}-tiny classification\n")
    print(open(os.path.join(work, model, "summary.md")).read())
    report = json.load(open(os.path.join(work, model, "runs", "pre-0.1-1", "report.json")))
    print(f"test flows scored: {sum(c['support'] for c in report['per_class'].values())}\n")
ways = (("test", "greedy, header grammar"), ("free", "greedy, free"), ("sampled", "sampled, header grammar"))
print("## lens-tiny next-packet generation (test split)\n")
print("| field | samples | start | decoding | exact match | JSD | TVD |")
print("|---|---:|---|---|---:|---:|---:|")
reports = {}
for start in ("pre", "scratch"):
    for way, _ in ways:
        path = os.path.join(work, "lens", "gen", f"{start}-{way}", "report.json")
        if os.path.exists(path):
            reports[start, way] = json.load(open(path))
for field in reports["pre", "test"]["fields"]:
    for (start, way), report in reports.items():
        r = report["fields"][field]
        m = r["model"]
        label = dict(ways)[way]
        print(f"| {field} | {r['samples']:.0f} | {'pretrained' if start == 'pre' else 'scratch'} | {label} "
              f"| {m['exact_match']:.3f} | {m['jsd']:.3f} | {m['tvd']:.3f} |")
    r = reports["pre", "test"]["fields"][field]
    for name, key in (("copy previous", "copy_previous"), ("train marginal", "marginal")):
        m = r[key]
        print(f"| {field} | {r['samples']:.0f} | {name} | | {m['exact_match']:.3f} | {m['jsd']:.3f} | {m['tvd']:.3f} |")
PY
