"""Tracking benchmark: mlpilot against MLflow (SQLite backend) and raw sqlite3.

Workloads, the same shape on both sides:

* ``log_metric``: one run, N points through the per-call API with increasing step.
  mlpilot's time runs from the first call until the ``with`` block has exited, so it
  includes the final flush of buffered points.
* ``log_batch``: 1000 points a call (MLflow's per-call limit); points per second.
* ``search_500``: 500 runs with 10 params and 10 metrics each; one search returning a
  pandas DataFrame of all of them, best of 3.
* ``list_page_10k`` (mlpilot only): first page of 50 runs out of 10,000, sorted by
  ``metrics.acc DESC``, median of 20, in ms.
* ``raw_sqlite``: plain ``sqlite3`` executemany of 100,000 metric rows in one transaction
  (WAL, synchronous=NORMAL, index on run_id, key, step): the floor for batch logging.

MLflow runs in a subprocess with its own virtual environment, ``bench/.venv-mlflow``,
created on first use. mlpilot runs in this process on a fresh temporary store.

Usage::

    python bench/tracking.py [--quick] [--skip-mlflow]

The result table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import (
    BENCH_DIR,
    Row,
    best_of,
    ensure_venv,
    fmt_rate,
    fmt_ratio,
    fmt_seconds,
    median_of,
    print_json_line,
    print_table,
    progress_bar,
    run_worker,
    say,
    stopwatch,
)

if TYPE_CHECKING:
    from mlpilot.tracking import TrackingClient

MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
MLFLOW_WORKER = BENCH_DIR / "_mlflow_worker.py"

TARGET_LOG_METRIC_PTS_S = 100_000
TARGET_LOG_BATCH_PTS_S = 500_000
TARGET_SEARCH_SPEEDUP = 20.0
TARGET_LIST_PAGE_MS = 50.0


@dataclasses.dataclass(frozen=True)
class Sizes:
    log_metric_n: int
    mlflow_log_metric_n: int
    batch_size: int
    log_batch_calls: int
    mlflow_log_batch_calls: int
    search_runs: int
    search_repeat: int
    list_runs: int
    list_page: int
    list_repeat: int
    raw_rows: int


FULL = Sizes(
    log_metric_n=200_000,
    mlflow_log_metric_n=2_000,
    batch_size=1_000,
    log_batch_calls=500,
    mlflow_log_batch_calls=50,
    search_runs=500,
    search_repeat=3,
    list_runs=10_000,
    list_page=50,
    list_repeat=20,
    raw_rows=100_000,
)

QUICK = Sizes(
    log_metric_n=20_000,
    mlflow_log_metric_n=200,
    batch_size=1_000,
    log_batch_calls=50,
    mlflow_log_batch_calls=5,
    search_runs=100,
    search_repeat=3,
    list_runs=1_000,
    list_page=50,
    list_repeat=5,
    raw_rows=100_000,
)


# --------------------------------------------------------------------------- raw floor


def bench_raw_sqlite(workdir: Path, n_rows: int, *, index: bool = True, repeat: int = 3) -> float:
    """Points per second of one executemany transaction of ``n_rows`` metric rows.

    Each repetition writes into a fresh database; the best one counts.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex
    ts = int(time.time() * 1000)
    rows = [(run_id, "loss", i, ts, 1.0 / (i + 1)) for i in range(n_rows)]
    best = 0.0
    for rep in range(repeat):
        con = sqlite3.connect(workdir / f"raw-{int(index)}-{rep}.db", isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(
                "CREATE TABLE metrics (run_id TEXT NOT NULL, key TEXT NOT NULL,"
                " step INTEGER NOT NULL, timestamp_ms INTEGER NOT NULL, value REAL NOT NULL)"
            )
            if index:
                con.execute("CREATE INDEX ix_metrics ON metrics (run_id, key, step)")
            with stopwatch() as elapsed:
                con.execute("BEGIN")
                con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
                con.execute("COMMIT")
            (count,) = con.execute("SELECT count(*) FROM metrics").fetchone()
            if count != n_rows:
                raise RuntimeError(f"raw sqlite stored {count} rows, expected {n_rows}")
        finally:
            con.close()
        best = max(best, n_rows / elapsed[0])
    return best


# --------------------------------------------------------------------------- MLflow


def bench_mlflow(workdir: Path, sizes: Sizes) -> dict[str, Any]:
    python = ensure_venv(MLFLOW_VENV, ["mlflow"], "mlflow")
    workdir.mkdir(parents=True, exist_ok=True)
    return run_worker(
        python,
        MLFLOW_WORKER,
        [
            "--workdir",
            str(workdir),
            "--log-metric-n",
            str(sizes.mlflow_log_metric_n),
            "--log-batch-calls",
            str(sizes.mlflow_log_batch_calls),
            "--batch-size",
            str(sizes.batch_size),
            "--search-runs",
            str(sizes.search_runs),
            "--search-repeat",
            str(sizes.search_repeat),
        ],
        status="MLflow workloads (SQLite backend)",
    )


# --------------------------------------------------------------------------- mlpilot


def _configure_mlpilot(workdir: Path) -> None:
    """Point mlpilot at a fresh store in ``workdir``, then import it (failing early if it
    cannot be imported, before the slow MLflow side runs)."""
    if "mlpilot" in sys.modules:
        raise RuntimeError("mlpilot was imported before its store was configured")
    home = workdir / "home"
    os.environ["MLPILOT_HOME"] = str(home)
    os.environ["MLPILOT_STORE_URI"] = f"sqlite:///{home / 'mlpilot.db'}"
    os.environ["MLPILOT_ARTIFACTS_URI"] = (home / "artifacts").as_uri()
    import mlpilot.tracking  # noqa: F401


def _check_history(client: TrackingClient, run_id: str, key: str, expected: int) -> None:
    """Fail unless the store holds ``expected`` points of ``key`` for the run."""
    stored = len(client.get_metric_history(run_id, key))
    if stored != expected:
        raise RuntimeError(f"run {run_id} holds {stored} points of {key!r}, expected {expected}")


def fill_search(client: TrackingClient, runs: int) -> None:
    """Create ``runs`` finished runs in experiment ``search``, each with 10 params and
    10 metrics: what the search workloads search (MLflow's side makes the same)."""
    with progress_bar() as progress:
        task = progress.add_task("mlpilot: runs for search", total=runs)
        for r in range(runs):
            run = client.create_run(experiment="search", name=f"run-{r}")
            client.log_batch(
                run.id,
                metrics=[(f"m{k}", r * 0.001 + k, 0) for k in range(10)],
                params={f"p{k}": str(r * 10 + k) for k in range(10)},
            )
            run.end()
            progress.advance(task)


def bench_mlpilot(sizes: Sizes) -> dict[str, Any]:
    """Run mlpilot's workloads; :func:`_configure_mlpilot` must have run first."""
    import mlpilot
    from mlpilot.tracking import TrackingClient

    client = TrackingClient()
    result: dict[str, Any] = {"mlpilot_version": mlpilot.__version__}

    # log_metric, per call; the clock stops once the run has ended and flushed.
    n = sizes.log_metric_n
    with mlpilot.start_run(experiment="bench", name="log_metric", client=client) as run:
        start = time.perf_counter()
        for i in range(n):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
    elapsed = time.perf_counter() - start
    _check_history(client, run.id, "loss", n)
    result["log_metric_pts_s"] = n / elapsed
    say("mlpilot", f"log_metric: {n / elapsed:,.0f} pts/s")

    # log_batch, batch_size points a call.
    batch = sizes.batch_size
    calls = sizes.log_batch_calls
    run = client.create_run(experiment="bench", name="log_batch")
    with stopwatch() as elapsed_box:
        for c in range(calls):
            base = c * batch
            points = [("loss", 1.0 / (base + j + 1), base + j) for j in range(batch)]
            client.log_batch(run.id, metrics=points)
    run.end()
    _check_history(client, run.id, "loss", calls * batch)
    result["log_batch_pts_s"] = calls * batch / elapsed_box[0]
    say("mlpilot", f"log_batch: {result['log_batch_pts_s']:,.0f} pts/s")

    # search: runs with 10 params and 10 metrics, then one DataFrame of all of them.
    fill_search(client, sizes.search_runs)
    frame_rows: list[int] = []

    def search() -> None:
        frame = mlpilot.search_runs(experiment="search", max_results=1000, client=client)
        frame_rows.append(len(frame))

    result["search_s"] = best_of(search, sizes.search_repeat)
    result["search_rows"] = frame_rows[-1]
    if frame_rows[-1] != sizes.search_runs:
        raise RuntimeError(f"search returned {frame_rows[-1]} rows, expected {sizes.search_runs}")
    say("mlpilot", f"search_runs: {fmt_seconds(result['search_s'])}")

    # list page: first page sorted by a metric, out of list_runs runs.
    rng = random.Random(0)
    logged: list[float] = []
    with progress_bar() as progress:
        task = progress.add_task("mlpilot: runs for list page", total=sizes.list_runs)
        for r in range(sizes.list_runs):
            run = client.create_run(experiment="list", name=f"run-{r}")
            logged.append(rng.random())
            client.log_batch(run.id, metrics=[("acc", logged[-1], 0)])
            run.end()
            progress.advance(task)
    pages: list[list[Any]] = []

    def page() -> None:
        pages.append(
            client.search_runs(
                experiment="list",
                order_by=["metrics.acc DESC"],
                max_results=sizes.list_page,
            )
        )

    result["list_page_s"] = median_of(page, sizes.list_repeat)
    accs = [record.metrics["acc"] for record in pages[-1]]
    if accs != sorted(logged, reverse=True)[: sizes.list_page]:
        raise RuntimeError("list page is not the expected top runs by metrics.acc")
    say("mlpilot", f"list page: {fmt_seconds(result['list_page_s'])}")
    return result


# --------------------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def build_report(
    sizes: Sizes,
    quick: bool,
    pilot: dict[str, Any],
    flow: dict[str, Any] | None,
    raw: float,
    raw_noindex: float,
) -> tuple[list[Row], dict[str, Any]]:
    flow = flow or {}
    log_metric = pilot["log_metric_pts_s"]
    log_batch = pilot["log_batch_pts_s"]
    search_s = pilot["search_s"]
    list_ms = pilot["list_page_s"] * 1000
    flow_metric = flow.get("log_metric_pts_s")
    flow_batch = flow.get("log_batch_pts_s")
    flow_search = flow.get("search_s")

    metric_ratio = _ratio(log_metric, flow_metric)
    batch_ratio = _ratio(log_batch, flow_batch)
    speedup = _ratio(flow_search, search_s)

    rows = [
        Row(
            f"log_metric (per call, {sizes.log_metric_n:,} / {sizes.mlflow_log_metric_n:,} pts)",
            fmt_rate(log_metric),
            fmt_rate(flow_metric),
            fmt_ratio(metric_ratio),
            f"≥ {TARGET_LOG_METRIC_PTS_S:,} pts/s",
            log_metric >= TARGET_LOG_METRIC_PTS_S,
        ),
        Row(
            f"log_batch ({sizes.batch_size:,} pts/call, "
            f"{sizes.log_batch_calls} / {sizes.mlflow_log_batch_calls} calls)",
            fmt_rate(log_batch),
            fmt_rate(flow_batch),
            fmt_ratio(batch_ratio),
            f"≥ {TARGET_LOG_BATCH_PTS_S:,} pts/s",
            log_batch >= TARGET_LOG_BATCH_PTS_S,
        ),
        Row(
            f"search_{sizes.search_runs} (DataFrame, best of {sizes.search_repeat})",
            fmt_seconds(search_s),
            fmt_seconds(flow_search),
            fmt_ratio(speedup),
            f"≥ {TARGET_SEARCH_SPEEDUP:.0f}× faster",
            None if speedup is None else speedup >= TARGET_SEARCH_SPEEDUP,
        ),
        Row(
            f"list_page_{sizes.list_runs // 1000}k (top {sizes.list_page} by metrics.acc, "
            f"median of {sizes.list_repeat})",
            f"{list_ms:,.1f} ms",
            "—",
            "—",
            f"< {TARGET_LIST_PAGE_MS:.0f} ms",
            list_ms < TARGET_LIST_PAGE_MS,
        ),
        Row(
            f"raw sqlite3 executemany ({sizes.raw_rows:,} rows, 1 txn, best of 3)",
            fmt_rate(raw),
            "—",
            f"log_batch at {log_batch / raw:.0%}",
            "floor for log_batch",
            None,
        ),
    ]
    summary: dict[str, Any] = {
        "log_metric_pts_s": round(log_metric, 1),
        "log_batch_pts_s": round(log_batch, 1),
        "search_500_s": round(search_s, 6),
        "list_page_10k_ms": round(list_ms, 3),
        "raw_sqlite_pts_s": round(raw, 1),
        "raw_sqlite_noindex_pts_s": round(raw_noindex, 1),
        "mlflow_log_metric_pts_s": None if flow_metric is None else round(flow_metric, 2),
        "mlflow_log_batch_pts_s": None if flow_batch is None else round(flow_batch, 1),
        "mlflow_search_500_s": None if flow_search is None else round(flow_search, 6),
        "log_metric_ratio": None if metric_ratio is None else round(metric_ratio, 1),
        "log_batch_ratio": None if batch_ratio is None else round(batch_ratio, 1),
        "search_500_speedup": None if speedup is None else round(speedup, 2),
        "log_batch_vs_raw": round(log_batch / raw, 3),
        "mlflow_version": flow.get("mlflow_version"),
        "mlpilot_version": pilot["mlpilot_version"],
        "targets_met": all(row.met for row in rows if row.met is not None),
        "quick": quick,
        "sizes": dataclasses.asdict(sizes),
    }
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mlpilot tracking benchmark against MLflow.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--skip-mlflow", action="store_true", help="run mlpilot's side only")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-tracking-") as tmp:
        workdir = Path(tmp)
        _configure_mlpilot(workdir / "mlpilot")
        flow = None if args.skip_mlflow else bench_mlflow(workdir / "mlflow", sizes)
        pilot = bench_mlpilot(sizes)
        raw = bench_raw_sqlite(workdir / "raw", sizes.raw_rows)
        raw_noindex = bench_raw_sqlite(workdir / "raw", sizes.raw_rows, index=False)
        say("sqlite3", f"executemany: {raw:,.0f} pts/s ({raw_noindex:,.0f} without the index)")

    rows, summary = build_report(sizes, args.quick, pilot, flow, raw, raw_noindex)
    title = "mlpilot tracking vs MLflow (SQLite)" + (" — quick" if args.quick else "")
    print_table(title, rows)
    print_json_line(summary)
    return 1 if args.check and not summary["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
