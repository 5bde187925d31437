"""Paired comparisons: a challenger that is better by chance is not called better, one
that is really better is, and McNemar's test counts the rows the two disagree on."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.evaluate import GatePolicy, Scoring, compare, mcnemar

from . import right_on

ROWS = 500


def noise_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The target, and which rows a champion and a challenger get right: the same 400
    rows but ten, picked at random; the challenger has six of those, the champion four."""
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, ROWS)
    champion = np.zeros(ROWS, dtype=bool)
    champion[rng.choice(ROWS, 400, replace=False)] = True
    challenger = champion.copy()
    right, wrong = np.flatnonzero(champion), np.flatnonzero(~champion)
    challenger[rng.choice(right, 4, replace=False)] = False
    challenger[rng.choice(wrong, 6, replace=False)] = True
    return y, champion, challenger


def test_a_challenger_better_by_noise_alone_is_not_significant() -> None:
    y, champion, challenger = noise_pair()

    found = compare(right_on(y, challenger), right_on(y, champion), np.zeros((ROWS, 1)), y)

    assert found.composite.value == pytest.approx(2 / ROWS)  # better on this data...
    assert found.composite.p_value > 0.2  # ...by an amount chance gives easily
    assert found.composite.low < 0 < found.composite.high
    assert found.differences["accuracy"] == found.composite  # the composite is accuracy
    assert not GatePolicy(alpha=0.05).decide(found.challenger, found).passed


def test_mcnemar_counts_the_rows_only_one_model_got_right() -> None:
    y, champion, challenger = noise_pair()

    found = compare(right_on(y, challenger), right_on(y, champion), np.zeros((ROWS, 1)), y)

    assert found.mcnemar is not None
    assert (found.mcnemar.champion_only, found.mcnemar.challenger_only) == (4, 6)
    # P(at least 6 of 10 fair coin flips): (210 + 120 + 45 + 10 + 1) / 1024.
    assert found.mcnemar.p_value == pytest.approx(386 / 1024)


def test_mcnemar_of_models_that_never_disagree() -> None:
    correct = np.array([True, False, True, True])

    found = mcnemar(correct, correct)

    assert (found.champion_only, found.challenger_only, found.p_value) == (0, 0, 1.0)


def test_a_clearly_better_challenger_is_significant() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, ROWS)
    champion = right_on(y, rng.random(ROWS) < 0.80)
    challenger = right_on(y, rng.random(ROWS) < 0.95)

    found = compare(challenger, champion, np.zeros((ROWS, 1)), y)

    assert found.composite.value > 0.1
    assert found.composite.p_value < 0.05
    assert found.composite.low > 0
    assert found.mcnemar is not None and found.mcnemar.p_value < 0.05
    assert found.mcnemar.challenger_only > found.mcnemar.champion_only
    assert GatePolicy(alpha=0.05).decide(found.challenger, found).passed


def test_a_fitted_model_against_a_dummy() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[::2], y[::2])
    dummy = DummyClassifier().fit(X[::2], y[::2])
    scoring = Scoring(weights={"accuracy": 0.5, "roc_auc": 0.5, "log_loss": 0.1})

    found = compare(model, dummy, X[1::2], y[1::2], scoring=scoring, resamples=300)

    assert found.composite.p_value < 0.01
    assert found.differences["roc_auc"].value == pytest.approx(
        found.challenger.metrics["roc_auc"].value - found.champion.metrics["roc_auc"].value
    )
    # Log loss is better lower: the challenger's lower loss is an improvement.
    assert found.differences["log_loss"].value < 0
    assert found.differences["log_loss"].p_value < 0.05


def test_the_paired_interval_is_narrower_than_either_models_own() -> None:
    """Both models find the same rows hard; resampling them together cancels that."""
    y, champion, challenger = noise_pair()

    found = compare(right_on(y, challenger), right_on(y, champion), np.zeros((ROWS, 1)), y)

    paired = found.composite.high - found.composite.low
    own = found.champion.composite.high - found.champion.composite.low
    assert paired < own / 2


def test_an_identical_challenger_is_never_better() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, ROWS)
    correct = rng.random(ROWS) < 0.8

    found = compare(right_on(y, correct), right_on(y, correct), np.zeros((ROWS, 1)), y)

    assert (found.composite.value, found.composite.low, found.composite.high) == (0, 0, 0)
    assert found.composite.p_value == 1.0
    assert found.challenger.metrics == found.champion.metrics


def test_a_comparison_resamples_the_same_rows_for_both_models() -> None:
    """The difference in each resample is the difference of the two models' values in
    that resample, so its p-value matches a count over the same draws."""
    y, champion, challenger = noise_pair()
    stronger = champion | (np.random.default_rng(8).random(ROWS) < 0.3)

    found = compare(right_on(y, stronger), right_on(y, champion), np.zeros((ROWS, 1)), y)

    # The stronger model is right wherever the champion is: it is never worse on any
    # resample, so the interval of the difference never goes below zero.
    assert found.composite.low >= 0
    extra = int(np.count_nonzero(stronger & ~champion))
    assert found.composite.value == pytest.approx(extra / ROWS)
    # The share of resamples that draw none of the extra rows is tiny, and so the p-value.
    assert found.composite.p_value == pytest.approx(1 / 1001)


def test_bootstrap_p_value_agrees_with_mcnemar_on_a_large_difference() -> None:
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 2_000)
    champion = rng.random(2_000) < 0.80
    challenger = champion.copy()
    challenger[rng.choice(np.flatnonzero(~champion), 40, replace=False)] = True
    challenger[rng.choice(np.flatnonzero(champion), 20, replace=False)] = False

    found = compare(right_on(y, challenger), right_on(y, champion), np.zeros((2_000, 1)), y)

    exact = stats.binomtest(40, 60, 0.5, alternative="greater").pvalue
    assert found.mcnemar is not None and found.mcnemar.p_value == pytest.approx(exact)
    assert found.composite.p_value == pytest.approx(exact, abs=0.02)


def test_a_challenger_with_probabilities_against_a_champion_without() -> None:
    """A champion with no predict_proba (a ridge classifier) against a logistic
    regression, scored on accuracy: both models have what the composite needs."""
    X, y = load_breast_cancer(return_X_y=True)
    champion = RidgeClassifier().fit(X[::2], y[::2])
    challenger = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[::2], y[::2])

    found = compare(challenger, champion, X[1::2], y[1::2], resamples=50)

    expected = (challenger.predict(X[1::2]) == y[1::2]).mean()
    expected -= (champion.predict(X[1::2]) == y[1::2]).mean()
    assert found.composite.value == pytest.approx(expected)
    assert set(found.differences) >= {"accuracy", "precision", "recall", "f1"}


def test_a_lower_error_counts_as_an_improvement() -> None:
    """For RMSE and MAE lower is better: a challenger with less error has a negative
    difference, and a small p-value, as a higher R² has a positive one."""
    X, y = load_diabetes(return_X_y=True)
    challenger = LinearRegression().fit(X[::2], y[::2])
    champion = DummyRegressor().fit(X[::2], y[::2])

    found = compare(
        challenger, champion, X[1::2], y[1::2], scoring=Scoring("regression"), resamples=200
    )

    assert found.mcnemar is None
    assert found.differences["rmse"].value < 0 and found.differences["rmse"].p_value < 0.05
    assert found.differences["mae"].value < 0 and found.differences["mae"].p_value < 0.05
    assert found.differences["r2"].value > 0 and found.composite.p_value < 0.05
