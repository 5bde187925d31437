"""Objectives that the ``mlpilot tune`` tests name as FILE:OBJECTIVE."""

from __future__ import annotations


def quadratic(trial):  # type: ignore[no-untyped-def]
    """Best at x = 2 (and the larger C, when the model is 'svm')."""
    bonus = trial.params.get("C", 0.0) if trial.params["model"] == "svm" else 0.0
    return -((trial.params["x"] - 2.0) ** 2) + 0.01 * bonus


def two_goals(trial):  # type: ignore[no-untyped-def]
    x = trial.params["x"]
    return x**2, (x - 2.0) ** 2
