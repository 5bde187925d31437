"""Evaluating a model, and comparing a challenger with a champion, on the same rows.

Every candidate is scored by the same suite on the same data: the metrics of its task
with bootstrap confidence intervals, and a composite score, a weighted sum of metrics
declared once per model (``f(M) = a*accuracy + b*precision + c*recall``). A
comparison resamples the same rows for both models, so it asks whether the challenger
is better on this data, not whether two intervals happen to overlap.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.errors import InvalidInputError
from mlpilot.evaluate._bootstrap import (
    Difference,
    Estimate,
    McNemar,
    bootstrap,
    difference,
    interval,
    mcnemar,
)
from mlpilot.evaluate._metrics import (
    SUITES,
    Columns,
    Metric,
    classification_columns,
    ranking_columns,
    regression_columns,
)

#: The composite a model gets when it declares none.
DEFAULT_WEIGHTS = {
    "classification": {"accuracy": 1.0},
    "regression": {"r2": 1.0},
    "ranking": {"ndcg@10": 1.0},
}


@dataclasses.dataclass(frozen=True)
class Scoring:
    """How a model is scored: its task, and the weight of each metric in the composite.

    The composite is ``sum(weight * metric)``, with a metric where lower is better
    (log loss, RMSE) counted negatively, so that a higher composite is always better.

    A weight says how much a metric counts, never in which direction (the metric's
    own direction decides that): weights are non-negative with a positive sum.

    Raises:
        InvalidInputError: An unknown task, a weight for a metric the task's suite does
            not have, a weight that is not a finite number (numpy numbers are numbers)
            or is negative, or weights that are all zero.
    """

    task: str = "classification"
    weights: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in SUITES:
            raise InvalidInputError(
                f"unknown task {self.task!r}; choose one of {', '.join(SUITES)}"
            )
        weights = dict(self.weights) or DEFAULT_WEIGHTS[self.task]
        suite = SUITES[self.task]
        for name, weight in weights.items():
            if name not in suite:
                raise InvalidInputError(
                    f"the composite weighs {name!r}, which is not a {self.task} metric; "
                    f"its metrics: {', '.join(suite)}"
                )
            if (
                isinstance(weight, bool | np.bool_)
                or not isinstance(weight, numbers.Real)
                or not np.isfinite(float(weight))
            ):
                raise InvalidInputError(
                    f"the weight of {name!r} must be a finite number, not {weight!r}"
                )
            if weight < 0:
                lower = (
                    ""
                    if suite[name].higher_is_better
                    else (f"; {name} counts against a model already, as lower is better")
                )
                raise InvalidInputError(
                    f"the weight of {name!r} is {weight!r}; weights are >= 0{lower}"
                )
        if not sum(float(w) for w in weights.values()) > 0:
            raise InvalidInputError(
                "the composite's weights are all zero, so every model would score 0; "
                "give at least one metric a positive weight"
            )
        object.__setattr__(self, "weights", {k: float(v) for k, v in weights.items()})

    @property
    def suite(self) -> dict[str, Metric]:
        return SUITES[self.task]

    def sign(self, metric: str) -> float:
        return 1.0 if self.suite[metric].higher_is_better else -1.0

    def composite(self, values: Mapping[str, Any]) -> Any:
        """The composite of ``values`` (numbers, or arrays of resampled values)."""
        return sum(w * self.sign(name) * values[name] for name, w in self.weights.items())

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "weights": dict(self.weights)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scoring:
        return cls(data.get("task", "classification"), data.get("weights") or {})


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A model's metrics and composite on a set of rows, each with its interval."""

    scoring: Scoring
    rows: int
    metrics: dict[str, Estimate]
    composite: Estimate
    confidence: float
    resamples: int
    seed: int
    #: What the rows were, e.g. ``breast-cancer@v2 (test split, seed 0)``.
    data: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scoring": self.scoring.to_dict(),
            "rows": self.rows,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "composite": self.composite.to_dict(),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(
            Scoring.from_dict(data["scoring"]),
            int(data["rows"]),
            {k: Estimate(**v) for k, v in data["metrics"].items()},
            Estimate(**data["composite"]),
            float(data["confidence"]),
            int(data["resamples"]),
            int(data["seed"]),
            str(data.get("data", "")),
        )


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A challenger against the champion on the same rows and the same resamples."""

    challenger: Evaluation
    champion: Evaluation
    #: Challenger minus champion, per metric.
    differences: dict[str, Difference]
    composite: Difference
    #: McNemar's exact test on the rows the two classifiers disagree on.
    mcnemar: McNemar | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "challenger": self.challenger.to_dict(),
            "champion": self.champion.to_dict(),
            "differences": {k: v.to_dict() for k, v in self.differences.items()},
            "composite": self.composite.to_dict(),
            "mcnemar": None if self.mcnemar is None else self.mcnemar.to_dict(),
        }


@dataclasses.dataclass(frozen=True)
class Predictions:
    """What a model said about each row: labels or values, and class probabilities."""

    values: np.ndarray
    proba: np.ndarray | None
    classes: list[Any] | None


def predict(model: Any, features: pd.DataFrame | np.ndarray, task: str) -> Predictions:
    """``model``'s predictions on ``features``, with probabilities where it has them.

    Raises:
        InvalidInputError: The features lack columns the model was fitted on, or the
            model cannot predict on them.
    """
    check_features(model, features)
    try:
        values = np.asarray(model.predict(features))
        if task != "classification" or not hasattr(model, "predict_proba"):
            return Predictions(values, None, _classes(model, values, task))
        proba = np.asarray(model.predict_proba(features), dtype=np.float64)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInputError(f"the model cannot predict on this data: {exc}") from None
    return Predictions(values, proba, _classes(model, values, task))


def check_features(model: Any, features: pd.DataFrame | np.ndarray) -> None:
    """Refuse features that do not match the columns the model was fitted on."""
    expected = getattr(model, "feature_names_in_", None)
    if expected is not None and isinstance(features, pd.DataFrame):
        missing = [c for c in expected if c not in features.columns]
        if missing:
            raise InvalidInputError(
                f"the data lacks {len(missing)} column(s) the model was fitted on: "
                f"{', '.join(map(str, missing[:10]))}"
            )
        return
    width = getattr(model, "n_features_in_", None)
    shape = np.shape(features)
    if width is not None and (len(shape) != 2 or shape[1] != width):
        raise InvalidInputError(
            f"the model takes {width} features per row, and the data has shape {shape}"
        )


def _classes(model: Any, values: np.ndarray, task: str) -> list[Any] | None:
    if task != "classification":
        return None
    found = getattr(model, "classes_", None)
    return list(found) if found is not None else sorted(set(values.tolist()))


def evaluate(
    model: Any,
    features: pd.DataFrame | np.ndarray,
    target: Any,
    *,
    scoring: Scoring | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    data: str = "",
) -> Evaluation:
    """Score ``model`` on ``features`` against ``target`` with bootstrap intervals."""
    return compare_many(
        [model],
        features,
        target,
        scoring=scoring,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        data=data,
    )[0]


def compare(
    challenger: Any,
    champion: Any,
    features: pd.DataFrame | np.ndarray,
    target: Any,
    *,
    scoring: Scoring | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    data: str = "",
) -> Comparison:
    """Score both models on the same rows and resamples, and test the difference."""
    scoring = scoring or Scoring()
    preds, y, points, draws = _scored(
        [challenger, champion], features, target, scoring, resamples, seed
    )
    challenger_eval, champion_eval = (
        _evaluation(p, d, scoring, len(y), resamples, confidence, seed, data)
        for p, d in zip(points, draws, strict=True)
    )
    differences = {
        name: difference(
            points[0][name] - points[1][name],
            draws[0][name] - draws[1][name],
            confidence,
            metric.higher_is_better,
        )
        for name, metric in scoring.suite.items()
        if name in points[0]
    }
    composite = difference(
        float(scoring.composite(points[0]) - scoring.composite(points[1])),
        np.asarray(scoring.composite(draws[0]) - scoring.composite(draws[1])),
        confidence,
        True,
    )
    test = None
    if scoring.task == "classification":
        test = mcnemar(preds[1].values == y, preds[0].values == y)
    return Comparison(challenger_eval, champion_eval, differences, composite, test)


def compare_many(
    models: list[Any],
    features: pd.DataFrame | np.ndarray,
    target: Any,
    *,
    scoring: Scoring | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    data: str = "",
) -> list[Evaluation]:
    """Evaluate several models on the same rows and resamples."""
    scoring = scoring or Scoring()
    _, y, points, draws = _scored(models, features, target, scoring, resamples, seed)
    return [
        _evaluation(p, d, scoring, len(y), resamples, confidence, seed, data)
        for p, d in zip(points, draws, strict=True)
    ]


def _scored(
    models: list[Any],
    features: pd.DataFrame | np.ndarray,
    target: Any,
    scoring: Scoring,
    resamples: int,
    seed: int,
) -> tuple[list[Predictions], np.ndarray, list[dict[str, float]], list[dict[str, np.ndarray]]]:
    """Each model's predictions, the target, and every metric's value and resamples."""
    preds = [predict(m, features, scoring.task) for m in models]
    y = _target(target, len(preds[0].values))
    points, draws = _score(preds, y, scoring, resamples, seed)
    return preds, y, points, draws


def _target(target: Any, rows: int) -> np.ndarray:
    y = np.asarray(target)
    if y.ndim != 1 or len(y) != rows:
        raise InvalidInputError(
            f"the target has shape {y.shape}; expected one value for each of {rows} rows"
        )
    return y


def _score(
    preds: list[Predictions], y: np.ndarray, scoring: Scoring, resamples: int, seed: int
) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
    if not 10 <= resamples <= 100_000:
        raise InvalidInputError(f"resamples must be between 10 and 100,000, got {resamples}")
    columns = [_columns(p, t, scoring.task) for p, t in _in_score_order(preds, y)]
    with_proba = all(p.proba is not None for p in preds)
    metrics = [m for m in scoring.suite.values() if not m.needs or with_proba]
    missing = [name for name in scoring.weights if name not in {m.name for m in metrics}]
    if missing:
        raise InvalidInputError(
            f"the composite weighs {', '.join(missing)}, which need class probabilities, "
            "and a model has no predict_proba"
        )
    return bootstrap(columns, metrics, len(y), count=resamples, seed=seed)


def _in_score_order(
    preds: list[Predictions], y: np.ndarray
) -> list[tuple[Predictions, np.ndarray]]:
    """The rows in increasing order of the first model's score: its ROC AUC then walks
    them without gathering (resamples treat every row alike, so order is free)."""
    first = preds[0]
    if first.proba is None or first.proba.shape[1] != 2:
        return [(p, y) for p in preds]
    order = np.argsort(first.proba[:, 1], kind="stable")
    return [
        (
            Predictions(p.values[order], None if p.proba is None else p.proba[order], p.classes),
            y[order],
        )
        for p in preds
    ]


def _columns(pred: Predictions, target: np.ndarray, task: str) -> Columns:
    if task == "classification":
        classes = pred.classes or []
        unknown = sorted(set(target.tolist()) - set(classes), key=str)
        if unknown:
            raise InvalidInputError(
                f"the target has labels the model does not know: {unknown[:5]}; "
                f"its classes: {classes}"
            )
        return classification_columns(target, pred.values, pred.proba, classes)
    if task == "regression":
        try:
            return regression_columns(target.astype(np.float64), pred.values)
        except (TypeError, ValueError):
            raise InvalidInputError("a regression target must be numbers") from None
    raise InvalidInputError("a ranking is scored with evaluate_ranking(queries, relevance, scores)")


def evaluate_ranking(
    queries: Any,
    relevance: Any,
    scores: Any,
    *,
    scoring: Scoring | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    data: str = "",
) -> Evaluation:
    """Score a ranking: NDCG@10, reciprocal rank and precision@10 per query, with
    intervals from resampling whole queries."""
    scoring = scoring or Scoring("ranking")
    if scoring.task != "ranking":
        raise InvalidInputError(f"evaluate_ranking scores rankings, not {scoring.task}")
    lengths = {len(np.asarray(a)) for a in (queries, relevance, scores)}
    if len(lengths) != 1:
        raise InvalidInputError("queries, relevance and scores must have one value per row")
    columns, _ = ranking_columns(np.asarray(queries), np.asarray(relevance), np.asarray(scores))
    points, draws = bootstrap(
        [columns], list(scoring.suite.values()), columns.rows, count=resamples, seed=seed
    )
    return _evaluation(
        points[0], draws[0], scoring, columns.rows, resamples, confidence, seed, data
    )


def _evaluation(
    points: dict[str, float],
    draws: dict[str, np.ndarray],
    scoring: Scoring,
    rows: int,
    resamples: int,
    confidence: float,
    seed: int,
    data: str,
) -> Evaluation:
    metrics = {name: interval(points[name], draws[name], confidence) for name in points}
    composite = interval(
        float(scoring.composite(points)), np.asarray(scoring.composite(draws)), confidence
    )
    return Evaluation(scoring, rows, metrics, composite, confidence, resamples, seed, data)
