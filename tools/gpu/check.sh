#!/usr/bin/env bash
# shellcheck disable=SC2317  # the step_* functions run through `bash -c` (exported)
# Checks styleseg on a machine with an NVIDIA GPU, PyTorch 2.x (python3 with torch), CUDA,
# CMake and a C++ compiler, but no package registry. Run from the repository root there,
# with .gpu-debs/ carried (made here by tools/gpu/bundle_debs.sh, where apt works):
#
#   tools/gpu/check.sh                      results in $OUT (default ./gpu-out)
#   tools/gpu/check.sh --configure-only     only unpack, probe and configure (tries the bundle
#                                           on a machine without a GPU)
#
# The parity tests read STYLESEG_FIXTURES, else .gpu-fixtures/ when it came along (they skip
# without the fixtures), and run their models on the GPU (STYLESEG_TEST_DEVICE=cuda).
# Everything within STYLESEG_GPU_BUDGET seconds of wall time (default 540), each step under
# its own `timeout` (so one hang does not eat the budget), in this order:
#   unpack          .gpu-debs/ into .gpu-deps/ (tools/gpu/bundle_debs.sh --unpack)
#   probe           GPUs, PyTorch, CUDA, NCCL, compiler, CMake
#   configure       tools/build.sh --configure-only (BUILD_DIR=build-gpu) against PyTorch's
#                   LibTorch (torch.utils.cmake_prefix_path) and .gpu-deps/usr; the NCCL backend
#                   ON when NCCL is found (PyTorch's wheel ships it: site-packages/nvidia/nccl)
#   build           styleseg and the benchmarks, all cores (going on past a target that fails)
#   check-comm-mpi  every collective on 2 CPU ranks (the relocated OpenMPI)
#   check-comm-nccl every collective with NCCL: 1 rank, or one rank per GPU
#   bench-generator build/bench_generator on the GPU, float32 and bfloat16 (the GPU to itself)
#   bench-clip      build/bench_clip on the GPU, float32 and bfloat16 (likewise)
#   make-eyes       the eye job's training split at 128x128 (20,000 images; one rank per core)
#   train-gan       in the background for the time left (--time-limit): 30 s at batch 64, then
#                   the eye job's generator, train-gan --preset gpu128, batch 32, each with its
#                   time per phase
#                   (--phase-times); then its g_ema alone in float16
#                   (init-gan --dtype float16), the file jobs/eyes.ini carries
#   build-tests     the unit tests, beside train-gan (all cores but two)
#   unit-tests      every unit test (ctest): the generator and CLIP parity tests (float32 with
#                   the fixtures' rule, bfloat16 within 0.05) on the GPU, the others on the CPU
#                   against PyTorch 2.x's LibTorch
#   bench-train     styleseg train on the GPU beside train-gan, float32 and bfloat16, 40 steps
#                   each with the settings of tools/bench/bench_train.sh (batch 16, flips only;
#                   that script itself compares CPU training with Python's: not run here)
# A step that fails or runs out of time is recorded and the next one runs (a step that needs
# a failed one is skipped). Written to $OUT: summary.md (each step's status and time, the
# results), logs.txt (the end of each step's log), eyes.png, train-gan's last sample grid,
# curves and losses, and eyes128-gpu.pt (g_ema, float16; the checkpoint with the optimiser
# states stays in the work folder $STYLESEG_GPU_WORK, default out/gpu-check/). Exit code 1 when
# any step failed or was skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
export ROOT=$PWD
CONFIGURE_ONLY=0
[ "${1:-}" != --configure-only ] || CONFIGURE_ONLY=1
export CONFIGURE_ONLY

export OUT=${OUT:-$ROOT/gpu-out}
BUILD_DIR=${BUILD_DIR:-build-gpu}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
export BUILD_DIR
export WORK=${STYLESEG_GPU_WORK:-$ROOT/out/gpu-check}
export DEPS=$ROOT/.gpu-deps
export PYTHON=${PYTHON:-python3}
BUDGET=${STYLESEG_GPU_BUDGET:-540}
RESERVE=20                      # seconds kept for the summary and the copies at the end
START=$(date +%s)
mkdir -p "$OUT" "$WORK"
SUMMARY=$OUT/summary.md
LOGS=$OUT/logs.txt
: > "$LOGS"
rows=()
results=()
failed=0

left() { echo $((BUDGET - ($(date +%s) - START))); }
result() { results+=("$@"); }

write_summary() {
  {
    echo "# styleseg GPU check (tools/gpu/check.sh)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname), ${JOBS:-?} cores; budget ${BUDGET} s, $(($(date +%s) - START)) s used."
    echo "GPU: ${GPU_NAMES:-?}. PyTorch ${TORCH_VERSION:-?} (CUDA ${TORCH_CUDA:-?}), NCCL: ${NCCL_LIBRARY:-not found}."
    echo
    echo "| step | status | seconds |"
    echo "|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    printf '%s\n' "${results[@]}"
  } > "$SUMMARY"
}

# record NAME STATUS SECONDS [LOG]: a row of the table; the end of LOG goes to logs.txt.
record() {
  rows+=("| $1 | $2 | $3 |")
  case $2 in ok*) ;; *) failed=1 ;; esac
  {
    echo "===== $1: $2 ($3 s)"
    [ -z "${4:-}" ] || tail -n 150 "$4"
    echo
  } >> "$LOGS"
  write_summary
}

# step NAME CAP FUNCTION: runs the exported FUNCTION under `timeout`, for at most CAP seconds
# and never past the budget; its output goes to $WORK/NAME.log. Returns its exit code.
step() {
  local name=$1 cap=$2 fn=$3 limit t0 rc status log=$WORK/$1.log
  limit=$(($(left) - RESERVE))
  [ "$cap" -ge "$limit" ] || limit=$cap
  if [ "$limit" -lt 5 ]; then
    record "$name" "skipped: no time left" 0
    return 1
  fi
  t0=$(date +%s)
  timeout -k 15 "$limit" bash -c "$fn" > "$log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status="TIMEOUT (limit $limit s)" ;;
    *) status="FAILED (exit $rc)" ;;
  esac
  record "$name" "$status" $(($(date +%s) - t0)) "$log"
  return "$rc"
}
skip() { record "$1" "skipped: $2" 0; }

# ---- what this machine has (PyTorch, GPUs, NCCL, CUDA) -----------------------------------
mapfile -t probe < <(timeout 120 "$PYTHON" - 2> "$WORK/python-probe.log" <<'EOF'
import os, torch
print(torch.utils.cmake_prefix_path)
print(torch.__version__)
print(torch.version.cuda or "none")
print(torch.cuda.device_count())
print(os.path.dirname(os.path.dirname(torch.__file__)))
cap = torch.cuda.get_device_capability(0) if torch.cuda.is_available() else None
print("%d.%d" % cap if cap else "")
EOF
)
export TORCH_PREFIX=${probe[0]:-} TORCH_VERSION=${probe[1]:-} TORCH_CUDA=${probe[2]:-} NGPU=${probe[3]:-0}
SITE=${probe[4]:-}
[ -z "${probe[5]:-}" ] || export TORCH_CUDA_ARCH_LIST=${probe[5]}
GPU_NAMES=$(nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | sort | uniq -c | sed 's/^ *//' | paste -sd, -)
export GPU_NAMES

NCCL_INCLUDE_DIR='' NCCL_LIBRARY=''
for root in "${NCCL_HOME:-}" "${SITE:+$SITE/nvidia/nccl}" "${SITE:+$SITE/nvidia}" /usr/local/cuda /usr; do
  if [ -z "$root" ] || [ ! -d "$root" ]; then continue; fi
  if [ "$root" = /usr ]; then
    header=$(compgen -G /usr/include/nccl.h | head -1)
    library=$(compgen -G '/usr/lib/x86_64-linux-gnu/libnccl.so*' | head -1)
  else
    header=$(find -L "$root" -maxdepth 4 -name nccl.h -print -quit 2> /dev/null)
    library=$(find -L "$root" -maxdepth 4 -name 'libnccl.so*' -print -quit 2> /dev/null)
  fi
  if [ -n "$header" ] && [ -n "$library" ]; then
    NCCL_INCLUDE_DIR=$(dirname "$header") NCCL_LIBRARY=$library
    break
  fi
done
export NCCL_INCLUDE_DIR NCCL_LIBRARY
if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

# ---- the build's settings: PyTorch's LibTorch, the Debian packages in .gpu-deps ----------------
LIBDIR=$DEPS/usr/lib/x86_64-linux-gnu
prefixes=()
[ -z "$TORCH_PREFIX" ] || prefixes+=("$TORCH_PREFIX")
[ -z "${CMAKE_PREFIX_PATH:-}" ] || prefixes+=("$CMAKE_PREFIX_PATH")
cmake_args=()
if [ -d .gpu-debs ] || [ -d "$DEPS/usr" ]; then
  prefixes+=("$DEPS/usr")
  export HDF5_ROOT=$LIBDIR/hdf5/openmpi
  export PKG_CONFIG_PATH=$LIBDIR/pkgconfig:$DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  runtime=$LIBDIR:$LIBDIR/openmpi/lib:$LIBDIR/pmix2/lib:$DEPS/lib/x86_64-linux-gnu
  # OpenMPI without its wrapper (mpicc has Debian's paths built in): FindMPI takes the headers
  # and libraries as given. The linker finds the bundled libraries' own dependencies through
  # -rpath-link; at run time LD_LIBRARY_PATH does (with_deps: Debian's libmpi has a RUNPATH of
  # /usr/lib/..., which shadows an executable's RPATH), so no program runs during the build:
  # the unit tests are listed when ctest runs them (PRE_TEST), not after linking.
  cmake_args+=(
    "-DMPI_C_HEADER_DIR=$LIBDIR/openmpi/include" "-DMPI_CXX_HEADER_DIR=$LIBDIR/openmpi/include"
    "-DMPI_C_LIB_NAMES=mpi" "-DMPI_CXX_LIB_NAMES=mpi_cxx;mpi"
    "-DMPI_mpi_LIBRARY=$LIBDIR/openmpi/lib/libmpi.so" "-DMPI_mpi_cxx_LIBRARY=$LIBDIR/openmpi/lib/libmpi_cxx.so"
    "-DMPI_SKIP_COMPILER_WRAPPER=ON" "-DMPIEXEC_EXECUTABLE=$DEPS/usr/bin/mpirun.openmpi"
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$runtime" -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST
  )
  # pkg-config: the machine's, else the bundle's with its library (CMake would otherwise take
  # .gpu-deps/usr/bin/pkg-config, found through CMAKE_PREFIX_PATH, which cannot start alone).
  pkg_config=$(command -v pkg-config || true)
  if [ -z "$pkg_config" ]; then
    mkdir -p "$WORK/bin"
    pkg_config=$WORK/bin/pkg-config
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$LIBDIR" "$DEPS/usr/bin/pkgconf" > "$pkg_config"
    chmod +x "$pkg_config"
  fi
  cmake_args+=("-DPKG_CONFIG_EXECUTABLE=$pkg_config")
  # For the programs that run (mpirun, orted, styleseg): the bundle's libraries, and OpenMPI
  # and PMIx relocated from /usr to .gpu-deps/usr.
  export RUN_LD_LIBRARY_PATH=$runtime${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export OPAL_PREFIX=$DEPS/usr
  export PMIX_MCA_mca_base_component_path=$LIBDIR/pmix2/lib/pmix
  export PATH=$PATH:$DEPS/usr/bin
  export MPIRUN=$DEPS/usr/bin/mpirun.openmpi
else
  export MPIRUN=${MPIRUN:-mpirun}
fi
CMAKE_PREFIX_PATH=$(IFS=:; echo "${prefixes[*]}")
export CMAKE_PREFIX_PATH
if [ -n "$NCCL_LIBRARY" ]; then
  cmake_args+=(-DSTYLESEG_NCCL=ON "-DNCCL_INCLUDE_DIR=$NCCL_INCLUDE_DIR" "-DNCCL_LIBRARY=$NCCL_LIBRARY")
fi
export CMAKE_ARGS="${cmake_args[*]} ${CMAKE_ARGS:-}"
[ -f "$BUILD_DIR/CMakeCache.txt" ] || ! command -v ninja > /dev/null || export CMAKE_GENERATOR=Ninja
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One machine: mpirun starts its ranks itself (the default would look for ssh), more ranks than
# cores allowed, no single-copy shared memory (containers often forbid process_vm_readv).
export OMPI_MCA_plm=isolated OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export BIN=$BUILD_DIR/styleseg
JOBS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   # nproc obeys OMP_NUM_THREADS
export JOBS
RANKS=$((JOBS < 8 ? JOBS : 8))
export RANKS

# Every step runs in `bash -c`: what it uses is exported.
with_deps() { LD_LIBRARY_PATH=${RUN_LD_LIBRARY_PATH:-${LD_LIBRARY_PATH:-}} "$@"; }

step_unpack() { set -e; tools/gpu/bundle_debs.sh --unpack; }
step_probe() {
  nvidia-smi || echo "no nvidia-smi"
  cat "$WORK/python-probe.log"
  echo "torch $TORCH_VERSION, CUDA $TORCH_CUDA, $NGPU GPU(s), cmake prefix $TORCH_PREFIX"
  echo "NCCL: ${NCCL_LIBRARY:-not found} (${NCCL_INCLUDE_DIR:-})"
  cmake --version | head -1
  "${CXX:-c++}" --version | head -1
  nvcc --version | tail -2 || echo "no nvcc"
  command -v ninja || echo "no ninja: make"
  echo "CMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH"
  echo "CMAKE_ARGS=$CMAKE_ARGS"
  # LibTorch: PyTorch's, or a Torch_DIR given; a GPU, unless only configuring.
  { [ -d "$TORCH_PREFIX" ] || [ -n "${Torch_DIR:-}" ]; } && { [ "$NGPU" -gt 0 ] || [ "$CONFIGURE_ONLY" -eq 1 ]; }
}
step_configure() {
  set -e
  tools/build.sh --configure-only
  grep -E '^(Torch_DIR|CMAKE_PREFIX_PATH|HDF5_C_INCLUDE_DIR|HDF5_IS_PARALLEL|MPI_C_HEADER_DIR|MPI_mpi_LIBRARY|MPIEXEC_EXECUTABLE|Boost_DIR|boost_program_options_DIR|spdlog_DIR|GTest_DIR|nlohmann_json_DIR|ZLIB_LIBRARY_RELEASE|PCRE2_LINK_LIBRARIES|STB_INCLUDE_DIR|NCCL_LIBRARY|STYLESEG_NCCL|CUDAToolkit_NVCC_EXECUTABLE|CMAKE_CXX_COMPILER):' \
    "$BUILD_DIR/CMakeCache.txt"
}
# Two builds, each going on past a failing target: what the GPU steps run first (styleseg and
# the benchmarks, all cores), then the unit tests beside train-gan (two cores left to it).
build_targets() {
  local keep_going=(-k)
  ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$BUILD_DIR/CMakeCache.txt" || keep_going=(-k 0)
  tools/build.sh --target "$@" -- "${keep_going[@]}"
}
step_build() { build_targets styleseg bench_generator bench_clip; }
step_build_tests() { JOBS=$((JOBS > 4 ? JOBS - 2 : JOBS)) build_targets styleseg_unit_tests; }
step_unit_tests() {
  # The parity tests (generator and CLIP, float32 and bfloat16) run their models on the GPU
  # (STYLESEG_TEST_DEVICE) against the fixtures, when they came along as .gpu-fixtures/
  # (`cp -r ../shared/fixtures/{stylegan2_*,clip_vit} .gpu-fixtures/` here; git-ignored);
  # without them they skip (CI='': CI=true would make that a failure).
  local device=cpu fixtures=${STYLESEG_FIXTURES:-}
  [ "${NGPU:-0}" -gt 0 ] && device=cuda
  [ -z "$fixtures" ] && [ -d "$ROOT/.gpu-fixtures" ] && fixtures=$ROOT/.gpu-fixtures
  cd "$BUILD_DIR" && OMP_NUM_THREADS=1 CI='' STYLESEG_TEST_DEVICE=$device STYLESEG_FIXTURES=$fixtures \
    with_deps ctest -j "$((JOBS > 4 ? JOBS - 2 : JOBS))" -E '^(mpi|cli|slurm|fuzz_replay)\.' --timeout 140 --output-on-failure
}
step_check_comm_mpi() { with_deps "$MPIRUN" -np 2 "$BIN" check-comm --backend mpi --megabytes 16; }
step_check_comm_nccl() {
  if [ "$NGPU" -gt 1 ]; then
    with_deps "$MPIRUN" -np "$NGPU" "$BIN" check-comm --backend nccl --megabytes 256
  else
    with_deps "$BIN" check-comm --backend nccl --megabytes 256
  fi
}
step_bench_generator() { with_deps "$BUILD_DIR/bench_generator" --devices cuda --iterations 3; }
step_bench_clip() { with_deps "$BUILD_DIR/bench_clip" --devices cuda --batches 1,32 --iterations 2; }
# The eye job's training split at 128x128 (jobs/eyes.ini: seed 1, first index 0): train-gan's
# images, and the images of the segmenter benchmark.
step_make_eyes() {
  with_deps "$MPIRUN" -np "$JOBS" "$BIN" make-eyes --out "$WORK/eyes128.h5" --count "$GAN_IMAGES" --size 128 --seed 1 \
    --first-index 0 --grid "$WORK/eyes.png" --backend mpi --threads 1 --force
}
step_bench_train() {
  set -e
  local common=(--data "$WORK/eyes128.h5" --batch 16 --device cuda --checkpoint-every 100000 --scale-min 1
    --scale-max 1 --brightness 0 --contrast 0 --saturation 0 --blur 0 --noise 0 --steps 40 --val-count 0 --force)
  with_deps "$BIN" train "${common[@]}" --out "$WORK/bench-float32.pt" --precision float32
  with_deps "$BIN" train "${common[@]}" --out "$WORK/bench-bfloat16.pt" --precision bfloat16
}
# The default eye job's generator (preset gpu128; jobs/models/eyes128-gpu.md) for the time
# left, then its g_ema alone in float16: the file the job carries. First 30 s at batch 64:
# beside the batch-32 run's time per phase, whether a step's time grows with its images
# (compute) or not (per-step overhead), which says where to look for train-gan's speed.
step_train_gan() {
  with_deps "$BIN" train-gan --data "$WORK/eyes128.h5" --out "$WORK/gan-batch64.pt" --preset gpu128 --batch 64 \
    --steps 1000000 --time-limit 30 --checkpoint-every 1000000 --sample-every 1000000 --device cuda --phase-times --force \
    > "$WORK/train-gan-batch64.log" 2>&1
  with_deps "$BIN" train-gan --data "$WORK/eyes128.h5" --out "$WORK/gan.pt" --preset gpu128 --batch 32 \
    --steps 1000000 --time-limit "$GAN_SECONDS" --checkpoint-every 1000 --sample-every 250 --device cuda \
    --phase-times --force
  local rc=$?
  rm -f "$WORK"/gan-batch64.*
  [ "$rc" -ne 75 ] || { echo "check.sh: stopped at --time-limit (exit 75), as asked"; rc=0; }
  [ "$rc" -eq 0 ] || return "$rc"
  with_deps "$BIN" init-gan --from "$WORK/gan.pt" --out "$WORK/eyes128-gpu.pt" --dtype float16 --force
}
export -f with_deps build_targets step_unpack step_probe step_configure step_build step_build_tests step_unit_tests step_check_comm_mpi \
  step_check_comm_nccl step_bench_generator step_bench_clip step_make_eyes step_bench_train step_train_gan

# The median images/s of a `styleseg train` metrics file after its first 8 steps.
median_rate() {
  "$PYTHON" - "$1" << 'EOF'
import json, statistics, sys
rates = [r["images_per_second"] for r in map(json.loads, open(sys.argv[1])) if "images_per_second" in r and r["step"] > 8]
print("%.1f" % statistics.median(rates) if rates else "?")
EOF
}

# step_background NAME CAP FUNCTION: as `step`, in the background; `step_wait NAME` records it.
declare -A bg_pid bg_t0 bg_cap
step_background() {
  bg_t0[$1]=$(date +%s) bg_cap[$1]=$2
  timeout -k 15 "$2" bash -c "$3" > "$WORK/$1.log" 2>&1 &
  bg_pid[$1]=$!
}
step_wait() {
  local rc status
  wait "${bg_pid[$1]}"
  rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status="TIMEOUT (limit ${bg_cap[$1]} s)" ;;
    *) status="FAILED (exit $rc)" ;;
  esac
  record "$1" "$status" $(($(date +%s) - ${bg_t0[$1]})) "$WORK/$1.log"
  return "$rc"
}

# ---- the steps ---------------------------------------------------------------------------------
# The GPU benchmarks run alone on the machine; train-gan then takes the GPU for the time left,
# while the unit tests build and run beside it and the segmenter benchmark shares the GPU with it
# (its figures say so).
export GAN_IMAGES=${STYLESEG_GPU_GAN_IMAGES:-20000}
write_summary
if [ ! -d "$DEPS/usr" ] && [ -d .gpu-debs ]; then
  step unpack 120 step_unpack
fi
step probe 60 step_probe
built=0
if step configure 120 step_configure; then
  if [ "$CONFIGURE_ONLY" -eq 1 ]; then
    write_summary
    exit "$failed"
  fi
  touch "$WORK/build.stamp"
  step build 300 step_build
  # What this build made (a target that failed to build is absent or older).
  [ -z "$(find "$BIN" -newer "$WORK/build.stamp" 2> /dev/null)" ] || built=1
  if [ "$built" -eq 0 ] && [ -n "$NCCL_LIBRARY" ]; then
    # The NCCL backend is the one part compiled only here: without it the rest still runs.
    cmake -S . -B "$BUILD_DIR" -DSTYLESEG_NCCL=OFF > "$WORK/reconfigure.log" 2>&1 && step build-without-nccl 200 step_build
    [ -z "$(find "$BIN" -newer "$WORK/build.stamp" 2> /dev/null)" ] || built=1
  fi
else
  skip build "configure failed"
fi
[ "$CONFIGURE_ONLY" -eq 0 ] || exit 1

gan=0
if [ "$built" -eq 1 ]; then
  step check-comm-mpi 60 step_check_comm_mpi
  step check-comm-nccl 90 step_check_comm_nccl
  result "### check-comm" "" '```' "$(grep -hE 'collectives|allreduce|rror' "$WORK"/check-comm-*.log)" '```' ""
  step bench-generator 120 step_bench_generator
  result "### bench_generator (config-f 256x256, random weights)" "" "$(grep -E '^\||GPU' "$WORK/bench-generator.log")" ""
  step bench-clip 120 step_bench_clip
  result "### bench_clip (RN50, random weights)" "" '```' "$(grep -E 'images/s|prompts/s' "$WORK/bench-clip.log")" '```' ""
  eyes=0
  step make-eyes 150 step_make_eyes && eyes=1
  export GAN_SECONDS=$(($(left) - RESERVE - 45 - 40))  # 40: the batch-64 probe and its start
  if [ "$eyes" -eq 1 ] && [ "$GAN_SECONDS" -ge 60 ]; then
    step_background train-gan $((GAN_SECONDS + 80)) step_train_gan
    gan=1
  else
    skip train-gan "no eye images or less than 60 s left"
  fi
else
  for s in check-comm-mpi check-comm-nccl bench-generator bench-clip make-eyes train-gan; do
    skip "$s" "styleseg not built"
  done
fi

if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
  touch "$WORK/tests.stamp"
  step build-tests 240 step_build_tests
fi
if [ -n "$(find "$BUILD_DIR/tests/styleseg_unit_tests" -newer "$WORK/tests.stamp" 2> /dev/null)" ]; then
  step unit-tests 150 step_unit_tests
  result "### Unit tests (parity tests on the GPU, the others on the CPU)" "" \
    "$(grep -E 'tests passed|tests failed out of' "$WORK/unit-tests.log" | tail -1)" ""
  grep -A200 'The following tests FAILED' "$WORK/unit-tests.log" | grep -E '^\s+[0-9]+ - ' | sed 's/^\s*/- /' > "$WORK/failed-tests.txt"
  [ ! -s "$WORK/failed-tests.txt" ] || result "Failed:" "$(cat "$WORK/failed-tests.txt")" ""
  # What each failure printed (gtest's Failure blocks), for $OUT: logs.txt keeps only each step's end.
  grep -E -A6 '(Failure|error:|Exception|what\(\))' "$WORK/unit-tests.log" | grep -v 'dlopen error' | head -600 > "$WORK/unit-failures.txt"
else
  skip unit-tests "unit tests not built"
fi

if [ "${eyes:-0}" -eq 1 ]; then
  step bench-train 120 step_bench_train
  result "### styleseg train on the GPU beside train-gan (128x128 eye images, batch 16, flips only; median images/s after step 8, data path included)" "" \
    "| precision | steps | images/s |" "|---|---|---|" \
    "| float32 | 40 | $(median_rate "$WORK/bench-float32.metrics.jsonl") |" \
    "| bfloat16 | 40 | $(median_rate "$WORK/bench-bfloat16.metrics.jsonl") |" ""
fi

if [ "$gan" -eq 1 ]; then
  step_wait train-gan
  {
    echo "### train-gan --preset gpu128 (batch 32, $GAN_IMAGES images, --time-limit $GAN_SECONDS s)"
    echo
    echo '```'
    grep -E 'stopped|steps/s|step [0-9]+|wrote' "$WORK/train-gan.log" | tail -6
    grep -E 'train-gan time per step|operations per step' "$WORK/train-gan.log"
    echo "batch 64 for 30 s first:"
    grep -E 'train-gan time per step' "$WORK/train-gan-batch64.log"
    echo '```'
    [ ! -f "$WORK/gan.pt" ] || echo "Checkpoint: $WORK/gan.pt, $(du -h "$WORK/gan.pt" | cut -f1) (stays on this machine)."
    [ ! -f "$WORK/eyes128-gpu.pt" ] || echo "g_ema in float16: eyes128-gpu.pt, $(du -h "$WORK/eyes128-gpu.pt" | cut -f1), SHA-256 $(sha256sum "$WORK/eyes128-gpu.pt" | cut -d' ' -f1)."
  } > "$WORK/gan-summary.md"
  result "$(cat "$WORK/gan-summary.md")" ""
fi

# ---- into $OUT: 8 files in all --------------------------------------------------------------------
cp -f "$WORK/eyes.png" "$OUT/eyes.png" 2> /dev/null
last_grid=$(find "$WORK/gan.samples" -name 'step_*.png' 2> /dev/null | sort -V | tail -1)
[ -z "$last_grid" ] || cp -f "$last_grid" "$OUT/gan-samples.png"
for f in gan.curves.png gan.losses.csv; do
  [ ! -f "$WORK/$f" ] || cp -f "$WORK/$f" "$OUT/${f/./-}"
done
[ ! -f "$WORK/eyes128-gpu.pt" ] || cp -f "$WORK/eyes128-gpu.pt" "$OUT/"
[ ! -s "$WORK/unit-failures.txt" ] || cp -f "$WORK/unit-failures.txt" "$OUT/"
result "Files: $(find "$OUT" -maxdepth 1 -type f -printf '%f\n' | sort | paste -sd' ' -). Work folder (logs, checkpoints): $WORK."
write_summary
echo "check.sh: $(grep -c '| ok' "$SUMMARY") steps ok; $SUMMARY"
exit "$failed"
