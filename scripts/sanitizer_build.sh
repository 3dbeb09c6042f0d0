# Sourced by scripts/fuzz.sh and scripts/sanitize.sh: configures build-fuzz/, the whole tree (no
# GPU plugin, no GUI) with Debian's clang-14 under ASan + UBSan, no recovery, libFuzzer-instrumented
# so the fuzz harnesses and the CPU test suite share one sanitizer build. Installs clang-14 and
# libclang-rt-14-dev (libFuzzer, ASan, UBSan runtimes) where missing. Sets the sanitizers' options.
CLANG=clang-14
CLANGXX=clang++-14
if ! command -v "$CLANGXX" >/dev/null || [[ ! -f "$("$CLANGXX" -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "attnscope: installing clang-14 and libclang-rt-14-dev (libFuzzer, ASan, UBSan)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
fi
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CLANG" \
  -DCMAKE_CXX_COMPILER="$CLANGXX" -DCMAKE_CXX_FLAGS="$san -fsanitize=fuzzer-no-link" -DCMAKE_C_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="$san" \
  -DATTNSCOPE_GPU=OFF -DATTNSCOPE_GUI=OFF -DATTNSCOPE_FUZZ=ON "${launcher[@]}" >/dev/null
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
