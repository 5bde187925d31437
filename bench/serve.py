"""Serving benchmark: ``mlpilot serve`` against ``mlflow models serve`` and the raw floor.

The model is the lifecycle example's logistic regression,
``make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))``, fitted on all of
scikit-learn's breast-cancer data (569 rows, 30 numeric columns). Every request is the
same one row, sent as JSON records. What is measured:

1. **floor**: ``model.predict`` of that one-row DataFrame in this process, the median
   (p50) of 2,000 calls: the part of a request that is the model's own work.
2. **mlpilot, batching on**: ``mlpilot serve NAME@champion`` on a fresh store in a
   temporary folder, the model logged with ``run.log_model`` and registered with the
   alias ``champion``. At concurrency 1 its p50 latency less the floor's p50 is the
   server's overhead (``overhead_p50_ms``), and the server's own metrics say how much
   of a request was the model's predict in the worker and how much the trip to the
   worker and back (``mlpilot_worker_predict_ms_1``, ``mlpilot_worker_trip_ms_1``);
   at concurrency 64 its throughput and its p99 latency (``p99_ms_64``).
3. **mlpilot, batching off** (``--no-batching``: every request is its own predict
   call) at concurrency 64: ``batching_throughput_ratio`` is the batched throughput
   over this one.
4. **MLflow**: the same pipeline fitted on the same data in ``bench/.venv-mlflow``
   (created on first use, as ``bench/tracking.py`` does), saved with
   ``mlflow.sklearn.save_model`` as mlpilot's side logs it, without a signature
   (``--mlflow-signature`` adds one, which MLflow then checks every request against,
   at a cost of several ms a request), served by
   ``mlflow models serve --env-manager local`` with its default worker count (1
   uvicorn worker), at concurrency 1 and 64, and once more with ``--workers 2`` at
   concurrency 64. The better of the two at concurrency 64 is the one compared:
   ``vs_mlflow_throughput_ratio`` is mlpilot's throughput over MLflow's,
   ``vs_mlflow_p99_ratio`` mlpilot's p99 over MLflow's (below 1: mlpilot's is lower).

The load comes from ``bench/_loadgen.py``, a process of its own: closed-loop clients on
raw keep-alive HTTP/1.1 connections, one each, every client sending its next request
as soon as the previous answer is in. Each load runs a warm-up (not counted), then the
measured seconds. Before any load, one request checks that the server predicts what
the model predicts in this process.

On a machine with two or more cores the load generator is pinned to the last core and
the servers to the others (``--no-pin`` leaves both free), so that client and server
never take turns on one core. Every server runs as a subprocess on a free port of
127.0.0.1, is waited for through its readiness endpoint, and is stopped with its whole
process group whatever happens.

Usage::

    python bench/serve.py [--quick] [--duration S] [--skip-mlflow] [--skip-mlpilot]
                          [--max-batch N] [--mlflow-workers N] [--mlflow-signature]
                          [--no-pin] [--check]

The result table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from _common import (
    BENCH_DIR,
    Row,
    ensure_venv,
    err_console,
    fmt_rate,
    fmt_ratio,
    print_json_line,
    print_table,
    run_worker,
    say,
)

MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
MLFLOW_PACKAGES = ["mlflow", "scikit-learn"]
MLFLOW_SERVE = BENCH_DIR / "_mlflow_serve.py"
LOADGEN = BENCH_DIR / "_loadgen.py"
MODEL_NAME = "bench-cancer"

TARGET_OVERHEAD_P50_MS = 1.0
TARGET_BATCHING_RATIO = 5.0
TARGET_P99_MS_64 = 50.0
TARGET_VS_MLFLOW_THROUGHPUT = 3.0

# Nothing may leave the machine: MLflow's usage reporting stays off.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclasses.dataclass(frozen=True)
class Plan:
    warmup_s: float
    duration_s: float
    floor_calls: int
    low_concurrency: int = 1
    high_concurrency: int = 64
    ready_timeout_s: float = 180.0


FULL = Plan(warmup_s=3.0, duration_s=15.0, floor_calls=2_000)
QUICK = Plan(warmup_s=1.0, duration_s=4.0, floor_calls=500)


@dataclasses.dataclass(frozen=True)
class Cpus:
    """Where the load generator and the servers run; ``None``: anywhere."""

    client: int | None
    servers: frozenset[int] | None

    @classmethod
    def split(cls, pin: bool) -> Cpus:
        available = sorted(os.sched_getaffinity(0))
        if not pin or len(available) < 2:
            return cls(None, None)
        return cls(available[-1], frozenset(available[:-1]))

    def describe(self) -> str:
        total = len(os.sched_getaffinity(0))
        if self.client is None or self.servers is None:
            return f"client and server unpinned on {total} core(s)"
        servers = ",".join(str(c) for c in sorted(self.servers))
        return (
            f"load generator pinned to core {self.client}, server(s) to core(s) {servers} "
            f"of {total}"
        )


# --------------------------------------------------------------------------- data


def fit_model() -> tuple[Any, Any]:
    """The lifecycle example's pipeline fitted on all the data, and the features."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return model.fit(X, y), X


def one_row(X: Any) -> dict[str, float]:
    """The request's row: the first one of the data, column name to value."""
    return {str(column): float(value) for column, value in X.iloc[0].items()}


def measure_floor(model: Any, X: Any, calls: int) -> dict[str, float]:
    """Latency of ``model.predict`` on the one-row DataFrame in this process, in ms."""
    frame = X.iloc[[0]]
    for _ in range(max(50, calls // 20)):
        model.predict(frame)
    clock = time.perf_counter_ns
    times = []
    for _ in range(calls):
        start = clock()
        model.predict(frame)
        times.append(clock() - start)
    times.sort()
    return {
        "p50_ms": statistics.median(times) / 1e6,
        "p99_ms": times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] / 1e6,
        "calls": calls,
    }


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return text[-limit:].strip() or "(no output)"


def _get_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def post_json(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")[:1000]


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """Stop ``proc`` and every process of its group (workers it started)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left of the group (the leader, or workers it did not wait for).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def running_server(
    label: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    ready_url: str,
    log_path: Path,
    timeout_s: float,
    cpus: frozenset[int] | None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in a process group of its own, wait until ``ready_url`` answers
    200, and stop the whole group on the way out."""

    def pin() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    log: IO[bytes]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=pin if cpus is not None else None,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{label} exited with status {proc.returncode} before it was ready.\n"
                        f"command: {' '.join(command)}\n--- its output (tail) ---\n"
                        f"{_tail(log_path)}"
                    )
                if _get_status(ready_url) == 200:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{label} was not ready at {ready_url} after {timeout_s:.0f} s.\n"
                        f"command: {' '.join(command)}\n--- its output (tail) ---\n"
                        f"{_tail(log_path)}"
                    )
                time.sleep(0.1)
            yield proc
        finally:
            _stop(proc)


# --------------------------------------------------------------------------- load


class Bench:
    """Runs the load generator against servers, with a progress display on stderr."""

    def __init__(self, plan: Plan, cpus: Cpus, progress: Progress, total_steps: int) -> None:
        self.plan = plan
        self.cpus = cpus
        self.progress = progress
        self.steps = progress.add_task("steps", total=total_steps)
        self.load_task = progress.add_task("load", total=plan.warmup_s + plan.duration_s)

    def step(self, description: str) -> None:
        self.progress.update(self.steps, description=description)

    def done_step(self) -> None:
        self.progress.advance(self.steps)

    def load(
        self, label: str, url: str, body_file: Path, concurrency: int, expect: str
    ) -> dict[str, Any]:
        plan = self.plan
        command = [
            sys.executable,
            str(LOADGEN),
            "--url",
            url,
            "--body-file",
            str(body_file),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(plan.duration_s),
            "--warmup",
            str(plan.warmup_s),
            "--expect",
            expect,
        ]
        if self.cpus.client is not None:
            command += ["--cpu", str(self.cpus.client)]
        total = plan.warmup_s + plan.duration_s
        self.progress.reset(self.load_task, total=total)
        self.progress.update(
            self.load_task, description=f"  {label}: {concurrency} client(s)", visible=True
        )
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    self.progress.update(
                        self.load_task, completed=min(total, time.monotonic() - start)
                    )
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.progress.update(self.load_task, completed=total, visible=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"the load generator failed for {label} (exit {proc.returncode}):\n{err[-3000:]}"
            )
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result.pop("first_body", None)
        if result["ok"] == 0:
            raise RuntimeError(f"{label}: no good answer under load; errors {result['errors']}")
        errors = sum(result["errors"].values())
        note = f", errors {result['errors']}" if errors else ""
        say(
            label.split(" ", 1)[0],
            f"{label} c={concurrency}: {result['throughput_rps']:,.0f} req/s, "
            f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms{note}",
        )
        return result


def check_prediction(label: str, url: str, body: bytes, expected: Sequence[Any]) -> None:
    """One request before any load: the server must answer what the model predicts."""
    status, answer = post_json(url, body)
    if status != 200:
        raise RuntimeError(f"{label} answered {status} to the request: {answer}")
    got = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(got, list) or [float(v) for v in got] != [float(v) for v in expected]:
        raise RuntimeError(f"{label} predicted {got!r}, the model in this process {expected!r}")


# --------------------------------------------------------------------------- mlpilot


def prepare_mlpilot(home: Path, model: Any) -> dict[str, str]:
    """Log and register ``model`` as ``MODEL_NAME@champion`` in a store under ``home``;
    return the environment that points a server at that store."""
    from mlpilot.registry import ModelRegistry
    from mlpilot.tracking import TrackingClient

    store_uri = f"sqlite:///{home / 'mlpilot.db'}"
    artifacts_uri = (home / "artifacts").as_uri()
    client = TrackingClient(home=home, store_uri=store_uri, artifacts_uri=artifacts_uri)
    with client.create_run("bench-serve", name="logistic-regression") as run:
        run.log_model(model)
    registry = ModelRegistry(client)
    registry.create_model(MODEL_NAME, description="breast cancer, logistic regression")
    version = registry.register(MODEL_NAME, run.id)
    registry.set_alias(MODEL_NAME, "champion", version.version)
    say("mlpilot", f"registered {MODEL_NAME} version {version.version} as champion")
    return {
        "MLPILOT_HOME": str(home),
        "MLPILOT_STORE_URI": store_uri,
        "MLPILOT_ARTIFACTS_URI": artifacts_uri,
    }


def bench_mlpilot(
    bench: Bench,
    workdir: Path,
    store_env: Mapping[str, str],
    body_file: Path,
    expected: Sequence[Any],
    max_batch: int | None,
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    env.update(store_env)
    executable = Path(sys.executable).parent / "mlpilot"
    body = body_file.read_bytes()
    plan = bench.plan
    results: dict[str, Any] = {}
    for batching in (True, False):
        port = free_port()
        command = [
            str(executable),
            "serve",
            f"{MODEL_NAME}@champion",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if max_batch is not None:
            command += ["--max-batch", str(max_batch)]
        if not batching:
            command.append("--no-batching")
        label = "mlpilot" if batching else "mlpilot --no-batching"
        bench.step(f"starting {label}")
        url = f"http://127.0.0.1:{port}/models/{MODEL_NAME}/predict"
        with running_server(
            label,
            command,
            env=env,
            cwd=workdir,
            ready_url=f"http://127.0.0.1:{port}/v2/health/ready",
            log_path=workdir / f"server-{'batched' if batching else 'unbatched'}.log",
            timeout_s=plan.ready_timeout_s,
            cpus=bench.cpus.servers,
        ):
            check_prediction(label, url, body, expected)
            if batching:
                bench.step(f"{label}: concurrency {plan.low_concurrency}")
                metrics_url = f"http://127.0.0.1:{port}/metrics"
                before = worker_seconds(metrics_url)
                results["c1"] = bench.load(
                    label, url, body_file, plan.low_concurrency, "predictions"
                )
                results["c1_worker"] = worker_seconds(metrics_url, since=before)
                bench.done_step()
            bench.step(f"{label}: concurrency {plan.high_concurrency}")
            results["c64" if batching else "nobatch_c64"] = bench.load(
                label, url, body_file, plan.high_concurrency, "predictions"
            )
            bench.done_step()
    return results


def worker_seconds(metrics_url: str, since: Mapping[str, float] | None = None) -> dict[str, float]:
    """The server's own account of its batches (from ``/metrics``): their count, the
    seconds spent predicting in the worker, and the seconds from sending them to
    having their answers; with ``since``, only what was added after it was read."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    wanted = {
        "mlpilot_serve_predict_seconds_count": "batches",
        "mlpilot_serve_predict_seconds_sum": "predict_s",
        "mlpilot_serve_batch_seconds_sum": "trip_s",
    }
    found = dict.fromkeys(wanted.values(), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                found[wanted[sample.name]] += sample.value
    return {k: v - (since or {}).get(k, 0.0) for k, v in found.items()}


# --------------------------------------------------------------------------- MLflow


def mlflow_env(python: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_MODELS_WORKERS"}
    env.update(QUIET_ENV)
    # `mlflow models serve` starts `uvicorn` by name: the side venv's must come first.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def prepare_mlflow(workdir: Path, row_file: Path, signature: bool) -> tuple[Path, dict[str, Any]]:
    python = ensure_venv(MLFLOW_VENV, MLFLOW_PACKAGES, "mlflow, sklearn")
    info = run_worker(
        python,
        MLFLOW_SERVE,
        ["--model-dir", str(workdir / "mlflow-model"), "--row-file", str(row_file)]
        + (["--signature"] if signature else []),
        env=QUIET_ENV,
        status="MLflow: fitting and saving the model",
    )
    return python, info


def bench_mlflow(
    bench: Bench,
    workdir: Path,
    python: Path,
    info: Mapping[str, Any],
    body_file: Path,
    expected: Sequence[Any],
    extra_workers: int,
) -> dict[str, Any]:
    env = mlflow_env(python)
    body = body_file.read_bytes()
    plan = bench.plan
    results: dict[str, Any] = {}
    for workers in (None, extra_workers) if extra_workers else (None,):
        port = free_port()
        command = [
            str(python.parent / "mlflow"),
            "models",
            "serve",
            "-m",
            str(info["model_dir"]),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if workers is not None:
            command += ["--workers", str(workers)]
        label = "mlflow" if workers is None else f"mlflow --workers {workers}"
        bench.step(f"starting {label}")
        url = f"http://127.0.0.1:{port}/invocations"
        with running_server(
            label,
            command,
            env=env,
            cwd=workdir,
            ready_url=f"http://127.0.0.1:{port}/ping",
            log_path=workdir / f"mlflow-{workers or 'default'}.log",
            timeout_s=plan.ready_timeout_s,
            cpus=bench.cpus.servers,
        ):
            check_prediction(label, url, body, expected)
            if workers is None:
                bench.step(f"{label}: concurrency {plan.low_concurrency}")
                results["c1"] = bench.load(
                    label, url, body_file, plan.low_concurrency, "predictions"
                )
                bench.done_step()
            bench.step(f"{label}: concurrency {plan.high_concurrency}")
            key = "c64" if workers is None else f"c64_workers{workers}"
            results[key] = bench.load(label, url, body_file, plan.high_concurrency, "predictions")
            bench.done_step()
    return results


# --------------------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f} ms"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _get(result: Mapping[str, Any] | None, key: str) -> Any:
    return None if result is None else result.get(key)


def build_report(
    plan: Plan,
    floor: Mapping[str, float],
    pilot: Mapping[str, Any] | None,
    flow: Mapping[str, Any] | None,
    flow_info: Mapping[str, Any] | None,
    extra_workers: int,
) -> tuple[list[Row], dict[str, Any]]:
    pilot = pilot or {}
    flow = flow or {}
    hi = plan.high_concurrency
    floor_p50 = floor["p50_ms"]

    p_c1, p_c64, p_nob = pilot.get("c1"), pilot.get("c64"), pilot.get("nobatch_c64")
    f_c1, f_default = flow.get("c1"), flow.get("c64")
    f_extra = flow.get(f"c64_workers{extra_workers}")
    # The better MLflow configuration at high concurrency is the one compared.
    f_c64, f_workers = f_default, 1
    if f_extra is not None and (
        f_default is None or f_extra["throughput_rps"] > f_default["throughput_rps"]
    ):
        f_c64, f_workers = f_extra, extra_workers

    # Where the overhead goes: the model's time in the worker, beside the floor, and the
    # trip to the worker and back.
    worker = pilot.get("c1_worker") or {}
    batches = worker.get("batches") or 0
    in_worker = worker["predict_s"] / batches * 1000 if batches else None
    trip = (worker["trip_s"] - worker["predict_s"]) / batches * 1000 if batches else None
    p_p50_1 = _get(p_c1, "p50_ms")
    f_p50_1 = _get(f_c1, "p50_ms")
    overhead = None if p_p50_1 is None else p_p50_1 - floor_p50
    f_overhead = None if f_p50_1 is None else f_p50_1 - floor_p50
    p_rps, f_rps = _get(p_c64, "throughput_rps"), _get(f_c64, "throughput_rps")
    p_p99, f_p99 = _get(p_c64, "p99_ms"), _get(f_c64, "p99_ms")
    nob_rps = _get(p_nob, "throughput_rps")
    batching_ratio = _ratio(p_rps, nob_rps)
    vs_rps = _ratio(p_rps, f_rps)
    vs_p99 = _ratio(p_p99, f_p99)

    def overhead_cell(over: float | None, p50: float | None) -> str:
        return "—" if over is None else f"{over:,.2f} ms (p50 {p50:,.2f})"

    p99_met: bool | None = None
    if p_p99 is not None:
        p99_met = p_p99 < TARGET_P99_MS_64 and (vs_p99 is None or vs_p99 < 1.0)
    vs_met = None if vs_rps is None else vs_rps >= TARGET_VS_MLFLOW_THROUGHPUT
    mlflow_cfg = (
        f" (MLflow: {f_workers} worker{'s' if f_workers != 1 else ''})" if f_c64 is not None else ""
    )
    rows = [
        Row(
            f"floor: model.predict(1 row) in process, p50 of {floor['calls']:,}",
            _ms(floor_p50),
            "(same)",
            "—",
            "—",
            None,
        ),
        Row(
            f"overhead p50 − floor, concurrency {plan.low_concurrency}",
            overhead_cell(overhead, p_p50_1),
            overhead_cell(f_overhead, f_p50_1),
            fmt_ratio(_ratio(overhead, f_overhead)),
            f"< {TARGET_OVERHEAD_P50_MS:g} ms",
            None if overhead is None else overhead < TARGET_OVERHEAD_P50_MS,
        ),
        Row(
            "  of which: predict in the worker (mean) / the trip to it and back",
            "—" if in_worker is None or trip is None else f"{in_worker:,.2f} / {trip:,.2f} ms",
            "",
            "",
            "",
            None,
        ),
        Row(
            f"throughput, concurrency {hi}{mlflow_cfg}",
            fmt_rate(p_rps, "req/s"),
            fmt_rate(f_rps, "req/s"),
            fmt_ratio(vs_rps),
            f"≥ {TARGET_VS_MLFLOW_THROUGHPUT:g}× MLflow",
            vs_met,
        ),
        Row(
            f"p99 latency, concurrency {hi}{mlflow_cfg}",
            _ms(p_p99),
            _ms(f_p99),
            fmt_ratio(vs_p99),
            f"< {TARGET_P99_MS_64:g} ms, below MLflow",
            p99_met,
        ),
        Row(
            f"batching off (--no-batching), concurrency {hi}",
            "—"
            if nob_rps is None
            else f"{fmt_rate(nob_rps, 'req/s')}, p99 {_ms(_get(p_nob, 'p99_ms'))}",
            "—",
            fmt_ratio(batching_ratio),
            f"batched ≥ {TARGET_BATCHING_RATIO:g}× unbatched",
            None if batching_ratio is None else batching_ratio >= TARGET_BATCHING_RATIO,
        ),
    ]
    if f_default is not None and f_extra is not None:
        for workers, result in ((1, f_default), (extra_workers, f_extra)):
            rows.append(
                Row(
                    f"  MLflow {workers} worker{'s' if workers != 1 else ''}, concurrency {hi}"
                    + (" (default)" if workers == 1 else ""),
                    "",
                    f"{fmt_rate(result['throughput_rps'], 'req/s')}, p99 {_ms(result['p99_ms'])}",
                    "",
                    "compared" if workers == f_workers else "",
                    None,
                )
            )

    def figures(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if result is None:
            return None
        keys = ("throughput_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms")
        out: dict[str, Any] = {k: _round(result[k], 4) for k in keys}
        out.update(requests=result["requests"], errors=result["errors"])
        return out

    met = [row.met for row in rows if row.met is not None]
    summary: dict[str, Any] = {
        "overhead_p50_ms": _round(overhead, 4),
        "batching_throughput_ratio": _round(batching_ratio, 3),
        "p99_ms_64": _round(p_p99, 4),
        "vs_mlflow_throughput_ratio": _round(vs_rps, 3),
        "vs_mlflow_p99_ratio": _round(vs_p99, 3),
        "floor_p50_ms": _round(floor_p50, 4),
        "floor_p99_ms": _round(floor["p99_ms"], 4),
        "mlpilot_p50_ms_1": _round(p_p50_1, 4),
        "mlpilot_worker_predict_ms_1": _round(in_worker, 4),
        "mlpilot_worker_trip_ms_1": _round(trip, 4),
        "mlpilot_p99_ms_1": _round(_get(p_c1, "p99_ms"), 4),
        "mlpilot_rps_1": _round(_get(p_c1, "throughput_rps"), 1),
        "mlpilot_rps_64": _round(p_rps, 1),
        "mlpilot_p50_ms_64": _round(_get(p_c64, "p50_ms"), 4),
        "mlpilot_p99_ms_64": _round(p_p99, 4),
        "mlpilot_nobatch_rps_64": _round(nob_rps, 1),
        "mlpilot_nobatch_p50_ms_64": _round(_get(p_nob, "p50_ms"), 4),
        "mlpilot_nobatch_p99_ms_64": _round(_get(p_nob, "p99_ms"), 4),
        "mlflow_overhead_p50_ms": _round(f_overhead, 4),
        "mlflow_p50_ms_1": _round(f_p50_1, 4),
        "mlflow_p99_ms_1": _round(_get(f_c1, "p99_ms"), 4),
        "mlflow_rps_1": _round(_get(f_c1, "throughput_rps"), 1),
        "mlflow_rps_64": _round(f_rps, 1),
        "mlflow_p50_ms_64": _round(_get(f_c64, "p50_ms"), 4),
        "mlflow_p99_ms_64": _round(f_p99, 4),
        "mlflow_workers_compared": f_workers if f_c64 is not None else None,
        "mlflow_workers_default": _get(flow_info, "default_workers"),
        "mlflow_default_rps_64": _round(_get(f_default, "throughput_rps"), 1),
        "mlflow_default_p99_ms_64": _round(_get(f_default, "p99_ms"), 4),
        f"mlflow_workers{extra_workers}_rps_64": _round(_get(f_extra, "throughput_rps"), 1),
        f"mlflow_workers{extra_workers}_p99_ms_64": _round(_get(f_extra, "p99_ms"), 4),
        "mlflow_version": _get(flow_info, "mlflow_version"),
        "mlflow_sklearn_version": _get(flow_info, "sklearn_version"),
        "mlflow_signature": _get(flow_info, "signature"),
        "mlflow_uvicorn_uvloop": _get(flow_info, "uvloop"),
        "mlflow_uvicorn_httptools": _get(flow_info, "httptools"),
        "runs": {
            "mlpilot_c1": figures(p_c1),
            "mlpilot_c64": figures(p_c64),
            "mlpilot_nobatch_c64": figures(p_nob),
            "mlflow_c1": figures(f_c1),
            "mlflow_c64": figures(f_default),
            f"mlflow_workers{extra_workers}_c64": figures(f_extra),
        },
        "errors_under_load": {
            name: result["errors"]
            for name, result in (
                ("mlpilot_c1", p_c1),
                ("mlpilot_c64", p_c64),
                ("mlpilot_nobatch_c64", p_nob),
                ("mlflow_c1", f_c1),
                ("mlflow_c64", f_default),
                (f"mlflow_workers{extra_workers}_c64", f_extra),
            )
            if result is not None and result["errors"]
        },
        "targets_met": all(met) if met else None,
    }
    return rows, summary


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mlpilot serve benchmark against MLflow.")
    parser.add_argument("--quick", action="store_true", help="shorter loads, for a smoke run")
    parser.add_argument("--duration", type=float, help="measured seconds of each load")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave MLflow out")
    parser.add_argument("--skip-mlpilot", action="store_true", help="leave mlpilot serve out")
    parser.add_argument("--max-batch", type=int, help="passed to mlpilot serve --max-batch")
    parser.add_argument(
        "--mlflow-workers",
        type=int,
        default=2,
        help="also serve MLflow with this many workers at high concurrency (0: do not)",
    )
    parser.add_argument(
        "--mlflow-signature",
        action="store_true",
        help="save MLflow's model with an inferred signature, checked on every request",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin client and servers")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.duration is not None:
        if args.duration <= 0:
            parser.error("--duration must be positive")
        plan = dataclasses.replace(plan, duration_s=args.duration)
    extra_workers = max(0, args.mlflow_workers)
    if extra_workers == 1:
        extra_workers = 0  # 1 is the default, measured anyway
    cpus = Cpus.split(pin=not args.no_pin)

    import sklearn

    import mlpilot

    model, X = fit_model()
    row = one_row(X)
    expected = model.predict(X.iloc[[0]]).tolist()

    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-serve-") as tmp:
        workdir = Path(tmp)
        row_file = workdir / "row.json"
        row_file.write_text(json.dumps(row), encoding="utf-8")
        pilot_body = workdir / "mlpilot-body.json"
        pilot_body.write_text(json.dumps({"records": [row]}), encoding="utf-8")
        flow_body = workdir / "mlflow-body.json"
        flow_body.write_text(json.dumps({"dataframe_records": [row]}), encoding="utf-8")

        # Everything that may show a live display of its own comes before the progress.
        store_env = None if args.skip_mlpilot else prepare_mlpilot(workdir / ".mlpilot", model)
        flow_python, flow_info = (None, None)
        if not args.skip_mlflow:
            flow_python, flow_info = prepare_mlflow(workdir, row_file, args.mlflow_signature)
            if flow_info["prediction"] != expected:
                raise RuntimeError(
                    f"MLflow's model predicts {flow_info['prediction']} for the row, "
                    f"this process's {expected}"
                )
            say("mlflow", f"MLflow {flow_info['mlflow_version']}, model saved")

        floor = measure_floor(model, X, plan.floor_calls)
        say("floor", f"model.predict(1 row): p50 {floor['p50_ms']:.3f} ms")
        say("cpus", cpus.describe())

        steps = (0 if args.skip_mlpilot else 3) + (
            0 if args.skip_mlflow else 2 + (1 if extra_workers else 0)
        )
        pilot = flow = None
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as progress:
            bench = Bench(plan, cpus, progress, steps)
            progress.update(bench.load_task, visible=False)
            if store_env is not None:
                pilot = bench_mlpilot(
                    bench, workdir, store_env, pilot_body, expected, args.max_batch
                )
            if flow_python is not None and flow_info is not None:
                flow = bench_mlflow(
                    bench, workdir, flow_python, flow_info, flow_body, expected, extra_workers
                )

    rows, summary = build_report(plan, floor, pilot, flow, flow_info, extra_workers)
    summary.update(
        mlpilot_version=mlpilot.__version__,
        sklearn_version=sklearn.__version__,
        python=sys.version.split()[0],
        cpus=cpus.describe(),
        client_cpu=cpus.client,
        server_cpus=None if cpus.servers is None else sorted(cpus.servers),
        warmup_s=plan.warmup_s,
        duration_s=plan.duration_s,
        concurrency=[plan.low_concurrency, plan.high_concurrency],
        max_batch=args.max_batch,
        skipped=[
            name
            for name, skip in (("mlpilot", args.skip_mlpilot), ("mlflow", args.skip_mlflow))
            if skip
        ],
        quick=args.quick,
    )
    title = "mlpilot serve vs MLflow models serve (1-row requests)" + (
        " — quick" if args.quick else ""
    )
    caption = (
        f"The load generator is a separate process holding one of the machine's "
        f"{len(os.sched_getaffinity(0))} cores ({cpus.describe()}); closed loop, keep-alive "
        f"HTTP/1.1, {plan.warmup_s:g} s warm-up then {plan.duration_s:g} s measured per load."
    )
    if flow is not None:
        caption += (
            f" MLflow {summary['mlflow_version']}: model saved "
            f"{'with' if summary['mlflow_signature'] else 'without'} a signature, scoring "
            f"server with its default worker count ({summary['mlflow_workers_default'] or '?'})"
            + (f" and with {extra_workers}; the better is compared" if extra_workers else "")
            + "."
        )
    if summary["errors_under_load"]:
        caption += f" Errors under load: {summary['errors_under_load']}."
    print_table(title, rows, caption=caption)
    print_json_line(summary)
    return 1 if args.check and summary["targets_met"] is False else 0


if __name__ == "__main__":
    sys.exit(main())
