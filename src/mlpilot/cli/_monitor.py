"""``mlpilot monitor`` and ``mlpilot alerts``: monitors of served models, their windows,
labels that arrive later, and the alerts their rules raise."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table
from rich.text import Text

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.errors import InvalidInputError
from mlpilot.monitor import AlertRecord, Monitor, Monitors, WindowResult, write_window_report
from mlpilot.monitor._monitor import SETTINGS

#: Drifted columns named per window in `monitor show`.
_NAMES = 3
app = typer.Typer(no_args_is_help=True, help="Watch served models: drift, performance, latency.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts raised by monitors' rules.")

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="A monitor.")]
# What a --config file may set: a monitor's settings (and, on creation, its model and
# whether to backfill).
_UPDATE_KEYS = set(SETTINGS) - {"paused"}
_CREATE_KEYS = _UPDATE_KEYS | {"model", "backfill"}


def _monitors(ctx: typer.Context) -> Monitors:
    return Monitors(state(ctx).client())


ReferenceOption = Annotated[
    str | None,
    typer.Option("--reference", metavar="DATASET@VERSION", help="What traffic is compared with."),
]
TargetOption = Annotated[str | None, typer.Option("--target", help="The reference's label column.")]
FeatureOption = Annotated[
    list[str] | None,
    typer.Option("--feature", "-f", help="A column to test (repeatable; all by default)."),
]
WindowRowsOption = Annotated[
    int | None, typer.Option("--window-rows", help="Windows of this many rows (500).")
]
WindowSecondsOption = Annotated[
    int | None, typer.Option("--window-seconds", help="Or windows of this many seconds.")
]
RuleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--rule",
        metavar="'METRIC OP NUMBER' | JSON",
        help=(
            "An alert rule (repeatable): a condition, or a JSON table with its actions, "
            """e.g. '{"when": "psi > 0.2", "actions": ["record", "rollback"]}'."""
        ),
    ),
]
MinLabelsOption = Annotated[
    int | None, typer.Option("--min-labels", help="Labels a window needs to be scored (30).")
]
LatencyOption = Annotated[
    float | None, typer.Option("--latency-p99-ms", help="The latency target.")
]
CorrectionOption = Annotated[
    str | None,
    typer.Option(
        "--correction",
        help="How p-values of many columns are corrected: bh (default), bonferroni, none.",
    ),
]
FollowOption = Annotated[
    str | None,
    typer.Option(
        "--follow",
        metavar="ALIAS",
        help=(
            "The alias whose version's training data becomes the reference when it moves "
            "(champion); none keeps the reference."
        ),
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="A TOML file with these settings and [[rules]] tables."),
]


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArgument,
    model: Annotated[str | None, typer.Option("--model", help="The served model.")] = None,
    reference: ReferenceOption = None,
    target: TargetOption = None,
    feature: FeatureOption = None,
    window_rows: WindowRowsOption = None,
    window_seconds: WindowSecondsOption = None,
    rule: RuleOption = None,
    min_labels: MinLabelsOption = None,
    latency_p99_ms: LatencyOption = None,
    correction: CorrectionOption = None,
    follow: FollowOption = None,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="Evaluate the traffic logged before the monitor too (reported, never acted on).",
        ),
    ] = False,
    config: ConfigOption = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Create a monitor of the traffic from now on; the reference profile is computed
    once, now.

    mlpilot monitor create churn-prod --model churn --reference churn@v3 --target churned
    --window-rows 500 --rule 'psi > 0.2' --rule 'accuracy < 0.8'
    """
    spec = _settings(
        config,
        _CREATE_KEYS,
        model=model,
        reference=reference,
        target=target,
        features=feature or None,
        window_rows=window_rows,
        window_seconds=window_seconds,
        min_labels=min_labels,
        latency_p99_ms=latency_p99_ms,
        correction=correction,
        follow=follow,
        rules=_rules(rule),
        backfill=backfill or None,
    )
    for needed in ("model", "reference"):
        if needed not in spec:
            raise InvalidInputError(f"say which {needed} to monitor (--{needed})")
    monitor = _monitors(ctx).create(name, **spec)
    if as_json:
        _output.print_json(monitor.to_dict())
        return
    _output.stderr().print(
        f"Created monitor {monitor.name} of {monitor.model} against {monitor.reference} "
        f"({_window(monitor)}, {len(monitor.features)} features, {len(monitor.rules)} rules)"
    )


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArgument,
    reference: ReferenceOption = None,
    target: TargetOption = None,
    feature: FeatureOption = None,
    window_rows: WindowRowsOption = None,
    window_seconds: WindowSecondsOption = None,
    rule: RuleOption = None,
    min_labels: MinLabelsOption = None,
    latency_p99_ms: LatencyOption = None,
    correction: CorrectionOption = None,
    follow: FollowOption = None,
    config: ConfigOption = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Change a monitor's settings; the rules given replace its rules. Its windows and
    alerts stay.

    mlpilot monitor update churn-prod --reference churn@v4 --config rules.toml
    """
    changes = _settings(
        config,
        _UPDATE_KEYS,
        reference=reference,
        target=target,
        features=feature or None,
        window_rows=window_rows,
        window_seconds=window_seconds,
        min_labels=min_labels,
        latency_p99_ms=latency_p99_ms,
        correction=correction,
        follow=follow,
        rules=_rules(rule),
    )
    if not changes:
        raise InvalidInputError("say what to change, e.g. --reference or --rule")
    monitor = _monitors(ctx).update(name, **changes)
    if as_json:
        _output.print_json(monitor.to_dict())
        return
    _output.stderr().print(f"Updated monitor {monitor.name}: {', '.join(sorted(changes))}")


@app.command("pause")
def pause(ctx: typer.Context, name: NameArgument) -> None:
    """Stop evaluating a monitor; the traffic logged meanwhile is evaluated on resume."""
    _monitors(ctx).pause(name)
    _output.stderr().print(f"Paused monitor {name}; resume it with: mlpilot monitor resume {name}")


@app.command("resume")
def resume(ctx: typer.Context, name: NameArgument) -> None:
    """Evaluate a paused monitor again, from where it stopped."""
    _monitors(ctx).resume(name)
    _output.stderr().print(f"Resumed monitor {name}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a monitor with its windows and alerts (the events stay)."""
    monitors = _monitors(ctx)
    monitors.get(name)
    if not yes and not typer.confirm(f"Delete monitor {name} with its windows and alerts?"):
        raise typer.Exit(1)
    monitors.delete(name)
    _output.stderr().print(f"Deleted monitor {name}")


@app.command("list")
def list_monitors(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """Monitors with their model, reference and window."""
    found = _monitors(ctx).list_monitors()
    if as_json:
        _output.print_json([m.to_dict() for m in found])
        return
    if not found:
        _output.stderr().print("No monitors yet; create one with `mlpilot monitor create`.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("monitor", "model", "reference", "window", "features", "rules"):
        table.add_column(column)
    for m in found:
        table.add_row(
            m.name,
            m.model,
            m.reference,
            _window(m),
            ", ".join(m.features),
            "; ".join(f"{r['name']}: {r['when']}" for r in m.rules) or _output.DASH,
        )
    _output.stdout().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    name: NameArgument,
    last: Annotated[int, typer.Option("--last", min=1, help="Windows to show.")] = 20,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write the last window's HTML and PNG report here."),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """A monitor's last windows (drifted columns, performance, p99) and its open alerts."""
    monitors = _monitors(ctx)
    monitor = monitors.get(name)
    windows = monitors.windows(name, last)
    alerts = monitors.alerts(name, open_only=True)
    page = write_window_report(monitors, name, report) if report is not None else None
    if as_json:
        _output.print_json(
            {
                "monitor": monitor.to_dict(),
                "windows": [w.to_dict() for w in windows],
                "open_alerts": [a.to_dict() for a in alerts],
                "report": None if page is None else str(page),
            }
        )
        return
    console = _output.stdout()
    console.print(
        Text(monitor.name, style="bold"),
        f" watches {monitor.model} against {monitor.reference}, {_window(monitor)}",
    )
    if windows:
        console.print(_windows_table(monitor, windows))
    else:
        console.print("No windows yet; run `mlpilot monitor run-once " + name + "`.")
    if alerts:
        console.print(_alerts_table(alerts, title="open alerts"))
    if page is not None:
        _output.stderr().print(f"Wrote the report of the last window to {page}")


@app.command("run-once")
def run_once(ctx: typer.Context, name: NameArgument, as_json: _output.JsonOption = False) -> None:
    """Evaluate the traffic logged since the last window; print the new windows and the
    alerts they raised."""
    monitors = _monitors(ctx)
    monitor = monitors.get(name)
    windows = monitors.run_once(monitor)
    if as_json:
        _output.print_json([w.to_dict() for w in windows])
        return
    if not windows:
        _output.stderr().print("No complete window of new traffic yet.")
        return
    console = _output.stdout()
    console.print(_windows_table(monitor, windows))
    raised = [alert for window in windows for alert in window.alerts]
    if raised:
        console.print(_alerts_table(raised, title="alerts raised"))


@app.command("labels")
def labels(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="MONITOR_OR_MODEL")],
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV or Parquet: request_id, [row], label.")
    ],
) -> None:
    """Store ground truth that arrived for logged predictions; all or nothing."""
    frame = _read_labels(file)
    stored = _monitors(ctx).record_labels(target, frame)
    _output.stderr().print(f"Stored {stored} labels.")


@alerts_app.command("list")
def list_alerts(
    ctx: typer.Context,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only alerts not acknowledged.")
    ] = False,
    monitor: Annotated[str | None, typer.Option("--monitor", help="Only this monitor's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest this many.")] = 50,
    as_json: _output.JsonOption = False,
) -> None:
    """Alerts, newest last, with what their actions did."""
    found = _monitors(ctx).alerts(monitor, open_only=open_only, limit=limit)
    if as_json:
        _output.print_json([a.to_dict() for a in found])
        return
    if not found:
        _output.stderr().print("No alerts.")
        return
    _output.stdout().print(_alerts_table(found))


@alerts_app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
    note: Annotated[str, typer.Option("--note", help="Why, or what was done.")] = "",
) -> None:
    """Acknowledge an alert."""
    alert = _monitors(ctx).acknowledge(alert_id, note)
    _output.stderr().print(f"Alert {alert.id} acknowledged by {alert.acked_by}.")


def _windows_table(monitor: Monitor, windows: list[WindowResult]) -> Table:
    table = Table(box=None, header_style="bold")
    metric = "accuracy" if monitor.task == "classification" else "rmse"
    for column in ("window", "start", "rows", "drifted", metric, "labels", "p99 ms", "alerts"):
        table.add_column(column)
    for w in windows:
        drifted: Text | str
        if not w.evaluable:
            drifted = Text(f"not evaluable: {w.reason}", style="dim")
        else:
            names = w.drifted_columns
            # A count and the first few names keep one line per window.
            shown = ", ".join(names[:_NAMES]) + (", …" if len(names) > _NAMES else "")
            drifted = Text(
                f"{len(names)}: {shown}" if names else "none",
                style="red" if names else "green",
            )
        value = (w.performance.get("metrics") or {}).get(metric)
        p99 = w.latency.get("p99")
        slow = bool(w.latency.get("over_target"))
        table.add_row(
            f"{w.index}{' (rescored)' if w.rescored else ''}",
            _output.local_time(w.start_ms),
            str(w.rows),
            drifted,
            _output.number(value),
            str(w.performance.get("labels", 0)),
            Text(_output.number(p99), style="red" if slow else ""),
            ", ".join(a.rule for a in w.alerts) or "",
        )
    return table


def _alerts_table(alerts: list[AlertRecord], title: str | None = None) -> Table:
    table = Table(box=None, header_style="bold", title=title)
    for column in ("id", "when", "monitor", "rule", "window", "state", "message", "actions"):
        table.add_column(column)
    for a in alerts:
        actions = ", ".join(f"{o['kind']}: {o['status']}" for o in a.actions)
        table.add_row(
            str(a.id),
            _output.local_time(a.ts_ms),
            a.monitor,
            a.rule,
            str(a.window_index),
            a.state,
            a.message,
            actions,
        )
    return table


def _window(monitor: Monitor) -> str:
    if "rows" in monitor.window:
        return f"windows of {monitor.window['rows']} rows"
    return f"windows of {monitor.window['seconds']} s"


def _rules(given: list[str] | None) -> list[Any] | None:
    """``--rule`` values: conditions as they are, JSON tables read."""
    if not given:
        return None
    rules: list[Any] = []
    for text in given:
        if not text.lstrip().startswith("{"):
            rules.append(text)
            continue
        try:
            rules.append(json.loads(text))
        except ValueError as exc:
            raise InvalidInputError(f"--rule {text!r} is not a JSON table: {exc}") from None
    return rules


def _settings(config: Path | None, allowed: set[str], **given: Any) -> dict[str, Any]:
    """The settings of ``config`` (if any) with the options given over them."""
    spec = _config(config, allowed) if config is not None else {}
    spec.update({k: v for k, v in given.items() if v is not None})
    if spec.get("follow") == "none":
        spec["follow"] = None
    return spec


def _config(path: Path, allowed: set[str]) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid TOML: {exc}") from None
    table = document.get("monitor", document)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown setting {', '.join(unknown)}; use {', '.join(sorted(allowed))}"
        )
    return dict(table)


def _read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InvalidInputError(f"no file {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype={"request_id": str})
        else:
            raise InvalidInputError(f"labels come as .csv or .parquet, got {path.name}")
    except (OSError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"cannot read labels from {path}: {exc}") from None
    if "request_id" in frame.columns:
        frame["request_id"] = frame["request_id"].astype(str)
    return frame
