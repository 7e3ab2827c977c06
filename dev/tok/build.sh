#!/bin/sh
# Scratch build of the tokenizer + a test without the full CMake tree (other areas may be mid-edit).
set -e
cd /work/main
B=${B:-/tmp/tokb}; mkdir -p $B
CF="-std=c17 -O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -Werror -Iinclude -Isrc -Itests $EXTRA"
OBJS=""
for f in src/tok/vocab.c src/tok/pretok.c src/tok/bpe.c src/tok/spm.c src/tok/encode.c src/tok/detok.c src/base/status.c src/gguf/gguf.c; do
  o=$B/$(echo $f | tr / _).o
  gcc $CF -c $f -o $o
  OBJS="$OBJS $o"
done
for t in "$@"; do
  gcc $CF tests/tok/$t.c $OBJS -o $B/$t -lpcre2-8 -lutf8proc -lm -lpthread
done
