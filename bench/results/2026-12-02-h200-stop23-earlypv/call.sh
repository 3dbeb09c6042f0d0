#!/usr/bin/env bash
# One call: the working tree built three ways (-DATTNSCOPE_EXP=0 main's kernel, 1 early P·V0 in the pair
# path, 2 = 1 + four-way row max), GPU sweep + small memcheck/racecheck on 2 and 1, interleaved bench, ncu cycles.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
t0=$(date +%s); el() { echo $(( $(date +%s) - t0 ))s; }
cfg() { cmake -S . -B $1 -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
  -DATTNSCOPE_CI_REDUCED=ON -DCMAKE_CUDA_FLAGS="-DATTNSCOPE_EXP=$2" -DATTNSCOPE_CUDNN_FRONTEND_INCLUDE=$PWD/.devdeps/cudnn_frontend/include; }
for n in 0 1 2; do
  T="attnscope_gpu_bench attnscope_gpu_worker"; [ $n != 0 ] && T="$T attnscope_gpu_tests"
  (cfg b$n $n && timeout 280 ninja -C b$n -j6 $T) > $OUT/build_$n.log 2>&1 &
done
wait; echo "builds $(el)"; grep -E "error|C75|FAILED" $OUT/build_*.log | head
for n in 2 1; do
  S=./b$n/tests/gpu/attnscope_gpu_tests
  ATTNSCOPE_GPU_SWEEP=200 ATTNSCOPE_GPU_SWEEP_SM80=5 timeout 140 $S --gtest_filter='GpuSweep.*' > $OUT/tests$n.log 2>&1
  echo "sweep exp=$n rc=$? $(el)"; grep -E "^\[  (FAILED|PASSED) |vs CPU \(" $OUT/tests$n.log | head -6
  [ $n = 1 ] && break
  SMALL="ATTNSCOPE_GPU_SMALL=1 ATTNSCOPE_GPU_SWEEP=6 ATTNSCOPE_GPU_SWEEP_SM80=2"
  env $SMALL timeout 100 compute-sanitizer --tool memcheck $S --gtest_filter='GpuSweep.*' > $OUT/memcheck$n.log 2>&1; echo "memcheck $(grep 'ERROR SUMMARY' $OUT/memcheck$n.log | tail -1) $(el)"
  env $SMALL timeout 80 compute-sanitizer --tool racecheck $S --gtest_filter='GpuSweep.*' > $OUT/racecheck$n.log 2>&1; echo "racecheck $(grep 'RACECHECK SUMMARY' $OUT/racecheck$n.log | tail -1) $(el)"
done
C=gpt-oss-20b_n4096_d64_window128_sinks,gpt-oss-20b_n4096_d64_causal_sinks,b2_h32_n4096_d64_noncausal,llama2-7b_b4_n2048_d128_causal
for r in 1 2 3; do for n in 0 1 2; do
  echo "## exp$n run $r"; timeout 60 ./b$n/attnscope_gpu_bench --cases $C --impls sink
done; done > $OUT/bench.txt 2>&1
echo "bench $(el)"
for n in 0 2; do
  timeout 60 ncu -k regex:flash_fwd_sm90 --launch-skip 3 --launch-count 1 --set full --import-source yes \
    -o $OUT/win$n ./b$n/attnscope_gpu_bench --cases gpt-oss-20b_n4096_d64_window128_sinks --impls sink --repeats 2 --warmup 3 --min-ms 1 > /dev/null 2>&1
  ncu -i $OUT/win$n.ncu-rep --page source --csv --print-source sass > $OUT/win${n}_sass.csv 2>&1
  ncu -i $OUT/win$n.ncu-rep --page details > $OUT/win${n}_details.txt 2>&1; rm -f $OUT/win$n.ncu-rep
  grep -E "Elapsed Cycles|Duration" $OUT/win${n}_details.txt | head -2
done; echo "ncu $(el)"
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls build_*.log memcheck*.log racecheck*.log) 2>/dev/null
rm -f $OUT/build_*.log $OUT/memcheck*.log $OUT/racecheck*.log
grep -E "##|window|causal" $OUT/bench.txt
