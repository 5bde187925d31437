"""The capacity plan: workers move toward models over their latency target, within the
budget and each model's bounds."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mlpilot.serve import Load, plan

TARGET_S = 0.050


def load(name: str, workers: int = 1, **fields: Any) -> Load:
    """A model with ``workers``, meeting its 50 ms target at a quarter of it, half busy."""
    values: dict[str, Any] = {"target_s": TARGET_S, "latency_s": 0.0125, "utilisation": 0.5}
    values |= {"idle_s": 0.1} | fields
    return Load(name=name, workers=workers, **values)


def over(name: str, workers: int = 1, **fields: Any) -> Load:
    """A model at four times its latency target, its workers all busy."""
    return load(name, workers, latency_s=0.2, utilisation=1.0, **fields)


def idle(name: str, workers: int = 1, **fields: Any) -> Load:
    """A model that had no request in the interval."""
    return load(name, workers, latency_s=None, utilisation=0.0, **fields)


def test_a_model_over_its_target_takes_a_free_worker() -> None:
    assert plan([over("a"), load("b")], budget=4) == {"a": 2, "b": 1}


def test_busy_workers_count_as_over_target_even_when_latency_meets_it() -> None:
    busy = load("a", latency_s=0.01, utilisation=0.95)

    assert plan([busy, load("b")], budget=3) == {"a": 2, "b": 1}


def test_without_free_workers_an_idle_donor_gives_one() -> None:
    assert plan([over("a"), idle("b", workers=2)], budget=3) == {"a": 2, "b": 1}


def test_the_idlest_donor_gives() -> None:
    donors = [load("b", workers=2, latency_s=0.02, utilisation=0.3), idle("c", workers=2)]

    assert plan([over("a"), *donors], budget=5) == {"a": 2, "b": 2, "c": 1}


def test_a_donor_keeps_its_floor() -> None:
    assert plan([over("a"), idle("b")], budget=2) == {"a": 1, "b": 1}
    assert plan([over("a"), idle("b", workers=2, min_workers=2)], budget=3) == {"a": 1, "b": 2}
    assert plan([over("a"), idle("b", min_workers=0)], budget=2) == {"a": 1, "b": 1}


def test_a_busy_model_is_not_a_donor() -> None:
    busy = load("b", workers=2, latency_s=0.02, utilisation=0.6)

    assert plan([over("a"), busy], budget=3) == {"a": 1, "b": 2}


def test_a_model_never_grows_past_max_workers() -> None:
    assert plan([over("a", workers=2, max_workers=2)], budget=8) == {"a": 2}
    assert plan([over("a", workers=2, max_workers=3)], budget=8) == {"a": 3}


def test_the_budget_is_never_exceeded() -> None:
    assert plan([over("a", workers=2), over("b", workers=2)], budget=4) == {"a": 2, "b": 2}
    assert plan([over("a"), over("b"), over("c")], budget=4) == {"a": 2, "b": 1, "c": 1}


def test_the_furthest_over_its_target_is_served_first() -> None:
    worse = load("b", latency_s=0.5, utilisation=1.0)

    assert plan([over("a"), worse], budget=3) == {"a": 1, "b": 2}


def test_a_model_idle_past_idle_unload_s_is_unloaded_when_min_workers_is_zero() -> None:
    unload = {"min_workers": 0, "idle_unload_s": 1.0}

    assert plan([idle("a", idle_s=1.5, **unload)], budget=2) == {"a": 0}
    assert plan([idle("a", workers=2, idle_s=30.0, **unload)], budget=2) == {"a": 0}
    assert plan([idle("a", idle_s=0.5, **unload)], budget=2) == {"a": 1}
    assert plan([idle("a", idle_s=30.0, min_workers=1, idle_unload_s=1.0)], budget=2) == {"a": 1}
    assert plan([idle("a", idle_s=30.0, min_workers=0, idle_unload_s=0.0)], budget=2) == {"a": 1}


def test_an_unloaded_models_worker_goes_to_the_one_over_target() -> None:
    unloaded = idle("b", idle_s=30.0, min_workers=0, idle_unload_s=1.0)

    assert plan([over("a"), unloaded], budget=2) == {"a": 2, "b": 0}


def test_a_mostly_idle_model_gives_back_one_worker_at_a_time() -> None:
    quiet = load("a", workers=3, latency_s=0.005, utilisation=0.05)

    assert plan([quiet], budget=4) == {"a": 2}
    assert plan([idle("a", workers=2)], budget=4) == {"a": 1}
    assert plan([idle("a")], budget=4) == {"a": 1}
    assert plan([idle("a", workers=2, min_workers=2)], budget=4) == {"a": 2}


def test_a_model_that_meets_its_target_keeps_its_workers() -> None:
    assert plan([load("a", workers=2), load("b")], budget=8) == {"a": 2, "b": 1}


def test_with_no_core_to_spare_a_model_over_target_takes_a_worker_instead_of_adding_one() -> None:
    # A second worker on saturated cores only splits them further; moving one from a
    # model inside its target shifts a share of the cores.
    inside = load("b", workers=2, latency_s=0.02)

    assert plan([over("a"), inside], budget=8, spare_cores=0.1) == {"a": 2, "b": 1}
    assert plan([over("a"), inside], budget=8, spare_cores=1.5) == {"a": 2, "b": 2}


def test_with_no_core_to_spare_busy_workers_alone_do_not_make_a_model_short() -> None:
    # On saturated cores every worker is busy; only latency tells which model is short.
    meeting = load("a", latency_s=0.03, utilisation=1.0)
    inside = load("b", workers=2, latency_s=0.01, utilisation=1.0)

    assert plan([meeting, inside], budget=8, spare_cores=0.0) == {"a": 1, "b": 2}


def test_with_no_core_to_spare_a_donor_near_its_own_target_keeps_its_workers() -> None:
    near = load("b", workers=2, latency_s=0.045, utilisation=1.0)

    assert plan([over("a"), near], budget=8, spare_cores=0.0) == {"a": 1, "b": 2}


def _random_load(rng: random.Random, name: str) -> Load:
    min_workers = rng.choice([0, 1, 1, 2])
    workers = rng.randint(max(min_workers, 1), 4)
    max_workers = rng.choice([None, workers, workers + 1, workers + 3])
    return Load(
        name=name,
        workers=workers,
        target_s=TARGET_S,
        latency_s=rng.choice([None, 0.001, 0.02, 0.05, 0.2, 2.0]),
        utilisation=rng.choice([0.0, 0.1, 0.3, 0.6, 0.9, 1.0]),
        idle_s=rng.choice([0.0, 0.5, 5.0, 100.0]),
        min_workers=min_workers,
        max_workers=max_workers,
        idle_unload_s=rng.choice([0.0, 1.0, 10.0]),
    )


@pytest.mark.parametrize("seed", range(20))
def test_every_plan_keeps_within_the_bounds(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        loads = [_random_load(rng, f"m{i}") for i in range(rng.randint(1, 4))]
        budget = sum(load.workers for load in loads) + rng.randint(0, 3)
        spare_cores = rng.choice([None, 0.0, 0.4, 2.0])

        want = plan(loads, budget, spare_cores)

        assert set(want) == {load.name for load in loads}
        assert sum(want.values()) <= budget
        for load in loads:
            new = want[load.name]
            unloaded = load.min_workers == 0 and 0 < load.idle_unload_s <= load.idle_s
            if unloaded:
                assert new == 0, (load, want)
                continue
            assert new >= load.floor(), (load, want)
            assert new <= load.workers + 1, (load, want)
            if load.max_workers is not None:
                assert new <= max(load.max_workers, load.workers), (load, want)
        if spare_cores == 0.0:
            assert sum(want.values()) <= sum(load.workers for load in loads), (loads, want)
