#!/usr/bin/env bash
# Narrow items (three consumer warpgroups, 64-key tiles) for D = 64 windows <= 128: correctness on the
# sweep / probe / switches, then the bench NARROW=0/1 interleaved, then 4 stages against 8.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
t0=$(date +%s); el() { echo $(( $(date +%s) - t0 ))s; }
cfg() { cmake -S . -B $1 -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
  -DATTNSCOPE_CI_REDUCED=ON -DATTNSCOPE_CUDNN_FRONTEND_INCLUDE=$PWD/.devdeps/cudnn_frontend/include "${@:2}"; }
cfg build > $OUT/build.log 2>&1
timeout 250 ninja -C build -j16 attnscope_gpu_bench attnscope_gpu_worker attnscope_gpu_tests attnscope_sm90_tests >> $OUT/build.log 2>&1
echo "build rc=$? $(el)"; grep -E "error|C75" $OUT/build.log | head
( cfg build4 -DCMAKE_CUDA_FLAGS=-DATTNSCOPE_SM90_NARROW_STAGES=4 > $OUT/build4.log 2>&1 && timeout 200 ninja -C build4 -j8 attnscope_gpu_bench attnscope_gpu_worker >> $OUT/build4.log 2>&1; echo "build4 rc=$?" >> $OUT/build4.log ) &
S=./build/tests/gpu/attnscope_gpu_tests
timeout 40 ./build/tests/gpu/attnscope_sm90_tests > $OUT/sm90.log 2>&1; echo "sm90 rc=$? $(tail -1 $OUT/sm90.log)"
ATTNSCOPE_GPU_SWEEP=300 ATTNSCOPE_GPU_SWEEP_SM80=5 timeout 150 $S --gtest_filter='GpuSweep.*:GpuSwitches.*:GpuProbe.*:GpuEager.*' > $OUT/tests.log 2>&1
echo "tests rc=$? $(el)"; grep -E "^\[  (FAILED|PASSED) |sweep \(|Failure|eager vs" $OUT/tests.log | head -12
# the sweep's narrow draws: D <= 64 windows of at most 128 keys
wait; tail -1 $OUT/build4.log
C=gpt-oss-20b_n4096_d64_window128_sinks,gpt-oss-20b_n4096_d64_causal_sinks,gpt-oss-20b_nosinks_n4096_d64_causal,b2_h32_n4096_d64_noncausal
for r in 1 2; do for v in 0 1; do
  echo "## narrow=$v stages8 run $r"; ATTNSCOPE_SM90_NARROW=$v timeout 60 ./build/attnscope_gpu_bench --cases $C --impls sink,flash2
done; echo "## narrow=1 stages4 run $r"; timeout 30 ./build4/attnscope_gpu_bench --cases gpt-oss-20b_n4096_d64_window128_sinks --impls sink; done > $OUT/bench.txt 2>&1
echo "bench $(el)"
timeout 30 ./build/attnscope_gpu_bench --cases gpt-oss-20b_n4096_d64_window128_sinks,gpt-oss-20b_n4096_d64_causal_sinks --impls sink --json $OUT/rows.jsonl > /dev/null 2>&1
cut -c1-400 $OUT/rows.jsonl | grep -o '"case":"[^"]*"\|"ms":[0-9.]*\|"kv_tile":[0-9]*\|"block_m":[0-9]*\|"tile_fraction":[0-9.]*' | paste -sd' ' 
tar czf $OUT/logs.tgz -C $OUT build.log build4.log sm90.log; rm -f $OUT/build.log $OUT/build4.log $OUT/sm90.log
grep -E "##|window|causal|noncausal" $OUT/bench.txt
