#!/usr/bin/env bash
# One device call for the training checks with real torch + transformers + triton (issue 12, item 6):
# tests/device/hf_training.py (registered functions without a backward, with a backward that drops
# dSinks, HF eager/sdpa gradients, padding a registered name loses, packed rows). Carry .devdeps
# (Debian packages the image lacks) as run_python_checks.sh does. Figures land in $OUT.
#
#   bash tests/device/run_training_checks.sh            # builds a CPU-only attnscope here
#   BIN=build/attnscope bash tests/device/run_training_checks.sh   # an attnscope already built
set -u
OUT=${OUT:-/tmp/attnscope-out}
mkdir -p "$OUT"
set -o pipefail
source tests/device/device_setup.sh
ARGS=("${CPU_ARGS[@]}")
python3 -c "import torch, transformers, triton; print('torch', torch.__version__, 'transformers', transformers.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
PYTHONUNBUFFERED=1 timeout 500 python3 tests/device/hf_training.py --attnscope "$BIN" --out /tmp/hf_training "${ARGS[@]}" 2>&1 \
  | tee "$OUT/hf_training.log"
rc=${PIPESTATUS[0]}
cp /tmp/hf_training/hf_training.json /tmp/hf_training/env.json "$OUT/" 2>/dev/null
exit $rc
