"""Fair share: every waiting job gets an equal slice of the cores."""

from __future__ import annotations

from collections.abc import Sequence

from mlpilot.schedule.policies._base import AllocationPolicy, Waiting


class FairShare(AllocationPolicy):
    """Equal whole-core shares within each job's bounds; jobs beyond one core each wait
    in arrival order."""

    name = "fair-share"

    def allocate(self, jobs: Sequence[Waiting], capacity: int, now: float) -> dict[str, int]:
        queue = sorted(jobs, key=lambda w: (w.job.submitted, w.job.id))
        running: list[Waiting] = []
        used = 0
        for waiting in queue:
            if used + waiting.job.min_cores > capacity:
                break
            running.append(waiting)
            used += waiting.job.min_cores
        plan = {w.job.id: w.job.min_cores for w in running}
        free = capacity - used
        while free > 0:
            growing = [w for w in running if plan[w.job.id] < w.job.max_cores]
            if not growing:
                break
            for waiting in sorted(growing, key=lambda w: plan[w.job.id]):
                if free == 0:
                    break
                plan[waiting.job.id] += 1
                free -= 1
        return plan
