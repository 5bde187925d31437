"""Studies run for real: samplers, parallel trials, failing trials, budgets, Ray."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlpilot.compute import LocalExecutor
from mlpilot.errors import InvalidInputError
from mlpilot.tracking import TrackingClient
from mlpilot.tune import (
    Categorical,
    Float,
    Int,
    Space,
    Study,
    TrialRecord,
    tune,
)

from . import _objectives

XY = Space(x=Float(0.0, 1.0), y=Int(0, 10))
GRID = Space(x=Float(0.0, 1.0, step=0.25), y=Int(5, 9, step=2))  # 5 x 3 points
MODELS = Space(
    model=Categorical(["svm", "forest", "linear"]),
    C=Float(1e-3, 1e3, log=True, when={"model": "svm"}),
    depth=Int(2, 12, when={"model": "forest"}),
)
FIVE = Space(x=Int(0, 5))  # the grid 0..5


def key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def children(client: TrackingClient, study: Study) -> list[Any]:
    return [r for r in client.search_runs() if r.parent_id == study.id]


# -- samplers --------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["tpe", "gp", "cmaes", "nsga2", "random"])
def test_each_sampler_runs_a_study_to_its_budget(
    sampler: str, sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.quadratic,
        XY,
        name=f"by-{sampler}",
        sampler=sampler,
        seed=0,
        trials=12,
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
    )

    assert study.status == "finished"
    assert study.counts() == {"complete": 12}
    assert [t.number for t in study.trials] == list(range(12))
    for trial in study.trials:
        assert set(trial.params) == {"x", "y"}
        assert 0.0 <= trial.params["x"] <= 1.0 and trial.params["y"] in range(11)
        assert trial.values == [pytest.approx(_objectives.quadratic_at(trial.params))]
    assert len(children(sqlite_client, study)) == 12
    assert study.record.sampler["name"] == sampler
    assert Study.load(f"by-{sampler}", client=sqlite_client).counts() == {"complete": 12}


def test_the_grid_sampler_tries_every_point_once(
    sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.quadratic,
        GRID,
        sampler="grid",
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
    )

    assert study.counts() == {"complete": 15}
    assert sorted(key(t.params) for t in study.trials) == sorted(key(p) for p in GRID.grid())
    assert study.record.sampler["grid_size"] == 15


def test_the_grid_sampler_respects_conditions(
    sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    space = Space(
        model=Categorical(["svm", "forest", "linear"]),
        C=Float(0.1, 1.0, step=0.45, when={"model": "svm"}),
        depth=Int(2, 6, step=2, when={"model": "forest"}),
    )

    study = tune(
        _objectives.by_model,
        space,
        sampler="grid",
        trials=100,
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
    )

    assert study.counts() == {"complete": 7}  # 3 for svm, 3 for forest, 1 for linear
    assert sorted(key(t.params) for t in study.trials) == sorted(key(p) for p in space.grid())


@pytest.mark.parametrize("sampler", ["tpe", "random", "nsga2"])
def test_trials_carry_only_the_params_whose_condition_holds(
    sampler: str, sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.by_model,
        MODELS,
        sampler=sampler,
        seed=1,
        trials=16,
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
    )

    assert study.counts() == {"complete": 16}
    runs = {r.id: r for r in children(sqlite_client, study)}
    for trial in study.trials:
        model = trial.params["model"]
        expected = {"model", *{"svm": ["C"], "forest": ["depth"], "linear": []}[model]}
        assert set(trial.params) == expected, trial.params
        assert set(runs[trial.run_id].params) == expected
    assert len({t.params["model"] for t in study.trials}) >= 2


def test_an_unknown_sampler_is_refused_before_anything_is_recorded(
    sqlite_client: TrackingClient,
) -> None:
    with pytest.raises(InvalidInputError, match="unknown sampler 'bayes'; choose one of tpe, gp"):
        tune(_objectives.quadratic, XY, sampler="bayes", trials=4, client=sqlite_client)
    assert sqlite_client.search_runs() == []


def test_cmaes_refuses_two_objectives(sqlite_client: TrackingClient) -> None:
    with pytest.raises(InvalidInputError, match="'cmaes' optimises one objective; use 'nsga2'"):
        tune(
            _objectives.two_goals,
            Space(x=Float(-1.0, 3.0)),
            directions=["minimize", "minimize"],
            sampler="cmaes",
            trials=4,
            client=sqlite_client,
        )
    assert sqlite_client.search_runs() == []


def test_an_objective_that_workers_cannot_import_is_refused(
    sqlite_client: TrackingClient,
) -> None:
    with pytest.raises(InvalidInputError, match="defined at the top level of a module"):
        tune(lambda trial: 0.0, XY, trials=4, client=sqlite_client)
    assert sqlite_client.search_runs() == []


def overlap(a: TrialRecord, b: TrialRecord) -> bool:
    assert a.end_ms is not None and b.end_ms is not None
    return a.start_ms < b.end_ms and b.start_ms < a.end_ms


def test_trials_running_at_once_try_different_points(sqlite_client: TrackingClient) -> None:
    # A small whole-number space, where a sampler that ignored the running trials would
    # often hand two free slots the same promising point.
    study = tune(
        _objectives.napping_bowl,
        Space(a=Int(0, 20), b=Int(0, 20)),
        seed=0,
        trials=40,
        parallel=4,
        cpus=4,
        client=sqlite_client,
        report=False,
    )

    assert study.counts() == {"complete": 40}
    pairs = [(a, b) for a, b in itertools.combinations(study.trials, 2) if overlap(a, b)]
    assert len(pairs) >= 40  # four at a time, all along
    assert [(a.number, b.number) for a, b in pairs if a.params == b.params] == []


# -- results -----------------------------------------------------------------------------


def dominates(p: list[float], q: list[float]) -> bool:
    """Whether ``p`` is no worse than ``q`` everywhere and better somewhere (minimising)."""
    return all(a <= b for a, b in zip(p, q, strict=True)) and p != q


def test_the_pareto_front_holds_exactly_the_undominated_trials(
    sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.two_goals,
        Space(x=Float(-1.0, 3.0)),
        name="two-goals",
        directions=["minimize", "minimize"],
        sampler="nsga2",
        seed=2,
        trials=16,
        parallel=2,
        executor=executor,
        experiment="trade-offs",
        client=sqlite_client,
        report=True,
    )

    front = study.pareto_front
    others = [t for t in study.complete if t not in front]
    assert front and others
    for a, b in itertools.permutations(front, 2):
        assert not dominates(a.values, b.values)  # type: ignore[arg-type]
    for t in others:
        assert any(dominates(f.values, t.values) for f in front)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="see pareto_front"):
        _ = study.best_trial
    assert sqlite_client.get_run(study.id).experiment == "trade-offs"
    run = children(sqlite_client, study)[0]
    assert set(run.metrics) == {"value_0", "value_1"}
    paths = {a.path for a in sqlite_client.list_artifacts(study.id)}
    assert {"report.html", "plots/pareto.png"} <= paths


# -- trials that fail --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("objective", "failing", "message", "options"),
    [
        (
            _objectives.raises_for_large_x,
            {4, 5},
            "ValueError: x=4 is too large for this model",
            {},
        ),
        (_objectives.nan_for_large_x, {4, 5}, "the objective returned NaN", {}),
        (_objectives.text_for_large_x, {4, 5}, "must be a number, got str: 'large'", {}),
        (_objectives.inf_for_large_x, {4, 5}, "is infinite; return a finite number", {}),
        (
            _objectives.reports_backwards_for_large_x,
            {4, 5},
            "step 1 comes after step 2; report steps in increasing order",
            {},
        ),
        # Long enough for a fresh worker to start, far shorter than the hang.
        (
            _objectives.hangs_at_5,
            {5},
            "the trial ran past its timeout of 5.0s",
            {"trial_timeout_s": 5.0},
        ),
        (_objectives.dies_at_3, {3}, "the worker running the trial died", {}),
    ],
    ids=["raises", "nan", "text", "inf", "backwards", "hangs", "dies"],
)
def test_a_failing_trial_is_recorded_and_the_study_goes_on(
    objective: Callable[..., Any],
    failing: set[int],
    message: str,
    options: dict[str, Any],
    sqlite_client: TrackingClient,
    executor: LocalExecutor,
) -> None:
    study = tune(
        objective,
        FIVE,
        sampler="grid",
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
        **options,
    )

    assert study.status == "finished"
    assert len(study.trials) == 6
    failed = [t for t in study.trials if t.state == "failed"]
    assert {t.params["x"] for t in failed} == failing
    assert {t.params["x"] for t in study.complete} == set(range(6)) - failing
    for trial in failed:
        assert sqlite_client.get_run(trial.run_id).status == "failed"
        assert trial.values is None
    errors = {t.params["x"]: t.error for t in failed}
    assert message in errors[min(failing)]
    assert study.best_params == {"x": max(set(range(6)) - failing)}


def test_a_study_whose_every_trial_fails_ends_failed(
    sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.raises_for_large_x,
        Space(x=Int(4, 9)),
        name="hopeless",
        trials=4,
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
    )

    assert study.counts() == {"failed": 4}
    assert study.status == "failed"
    assert sqlite_client.get_run(study.id).status == "failed"
    assert Study.load("hopeless", client=sqlite_client).status == "failed"
    with pytest.raises(InvalidInputError, match="has no complete trial yet"):
        _ = study.best_trial


# -- budgets -----------------------------------------------------------------------------


def test_a_timeout_stops_starting_trials(
    sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.napping_quadratic,
        XY,
        timeout="1s",
        trials=60,
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
    )

    assert study.status == "finished"
    assert 1 <= len(study.trials) < 60
    assert set(study.counts()) == {"complete"}  # the trials running at the end finished
    assert study.record.budget["timeout_s"] == 1.0


def test_a_core_hours_budget_stops_starting_trials(
    sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.napping_quadratic,
        XY,
        core_hours=0.5 / 3600,  # half a core-second: a few trials of 0.2 s
        trials=60,
        parallel=2,
        executor=executor,
        client=sqlite_client,
        report=False,
    )

    assert study.status == "finished"
    assert 1 <= len(study.trials) < 60
    assert set(study.counts()) == {"complete"}


def test_a_study_without_a_budget_is_refused(sqlite_client: TrackingClient) -> None:
    with pytest.raises(InvalidInputError, match="give the study a budget: trials=N"):
        tune(_objectives.quadratic, XY, client=sqlite_client)
    assert sqlite_client.search_runs() == []


@pytest.mark.parametrize(
    "budget",
    [{"trials": 0}, {"trials": 2.5}, {"timeout": -1}, {"timeout": "soon"}, {"core_hours": 0}],
)
def test_a_bad_budget_is_refused(budget: dict[str, Any], sqlite_client: TrackingClient) -> None:
    with pytest.raises(InvalidInputError):
        tune(_objectives.quadratic, XY, client=sqlite_client, **budget)
    assert sqlite_client.search_runs() == []


# -- Ray ---------------------------------------------------------------------------------


@pytest.fixture
def ray_executor(ray_two_cores: None) -> Iterator[Any]:
    from mlpilot.compute import RayExecutor

    with RayExecutor() as running:
        yield running


@pytest.mark.integration
def test_a_study_runs_its_trials_on_ray(sqlite_client: TrackingClient, ray_executor: Any) -> None:
    study = tune(
        _objectives.learning_curve,
        Space(x=Float(0.0, 1.0)),
        pruner="asha",
        sampler="random",
        seed=4,
        trials=8,
        parallel=2,
        executor=ray_executor,
        client=sqlite_client,
        report=False,
    )

    assert study.status == "finished"
    assert len(study.trials) == 8
    assert set(study.counts()) <= {"complete", "pruned"}
    assert study.counts().get("complete", 0) >= 1
    assert study.record.executor == "ray"
    # Every trial reported from its Ray task.
    assert len(sqlite_client.store.studies.reports(study.id)) == 8
