#!/bin/sh
# Build bench/kernels/bench_matmul.c against the current sources (no cmake needed).
# Usage: dev/speed/build_bench.sh OUT
set -e
cd "$(dirname "$0")/../.."
cc -O3 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc bench/kernels/bench_matmul.c \
   src/quant/*.c src/kernels/*.c src/base/*.c -lm -lpthread -o "${1:-/tmp/bench_matmul}"
