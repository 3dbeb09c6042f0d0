#!/usr/bin/env bash
# One device call for the checks that need real torch + transformers (issues 5 and 6):
#   1. diagnose ground truth: what transformers really does with each attn_implementation
#      (scripts/diagnose_ground_truth.py) beside what `attnscope diagnose --env` predicts;
#   2. HF layers dumped with scripts/attnscope_dump.py and replayed (tests/device/hf_replay.py).
# Carry .devdeps (Debian packages the image lacks). Logs and JSON land in $OUT.
set -u
OUT=${OUT:-/tmp/attnscope-out}
mkdir -p "$OUT"
set -o pipefail
# BIN: an attnscope already built (with the GPU plugin beside it); else a CPU-only build here.
source tests/device/device_setup.sh
REPLAY_ARGS=("${CPU_ARGS[@]}")
python3 -c "import torch, transformers, safetensors; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
python3 scripts/attnscope-env.py -o "$OUT/env.json" && echo "env.json written"
if [ -z "${SKIP_GT:-}" ]; then  # SKIP_GT=1 when tests/fixtures/device_h100 is current
  PYTHONUNBUFFERED=1 timeout 240 python3 scripts/diagnose_ground_truth.py -o "$OUT/ground_truth.json" > "$OUT/ground_truth.log" 2>&1
  echo "ground truth: rc=$?"; tail -15 "$OUT/ground_truth.log"
  for cfg in llama-3-8b gpt-oss-20b; do
    "$BIN" diagnose --env "$OUT/env.json" --config samples/hf/$cfg.json --json > "$OUT/predicted_$cfg.json" 2>> "$OUT/ground_truth.log"
    echo "diagnose --env ($cfg): rc=$?"
  done
fi
PYTHONUNBUFFERED=1 timeout 300 python3 tests/device/hf_replay.py --attnscope "$BIN" --out /tmp/replay "${REPLAY_ARGS[@]}" 2>&1 | tee "$OUT/hf_replay.log"
cp /tmp/replay/hf_replay.json "$OUT/" 2>/dev/null
# The tiny GPT-OSS dump with the sink-dropping function: a fixture for CI and the GUI.
mkdir -p "$OUT/dump" && cp /tmp/replay/gpt-oss-sinks_drop_sinks/layer000.* "$OUT/dump/" 2>/dev/null
