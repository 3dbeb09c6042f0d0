#!/usr/bin/env bash
# The device call of record (bench/README.md): one build, then every GPU check and measurement the open
# issues need, in order of importance, each under its own time limit so that a hang costs one stage,
# never the call. Logs go into $OUT/logs.tgz; raw data files beside it (at most 8 files come back):
#   ours.jsonl peers.jsonl peers_bwd.jsonl env.txt summary.txt logs.tgz fixtures.tgz
set -u
OUT=${OUT:-/tmp/attnscope-out}
L=/tmp/attnscope-logs
mkdir -p "$OUT" "$L"
J=${JOBS:-16}
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 ))s; }
summary=()
note() { summary+=("$1"); echo "== $1" | tee -a "$L/summary.txt"; }
stage() {  # stage NAME SECONDS command...: runs with a limit, logs to $L/NAME.log, notes rc and time
  local name=$1 secs=$2; shift 2
  timeout "$secs" "$@" > "$L/$name.log" 2>&1
  local rc=$?
  note "$name: rc=$rc ($(el))$([ $rc = 124 ] && echo ' TIMED OUT')"
  return $rc
}

{
  date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,clocks.sm,clocks.mem,clocks.max.sm --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())" 2>&1
  nvcc --version | tail -2; git log --oneline -1 2>/dev/null
} > "$OUT/env.txt" 2>&1

# torch's own cuDNN (9.19), so that sdpa:cudnn and torch's cuDNN backend run the same library.
TORCH_CUDNN=$(python3 -c "import nvidia.cudnn, os; print(os.path.join(list(nvidia.cudnn.__path__)[0], 'lib', 'libcudnn.so.9'))" 2>/dev/null)
[ -e "$TORCH_CUDNN" ] && export ATTNSCOPE_CUDNN_LIBRARY=$TORCH_CUDNN
extra=()
[ -d .devdeps/cudnn_frontend/include ] && extra+=(-DATTNSCOPE_CUDNN_FRONTEND_INCLUDE="$PWD/.devdeps/cudnn_frontend/include")

# Python checks that need no build run beside it (CPU-bound, GPU-light).
[ -x tests/device/pre_build.sh ] && { bash tests/device/pre_build.sh "$L" > "$L/pre_build.log" 2>&1 & }

stage build 300 bash -c "cmake -S . -B build -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_BUILD_TYPE=Release ${extra[*]} && ninja -C build -j$J attnscope_cuda attnscope_gpu_tests \
    attnscope_sm90_tests attnscope_gpu_bench attnscope"
grep -E "error|warning: " "$L/build.log" | head -10

stage sm90 60 ./build/tests/gpu/attnscope_sm90_tests
# The sweep: 200 configurations on the kernel path the plugin picks (sm90 here), 40 on the sm80 one.
stage gpu_tests 200 env ATTNSCOPE_GPU_SWEEP=${SWEEP:-200} ATTNSCOPE_GPU_SWEEP_SM80=${SWEEP_SM80:-40} \
  ./build/tests/gpu/attnscope_gpu_tests
grep -E "^\[ attnscope|FAILED|Failure" "$L/gpu_tests.log" | head -30
S=./build/tests/gpu/attnscope_gpu_tests
SMALL="ATTNSCOPE_GPU_SMALL=1 ATTNSCOPE_GPU_SWEEP=3 ATTNSCOPE_GPU_SWEEP_SM80=3"
stage memcheck 60 env $SMALL compute-sanitizer --tool memcheck $S --gtest_filter='GpuSweep.*:GpuBackward.*'
stage racecheck 60 env $SMALL compute-sanitizer --tool racecheck $S --gtest_filter='GpuSweep.*:GpuProbe.Sink*'
grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" "$L/memcheck.log" "$L/racecheck.log"

B=./build/attnscope_gpu_bench
stage bench 150 $B --backward --json "$OUT/ours.jsonl"
stage bench_sm80 40 env ATTNSCOPE_FLASH_PATH=sm80 $B --impls flash2 --suffix @sm80 --json /tmp/sm80.jsonl
stage bench_persistent 40 env ATTNSCOPE_SM90_PERSISTENT=1 $B --impls flash2,sink --suffix @persistent \
  --json /tmp/pers.jsonl
cat /tmp/sm80.jsonl /tmp/pers.jsonl >> "$OUT/ours.jsonl" 2>/dev/null
export PYTHONUNBUFFERED=1
stage peers 200 python3 bench/peers.py --json "$OUT/peers.jsonl"
stage peers_bwd 60 python3 bench/peers_backward.py --json "$OUT/peers_bwd.jsonl"

# The other issues' device checks (each script writes what CI needs under $L/fixtures).
mkdir -p "$L/fixtures"
for s in tests/device/post_build_*.sh; do
  [ -e "$s" ] || continue
  n=$(basename "$s" .sh)
  stage "$n" 90 bash "$s" "$L/fixtures"
done
wait

echo; echo "==================== summary ($(el)) ===================="
printf '%s\n' "${summary[@]}"
cp "$L/summary.txt" "$OUT/summary.txt"
tar czf "$OUT/fixtures.tgz" -C "$L" fixtures 2>/dev/null
tar czf "$OUT/logs.tgz" -C "$L" --exclude fixtures . 2>/dev/null
python3 bench/make_results.py --run "$OUT" --stdout 2>&1 | grep -E "missed|Targets met" | head -40
