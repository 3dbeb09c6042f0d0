# Sourced by the tests/device/run_*.sh device calls: the Debian packages carried in .devdeps
# unpacked over /usr, and BIN = an attnscope already built, or a CPU-only build here (then
# CPU_ARGS=(--cpu) for the replays). Needs OUT set.
if ls .devdeps/*.deb >/dev/null 2>&1; then
  rm -rf /tmp/devroot && mkdir -p /tmp/devroot
  for f in .devdeps/*.deb; do dpkg -x "$f" /tmp/devroot; done
  cp -an /tmp/devroot/usr/. /usr/ && ldconfig
fi
BIN=${BIN:-}
CPU_ARGS=()
if [ -z "$BIN" ]; then
  { cmake -S . -B build-py -G Ninja -DATTNSCOPE_GPU=OFF -DATTNSCOPE_GUI=OFF -DATTNSCOPE_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=Release && ninja -C build-py -j16 attnscope; } > "$OUT/build_py.log" 2>&1 \
    || { tail -30 "$OUT/build_py.log"; exit 1; }
  BIN=./build-py/attnscope
  CPU_ARGS+=(--cpu)
fi
