"""A study whose driver process is killed goes on where it stopped, on each backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mlpilot.compute import LocalExecutor
from mlpilot.config import Settings
from mlpilot.errors import ConflictError
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient
from mlpilot.tune import TrialRecord, resume_study

pytestmark = pytest.mark.integration

#: Where the objectives' package lives (``tune._objectives``).
TESTS = str(Path(__file__).resolve().parents[1])

DRIVER = """
import json, sys
sys.path.insert(0, {tests!r})

from mlpilot.config import load_settings
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient
from mlpilot.tune import Float, Int, Space, tune
from tune import _objectives

if __name__ == "__main__":
    settings = load_settings(**json.loads(sys.argv[1]))
    tune(
        _objectives.slow_quadratic,
        Space(x=Float(0.0, 1.0), y=Int(0, 10)),
        name="resumable",
        seed=3,
        trials=12,
        parallel=2,
        cpus=2,
        client=TrackingClient(Store(settings)),
    )
"""


def wait_for(condition: Any, what: str, timeout_s: float = 120) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def start_driver(settings: Settings, tmp_path: Path) -> subprocess.Popen[bytes]:
    script = tmp_path / "drive_study.py"
    script.write_text(textwrap.dedent(DRIVER.format(tests=TESTS)))
    where = {
        "home": str(settings.home),
        "store_uri": settings.store_uri,
        "artifacts_uri": settings.artifacts_uri,
        "user": "tester",
    }
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(where)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the driver and its workers
    )


def test_a_killed_study_resumes_to_its_budget(
    store: Store, settings: Settings, tmp_path: Path, executor: LocalExecutor
) -> None:
    records = store.studies
    client = TrackingClient(store)
    driver = start_driver(settings, tmp_path)
    try:
        study_id = wait_for(lambda: [s.run_id for s in records.recent()], "the study")[0]

        def trials() -> list[TrialRecord]:
            return records.trials(study_id)

        wait_for(
            lambda: (
                sum(t.state == "complete" for t in trials()) >= 3
                and any(t.state == "running" for t in trials())
            ),
            "three trials to finish while others run",
        )
        # A study that is running cannot be resumed beside itself.
        with pytest.raises(ConflictError, match="'resumable' .* is running"):
            resume_study("resumable", client=client, executor=executor)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    before = {t.number: t for t in trials() if t.state == "complete"}
    cut_off = [t for t in trials() if t.state == "running"]
    assert 3 <= len(before) < 12 and cut_off

    study = resume_study("resumable", client=client, executor=executor, report=True)

    assert study.status == "finished"
    assert client.get_run(study_id).status == "finished"
    ended = [t for t in study.trials if t.state != "killed"]
    assert [t.state for t in ended] == ["complete"] * 12
    assert Counter(t.number for t in ended).most_common(1)[0][1] == 1
    killed = [t for t in study.trials if t.state == "killed"]
    assert {t.run_id for t in killed} == {t.run_id for t in cut_off}
    for trial in killed:
        assert client.get_run(trial.run_id).status == "killed"
        assert "the study stopped while this trial ran" in trial.error
        assert any(t.params == trial.params for t in ended)  # its point ran again
    after = {t.number: t for t in study.trials}
    for number, trial in before.items():
        assert after[number].run_id == trial.run_id
        assert after[number].values == trial.values
    assert len([r for r in client.search_runs("tuning") if r.parent_id == study_id]) == len(
        study.trials
    )
    assert "report.html" in {a.path for a in client.list_artifacts(study_id)}
