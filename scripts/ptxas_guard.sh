#!/usr/bin/env bash
# Compiler launcher of the sm90 kernels (kernels/cuda/CMakeLists.txt): runs the compile command it is
# given, passes its output on, and fails it when ptxas reports a "Potential Performance Loss" (C7510
# to C7520: the wgmma pipeline serialised, every HGMMA between a warpgroup arrive and a wait). Such a
# build computes the right numbers at two thirds of the speed, and says so only in an info line: the
# kernel's v6 reached the H200 that way (bench/README.md). The object is removed, so that no generator
# takes it for up to date.
#
#   scripts/ptxas_guard.sh nvcc ... -o file.o -c file.cu
out=$("$@" 2>&1)
rc=$?
[ -n "$out" ] && printf '%s\n' "$out" >&2
if [ "$rc" -eq 0 ] && grep -q "Potential Performance Loss" <<<"$out"; then
  obj=""
  prev=""
  for a in "$@"; do
    [ "$prev" = "-o" ] && obj=$a
    prev=$a
  done
  [ -n "$obj" ] && rm -f -- "$obj"
  echo "error: ptxas serialised the wgmma pipeline of ${obj:-this object} (the Potential Performance Loss" \
       "above); scripts/ptxas_guard.sh, bench/README.md (sm90 kernel v6)" >&2
  exit 1
fi
exit "$rc"
