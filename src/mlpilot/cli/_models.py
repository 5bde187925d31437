"""``mlpilot models`` and ``mlpilot evaluate``: the registry, promotion and evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.errors import InvalidInputError
from mlpilot.evaluate import (
    SPLITS,
    Evaluation,
    Scoring,
    evaluate,
    load_split,
    predict,
    write_evaluation_report,
)
from mlpilot.registry import CHAMPION, ModelRegistry, model_card, promote
from mlpilot.schedule import parse_duration
from mlpilot.serve import compare_traffic
from mlpilot.store import now_ms

app = typer.Typer(no_args_is_help=True, help="Model versions, aliases, promotion and rollback.")

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="A registered model.")]
UriArgument = Annotated[
    str, typer.Argument(metavar="MODEL", help="NAME@ALIAS or NAME/VERSION (models:/ optional).")
]
DataOption = Annotated[
    str, typer.Option("--on", metavar="DATASET@VERSION", help="The dataset version to score on.")
]
TargetOption = Annotated[str, typer.Option("--target", help="The label column of the dataset.")]
SplitOption = Annotated[
    str, typer.Option("--split", help=f"Rows to score: {', '.join(SPLITS)} (test).")
]


def _registry(ctx: typer.Context) -> ModelRegistry:
    return ModelRegistry(state(ctx).client())


@app.command("list")
def list_models(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """Registered models with their versions and aliases."""
    models = _registry(ctx).list_models()
    if as_json:
        _output.print_json([m.to_dict() for m in models])
        return
    if not models:
        _output.stderr().print("No models yet; register one with ModelRegistry.register.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("model", "versions", "aliases", "composite"):
        table.add_column(column)
    for m in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(
            m.name, str(m.latest_version or 0), aliases or _output.DASH, _weights(m.scoring)
        )
    _output.stdout().print(table)


@app.command("show")
def show(ctx: typer.Context, name: NameArgument, as_json: _output.JsonOption = False) -> None:
    """A model: its scoring, gate, aliases, how they moved and the gate's decisions."""
    registry = _registry(ctx)
    model = registry.get_model(name)
    moves = registry.moves(name)
    if as_json:
        decisions = registry.records.decisions(name)
        _output.print_json(
            model.to_dict()
            | {"moves": [m.to_dict() for m in moves], "decisions": [d.to_dict() for d in decisions]}
        )
        return
    console = _output.stdout()
    console.print(Text(model.name, style="bold"), f" {model.latest_version or 0} versions")
    console.print(f"composite: {_weights(model.scoring)}  ({model.scoring.task})")
    console.print(f"gate: {model.gate.to_dict()}")
    for alias, version in sorted(model.aliases.items()):
        console.print(f"  {alias} → version {version}")
    if moves:
        table = Table(box=None, header_style="bold", title="alias moves")
        for column in ("when", "alias", "move", "by", "why"):
            table.add_column(column)
        for m in moves[-20:]:
            arrow = f"{m.previous or _output.DASH} → {m.version}"
            table.add_row(
                _output.local_time(m.ts_ms), m.alias, f"{m.kind} {arrow}", m.actor, m.reason[:100]
            )
        console.print(table)


@app.command("versions")
def versions(ctx: typer.Context, name: NameArgument, as_json: _output.JsonOption = False) -> None:
    """A model's versions: run, data, composite with its interval, aliases."""
    found = _registry(ctx).versions(name)
    if as_json:
        _output.print_json([v.to_dict() for v in found])
        return
    table = Table(box=None, header_style="bold")
    for column in ("version", "aliases", "composite", "interval", "dataset", "run", "registered"):
        table.add_column(column)
    for v in found:
        ev = v.evaluation
        table.add_row(
            str(v.version),
            ", ".join(v.aliases) or _output.DASH,
            _output.DASH if ev is None else f"{ev.composite.value:.4f}",
            _output.DASH if ev is None else f"{ev.composite.low:.4f} – {ev.composite.high:.4f}",
            v.dataset or _output.DASH,
            _output.short_id(v.run_id),
            _output.human_time(v.created_ms),
        )
    _output.stdout().print(table)


@app.command("promote")
def promote_command(
    ctx: typer.Context,
    name: NameArgument,
    version: Annotated[str, typer.Argument(metavar="VERSION", help="The version to promote.")],
    on: DataOption,
    target: TargetOption,
    split: SplitOption = "test",
    alias: Annotated[str, typer.Option("--alias", help="The alias to move.")] = CHAMPION,
    override_reason: Annotated[
        str | None,
        typer.Option("--override-reason", help="Move the alias even if the gate says no."),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Move an alias to a version if it passes the model's gate against the current one,
    both scored on the same rows of a dataset version; exits 1 if it is refused."""
    client = state(ctx).client()
    data = load_split(client, on, target, split=split)
    result = promote(
        name,
        version,
        data.features,
        data.target,
        alias=alias,
        override_reason=override_reason,
        data=data.label,
        client=client,
    )
    if as_json:
        _output.print_json(result.to_dict())
    else:
        console = _output.stderr()
        verdict = (
            Text("overridden", style="yellow")
            if result.overridden
            else Text("promoted", style="green")
            if result.promoted
            else Text("refused", style="red")
        )
        console.print(Text.assemble(f"{name} version {result.version}: ", verdict))
        for check in result.decision.checks:
            mark = Text("✓", style="green") if check.passed else Text("✗", style="red")
            console.print(Text.assemble("  ", mark, f" {check.name}: {check.detail}"))
        where = ModelRegistry(client).get_model(name).aliases.get(alias)
        console.print(f"{name}@{alias} is version {where}")
    if not result.promoted:
        raise typer.Exit(1)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: NameArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded with the move.")],
    alias: Annotated[str, typer.Option("--alias", help="The alias to move back.")] = CHAMPION,
) -> None:
    """Move an alias back to the version it pointed at before its last promotion."""
    move = _registry(ctx).rollback(name, reason=reason, alias=alias)
    _output.stderr().print(f"{name}@{alias}: version {move.previous} → {move.version}")


@app.command("card")
def card(
    ctx: typer.Context,
    uri: UriArgument,
    as_html: Annotated[bool, typer.Option("--html", help="An HTML page, not Markdown.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write it to a file.")] = None,
) -> None:
    """The model card of a version, from the registry's record."""
    text = model_card(uri, fmt="html" if as_html else "markdown", client=state(ctx).client())
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text)
        _output.stderr().print(f"wrote {out}")


@app.command("load-check")
def load_check(ctx: typer.Context, uri: UriArgument) -> None:
    """Load a version, verifying its bytes against the registry; exits 2 if they differ."""
    version = _registry(ctx).check_loadable(uri)
    _output.stderr().print(
        f"{version.model} version {version.version} loads; sha256 {version.digest[:16]}… matches"
    )


@app.command("traffic")
def traffic(
    ctx: typer.Context,
    name: NameArgument,
    since: Annotated[
        str, typer.Option("--since", help="How far back: a duration such as 30m, 24h or 7d.")
    ] = "24h",
    as_json: _output.JsonOption = False,
) -> None:
    """Compare the versions that served NAME's live traffic, from the prediction log:
    latency, what each predicted, accuracy where labels arrived, and how often a
    shadow agreed with the primary on the same requests."""
    client = state(ctx).client()
    ModelRegistry(client).get_model(name)  # an unknown model is an error, not "no traffic"
    since_ms = now_ms() - int(parse_duration(since, "--since") * 1000)
    found = compare_traffic(name, since_ms=since_ms, client=client)
    if as_json:
        _output.print_json(found.to_dict())
        return
    if not found.versions:
        _output.stderr().print(
            f"No logged predictions of {name} in the last {since}; the server logs a "
            "log_sample share of requests."
        )
        return
    table = Table(
        box=None,
        header_style="bold",
        title=f"{name}: traffic of the last {since} (latency in ms)",
    )
    for column in ("version", "requests", "p50", "p95", "predicted", "labelled"):
        table.add_column(
            column,
            justify="left" if column in ("version", "predicted") else "right",
            no_wrap=column == "predicted",
        )
    table.add_column("MAE" if found.regression else "accuracy", justify="right")
    for v in found.versions:
        rows = "" if v.rows == v.requests else f" ({v.rows:,} rows)"
        table.add_row(
            f"{v.version} {v.role}",
            f"{v.requests:,}{rows}",
            f"{v.latency_p50_ms:.2f}",
            f"{v.latency_p95_ms:.2f}",
            ", ".join(
                f"{k} {_output.number(x)}" if k == "mean" else f"{k} {x:.0%}"
                for k, x in v.predictions.items()
            ),
            f"{v.labelled:,}",
            f"{v.accuracy:.1%}" if v.accuracy is not None else _output.number(v.mae),
        )
    console = _output.stdout()
    console.print(table)
    for s in found.shadows:
        same = (
            f"agreed with primary version {s.primary_version} on {s.agreement:.1%}"
            if s.agreement is not None
            else f"differed from primary version {s.primary_version} by "
            f"{_output.number(s.mean_difference)} on average"
        )
        gap = "" if s.score_gap is None else f"; class probabilities {s.score_gap:.3f} apart"
        console.print(f"shadow version {s.shadow_version} {same} of {s.rows:,} rows{gap}")


def evaluate_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run that logged a model.")],
    on: DataOption,
    target: TargetOption,
    split: SplitOption = "test",
    model: Annotated[str, typer.Option("--model", help="The model's name in the run.")] = "model",
    task: Annotated[str, typer.Option("--task", help="classification or regression.")] = (
        "classification"
    ),
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", "-w", metavar="METRIC=W", help="A composite weight (repeat)."),
    ] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=10)] = 1000,
    as_json: _output.JsonOption = False,
) -> None:
    """Score the model a run logged on a dataset version, with bootstrap intervals, and
    store the report (table and plots) with the run.

    mlpilot evaluate 3f9c2a1b --on breast-cancer@v1 --target target -w accuracy=0.3
    -w precision=0.3 -w recall=0.4
    """
    scoring = Scoring(task, _parse_weights(weight or []))
    client = state(ctx).client()
    run_id = client.resolve_run_id(run_id)
    data = load_split(client, on, target, split=split)
    fitted = client.load_model(run_id, model)
    result = evaluate(
        fitted, data.features, data.target, scoring=scoring, resamples=resamples, data=data.label
    )
    predictions = predict(fitted, data.features, scoring.task)
    write_evaluation_report(client, run_id, result, predictions, data.target)
    if as_json:
        _output.print_json(result.to_dict())
        return
    _output.stdout().print(evaluation_table(result))
    _output.stderr().print(
        f"stored with the run: mlpilot artifacts get {run_id[:8]} evaluation/report.html"
    )


def evaluation_table(result: Evaluation) -> Table:
    table = Table(box=None, header_style="bold", title=result.data or None)
    for column in ("metric", "value", f"{result.confidence:.0%} interval"):
        table.add_column(column)
    table.add_row(
        Text(f"composite ({_weights(result.scoring)})", style="bold"),
        f"{result.composite.value:.4f}",
        f"{result.composite.low:.4f} – {result.composite.high:.4f}",
    )
    for name, m in result.metrics.items():
        table.add_row(name, f"{m.value:.4f}", f"{m.low:.4f} – {m.high:.4f}")
    return table


def _parse_weights(pairs: list[str]) -> dict[str, float]:
    weights = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidInputError(f"--weight takes METRIC=NUMBER, not {pair!r}")
    return weights


def _weights(scoring: Scoring) -> str:
    return " + ".join(f"{w:g}·{m}" for m, w in scoring.weights.items())
