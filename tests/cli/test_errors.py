"""Bad input gets one ``error: ...`` line and status 2; global options reach the library."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import mlpilot
from mlpilot.cli import app
from mlpilot.tracking import TrackingClient

from .conftest import Invoke, assert_one_line_error, parse_json


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
    # MLPILOT_HOME (set for every test) names another, empty, store.
    assert parse_json(CliRunner().invoke(app, ["runs", "list", "--json"])) == []
