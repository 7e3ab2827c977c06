#!/bin/sh
# Interleaved rounds: smelt BEFORE binary, smelt AFTER binary, llama-bench (if present).
# Usage: dev/speed/compare3.sh BEFORE AFTER [ROUNDS] [MODEL_NAME] [GGUF]
b=${1:?before}; a=${2:?after}; n=${3:-5}; m=${4:-smollm2-135m}; g=${5:-$HOME/.cache/smelt/models/SmolLM2-135M-Instruct.Q4_1.gguf}
lb=$HOME/.cache/smelt/peer/bin/llama-bench
uptime
i=0
while [ $i -lt "$n" ]; do
  printf 'round %d before: ' $i; "$b" bench -m "$m" -p 512 -n 128 -r 1 2>&1 | grep -E 'pp512|tg128' | awk -F'|' '{printf "%s %s ", $6, $7}'; echo
  printf 'round %d after:  ' $i; "$a" bench -m "$m" -p 512 -n 128 -r 1 2>&1 | grep -E 'pp512|tg128' | awk -F'|' '{printf "%s %s ", $6, $7}'; echo
  if [ -x "$lb" ]; then printf 'round %d llama:  ' $i; "$lb" -m "$g" -t 2 -p 512 -n 128 -r 1 2>&1 | grep -E 'pp512|tg128' | awk -F'|' '{printf "%s %s ", $(NF-2), $(NF-1)}'; echo; fi
  i=$((i+1))
done
uptime
