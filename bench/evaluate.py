"""Evaluation benchmark: bootstrap intervals and paired comparisons on 100,000 rows.

The data are synthetic and generated here, nothing is downloaded:
``sklearn.datasets.make_classification`` with 200,000 rows × 20 features (8 informative,
seed 0). A ``LogisticRegression`` fitted on the first 100,000 rows is scored on the other
100,000; a second one, fitted on 2,000 rows only, is the champion it is compared with.

* **evaluate**: ``mlpilot.evaluate.evaluate(model, X, y, resamples=1000)`` end to end:
  ``predict`` and ``predict_proba`` on the 100,000 rows, then the whole classification
  suite (accuracy, precision, recall, F1, ROC AUC, log loss, Brier score and calibration
  error) on all rows and on each of 1,000 bootstrap resamples, and the intervals.
  ``bootstrap_100k_1000_s`` is the best of 3 runs, the median is shown beside it.
  Target: under 3 s.
* **bootstrap alone**: the same 1,000 resamples of the same suite from predictions
  already made: ``mlpilot.evaluate._bootstrap.bootstrap`` over the columns
  ``_metrics.classification_columns`` builds, the rows in score order as ``evaluate``
  puts them. Best of 3. What is left of ``evaluate`` is predicting and packing columns.
* **compare**: ``compare(challenger, champion, X, y, resamples=1000)``: both models
  predict, both are scored on the same 1,000 resamples, and every metric's difference
  gets its interval and one-sided p-value, with McNemar's test beside. Best of 3 as
  ``compare_100k_1000_s``, and the median.

Baselines, in the same run, on the same predictions:

1. **scikit-learn loop**: what one writes without mlpilot: for each resample, draw
   100,000 row indices with numpy and call scikit-learn's ``accuracy_score``,
   ``precision_score``, ``recall_score``, ``f1_score``, ``roc_auc_score``, ``log_loss``
   and ``brier_score_loss`` on the resampled rows, and the calibration error from
   ``calibration_curve`` (scikit-learn has no function for it). A resample costs the
   same each time, so the loop is timed over 20 resamples and extrapolated linearly to
   1,000 (× 50): ``sklearn_loop_s_extrapolated``. ``speedup_vs_sklearn_loop`` divides
   it by ``bootstrap_100k_1000_s``, which includes predicting; the loop does not.
2. **scipy.stats.bootstrap** of accuracy alone (it takes one statistic at a time, so
   the suite would be eight calls): the per-row correctness, ``np.mean``, vectorised,
   1,000 resamples, percentile intervals, 100 resamples per batch so that the index
   matrix stays at 80 MB. Against mlpilot's bootstrap of accuracy alone. Best of 3 each.

The machine is shared with other benchmarks. Before anything is timed, the run waits
(polling every 30 s, at most 20 minutes) until no other ``bench/`` Python process is
running and the 1-minute load average is under 1; ``quiet`` in the JSON says whether
that was reached.

Usage::

    python bench/evaluate.py [--check]

``--check`` is a small run (10,000 rows, 100 resamples, 3 resamples of the loop, no
waiting) that tries every part in seconds; its figures mean little. The result table
goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import (  # noqa: E402
    Row,
    fmt_ratio,
    fmt_seconds,
    print_json_line,
    print_table,
    say,
)
from mlpilot.evaluate import CLASSIFICATION, compare, evaluate  # noqa: E402
from mlpilot.evaluate._bootstrap import bootstrap  # noqa: E402
from mlpilot.evaluate._metrics import classification_columns  # noqa: E402

TARGET_S = 3.0
POLL_S = 30
MAX_WAIT_S = 20 * 60


@dataclasses.dataclass(frozen=True)
class Sizes:
    rows: int
    resamples: int
    loop_resamples: int
    repeat: int


FULL = Sizes(rows=100_000, resamples=1_000, loop_resamples=20, repeat=3)
CHECK = Sizes(rows=10_000, resamples=100, loop_resamples=3, repeat=1)


# --------------------------------------------------------------------------- waiting


def other_benchmarks() -> list[str]:
    """Command lines of Python processes running something under ``bench/``, leaving out
    this one and the processes that started it (a shell whose command names it)."""
    listing = subprocess.run(
        ["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=False
    ).stdout
    parents, commands = {}, {}
    for line in listing.splitlines():
        pid, ppid, *args = line.split(None, 2)
        parents[int(pid)], commands[int(pid)] = int(ppid), args[0] if args else ""
    mine, pid = set(), os.getpid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        pid = parents.get(pid, 1)
    return [
        command[:120]
        for pid, command in commands.items()
        if pid not in mine
        and Path(command.split(" ", 1)[0]).name.startswith("python")
        and "bench/" in command
    ]


def wait_until_quiet() -> bool:
    """Wait until no other benchmark runs and the load is low; False if it never was."""
    deadline = time.monotonic() + MAX_WAIT_S
    while True:
        others, load = other_benchmarks(), os.getloadavg()[0]
        if not others and load < 1.0:
            return True
        if time.monotonic() >= deadline:
            say("wait", f"still busy after {MAX_WAIT_S // 60} min; measuring anyway")
            return False
        reason = f"{len(others)} other benchmark(s): {others[0]}" if others else "load"
        say("wait", f"{reason}; 1-min load {load:.2f}; next look in {POLL_S} s")
        time.sleep(POLL_S)


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, Any]:
    """Best and median wall seconds of ``repeat`` calls of ``fn``, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


# --------------------------------------------------------------------------- baselines


def calibration_error(y: np.ndarray, positive: np.ndarray) -> float:
    """Expected calibration error over 10 equal-width bins, from scikit-learn's curve."""
    accuracy, confidence = calibration_curve(y, positive, n_bins=10)
    sizes = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], positive), minlength=10)
    return float(np.sum(sizes[sizes > 0] * np.abs(confidence - accuracy)) / len(y))


def sklearn_suite(y: np.ndarray, labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    positive = proba[:, 1]
    return {
        "accuracy": skm.accuracy_score(y, labels),
        "precision": skm.precision_score(y, labels, zero_division=0),
        "recall": skm.recall_score(y, labels, zero_division=0),
        "f1": skm.f1_score(y, labels, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, positive),
        "log_loss": skm.log_loss(y, proba, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, positive),
        "calibration_error": calibration_error(y, positive),
    }


def sklearn_loop(y: np.ndarray, labels: np.ndarray, proba: np.ndarray, count: int) -> float:
    """Seconds per resample of the plain loop over scikit-learn's metric functions."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(count):
        rows = rng.integers(0, len(y), len(y))
        sklearn_suite(y[rows], labels[rows], proba[rows])
    return (time.perf_counter() - started) / count


def scipy_accuracy(correct: np.ndarray, resamples: int) -> Any:
    return stats.bootstrap(
        (correct,),
        np.mean,
        n_resamples=resamples,
        batch=100,
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(0),
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="a small run that tries every part (seconds)"
    )
    args = parser.parse_args(argv)
    sizes = CHECK if args.check else FULL
    started = time.perf_counter()
    n, resamples = sizes.rows, sizes.resamples
    quiet = True if args.check else wait_until_quiet()
    waited_s, load_at_start = time.perf_counter() - started, os.getloadavg()[0]

    X, y = make_classification(
        n_samples=2 * n, n_features=20, n_informative=8, flip_y=0.05, random_state=0
    )
    X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]
    model = LogisticRegression().fit(X_train, y_train)
    champion = LogisticRegression().fit(X_train[:2_000], y_train[:2_000])
    labels, proba = model.predict(X_test), model.predict_proba(X_test)
    order = np.argsort(proba[:, 1], kind="stable")  # as evaluate orders the rows
    columns = classification_columns(y_test[order], labels[order], proba[order], [0, 1])
    suite = list(CLASSIFICATION.values())
    correct = (labels == y_test).astype(np.float64)

    say("mlpilot", f"{n:,} rows × {resamples:,} resamples, {os.cpu_count()} cores")

    evaluate(model, X_test, y_test, resamples=20)  # warm the thread pool and caches
    eval_best, eval_median, evaluation = timed(
        lambda: evaluate(model, X_test, y_test, resamples=resamples), sizes.repeat
    )
    say("evaluate", f"best {fmt_seconds(eval_best)}, median {fmt_seconds(eval_median)}")
    boot_best, _, _ = timed(lambda: bootstrap([columns], suite, n, count=resamples), sizes.repeat)
    say("bootstrap", f"alone: best {fmt_seconds(boot_best)}")
    compare_best, compare_median, comparison = timed(
        lambda: compare(model, champion, X_test, y_test, resamples=resamples), sizes.repeat
    )
    say("compare", f"best {fmt_seconds(compare_best)}, median {fmt_seconds(compare_median)}")

    per_resample = sklearn_loop(y_test, labels, proba, sizes.loop_resamples)
    loop_s = per_resample * resamples
    say("sklearn", f"{fmt_seconds(per_resample)} per resample; × {resamples:,} = {loop_s:.1f} s")

    accuracy_only = [CLASSIFICATION["accuracy"]]
    accuracy_columns = classification_columns(y_test, labels, None, [0, 1])
    mine_acc_s, _, (_, draws) = timed(
        lambda: bootstrap([accuracy_columns], accuracy_only, n, count=resamples), sizes.repeat
    )
    scipy_s, _, scipy_result = timed(lambda: scipy_accuracy(correct, resamples), sizes.repeat)
    scipy_interval = scipy_result.confidence_interval
    mine_interval = np.percentile(draws[0]["accuracy"], [2.5, 97.5])
    say("scipy", f"accuracy alone: {fmt_seconds(scipy_s)}; mlpilot {fmt_seconds(mine_acc_s)}")

    figures: dict[str, Any] = {
        "check": args.check,
        "rows": n,
        "resamples": resamples,
        "cores": os.cpu_count(),
        "quiet": quiet,
        "waited_s": round(waited_s),
        "load_at_start": round(load_at_start, 2),
        "bootstrap_100k_1000_s": round(eval_best, 3),
        "bootstrap_100k_1000_median_s": round(eval_median, 3),
        "bootstrap_only_s": round(boot_best, 3),
        "compare_100k_1000_s": round(compare_best, 3),
        "compare_100k_1000_median_s": round(compare_median, 3),
        "sklearn_loop_resamples_timed": sizes.loop_resamples,
        "sklearn_loop_s_per_resample": round(per_resample, 4),
        "sklearn_loop_s_extrapolated": round(loop_s, 1),
        "speedup_vs_sklearn_loop": round(loop_s / eval_best, 1),
        "bootstrap_only_speedup_vs_sklearn_loop": round(loop_s / boot_best, 1),
        "scipy_accuracy_s": round(scipy_s, 3),
        "mlpilot_accuracy_s": round(mine_acc_s, 3),
        "scipy_vs_mlpilot_accuracy": round(scipy_s / mine_acc_s, 1),
        "accuracy": round(evaluation.metrics["accuracy"].value, 5),
        "accuracy_interval": [round(float(v), 5) for v in mine_interval],
        "scipy_accuracy_interval": [
            round(float(scipy_interval.low), 5),
            round(float(scipy_interval.high), 5),
        ],
        "compare_composite_p_value": round(comparison.composite.p_value, 4),
    }
    met = None if args.check else eval_best < TARGET_S
    figures["targets_met"] = met
    figures["bench_s"] = round(time.perf_counter() - started, 1)

    rows = [
        Row(
            f"evaluate, full suite (best of {sizes.repeat})",
            fmt_seconds(eval_best),
            f"{loop_s:,.1f} s (extrapolated)",
            fmt_ratio(figures["speedup_vs_sklearn_loop"]),
            f"< {TARGET_S:.0f} s",
            met,
        ),
        Row(
            f"evaluate, full suite (median of {sizes.repeat})",
            fmt_seconds(eval_median),
            "—",
            "—",
            "—",
            None,
        ),
        Row(
            "bootstrap alone, full suite",
            fmt_seconds(boot_best),
            f"{loop_s:,.1f} s (extrapolated)",
            fmt_ratio(figures["bootstrap_only_speedup_vs_sklearn_loop"]),
            "—",
            None,
        ),
        Row(
            "bootstrap alone, accuracy only",
            fmt_seconds(mine_acc_s),
            fmt_seconds(scipy_s),
            fmt_ratio(figures["scipy_vs_mlpilot_accuracy"]),
            "—",
            None,
        ),
        Row(
            f"compare two models (best of {sizes.repeat})",
            fmt_seconds(compare_best),
            "—",
            "—",
            "—",
            None,
        ),
        Row(
            f"compare two models (median of {sizes.repeat})",
            fmt_seconds(compare_median),
            "—",
            "—",
            "—",
            None,
        ),
    ]
    print_table(
        f"mlpilot evaluate: {n:,} rows × {resamples:,} bootstrap resamples "
        f"({os.cpu_count()} cores)" + (" — check run" if args.check else ""),
        rows,
        other_name="baseline",
        caption=(
            f"baseline: full suite, a Python loop over scikit-learn's metric functions "
            f"({sizes.loop_resamples} resamples timed, extrapolated linearly to "
            f"{resamples:,}); accuracy only, scipy.stats.bootstrap; ratio: baseline / mlpilot"
        ),
    )
    print_json_line(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
