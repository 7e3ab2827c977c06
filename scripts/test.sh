#!/usr/bin/env bash
# Build and run every test: the release build's ctest suite, then the whole
# suite again under AddressSanitizer + UndefinedBehaviorSanitizer, then a short
# libFuzzer run of every fuzz target. Installs what it needs via setup.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh

JOBS="${JOBS:-$(nproc)}"
echo "== release build: ctest"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 900

echo "== ASan+UBSan build: ctest"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMELT_SANITIZE=ON >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 1800

echo "== fuzz smoke (${FUZZ_SECONDS:-30} s per target)"
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMELT_SANITIZE=ON \
    -DSMELT_FUZZ=ON >/dev/null
targets=$(ninja -C build-fuzz -t targets all | sed -n 's/^\(fuzz_[a-z0-9_]*\): .*/\1/p' | grep -v '_replay$' | sort -u)
for name in $targets; do
    ninja -C build-fuzz "$name"
    f=$(find build-fuzz -name "$name" -type f -perm -u+x | head -1)
    corpus="tests/fuzz/corpus/${name#fuzz_}"
    [ -d "$corpus" ] || corpus="tests/${name#fuzz_}/corpus"
    work=$(mktemp -d)
    if [ -d "$corpus" ]; then cp -r "$corpus"/. "$work"/; fi
    if ! "$f" -max_total_time="${FUZZ_SECONDS:-30}" -print_final_stats=0 "$work" >"$work.log" 2>&1; then
        echo "fuzzer $name found a crash:"; tail -40 "$work.log"; exit 1
    fi
    echo "$name: ok"
    rm -rf "$work" "$work.log"
done
echo "all tests passed"
