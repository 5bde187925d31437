"""``mlpilot pipelines``: run, list, show and the errors a user can make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Invoke, assert_one_line_error, parse_json

FLOWS = Path(__file__).resolve().parents[1] / "schedule" / "_flows.py"


def test_run_list_and_show_a_pipeline(cli: Invoke) -> None:
    ran = parse_json(
        cli(
            "pipelines",
            "run",
            f"{FLOWS}:squares",
            "--param",
            "items=[1, 2]",
            "--param",
            "offset=3",
            "--cpus",
            "2",
            "--json",
        )
    )
    assert ran["status"] == "finished"
    assert ran["tasks"] == {"done": 3}

    listed = parse_json(cli("pipelines", "list", "--json"))
    assert [(r["run_id"], r["pipeline"], r["params"]) for r in listed] == [
        (ran["run_id"], "squares", {"items": [1, 2], "offset": 3})
    ]
    shown = parse_json(cli("pipelines", "show", ran["run_id"][:8], "--json"))
    tasks = {t["name"]: t for t in shown["tasks"]}
    assert list(tasks) == ["square[1]", "square[2]", "total"]
    assert tasks["total"]["upstream"] == ["square[1]", "square[2]"]
    assert tasks["square[1]"]["attempts"][0]["cpus"] in (1, 2)

    drawn = cli("pipelines", "show", ran["run_id"])
    assert drawn.exit_code == 0, drawn.output
    assert "square[2]  done" in drawn.stdout
    assert "← square[1], square[2]" in drawn.stdout
    # Runs of pipelines are runs like any other.
    assert ran["run_id"][:8] in cli("runs", "list").stdout


def test_a_failed_run_exits_1_and_show_prints_the_error(cli: Invoke, tmp_path: Path) -> None:
    ran = cli(
        "pipelines",
        "run",
        f"{FLOWS}:flaky_pipeline",
        "--param",
        f"marker={tmp_path / 'count'}",
        "--param",
        "failures=9",
        "--json",
    )
    assert ran.exit_code == 1
    run_id = json.loads(ran.stdout)["run_id"]
    shown = cli("pipelines", "show", run_id)
    assert "flaky  failed" in shown.stdout
    assert "RuntimeError: failure 3" in shown.stdout


def test_mistakes_are_one_line_errors(cli: Invoke, tmp_path: Path) -> None:
    cases = [
        (("pipelines", "run", "nowhere.py:flow"), "no pipeline file nowhere.py"),
        (("pipelines", "run", f"{FLOWS}"), "name a pipeline as FILE:NAME"),
        (("pipelines", "run", f"{FLOWS}:nope"), "has no pipeline 'nope'; its pipelines: busy"),
        (("pipelines", "run", f"{FLOWS}:squares", "--param", "items"), "NAME=VALUE"),
        (("pipelines", "run", f"{FLOWS}:squares", "--param", "x=1"), "no parameter 'x'"),
        (("pipelines", "run", f"{FLOWS}:chain"), "missing a required argument: 'log'"),
        (("pipelines", "run", f"{FLOWS}:squares", "--deadline", "-5m"), "cannot read"),
        (("pipelines", "run", f"{FLOWS}:squares", "--deadline", "2001-01-01"), "already passed"),
        (("pipelines", "run", f"{FLOWS}:squares", "--policy", "lifo"), "unknown policy"),
        (("pipelines", "run", f"{FLOWS}:squares", "--executor", "gpu"), "gpu"),
        (("pipelines", "show", "0123456789"), "0123456789"),
        (("pipelines", "resume", "0123456789"), "0123456789"),
        (("pipelines", "cancel", "0123456789"), "0123456789"),
    ]
    for args, fragment in cases:
        assert_one_line_error(cli(*args), fragment)
    assert parse_json(cli("pipelines", "list", "--json")) == []


def test_a_list_parameter_given_plain_text_is_refused_before_any_task_runs(
    cli: Invoke,
) -> None:
    refused = cli("pipelines", "run", f"{FLOWS}:models", "--param", "families=logreg")

    assert_one_line_error(refused, "parameter 'families' takes list[str]")
    assert """--param families='["logreg"]'""" in refused.stderr
    assert parse_json(cli("pipelines", "list", "--json")) == []  # no run started
    wrong_json = cli("pipelines", "run", f"{FLOWS}:models", "--param", 'families="logreg"')
    assert_one_line_error(wrong_json, "parameter 'families' takes list[str], not 'logreg'")


def test_parameters_are_read_by_their_annotations(cli: Invoke) -> None:
    ran = parse_json(
        cli(
            "pipelines",
            "run",
            f"{FLOWS}:models",
            "--param",
            'families=["logreg", "forest"]',
            "--param",
            "label=123",  # text, for a str parameter, though it reads as JSON
            "--json",
        )
    )

    assert ran["status"] == "finished"
    assert ran["tasks"] == {"done": 2}
    shown = parse_json(cli("pipelines", "show", ran["run_id"], "--json"))
    assert shown["params"] == {"families": ["logreg", "forest"], "label": "123"}
    # a program that writes every value as JSON gets back what it wrote
    quoted = parse_json(
        cli("pipelines", "run", f"{FLOWS}:models", "--param", 'label="churn"', "--json")
    )
    shown = parse_json(cli("pipelines", "show", quoted["run_id"], "--json"))
    assert shown["params"]["label"] == "churn"
    for task in shown["tasks"]:
        assert task["seconds"] == pytest.approx(sum(a["seconds"] for a in task["attempts"]))
