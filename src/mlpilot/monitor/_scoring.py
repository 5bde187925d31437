"""What one window of a model's traffic says: drift from the reference profile, the
model's performance on the rows whose labels arrived, and latency."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.evaluate._metrics import (
    CLASSIFICATION,
    REGRESSION,
    classification_columns,
    regression_columns,
)
from mlpilot.monitor.drift import ReferenceProfile, check_drift
from mlpilot.store._predictions import FIXED_COLUMNS, json_safe
from mlpilot.store.base._monitors import Monitor

_log = logging.getLogger(__name__)
# Log columns a feature of the same name is logged beside, as ``feature.<name>``.
_RESERVED = {*FIXED_COLUMNS, "label"}
_PERFORMANCE = {
    "classification": ("accuracy", "precision", "recall", "f1"),
    "regression": ("rmse", "mae", "r2"),
}


def evaluate_window(
    monitor: Monitor, profile: ReferenceProfile, rows: pd.DataFrame
) -> dict[str, Any]:
    """What one window says: drift, performance and latency, as stored."""
    found = {"rows": len(rows), **drift(monitor, profile, rows)}
    found["performance"] = performance(monitor, rows)
    found["latency"] = latency(monitor, rows)
    return found


def window_features(monitor: Monitor, rows: pd.DataFrame) -> pd.DataFrame:
    """The window's tested columns under the names the profile knows them by."""
    columns: dict[str, Any] = {}
    for feature in monitor.features:
        logged = f"feature.{feature}" if feature in _RESERVED else feature
        if logged in rows.columns:
            columns[feature] = rows[logged].to_numpy()
    if monitor.prediction_column is not None:
        values = prediction_values(rows["prediction"], monitor.task)
        columns[monitor.prediction_column] = values.to_numpy()
    return pd.DataFrame(columns, index=range(len(rows)))


def drift(monitor: Monitor, profile: ReferenceProfile, rows: pd.DataFrame) -> dict[str, Any]:
    """The drift tests' results on the window, as stored."""
    try:
        report = check_drift(
            profile,
            window_features(monitor, rows),
            monitor.tests,
            alpha=monitor.alpha,
            psi_threshold=monitor.psi_threshold,
            correction=monitor.correction,
        )
    except Exception as exc:  # a window no test can read is recorded, not fatal
        _log.warning("monitor %s could not test a window for drift: %s", monitor.name, exc)
        return {
            "evaluable": False,
            "reason": f"the drift tests could not read the window: {exc}",
            "drifted_columns": [],
            "results": [],
        }
    return {
        "evaluable": report.evaluable,
        "reason": report.reason,
        "drifted_columns": report.drifted_columns,
        "results": [json_safe(dataclasses.asdict(result)) for result in report.results],
    }


def performance(monitor: Monitor, rows: pd.DataFrame) -> dict[str, Any]:
    """The model's metrics on the window's labelled rows, or why there are none."""
    labelled = rows[rows["label"].notna()] if "label" in rows.columns else rows.iloc[:0]
    count = len(labelled)
    found: dict[str, Any] = {"labels": count, "metrics": {}}
    if count < monitor.min_labels:
        found["reason"] = f"not evaluable: {count} labels (fewer than {monitor.min_labels})"
        return found
    try:
        metrics = _metrics(monitor.task, labelled["label"], labelled["prediction"])
    except (ValueError, TypeError) as exc:
        found["reason"] = f"not evaluable: {exc}"
        return found
    found["metrics"] = {k: v for k, v in metrics.items() if math.isfinite(v)}
    return found


def latency(monitor: Monitor, rows: pd.DataFrame) -> dict[str, Any]:
    """Latency percentiles over the window's requests, in milliseconds."""
    requests = rows.drop_duplicates("request_id")["latency_ms"].to_numpy(dtype=np.float64)
    requests = requests[np.isfinite(requests)]
    found: dict[str, Any] = {"requests": len(requests)}
    if len(requests):
        p50, p99 = np.percentile(requests, [50, 99])
        found.update(p50=float(p50), p99=float(p99), mean=float(requests.mean()))
        if monitor.latency_p99_ms is not None:
            found["over_target"] = bool(p99 > monitor.latency_p99_ms)
    return found


def prediction_values(values: pd.Series, task: str) -> pd.Series:
    """Predictions (or the reference's target) as the profile compares them: classes
    as text, regression values as they are."""
    if task == "classification":
        return pd.Series(
            [None if _missing(v) else _category(v) for v in values],
            index=values.index,
            dtype=object,
        )
    return values


def _metrics(task: str, labels: pd.Series, predictions: pd.Series) -> dict[str, float]:
    """The task's performance metrics of ``predictions`` against ``labels``.

    Raises:
        ValueError, TypeError: values the task cannot score.
    """
    if task == "classification":
        truth = [_category(v) for v in labels]
        predicted = [_category(v) for v in predictions]
        classes = sorted(set(truth) | set(predicted))
        sums = classification_columns(
            np.array(truth, dtype=object), np.array(predicted, dtype=object), None, classes
        ).sums()
        suite = CLASSIFICATION
    else:
        truth_values = pd.to_numeric(labels, errors="raise").to_numpy(float)
        predicted_values = pd.to_numeric(predictions, errors="raise").to_numpy(float)
        if not (np.isfinite(truth_values).all() and np.isfinite(predicted_values).all()):
            raise ValueError("labels and predictions must be finite numbers")
        sums = regression_columns(truth_values, predicted_values).sums()
        suite = REGRESSION
    return {name: float(suite[name].fn(sums)[0]) for name in _PERFORMANCE[task]}


def _category(value: Any) -> str:
    """A class label as text, so that 1, 1.0 and True-as-1 do not split one class."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
