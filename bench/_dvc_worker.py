"""DVC side of the dataset benchmark.

Runs inside the side environment ``bench/.venv-dvc`` (see ``bench/datasets.py``) and
prints one JSON object on stdout; progress messages go to stderr.

For each repetition it makes a fresh ``dvc init --no-scm`` repository, copies the given
Parquet file into it (untimed: in real use the file is written there by pyarrow, whose
time the main benchmark measures) and times ``dvc add`` through the CLI, as a user runs
it. DVC has no reader of its own, so reading back is ``pq.read_table`` of the workspace
file; after deleting that file, ``dvc checkout`` and the same read are timed together.

Usage: python _dvc_worker.py --workdir DIR --parquet FILE --repeat N
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def _say(message: str) -> None:
    print(f"dvc      {message}", file=sys.stderr, flush=True)


def _dvc_cli() -> list[str]:
    executable = Path(sys.executable).with_name("dvc")
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "dvc"]


def _run(args: list[str], cwd: Path) -> float:
    """Run the DVC CLI with ``args`` in ``cwd``; return its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(
        [*_dvc_cli(), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} exited {proc.returncode}: {proc.stdout[-2000:]}")
    return elapsed


def _new_repo(workdir: Path, name: str) -> Path:
    repo = workdir / name
    repo.mkdir(parents=True)
    _run(["init", "--no-scm", "-q"], repo)
    _run(["config", "core.analytics", "false"], repo)
    # Keep DVC's state database inside the benchmark's temporary folder.
    _run(["config", "core.site_cache_dir", str(workdir / f"{name}-site-cache")], repo)
    return repo


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--parquet", required=True, type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import dvc
    import pyarrow.parquet as pq

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    expected_rows = pq.read_metadata(args.parquet).num_rows

    startup = min(_run(["--version"], workdir) for _ in range(3))
    _say(f"CLI start-up: {startup * 1000:,.0f} ms")

    add_times: list[float] = []
    repo = workdir
    for rep in range(args.repeat):
        repo = _new_repo(workdir, f"repo-{rep}")
        shutil.copyfile(args.parquet, repo / "data.parquet")
        add_times.append(_run(["add", "-q", "data.parquet"], repo))
        if not (repo / "data.parquet.dvc").exists():
            raise RuntimeError("dvc add wrote no data.parquet.dvc")
        _say(f"dvc add: {add_times[-1] * 1000:,.0f} ms")

    data = repo / "data.parquet"
    read_times: list[float] = []
    for _ in range(max(args.repeat, 3)):
        start = time.perf_counter()
        table = pq.read_table(data)
        read_times.append(time.perf_counter() - start)
        if table.num_rows != expected_rows:
            raise RuntimeError(f"read {table.num_rows} rows, expected {expected_rows}")
    _say(f"pq.read_table of the workspace file: {min(read_times) * 1000:,.0f} ms")

    checkout_times: list[float] = []
    for _ in range(args.repeat):
        data.unlink()
        start = time.perf_counter()
        _run(["checkout", "-q"], repo)
        table = pq.read_table(data)
        checkout_times.append(time.perf_counter() - start)
        if table.num_rows != expected_rows:
            raise RuntimeError(f"checkout gave {table.num_rows} rows, expected {expected_rows}")
    _say(f"dvc checkout + read: {min(checkout_times) * 1000:,.0f} ms")

    result: dict[str, Any] = {
        "dvc_version": dvc.__version__,
        "dvc_cli_startup_s": startup,
        "dvc_add_s": min(add_times),
        "dvc_add_times_s": add_times,
        "dvc_read_s": min(read_times),
        "dvc_checkout_read_s": min(checkout_times),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
