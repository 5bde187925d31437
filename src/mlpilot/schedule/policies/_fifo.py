"""First come, first served: each job gets what it asked for, in arrival order."""

from __future__ import annotations

from collections.abc import Sequence

from mlpilot.schedule.policies._base import AllocationPolicy, Waiting


class Fifo(AllocationPolicy):
    """The baseline most batch queues use: no resizing, no reordering."""

    name = "fifo"

    def allocate(self, jobs: Sequence[Waiting], capacity: int, now: float) -> dict[str, int]:
        plan: dict[str, int] = {}
        free = capacity
        for waiting in sorted(jobs, key=lambda w: (w.job.submitted, w.job.id)):
            job = waiting.job
            wanted = job.requested or job.max_cores
            if wanted > free:
                break  # strict order: nothing overtakes the head of the queue
            plan[job.id] = wanted
            free -= wanted
        return plan
