#!/usr/bin/env bash
# direction_eyes.sh OUT_DIR MPIRUN...: the rare-class route on the carried eye generator
# (jobs/models/eyes64-cpu.pt), on 2 ranks:
#   1. a segmenter trained briefly on procedural eyes scores the pupil's share of pixels;
#      `direction` fits a direction for it: moving along it raises the measured pupil share
#      at every step of the alpha sweep;
#   2. a direction for darkness at the eye's centre (the image-statistics scorer: a domain
#      with no model) and clusters of samples moved along it: between the unshifted samples
#      and the moved ones the cluster that grows most is among the darkest (pupil and
#      iris), by at least a fifth.
set -euo pipefail
out=$1; shift
rm -rf "$out"; mkdir -p "$out"
cd "$STYLESEG_SOURCE_DIR"
gen=jobs/models/eyes64-cpu.pt
run() { "$@" > "$out/step.log" 2>&1 || { cat "$out/step.log"; echo "direction_eyes.sh: failed: $*"; exit 1; }; }
run "$STYLESEG_BIN" make-eyes --size 64 --seed 1 --count 400 --out "$out/eyes.h5"
run "$1" "${@:2}" 2 "$STYLESEG_BIN" train --data "$out/eyes.h5" --out "$out/seg.pt" --steps 70 --batch 16 --lr 0.002 \
  --val-count 0 --seed 3 --threads 1
run "$1" "${@:2}" 2 "$STYLESEG_BIN" direction --checkpoint $gen --noise random --scorer segmenter --model "$out/seg.pt" \
  --class pupil --samples 400 --batch 32 --sweep-samples 48 --alphas 0,1,2,3 --out "$out/pupil.h5" \
  --preview "$out/pupil.png" --threads 1
[ -s "$out/pupil.png" ] || { echo "no preview"; exit 1; }
run "$1" "${@:2}" 2 "$STYLESEG_BIN" direction --checkpoint $gen --noise random --scorer darkness --box 0.35,0.35,0.65,0.65 \
  --samples 400 --batch 32 --sweep-samples 32 --out "$out/dark.h5" --threads 1
# The suggested alpha: where the scorer calls most samples positive (the paper clusters such samples).
alpha=$(/usr/bin/python3 -c "import h5py, sys; print(round(float(h5py.File(sys.argv[1], 'r').attrs['suggested_alpha']), 3))" "$out/dark.h5")
common=(--checkpoint $gen --noise random --feature-layer 7 --direction "$out/dark.h5" --threads 1)
run "$1" "${@:2}" 2 "$STYLESEG_BIN" cluster "${common[@]}" --alpha $alpha --samples 48 --clusters 8 --seed 4 --out "$out/clusters.h5"
for a in 0 $alpha; do
  run "$1" "${@:2}" 2 "$STYLESEG_BIN" assign "${common[@]}" --alpha $a --clusters "$out/clusters.h5" --count 32 --seed 9 \
    --out "$out/labels_$a.h5"
  run "$STYLESEG_BIN" generate --checkpoint $gen --noise random --direction "$out/dark.h5" --alpha $a --count 32 --seed 9 \
    --out "$out/images_$a.h5"
done
/usr/bin/python3 - "$out" $alpha <<'PYEOF'
import h5py, json, sys
import numpy as np
out, alpha = sys.argv[1], sys.argv[2]
d = h5py.File(f"{out}/pupil.h5", "r")
scores = d["sweep_score"][()]
print("pupil share along the direction:", dict(zip(d["sweep_alpha"][()].round(2), scores.round(5))))
assert all(b > a for a, b in zip(scores, scores[1:])), f"the pupil share does not rise with alpha: {scores}"
assert json.loads(d.attrs["scorer"])["class"] == "pupil"
gen = json.loads(h5py.File(f"{out}/images_{alpha}.h5", "r").attrs["options"])
assert float(gen["alpha"]) == float(alpha), "generate did not record the shift"
shares, dark = {}, {}
for a in ["0", alpha]:
    labels = h5py.File(f"{out}/labels_{a}.h5", "r")["labels"][()]
    images = h5py.File(f"{out}/images_{a}.h5", "r")["images"][()].mean(-1)  # grey [N, 64, 64]
    shares[a] = np.bincount(labels.ravel(), minlength=8) / labels.size
    f = images.shape[1] // labels.shape[1]
    big = labels.repeat(f, 1).repeat(f, 2)
    dark[a] = np.array([images[big == c].mean() if (big == c).any() else 255 for c in range(8)])
grow = shares[alpha] - shares["0"]
c = int(grow.argmax())
print("cluster shares at alpha 0:", shares["0"].round(3), f"at alpha {alpha}:", shares[alpha].round(3))
print("mean grey per cluster at alpha", alpha, dark[alpha].round(0))
print(f"cluster {c} grows most: {shares['0'][c]:.3f} -> {shares[alpha][c]:.3f}, mean grey {dark[alpha][c]:.0f} "
      f"(image mean {dark[alpha].mean():.0f}, darkest cluster {dark[alpha].min():.0f})")
assert shares[alpha][c] >= 1.2 * shares["0"][c], "no cluster follows the attribute"
assert dark[alpha][c] <= np.sort(dark[alpha])[2], "the growing cluster is not among the three darkest (pupil and iris are)"
PYEOF
echo "direction eyes ok"
