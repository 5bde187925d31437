"""The closed loop, unattended: how long from a real shift to a healed model, and how
often it acts when nothing happened.

Two scenarios on data that ships with scikit-learn, each on a fresh store:

* ``breast-cancer``: a scanner recalibration, the features measuring size read 30%
  larger (``examples/closed_loop.py``'s shift);
* ``digits`` (10 classes, 64 pixel columns): a firmware change shifts every image one
  pixel to the right.

Each run trains and promotes a champion (``bench/_loop_flows.py``: a scaled logistic
regression, registered with its data and promoted through the gate), creates a monitor
(windows of 100 rows; ``ks_p < 0.001`` over every feature, Benjamini–Hochberg corrected,
two windows in a row, retraining on the newest data), and starts ``mlpilot serve`` and
the loop runner as processes of their own. It replays 40 windows of unshifted traffic
with labels, then registers the shifted readings as the next data version and replays
shifted traffic until the server answers from a new version. No code of the bench runs
the monitor or the retrain: the runner does, which is

* **controller**: ``mlpilot controller --interval 1``;
* **cron** (the baseline a user has without it): ``mlpilot monitor run-once`` from a
  fresh process every 5 s, as a cron line (at its finest, a minute) would.

Measured per run, from the moment the shifted data version is registered: to the drift
alert (``shift_to_alert_s``), to the retrain starting (``shift_to_retrain_s``), to the
gate's decision (``shift_to_gate_s``) and to the first answer from the new version
(``shift_to_serving_s``); drift alerts in the 40 unshifted windows
(``false_alerts_40``); alias moves after the shift (``alias_moves_per_event``: one real
event, so the goal is exactly 1). Medians over the runs; the controller's figures are
the headline, the cron baseline's carry a ``cron_`` prefix.

Usage::

    python bench/loop.py [--reps N] [--scenario NAME ...]

The table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from _common import out_console, print_json_line, progress_bar, say
from serve import free_port

HERE = Path(__file__).resolve().parent
FLOWS = f"{HERE / '_loop_flows.py'}:retrain"
WINDOW = 100
ROWS_PER_REQUEST = 10
CALM_WINDOWS = 40
CRON_EVERY_S = 5.0
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str
    load: Callable[[], pd.DataFrame]
    shift: Callable[[pd.DataFrame], pd.DataFrame]


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


def _recalibrated(frame: pd.DataFrame) -> pd.DataFrame:
    shifted = frame.copy()
    for column in shifted.columns:
        if any(word in column for word in ("radius", "perimeter", "area")):
            shifted[column] = shifted[column] * 1.3
    return shifted


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    frame: pd.DataFrame = load_digits(as_frame=True).frame
    return frame


def _one_pixel_right(frame: pd.DataFrame) -> pd.DataFrame:
    pixels = [c for c in frame.columns if c.startswith("pixel_")]
    images = frame[pixels].to_numpy().reshape(-1, 8, 8)
    moved = np.zeros_like(images)
    moved[:, :, 1:] = images[:, :, :-1]
    shifted = frame.copy()
    shifted[pixels] = moved.reshape(-1, 64)
    return shifted


SCENARIOS = {
    "breast-cancer": Scenario("breast-cancer", "target", _breast_cancer, _recalibrated),
    "digits": Scenario("digits", "target", _digits, _one_pixel_right),
}


class Served:
    """``mlpilot serve MODEL@champion`` in a process of its own."""

    def __init__(self, model: str, env: dict[str, str], logs: Path) -> None:
        self.model = model
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.process = mlpilot(
            ["serve", f"{model}@champion", "--port", port, "--log-sample", "1"], env, logs
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start; see {logs}") from None
                time.sleep(0.3)

    def predict(self, rows: pd.DataFrame) -> dict[str, Any]:
        body = json.dumps({"records": rows.to_dict(orient="records")}).encode()
        request = urllib.request.Request(
            f"{self.url}/models/{self.model}/predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            found: dict[str, Any] = json.loads(answer.read())
        return found


def mlpilot(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlpilot", *arguments],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115 - kept for the process's life
    )


class Cron:
    """``mlpilot monitor run-once`` from a fresh process every few seconds."""

    def __init__(self, monitor: str, env: dict[str, str], log: Path) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(monitor, env, log), daemon=True)
        self._thread.start()

    def _run(self, monitor: str, env: dict[str, str], log: Path) -> None:
        while not self._stop.wait(CRON_EVERY_S):
            mlpilot(["monitor", "run-once", monitor], env, log).wait()

    def terminate(self) -> None:
        self._stop.set()

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)


def replay(
    served: Served,
    monitors: Any,
    rows: pd.DataFrame,
    target: str,
    *,
    until: Callable[[dict[str, Any]], bool] | None = None,
    pause_s: float = 0.0,
) -> float | None:
    """Send ``rows`` (cycling through them while ``until`` is given and not yet true)
    with their labels a window at a time; the time ``until`` became true, if it did."""
    labels: dict[tuple[str, int], Any] = {}
    deadline = time.monotonic() + TIMEOUT_S
    position = 0
    while True:
        chunk = rows.iloc[position % len(rows) : position % len(rows) + ROWS_PER_REQUEST]
        position += ROWS_PER_REQUEST
        answer = served.predict(chunk.drop(columns=[target]))
        if until is not None and until(answer):
            return time.time()
        labels.update({(answer["id"], i): t for i, t in enumerate(chunk[target].tolist())})
        if position % WINDOW == 0:
            monitors.record_labels(served.model, labels)
            labels.clear()
            time.sleep(pause_s)
        if until is None and position >= len(rows):
            return None
        if time.monotonic() > deadline:
            raise RuntimeError("the loop did not heal in time")


def run_once(scenario: Scenario, runner: str, home: Path) -> dict[str, Any]:
    from mlpilot.monitor import Monitors
    from mlpilot.tracking import TrackingClient

    home.mkdir(parents=True)
    store_uri = f"sqlite:///{home / 'mlpilot.db'}"
    artifacts_uri = (home / "artifacts").as_uri()
    env = {
        **os.environ,
        "MLPILOT_HOME": str(home),
        "MLPILOT_STORE_URI": store_uri,
        "MLPILOT_ARTIFACTS_URI": artifacts_uri,
    }
    client = TrackingClient(home=home, store_uri=store_uri, artifacts_uri=artifacts_uri)
    frame = scenario.load()
    model = f"{scenario.name}-model"
    client.datasets.register(scenario.name, frame)
    params = {"dataset": scenario.name, "target": scenario.target, "model": model}
    train = [
        "pipelines",
        "run",
        FLOWS,
        *(f"--param={k}={json.dumps(v)}" for k, v in params.items()),
    ]
    if mlpilot(train, env, home / "train.log").wait() != 0:
        raise RuntimeError(f"training failed; see {home / 'train.log'}")
    monitors = Monitors(client)
    monitors.create(
        "loop",
        model=model,
        reference=f"{scenario.name}@v1",
        target=scenario.target,
        window_rows=WINDOW,
        tests=["ks"],
        rules=[
            {
                "name": "drift",
                "when": "ks_p < 0.001",
                "windows": 2,
                "actions": ["record", {"kind": "retrain", "pipeline": FLOWS, "params": params}],
            }
        ],
    )
    served = Served(model, env, home / "server.log")
    loop = (
        mlpilot(["controller", "--interval", "1", "--lease", "5"], env, home / "controller.log")
        if runner == "controller"
        else Cron("loop", env, home / "cron.log")
    )
    rng = np.random.default_rng(0)
    try:
        calm = frame.sample(CALM_WINDOWS * WINDOW, replace=True, random_state=rng.integers(1 << 31))
        replay(served, monitors, calm, scenario.target)
        deadline = time.monotonic() + TIMEOUT_S
        while len(monitors.windows("loop")) < CALM_WINDOWS:
            if time.monotonic() > deadline:
                raise RuntimeError("the runner did not evaluate the calm windows")
            time.sleep(0.5)
        false_alerts = sum(1 for a in monitors.alerts("loop") if a.rule == "drift")
        champion = served.predict(frame.head(1).drop(columns=[scenario.target]))["version"]
        shifted = scenario.shift(frame)
        shift_ms = int(time.time() * 1000)
        client.datasets.register(scenario.name, shifted)
        traffic = shifted.sample(frac=1.0, random_state=rng.integers(1 << 31))
        serving = replay(
            served,
            monitors,
            traffic,
            scenario.target,
            until=lambda answer: answer["version"] != champion,
            pause_s=0.2,
        )
    finally:
        loop.terminate()
        loop.wait(60)
        served.process.terminate()
        served.process.wait(60)
    events = [e for e in client.store.events.read() if e.ts_ms >= shift_ms]

    def first(kinds: tuple[str, ...], **payload: Any) -> float | None:
        for event in events:
            if event.kind in kinds and all(event.payload.get(k) == v for k, v in payload.items()):
                return (event.ts_ms - shift_ms) / 1000
        return None

    moves = [m for m in client.store.registry.moves(model) if m.ts_ms >= shift_ms]
    client.store.close()
    return {
        "shift_to_alert_s": first(("alert.raised",), rule="drift"),
        "shift_to_retrain_s": first(("alert.action",), action="retrain", status="running"),
        "shift_to_gate_s": first(("model.alias_promote", "model.promotion_refused")),
        "shift_to_serving_s": None if serving is None else serving - shift_ms / 1000,
        "false_alerts_40": false_alerts,
        "alias_moves_per_event": len(moves),
    }


KEYS = (
    "shift_to_alert_s",
    "shift_to_retrain_s",
    "shift_to_gate_s",
    "shift_to_serving_s",
    "false_alerts_40",
    "alias_moves_per_event",
)


def median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(statistics.median(present)), 2) if present else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs of each scenario and runner")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="(repeatable; all)"
    )
    args = parser.parse_args(argv)
    chosen = [SCENARIOS[name] for name in args.scenario or SCENARIOS]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    jobs = [(s, r, rep) for s in chosen for r in ("controller", "cron") for rep in range(args.reps)]
    with tempfile.TemporaryDirectory(prefix="mlpilot-loop-") as tmp, progress_bar() as progress:
        task = progress.add_task("runs", total=len(jobs))
        for scenario, runner, rep in jobs:
            progress.update(task, description=f"{scenario.name}, {runner}, run {rep + 1}")
            found = run_once(scenario, runner, Path(tmp) / f"{scenario.name}-{runner}-{rep}")
            say(runner, f"{scenario.name}: {found}")
            runs.setdefault((scenario.name, runner), []).append(found)
            progress.advance(task)

    table = Table(title=f"Shift to healed model, median of {args.reps} unattended runs")
    for column in ("scenario", "runner", "alert s", "retrain s", "gate s", "serving s"):
        table.add_column(column, justify="left" if column in ("scenario", "runner") else "right")
    table.add_column("false alerts / 40", justify="right")
    table.add_column("alias moves / event", justify="right")
    figures: dict[str, Any] = {"reps": args.reps, "scenarios": {}}
    for (name, runner), found in runs.items():
        medians = {key: median([run[key] for run in found]) for key in KEYS}
        figures["scenarios"].setdefault(name, {})[runner] = medians | {"runs": found}
        table.add_row(
            name, runner, *("—" if medians[k] is None else f"{medians[k]:g}" for k in KEYS)
        )
    out_console.print(table)
    for runner, prefix in (("controller", ""), ("cron", "cron_")):
        for key in KEYS:
            figures[prefix + key] = median(
                [r[key] for (_, n), found in runs.items() if n == runner for r in found]
            )
    if figures["shift_to_serving_s"] and figures["cron_shift_to_serving_s"]:
        figures["serving_vs_cron"] = round(
            figures["shift_to_serving_s"] / figures["cron_shift_to_serving_s"], 3
        )
    print_json_line(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
