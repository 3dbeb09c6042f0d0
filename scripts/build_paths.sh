#!/usr/bin/env bash
# Builds attnscope the way a C++ user does, without scripts/build.sh:
#     cmake -S . -B DIR [-G Ninja] && cmake --build DIR
# on this machine as it is, or as a machine without nvcc and/or without the GUI packages, then
# checks what came out (the binary runs a capture and reports it; the GPU plugin exists exactly
# when nvcc was there; a missing GUI is skipped with a status line naming the packages).
#
#   scripts/build_paths.sh [PATH...]     PATH = GENERATOR,CUDA,GUI
#       GENERATOR  make (CMake's default, Unix Makefiles) | ninja
#       CUDA       nvcc | no-nvcc       GUI  gui | no-gui
#   default: all eight combinations. Extra configure arguments: $ATTNSCOPE_BUILD_PATHS_ARGS
#   (e.g. -DCMAKE_CUDA_ARCHITECTURES=90 to keep an nvcc build short). Build folders go under
#   $ATTNSCOPE_BUILD_PATHS_DIR (default: a temporary folder, removed at the end).
#
# "no-nvcc" and "no-gui" hide the files of the CUDA compiler and of libimgui-dev/libglfw3-dev in
# a private mount namespace (unshare -m, as root): CMake sees a machine where they are absent,
# and nothing outside this script is touched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
paths=("$@")
if ((${#paths[@]} == 0)); then
  for g in make ninja; do for c in nvcc no-nvcc; do for u in gui no-gui; do paths+=("$g,$c,$u"); done; done; done
fi
work="${ATTNSCOPE_BUILD_PATHS_DIR:-}"
if [[ -z "$work" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# Runs "$@" where the named things are absent (a private mount namespace).
without() {  # "nvcc gui" command...
  local what="$1"
  shift
  if [[ -z "$what" ]]; then
    "$@"
    return
  fi
  if [[ "$(id -u)" -ne 0 ]] || ! unshare -m true 2>/dev/null; then
    echo "build_paths: hiding $what needs root and unshare -m (util-linux)" >&2
    return 1
  fi
  unshare -m --propagation private bash -s "$what" "$@" <<'HIDE'
set -uo pipefail
what="$1"
shift
empty="$(mktemp -d)"
# A directory that holds nothing but the hidden files is replaced by an empty one; a file in a
# shared directory by /dev/null (pkg-config finds no Name: in it, the compiler no header).
hide_files() {
  local listed files p n_listed n_actual
  listed="$(grep -v '^/\.\?$' | sort -u)"
  files="$(while IFS= read -r p; do [[ -e "$p" && ! -d "$p" || -L "$p" ]] && echo "$p"; done <<<"$listed")"
  while IFS= read -r p; do
    [[ -n "$p" && -e "$p" && ! -L "$p" ]] || continue
    if [[ -d "$p" ]]; then
      # Hidden when it holds files and all of them are hidden (never /usr, /usr/include ...):
      # find stops after one more file than listed, so a big shared folder costs little.
      n_listed="$(awk -v d="$p/" 'index($0, d) == 1' <<<"$files" | wc -l)"
      ((n_listed > 0)) || continue
      n_actual="$(find "$p" -mindepth 1 ! -type d 2>/dev/null | head -n $((n_listed + 1)) | wc -l)"
      if ((n_actual == n_listed)); then mount --bind "$empty" "$p" || exit 1; fi
    else
      mount --bind /dev/null "$p" || exit 1
    fi
  done <<<"$listed"
}
for w in $what; do
  case "$w" in
    nvcc)
      # Every nvcc CMake could find: on PATH and under the toolkit folders.
      { type -ap nvcc || true; ls -d /usr/local/cuda*/bin/nvcc /usr/bin/nvcc 2>/dev/null || true; } | hide_files
      unset CUDACXX CUDA_PATH CUDA_HOME
      ;;
    gui)
      dpkg -L libimgui-dev libglfw3-dev 2>/dev/null | hide_files
      ;;
  esac
done
exec "$@"
HIDE
}

failed=()
for p in "${paths[@]}"; do
  IFS=, read -r gen cuda gui <<<"$p"
  case "$gen" in make) gen_args=() ;; ninja) gen_args=(-G Ninja) ;; *) echo "build_paths: unknown generator '$gen' in $p" >&2; exit 2 ;; esac
  case "$cuda" in nvcc | no-nvcc) ;; *) echo "build_paths: '$cuda' in $p: nvcc or no-nvcc" >&2; exit 2 ;; esac
  case "$gui" in gui | no-gui) ;; *) echo "build_paths: '$gui' in $p: gui or no-gui" >&2; exit 2 ;; esac
  hide=""
  [[ "$cuda" == no-nvcc ]] && hide+="nvcc "
  [[ "$gui" == no-gui ]] && hide+="gui"
  dir="$work/${gen}-${cuda}-${gui}"
  rm -rf "$dir"
  log="$dir.log"
  echo "== $p: cmake -S . -B $dir ${gen_args[*]} ${ATTNSCOPE_BUILD_PATHS_ARGS:-} && cmake --build $dir"
  start=$SECONDS
  # shellcheck disable=SC2086
  if ! (cd "$root" && without "$hide" bash -c 'cmake -S . -B "$0" "${@}" && cmake --build "$0"' \
          "$dir" "${gen_args[@]}" ${ATTNSCOPE_BUILD_PATHS_ARGS:-}) >"$log" 2>&1; then
    tail -30 "$log"
    echo "FAIL $p: the build failed (log: $log)"
    failed+=("$p")
    continue
  fi
  problems=()
  bin="$dir/attnscope"
  [[ -x "$bin" ]] || problems+=("no attnscope binary")
  if [[ "$cuda" == nvcc ]]; then
    [[ -f "$dir/libattnscope_cuda.so" ]] || problems+=("nvcc was there but no libattnscope_cuda.so was built")
  else
    grep -q "attnscope: no CUDA compiler found" "$log" || problems+=("no status line saying the GPU plugin is skipped")
    [[ ! -e "$dir/libattnscope_cuda.so" ]] || problems+=("a GPU plugin was built without nvcc")
  fi
  if [[ "$gui" == gui ]]; then
    grep -q "attnscope: GUI enabled" "$log" || problems+=("the GUI was not enabled")
  else
    grep -q "attnscope: GUI not built - missing .*libimgui-dev" "$log" || problems+=("no status line naming the missing GUI packages")
    out="$("$bin" gui 2>&1 || true)"
    [[ "$out" == *"this build has no GUI"* ]] || problems+=("'attnscope gui' in a GUI-less build said: $out")
  fi
  if [[ -x "$bin" ]]; then
    if readelf -d "$bin" | grep -Eq 'NEEDED.*lib(cudart|cupti|cublas|cudnn|cuda)\.'; then
      problems+=("attnscope has a CUDA library as a load-time dependency")
    fi
    if ! (cd "$dir" && ./attnscope run --seq 64 --impl eager,flash2 --quiet -o smoke.h5 && ./attnscope report smoke.h5) \
         >"$dir/smoke.log" 2>&1; then
      problems+=("run + report failed: $(tail -3 "$dir/smoke.log")")
    fi
  fi
  if ((${#problems[@]})); then
    printf 'FAIL %s: %s\n' "$p" "${problems[@]}"
    failed+=("$p")
  else
    echo "ok   $p ($((SECONDS - start)) s)"
  fi
done
if ((${#failed[@]})); then
  echo "build_paths: ${#failed[@]} of ${#paths[@]} failed: ${failed[*]}"
  exit 1
fi
echo "build_paths: all ${#paths[@]} passed"
