#!/usr/bin/env bash
# Issue 14 (reliability), item 6 on the device, as a hook of bench/device_final.sh: called from the
# repository root after the build into ./build (Ninja, no GUI, sm90) as
#   bash tests/device/post_build_reliability.sh FIXTURES_DIR
# Checks, in at most 45 s together:
#   - an illegal-address kernel (test-only, tests/gpu/fault_plugin.cu) is reported in that
#     implementation's verdict, the others complete and are saved, the next run works
#   - a real out-of-memory likewise, and the worker process stays the same (not sticky)
#   - a layer too big for a nearly full device is refused by the memory estimate, from the CLI
#   - 50 sessions in a row: host, worker and device memory within 5%
# (compute-sanitizer memcheck, racecheck and initcheck run in device_final.sh itself.) A hook of
# step 4 (alone on the GPU): the CLI check takes all but 512 MiB of the device. One PASS/FAIL line
# per check at the end; exits non-zero when any check fails. Logs go into FIXTURES_DIR/reliability/.
set -u
dir=${1:-/tmp/attnscope-fixtures}/reliability
mkdir -p "$dir"
t0=$(date +%s)
budget=44
left() { echo $((budget - ($(date +%s) - t0))); }
rows=()
status=0
row() {  # NAME RESULT DETAIL
  rows+=("$(printf '%-46s %-4s %s' "$1" "$2" "$3")")
  [[ $2 == FAIL ]] && status=1
  return 0
}
table() {
  echo "==================== reliability (issue 14 item 6), $(($(date +%s) - t0)) s ===================="
  printf '%s\n' "${rows[@]}"
  echo "logs: $dir"
}

# The fault tests and their plugin (attnscope_gpu_tests depends on them, so this is usually a no-op).
if ! timeout 25 ninja -C build -j"$(nproc)" attnscope_gpu_fault_tests attnscope_cuda_faults > "$dir/build.log" 2>&1; then
  row "build attnscope_gpu_fault_tests" FAIL "$(grep -m1 -E 'error|FAILED' "$dir/build.log")"
  table
  exit 1
fi

T=./build/tests/gpu/attnscope_gpu_fault_tests
t=$(($(left) - 1))  # never 0 (timeout 0 would mean no limit)
timeout "$((t > 1 ? t : 1))" "$T" --gtest_color=no > "$dir/faults.log" 2>&1
rc=$?
grep -E "^sdpa: |^  \[gpu\.|^session +[0-9]+:" "$dir/faults.log" | sed 's/^/  /'
result() {  # TEST NAME
  local t=$1 name=$2
  if grep -q "^\[       OK \] $t " "$dir/faults.log"; then
    row "$name" PASS "$t"
  elif grep -q "^\[  SKIPPED \] $t " "$dir/faults.log"; then
    row "$name" FAIL "skipped on the device: $(grep -m1 'no GPU through the worker' "$dir/faults.log")"
  elif grep -q "^\[  FAILED  \] $t " "$dir/faults.log"; then
    row "$name" FAIL "$t: $(grep -m1 -A2 'Failure' "$dir/faults.log" | tr '\n' ' ' | cut -c1-160)"
  else
    row "$name" FAIL "$t did not finish (rc $rc$([[ $rc == 124 ]] && echo ', timed out'))"
  fi
}
result GpuFaults.AnIllegalAddressCostsOneImplementationAndTheNextRunWorks "illegal address contained, next run works"
result GpuFaults.OutOfMemoryIsInItsVerdictAndKeepsTheWorker "out of memory in its verdict, worker kept"
result GpuFaults.AnImplementationThatDoesNotFitTheDeviceIsRefusedInItsVerdictFromTheCli "too big for the device: refused (CLI)"
result GpuLoad.FiftySessionsInARowKeepHostAndDeviceMemorySteady "50 sessions: host/worker/device memory"

table
exit $status
