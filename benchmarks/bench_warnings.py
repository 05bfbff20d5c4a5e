"""The residual checks' warnings, measured: where they come, and what their advice does.

Reproduces the counts the user guide gives for the two warnings that read a converged
fine-tuning's residuals, "The weakest ... may only fit noise" (the noise check) and
"The residuals hold a direction of M* that the fit lacks" (the missed-direction check),
on three grids of synthetic problems (``make_low_rank_sensing``, noise a fraction of
the standard deviation of the noiseless ``y``, the same ``X``):

- ``noise``: the noise check's grid, 1752 fits. Rank-one d = 10, 40, 100, matrix
  d = 10, 40 (up to n·d² = 5·10⁶); r = 1, 2, 5; n = 3, 10, 30 times the degrees of
  freedom; condition numbers 1 and 10; noise 0, 0.05, 0.1, 0.3; six seeds.
- ``missed``: the missed-direction grid, 630 fits. Rank-one d = 10, 40, 100, matrix
  d = 10, 20; r = 1, 2, 5; n = 3, 10, 30 times the degrees of freedom; condition
  numbers 1, 10, 100; noise 0, 0.05, 0.3; two seeds.
- ``missed-noisy``: 1260 fits where directions are lost, with noise. Both kinds,
  d = 10, 20, 40 (matrix up to n·d² = 5·10⁶); r = 2, 3; n = 3, 10, 30 times the
  degrees of freedom; condition numbers 30, 100, 300; noise 0, 0.02, 0.05, 0.1; three
  seeds.
- ``not-psd``: 204 fits of ``M* = u₁u₁ᵀ + u₂u₂ᵀ − c·u₃u₃ᵀ``, which no PSD matrix
  fits: how often the not-PSD warning comes. Both kinds, d = 10, 20, 40; c = 0.1,
  0.3, 1; n = 3, 10, 30 times the degrees of freedom of rank 3; noise 0, 0.05; two
  seeds. (On the three grids above, of PSD matrices, that warning is a false alarm.)

Every fit is the default estimator (``random_state`` the problem's seed). Its rank is
"right", "above" or "below" the true one. A warned fit is refitted with the advice its
message prints, read from the text as a user reads it, and compared with a fit told
the rank (``n_columns=r, alpha=0, threshold=0``). Not run in CI: the three grids take
about 6 minutes on the 2-core machine of ``README.md``.

    python benchmarks/bench_warnings.py [--grid noise|missed|missed-noisy|not-psd|all]
                                        [--seeds N]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import operator
import re
import time
import warnings

import numpy as np
from _common import header, table

from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._tangent import degrees_of_freedom
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

NOISE_TEXT, MISSED_TEXT = "may only fit noise", "that the fit lacks"
NOT_PSD_TEXT = "no PSD matrix explains"
# The advice as the messages print it.
NOISE_ALPHA = re.compile(r"Raise alpha to about ([0-9.e+-]+) ")
MISSED_ALPHA = re.compile(r"alpha lowered (?:tenfold \(to ([0-9.e+-]+)\)|to ([0-9.e+-]+) )")
MISSED_THRESHOLD = re.compile(r"\(threshold=([0-9.e+-]+), say\)")
MAX_DATA = 5e6  # matrix measurements: n·d² at most this
RANKS = ("right", "above", "below")
WARNINGS = ("noise warning", "missed warning", "other warning")


def noise_grid(seeds):
    sizes = [("rank_one", d) for d in (10, 40, 100)] + [("matrix", d) for d in (10, 40)]
    for (kind, d), r, mult in itertools.product(sizes, (1, 2, 5), (3, 10, 30)):
        n = mult * degrees_of_freedom(r, d)
        if kind == "matrix" and n * d * d > MAX_DATA:
            continue
        for kappa in (1,) if r == 1 else (1, 10):
            for noise, seed in itertools.product((0.0, 0.05, 0.1, 0.3), seeds):
                yield kind, d, r, n, kappa, noise, seed


def missed_grid(seeds):
    sizes = [("rank_one", d) for d in (10, 40, 100)] + [("matrix", d) for d in (10, 20)]
    for (kind, d), r, mult in itertools.product(sizes, (1, 2, 5), (3, 10, 30)):
        n = mult * degrees_of_freedom(r, d)
        for kappa in (1,) if r == 1 else (1, 10, 100):
            for noise, seed in itertools.product((0.0, 0.05, 0.3), seeds):
                yield kind, d, r, n, kappa, noise, seed


def missed_noisy_grid(seeds):
    for kind, d, r, mult in itertools.product(
        ("rank_one", "matrix"), (10, 20, 40), (2, 3), (3, 10, 30)
    ):
        n = mult * degrees_of_freedom(r, d)
        if kind == "matrix" and n * d * d > MAX_DATA:
            continue
        for kappa, noise, seed in itertools.product(
            (30, 100, 300), (0.0, 0.02, 0.05, 0.1), seeds
        ):
            yield kind, d, r, n, kappa, noise, seed


def not_psd_grid(seeds):
    kinds = ("rank_one", "matrix")
    for kind, d, mult in itertools.product(kinds, (10, 20, 40), (3, 10, 30)):
        n = mult * degrees_of_freedom(3, d)
        if kind == "matrix" and n * d * d > MAX_DATA:
            continue
        for negative, noise, seed in itertools.product((0.1, 0.3, 1.0), (0.0, 0.05), seeds):
            yield kind, d, n, negative, noise, seed


GRIDS = {
    "noise": (noise_grid, 6),
    "missed": (missed_grid, 2),
    "missed-noisy": (missed_noisy_grid, 3),
    "not-psd": (not_psd_grid, 2),
}


def fit(X, y, kind, seed, **params):
    """The fitted model and the messages of its warnings."""
    model = PrunedFactorSensing(measurement=kind, random_state=seed, **params)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X, y)
    return model, [str(w.message) for w in record]


def advice(messages):
    """Which residual warning came ("noise", "missed") and the parameters it
    advises; ``(None, None)`` without one."""
    for message in messages:
        if NOISE_TEXT in message:
            return "noise", {"alpha": float(NOISE_ALPHA.search(message).group(1))}
        if MISSED_TEXT in message:
            params = {}
            threshold = MISSED_THRESHOLD.search(message)
            if threshold:
                params["threshold"] = float(threshold.group(1))
            alpha = MISSED_ALPHA.search(message)
            if alpha:
                params["alpha"] = float(alpha.group(1) or alpha.group(2))
            return "missed", params
    return None, None


def outcome(model, messages, truth, rank):
    """What a fit found: its rank against the true one, error, residual warnings."""
    found = model.n_components_
    noise = [NOISE_TEXT in m for m in messages]
    missed = [MISSED_TEXT in m for m in messages]
    return {
        "rank": "right" if found == rank else ("above" if found > rank else "below"),
        "error": relative_error(model.components_.T, truth),
        "noise warning": any(noise),
        "missed warning": any(missed),
        "not-PSD warning": any(NOT_PSD_TEXT in m for m in messages),
        "other warning": not all(map(operator.or_, noise, missed)),
    }


def run_case(kind, d, r, n, kappa, noise, seed):
    problem = dict(measurement=kind, condition_number=kappa, random_state=seed)
    _, y0, _ = make_low_rank_sensing(n, d, r, **problem)
    X, y, truth = make_low_rank_sensing(n, d, r, noise=noise * float(np.std(y0)), **problem)
    model, messages = fit(X, y, kind, seed)
    row = {"kind": kind, "noise": noise, **outcome(model, messages, truth, r)}
    row["advice"], params = advice(messages)
    if params is not None:
        told, _ = fit(X, y, kind, seed, n_columns=r, alpha=0.0, threshold=0.0)
        row["told"] = relative_error(told.components_.T, truth)
        row["refit"] = outcome(*fit(X, y, kind, seed, **params), truth, r)
    return row


def run_not_psd_case(kind, d, n, negative, noise, seed):
    """M = u₁u₁ᵀ + u₂u₂ᵀ − negative·u₃u₃ᵀ: whether the not-PSD warning comes."""
    X, _, factor = make_low_rank_sensing(n, d, 3, measurement=kind, random_state=seed)
    M = factor[:, :2] @ factor[:, :2].T - negative * np.outer(factor[:, 2], factor[:, 2])
    if kind == "rank_one":
        y = np.einsum("ni,ij,nj->n", X, M, X)
    else:
        y = X @ M.ravel()
    y = y + noise * float(np.std(y)) * np.random.default_rng(seed).standard_normal(n)
    _, messages = fit(X, y, kind, seed)
    return {
        "kind": kind,
        "negative": negative,
        "noise": noise,
        "warned": any(NOT_PSD_TEXT in m for m in messages),
    }


def count_table(rows, keys):
    """Fits by ``keys``: with either residual warning, with only another, silent."""
    groups = collections.defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    residual = WARNINGS[:2]
    return table(
        [*keys, "fits", *residual, "not-PSD warning", "another warning only", "silent"],
        [
            [
                *key,
                len(group),
                *(sum(r[w] for r in group) for w in residual),
                sum(r["not-PSD warning"] for r in group),
                sum(r["other warning"] and not any(map(r.get, residual)) for r in group),
                sum(not any(map(r.get, WARNINGS)) for r in group),
            ]
            for key, group in sorted(groups.items())
        ],
    )


def warned_table(rows, keys):
    """Fits of a matrix that is not PSD by ``keys``: how many got the warning."""
    groups = collections.defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    return table(
        [*keys, "fits", "not-PSD warning"],
        [[*key, len(g), sum(r["warned"] for r in g)] for key, g in sorted(groups.items())],
    )


def refit_table(rows, keys):
    """What refitting with the advice did, by ``keys`` (``"advice"``: whose)."""
    groups = collections.defaultdict(list)
    for row in rows:
        if "refit" in row:
            groups[tuple(row[k] for k in keys)].append(row)
    lines = []
    for key, group in sorted(groups.items()):
        pairs = [(r, r["refit"]) for r in group]
        lines.append(
            [
                *key,
                len(group),
                *(sum(f["rank"] == c for _, f in pairs) for c in RANKS),
                sum(f["error"] < r["error"] for r, f in pairs),
                sum(f["error"] <= 1.1 * r["told"] for r, f in pairs),
                sum(r["error"] <= 1.1 * r["told"] for r, _ in pairs),
                sum(f["noise warning"] or f["missed warning"] for _, f in pairs),
            ]
        )
    return table(
        [*keys, "refits", "right", "above", "below", "smaller error",
         "within 10% of told (after)", "(before)", "warned again"],
        lines,
    )  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=[*GRIDS, "all"], default="all")
    parser.add_argument("--seeds", type=int, help="seeds per case (default: the grid's)")
    args = parser.parse_args()
    print(header())
    for name in GRIDS if args.grid == "all" else [args.grid]:
        cases, default_seeds = GRIDS[name]
        start = time.perf_counter()
        run = run_not_psd_case if name == "not-psd" else run_case
        rows = [run(*case) for case in cases(range(args.seeds or default_seeds))]
        print(f"\n## {name}: {len(rows)} fits ({time.perf_counter() - start:.0f} s)\n")
        if name == "not-psd":
            print(warned_table(rows, ("kind", "negative", "noise")))
            continue
        print(count_table(rows, ("kind", "rank", "noise")))
        print()
        print(refit_table(rows, ("advice", "kind", "rank", "noise")))


if __name__ == "__main__":
    main()
