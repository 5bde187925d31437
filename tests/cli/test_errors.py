"""Bad input gets one ``error: ...`` line and status 2; global options reach the library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer import _click as click
from typer.core import TyperGroup
from typer.testing import CliRunner

import mlpilot
from mlpilot.cli import app
from mlpilot.cli._app import load_command
from mlpilot.cli._state import CREATING_COMMANDS
from mlpilot.tracking import TrackingClient

from .conftest import Invoke, assert_one_line_error, parse_json


def mlpilot_command() -> list[str]:
    """The installed console script, or the same entry point through this Python."""
    beside_python = Path(sys.executable).parent / "mlpilot"
    found = str(beside_python) if beside_python.exists() else shutil.which("mlpilot")
    if found is not None:
        return [found]
    return [sys.executable, "-c", "from mlpilot.cli import main; main()"]


@pytest.fixture
def run_id(client: TrackingClient) -> str:
    with client.create_run("iris", "only") as run:
        run.log_metric("acc", 0.9)
    return run.id


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["runs", "show", "ffffffffffff"], ["no run with id", "ffffffffffff"]),
        (["runs", "show", "abc"], ["too short"]),
        (["runs", "show", "not-an-id!"], ["is not a run id"]),
        (["runs", "list", "--filter", "metrics.acc >"], ["filter", "ends early"]),
        (["runs", "list", "--filter", "params.lr > 1"], ["params.lr is text"]),
        (["runs", "list", "--order-by", "colour DESC"], ["unknown field 'colour'"]),
        (["runs", "list", "--experiment", "nope"], ["no experiment named 'nope'"]),
        (["runs", "list", "--limit", "-1"], ["--limit", "runs list --help"]),
        (["runs", "list", "--bogus"], ["No such option: --bogus"]),
        (["runz"], ["No such command 'runz'"]),
        (["artifacts", "list", "ffffffffffff"], ["no run with id"]),
        (["runs", "delete", "ffffffffffff", "--yes"], ["no run with id"]),
    ],
)
def test_bad_input_exits_2_with_one_line(
    run_id: str, cli: Invoke, args: list[str], fragments: list[str]
) -> None:
    result = cli(*args)
    assert_one_line_error(result, *fragments)
    assert result.stdout == ""


def test_path_traversal_is_refused(run_id: str, cli: Invoke) -> None:
    assert_one_line_error(cli("artifacts", "get", run_id, "../x"), "'../x'", "cannot leave")


def test_bad_settings_are_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--store-uri", "mysql://db/x", "runs", "list"])
    assert_one_line_error(result, "unsupported store backend 'mysql'")


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mlpilot {mlpilot.__version__}"


def test_help_lists_the_command_groups() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("experiments", "runs", "artifacts", "gc", "doctor"):
        assert group in result.stdout


def test_home_option_chooses_where_the_default_store_lives(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    client = TrackingClient(home=home)
    with client.create_run("iris", "at-home"):
        pass
    client.store.close()

    listed = parse_json(CliRunner().invoke(app, ["--home", str(home), "runs", "list", "--json"]))
    assert [entry["name"] for entry in listed] == ["at-home"]
    # MLPILOT_HOME (set for every test) names another home, where there is no store.
    assert_one_line_error(
        CliRunner().invoke(app, ["runs", "list", "--json"]), "no mlpilot store at"
    )


#: Commands that only look, or change what must exist already: none creates a store.
NOT_CREATING = [
    ["runs", "list"],
    ["runs", "show", "ffffffffffff"],
    ["runs", "delete", "ffffffffffff", "--yes"],
    ["experiments", "list"],
    ["artifacts", "list", "ffffffffffff"],
    ["datasets", "list"],
    ["models", "list"],
    ["models", "versions", "churn"],
    ["pipelines", "list"],
    ["tune", "list"],
    ["monitor", "list"],
    ["alerts", "list"],
    ["events"],
    ["gc", "--dry-run"],
]


@pytest.mark.parametrize("args", NOT_CREATING, ids=" ".join)
def test_a_command_on_a_mistyped_sqlite_path_creates_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    path = tmp_path / "no" / "such" / "dir" / "x.db"
    result = CliRunner().invoke(app, ["--store-uri", f"sqlite:///{path}", *args])
    assert_one_line_error(result, f"no mlpilot store at {path}", "mlpilot doctor")
    assert not (tmp_path / "no").exists()


def test_a_read_command_on_a_database_without_a_store_leaves_it_alone(
    empty_store_uri: str,
) -> None:
    result = CliRunner().invoke(app, ["--store-uri", empty_store_uri, "models", "list"])
    assert_one_line_error(result, "no mlpilot store at")
    assert CliRunner().invoke(app, ["--store-uri", empty_store_uri, "doctor"]).exit_code == 0
    listed = CliRunner().invoke(app, ["--store-uri", empty_store_uri, "models", "list", "--json"])
    assert parse_json(listed) == []


def test_registering_a_dataset_creates_the_store(tmp_path: Path) -> None:
    path = tmp_path / "new" / "mlpilot.db"
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    store = ["--store-uri", f"sqlite:///{path}"]

    result = CliRunner().invoke(app, [*store, "datasets", "register", "points", str(data)])
    assert result.exit_code == 0, result.output
    assert path.is_file()
    listed = parse_json(CliRunner().invoke(app, [*store, "datasets", "list", "--json"]))
    assert [entry["name"] for entry in listed] == ["points"]


@pytest.mark.parametrize("name", sorted(CREATING_COMMANDS))
def test_the_commands_that_may_create_a_store_exist(name: str) -> None:
    group, *rest = name.split()
    command = load_command(group)
    for word in rest:
        assert isinstance(command, TyperGroup), name
        found = command.get_command(click.Context(command), word)
        assert found is not None, name
        command = found


def test_the_console_script_reports_a_mistyped_store_path(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "x.db"
    done = subprocess.run(
        [*mlpilot_command(), "--store-uri", f"sqlite:///{path}", "runs", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: no mlpilot store at {path};")
    assert "No runs match" not in done.stdout + done.stderr
    assert not (tmp_path / "no").exists()
