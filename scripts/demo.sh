#!/usr/bin/env bash
# Sets everything up and runs the main job on a corpus trafficfm generates itself:
#   synth (pcap + labels) -> prep on 2 MPI ranks (sharded HDF5 mmae corpus) -> inspect
#   -> pretrain MMAE (tiny) on 2 ranks with checkpoints -> export model.pt
#   -> fine-tune a classifier from the pretrained encoder on 10% of the labels -> test report
#   -> Lens: prep --encoder lens of the same captures -> pretrain lens-tiny (MSP + POP + HTP) on
#      2 ranks -> fine-tune from it on 10% of the labels
# Output goes to demo-out/ (or $1). Each stage prints what it wrote.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
out="${1:-$here/demo-out}"
scripts/setup.sh
bin="$here/build/launch/trafficfm"
"$bin" --version
rm -rf "$out"
mkdir -p "$out"
echo "== 1. synth: a labeled pcap corpus of 2,000 flows between 60 hosts"
"$bin" synth --config configs/demo-synth.ini --out "$out/captures"
echo "== 2. prep on 2 ranks: captures -> sharded HDF5 corpus (mmae encoding, labels from labels.csv)"
# OpenMPI refuses root unless told twice (containers and CI run as root).
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe -np 2 "$bin" prep --config configs/prep-mmae.ini --input "$out/captures" \
  --labels "$out/captures/labels.csv" --out "$out/corpus"
echo "== 3. inspect: one sample decoded"
"$bin" inspect "$out/corpus" --sample 0 | sed -n '/^sample/,/^statistics/p'
echo "== 4. pretrain mmae-tiny on 2 data-parallel ranks (metrics, eval, checkpoints under run/)"
mpirun --oversubscribe -np 2 "$bin" pretrain --config configs/mmae-tiny.ini --corpus "$out/corpus" --out "$out/run" \
  --train.steps "${DEMO_STEPS:-60}" --train.eval-every 30 --train.ckpt-every 30 --train.log-every 10
echo "   first and last metrics lines:"
sed -n '1p;$p' "$out/run/metrics.jsonl"
echo "== 5. export: the newest checkpoint -> one model.pt (torch.load) + model.json"
"$bin" export "$out/run" --out "$out/model.pt"
echo "== 6. finetune on 2 ranks: the pretrained encoder + a classification head, 10% of the labels"
mpirun --oversubscribe -np 2 "$bin" finetune --config configs/mmae-tiny.ini --corpus "$out/corpus" --from "$out/run" \
  --out "$out/finetune" --label-fraction 0.1 --finetune.epochs "${DEMO_FINETUNE_EPOCHS:-10}" --train.batch-size 16 \
  --train.lr 1e-3 --train.log-every 20
echo "== 7. eval: the selected model on the test split (report.json holds the same numbers)"
"$bin" eval --from "$out/finetune" --corpus "$out/corpus" --split test | sed -n '1,/^weighted/p'
echo "== 8. Lens: the same captures -> lens corpus (byte-bigram tokens, 128 per flow)"
mpirun --oversubscribe -np 2 "$bin" prep --encoder lens --lens.max-tokens 128 --input "$out/captures" \
  --labels "$out/captures/labels.csv" --out "$out/lens-corpus"
echo "== 9. pretrain lens-tiny on 2 data-parallel ranks (loss = MSP + 0.2 POP + 0.2 HTP, each logged)"
mpirun --oversubscribe -np 2 "$bin" pretrain --config configs/lens-tiny.ini --corpus "$out/lens-corpus" \
  --out "$out/lens-run" --train.steps "${DEMO_LENS_STEPS:-40}" --train.eval-every 20 --train.ckpt-every 20
sed -n '1p;$p' "$out/lens-run/metrics.jsonl"
echo "== 10. finetune Lens on 2 ranks from its pretraining run, 10% of the labels, then its test report"
mpirun --oversubscribe -np 2 "$bin" finetune --config configs/lens-tiny.ini --corpus "$out/lens-corpus" \
  --from "$out/lens-run" --out "$out/lens-finetune" --label-fraction 0.1 \
  --finetune.epochs "${DEMO_FINETUNE_EPOCHS:-10}" --train.batch-size 16 --train.optimizer adamw --train.lr 1e-3 \
  --train.weight-decay 0.05 --train.log-every 20
"$bin" eval --from "$out/lens-finetune" --corpus "$out/lens-corpus" --split test | sed -n '1,/^weighted/p'
echo "demo: done; outputs under $out (reports: $out/finetune/report.json, $out/lens-finetune/report.json)"
