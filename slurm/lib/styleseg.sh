# The shared part of every sbatch script in slurm/ (and of those `styleseg submit` writes):
# sourced, never run. Defines
#   styleseg_srun COMMAND [OPTIONS...]   runs `styleseg COMMAND` on every task of the allocation
# with what every step needs:
#   - srun --mpi=pmix (Debian's and most sites' OpenMPI; PMI2 fails with it) and
#     --kill-on-bad-exit, so one failing rank ends the step and the job fails (set -e);
#   - OMP_NUM_THREADS from --cpus-per-task; the GPU of each rank picked by styleseg from its
#     local rank (--device auto: cuda:LOCALRANK mod visible GPUs, CPU without GPUs), so
#     --gpus-per-task=1 and --gres=gpu:N with --ntasks-per-node=N both give one GPU per rank;
#   - requeue: a command that stopped at a resume point exits 75 (the USR1 of
#     `#SBATCH --signal=USR1@SECONDS`, or its --time-limit); the job is then requeued
#     (`#SBATCH --requeue`) and, run again, continues: `styleseg run` from its stage records,
#     single commands with --resume added (and --force dropped) on a restart
#     (SLURM_RESTART_COUNT > 0), those without resume points with --force.
#     STYLESEG_REQUEUE=0 turns requeueing off (the job then ends with exit code 75).
# Settings (environment): STYLESEG_BIN (default STYLESEG_HOME/build/styleseg),
# STYLESEG_SRUN_OPTIONS (extra srun options), STYLESEG_SCRATCH (node-local scratch for
# temporary files; default SLURM_TMPDIR or TMPDIR when set), STYLESEG_MPIIO_HINTS.

: "${STYLESEG_HOME:?set STYLESEG_HOME to the styleseg folder}"
STYLESEG_BIN=${STYLESEG_BIN:-$STYLESEG_HOME/build/styleseg}
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}}
if [ -z "${STYLESEG_SCRATCH:-}" ] && [ -n "${SLURM_TMPDIR:-${TMPDIR:-}}" ]; then
  export STYLESEG_SCRATCH=${SLURM_TMPDIR:-$TMPDIR}
fi

# Commands that continue a stopped run when told to (--resume; README "Existing outputs");
# run continues from its stage records by itself.
styleseg_takes_resume() {
  case $1 in generate | cluster | synthesize | train | train-gan) return 0 ;; *) return 1 ;; esac
}

styleseg_srun() {
  local command=$1
  shift
  local args=() arg
  if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && styleseg_takes_resume "$command"; then
    # A requeued run continues what the first one started: --resume, and no --force (which
    # would start afresh, and which --resume excludes).
    for arg in "$@"; do [ "$arg" = --force ] || args+=("$arg"); done
    args+=(--resume)
  elif [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && [ "$command" != run ]; then
    # A requeued command without resume points (a node failed under it) starts again: what
    # its first run left (segment's half-filled folder) is replaced, not refused.
    for arg in "$@"; do [ "$arg" = --force ] || args+=("$arg"); done
    args+=(--force)
  else
    args=("$@")
  fi
  [ -x "$STYLESEG_BIN" ] || { echo "styleseg: $STYLESEG_BIN is not an executable (set STYLESEG_BIN, or build: tools/build.sh)" >&2; return 1; }
  echo "styleseg: job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST:-?}:" \
       "${SLURM_NTASKS:-1} tasks, ${OMP_NUM_THREADS} threads each, GPUs per node: ${SLURM_GPUS_ON_NODE:-0}"
  local code=0
  # shellcheck disable=SC2086  # STYLESEG_SRUN_OPTIONS is a list of options
  srun --mpi=pmix --kill-on-bad-exit=1 ${STYLESEG_SRUN_OPTIONS:-} "$STYLESEG_BIN" "$command" "${args[@]}" || code=$?
  if [ "$code" = 75 ] && [ "${STYLESEG_REQUEUE:-1}" != 0 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "styleseg: $command stopped at a resume point; requeueing job $SLURM_JOB_ID to continue"
    scontrol requeue "$SLURM_JOB_ID"
    # scontrol ends this script; should it return first, the job must not look finished.
    sleep 600
    exit 75
  fi
  return "$code"
}
