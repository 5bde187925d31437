"""The median stopping rule (Golovin et al. 2017, as in Google Vizier)."""

from __future__ import annotations

import math
import statistics
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.tune.pruners._base import Progress, Pruner, ReportHistory, worse


class Median(Pruner):
    """Stop a trial whose best value so far is worse than the median of what complete
    trials reported at the same step.

    Nothing is stopped before ``startup_trials`` trials are complete, nor before step
    ``warmup_steps``; the rule is checked every ``interval_steps`` steps.
    """

    name = "median"

    def __init__(
        self, startup_trials: int = 5, warmup_steps: int = 0, interval_steps: int = 1
    ) -> None:
        for option, value, least in (
            ("startup_trials", startup_trials, 0),
            ("warmup_steps", warmup_steps, 0),
            ("interval_steps", interval_steps, 1),
        ):
            if not isinstance(value, int) or value < least:
                raise InvalidInputError(f"median: {option} must be a whole number >= {least}")
        self.startup_trials = startup_trials
        self.warmup_steps = warmup_steps
        self.interval_steps = interval_steps

    def options(self) -> dict[str, Any]:
        return {
            "startup_trials": self.startup_trials,
            "warmup_steps": self.warmup_steps,
            "interval_steps": self.interval_steps,
        }

    def prune(self, progress: Progress, history: ReportHistory) -> bool:
        if progress.step < self.warmup_steps:
            return False
        if (progress.step - self.warmup_steps) % self.interval_steps:
            return False
        if math.isnan(progress.value):
            return True
        if history.finished_count() < max(self.startup_trials, 1):
            return False
        values = [v for v in history.finished_values_at(progress.step) if not math.isnan(v)]
        if not values:
            return False
        return worse(progress.best, statistics.median(values), progress.maximize)
