"""Searching runs: filters, ordering, pages and the DataFrame view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest

import mlpilot
from mlpilot.errors import FilterError, InvalidInputError, NotFoundError
from mlpilot.tracking import OrderKeyWarning, TrackingClient

EXPERIMENT = "search"


@pytest.fixture
def runs(client: TrackingClient) -> dict[str, str]:
    """Four runs in one experiment and one elsewhere; returns run ids by name."""
    specs: list[tuple[str, dict[str, Any], dict[str, float], dict[str, str], str]] = [
        (
            "sweep-1",
            {"model": "gbm", "depth": 3, "lr": 1},
            {"acc": 0.9, "loss": 0.3},
            {"team": "vision"},
            "finished",
        ),
        (
            "sweep-2",
            {"model": "rf", "depth": 5, "lr": 1.0},
            {"acc": 0.8, "val loss": 0.5},
            {"team": "nlp"},
            "finished",
        ),
        ("baseline", {"model": "gbm", "lr": 0.1}, {"acc": 0.95}, {}, "failed"),
        ("pending", {"model": "linear"}, {}, {"team": "vision"}, "killed"),
    ]
    ids = {}
    for name, params, metrics, tags, status in specs:
        run = client.create_run(EXPERIMENT, name, params=params, tags=tags)
        run.log_metrics(metrics)
        run.end(status)
        ids[name] = run.id
    with client.create_run("elsewhere", "other", params={"model": "gbm"}) as other:
        other.log_metric("acc", 0.99)
    ids["other"] = other.id
    return ids


def names(
    client: TrackingClient,
    filter: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = 1000,
    offset: int = 0,
) -> list[str]:
    found = client.search_runs(EXPERIMENT, filter, order_by, max_results, offset)
    return [r.name for r in found]


FILTERS = dict(
    [
        ("metrics.acc > 0.85", {"sweep-1", "baseline"}),
        ("metrics.acc >= 0.9", {"sweep-1", "baseline"}),
        ("metrics.acc < 0.9", {"sweep-2"}),
        ("metrics.acc <= 0.9", {"sweep-1", "sweep-2"}),
        ("metrics.acc = 0.8", {"sweep-2"}),
        ("metrics.acc == 0.8", {"sweep-2"}),
        ("metrics.acc != 0.8", {"sweep-1", "baseline"}),
        ("metrics.acc in (0.8, 0.95)", {"sweep-2", "baseline"}),
        ("metrics.acc not in (0.8, 0.95)", {"sweep-1"}),
        ("metrics.loss < 1e3", {"sweep-1"}),
        ("metrics.`val loss` < 1", {"sweep-2"}),
        ("params.model = 'gbm'", {"sweep-1", "baseline"}),
        ('params.model = "gbm"', {"sweep-1", "baseline"}),
        ("params.model != 'gbm'", {"sweep-2", "pending"}),
        ("params.model in ('rf', 'linear')", {"sweep-2", "pending"}),
        ("params.model not in ('rf', 'linear')", {"sweep-1", "baseline"}),
        ("params.model like 'g%'", {"sweep-1", "baseline"}),
        ("params.model like 'GB_'", {"sweep-1", "baseline"}),
        ("params.model not like 'g%'", {"sweep-2", "pending"}),
        ("params.`model` = 'rf'", {"sweep-2"}),
        ("params.depth != 3", {"sweep-2"}),
        ("params.lr = 1", {"sweep-1", "sweep-2"}),
        ("params.lr = 1.0", {"sweep-1", "sweep-2"}),
        ("params.lr in (0.1, 7)", {"baseline"}),
        ("tags.team = 'vision'", {"sweep-1", "pending"}),
        ("tags.team != 'vision'", {"sweep-2"}),
        ("status = 'finished'", {"sweep-1", "sweep-2"}),
        ("status in ('failed', 'killed')", {"baseline", "pending"}),
        ("status not in ('failed', 'killed')", {"sweep-1", "sweep-2"}),
        ("name like 'sweep-%'", {"sweep-1", "sweep-2"}),
        ("name != 'baseline'", {"sweep-1", "sweep-2", "pending"}),
        ("end_ms > 0", {"sweep-1", "sweep-2", "baseline", "pending"}),
        ("user = 'tester'", {"sweep-1", "sweep-2", "baseline", "pending"}),
        ("metrics.acc > 0.85 and params.model = 'gbm'", {"sweep-1", "baseline"}),
        ("metrics.acc > 0.85 AND status = 'failed'", {"baseline"}),
        ("metrics.acc < 0.85 or status = 'killed'", {"sweep-2", "pending"}),
        ("(tags.team = 'vision' or tags.team = 'nlp') and metrics.acc > 0.85", {"sweep-1"}),
        (
            "tags.team = 'nlp' or (params.model = 'gbm' and metrics.acc > 0.92)",
            {"sweep-2", "baseline"},
        ),
        (
            "tags.team = 'nlp' or params.model = 'gbm' and metrics.acc > 0.92",
            {"sweep-2", "baseline"},
        ),
        ("((status = 'killed'))", {"pending"}),
        ("metrics.missing > 0", set()),
        ("params.model = 'xgboost'", set()),
    ]
)


def test_filters(client: TrackingClient, runs: dict[str, str]) -> None:
    # One store for all the cases; the dict comparison reports every case that differs.
    assert {f: set(names(client, f)) for f in FILTERS} == FILTERS


def test_filter_by_id_and_parent(client: TrackingClient, runs: dict[str, str]) -> None:
    with client.create_run(EXPERIMENT, "child", parent_id=runs["baseline"]):
        pass

    assert names(client, f"run_id = '{runs['sweep-2']}'") == ["sweep-2"]
    assert names(client, f"parent_id = '{runs['baseline']}'") == ["child"]


def test_filter_by_experiment_id(client: TrackingClient, runs: dict[str, str]) -> None:
    experiment = client.get_experiment("elsewhere")

    found = client.search_runs(filter=f"experiment_id = {experiment.id}")

    assert [r.name for r in found] == ["other"]


def test_no_filter_and_blank_filter_match_everything(
    client: TrackingClient, runs: dict[str, str]
) -> None:
    assert len(names(client)) == 4
    assert len(names(client, "   ")) == 4
    assert len(client.search_runs()) == 5
    assert len(client.search_runs([EXPERIMENT, "elsewhere"])) == 5


def test_unknown_experiment(client: TrackingClient, runs: dict[str, str]) -> None:
    with pytest.raises(NotFoundError, match="no experiment named 'absent'"):
        client.search_runs("absent")


def test_order_by_metric_puts_missing_values_last(
    client: TrackingClient, runs: dict[str, str]
) -> None:
    assert names(client, order_by=["metrics.acc DESC"]) == [
        "baseline",
        "sweep-1",
        "sweep-2",
        "pending",
    ]
    assert names(client, order_by=["metrics.acc asc"]) == [
        "sweep-2",
        "sweep-1",
        "baseline",
        "pending",
    ]
    assert names(client, order_by=["metrics.acc"]) == ["sweep-2", "sweep-1", "baseline", "pending"]


def test_order_by_several_fields(client: TrackingClient, runs: dict[str, str]) -> None:
    assert names(client, order_by=["params.model", "name DESC"]) == [
        "sweep-1",
        "baseline",
        "pending",
        "sweep-2",
    ]
    assert names(client, order_by=["tags.team DESC", "metrics.acc"]) == [
        "sweep-1",
        "pending",
        "sweep-2",
        "baseline",
    ]


def test_newest_first_by_default(client: TrackingClient, runs: dict[str, str]) -> None:
    starts = [r.start_ms for r in client.search_runs(EXPERIMENT)]

    assert starts == sorted(starts, reverse=True)


def test_pages(client: TrackingClient, runs: dict[str, str]) -> None:
    ordered = names(client, order_by=["name"])

    assert ordered == ["baseline", "pending", "sweep-1", "sweep-2"]
    assert names(client, order_by=["name"], max_results=2) == ordered[:2]
    assert names(client, order_by=["name"], max_results=2, offset=2) == ordered[2:]
    assert names(client, order_by=["name"], max_results=10, offset=3) == ordered[3:]
    assert names(client, order_by=["name"], offset=4) == []
    assert names(client, order_by=["name"], max_results=0) == []
    with pytest.raises(InvalidInputError, match="max_results"):
        client.search_runs(max_results=-1)
    with pytest.raises(InvalidInputError, match="offset"):
        client.search_runs(offset=-1)


BAD_FILTERS = dict(
    [
        ("metrics.acc >", "ends early: expected a value"),
        ("foo = 1", "unknown field 'foo'"),
        ("params.x > 1", "params.x is text and cannot be compared with '>'"),
        ("tags.team <= 'b'", "tags.team is text"),
        ("(metrics.acc > 1", "ends early: expected ')'"),
        ("metrics.acc > 1)", "expected 'and', 'or' or the end of the filter, got ')'"),
        ("(metrics.acc > 1 or (status = 'failed')", "expected ')'"),
        ("metrics.acc = 'x'", "metrics.acc is a number; compare it with a number, not 'x'"),
        ("metrics.acc in (1, 'x')", "metrics.acc is a number"),
        ("metrics.acc like '9%'", "'like' works on text only"),
        ("start_ms > 'yesterday'", "start_ms is a number"),
        ("metrics.acc ~ 1", "cannot read the filter at position 12"),
        ("params.model = gbm", "expected a number or a quoted string, got 'gbm'"),
        ("metrics.acc > 0.5 and", "ends early"),
        ("metrics.acc > 0.5 status = 'failed'", "expected 'and', 'or'"),
        ("status in 'finished'", "expected '(' to open the list"),
        ("status in ('finished' 'failed')", "expected ',' or ')'"),
        ("status not = 'finished'", "expected 'like' or 'in' after 'not'"),
        ("status is 'finished'", "expected one of = != < <= > >= like in"),
        ("= 1", "expected a field"),
        ("params.x = 'unterminated", "cannot read the filter"),
    ]
)


def test_bad_filters_say_what_is_wrong(client: TrackingClient, runs: dict[str, str]) -> None:
    messages = {}
    for filter, expected in BAD_FILTERS.items():
        with pytest.raises(FilterError) as error:
            client.search_runs(filter=filter)
        message = str(error.value)
        messages[filter] = expected if expected in message else message

    assert messages == BAD_FILTERS


@pytest.mark.parametrize(
    ("order_by", "message"),
    [(["foo DESC"], "unknown field 'foo'"), ([""], "empty order_by"), (["  "], "empty order_by")],
)
def test_bad_orderings_say_what_is_wrong(
    client: TrackingClient, order_by: list[str], message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        client.search_runs(order_by=order_by)


def test_filter_errors_are_invalid_input(client: TrackingClient) -> None:
    with pytest.raises(InvalidInputError):
        client.search_runs(filter="foo = 1")
    with pytest.raises(ValueError):
        client.search_runs(filter="foo = 1")


def test_search_runs_as_a_dataframe(client: TrackingClient, runs: dict[str, str]) -> None:
    frame = mlpilot.search_runs(
        EXPERIMENT, filter="params.model = 'gbm'", order_by=["name"], client=client
    )

    assert isinstance(frame, pd.DataFrame)
    assert list(frame["name"]) == ["baseline", "sweep-1"]
    assert list(frame["run_id"]) == [runs["baseline"], runs["sweep-1"]]
    assert list(frame["status"]) == ["failed", "finished"]
    assert {"params.model", "params.lr", "metrics.acc", "metrics.loss", "tags.team"} <= set(
        frame.columns
    )
    assert list(frame["params.lr"]) == ["0.1", "1"]
    assert list(frame["metrics.acc"]) == [0.95, 0.9]
    assert frame["tags.team"].iloc[1] == "vision"
    assert pd.isna(frame["tags.team"].iloc[0])


def test_search_runs_as_a_dataframe_with_no_match(
    client: TrackingClient, runs: dict[str, str]
) -> None:
    frame = mlpilot.search_runs(filter="metrics.acc > 2", client=client)

    assert isinstance(frame, pd.DataFrame)
    assert frame.empty


@pytest.mark.parametrize("direction", ["DESCENDING", "descending", "Desc"])
def test_order_by_reads_long_and_mixed_case_directions(
    client: TrackingClient, runs: dict[str, str], direction: str
) -> None:
    assert names(client, order_by=[f"metrics.acc {direction}"]) == [
        "baseline",
        "sweep-1",
        "sweep-2",
        "pending",
    ]
    assert names(client, order_by=["metrics.acc ASCENDING"])[0] == "sweep-2"
    assert names(client, order_by=["metrics.`val loss` DESC"])[0] == "sweep-2"


@pytest.mark.parametrize("clause", ["metrics.acc DOWNWARDS", "name upward", "metrics.val loss"])
def test_an_unknown_direction_is_an_error(
    client: TrackingClient, runs: dict[str, str], clause: str
) -> None:
    with pytest.raises(InvalidInputError, match="unknown direction"):
        names(client, order_by=[clause])


def test_ordering_by_a_key_no_run_has_warns(client: TrackingClient, runs: dict[str, str]) -> None:
    with pytest.warns(OrderKeyWarning, match=r"metrics\.accuracy"):
        found = names(client, order_by=["metrics.accuracy DESC"])
    assert found == names(client)  # the default order, as if no ordering were given
    with pytest.warns(OrderKeyWarning, match=r"tags\.owner"):
        names(client, order_by=["tags.owner"], offset=2)
