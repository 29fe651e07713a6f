#!/usr/bin/env bash
# The checks that need a GPU, in one run of under 8 minutes on one card:
#   1. the CUDA-only tests (those that skip without a CUDA device);
#   2. dastat rank on the bundled default on CUDA and on the CPU, same seed: both
#      tables and the relative differences of T. stddev (allowed: RANK_TOLERANCE);
#   3. dastat train with bf16 autocast for a few steps;
#   4. benchmarks/bench_train.py on CUDA: dastat vs the CRD-style loop (≥ 1.5×) and vs
#      bare compute (≥ 0.8×).
# Usage: bash benchmarks/gpu_check.sh   (DEVICE=cpu runs the same steps on the CPU, as a dry run;
#        STEPS="2 4" runs only those steps)
# Exits non-zero when a step fails; every step prints PASS or FAIL.
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE=${DEVICE:-cuda}
RANK_TOLERANCE=${RANK_TOLERANCE:-0.02}
BENCH_STEPS=${BENCH_STEPS:-100}  # a dry run on the CPU can use fewer
STEPS=${STEPS:-1 2 3 4}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=()

say() { printf '\n=== %s ===\n' "$*"; }
pass() { echo "PASS: $1"; }
want() { [[ " $STEPS " == *" $1 "* ]]; }
fail() { echo "FAIL: $1"; FAILED+=("$1"); }

# A Python with torch and dastat: $PYTHON, the project's .venv, the one on PATH, or `make install`.
find_python() {
    for candidate in "${PYTHON:-}" .venv/bin/python python3; do
        if [ -n "$candidate" ] && "$candidate" -c "import torch, torchvision" 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    make install >&2 && echo .venv/bin/python
}

PY=$(find_python) || { echo "FAIL: no Python with torch, and 'make install' failed"; exit 1; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DASTAT=("$PY" -m dastat)

say "environment"
"$PY" - <<EOF || { echo "FAIL: $DEVICE is not usable"; exit 1; }
import torch, dastat
print("torch", torch.__version__, "| dastat", dastat.__version__)
if "$DEVICE".startswith("cuda"):
    assert torch.cuda.is_available(), "torch sees no CUDA device"
    print("device:", torch.cuda.get_device_name(0))
EOF
"${DASTAT[@]}" evaluate --max-images 64 --device cpu >/dev/null || { echo "FAIL: the bundled default does not load (Fashion-MNIST missing? run: make data)"; exit 1; }

if want 1; then
say "1. CUDA-only tests"
cuda_tests=$(grep -l "torch.cuda.is_available" tests/*.py)
echo "files: $cuda_tests"
if [ "$DEVICE" = cpu ]; then
    echo "skipped (DEVICE=cpu)"
elif timeout 240 "$PY" -m pytest -q -rs -p no:cacheprovider -k cuda $cuda_tests | tee "$WORK/cuda_tests.log"; then
    if grep -q "no CUDA device" "$WORK/cuda_tests.log"; then fail "CUDA tests were skipped"; else pass "CUDA tests"; fi
else
    fail "CUDA tests"
fi
fi

if want 2; then
say "2. dastat rank on $DEVICE vs CPU (same seed)"
RANK_ARGS=(rank --da identity --da crop_flip --da mixup --da cutmix --max-images 2048 --precision 1e-9 --seed 0 --json --no-progress)
if timeout 120 "${DASTAT[@]}" "${RANK_ARGS[@]}" --device "$DEVICE" >"$WORK/rank_dev.json" &&
   timeout 150 "${DASTAT[@]}" "${RANK_ARGS[@]}" --device cpu >"$WORK/rank_cpu.json"; then
    if "$PY" - "$WORK/rank_dev.json" "$WORK/rank_cpu.json" "$RANK_TOLERANCE" <<'EOF'; then pass "rank $DEVICE vs CPU"; else fail "rank $DEVICE vs CPU"; fi
import json, sys
def records(path):  # rank --json writes {"provenance": ..., "results": [...]}
    data = json.load(open(path))
    return data["results"] if isinstance(data, dict) else data
dev, cpu = ({r["da"]: r for r in records(p)} for p in sys.argv[1:3])
tol, worst = float(sys.argv[3]), 0.0
print(f"{'DA':12} {'T. stddev (device)':>20} {'T. stddev (CPU)':>18} {'rel. diff':>10}")
for da in cpu:
    a, b = dev[da]["t_stddev"], cpu[da]["t_stddev"]
    rel = abs(a - b) / abs(b)
    worst = max(worst, rel)
    print(f"{da:12} {a:20.6f} {b:18.6f} {rel:10.2e}")
print(f"largest relative difference {worst:.2e} (allowed {tol})")
sys.exit(0 if worst <= tol else 1)
EOF
else
    fail "dastat rank did not finish"
fi
fi

if want 3; then
say "3. dastat train with bf16 autocast on $DEVICE"
AMP=bf16
if timeout 150 "${DASTAT[@]}" train --device "$DEVICE" --amp "$AMP" --recipe quick --student resnet8 --da cutmix \
        --max-steps 40 --subset 2560 --test-subset 1000 --out "$WORK/run" --no-progress &&
   "$PY" - "$WORK/run" <<'EOF'; then pass "train --amp $AMP"; else fail "train --amp $AMP"; fi
import json, math, sys
from pathlib import Path
rows = [json.loads(l) for l in (Path(sys.argv[1]) / "metrics.jsonl").read_text().splitlines() if l.strip()]
last = rows[-1]
print({k: last[k] for k in ("epoch", "train_loss", "test_top1", "test_loss") if k in last})
sys.exit(0 if all(math.isfinite(float(last[k])) for k in ("train_loss", "test_loss") if k in last) else 1)
EOF
fi

if want 4; then
say "4. benchmarks/bench_train.py on $DEVICE"
if timeout 200 "$PY" benchmarks/bench_train.py --device "$DEVICE" --steps "$BENCH_STEPS" --rounds 3 | tee "$WORK/bench.log"; then
    if "$PY" - "$WORK/bench.log" <<'EOF'; then pass "bench_train targets"; else fail "bench_train targets"; fi
import re, sys
text = open(sys.argv[1]).read()
loop = float(re.search(r"dastat / CRD-style loop = ([\d.]+)x", text).group(1))
bare = float(re.search(r"dastat / bare compute\s+= ([\d.]+)x", text).group(1))
print(f"dastat / CRD-style loop {loop:.2f}x (target >= 1.5), dastat / bare {bare:.2f}x (target >= 0.8)")
sys.exit(0 if loop >= 1.5 and bare >= 0.8 else 1)
EOF
else
    fail "bench_train did not finish"
fi
fi

say "summary"
if [ ${#FAILED[@]} -eq 0 ]; then
    echo "all GPU checks passed on $DEVICE"
else
    printf 'failed: %s\n' "${FAILED[@]}"
    exit 1
fi
