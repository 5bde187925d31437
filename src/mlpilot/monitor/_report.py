"""A window's drift report: the table of columns and tests, one plot per column of the
reference against the window, and an HTML page that shows them together."""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpilot.errors import NotFoundError
from mlpilot.evaluate._report import png as figure_png
from mlpilot.monitor.drift import CategoricalColumn, NumericColumn

if TYPE_CHECKING:
    from mlpilot.monitor._monitor import Monitors

# Categories drawn at most per plot; the rest are summed into one bar.
_MAX_CATEGORIES = 20


def write_window_report(
    monitors: Monitors, monitor: str, folder: str | Path, index: int | None = None
) -> Path:
    """Write the report of one stored window (the newest by default) into ``folder``:
    ``report.html``, ``drift.csv``, ``window.json`` and one ``<column>.png`` per column.

    Returns:
        The path of ``report.html``.

    Raises:
        NotFoundError: an unknown monitor, or one with no such window yet.
    """
    found = monitors.get(monitor)
    windows = monitors.windows(found.name)
    if index is not None:
        windows = [w for w in windows if w.index == index]
    if not windows:
        which = f"no window {index}" if index is not None else "no window yet"
        raise NotFoundError(f"monitor {found.name!r} has {which}; run `mlpilot monitor run-once`")
    window = windows[-1]
    profile = monitors.profile(found)
    from mlpilot.monitor._monitor import window_features

    current = window_features(found, monitors.window_frame(found, window.index))
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(
        window.results,
        columns=["column", "test", "statistic", "p_value", "threshold", "drifted", "reason"],
    )
    table.to_csv(out / "drift.csv", index=False)
    (out / "window.json").write_text(json.dumps(window.to_dict(), indent=2, default=str))
    plots: dict[str, str] = {}
    for position, (name, column) in enumerate(profile.columns.items()):
        values = current[name] if name in current.columns else pd.Series(dtype=object)
        file = f"{position:03d}-{_slug(name)}.png"
        try:
            png = figure_png(
                functools.partial(_draw, column=column, values=values), size=(5.5, 4.0), dpi=90
            )
        except (TypeError, ValueError) as exc:  # a column of unreadable values
            plots[name] = f"<p>no plot: {html.escape(str(exc))}</p>"
            continue
        (out / file).write_bytes(png)
        plots[name] = f'<img src="{html.escape(file)}" alt="{html.escape(name)}">'
    page = out / "report.html"
    page.write_text(_page(found.name, found.model, found.reference, window, table, plots))
    return page


def _draw(ax: Any, column: Any, values: pd.Series) -> None:
    if isinstance(column, NumericColumn):
        current = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        current = current[np.isfinite(current)]
        reference = column.sample[np.isfinite(column.sample)]
        both = np.concatenate([reference, current]) if len(current) else reference
        bins = np.histogram_bin_edges(both, bins=30) if len(both) else 10
        ax.hist(reference, bins=bins, density=True, alpha=0.5, label="reference")
        if len(current):
            ax.hist(current, bins=bins, density=True, alpha=0.5, label="window")
        ax.set(xlabel=column.name, ylabel="density")
    else:
        assert isinstance(column, CategoricalColumn)
        counts = values.dropna().astype(str).value_counts()
        window_share = counts / max(int(counts.sum()), 1)
        reference_share = pd.Series(column.proportions, index=list(column.categories))
        order = list(reference_share.sort_values(ascending=False).index[:_MAX_CATEGORIES])
        order += [c for c in window_share.index if c not in order][: _MAX_CATEGORIES // 2]
        positions = np.arange(len(order))
        ax.bar(
            positions - 0.2, [reference_share.get(c, 0.0) for c in order], 0.4, label="reference"
        )
        ax.bar(positions + 0.2, [window_share.get(c, 0.0) for c in order], 0.4, label="window")
        ax.set_xticks(positions, [c[:16] for c in order], rotation=45, ha="right")
        ax.set(xlabel=column.name, ylabel="share")
    ax.set_title(column.name)
    ax.legend()


def _page(
    name: str, model: str, reference: str, window: Any, table: pd.DataFrame, plots: dict[str, str]
) -> str:
    escape = html.escape
    performance = window.performance.get("metrics") or {}
    summary = ", ".join(f"{k} {v:.4g}" for k, v in performance.items()) or escape(
        window.performance.get("reason", "no labels")
    )
    latency = window.latency
    rows = "".join(
        "<tr{}>{}</tr>".format(
            ' class="drifted"' if r.drifted else "",
            "".join(
                f"<td>{escape(_cell(r[c]))}</td>"
                for c in (
                    "column",
                    "test",
                    "statistic",
                    "p_value",
                    "threshold",
                    "drifted",
                    "reason",
                )
            ),
        )
        for _, r in table.iterrows()
    )
    figures = "".join(
        f"<figure><figcaption>{escape(column)}</figcaption>{tag}</figure>"
        for column, tag in plots.items()
    )
    status = (
        "" if window.evaluable else f"<p><b>not evaluable:</b> {escape(window.reason or '')}</p>"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{escape(name)} window {window.index}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px}}tr.drifted{{background:#fdd}}
figure{{display:inline-block;margin:8px}}</style></head><body>
<h1>{escape(name)}: window {window.index}</h1>
<p>model {escape(model)}, reference {escape(reference)}; {window.rows} rows</p>
{status}
<p>drifted: {escape(", ".join(window.drifted_columns) or "none")}</p>
<p>performance: {summary}</p>
<p>latency p50 {_cell(latency.get("p50"))} ms, p99 {_cell(latency.get("p99"))} ms</p>
<table><tr><th>column</th><th>test</th><th>statistic</th><th>p</th><th>threshold</th>
<th>drifted</th><th>reason</th></tr>{rows}</table>
{figures}
</body></html>
"""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "column"
