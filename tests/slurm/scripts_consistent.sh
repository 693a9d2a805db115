#!/usr/bin/env bash
# Every sbatch script in slurm/ parses, runs the command it is named after through the
# shared launcher (slurm/lib/styleseg.sh), and that styleseg command exists.
#   scripts_consistent.sh STYLESEG_BIN SOURCE_DIR
set -euo pipefail
bin=$1; cd "$2"
for f in slurm/*.sbatch slurm/lib/styleseg.sh tools/slurm/local_cluster.sh tests/slurm/*.sh; do
  bash -n "$f" || { echo "$f: syntax error"; exit 1; }
done
commands=$("$bin" --help)
count=0
for f in slurm/*.sbatch; do
  command=$(basename "$f" .sbatch)
  [ "$command" = sweep ] && command=run  # a job array of styleseg run --sweep
  grep -q "^styleseg_srun $command " "$f" || { echo "$f does not run styleseg $command"; exit 1; }
  grep -q '^#SBATCH --requeue' "$f" && grep -q '^#SBATCH --signal=USR1@' "$f" || { echo "$f: no USR1 signal or requeue"; exit 1; }
  grep -q "^  $command " <<<"$commands" || { echo "$f: styleseg has no command $command"; exit 1; }
  count=$((count + 1))
done
[ "$count" -ge 10 ] || { echo "only $count sbatch scripts"; exit 1; }
echo "consistent: $count sbatch scripts"
