"""Read-only snapshots of what the store holds."""

from __future__ import annotations

import dataclasses


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
