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
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . \
  || export PYTHONPATH=$PWD:${PYTHONPATH:-}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import cupy, sklearn, sklearn_lowrank; print('cupy', cupy.__version__, 'sklearn', sklearn.__version__)"
echo "== pytest -m gpu"
python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py
echo "== scikit-learn's array-API checks under CuPy (they skip elsewhere)"
if python3 -c "import array_api_strict" 2>/dev/null; then
  python3 -m pytest -q -p no:cacheprovider tests/test_common.py -k "array_api and cupy"
else
  echo "SKIPPED: the test suite imports array-api-strict, which is not installed here;"
  echo "put its wheel in .whl/ (see the top of this script)"
fi
echo "== benchmark"
python3 benchmarks/gpu_check.py "$@"
echo "== cost of one array operation"
python3 benchmarks/gpu_ops.py
echo "== what a fused or graph-captured iteration could reach"
python3 benchmarks/gpu_graph.py "$@"
echo "== where the host time of an iteration goes"
python3 benchmarks/gpu_profile.py "$@"
