"""The installed ``mlpilot`` console script, run as a separate process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlpilot.config import Settings
from mlpilot.tracking import TrackingClient


def _mlpilot() -> str:
    beside_python = Path(sys.executable).parent / "mlpilot"
    found = str(beside_python) if beside_python.exists() else shutil.which("mlpilot")
    if found is None:
        pytest.skip("the mlpilot console script is not installed")
    return found


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    store_options = ["--store-uri", settings.store_uri, "--artifacts-uri", settings.artifacts_uri]
    return subprocess.run(
        [_mlpilot(), *store_options, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )


def test_console_script_prints_runs_as_json(client: TrackingClient, settings: Settings) -> None:
    with client.create_run("iris", "from-python", params={"C": 1.5}) as run:
        run.log_metric("acc", 0.93)
    done = _run(settings, "runs", "list", "--json")
    assert done.returncode == 0, done.stderr
    [entry] = json.loads(done.stdout)
    assert (entry["id"], entry["params"], entry["metrics"]) == (run.id, {"C": "1.5"}, {"acc": 0.93})


def test_console_script_errors_are_one_line_without_traceback(
    client: TrackingClient, settings: Settings
) -> None:
    with client.create_run("iris", "kept") as run:
        pass
    done = _run(settings, "runs", "delete", run.id)  # no terminal and no --yes
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--yes" in done.stderr
    assert "Traceback" not in done.stderr
    assert client.get_run(run.id).status == "finished"

    done = _run(settings, "runs", "show", "0123456789ab")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip() == (
        "error: no run with id '0123456789ab'; list runs with `mlpilot runs list`"
    )
