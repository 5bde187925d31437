"""``mlpilot datasets``: the commands a user runs on files and versions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.config import Settings
from mlpilot.registry import ModelRegistry
from mlpilot.store import Store
from mlpilot.testing._monitors import monitor
from mlpilot.testing._registry import GATE, SCORING
from mlpilot.tracking import TrackingClient

from .conftest import Invoke, assert_one_line_error, parse_json

PEOPLE = pd.DataFrame({"age": [34, 51, 29, 40], "plan": ["basic", "pro", "pro", "basic"]})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    PEOPLE.to_parquet(tmp_path / "v1.parquet")
    changed = PEOPLE.assign(plan=["basic", "pro", "vip", None], age=[34, 51, 29, -3])
    changed.to_csv(tmp_path / "v2.csv", index=False)
    return {"v1": tmp_path / "v1.parquet", "v2": tmp_path / "v2.csv"}


def register(cli: Invoke, *args: str) -> dict[str, object]:
    result = parse_json(cli("datasets", "register", *args, "--json"))
    assert isinstance(result, dict)
    return result


def test_register_list_versions_and_show(cli: Invoke, files: dict[str, Path]) -> None:
    first = register(cli, "people", str(files["v1"]), "--tag", "prod", "-d", "the panel")
    again = register(cli, "people", str(files["v1"]))
    second = register(cli, "people", str(files["v2"]), "--parent", "people@v1")

    assert (first["ref"], again["ref"], second["ref"]) == ("people@v1", "people@v1", "people@v2")
    assert first["tags"] == ["prod"]

    listed = parse_json(cli("datasets", "list", "--json"))
    assert [(d["name"], d["versions"], d["latest"]["ref"]) for d in listed] == [
        ("people", 2, "people@v2")
    ]
    table = cli("datasets", "versions", "people")
    assert table.exit_code == 0
    assert "v1" in table.stdout and "prod" in table.stdout and "csv:" in table.stdout

    shown = cli("datasets", "show", "people@prod")
    assert shown.exit_code == 0, shown.output
    assert "people@v1  4 rows × 2 columns" in shown.stdout
    assert "basic (2)" in shown.stdout
    profile = parse_json(cli("datasets", "show", "people@prod", "--json"))["profile"]
    assert profile["age"]["min"] == 29


def test_a_schema_written_from_one_version_checks_the_next(
    cli: Invoke, files: dict[str, Path], tmp_path: Path
) -> None:
    register(cli, "people", str(files["v1"]))
    register(cli, "people", str(files["v2"]))
    schema = tmp_path / "people.schema.toml"

    written = cli("datasets", "schema", "people@v1", "--ranges", "-o", str(schema))
    assert written.exit_code == 0, written.output
    assert 'allowed = [\n    "basic",\n    "pro",\n]' in schema.read_text()

    passed = cli("datasets", "validate", "people@v1", "--schema", str(schema))
    assert passed.exit_code == 0
    assert "all rules pass on 4 rows" in passed.stdout

    failed = cli("datasets", "validate", "people@v2", "--schema", str(schema))
    assert failed.exit_code == 1
    assert "people@v2: 3 rule(s) fail" in failed.stdout
    for fragment in ("allowed", "vip", "nullable", "range", "-3"):
        assert fragment in failed.stdout

    report = cli("datasets", "validate", "people@v2", "--like", "people@v1", "--json")
    assert report.exit_code == 1
    assert '"ok": false' in report.stdout


def test_diff_shows_what_changed(cli: Invoke, files: dict[str, Path]) -> None:
    register(cli, "people", str(files["v1"]))
    register(cli, "people", str(files["v2"]))
    result = parse_json(cli("datasets", "diff", "people@v1", "people@v2", "--json"))
    changes = {(c["column"], c["aspect"]) for c in result["stats"]}
    assert {("plan", "values"), ("age", "min"), ("plan", "null_share")} <= changes
    assert result["schema"] == []
    table = cli("datasets", "diff", "people@v1", "people@v2")
    assert "['vip']" in table.stdout


def test_lineage_shows_runs_and_models(
    cli: Invoke, files: dict[str, Path], settings: Settings
) -> None:
    register(cli, "people", str(files["v1"]))
    store = Store(settings)
    client = TrackingClient(store)
    from sklearn.dummy import DummyClassifier

    with client.create_run(name="fit-plan") as run:
        frame = run.read_dataset("people").to_pandas()
        run.log_model(DummyClassifier().fit(frame[["age"]], frame.plan), name="planner")
    store.registry.create_model("planner", scoring=SCORING, gate=GATE)
    ModelRegistry(client).register("planner", run.id, artifact="planner", dataset="people@v1")
    store.monitors.create(dataclasses.replace(monitor("planner-watch"), reference="people@v1"))
    store.close()

    tree = cli("datasets", "lineage", "people@v1")
    assert tree.exit_code == 0, tree.output
    assert "run fit-plan" in tree.stdout and "model 'planner'" in tree.stdout
    assert "model version planner v1" in tree.stdout
    assert "monitor 'planner-watch' of model 'churn'" in tree.stdout
    document = parse_json(cli("datasets", "lineage", "people@v1", "--json"))
    assert document["models"] == [{"run_id": run.id, "model": "planner"}]
    assert [(m["model"], m["version"]) for m in document["model_versions"]] == [("planner", 1)]
    assert [m["name"] for m in document["monitors"]] == ["planner-watch"]


def test_tags_move_and_go(cli: Invoke, files: dict[str, Path]) -> None:
    register(cli, "people", str(files["v1"]))
    register(cli, "people", str(files["v2"]))
    assert cli("datasets", "tag", "people@v2", "prod").exit_code == 0
    assert parse_json(cli("datasets", "show", "people@prod", "--json"))["version"] == 2
    assert cli("datasets", "untag", "people", "prod").exit_code == 0
    assert_one_line_error(cli("datasets", "show", "people@prod"), "no version 'prod'")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("show", "people@v9"), ("no dataset named 'people'",)),
        (("register", "people", "missing.csv"), ("no such file or folder",)),
        (("register", "bad name", "x.csv"), ("dataset name 'bad name' is not valid",)),
        (("validate", "people"), ("give exactly one of --schema FILE or --like REF",)),
        (("validate", "people", "--schema", "nope.toml"), ("no schema file at",)),
        (("tag", "people", "latest"), ("reserved",)),
        (("schema", "people", "-o", "no/such/dir/s.toml"), ("cannot write the schema",)),
    ],
)
def test_mistakes_get_one_line_and_status_2(
    cli: Invoke, files: dict[str, Path], args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    if args[0] in ("tag", "schema"):
        register(cli, "people", str(files["v1"]))
    assert_one_line_error(cli("datasets", *args), *fragments)
