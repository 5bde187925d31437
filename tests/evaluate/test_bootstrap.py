"""Bootstrap intervals: around the value, narrower with more rows, reproducible from the
seed, and covering the true value as often as their confidence says."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.evaluate import CLASSIFICATION, Evaluation, Scoring, evaluate, evaluate_ranking
from mlpilot.evaluate._bootstrap import bootstrap, resample
from mlpilot.evaluate._metrics import classification_columns

from . import fixed, right_on


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, np.ndarray, np.ndarray]:
    """A model on three of the 30 features: wrong on some rows of each class."""
    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :3]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[::2], y[::2])
    return model, X[1::2], y[1::2]


def width(evaluation: Evaluation, metric: str) -> float:
    found = evaluation.metrics[metric]
    return found.high - found.low


def test_every_interval_holds_its_value(cancer: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, X, y = cancer
    scoring = Scoring(weights={"accuracy": 0.5, "recall": 0.5, "log_loss": 0.1})

    found = evaluate(model, X, y, scoring=scoring, resamples=200)

    assert found.resamples == 200 and found.confidence == 0.95 and found.rows == len(y)
    for name, estimate in [*found.metrics.items(), ("composite", found.composite)]:
        assert estimate.low <= estimate.value <= estimate.high, name
        assert estimate.low < estimate.high, name  # the model is wrong on some rows


def test_a_higher_confidence_gives_a_wider_interval(
    cancer: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    model, X, y = cancer

    narrow = evaluate(model, X, y, resamples=300, confidence=0.8)
    wide = evaluate(model, X, y, resamples=300, confidence=0.99)

    assert width(narrow, "roc_auc") < width(wide, "roc_auc")
    assert narrow.metrics["roc_auc"].value == wide.metrics["roc_auc"].value


def test_the_interval_narrows_as_rows_grow() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for rows in (200, 2_000, 20_000):
        y = rng.integers(0, 2, rows)
        model = right_on(y, rng.random(rows) < 0.8)
        widths.append(width(evaluate(model, np.zeros((rows, 1)), y, resamples=200), "accuracy"))

    assert widths[0] > widths[1] > widths[2]
    # The width of a proportion's interval shrinks as 1 / sqrt(rows): 10x rows, ~3.2x.
    assert widths[0] / widths[2] == pytest.approx(10, rel=0.25)


def test_the_same_seed_gives_the_same_intervals(
    cancer: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    model, X, y = cancer

    first = evaluate(model, X, y, resamples=200, seed=7)
    again = evaluate(model, X, y, resamples=200, seed=7)
    other = evaluate(model, X, y, resamples=200, seed=8)

    assert first == again
    assert first.seed == 7
    assert other.metrics["accuracy"].value == first.metrics["accuracy"].value
    assert other.metrics != first.metrics
    assert (
        other.composite.low != first.composite.low or other.composite.high != first.composite.high
    )


def test_resamples_are_draws_of_every_row_and_no_two_chunks_repeat() -> None:
    """Resamples are drawn in chunks, each from a seed of its own: every resample draws
    as many rows as there are, and 1,000 resamples are 1,000 different ones."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 5_000)
    positive = rng.random(5_000)
    columns = classification_columns(
        y, (positive > 0.5).astype(int), np.column_stack([1 - positive, positive]), [0, 1]
    )

    counts = np.vstack([resample(5_000, 64, seed=0, number=n) for n in range(3)])
    _, draws = bootstrap([columns], [CLASSIFICATION["log_loss"]], 5_000, count=1_000)

    np.testing.assert_array_equal(counts.sum(axis=1), 5_000)
    assert len(np.unique(counts, axis=0)) == len(counts)
    assert len(draws[0]["log_loss"]) == 1_000
    assert len(np.unique(draws[0]["log_loss"])) > 990  # a continuous metric: no repeats


def test_intervals_cover_the_true_accuracy_about_95_percent_of_the_time() -> None:
    """200 simulated test sets of 300 rows from a model right with probability 0.8."""
    rng = np.random.default_rng(2024)
    covered = 0
    for number in range(200):
        y = rng.integers(0, 2, 300)
        model = right_on(y, rng.random(300) < 0.8)
        found = evaluate(model, np.zeros((300, 1)), y, resamples=300, seed=number)
        covered += found.metrics["accuracy"].low <= 0.8 <= found.metrics["accuracy"].high

    assert 0.88 <= covered / 200 <= 0.99


def test_a_ranking_is_resampled_by_query() -> None:
    """A ranking's rows are its queries: resamples draw whole queries, each with all
    of its documents."""
    rng = np.random.default_rng(3)
    queries = np.repeat(np.arange(40), 50)
    relevance = rng.integers(0, 2, len(queries))
    scores = rng.random(len(queries))

    found = evaluate_ranking(queries, relevance, scores, resamples=300)

    assert found.rows == 40
    mrr = found.metrics["mrr"]
    assert mrr.low < mrr.value < mrr.high
    assert found.scoring.weights == {"ndcg@10": 1.0}
    assert found.composite.value == found.metrics["ndcg@10"].value


def test_a_perfect_ranking_of_rare_positives_has_a_perfect_auc_interval() -> None:
    """Three positives in 100 rows, every one scored above every negative. About one
    resample in twenty draws no positive, and has no AUC at all; that must not read as
    an AUC of 0 and drag the interval's low end there."""
    y = np.zeros(100, dtype=int)
    y[:3] = 1
    score = np.where(y == 1, 0.9, 0.1) + np.linspace(0.0, 0.05, 100)
    model = fixed(y, proba=np.column_stack([1 - score, score]))

    found = evaluate(model, np.zeros((100, 1)), y, resamples=1_000)

    auc = found.metrics["roc_auc"]
    assert auc.value == 1.0
    assert (auc.low, auc.high) == (1.0, 1.0)
