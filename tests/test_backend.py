"""The array-module backend, and the whole estimator under a strict Array-API namespace.

array_api_strict refuses silent host conversions on its non-default device exactly as
CuPy does on a GPU, so a fit that passes there keeps its hot loop inside the namespace.
"""

import functools
import math
import sys
import types
import warnings

import array_api_strict as xps
import numpy as np
import pytest
from _backends import NUMPY_AGREEMENT, NUMPY_XP, needs_dispatch
from array_api_compat import array_namespace, is_numpy_namespace
from sklearn import config_context
from sklearn.exceptions import DataConversionWarning, UndefinedMetricWarning

import sklearn_lowrank._backend as backend_module
import sklearn_lowrank._estimator as estimator_module
from sklearn_lowrank import PrunedFactorSensing
from sklearn_lowrank._backend import (
    check_dtype_range,
    check_writable,
    fetch,
    from_host,
    has_float64,
    move_to,
    namespace_and_device,
    resolve_namespace,
    to_host,
)
from sklearn_lowrank._operators import measure
from sklearn_lowrank.datasets import make_low_rank_sensing
from sklearn_lowrank.metrics import relative_error

DEVICES = [xps.Device("CPU_DEVICE"), xps.Device("device1")]
PROBLEMS = {
    "dense": dict(n_samples=400, n_features=10, rank=2, measurement="matrix"),
    "rank_one": dict(n_samples=600, n_features=12, rank=2, measurement="rank_one"),
}


def test_namespace_and_device_of_numpy_like_inputs_is_numpy():
    for x in (np.ones(3), [1.0, 2.0], (1, 2)):
        xp, dev = namespace_and_device(x)
        assert is_numpy_namespace(xp) and dev == "cpu"


@pytest.mark.parametrize("dev", DEVICES, ids=str)
def test_namespace_and_device_of_strict_arrays(dev):
    x = xps.asarray(np.ones(3), device=dev)
    xp, found = namespace_and_device(x)
    assert xp is xps and found == dev


@pytest.mark.parametrize("dev", DEVICES, ids=str)
def test_move_to_round_trip(dev):
    host = np.arange(6.0).reshape(2, 3)
    moved = move_to(host, xps, dev)
    assert moved.device == dev
    assert move_to(moved, xps, dev) is moved  # already there: no copy
    np.testing.assert_array_equal(to_host(moved), host)
    np.testing.assert_array_equal(move_to(moved, np), host)
    # Same namespace, another device: moved too.
    other = DEVICES[1] if dev == DEVICES[0] else DEVICES[0]
    assert move_to(moved, xps, other).device == other


@pytest.mark.parametrize("dev", DEVICES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fetch_returns_each_array_in_its_shape_in_one_transfer(monkeypatch, dev, dtype):
    import sklearn_lowrank._backend as backend

    parts = [np.array(2.5), np.arange(6.0).reshape(2, 3), np.arange(4.0) - 1.5]
    arrays = [xps.asarray(p.astype(dtype), device=dev) for p in parts]
    transfers = []
    original = backend.to_host
    monkeypatch.setattr(
        backend, "to_host", lambda x: transfers.append(x.shape) or original(x)
    )
    fetched = fetch(xps, *arrays)
    assert transfers == [(11,)]
    for host, expected in zip(fetched, parts, strict=True):
        assert isinstance(host, np.ndarray) and host.dtype == np.float64
        np.testing.assert_array_equal(host, expected)
    (single,) = fetch(xps, arrays[1])
    assert len(transfers) == 2 and single.shape == (2, 3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_tensors_fit_in_float64(dtype):
    """As scikit-learn does with NumPy's float16: computed (and stored) in float64.
    (PyTorch's eigh has no half-precision kernel: kept, the fit failed inside.)"""
    torch = pytest.importorskip("torch")
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=4)
    half = getattr(torch, dtype)
    model = PrunedFactorSensing(random_state=0).fit(
        torch.asarray(X).to(half), torch.asarray(y).to(half)
    )
    assert model.components_.dtype == torch.float64
    assert model.predict(torch.asarray(X).to(half)).dtype == torch.float64
    reference = PrunedFactorSensing(random_state=0).fit(X.astype(np.float16), y)
    assert model.n_components_ == reference.n_components_


def test_resolve_namespace():
    assert resolve_namespace("auto", xps) is xps
    assert is_numpy_namespace(resolve_namespace("numpy", xps))
    with pytest.raises(ValueError, match="array_module"):
        resolve_namespace("jax", xps)


def test_cupy_without_cupy_is_an_import_error(without_cupy):
    with pytest.raises(ImportError, match="needs CuPy"):
        resolve_namespace("cupy", np)


def _cupy_without_gpu(get_device_count):
    """A stand-in ``cupy`` module whose CUDA runtime reports no usable GPU."""
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(runtime=runtime)
    return module


def _raise_no_driver():
    raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")


@pytest.mark.parametrize(
    "get_device_count, message",
    [(lambda: 0, "no GPU is visible"), (_raise_no_driver, "cannot reach a GPU.*driver")],
    ids=["zero-gpus", "no-driver"],
)
def test_cupy_without_a_gpu_is_a_clear_error_before_work(
    monkeypatch, get_device_count, message
):
    """CuPy installed but no GPU: the fit says so before any work, estimator unchanged."""
    monkeypatch.setitem(sys.modules, "cupy", _cupy_without_gpu(get_device_count))
    with pytest.raises(RuntimeError, match=message):
        resolve_namespace("cupy", np)
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=0)
    model = PrunedFactorSensing(array_module="cupy", random_state=0)
    with pytest.raises(RuntimeError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "components_")


@pytest.mark.parametrize("finetune_iter", [2000, 0])
@pytest.mark.parametrize("dev", DEVICES, ids=str)
def test_warnings_on_data_outside_the_model_in_any_namespace(dev, finetune_iter):
    """The centred-y and no-better-than-the-mean checks reduce on the device (and,
    without fine-tuning, predict there): array_api_strict refuses host conversion."""
    X, _, factor = make_low_rank_sensing(2000, 20, 2, random_state=0)
    shifted = X + 3.0
    y = np.sum((shifted @ factor) ** 2, axis=1)
    centred_X = (shifted - shifted.mean(axis=0)) / shifted.std(axis=0)
    model = PrunedFactorSensing(finetune_iter=finetune_iter, random_state=0)
    put = functools.partial(xps.asarray, device=dev)
    with pytest.warns(UserWarning, match="y looks centred"):
        model.fit(put(X), put(y - y.mean()))
    with pytest.warns(UserWarning, match=r"explains none .* \(training R² -"):
        model.fit(put(centred_X), put(y))


@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_forced_array_module_computes_there_and_returns_numpy(monkeypatch, problem):
    """array_module="cupy" on NumPy data, with array_api_strict standing in for CuPy:
    the work runs in the forced namespace, the fitted model is NumPy (it pickles
    without a GPU) and equals a NumPy fit to rounding."""
    monkeypatch.setattr(backend_module, "cupy_namespace", lambda: xps)
    computed_in = []
    original = estimator_module.fit_three_phase

    def recording(op, y, **kwargs):
        computed_in.append((op.xp, array_namespace(y)))
        return original(op, y, **kwargs)

    monkeypatch.setattr(estimator_module, "fit_three_phase", recording)
    spec = PROBLEMS[problem]
    X, y, _ = make_low_rank_sensing(**spec, random_state=0)
    params = dict(measurement=spec["measurement"], random_state=0)
    forced = PrunedFactorSensing(array_module="cupy", **params).fit(X, y)
    reference = PrunedFactorSensing(**params).fit(X, y)
    assert computed_in == [(xps, xps), (NUMPY_XP, NUMPY_XP)]
    for name in ("components_", "column_norms_", "support_"):
        assert isinstance(getattr(forced, name), np.ndarray), name
    assert isinstance(forced.predict(X), np.ndarray)
    np.testing.assert_allclose(
        forced.get_matrix(), reference.get_matrix(), rtol=1e-10, atol=1e-12
    )


def test_from_host_accepts_negative_strides():
    """``eigh``'s columns reversed (a negative stride) cross to any namespace: PyTorch
    refuses such arrays, so they are made contiguous first."""
    host = np.arange(6.0).reshape(2, 3)[:, ::-1]
    moved = from_host(array_namespace(np.empty(0)), host)
    assert moved.flags.c_contiguous
    np.testing.assert_array_equal(moved, host)
    dev = xps.Device("device1")
    moved = from_host(xps, host, device=dev)
    assert namespace_and_device(moved) == (xps, dev)
    np.testing.assert_array_equal(to_host(moved), host)
    assert from_host(xps, np.array(2.0), device=dev).shape == ()


# ------------------------------------------------- the estimator, namespace-generic
def check_fit_follows_x(problem, dtype, put):
    """Fit on ``put(X), put(y)`` and on NumPy: the fitted attributes and outputs live in
    ``put``'s namespace and device, and match NumPy's. Two libraries' BLAS round
    differently, so the estimate is compared, not the rotation of its columns."""
    spec = PROBLEMS[problem]
    X, y, _ = make_low_rank_sensing(**spec, condition_number=3, noise=0.01, random_state=0)
    X, y = X.astype(dtype), y.astype(dtype)
    params = dict(measurement=spec["measurement"], random_state=0)
    reference = PrunedFactorSensing(**params).fit(X, y)
    X_dev, y_dev = put(X), put(y)
    where = namespace_and_device(X_dev)
    model = PrunedFactorSensing(**params).fit(X_dev, y_dev)
    for name in ("components_", "column_norms_", "support_"):
        assert namespace_and_device(getattr(model, name)) == where, name
    assert model.components_.dtype == X_dev.dtype
    assert model.n_components_ == reference.n_components_ == spec["rank"]
    rtol = NUMPY_AGREEMENT[dtype]
    expected = reference.get_matrix()
    np.testing.assert_allclose(
        to_host(model.get_matrix()), expected, rtol=rtol, atol=rtol * np.abs(expected).max()
    )
    prediction = model.predict(X_dev)
    assert namespace_and_device(prediction) == where
    assert prediction.dtype == X_dev.dtype
    expected = reference.predict(X)
    np.testing.assert_allclose(
        to_host(prediction), expected, rtol=rtol, atol=rtol * np.abs(expected).max()
    )
    transformed = model.transform(X_dev)
    assert namespace_and_device(transformed) == where
    assert transformed.dtype == X_dev.dtype
    # Row norms (‖Uᵀxᵢ‖, or ‖UᵀAᵢU‖_F) do not depend on the rotation of U's columns.
    expected = np.linalg.norm(reference.transform(X), axis=1)
    assert transformed.shape == reference.transform(X).shape
    np.testing.assert_allclose(
        np.linalg.norm(to_host(transformed), axis=1),
        expected,
        rtol=rtol,
        atol=rtol * np.abs(expected).max(),
    )
    assert model.score(X_dev, y_dev) == pytest.approx(reference.score(X, y), abs=10 * rtol)
    # R² where the model explains about half of the target, weighted and not: the
    # formula itself is compared, which a near-perfect fit (R² ≈ 1) cannot show.
    rng = np.random.default_rng(0)
    y_half = (y + np.std(y) * rng.standard_normal(y.shape)).astype(dtype)
    weights = rng.uniform(0.5, 2.0, y.shape).astype(dtype)
    for w in (None, weights):
        expected = reference.score(X, y_half, sample_weight=w)
        assert 0.2 < expected < 0.8
        found = model.score(X_dev, put(y_half), sample_weight=None if w is None else put(w))
        assert found == pytest.approx(expected, abs=10 * rtol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("dev", DEVICES, ids=str)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_fit_under_array_api_strict_matches_numpy(problem, dev, dtype):
    check_fit_follows_x(problem, dtype, lambda values: xps.asarray(values, device=dev))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_fit_on_torch_tensors_matches_numpy(problem, dtype):
    """A third Array-API library, whose own rules array_api_strict does not have (it
    refuses negative strides). Skipped without PyTorch; CI installs ``[torch]``."""
    torch = pytest.importorskip("torch")
    check_fit_follows_x(problem, dtype, torch.asarray)


@pytest.mark.parametrize("numpy_x", [False, True])
def test_tensors_that_require_grad_are_read_for_their_values(numpy_x):
    """A PyTorch tensor with requires_grad=True broke fit and score inside the fit
    (BufferError: DLPack refuses to export it), after validation; predict returned
    outputs attached to its graph. Every entry point now reads the values: the same
    fit, predictions and score as the detached tensors, no gradient recorded."""
    torch = pytest.importorskip("torch")
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], noise=0.1, random_state=0)
    weights = np.arange(1, y.size + 1) % 3 + 1.0
    plain = [X if numpy_x else torch.asarray(X), torch.asarray(y), torch.asarray(weights)]
    tracked = [
        v if isinstance(v, np.ndarray) else v.clone().requires_grad_() for v in plain
    ]
    fits = [PrunedFactorSensing(random_state=0).fit(*args[:2]) for args in (plain, tracked)]
    np.testing.assert_array_equal(
        to_host(fits[1].components_), to_host(fits[0].components_)
    )
    predicted = fits[0].predict(tracked[0])
    assert not getattr(predicted, "requires_grad", False)
    np.testing.assert_array_equal(to_host(predicted), to_host(fits[0].predict(plain[0])))
    assert fits[0].score(*tracked) == fits[0].score(*plain)


@pytest.mark.parametrize("measurement", ["rank_one", "matrix"])
def test_residual_checks_run_on_the_device(measurement):
    """The checks that read the fine-tuning's residuals (noise level, missed direction)
    run in the array module: on array_api_strict's second device (which refuses a
    silent transfer) a fit that drops a needed direction warns as it does on NumPy."""
    X, y, _ = make_low_rank_sensing(
        390, 20, 2, measurement=measurement, condition_number=100, random_state=0
    )
    dev = xps.Device("device1")
    messages = []
    for X_in, y_in in ((X, y), (xps.asarray(X, device=dev), xps.asarray(y, device=dev))):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            PrunedFactorSensing(measurement=measurement, random_state=0).fit(X_in, y_in)
        messages.append([str(w.message) for w in record])
    assert len(messages[0]) == 1 and "that the fit lacks" in messages[0][0]
    assert messages[1] == messages[0]


def test_y_on_another_device_of_the_namespace_follows_x():
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=5)
    dev = xps.Device("device1")
    model = PrunedFactorSensing(random_state=0).fit(
        xps.asarray(X, device=dev), xps.asarray(y)
    )
    assert namespace_and_device(model.components_) == (xps, dev)
    assert model.n_components_ == PROBLEMS["rank_one"]["rank"]


@pytest.mark.parametrize("dispatch", [False, pytest.param(True, marks=needs_dispatch)])
def test_targets_of_another_namespace_follow_numpy_x(dispatch):
    """Everything follows X, y and weights too: with NumPy X, a y on another device
    failed inside check_X_y ("Can't convert array on the 'device1' device"), and under
    array_api_dispatch a strict y broke the fit with an AttributeError (scikit-learn's
    check_array_api_mixed_inputs fails the same way)."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], noise=0.5, random_state=3)
    reference = PrunedFactorSensing(random_state=0).fit(X, y)
    weights = np.arange(1, y.size + 1) % 3 + 1.0
    for dev in DEVICES:
        with config_context(array_api_dispatch=dispatch):
            model = PrunedFactorSensing(random_state=0).fit(X, xps.asarray(y, device=dev))
            score = model.score(
                X,
                xps.asarray(y, device=dev),
                sample_weight=xps.asarray(weights, device=dev),
            )
        assert isinstance(model.components_, np.ndarray)
        np.testing.assert_array_equal(model.components_, reference.components_)
        assert score == pytest.approx(
            reference.score(X, y, sample_weight=weights), rel=1e-12
        )


def test_string_targets_holding_nan_are_refused_as_nan():
    """Strings became numbers after check_X_y, so a "nan" among them passed its test
    and surfaced as a non-finite data scale ("y holds values too large")."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=4)
    text = y.astype(str)
    text[3] = "nan"
    for put in (np.asarray, lambda a: xps.asarray(a, device=xps.Device("device1"))):
        with pytest.raises(ValueError, match="Input y contains NaN"):
            PrunedFactorSensing().fit(put(X), text)


def test_object_targets_are_read_as_numbers_in_any_namespace():
    """Array-API X with an object y (a pandas column of strings, say) failed to move
    it (no object dtype there), with an error that did not name y."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=4)
    Xs = xps.asarray(X, device=xps.Device("device1"))
    reference = PrunedFactorSensing(random_state=0).fit(Xs, y)
    for objects in (y.astype(object), y.astype(str).astype(object)):
        model = PrunedFactorSensing(random_state=0).fit(Xs, objects)
        np.testing.assert_array_equal(
            to_host(model.components_), to_host(reference.components_)
        )
    with pytest.raises(ValueError, match="y must hold numbers"):
        PrunedFactorSensing().fit(Xs, np.array(["a"] * y.size, dtype=object))


def test_string_targets_are_read_as_numbers_in_any_namespace():
    """NumPy X read numeric strings in y as numbers, strict X failed to move them
    (strings have no Array-API dtype), with an error that did not name y."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=4)
    dev = xps.Device("device1")
    Xs = xps.asarray(X, device=dev)
    model = PrunedFactorSensing(random_state=0).fit(Xs, y.astype(str))
    reference = PrunedFactorSensing(random_state=0).fit(Xs, xps.asarray(y, device=dev))
    np.testing.assert_array_equal(
        to_host(model.components_), to_host(reference.components_)
    )
    assert model.score(Xs, y.astype(str)) == pytest.approx(
        reference.score(Xs, y), rel=1e-12
    )
    with pytest.raises(ValueError, match="y must hold numbers"):
        PrunedFactorSensing().fit(Xs, np.array(["a"] * y.size))


@pytest.mark.parametrize("device_name", ["no_float64", "no_x64"])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_fit_on_a_device_without_float64(problem, device_name):
    """Apple's Metal GPUs have no float64 (array_api_strict's "no_float64" device
    stands in): the line search formed its Gram matrices in float64 and the fitted
    column norms travelled as float64, so every fit failed with a ValueError. The
    device computes in float32, its Gram matrices on unit-scaled columns. Without
    int64 either ("no_x64"), the package's index arrays (packed entries, kept columns)
    were refused partway through the fit: they travel in the device's indexing dtype."""
    X, y, factor = make_low_rank_sensing(**PROBLEMS[problem], random_state=6)
    kind = PROBLEMS[problem]["measurement"]
    dev = xps.Device(device_name)
    X32 = X.astype(np.float32)
    reference = PrunedFactorSensing(measurement=kind, random_state=0).fit(X32, y)
    X_int = np.round(10 * X).astype(np.int32)
    for X_dev, y_dev in [
        (xps.asarray(X32, device=dev), xps.asarray(y.astype(np.float32), device=dev)),
        (xps.asarray(X32, device=dev), y),  # float64 y from the host
        # Integers become float32 there, not float64.
        (xps.asarray(X_int, device=dev), measure(kind, X_int.astype(float), factor)),
    ]:
        model = PrunedFactorSensing(measurement=kind, random_state=0).fit(X_dev, y_dev)
        for fitted in (model.components_, model.column_norms_):
            assert fitted.device == dev and fitted.dtype == xps.float32
        assert model.n_components_ == reference.n_components_ == factor.shape[1]
        estimate = to_host(model.components_).T.astype(np.float64)
        assert relative_error(estimate, factor) < 1e-5
        assert model.predict(X_dev).device == dev
    # Host float64 data are checked, under their own names, before they travel.
    X_dev = xps.asarray(X32, device=dev)
    with pytest.raises(ValueError, match=r"^y holds values .* the widest float dtype"):
        PrunedFactorSensing(measurement=kind).fit(X_dev, 1e60 * y)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        PrunedFactorSensing(measurement=kind).fit(X_dev, np.where(y > 0, np.nan, y))
    with pytest.raises(ValueError, match="Input sample_weight contains NaN"):
        model.score(X_dev, y, sample_weight=np.full(y.shape, np.nan))


def test_float64_probe_that_fails_counts_as_float64():
    """A namespace whose dtype probe raises is not refused: it is taken to have
    float64, as one without a probe is."""

    class Info:
        def dtypes(self, *, device=None):
            raise RuntimeError("no answer for this device")

    class Namespace:
        __array_namespace_info__ = Info

    assert has_float64(Namespace(), "anywhere")
    assert has_float64(types.SimpleNamespace(), "anywhere")
    assert not has_float64(xps, xps.Device("no_float64"))
    # Nor is it asked for an indexing dtype: host indices keep NumPy's. The package's
    # indices travel in the device's; other integers are not narrowed.
    indices, no_x64 = np.arange(3), xps.Device("no_x64")
    assert from_host(xps, indices, index=True).dtype == xps.int64
    assert from_host(xps, indices, device=no_x64, index=True).dtype == xps.int32
    with pytest.raises(ValueError, match="does not support"):
        from_host(xps, np.array([2**40]), device=no_x64)


def test_numpy_model_predicts_on_strict_input_and_back():
    """Outside array_api_dispatch the small factor is moved to where X lives."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=1)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    dev = xps.Device("device1")
    prediction = model.predict(xps.asarray(X, device=dev))
    assert namespace_and_device(prediction) == (xps, dev)
    np.testing.assert_allclose(to_host(prediction), model.predict(X), rtol=1e-12)


def test_array_module_numpy_computes_on_host_and_stores_like_x():
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=2)
    dev = xps.Device("device1")
    forced = PrunedFactorSensing(array_module="numpy", random_state=0).fit(
        xps.asarray(X, device=dev), xps.asarray(y, device=dev)
    )
    reference = PrunedFactorSensing(random_state=0).fit(X, y)
    assert namespace_and_device(forced.components_) == (xps, dev)
    np.testing.assert_array_equal(to_host(forced.components_), reference.components_)


def test_column_vector_y_warns_as_for_numpy():
    """A (n, 1) y is raveled with scikit-learn's DataConversionWarning in any
    namespace (only NumPy input warned), and fits as the 1-D y does."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=1)
    dev = xps.Device("device1")
    Xs = xps.asarray(X, device=dev)
    flat = PrunedFactorSensing(random_state=0).fit(Xs, xps.asarray(y, device=dev))
    column = xps.asarray(y[:, None], device=dev)
    with pytest.warns(DataConversionWarning, match="column-vector y") as record:
        model = PrunedFactorSensing(random_state=0).fit(Xs, column)
    assert record[0].filename == __file__
    np.testing.assert_array_equal(to_host(model.components_), to_host(flat.components_))
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        PrunedFactorSensing(random_state=0).fit(X, y[:, None])


def test_score_of_a_constant_target_in_any_namespace():
    """R² of a constant y is 1 for a perfect prediction and 0 otherwise, as
    r2_score has it: the Array-API path handles that case itself."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    dev = xps.Device("device1")
    Xs = xps.asarray(X, device=dev)
    constant = np.full(y.shape, 2.5)
    assert model.score(Xs, xps.asarray(constant, device=dev)) == model.score(X, constant)
    assert model.score(X, constant) == 0.0
    predicted = model.predict(X)
    model.predict = lambda X: xps.asarray(predicted, device=dev)  # a perfect fit of y
    exact = xps.asarray(predicted, device=dev)
    assert model.score(Xs, exact) == 1.0
    model.predict = lambda X: xps.asarray(np.full(y.shape, 2.5), device=dev)
    assert model.score(Xs, xps.asarray(constant, device=dev)) == 1.0


def test_score_checks_its_target_in_any_namespace():
    """score's y and sample_weight are checked as fit's y is: a (n, 1) y broadcast
    against the (n,) predictions to (n, n) and gave R² = -772 instead of 0.93; a y of
    the wrong length gave 0.0; integer weights failed to promote."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], noise=0.5, random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    dev = xps.Device("device1")
    Xs = xps.asarray(X, device=dev)
    expected = model.score(X, y)
    assert expected < 0.99  # noisy: a wrong formula would show
    # Raveled silently, as r2_score does for NumPy input (it warned here only).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = model.score(Xs, xps.asarray(y[:, None], device=dev))
        assert model.score(X, y[:, None]) == found
    assert found == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.score(Xs, xps.asarray(y[:1], device=dev))
    weights = np.arange(1, y.size + 1) % 3 + 1
    found = model.score(Xs, xps.asarray(y, device=dev), sample_weight=weights)
    assert found == pytest.approx(model.score(X, y, sample_weight=weights), rel=1e-12)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.score(Xs, xps.asarray(y, device=dev), sample_weight=weights[:-1])


@pytest.mark.parametrize("shift, scale", [(1e4, 1.0), (0.0, 1e40)])
def test_score_of_a_float32_model_is_taken_in_the_wider_dtype(shift, scale):
    """float64 y for a float32 model: r2_score computes in float64, and the Array-API
    path cast y to float32 (y + 1e4: the 5th digit of R² differed; y·1e40: a
    ValueError where NumPy input scored -0.915)."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=0)
    X = X.astype(np.float32)
    dev = xps.Device("device1")
    Xs = xps.asarray(X, device=dev)
    model = PrunedFactorSensing(random_state=0).fit(Xs, xps.asarray(y, device=dev))
    target = (y + shift) * scale
    found = model.score(Xs, xps.asarray(target, device=dev))
    host = PrunedFactorSensing(random_state=0).fit(X, y)
    assert found == pytest.approx(host.score(X, target), rel=1e-12)


@pytest.mark.parametrize("y_scale", [1e-50, 1e50])
@pytest.mark.parametrize("namespace", ["numpy", "strict"])
def test_y_beyond_the_range_of_float32_x_is_refused(namespace, y_scale):
    """float64 y for float32 X is computed in float32: at 1e-50 it became zeros (and
    the model was fitted to y ≡ 0, R² = -3e81), at 1e50 inf; both are a ValueError
    naming y now, and a fitted model stays as it was."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=0)
    X = X.astype(np.float32)
    if namespace == "strict":
        dev = xps.Device("device1")
        X, y = xps.asarray(X, device=dev), xps.asarray(y, device=dev)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    before = to_host(model.components_).copy()
    with pytest.raises(ValueError, match=r"y holds values of magnitude up to .* float32"):
        model.fit(X, y * y_scale)
    np.testing.assert_array_equal(to_host(model.components_), before)


def test_score_of_one_sample_in_any_namespace():
    """One sample: r2_score's nan and UndefinedMetricWarning in any namespace (the
    Array-API path answered 0.0 silently)."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    dev = xps.Device("device1")
    for X1, y1 in ((X[:1], y[:1]), (xps.asarray(X[:1], device=dev), xps.asarray(y[:1]))):
        with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
            assert math.isnan(model.score(X1, y1))


def test_check_dtype_range_reads_an_integer_types_minimum():
    """abs wraps int8's -128 around to -128: the range test read a magnitude of -128,
    and refused y = -128 (Ridge fits it)."""
    check_dtype_range(np.full(3, -128, dtype=np.int8), NUMPY_XP, np.float32, name="y")
    X, _, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=0)
    y = np.full(X.shape[0], -128, dtype=np.int8)
    with pytest.warns(UserWarning, match="kept no column"):  # fitted, as Ridge is
        PrunedFactorSensing(random_state=0).fit(X, y)


def test_check_dtype_range_bounds_the_largest_magnitude():
    finfo = np.finfo(np.float32)
    for fine in ([0.0, 0.0], [float(finfo.smallest_normal), 1e-45], [-3e38, 1.0]):
        check_dtype_range(np.asarray(fine), NUMPY_XP, np.float32, name="y")
    for bad in ([0.0, 1e-39], [-1e39, 1.0]):
        with pytest.raises(ValueError, match="sample_weight holds"):
            check_dtype_range(np.asarray(bad), NUMPY_XP, np.float32, name="sample_weight")


def test_score_refuses_the_sample_weights_r2_score_refuses():
    """All-zero weights, weights summing to zero and 2-D weights raise as they do for
    NumPy input (they gave nan, nan and a score); negative weights are allowed."""
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], noise=0.5, random_state=0)
    model = PrunedFactorSensing(random_state=0).fit(X, y)
    dev = xps.Device("device1")
    Xs, ys = xps.asarray(X, device=dev), xps.asarray(y, device=dev)
    alternating = np.where(np.arange(y.size) % 2 == 0, 1.0, -1.0)
    for weights, error, match in [
        (np.zeros(y.size), ValueError, "at least one non-zero"),
        (alternating, ZeroDivisionError, "sum to zero"),
    ]:
        # Older scikit-learn lets NumPy's average raise ZeroDivisionError for both.
        with pytest.raises((error, ZeroDivisionError)):
            model.score(X, y, sample_weight=weights)
        with pytest.raises(error, match=match):
            model.score(Xs, ys, sample_weight=weights)
    with pytest.raises(ValueError, match="1-D array for sample_weight"):
        model.score(Xs, ys, sample_weight=np.ones((y.size, 1)))
    negative = np.ones(y.size)
    negative[:3] = -1.0
    found = model.score(Xs, ys, sample_weight=negative)
    assert found == pytest.approx(model.score(X, y, sample_weight=negative), rel=1e-12)


def test_strict_input_errors_are_raised_before_work():
    dev = xps.Device("device1")
    X = np.ones((5, 4))
    X[0, 0] = np.nan
    model = PrunedFactorSensing()
    with pytest.raises(ValueError, match="X contains NaN"):
        model.fit(xps.asarray(X, device=dev), xps.ones(5, device=dev))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.fit(xps.ones((5, 4), device=dev), xps.ones(4, device=dev))
    with pytest.raises(ValueError, match="requires y"):
        model.fit(xps.ones((5, 4), device=dev), None)
    assert not hasattr(model, "n_features_in_")


@pytest.fixture
def immutable_strict(monkeypatch):
    """array_api_strict with JAX's immutability: writing into an array raises."""

    def refuse(self, key, value):
        raise TypeError("arrays are immutable")

    monkeypatch.setattr(type(xps.asarray(0.0)), "__setitem__", refuse)


def test_immutable_namespace_is_refused_before_work(immutable_strict):
    dev = xps.Device("device1")
    with pytest.raises(TypeError, match="cannot be written in place"):
        check_writable(xps, dev)
    check_writable(array_namespace(np.empty(0)))  # NumPy is never probed
    X, y, _ = make_low_rank_sensing(**PROBLEMS["rank_one"], random_state=3)
    X_dev, y_dev = xps.asarray(X, device=dev), xps.asarray(y, device=dev)
    model = PrunedFactorSensing(random_state=0)
    with pytest.raises(TypeError, match="Pass array_module='numpy'"):
        model.fit(X_dev, y_dev)
    assert not hasattr(model, "n_features_in_")
    # The way out the message gives: compute with NumPy, results where X lives.
    model.set_params(array_module="numpy").fit(X_dev, y_dev)
    reference = PrunedFactorSensing(random_state=0).fit(X, y)
    assert namespace_and_device(model.components_) == (xps, dev)
    np.testing.assert_array_equal(to_host(model.components_), reference.components_)
    prediction = model.predict(X_dev)
    np.testing.assert_allclose(to_host(prediction), reference.predict(X), rtol=1e-12)


def test_jax_arrays_fit_with_array_module_numpy():
    """JAX's arrays are immutable (skipped without JAX; CI does not install it)."""
    jnp = pytest.importorskip("jax.numpy")
    X, y, _ = make_low_rank_sensing(**PROBLEMS["dense"], random_state=0, dtype=np.float32)
    X_j, y_j = jnp.asarray(X), jnp.asarray(y)
    params = dict(measurement="matrix", random_state=0)
    with pytest.raises(TypeError, match=r"jax\.numpy"):
        PrunedFactorSensing(**params).fit(X_j, y_j)
    model = PrunedFactorSensing(**params, array_module="numpy").fit(X_j, y_j)
    reference = PrunedFactorSensing(**params).fit(X, y)
    assert array_namespace(model.components_) is array_namespace(X_j)
    assert model.components_.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(model.components_), reference.components_)
    assert array_namespace(model.predict(X_j)) is array_namespace(X_j)
