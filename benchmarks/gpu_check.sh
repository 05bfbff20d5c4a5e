#!/usr/bin/env bash
# One prepared GPU check: install the checkout, run the GPU tests and scikit-learn's
# array-API checks under CuPy, print the benchmark table (see benchmarks/gpu_check.py for
# what each column means), the cost of one array operation (benchmarks/gpu_ops.py),
# what a graph-captured iteration could reach (benchmarks/gpu_graph.py) and where an
# iteration's host time goes (benchmarks/gpu_profile.py). Needs CuPy and
# a GPU.
#   bash benchmarks/gpu_check.sh            # full sizes (a few minutes on an H100/H200)
#   bash benchmarks/gpu_check.sh --quick    # small sizes, to check the script itself
# Offline machines: put the wheels of missing dependencies (array-api-compat, and
# array-api-strict for the array-API checks) in .whl/.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl > /tmp/gpu_check_wheels.log 2>&1 \
    || echo "NOTE: installing .whl/ failed (see /tmp/gpu_check_wheels.log)"
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
# Offline, without build isolation, the editable install needs the machine's own
# setuptools >= 77; without it the checkout is imported from here, which works as well.
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . \
    > /tmp/gpu_check_install.log 2>&1 \
  || { echo "NOTE: editable install failed (/tmp/gpu_check_install.log); using PYTHONPATH=$PWD"
       export PYTHONPATH=$PWD:${PYTHONPATH:-}; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# Without CuPy or a visible GPU every GPU test skips and would read as a pass: stop.
python3 -c "
import cupy, sklearn, sklearn_lowrank
cupy.cuda.runtime.getDeviceProperties(0)
print('cupy', cupy.__version__, 'sklearn', sklearn.__version__)" \
  || { echo "FATAL: CuPy cannot be imported or sees no GPU; nothing to check."; exit 2; }

# Each step runs whatever the others did; the exit status says whether any failed.
failed=()
step() {
  echo "== $1"
  shift
  "$@" || failed+=("$*")
}
step "pytest -m gpu" python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py
if python3 -c "import array_api_strict" 2>/dev/null; then
  step "scikit-learn's array-API checks under CuPy (they skip elsewhere)" \
    python3 -m pytest -q -p no:cacheprovider tests/test_common.py -k "array_api and cupy"
else
  echo "== SKIPPED scikit-learn's array-API checks: the test suite imports"
  echo "   array-api-strict, which is not installed here; put its wheel in .whl/"
fi
step "benchmark" python3 benchmarks/gpu_check.py "$@"
step "cost of one array operation" python3 benchmarks/gpu_ops.py
step "what a fused or graph-captured iteration could reach" \
  python3 benchmarks/gpu_graph.py "$@"
step "where the host time of an iteration goes" python3 benchmarks/gpu_profile.py "$@"
if ((${#failed[@]})); then
  echo "FAILED steps (see above):"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "All steps passed."
