"""The ``mlpilot`` command: global options, command groups and error handling."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import typer
from typer import _click as click  # the click that typer ships with, and whose types it uses
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo

import mlpilot
from mlpilot.cli import _output
from mlpilot.cli._state import CliState
from mlpilot.errors import MlpilotError

_MARKUP: Literal["markdown"] = "markdown"


class _Entry(NamedTuple):
    """A command of the root group: where it lives, and its line in ``mlpilot --help``."""

    target: str  # "module:attribute", a Typer app (a group) or a command function
    help: str


#: The commands, in the order ``mlpilot --help`` lists them. Each module is imported only
#: when its command runs, so that a command pays for the libraries it uses and no others.
_COMMANDS = {
    "evaluate": _Entry(
        "mlpilot.cli._models:evaluate_command",
        "Score the model a run logged on a dataset version, with bootstrap intervals, "
        "and store the report (table and plots) with the run.",
    ),
    "serve": _Entry(
        "mlpilot.cli._serve:serve_command",
        "Serve registered models over HTTP, following their aliases as they move.",
    ),
    "server": _Entry(
        "mlpilot.cli._server:server_command",
        "Serve this store to a team over HTTP: clients set MLPILOT_STORE_URI=http://...",
    ),
    "users": _Entry("mlpilot.cli._accounts:users_app", "Users of a team server and their roles."),
    "tokens": _Entry("mlpilot.cli._accounts:tokens_app", "API tokens of a team server's users."),
    "login": _Entry("mlpilot.cli._accounts:login_command", "Store an API token for a team server."),
    "events": _Entry(
        "mlpilot.cli._events:events_command",
        "Print the events table, newest last: time, kind, object, actor, payload.",
    ),
    "gc": _Entry(
        "mlpilot.cli._gc:gc",
        "Remove artifact blobs that no run refers to, and temporary files of dead writers.",
    ),
    "doctor": _Entry(
        "mlpilot.cli._doctor:doctor",
        "Show versions and settings, and check that the stores really work.",
    ),
    "experiments": _Entry("mlpilot.cli._experiments:app", "List experiments."),
    "runs": _Entry("mlpilot.cli._runs:app", "List, show, compare and delete runs."),
    "artifacts": _Entry("mlpilot.cli._artifacts:app", "List and download run artifacts."),
    "datasets": _Entry(
        "mlpilot.cli._datasets:app",
        "Versioned datasets: register files, inspect profiles, validate, trace lineage.",
    ),
    "pipelines": _Entry(
        "mlpilot.cli._pipelines:app", "Run, list, show, resume and cancel pipelines."
    ),
    "tune": _Entry("mlpilot.cli._tune:app", "Run, list, show and resume hyperparameter studies."),
    "models": _Entry("mlpilot.cli._models:app", "Model versions, aliases, promotion and rollback."),
    "monitor": _Entry(
        "mlpilot.cli._monitor:app", "Watch served models: drift, performance, latency."
    ),
    "alerts": _Entry("mlpilot.cli._monitor:alerts_app", "Alerts raised by monitors' rules."),
    "triggers": _Entry(
        "mlpilot.cli._triggers:app", "Pipelines started on a cron schedule or on new data."
    ),
    "controller": _Entry(
        "mlpilot.cli._controller:controller_command",
        "Run every monitor and trigger on its own, and settle what their alerts start "
        "(one active, others stand by).",
    ),
}


def load_command(name: str) -> click.Command:
    """The click command ``name`` of the root group, importing the module that defines it."""
    module, attribute = _COMMANDS[name].target.split(":")
    target = getattr(importlib.import_module(module), attribute)
    command: click.Command
    if isinstance(target, typer.Typer):
        command = typer.main.get_group_from_info(
            TyperInfo(target),
            pretty_exceptions_short=False,
            rich_markup_mode=_MARKUP,
            suggest_commands=True,
        )
    else:
        command = typer.main.get_command_from_info(
            CommandInfo(name=name, callback=target),
            pretty_exceptions_short=False,
            rich_markup_mode=_MARKUP,
        )
    command.name = name
    return command


class _Group(TyperGroup):
    """The root command; it turns every error a user can fix into one line and status 2.

    Its commands load on first use (see :data:`_COMMANDS`); listing them in the help
    shows their lines without importing them.
    """

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=_COMMANDS[cmd_name].help)
        return load_command(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

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
    rich_markup_mode=_MARKUP,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="""Track, compare and clean up machine-learning runs, their datasets and pipelines.

    Settings come from the options below, then MLPILOT_* environment variables, then
    the mlpilot table of ./mlpilot.toml, then defaults (everything under ./.mlpilot).
    Every command that lists something takes --json for machine-readable output.
    """,
)


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
