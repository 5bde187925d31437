"""A challenger beside the primary: a canary answers its share of the requests; a
shadow sees copies of them, and only the prediction log hears its answers."""

from __future__ import annotations

import collections

import pytest

from mlpilot.tracking import TrackingClient

from . import STRONG, WEAK, answer_of, body, expected, register, rows
from .conftest import Start, logged_rows, sqlite_only

pytestmark = pytest.mark.integration


@pytest.fixture
def challenged(cancer: TrackingClient) -> TrackingClient:
    """``cancer`` with version 2 (C=0.01) at its ``challenger`` alias."""
    register(cancer, "cancer", WEAK, alias="challenger")
    return cancer


@sqlite_only
def test_a_canary_answers_its_share(challenged: TrackingClient, server: Start) -> None:
    running = server("cancer@champion", "--challenger", "cancer@challenger", "--split", "0.5")
    assert [(s["uri"], s["version"]) for s in running.slots("cancer")] == [
        ("cancer@champion", 1),
        ("cancer@challenger", 2),
    ]

    roles: collections.Counter[tuple[str, int]] = collections.Counter()
    for index in range(200):
        response = running.predict("cancer", body(rows(index)))
        assert response.status_code == 200, response.text
        answer = response.json()
        roles[answer["role"], answer["version"]] += 1
        model = {"primary": STRONG, "canary": WEAK}[answer["role"]]
        assert answer_of(model, rows(index), answer), answer

    assert set(roles) == {("primary", 1), ("canary", 2)}
    # Half the requests on average: 40 to 160 of 200 is beyond doubt.
    assert 40 <= roles["canary", 2] <= 160
    canary = running.metric("mlpilot_serve_requests_total", role="canary", version="2")
    assert canary == roles["canary", 2]


def test_a_shadow_never_answers_but_its_predictions_are_logged(
    challenged: TrackingClient, server: Start
) -> None:
    running = server(
        "cancer@champion",
        *("--challenger", "cancer@challenger", "--shadow", "--split", "1", "--log-sample", "1"),
    )
    sent = range(30)
    for index in sent:
        response = running.predict(
            "cancer", body(rows(index)), headers={"x-request-id": f"req-{index}"}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["role"], answer["version"]) == ("primary", 1)
        assert answer_of(STRONG, rows(index), answer)

    shadow = logged_rows(challenged, "cancer", len(sent), roles=("shadow",))
    primary = logged_rows(challenged, "cancer", len(sent))

    assert len(shadow) == len(primary) == len(sent)
    assert set(shadow["version"]) == {2}
    assert set(primary["version"]) == {1}
    assert set(primary["role"]) == {"primary"}
    by_id = shadow.set_index("request_id")
    assert set(by_id.index) == {f"req-{i}" for i in sent}
    for index in sent:
        labels, _ = expected(WEAK, rows(index))
        assert [by_id.loc[f"req-{index}", "prediction"]] == labels
