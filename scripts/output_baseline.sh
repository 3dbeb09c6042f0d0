#!/usr/bin/env bash
# Records what the attnscope binary prints on the committed fixtures and samples, or checks that a
# build still prints exactly that: a refactor changes structure, not behaviour.
#
#   scripts/output_baseline.sh record  DIR [BINARY]   # before the change (DIR outside the tree)
#   scripts/output_baseline.sh compare DIR [BINARY]   # after it: byte-identical, or the diff
#
# Cases: report (text and --json), diff and export-trace of every capture under tests/fixtures;
# diagnose (text and --json) over the HF configs and layer specs of samples/ and
# the diagnose fixtures, named GPUs, the committed Python environments, verl configs with
# overrides, attn_implementation strings and the committed logs. `record` also writes CPU
# captures of the samples with that binary into DIR/captures (kept: `compare` reports the same
# files) and, as a second check of the analysis code, `compare` runs the same captures again and
# compares their JSON report with the times and the creation stamp left out.
# Environments whose transformers version the catalogue changes on purpose go to DIR/extra and are
# compared only with `compare-extra` (printed, not failed).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:?record|compare|compare-extra}
dir=${2:?output folder}
bin=${3:-build/attnscope}
[ -x "$bin" ] || { echo "no binary $bin" >&2; exit 2; }
bin=$(realpath "$bin")
export ATTNSCOPE_NO_GPU=1

out=$dir/out
[ "$mode" = record ] || out=$dir/new
# The diagnose fixtures are read from a copy taken when recording: their paths appear in the output,
# and a refactor may move them within the tree.
fx=$dir/inputs
if [ "$mode" = record ] && [ ! -d "$fx" ]; then
  mkdir -p "$fx"
  cp tests/fixtures/diagnose/*.json tests/fixtures/diagnose/*.log "$fx/"
fi
rm -rf "$out" && mkdir -p "$out" "$dir/captures"

n=0
# export-trace writes a temporary file and renames it into place: never point -o at /dev/stdout.
trace_() {  # NAME ARGS...: the trace file's contents, then what the command printed
  local name=$1
  shift
  local t
  t=$(mktemp -d)
  "$bin" export-trace "$@" -o "$t/trace.json" >"$t/log" 2>&1
  echo "exit $?" >>"$t/log"
  { cat "$t/trace.json" 2>/dev/null; sed "s|$t|TMP|g" "$t/log"; } >"$out/$name"
  rm -rf "$t"
  n=$((n + 1))
}
# one case: NAME then the arguments; stdout+stderr and the exit code go to $out/NAME
case_() {
  local name=$1
  shift
  "$bin" "$@" >"$out/$name" 2>&1
  echo "exit $?" >>"$out/$name"
  n=$((n + 1))
}

diffs_() {  # TAG CAPTURE: diff of each run against the one before it (the first against the reference)
  local prev=reference r
  while IFS= read -r r; do
    case_ "diff_${1}_${prev// /_}_${r// /_}.txt" diff "$2" "$prev" "$r"
    prev=$r
  done < <(python3 -c 'import sys, h5py
for k in sorted(h5py.File(sys.argv[1], "r")["runs"].keys()): print(k.replace("%2F", "/"))' "$2")
}

# ---- captures: the committed fixtures ----------------------------------------------------------
for cap in $(git ls-files 'tests/fixtures/*.h5' 'tests/fixtures/**/*.h5'); do
  t=$(echo "$cap" | tr '/' '_')
  case_ "report_$t.txt" report "$cap"
  case_ "report_$t.json" report "$cap" --json
  trace_ "trace_$t.json" "$cap"
  trace_ "trace_nomem_$t.json" "$cap" --no-memory --warmup
  diffs_ "$t" "$cap"
done

# ---- captures made on this machine (CPU) --------------------------------------------------------
run_cases=(
  "gptoss|--spec samples/gpt-oss-20b.json --seq 96 --what-if"
  "gptoss_full|--spec samples/gpt-oss-20b-full.json --seq 64 --what-if --batch 2"
  "llama3_nonsquare|--spec samples/llama-3-8b.json --seq-q 40 --seq-k 72 --dtype fp16"
  "gemma2|--spec samples/gemma-2-9b.json --seq 80 --what-if"
  "mistral_window|--spec samples/mistral-7b.json --seq 70"
  "phi2_fp32|--spec samples/phi-2.json --seq 48 --what-if"
  "t4fp32|--spec samples/failing-t4-fp32-flash2.json --seq 64 --what-if --gpu T4"
  "hf_gptoss_l0|--config samples/hf/gpt-oss-20b.json --layer 0 --seq 72 --what-if --dist outliers"
  "llama2_probe|--spec samples/llama-2-7b.json --seq 96 --probe b=0,h=3,rows=32:64"
  "hf_dump_import|--spec tests/fixtures/hf_dump_gptoss_drop_sinks/layer000.json --inputs tests/fixtures/hf_dump_gptoss_drop_sinks/layer000.safetensors --import-run hf=tests/fixtures/hf_dump_gptoss_drop_sinks/layer000.safetensors:out --what-if"
)
norm() {  # JSON report without what differs between two runs of the same capture
  python3 -c '
import json, sys
drop = {"created", "median_ms", "times_ms", "capture", "ms"}
def clean(x):
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items() if k not in drop}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x
print(json.dumps(clean(json.load(sys.stdin)), indent=1, sort_keys=True))'
}
for rc in "${run_cases[@]}"; do
  name=${rc%%|*}
  args=${rc#*|}
  cap=$dir/captures/$name.h5
  if [ "$mode" = record ] && [ ! -f "$cap" ]; then
    # shellcheck disable=SC2086
    "$bin" run $args --cpu --threads 1 --quiet -o "$cap" >/dev/null 2>&1 || echo "run $name failed" >&2
  fi
  case_ "report_cpu_$name.txt" report "$cap"
  case_ "report_cpu_$name.json" report "$cap" --json
  trace_ "trace_cpu_$name.json" "$cap"
  diffs_ "cpu_$name" "$cap"
  if [ "$mode" = record ]; then
    "$bin" report "$cap" --json | norm >"$out/rerun_$name.json"
  else
    fresh=$(mktemp --suffix=.h5)
    # shellcheck disable=SC2086
    "$bin" run $args --cpu --threads 1 --quiet -o "$fresh" >/dev/null 2>&1
    "$bin" report "$fresh" --json | norm >"$out/rerun_$name.json"
    rm -f "$fresh"
  fi
done

# ---- diagnose -------------------------------------------------------------------------------------
envs=("none|" "h100|--env tests/fixtures/device_h100/env.json")
extra_envs=("t4_undef|--env $fx/env_t4_undefined_symbol.json")
# The H100 environment with other transformers versions (written into DIR once).
mkdir -p "$dir/envs"
for v in 4.36.0 4.44.2 4.48.0 4.51.3 4.53.0 4.54.1 4.55.0 4.56.2 4.57.3 5.0.0 5.2.0 5.3.0 5.17.0 4.20.0 6.1.0; do
  f=$dir/envs/tf$v.json
  [ -f "$f" ] || python3 - tests/fixtures/device_h100/env.json "$v" "$f" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
e["packages"]["transformers"]["version"] = sys.argv[2]
json.dump(e, open(sys.argv[3], "w"), indent=1)
EOF
  case $v in
    4.36.0 | 4.44.2 | 4.48.0 | 4.51.3 | 4.53.0 | 4.54.1 | 4.20.0 | 6.1.0) extra_envs+=("tf$v|--env $f") ;;  # issue 9 item 5: names and model types that do not exist yet, releases outside every known range
    *) envs+=("tf$v|--env $f") ;;
  esac
done

models=()
for f in samples/hf/*.json $fx/{gemma-2-9b,gpt-oss-20b,llama-2-7b,mistral-7b}.json; do
  models+=("$(basename "$(dirname "$f")")_$(basename "$f" .json)|--config $f")
done
for f in samples/*.json; do models+=("spec_$(basename "$f" .json)|--spec $f"); done

diag() {  # NAME ARGS...: text and JSON
  local name=$1
  shift
  case_ "diag_$name.txt" diagnose --no-local-gpu "$@"
  case_ "diag_$name.json" diagnose --no-local-gpu --json "$@"
}

run_envs() {  # list-name prefix
  local -n list=$1
  local pre=$2
  for e in "${list[@]}"; do
    en=${e%%|*}
    ea=${e#*|}
    for m in "${models[@]}"; do
      mn=${m%%|*}
      ma=${m#*|}
      for g in none T4 A100 H100; do
        ga=""
        [ $g = none ] || ga="--gpu $g"
        # shellcheck disable=SC2086
        diag "${pre}${en}_${mn}_$g" $ea $ma $ga
      done
    done
    for impl in flash_attention_2 flash_attention_3 sdpa eager flex_attention 'paged|eager' no_such_attention \
                /tmp/x/flash_attention_triton_sink.py triton_attention_sink/flash_attention_triton_sink.py \
                kernels-community/vllm-flash-attn3 'org/repo@v1:fn' ''; do
      for m in samples/hf/gpt-oss-20b.json samples/hf/llama-3-8b.json samples/hf/gemma-2-9b.json; do
        safe=$(echo "$impl" | tr '/|@:.' '_____')
        # shellcheck disable=SC2086
        diag "${pre}${en}_attn_${safe}_$(basename $m .json)" $ea --config $m --gpu H100 --attn-implementation "$impl"
        # shellcheck disable=SC2086
        diag "${pre}${en}_attn_${safe}_$(basename $m .json)_T4" $ea --config $m --gpu T4 --dtype bf16 \
          --attn-implementation "$impl"
      done
    done
  done
}
run_envs envs ""

verl=samples/verl/ppo_actor_override_only.yaml
for g in T4 V100 A100 H100; do
  for m in llama-2-7b gpt-oss-20b gemma-2-9b; do
    diag "verl_${g}_$m" --gpu $g --config samples/hf/$m.json --verl-config $verl
    diag "verl_${g}_${m}_fp32" --gpu $g --config samples/hf/$m.json --dtype float32 --verl-config $verl
    diag "verl_${g}_${m}_ovr" --gpu $g --config samples/hf/$m.json --verl-config $verl -- \
      +critic.model.override_config.attn_implementation=eager actor_rollout_ref.model.use_remove_padding=True \
      actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32
    diag "verl_${g}_${m}_h100env" --gpu $g --config samples/hf/$m.json --verl-config $verl \
      --env tests/fixtures/device_h100/env.json -- actor_rollout_ref.rollout.name=sglang ~critic \
      algorithm.adv_estimator=grpo
  done
done
diag verl_bad_override --gpu T4 --config samples/hf/llama-2-7b.json --verl-config $verl -- \
  critic.model.override_config.attn_implementation=sdpa +actor_rollout_ref.model.path=x
for log in "$fx"/*.log; do
  for g in T4 H100; do
    diag "log_$(basename "$log" .log)_$g" --gpu $g --log "$log" --config samples/hf/llama-2-7b.json
  done
done
diag all_t4 --gpu T4 --config samples/hf/llama-2-7b.json --dtype float32 --verl-config $verl \
  --log "$fx/verl_t4_critic.log" --attn-implementation flash_attention_2
diag layer1 --gpu A100 --config samples/hf/gpt-oss-20b.json --layer 1 --seq 4096 --batch 2
diag seqs --gpu A100 --config samples/hf/llama-3-8b.json --seq-q 100 --seq-k 300 --dtype fp16
for g in V100 A10G L4 RTX3090 RTX4090 H200 B200 sm75 sm86 sm90 sm100 sm120; do
  diag "gpu_$g" --gpu $g --config samples/hf/gpt-oss-20b.json
  diag "gpu_${g}_llama" --gpu $g --config samples/hf/llama-2-7b.json --dtype float16
done

# The environments whose outcome issue 9 item 5 changes on purpose, kept apart.
main_out=$out
out=$dir/extra
[ "$mode" = record ] || out=$dir/extra_new
rm -rf "$out" && mkdir -p "$out"
run_envs extra_envs ""
out=$main_out

echo "$n cases"
case $mode in
  record) echo "recorded into $dir/out and $dir/extra" ;;
  compare)
    if diff -r "$dir/out" "$dir/new" >"$dir/diff.txt"; then
      echo "identical: $(ls "$dir/new" | wc -l) files"
    else
      echo "DIFFERENT: $(grep -c '^diff ' "$dir/diff.txt") files, see $dir/diff.txt"
      exit 1
    fi ;;
  compare-extra)
    diff -r "$dir/extra" "$dir/extra_new" >"$dir/diff_extra.txt"
    echo "extra: $(grep -c '^diff ' "$dir/diff_extra.txt") of $(ls "$dir/extra" | wc -l) files differ, see $dir/diff_extra.txt"
    diff -r "$dir/out" "$dir/new" >"$dir/diff.txt" && echo "identical: $(ls "$dir/new" | wc -l) files" ||
      { echo "DIFFERENT: $(grep -c '^diff ' "$dir/diff.txt") files, see $dir/diff.txt"; exit 1; } ;;
esac
