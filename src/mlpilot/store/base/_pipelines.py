"""The pipeline records: pipeline runs, their tasks, the tasks' attempts and the cache.

A pipeline run is also a tracking run (``mlpilot runs`` lists it): its name, status and
times are the tracking run's. :class:`PipelineRecords` is what the scheduling layer
asks of a store; the frozen records below are what crosses it.
:class:`mlpilot.testing.PipelineRecordsContract` is the contract every implementation
passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

#: Task states in which a task's output is stored and final.
COMPLETE = ("done", "cached")
#: Task states in which a task has stopped for good (in one drive of its run).
ENDED = ("done", "failed", "cancelled")
#: Task states from which a resumed run starts the task again.
UNFINISHED = ("pending", "running", "retrying", "failed", "skipped", "cancelled", "lost")
#: Every state a task can be in; ``lost`` when its run ended (its driver died) while it ran.
TASK_STATES = (
    "pending",
    "running",
    "retrying",
    "done",
    "cached",
    "failed",
    "skipped",
    "cancelled",
    "lost",
)
#: How an attempt can end; ``running`` while it runs, ``lost`` when its driver died.
ATTEMPT_STATES = ("running", "ok", "error", "timeout", "died", "cancelled", "lost")


@dataclasses.dataclass(frozen=True)
class PipelineRunRecord:
    """A pipeline run: what it was started with, and its tracking run's state."""

    run_id: str
    name: str
    experiment: str
    pipeline: str
    #: Where the pipeline is found again: ``FILE:NAME`` or ``MODULE:NAME``.
    source: str
    params: dict[str, Any]
    policy: str
    #: The name of the executor it ran on (what makes one again).
    executor: str
    deadline_ms: int | None
    status: str
    start_ms: int
    end_ms: int | None
    cancel_requested: bool

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-able values (times in UTC milliseconds)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AttemptRecord:
    """One attempt at a task: where it ran, with what, and how it ended."""

    attempt: int
    status: str
    node: str
    cpus: int
    gpus: int
    memory_mb: int
    start_ms: int
    end_ms: int | None
    cpu_seconds: float | None
    peak_rss_mb: float | None
    error: str

    @property
    def seconds(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"seconds": self.seconds}


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    """A task of a pipeline run, with its attempts in order."""

    id: str
    name: str
    step: str
    status: str
    upstream: list[str]
    cache_key: str | None
    output_digest: str | None
    output_size: int | None
    #: The task whose stored output this one reused, for a cached task.
    cached_from: str | None
    start_ms: int | None
    end_ms: int | None
    error: str
    attempts: list[AttemptRecord]

    @property
    def seconds(self) -> float | None:
        """How long the task's attempts ran, together; ``None`` until the task ends.

        Waits between attempts (a retry's backoff, a stopped run waiting to be resumed)
        do not count.
        """
        if self.end_ms is None:
            return None
        ran = [a.end_ms - a.start_ms for a in self.attempts if a.end_ms is not None]
        return sum(ran) / 1000

    def to_dict(self) -> dict[str, Any]:
        """The task as JSON-able values, with ``seconds`` and its attempts'."""
        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        document["attempts"] = [a.to_dict() for a in self.attempts]
        return document | {"seconds": self.seconds}


@dataclasses.dataclass(frozen=True)
class StepHistory:
    """What earlier attempts of a step measured: its work and how it scaled."""

    #: Median CPU seconds of a successful attempt; ``None`` if none was measured.
    work: float | None
    #: Median seconds of a successful attempt, by the cores it ran on.
    seconds_by_cores: dict[int, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "work": self.work,
            "seconds_by_cores": {str(c): s for c, s in self.seconds_by_cores.items()},
        }


@dataclasses.dataclass(frozen=True)
class NewTask:
    """A task as a run is created with it; tasks are stored in the order given."""

    id: str
    name: str
    step: str
    upstream: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AttemptStart:
    """An attempt a driver starts: its task, number, resources and the task's cache key."""

    task_id: str
    attempt: int
    cpus: int
    gpus: int = 0
    memory_mb: int = 0
    cache_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AttemptEnd:
    """How an attempt ended and what that made of its task (``task_status``)."""

    task_id: str
    attempt: int
    status: str
    task_status: str
    node: str = ""
    end_ms: int = 0
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    error: str = ""
    #: The stored output, for an attempt that completed its task.
    digest: str | None = None
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CachedOutput:
    """A stored task output: which task made it, its digest and size."""

    task_id: str
    digest: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class PipelineRecords(Protocol):
    """What the scheduling layer records of pipeline runs, and asks of them.

    Every write is atomic: a driver killed at any moment leaves records that say which
    tasks completed and where their outputs are. Unknown run or task ids raise
    :class:`~mlpilot.errors.NotFoundError`, bad values
    :class:`~mlpilot.errors.InvalidInputError`.
    """

    # -- writes ------------------------------------------------------------------------

    def create(
        self,
        run_id: str,
        *,
        pipeline: str,
        source: str,
        params: Mapping[str, Any],
        policy: str,
        executor: str,
        deadline_ms: int | None,
        tasks: Sequence[NewTask],
    ) -> None:
        """Make the tracking run ``run_id`` a pipeline run with ``tasks``, all pending.

        Raises:
            NotFoundError: No run has this id.
            ConflictError: The run is a pipeline run already, or a task id is taken.
        """
        ...

    def start_attempts(self, starts: Sequence[AttemptStart]) -> None:
        """Record attempts as started (now) and their tasks as running."""
        ...

    def end_attempts(self, ends: Sequence[AttemptEnd]) -> None:
        """Record how attempts ended and what that made of their tasks, in one go."""
        ...

    def mark_cached(self, task_id: str, key: str, source: CachedOutput) -> None:
        """Complete a task with the stored output of an earlier task with its cache key."""
        ...

    def set_status(self, task_ids: Sequence[str], status: str, error: str = "") -> None:
        """End tasks that never ran (``skipped``, ``cancelled``) with ``error`` as why."""
        ...

    def record_resize(self, run_id: str, step: str, asked: int, used: float, cores: int) -> None:
        """Record that tasks of ``step`` get ``cores`` from now on, as one used ``used``
        of the ``asked`` cores it held."""
        ...

    def record_deadline_risk(self, run_id: str, tasks: Sequence[str]) -> None:
        """Record that, by the estimates, ``tasks`` cannot finish by the run's deadline."""
        ...

    def abandon_running(self, run_id: str) -> int:
        """Prepare a stopped run to be resumed; returns how many attempts were lost.

        Attempts its dead driver left running become ``lost``, ending when the run was
        last seen alive; every unfinished task becomes ``pending``; a cancel request is
        cleared.
        """
        ...

    def request_cancel(self, run_id: str) -> None:
        """Ask the run's driver to stop."""
        ...

    # -- reads -------------------------------------------------------------------------

    def cancel_requested(self, run_id: str) -> bool: ...

    def cached(self, key: str) -> CachedOutput | None:
        """A completed task with this cache key, from any run."""
        ...

    def history(
        self, pipeline: str, steps: Sequence[str], limit: int = 50
    ) -> dict[str, StepHistory]:
        """What the latest ``limit`` successful attempts of each step measured; steps
        with none are left out."""
        ...

    def get(self, run_id: str) -> PipelineRunRecord:
        """The pipeline run with this (full) id."""
        ...

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRunRecord]:
        """Pipeline runs, newest first (then by id), of one pipeline or all."""
        ...

    def tasks(self, run_id: str) -> list[TaskRecord]:
        """The run's tasks in the order they were created with."""
        ...

    def counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """How many tasks of each run are in each state."""
        ...
