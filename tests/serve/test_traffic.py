"""A challenger beside the primary: a canary answers its share of the requests; a
shadow sees copies of them, and only the prediction log hears its answers."""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlpilot.registry import ModelRegistry, Signature
from mlpilot.serve import compare_traffic
from mlpilot.tracking import TrackingClient

from . import STRONG, WEAK, answer_of, body, data, expected, records, register, rows
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

    # The log pairs each shadow answer with the primary's to the same request.
    found = compare_traffic("cancer", client=challenged)
    (paired,) = found.shadows
    agreeing = [expected(STRONG, rows(i))[0] == expected(WEAK, rows(i))[0] for i in sent]
    assert (paired.shadow_version, paired.primary_version, paired.rows) == (2, 1, len(sent))
    assert paired.agreement == pytest.approx(sum(agreeing) / len(sent))
    assert paired.score_gap is not None and paired.score_gap > 0
    shadow_traffic = next(v for v in found.versions if v.role == "shadow")
    assert shadow_traffic.requests == len(sent) and shadow_traffic.latency_p50_ms > 0


def register_fitted(
    client: TrackingClient, name: str, X: pd.DataFrame, *, alias: str
) -> LogisticRegression:
    """Fit a logistic regression on ``X`` (the cancer target) and register it, with the
    signature of ``X``, at ``alias``."""
    _, y = data()
    model = LogisticRegression(max_iter=5000).fit(X, y)
    registry = ModelRegistry(client)
    with client.create_run("serve", name="challenger") as run:
        client.log_model(run.id, model)
    version = registry.register(name, run.id, signature=Signature.infer(X, model.predict(X)))
    registry.set_alias(name, alias, version.version)
    return model


@sqlite_only
def test_a_canary_takes_its_own_columns_in_its_own_order(
    cancer: TrackingClient, server: Start
) -> None:
    X, _ = data()
    # Ten of the primary's columns, in reverse order: scikit-learn refuses a frame whose
    # names are not those it was fitted on, in that order.
    theirs = list(reversed(X.columns[:10]))
    model = register_fitted(cancer, "cancer", X[theirs], alias="challenger")
    running = server("cancer@champion", "--challenger", "cancer@challenger", "--split", "1")

    for index in range(0, 569, 57):
        response = running.predict("cancer", body(rows(index)))
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["role"], answer["version"]) == ("canary", 2)
        assert answer["predictions"] == model.predict(rows(index)[theirs]).tolist()
        assert np.allclose(answer["scores"], model.predict_proba(rows(index)[theirs]))


def test_requests_a_challenger_refuses_are_answered_by_the_primary(
    cancer: TrackingClient, server: Start
) -> None:
    X, _ = data()
    # The challenger also takes a column the primary does not: requests without it are
    # the primary's alone, requests with it go to the canary.
    widened = X.assign(clinic=np.arange(len(X)) % 3)
    model = register_fitted(cancer, "cancer", widened, alias="challenger")
    running = server(
        "cancer@champion",
        *("--challenger", "cancer@challenger", "--split", "1", "--log-sample", "1"),
    )

    for index in range(10):
        response = running.predict("cancer", body(rows(index)))
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["role"], answer["version"]) == ("primary", 1)
        assert answer_of(STRONG, rows(index), answer)
    assert running.metric("mlpilot_serve_challenger_refused_total", version="2") == 10

    with_clinic = widened.iloc[[0]]
    sent = {"records": [{**records(rows(0))[0], "clinic": 0}], "scores": True}
    response = running.predict("cancer", sent)
    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["predictions"]) == (
        "canary",
        model.predict(with_clinic).tolist(),
    )
    # Each version's log row holds the columns it was given.
    canary = logged_rows(cancer, "cancer", 1, roles=("canary",))
    assert "clinic" in canary.columns and canary["clinic"].tolist() == [0]
    primary = logged_rows(cancer, "cancer", 10, roles=("primary",))
    assert "clinic" not in primary.columns or primary["clinic"].isna().all()
