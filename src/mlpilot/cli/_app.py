"""The ``mlpilot`` command: global options, command groups and error handling."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import mlpilot
from mlpilot.cli import (
    _artifacts,
    _datasets,
    _doctor,
    _events,
    _experiments,
    _gc,
    _models,
    _monitor,
    _output,
    _pipelines,
    _runs,
    _serve,
    _tune,
)
from mlpilot.cli._state import CliState
from mlpilot.errors import MlpilotError


class _Group(TyperGroup):
    """The root command; it turns every error a user can fix into one line and status 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) else 0
        except MlpilotError as exc:
            _output.error_line(str(exc))
            code = _output.USAGE_EXIT
        except typer.TyperException as exc:  # usage errors: unknown option, bad value, ...
            # Asked with no arguments, a group has printed its help already.
            if type(exc).__name__ != "NoArgsIsHelpError":
                _output.error_line(_usage_message(exc))
            code = exc.exit_code
        except typer.Abort:
            _output.error_line("aborted")
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code)


def _usage_message(exc: typer.TyperException) -> str:
    message = exc.format_message()
    command_path = getattr(getattr(exc, "ctx", None), "command_path", None)
    return f"{message} (see `{command_path} --help`)" if command_path else message


app = typer.Typer(
    name="mlpilot",
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="""Track, compare and clean up machine-learning runs, their datasets and pipelines.

    Settings come from the options below, then MLPILOT_* environment variables, then
    the mlpilot table of ./mlpilot.toml, then defaults (everything under ./.mlpilot).
    Every command that lists something takes --json for machine-readable output.
    """,
)
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_runs.app, name="runs")
app.add_typer(_artifacts.app, name="artifacts")
app.add_typer(_datasets.app, name="datasets")
app.add_typer(_pipelines.app, name="pipelines")
app.add_typer(_tune.app, name="tune")
app.add_typer(_models.app, name="models")
app.command("evaluate")(_models.evaluate_command)
app.command("serve")(_serve.serve_command)
app.add_typer(_monitor.app, name="monitor")
app.add_typer(_monitor.alerts_app, name="alerts")
app.command("events")(_events.events_command)
app.command("gc")(_gc.gc)
app.command("doctor")(_doctor.doctor)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mlpilot {mlpilot.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Folder for the default store and artifacts (MLPILOT_HOME).",
            file_okay=False,
        ),
    ] = None,
    store_uri: Annotated[
        str | None,
        typer.Option(
            "--store-uri",
            metavar="URI",
            help="Metadata database, e.g. sqlite:///path/mlpilot.db or "
            "postgresql+psycopg://user@host/db (MLPILOT_STORE_URI).",
        ),
    ] = None,
    artifacts_uri: Annotated[
        str | None,
        typer.Option(
            "--artifacts-uri",
            metavar="URL",
            help="Artifact store, any fsspec URL: file:///path, s3://bucket/prefix, ... "
            "(MLPILOT_ARTIFACTS_URI).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    state = CliState(home=home, store_uri=store_uri, artifacts_uri=artifacts_uri)
    ctx.obj = state
    ctx.call_on_close(state.close)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``mlpilot`` command line with ``argv`` (by default ``sys.argv[1:]``).

    Exits the process: 0 on success, 2 on any error a user can fix (printed as one
    ``error: ...`` line on stderr), 1 when a check or confirmation fails.
    """
    app(args=argv, prog_name="mlpilot")
