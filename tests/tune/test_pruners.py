"""Pruners: the promotion rules on their own, the reports they read from the store, and
studies whose hopeless trials stop early."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mlpilot.compute import LocalExecutor
from mlpilot.errors import InvalidInputError
from mlpilot.tracking import TrackingClient
from mlpilot.tune import ASHA, Float, Median, Pruner, Space, tune
from mlpilot.tune.pruners import Progress, ReportHistory

from . import _objectives

ONE_X = Space(x=Float(0.0, 1.0))


class FakeHistory:
    """What other trials reported, held in memory; records this trial's rungs."""

    def __init__(
        self,
        rungs: dict[int, list[float]] | None = None,
        finished: dict[int, list[float]] | None = None,
        complete: int = 0,
    ) -> None:
        self.rungs = {rung: list(values) for rung, values in (rungs or {}).items()}
        self.finished = finished or {}
        self.complete = complete
        self.own: dict[int, float] = {}
        self.marked: list[tuple[int, int]] = []

    def mark_rung(self, step: int, rung: int) -> None:
        self.marked.append((step, rung))
        self.rungs.setdefault(rung, []).append(self.own[step])

    def rung_values(self, rung: int) -> list[float]:
        return list(self.rungs.get(rung, []))

    def finished_values_at(self, step: int) -> list[float]:
        return list(self.finished.get(step, []))

    def finished_count(self) -> int:
        return self.complete


def ask(
    pruner: Pruner,
    history: FakeHistory,
    step: int,
    value: float,
    *,
    best: float | None = None,
    maximize: bool = True,
    rung: int = 0,
) -> tuple[bool, Progress]:
    """Whether ``pruner`` stops a trial reporting ``value`` at ``step``."""
    history.own[step] = value
    progress = Progress(step, value, value if best is None else best, maximize, rung)
    checked: ReportHistory = history
    return pruner.prune(progress, checked), progress


# -- ASHA ------------------------------------------------------------------------------


def test_asha_lets_the_first_trial_at_a_rung_go_on() -> None:
    history = FakeHistory()

    pruned, progress = ask(ASHA(), history, 1, 0.1)

    assert not pruned
    assert progress.rung == 1
    assert history.marked == [(1, 0)]


def test_asha_keeps_the_top_third_of_a_rung_and_stops_the_rest() -> None:
    others = {0: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}  # with the new one: 9 values

    assert not ask(ASHA(), FakeHistory(others), 1, 0.75)[0]  # second of 9
    assert not ask(ASHA(), FakeHistory(others), 1, 0.65)[0]  # third of 9
    assert ask(ASHA(), FakeHistory(others), 1, 0.55)[0]  # fourth of 9
    # Minimising, the lowest values are the best.
    assert not ask(ASHA(), FakeHistory(others), 1, 0.25, maximize=False)[0]
    assert ask(ASHA(), FakeHistory(others), 1, 0.35, maximize=False)[0]


def test_asha_keeps_the_top_half_with_a_reduction_factor_of_two() -> None:
    others = {0: [0.1, 0.2, 0.3]}  # with the new one: 4 values, two go on

    assert not ask(ASHA(reduction_factor=2), FakeHistory(others), 1, 0.25)[0]
    assert ask(ASHA(reduction_factor=2), FakeHistory(others), 1, 0.15)[0]


def test_asha_lets_only_the_best_go_on_while_a_rung_holds_few_values() -> None:
    assert ask(ASHA(), FakeHistory({0: [0.5]}), 1, 0.4)[0]
    assert not ask(ASHA(), FakeHistory({0: [0.5]}), 1, 0.6)[0]


def test_asha_judges_only_at_rung_steps() -> None:
    pruner = ASHA(min_resource=2, reduction_factor=3)  # rungs at steps 2, 6, 18
    history = FakeHistory({0: [0.9], 1: [0.9]})

    assert not ask(pruner, history, 1, 0.0)[0]  # before the first rung
    assert not ask(pruner, history, 5, 0.0, rung=1)[0]  # between rungs
    assert history.marked == []
    assert ask(pruner, history, 6, 0.0, rung=1)[0]
    assert [pruner.rung_step(k) for k in range(3)] == [2, 6, 18]


def test_asha_stops_a_trial_that_reports_nan_at_a_rung() -> None:
    assert ask(ASHA(), FakeHistory(), 1, math.nan)[0]


def test_asha_judges_a_report_past_several_rungs_at_each_of_them() -> None:
    history = FakeHistory({0: [0.1], 1: [0.2], 2: [0.9]})

    pruned, progress = ask(ASHA(), history, 9, 0.5)  # rungs at 1, 3 and 9

    assert pruned  # the best at rungs 0 and 1, beaten at rung 2
    assert history.marked == [(9, 0), (9, 1), (9, 2)]
    assert progress.rung == 2

    history = FakeHistory({0: [0.1], 1: [0.2]})
    pruned, progress = ask(ASHA(), history, 9, 0.5)
    assert not pruned
    assert progress.rung == 3


@pytest.mark.parametrize(
    "options", [{"min_resource": 0}, {"reduction_factor": 1}, {"min_resource": 1.5}]
)
def test_asha_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="asha: "):
        ASHA(**options)


# -- the median rule -------------------------------------------------------------------


def test_median_stops_a_trial_whose_best_is_below_the_median_of_complete_trials() -> None:
    history = FakeHistory(finished={3: [0.2, 0.5, 0.8]}, complete=5)

    assert ask(Median(), history, 3, 0.4)[0]
    assert not ask(Median(), history, 3, 0.6)[0]
    # Its best so far counts, not its latest value.
    assert not ask(Median(), history, 3, 0.4, best=0.6)[0]
    # Minimising, below the median is good.
    assert not ask(Median(), history, 3, 0.4, maximize=False)[0]
    assert ask(Median(), history, 3, 0.6, maximize=False)[0]


def test_median_waits_for_its_startup_trials_warmup_and_interval() -> None:
    finished = {step: [0.9, 0.9, 0.9] for step in range(10)}

    assert not ask(Median(startup_trials=5), FakeHistory(finished=finished, complete=4), 3, 0.0)[0]
    assert ask(Median(startup_trials=5), FakeHistory(finished=finished, complete=5), 3, 0.0)[0]
    assert not ask(Median(warmup_steps=4), FakeHistory(finished=finished, complete=5), 3, 0.0)[0]
    assert ask(Median(warmup_steps=4), FakeHistory(finished=finished, complete=5), 4, 0.0)[0]
    pruner = Median(warmup_steps=1, interval_steps=3)
    assert not ask(pruner, FakeHistory(finished=finished, complete=5), 3, 0.0)[0]
    assert ask(pruner, FakeHistory(finished=finished, complete=5), 4, 0.0)[0]


def test_median_goes_on_where_no_complete_trial_reported_the_step() -> None:
    history = FakeHistory(finished={3: [0.9]}, complete=5)
    assert not ask(Median(), history, 4, 0.0)[0]


def test_median_stops_a_trial_that_reports_nan() -> None:
    assert ask(Median(), FakeHistory(complete=0), 0, math.nan)[0]


@pytest.mark.parametrize(
    "options", [{"startup_trials": -1}, {"warmup_steps": -1}, {"interval_steps": 0}]
)
def test_median_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="median: "):
        Median(**options)


def steps_reported(client: TrackingClient, run_id: str) -> int:
    return len(client.get_metric_history(run_id, "value"))


@pytest.mark.parametrize(
    "pruner",
    [ASHA(min_resource=1, reduction_factor=3), Median(startup_trials=2)],
    ids=["asha", "median"],
)
def test_hopeless_trials_are_pruned_early(
    pruner: Pruner, sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    study = tune(
        _objectives.learning_curve,
        ONE_X,
        name=f"pruned-{pruner.name}",
        pruner=pruner,
        sampler="random",
        seed=4,
        trials=14,
        parallel=2,
        executor=executor,
        client=sqlite_client,
    )

    assert study.status == "finished"
    pruned = [t for t in study.trials if t.state == "pruned"]
    complete = [t for t in study.trials if t.state == "complete"]
    assert pruned and complete
    assert len(pruned) + len(complete) == 14
    for trial in pruned:
        run = sqlite_client.get_run(trial.run_id)
        assert run.status == "pruned"
        assert f"pruned by {pruner.name}" in trial.error
        assert trial.values is None
    # A complete trial reported all 27 steps (and its value after them).
    assert {steps_reported(sqlite_client, t.run_id) for t in complete} == {28}
    # A pruned trial has no final value, and pruning stopped trials before their end
    # (ASHA's last rung, step 27, can still prune a trial at its last report).
    pruned_steps = [steps_reported(sqlite_client, t.run_id) for t in pruned]
    assert max(pruned_steps) <= 27
    assert min(pruned_steps) < 27
    assert study.record.pruner == {"name": pruner.name, **pruner.options()}


def test_a_pruner_with_an_objective_that_never_reports_is_refused(
    sqlite_client: TrackingClient, executor: LocalExecutor
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        tune(
            _objectives.never_reports,
            ONE_X,
            name="silent",
            pruner="asha",
            trials=8,
            parallel=2,
            executor=executor,
            client=sqlite_client,
        )

    assert "trial.report(value, step)" in str(caught.value)
    study = sqlite_client.store.studies.get("silent")
    assert study.status == "failed"
    # It stopped starting trials once it knew.
    assert 1 <= len(sqlite_client.store.studies.trials(study.run_id)) <= 2


def test_a_pruner_is_refused_for_several_objectives(sqlite_client: TrackingClient) -> None:
    with pytest.raises(InvalidInputError, match="cannot use a pruner"):
        tune(
            _objectives.two_goals,
            ONE_X,
            directions=["minimize", "minimize"],
            pruner="median",
            trials=4,
            client=sqlite_client,
        )
    assert sqlite_client.search_runs() == []


def test_an_unknown_pruner_is_refused(sqlite_client: TrackingClient) -> None:
    with pytest.raises(InvalidInputError, match="unknown pruner 'hyperband'; choose one of"):
        tune(_objectives.quadratic, ONE_X, pruner="hyperband", trials=4, client=sqlite_client)
    assert sqlite_client.search_runs() == []
