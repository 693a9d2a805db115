#!/usr/bin/env bash
# run_named_job.sh OUT_DIR GENERATOR MPIRUN...: jobs/ffhq.ini with name = true (the CLIP model
# and merges from the fixtures, toy sizes) on 2 ranks, stages cluster, name, synthesize:
# the named copy of the clusters, the class map, and a synthetic dataset whose classes are
# the names, and a report showing them; a second run is all up to date; a [name] section without name = true is an
# error naming it. Run through with_fixtures.sh ($FIXTURES).
set -euo pipefail
out=$1; generator=$2; shift 2
rm -rf "$out"; mkdir -p "$out"
cd "$STYLESEG_SOURCE_DIR"
args=(run jobs/ffhq.ini --workdir "$out/w" --generator "$generator" --name --stages cluster name synthesize
      --set features.feature-layer=3 --set features.feature-size=0 --set cluster.samples=6 --set cluster.clusters=4
      --set cluster.iterations=3 --set cluster.algorithm=lloyd --set synthesize.count=6 --set synthesize.size=32
      --set "name.clip=$FIXTURES/clip/model.pt" --set "name.vocab=$FIXTURES/clip/bpe_simple_vocab_16e6.txt.gz"
      --set name.prompts=hair,skin,eyes,background --set name.samples=6 --set name.batch=3 --threads 1)
"$@" 2 "$STYLESEG_BIN" "${args[@]}" > "$out/first.log" 2>&1 || { cat "$out/first.log"; echo "the named job failed"; exit 1; }
for f in named-clusters.h5 classes.txt named.png synthetic.h5; do
  [ -s "$out/w/$f" ] || { cat "$out/first.log"; echo "no $f"; exit 1; }
done
/usr/bin/python3 - "$out/w" <<'PYEOF'
import h5py, json, sys
w = sys.argv[1]
names = json.loads(h5py.File(f"{w}/named-clusters.h5", "r").attrs["names"])
assert "names" not in h5py.File(f"{w}/clusters.h5", "r").attrs, "the cluster stage's own file was rewritten"
classes = json.loads(h5py.File(f"{w}/synthetic.h5", "r").attrs["classes"])
expected = list(dict.fromkeys(n for n in names if n))
assert classes == expected, (classes, names)
print("names", names, "-> classes", classes)
PYEOF
grep -q "Named by CLIP" "$out/w/report.html" && grep -q "CLIP's choice" "$out/w/report.html" \
  || { echo "the report does not show the names"; exit 1; }
"$@" 2 "$STYLESEG_BIN" "${args[@]}" > "$out/again.log" 2>&1 || { cat "$out/again.log"; exit 1; }
[ "$(grep -c 'up to date' "$out/again.log")" = 3 ] || { cat "$out/again.log"; echo "a stage ran again"; exit 1; }
set +e
msg=$("$STYLESEG_BIN" run jobs/ffhq.ini --workdir "$out/w2" --generator "$generator" --set name.samples=4 2>&1)
code=$?
set -e
[ $code -eq 2 ] && [[ $msg == *"[name] samples"*"name = true"* ]] || { echo "$msg"; echo "expected a ConfigError about [name]"; exit 1; }
echo "named job ok"
