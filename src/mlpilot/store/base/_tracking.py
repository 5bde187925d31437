"""Read-only snapshots of what the store holds."""

from __future__ import annotations

import dataclasses
from array import array

import numpy as np


@dataclasses.dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    description: str
    created_ms: int
    run_count: int = 0


@dataclasses.dataclass(frozen=True)
class MetricPoint:
    step: int
    timestamp_ms: int
    value: float


@dataclasses.dataclass(frozen=True)
class ArtifactRecord:
    path: str
    digest: str
    size: int
    created_ms: int


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
