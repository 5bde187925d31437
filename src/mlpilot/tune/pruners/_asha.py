"""Asynchronous successive halving (ASHA, Li et al. 2020)."""

from __future__ import annotations

import math
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.tune.pruners._base import Progress, Pruner, ReportHistory, worse


class ASHA(Pruner):
    """Stop a trial at a rung unless it is in the top ``1/reduction_factor`` there.

    Rung ``k`` sits at step ``min_resource * reduction_factor**k``. A trial that reaches
    a rung compares the value it reported there with every value any trial reported at
    that rung so far, and goes on only if it is among the best ``1/reduction_factor``.
    No trial waits for others to reach a rung: that is what makes it asynchronous, and
    why early trials are judged against few rivals (while a rung holds fewer than
    ``reduction_factor`` values, only the best of them goes on).
    """

    name = "asha"

    def __init__(self, min_resource: int = 1, reduction_factor: int = 3) -> None:
        if not isinstance(min_resource, int) or min_resource < 1:
            raise InvalidInputError("asha: min_resource must be a whole number >= 1")
        if not isinstance(reduction_factor, int) or reduction_factor < 2:
            raise InvalidInputError("asha: reduction_factor must be a whole number >= 2")
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor

    def options(self) -> dict[str, Any]:
        return {"min_resource": self.min_resource, "reduction_factor": self.reduction_factor}

    def rung_step(self, rung: int) -> int:
        return int(self.min_resource * self.reduction_factor**rung)

    def prune(self, progress: Progress, history: ReportHistory) -> bool:
        # One report may pass several rungs (when steps are reported sparsely): it is
        # then this trial's value at each of them.
        while progress.step >= self.rung_step(progress.rung):
            if math.isnan(progress.value):
                return True
            history.mark_rung(progress.step, progress.rung)
            ranked = sorted(history.rung_values(progress.rung), reverse=progress.maximize)
            cutoff = ranked[max(len(ranked) // self.reduction_factor, 1) - 1]
            if worse(progress.value, cutoff, progress.maximize):
                return True
            progress.rung += 1
        return False
