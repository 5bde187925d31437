"""Input that cannot be scored is refused with an InvalidInputError that says why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeClassifier

from mlpilot.errors import InvalidInputError
from mlpilot.evaluate import Scoring, compare, evaluate, evaluate_ranking

from . import fixed


@pytest.fixture(scope="module")
def iris() -> tuple[Any, pd.DataFrame, pd.Series]:
    frame = load_iris(as_frame=True)
    X, y = frame.data, frame.target
    return LogisticRegression(max_iter=500).fit(X, y), X, y


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Scoring("clustering"), "unknown task 'clustering'.*classification"),
        (lambda: Scoring(weights={"auc": 1.0}), "'auc'.*not a classification metric"),
        (lambda: Scoring("regression", weights={"accuracy": 1.0}), "'accuracy'.*regression"),
        (lambda: Scoring(weights={"accuracy": float("nan")}), "weight of 'accuracy'"),
        (lambda: Scoring(weights={"accuracy": "high"}), "weight of 'accuracy'"),
        (lambda: Scoring(weights={"accuracy": -1.0}), "weight of 'accuracy' is -1.0; .* >= 0"),
        (
            lambda: Scoring(weights={"accuracy": 0.0, "recall": 0}),
            "weights are all zero, so every model would score 0",
        ),
        (
            lambda: Scoring(weights={"accuracy": 1.0, "log_loss": -0.5}),
            "'log_loss' is -0.5.*counts against a model already, as lower is better",
        ),
        (lambda: Scoring(weights={"accuracy": np.float64("inf")}), "finite number"),
        (lambda: Scoring(weights={"accuracy": np.bool_(True)}), "weight of 'accuracy'"),
    ],
)
def test_a_scoring_that_makes_no_sense(make: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()


def test_a_negative_weight_on_a_lower_is_better_metric_cannot_favour_a_model() -> None:
    """Log loss counts against a model by its own direction; a negative weight would
    turn a worse log loss into a better composite."""
    with pytest.raises(InvalidInputError):
        Scoring(weights={"accuracy": 1.0, "log_loss": -1.0})
    scoring = Scoring(weights={"accuracy": 1.0, "log_loss": 1.0})
    worse = scoring.composite({"accuracy": 0.9, "log_loss": 0.6})
    better = scoring.composite({"accuracy": 0.9, "log_loss": 0.2})
    assert better > worse


@pytest.mark.parametrize("number", [np.float32(0.5), np.float64(0.5), np.int64(2), 1, 0.5])
def test_numpy_numbers_are_weights(number: Any) -> None:
    scoring = Scoring(weights={"accuracy": number, "recall": 0})

    assert scoring.weights == {"accuracy": float(number), "recall": 0.0}
    assert all(type(w) is float for w in scoring.weights.values())


def test_a_target_of_the_wrong_length(iris: tuple[Any, pd.DataFrame, pd.Series]) -> None:
    model, X, y = iris

    with pytest.raises(InvalidInputError, match=f"expected one value for each of {len(X)} rows"):
        evaluate(model, X, y[:-5], resamples=10)


def test_a_target_with_labels_the_model_does_not_know(
    iris: tuple[Any, pd.DataFrame, pd.Series],
) -> None:
    model, X, y = iris
    target = y.to_numpy().copy()
    target[:3] = 7

    with pytest.raises(InvalidInputError, match=r"labels the model does not know: \[7\]"):
        evaluate(model, X, target, resamples=10)


def test_data_missing_a_column_the_model_was_fitted_on(
    iris: tuple[Any, pd.DataFrame, pd.Series],
) -> None:
    model, X, y = iris

    with pytest.raises(InvalidInputError, match=r"lacks 1 column.*petal width \(cm\)"):
        evaluate(model, X.drop(columns="petal width (cm)"), y, resamples=10)


def test_an_array_of_the_wrong_width(iris: tuple[Any, pd.DataFrame, pd.Series]) -> None:
    model, X, y = iris

    with pytest.raises(InvalidInputError, match="takes 4 features per row"):
        evaluate(model, X.to_numpy()[:, :3], y, resamples=10)


def test_a_composite_on_probabilities_for_a_model_without_them() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = RidgeClassifier().fit(X, y)
    assert not hasattr(model, "predict_proba")

    with pytest.raises(InvalidInputError, match="roc_auc.*no predict_proba"):
        evaluate(model, X, y, scoring=Scoring(weights={"roc_auc": 1.0}), resamples=10)
    # Without probabilities, the metrics that need none are still measured.
    found = evaluate(model, X, y, resamples=10)
    assert set(found.metrics) == {"accuracy", "precision", "recall", "f1"}


@pytest.mark.parametrize("resamples", [0, 9, -1])
def test_too_few_resamples(iris: tuple[Any, pd.DataFrame, pd.Series], resamples: int) -> None:
    model, X, y = iris

    with pytest.raises(InvalidInputError, match=f"resamples.*{resamples}"):
        evaluate(model, X, y, resamples=resamples)
    with pytest.raises(InvalidInputError, match="resamples"):
        compare(model, model, X, y, resamples=resamples)


def test_a_single_row(iris: tuple[Any, pd.DataFrame, pd.Series]) -> None:
    model, X, y = iris

    with pytest.raises(InvalidInputError, match="at least 2 rows, got 1"):
        evaluate(model, X.head(1), y.head(1), resamples=10)


def test_probabilities_of_the_wrong_shape() -> None:
    y = np.array([0, 1, 1, 0])
    model = fixed(y, proba=np.full((4, 3), 1 / 3))

    with pytest.raises(InvalidInputError, match=r"expected \(4, 2\), one column per class"):
        evaluate(model, np.zeros((4, 1)), y, resamples=10)


def test_a_ranking_whose_columns_differ_in_length() -> None:
    with pytest.raises(InvalidInputError, match="one value per row"):
        evaluate_ranking([1, 1, 2], [0, 1], [0.3, 0.2, 0.1], resamples=10)


def test_a_ranking_needs_the_ranking_task() -> None:
    with pytest.raises(InvalidInputError, match="ranking"):
        evaluate(fixed([0, 1]), np.zeros((2, 1)), [0, 1], scoring=Scoring("ranking"))
    with pytest.raises(InvalidInputError, match="scores rankings, not classification"):
        evaluate_ranking([1, 1], [0, 1], [0.2, 0.1], scoring=Scoring(), resamples=10)


def test_a_regression_target_that_is_not_numbers() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = LinearRegression().fit(X, y)
    words = np.where(y == 1, "yes", "no")

    with pytest.raises(InvalidInputError, match="regression target must be numbers"):
        evaluate(model, X, words, scoring=Scoring("regression"), resamples=10)


def test_an_error_is_also_a_value_error(iris: tuple[Any, pd.DataFrame, pd.Series]) -> None:
    """Callers who catch ValueError, not knowing mlpilot's errors, still catch these."""
    model, X, y = iris

    with pytest.raises(ValueError):
        evaluate(model, X, y, resamples=5)
