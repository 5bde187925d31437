"""What runs in a worker process for each trial: the objective, its reports, its end.

A trial writes only its reports to the store (pruners of other trials read them); how
it ended goes back to the driver, which records a whole batch of trials at once.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import traceback
from collections.abc import Mapping
from typing import Any

from mlpilot.compute import Resources
from mlpilot.config import Settings
from mlpilot.errors import InvalidInputError
from mlpilot.schedule._step import StepRef
from mlpilot.schedule._worker import resolve
from mlpilot.store._store import open_store
from mlpilot.store.base._studies import StudyRecords
from mlpilot.tune.pruners import Progress, Pruner


class TrialPruned(Exception):  # noqa: N818 (the name users know from Optuna)
    """Raised by :meth:`Trial.report` when the pruner stops the trial; an objective may
    raise it too. The trial ends as ``pruned``, which is not a failure."""


@dataclasses.dataclass(frozen=True)
class TrialSpec:
    """Everything a worker needs to run one trial."""

    study_id: str
    run_id: str
    number: int
    objective: StepRef
    params: dict[str, Any]
    #: The driver's settings: the worker opens the same store from them.
    settings: Settings
    pruner: Pruner | None
    maximize: bool
    objectives: int
    resources: Resources
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TrialResult:
    state: str
    values: list[float] | None = None
    error: str = ""
    reports: list[tuple[int, float]] = dataclasses.field(default_factory=list)


class Trial:
    """What an objective is given: the point to try, and a way to report progress.

    Example::

        def objective(trial):
            model = SGDClassifier(alpha=trial.params["alpha"])
            for epoch in range(50):
                model.partial_fit(X, y, classes=classes)
                trial.report(model.score(X_val, y_val), step=epoch)  # may stop it here
            return model.score(X_val, y_val)
    """

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        #: The trial's number in its study, from 0.
        self.number = spec.number
        #: The parameter values to try, by name.
        self.params: Mapping[str, Any] = dict(spec.params)
        #: The trial's run: log artifacts or models to it with a :class:`TrackingClient`.
        self.run_id = spec.run_id
        #: The study's run.
        self.study_id = spec.study_id
        self.reports: list[tuple[int, float]] = []
        self._progress: Progress | None = None

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={dict(self.params)!r})"

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    @property
    def cpus(self) -> int:
        """Cores this trial was given: size thread pools (``n_jobs``) to it."""
        return self.spec.resources.cpus

    def report(self, value: float, step: int | None = None) -> None:
        """Record the objective's value at ``step`` (by default, the next step).

        With a pruner, this is where a hopeless trial stops: it raises
        :class:`TrialPruned`, which ends the trial as ``pruned`` and frees its cores.
        """
        if step is None:
            step = self.reports[-1][0] + 1 if self.reports else 0
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise InvalidInputError(f"trial.report: step must be a whole number >= 0, got {step!r}")
        if self.reports and step <= self.reports[-1][0]:
            raise InvalidInputError(
                f"trial.report: step {step} comes after step {self.reports[-1][0]}; "
                "report steps in increasing order"
            )
        number = _number(value, "trial.report: the value")
        self.reports.append((int(step), number))
        records = open_store(self.spec.settings).studies
        # A NaN is no value to compare with: it stays in the trial's history, and a
        # pruner stops the trial on it, but other trials' pruners never read it.
        if not math.isnan(number):
            records.report(self.study_id, self.run_id, int(step), number)
        pruner = self.spec.pruner
        if pruner is None:
            return
        if self._progress is None:
            self._progress = Progress(int(step), number, number, self.spec.maximize)
        progress = self._progress
        progress.step, progress.value = int(step), number
        if not math.isnan(number) and (
            math.isnan(progress.best) or (number > progress.best) == self.spec.maximize
        ):
            progress.best = number
        if pruner.prune(progress, _History(records, self.study_id, self.run_id)):
            raise TrialPruned(f"pruned by {pruner.name} at step {step} (value {number:.6g})")


@dataclasses.dataclass(frozen=True)
class _History:
    """The study's reports, as the pruner of one trial reads them."""

    records: StudyRecords
    study_id: str
    trial_id: str

    def mark_rung(self, step: int, rung: int) -> None:
        self.records.mark_rung(self.trial_id, step, rung)

    def rung_values(self, rung: int) -> list[float]:
        return self.records.rung_values(self.study_id, rung)

    def finished_values_at(self, step: int) -> list[float]:
        return self.records.finished_values_at(self.study_id, step)

    def finished_count(self) -> int:
        return self.records.finished_count(self.study_id)


def run_trial(spec: TrialSpec) -> TrialResult:
    """Run the objective on one point and say how it went; never raises for what the
    objective does."""
    trial = Trial(spec)
    try:
        objective = resolve(spec.objective)
        returned = objective(trial, **spec.kwargs)
    except TrialPruned as exc:
        return TrialResult("pruned", error=str(exc), reports=trial.reports)
    except Exception as exc:
        return TrialResult("failed", error=_failure(exc), reports=trial.reports)
    try:
        values = objective_values(returned, spec.objectives)
    except InvalidInputError as exc:
        return TrialResult("failed", error=str(exc), reports=trial.reports)
    return TrialResult("complete", values, reports=trial.reports)


def objective_values(returned: Any, objectives: int) -> list[float]:
    """The objective's return as ``objectives`` finite numbers, or why it is not that."""
    if objectives == 1 and not isinstance(returned, list | tuple):
        returned = [returned]
    if not isinstance(returned, list | tuple) or len(returned) != objectives:
        raise InvalidInputError(
            f"the objective returned {returned!r}; return {objectives} numbers, one per "
            "direction, as a tuple"
        )
    values = [_number(v, "the objective's value") for v in returned]
    if any(math.isnan(v) for v in values):
        raise InvalidInputError(f"the objective returned NaN ({returned!r})")
    return values


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{what} must be a number, got {type(value).__name__}: {value!r}")
    number = float(value)
    if math.isinf(number):
        raise InvalidInputError(f"{what} is infinite; return a finite number")
    return number


def _failure(exc: BaseException) -> str:
    """The exception with the frames of the user's code, not mlpilot's."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]
    lines = traceback.format_list(frames) + traceback.format_exception_only(exc)
    return "".join(lines).strip()
