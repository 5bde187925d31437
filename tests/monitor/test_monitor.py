"""Monitors of served models: windows cut from the prediction log, drift, performance on
labels that arrive later, latency, and the alerts their rules raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.monitor import Monitors, ReferenceProfile, write_window_report
from mlpilot.registry import ModelRegistry
from mlpilot.store import PredictionBatch, PredictionLog, Store
from mlpilot.tracking import TrackingClient

#: Rows per logged request.
PER_REQUEST = 10
#: The first logged request's time: 2026-01-01 UTC.
T0 = 1_767_225_600_000


def reference(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, rows)
    return pd.DataFrame(
        {
            "a": a,
            "b": rng.choice(["x", "y", "z"], rows, p=[0.5, 0.3, 0.2]),
            "y": (a > 0).astype(int),
        }
    )


def traffic(rows: int, *, shift: float = 0.0, seed: int = 1) -> pd.DataFrame:
    """Rows like the reference's (``shift`` moves ``a``), with the model's predictions."""
    rng = np.random.default_rng(seed)
    a = rng.normal(shift, 1, rows)
    frame = pd.DataFrame({"a": a, "b": rng.choice(["x", "y", "z"], rows, p=[0.5, 0.3, 0.2])})
    frame["prediction"] = (a > 0).astype(int)
    return frame


def log(
    store: Store,
    frame: pd.DataFrame,
    *,
    start_ms: int = T0,
    step_ms: int = 1000,
    prefix: str = "r",
    latency_ms: float = 5.0,
    model: str = "churn",
    version: int = 1,
) -> list[str]:
    """Log ``frame`` as requests of PER_REQUEST rows, ``step_ms`` apart; their ids."""
    written = PredictionLog(store.predictions, flush_interval_s=3600)
    ids = []
    try:
        for number, at in enumerate(range(0, len(frame), PER_REQUEST)):
            chunk = frame.iloc[at : at + PER_REQUEST]
            request_id = f"{prefix}{number}"
            ids.append(request_id)
            written.record(
                PredictionBatch(
                    request_id,
                    model,
                    version,
                    "primary",
                    start_ms + number * step_ms,
                    latency_ms,
                    features=chunk.drop(columns="prediction").to_dict("records"),
                    predictions=chunk["prediction"].tolist(),
                )
            )
        written.flush()
    finally:
        written.close()
    return ids


def create(monitors: Monitors, name: str = "watch", **spec: Any) -> Any:
    """A monitor of the whole log: these tests log traffic of the past (``T0``)."""
    spec = {
        "model": "churn",
        "reference": "ref@v1",
        "target": "y",
        "window_rows": 200,
        "backfill": True,
        **spec,
    }
    return monitors.create(name, **spec)


def test_create_profiles_the_reference_once_with_the_predictions(monitors: Monitors) -> None:
    monitor = create(monitors, rules=["psi > 0.2"])

    assert monitor.features == ("a", "b")
    assert (monitor.reference, monitor.task, monitor.window) == (
        "ref@v1",
        "classification",
        {"rows": 200},
    )
    stored = monitors.get("watch")
    assert stored == monitor
    profile = monitors.profile("watch")
    assert isinstance(profile, ReferenceProfile)
    assert list(profile.columns) == ["a", "b", "prediction"]
    assert profile.kinds["prediction"] == "categorical"
    assert [m.name for m in monitors.list_monitors()] == ["watch"]
    assert monitor.rules[0]["name"] == "psi"


RETRAIN_MISSPELT = {"kind": "retrain", "pipeline": "no/such/file.py:retrian"}


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({"model": "absent"}, NotFoundError, "no model named 'absent'"),
        ({"reference": "ref@v9"}, NotFoundError, "ref"),
        ({"reference": "nothing@v1"}, NotFoundError, "nothing"),
        ({"features": ["a", "c"]}, InvalidInputError, "features not in ref@v1: c"),
        ({"target": "label"}, InvalidInputError, "target 'label' is not a column"),
        ({"window_rows": 0}, InvalidInputError, "window rows"),
        ({"window_seconds": 60}, InvalidInputError, "not both"),
        ({"tests": ["ks", "t"]}, InvalidInputError, "drift tests"),
        ({"alpha": 1.5}, InvalidInputError, "alpha"),
        ({"rules": ["psi >> 0.2"]}, InvalidInputError, "METRIC OP NUMBER"),
        ({"rules": ["speed > 2"]}, InvalidInputError, "unknown metric 'speed'"),
        ({"rules": [{"when": "psi > 0.2", "features": ["zz"]}]}, InvalidInputError, "zz"),
        ({"rules": [{"when": "psi > 0.2", "actions": ["page"]}]}, InvalidInputError, "page"),
        ({"task": "ranking"}, InvalidInputError, "task"),
        ({"correction": "holm"}, InvalidInputError, "unknown correction 'holm'"),
        (
            {"rules": [{"when": "psi > 0.2", "actions": [RETRAIN_MISSPELT]}]},
            NotFoundError,
            "no pipeline file no/such/file.py",
        ),
    ],
)
def test_create_checks_everything_first(
    monitors: Monitors, spec: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        create(monitors, **spec)
    assert monitors.list_monitors() == []


FLOW = """
from mlpilot import pipeline, step


@step
def fit(trials: int) -> int:
    return trials


@pipeline
def retrain(trials: int = 3):
    return fit(trials)
"""


def test_a_retrain_action_is_checked_against_its_pipeline_when_the_monitor_is_created(
    monitors: Monitors, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flows.py").write_text(FLOW)
    monkeypatch.chdir(tmp_path)

    def retrain(pipeline: str, **params: Any) -> list[dict[str, Any]]:
        action = {"kind": "retrain", "pipeline": pipeline, "params": params}
        return [{"when": "psi > 0.2", "actions": [action]}]

    with pytest.raises(
        NotFoundError, match="flows.py has no pipeline 'retrian'; its pipelines: retrain"
    ):
        create(monitors, rules=retrain("flows.py:retrian"))
    with pytest.raises(InvalidInputError, match="no parameter 'trails'; its parameters: trials"):
        create(monitors, rules=retrain("flows.py:retrain", trails=5))
    # A relative path is kept absolute: the scheduler that retrains starts elsewhere.
    monitor = create(monitors, rules=retrain("flows.py:retrain", trials=5))
    [_, action] = monitor.rules[0]["actions"]
    assert action["pipeline"] == f"{tmp_path / 'flows.py'}:retrain"
    assert monitors.list_monitors() == [monitor]


def test_a_name_is_taken_once(monitors: Monitors) -> None:
    create(monitors)
    with pytest.raises((InvalidInputError, ConflictError), match="exists"):
        create(monitors)


def test_windows_are_cut_by_rows_and_an_incomplete_one_waits(
    store: Store, monitors: Monitors
) -> None:
    create(monitors)
    log(store, traffic(500))

    first = monitors.run_once("watch")

    assert [(w.index, w.rows) for w in first] == [(0, 200), (1, 200)]
    assert all(w.evaluable for w in first)
    assert first[0].start_ms == T0 and first[1].start_ms == T0 + 20_000
    assert monitors.run_once("watch") == []
    log(store, traffic(200, seed=2), start_ms=T0 + 50_000, prefix="s")
    later = monitors.run_once("watch")
    assert [(w.index, w.rows, w.start_ms) for w in later] == [(2, 200, T0 + 40_000)]
    assert [w.index for w in monitors.windows("watch")] == [0, 1, 2]
    assert later[0].latency == {"requests": 20, "p50": 5.0, "p99": 5.0, "mean": 5.0}


def test_windows_by_time_include_empty_ones(store: Store, monitors: Monitors) -> None:
    create(monitors, window_rows=None, window_seconds=10)
    log(store, traffic(100), start_ms=T0)
    log(store, traffic(100, seed=3), start_ms=T0 + 20_000, prefix="s")
    log(store, traffic(10, seed=4), start_ms=T0 + 30_000, prefix="t")

    windows = monitors.run_once("watch")

    assert [(w.index, w.rows, w.start_ms, w.end_ms) for w in windows] == [
        (0, 100, T0, T0 + 10_000),
        (1, 0, T0 + 10_000, T0 + 20_000),
        (2, 100, T0 + 20_000, T0 + 30_000),
    ]
    empty = windows[1]
    assert not empty.evaluable and empty.reason == "empty window"
    assert empty.performance["reason"].startswith("not evaluable: 0 labels")
    assert empty.latency == {"requests": 0}


def test_drift_is_found_in_the_features_and_the_predictions(
    store: Store, monitors: Monitors
) -> None:
    create(monitors)
    log(store, traffic(200))
    log(store, traffic(200, shift=2.0, seed=5), start_ms=T0 + 100_000, prefix="s")

    stable, shifted = monitors.run_once("watch")

    assert "a" not in stable.drifted_columns
    assert "a" in shifted.drifted_columns and "prediction" in shifted.drifted_columns
    psi = {r["column"]: r for r in shifted.results if r["test"] == "psi"}
    assert psi["a"]["statistic"] > 0.2 and psi["a"]["threshold"] == 0.2
    assert {r["test"] for r in shifted.results} == {"ks", "psi", "chi2"}


def test_the_drift_alert_waits_for_consecutive_windows_and_cools_down(
    store: Store, monitors: Monitors
) -> None:
    rules = [
        {"name": "drift", "when": "psi > 0.2", "features": ["a"], "windows": 2},
        {"name": "every", "when": "psi > 0.2", "features": ["a"], "cooldown_s": 0},
    ]
    create(monitors, rules=rules)
    log(store, traffic(400))
    log(store, traffic(200, shift=2.0, seed=5), start_ms=T0 + 100_000, prefix="s")

    first = monitors.run_once("watch")

    assert [w.alerts for w in first] == [[], [], [a for a in first[2].alerts if a.rule == "every"]]
    assert [a.rule for a in first[2].alerts] == ["every"]
    log(store, traffic(600, shift=2.0, seed=6), start_ms=T0 + 200_000, prefix="t")
    second = monitors.run_once("watch")

    fired = {(a.rule, a.window_index) for a in monitors.alerts("watch")}
    assert fired == {("every", 2), ("every", 3), ("every", 4), ("every", 5), ("drift", 3)}
    [drift] = [a for a in second[0].alerts if a.rule == "drift"]
    assert drift.values["windows"] == [2, 3] and drift.values["columns"] == ["a"]
    assert "psi" in drift.message and "2 windows in a row" in drift.message
    assert drift.state == "open" and drift.actions[0]["kind"] == "record"


def test_labels_that_arrive_later_update_performance_and_fire_the_accuracy_rule(
    store: Store, monitors: Monitors
) -> None:
    create(monitors, rules=[{"name": "quality", "when": "accuracy < 0.8"}])
    frame = traffic(200)
    ids = log(store, frame)
    [window] = monitors.run_once("watch")
    assert window.performance["reason"] == "not evaluable: 0 labels (fewer than 30)"

    truth = frame["prediction"].to_numpy().copy()
    truth[:60] = 1 - truth[:60]  # the model is wrong on 60 of 200 rows
    labels = pd.DataFrame(
        {
            "request_id": np.repeat(ids, PER_REQUEST),
            "row": np.tile(np.arange(PER_REQUEST), len(ids)),
            "label": truth,
        }
    )
    assert monitors.record_labels("watch", labels) == 200
    [rescored] = monitors.run_once("watch")

    assert rescored.index == 0 and rescored.rescored
    assert rescored.performance["labels"] == 200
    assert rescored.performance["metrics"]["accuracy"] == pytest.approx(0.7)
    assert set(rescored.performance["metrics"]) == {"accuracy", "precision", "recall", "f1"}
    [alert] = rescored.alerts
    assert alert.rule == "quality" and alert.values["value"] == pytest.approx(0.7)
    assert monitors.run_once("watch") == []


def test_labels_may_come_before_their_requests_are_logged(store: Store, monitors: Monitors) -> None:
    create(monitors, window_rows=20, min_labels=20)
    frame = traffic(20)
    early = pd.DataFrame(
        {
            "request_id": [f"r{i // PER_REQUEST}" for i in range(20)],
            "row": [i % 10 for i in range(20)],
        }
    ).assign(label=frame["prediction"].to_numpy())
    assert monitors.record_labels("watch", early) == 20

    log(store, frame)  # the server's log lands after the labels
    [window] = monitors.run_once("watch")

    assert window.performance["labels"] == 20
    assert window.performance["metrics"]["accuracy"] == 1.0
    with pytest.raises(NotFoundError, match="no model named 'ghost'"):
        monitors.record_labels("ghost", early)


def test_a_window_never_mixes_the_traffic_of_two_versions(store: Store, monitors: Monitors) -> None:
    create(monitors)  # windows of 200 rows
    create(monitors, "hourly", window_rows=None, window_seconds=60)
    log(store, traffic(150), start_ms=T0, prefix="a")  # 15 s of version 1
    log(store, traffic(250), start_ms=T0 + 15_000, prefix="b", version=2)  # 25 s of 2
    log(store, traffic(10), start_ms=T0 + 120_000, prefix="c", version=2)

    by_rows = monitors.run_once("watch")
    by_time = monitors.run_once("hourly")

    # the swap ends a window early; the next starts with the new version
    assert [(w.rows, w.start_ms) for w in by_rows] == [(150, T0), (200, T0 + 15_000)]
    assert [(w.start_ms, w.end_ms, w.rows) for w in by_time] == [
        (T0, T0 + 15_000, 150),
        (T0 + 15_000, T0 + 60_000, 250),
        (T0 + 60_000, T0 + 120_000, 0),
    ]
    for window in by_rows:
        served = monitors.window_frame("watch", window.index)["version"]
        assert served.nunique() == 1


def test_bad_windows_are_marked_not_evaluable_not_fatal(store: Store, monitors: Monitors) -> None:
    create(monitors, window_rows=20)
    good = traffic(20)
    missing = traffic(20).drop(columns="b")
    nulls = traffic(20).assign(a=None)
    text = traffic(20).assign(a="high")
    constant = traffic(20).assign(a=1.0, b="x")
    for number, frame in enumerate([good, missing, nulls, text, constant]):
        log(store, frame, start_ms=T0 + number * 10_000, prefix=f"p{number}-")

    windows = monitors.run_once("watch")

    assert len(windows) == 5 and all(w.evaluable for w in windows)
    reasons = [
        {r["column"]: r["reason"] for r in w.results if r["reason"] is not None} for w in windows
    ]
    assert reasons[0] == {}
    assert "missing" in reasons[1]["b"]
    assert reasons[2]["a"] == "all values are missing"
    assert "expected numbers" in reasons[3]["a"]
    assert reasons[4] == {}
    assert "a" in windows[4].drifted_columns


def test_regression_monitors_score_rmse(store: Store, client: TrackingClient) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 500)
    client.datasets.register(
        "houses", pd.DataFrame({"x": x, "price": 3 * x + rng.normal(0, 1, 500)})
    )
    frame = pd.DataFrame({"x": x[:40], "prediction": 3 * x[:40]})
    ids = log(store, frame, model="houses")
    monitors = Monitors(client)
    monitors.create(
        "h",
        model="houses",
        reference="houses@v1",
        target="price",
        window_rows=40,
        min_labels=10,
        backfill=True,
    )
    labels = {
        (rid, row): float(3 * x[i * PER_REQUEST + row] + 1)
        for i, rid in enumerate(ids)
        for row in range(PER_REQUEST)
    }
    monitors.record_labels("houses", labels)

    [window] = monitors.run_once("h")

    assert monitors.get("h").task == "regression"
    assert window.performance["metrics"]["rmse"] == pytest.approx(1.0)
    assert window.performance["metrics"]["mae"] == pytest.approx(1.0)


def test_the_report_draws_every_column(store: Store, monitors: Monitors, tmp_path: Any) -> None:
    create(monitors)
    log(store, traffic(200, shift=2.0))
    monitors.run_once("watch")

    page = write_window_report(monitors, "watch", tmp_path / "report")

    text = page.read_text()
    assert "window 0" in text and "<img" in text
    assert sorted(p.name for p in page.parent.glob("*.png")) == [
        "000-a.png",
        "001-b.png",
        "002-prediction.png",
    ]
    drift = pd.read_csv(page.parent / "drift.csv")
    assert set(drift["column"]) == {"a", "b", "prediction"}
    with pytest.raises(NotFoundError, match="no window 7"):
        write_window_report(monitors, "watch", tmp_path / "x", index=7)


def test_rules_on_many_columns_correct_their_p_values_for_the_count(
    store: Store, client: TrackingClient
) -> None:
    """64 columns, 40 windows with no shift: uncorrected, ``ks_p < 0.01`` holds somewhere
    in about half the windows by chance alone; corrected (the default), false alarms are
    rare, and a real shift in one column is still found."""
    rng = np.random.default_rng(7)
    columns = [f"x{i}" for i in range(64)]
    client.datasets.register("wide", pd.DataFrame(rng.normal(0, 1, (4000, 64)), columns=columns))
    ModelRegistry(client).create_model("wide-model")
    rows = 40 * 100
    calm = pd.DataFrame(rng.normal(0, 1, (rows, 64)), columns=columns)
    calm["prediction"] = 0
    shifted = pd.DataFrame(rng.normal(0, 1, (100, 64)), columns=columns)
    shifted["x3"] += 1.0
    shifted["prediction"] = 0
    log(store, pd.concat([calm, shifted], ignore_index=True), model="wide-model")
    monitors = Monitors(client)
    rule = {"when": "ks_p < 0.01", "cooldown_s": 0}
    for name, correction in (("raw", "none"), ("corrected", "bh")):
        monitors.create(
            name,
            model="wide-model",
            reference="wide@v1",
            window_rows=100,
            tests=["ks"],
            correction=correction,
            rules=[rule],
            backfill=True,
        )

    raw, corrected = (monitors.run_once(name) for name in ("raw", "corrected"))

    def alarms(windows: list[Any]) -> int:
        return sum(1 for w in windows[:40] if w.alerts)

    assert alarms(raw) >= 10
    assert alarms(corrected) <= 2
    assert corrected[40].alerts and "x3" in corrected[40].alerts[0].values["columns"]
    assert corrected[40].drifted_columns == ["x3"]
