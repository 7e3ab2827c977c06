#!/bin/sh
# Interleaved A/B of the whole model: the same smelt binary with the tiled
# matmuls (A) and with SMELT_MATMUL=dot (B: one vec_dot per output, the old
# path). Usage: dev/speed/ab.sh SMELT_BIN [ROUNDS] [MODEL] ; prints the t/s lines and load averages.
bin=${1:?smelt binary}; n=${2:-3}; model=${3:-smollm2-135m}
uptime
i=0
while [ $i -lt "$n" ]; do
  echo "== round $i tiled"; "$bin" bench -m "$model" -p 512 -n 128 -r 1 2>&1 | grep -E "pp512|tg128"
  echo "== round $i dot";   SMELT_MATMUL=dot "$bin" bench -m "$model" -p 512 -n 128 -r 1 2>&1 | grep -E "pp512|tg128"
  i=$((i+1))
done
uptime
