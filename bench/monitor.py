"""Drift benchmark: KS and PSI on 50 numeric columns of 200,000 rows each.

The data are synthetic and generated here, nothing is downloaded: a reference and a
current window of 200,000 rows × 50 standard normal columns (numpy, seed 0), every
fifth column of the current window (``x00``, ``x05``, ..., ``x45``) moved by 0.1
standard deviations. ``draw`` in ``bench/_evidently_worker.py`` makes them, for every
contender alike.

* **mlpilot**: ``ReferenceProfile.from_frame(reference)`` once (``profile_s``: sorting
  every column, PSI edges, the 100,000-value sample each column keeps), then
  ``check_drift(profile, current, tests=("ks", "psi"))``: both tests on all 50 columns,
  from the DataFrame to the report. ``check_s`` is the best of 3, the median beside it;
  ``check_ks_only_s`` runs the KS test alone. Target: ``check_s`` under 0.5 s.
* **scipy loop**, the raw floor, what one writes without a drift library:
  ``scipy.stats.ks_2samp(reference[c], current[c], method="asymp")`` for each column
  in a loop, best of 3 (``scipy_s``). It does KS only, mlpilot KS and PSI.
  Target: ``vs_scipy_speedup = scipy_s / check_s`` at least 6.
* **Evidently 0.7**, the peer tool: ``Report([DataDriftPreset(method="ks",
  threshold=0.05)]).run(current, reference)`` in its own environment
  ``bench/.venv-evidently`` (built on first use), once, twice if the first run took
  under 20 s; the best is ``evidently_s``. The KS test is chosen so that all three
  answer the same question at the same significance (Evidently's default for this
  many rows is a normed Wasserstein distance). Target: ``vs_evidently_speedup =
  evidently_s / check_s`` at least 50.

Each contender's detected columns at alpha = 0.05 (p < 0.05 for mlpilot and scipy,
p <= 0.05 by Evidently's rule; mlpilot's PSI threshold 0.2 flags none of a 0.1 sd
shift) are compared with the 10 moved columns (``*_matches_truth``) and with each
other. With 40 unmoved columns tested at 0.05 each, about two false alarms are
expected by chance, and every contender should raise the same ones.
``detected_columns_bonferroni`` is mlpilot's KS with ``bonferroni=True`` (0.05 / 50 per
column), which bounds the chance of any false alarm at 0.05. ``ks_max_statistic_diff``
and ``ks_max_p_value_diff`` compare mlpilot's KS with scipy's on the whole reference
(mlpilot's reference keeps 100,000 of the 200,000 values per column, so its statistic
may differ by up to 1/100,000).

Before timing, the 1-minute load average is recorded (``load_at_start``): the machine
has 2 cores and may be shared.

Usage::

    python bench/monitor.py [--no-evidently] [--check]

``--check`` is a small run (20,000 rows, one repetition) that tries every part in
seconds; its figures mean little. The result table goes to stdout, followed by one JSON
line with every figure.
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
import pandas as pd
from scipy import stats

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import (  # noqa: E402
    Row,
    ensure_venv,
    fmt_ratio,
    fmt_seconds,
    print_json_line,
    print_table,
    run_worker,
    say,
)
from _evidently_worker import checksum, draw  # noqa: E402
from mlpilot.monitor import ReferenceProfile, check_drift  # noqa: E402

EVIDENTLY_VENV = BENCH_DIR / ".venv-evidently"
EVIDENTLY_WORKER = BENCH_DIR / "_evidently_worker.py"
# Evidently 0.7 imports a function pandas 3 no longer has.
EVIDENTLY_PACKAGES = ["evidently==0.7.*", "pandas<3"]

ALPHA = 0.05
TARGET_CHECK_S = 0.5
TARGET_VS_SCIPY = 6.0
TARGET_VS_EVIDENTLY = 50.0


@dataclasses.dataclass(frozen=True)
class Sizes:
    rows: int
    columns: int
    shifted: int
    shift: float
    seed: int
    repeat: int


FULL = Sizes(rows=200_000, columns=50, shifted=10, shift=0.1, seed=0, repeat=3)
CHECK = Sizes(rows=20_000, columns=50, shifted=10, shift=0.1, seed=0, repeat=1)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best and median wall seconds of ``repeat`` calls of ``fn``, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


# --------------------------------------------------------------------------- contenders


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """KS statistic and p-value of each column by ``scipy.stats.ks_2samp``."""
    return {
        name: stats.ks_2samp(reference[name], current[name], method="asymp")
        for name in reference.columns
    }


def bench_evidently(sizes: Sizes) -> dict[str, Any]:
    """Evidently's figures from the worker, or the reason it could not run."""
    try:
        python = ensure_venv(EVIDENTLY_VENV, EVIDENTLY_PACKAGES, "evidently")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        say("evidently", f"not available: {exc}")
        return {"error": f"installing Evidently failed: {exc}"}
    try:
        return run_worker(
            python,
            EVIDENTLY_WORKER,
            [
                f"--rows={sizes.rows}",
                f"--columns={sizes.columns}",
                f"--shifted={sizes.shifted}",
                f"--shift={sizes.shift}",
                f"--seed={sizes.seed}",
                f"--alpha={ALPHA}",
            ],
            env={"DO_NOT_TRACK": "1"},
            status="Evidently: DataDriftPreset",
        )
    except (RuntimeError, OSError) as exc:
        say("evidently", f"worker failed: {exc}")
        return {"error": f"the Evidently worker failed: {exc}"}


# --------------------------------------------------------------------------- main


def _ratio(slow: float | None, fast: float) -> float | None:
    return None if slow is None else round(slow / fast, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-evidently", action="store_true", help="leave out Evidently")
    parser.add_argument(
        "--check", action="store_true", help="a small run that tries every part (seconds)"
    )
    args = parser.parse_args(argv)
    sizes = CHECK if args.check else FULL
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]

    reference, current, truth = draw(
        sizes.rows, sizes.columns, sizes.shifted, sizes.shift, sizes.seed
    )
    say("data", f"{sizes.rows:,} rows × {sizes.columns} columns; moved: {', '.join(truth)}")

    profile_s, _, profile = timed(lambda: ReferenceProfile.from_frame(reference), 1)
    say("mlpilot", f"profile: {fmt_seconds(profile_s)}")
    check_s, check_median_s, report = timed(
        lambda: check_drift(profile, current, tests=("ks", "psi"), alpha=ALPHA), sizes.repeat
    )
    say(
        "mlpilot",
        f"check KS + PSI: best {fmt_seconds(check_s)}, median {fmt_seconds(check_median_s)}",
    )
    ks_only_s, _, _ = timed(
        lambda: check_drift(profile, current, tests=("ks",), alpha=ALPHA), sizes.repeat
    )
    say("mlpilot", f"check KS only: best {fmt_seconds(ks_only_s)}")

    scipy_s, _, scipy_results = timed(lambda: scipy_loop(reference, current), sizes.repeat)
    say("scipy", f"ks_2samp loop: best {fmt_seconds(scipy_s)}")

    mine_detected = report.drifted_columns
    bonferroni = check_drift(profile, current, tests=("ks",), alpha=ALPHA, bonferroni=True)
    scipy_detected = [name for name, r in scipy_results.items() if r.pvalue < ALPHA]
    ks = {r.column: r for r in report.results if r.test == "ks"}
    statistic_diff = max(abs(ks[n].statistic - r.statistic) for n, r in scipy_results.items())
    p_value_diff = max(abs(ks[n].p_value - r.pvalue) for n, r in scipy_results.items())

    evidently: dict[str, Any] = (
        {"error": "skipped (--no-evidently)"} if args.no_evidently else bench_evidently(sizes)
    )
    evidently_s = evidently.get("seconds")
    evidently_detected = evidently.get("detected")
    if "checksum" in evidently and not np.isclose(
        evidently["checksum"], checksum(reference, current), rtol=1e-12
    ):
        say("evidently", "drew other data than this benchmark; its figures are not comparable")
        evidently = {"error": "the worker's data differ from the benchmark's"}
        evidently_s = evidently_detected = None

    figures: dict[str, Any] = {
        "check": args.check,
        "rows": sizes.rows,
        "columns": sizes.columns,
        "cores": os.cpu_count(),
        "load_at_start": round(load_at_start, 2),
        "profile_s": round(profile_s, 3),
        "check_s": round(check_s, 3),
        "check_median_s": round(check_median_s, 3),
        "check_ks_only_s": round(ks_only_s, 3),
        "scipy_s": round(scipy_s, 3),
        "evidently_s": None if evidently_s is None else round(evidently_s, 2),
        "evidently_runs_s": [round(s, 2) for s in evidently.get("runs_s", [])],
        "evidently_version": evidently.get("evidently_version"),
        "evidently_error": evidently.get("error"),
        "vs_scipy_speedup": _ratio(scipy_s, check_s),
        "vs_scipy_speedup_ks_only": _ratio(scipy_s, ks_only_s),
        "vs_evidently_speedup": _ratio(evidently_s, check_s),
        "truth_columns": truth,
        "detected_columns": mine_detected,
        "scipy_detected_columns": scipy_detected,
        "evidently_detected_columns": evidently_detected,
        "detected_columns_bonferroni": bonferroni.drifted_columns,
        "mlpilot_matches_truth": mine_detected == truth,
        "bonferroni_matches_truth": bonferroni.drifted_columns == truth,
        "scipy_matches_truth": scipy_detected == truth,
        "evidently_matches_truth": None
        if evidently_detected is None
        else evidently_detected == truth,
        "contenders_agree": mine_detected == scipy_detected
        and evidently_detected in (None, mine_detected),
        "ks_max_statistic_diff": float(f"{statistic_diff:.3g}"),
        "ks_max_p_value_diff": float(f"{p_value_diff:.3g}"),
    }
    met_check = None if args.check else check_s < TARGET_CHECK_S
    met_scipy = None if args.check else figures["vs_scipy_speedup"] >= TARGET_VS_SCIPY
    met_evidently = (
        None
        if args.check or evidently_s is None
        else figures["vs_evidently_speedup"] >= TARGET_VS_EVIDENTLY
    )
    figures["targets_met"] = (
        None if args.check else bool(met_check and met_scipy and met_evidently is not False)
    )
    figures["bench_s"] = round(time.perf_counter() - started, 1)

    print_table(
        f"mlpilot monitor: drift of {sizes.rows:,} rows × {sizes.columns} numeric columns "
        f"({os.cpu_count()} cores)" + (" — check run" if args.check else ""),
        _rows(figures, sizes, evidently_s),
        other_name="baseline",
        caption=(
            "baselines: scipy.stats.ks_2samp in a loop over the columns (KS only); "
            "Evidently DataDriftPreset(method='ks', threshold=0.05) in its own venv. "
            "ratio: baseline / mlpilot"
        ),
    )
    print_json_line(figures)
    return 0


def _rows(figures: dict[str, Any], sizes: Sizes, evidently_s: float | None) -> list[Row]:
    check, met = figures["check_s"], not figures["check"]

    def detected(names: list[str] | None) -> str:
        if names is None:
            return "—"
        hits = sum(name in figures["truth_columns"] for name in names)
        return f"{hits}/{sizes.shifted} + {len(names) - hits} false"

    return [
        Row("profile the reference (once)", fmt_seconds(figures["profile_s"]), "—", "—", "—", None),
        Row(
            f"check KS + PSI vs scipy loop (best of {sizes.repeat})",
            fmt_seconds(check),
            fmt_seconds(figures["scipy_s"]),
            fmt_ratio(figures["vs_scipy_speedup"]),
            f"< {TARGET_CHECK_S} s, ≥ {TARGET_VS_SCIPY:.0f}×",
            (check < TARGET_CHECK_S and figures["vs_scipy_speedup"] >= TARGET_VS_SCIPY)
            if met
            else None,
        ),
        Row(
            f"check KS + PSI (median of {sizes.repeat})",
            fmt_seconds(figures["check_median_s"]),
            "—",
            "—",
            "—",
            None,
        ),
        Row(
            "check KS only vs scipy loop",
            fmt_seconds(figures["check_ks_only_s"]),
            fmt_seconds(figures["scipy_s"]),
            fmt_ratio(figures["vs_scipy_speedup_ks_only"]),
            "—",
            None,
        ),
        Row(
            "check KS + PSI vs Evidently DataDriftPreset",
            fmt_seconds(check),
            fmt_seconds(evidently_s) if evidently_s is not None else "not run",
            fmt_ratio(figures["vs_evidently_speedup"]),
            f"≥ {TARGET_VS_EVIDENTLY:.0f}×",
            None
            if not met or evidently_s is None
            else figures["vs_evidently_speedup"] >= TARGET_VS_EVIDENTLY,
        ),
        Row(
            "moved columns found (mlpilot / scipy)",
            detected(figures["detected_columns"]),
            detected(figures["scipy_detected_columns"]),
            "—",
            f"{sizes.shifted}/{sizes.shifted}",
            None,
        ),
        Row(
            "moved columns found (mlpilot, Bonferroni)",
            detected(figures["detected_columns_bonferroni"]),
            "—",
            "—",
            f"{sizes.shifted}/{sizes.shifted}",
            None,
        ),
        Row(
            "moved columns found (mlpilot / Evidently)",
            detected(figures["detected_columns"]),
            detected(figures["evidently_detected_columns"]),
            "—",
            "same columns",
            None if figures["evidently_detected_columns"] is None else figures["contenders_agree"],
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
