#!/usr/bin/env bash
# A real one-node Slurm on this machine, for testing the sbatch scripts (tests/slurm/) or
# trying them by hand. Root only (it installs packages and starts daemons).
#
#   tools/slurm/local_cluster.sh start DIR [CPUS]   installs slurm-wlm and munge when missing, writes
#                                                  DIR/slurm.conf, starts munged, slurmctld and slurmd
#                                                  (their state, logs and pids in DIR)
#   export SLURM_CONF=DIR/slurm.conf               then sbatch, squeue, scontrol, scancel as usual
#   tools/slurm/local_cluster.sh stop DIR           stops the daemons it started (by their pid files)
#
# The node is `localhost` with CPUS CPUs (default 4) whatever the cores (more tasks than cores
# are allowed: config_overrides), no cgroups, no accounting database (so no sacct), PMIx for
# `srun --mpi=pmix`, and a private munge socket so a munged already running is left alone.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR [CPUS]" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1
dir=$(realpath -m "$2")
cpus=${3:-4}

stop_daemons() {
  local name pid
  for name in slurmd slurmctld munged; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
  done
  if [ -f "$dir/munge.dir" ]; then
    rm -rf "$(cat "$dir/munge.dir")"
    rm -f "$dir/munge.dir"
  fi
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "local_cluster.sh: $what did not come up within $seconds s; logs in $dir" >&2
  tail -n 20 "$dir"/*.log >&2 || true
  return 1
}

case $action in
  stop)
    stop_daemons
    ;;
  start)
    [ "$(id -u)" = 0 ] || { echo "local_cluster.sh: must run as root (starts munged and the Slurm daemons)" >&2; exit 1; }
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
      apt-get install -y --no-install-recommends slurm-wlm munge >"$dir.apt.log" 2>&1 \
        || { cat "$dir.apt.log" >&2; echo "local_cluster.sh: could not install slurm-wlm and munge" >&2; exit 1; }
    fi
    mkdir -p "$dir"/{state,spool}
    stop_daemons  # left over from an earlier start in this folder
    # munged runs as the munge user: its socket, log and pid go in a folder of its own under
    # /tmp (DIR's parents may be closed to other users, e.g. a mktemp folder).
    munge_dir=$(mktemp -d /tmp/styleseg-munge.XXXXXX)
    echo "$munge_dir" > "$dir/munge.dir"
    chown munge:munge "$munge_dir"
    chmod 0755 "$munge_dir"
    [ -f /etc/munge/munge.key ] || runuser -u munge -- /usr/sbin/mungekey --create
    runuser -u munge -- /usr/sbin/munged --socket="$munge_dir/munge.socket" --pid-file="$munge_dir/munged.pid" \
      --log-file="$munge_dir/munged.log" --seed-file="$munge_dir/munged.seed" --force \
      || { cat "$munge_dir/munged.log" >&2 2>/dev/null; echo "local_cluster.sh: munged did not start" >&2; exit 1; }
    cp "$munge_dir/munged.pid" "$dir/munged.pid"
    cat >"$dir/slurm.conf" <<EOF
ClusterName=styleseg-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=$((6817 + RANDOM % 1000 * 2))
SlurmdPort=$((7818 + RANDOM % 1000 * 2))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
JobRequeue=1
KillWait=10
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$dir/slurm.conf
    /usr/sbin/slurmctld
    wait_for 20 slurmctld scontrol ping
    /usr/sbin/slurmd -N localhost
    wait_for 30 "the node" bash -c "sinfo -h -o %t | grep -qE '^(idle|mix|alloc)'"
    echo "local Slurm up: export SLURM_CONF=$dir/slurm.conf (stop: $0 stop $dir)"
    ;;
  *) usage ;;
esac
