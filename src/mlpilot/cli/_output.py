"""Rendering shared by the commands: consoles, JSON, error lines and value formats.

Tables go to stdout through rich; ``--json`` documents go to stdout as plain JSON, so
they can be piped into ``jq``; messages and errors go to stderr.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

#: Shown where a value is missing.
DASH = "—"
#: Exit status of every error a user can fix: bad input, unknown ids, corrupted artifacts.
USAGE_EXIT = 2

_STATUS_STYLES = {
    "running": "cyan",
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "pruned": "magenta",
}
_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def stdout() -> Console:
    """A console on the current stdout (looked up when printing, so tests can capture it).

    Markup is off: names, params and tags are the user's text, and ``[x]`` in them is
    printed as it is. Styles are given as :class:`rich.text.Text` or ``style=``.
    """
    return Console(highlight=False, markup=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, markup=False)


def print_json(document: Any) -> None:
    """Write ``document`` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


def error_line(message: str) -> None:
    """Print ``error: <message>`` on stderr, on one line."""
    text = " ".join(str(message).split()) or "unknown error"
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {text}", err=True)


def fail(message: str) -> NoReturn:
    """Print an error line and exit with status 2."""
    error_line(message)
    raise typer.Exit(USAGE_EXIT)


def local_time(ms: int | None) -> str:
    """A UTC millisecond timestamp as local wall-clock time."""
    if ms is None:
        return DASH
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def human_time(ms: int | None) -> str:
    """A UTC millisecond timestamp as a short local time: ``today 14:03``, ``Mar 02 09:15``."""
    if ms is None:
        return DASH
    moment = datetime.fromtimestamp(ms / 1000).astimezone()
    days_ago = (datetime.now().astimezone().date() - moment.date()).days
    if days_ago == 0:
        return moment.strftime("today %H:%M")
    if days_ago == 1:
        return moment.strftime("yesterday %H:%M")
    if 0 < days_ago < 300:
        return moment.strftime("%b %d %H:%M")
    return moment.strftime("%Y-%m-%d")


def duration(ms: int | None) -> str:
    """``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m`` or ``3d 04h``."""
    if ms is None:
        return DASH
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def size(n: int) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    value = float(n)
    for unit in _SIZE_UNITS:
        if abs(value) < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # unreachable: the last unit always returns


def number(value: float | None) -> str:
    """A metric value, short enough for a table cell."""
    return DASH if value is None else f"{value:.6g}"


def status(value: str) -> Text:
    """A run status, coloured."""
    return Text(value, style=_STATUS_STYLES.get(value, ""))


def short_id(run_id: str) -> str:
    return run_id[:8]


#: The ``--json`` flag every listing command takes.
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]


ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor", help="local (worker processes here) or ray (RAY_ADDRESS, or a local Ray)."
    ),
]
CpusOption = Annotated[
    int | None, typer.Option("--cpus", min=1, help="Cores the local executor may use (all).")
]
