"""``mlpilot runs`` and ``mlpilot experiments``: what they print matches what was logged."""

from __future__ import annotations

import pytest

from mlpilot.cli import _runs
from mlpilot.errors import NotFoundError
from mlpilot.tracking import Run, TrackingClient

from .conftest import Invoke, assert_one_line_error, parse_json


def _sweep(client: TrackingClient) -> list[Run]:
    """Three finished runs in experiment "iris" and one in "wine"."""
    runs = []
    for index, (model, acc) in enumerate([("svm", 0.91), ("gbm", 0.95), ("svm", 0.88)]):
        with client.create_run(
            "iris", f"trial-{index}", params={"model": model, "C": index}, tags={"team": "cv"}
        ) as run:
            run.log_metric("acc", acc)
            run.log_metric("loss", 1 - acc, step=3)
        runs.append(run)
    with client.create_run("wine", "other", params={"depth": 4}) as run:
        run.log_metric("rmse", 0.4)
    runs.append(run)
    return runs


def test_experiments_list_json_counts_runs(client: TrackingClient, cli: Invoke) -> None:
    _sweep(client)
    experiments = parse_json(cli("experiments", "list", "--json"))
    assert {e["name"]: e["run_count"] for e in experiments} == {"iris": 3, "wine": 1}


def test_runs_list_json_matches_what_was_logged(client: TrackingClient, cli: Invoke) -> None:
    runs = _sweep(client)
    listed = parse_json(cli("runs", "list", "--json"))
    by_id = {entry["id"]: entry for entry in listed}
    assert set(by_id) == {run.id for run in runs}
    for run in runs:
        stored = client.get_run(run.id)
        entry = by_id[run.id]
        assert entry["params"] == stored.params
        assert entry["metrics"] == stored.metrics
        assert entry["tags"] == stored.tags
        assert entry["status"] == "finished"
        assert entry["experiment"] == stored.experiment
        assert entry["duration_ms"] == stored.end_ms - stored.start_ms  # type: ignore[operator]
    assert by_id[runs[1].id]["metrics"] == {"acc": 0.95, "loss": pytest.approx(0.05)}


def test_runs_list_filters_orders_and_pages(client: TrackingClient, cli: Invoke) -> None:
    runs = _sweep(client)
    ordered = parse_json(
        cli("runs", "list", "-e", "iris", "--order-by", "metrics.acc DESC", "--json")
    )
    assert [entry["id"] for entry in ordered] == [runs[1].id, runs[0].id, runs[2].id]

    svm = parse_json(
        cli("runs", "list", "--filter", "params.model = 'svm' and metrics.acc > 0.9", "--json")
    )
    assert [entry["id"] for entry in svm] == [runs[0].id]

    page = parse_json(
        cli(
            "runs",
            "list",
            "-e",
            "iris",
            "-o",
            "metrics.acc",
            "--limit",
            "1",
            "--offset",
            "1",
            "--json",
        )
    )
    assert [entry["id"] for entry in page] == [runs[0].id]

    both = parse_json(cli("runs", "list", "-e", "iris", "-e", "wine", "--json"))
    assert len(both) == 4


def test_runs_list_table_shows_short_ids_status_and_common_keys(
    client: TrackingClient, cli: Invoke
) -> None:
    runs = _sweep(client)
    result = cli("runs", "list", "--experiment", "iris")
    assert result.exit_code == 0, result.output
    for run in runs[:3]:
        assert run.id[:8] in result.stdout
        assert run.id not in result.stdout  # ids are shortened
    assert runs[3].id[:8] not in result.stdout
    for text in ("finished", "acc", "0.95", "model", "gbm", "trial-1", "iris"):
        assert text in result.stdout


def test_runs_list_says_when_nothing_matches(client: TrackingClient, cli: Invoke) -> None:
    _sweep(client)
    result = cli("runs", "list", "--filter", "metrics.acc > 2")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No runs match" in result.stderr
    assert parse_json(cli("runs", "list", "--filter", "metrics.acc > 2", "--json")) == []


def test_runs_show_by_prefix_lists_everything_about_a_run(
    client: TrackingClient, cli: Invoke
) -> None:
    with client.create_run("iris", "parent", params={"lr": 0.1}, tags={"stage": "dev"}) as run:
        run.log_metric("acc", 0.5, step=0)
        run.log_metric("acc", 0.75, step=1)
        run.log_text("hello", "notes/readme.txt")
        with client.create_run("iris", "child", parent_id=run.id) as child:
            pass
    shown = parse_json(cli("runs", "show", run.id[:8], "--json"))
    assert shown["id"] == run.id
    assert shown["params"] == {"lr": "0.1"}
    assert shown["metrics"] == {"acc": 0.75}
    assert shown["tags"] == {"stage": "dev"}
    [artifact] = shown["artifacts"]
    assert artifact["path"] == "notes/readme.txt"
    assert artifact["size"] == 5
    assert [c["id"] for c in shown["children"]] == [child.id]

    result = cli("runs", "show", run.id[:6])
    assert result.exit_code == 0, result.output
    for text in (run.id, "parent", "lr", "0.1", "0.75", "stage", "notes/readme.txt"):
        assert text in result.stdout
    assert child.id[:8] in result.stdout
    assert artifact["digest"][:12] in result.stdout


def test_runs_compare_lines_up_values_and_marks_differences(
    client: TrackingClient, cli: Invoke
) -> None:
    runs = _sweep(client)
    document = parse_json(cli("runs", "compare", runs[0].id, runs[2].id, runs[3].id, "--json"))
    assert [r["id"] for r in document["runs"]] == [runs[0].id, runs[2].id, runs[3].id]
    assert document["params"]["model"] == {"values": ["svm", "svm", None], "differs": True}
    assert document["params"]["C"] == {"values": ["0", "2", None], "differs": True}
    assert document["metrics"]["acc"] == {"values": [0.91, 0.88, None], "differs": True}
    assert document["metrics"]["rmse"]["values"] == [None, None, 0.4]

    same = parse_json(cli("runs", "compare", runs[0].id, runs[2].id, "--json"))
    assert same["params"]["model"] == {"values": ["svm", "svm"], "differs": False}
    assert "rmse" not in same["metrics"]

    table = cli("runs", "compare", runs[0].id[:8], runs[3].id[:8])
    assert table.exit_code == 0, table.output
    for text in ("params.model", "metrics.acc", "metrics.rmse", "—", "≠", "0.91", "0.4"):
        assert text in table.stdout


def test_runs_compare_needs_two_runs(client: TrackingClient, cli: Invoke) -> None:
    runs = _sweep(client)
    assert_one_line_error(cli("runs", "compare", runs[0].id), "at least two")


def test_runs_delete_with_yes_deletes(client: TrackingClient, cli: Invoke) -> None:
    runs = _sweep(client)
    result = cli("runs", "delete", runs[0].id[:8], runs[1].id, "--yes")
    assert result.exit_code == 0, result.output
    assert runs[0].id in result.stdout and runs[1].id in result.stdout
    for run in runs[:2]:
        with pytest.raises(NotFoundError):
            client.get_run(run.id)
    assert client.get_run(runs[2].id).status == "finished"


def test_runs_delete_without_a_terminal_refuses_unless_yes(
    client: TrackingClient, cli: Invoke
) -> None:
    runs = _sweep(client)
    assert_one_line_error(cli("runs", "delete", runs[0].id), "--yes")
    assert client.get_run(runs[0].id).id == runs[0].id


def test_runs_delete_asks_on_a_terminal(
    client: TrackingClient, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _sweep(client)
    monkeypatch.setattr(_runs, "stdin_is_terminal", lambda: True)

    declined = cli("runs", "delete", runs[0].id, input="n\n")
    assert declined.exit_code == 1
    assert "Nothing deleted" in declined.stderr
    assert client.get_run(runs[0].id).id == runs[0].id

    accepted = cli("runs", "delete", runs[0].id, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    with pytest.raises(NotFoundError):
        client.get_run(runs[0].id)


def test_runs_delete_refuses_a_running_run_without_force(
    client: TrackingClient, cli: Invoke
) -> None:
    run = client.create_run("iris", "still-going")
    try:
        assert_one_line_error(cli("runs", "delete", run.id, "--yes"), "running", "force")
        assert client.get_run(run.id).status == "running"
        result = cli("runs", "delete", run.id, "--yes", "--force")
        assert result.exit_code == 0, result.output
        with pytest.raises(NotFoundError):
            client.get_run(run.id)
    finally:
        # The run was deleted under its handle: ending it fails, and must not be retried.
        with pytest.raises(NotFoundError):
            run.end()
        run.ended = True


def test_runs_delete_refuses_a_parent_without_recursive(
    client: TrackingClient, cli: Invoke
) -> None:
    with client.create_run("iris", "parent") as parent:
        with client.create_run("iris", "child", parent_id=parent.id) as child:
            pass
    assert_one_line_error(cli("runs", "delete", parent.id, "--yes"), "child", "--recursive")
    assert client.get_run(child.id).parent_id == parent.id

    result = cli("runs", "delete", parent.id, child.id, "--yes", "--recursive")
    assert result.exit_code == 0, result.output
    assert "1 child run" in result.stdout
    for run in (parent, child):
        with pytest.raises(NotFoundError):
            client.get_run(run.id)


def test_user_text_is_printed_as_written(client: TrackingClient, cli: Invoke) -> None:
    with client.create_run("iris", "odd [/] name", params={"p": "[red]x[/red]"}) as run:
        run.set_tag("t", "[bold]")
    listed = cli("runs", "list")
    assert listed.exit_code == 0, listed.output
    assert "odd [/] name" in listed.stdout
    shown = cli("runs", "show", run.id)
    assert shown.exit_code == 0, shown.output
    for text in ("odd [/] name", "[red]x[/red]", "[bold]"):
        assert text in shown.stdout


def test_runs_list_orders_by_long_direction_words(client: TrackingClient, cli: Invoke) -> None:
    runs = _sweep(client)
    for direction in ("DESCENDING", "desc"):
        ordered = parse_json(
            cli("runs", "list", "-e", "iris", "--order-by", f"metrics.acc {direction}", "--json")
        )
        assert [entry["id"] for entry in ordered] == [runs[1].id, runs[0].id, runs[2].id]


def test_runs_list_refuses_an_unknown_direction(client: TrackingClient, cli: Invoke) -> None:
    _sweep(client)
    result = cli("runs", "list", "--order-by", "metrics.acc DOWN")
    assert_one_line_error(result, "unknown direction 'DOWN'")


def test_runs_list_warns_of_an_order_key_no_run_has(client: TrackingClient, cli: Invoke) -> None:
    _sweep(client)
    result = cli("runs", "list", "-e", "iris", "--order-by", "metrics.accuracy DESC", "--json")
    assert len(parse_json(result)) == 3
    assert "warning: no matching run has metrics.accuracy" in result.stderr


def test_json_of_runs_experiments_and_artifacts_is_their_records(
    client: TrackingClient, cli: Invoke
) -> None:
    runs = _sweep(client)
    client.log_blobs(runs[0].id, {"notes.txt": b"hello"})
    shown = parse_json(cli("runs", "show", runs[0].id, "--json"))
    record = client.get_run(runs[0].id)
    artifacts = client.list_artifacts(runs[0].id)
    assert {k: shown[k] for k in record.to_dict()} == record.to_dict()
    assert shown["artifacts"] == [artifact.to_dict() for artifact in artifacts]
    experiments = parse_json(cli("experiments", "list", "--json"))
    assert experiments == [e.to_dict() for e in client.list_experiments()]
