"""Deadline: meet every job's deadline with the fewest cores.

Jobs are served earliest deadline first. Each gets the fewest whole cores that finish
its remaining work by its deadline, so the cores it does not need stay free for the
jobs behind it; a job that can no longer make its deadline runs as fast as it can.
Jobs without a deadline share what is left. Re-planned whenever a job arrives or
finishes, from the work each job has left, in the spirit of deadline-driven dynamic
allocation for Spark jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlpilot.schedule.policies._base import AllocationPolicy, Job, Waiting
from mlpilot.schedule.policies._fair_share import FairShare


class Deadline(AllocationPolicy):
    name = "deadline"

    def allocate(self, jobs: Sequence[Waiting], capacity: int, now: float) -> dict[str, int]:
        dated = sorted(
            (w for w in jobs if w.job.deadline is not None),
            key=lambda w: (w.job.deadline, w.job.id),
        )
        plan: dict[str, int] = {}
        free = capacity
        for waiting in dated:
            job = waiting.job
            assert job.deadline is not None
            needed = job.fewest_cores_within(waiting.remaining, job.deadline - now)
            cores = min(needed or job.max_cores, free)
            if cores >= job.min_cores:
                plan[job.id] = cores
                free -= cores
        undated = [w for w in jobs if w.job.deadline is None]
        plan.update(FairShare().allocate(undated, free, now))
        free = capacity - sum(plan.values())
        # Cores nobody needs to meet a deadline shorten the most urgent jobs, which frees
        # their cores sooner for the jobs still waiting.
        waiting_jobs = any(w.job.id not in plan for w in dated)
        for waiting in dated if waiting_jobs else ():
            if free == 0:
                break
            job = waiting.job
            extra = min(free, job.max_cores - plan.get(job.id, 0))
            if plan.get(job.id, 0) + extra >= job.min_cores and extra > 0:
                plan[job.id] = plan.get(job.id, 0) + extra
                free -= extra
        return plan


def unmeetable(jobs: Sequence[Job], now: float) -> list[str]:
    """Ids of jobs that miss their deadline from ``now`` even alone on their most cores."""
    return [
        job.id
        for job in jobs
        if job.deadline is not None and job.seconds(job.work, job.max_cores) > job.deadline - now
    ]
