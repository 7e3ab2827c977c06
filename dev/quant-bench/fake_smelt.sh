#!/usr/bin/env bash
# Test double for bench/quant_compare.py before `smelt quantize` / `smelt imatrix` exist: forwards
# those two commands to llama-quantize / llama-imatrix (same argument shapes as smelt's), and
# everything else to the real smelt ($REAL_SMELT, default build/smelt). Scratch only.
set -euo pipefail
PEER=${PEER_BIN:-$HOME/.cache/smelt/peer/bin}
REAL=${REAL_SMELT:-$(dirname "$0")/../../build/smelt}
case ${1:-} in
quantize)
    shift
    [[ ${1:-} == -t ]] && shift 2
    exec "$PEER/llama-quantize" --allow-requantize "$@" ;;
imatrix)
    shift
    exec "$PEER/llama-imatrix" --no-ppl "$@" ;;
*) exec "$REAL" "$@" ;;
esac
