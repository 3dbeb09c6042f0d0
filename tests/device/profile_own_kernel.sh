#!/usr/bin/env bash
# One device call for issue 13 ("profile your own kernel"). From the repo root:
#   OUT=$OUT bash tests/device/profile_own_kernel.sh
# Stages, in this order (STAGES="build tests llama nsys bench"; about 6-8 minutes in all):
#   build  attnscope + the plugin + GPU tests + bench (Release, sm90, CI's reduced instantiations)
#   tests  tests/gpu/gpu_profiling_test.cpp: repeats by external correlation, NVTX ranges through
#          CUPTI, untraced repeats, the environment
#   bench  attnscope_gpu_bench on the bench cases: ours.jsonl with cupti_overhead_pct, and
#          bench/make_results.py's CUPTI overhead table (target <= 3%)
#   nsys   `nsys profile attnscope run ...` where nsys exists: the attnscope NVTX domain's ranges
#   llama  tests/device/outside_llama.py: the Llama + Triton sink kernel case, timed dump, GPU
#          capture with --import-run, checks; the CI fixture and the capture land in $OUT
# $OUT gets at most 8 files: profile.log, ours.jsonl, outside_llama.json, gpu_llama_outside.h5,
# outside_llama_triton_sink/layer000.{safetensors,json}, nsys_nvtx.txt. Summary lines start "==".
set -u
OUT=${OUT:-/tmp/attnscope-out}
mkdir -p "$OUT"
STAGES=${STAGES:-"build tests llama nsys bench"}
JOBS=${JOBS:-16}
LOG="$OUT/profile.log"
BUILD=${BUILD_DIR:-build-prof}
has() { [[ " $STAGES " == *" $1 "* ]]; }
t0=$(date +%s)
note() { echo "== $1 ($(( $(date +%s) - t0 ))s)" | tee -a "$LOG"; }
: > "$LOG"
{ date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,clocks.sm,clocks.mem,clocks.max.sm --format=csv
  python3 -c "import torch, triton, transformers; print('torch', torch.__version__, 'triton', triton.__version__, 'transformers', transformers.__version__)"
  git log --oneline -1 2>/dev/null; } >> "$LOG" 2>&1

if has build; then
  { cmake -S . -B "$BUILD" -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
      -DATTNSCOPE_CI_REDUCED=ON \
    && timeout 420 ninja -C "$BUILD" -j"$JOBS" attnscope attnscope_cuda attnscope_gpu_profiling_tests attnscope_gpu_bench; } \
    > /tmp/profile_build.log 2>&1
  rc=$?
  grep -E "error|warning: " /tmp/profile_build.log | head -20 >> "$LOG"
  [ $rc -ne 0 ] && tail -30 /tmp/profile_build.log >> "$LOG"
  note "build: rc=$rc"
fi

if has tests; then
  timeout 240 "./$BUILD/tests/gpu/attnscope_gpu_profiling_tests" > /tmp/profile_tests.log 2>&1
  rc=$?
  grep -E "^\[ attnscope|^\[  (PASSED|FAILED)|FAILED  \]|Failure|Expected|Which is|error" /tmp/profile_tests.log | head -60 >> "$LOG"
  note "gpu profiling tests: rc=$rc $(grep -E '^\[  (PASSED|FAILED) ' /tmp/profile_tests.log | tr '\n' ' ')"
fi

if has llama; then
  PYTHONUNBUFFERED=1 timeout 400 python3 tests/device/outside_llama.py --attnscope "./$BUILD/attnscope" --out "$OUT" \
    >> "$LOG" 2>&1
  note "llama + Triton sink kernel: rc=$? $(grep -c '^FAIL' "$LOG") failed checks"
fi
if has nsys; then
  NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
  if [ -n "$NSYS" ]; then
    rm -f /tmp/attnscope_nsys.nsys-rep /tmp/attnscope_nsys.sqlite
    timeout 120 "$NSYS" profile -t cuda,nvtx -o /tmp/attnscope_nsys -f true \
      "./$BUILD/attnscope" run --seq 512 --impl eager,sink --quiet -o /tmp/nsys_cap.h5 >> /tmp/profile_nsys.log 2>&1
    timeout 60 "$NSYS" stats --report nvtx_sum --format csv /tmp/attnscope_nsys.nsys-rep > "$OUT/nsys_nvtx.txt" 2>&1
    "./$BUILD/attnscope" report /tmp/nsys_cap.h5 | grep -E "nvtx|NVTX|CUPTI" >> "$OUT/nsys_nvtx.txt" 2>&1
    note "nsys: $(grep -c -E 'attnscope|upload|repeat' "$OUT/nsys_nvtx.txt") NVTX lines naming attnscope's ranges"
  else
    note "nsys: not installed here (skipped)"
  fi
fi

if has bench; then
  timeout ${BENCH_TIMEOUT:-150} "./$BUILD/attnscope_gpu_bench" --json "$OUT/ours.jsonl" > /tmp/profile_bench.txt 2>&1
  rc=$?
  cat /tmp/profile_bench.txt >> "$LOG"
  python3 - "$OUT/ours.jsonl" >> "$LOG" 2>&1 <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
have = [r for r in rows if "cupti_overhead_pct" in r]
print("CUPTI overhead (ms traced, overhead %%), target <= 3%%: %d of %d rows measured" % (len(have), len(rows)))
for r in have:
    print("  %-44s %-16s %9.4f ms  %+6.2f%%  %s" % (r["case"], r["impl"], r["ms"], r["cupti_overhead_pct"],
                                                   "ok" if r["cupti_overhead_pct"] <= 3 else "OVER"))
EOF
  note "bench: rc=$rc, $(grep -c cupti_overhead_pct "$OUT/ours.jsonl" 2>/dev/null) rows with cupti_overhead_pct"
fi

grep "^== " "$LOG"
