#!/usr/bin/env bash
# The CPU test suite under ASan + UBSan: builds every test of the sanitizer tree that
# scripts/fuzz.sh uses (build-fuzz/: clang-14, no GPU plugin, no GUI; see sanitizer_build.sh) and
# runs them all with ctest. Any sanitizer report fails its test (no recovery; leaks checked).
#   scripts/sanitize.sh [ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sanitizer_build.sh
cmake --build build-fuzz -j "$(nproc)" >/dev/null
# Sanitized code runs 2-5x slower: a longer limit than the plain suite's. The host-memory load tests
# (Load.*) stay with the plain suite: ASan's quarantine holds freed memory on purpose, so RSS grows
# under it by design (LeakSanitizer checks the leaks).
ctest --test-dir build-fuzz --output-on-failure -j "$(nproc)" --timeout 600 -E '^Load\.' "$@"
