#!/usr/bin/env bash
# Issue 13 ("profile your own kernel") as a device call of its own, for when bench/device_final.sh
# is not the call being made. From the repo root:
#   OUT=$OUT bash tests/device/profile_own_kernel.sh
# Stages (STAGES="build profile bench"):
#   build    attnscope, the plugin and the GPU tests into ./build (Release, sm90), as device_final.sh
#   profile  tests/device/post_build_profile.sh $OUT: the hook device_final.sh runs (GPU profiling
#            tests, the Llama + Triton sink case, CUPTI's overhead, nsys where installed)
#   bench    attnscope_gpu_bench on the bench cases (ours.jsonl with cupti_overhead_pct), before the
#            hook's overhead check reads it when both stages run: then bench runs first
set -u
OUT=${OUT:-/tmp/attnscope-out}
export OUT
mkdir -p "$OUT"
STAGES=${STAGES:-"build bench profile"}
JOBS=${JOBS:-16}
has() { [[ " $STAGES " == *" $1 "* ]]; }

if has build; then
  { cmake -S . -B build -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
    && timeout 420 ninja -C build -j"$JOBS" attnscope attnscope_cuda attnscope_gpu_tests attnscope_gpu_bench; } \
    > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
  echo "== build: ok"
fi
if has bench; then
  timeout 150 ./build/attnscope_gpu_bench --json "$OUT/ours.jsonl" > "$OUT/bench.txt" 2>&1
  echo "== bench: rc=$? ($(grep -c cupti_overhead_pct "$OUT/ours.jsonl" 2>/dev/null) rows with cupti_overhead_pct)"
fi
if has profile; then
  timeout 70 bash tests/device/post_build_profile.sh "$OUT"
  echo "== profile: rc=$?"
fi
