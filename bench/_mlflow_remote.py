"""MLflow side of the server benchmark: its Python client against ``mlflow server``.

Runs inside ``bench/.venv-mlflow`` (see ``bench/server.py``) and prints one JSON object
on stdout; progress goes to stderr.

Usage: python _mlflow_remote.py --url http://127.0.0.1:PORT --batch-calls C
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

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--batch-calls", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--search-runs", type=int, default=500)
    parser.add_argument("--search-repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        import mlflow
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        mlflow.set_tracking_uri(args.url)
        client = MlflowClient(tracking_uri=args.url)
        experiment_id = client.create_experiment("bench")

        run_id = client.create_run(experiment_id, run_name="log_batch").info.run_id
        client.log_batch(run_id, metrics=[Metric("warm-up", 0.0, int(time.time() * 1000), 0)])
        start = time.perf_counter()
        for call in range(args.batch_calls):
            ts = int(time.time() * 1000)
            base = call * args.batch_size
            client.log_batch(
                run_id,
                metrics=[
                    Metric("loss", 1.0 / (base + j + 1), ts, base + j)
                    for j in range(args.batch_size)
                ],
            )
        log_batch = args.batch_calls * args.batch_size / (time.perf_counter() - start)
        stored = len(client.get_metric_history(run_id, "loss"))
        if stored != args.batch_calls * args.batch_size:
            raise RuntimeError(f"MLflow stored {stored} points")
        print(f"mlflow   log_batch {log_batch:,.0f} pts/s", file=sys.stderr)

        search_id = client.create_experiment("search")
        for r in range(args.search_runs):
            run_id = client.create_run(search_id, run_name=f"run-{r}").info.run_id
            client.log_batch(
                run_id,
                metrics=[
                    Metric(f"m{k}", r * 0.001 + k, int(time.time() * 1000), 0) for k in range(10)
                ],
                params=[Param(f"p{k}", str(r * 10 + k)) for k in range(10)],
            )
            client.set_terminated(run_id)
        best, rows = float("inf"), 0
        for _ in range(args.search_repeat):
            start = time.perf_counter()
            frame = mlflow.search_runs(experiment_ids=[search_id], max_results=1000)
            best = min(best, time.perf_counter() - start)
            rows = len(frame)
        print(f"mlflow   search {best * 1000:,.0f} ms for {rows} runs", file=sys.stderr)
    result = {
        "mlflow_version": mlflow.__version__,
        "log_batch_pts_s": log_batch,
        "search_s": best,
        "search_rows": rows,
        "experiment_id": experiment_id,
    }
    print(json.dumps(result), file=real_stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
