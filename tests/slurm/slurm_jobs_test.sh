#!/usr/bin/env bash
# `trafficfm submit` and slurm/*.sbatch against a real local Slurm (ctest label `slurm`):
#   1. --dry-run output passes `bash -n` and `sbatch --test-only` (each form: pretrain,
#      finetune, sweep); a bad #SBATCH line is caught by the same check.
#   2. A 2-task pretraining job completes with a committed checkpoint and its metrics.
#   3. A job sent the warning signal (USR1 to the batch shell, as --signal=B:USR1 does)
#      checkpoints, requeues itself, resumes and finishes; its loss curve equals an
#      uninterrupted run's, step by step; SLURM_RESTART_COUNT is logged.
#   4. A 3-task array job runs three different configurations.
#   5. A job that fails for another reason is not requeued; the mpirun launcher works.
#   6. `sweep run --submit` runs a 3-point scaling-law sweep as an array; `sweep fit` reads it.
#   tests/slurm/slurm_jobs_test.sh TRAFFICFM_BINARY   (exit 77: skipped, no Slurm to be had)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-${TRAFFICFM_BIN:-$here/../../build/launch/trafficfm}}"
source "$here/local_slurm.sh"

if [ "$(id -u)" != 0 ]; then echo "skipped: the local Slurm runs as root (SlurmUser=root)"; exit 77; fi
local_slurm_install || { echo "skipped: Debian's slurmctld/slurmd/slurm-client cannot be installed"; exit 77; }
[ -x "$bin" ] || { echo "no trafficfm binary at $bin"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/slurm_jobs.XXXXXX")
failures=0
trap 'local_slurm_stop; [ "$failures" = 0 ] && rm -rf "$work"' EXIT
check() {  # description, then a command that must succeed
  local what="$1"; shift
  if "$@"; then echo "  ok: $what"; else echo "  FAILED: $what"; failures=$((failures + 1)); fi
}
job_id_of() { sed -n 's/^submitted job \([0-9]*\).*/\1/p' <<< "$1"; }
metric_lines() { [ -f "$1/metrics.jsonl" ] && wc -l < "$1/metrics.jsonl" || echo 0; }

local_slurm_start "$work/slurm" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # the mpirun launcher, as root

echo "== corpus and micro model"
"$bin" synth --out "$work/captures" --flows 300 --hosts 20 --log.level warn > /dev/null || exit 1
"$bin" prep --input "$work/captures" --labels "$work/captures/labels.csv" --out "$work/corpus" --log.level warn \
  > /dev/null || exit 1
config="$work/micro.ini"
cat > "$config" <<'INI'
model = mmae
[mmae]
dim = 32
depth = 2
heads = 2
decoder-dim = 16
decoder-depth = 1
decoder-heads = 2
rank-pairs = 50
hard-mask-start = 0.3
[train]
batch-size = 8
lr = 2e-3
log-every = 1
eval-batches = 2
threads = 1
INI
submit() { "$bin" submit --config "$config" --corpus "$work/corpus" "$@"; }

echo "== 1. dry run: bash -n and sbatch --test-only"
test_only_accepts() { sbatch --test-only "$1" > "$1.test-only" 2>&1; }
test_only_refuses() { ! test_only_accepts "$1"; }
submit --out "$work/dry" --tasks-per-node 2 --time 30 --signal-seconds 120 --dry-run -- --train.steps 10 \
  > "$work/dry-pretrain.sbatch"
submit --command finetune --from "$work/dry" --out "$work/dry-ft" --time 1:00:00 --cpus-per-task 1 --dry-run \
  > "$work/dry-finetune.sbatch"
printf 'a --train.steps 2\nb --train.steps 3\n' > "$work/dry-sweep.txt"
submit --sweep "$work/dry-sweep.txt" --out "$work/dry-sweep" --array-parallel 1 --dry-run > "$work/dry-sweep.sbatch"
for kind in pretrain finetune sweep; do
  script="$work/dry-$kind.sbatch"
  check "$kind script passes bash -n" bash -n "$script"
  check "$kind script's #SBATCH lines pass sbatch --test-only" test_only_accepts "$script"
done
check "the pretrain script asks for the warning signal and requeue" \
  grep -q -- '^#SBATCH --signal=B:USR1@120$' "$work/dry-pretrain.sbatch"
check "the sweep script is a 2-task array, one at a time" grep -q -- '^#SBATCH --array=0-1%1$' "$work/dry-sweep.sbatch"
sed 's/^#SBATCH --nodes=1$/#SBATCH --nodes=1 --no-such-option/' "$work/dry-pretrain.sbatch" > "$work/dry-bad.sbatch"
check "a bad #SBATCH line fails sbatch --test-only" test_only_refuses "$work/dry-bad.sbatch"

echo "== 2. a 2-task pretraining job completes"
out=$(submit --out "$work/run2" --tasks-per-node 2 -- --train.steps 8 --train.ckpt-every 4)
job=$(job_id_of "$out")
echo "$out" | head -n 2
state=$(wait_for_job_end "$job" 300)
check "job $job completed (state: $state)" test "$state" = "COMPLETED "
check "8 lines of metrics" test "$(metric_lines "$work/run2")" = 8
check "latest checkpoint is step 8, committed" test -f "$work/run2/checkpoints/step-00000008/COMMIT"
check "both ranks logged" test -f "$work/run2/log/rank-1.log"
check "the job's output went to the run directory" test -s "$work/run2/slurm-$job.out"

echo "== 3. warning signal mid-run: checkpoint, requeue, resume; same loss curve"
steps=120
out=$(submit --out "$work/preempted" --tasks-per-node 2 -- --train.steps $steps --train.ckpt-every 1000)
job=$(job_id_of "$out")
for i in $(seq 300); do [ "$(metric_lines "$work/preempted")" -ge 10 ] && break; sleep 0.5; done
scancel --signal=USR1 --batch "$job"
for i in $(seq 120); do [ "$(job_field "$job" Restarts)" = 1 ] && break; sleep 1; done
check "the job was requeued once" test "$(job_field "$job" Restarts)" = 1
# Else a requeued job waits ~2 minutes to start again. Not `now`: slurmd refuses a launch whose
# credential is from the same second as the revocation of the job's previous one ("Job
# credential revoked"), which is what Slurm's own delay avoids.
sleep 2
scontrol update JobId="$job" StartTime=now
# Meanwhile, the uninterrupted reference run, same 2 ranks, outside Slurm.
mpirun --oversubscribe -np 2 "$bin" pretrain --config "$config" --corpus "$work/corpus" --out "$work/straight" \
  --train.steps $steps --train.ckpt-every 1000 > "$work/straight.out" 2>&1
state=$(wait_for_job_end "$job" 600)
check "the requeued job completed (state: $state)" test "$state" = "COMPLETED "
log="$work/preempted/slurm-$job.out"
check "the stop checkpointed and exited 75" grep -q "stop requested (signal 10)" "$work/preempted/log/rank-0.log"
check "the job requeued itself" grep -q "requeueing job $job" "$log"
check "the second run resumed from the checkpoint" grep -q "continuing from" "$work/preempted/log/rank-0.log"
check "SLURM_RESTART_COUNT is logged (by the script and by trafficfm)" \
  grep -q "restart count 1" "$work/preempted/log/rank-0.log"
same_curve() {
  /usr/bin/python3 - "$work/straight/metrics.jsonl" "$work/preempted/metrics.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
keys = ("step", "loss", "rec", "distill", "rank", "grad_norm")
ok = len(a) == len(b) == 120 and all([x[k] for k in keys] == [y[k] for k in keys] for x, y in zip(a, b))
if not ok:
    print(f"    {len(a)} vs {len(b)} lines; first difference:",
          next(((x, y) for x, y in zip(a, b) if [x[k] for k in keys] != [y[k] for k in keys]), None))
sys.exit(0 if ok else 1)
PY
}
check "the concatenated loss curve equals the uninterrupted run's, bitwise" same_curve

echo "== 4. a 3-task array runs three configurations"
cat > "$work/sweep.txt" <<'SWEEP'
# name   options
steps3   --train.steps 3
steps4   --train.steps 4 --mmae.dim 16
# a comment between entries
steps5   --train.steps 5 --train.lr 1e-3
SWEEP
out=$(submit --sweep "$work/sweep.txt" --out "$work/sweep")
job=$(job_id_of "$out")
state=$(wait_for_job_end "$job" 300)
check "every array task completed (states: $state)" test "$state" = "COMPLETED "
for n in 3 4 5; do
  check "entry steps$n trained $n steps" test "$(metric_lines "$work/sweep/steps$n")" = "$n"
done
check "entry steps4 ran with its own model size" grep -q "^dim = 16$" "$work/sweep/steps4/config.ini"
check "entry steps5 ran with its own learning rate" grep -q "^lr = 0.001$" "$work/sweep/steps5/config.ini"
check "entry steps3 kept the config's values" grep -q "^dim = 32$" "$work/sweep/steps3/config.ini"

echo "== 5. a failing job is not requeued; the mpirun launcher"
out=$(submit --out "$work/failing" -- --train.no-such-option 1)
job=$(job_id_of "$out")
state=$(wait_for_job_end "$job" 120)
check "the failing job ended FAILED (state: $state)" test "$state" = "FAILED "
check "and was not requeued" test "$(job_field "$job" Restarts)" = 0
check "its output says why" grep -q "unknown option '--train.no-such-option'" "$work/failing/slurm-$job.out"
out=$(submit --out "$work/mpirun" --tasks-per-node 2 --launcher mpirun -- --train.steps 3)
job=$(job_id_of "$out")
state=$(wait_for_job_end "$job" 120)
check "a 2-rank job started by mpirun completed (state: $state)" test "$state" = "COMPLETED "
check "with both ranks" test -f "$work/mpirun/log/rank-1.log"

echo "== 6. a scaling-law sweep submitted as an array (sweep run --submit), read by sweep fit"
printf 'name mmae.dim mmae.depth\nsmall 16 1\nmedium 24 1\nlarge 32 1\n' > "$work/ladder.tsv"
"$bin" sweep plan --config "$config" --ladder "$work/ladder.tsv" --corpus "$work/corpus" --out "$work/scaling" \
  --budgets 2e10 --min-steps 2 --log.level warn > "$work/scaling-plan.txt" 2>&1
check "the plan has 3 points" test "$(grep -c '^c2e10-' "$work/scaling/sweep.txt")" = 3
out=$("$bin" sweep run "$work/scaling" --submit --array-parallel 2 2>&1)
job=$(job_id_of "$out")
check "sweep run --submit submitted an array ($out)" test -n "$job"
state=$(wait_for_job_end "$job" 300)
check "every point's array task completed (states: $state)" test "$state" = "COMPLETED "
for p in small medium large; do
  check "point $p finished (its summary says so)" grep -q '"finished": true' "$work/scaling/runs/c2e10-$p/summary.json"
done
"$bin" sweep fit "$work/scaling" > "$work/scaling-fit.txt" 2>&1
check "sweep fit read the 3 runs, and says 5 are needed for 5 parameters" \
  grep -q "needs at least 5 finished runs (5 parameters); 3 finished" "$work/scaling-fit.txt"
check "fit.json lists the 3 runs with their N, D, FLOPs and loss" /usr/bin/python3 -c "
import json, sys
fit = json.load(open('$work/scaling/fit.json'))
assert len(fit['points']) == 3 and not fit['left_out'], fit
assert all(p['params'] > 0 and p['data'] > 0 and p['flops'] > 0 and p['loss'] > 0 for p in fit['points']), fit
"

if [ "$failures" -gt 0 ]; then
  echo "slurm_jobs_test: $failures check(s) failed; work dir kept: $work"
  exit 1
fi
echo "slurm_jobs_test: all checks passed"
