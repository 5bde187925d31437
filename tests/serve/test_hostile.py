"""Requests written to break the server: each gets a 4xx with a JSON body, the connection
goes on, and no other request pays for it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sklearn.linear_model import LinearRegression

from mlpilot.registry import ModelRegistry, Signature
from mlpilot.tracking import TrackingClient

from . import STRONG, answer_of, body, data, records, rows
from .conftest import RunningServer, Start, sqlite_only

pytestmark = pytest.mark.integration

JSON = "application/json"


def _register_sum_regressor(client: TrackingClient) -> None:
    """Model ``total``: a linear regression whose every coefficient is about 1 (it
    predicts the sum of the columns), so that huge inputs overflow its answer."""
    X, _ = data()
    model = LinearRegression().fit(X, X.sum(axis=1))
    registry = ModelRegistry(client)
    registry.create_model("total")
    with client.create_run("serve", name="total") as run:
        client.log_model(run.id, model)
    version = registry.register("total", run.id, signature=Signature.infer(X, model.predict(X)))
    registry.set_alias("total", "champion", version.version)


@sqlite_only
def test_hostile_bodies_are_refused_and_the_connection_goes_on(
    cancer: TrackingClient, server: Start
) -> None:
    _register_sum_regressor(cancer)
    running = server("cancer@champion", "total@champion")
    good = records(rows(3))
    huge = '{"records": [{"mean radius": ' + "7" * 5_000 + "}]}"
    matrix = {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [0.5] * 30}
    cases = {
        "nested": ("/models/cancer/predict", "[" * 100_000 + "]" * 100_000, ["nested"]),
        "long integer": ("/models/cancer/predict", huge, ["not valid JSON"]),
        "output name": (
            "/v2/models/cancer/infer",
            json.dumps({"inputs": [matrix], "outputs": [{"name": {}}]}),
            ['"outputs"'],
        ),
        "infinite answer": (
            "/models/total/predict",
            json.dumps({"records": [{name: 1e308 for name in good[0]}]}),
            ["infinite"],
        ),
    }
    with httpx.Client(base_url=running.url, timeout=60) as http:
        for case, (path, content, fragments) in cases.items():
            refused = http.post(path, content=content, headers={"content-type": JSON})
            assert refused.status_code == 422, (case, refused.text[:300])
            assert refused.headers["content-type"].startswith(JSON), case
            for fragment in fragments:
                assert fragment in refused.json()["error"], (case, refused.json())

            # The same keep-alive connection answers the next request.
            answered = http.post("/models/cancer/predict", json=body(rows(3)))
            assert answered.status_code == 200, (case, answered.text)
            assert answer_of(STRONG, rows(3), answered.json()), case
    assert running.metric("mlpilot_serve_rejected_total", status="422") >= len(cases)


@sqlite_only
def test_a_body_without_a_content_type_is_read_as_json(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion")

    # httpx sends raw content with no Content-Type header, as tritonclient does.
    answered = running.http.post("/models/cancer/predict", content=json.dumps(body(rows(5))))

    assert answered.status_code == 200, answered.text
    assert answer_of(STRONG, rows(5), answered.json())


async def _neighbours_of_a_poisoned_request(running: RunningServer, good: int) -> list[int]:
    poison = {"records": [{**records(rows(0))[0], "mean radius": int("9" * 400)}]}
    limits = httpx.Limits(max_connections=good + 1)
    async with httpx.AsyncClient(base_url=running.url, timeout=60, limits=limits) as http:

        async def one(index: int) -> int:
            if index == good // 2:
                refused = await http.post("/models/cancer/predict", json=poison)
                assert refused.status_code == 422, refused.text
                return -1
            response = await http.post("/models/cancer/predict", json=body(rows(index)))
            assert response.status_code == 200, (index, response.text)
            assert answer_of(STRONG, rows(index), response.json()), index
            return index

        return list(await asyncio.gather(*(one(i) for i in range(good + 1))))


@sqlite_only
def test_a_request_the_model_refuses_fails_alone_in_its_batch(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion", "--workers", "1")

    for _ in range(3):
        answered = asyncio.run(_neighbours_of_a_poisoned_request(running, good=100))
        assert answered.count(-1) == 1

    labels = {"model": "cancer", "version": "1"}
    assert running.metric("mlpilot_serve_requests_total", status="200", **labels) == 300


@sqlite_only
def test_small_mistakes_are_refused_and_model_internals_stay_in_the_log(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion")
    good = records(rows(2))[0]

    boolean = running.predict("cancer", {"records": [{**good, "mean radius": True}]})
    assert boolean.status_code == 422 and "'mean radius'" in boolean.json()["error"]
    scores = running.predict("cancer", {"records": [good], "scores": {}})
    assert scores.status_code == 422 and '"scores"' in scores.json()["error"]
    unknown = running.predict("nosuch", {"records": [good]})
    assert unknown.status_code == 404 and "cancer" not in unknown.json()["error"]

    # A value the signature lets through but the model cannot take.
    poison = running.predict("cancer", {"records": [{**good, "mean radius": int("9" * 400)}]})
    assert poison.status_code == 422
    assert "OverflowError" not in poison.json()["error"]
    assert "OverflowError" in running.output()
