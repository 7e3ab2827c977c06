#!/bin/bash
# Build dev/quant/imat_speed against quant_imat.c at COMMIT (renamed orig_*)
# and the working tree's, then run it. usage: imat_speed.sh COMMIT ROWS.bin REPEATS TYPE...
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
B="${BUILD:-$ROOT/build-qspeed}"
C=$1; shift
T=$(mktemp -d)
git -C "$ROOT" show "$C:src/quant/quant_imat.c" > "$T/orig.c"
FL="-O3 -DNDEBUG -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I$ROOT/include -I$ROOT/src"
cc $FL -Dsmelt_quantize_imat=orig_quantize_imat -Dsmelt_quantize_imat_supported=orig_supported -c "$T/orig.c" -o "$T/orig.o"
cc $FL ${NEWFLAGS:-} -c "$ROOT/src/quant/quant_imat.c" -o "$T/new.o"
cc $FL "$ROOT/dev/quant/imat_speed.c" "$T/orig.o" "$T/new.o" "$B/libsmelt.a" -lm -lpthread -o "$T/imat_speed"
if [ -n "${KEEP:-}" ]; then cp "$T/imat_speed" "$KEEP"; fi
"$T/imat_speed" "$@"
rm -rf "$T"
