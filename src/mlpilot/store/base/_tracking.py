"""The tracking records: experiments, runs, params, metrics, tags and the artifact index.

:class:`TrackingRecords` is what the tracking layer asks of a store; the frozen records
below are what crosses it. :class:`mlpilot.testing.TrackingRecordsContract` is the
contract every implementation passes.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Protocol, runtime_checkable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    description: str
    created_ms: int
    run_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The experiment as JSON-able values (times in UTC milliseconds)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MetricPoint:
    step: int
    timestamp_ms: int
    value: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ArtifactRecord:
    path: str
    digest: str
    size: int
    created_ms: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """A run as stored: its attributes, params, latest metric values and tags."""

    id: str
    experiment_id: int
    experiment: str
    name: str
    status: str
    parent_id: str | None
    user: str
    host: str
    pid: int
    start_ms: int
    end_ms: int | None
    heartbeat_ms: int
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_ms is None else self.end_ms - self.start_ms

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-able values: its stored fields and ``duration_ms``."""
        return dataclasses.asdict(self) | {"duration_ms": self.duration_ms}


class Series:
    """Points of one (run, key), in arrival order."""

    __slots__ = ("steps", "stamps", "values")

    def __init__(self) -> None:
        self.steps = array("q")
        self.stamps = array("q")
        self.values = array("d")

    @classmethod
    def of(cls, steps: np.ndarray, stamps: np.ndarray, values: np.ndarray) -> Series:
        series = cls()
        series.steps.frombytes(steps.astype(np.int64).tobytes())
        series.stamps.frombytes(stamps.astype(np.int64).tobytes())
        series.values.frombytes(values.astype(np.float64).tobytes())
        return series

    def append(self, step: int, stamp: int, value: float) -> None:
        self.steps.append(step)
        self.stamps.append(stamp)
        self.values.append(value)

    def extend(self, other: Series) -> None:
        self.steps.extend(other.steps)
        self.stamps.extend(other.stamps)
        self.values.extend(other.values)


#: Pending points by (run_id, key).
Batch = dict[tuple[str, str], Series]


class OrderKeyWarning(UserWarning):
    """A search was ordered by a metric, param or tag that none of the matching runs has."""


class AsText:
    """Marks a mapping whose values are recorded as their text (``str(value)``): any
    value is welcome, so a remote store sends the text, not the object."""


#: Params and tags: values of any type, each recorded as its text.
TextValues = Annotated[Mapping[str, Any], AsText()]


@runtime_checkable
class TrackingRecords(Protocol):
    """What the tracking layer records and asks; each method is one atomic unit.

    Run ids may be given in full or as a unique prefix of at least 6 characters, except
    where a method writes to a run (there the full id is required, so that a write never
    lands on the wrong run). Unknown ids raise :class:`~mlpilot.errors.NotFoundError`;
    bad keys and values :class:`~mlpilot.errors.InvalidInputError`; a clash with what
    is stored :class:`~mlpilot.errors.ConflictError`.
    """

    # -- experiments -----------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> int:
        """Create an experiment and return its id; ConflictError if the name is taken."""
        ...

    def get_or_create_experiment(self, name: str) -> int:
        """The id of experiment ``name``, created if needed; safe across processes."""
        ...

    def list_experiments(self) -> list[Experiment]:
        """Every experiment with its run count, oldest first."""
        ...

    # -- runs ------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        *,
        parent_id: str | None = None,
        params: TextValues | None = None,
        tags: TextValues | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> RunRecord:
        """Start a running run in ``experiment`` (created if needed) and return it.

        ``host`` and ``pid`` name the process that works on the run (by default the
        calling one): liveness checks tell from them whether the run is still alive.
        """
        ...

    def reopen_run(
        self, run_id: str, *, host: str | None = None, pid: int | None = None
    ) -> RunRecord:
        """Mark an ended run running again in process ``host``/``pid``; ConflictError if it
        is running already (of two processes reopening it at once, exactly one wins)."""
        ...

    def end_run(self, run_id: str, status: str = "finished") -> None:
        """Record how the run ended: finished, failed, killed or pruned."""
        ...

    def beat(self, run_ids: Sequence[str]) -> None:
        """Refresh the heartbeat of those of ``run_ids`` still running."""
        ...

    def mark_dead_runs(self, heartbeat_timeout_s: float) -> list[str]:
        """Mark failed the running runs whose process is gone; returns their ids."""
        ...

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of the run named by ``run_id`` or a unique prefix of it."""
        ...

    def get_run(self, run_id: str) -> RunRecord: ...

    def search_runs(
        self,
        experiments: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        offset: int = 0,
    ) -> list[RunRecord]:
        """One page of the runs matching ``filter`` in ``experiments`` (all if empty).

        ``order_by`` clauses read ``"FIELD [ASC|DESC]"`` (also ``ASCENDING`` and
        ``DESCENDING``, in any case); runs without the field come last, and ties go
        newest first, then by id, so that pages never overlap. Ordering by a metric,
        param or tag that no matching run has warns with :class:`OrderKeyWarning`.
        """
        ...

    def delete_run(self, run_id: str, *, force: bool = False, recursive: bool = False) -> list[str]:
        """Delete the run (and with ``recursive`` its descendants); returns the ids deleted."""
        ...

    # -- params, metrics, tags -------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Sequence[Any]] = (),
        params: TextValues | None = None,
        tags: TextValues | None = None,
    ) -> None:
        """Write ``(key, value, step[, timestamp_ms])`` points, params and tags, all or none.

        Several processes may write to one run at once: each call succeeds whole.
        """
        ...

    def log_params(self, run_id: str, values: TextValues) -> None:
        """Record params; a param keeps its first value (another one is a ConflictError)."""
        ...

    def set_tags(self, run_id: str, values: TextValues) -> None:
        """Set tags, replacing earlier values of the same keys."""
        ...

    def write_metrics(self, batch: Mapping[tuple[str, str], Series]) -> None:
        """Store buffered series of any runs at once, dropping those of deleted runs."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of ``key``, by step then time; empty if none was logged."""
        ...

    # -- artifact index --------------------------------------------------------------

    def record_artifacts(
        self, run_id: str, entries: Sequence[tuple[str, str, int]]
    ) -> list[ArtifactRecord]:
        """Index ``(path, sha256 digest, size)`` entries as artifacts of the run, replacing
        earlier entries at the same paths."""
        ...

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        """The run's artifacts at ``prefix`` or under the folder it names, by path."""
        ...

    def find_artifacts(
        self, run_ids: Sequence[str], suffix: str
    ) -> list[tuple[str, ArtifactRecord]]:
        """``(run_id, artifact)`` of every artifact whose path ends with ``suffix``, in the
        order of ``run_ids`` then by path."""
        ...
