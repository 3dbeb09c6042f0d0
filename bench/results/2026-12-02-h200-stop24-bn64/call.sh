#!/usr/bin/env bash
# exp17: D = 64 with 64-key tiles, each warpgroup its own tiles (ATTNSCOPE_SM90_BN64=1; with WG3=1 three
# warpgroups), against the stop-22 kernel; and the GPU eager seed-1580153624 failure's elements.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
t0=$(date +%s); el() { echo $(( $(date +%s) - t0 ))s; }
cmake -S . -B build -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
  -DATTNSCOPE_CI_REDUCED=ON -DATTNSCOPE_CUDNN_FRONTEND_INCLUDE=$PWD/.devdeps/cudnn_frontend/include > $OUT/build.log 2>&1
timeout 250 ninja -C build -j16 attnscope_gpu_bench attnscope_gpu_worker attnscope_gpu_tests attnscope_sm90_tests >> $OUT/build.log 2>&1
echo "build rc=$? $(el)"; grep -E "error|C75" $OUT/build.log | head
S=./build/tests/gpu/attnscope_gpu_tests
E="ATTNSCOPE_GPU_SEED=1580153624 ATTNSCOPE_GPU_SMALL=1 ATTNSCOPE_DEBUG_EAGER=1"
env $E timeout 30 $S --gtest_filter='GpuEager.MatchesCpu*' > $OUT/eager_dbg.log 2>&1; echo "eager dbg rc=$?"; grep -E "DBG|Failure|trace:|gpu_kernels_test.cpp:29" $OUT/eager_dbg.log | head -60
env $E timeout 90 compute-sanitizer --tool memcheck $S --gtest_filter='GpuEager.MatchesCpu*' > $OUT/eager_memcheck.log 2>&1; echo "eager memcheck $(grep 'ERROR SUMMARY' $OUT/eager_memcheck.log | tail -1) $(el)"
grep -E "DBG row" $OUT/eager_memcheck.log | head -5
env $E timeout 90 compute-sanitizer --tool racecheck $S --gtest_filter='GpuEager.MatchesCpu*' > $OUT/eager_racecheck.log 2>&1; echo "eager racecheck $(grep 'RACECHECK SUMMARY' $OUT/eager_racecheck.log | tail -1) $(el)"
env $E CUDA_LAUNCH_BLOCKING=1 timeout 30 $S --gtest_filter='GpuEager.MatchesCpu*' > $OUT/eager_blocking.log 2>&1; echo "eager blocking rc=$?"; grep -E "DBG row" $OUT/eager_blocking.log | head -5
for v in "BN64=1" "BN64=1 WG3=1"; do
  ev="ATTNSCOPE_SM90_${v/ / ATTNSCOPE_SM90_}"
  env $ev ATTNSCOPE_GPU_SWEEP=200 ATTNSCOPE_GPU_SWEEP_SM80=3 timeout 130 $S --gtest_filter='GpuSweep.*' > "$OUT/sweep_${v// /_}.log" 2>&1
  echo "sweep $ev rc=$? $(el)"; grep -E "^\[  (FAILED|PASSED) |sweep \(|Failure" "$OUT/sweep_${v// /_}.log" | head -8
done
SMALL="ATTNSCOPE_SM90_BN64=1 ATTNSCOPE_GPU_SMALL=1 ATTNSCOPE_GPU_SWEEP=6 ATTNSCOPE_GPU_SWEEP_SM80=2"
env $SMALL timeout 80 compute-sanitizer --tool memcheck $S --gtest_filter='GpuSweep.*' > $OUT/memcheck.log 2>&1; echo "memcheck $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) $(el)"
env $SMALL timeout 70 compute-sanitizer --tool racecheck $S --gtest_filter='GpuSweep.*' > $OUT/racecheck.log 2>&1; echo "racecheck $(grep 'RACECHECK SUMMARY' $OUT/racecheck.log | tail -1) $(el)"
C=gpt-oss-20b_n4096_d64_window128_sinks,gpt-oss-20b_n4096_d64_causal_sinks,gpt-oss-20b_nosinks_n4096_d64_causal,b2_h32_n4096_d64_noncausal
for r in 1 2 3; do for v in "" "ATTNSCOPE_SM90_BN64=1" "ATTNSCOPE_SM90_BN64=1 ATTNSCOPE_SM90_WG3=1"; do
  echo "## [$v] run $r"; env $v timeout 60 ./build/attnscope_gpu_bench --cases $C --impls sink,flash2
done; done > $OUT/bench.txt 2>&1
echo "bench $(el)"
ATTNSCOPE_SM90_BN64=1 timeout 60 ncu -k regex:flash_fwd_sm90 --launch-skip 3 --launch-count 1 --set full --import-source yes \
  -o $OUT/win ./build/attnscope_gpu_bench --cases gpt-oss-20b_n4096_d64_window128_sinks --impls sink --repeats 2 --warmup 3 --min-ms 1 > /dev/null 2>&1
ncu -i $OUT/win.ncu-rep --page source --csv --print-source sass 2>&1 | gzip > $OUT/win_sass.csv.gz
ncu -i $OUT/win.ncu-rep --page details > $OUT/win_details.txt 2>&1; rm -f $OUT/win.ncu-rep; echo "ncu $(el)"
grep -E "Elapsed Cycles|Duration" $OUT/win_details.txt | head -2
tar czf $OUT/logs.tgz -C $OUT build.log memcheck.log racecheck.log eager_memcheck.log eager_racecheck.log 2>/dev/null; rm -f $OUT/build.log $OUT/memcheck.log $OUT/racecheck.log $OUT/eager_memcheck.log $OUT/eager_racecheck.log
grep -E "##|window|causal|noncausal" $OUT/bench.txt
