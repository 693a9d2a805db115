#!/usr/bin/env bash
# Every job file under jobs/ is one styleseg run accepts: its sections and options are
# read by the stages' commands. The pretrained jobs (ffhq, afhq-*) and eyes-gpu run their
# cluster, synthesize and train stages at toy sizes on the carried eye generator (layer 7
# is the finest it has); eyes.ini is covered end to end by run_job.sh.
#   run_job_files.sh STYLESEG_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
bin=$1; src=$2; out=$3
rm -rf "$out"; mkdir -p "$out"
cd "$src"
for job in jobs/ffhq.ini jobs/afhq-cat.ini jobs/afhq-dog.ini jobs/eyes-gpu.ini; do
  name=$(basename "$job" .ini)
  "$bin" run "$job" --workdir "$out/$name" --generator jobs/models/eyes64-cpu.pt --stages cluster synthesize train \
    --set features.feature-layer=7 --set cluster.samples=4 --set cluster.iterations=2 --set synthesize.count=8 \
    --set train.steps=1 --set train.batch=2 --set train.val-count=0 --set train.precision=float32 > "$out/$name.log" 2>&1 \
    || { cat "$out/$name.log"; echo "run_job_files.sh: $job failed" >&2; exit 1; }
  [ -f "$out/$name/seg.pt" ] && [ -f "$out/$name/report.html" ] || { echo "run_job_files.sh: $job made no model or report" >&2; exit 1; }
done
echo "run_job_files.sh: ok"
