#!/usr/bin/env bash
# Scaling-law sweeps on real captures (issue 20): an MMAE ladder and a Lens ladder
# (configs/sweep-*-ladder.tsv, 4 sizes each) at 3 compute budgets each, IsoFLOP design, on the
# ndpi + pretrain captures of ../shared/data, planned, run and fitted through `trafficfm sweep`.
#   bench/sweep_experiment.sh [WORK_DIR]   (env: TRAFFICFM_BIN, TRAFFICFM_SHARED_DATA, THREADS,
#   MMAE_BUDGETS, LENS_BUDGETS; about two hours on this 2-core machine at THREADS=1)
# Every stage is resumable: `sweep run` skips finished points and resumes an interrupted one, so
# the script can be stopped (Ctrl-C, SIGTERM) and started again.
# MMAE's fit uses val_rec (reconstruction MSE: its distillation term is measured against each
# size's own EMA teacher, so it does not compare across sizes); Lens's uses val_msp (span
# cross-entropy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TRAFFICFM_SHARED_DATA:-$here/../shared/data}"
for need in "$data/ndpi/pcap" "$data/pretrain"; do
  [ -e "$need" ] || { echo "sweep_experiment: $need not found (set TRAFFICFM_SHARED_DATA)" >&2; exit 1; }
done
work="${1:-/tmp/trafficfm-sweep-experiment}"
bin="${TRAFFICFM_BIN:-$here/build/launch/trafficfm}"
[ -x "$bin" ] || { echo "sweep_experiment: $bin not built (scripts/setup.sh)" >&2; exit 1; }
threads="${THREADS:-1}"
mkdir -p "$work" && cd "$work"

[ -f corpus-mmae/manifest.json ] || "$bin" prep --input "$data/ndpi/pcap" "$data/pretrain" --out corpus-mmae \
  --encoder mmae --log.level warn
[ -f corpus-lens/manifest.json ] || "$bin" prep --input "$data/ndpi/pcap" "$data/pretrain" --out corpus-lens \
  --encoder lens --lens.max-tokens 256 --lens.packets 3 --log.level warn

sweep() {  # name, config, ladder, budgets, metric
  local name="$1" config="$2" ladder="$3" budgets="$4" metric="$5"
  [ -f "$name/sweep.json" ] || "$bin" sweep plan --config "$here/configs/$config" --ladder "$here/configs/$ladder" \
    --corpus "corpus-${name%%-*}" --out "$name" --budgets "$budgets" --points 4 --min-steps 40 \
    -- --train.threads "$threads" --log.level warn
  "$bin" sweep run "$name" --local || [ $? = 1 ]  # 1: a point failed; the fit names it
  "$bin" sweep fit "$name" --metric "$metric" | tee "$name/fit-summary.txt"
}
sweep mmae-sweep mmae-tiny.ini sweep-mmae-ladder.tsv "${MMAE_BUDGETS:-2e12,4e12,8e12}" val_rec
sweep lens-sweep lens-tiny.ini sweep-lens-ladder.tsv "${LENS_BUDGETS:-3e12,6e12,1.2e13}" val_msp
