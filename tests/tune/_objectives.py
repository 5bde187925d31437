"""Objectives the tuning tests run (worker processes import them by name)."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from mlpilot.tune import Trial

#: Where ``quadratic`` peaks: at x = 0.3, y = 7.
PEAK = {"x": 0.3, "y": 7}


def quadratic_at(params: Mapping[str, Any]) -> float:
    """Highest (0) at x = 0.3, y = 7; y is 7 where a space has no y."""
    x, y = params["x"], params.get("y", PEAK["y"])
    return -((x - PEAK["x"]) ** 2) - 0.01 * (y - PEAK["y"]) ** 2


def quadratic(trial: Trial) -> float:
    return quadratic_at(trial.params)


def napping_quadratic(trial: Trial) -> float:
    """``quadratic``, slowly enough that several trials are running at once."""
    time.sleep(0.2)
    return quadratic(trial)


def slow_quadratic(trial: Trial) -> float:
    """``quadratic``, slowly enough that a test can kill the study while trials run."""
    time.sleep(0.6)
    return quadratic(trial)


def by_model(trial: Trial) -> float:
    """A conditional space: ``C`` exists only for ``svm``, ``depth`` only for ``forest``."""
    params = trial.params
    if params["model"] == "svm":
        return -abs(math.log10(params["C"]))
    if params["model"] == "forest":
        return -abs(params["depth"] - 6) / 10
    return -1.0


def two_goals(trial: Trial) -> tuple[float, float]:
    """Two objectives in conflict: no x is best at both."""
    x = trial.params["x"]
    return x**2, (x - 2) ** 2


def learning_curve(trial: Trial) -> float:
    """Climbs over 27 steps to a level set by ``x``; reports every step."""
    level = 1 - (trial.params["x"] - 0.3) ** 2
    value = 0.0
    for step in range(1, 28):
        value = level * (1 - 0.8**step)
        trial.report(value, step)
    return value


def never_reports(trial: Trial) -> float:
    return float(trial.params["x"])


def raises_for_large_x(trial: Trial) -> float:
    if trial.params["x"] >= 4:
        raise ValueError(f"x={trial.params['x']} is too large for this model")
    return float(trial.params["x"])


def nan_for_large_x(trial: Trial) -> float:
    return math.nan if trial.params["x"] >= 4 else float(trial.params["x"])


def text_for_large_x(trial: Trial) -> Any:
    return "large" if trial.params["x"] >= 4 else float(trial.params["x"])


def inf_for_large_x(trial: Trial) -> float:
    return math.inf if trial.params["x"] >= 4 else float(trial.params["x"])


def reports_backwards_for_large_x(trial: Trial) -> float:
    if trial.params["x"] >= 4:
        trial.report(0.5, step=2)
        trial.report(0.6, step=1)
    return float(trial.params["x"])


def hangs_at_5(trial: Trial) -> float:
    if trial.params["x"] == 5:
        time.sleep(120)
    return float(trial.params["x"])


def dies_at_3(trial: Trial) -> float:
    """Kills its own worker process at x = 3, as the kernel's out-of-memory killer would."""
    if trial.params["x"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(trial.params["x"])


def napping_bowl(trial: Trial) -> float:
    """Highest at a = 7, b = 3 over whole numbers; slow enough that trials overlap."""
    time.sleep(0.2)
    return -((trial.params["a"] - 7) ** 2) - (trial.params["b"] - 3) ** 2
