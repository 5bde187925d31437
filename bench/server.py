"""Server benchmark: mlpilot's client against ``mlpilot server``, beside MLflow's client
against ``mlflow server``, both on SQLite over loopback, in one run.

Workloads, the same shape on both sides:

* ``log_batch``: 50 calls of 1,000 points to one run through the Python client;
  points per second, checked by reading the history back.
* ``search_500``: 500 runs with 10 params and 10 metrics each, then one search
  returning a pandas DataFrame of all of them, best of 3; mlpilot also searches the
  same database locally (the floor a remote search is measured against).
* ``api_32``: 32 concurrent clients for 10 s, 16 searching (10 runs of the 500) and
  16 logging (10 points a call), each sending again as soon as its answer arrived
  (``_loadgen.py``, a process of its own per kind); p50 and p99 of each, in ms.
* ``log_metric`` (mlpilot only): 20,000 single points through ``run.log_metric``,
  which the client batches and sends in the background; the clock stops once the run
  has ended and every point is stored.
* ``lifecycle``: the README's lifecycle example (logreg, 3 trials) on a local store
  and against a server; the wall time of each and their ratio.

MLflow runs from its own virtual environment, ``bench/.venv-mlflow`` (shared with
``bench/tracking.py``), created on first use; ``--skip-mlflow`` leaves it out.

Usage::

    python bench/server.py [--skip-mlflow] [--skip-lifecycle]

The table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from _common import (
    BENCH_DIR,
    Row,
    best_of,
    ensure_venv,
    fmt_rate,
    fmt_ratio,
    fmt_seconds,
    print_json_line,
    print_table,
    run_worker,
    say,
)
from tracking import fill_search

MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
ROOT = BENCH_DIR.parent
BATCH_CALLS, BATCH_SIZE = 50, 1000
SEARCH_RUNS, SEARCH_REPEAT = 500, 3
LOG_METRIC_N = 20_000
LOAD_CLIENTS, LOAD_SECONDS = 32, 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(command: list[str], health: str, env: dict[str, str]) -> Iterator[None]:
    """Run a server until the block ends, once ``health`` answers 200."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {process.stderr.read()[-2000:]!r}")  # type: ignore[union-attr]
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer {health} within 2 minutes")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def load(url: str, body: dict[str, Any], clients: int, workdir: Path, name: str) -> Any:
    """Start ``_loadgen.py`` posting ``body`` to ``url``; the process, to wait for."""
    body_file = workdir / f"{name}.json"
    body_file.write_text(json.dumps(body))
    return subprocess.Popen(
        [
            sys.executable,
            str(BENCH_DIR / "_loadgen.py"),
            "--url",
            url,
            "--body-file",
            str(body_file),
            "--concurrency",
            str(clients),
            "--duration",
            str(LOAD_SECONDS),
            "--warmup",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def mixed_load(
    reads: tuple[str, dict[str, Any]], writes: tuple[str, dict[str, Any]], workdir: Path
) -> dict[str, float]:
    """Half the clients searching and half logging, at once; their latencies."""
    half = LOAD_CLIENTS // 2
    readers = load(*reads, half, workdir, "reads")
    writers = load(*writes, half, workdir, "writes")
    figures: dict[str, float] = {}
    for kind, process in (("read", readers), ("write", writers)):
        out, _ = process.communicate(timeout=LOAD_SECONDS + 120)
        result = json.loads(out.strip().splitlines()[-1])
        if result["ok"] == 0 or result["errors"]:
            raise RuntimeError(f"{kind} load failed: {result}")
        figures[f"{kind}_p50_ms"] = result["p50_ms"]
        figures[f"{kind}_p99_ms"] = result["p99_ms"]
        figures[f"{kind}_rps"] = result["throughput_rps"]
    figures["p99_ms"] = max(figures["read_p99_ms"], figures["write_p99_ms"])
    return figures


# --------------------------------------------------------------------------- mlpilot


def bench_mlpilot(workdir: Path) -> dict[str, Any]:
    import mlpilot
    from mlpilot.config import load_settings
    from mlpilot.store import Store
    from mlpilot.tracking import TrackingClient

    home = workdir / "mlpilot-server"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    mlpilot_cli = str(Path(sys.executable).parent / "mlpilot")
    command = [mlpilot_cli, "--home", str(home), "server", "--port", str(port)]
    result: dict[str, Any] = {}
    with running(command, f"{url}/api/v1/health", env):
        client = TrackingClient(Store(load_settings(home=str(workdir / "client"), store_uri=url)))
        run = client.create_run(experiment="bench", name="log_batch")
        client.log_batch(run.id, metrics=[("warm-up", 0.0, 0)])  # a first connection
        start = time.perf_counter()
        for call in range(BATCH_CALLS):
            base = call * BATCH_SIZE
            client.log_batch(
                run.id,
                metrics=[("loss", 1.0 / (base + j + 1), base + j) for j in range(BATCH_SIZE)],
            )
        result["log_batch_pts_s"] = BATCH_CALLS * BATCH_SIZE / (time.perf_counter() - start)
        run.end()
        if len(client.get_metric_history(run.id, "loss")) != BATCH_CALLS * BATCH_SIZE:
            raise RuntimeError("the server lost points of log_batch")
        say("mlpilot", f"log_batch {result['log_batch_pts_s']:,.0f} pts/s")

        with mlpilot.start_run(experiment="bench", name="log_metric", client=client) as run:
            start = time.perf_counter()
            for i in range(LOG_METRIC_N):
                run.log_metric("loss", 1.0 / (i + 1), step=i)
        result["log_metric_pts_s"] = LOG_METRIC_N / (time.perf_counter() - start)
        if len(client.get_metric_history(run.id, "loss")) != LOG_METRIC_N:
            raise RuntimeError("the server lost points of log_metric")
        say("mlpilot", f"log_metric {result['log_metric_pts_s']:,.0f} pts/s")

        fill_search(client, SEARCH_RUNS)
        rows: list[int] = []

        def search() -> None:
            rows.append(
                len(mlpilot.search_runs(experiment="search", max_results=1000, client=client))
            )

        result["search_s"] = best_of(search, SEARCH_REPEAT)
        if rows[-1] != SEARCH_RUNS:
            raise RuntimeError(f"the remote search found {rows[-1]} runs")
        local = TrackingClient(Store(load_settings(home=str(home))))
        result["local_search_s"] = best_of(
            lambda: mlpilot.search_runs(experiment="search", max_results=1000, client=local),
            SEARCH_REPEAT,
        )
        local.store.close()
        remote, local_s = fmt_seconds(result["search_s"]), fmt_seconds(result["local_search_s"])
        say("mlpilot", f"search {remote} (local {local_s})")

        target = client.create_run(experiment="load", name="target")
        load_result = mixed_load(
            (
                f"{url}/api/v1/tracking/search_runs",
                {"experiments": ["search"], "max_results": 10},
            ),
            (
                f"{url}/api/v1/tracking/log_batch",
                {"run_id": target.id, "metrics": [[f"m{k}", 0.5, 1] for k in range(10)]},
            ),
            workdir,
        )
        target.end()
        result.update({f"api_{key}": value for key, value in load_result.items()})
        say("mlpilot", f"32 clients: p99 {load_result['p99_ms']:.1f} ms")
        client.store.close()
    return result


# --------------------------------------------------------------------------- MLflow


def bench_mlflow(workdir: Path) -> dict[str, Any]:
    python = ensure_venv(MLFLOW_VENV, ["mlflow"], "mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    command = [
        str(python.parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        (workdir / "mlartifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with running(command, f"{url}/health", env):
        result = run_worker(
            python,
            BENCH_DIR / "_mlflow_remote.py",
            [
                "--url",
                url,
                "--batch-calls",
                str(BATCH_CALLS),
                "--batch-size",
                str(BATCH_SIZE),
                "--search-runs",
                str(SEARCH_RUNS),
                "--search-repeat",
                str(SEARCH_REPEAT),
            ],
            status="MLflow client against mlflow server",
        )
        run = httpx.post(
            f"{url}/api/2.0/mlflow/runs/create",
            json={"experiment_id": result["experiment_id"], "start_time": int(time.time() * 1000)},
        ).json()["run"]["info"]["run_id"]
        search_id = httpx.get(
            f"{url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "search"}
        ).json()["experiment"]["experiment_id"]
        now = int(time.time() * 1000)
        load_result = mixed_load(
            (
                f"{url}/api/2.0/mlflow/runs/search",
                {"experiment_ids": [search_id], "max_results": 10},
            ),
            (
                f"{url}/api/2.0/mlflow/runs/log-batch",
                {
                    "run_id": run,
                    "metrics": [
                        {"key": f"m{k}", "value": 0.5, "timestamp": now, "step": 1}
                        for k in range(10)
                    ],
                },
            ),
            workdir,
        )
        result.update({f"api_{key}": value for key, value in load_result.items()})
        say("mlflow", f"32 clients: p99 {load_result['p99_ms']:.1f} ms")
    return result


# --------------------------------------------------------------------------- lifecycle


def bench_lifecycle(workdir: Path) -> dict[str, float]:
    """Wall seconds of the lifecycle example on a local store and against a server."""
    command = [
        sys.executable,
        str(ROOT / "examples" / "lifecycle.py"),
        "--trials",
        "3",
        "--families",
        "logreg",
    ]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    times: dict[str, float] = {}
    local_dir = workdir / "lifecycle-local"
    local_dir.mkdir()
    start = time.perf_counter()
    subprocess.run(command, cwd=local_dir, env=base_env, check=True, capture_output=True)
    times["lifecycle_local_s"] = time.perf_counter() - start
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlpilot_cli = str(Path(sys.executable).parent / "mlpilot")
    server = [
        mlpilot_cli,
        "--home",
        str(workdir / "lifecycle-server"),
        "server",
        "--port",
        str(port),
    ]
    remote_dir = workdir / "lifecycle-remote"
    remote_dir.mkdir()
    with running(server, f"{url}/api/v1/health", base_env):
        start = time.perf_counter()
        subprocess.run(
            command,
            cwd=remote_dir,
            env={**base_env, "MLPILOT_STORE_URI": url},
            check=True,
            capture_output=True,
        )
        times["lifecycle_remote_s"] = time.perf_counter() - start
    say(
        "lifecycle",
        f"local {times['lifecycle_local_s']:.1f} s, remote {times['lifecycle_remote_s']:.1f} s",
    )
    return times


# --------------------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-mlflow", action="store_true", help="leave MLflow out")
    parser.add_argument("--skip-lifecycle", action="store_true", help="leave the example out")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-server-") as tmp:
        work = Path(tmp)
        ours = bench_mlpilot(work)
        theirs = {} if args.skip_mlflow else bench_mlflow(work)
        lifecycle = {} if args.skip_lifecycle else bench_lifecycle(work)

    figures: dict[str, Any] = {
        "remote_log_batch_pts_s": round(ours["log_batch_pts_s"]),
        "mlflow_log_batch_pts_s": round(theirs["log_batch_pts_s"]) if theirs else None,
        "vs_mlflow_log_batch_ratio": _ratio(ours["log_batch_pts_s"], theirs.get("log_batch_pts_s")),
        "remote_log_metric_pts_s": round(ours["log_metric_pts_s"]),
        "remote_search_500_s": round(ours["search_s"], 4),
        "local_search_500_s": round(ours["local_search_s"], 4),
        "mlflow_search_500_s": round(theirs["search_s"], 4) if theirs else None,
        "vs_mlflow_search_ratio": _ratio(theirs.get("search_s"), ours["search_s"]),
        "remote_vs_local_search_ratio": _ratio(ours["search_s"], ours["local_search_s"]),
        "api_p99_ms_32": round(ours["api_p99_ms"], 1),
        "api_read_p99_ms_32": round(ours["api_read_p99_ms"], 1),
        "api_write_p99_ms_32": round(ours["api_write_p99_ms"], 1),
        "api_rps_32": round(ours["api_read_rps"] + ours["api_write_rps"]),
        "mlflow_api_p99_ms_32": round(theirs["api_p99_ms"], 1) if theirs else None,
        "mlflow_api_rps_32": round(theirs["api_read_rps"] + theirs["api_write_rps"])
        if theirs
        else None,
        **{key: round(value, 2) for key, value in lifecycle.items()},
        "lifecycle_remote_vs_local_ratio": _ratio(
            lifecycle.get("lifecycle_remote_s"), lifecycle.get("lifecycle_local_s")
        ),
    }
    ms = lambda value: "—" if value is None else f"{value:,.1f} ms"  # noqa: E731
    rows = [
        Row(
            f"log_batch ({BATCH_CALLS}×{BATCH_SIZE} points)",
            fmt_rate(figures["remote_log_batch_pts_s"]),
            fmt_rate(figures["mlflow_log_batch_pts_s"]),
            fmt_ratio(figures["vs_mlflow_log_batch_ratio"]),
            "≥ 50× MLflow",
            None if not theirs else figures["vs_mlflow_log_batch_ratio"] >= 50,
        ),
        Row(
            f"search {SEARCH_RUNS} runs × 20 values",
            fmt_seconds(figures["remote_search_500_s"]),
            fmt_seconds(figures["mlflow_search_500_s"]),
            fmt_ratio(figures["vs_mlflow_search_ratio"]),
            "≥ 10× faster",
            None if not theirs else figures["vs_mlflow_search_ratio"] >= 10,
        ),
        Row(
            "search, remote against local",
            fmt_seconds(figures["remote_search_500_s"]),
            fmt_seconds(figures["local_search_500_s"]) + " (local)",
            fmt_ratio(figures["remote_vs_local_search_ratio"]),
            "≤ 2× local",
            figures["remote_vs_local_search_ratio"] <= 2,
        ),
        Row(
            f"p99, {LOAD_CLIENTS} clients, reads + writes",
            ms(figures["api_p99_ms_32"]),
            ms(figures["mlflow_api_p99_ms_32"]),
            fmt_ratio(_ratio(figures["mlflow_api_p99_ms_32"], figures["api_p99_ms_32"])),
            "< 50 ms",
            figures["api_p99_ms_32"] < 50,
        ),
        Row(
            f"log_metric ({LOG_METRIC_N:,} points, batched)",
            fmt_rate(figures["remote_log_metric_pts_s"]),
            "—",
            "—",
            "",
            None,
        ),
    ]
    if lifecycle:
        rows.append(
            Row(
                "lifecycle example, remote vs local",
                fmt_seconds(figures["lifecycle_remote_s"]),
                fmt_seconds(figures["lifecycle_local_s"]) + " (local)",
                fmt_ratio(figures["lifecycle_remote_vs_local_ratio"]),
                "overhead",
                None,
            )
        )
    print_table("mlpilot server against mlflow server (SQLite, loopback)", rows)
    print_json_line(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
