#!/usr/bin/env bash
# Branch wg3, one call: build (reduced), sm90 primitives, GPU sweep with ATTNSCOPE_SM90_WG3=1 (the three-warpgroup
# kernel takes every D <= 64 layer without probe/transform) and without, small memcheck/racecheck with WG3=1,
# interleaved bench WG3=0/1, ncu of the window with WG3=1.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
t0=$(date +%s); el() { echo $(( $(date +%s) - t0 ))s; }
cmake -S . -B build -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
  -DATTNSCOPE_CI_REDUCED=ON -DATTNSCOPE_CUDNN_FRONTEND_INCLUDE=$PWD/.devdeps/cudnn_frontend/include > $OUT/build.log 2>&1
timeout 250 ninja -C build -j16 attnscope_gpu_bench attnscope_gpu_worker attnscope_gpu_tests attnscope_sm90_tests >> $OUT/build.log 2>&1
echo "build rc=$? $(el)"; grep -E "error|C75" $OUT/build.log | head
S=./build/tests/gpu/attnscope_gpu_tests
timeout 40 ./build/tests/gpu/attnscope_sm90_tests > $OUT/sm90.log 2>&1; echo "sm90 rc=$? $(tail -1 $OUT/sm90.log)"
ATTNSCOPE_SM90_WG3=1 ATTNSCOPE_GPU_SWEEP=250 ATTNSCOPE_GPU_SWEEP_SM80=5 timeout 150 $S --gtest_filter='GpuSweep.*:GpuSwitches.*' > $OUT/tests_wg3.log 2>&1
echo "sweep wg3 rc=$? $(el)"; grep -E "^\[  (FAILED|PASSED) |vs CPU \(|Failure" $OUT/tests_wg3.log | head -12
for seed in 1580153624 11 12 13; do ATTNSCOPE_GPU_SEED=$seed ATTNSCOPE_GPU_SMALL=1 timeout 30 $S --gtest_filter='GpuEager.*' > $OUT/eager_$seed.log 2>&1; echo "eager seed $seed rc=$? $(grep -E '^\[  (PASSED|FAILED)' $OUT/eager_$seed.log | head -2 | tr '\n' ' ')"; done
timeout 40 $S --gtest_filter='GpuEager.*' > $OUT/eager_full.log 2>&1; echo "eager full rc=$? $(grep -E '^\[  (PASSED|FAILED)' $OUT/eager_full.log | head -2 | tr '\n' ' ')"
SMALL="ATTNSCOPE_SM90_WG3=1 ATTNSCOPE_GPU_SMALL=1 ATTNSCOPE_GPU_SWEEP=6 ATTNSCOPE_GPU_SWEEP_SM80=2"
env $SMALL timeout 100 compute-sanitizer --tool memcheck $S --gtest_filter='GpuSweep.*' > $OUT/memcheck.log 2>&1; echo "memcheck $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) $(el)"
env $SMALL timeout 80 compute-sanitizer --tool racecheck $S --gtest_filter='GpuSweep.*' > $OUT/racecheck.log 2>&1; echo "racecheck $(grep 'RACECHECK SUMMARY' $OUT/racecheck.log | tail -1) $(el)"
C=gpt-oss-20b_n4096_d64_window128_sinks,gpt-oss-20b_n4096_d64_causal_sinks,gpt-oss-20b_nosinks_n4096_d64_causal,b2_h32_n4096_d64_noncausal
for r in 1 2 3; do for w in 0 1; do
  echo "## wg3=$w run $r"; ATTNSCOPE_SM90_WG3=$w timeout 60 ./build/attnscope_gpu_bench --cases $C --impls sink,flash2
done; done > $OUT/bench.txt 2>&1
echo "bench $(el)"
ATTNSCOPE_SM90_WG3=1 timeout 60 ncu -k regex:flash_fwd_sm90 --launch-skip 3 --launch-count 1 --set full --import-source yes \
  -o $OUT/win ./build/attnscope_gpu_bench --cases gpt-oss-20b_n4096_d64_window128_sinks --impls sink --repeats 2 --warmup 3 --min-ms 1 > /dev/null 2>&1
ncu -i $OUT/win.ncu-rep --page source --csv --print-source sass > $OUT/win_sass.csv 2>&1
ncu -i $OUT/win.ncu-rep --page details > $OUT/win_details.txt 2>&1; rm -f $OUT/win.ncu-rep; echo "ncu $(el)"
grep -E "Elapsed Cycles|Duration" $OUT/win_details.txt | head -2
tar czf $OUT/logs.tgz -C $OUT build.log sm90.log memcheck.log racecheck.log 2>/dev/null; rm -f $OUT/build.log $OUT/sm90.log $OUT/memcheck.log $OUT/racecheck.log
grep -E "##|window|causal|noncausal" $OUT/bench.txt
