"""What every benchmark script shares: problems, timing, the descent loop, tables.

Timing convention. A run starts the clock *before* the measurement operator is built and
the data scale is computed, so every method pays for its own set-up. After each iteration
the solver calls a :class:`Trace`, which stores a timestamp and a copy of the factor; the
time spent inside the trace itself (copying, the occasional early-stop check) is
subtracted, and errors are computed from the stored factors after the run.
"""

from __future__ import annotations

import inspect
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field

import numpy as np

from sklearn_lowrank._line_search import quartic_step
from sklearn_lowrank._solvers import _StallTest, minimize
from sklearn_lowrank._three_phase import fit_three_phase
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

#: The benchmark problems' sizes: (measurement, n_samples, d, rank).
PROBLEMS = {
    "dense": ("matrix", 600, 40, 3),
    "rank-one": ("rank_one", 5000, 100, 5),
    "rank-one large": ("rank_one", 20000, 200, 10),
}

TARGET = 1e-6
# Every factored method starts and stops as the estimator does by default: initial column
# norm relative to the data scale, and gradient tolerance in normalised units.
_DEFAULTS = inspect.signature(fit_three_phase).parameters
INIT_SCALE = _DEFAULTS["init_scale"].default
TOL = _DEFAULTS["tol"].default


@dataclass
class Problem:
    name: str
    measurement: str
    X: np.ndarray
    y: np.ndarray
    truth: np.ndarray
    kappa: float
    noise: float

    @property
    def dim(self):
        return self.truth.shape[0]

    @property
    def rank(self):
        return self.truth.shape[1]

    def statistical_floor(self):
        """``σ·√(rd/n) / ‖M*‖_F``: the minimax error scale of rank-r sensing."""
        n, (d, r) = self.y.shape[0], self.truth.shape
        return self.noise * math.sqrt(r * d / n) / np.linalg.norm(self.truth.T @ self.truth)


def make_problem(name, kappa, *, noise=0.0, seed=0, dtype=np.float64):
    measurement, n, d, r = PROBLEMS[name]
    X, y, truth = make_low_rank_sensing(
        n,
        d,
        r,
        measurement=measurement,
        condition_number=kappa,
        noise=noise,
        dtype=dtype,
        random_state=seed,
    )
    return Problem(name, measurement, X, y, truth.astype(np.float64), kappa, noise)


class StopRun(Exception):
    """Raised from a trace to end a run early (target reached or budget spent)."""


class Trace:
    """Callback recording per-iteration timestamps and factor copies.

    Parameters
    ----------
    truth : ndarray or None
        True factor, for the early stop at ``stop_below``.
    stop_below : float or None
        End the run (raise :class:`StopRun`) once the relative error is below this; the
        error is checked every ``check_every`` iterations, off the clock.
    budget : float or None
        End the run after this many seconds on the clock.
    max_iter : int or None
        End the run after this many recorded iterations.
    """

    def __init__(
        self, truth=None, stop_below=None, budget=None, max_iter=None, check_every=10
    ):
        self.truth = truth
        self.stop_below = stop_below
        self.budget = budget
        self.max_iter = max_iter
        self.check_every = check_every
        self.unit = 1.0  # factors are multiplied by this to be in the units of y

    def start(self):
        self.times, self.factors, self.phases = [], [], []
        self.stopped = None
        self._excluded = 0.0
        self._t0 = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self._t0 - self._excluded

    def __call__(self, U, phase=""):
        entered = time.perf_counter()
        self.times.append(entered - self._t0 - self._excluded)
        self.factors.append(np.array(U, dtype=np.float64, copy=True))
        self.phases.append(phase)
        reason = None
        if self.budget is not None and self.times[-1] > self.budget:
            reason = "budget"
        elif self.max_iter is not None and len(self.times) >= self.max_iter:
            reason = "max_iter"
        elif (
            self.stop_below is not None
            and len(self.times) % self.check_every == 0
            and relative_error(self.factors[-1] * self.unit, self.truth) < self.stop_below
        ):
            reason = "target"
        self._excluded += time.perf_counter() - entered
        if reason is not None:
            self.stopped = reason
            raise StopRun(reason)

    def errors(self, truth):
        return np.array([relative_error(U * self.unit, truth) for U in self.factors])


@dataclass
class Run:
    """One run of one method: its curve and final model."""

    method: str
    times: np.ndarray
    errors: np.ndarray
    factor: np.ndarray | None  # final factor in the units of y (None: not factored)
    n_params: int
    rank: int
    seconds: float
    extra: dict = field(default_factory=dict)

    def time_to(self, target=TARGET):
        hit = np.flatnonzero(self.errors <= target)
        return float(self.times[hit[0]]) if hit.size else math.inf

    def iters_to(self, target=TARGET):
        hit = np.flatnonzero(self.errors <= target)
        return int(hit[0]) + 1 if hit.size else -1

    @property
    def final_error(self):
        return float(self.errors[-1]) if self.errors.size else math.inf

    @property
    def stopped_by_budget(self):
        """Whether the time budget, not the method's own rule, ended the run."""
        return self.extra.get("stopped") == "budget"


def effective_rank(U, rtol=1e-3):
    """Eigenvalues of ``UUᵀ`` above ``rtol`` times the largest."""
    s = np.linalg.svd(np.asarray(U, dtype=np.float64), compute_uv=False) ** 2
    return int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0


def finish(method, trace, truth, U, *, n_columns=None, extra=None):
    """Turn a finished trace into a :class:`Run` (errors are computed here)."""
    errors = trace.errors(truth)
    factor = None if U is None else np.asarray(U, dtype=np.float64) * trace.unit
    k = factor.shape[1] if n_columns is None else n_columns
    return Run(
        method=method,
        times=np.asarray(trace.times),
        errors=errors,
        factor=factor,
        n_params=truth.shape[0] * k,
        rank=k,
        seconds=trace.times[-1] if trace.times else 0.0,
        extra=dict(extra or {}, stopped=trace.stopped),
    )


def descend(op, y, U, precondition=None, *, max_iter=100_000, tol=TOL, callback=None):
    """First-order descent along ``precondition(U, grad, f)`` with the exact line search.

    The one step-size rule of every first-order baseline, and the library's own for the
    plain loss: each step is priced by the operator's ``directional`` pass and is the
    exact minimiser of the quartic along the direction
    (:func:`sklearn_lowrank._line_search.quartic_step`). With ``precondition=None`` this
    *is* the library's gradient descent (:func:`sklearn_lowrank._solvers.minimize`,
    ``memory=0``), which the estimator's fine-tuning phase runs.

    Stops when ``‖∇f(U)‖_F ≤ tol·max(‖U‖_F, 1)``, when the objective stalls (the
    library's rule and constants) or after ``max_iter`` iterations. Returns the final
    factor.
    """
    if precondition is None:
        return minimize(op, y, U, memory=0, max_iter=max_iter, tol=tol, callback=callback).U
    xp, n = op.xp, op.n_samples

    def evaluate(U, state):
        residual = state.predictions - y
        value = float(residual @ residual) / (2.0 * n)
        return residual, value, 2.0 * op.adjoint_times(U, state, residual)

    state = op.start(U)
    residual, value, grad = evaluate(U, state)
    stall = _StallTest(xp, y, U.dtype, value)
    for _ in range(max_iter):
        direction = precondition(U, grad, value)
        a, b, extra = op.directional(U, state, direction)
        step = quartic_step(xp, residual, a, b, n)
        U = U - step * direction
        state = op.advance(state, a, b, extra, step)
        # value feeds the next direction (PrecGD's damping √(2f(U))): it must be the
        # new one (7946e4f left it at f(U₀), and PrecGD never reached 1e-6).
        residual, value, grad = evaluate(U, state)
        if callback is not None:
            callback(U)
        if float(np.linalg.norm(grad)) <= tol * max(float(np.linalg.norm(U)), 1.0):
            break
        if stall(value):
            break
    return U


# ---------------------------------------------------------------------------- reporting
def median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else math.nan


def paired_ratio(runs, baseline_runs, key):
    """Median over repeats of ``key(run) / key(baseline run)`` of the same repeat.

    Methods of one repeat run back to back, so a ratio within a repeat is far less
    affected by other load on the machine than a ratio of medians taken minutes apart.
    """
    return median([key(a) / key(b) for a, b in zip(runs, baseline_runs, strict=False)])


def time_bound(run, target=TARGET):
    """``(time to target, bound)``: ``bound`` is "" for a measured time (``inf`` when
    the run stopped by its own rule short of the target) and "≥" when the budget ended the
    run first: the time is then only known to exceed the run's length, returned instead.
    """
    t = run.time_to(target)
    if math.isinf(t) and run.stopped_by_budget:
        return run.seconds, "≥"
    return t, ""


def paired_time_ratio(runs, baseline_runs, target=TARGET):
    """:func:`paired_ratio` of the times to ``target``, as ``(ratio, bound)``.

    Where the budget ended a run before the target, its time is a lower bound
    (:func:`time_bound`), and so is the ratio for a run of ``runs`` ("≥"); for one of
    ``baseline_runs`` the ratio is an upper bound ("≤"). The median is monotone in each
    ratio, so the median of bounds all one way is a bound the same way; with bounds both
    ways nothing is known ("?").
    """
    ratios, bounds = [], set()
    for a, b in zip(runs, baseline_runs, strict=False):
        if a is b:
            ratios.append(1.0)
            continue
        (ta, bound_a), (tb, bound_b) = time_bound(a, target), time_bound(b, target)
        if bound_a:
            bounds.add("≥")
        if bound_b:
            bounds.add("≤")
        ratios.append(ta / tb)
    if len(bounds) > 1:
        return median(ratios), "?"
    return median(ratios), bounds.pop() if bounds else ""


def method_rows(runs, cases, methods, reference, cells):
    """One table row per case and method that ran: the case, ``cells(method, results,
    reference_results)`` (the method's column first) and the final model's size.

    ``runs`` maps ``(case name, κ, method)`` to the repeats' runs; ``reference`` is the
    method the ratios are taken against.
    """
    rows = []
    for name, kappa in cases:
        ref = runs[(name, kappa, reference)]
        for method in methods:
            results = runs.get((name, kappa, method))
            if results:
                row = cells(method, results, ref)
                rows.append([f"{name} κ={kappa}", *row, *model_size(results[-1])])
    return rows


def model_size(run):
    """``("columns (effective rank)", "parameters")`` of a run's final model."""
    return f"{run.rank} ({effective_rank(run.factor)})", f"{run.n_params:,}"


def fmt_time(seconds):
    if seconds is None or math.isnan(seconds):
        return "n/a"
    if math.isinf(seconds):
        return "not reached"
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_ratio(value, bound=""):
    """A ratio; with ``bound`` "≥" or "≤" (:func:`paired_time_ratio`) only a bound."""
    if bound == "?" or (bound and (value == 0 or math.isinf(value))):
        return "n/a (not finished within budget)"
    if bound == "≥":
        return f"≥ {value:.2f}× (numerator not finished within budget)"
    if bound == "≤":
        return f"≤ {value:.2f}× (denominator not finished within budget)"
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞ (numerator not reached)"
    if value == 0:
        return "0 (denominator not reached)"
    return f"{value:.2f}×"


def verdict(value, goal, bound=""):
    """Whether ``ratio ≤ goal``: "met"/"MISSED" for a measured ratio; for a bound only
    what the bound proves ("met (bound)", "MISSED (bound)"), else "unknown"."""
    if bound == "?" or math.isnan(value):
        return "unknown"
    if bound == "≤":
        return "met (bound)" if value <= goal else "unknown"
    if bound == "≥":
        return "MISSED (bound)" if value > goal else "unknown"
    return "met" if value <= goal else "MISSED"


def table(headers, rows):
    """A Markdown table (aligned, so it also reads well in a terminal)."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return (
            "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        )

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def machine_info():
    """CPU model, core count, Python, NumPy and its BLAS (via threadpoolctl)."""
    cpu = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info

        # NumPy and SciPy each bundle an OpenBLAS; list every BLAS loaded.
        blas = "; ".join(
            f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
            f"{i.get('num_threads')} threads, {os.path.basename(i.get('filepath', ''))})"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        )
    except ImportError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, BLAS {blas}"
    )


def code_version():
    """Commit of the checkout, marked when the package has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        run = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True)
        run.check_returncode()
        return run.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "sklearn_lowrank")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes to sklearn_lowrank/" if dirty else "")


def header(blas_threads=None):
    """Lines every script prints first: machine, code, load, BLAS thread limit."""
    limit = "as installed" if blas_threads is None else f"limited to {blas_threads}"
    return (
        f"machine: {machine_info()}\n"
        f"code: sklearn_lowrank at {code_version()}\n"
        f"BLAS threads: {limit}; load average at start: {os.getloadavg()[0]:.2f}"
    )


def blas_threads(n):
    """Context limiting BLAS threads to ``n`` (no limit for ``None``).

    On a small machine shared with other work, one thread gives steadier timings: a
    two-thread BLAS call slows down sharply when one of its threads is descheduled.
    """
    from contextlib import nullcontext

    if n is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n, user_api="blas")


def run_arguments(description, repeats):
    """Argument parser with the options every timing script shares."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per run")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads (steadier timings)",
    )
    return parser


def results_path(name):
    os.makedirs(RESULTS, exist_ok=True)
    return os.path.join(RESULTS, name)
