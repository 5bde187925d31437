"""``mlpilot datasets``: register, inspect, validate and trace dataset versions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.store import (
    DataSchema,
    DatasetDiff,
    Lineage,
    RunLink,
    ValidationReport,
    diff_versions,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Versioned datasets: register files, inspect profiles, validate, trace lineage.",
)

RefArgument = Annotated[
    str, typer.Argument(metavar="REF", help="NAME, NAME@vN, NAME@latest or NAME@TAG.")
]
RangesOption = Annotated[
    bool, typer.Option("--ranges", help="Bound numeric columns by the observed min and max.")
]


@app.command("register")
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset to add a version to.")],
    paths: Annotated[list[Path], typer.Argument(help="Parquet or CSV files, or folders of them.")],
    tags: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Point this tag at the version.")
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="Describe the dataset.")
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", metavar="REF", help="The version this came from.")
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Store files as a new version of dataset NAME (the same content gives the same version).

    Example: mlpilot datasets register churn data/churn-2026-11.parquet --tag prod
    """
    datasets = state(ctx).client().datasets
    with _output.stderr().status(f"Registering {name} …"):
        version = datasets.register(
            name, paths, tags=tags or (), description=description, parent=parent
        )
    if as_json:
        _output.print_json(version.to_dict(profile=False))
        return
    _output.stdout().print(
        f"{version.ref}  {version.num_rows:,} rows × {len(version.columns)} columns  "
        f"{_output.size(version.num_bytes)}  digest {version.digest[:12]}"
        + (f"  tags: {', '.join(version.tags)}" if version.tags else "")
    )


@app.command("list")
def list_datasets(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """List every dataset with its newest version.

    Example: mlpilot datasets list
    """
    summaries = state(ctx).client().datasets.list_datasets()
    if as_json:
        _output.print_json([s.to_dict() for s in summaries])
        return
    if not summaries:
        _output.stderr().print("No datasets yet: mlpilot datasets register NAME FILE")
        return
    table = Table("name", "versions", "latest", "rows", "columns", "size", "tags", "updated")
    for s in summaries:
        table.add_row(
            s.name,
            str(s.versions),
            f"v{s.latest.version}",
            f"{s.latest.num_rows:,}",
            str(len(s.latest.columns)),
            _output.size(s.latest.num_bytes),
            ", ".join(s.latest.tags) or _output.DASH,
            _output.human_time(s.latest.created_ms),
        )
    _output.stdout().print(table)


@app.command("versions")
def list_versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset.")],
    as_json: _output.JsonOption = False,
) -> None:
    """List the versions of one dataset, oldest first.

    Example: mlpilot datasets versions churn
    """
    versions = state(ctx).client().datasets.versions(name)
    if as_json:
        _output.print_json([v.to_dict(profile=False) for v in versions])
        return
    table = Table("version", "rows", "columns", "size", "digest", "tags", "source", "created")
    for v in versions:
        table.add_row(
            f"v{v.version}",
            f"{v.num_rows:,}",
            str(len(v.columns)),
            _output.size(v.num_bytes),
            v.digest[:12],
            ", ".join(v.tags) or _output.DASH,
            v.source,
            _output.human_time(v.created_ms),
        )
    _output.stdout().print(table)


@app.command("show")
def show(ctx: typer.Context, ref: RefArgument, as_json: _output.JsonOption = False) -> None:
    """Show a version: where it came from, and each column's type and profile.

    Example: mlpilot datasets show churn@prod
    """
    version = state(ctx).client().datasets.get(ref)
    if as_json:
        _output.print_json(version.to_dict())
        return
    out = _output.stdout()
    out.print(
        f"{version.ref}  {version.num_rows:,} rows × {len(version.columns)} columns  "
        f"{_output.size(version.num_bytes)}"
    )
    out.print(f"digest   {version.digest}")
    out.print(f"source   {version.source}")
    out.print(f"created  {_output.local_time(version.created_ms)} by {version.created_by}")
    if version.tags:
        out.print(f"tags     {', '.join(version.tags)}")
    table = Table("column", "type", "nulls", "distinct", "min", "max", "mean", "std", "top values")
    for column in version.columns:
        p = version.profile[column["name"]]
        table.add_row(
            p.name,
            p.type,
            f"{p.null_share:.1%}",
            _cell(p.distinct),
            _cell(p.min),
            _cell(p.max),
            _cell(p.mean),
            _cell(p.std),
            ", ".join(f"{v} ({c:,})" for v, c in p.top[:3]) or _output.DASH,
        )
    out.print(table)


@app.command("schema")
def schema(
    ctx: typer.Context,
    ref: RefArgument,
    ranges: RangesOption = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the TOML here instead.")
    ] = None,
) -> None:
    """Print a schema (TOML) that the version satisfies, to edit and validate against.

    Example: mlpilot datasets schema churn@v1 -o churn.schema.toml
    """
    text = state(ctx).client().datasets.get(ref).infer_schema(ranges=ranges).to_toml()
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            _output.fail(f"cannot write the schema to {output}: {exc.strerror or exc}")
        _output.stderr().print(f"Wrote {output}")


@app.command("validate")
def validate(
    ctx: typer.Context,
    ref: RefArgument,
    schema_file: Annotated[
        Path | None, typer.Option("--schema", metavar="FILE", help="A schema in TOML.")
    ] = None,
    like: Annotated[
        str | None,
        typer.Option("--like", metavar="REF", help="Infer the schema from another version."),
    ] = None,
    ranges: RangesOption = False,
    as_json: _output.JsonOption = False,
) -> None:
    """Check a version against a schema; exits 1 if any rule fails.

    Example: mlpilot datasets validate churn@latest --schema churn.schema.toml
    """
    if (schema_file is None) == (like is None):
        _output.fail("give exactly one of --schema FILE or --like REF")
    datasets = state(ctx).client().datasets
    rules = (
        DataSchema.from_toml(schema_file)
        if schema_file is not None
        else datasets.get(str(like)).infer_schema(ranges=ranges)
    )
    report = datasets.validate(ref, rules)
    if as_json:
        _output.print_json(dataclasses.asdict(report) | {"ok": report.ok})
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("lineage")
def lineage(ctx: typer.Context, ref: RefArgument, as_json: _output.JsonOption = False) -> None:
    """Show what produced a version and what used it (runs, models, derived versions).

    Example: mlpilot datasets lineage churn@v3
    """
    found = state(ctx).client().dataset_lineage(ref)
    if as_json:
        _output.print_json(found.to_dict())
        return
    _output.stdout().print(_lineage_tree(found))


@app.command("diff")
def diff(
    ctx: typer.Context,
    before: Annotated[str, typer.Argument(metavar="BEFORE", help="The older version.")],
    after: Annotated[str, typer.Argument(metavar="AFTER", help="The newer version.")],
    as_json: _output.JsonOption = False,
) -> None:
    """Compare two versions: columns added, removed or retyped, and profile changes.

    Example: mlpilot datasets diff churn@v2 churn@v3
    """
    datasets = state(ctx).client().datasets
    result = diff_versions(datasets.get(before), datasets.get(after))
    if as_json:
        _output.print_json(dataclasses.asdict(result))
        return
    _print_diff(result)


@app.command("tag")
def tag(
    ctx: typer.Context,
    ref: RefArgument,
    name: Annotated[str, typer.Argument(metavar="TAG", help="The tag, e.g. prod.")],
) -> None:
    """Point TAG at a version (moving it from the version it named before).

    Example: mlpilot datasets tag churn@v3 prod
    """
    version = state(ctx).client().datasets.tag(ref, name)
    _output.stderr().print(f"{version.name}@{name} → {version.ref}")


@app.command("untag")
def untag(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(metavar="NAME", help="The dataset.")],
    name: Annotated[str, typer.Argument(metavar="TAG", help="The tag to remove.")],
) -> None:
    """Remove a tag from a dataset.

    Example: mlpilot datasets untag churn prod
    """
    state(ctx).client().datasets.untag(dataset, name)
    _output.stderr().print(f"Removed {dataset}@{name}")


# ---------------------------------------------------------------------- rendering


def _print_report(report: ValidationReport) -> None:
    out = _output.stdout()
    if report.ok:
        out.print(Text(f"✓ {report}", style="green"))
        return
    table = Table("column", "rule", "expected", "failing rows", "examples", title=None)
    for f in report.failures:
        table.add_row(
            f.column,
            f.rule,
            f.expected,
            f"{f.failing_rows:,}",
            ", ".join(str(e) if isinstance(e, str) else repr(e) for e in f.examples)
            or _output.DASH,
        )
    out.print(Text(f"✗ {report.dataset}: {len(report.failures)} rule(s) fail", style="red"))
    out.print(table)


def _print_diff(result: DatasetDiff) -> None:
    out = _output.stdout()
    rows_before, rows_after = result.rows
    out.print(
        f"{result.before} → {result.after}: rows {rows_before:,} → {rows_after:,}"
        + ("  (same content)" if result.same_content else "")
    )
    if not result.schema and not result.stats:
        out.print("No differences in schema or profiles.")
        return
    table = Table("column", "change", "before", "after")
    for change in result.schema + result.stats:
        table.add_row(change.column, change.aspect, _cell(change.before), _cell(change.after))
    out.print(table)


def _lineage_tree(found: Lineage) -> Tree:
    version = found.version
    tree = Tree(f"{version.ref}  ({version.num_rows:,} rows, digest {version.digest[:12]})")
    made = tree.add("produced by")
    made.add(f"source: {version.source}")
    if found.parent is not None:
        made.add(f"derived from {found.parent.ref}")
    for link in found.produced_by:
        made.add(_run_label(link))
    used = tree.add("used by")
    models: dict[str, list[str]] = {}
    for run_id, model in found.models:
        models.setdefault(run_id, []).append(model)
    for link in found.used_by:
        branch = used.add(_run_label(link))
        for model in models.get(link.run_id, []):
            branch.add(f"model {model!r}")
    for child in found.children:
        used.add(f"derived version {child.ref}")
    for trained in found.model_versions:
        used.add(f"model version {trained.model} v{trained.version}")
    for watching in found.monitors:
        used.add(f"monitor {watching.name!r} of model {watching.model!r}")
    if not (found.used_by or found.children or found.model_versions or found.monitors):
        used.add(_output.DASH)
    return tree


def _run_label(link: RunLink) -> str:
    step = f", step {link.step}" if link.step else ""
    return f"run {link.run_name} ({_output.short_id(link.run_id)}, {link.status}{step})"


def _cell(value: Any) -> str:
    if value is None:
        return _output.DASH
    if isinstance(value, float):
        return _output.number(value)
    return str(value)
