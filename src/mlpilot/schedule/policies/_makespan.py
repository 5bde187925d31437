"""Makespan: finish the whole set of malleable jobs as early as possible.

For jobs i with remaining work t_i on r_i cores of R, the time left is at least
max(max_i t_i / s_i(max_i), Σ t_i / R): no job beats its best speed, and no schedule
beats perfect use of every core. Both cannot hold at once when a long job must run wide,
and so inefficiently, to finish early. The plan therefore aims at the least T for which
giving every job the fewest whole cores that finish it within T (so cores go where they
are efficient: a job that scales badly stays small), and starting the jobs longest
first as cores free up, ends by T. The jobs that start now get those cores, and cores
left over go one at a time to whichever job would otherwise finish last. Re-planned
whenever a job arrives or finishes, so the plan only has to be right until then.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from mlpilot.schedule.policies._base import AllocationPolicy, Waiting


class Makespan(AllocationPolicy):
    name = "makespan"

    def allocate(self, jobs: Sequence[Waiting], capacity: int, now: float) -> dict[str, int]:
        if not jobs:
            return {}
        target = _target(jobs, capacity)
        plan: dict[str, int] = {}
        free = capacity
        for waiting in sorted(jobs, key=lambda w: (-w.remaining, w.job.id)):
            job = waiting.job
            cores = job.fewest_cores_within(waiting.remaining, target) or job.max_cores
            if cores > free:
                break  # it starts when running jobs free their cores, as planned
            plan[job.id] = cores
            free -= cores
        # Spare cores: to the job that would finish last, while a core still helps it.
        by_id = {w.job.id: w for w in jobs}
        finishing = [(-_finish(by_id[i], c), i) for i, c in plan.items()]
        heapq.heapify(finishing)
        while free > 0 and finishing:
            _, job_id = heapq.heappop(finishing)
            waiting, cores = by_id[job_id], plan[job_id]
            if cores >= waiting.job.max_cores or _finish(waiting, cores + 1) >= _finish(
                waiting, cores
            ):
                continue
            plan[job_id] = cores + 1
            free -= 1
            heapq.heappush(finishing, (-_finish(waiting, cores + 1), job_id))
        return plan


def lower_bound(jobs: Sequence[Waiting], capacity: int) -> float:
    """No schedule of ``jobs`` on ``capacity`` cores finishes sooner than this."""
    longest = max(w.job.seconds(w.remaining, w.job.max_cores) for w in jobs)
    return max(longest, sum(w.remaining for w in jobs) / capacity)


def _target(jobs: Sequence[Waiting], capacity: int) -> float:
    """The least T (to 0.01%) for which the fewest-core plan, started longest first, ends
    by T."""
    low = high = lower_bound(jobs, capacity)
    while _planned_end(jobs, capacity, high) > high:
        high *= 2
    while high - low > 1e-4 * high:
        middle = (low + high) / 2
        low, high = (
            (low, middle)
            if _planned_end(jobs, capacity, middle) <= middle
            else (
                middle,
                high,
            )
        )
    return high


def _planned_end(jobs: Sequence[Waiting], capacity: int, target: float) -> float:
    """When the jobs end if each runs on its fewest cores for ``target``, in order."""
    free, clock, end = capacity, 0.0, 0.0
    running: list[tuple[float, int]] = []
    for waiting in sorted(jobs, key=lambda w: (-w.remaining, w.job.id)):
        cores = waiting.job.fewest_cores_within(waiting.remaining, target)
        if cores is None or cores > capacity:
            return float("inf")
        while free < cores:
            finished, held = heapq.heappop(running)
            clock, free = max(clock, finished), free + held
        done = clock + waiting.job.seconds(waiting.remaining, cores)
        heapq.heappush(running, (done, cores))
        free -= cores
        end = max(end, done)
    return end


def _finish(waiting: Waiting, cores: int) -> float:
    return waiting.job.seconds(waiting.remaining, cores)
