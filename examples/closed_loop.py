"""The closed loop: a served champion, drift in its traffic, and the platform healing it.

1. The lifecycle pipeline (``examples/lifecycle.py``) trains and promotes a champion on
   the breast-cancer data, version 1 of the dataset.
2. A monitor watches the champion's prediction log against version 1: windows of 100
   rows, PSI and KS on every feature, and a rule that retrains when PSI passes 0.5 on
   any feature for two windows in a row.
3. ``mlpilot serve`` serves the champion and ``mlpilot controller`` runs the monitor
   on its own, every second; traffic is replayed through the server, with labels
   arriving after the answers. Half-way, the scanner is recalibrated: size features
   read 30% larger, and the new readings are registered as version 2 of the data.
4. The monitor raises the alert; its action runs the ``retrain`` pipeline on the newest
   version, which evaluates the new model against the champion and promotes it only
   through the gate; the server sees the alias move and swaps to the new version, the
   controller writes the outcome back on the alert, and the monitor's reference moves
   to version 2, the data the new champion was trained on.

Nothing but the traffic and its labels comes from this script once the loop runs.

Everything happens in a store of its own (printed at the end), recorded as events:

    python examples/closed_loop.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

EXAMPLES = Path(__file__).resolve().parent
# Every client, the server, the pipeline's workers (which import this file again) and
# the retrain share one store of the scenario's own.
os.environ.setdefault(
    "MLPILOT_HOME",
    str(Path(".mlpilot-loop", datetime.now().strftime("%Y%m%d-%H%M%S")).absolute()),
)
HOME = Path(os.environ["MLPILOT_HOME"])

import mlpilot  # noqa: E402
from mlpilot.monitor import Monitors  # noqa: E402
from mlpilot.registry import CHAMPION, ModelRegistry  # noqa: E402

sys.path.insert(0, str(EXAMPLES))
import lifecycle  # noqa: E402

MONITOR = "cancer-drift"
WINDOW = 100
#: The recalibration: features measuring size read this much larger.
SCALE = 1.3
ROWS_PER_REQUEST = 10
console = Console()


def recalibrated(frame: pd.DataFrame) -> pd.DataFrame:
    sized = [c for c in frame.columns if any(w in c for w in ("radius", "perimeter", "area"))]
    drifted = frame.copy()
    drifted[sized] = drifted[sized] * SCALE
    return drifted


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(name: str, *arguments: str) -> subprocess.Popen[bytes]:
    """``mlpilot ARGUMENTS`` in a process of its own, its output in HOME/NAME.log."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlpilot", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=open(HOME / f"{name}.log", "w"),  # noqa: SIM115 - kept for the process's life
    )


class Server:
    """``mlpilot serve`` in a process of its own, following the champion alias."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = start(
            "server",
            "serve",
            f"{lifecycle.MODEL}@{CHAMPION}",
            "--port",
            str(port),
            "--log-sample",
            "1",
        )

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server stopped; see {HOME / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"the server did not start in {timeout_s:.0f} s")

    def predict(self, rows: pd.DataFrame) -> dict[str, Any]:
        body = json.dumps({"records": rows.to_dict(orient="records")}).encode()
        request = urllib.request.Request(
            f"{self.url}/models/{lifecycle.MODEL}/predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, Any] = json.loads(answer.read())
        return result

    def serving(self) -> int:
        with urllib.request.urlopen(f"{self.url}/models", timeout=5) as answer:
            return int(json.loads(answer.read())[0]["slots"][0]["version"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def replay(server: Server, monitors: Monitors, rows: pd.DataFrame) -> float:
    """Send ``rows`` through the server, a window's worth a second, and report their
    labels as they come; returns the share answered right."""
    right = 0
    labels: dict[tuple[str, int], Any] = {}
    for first in range(0, len(rows), ROWS_PER_REQUEST):
        chunk = rows.iloc[first : first + ROWS_PER_REQUEST]
        answer = server.predict(chunk.drop(columns=[lifecycle.TARGET]))
        truth = chunk[lifecycle.TARGET].tolist()
        right += sum(p == t for p, t in zip(answer["predictions"], truth, strict=True))
        labels.update({(answer["id"], i): t for i, t in enumerate(truth)})
        if (first + ROWS_PER_REQUEST) % WINDOW == 0:
            monitors.record_labels(lifecycle.MODEL, labels)
            labels.clear()
            time.sleep(1.0)
    return right / len(rows)


def wait_for(what: str, done: Callable[[], Any], timeout_s: float) -> Any:
    with Progress(
        SpinnerColumn(), TextColumn(what), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        progress.add_task(what)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = done()
            if value:
                return value
            time.sleep(1.0)
    raise SystemExit(f"timed out waiting: {what}")


def main() -> None:
    HOME.mkdir(parents=True, exist_ok=True)
    started_ms = int(time.time() * 1000)
    console.print(f"[bold]Closed loop[/bold] in {HOME}\n")

    console.print("1. Training the champion on version 1 of the data")
    run = lifecycle.lifecycle.run(
        {"families": ["logreg"], "trials": 6}, experiment=lifecycle.EXPERIMENT
    )
    if run.status != "finished":
        raise SystemExit(f"the lifecycle run {run.id} {run.status}")
    registry = ModelRegistry()
    champion = registry.resolve(f"{lifecycle.MODEL}@{CHAMPION}")
    reference = champion.dataset or f"{lifecycle.DATASET}@v1"
    console.print(f"   champion: version {champion.version}, trained on {reference}")

    monitors = Monitors()
    monitors.create(
        MONITOR,
        model=lifecycle.MODEL,
        reference=reference,
        target=lifecycle.TARGET,
        window_rows=WINDOW,
        psi_threshold=0.5,
        rules=[
            {
                "name": "drift",
                # Windows of 100 rows: PSI's noise alone reaches about 0.35 here.
                "when": "psi > 0.5",
                "windows": 2,
                "actions": [
                    "record",
                    {
                        "kind": "retrain",
                        "pipeline": f"{EXAMPLES / 'lifecycle.py'}:retrain",
                        "params": {"families": ["logreg"], "trials": 6},
                    },
                ],
            },
            {"name": "quality", "when": "accuracy < 0.85"},
        ],
    )
    console.print(f"2. Monitor {MONITOR}: windows of {WINDOW} rows against {reference}")

    server = Server(free_port())
    controller = start("controller", "controller", "--interval", "1", "--lease", "5")
    try:
        server.wait_ready()
        console.print(
            f"3. Serving {lifecycle.MODEL}@{CHAMPION} at {server.url}; the controller runs "
            "the monitor every second"
        )
        _, test = lifecycle.training_split(reference)
        before = replay(server, monitors, test.sample(300, replace=True, random_state=0))
        console.print(f"   before the recalibration: {before:.1%} answered right")

        frame = mlpilot.read_dataset(reference).to_pandas()
        drifted_ref = (
            mlpilot.TrackingClient().datasets.register(lifecycle.DATASET, recalibrated(frame)).ref
        )
        console.print(f"   the scanner is recalibrated; its readings are {drifted_ref}")
        _, drifted_test = lifecycle.training_split(drifted_ref)
        traffic = drifted_test.sample(300, replace=True, random_state=1)
        after = replay(server, monitors, traffic)
        console.print(f"   after: {after:.1%} answered right")

        def retrained() -> Any:
            for alert in monitors.alerts(MONITOR):
                for action in alert.actions:
                    if action.get("kind") == "retrain" and action.get("status") != "running":
                        return action
            return None

        action = wait_for("4. The alert's retrain runs and meets the gate", retrained, 900)
        console.print(f"4. Retrain: {action.get('detail') or action.get('status')}")
        new = registry.resolve(f"{lifecycle.MODEL}@{CHAMPION}").version
        if new != champion.version:
            wait_for(f"   the server swaps to version {new}", lambda: server.serving() == new, 120)
            answer = server.predict(drifted_test.drop(columns=[lifecycle.TARGET]).head(1))
            console.print(f"   the server answers from version {answer['version']}")
            wait_for(
                "   the monitor's reference follows the new champion",
                lambda: monitors.get(MONITOR).reference == drifted_ref,
                60,
            )
            console.print(f"   the monitor now compares traffic with {drifted_ref}")
    finally:
        controller.terminate()
        controller.wait(60)
        server.stop()

    windows = Table("window", "rows", "drifted columns", "accuracy", "alerts")
    raised: dict[int, list[str]] = {}
    for alert in monitors.alerts(MONITOR):
        raised.setdefault(alert.window_index, []).append(alert.rule)
    for window in monitors.windows(MONITOR):
        accuracy = window.performance.get("metrics", {}).get("accuracy")
        windows.add_row(
            str(window.index),
            str(window.rows),
            str(len(window.drifted_columns)),
            "—" if accuracy is None else f"{accuracy:.3f}",
            ", ".join(raised.get(window.index, [])),
        )
    console.print(windows)

    timeline = Table("after", "event", "about", "details", title="What happened")
    shown = ("rule", "window", "action", "status", "detail", "version", "previous", "load_s")
    for event in mlpilot.TrackingClient().store.events.read():
        if event.kind.startswith(
            ("alert.", "model.alias", "model.promotion", "serve.swapped", "serve.load_failed")
        ):
            details = ", ".join(f"{k}={event.payload[k]}" for k in shown if k in event.payload)
            timeline.add_row(
                f"{(event.ts_ms - started_ms) / 1000:.1f} s",
                event.kind,
                f"{event.object_type} {event.object_id}"[:32],
                details,
            )
    console.print(timeline)
    console.print(
        "\nLook closer (MLPILOT_HOME={home}):\n"
        "  mlpilot events --kind alert\n"
        f"  mlpilot monitor show {MONITOR}\n"
        "  mlpilot alerts list\n"
        f"  mlpilot models show {lifecycle.MODEL}\n"
        "  mlpilot pipelines list".format(home=HOME)
    )


if __name__ == "__main__":
    main()
