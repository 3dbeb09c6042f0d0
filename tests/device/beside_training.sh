#!/usr/bin/env bash
# bench/device_final.sh's stage beside the GPU suite for issue 12: the training checks with real
# torch + transformers + triton (tests/device/run_training_checks.sh) against the attnscope just built.
# Figures and the log land in $1 (hf_training.json, hf_training.log).
set -u
DIR=${1:-/tmp}
mkdir -p "$DIR"
BIN=./build/attnscope OUT="$DIR" bash tests/device/run_training_checks.sh
