#!/usr/bin/env bash
# bench/device_final.sh's stage beside the GPU suite (correctness only) for issue 10: attnscope's sdpa:cudnn against torch's own
# cuDNN backend on the same tensors (tests/device/cudnn_vs_torch.py), with the cuDNN the call
# exported (ATTNSCOPE_CUDNN_LIBRARY: torch's 9.19). The table lands in $1/cudnn_vs_torch.txt.
set -u
DIR=${1:-/tmp}
mkdir -p "$DIR"
python3 tests/device/cudnn_vs_torch.py --attnscope ./build/attnscope -o /tmp/cudnn_vs_torch 2>&1 | tee "$DIR/cudnn_vs_torch.txt"
exit "${PIPESTATUS[0]}"
