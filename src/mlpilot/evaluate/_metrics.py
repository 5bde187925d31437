"""Metric suites, written once for a point estimate and a thousand bootstrap resamples.

Every metric is a function of weighted sums over rows. A resample is a row of counts
(how many times each row was drawn), so ``W @ column`` gives the sums for all resamples
in one matrix product; the point estimate is the same function with every count 1.
That keeps 1,000 resamples of 100,000 rows to matrix arithmetic, with no Python loop
over resamples or rows.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mlpilot.errors import InvalidInputError


class Columns:
    """One model's per-row columns, packed into one float32 matrix for resampling.

    ``sums(weights)`` multiplies the resamples' counts by the matrix once, which gives
    every weighted sum every metric of the suite needs.
    """

    def __init__(self, named: Mapping[str, np.ndarray], extra: Mapping[str, Any] | None = None):
        parts, self.slices, at = [], {}, 0
        for name, column in named.items():
            column = np.asarray(column, dtype=np.float64)
            column = column[:, None] if column.ndim == 1 else column
            parts.append(column)
            self.slices[name] = slice(at, at + column.shape[1])
            at += column.shape[1]
        # float64 for the point estimate; float32 (twice as fast) for resamples, where
        # a relative error of 1e-7 is far below the interval's width.
        self.exact = np.ascontiguousarray(np.hstack(parts))
        self.matrix = self.exact.astype(np.float32)
        self.rows = self.matrix.shape[0]
        self.extra = dict(extra or {})

    def sums(self, weights: np.ndarray | None = None) -> Sums:
        """Sums for each resample of ``weights``, or (None) for every row once."""
        if weights is None:
            weights = np.ones((1, self.rows), dtype=np.float64)
            totals = self.exact.sum(axis=0)[None, :]
        else:
            totals = np.asarray(weights @ self.matrix, dtype=np.float64)
        return Sums(self, weights, totals)


@dataclasses.dataclass(frozen=True)
class Sums:
    """Weighted sums of one model's columns, for a chunk of resamples."""

    columns: Columns
    weights: np.ndarray
    totals: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        found = self.totals[:, self.columns.slices[name]]
        return found[:, 0] if found.shape[1] == 1 else found

    @property
    def rows(self) -> np.ndarray:
        return self["one"]


#: ``metric(sums)``: one value per resample.
MetricFn = Callable[[Sums], np.ndarray]

#: Bins of the expected calibration error.
CALIBRATION_BINS = 10
_EPS = 1e-15


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric and whether a higher value is better."""

    name: str
    higher_is_better: bool
    fn: MetricFn
    #: What it needs beyond labels: ``"proba"`` (class probabilities) or nothing.
    needs: str = ""


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # A class that never occurs in a resample scores 0, as scikit-learn's zero_division=0.
    num = np.asarray(num, dtype=np.float64)
    return np.asarray(np.divide(num, den, out=np.zeros_like(num), where=den > 0))


# -- classification ------------------------------------------------------------------


def _accuracy(s: Sums) -> np.ndarray:
    return _ratio(s["correct"], s.rows)


def _per_class(s: Sums) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, predicted positives and actual positives of each class scored."""
    return (
        np.atleast_2d(s["tp"].T).T,
        np.atleast_2d(s["pred_pos"].T).T,
        np.atleast_2d(s["true_pos"].T).T,
    )


def _precision(s: Sums) -> np.ndarray:
    tp, pred, _ = _per_class(s)
    return np.asarray(_ratio(tp, pred).mean(axis=1))


def _recall(s: Sums) -> np.ndarray:
    tp, _, true = _per_class(s)
    return np.asarray(_ratio(tp, true).mean(axis=1))


def _f1(s: Sums) -> np.ndarray:
    tp, pred, true = _per_class(s)
    return np.asarray(_ratio(2 * tp, pred + true).mean(axis=1))


def _log_loss(s: Sums) -> np.ndarray:
    return _ratio(s["nll"], s.rows)


def _brier(s: Sums) -> np.ndarray:
    return _ratio(s["brier"], s.rows)


def _calibration_error(s: Sums) -> np.ndarray:
    """Expected calibration error: |confidence - accuracy| per bin, weighted by the bin."""
    gap = np.abs(s["bin_confidence"] - s["bin_correct"]).sum(axis=1)
    return _ratio(gap, s.rows)


def _roc_auc(s: Sums) -> np.ndarray:
    """Area under the ROC curve (macro one-vs-rest for several classes), ties counted
    half: walking rows in increasing score, each positive scores the negatives below."""
    aucs = []
    for order, starts, positive in s.columns.extra["auc"]:
        counts = s.weights if order is None else s.weights[:, order]
        if len(counts) == 1:
            counts = counts.astype(np.float64)  # the point estimate: exact
        pos = counts * positive
        neg = counts - pos
        if starts is not None:  # tied scores: count per distinct score
            pos = np.add.reduceat(pos, starts, axis=1)
            neg = np.add.reduceat(neg, starts, axis=1)
        # Whole-number counts far below 2**24: float32 sums them exactly.
        below = np.cumsum(neg, axis=1)
        scored = np.einsum("ij,ij->i", pos, below, dtype=np.float64)
        if starts is not None:
            scored -= 0.5 * np.einsum("ij,ij->i", pos, neg, dtype=np.float64)
        pairs = pos.sum(axis=1, dtype=np.float64) * neg.sum(axis=1, dtype=np.float64)
        # Undefined (NaN) in a resample that drew no positives or no negatives.
        aucs.append(np.divide(scored, pairs, out=np.full_like(scored, np.nan), where=pairs > 0))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where none is defined
        return np.asarray(np.nanmean(aucs, axis=0))


# -- regression ----------------------------------------------------------------------


def _rmse(s: Sums) -> np.ndarray:
    return np.asarray(np.sqrt(_ratio(s["sq_err"], s.rows)))


def _mae(s: Sums) -> np.ndarray:
    return _ratio(s["abs_err"], s.rows)


def _r2(s: Sums) -> np.ndarray:
    total = s["y_sq"] - _ratio(s["y"] ** 2, s.rows)
    return 1.0 - _ratio(s["sq_err"], total)


# -- ranking (resampled by query) ------------------------------------------------------


def _query_mean(name: str) -> MetricFn:
    def mean(s: Sums) -> np.ndarray:
        return _ratio(s[name], s.rows)

    return mean


CLASSIFICATION: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", True, _accuracy),
        Metric("precision", True, _precision),
        Metric("recall", True, _recall),
        Metric("f1", True, _f1),
        Metric("roc_auc", True, _roc_auc, "proba"),
        Metric("log_loss", False, _log_loss, "proba"),
        Metric("brier", False, _brier, "proba"),
        Metric("calibration_error", False, _calibration_error, "proba"),
    )
}
REGRESSION: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", False, _rmse),
        Metric("mae", False, _mae),
        Metric("r2", True, _r2),
    )
}
RANKING: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("ndcg@10", True, _query_mean("ndcg")),
        Metric("mrr", True, _query_mean("rr")),
        Metric("precision@10", True, _query_mean("p_at_k")),
    )
}
SUITES = {"classification": CLASSIFICATION, "regression": REGRESSION, "ranking": RANKING}


# -- the per-row columns each suite reads ----------------------------------------------


def classification_columns(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]
) -> Columns:
    """Per-row columns for :data:`CLASSIFICATION`; ``proba`` has one column per class.

    With two classes, precision, recall and F1 are those of the second (positive)
    class; with more, their macro average over classes.
    """
    classes = list(classes)
    index = {label: i for i, label in enumerate(classes)}
    try:
        t = np.fromiter((index[v] for v in y_true), dtype=np.int64, count=len(y_true))
        p = np.fromiter((index[v] for v in y_pred), dtype=np.int64, count=len(y_pred))
    except KeyError as exc:
        raise InvalidInputError(
            f"label {exc.args[0]!r} is not one of the model's classes {classes!r}"
        ) from None
    k = len(classes)
    scored = [1] if k == 2 else list(range(k))
    eye = np.eye(k, dtype=np.float32)
    true_hot, pred_hot = eye[t][:, scored], eye[p][:, scored]
    correct = (t == p).astype(np.float32)
    named: dict[str, np.ndarray] = {
        "one": np.ones(len(t), dtype=np.float32),
        "correct": correct,
        "tp": true_hot * pred_hot,
        "pred_pos": pred_hot,
        "true_pos": true_hot,
    }
    if proba is None:
        return Columns(named)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (len(t), k):
        raise InvalidInputError(
            f"probabilities have shape {proba.shape}; expected ({len(t)}, {k}), one column "
            "per class"
        )
    named["nll"] = -np.log(np.clip(proba[np.arange(len(t)), t], _EPS, 1.0))
    if k == 2:
        confidence, hit = proba[:, 1], (t == 1).astype(np.float64)
        named["brier"] = (confidence - hit) ** 2
    else:
        confidence, hit = proba.max(axis=1), correct.astype(np.float64)
        named["brier"] = ((proba - eye[t]) ** 2).sum(axis=1)
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    bin_hot = np.eye(CALIBRATION_BINS)[bins]
    named["bin_confidence"] = bin_hot * confidence[:, None]
    named["bin_correct"] = bin_hot * hit[:, None]
    return Columns(named, {"auc": [_score_order(proba[:, c], t == c) for c in scored]})


def _score_order(score: np.ndarray, positive: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """How to walk rows in increasing score: the order (None when they already are), where
    each distinct score starts (None when no two are tied), and which rows are positive."""
    order: np.ndarray | None = np.argsort(score, kind="stable")
    assert order is not None
    ranked = score[order]
    positive = positive[order].astype(np.float32)
    if np.array_equal(order, np.arange(len(score))):
        order = None
    ties = ranked[1:] == ranked[:-1]
    starts = np.flatnonzero(np.r_[True, ~ties]) if ties.any() else None
    return order, starts, positive


def regression_columns(y_true: np.ndarray, y_pred: np.ndarray) -> Columns:
    y = np.asarray(y_true, dtype=np.float64)
    err = np.asarray(y_pred, dtype=np.float64) - y
    # R² does not change when the target is shifted; centring it keeps the sums of
    # squares that R² subtracts small, and so exact, whatever the target's offset.
    y = y - y.mean()
    return Columns(
        {"one": np.ones(len(y)), "sq_err": err**2, "abs_err": np.abs(err), "y": y, "y_sq": y**2}
    )


def ranking_columns(
    queries: np.ndarray, relevance: np.ndarray, scores: np.ndarray, k: int = 10
) -> tuple[Columns, np.ndarray]:
    """Per-query columns for :data:`RANKING` (NDCG@k, reciprocal rank, precision@k),
    and the query of each; resampling draws whole queries."""
    queries, relevance, scores = map(np.asarray, (queries, relevance, scores))
    order = np.lexsort((-scores, queries))
    q, rel = queries[order], relevance[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    ndcg, rr, p_at_k = [], [], []
    for ranked in np.split(rel, starts[1:]):
        top = ranked[:k]
        discount = 1.0 / np.log2(np.arange(len(top)) + 2.0)
        ideal = ((2 ** np.sort(ranked)[::-1][:k] - 1) * discount).sum()
        ndcg.append(((2**top - 1) * discount).sum() / ideal if ideal > 0 else 0.0)
        hits = np.flatnonzero(ranked > 0)
        rr.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
        p_at_k.append(float((top > 0).sum()) / k)
    named = {
        "one": np.ones(len(starts)),
        "ndcg": np.array(ndcg),
        "rr": np.array(rr),
        "p_at_k": np.array(p_at_k),
    }
    return Columns(named), q[starts]
