"""Per-record signals and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

from keras_mia.signals import SIGNAL_NAMES, Signals, compute_signals


@pytest.fixture
def rng():
    return np.random.default_rng(5)


@pytest.fixture
def probs_and_labels(rng):
    logits = rng.normal(0, 3, (50, 4))
    return logits, softmax(logits, axis=1), rng.integers(0, 4, 50)


def _assert_same(a: Signals, b: Signals, **tol):
    np.testing.assert_array_equal(a.labels, b.labels)
    for name in SIGNAL_NAMES:
        if tol:
            np.testing.assert_allclose(
                getattr(a, name), getattr(b, name), err_msg=name, **tol
            )
        else:
            np.testing.assert_array_equal(
                getattr(a, name), getattr(b, name), err_msg=name
            )


def test_signals_hand_example():
    p = np.array([[0.7, 0.2, 0.1]])
    s = compute_signals(p, np.array([0]), from_logits=False)
    assert s.correctness[0]
    assert s.confidence[0] == 0.7
    expected_h = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    np.testing.assert_allclose(s.entropy[0], expected_h, rtol=1e-14)
    # Song & Mittal Eq. 6 written out.
    expected_m = -(0.3 * np.log(0.7)) - 0.2 * np.log(0.8) - 0.1 * np.log(0.9)
    np.testing.assert_allclose(s.modified_entropy[0], expected_m, rtol=1e-14)
    np.testing.assert_allclose(s.loss[0], -np.log(0.7), rtol=1e-14)


def test_signals_exact_zero_and_one_entries():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    s = compute_signals(p, np.array([0, 0]), from_logits=False)
    assert s.entropy.tolist() == [0.0, 0.0]
    assert s.modified_entropy[0] == 0.0
    # One-hot on the wrong class: two terms of -log(1e-30).
    np.testing.assert_allclose(
        s.modified_entropy[1], -2 * np.log(1e-30), rtol=1e-14
    )
    np.testing.assert_allclose(s.loss[1], -np.log(1e-8), rtol=1e-14)


def test_signals_argmax_tie_takes_lowest_index():
    p = np.array([[0.4, 0.4, 0.2]])
    assert not compute_signals(p, [1], from_logits=False).correctness[0]
    assert compute_signals(p, [0], from_logits=False).correctness[0]


def test_signals_label_forms_give_identical_results(probs_and_labels):
    _, probs, labels = probs_and_labels
    base = compute_signals(probs, labels, from_logits=False)
    for form in (
        labels[:, None],
        labels.astype(np.float32),
        labels.astype(np.float64)[:, None],
        np.eye(4)[labels],
        np.eye(4, dtype=np.float32)[labels],
    ):
        _assert_same(base, compute_signals(probs, form, from_logits=False))


def test_signals_logits_match_probabilities(probs_and_labels):
    logits, probs, labels = probs_and_labels
    a = compute_signals(logits, labels, from_logits=True)
    b = compute_signals(probs, labels, from_logits=False)
    _assert_same(a, b, rtol=1e-9, atol=1e-12)


def test_signals_logits_keep_precision_near_certainty():
    logits = np.array([[40.0, 0.0, 0.0]])
    s = compute_signals(logits, [0], from_logits=True)
    # Written out: log p_0 = -log1p(2 e^-40), log p_i = -40 + log p_0.
    log_p0 = -np.log1p(2 * np.exp(-40.0))
    p_i = np.exp(-40.0 + log_p0)
    # Mentr = (1 - p_0)(-log p_0) + 2 p_i (-log(1 - p_i)): tiny, not 0.
    expected = -np.expm1(log_p0) * -log_p0 + 2 * p_i * -np.log1p(-p_i)
    np.testing.assert_allclose(s.modified_entropy[0], expected, rtol=1e-12)
    assert s.modified_entropy[0] > 0


@pytest.mark.parametrize("shape", ["(n,)", "(n,1)"])
def test_signals_single_sigmoid_unit_is_two_classes(shape, rng):
    z = rng.normal(0, 4, 40)
    y = rng.integers(0, 2, 40)
    p = expit(z)
    outputs = p if shape == "(n,)" else p[:, None]
    a = compute_signals(outputs, y, from_logits=False)
    b = compute_signals(np.stack([1 - p, p], axis=1), y, from_logits=False)
    _assert_same(a, b)
    assert a.n_classes == 2
    c = compute_signals(
        z if shape == "(n,)" else z[:, None], y, from_logits=True
    )
    _assert_same(a, c, rtol=1e-9, atol=1e-12)


def test_signals_sigmoid_logits_exact_at_saturation():
    # expit(40) rounds to 1.0, but log-sigmoid keeps the tiny complement.
    s = compute_signals(np.array([40.0]), [1], from_logits=True)
    assert 0 < s.entropy[0] < 1e-15
    np.testing.assert_allclose(s.loss[0], np.log1p(np.exp(-40.0)), rtol=1e-12)


def test_signals_chunking_does_not_change_values(monkeypatch, rng):
    import keras_mia.signals as module

    probs = softmax(rng.normal(0, 2, (300, 6)), axis=1)
    labels = rng.integers(0, 6, 300)
    whole = compute_signals(probs, labels, from_logits=False)
    monkeypatch.setattr(module, "_CHUNK_ELEMENTS", 7 * 6)
    _assert_same(whole, compute_signals(probs, labels, from_logits=False))


@pytest.mark.parametrize(
    "outputs, labels, kwargs, match",
    [
        (np.array([[0.5, 0.7]]), [0], {}, "sum to 1"),
        (np.array([[1.5, -0.5]]), [0], {}, r"\[0, 1\]"),
        (np.array([[np.nan, 1.0]]), [0], {}, "NaN or infinite"),
        (np.array([[np.inf, 1.0]]), [0], {"from_logits": True}, "NaN"),
        (np.array([[0.5, 0.5]]), [2], {}, "only 2 classes"),
        (np.array([[0.5, 0.5]]), [-1], {}, "non-negative"),
        (np.array([[0.5, 0.5]]), [0.5], {}, "whole numbers"),
        (np.array([[0.5, 0.5]]), [0, 1], {}, "same length"),
        (np.array([[0.5, 0.5]]), np.ones((1, 3)) / 3, {}, "width 3"),
        (np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]]), {}, "single 1"),
        (np.zeros((0, 2)), np.zeros(0), {}, "empty"),
        (np.ones((2, 2, 2)) / 2, [0, 0], {}, "shape"),
        (np.array([["a", "b"]]), [0], {}, "numeric"),
        (np.array([[0.5, 0.5]]), [0], {"from_logits": None}, "from_logits"),
    ],
    ids=[
        "rows-not-summing", "outside-unit", "nan", "inf-logits",
        "label-too-large", "negative-label", "fractional-label", "lengths",
        "one-hot-width", "soft-labels", "empty", "3d", "strings",
        "from-logits-none",
    ],
)
def test_compute_signals_rejects_bad_input(outputs, labels, kwargs, match):
    kwargs = {"from_logits": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        compute_signals(outputs, np.asarray(labels), **kwargs)


def test_signals_take_and_concatenate_round_trip(probs_and_labels):
    _, probs, labels = probs_and_labels
    s = compute_signals(probs, labels, from_logits=False)
    parts = [s.take(np.arange(0, 20)), s.take(np.arange(20, 50))]
    _assert_same(s, Signals.concatenate(parts))


def test_signals_repr_is_a_summary(probs_and_labels):
    _, probs, labels = probs_and_labels
    text = repr(compute_signals(probs, labels, from_logits=False))
    assert text.startswith("Signals(n_records=50, n_classes=4")
    assert len(text) < 120
