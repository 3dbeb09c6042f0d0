#!/usr/bin/env bash
# Issue 13 ("profile your own kernel") on the GPU, as a bench/device_final.sh hook: run from the repo
# root after ./build is built (attnscope, attnscope_cuda, attnscope_gpu_tests), alone on the GPU:
#
#   bash tests/device/post_build_profile.sh FIXTURES_DIR
#
# Nothing is built here. Within 60 s (the stage's limit; each part under its own timeout):
#   gpu_tests  tests/gpu/gpu_profiling_test.cpp in attnscope_gpu_tests: kernels attributed to their
#              repeat by external correlation, NVTX ranges through CUPTI, untraced repeats, the
#              environment the plugin reports                                             (~10 s)
#   llama      tests/device/outside_llama.py: the Llama + Triton sink kernel case (sinks=None, mask
#              ignored) dumped with --time and replayed with --import-run on the GPU; its checks
#              print PASS/FAIL lines                                                       (~30 s)
#   cupti      CUPTI's overhead: the llama capture's own runs, and the bench's rows
#              ($OUT/ours.jsonl from the bench stage just before, when there) against 3%
#   nsys       `nsys profile attnscope run ...` and its nvtx_sum, only where nsys is installed and
#              at least 25 s are left
# FIXTURES_DIR gets (for tests/fixtures/): outside_llama_triton_sink_gpu/layer000.{safetensors,json},
# gpu_llama_outside.h5; and the figures: outside_llama_gpu.json, profile_checks.txt
# [, nsys_nvtx.txt]. One PASS/FAIL line per check; exit 1 when any failed.
set -u
FIX=${1:?usage: post_build_profile.sh FIXTURES_DIR}
mkdir -p "$FIX"
BUILD=${BUILD_DIR:-build}
BUDGET=${PROFILE_BUDGET:-57}
t0=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - t0) )); }
SUMMARY="$FIX/profile_checks.txt"
: > "$SUMMARY"
failed=0
result() {  # result PASS|FAIL|SKIP name detail
  echo "$1 $2: $3 ($(( $(date +%s) - t0 ))s)" | tee -a "$SUMMARY"
  [ "$1" = FAIL ] && failed=1
  return 0
}
limit() {  # limit SECONDS: the smaller of SECONDS and the time left (at least 1)
  local l; l=$(left)
  [ "$l" -lt "$1" ] && echo $(( l > 1 ? l : 1 )) || echo "$1"
}

for f in "$BUILD/attnscope" "$BUILD/tests/gpu/attnscope_gpu_tests"; do
  [ -x "$f" ] || { result FAIL build "$f is missing (the hook builds nothing)"; exit 1; }
done

# 1. What a run records about itself.
timeout -k 2 "$(limit 15)" "$BUILD/tests/gpu/attnscope_gpu_tests" \
  --gtest_filter='Impls/GpuProfiling.*:GpuEnvironment.*' > /tmp/profile_gpu_tests.log 2>&1
rc=$?
grep -E "^\[ attnscope \]|Failure|Expected|Which is" /tmp/profile_gpu_tests.log | head -40
passed=$(grep -oE '^\[  PASSED  \] [0-9]+' /tmp/profile_gpu_tests.log | grep -oE '[0-9]+$')
skipped=$(grep -oE '^\[  SKIPPED \] [0-9]+' /tmp/profile_gpu_tests.log | grep -oE '[0-9]+$')
if [ $rc -eq 0 ] && [ "${passed:-0}" -ge 10 ] && [ -z "$skipped" ]; then
  result PASS gpu_profiling_tests "$passed tests (repeats by external correlation, NVTX via CUPTI, untraced repeats, environment)"
else
  result FAIL gpu_profiling_tests "rc=$rc, ${passed:-0} passed, ${skipped:-0} skipped"
  tail -15 /tmp/profile_gpu_tests.log
fi

# 2. The Llama case: its own PASS/FAIL lines.
PYTHONUNBUFFERED=1 timeout -k 2 "$(limit 40)" python3 tests/device/outside_llama.py --attnscope "$BUILD/attnscope" \
  --out "$FIX" > /tmp/profile_llama.log 2>&1
rc=$?
grep -E "^(PASS|FAIL) " /tmp/profile_llama.log | tee -a "$SUMMARY"
grep -qE "^FAIL " /tmp/profile_llama.log && failed=1
if [ $rc -eq 0 ]; then
  result PASS llama "$(grep -c '^PASS ' /tmp/profile_llama.log) checks"
else
  result FAIL llama "rc=$rc$([ $rc = 124 ] && echo ', timed out')"
  tail -25 /tmp/profile_llama.log
fi

# 3. CUPTI's overhead: measured on every run of ours; the bench's rows against the 3% target.
python3 - "$FIX/outside_llama_gpu.json" "${OUT:-/tmp/attnscope-out}/ours.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, os, statistics, sys
llama, bench = sys.argv[1], sys.argv[2]
if os.path.exists(llama):
    ours = json.load(open(llama)).get("ours", [])
    pct = [r["cupti_overhead_pct"] for r in ours if r.get("cupti_overhead_pct") is not None]
    ok = ours and len(pct) == len(ours)
    print("%s cupti_overhead_measured: %s" % ("PASS" if ok else "FAIL",
          ", ".join("%s %+.2f%%" % (r["label"], r["cupti_overhead_pct"]) for r in ours
                    if r.get("cupti_overhead_pct") is not None) or "no run of ours"))
else:
    print("FAIL cupti_overhead_measured: %s missing (the llama check did not finish)" % llama)
rows = [json.loads(l) for l in open(bench) if l.strip()] if os.path.exists(bench) else []
have = [r for r in rows if r.get("cupti_overhead_pct") is not None]
if not have:
    print("SKIP cupti_overhead_bench: no bench rows with cupti_overhead_pct in %s" % bench)
else:
    med = statistics.median(r["cupti_overhead_pct"] for r in have)
    over = ["%s %s %+.1f%%" % (r["case"], r["impl"], r["cupti_overhead_pct"]) for r in have if r["cupti_overhead_pct"] > 3]
    print("%s cupti_overhead_bench: median %+.2f%% over %d rows (target <= 3%%); over 3%%: %s"
          % ("PASS" if med <= 3 else "FAIL", med, len(have), "; ".join(over) or "none"))
EOF
grep -q "^FAIL cupti" "$SUMMARY" && failed=1

# 4. nsys, only where it is installed and fits.
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
if [ -z "$NSYS" ]; then
  result SKIP nsys "not installed"
elif [ "$(left)" -lt 25 ]; then
  result SKIP nsys "only $(left)s left"
else
  rm -f /tmp/attnscope_nsys.nsys-rep
  timeout -k 2 "$(limit 30)" "$NSYS" profile -t cuda,nvtx -o /tmp/attnscope_nsys -f true \
    "$BUILD/attnscope" run --seq 256 --impl eager,sink --repeats 3 --quiet -o /tmp/nsys_cap.h5 > /tmp/profile_nsys.log 2>&1 \
    && timeout -k 2 "$(limit 15)" "$NSYS" stats --report nvtx_sum --format csv /tmp/attnscope_nsys.nsys-rep \
      > "$FIX/nsys_nvtx.txt" 2>&1
  n=$(grep -cE '(timed repeats|warm-up|upload|download)' "$FIX/nsys_nvtx.txt" 2>/dev/null)
  if [ "${n:-0}" -gt 0 ]; then result PASS nsys "$n nvtx_sum rows name attnscope's phases"
  else result FAIL nsys "nsys saw none of attnscope's NVTX phases (see nsys_nvtx.txt)"; tail -5 /tmp/profile_nsys.log; fi
fi

echo "== profile: $(grep -c '^PASS' "$SUMMARY") passed, $(grep -c '^FAIL' "$SUMMARY") failed ($(( $(date +%s) - t0 ))s)"
exit $failed
