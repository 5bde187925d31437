"""The README's main job, run as a user runs it: a separate process on a fresh folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlpilot.registry import ModelRegistry
from mlpilot.store import DatasetStore, open_store
from mlpilot.tracking import TrackingClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.integration
def test_the_tracking_quickstart_runs_twice_on_one_dataset_version(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(EXAMPLES / "tracking_quickstart.py"),
        "--epochs",
        "2",
        "--alphas",
        "0.01",
        "0.1",
    ]
    for _ in range(2):
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        assert "verified after" in done.stdout

    store = open_store(home=str(tmp_path / ".mlpilot"))
    versions = DatasetStore(store).versions("breast-cancer")
    lineage = TrackingClient(store).dataset_lineage("breast-cancer@v1")
    store.close()
    assert [v.num_rows for v in versions] == [569]
    assert [link.run_name for link in lineage.used_by] == ["sgd-sweep", "sgd-sweep"]
    assert len(lineage.models) == 2


@pytest.mark.integration
def test_the_pipeline_example_runs_from_the_command_line_and_caches(tmp_path: Path) -> None:
    mlpilot = str(Path(sys.executable).parent / "mlpilot")
    command = [
        mlpilot,
        "pipelines",
        "run",
        str(EXAMPLES / "model_families.py:model_families"),
        "--param",
        'families=["logreg"]',
        "--json",
    ]
    statuses = []
    for _ in range(2):
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        statuses.append(json.loads(done.stdout)["tasks"])
    assert statuses == [{"done": 3}, {"cached": 3}]

    store = open_store(home=str(tmp_path / ".mlpilot"))
    runs = TrackingClient(store).search_runs(experiment="pipelines")
    store.close()
    assert [run.status for run in runs] == ["finished", "finished"]


@pytest.mark.integration
def test_the_lifecycle_example_promotes_once_and_keeps_its_champion(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(EXAMPLES / "lifecycle.py"),
        "--trials",
        "3",
        "--families",
        "logreg",
        "forest",
    ]
    outputs = []
    for _ in range(2):
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=280)
        assert done.returncode == 0, done.stderr + done.stdout
        outputs.append(done.stdout)
    assert "promoted" in outputs[0]
    assert "kept the champion" in outputs[1]
    assert "mlpilot models card breast-cancer-classifier@champion" in outputs[1]

    from mlpilot.registry import ModelRegistry

    store = open_store(home=str(tmp_path / ".mlpilot"))
    try:
        client = TrackingClient(store)
        registry = ModelRegistry(client)
        versions = registry.versions("breast-cancer-classifier")
        # The second run found every step but the last in the cache: same candidate, so
        # no new version, and the champion it made the first time is still the champion.
        assert [v.version for v in versions] == [1]
        assert versions[0].aliases == ["champion"]
        assert versions[0].dataset is not None and versions[0].evaluation is not None
        records = store.pipelines
        second = records.list_runs("lifecycle", 10)[0]
        statuses = {t.name: t.status for t in records.tasks(second.run_id)}
        assert statuses.pop("register_and_promote") == "done"
        assert set(statuses.values()) == {"cached"}
    finally:
        store.close()


@pytest.mark.integration
def test_the_closed_loop_retrains_promotes_and_swaps_on_drift(tmp_path: Path) -> None:
    home = tmp_path / "loop"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "closed_loop.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MLPILOT_HOME": str(home), "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    store = open_store(home=str(home))
    try:
        kinds = [e.kind for e in store.events.read()]
        registry = ModelRegistry(TrackingClient(store))
        champion = registry.resolve("breast-cancer-classifier@champion")
        moves = registry.moves("breast-cancer-classifier", "champion")
        retrains = [
            action
            for alert in store.monitors.alerts("cancer-drift")
            for action in alert.actions
            if action["kind"] == "retrain" and action["status"] != "skipped"
        ]
        monitor = store.monitors.get("cancer-drift")
    finally:
        store.close()
    # Run by the controller alone: one retrain, one promotion, one swap, and the reason
    # and links on the alert.
    [retrain] = retrains
    assert retrain["status"] == "ok" and retrain["detail"] == "the champion moved to version 2"
    assert retrain["version"] == 2 and retrain["run_id"] and retrain["decision_event"]
    assert kinds.count("serve.swapped") == 1
    assert monitor.reference == "breast-cancer@v2"
    # The alert came before the retrain's promotion, which came before the swap.
    order = [k for k in kinds if k in ("alert.raised", "model.alias_promote", "serve.swapped")]
    assert order[:1] == ["model.alias_promote"]  # the first champion, before any traffic
    assert order.index("alert.raised") < order.index("model.alias_promote", 1)
    assert order[-1] == "serve.swapped"
    assert [m.version for m in moves] == [1, 2]
    assert champion.version == 2 and champion.dataset == "breast-cancer@v2"
    assert "the server answers from version 2" in done.stdout
