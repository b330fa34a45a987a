#!/usr/bin/env bash
# Few-shot flow classification with the graph model on real flows (issue 19's acceptance):
#   1. corpora (prep --encoder graph; splits hash the 5-tuple, as every encoder's):
#      pre    every flow of ../shared/data/flows (labels unused), ndpi/pcap and pretrain/zeek;
#      flows  ../shared/data/flows with its Zeek labels (Malicious / Benign; Background left out);
#      ndpi   ndpi/pcap with nDPI's category per flow (categories with >= 40 labelled flows in
#             train + val, not Unspecified);
#   2. link-prediction pretraining of graph-base on `pre` (PRETRAIN_STEPS, 6,000: the config's),
#      one encoder per pretrained arm: `dot` (PPT-GNN's dot-product decoder), `distmult`
#      (--graph.decoder distmult), `mask` (dot + attribute masking, --graph.mask 0.15
#      --graph.mask-weight 10), `bias` (distmult + --graph.link-bias true), `biasmask` (distmult +
#      link bias + masking 0.15);
#   3. per task, K = 5, 10, 50 labelled train flows per class, seeds 1 2 3: fine-tune from each
#      pretrained encoder, from scratch (`scratch`: same steps, same labelled flows), and the
#      no-graph MLP baseline (`mlp`: --graph.layers 0, the same head on a flow's own features);
#      ARMS picks the arms (default: all seven); the same budget for
#      every run (FINETUNE_STEPS, 200 steps of up to 8,192 nodes: at K = 5 every step sees all
#      the shots), Adam 1e-3 without layer decay, model selection on val macro-F1 (every 20
#      steps), report on test;
#   4. a direction-only baseline for the flows task (bench/graph_direction_baseline.py: the
#      Zeek log's local_orig/local_resp, the same K shots per class, the same test flows);
#   5. summary.md: test macro-F1 mean ± std over the seeds.
#   bench/graph_fewshot_experiment.sh [WORK_DIR]   (env: ARMS, PRETRAIN_STEPS, FINETUNE_STEPS, SHOTS,
#   SEEDS, THREADS, TRAFFICFM_SHARED_DATA, TRAFFICFM_BIN; exits 1 when the data or the build is
#   missing). Stages whose output exists are skipped, so an interrupted run continues.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TRAFFICFM_SHARED_DATA:-$here/../shared/data}"
for need in "$data/flows" "$data/ndpi/pcap" "$data/ndpi/flows.csv" "$data/pretrain/zeek"; do
  [ -e "$need" ] || { echo "graph_fewshot_experiment: $need not found (real data lives beside the checkout, or set TRAFFICFM_SHARED_DATA)" >&2; exit 1; }
done
work="${1:-/tmp/trafficfm-graph-fewshot}"
bin="${TRAFFICFM_BIN:-$here/build/launch/trafficfm}"
[ -x "$bin" ] || { echo "graph_fewshot_experiment: $bin not built (scripts/setup.sh)" >&2; exit 1; }
config="$here/configs/graph-base.ini"
pretrain_steps="${PRETRAIN_STEPS:-6000}"
arms="${ARMS:-dot distmult mask bias biasmask scratch mlp}"
for arm in $arms; do
  case "$arm" in
    dot | distmult | mask | bias | biasmask | scratch | mlp) ;;
    *) echo "graph_fewshot_experiment: unknown arm '$arm' in ARMS (dot distmult mask bias biasmask scratch mlp)" >&2; exit 1 ;;
  esac
done
steps="${FINETUNE_STEPS:-200}"
shots="${SHOTS:-5 10 50}"
seeds="${SEEDS:-1 2 3}"
threads="${THREADS:-1}"  # one thread per run, two runs at a time on 2 cores
mkdir -p "$work" && cd "$work"
quiet=(--log.level warn)

[ -f corpus-pre/manifest.json ] || "$bin" prep --encoder graph --out corpus-pre "$data/flows" "$data/ndpi/pcap" \
  "$data/pretrain/zeek" "${quiet[@]}"
[ -f corpus-flows/manifest.json ] || "$bin" prep --encoder graph --out corpus-flows "$data/flows" "${quiet[@]}"
[ -f corpus-ndpi/manifest.json ] || "$bin" prep --encoder graph --out corpus-ndpi --labels "$data/ndpi/flows.csv" \
  "$data/ndpi/pcap" "${quiet[@]}"
# Pretrained arms: name, then the objective's options, every one given so that the config's
# defaults (graph-base.ini: the biasmask objective) do not change an arm. The fine-tuning run
# repeats the decoder (the objective's first two words), whose vectors the checkpoint holds.
masking="--graph.mask 0.15 --graph.mask-weight 10"
declare -A objective=([dot]="--graph.decoder dot --graph.link-bias false --graph.mask 0"
  [distmult]="--graph.decoder distmult --graph.link-bias false --graph.mask 0"
  [mask]="--graph.decoder dot --graph.link-bias false $masking"
  [bias]="--graph.decoder distmult --graph.link-bias true --graph.mask 0"
  [biasmask]="--graph.decoder distmult --graph.link-bias true $masking")
for arm in $arms; do
  [ -n "${objective[$arm]+set}" ] || continue
  [ -f "pretrain-$arm/done" ] && continue
  echo "== pretrain graph-base ($arm: ${objective[$arm]}) on corpus-pre, $pretrain_steps steps"
  # shellcheck disable=SC2086 # the options are words
  "$bin" pretrain --config "$config" --corpus corpus-pre --out "pretrain-$arm" ${objective[$arm]} \
    --train.steps "$pretrain_steps" --train.eval-every 250 --train.ckpt-every 250 --resume auto \
    --train.threads "$(nproc)" "${quiet[@]}"
  touch "pretrain-$arm/done"
done

finetune() {  # task, name, then finetune options
  local task="$1" name="$2"; shift 2
  [ -f "runs/$task/$name/report.json" ] && return 0
  local task_options=()
  case "$task" in
    flows) task_options=(--finetune.exclude-labels Background) ;;
    ndpi) task_options=(--finetune.exclude-labels Unspecified --finetune.min-class-samples 40) ;;
  esac
  mkdir -p "runs/$task"
  "$bin" finetune --config "$config" --corpus "corpus-$task" --out "runs/$task/$name" "${task_options[@]}" \
    --train.steps "$steps" --train.eval-every 20 --train.warmup 0 --finetune.layer-decay 1 \
    --train.threads "$threads" "${quiet[@]}" "$@" > "runs/$task/$name.log" 2>&1 ||
    { echo "failed: runs/$task/$name (see runs/$task/$name.log)"; return 1; }
}
echo "== fine-tune: {$arms} x K {$shots} x seeds {$seeds}, two at a time"
jobs_list=()
for task in flows ndpi; do
  for k in $shots; do
    for seed in $seeds; do
      for arm in $arms; do
        case "$arm" in
          scratch) jobs_list+=("$task scratch-$k-$seed --from-scratch --shots $k --seed $seed") ;;
          mlp) jobs_list+=("$task mlp-$k-$seed --from-scratch --graph.layers 0 --shots $k --seed $seed") ;;
          *) jobs_list+=("$task $arm-$k-$seed --from pretrain-$arm ${objective[$arm]%% --graph.link-bias*} --shots $k --seed $seed") ;;
        esac
      done
    done
  done
done
for ((i = 0; i < ${#jobs_list[@]}; i += 2)); do
  finetune ${jobs_list[i]} &
  [ $((i + 1)) -lt ${#jobs_list[@]} ] && finetune ${jobs_list[i + 1]} &
  wait
done
[ -f direction.json ] || /usr/bin/python3 "$here/bench/graph_direction_baseline.py" "$data/flows" "$work/corpus-flows" \
  --shots $shots --seeds $seeds > direction.json

/usr/bin/python3 - "$work" <<'PY' | tee summary.md
import json, statistics, sys, glob, os
work = sys.argv[1]
def ms(v): return f"{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}"
names = {"dot": "pretrained (dot)", "distmult": "pretrained (distmult)", "mask": "pretrained (dot + masking)",
         "bias": "pretrained (distmult + link bias)",
         "biasmask": "pretrained (distmult + link bias + masking)", "scratch": "scratch", "mlp": "MLP (no graph)"}
direction = json.load(open(os.path.join(work, "direction.json")))
for task in ("flows", "ndpi"):
    rows = {}
    for path in glob.glob(os.path.join(work, "runs", task, "*", "report.json")):
        arm, k, seed = os.path.basename(os.path.dirname(path)).split("-")
        r = json.load(open(path))
        rows.setdefault((arm, int(k)), []).append((int(seed), r["macro_f1"], r["samples"]))
    if not rows: continue
    arms = [a for a in names if any(a == x for x, _ in rows)]
    any_report = json.load(open(glob.glob(os.path.join(work, "runs", task, "*", "report.json"))[0]))
    print(f"\n### {task}: {len(any_report['classes'])} classes ({', '.join(any_report['classes'])}), "
          f"{any_report['samples']} test flows\n")
    head = "| K per class | " + " | ".join(names[a] for a in arms) + " |" + (" direction only |" if task == "flows" else "")
    print(head); print("|---" * (head.count("|") - 1) + "|")
    for k in sorted({k for _, k in rows}):
        cells = [ms([x[1] for x in rows.get((a, k), [(0, float('nan'), 0)])]) for a in arms]
        line = f"| {k} | " + " | ".join(cells) + " |"
        if task == "flows":
            line += f" {ms(direction['macro_f1'][str(k)])} |"
        print(line)
    for arm in (a for a in arms if a not in ("scratch", "mlp")):
        for k in sorted({k for _, k in rows}):
            pre, scratch = sorted(rows.get((arm, k), [])), sorted(rows.get(("scratch", k), []))
            if pre and scratch:
                a, b = statistics.mean(x[1] for x in pre), statistics.mean(x[1] for x in scratch)
                print(f"- {arm} K={k}: pretrained {a:.3f} vs scratch {b:.3f} ({'pretrained better' if a > b else 'scratch better or equal'}; "
                      f"per seed {', '.join(f'{p[1]:.3f}/{s[1]:.3f}' for p, s in zip(pre, scratch))})")
print(f"\ndirection baseline joined {direction['joined']} of {direction['target_nodes']} classified flows to their Zeek rows")
PY
