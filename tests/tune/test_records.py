"""What a study leaves in the store, on each backend: a run with a child run per trial,
their params, values and reports, and a report of plots and importances."""

from __future__ import annotations

import json

import pytest

from mlpilot.compute import LocalExecutor
from mlpilot.errors import NotFoundError
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient
from mlpilot.tune import Float, Int, Space, Study, tune

from . import _objectives

PNG = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.integration


def test_a_study_is_a_run_and_each_trial_a_child_run(store: Store, executor: LocalExecutor) -> None:
    client = TrackingClient(store)
    seen: list[tuple[int, str]] = []

    study = tune(
        _objectives.learning_curve,
        Space(x=Float(0.0, 1.0), y=Int(0, 10)),  # y does not matter to the objective
        name="curves",
        seed=5,
        trials=8,
        parallel=2,
        executor=executor,
        client=client,
        observer=lambda number, state, values: seen.append((number, state)),
        report=True,
    )

    run = client.get_run(study.id)
    assert (run.experiment, run.name, run.status, run.parent_id) == (
        "tuning",
        "curves",
        "finished",
        None,
    )
    assert run.tags["mlpilot.study"] == "curves"
    assert run.params["sampler"] == "tpe"
    trials = {t.run_id: t for t in study.trials}
    child_runs = [r for r in client.search_runs("tuning") if r.id != study.id]
    assert {r.id for r in child_runs} == set(trials)
    for child in child_runs:
        trial = trials[child.id]
        assert child.parent_id == study.id
        assert child.name == f"curves-{trial.number}"
        assert child.status == "finished"
        assert trial.state == "complete"
        assert {k: float(v) for k, v in child.params.items()} == trial.params
        assert trial.values is not None
        assert child.metrics["value"] == pytest.approx(trial.values[0])
        # The reports are the metric's history; the value comes after them.
        history = client.get_metric_history(child.id, "value")
        level = 1 - (trial.params["x"] - 0.3) ** 2
        assert [p.step for p in history[:-1]] == list(range(1, 28))
        assert [p.value for p in history[:-1]] == pytest.approx(
            [level * (1 - 0.8**step) for step in range(1, 28)]
        )
        assert history[-1].value == pytest.approx(trial.values[0])
    assert sorted(seen) == sorted(
        [(n, "running") for n in range(8)] + [(n, "complete") for n in range(8)]
    )

    # Read back by name or by run id, from the store alone.
    for ref in ("curves", study.id, study.id[:8]):
        loaded = Study.load(ref, client=client)
        assert loaded.id == study.id
        assert loaded.counts() == {"complete": 8}
        assert loaded.status == "finished"
        assert loaded.space == study.space
    best = max(study.trials, key=lambda t: t.values[0])  # type: ignore[index]
    assert loaded.best_trial.run_id == best.run_id
    assert loaded.best_params == best.params
    assert loaded.best_value == pytest.approx(best.values[0])  # type: ignore[index]
    with pytest.raises(NotFoundError, match="no study named 'nothing'"):
        Study.load("nothing", client=client)

    # The report: plots, importances and a page, stored with the study's run.
    paths = {a.path for a in client.list_artifacts(study.id)}
    assert {"report.html", "plots/history.png", "plots/parallel.png", "importances.json"} <= paths
    for path in ("plots/history.png", "plots/parallel.png"):
        assert client.read_artifact(study.id, path).startswith(PNG)
    page = client.read_artifact(study.id, "report.html").decode()
    assert "<h1>Study curves</h1>" in page and "data:image/png;base64," in page
    importances = loaded.importances()
    assert set(importances) == {"x", "y"}
    assert sum(importances.values()) == pytest.approx(1.0)
    assert importances["x"] > importances["y"]
    assert json.loads(client.read_artifact(study.id, "importances.json")) == pytest.approx(
        importances
    )
    assert loaded.compute_importances() == pytest.approx(importances)
