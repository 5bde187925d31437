"""``mlpilot tune``: run a study from a file and a TOML space, list, show and resume it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Invoke, assert_one_line_error, parse_json

SEARCH = str(Path(__file__).with_name("_search.py"))

SPACE = """
[model]
type = "categorical"
choices = ["svm", "forest"]

[x]
type = "float"
low = -4.0
high = 4.0

[C]
type = "float"
low = 0.01
high = 100.0
log = true
when = { model = "svm" }
"""


@pytest.fixture
def space(tmp_path: Path) -> str:
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    return str(path)


def test_run_records_the_study_and_show_reports_its_best(cli: Invoke, space: str) -> None:
    ran = parse_json(
        cli(
            "tune",
            "run",
            f"{SEARCH}:quadratic",
            "--space",
            space,
            "--trials",
            "12",
            "--parallel",
            "2",
            "--cpus",
            "2",
            "--seed",
            "3",
            "--json",
        )
    )
    assert ran["status"] == "finished"
    assert ran["trials_by_state"] == {"complete": 12}
    assert ran["sampler"]["name"] == "tpe"

    shown = parse_json(cli("tune", "show", "quadratic", "--json"))
    trials = shown["trials"]
    assert len(trials) == 12
    best = max(trials, key=lambda t: t["values"][0])
    assert shown["best"]["number"] == best["number"]
    # The conditional parameter exists exactly when its condition holds.
    assert all(("C" in t["params"]) == (t["params"]["model"] == "svm") for t in trials)
    assert set(shown["importances"]) <= {"model", "x", "C"}

    text = cli("tune", "show", ran["study_id"][:8])
    assert text.exit_code == 0, text.output
    assert f"Best trial #{best['number']}" in text.stdout
    # A study of seconds draws no report unless asked: drawing would cost more than it.
    assert f"no report drawn yet: mlpilot tune report {ran['study_id'][:8]}" in text.stdout
    drawn = cli("tune", "report", ran["study_id"][:8])
    assert drawn.exit_code == 0, drawn.output
    assert f"mlpilot artifacts get {ran['study_id'][:8]} report.html" in drawn.stdout
    assert "report.html" in cli("artifacts", "list", ran["study_id"]).stdout
    assert "plots and report: mlpilot artifacts get" in cli("tune", "show", "quadratic").stdout

    listed = parse_json(cli("tune", "list", "--json"))
    assert [s["study_id"] for s in listed] == [ran["study_id"]]


def test_several_directions_show_the_pareto_front(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[x]\ntype = "float"\nlow = -1.0\nhigh = 3.0\n')
    ran = parse_json(
        cli(
            "tune",
            "run",
            f"{SEARCH}:two_goals",
            "--space",
            str(path),
            "--sampler",
            "nsga2",
            "-d",
            "minimize",
            "-d",
            "minimize",
            "-m",
            "left",
            "-m",
            "right",
            "--trials",
            "10",
            "--cpus",
            "2",
            "--json",
        )
    )
    assert ran["metrics"] == ["left", "right"]
    trials = parse_json(cli("tune", "show", "two_goals", "--json"))["trials"]
    front = {t["number"] for t in ran["best"]}

    def dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
        pairs = list(zip(a["values"], b["values"], strict=True))
        return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)

    for t in trials:
        beaten = any(dominates(o, t) for o in trials)
        assert beaten == (t["number"] not in front)
    text = cli("tune", "show", "two_goals")
    assert "Pareto front" in text.stdout


def test_resume_spends_only_the_rest_of_the_budget(cli: Invoke, space: str) -> None:
    first = parse_json(
        cli(
            "tune",
            "run",
            f"{SEARCH}:quadratic",
            "--space",
            space,
            "--trials",
            "5",
            "--cpus",
            "2",
            "--json",
        )
    )
    again = parse_json(cli("tune", "resume", first["study_id"], "--json"))
    # The budget was spent: resuming a finished study adds no trial.
    assert again["trials_by_state"] == {"complete": 5}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--sampler", "annealing", "--trials", "3"), "unknown sampler 'annealing'"),
        (("--pruner", "hyperband", "--trials", "3"), "unknown pruner 'hyperband'"),
        ((), "give the study a budget"),
        (("--trials", "3", "--timeout", "soon"), "cannot read the timeout 'soon'"),
        (("--trials", "3", "-d", "up"), "a direction is 'maximize' or 'minimize'"),
    ],
)
def test_mistakes_are_one_line_errors(
    cli: Invoke, space: str, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(
        cli("tune", "run", f"{SEARCH}:quadratic", "--space", space, *args), fragment
    )
    # Nothing was started for a study that was refused.
    assert parse_json(cli("tune", "list", "--json")) == []


def test_bad_files_and_names_are_one_line_errors(cli: Invoke, space: str, tmp_path: Path) -> None:
    assert_one_line_error(
        cli("tune", "run", f"{SEARCH}:nope", "--space", space, "--trials", "2"),
        "has no objective 'nope'",
    )
    assert_one_line_error(
        cli("tune", "run", f"{SEARCH}:quadratic", "--space", "missing.toml", "--trials", "2"),
        "no search space file missing.toml",
    )
    broken = tmp_path / "broken.toml"
    broken.write_text('[x]\ntype = "float"\nlow = 3.0\nhigh = 1.0\n')
    assert_one_line_error(
        cli("tune", "run", f"{SEARCH}:quadratic", "--space", str(broken), "--trials", "2"),
        "low (3.0) is above high (1.0)",
    )
    assert_one_line_error(cli("tune", "show", "nobody"), "no study named 'nobody'")


def test_a_wrong_name_offers_only_the_files_own_functions(
    cli: Invoke, space: str, tmp_path: Path
) -> None:
    search = tmp_path / "imports.py"
    search.write_text(
        "from json import dumps\n"
        "from os.path import join\n\n\n"
        "def objective(trial):\n"
        "    return trial.params['x']\n"
    )
    result = cli("tune", "run", f"{search}:nope", "--space", space, "--trials", "2")
    line = assert_one_line_error(result, "has no objective 'nope'")
    assert line.endswith("its objectives: objective")
