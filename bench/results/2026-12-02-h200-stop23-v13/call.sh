#!/usr/bin/env bash
# v13 (branch v13-stream) against main's kernel, one call: build both (reduced), sm90 primitives, the GPU
# sweep with ATTNSCOPE_SM90_PAIRS=0 (the streamed loop takes the window's items) and default, small
# memcheck/racecheck with PAIRS=0, interleaved bench (main h, v13 pairs w1, v13 streamed w0), ncu of the
# window with PAIRS=0. Before the call: rm -rf .dev/treeM && mkdir -p .dev/treeM &&
#   git archive main | tar x -C .dev/treeM && rm -rf .dev/treeM/bench/results .dev/treeM/docs
set -u
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
t0=$(date +%s); el() { echo $(( $(date +%s) - t0 ))s; }
cfg() { cmake -S $1 -B $1/build -G Ninja -DATTNSCOPE_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
  -DATTNSCOPE_CI_REDUCED=ON -DATTNSCOPE_CUDNN_FRONTEND_INCLUDE=$PWD/.devdeps/cudnn_frontend/include; }
(cfg . && timeout 250 ninja -C build -j10 attnscope_gpu_bench attnscope_gpu_worker attnscope_gpu_tests attnscope_sm90_tests) > $OUT/build_w.log 2>&1 &
(cfg .dev/treeM && timeout 250 ninja -C .dev/treeM/build -j6 attnscope_gpu_bench attnscope_gpu_worker) > $OUT/build_h.log 2>&1 &
wait; echo "builds $(el)"; grep -E "error|C75" $OUT/build_w.log $OUT/build_h.log | head
S=./build/tests/gpu/attnscope_gpu_tests
timeout 40 ./build/tests/gpu/attnscope_sm90_tests > $OUT/sm90.log 2>&1; echo "sm90 rc=$? $(tail -1 $OUT/sm90.log)"
ATTNSCOPE_SM90_PAIRS=0 ATTNSCOPE_GPU_SWEEP=250 ATTNSCOPE_GPU_SWEEP_SM80=5 timeout 150 $S --gtest_filter='GpuSweep.*:GpuSwitches.*' > $OUT/tests0.log 2>&1
echo "sweep pairs=0 rc=$? $(el)"; grep -E "^\[  (FAILED|PASSED) |vs CPU \(" $OUT/tests0.log | head -8
ATTNSCOPE_GPU_SWEEP=120 ATTNSCOPE_GPU_SWEEP_SM80=5 timeout 100 $S --gtest_filter='GpuSweep.*' > $OUT/tests1.log 2>&1
echo "sweep pairs=1 rc=$? $(el)"; grep -E "^\[  (FAILED|PASSED) " $OUT/tests1.log | head -4
SMALL="ATTNSCOPE_SM90_PAIRS=0 ATTNSCOPE_GPU_SMALL=1 ATTNSCOPE_GPU_SWEEP=4 ATTNSCOPE_GPU_SWEEP_SM80=2"
env $SMALL timeout 100 compute-sanitizer --tool memcheck $S --gtest_filter='GpuSweep.*' > $OUT/memcheck.log 2>&1; echo "memcheck $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) $(el)"
env $SMALL timeout 80 compute-sanitizer --tool racecheck $S --gtest_filter='GpuSweep.*' > $OUT/racecheck.log 2>&1; echo "racecheck $(grep 'RACECHECK SUMMARY' $OUT/racecheck.log | tail -1) $(el)"
C=gpt-oss-20b_n4096_d64_window128_sinks,gpt-oss-20b_n4096_d64_causal_sinks,b2_h32_n4096_d64_noncausal,llama2-7b_b4_n2048_d128_causal
for r in 1 2; do
  for t in h w1 w0 w0np; do
    B=./build/attnscope_gpu_bench; [ $t = h ] && B=.dev/treeM/build/attnscope_gpu_bench
    pairs=1; pp=1; [ $t = w0 ] && pairs=0; [ $t = w0np ] && pairs=0 && pp=0
    echo "## $t run $r"; ATTNSCOPE_SM90_PINGPONG=$pp ATTNSCOPE_SM90_PAIRS=$pairs timeout 60 $B --cases $C --impls sink
  done
done > $OUT/bench.txt 2>&1
echo "bench $(el)"
ATTNSCOPE_SM90_PAIRS=0 timeout 100 ncu -k regex:flash_fwd_sm90 --launch-skip 3 --launch-count 1 --set full --import-source yes \
  -o $OUT/win ./build/attnscope_gpu_bench --cases gpt-oss-20b_n4096_d64_window128_sinks --impls sink --repeats 2 --warmup 3 --min-ms 1 > /dev/null 2>&1
ncu -i $OUT/win.ncu-rep --page source --csv --print-source sass > $OUT/win_sass.csv 2>&1
ncu -i $OUT/win.ncu-rep --page details > $OUT/win_details.txt 2>&1; rm -f $OUT/win.ncu-rep; echo "ncu $(el)"
tar czf $OUT/logs.tgz -C $OUT build_w.log build_h.log sm90.log memcheck.log racecheck.log 2>/dev/null
rm -f $OUT/build_w.log $OUT/build_h.log $OUT/sm90.log $OUT/memcheck.log $OUT/racecheck.log
grep -E "##|window|causal" $OUT/bench.txt
