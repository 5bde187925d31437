"""Evidently side of the drift benchmark.

Runs inside the side environment ``bench/.venv-evidently`` (see ``bench/monitor.py``)
and prints one JSON object on stdout; progress messages go to stderr.

It draws the seeded data with :func:`draw`, which ``bench/monitor.py`` imports from
here (the checksum it prints shows that the two environments' numpy drew the same
numbers), then runs
Evidently's ``DataDriftPreset`` with its KS test at 0.05 on the two windows, as a user
would to compare drift on 50 numeric columns, and reads back each column's p-value.
A column drifted by Evidently's own rule for that test: ``p_value <= threshold``.
The preset runs once, and a second time when the first took under ``--again-under``
seconds; the best is reported.

Usage: python _evidently_worker.py --rows N --columns N --shifted N --shift S --seed N
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _say(message: str) -> None:
    print(f"evidently {message}", file=sys.stderr, flush=True)


def draw(
    rows: int, columns: int, shifted: int, shift: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Reference and current windows of standard normal columns; every
    ``columns // shifted``-th column of the current one moved by ``shift``."""
    rng = np.random.default_rng(seed)
    names = [f"x{i:02d}" for i in range(columns)]
    reference = rng.standard_normal((rows, columns))
    current = rng.standard_normal((rows, columns))
    moved = list(range(0, columns, columns // shifted))[:shifted]
    current[:, moved] += shift
    return (
        pd.DataFrame(reference, columns=names),
        pd.DataFrame(current, columns=names),
        [names[i] for i in moved],
    )


def checksum(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    return float(reference.to_numpy().sum() + 2 * current.to_numpy().sum())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--columns", type=int, required=True)
    parser.add_argument("--shifted", type=int, required=True)
    parser.add_argument("--shift", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--again-under", type=float, default=20.0)
    args = parser.parse_args()

    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current, _ = draw(args.rows, args.columns, args.shifted, args.shift, args.seed)
    runs: list[float] = []
    result: dict[str, Any] = {}
    while not runs or (len(runs) == 1 and runs[0] < args.again_under):
        report = Report([DataDriftPreset(method="ks", threshold=args.alpha)])
        started = time.perf_counter()
        snapshot = report.run(current_data=current, reference_data=reference)
        runs.append(time.perf_counter() - started)
        result = snapshot.dict()
        _say(f"DataDriftPreset run {len(runs)}: {runs[-1]:.2f} s")

    p_values: dict[str, float] = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            p_values[config["column"]] = float(metric["value"])
    detected = [name for name in reference.columns if p_values[name] <= args.alpha]
    print(
        json.dumps(
            {
                "evidently_version": evidently.__version__,
                "seconds": min(runs),
                "runs_s": runs,
                "detected": detected,
                "p_values": p_values,
                "checksum": checksum(reference, current),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
