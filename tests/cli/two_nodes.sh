#!/usr/bin/env bash
# two_nodes.sh STYLESEG SOURCE_DIR OUT: two "nodes" on one machine. Two network namespaces
# joined by a veth pair, each with its own processes (mpirun in A starts its daemon in B
# through an rsh agent that enters B's namespace, with B's own host name), MPI over TCP on
# the veth link only, sharing the work folder as nodes share a parallel file system.
#   1. the tiny eye job (carried generator) on 2 nodes x 1 rank gives the centroids and the
#      scores of one process;
#   2. every process of node B killed (kill -9) during train: every rank exits non-zero, in
#      seconds; the job then resumes on node A alone (finished stages up to date, train from
#      its last checkpoint: nothing lost) and ends with the one-process scores;
#   3. the link cut (ip link set ... down) during train: the same. The mechanism that fires
#      is OpenMPI's daemon keepalive (--mca oob_tcp_keepalive_*: 3 s, then 2 probes 1 s
#      apart); styleseg's collective watchdog (STYLESEG_COMM_TIMEOUT, 20 s here) is the
#      fallback for a stall that does not break a connection.
# Skipped (77) where network namespaces cannot be made (no root, no CAP_NET_ADMIN).
set -u
bin=$1; src=$2; out=$3
rm -rf "$out" && mkdir -p "$out"
cd "$src"
A=ssa$$ B=ssb$$   # short: interface names (NS + "v") have at most 15 characters
net=10.$((RANDOM % 200 + 20)).$((RANDOM % 250))
cleanup() {
  for ns in $A $B; do ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del $ns 2>/dev/null; done
}
trap cleanup EXIT
if ! { ip netns add $A && ip netns add $B && ip link add ${A}v type veth peer name ${B}v; } 2>/dev/null; then
  echo "skipped: network namespaces cannot be made here (needs root with CAP_NET_ADMIN)"; exit 77
fi
ip link set ${A}v netns $A && ip link set ${B}v netns $B
ip -n $A addr add $net.1/24 dev ${A}v && ip -n $B addr add $net.2/24 dev ${B}v
for ns in $A $B; do ip -n $ns link set lo up && ip -n $ns link set ${ns}v up; done
printf '%s.1 slots=1\n%s.2 slots=1\n' $net $net >"$out/hosts"
cat >"$out/agent.sh" <<EOF
#!/bin/sh
# OpenMPI's rsh agent: "agent HOST COMMAND..." runs COMMAND on "node" B, its own host name.
shift
exec ip netns exec $B unshare --uts sh -c "hostname nodeb; \$*"
EOF
chmod +x "$out/agent.sh"
two_nodes=(ip netns exec $A mpirun --allow-run-as-root --hostfile "$out/hosts" -np 2 --mca plm_rsh_agent "$out/agent.sh"
  --mca oob_tcp_if_include $net.0/24 --mca btl tcp,self --mca btl_tcp_if_include $net.0/24
  --mca oob_tcp_keepalive_time 3 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 2
  -x STYLESEG_COMM_TIMEOUT=20 -x OMP_NUM_THREADS=1)
job=(run jobs/eyes.ini --threads 1 --set make-real-train.count=48 --set make-real-labelled.count=8
  --set make-real-test.count=12 --set cluster.samples=12 --set cluster.clusters=6 --set synthesize.count=48
  --set train.steps=60 --set train.batch=8 --set train.val-count=8 --set train.val-every=60 --set train.checkpoint-every=5
  --stages make-real-train make-real-labelled make-real-test cluster synthesize train segment-labelled map
  segment-test evaluate)
fails=0
fail() { echo "FAILED: $*"; fails=$((fails + 1)); }
score() { grep -o '"mean_iou": [0-9.e-]*' "$1/evaluation.json" 2>/dev/null; }
centroids() { h5dump -d /centroids "$1/clusters.h5" | tail -n +3; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- 1. one process, and 2 nodes x 1 rank ----
OMP_NUM_THREADS=1 "$bin" "${job[@]}" --workdir "$out/one" >"$out/one.log" 2>&1 || { tail -5 "$out/one.log"; fail "the job on one process"; }
"${two_nodes[@]}" "$bin" "${job[@]}" --workdir "$out/two" >"$out/two.log" 2>&1 || { tail -5 "$out/two.log"; fail "the job on 2 nodes"; }
grep -q "on 2 rank" "$out/two.log" || true
if [ -n "$(score "$out/one")" ] && [ "$(score "$out/one")" = "$(score "$out/two")" ] && cmp -s <(centroids "$out/one") <(centroids "$out/two"); then
  echo "ok: 2 nodes x 1 rank: the centroids and scores of one process ($(score "$out/two"))"
else
  fail "2 nodes: $(score "$out/two"), one process: $(score "$out/one")"
fi

# fault NAME ACTION: the 2-node job, ACTION during train, every rank gone, then node A alone.
fault() {
  local name=$1 action=$2 work="$out/$1" log="$out/$1.log"
  "${two_nodes[@]}" "$bin" "${job[@]}" --workdir "$work" >"$log" 2>&1 &
  local launcher=$!
  # During train, once it has saved a checkpoint (every 5 steps): what a resume continues.
  for _ in $(seq 900); do [ -e "$work/seg.checkpoint.pt" ] && break; sleep 0.1; done
  sleep 1
  local t0
  t0=$(now)
  eval "$action"
  wait $launcher
  local code=$? gone=""
  for _ in $(seq 600); do
    [ -z "$(pgrep -f -- "--workdir $work( |$)")" ] && [ -z "$(ip netns pids $B)" ] && { gone=$(since "$t0"); break; }
    sleep 0.1
  done
  ip -n $A link set ${A}v up
  if [ $code -ne 0 ] && [ -n "$gone" ] && awk -v s="$gone" 'BEGIN { exit !(s <= 30) }'; then
    echo "ok: $name during train: mpirun exit $code, every process of both nodes gone after $gone s"
  else
    fail "$name: exit $code, processes gone after '${gone:-never}' s"
  fi
  ip netns exec $A env OMP_NUM_THREADS=1 "$bin" "${job[@]}" --workdir "$work" >"$work.resume.log" 2>&1 ||
    { tail -5 "$work.resume.log"; fail "$name: the resume on node A alone failed"; return; }
  local kept resumed
  kept=$(grep -c ": up to date" "$work.resume.log")
  resumed=$(grep -o "resuming from .* at step [0-9]*" "$work.resume.log" | grep -o "step [0-9]*")
  if [ "$kept" -ge 5 ] && [ -n "$resumed" ] && [ "$(score "$work")" = "$(score "$out/one")" ]; then
    echo "ok: $name: resumed on node A alone from train's checkpoint ($resumed), $kept stages kept as they were, scores of one process ($(score "$work"))"
  else
    fail "$name: resumed (${resumed:-train not resumed}) with $kept stages up to date, $(score "$work") against $(score "$out/one")"
  fi
}
fault node_b_killed 'ip netns pids $B | xargs -r kill -9'
fault link_cut 'ip -n $A link set ${A}v down'

[ $fails -eq 0 ] && echo "two nodes: all cases hold" || { echo "two nodes: $fails case(s) failed"; exit 1; }
