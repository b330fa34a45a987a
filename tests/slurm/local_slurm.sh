# A real, one-node Slurm for the tests, started from Debian's packages in a temp dir:
#   source tests/slurm/local_slurm.sh; local_slurm_start DIR; ...; local_slurm_stop
# slurmctld and slurmd run in the foreground (-D) in the background, as root (SlurmUser=root),
# with AuthType=auth/none (no munge daemon), ports picked free, state and spool under DIR.
# SLURM_CONF is exported, so sbatch, squeue and scontrol of the caller talk to this cluster.

local_slurm_packages=(slurmctld slurmd slurm-client)

# Installs the daemons when missing (root only); returns 1 when they cannot be had.
local_slurm_install() {
  local missing=() p
  for p in "${local_slurm_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { echo "local_slurm: ${missing[*]} missing and not root"; return 1; }
  echo "local_slurm: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

local_slurm_free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

local_slurm_start() {
  local dir="$1"
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  local ctld_port d_port
  ctld_port=$(local_slurm_free_port)
  d_port=$(local_slurm_free_port)
  while [ "$d_port" = "$ctld_port" ]; do d_port=$(local_slurm_free_port); done
  cat > "$dir/slurm.conf" <<CONF
ClusterName=trafficfm-test
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobRequeue=1
MinJobAge=3600
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -D -i > "$dir/log/slurmctld.out" 2>&1 &
  local_slurm_ctld_pid=$!
  slurmd -D -N localhost > "$dir/log/slurmd.out" 2>&1 &
  local_slurm_d_pid=$!
  local i
  for i in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -q '^idle'; then
      echo "local_slurm: up (slurmctld $local_slurm_ctld_pid, slurmd $local_slurm_d_pid, ports $ctld_port/$d_port)"
      return 0
    fi
    sleep 1
  done
  echo "local_slurm: the node did not become idle; logs:"
  tail -n 20 "$dir"/log/*
  return 1
}

local_slurm_stop() {
  [ -n "${local_slurm_d_pid:-}" ] && kill "$local_slurm_d_pid" 2>/dev/null
  [ -n "${local_slurm_ctld_pid:-}" ] && kill "$local_slurm_ctld_pid" 2>/dev/null
  wait 2>/dev/null
  local_slurm_d_pid="" local_slurm_ctld_pid=""
}

# scontrol's value of FIELD for a job ("" when the job is unknown).
job_field() {
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

# Waits until the job (every task of an array) has ended; prints its final state(s).
wait_for_job_end() {
  local job="$1" timeout="${2:-300}" i states
  for ((i = 0; i < timeout; i += 2)); do
    states=$(scontrol show job "$job" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p' | sort -u | tr '\n' ' ')
    if [ -n "$states" ] && ! echo "$states" | grep -qE 'PENDING|RUNNING|COMPLETING|CONFIGURING|REQUEUE|SUSPENDED'; then
      echo "$states"
      return 0
    fi
    sleep 2
  done
  echo "TIMEOUT($states)"
  return 1
}
