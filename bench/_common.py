"""Shared pieces for mlpilot's benchmarks.

* :func:`ensure_venv` builds (once) a side virtual environment holding a comparison
  library such as MLflow, so the comparison never touches mlpilot's own environment.
* :func:`run_worker` runs a worker script with that environment's interpreter and
  parses the single JSON object it prints.
* :class:`Row` and :func:`print_table` render the result table; :func:`print_json_line`
  prints the machine-readable summary as the last line of stdout.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent

# Progress and status messages go to stderr so that stdout carries only the result
# table followed by the JSON summary line.
err_console = Console(stderr=True)
# Piped or redirected output would wrap at 80 columns; tables stay readable at 120.
out_console = Console(width=None if sys.stdout.isatty() else 120)


def say(source: str, message: str, *, console: Console = err_console) -> None:
    """Print a progress message such as ``mlpilot  log_metric: 123 pts/s`` on stderr."""
    console.print(f"[cyan]{escape(source):<8}[/cyan] {escape(message)}", highlight=False)


# --------------------------------------------------------------------------- venvs


def venv_python(venv_dir: Path) -> Path:
    """Path of the interpreter inside ``venv_dir``."""
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _imports_ok(python: Path, module: str) -> bool:
    if not python.exists():
        return False
    proc = subprocess.run(
        [str(python), "-c", f"import {module}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return proc.returncode == 0


def _pip_status(line: str) -> str | None:
    """Turn one line of pip's output into a short status message, or None to skip it."""
    text = line.strip()
    prefixes = ("Collecting ", "Downloading ", "Processing ", "Using cached ", "Building ")
    for prefix in (*prefixes, "Installing "):
        if text.startswith(prefix):
            return text if len(text) < 90 else text[:87] + "..."
    if text.startswith("Successfully installed"):
        return "installed"
    return None


def ensure_venv(
    venv_dir: Path,
    packages: Sequence[str],
    import_name: str,
    *,
    console: Console = err_console,
) -> Path:
    """Return the interpreter of ``venv_dir``, creating the venv and installing
    ``packages`` first unless ``import_name`` already imports there.

    pip's output is shown as a live rich status and kept in ``venv_dir/pip-install.log``.
    """
    python = venv_python(venv_dir)
    if _imports_ok(python, import_name):
        return python

    log_path = venv_dir / "pip-install.log"
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("[dim]{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"Creating {venv_dir.name}", total=3, detail="")
        if not python.exists():
            if venv_dir.exists():
                shutil.rmtree(venv_dir)
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv_dir)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        progress.update(task, advance=1, description=f"pip install {' '.join(packages)}")

        cmd = [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            *packages,
        ]
        collected = 0
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if line.lstrip().startswith(("Collecting ", "Processing ")):
                    collected += 1
                status = _pip_status(line)
                if status is not None:
                    progress.update(task, detail=f"[{collected} pkgs] {status}")
            returncode = proc.wait()
        if returncode != 0:
            progress.stop()
            console.print(log_path.read_text(encoding="utf-8")[-4000:], markup=False)
            raise RuntimeError(f"pip install failed (exit {returncode}); see {log_path}")
        progress.update(task, advance=1, description=f"Checking import {import_name}")
        if not _imports_ok(python, import_name):
            raise RuntimeError(f"{import_name} does not import in {venv_dir}")
        progress.update(task, advance=1, description=f"{venv_dir.name} ready", detail="")
    return python


def run_worker(
    python: Path,
    script: Path,
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    console: Console = err_console,
    status: str = "running worker",
) -> dict[str, Any]:
    """Run ``script`` with ``python``; return the JSON object on its last stdout line.

    The worker's stderr (its progress messages and library warnings) is streamed to
    this process's stderr as it runs.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with console.status(status):
        proc = subprocess.run(
            [str(python), str(script), *args],
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            env=full_env,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} exited with {proc.returncode}:\n{proc.stdout[-4000:]}")
    for line in reversed(proc.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise RuntimeError(f"{script.name} printed no JSON result:\n{proc.stdout[-4000:]}")


# --------------------------------------------------------------------------- timing


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` holds the elapsed seconds."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Smallest wall time in seconds of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_of(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time in seconds of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def progress_bar(console: Console = err_console) -> Progress:
    """A determinate rich progress bar for setup loops."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


# --------------------------------------------------------------------------- output


def fmt_rate(value: float | None, unit: str = "pts/s") -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.0f} {unit}"


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1.0:
        return f"{value * 1000:,.1f} ms"
    return f"{value:,.2f} s"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}×"


@dataclass
class Row:
    workload: str
    mlpilot: str
    other: str
    ratio: str
    target: str
    met: bool | None


def print_table(
    title: str,
    rows: Sequence[Row],
    *,
    other_name: str = "MLflow",
    console: Console = out_console,
    caption: str | None = None,
) -> None:
    table = Table(title=title, caption=caption)
    table.add_column("workload", style="bold")
    table.add_column("mlpilot", justify="right")
    table.add_column(other_name, justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("met?", justify="center")
    for row in rows:
        if row.met is None:
            met = "[dim]—[/dim]"
        elif row.met:
            met = "[green]yes[/green]"
        else:
            met = "[red]no[/red]"
        table.add_row(row.workload, row.mlpilot, row.other, row.ratio, row.target, met)
    console.print(table)


def print_json_line(data: dict[str, Any]) -> None:
    """Print ``data`` as one compact JSON line on stdout (the benchmark's last line)."""
    sys.stdout.flush()
    print(json.dumps(data, separators=(",", ":"), default=str), flush=True)
