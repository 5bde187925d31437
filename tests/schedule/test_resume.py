"""The ``mlpilot pipelines`` command as separate processes: a killed driver, resume,
cancel, and a cache that notices when only a helper function changed."""

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

import psutil
import pytest

from mlpilot.config import Settings
from mlpilot.schedule import PipelineRecords, load_output
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient

from . import _flows

FLOWS = Path(_flows.__file__).resolve()
pytestmark = pytest.mark.integration


def mlpilot(settings: Settings, *args: str) -> list[str]:
    store = ["--store-uri", settings.store_uri, "--artifacts-uri", settings.artifacts_uri]
    return [str(Path(sys.executable).parent / "mlpilot"), *store, *args]


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mlpilot(settings, *args),
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )


def wait_for(condition: Any, what: str, timeout_s: float = 120) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def the_only_run(records: PipelineRecords) -> str | None:
    runs = records.list_runs()
    return runs[0].run_id if runs else None


def test_a_killed_driver_takes_its_workers_and_their_tasks_with_it(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    pidfile = tmp_path / "worker.pid"
    driver = subprocess.Popen(
        mlpilot(settings, "pipelines", "run", f"{FLOWS}:napping", "--param", f"pidfile={pidfile}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(pidfile.exists, "the step to start")
    worker = psutil.Process(int(pidfile.read_text()))
    helpers = psutil.Process(driver.pid).children(recursive=True)  # the fork server too

    driver.send_signal(signal.SIGKILL)
    driver.wait()

    def gone(process: psutil.Process) -> bool:
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(lambda: gone(worker), "the worker to end", timeout_s=60)
    wait_for(lambda: all(gone(p) for p in helpers), "the fork server to end", timeout_s=60)


def test_a_killed_driver_resumes_and_no_completed_step_runs_again(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    records = store.pipelines
    driver = subprocess.Popen(
        mlpilot(
            settings,
            "pipelines",
            "run",
            f"{FLOWS}:chain",
            "--param",
            f"log={log}",
            "--param",
            "seconds=0.1",
            "--json",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_id = wait_for(lambda: the_only_run(records), "the run to start")

    def done_before_kill() -> list[str]:
        """What the finished steps wrote to the log (task i writes s{i})."""
        return [f"s{i}" for i, t in enumerate(records.tasks(run_id)) if t.status == "done"]

    wait_for(lambda: len(done_before_kill()) >= 6, "six steps to finish")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    completed = done_before_kill()
    assert 6 <= len(completed) < 20
    # Once a process sees the driver dead, its run has failed and nothing in it runs.
    seer = TrackingClient(store)
    seer.mark_dead_runs()  # as opening a store does, once per process
    assert seer.get_run(run_id).status == "failed"
    left = Counter(t.status for t in records.tasks(run_id))
    assert left["done"] == len(completed)
    assert left["lost"] <= 1 and left["cancelled"] == 20 - len(completed) - left["lost"]

    resumed = run_cli(settings, "pipelines", "resume", run_id, "--json")

    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "finished"
    tasks = records.tasks(run_id)
    assert [t.status for t in tasks] == ["done"] * 20
    calls = Counter(line.split()[0] for line in log.read_text().splitlines())
    assert set(calls) == {f"s{i}" for i in range(20)}
    assert all(calls[name] == 1 for name in completed)  # none ran again
    assert sum(calls.values()) <= 21  # at most the step in flight at the kill ran twice
    client = TrackingClient(store)
    assert [load_output(run_id, t.name, client=client) for t in tasks] == [
        f"s{i}" for i in range(20)
    ]
    assert client.get_run(run_id).status == "finished"
    # Each task has one stored output; attempts cut off by the kill are marked lost.
    statuses = Counter(a.status for t in tasks for a in t.attempts)
    assert statuses["ok"] == 20
    assert set(statuses) <= {"ok", "lost"}


def test_cancel_stops_a_running_pipeline(store: Store, settings: Settings, tmp_path: Path) -> None:
    records = store.pipelines
    driver = subprocess.Popen(
        mlpilot(
            settings,
            "pipelines",
            "run",
            f"{FLOWS}:chain",
            "--param",
            f"log={tmp_path / 'calls.log'}",
            "--param",
            "seconds=1",
            "--json",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    run_id = wait_for(lambda: the_only_run(records), "the run to start")
    wait_for(lambda: any(t.status == "running" for t in records.tasks(run_id)), "a task to start")

    cancelled = run_cli(settings, "pipelines", "cancel", run_id[:8])

    assert cancelled.returncode == 0, cancelled.stderr
    out, _ = driver.communicate(timeout=60)
    assert driver.returncode == 1
    assert json.loads(out)["status"] == "killed"
    statuses = Counter(t.status for t in records.tasks(run_id))
    assert statuses["cancelled"] >= 18 and statuses["done"] <= 2
    assert TrackingClient(store).get_run(run_id).status == "killed"
    again = run_cli(settings, "pipelines", "cancel", run_id)
    assert again.returncode == 2
    assert "is not running (it is killed)" in again.stderr


def test_ctrl_c_names_the_run_and_how_to_resume_it_and_the_pause_does_not_count(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    records = store.pipelines
    driver = subprocess.Popen(
        mlpilot(
            settings,
            "pipelines",
            "run",
            f"{FLOWS}:chain",
            "--param",
            f"log={tmp_path / 'calls.log'}",
            "--param",
            "length=3",
            "--param",
            "seconds=1",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        # As from a terminal: a test runner started in the background ignores SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    run_id = wait_for(lambda: the_only_run(records), "the run to start")
    wait_for(lambda: any(t.status == "running" for t in records.tasks(run_id)), "a task to start")

    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=60)

    assert driver.returncode == 130, err
    assert f"run {run_id}" in err
    assert f"mlpilot pipelines resume {run_id}" in err
    assert TrackingClient(store).get_run(run_id).status == "killed"
    time.sleep(1)  # the run stays stopped a while before it is resumed
    resumed = run_cli(settings, "pipelines", "resume", run_id[:8], "--json")
    assert resumed.returncode == 0, resumed.stderr
    (stopped,) = [t for t in records.tasks(run_id) if len(t.attempts) > 1]
    first, second = stopped.attempts
    assert (first.status, second.status) == ("cancelled", "ok")
    assert first.end_ms is not None and second.end_ms is not None and stopped.end_ms is not None
    assert stopped.start_ms is not None and stopped.seconds is not None
    pause_ms = second.start_ms - first.end_ms
    assert pause_ms >= 1000
    # The task's time is its attempts' time; the pause between them is not in it.
    ran_ms = (first.end_ms - first.start_ms) + (second.end_ms - second.start_ms)
    assert stopped.seconds == ran_ms / 1000
    assert stopped.seconds * 1000 <= stopped.end_ms - stopped.start_ms - pause_ms


MODULE = """
from mlpilot import pipeline, step

def helper(x):
    return x + {increment}

def unrelated():
    return {unrelated}

@step
def compute(x, labels):
    return helper(x)

@pipeline
def flow(x: int = 1):
    # A set argument pickles in an order that differs from process to process.
    return compute(x, {{"red", "green", "blue", "cyan", "black"}})
"""


def test_changing_only_a_helper_function_invalidates_the_cache(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "flow_module.py"
    client = TrackingClient(store)

    def run(increment: int, unrelated: int) -> tuple[str, Any]:
        source.write_text(textwrap.dedent(MODULE.format(increment=increment, unrelated=unrelated)))
        done = run_cli(settings, "pipelines", "run", f"{source}:flow", "--json")
        assert done.returncode == 0, done.stderr
        run_id = json.loads(done.stdout)["run_id"]
        task = store.pipelines.tasks(run_id)[0]
        return task.status, load_output(run_id, "compute", client=client)

    assert run(increment=1, unrelated=0) == ("done", 2)
    assert run(increment=1, unrelated=0) == ("cached", 2)
    assert run(increment=1, unrelated=7) == ("cached", 2)  # not called by the step
    assert run(increment=5, unrelated=7) == ("done", 6)


SCRIPT_WITHOUT_GUARD = """
from mlpilot import pipeline, step

@step
def one():
    return 1

@pipeline
def flow():
    return one()

print("ended", flow.run().status)
"""


def test_a_script_that_runs_a_pipeline_without_a_main_guard_fails_clearly(
    tmp_path: Path,
) -> None:
    # Worker processes import the script; without the guard each would run it again.
    script = tmp_path / "no_guard.py"
    script.write_text(SCRIPT_WITHOUT_GUARD)

    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )

    assert "ended failed" in done.stdout
    assert 'put the call under `if __name__ == "__main__":`' in done.stderr
