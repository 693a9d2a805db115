#!/usr/bin/env bash
# The sbatch scripts against a real Slurm (tools/slurm/local_cluster.sh: munged, slurmctld
# and slurmd on this machine, stopped again by their pids whatever happens):
#   1. a tiny eye job as one plain process (no Slurm): the reference;
#   2. `styleseg submit --wait` at 2 tasks and `sbatch --wait slurm/run.sbatch` at 4 tasks:
#      the same clusters, dataset, mapping and scores as the reference (the segmenter's
#      weights agree to rounding: gradients are summed in another order over other ranks);
#   3. the 2-task job again, sent USR1 (`scancel --signal`, what `--signal=USR1@T` does) in
#      the middle of its train stage: the stage saves and exits 75, the job requeues itself,
#      the requeued job resumes train and ends with the outputs of the uninterrupted job,
#      down to the segmenter's weights;
#   4. a job array sweeping cluster.clusters over 4 and 6 (`styleseg submit --sweep`):
#      one table of inertia and pixel shares, written by the last task;
#   5. a failing step fails the job (set -e), with the step's error in the job's log.
# Needs root (it starts daemons). Without root it skips, except under CI=true (fails).
#   slurm_jobs.sh STYLESEG_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
bin=$(realpath "$1"); src=$(realpath "$2"); out=$(realpath -m "$3")
fail() { echo "slurm_jobs.sh: FAIL: $*" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
  [ "${CI:-}" = true ] && fail "must run as root under CI=true (it starts munged, slurmctld and slurmd)"
  echo "slurm_jobs.sh: SKIPPED: needs root to start a local Slurm"; exit 0
fi
rm -rf "$out"; mkdir -p "$out"
cd "$src"
cluster=$out/slurm
trap 'tools/slurm/local_cluster.sh stop "$cluster"' EXIT
tools/slurm/local_cluster.sh start "$cluster" 4
export SLURM_CONF=$cluster/slurm.conf STYLESEG_HOME=$src STYLESEG_BIN=$bin OMP_NUM_THREADS=1

tiny=(make-real-train.count=48 make-real-labelled.count=8 make-real-test.count=12 cluster.samples=12 cluster.clusters=6
      synthesize.count=48 train.steps=24 train.batch=8 train.val-count=8 train.val-every=12)
stages=(make-real-train make-real-labelled make-real-test cluster synthesize train segment-labelled map segment-test evaluate)

weights() { strings "$1" | grep -o '"weights_sha256":"[0-9a-f]*"' | head -n 1; }
same_outputs() {  # same_outputs REFERENCE_WORKDIR WORKDIR WHAT [same-weights]
  local a=$1 b=$2 what=$3 weights_too=${4:-}
  cmp <(h5dump -d /centroids "$a/clusters.h5" | tail -n +3) <(h5dump -d /centroids "$b/clusters.h5" | tail -n +3) \
    || fail "$what: centroids differ from $a"
  h5diff "$a/synthetic.h5" "$b/synthetic.h5" images images >/dev/null && h5diff "$a/synthetic.h5" "$b/synthetic.h5" masks masks >/dev/null \
    || fail "$what: synthetic images or masks differ from $a"
  cmp "$a/mapping.txt" "$b/mapping.txt" || fail "$what: cluster-to-class mapping differs"
  [ -n "$(weights "$a/seg.pt")" ] || fail "no weights digest in $a/seg.pt"
  [ -z "$weights_too" ] || [ "$(weights "$a/seg.pt")" = "$(weights "$b/seg.pt")" ] || fail "$what: segmenter weights differ"
  [ "$(grep -o '"mean_iou": [0-9.e-]*' "$a/evaluation.json")" = "$(grep -o '"mean_iou": [0-9.e-]*' "$b/evaluation.json")" ] \
    || fail "$what: test mIoU differs"
  echo "slurm_jobs.sh: $what: same outputs as $a"
}
job_field() { scontrol show job "$1" 2>/dev/null | grep -o "$2=[^ ]*" | head -n 1 | cut -d= -f2; }

# 1. The reference: one plain process.
"$bin" run jobs/eyes.ini --workdir "$out/single" --threads 1 --set "${tiny[@]}" --stages "${stages[@]}" > "$out/single.log" 2>&1 \
  || { cat "$out/single.log"; fail "the single-process job failed"; }

# 2. Two tasks through `styleseg submit`, four through slurm/run.sbatch as it is.
"$bin" submit jobs/eyes.ini --workdir "$out/np2" --tasks-per-node 2 --time 00:20:00 --set "${tiny[@]}" --stages "${stages[@]}" \
  --wait > "$out/np2.submit.log" 2>&1 || { cat "$out/np2.submit.log" "$out"/np2/slurm-*.out; fail "the 2-task job failed"; }
grep -q "^#SBATCH --ntasks-per-node=2" "$out/np2/submit.sbatch" || fail "submit did not ask for 2 tasks per node"
grep -q "2 tasks" "$out"/np2/slurm-*.out || fail "the 2-task job did not run 2 tasks"
same_outputs "$out/single" "$out/np2" "2 tasks (styleseg submit)"

sbatch --wait --ntasks-per-node=4 --time=00:20:00 --output="$out/np4.out" slurm/run.sbatch jobs/eyes.ini --workdir "$out/np4" \
  --set "${tiny[@]}" --stages "${stages[@]}" > /dev/null || { cat "$out/np4.out"; fail "the 4-task job failed"; }
grep -q "4 tasks" "$out/np4.out" || fail "the 4-task job did not run 4 tasks"
same_outputs "$out/single" "$out/np4" "4 tasks (slurm/run.sbatch)"

# 3. USR1 in the middle of train: save, exit 75, requeue, resume.
jid=$("$bin" submit jobs/eyes.ini --workdir "$out/requeue" --tasks-per-node 2 --time 00:20:00 --set "${tiny[@]}" \
        --stages "${stages[@]}" 2>"$out/requeue.submit.log" | tail -n 1)
[[ "$jid" =~ ^[0-9]+$ ]] || { cat "$out/requeue.submit.log"; fail "submit printed no job id ($jid)"; }
log=$out/requeue/slurm-$jid.out
for _ in $(seq 600); do grep -q "train: styleseg train" "$log" 2>/dev/null && break; sleep 0.1; done
grep -q "train: styleseg train" "$log" || { cat "$log"; fail "the train stage did not start"; }
sleep 2
scancel --signal=USR1 "$jid"
# Slurm holds a requeued job for two minutes (its fixed requeue delay); as an operator may, let it start now.
for _ in $(seq 600); do
  [ "$(job_field "$jid" Restarts)" = 1 ] && [ "$(job_field "$jid" JobState)" = PENDING ] && break
  sleep 0.1
done
[ "$(job_field "$jid" Restarts)" = 1 ] || { cat "$log"; fail "job $jid was not requeued"; }
# ...once the first run's step daemons have exited (what the delay is for: a step of the same
# id started before then cannot bind its PMIx socket).
for _ in $(seq 600); do pgrep -f "slurmstepd: \[$jid\." >/dev/null || break; sleep 0.1; done
! pgrep -f "slurmstepd: \[$jid\." >/dev/null || fail "the first run of job $jid did not end"
# slurmd compares credential times in whole seconds: a restart within the second in which the
# first run's credential was revoked is refused ("Job credential revoked", seen once in CI).
sleep 2
scontrol update JobId="$jid" StartTime=now
for _ in $(seq 1800); do
  state=$(job_field "$jid" JobState)
  case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  sleep 0.1
done
[ "$state" = COMPLETED ] || { cat "$log"; fail "the requeued job ended $state"; }
grep -q "stopped on SIGUSR1 .* after step" "$log" || { cat "$log"; fail "train did not stop at a step on USR1"; }
grep -q "requeueing job $jid" "$log" || { cat "$log"; fail "the script did not requeue the job"; }
grep -q "train (resuming)" "$log" || { cat "$log"; fail "the requeued job did not resume train"; }
grep -q "restart 1" "$log" || fail "no second run of job $jid in its log"
same_outputs "$out/np2" "$out/requeue" "2 tasks stopped by USR1 in train, requeued and resumed" same-weights

# 4. A job array over K, collected into one table.
"$bin" submit jobs/eyes.ini --workdir "$out/sweep" --tasks-per-node 1 --time 00:10:00 --stages cluster \
  --set cluster.samples=12 --sweep cluster.clusters=4,6 --wait > "$out/sweep.submit.log" 2>&1 \
  || { cat "$out/sweep.submit.log" "$out"/sweep/slurm-*.out; fail "the sweep array failed"; }
grep -q "^#SBATCH --array=0-1" "$out/sweep/submit.sbatch" || fail "the sweep is not a 2-task array"
[ -f "$out/sweep/sweep.md" ] && [ -f "$out/sweep/sweep.png" ] && [ -f "$out/sweep/sweep.csv" ] || fail "no sweep table"
[ "$(grep -c '^| [46] |' "$out/sweep/sweep.md")" = 2 ] || { cat "$out/sweep/sweep.md"; fail "the table lacks a row per K"; }
/usr/bin/python3 - "$out/sweep/sweep.csv" <<'EOF' || fail "the sweep table is wrong"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["clusters"] for r in rows] == ["4", "6"], rows
for r in rows:
    shares = [float(s.split(":")[1].rstrip("%")) for s in r["pixel_shares"].split()]
    assert len(shares) == int(r["clusters"]) and abs(sum(shares) - 100) < 0.5 and shares == sorted(shares, reverse=True), r
assert float(rows[1]["inertia_per_vector"]) < float(rows[0]["inertia_per_vector"]), rows  # more clusters, tighter
EOF
echo "slurm_jobs.sh: the sweep array wrote one table of both K"

# 5. A failing step fails the job, and its log says why.
code=0
sbatch --wait --output="$out/bad.out" slurm/cluster.sbatch jobs/eyes.ini --out "$out/bad/clusters.h5" --clusters 0 >/dev/null || code=$?
[ "$code" != 0 ] || fail "a job whose step failed exited 0"
grep -q -- "--clusters" "$out/bad.out" || { cat "$out/bad.out"; fail "the failed job's log does not name the bad option"; }
echo "slurm_jobs.sh: ok"
