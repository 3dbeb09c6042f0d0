#!/usr/bin/env bash
# One device call: build, GPU tests, our bench and torch's peers side by side, ground truth, sanitizer.
# $OUT gets at most 8 files (what the device tool brings back): env.txt, log.txt (build, bench and peer
# tables), tests.log, sanitizer.log, ours.jsonl, peers.jsonl, sdpa_dispatch_h200.json. Targets table last.
#   STAGES="build sm90 tests bench peers truth sanitizer" bash bench/gpu_bench.sh
# Environment: SWEEP (GPU test configurations per kernel path), REDUCED=ON (CI's instantiations),
# CUDNN_FRONTEND (include dir of the cuDNN frontend headers, when carried).
set -u
OUT=${OUT:-/tmp/attnscope-out}
mkdir -p "$OUT"
STAGES=${STAGES:-"build sm90 tests bench peers truth sanitizer"}
JOBS=${JOBS:-16}
has() { [[ " $STAGES " == *" $1 "* ]]; }
summary=()
note() { summary+=("$1"); echo "== $1"; }
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 ))s; }

{
  date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,clocks.sm,clocks.mem,clocks.max.sm --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())" 2>&1
  nvcc --version | tail -2; git log --oneline -1 2>/dev/null
} > "$OUT/env.txt" 2>&1

if has build; then
  set -o pipefail
  extra=()
  [ -n "${CUDNN_FRONTEND:-}" ] && extra+=(-DATTNSCOPE_CUDNN_FRONTEND_INCLUDE="$CUDNN_FRONTEND")
  { cmake -S . -B build -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
      -DATTNSCOPE_CI_REDUCED="${REDUCED:-OFF}" "${extra[@]}" \
      && timeout 420 ninja -C build -j"$JOBS" attnscope_cuda attnscope_gpu_tests attnscope_gpu_bench attnscope \
      && { ! [ -e build/build.ninja ] || ! grep -q attnscope_sm90_tests build/build.ninja \
           || timeout 120 ninja -C build -j"$JOBS" attnscope_sm90_tests; }; } > "$OUT/log.txt" 2>&1
  note "build: rc=$? ($(el))"
  set +o pipefail
  grep -E "error|warning: |spill" "$OUT/log.txt" | grep -v "0 bytes spill" | head -20
fi

if has sm90; then
  timeout 60 ./build/tests/gpu/attnscope_sm90_tests > /tmp/sm90.log 2>&1
  note "sm90 building blocks: rc=$? $(grep -E '^\[  (PASSED|FAILED)' /tmp/sm90.log | tr '\n' ' ')"
  cat /tmp/sm90.log >> "$OUT/log.txt"
fi

if has tests; then
  ATTNSCOPE_GPU_SWEEP=${SWEEP:-200} timeout ${TESTS_TIMEOUT:-300} ./build/tests/gpu/attnscope_gpu_tests > "$OUT/tests.log" 2>&1
  note "gpu tests: rc=$? ($(el)) $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/tests.log" | tr '\n' ' ')"
  grep -E "^\[ attnscope|FAILED  \]|Failure|Expected|Which is|config #|error" "$OUT/tests.log" | head -40
fi

if has bench; then
  timeout ${BENCH_TIMEOUT:-150} ./build/attnscope_gpu_bench --json "$OUT/ours.jsonl" > /tmp/bench.txt 2>&1
  note "gpu bench: rc=$? ($(el))"
  # The mma.sync kernel on the same card, for the kernel history (bench/README.md).
  ATTNSCOPE_FLASH_PATH=sm80 timeout 90 ./build/attnscope_gpu_bench --impls flash2,sink --suffix @sm80 \
      --json /tmp/ours_sm80.jsonl >> /tmp/bench.txt 2>&1
  cat /tmp/ours_sm80.jsonl >> "$OUT/ours.jsonl" 2>/dev/null
  cat /tmp/bench.txt | tee -a "$OUT/log.txt"
fi

if has peers; then
  PYTHONUNBUFFERED=1 timeout ${PEERS_TIMEOUT:-240} python3 bench/peers.py --json "$OUT/peers.jsonl" > /tmp/peers.txt 2>&1
  note "peers: rc=$? ($(el))"
  cat /tmp/peers.txt >> "$OUT/log.txt"; grep -v Warning /tmp/peers.txt | tail -40
fi

if has truth; then
  PYTHONUNBUFFERED=1 timeout 150 python3 tests/device/sdpa_dispatch_truth.py -o "$OUT/sdpa_dispatch_h200.json" \
      --n ${TRUTH_N:-200} > /tmp/truth.txt 2>&1
  note "sdpa dispatch truth: rc=$? $(tail -1 /tmp/truth.txt)"
fi

if has sanitizer; then
  S=./build/tests/gpu/attnscope_gpu_tests
  {
    for tool in memcheck racecheck initcheck synccheck; do
      echo "## $tool"
      ATTNSCOPE_GPU_SMALL=1 ATTNSCOPE_GPU_SWEEP=${SAN_SWEEP:-6} timeout 120 compute-sanitizer --tool $tool \
          $S --gtest_filter='GpuSweep.*:GpuProbe.*'
      echo "rc=$?"
    done
  } > "$OUT/sanitizer.log" 2>&1
  note "sanitizer: ($(el)) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|rc=' "$OUT/sanitizer.log" | tr '\n' ' ')"
fi

echo
echo "==================== summary ($(el)) ===================="
printf '%s\n' "${summary[@]}"
if [ -s "$OUT/ours.jsonl" ]; then
  python3 bench/make_results.py --run "$OUT" --stdout 2>&1 | tail -60
fi
