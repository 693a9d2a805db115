#!/usr/bin/env bash
# A tiny version of jobs/eyes.ini end to end through `styleseg run` (no quality bar):
#   1. on 2 ranks, training its own generator for a few steps: every artefact exists and the
#      report renders in headless Chromium (skipped without chromium, failed under CI=true);
#   2. again: every stage is up to date, nothing is rewritten;
#   3. one changed option redoes the stages that depend on it and no other;
#   4. as one process with the carried generator, the same job as on 2 ranks gives the
#      same clusters and the same scores.
#   run_job.sh STYLESEG_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
bin=$1; src=$2; out=$3
rm -rf "$out"; mkdir -p "$out"
cd "$src"
mpirun_cmd=(mpirun --oversubscribe -np 2)
[ "$(id -u)" = 0 ] && mpirun_cmd=(mpirun --allow-run-as-root --oversubscribe -np 2)
tiny=(--set make-real-train.count=48 --set make-real-labelled.count=8 --set make-real-test.count=12
      --set cluster.samples=12 --set cluster.clusters=6 --set synthesize.count=48 --set train.steps=6
      --set train.batch=8 --set train.val-count=8 --set train.val-every=6)
fail() { echo "run_job.sh: $*" >&2; exit 1; }

# 1. Two ranks, its own generator (train-gan for 4 steps).
OMP_NUM_THREADS=1 "${mpirun_cmd[@]}" "$bin" run jobs/eyes.ini --workdir "$out/np2" --threads 1 --generator "" \
  "${tiny[@]}" --set train-gan.steps=4 --set train-gan.checkpoint-every=4 > "$out/np2.log" 2>&1 \
  || { cat "$out/np2.log"; fail "the job failed on 2 ranks"; }
for f in real/train.h5 real/labelled/images real/labelled/masks real/test/images real/test/masks gan.pt clusters.h5 \
         clusters.png synthetic.h5 synthetic.png seg.pt seg.curves.png pred/labelled pred/test mapping.txt map.json \
         evaluation.json confusion.png supervised.pt supervised.curves.png pred/supervised evaluation-supervised.json \
         confusion-supervised.png report.html report-inertia.png report-predictions.png; do
  [ -e "$out/np2/$f" ] || fail "missing artefact $out/np2/$f"
done
stages=$(ls "$out/np2/records"/*.json | wc -l)
[ "$stages" = 14 ] || fail "expected 14 stage records, found $stages"
grep -q "mIoU" "$out/np2/report.html" || fail "the report has no scores"
[ "$(grep -c 'data:image/png;base64,' "$out/np2/report.html")" -ge 10 ] || fail "the report embeds fewer than 10 pictures"

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  tools/render_report.sh "$out/np2/report.html" "$out/report.png" 3000
  # A blank or broken page compresses to a few kB; the rendered report with its pictures is far larger.
  size=$(stat -c %s "$out/report.png")
  [ "$size" -gt 100000 ] || fail "the screenshot is $size bytes: the report did not render its pictures"
elif [ "${CI:-}" = true ]; then
  fail "chromium is missing (tools/setup.sh installs it): cannot check that the report renders"
else
  echo "run_job.sh: no chromium: the rendering check is skipped"
fi

# 2. Again: all up to date, no output rewritten.
before=$(stat -c %Y "$out/np2/seg.pt")
"$bin" run jobs/eyes.ini --workdir "$out/np2" --generator "" "${tiny[@]}" --set train-gan.steps=4 \
  --set train-gan.checkpoint-every=4 > "$out/again.log" 2>&1 || { cat "$out/again.log"; fail "the second run failed"; }
[ "$(grep -c 'up to date' "$out/again.log")" = 14 ] || { cat "$out/again.log"; fail "a stage ran again"; }
[ "$(stat -c %Y "$out/np2/seg.pt")" = "$before" ] || fail "seg.pt was rewritten"

# 3. A changed segmenter option: train and what follows it; real data, generator, clusters untouched.
"$bin" run jobs/eyes.ini --workdir "$out/np2" --generator "" "${tiny[@]}" --set train-gan.steps=4 \
  --set train-gan.checkpoint-every=4 --set train.steps=8 > "$out/changed.log" 2>&1 || { cat "$out/changed.log"; fail "run 3 failed"; }
for s in make-real-train make-real-labelled make-real-test train-gan cluster synthesize; do
  grep -q "\] $s: up to date" "$out/changed.log" || { cat "$out/changed.log"; fail "$s ran again after a change to [train]"; }
done
for s in train supervised; do
  grep -q "\] $s: done" "$out/changed.log" || { cat "$out/changed.log"; fail "$s did not run after a change to [train]"; }
done

# 4. The carried generator on 1 process and on 2 ranks: same clusters, same scores.
for np in 1 2; do
  launcher=()
  [ $np = 2 ] && launcher=("${mpirun_cmd[@]}")
  OMP_NUM_THREADS=1 "${launcher[@]}" "$bin" run jobs/eyes.ini --workdir "$out/carried$np" --threads 1 "${tiny[@]}" \
    --stages make-real-train make-real-labelled make-real-test cluster synthesize train segment-labelled map segment-test evaluate \
    > "$out/carried$np.log" 2>&1 || { cat "$out/carried$np.log"; fail "the job with the carried generator failed on $np rank(s)"; }
done
cmp <(h5dump -d /centroids "$out/carried1/clusters.h5" | tail -n +3) <(h5dump -d /centroids "$out/carried2/clusters.h5" | tail -n +3) \
  || fail "1 process and 2 ranks found different centroids"
m1=$(grep -o '"mean_iou": [0-9.e-]*' "$out/carried1/evaluation.json")
m2=$(grep -o '"mean_iou": [0-9.e-]*' "$out/carried2/evaluation.json")
[ "$m1" = "$m2" ] || fail "1 process ($m1) and 2 ranks ($m2) scored differently"
echo "run_job.sh: ok"
