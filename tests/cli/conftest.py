"""Fixtures for the command line tests: a runner bound to the test's store."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mlpilot.cli import app
from mlpilot.config import Settings

Invoke = Callable[..., Result]


@pytest.fixture
def cli(settings: Settings) -> Invoke:
    """Run ``mlpilot ARGS...`` in-process against the test's store; returns the result.

    A wide terminal keeps table cells whole, so tests can look for their text.
    """
    runner = CliRunner(env={"COLUMNS": "200"})
    store_options = ["--store-uri", settings.store_uri, "--artifacts-uri", settings.artifacts_uri]

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, [*store_options, *args], input=input)

    return invoke


def parse_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """The command failed with status 2 and one ``error: ...`` line naming ``fragments``."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]
