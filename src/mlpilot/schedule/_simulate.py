"""Playing a policy against a workload in simulated time.

The clock jumps from event to event (a job arrives or finishes); in between, each
running job works through its remaining work at its speed-up on the cores it holds.
The scheduler uses the same model to predict, and the benchmark to compare policies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mlpilot.errors import InvalidInputError
from mlpilot.schedule.policies import AllocationPolicy, Job, Waiting

_DONE = 1e-9


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """When each job finished, and what the cores were used for."""

    makespan: float
    finished: dict[str, float]
    #: Core-seconds held by jobs (idle cores excluded).
    core_seconds: float
    deadlines_met: int
    deadlines: int

    @property
    def met_share(self) -> float:
        return self.deadlines_met / self.deadlines if self.deadlines else 1.0


def simulate(jobs: Sequence[Job], capacity: int, policy: AllocationPolicy) -> SimulationResult:
    """Run ``jobs`` on ``capacity`` cores under ``policy`` until every job is done."""
    if capacity < 1:
        raise InvalidInputError(f"capacity must be at least one core, got {capacity}")
    too_big = [j.id for j in jobs if j.min_cores > capacity]
    if too_big:
        raise InvalidInputError(f"job(s) {too_big} need more cores than the {capacity} there are")
    by_id = {job.id: job for job in jobs}
    remaining = {job.id: job.work for job in jobs}
    finished: dict[str, float] = {}
    now = core_seconds = 0.0
    while len(finished) < len(jobs):
        present = [
            Waiting(job, remaining[job.id])
            for job in jobs
            if job.submitted <= now + _DONE and job.id not in finished
        ]
        plan = policy.allocate(present, capacity, now)
        _check_plan(plan, by_id, capacity, policy)
        arrivals = [j.submitted for j in jobs if j.submitted > now + _DONE]
        step = min(arrivals, default=float("inf")) - now
        for job_id, cores in plan.items():
            step = min(step, remaining[job_id] / by_id[job_id].curve.speedup(cores))
        if step == float("inf"):
            raise InvalidInputError(f"policy {policy.name!r} left every waiting job without cores")
        now += step
        for job_id, cores in plan.items():
            remaining[job_id] -= step * by_id[job_id].curve.speedup(cores)
            core_seconds += step * cores
            if remaining[job_id] <= _DONE * max(by_id[job_id].work, 1.0):
                finished[job_id] = now
    met = sum(
        1 for job in jobs if job.deadline is not None and finished[job.id] <= job.deadline + 1e-6
    )
    return SimulationResult(
        max(finished.values(), default=0.0),
        finished,
        core_seconds,
        met,
        sum(1 for job in jobs if job.deadline is not None),
    )


def _check_plan(
    plan: dict[str, int], jobs: dict[str, Job], capacity: int, policy: AllocationPolicy
) -> None:
    if sum(plan.values()) > capacity:
        raise InvalidInputError(f"policy {policy.name!r} gave out more than {capacity} cores")
    for job_id, cores in plan.items():
        job = jobs[job_id]
        if not job.min_cores <= cores <= job.max_cores:
            raise InvalidInputError(
                f"policy {policy.name!r} gave job {job_id!r} {cores} cores, outside "
                f"{job.min_cores}..{job.max_cores}"
            )
