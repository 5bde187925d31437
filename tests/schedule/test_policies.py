"""Allocation policies, checked against brute force on cases small enough to enumerate."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from mlpilot.errors import InvalidInputError
from mlpilot.schedule import (
    POLICIES,
    AllocationPolicy,
    Amdahl,
    Deadline,
    FairShare,
    Fifo,
    Job,
    Makespan,
    Measured,
    Waiting,
    lower_bound,
    simulate,
    unmeetable,
)

CURVES = [Amdahl(0.5), Amdahl(0.9), Amdahl(0.99), Measured({2: 1.8, 4: 3.0})]


def small_cases() -> list[tuple[list[Job], int]]:
    """Every mix of three jobs from a few sizes and curves, on 4 and 6 cores."""
    cases = []
    for works in itertools.product([10.0, 40.0], repeat=3):
        for curves in itertools.combinations_with_replacement(range(len(CURVES)), 3):
            for capacity in (4, 6):
                jobs = [
                    Job(f"j{i}", work, 1, capacity, CURVES[curve])
                    for i, (work, curve) in enumerate(zip(works, curves, strict=True))
                ]
                cases.append((jobs, capacity))
    return cases


def best_static_makespan(jobs: list[Job], capacity: int) -> float:
    """The best makespan of any fixed allocation that runs every job at once."""
    best = float("inf")
    for cores in itertools.product(range(1, capacity + 1), repeat=len(jobs)):
        if sum(cores) <= capacity:
            best = min(best, max(j.seconds(j.work, c) for j, c in zip(jobs, cores, strict=True)))
    return best


@pytest.mark.parametrize(("jobs", "capacity"), small_cases())
def test_makespan_is_at_least_as_good_as_the_best_fixed_allocation(
    jobs: list[Job], capacity: int
) -> None:
    result = simulate(jobs, capacity, Makespan())
    assert result.makespan <= best_static_makespan(jobs, capacity) * (1 + 1e-6)
    assert result.makespan >= lower_bound([Waiting(j, j.work) for j in jobs], capacity) * (1 - 1e-9)


def test_makespan_beats_fifo_and_fair_share_on_mixed_jobs() -> None:
    jobs = [
        Job("long-scalable", 400.0, 1, 8, Amdahl(0.99), requested=8),
        *(Job(f"short-{i}", 20.0, 1, 8, Amdahl(0.5), requested=8) for i in range(6)),
    ]
    makespan = simulate(jobs, 8, Makespan()).makespan
    assert makespan < simulate(jobs, 8, Fifo()).makespan
    assert makespan < simulate(jobs, 8, FairShare()).makespan


def test_a_job_that_scales_badly_is_kept_small() -> None:
    jobs = [Job("flat", 10.0, 1, 8, Amdahl(0.0)), Job("wide", 80.0, 1, 8, Amdahl(1.0))]
    plan = Makespan().allocate([Waiting(j, j.work) for j in jobs], 8, 0.0)
    assert plan == {"flat": 1, "wide": 7}


def feasible_by_fixed_allocation(jobs: list[Job], capacity: int) -> bool:
    for cores in itertools.product(range(1, capacity + 1), repeat=len(jobs)):
        if sum(cores) <= capacity and all(
            j.seconds(j.work, c) <= j.deadline
            for j, c in zip(jobs, cores, strict=True)  # type: ignore[operator]
        ):
            return True
    return False


def deadline_cases() -> list[tuple[list[Job], int]]:
    cases = []
    for jobs, capacity in small_cases()[::7]:
        for slack in (1.0, 1.5, 3.0):
            dated = [dataclasses.replace(j, deadline=slack * j.seconds(j.work, 2)) for j in jobs]
            if feasible_by_fixed_allocation(dated, capacity):
                cases.append((dated, capacity))
    return cases


@pytest.mark.parametrize(("jobs", "capacity"), deadline_cases())
def test_deadline_meets_every_deadline_a_fixed_allocation_can_meet(
    jobs: list[Job], capacity: int
) -> None:
    result = simulate(jobs, capacity, Deadline())
    assert result.met_share == 1.0


def test_deadline_gives_the_fewest_cores_that_meet_each_deadline() -> None:
    jobs = [
        Job("soon", 40.0, 1, 8, Amdahl(1.0), deadline=10.0),  # needs 4 cores
        Job("later", 40.0, 1, 8, Amdahl(1.0), deadline=20.0),  # needs 2 cores
        Job("whenever", 40.0, 1, 8, Amdahl(1.0)),
    ]
    plan = Deadline().allocate([Waiting(j, j.work) for j in jobs], 8, 0.0)
    assert (plan["soon"], plan["later"]) == (4, 2)
    assert plan["whenever"] == 2  # what the deadlines leave
    result = simulate(jobs, 8, Deadline())
    assert result.met_share == 1.0


def test_a_deadline_that_cannot_be_met_is_flagged_before_anything_runs() -> None:
    jobs = [
        Job("fine", 10.0, 1, 4, Amdahl(1.0), deadline=5.0),
        Job("hopeless", 100.0, 1, 4, Amdahl(1.0), deadline=5.0),
        Job("free", 10.0),
    ]
    assert unmeetable(jobs, now=0.0) == ["hopeless"]
    assert unmeetable(jobs, now=10.0) == ["fine", "hopeless"]


def test_fifo_gives_what_was_asked_and_lets_nothing_overtake() -> None:
    jobs = [
        Job("a", 10.0, 1, 8, requested=5, submitted=0.0),
        Job("b", 10.0, 1, 8, requested=4, submitted=1.0),
        Job("c", 10.0, 1, 8, requested=1, submitted=2.0),
    ]
    plan = Fifo().allocate([Waiting(j, j.work) for j in jobs], 8, 2.0)
    assert plan == {"a": 5}


def test_fair_share_splits_the_cores_evenly() -> None:
    jobs = [Job(name, 10.0, 1, 8) for name in "abc"]
    plan = FairShare().allocate([Waiting(j, j.work) for j in jobs], 8, 0.0)
    assert sorted(plan.values()) == [2, 3, 3]


def test_jobs_arriving_later_wait_for_their_time() -> None:
    jobs = [Job("early", 10.0), Job("late", 10.0, submitted=100.0)]
    result = simulate(jobs, 1, Makespan())
    assert result.finished == {"early": 10.0, "late": 110.0}
    assert result.core_seconds == 20.0


def test_every_policy_is_known_by_its_name() -> None:
    assert set(POLICIES) == {"makespan", "deadline", "fair-share", "fifo"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Job("x", 0.0), "work must be > 0"),
        (lambda: Job("x", 1.0, 3, 2), "min_cores <= max_cores"),
        (lambda: Job("x", 1.0, 1, 2, requested=4), "requested 4 cores"),
        (lambda: Amdahl(1.5), "between 0 and 1"),
        (lambda: Measured({0: 2.0}), "at least one"),
        (lambda: simulate([Job("x", 1.0)], 0, Fifo()), "at least one core"),
        (lambda: simulate([Job("x", 1.0, 8, 8)], 4, Fifo()), "need more cores than the 4"),
    ],
)
def test_impossible_requests_are_clear_errors(make: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()  # type: ignore[operator]


def test_a_policy_that_overcommits_is_caught() -> None:
    class Greedy(AllocationPolicy):
        name = "greedy"

        def allocate(self, jobs: object, capacity: int, now: float) -> dict[str, int]:
            return {"x": 2, "y": 2}

    with pytest.raises(InvalidInputError, match="gave out more than 3 cores"):
        simulate([Job("x", 1.0, 1, 2), Job("y", 1.0, 1, 2)], 3, Greedy())


def test_measured_curves_interpolate_and_never_fall() -> None:
    curve = Measured({2: 1.5, 4: 1.4, 8: 4.0})
    assert [curve.speedup(c) for c in (1, 2, 3, 4, 6, 8, 16)] == pytest.approx(
        [1.0, 1.5, 1.5, 1.5, 2.75, 4.0, 4.0]
    )
