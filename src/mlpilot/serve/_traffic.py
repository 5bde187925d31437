"""How the versions that served a model's live traffic compare, from the prediction log.

A canary and its primary answer different requests, so they are compared side by side:
latency, what they predicted, and, where ground truth arrived, how often they were
right. A shadow saw copies of the primary's requests, so it is also compared row by
row with the primary's answers to the same requests.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.store._predictions import ROLES
from mlpilot.tracking import TrackingClient

#: Classes listed in a version's prediction mix; the rest are summed as "other".
_MIX_CLASSES = 5


@dataclasses.dataclass(frozen=True)
class VersionTraffic:
    """What one version answered in one role."""

    version: int
    role: str
    rows: int
    requests: int
    latency_p50_ms: float
    latency_p95_ms: float
    #: A classifier's share of rows per predicted class (the most frequent first); a
    #: regressor's mean prediction under ``"mean"``.
    predictions: dict[str, float]
    #: Rows whose ground truth has been recorded.
    labelled: int
    #: Share of labelled rows predicted right (classifiers).
    accuracy: float | None
    #: Mean absolute error on labelled rows (regressors).
    mae: float | None


@dataclasses.dataclass(frozen=True)
class ShadowAgreement:
    """A shadow's answers to the rows the primary answered too."""

    shadow_version: int
    primary_version: int
    rows: int
    #: Share of rows both predicted the same (classifiers).
    agreement: float | None
    #: Mean absolute difference of the predictions (regressors).
    mean_difference: float | None
    #: Mean over rows of the largest difference in a class probability, where both
    #: logged probabilities.
    score_gap: float | None


@dataclasses.dataclass(frozen=True)
class TrafficComparison:
    """Every version and role that served ``model`` in the period."""

    model: str
    since_ms: int | None
    until_ms: int | None
    #: Whether the model predicts measurements (fractional numbers) rather than classes.
    regression: bool
    versions: list[VersionTraffic]
    shadows: list[ShadowAgreement]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def compare_traffic(
    model: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    client: TrackingClient | None = None,
) -> TrafficComparison:
    """Compare the versions whose answers to ``model``'s requests the prediction log
    holds (its sampled rows, ``log_sample``), between ``since_ms`` and ``until_ms``.

    Args:
        client: The store to read; by default the one the settings name.
    """
    client = client or TrackingClient()
    frame = client.store.predictions.read(
        model, roles=ROLES, since_ms=since_ms, until_ms=until_ms, labels=True
    )
    regression = _is_regression(frame["prediction"])
    versions = [
        _version_traffic(rows, regression)
        for _, rows in frame.groupby(["role", "version"], sort=False)
    ]
    order = {role: i for i, role in enumerate(ROLES)}
    versions.sort(key=lambda v: (order[v.role], v.version))
    primary = frame[frame["role"] == "primary"]
    shadows = [
        _agreement(rows, primary, regression)
        for _, rows in frame[frame["role"] == "shadow"].groupby("version")
    ]
    return TrafficComparison(
        model, since_ms, until_ms, regression, versions, [s for s in shadows if s]
    )


def _version_traffic(rows: pd.DataFrame, regression: bool) -> VersionTraffic:
    # A request's latency is logged on each of its rows: count it once.
    latency = rows.drop_duplicates("request_id")["latency_ms"].to_numpy(dtype=float)
    labelled = rows[rows["label"].notna()]
    accuracy = mae = None
    if len(labelled) and regression:
        mae = _mean_difference(labelled["prediction"], labelled["label"])
    elif len(labelled):
        accuracy = _share_equal(labelled["prediction"], labelled["label"])
    return VersionTraffic(
        version=int(rows["version"].iloc[0]),
        role=str(rows["role"].iloc[0]),
        rows=len(rows),
        requests=len(latency),
        latency_p50_ms=float(np.percentile(latency, 50)),
        latency_p95_ms=float(np.percentile(latency, 95)),
        predictions=_mix(rows["prediction"], regression),
        labelled=len(labelled),
        accuracy=accuracy,
        mae=mae,
    )


def _agreement(
    shadow: pd.DataFrame, primary: pd.DataFrame, regression: bool
) -> ShadowAgreement | None:
    pairs = shadow.merge(primary, on=["request_id", "row"], suffixes=("_shadow", "_primary"))
    if pairs.empty:
        return None
    ours, theirs = pairs["prediction_shadow"], pairs["prediction_primary"]
    gaps = [
        float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))))
        for a, b in zip(pairs["scores_shadow"], pairs["scores_primary"], strict=True)
        if isinstance(a, list) and isinstance(b, list) and a and len(a) == len(b)
    ]
    return ShadowAgreement(
        shadow_version=int(shadow["version"].iloc[0]),
        primary_version=int(pairs["version_primary"].mode().iloc[0]),
        rows=len(pairs),
        agreement=None if regression else _share_equal(ours, theirs),
        mean_difference=_mean_difference(ours, theirs) if regression else None,
        score_gap=float(np.mean(gaps)) if gaps else None,
    )


def _is_regression(predictions: pd.Series) -> bool:
    """Whether the predictions are measurements rather than classes: numbers, some of
    them fractional."""
    values = predictions.tolist()
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    return numeric and any(not float(v).is_integer() for v in values)


def _mix(predictions: pd.Series, regression: bool) -> dict[str, float]:
    if regression:
        return {"mean": float(np.mean(_numbers(predictions)))}
    shares = predictions.map(str).value_counts(normalize=True)
    mix = {str(k): float(v) for k, v in shares.iloc[:_MIX_CLASSES].items()}
    if len(shares) > _MIX_CLASSES:
        mix["other"] = float(shares.iloc[_MIX_CLASSES:].sum())
    return mix


def _share_equal(a: pd.Series, b: pd.Series) -> float:
    """The share of positions where ``a`` and ``b`` hold equal values (1 == 1.0, as JSON
    would have it)."""
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


def _mean_difference(a: pd.Series, b: pd.Series) -> float:
    """The mean absolute difference of two series of numbers."""
    return float(np.mean(np.abs(_numbers(a) - _numbers(b))))


def _numbers(values: pd.Series) -> np.ndarray:
    return np.asarray(values.tolist(), dtype=float)
