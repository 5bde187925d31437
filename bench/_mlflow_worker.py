"""MLflow side of the tracking benchmark.

Runs inside the side environment ``bench/.venv-mlflow`` (see ``bench/tracking.py``),
against MLflow's SQLite backend in a temporary directory, and prints one JSON object
on stdout. Progress messages go to stderr.

Usage: python _mlflow_worker.py --workdir DIR --log-metric-n N --log-batch-calls C
       --batch-size B --search-runs R --search-repeat K
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from typing import Any

# No network here and nothing to report: keep MLflow from trying.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _say(message: str) -> None:
    print(f"mlflow   {message}", file=sys.stderr, flush=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def bench_log_metric(client: Any, experiment_id: str, n: int) -> float:
    """Points per second of ``mlflow.log_metric`` called ``n`` times in one run."""
    import mlflow

    run = mlflow.start_run(experiment_id=experiment_id, run_name="log_metric")
    try:
        start = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    finally:
        mlflow.end_run()
    elapsed = time.perf_counter() - start
    del client, run
    return n / elapsed


def bench_log_batch(client: Any, experiment_id: str, calls: int, batch_size: int) -> float:
    """Points per second of ``MlflowClient.log_batch`` with ``batch_size`` metrics a call."""
    from mlflow.entities import Metric

    run = client.create_run(experiment_id, run_name="log_batch")
    run_id = run.info.run_id
    start = time.perf_counter()
    for c in range(calls):
        ts = _now_ms()
        base = c * batch_size
        metrics = [Metric("loss", 1.0 / (base + j + 1), ts, base + j) for j in range(batch_size)]
        client.log_batch(run_id, metrics=metrics)
    elapsed = time.perf_counter() - start
    client.set_terminated(run_id)
    return calls * batch_size / elapsed


def bench_search(client: Any, n_runs: int, repeat: int) -> tuple[float, int]:
    """Best-of-``repeat`` seconds of ``mlflow.search_runs`` over ``n_runs`` runs, each
    with 10 params and 10 metrics; returns (seconds, rows returned)."""
    import mlflow
    from mlflow.entities import Metric, Param

    experiment_id = client.create_experiment("search")
    for r in range(n_runs):
        run_id = client.create_run(experiment_id, run_name=f"run-{r}").info.run_id
        ts = _now_ms()
        client.log_batch(
            run_id,
            metrics=[Metric(f"m{k}", r * 0.001 + k, ts, 0) for k in range(10)],
            params=[Param(f"p{k}", str(r * 10 + k)) for k in range(10)],
        )
        client.set_terminated(run_id)
    _say(f"created {n_runs} runs for search")

    best = float("inf")
    rows = 0
    for _ in range(repeat):
        start = time.perf_counter()
        df = mlflow.search_runs(experiment_ids=[experiment_id], max_results=1000)
        best = min(best, time.perf_counter() - start)
        rows = len(df)
    return best, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--log-metric-n", type=int, default=2000)
    parser.add_argument("--log-batch-calls", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--search-runs", type=int, default=500)
    parser.add_argument("--search-repeat", type=int, default=3)
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")

    # Anything MLflow prints on stdout would corrupt the JSON line: send it to stderr.
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        import mlflow
        from mlflow.tracking import MlflowClient

        # MLflow sets up its own log handler on import; quiet it afterwards.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)

        workdir = os.path.abspath(args.workdir)
        tracking_uri = f"sqlite:///{os.path.join(workdir, 'mlflow.db')}"
        artifact_uri = "file://" + os.path.join(workdir, "mlartifacts")
        mlflow.set_tracking_uri(tracking_uri)

        # Opening the store runs MLflow's schema migrations: not timed.
        start = time.perf_counter()
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment_id = client.create_experiment("bench", artifact_location=artifact_uri)
        _say(f"store ready in {time.perf_counter() - start:.1f}s (mlflow {mlflow.__version__})")

        log_metric = bench_log_metric(client, experiment_id, args.log_metric_n)
        _say(f"log_metric: {log_metric:,.0f} pts/s")
        log_batch = bench_log_batch(client, experiment_id, args.log_batch_calls, args.batch_size)
        _say(f"log_batch: {log_batch:,.0f} pts/s")
        search_s, search_rows = bench_search(client, args.search_runs, args.search_repeat)
        _say(f"search_runs: {search_s * 1000:,.1f} ms for {search_rows} rows")

    result = {
        "mlflow_version": mlflow.__version__,
        "log_metric_pts_s": log_metric,
        "log_metric_n": args.log_metric_n,
        "log_batch_pts_s": log_batch,
        "log_batch_points": args.log_batch_calls * args.batch_size,
        "search_s": search_s,
        "search_rows": search_rows,
    }
    print(json.dumps(result), file=real_stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
