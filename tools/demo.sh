#!/usr/bin/env bash
# The most complete job styleseg runs today, end to end, with nothing from outside the repo:
# a freshly initialised StyleGAN2 generator, then samples with their layer features and a
# picture grid, then k-means clusters of those features with a preview, then a synthetic
# dataset of samples with their masks. Outputs go to out/demo/ (override with OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh --target styleseg
OUT=${OUT:-out/demo}
mkdir -p "$OUT"
BIN=build/styleseg
JOB=jobs/default.ini
RANKS=${RANKS:-1}
run() {
  if [ "$RANKS" -gt 1 ]; then
    mpirun -np "$RANKS" --allow-run-as-root --oversubscribe "$BIN" "$@"
  else
    "$BIN" "$@"
  fi
}
run init-gan --job "$JOB" --out "$OUT/generator.pt"
run generate --job "$JOB" --checkpoint "$OUT/generator.pt" --out "$OUT/samples.h5" --grid "$OUT/samples.png" \
  --feature-grid "$OUT/features.png" --png-dir "$OUT/samples"
run cluster --job "$JOB" --checkpoint "$OUT/generator.pt" --out "$OUT/clusters.h5" --preview "$OUT/clusters.png"
run synthesize --job "$JOB" --checkpoint "$OUT/generator.pt" --clusters "$OUT/clusters.h5" --out "$OUT/dataset.h5" \
  --grid "$OUT/dataset.png" --force
run train --job "$JOB" --data "$OUT/dataset.h5" --out "$OUT/seg.pt" --force
run segment --job "$JOB" --model "$OUT/seg.pt" --input "$OUT/samples" --out "$OUT/segmented"
"$BIN" inspect --checkpoint "$OUT/seg.pt" > "$OUT/segmenter.txt"
"$BIN" inspect "$OUT/dataset.h5" > "$OUT/dataset.txt"
"$BIN" inspect --checkpoint "$OUT/generator.pt" > "$OUT/generator.txt"
cat > "$OUT/report.md" <<REPORT
# styleseg demo report

- generator: \`$OUT/generator.pt\` (freshly initialised; architecture in \`$OUT/generator.txt\`)
- samples, latents and layer features: \`$OUT/samples.h5\` (h5dump -H to list)
- pictures: \`$OUT/samples.png\` (samples), \`$OUT/features.png\` (their layer features, 3 principal components as RGB)
- clusters of the layer's per-pixel features (k-means): \`$OUT/clusters.h5\`; picture \`$OUT/clusters.png\`
  (samples beside their cluster maps, legend with each cluster's pixel share)
- synthetic dataset (samples and their masks, one class per cluster): \`$OUT/dataset.h5\`, summary in
  \`$OUT/dataset.txt\`, picture \`$OUT/dataset.png\`
- segmenter trained on it: \`$OUT/seg.pt\` (summary with its validation mIoU in \`$OUT/segmenter.txt\`), loss
  and validation curves \`$OUT/seg.curves.png\`, per-step metrics \`$OUT/seg.metrics.jsonl\`
- the segmenter applied to the samples: masks in \`$OUT/segmented/\`, overlays in \`$OUT/segmented/overlay/\`

Job file: \`$JOB\`. Later stages (rare classes, naming, the eye domain) extend this report.
REPORT
echo
echo "demo done. Report: $OUT/report.md (pictures: $OUT/samples.png, $OUT/features.png, $OUT/clusters.png, $OUT/dataset.png,"
echo "  $OUT/seg.curves.png, $OUT/segmented/overlay/)"
grep -E "^val_miou" "$OUT/segmenter.txt" | sed 's/^/segmenter /' || true
