#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png (the README's pictures) with the GUI's headless screenshot
# path: a capture of the embedded GPT-OSS-20B sliding layer (learned sinks) made with the CLI,
# flash2 run as a what-if (sinks dropped), rendered under Xvfb; and the same layer with the
# backward pass for the gradient views.
#
#   scripts/screenshots.sh [path/to/attnscope]     (default: build/attnscope, then $PATH)
#
# Needs: xvfb (xvfb-run), Mesa's llvmpipe (libgl1-mesa-dri), a GUI build of attnscope.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-}"
if [[ -z "$bin" ]]; then
  for c in "$root/build/attnscope" "$(command -v attnscope || true)"; do
    [[ -n "$c" && -x "$c" ]] && { bin="$c"; break; }
  done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "screenshots.sh: no attnscope binary (give its path)" >&2; exit 1; }
bin="$(realpath "$bin")"
command -v xvfb-run >/dev/null || { echo "screenshots.sh: xvfb-run not found (apt-get install xvfb)" >&2; exit 1; }

out="$root/docs/screenshots"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

cd "$work"
cap="gpt-oss-20b-sliding.h5"
"$bin" run --seq 512 --impl eager,sdpa,flash2,sink --what-if --probe b=0,h=0,rows=192:256 --quiet -o "$cap"

shot() {  # name panel [extra options...]
  local name="$1" panel="$2"
  shift 2
  xvfb-run -a -s "-screen 0 1600x1000x24" "$bin" gui "$cap" --panel "$panel" --size 1600x1000 --frames 4 \
    --screenshot "$out/$name.png" "$@"
  rm -f "$out/$name.png.json"
}
shot maps maps --head 0 --log
shot divergence divergence --compare 'eager,flash2 (what-if)' --head 0 --log
# The backward pass: the same layer with --backward (dO seeded), its gradient views.
cap="gpt-oss-20b-sliding-backward.h5"
"$bin" run --seq 512 --impl eager,flash2,sink --what-if --backward --quiet -o "$cap"
shot gradients divergence --compare 'sink,reference' --tensor dk --head 0
shot timeline-backward timeline
echo "wrote $out/maps.png $out/divergence.png $out/gradients.png $out/timeline-backward.png"
