"""``mlpilot models`` and ``mlpilot evaluate`` over a real store: register, promote through
the gate, roll back, cards, load checks and evaluation reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.evaluate import GatePolicy, Scoring
from mlpilot.registry import ModelRegistry
from mlpilot.store import PredictionBatch, PredictionLog, Store, now_ms
from mlpilot.tracking import TrackingClient

from .conftest import Invoke, assert_one_line_error, parse_json

MODEL = "cancer"


@pytest.fixture
def registry(store: Store) -> ModelRegistry:
    """A model with two versions: a constant guess (v1) and a real classifier (v2)."""
    client = TrackingClient(store)
    frame = load_breast_cancer(as_frame=True).frame
    client.datasets.register("cancer", frame)
    features, target = frame.drop(columns=["target"]), frame["target"]
    registry = ModelRegistry(client)
    registry.create_model(
        MODEL,
        scoring=Scoring("classification", {"accuracy": 0.3, "precision": 0.3, "recall": 0.4}),
        gate=GatePolicy(min_composite=0.5, alpha=0.05),
    )
    for model in (
        DummyClassifier(strategy="most_frequent"),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    ):
        run = client.create_run("models", params={"model": type(model).__name__})
        client.log_model(run.id, model.fit(features, target))
        run.end()
        registry.register(MODEL, run.id, dataset="cancer@v1")
    return registry


def test_promote_moves_the_champion_through_the_gate_and_rollback_undoes_it(
    cli: Invoke, registry: ModelRegistry
) -> None:
    data = ("--on", "cancer@v1", "--target", "target")
    first = parse_json(cli("models", "promote", MODEL, "1", *data, "--json"))
    assert first["promoted"] and first["previous"] is None

    second = parse_json(cli("models", "promote", MODEL, "2", *data, "--json"))
    assert second["promoted"] and second["previous"] == 1
    assert second["comparison"]["composite"]["p_value"] < 0.05

    # Back to the constant guess: no better than the champion, so refused (exit 1).
    refused = cli("models", "promote", MODEL, "1", *data)
    assert refused.exit_code == 1
    assert "refused" in refused.stderr and "improvement" in refused.stderr
    assert registry.get_model(MODEL).aliases == {"champion": 2}

    rolled = cli("models", "rollback", MODEL, "--reason", "recall dropped in production")
    assert rolled.exit_code == 0, rolled.output
    assert registry.get_model(MODEL).aliases == {"champion": 1}
    shown = parse_json(cli("models", "show", MODEL, "--json"))
    assert [m["kind"] for m in shown["moves"]] == ["promote", "promote", "rollback"]
    assert shown["moves"][-1]["reason"] == "recall dropped in production"
    assert [(d["outcome"], d["version"], d["champion"]) for d in shown["decisions"]] == [
        ("promote", 1, None),
        ("promote", 2, 1),
        ("refuse", 1, 2),
    ]
    assert shown["moves"] == [m.to_dict() for m in registry.moves(MODEL)]
    assert {k: v for k, v in shown.items() if k not in ("moves", "decisions")} == (
        registry.get_model(MODEL).to_dict()
    )
    listed = parse_json(cli("models", "list", "--json"))
    assert listed == [registry.get_model(MODEL).to_dict()]

    versions = parse_json(cli("models", "versions", MODEL, "--json"))
    assert [v["aliases"] for v in versions] == [["champion"], []]
    assert versions == [v.to_dict() for v in registry.versions(MODEL)]
    card = cli("models", "card", f"{MODEL}@champion")
    assert card.exit_code == 0 and f"# {MODEL} version 1" in card.stdout
    check = cli("models", "load-check", f"models:/{MODEL}/2")
    assert check.exit_code == 0 and "matches" in check.stderr


def test_evaluate_scores_a_run_and_stores_its_report(
    cli: Invoke, registry: ModelRegistry, tmp_path: Path
) -> None:
    run_id = registry.get_version(MODEL, 2).run_id
    result = parse_json(
        cli(
            "evaluate",
            run_id,
            "--on",
            "cancer@v1",
            "--target",
            "target",
            "-w",
            "recall=1",
            "--resamples",
            "200",
            "--json",
        )
    )
    recall = result["metrics"]["recall"]
    assert recall["low"] <= recall["value"] <= recall["high"]
    assert result["composite"]["value"] == pytest.approx(recall["value"])
    assert "test split" in result["data"]
    stored = {a.path for a in registry.client.list_artifacts(run_id)}
    assert {
        "evaluation/report.html",
        "evaluation/roc.png",
        "evaluation/confusion.png",
        "evaluation/calibration.png",
        "evaluation/evaluation.json",
    } <= stored
    png = registry.client.read_artifact(run_id, "evaluation/roc.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.isfinite(result["metrics"]["roc_auc"]["value"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("models", "show", "nobody"), "no model named 'nobody'"),
        (("models", "card", "cancer@staging"), "has no alias 'staging'"),
        (("models", "load-check", "cancer/9"), "has no version 9"),
        (("models", "card", "not a uri"), "name a model version as NAME@ALIAS"),
        (("models", "rollback", MODEL, "--reason", "x"), "has no alias 'champion'"),
        (
            ("models", "promote", MODEL, "other/1", "--on", "cancer@v1", "--target", "target"),
            "no model named 'other'",
        ),
        (
            ("models", "promote", MODEL, "2", "--on", "cancer@v1", "--target", "label"),
            "has no column 'label'",
        ),
        (
            (
                "models",
                "promote",
                MODEL,
                "2",
                "--on",
                "cancer@v1",
                "--target",
                "target",
                "--split",
                "odd",
            ),
            "unknown split 'odd'",
        ),
        (
            ("evaluate", "0" * 32, "--on", "cancer@v1", "--target", "target", "-w", "recall=-1"),
            "weight of 'recall' is -1.0; weights are >= 0",
        ),
        (
            ("evaluate", "0" * 32, "--on", "cancer@v1", "--target", "target", "-w", "recall=0"),
            "weights are all zero",
        ),
    ],
)
def test_mistakes_are_one_line_errors(
    cli: Invoke, registry: ModelRegistry, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(cli(*args), fragment)
    assert registry.get_model(MODEL).aliases == {}


def test_traffic_compares_the_versions_that_served_a_model(store: Store, cli: Invoke) -> None:
    ModelRegistry(TrackingClient(store)).create_model("churn")
    predictions = PredictionLog(store.predictions)
    for index, (primary, shadow) in enumerate([("stay", "stay"), ("stay", "leave")]):
        for version, role, label in ((1, "primary", primary), (2, "shadow", shadow)):
            predictions.record(
                PredictionBatch(
                    request_id=f"r{index}",
                    model="churn",
                    version=version,
                    role=role,
                    ts_ms=now_ms(),
                    latency_ms=3.0,
                    features=[{"tenure": index}],
                    predictions=[label],
                )
            )
    predictions.close()

    table = cli("models", "traffic", "churn", "--since", "1h")
    assert table.exit_code == 0, table.output
    assert "traffic of the last 1h" in table.stdout
    assert "shadow version 2 agreed with primary version 1 on 50.0% of 2 rows" in table.stdout
    document = parse_json(cli("models", "traffic", "churn", "--json"))
    assert [(v["role"], v["version"], v["requests"]) for v in document["versions"]] == [
        ("primary", 1, 2),
        ("shadow", 2, 2),
    ]
    assert document["shadows"][0]["agreement"] == 0.5


def test_traffic_of_an_unknown_model_or_period_is_a_clear_error(store: Store, cli: Invoke) -> None:
    assert_one_line_error(cli("models", "traffic", "nope"), "nope")
    ModelRegistry(TrackingClient(store)).create_model("churn")
    assert_one_line_error(cli("models", "traffic", "churn", "--since", "soon"), "--since", "30m")
    quiet = cli("models", "traffic", "churn")
    assert quiet.exit_code == 0 and "No logged predictions of churn" in quiet.output
