"""Every metric of every suite gives the value scikit-learn gives on the same predictions,
and the composite is the weighted sum a user declares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.evaluate import (
    CLASSIFICATION,
    REGRESSION,
    Evaluation,
    Scoring,
    compare_many,
    evaluate,
    evaluate_ranking,
)

from . import fixed

#: The point estimates are sums over rows; they must agree with scikit-learn's to this.
TOLERANCE = 1e-9


def point(evaluation: Evaluation) -> dict[str, float]:
    return {name: e.value for name, e in evaluation.metrics.items()}


def calibration_error(hit: np.ndarray, confidence: np.ndarray) -> float:
    """Expected calibration error over 10 equal-width bins, from scikit-learn's curve."""
    accuracy, mean_confidence = calibration_curve(hit.astype(int), confidence, n_bins=10)
    bins = np.searchsorted(np.linspace(0.0, 1.0, 11)[1:-1], confidence)
    sizes = np.bincount(bins, minlength=10)
    sizes = sizes[sizes > 0]
    return float(np.sum(sizes * np.abs(mean_confidence - accuracy)) / len(confidence))


@pytest.fixture(scope="module")
def binary() -> tuple[Any, np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(X_train, y_train)
    return model, X_test, y_test


@pytest.fixture(scope="module")
def three_classes() -> tuple[Any, np.ndarray, np.ndarray]:
    """Iris with its species names as labels, and a model that confuses some of them."""
    iris = load_iris()
    names = iris.target_names[iris.target]
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data[:, :2], names, test_size=0.5, random_state=0
    )
    return LogisticRegression(C=0.5).fit(X_train, y_train), X_test, y_test


def test_binary_suite_matches_scikit_learn(binary: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, X, y = binary
    labels, proba = model.predict(X), model.predict_proba(X)
    assert 0 < skm.accuracy_score(y, labels) < 1  # some rows wrong, so the test can fail

    got = point(evaluate(model, X, y, resamples=20))

    assert set(got) == set(CLASSIFICATION)
    expected = {
        "accuracy": skm.accuracy_score(y, labels),
        "precision": skm.precision_score(y, labels),
        "recall": skm.recall_score(y, labels),
        "f1": skm.f1_score(y, labels),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "log_loss": skm.log_loss(y, proba),
        "brier": skm.brier_score_loss(y, proba[:, 1]),
        "calibration_error": calibration_error(y == 1, proba[:, 1]),
    }
    assert got == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


def test_binary_scores_the_second_class_as_positive() -> None:
    """With labels "benign" and "malignant", precision and recall are those of the second
    class in the model's order, as scikit-learn's ``pos_label`` would be."""
    y = np.array(["benign"] * 6 + ["malignant"] * 4)
    said = np.array(["benign"] * 5 + ["malignant"] * 3 + ["benign"] * 2)

    got = point(evaluate(fixed(said, ["benign", "malignant"]), np.zeros((10, 1)), y, resamples=10))

    assert got["precision"] == pytest.approx(skm.precision_score(y, said, pos_label="malignant"))
    assert got["recall"] == pytest.approx(skm.recall_score(y, said, pos_label="malignant"))
    assert (got["precision"], got["recall"]) == pytest.approx((2 / 3, 2 / 4))


def test_three_class_suite_matches_scikit_learn(
    three_classes: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    model, X, y = three_classes
    labels, proba = model.predict(X), model.predict_proba(X)
    classes = list(model.classes_)
    assert 0.5 < skm.accuracy_score(y, labels) < 1

    got = point(evaluate(model, X, y, resamples=20))

    correct = labels == y
    expected = {
        "accuracy": skm.accuracy_score(y, labels),
        "precision": skm.precision_score(y, labels, average="macro"),
        "recall": skm.recall_score(y, labels, average="macro"),
        "f1": skm.f1_score(y, labels, average="macro"),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes),
        "log_loss": skm.log_loss(y, proba, labels=classes),
        "brier": skm.brier_score_loss(y, proba, labels=classes),
        "calibration_error": calibration_error(correct, proba.max(axis=1)),
    }
    assert got == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


def test_roc_auc_counts_tied_scores_as_half(binary: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, X, y = binary
    rounded = np.round(model.predict_proba(X)[:, 1], 1)
    assert len(np.unique(rounded)) < len(rounded) / 10  # many ties
    proba = np.column_stack([1 - rounded, rounded])

    got = evaluate(fixed((rounded > 0.5).astype(int), proba=proba), X, y, resamples=20)

    expected = skm.roc_auc_score(y, rounded)
    assert expected != pytest.approx(skm.roc_auc_score(y, model.predict_proba(X)[:, 1]))
    assert got.metrics["roc_auc"].value == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


def test_three_class_roc_auc_with_tied_scores(
    three_classes: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    model, X, y = three_classes
    proba = np.round(model.predict_proba(X), 1)
    proba[:, 2] = 1.0 - proba[:, 0] - proba[:, 1]
    classes = list(model.classes_)
    labels = np.asarray(classes)[proba.argmax(axis=1)]

    got = evaluate(fixed(labels, classes, proba), X, y, resamples=20)

    expected = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    assert got.metrics["roc_auc"].value == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


def test_regression_suite_matches_scikit_learn() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    model = LinearRegression().fit(X_train, y_train)
    predicted = model.predict(X_test)

    got = point(evaluate(model, X_test, y_test, scoring=Scoring("regression"), resamples=20))

    assert set(got) == set(REGRESSION)
    expected = {
        "rmse": skm.root_mean_squared_error(y_test, predicted),
        "mae": skm.mean_absolute_error(y_test, predicted),
        "r2": skm.r2_score(y_test, predicted),
    }
    assert got == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


def test_r2_and_its_interval_do_not_depend_on_the_targets_offset() -> None:
    """R² is unchanged when targets and predictions move by a constant (prices in
    dollars, temperatures in kelvin): so must be its value and its interval."""
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    scoring = Scoring("regression")
    by_offset = {}
    for offset in (0.0, 100_000.0):
        model = LinearRegression().fit(X_train, y_train + offset)
        by_offset[offset] = evaluate(model, X_test, y_test + offset, scoring=scoring, resamples=200)
    base, moved = by_offset[0.0].metrics["r2"], by_offset[100_000.0].metrics["r2"]

    expected = skm.r2_score(y_test, LinearRegression().fit(X_train, y_train).predict(X_test))
    assert moved.value == pytest.approx(expected, abs=1e-6)
    assert (moved.low, moved.high) == pytest.approx((base.low, base.high), abs=1e-3)


def test_ranking_metrics_on_a_hand_computed_example() -> None:
    """Four queries, their rows interleaved; gains are 2^relevance - 1.

    q1 ranks relevances 0, 1, 2: DCG = 1/log2(3) + 3/log2(4), ideal DCG = 3 + 1/log2(3),
    first relevant at rank 2, two relevant in the top 10. q2 ranks its one relevant row
    first. q3 has nothing relevant. q4 has twelve rows and its relevant one at rank 11:
    beyond the cut-off of NDCG and precision at 10, not of the reciprocal rank.
    """
    rows = [("q1", 0, 0.9), ("q1", 1, 0.5), ("q1", 2, 0.1)]
    rows += [("q2", 1, 0.8), ("q2", 0, 0.3)]
    rows += [("q3", 0, 0.7), ("q3", 0, 0.6)]
    rows += [("q4", 0, 1.0 - i / 100) for i in range(10)] + [("q4", 1, 0.5), ("q4", 0, 0.4)]
    order = np.random.default_rng(0).permutation(len(rows))
    queries, relevance, scores = (np.array(column)[order] for column in zip(*rows, strict=True))

    got = point(evaluate_ranking(queries, relevance, scores, resamples=20))

    q1_ndcg = (1 / math.log2(3) + 3 / 2) / (3 + 1 / math.log2(3))
    assert got == pytest.approx(
        {
            "ndcg@10": (q1_ndcg + 1 + 0 + 0) / 4,
            "mrr": (1 / 2 + 1 + 0 + 1 / 11) / 4,
            "precision@10": (2 / 10 + 1 / 10 + 0 + 0) / 4,
        },
        rel=TOLERANCE,
    )


@pytest.mark.parametrize(
    ("model", "expected"),
    [("M1", 0.795), ("M2", 0.825), ("M3", 0.793)],
)
def test_composite_of_the_three_candidate_models(model: str, expected: float) -> None:
    """f(M) = 0.3 accuracy + 0.3 precision + 0.4 recall ranks M2 first."""
    table = {
        "M1": {"accuracy": 0.85, "precision": 0.80, "recall": 0.75},
        "M2": {"accuracy": 0.88, "precision": 0.83, "recall": 0.78},
        "M3": {"accuracy": 0.84, "precision": 0.79, "recall": 0.76},
    }
    scoring = Scoring(weights={"accuracy": 0.3, "precision": 0.3, "recall": 0.4})

    scores = {name: scoring.composite(values) for name, values in table.items()}

    assert scores[model] == pytest.approx(expected, abs=1e-12)
    assert max(scores, key=scores.__getitem__) == "M2"


def test_lower_is_better_metrics_count_against_the_composite() -> None:
    scoring = Scoring(weights={"accuracy": 1.0, "log_loss": 0.5})

    assert scoring.composite({"accuracy": 0.9, "log_loss": 0.2}) == pytest.approx(0.8)
    assert scoring.composite({"accuracy": 0.9, "log_loss": 0.4}) < scoring.composite(
        {"accuracy": 0.9, "log_loss": 0.2}
    )


def test_evaluation_composite_is_the_weighted_sum_of_its_metrics(
    binary: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    model, X, y = binary
    scoring = Scoring(weights={"recall": 0.5, "roc_auc": 0.5, "brier": 2.0})

    found = evaluate(model, X, y, scoring=scoring, resamples=50)

    values = point(found)
    expected = 0.5 * values["recall"] + 0.5 * values["roc_auc"] - 2.0 * values["brier"]
    assert found.composite.value == pytest.approx(expected, rel=1e-12)
    assert found.composite.low <= found.composite.value <= found.composite.high
    assert Scoring().weights == {"accuracy": 1.0}  # the composite of a model declaring none


def test_compare_many_scores_each_model_as_evaluate_does(
    binary: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    model, X, y = binary
    other = make_pipeline(StandardScaler(), LogisticRegression(C=5.0)).fit(X, y)

    both = compare_many([model, other], X, y, resamples=50, seed=3)

    assert both[0] == evaluate(model, X, y, resamples=50, seed=3)
    assert point(both[1]) == pytest.approx(point(evaluate(other, X, y, resamples=50)), rel=1e-12)
    assert both[0].metrics["accuracy"].value < both[1].metrics["accuracy"].value
