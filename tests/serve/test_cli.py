"""``mlpilot serve`` as a user runs it: mistakes end in one ``error:`` line and status 2,
and SIGTERM stops the server after it has written what it owes the store."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from mlpilot.config import Settings
from mlpilot.registry import ModelRegistry
from mlpilot.serve import read_predictions
from mlpilot.tracking import TrackingClient

from . import body, corrupt, rows
from .conftest import Start, free_port, run_cli, sqlite_only

pytestmark = [pytest.mark.integration, sqlite_only]


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The command failed with status 2 and one ``error: ...`` line naming ``fragments``."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_an_unknown_model_is_one_line_error(client: TrackingClient, settings: Settings) -> None:
    done = run_cli(settings, "nosuch@champion", "--port", str(free_port()))

    assert_one_line_error(done, "'nosuch'")
    assert done.stdout == ""


def test_a_version_that_does_not_load_is_one_line_error(
    cancer: TrackingClient, settings: Settings
) -> None:
    corrupt(cancer, ModelRegistry(cancer).get_version("cancer", 1))

    done = run_cli(settings, "cancer@champion", "--port", str(free_port()))

    assert_one_line_error(done, "cancer", "version 1")


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[[models]]\nuri = "cancer@champion"\nmax_batch = 0\n', "max_batch"),
        ('[[models]]\nuri = "cancer@champion"\nsplit = 2\n', "split"),
        ('[[models]]\nuri = "cancer@champion"\nmax_batches = 8\n', "max_batches"),
        ('[server]\nport = "http"\n[[models]]\nuri = "cancer@champion"\n', "port"),
        ('[server]\nlog_sample = 2\n[[models]]\nuri = "cancer@champion"\n', "log_sample"),
        ("[[models]\n", "serve.toml"),
    ],
    ids=["max_batch", "split", "unknown", "port", "log_sample", "syntax"],
)
def test_a_bad_config_is_one_line_error_naming_the_setting(
    client: TrackingClient, settings: Settings, tmp_path: Path, toml: str, fragment: str
) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(toml, encoding="utf-8")

    assert_one_line_error(run_cli(settings, "--config", str(path)), fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["cancer@champion", "--split", "2"], "split"),
        (["cancer@champion", "--max-batch", "0"], "--max-batch"),
        (["cancer", "--port", "9"], "'cancer'"),
        (["cancer@champion", "--port", "70000"], "port"),
        (["cancer@champion", "--config", "serve.toml"], "--config"),
        (["a@champion", "b@champion", "--challenger", "a@challenger"], "--challenger"),
        ([], "name a model"),
    ],
    ids=["split", "max-batch", "uri", "port", "both", "challenger", "none"],
)
def test_bad_arguments_are_one_line_error(
    client: TrackingClient, settings: Settings, tmp_path: Path, args: list[str], fragment: str
) -> None:
    (tmp_path / "serve.toml").write_text('[[models]]\nuri = "cancer@champion"\n', "utf-8")

    assert_one_line_error(run_cli(settings, *args), fragment)


def test_a_port_in_use_is_one_line_error(cancer: TrackingClient, settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = run_cli(settings, "cancer@champion", "--host", "127.0.0.1", "--port", str(port))

    assert_one_line_error(done, str(port))


def test_sigterm_stops_the_server_after_writing_the_prediction_log(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion", "--log-sample", "1")
    for index in range(20):
        response = running.predict("cancer", body(rows(index)))
        assert response.status_code == 200, response.text

    assert running.stop() == 0, running.output()

    assert len(read_predictions("cancer", client=cancer)) == 20
