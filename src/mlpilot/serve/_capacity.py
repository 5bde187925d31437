"""Sharing worker processes among models by their latency targets.

Each model declares a target for a percentile of its latency (p95 of 50 ms, say). Every
few seconds the server measures each model's latency and how busy its workers were,
and :func:`plan` moves one worker at a time toward the model furthest over its target:
from the free budget first, else from the model with the most slack and the idlest
workers. A model that had no requests for its ``idle_unload_s`` gives up its workers
(the next request loads it again), and a model whose workers are mostly idle gives one
back, so that capacity is there for whichever model needs it next.

Workers are processes, not cores: once the machine's cores are all busy, another worker
only splits the same cores more ways and every model slows down. So a model over its
target grows from the free budget only while a core has time to spare; otherwise it takes
its worker from a model that meets its target, which moves a share of the cores instead
of adding contention.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

# A model busier than this is short of workers even if its latency still meets the
# target; one idler than this can spare one.
_BUSY = 0.85
_IDLE = 0.25
# Cores the machine must have idle for a new worker to get time of its own.
_SPARE_CORES = 0.5
# With no core to spare, a donor must be this far inside its target, so that a worker
# does not move back and forth between two models near theirs.
_SLACK = 0.7


@dataclasses.dataclass(frozen=True)
class Load:
    """One model's measurements over the last interval."""

    name: str
    workers: int
    target_s: float
    #: The target percentile of request latency; None when no request came.
    latency_s: float | None
    #: Busy worker-seconds over available worker-seconds.
    utilisation: float
    idle_s: float
    min_workers: int = 1
    max_workers: int | None = None
    idle_unload_s: float = 0.0

    @property
    def lateness(self) -> float:
        """Its latency over its target (above 1: missing it; 0 with no requests)."""
        return 0.0 if self.latency_s is None else self.latency_s / self.target_s

    @property
    def pressure(self) -> float:
        """How far over its target the model is (above 1: missing it), counting busy
        workers as a sign of latency to come."""
        return max(self.lateness, self.utilisation / _BUSY)

    def can_grow(self, workers: int) -> bool:
        return self.max_workers is None or workers < self.max_workers

    def floor(self) -> int:
        return max(self.min_workers, 1)


def plan(loads: Sequence[Load], budget: int, spare_cores: float | None = None) -> dict[str, int]:
    """The number of workers each model should have next, within ``budget``.

    ``spare_cores`` is how many of the machine's cores were idle over the interval
    (None: unknown, taken as plenty).
    """
    # On busy cores every worker looks busy, so only latency tells who is short.
    saturated = spare_cores is not None and spare_cores < _SPARE_CORES

    def urgency(load: Load) -> float:
        return load.lateness if saturated else load.pressure

    want = {load.name: load.workers for load in loads}
    for load in loads:
        if load.idle_unload_s and load.idle_s >= load.idle_unload_s and load.min_workers == 0:
            want[load.name] = 0
    running = [load for load in loads if want[load.name] > 0]
    free = budget - sum(want.values())
    short = sorted(
        (load for load in running if urgency(load) > 1 and load.can_grow(want[load.name])),
        key=urgency,
        reverse=True,
    )
    for load in short:
        if free > 0 and not saturated:
            want[load.name] += 1
            free -= 1
            continue
        donors = [
            other
            for other in running
            if other is not load
            and want[other.name] > other.floor()
            and want[other.name] == other.workers
            and (
                other.lateness < _SLACK
                if saturated
                else other.pressure < 0.5 and other.utilisation < _IDLE * 2
            )
        ]
        if donors:
            donor = min(donors, key=lambda other: (other.pressure, other.utilisation))
            want[donor.name] -= 1
            want[load.name] += 1
    for load in running:
        idle = load.utilisation < _IDLE and load.pressure < 0.5
        if idle and load not in short and want[load.name] == load.workers > load.floor():
            want[load.name] -= 1
    return want
