# Shared by slurm/*.sbatch; `trafficfm submit` inlines it into the script it renders, so a
# submitted job needs no file of the repository. It runs the ranks, forwards Slurm's warning
# signal to them, and requeues the job when they stopped with a checkpoint to be resumed:
#   1. `#SBATCH --signal=B:USR1@S` makes Slurm signal this batch shell S seconds before the time
#      limit (only the shell: `B:`); preemption sends SIGTERM.
#   2. The shell waits for the ranks in the background, so its trap runs at once, and passes the
#      signal on; srun and OpenMPI's mpirun forward SIGUSR1 and SIGTERM to every rank.
#   3. The ranks agree to stop, checkpoint, and exit 75 (EX_TEMPFAIL).
#   4. On 75 the shell runs `scontrol requeue`: the job goes back to the queue with the same id
#      and output file (appended) and, started again, resumes with `--resume auto`.
#      SLURM_RESTART_COUNT counts the restarts; MAX_RESTARTS bounds them.
# Any other exit code ends the job with that code: a failed job is not requeued.

trafficfm_requeue_code=75
trafficfm_step_pid=""
trafficfm_signal_seen=0

job_log() {
  echo "[trafficfm job ${SLURM_JOB_ID:-none} $(date -u +%Y-%m-%dT%H:%M:%SZ)] $*"
}

# Every rank of the allocation: srun with PMIx (one task per rank), or OpenMPI's mpirun, which
# reads the allocation from Slurm itself. Sets the array `launcher`.
choose_launcher() {
  case "$LAUNCHER" in
    srun) launcher=(srun --mpi="$SRUN_MPI") ;;
    mpirun) launcher=(mpirun -np "${SLURM_NTASKS:-1}" --bind-to none) ;;
    *) job_log "LAUNCHER must be srun or mpirun, not '$LAUNCHER'"; exit 2 ;;
  esac
}

forward_signal() {
  trafficfm_signal_seen=1
  job_log "received SIG$1: passing it to the ranks (they checkpoint and exit $trafficfm_requeue_code)"
  [ -n "$trafficfm_step_pid" ] && kill -s "$1" "$trafficfm_step_pid" 2>/dev/null
}

# Runs the command on every rank; exits the job (requeued when the ranks asked for it).
run_ranks_and_requeue() {
  job_log "start: job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)}," \
    "restart ${SLURM_RESTART_COUNT:-0}, ${SLURM_JOB_NUM_NODES:-1} node(s), ${SLURM_NTASKS:-1} rank(s)" \
    "by $LAUNCHER on ${SLURM_JOB_NODELIST:-$(hostname)}"
  job_log "command: $*"
  trap 'forward_signal USR1' USR1
  trap 'forward_signal TERM' TERM
  choose_launcher
  # The launcher itself in the background (not a function: that would be a subshell, which
  # dies of the signal before passing it on).
  "${launcher[@]}" "$@" &
  trafficfm_step_pid=$!
  local rc
  # `wait` returns 128+N when a trapped signal interrupts it; then wait again, for the ranks'
  # own exit code (bash keeps it even when the step ended meanwhile).
  while :; do
    trafficfm_signal_seen=0
    wait "$trafficfm_step_pid"
    rc=$?
    [ "$rc" -gt 128 ] && [ "$trafficfm_signal_seen" = 1 ] && continue
    break
  done
  trap - USR1 TERM
  if [ "$rc" -eq 0 ]; then
    job_log "finished"
    exit 0
  fi
  if [ "$rc" -ne "$trafficfm_requeue_code" ]; then
    job_log "ranks failed with exit code $rc: not requeued"
    exit "$rc"
  fi
  if [ "${SLURM_RESTART_COUNT:-0}" -ge "$MAX_RESTARTS" ]; then
    job_log "ranks stopped with a checkpoint; not requeued: $MAX_RESTARTS restarts already (MAX_RESTARTS)"
    exit "$rc"
  fi
  job_log "ranks stopped with a checkpoint: requeueing job $SLURM_JOB_ID; it resumes from the newest checkpoint"
  if ! scontrol requeue "$SLURM_JOB_ID"; then
    job_log "scontrol requeue failed (job cancelled?): not requeued"
    exit "$rc"
  fi
  # Slurm ends this shell as it requeues the job; should it not, the job still ends requeued.
  sleep 30
  exit 0
}
