"""The study records: studies, their trials, and what running trials report.

A study is a run with the setup it was started with; each trial is a child run of it
with its point as params and its values as metrics; what a running trial reports is
kept where the pruners of other trials, in other processes, read it.
:class:`StudyRecords` is what the tuning layer asks of a store; the frozen records below
are what crosses it. :class:`mlpilot.testing.StudyRecordsContract` is the contract every
implementation passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

#: How a trial can end.
END_STATES = ("complete", "pruned", "failed", "killed")
#: Trial states that use up the budget: the trial ran to an end of its own.
FINISHED = ("complete", "pruned", "failed")


@dataclasses.dataclass(frozen=True)
class StudySetup:
    """What a study is started with, stored so that a resumed study runs the same.

    Attributes:
        name: the study's name (several studies may share one; the latest wins).
        objective: the objective as ``FILE:NAME`` or ``MODULE:NAME``.
        space: the search space, as :meth:`mlpilot.tune.Space.to_dict` writes it.
        directions: ``maximize`` or ``minimize``, one per objective.
        metrics: the name of each objective's value.
        sampler: ``{"name", "seed", "grid_size"}``.
        pruner: ``{"name", **options}``; ``name`` is None without a pruner.
        budget: ``{"trials", "timeout_s", "core_hours"}``.
        trial_resources: ``{"cpus", "gpus", "memory_mb", "timeout_s", "parallel"}``.
        executor: the kind of executor the trials run on.
        objective_kwargs: keyword arguments every call of the objective gets.
    """

    name: str
    objective: str
    space: dict[str, Any]
    directions: list[str]
    metrics: list[str]
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    budget: dict[str, Any]
    trial_resources: dict[str, Any]
    executor: str
    objective_kwargs: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The setup as JSON-able values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class StudyRecord:
    """A stored study: what it was started with, and how it stands.

    Attributes:
        run_id: the study's run.
        experiment: the experiment of that run.
        status: the run's status (``running``, ``finished``, ``failed``, ``killed``).
        spent_s: seconds its drives have taken, summed over resumes.
        start_ms, end_ms: when its run started and ended, in UTC milliseconds.
        The rest: as in :class:`StudySetup`.
    """

    run_id: str
    name: str
    experiment: str
    status: str
    objective: str
    space: dict[str, Any]
    directions: list[str]
    metrics: list[str]
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    budget: dict[str, Any]
    trial_resources: dict[str, Any]
    executor: str
    spent_s: float
    objective_kwargs: dict[str, Any] | None
    start_ms: int
    end_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        """The study as JSON-able values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial: its point, how it ended and its objective values.

    Attributes:
        run_id: the trial's run, a child run of the study's.
        number: its number in the study, from 0.
        state: ``running``, ``complete``, ``pruned``, ``failed`` or ``killed``.
        params: the point it tried.
        values: its objective values, one per direction, once complete.
        cpus: the cores it was given.
        start_ms, end_ms: when it started and ended, in UTC milliseconds.
        error: why it failed or was pruned or killed (the end of the text).
    """

    run_id: str
    number: int
    state: str
    params: dict[str, Any]
    values: list[float] | None
    cpus: int
    start_ms: int
    end_ms: int | None
    error: str

    @property
    def seconds(self) -> float | None:
        """How long it ran, once it ended."""
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000

    def to_dict(self) -> dict[str, Any]:
        """The trial as JSON-able values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrialStart:
    """A trial about to start: its run id (new, chosen by the caller), number, point and
    cores."""

    run_id: str
    number: int
    params: dict[str, Any]
    cpus: int

    def to_dict(self) -> dict[str, Any]:
        """The start as JSON-able values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrialEnd:
    """How a trial ended, as the driver records it.

    Attributes:
        run_id: the trial's run.
        number: its number in the study.
        state: one of :data:`END_STATES`.
        values: its objective values when ``complete``.
        error: why it did not complete.
        reports: ``(step, value)`` of every report, written as the history of the study's
            first metric on the trial's run.
    """

    run_id: str
    number: int
    state: str
    values: list[float] | None = None
    error: str = ""
    reports: Sequence[tuple[int, float]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The end as JSON-able values."""
        return {
            "run_id": self.run_id,
            "number": self.number,
            "state": self.state,
            "values": self.values,
            "error": self.error,
            "reports": [[step, value] for step, value in self.reports],
        }


@runtime_checkable
class StudyRecords(Protocol):
    """What the tuning layer records about studies and asks back.

    Studies are named by their run id; :meth:`get` also finds one by name or run id
    prefix. Every method naming a study that does not exist raises
    :class:`~mlpilot.errors.NotFoundError`.
    """

    # -- the driver's writes ---------------------------------------------------------

    def create(self, run_id: str, setup: StudySetup) -> None:
        """Make the run ``run_id`` a study started with ``setup``, with a
        ``study.started`` event."""
        ...

    def record(
        self,
        study_id: str,
        ends: Sequence[TrialEnd] = (),
        starts: Sequence[TrialStart] = (),
    ) -> None:
        """Record at once how trials ended and which trials start now.

        An end sets the trial's state, values and error, ends its run, writes its reports
        and values as metric history and records a ``trial.<state>`` event. A start adds
        a running child run of the study's run (named ``<study>-<number>``, its point as
        params) and a running trial. Raises :class:`~mlpilot.errors.ConflictError` for a
        trial number the study already has.
        """
        ...

    def abandon_running(self, study_id: str, note: str) -> list[TrialRecord]:
        """End as ``killed``, with ``note`` as their error, the trials still running; return
        them as they were."""
        ...

    def add_spent(self, study_id: str, seconds: float) -> None:
        """Add ``seconds`` to the time the study's drives have taken."""
        ...

    # -- what running trials write and pruners read ------------------------------------

    def report(self, study_id: str, trial_id: str, step: int, value: float) -> None:
        """Record the finite value a running trial reached at ``step``; a step is
        reported once."""
        ...

    def mark_rung(self, trial_id: str, step: int, rung: int) -> None:
        """Note that the report at ``step`` passed rung ``rung`` (the highest one wins)."""
        ...

    def rung_values(self, study_id: str, rung: int) -> list[float]:
        """Each trial's value at ``rung``: its report with the lowest rung at or above it."""
        ...

    def finished_values_at(self, study_id: str, step: int) -> list[float]:
        """The reports at ``step`` of the study's complete trials."""
        ...

    def finished_count(self, study_id: str) -> int:
        """How many of the study's trials are complete."""
        ...

    # -- reads -----------------------------------------------------------------------

    def get(self, ref: str) -> StudyRecord:
        """The study ``ref`` names: its name (the latest of that name), its run id, or a
        unique prefix of it."""
        ...

    def recent(self, limit: int = 100) -> list[StudyRecord]:
        """Studies, newest first."""
        ...

    def trials(self, study_id: str) -> list[TrialRecord]:
        """The study's trials by number."""
        ...

    def reports(self, study_id: str) -> dict[str, dict[int, float]]:
        """Every report of the study's trials, ``{trial run id: {step: value}}``."""
        ...
