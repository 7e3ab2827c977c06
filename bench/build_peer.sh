#!/usr/bin/env bash
# Build the benchmark peer: llama.cpp's own `llama-bench`, from the llama.cpp sources vendored
# in the llama-cpp-python sdist on PyPI (the only registry this machine reaches).
#
#   bench/build_peer.sh            build (or reuse) the peer tools and print the path of llama-bench
#   bench/build_peer.sh --force    rebuild from scratch even if the cached binaries' stamp matches
#   bench/build_peer.sh --print-flags   print the cmake flags it would use, build nothing
#
# Environment:
#   SMELT_PEER_DIR      cache folder (default ~/.cache/smelt/peer)
#   SMELT_PEER_VERSION  llama-cpp-python version (default 0.3.36)
#   SMELT_PEER_SDIST    use this sdist .tar.gz instead of `pip download`
#   SMELT_PEER_JOBS     build jobs (default 2)
#   PIP                 pip command (default: python3 -m pip)
#   SMELT_PEER_CPU_FLAGS  CPU flags to plan for instead of /proc/cpuinfo's (for --print-flags checks)
#
# Output in $SMELT_PEER_DIR:
#   bin/llama-bench       llama/ggml linked in statically (only system libs such as libgomp are shared)
#   bin/llama-quantize    the same build, same flags: the peer quantizer (bench/quant_compare.py)
#   bin/llama-imatrix     the peer importance-matrix tool
#   bin/llama-perplexity  the peer perplexity / KL-divergence tool
#   STAMP                 what was built: version, upstream commit, compiler, exact cmake flags, tools
#   build.log             the configure + build log
# The last line on stdout is the absolute path of llama-bench (the other tools lie beside it, in
# the same bin/ folder: use `dirname`); everything else goes to stderr.
#
# When the cached STAMP names the same version, compiler and cmake flags but a tool is missing
# (an older cache that only had llama-bench), the existing build folder is reused and only the
# missing targets are compiled (ggml and llama are not rebuilt). --force always starts clean.
#
# CPU flags: GGML_NATIVE=OFF and the x86 features named explicitly, so the binary is the same
# whatever -march the compiler would guess. AVX2/FMA/F16C/BMI2 always on; AVX-512 (F, VNNI, BF16,
# VBMI) only when /proc/cpuinfo lists it; AMX always off (the AMX path crashes on the AVX-512
# reference machine even though the CPU advertises it).
set -euo pipefail

VER=${SMELT_PEER_VERSION:-0.3.36}
PEER_DIR=${SMELT_PEER_DIR:-$HOME/.cache/smelt/peer}
JOBS=${SMELT_PEER_JOBS:-2}
FORCE=0 PRINT=0
case ${1:-} in
--force) FORCE=1 ;;
--print-flags) PRINT=1 ;;
"") ;;
*) echo "usage: $0 [--force | --print-flags]" >&2; exit 2 ;;
esac

log() { echo "build_peer: $*" >&2; }

CPU_FLAGS=" ${SMELT_PEER_CPU_FLAGS:-$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)} "
cpu_has() { [[ $CPU_FLAGS == *" $1 "* ]]; }

for f in avx2 fma f16c bmi2; do
    cpu_has "$f" || { log "this CPU lacks $f; the peer build assumes AVX2/FMA/F16C/BMI2"; exit 1; }
done

FLAGS=(
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=OFF
    -DGGML_NATIVE=OFF
    -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
)
if cpu_has avx512f && cpu_has avx512bw && cpu_has avx512vl; then
    FLAGS+=(-DGGML_AVX512=ON)
    cpu_has avx512_vnni && FLAGS+=(-DGGML_AVX512_VNNI=ON) || FLAGS+=(-DGGML_AVX512_VNNI=OFF)
    cpu_has avx512_bf16 && FLAGS+=(-DGGML_AVX512_BF16=ON) || FLAGS+=(-DGGML_AVX512_BF16=OFF)
    cpu_has avx512vbmi && FLAGS+=(-DGGML_AVX512_VBMI=ON) || FLAGS+=(-DGGML_AVX512_VBMI=OFF)
else
    FLAGS+=(-DGGML_AVX512=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX512_VBMI=OFF)
fi
FLAGS+=(
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
    -DLLAMA_BUILD_TOOLS=ON
)
# GGML_OPENMP stays at its default (ON when the compiler has OpenMP).
if [[ $PRINT == 1 ]]; then
    echo "${FLAGS[*]}"
    exit 0
fi

TOOLS=(llama-bench llama-quantize llama-imatrix llama-perplexity)

CC_VER=$(cc --version | sed -n 1p)
STAMP_TEXT="llama-cpp-python==$VER
compiler: $CC_VER
cmake flags: ${FLAGS[*]}"

BIN=$PEER_DIR/bin/llama-bench
# The stamp without its upstream-commit and tools lines: what the build folder was configured with.
stamp_config() { grep -v -e '^upstream commit:' -e '^tools:' "$PEER_DIR/STAMP"; }
all_tools_cached() {
    local t
    for t in "${TOOLS[@]}"; do [[ -x $PEER_DIR/bin/$t ]] || return 1; done
    grep -qx "tools: ${TOOLS[*]}" "$PEER_DIR/STAMP"
}
SAME_CONFIG=0
if [[ -f $PEER_DIR/STAMP ]] && [[ "$(stamp_config)" == "$STAMP_TEXT" ]]; then
    SAME_CONFIG=1
fi
if [[ $FORCE == 0 && $SAME_CONFIG == 1 ]] && all_tools_cached; then
    log "cached: $BIN (and ${TOOLS[*]:1} in $PEER_DIR/bin)"
    log "$(tr '\n' ';' <"$PEER_DIR/STAMP")"
    echo "$BIN"
    exit 0
fi

mkdir -p "$PEER_DIR/src" "$PEER_DIR/bin"
SDIST=${SMELT_PEER_SDIST:-$PEER_DIR/src/llama_cpp_python-$VER.tar.gz}
if [[ ! -f $SDIST ]]; then
    log "downloading llama-cpp-python==$VER sdist from PyPI"
    read -r -a PIPCMD <<<"${PIP:-python3 -m pip}"
    "${PIPCMD[@]}" download --no-deps --no-binary :all: "llama-cpp-python==$VER" -d "$PEER_DIR/src" >&2
fi
[[ -f $SDIST ]] || { log "no sdist at $SDIST"; exit 1; }

SRC=$PEER_DIR/src/llama_cpp_python-$VER
if [[ ! -f $SRC/vendor/llama.cpp/CMakeLists.txt ]]; then
    log "unpacking $SDIST"
    rm -rf "$SRC"
    tar -xzf "$SDIST" -C "$PEER_DIR/src"
fi
LCPP=$SRC/vendor/llama.cpp
[[ -f $LCPP/CMakeLists.txt ]] || { log "no vendor/llama.cpp in $SDIST"; exit 1; }

# The sdist has no .git; its CHANGELOG names the upstream commit of the vendored llama.cpp.
UPSTREAM=$(grep -o -m1 'ggml-org/llama.cpp@[0-9a-f]*' "$SRC/CHANGELOG.md" 2>/dev/null | sed 's/.*@//' || true)
UPSTREAM=${UPSTREAM:-unknown}

BUILD=$PEER_DIR/build
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [[ $FORCE == 1 || $SAME_CONFIG == 0 || ! -f $BUILD/CMakeCache.txt ]]; then
    rm -rf "$BUILD"
    log "configuring llama.cpp@$UPSTREAM: ${FLAGS[*]}"
else
    log "reusing $BUILD (same version, compiler and flags); building what is missing"
    # an existing Ninja/Make folder must keep its generator
    GEN=()
fi
TARGET_ARGS=()
for t in "${TOOLS[@]}"; do TARGET_ARGS+=(--target "$t"); done
{
    echo "== cmake ${GEN[*]} ${FLAGS[*]} -DLLAMA_BUILD_COMMIT=$UPSTREAM"
    cmake -S "$LCPP" -B "$BUILD" "${GEN[@]}" "${FLAGS[@]}" -DLLAMA_BUILD_COMMIT="$UPSTREAM"
    echo "== cmake --build ${TARGET_ARGS[*]} -j $JOBS"
    cmake --build "$BUILD" "${TARGET_ARGS[@]}" -j "$JOBS"
} >"$PEER_DIR/build.log" 2>&1 || { log "build failed; tail of $PEER_DIR/build.log:"; tail -30 "$PEER_DIR/build.log" >&2; exit 1; }

for t in "${TOOLS[@]}"; do
    OUTBIN=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -1)
    [[ -n $OUTBIN ]] || { log "build finished but no $t binary found under $BUILD"; exit 1; }
    cp "$OUTBIN" "$PEER_DIR/bin/$t.tmp" && mv "$PEER_DIR/bin/$t.tmp" "$PEER_DIR/bin/$t"
    # some tools exit 1 after printing their usage; only a failure to start (126/127) or a signal counts
    rc=0
    "$PEER_DIR/bin/$t" --help >/dev/null 2>&1 || rc=$?
    ((rc < 126)) || { log "$PEER_DIR/bin/$t does not run (exit $rc)"; exit 1; }
done
printf '%s\nupstream commit: %s\ntools: %s\n' "$STAMP_TEXT" "$UPSTREAM" "${TOOLS[*]}" >"$PEER_DIR/STAMP"
log "built ${TOOLS[*]} in $PEER_DIR/bin"
log "$(tr '\n' ';' <"$PEER_DIR/STAMP")"
echo "$BIN"
