#!/usr/bin/env bash
# scripts/ptxas_guard.sh on stand-in compile commands: a compile whose ptxas reports a Potential
# Performance Loss fails and leaves no object; a clean one passes with its output and object; a failed
# compile keeps its own exit status.
set -u
GUARD=${1:?usage: ptxas_guard_test.sh GUARD WORKDIR}
W=${2:?usage: ptxas_guard_test.sh GUARD WORKDIR}
rm -rf "$W" && mkdir -p "$W"
fails=0
expect() {  # expect NAME WANT_RC GOT_RC
  if [ "$2" != "$3" ]; then
    echo "FAIL $1: exit $3, wanted $2"
    fails=$((fails + 1))
  else
    echo "PASS $1"
  fi
}
compile() {  # a stand-in for nvcc: writes the object named after -o, prints $MSG, exits $RC
  local o="" p="" a
  for a in "$@"; do
    [ "$p" = "-o" ] && o=$a
    p=$a
  done
  echo obj > "$o"
  echo "$MSG" >&2
  return "$RC"
}
export -f compile

MSG="ptxas info    : (C7520) Potential Performance Loss: wgmma.mma_async instructions are serialized" RC=0 \
  "$GUARD" bash -c 'compile "$@"' fake -c k.cu -o "$W/serialised.o" > "$W/serialised.log" 2>&1
expect "serialised wgmma fails the compile" 1 $?
[ -e "$W/serialised.o" ] && { echo "FAIL the serialised object was left behind"; fails=$((fails + 1)); }
grep -q "C7520" "$W/serialised.log" || { echo "FAIL ptxas's line was not passed on"; fails=$((fails + 1)); }
grep -q "serialised.o" "$W/serialised.log" || {
  echo "FAIL the error does not name the object"
  fails=$((fails + 1))
}

MSG="ptxas info    : Used 168 registers, used 16 barriers" RC=0 \
  "$GUARD" bash -c 'compile "$@"' fake -c k.cu -o "$W/clean.o" > "$W/clean.log" 2>&1
expect "a clean compile passes" 0 $?
[ -e "$W/clean.o" ] || { echo "FAIL the clean object is missing"; fails=$((fails + 1)); }
grep -q "Used 168 registers" "$W/clean.log" || {
  echo "FAIL the clean compile's output was dropped"
  fails=$((fails + 1))
}

MSG="k.cu(3): error: identifier \"x\" is undefined" RC=2 \
  "$GUARD" bash -c 'compile "$@"' fake -c k.cu -o "$W/broken.o" > "$W/broken.log" 2>&1
expect "a failed compile keeps its status" 2 $?
grep -q "is undefined" "$W/broken.log" || { echo "FAIL the compiler's error was dropped"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ] && echo "ptxas_guard: all checks pass"
exit $(( fails > 0 ))
