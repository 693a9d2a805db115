#!/usr/bin/env bash
# embed_parity.sh OUT_DIR MPIRUN...: `styleseg embed` on the reference CLIP fixtures (ResNet
# and ViT towers) at 1 and 2 ranks: tokens exact, text and image embeddings and logits
# within max(10 x relerr_f32_vs_f64, 1e-5) of openai/CLIP, dense maps of the right shape,
# the ViT's dense map equal to the reference's projected patch tokens; a prompt too long
# without --truncate is an error naming it. Run through with_fixtures.sh ($FIXTURES).
set -euo pipefail
out=$1; shift
mkdir -p "$out"
PY=/usr/bin/python3
vocab=$FIXTURES/clip/bpe_simple_vocab_16e6.txt.gz
for tower in clip clip_vit; do
  $PY - "$FIXTURES/$tower/expected.h5" "$out/prompts.json" <<'PYEOF'
import h5py, json, sys
f = h5py.File(sys.argv[1], "r")
json.dump([p.decode() for p in f["prompts"]], open(sys.argv[2], "w"))
PYEOF
  stride=8; [ $tower = clip_vit ] && stride=16
  for np in 1 2; do
    "$@" $np "$STYLESEG_BIN" embed --clip "$FIXTURES/$tower/model.pt" --vocab "$vocab" --texts "$out/prompts.json" --truncate \
      --images "$FIXTURES/$tower/expected.h5" --dataset image_input --dense --output-stride $stride --batch 1 \
      --out "$out/${tower}_np$np.h5" --force --threads 1
  done
  $PY - "$FIXTURES/$tower/expected.h5" "$out/${tower}_np1.h5" "$out/${tower}_np2.h5" $tower <<'PYEOF'
import h5py, numpy as np, sys
e = h5py.File(sys.argv[1], "r")
tower = sys.argv[4]
for path in sys.argv[2:4]:
    a = h5py.File(path, "r")
    assert (a["tokens"][()] == e["tokens"][()]).all(), f"{path}: tokens differ"
    for ours, ref in [("text_embeddings", "encode_text"), ("image_embeddings", "encode_image"), ("logits", "logits_per_image")]:
        x, y = a[ours][()], e[ref][()]
        err = np.linalg.norm(x - y) / np.linalg.norm(y)
        tol = max(10 * e[ref].attrs["relerr_f32_vs_f64"], 1e-5)
        assert err <= tol, f"{path}: {ours} relative error {err:.2e} > {tol:.2e}"
        print(f"{path}: {ours} relative error {err:.2e} (tolerance {tol:.2e})")
    dense = a["dense_embeddings"][()]
    b, n_e = e["encode_image"].shape
    r = e["image_input"].shape[-1]
    stride = int(a.attrs["output_stride"])
    assert dense.shape == (b, n_e, r // stride, r // stride), f"{path}: dense shape {dense.shape}"
    if tower == "clip_vit":
        g = r // stride
        ref = e["visual_tokens_projected"][()][:, 1:, :].transpose(0, 2, 1).reshape(b, n_e, g, g)
        err = np.linalg.norm(dense - ref) / np.linalg.norm(ref)
        assert err <= 1e-5, f"{path}: dense ViT embeddings relative error {err:.2e}"
one, two = h5py.File(sys.argv[2], "r"), h5py.File(sys.argv[3], "r")
for name in ["image_embeddings", "dense_embeddings", "logits"]:
    assert np.array_equal(one[name][()], two[name][()]), f"{name}: 1 and 2 ranks differ"
print(tower, "matches the reference at 1 and 2 ranks")
PYEOF
done

# A prompt longer than the context, without --truncate: an error that names it.
$PY -c "import json,sys; json.dump(['a short one', 'word ' * 100], open(sys.argv[1], 'w'))" "$out/long.json"
set +e
msg=$("$STYLESEG_BIN" embed --clip "$FIXTURES/clip/model.pt" --vocab "$vocab" --texts "$out/long.json" --out "$out/long.h5" --force 2>&1)
code=$?
set -e
echo "$msg"
[ $code -eq 2 ] || { echo "expected exit 2 for a too-long prompt, got $code"; exit 1; }
[[ $msg == *"word word"* && $msg == *"--truncate"* ]] || { echo "the error does not name the prompt and --truncate"; exit 1; }
[ ! -e "$out/long.h5" ] || { echo "a failed embed left $out/long.h5"; exit 1; }
echo "embed parity ok"
