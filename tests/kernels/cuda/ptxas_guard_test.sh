#!/usr/bin/env bash
# scripts/ptxas_guard.sh on stand-in compile commands: a compile whose ptxas reports a Potential
# Performance Loss fails and leaves no object; a clean one passes with its output and object; a failed
# compile keeps its own exit status.
set -u
GUARD=${1:?usage: ptxas_guard_test.sh GUARD WORKDIR}
W=${2:?usage: ptxas_guard_test.sh GUARD WORKDIR}
rm -rf "$W" && mkdir -p "$W"
fails=0
fail() {
  echo "FAIL $1"
  fails=$((fails + 1))
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
# guard NAME WANT_RC RC MSG: the guard on a stand-in compile of $W/NAME.o that prints MSG and exits RC,
# its output in $W/NAME.log; a FAIL unless the guard exits WANT_RC.
guard() {
  MSG=$4 RC=$3 "$GUARD" bash -c 'compile "$@"' fake -c k.cu -o "$W/$1.o" > "$W/$1.log" 2>&1
  local rc=$?
  [ "$rc" = "$2" ] || fail "$1: exit $rc, wanted $2"
}

guard serialised 1 0 "ptxas info    : (C7520) Potential Performance Loss: wgmma.mma_async instructions are serialized"
[ -e "$W/serialised.o" ] && fail "the serialised object was left behind"
grep -q "C7520" "$W/serialised.log" || fail "ptxas's line was not passed on"
grep -q "serialised.o" "$W/serialised.log" || fail "the error does not name the object"

guard clean 0 0 "ptxas info    : Used 168 registers, used 16 barriers"
[ -e "$W/clean.o" ] || fail "the clean object is missing"
grep -q "Used 168 registers" "$W/clean.log" || fail "the clean compile's output was dropped"

guard broken 2 2 "k.cu(3): error: identifier \"x\" is undefined"
grep -q "is undefined" "$W/broken.log" || fail "the compiler's error was dropped"

[ "$fails" -eq 0 ] && echo "ptxas_guard: all checks pass"
exit $(( fails > 0 ))
