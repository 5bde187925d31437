"""A real ``mlpilot serve`` process over loopback HTTP: answers equal the model's own,
bad requests are refused by name without harming the next, and sampled requests land
in the prediction log."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from mlpilot.tracking import TrackingClient

from . import STRONG, answer_of, body, data, expected, records, rows
from .conftest import Start, logged_rows, sqlite_only

pytestmark = pytest.mark.integration


def test_answers_equal_the_models_own_and_the_metadata_lists_its_inputs(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion")
    X, _ = data()
    frame = rows(range(0, 40, 2))
    labels, scores = expected(STRONG, frame)

    by_records = running.predict("cancer", body(frame))
    assert by_records.status_code == 200, by_records.text
    answer = by_records.json()
    assert (answer["model"], answer["version"], answer["role"]) == ("cancer", 1, "primary")
    assert answer_of(STRONG, frame, answer)
    assert answer["id"] == by_records.headers["x-request-id"]

    columns = {name: frame[name].astype(float).tolist() for name in frame.columns}
    by_columns = running.predict(
        "cancer", {"columns": columns, "scores": True}, headers={"x-request-id": "c-1"}
    )
    assert by_columns.status_code == 200, by_columns.text
    assert by_columns.json()["id"] == by_columns.headers["x-request-id"] == "c-1"
    assert answer_of(STRONG, frame, by_columns.json())

    labels_only = running.predict("cancer", {"records": records(frame)})
    assert labels_only.status_code == 200, labels_only.text
    assert labels_only.json()["predictions"] == labels
    assert "scores" not in labels_only.json()

    matrix = {
        "name": "input-0",
        "shape": list(frame.shape),
        "datatype": "FP64",
        "data": frame.to_numpy(dtype=float).ravel().tolist(),
    }
    tensors = [
        {"name": name, "shape": [len(frame)], "datatype": "FP64", "data": values}
        for name, values in columns.items()
    ]
    both = [{"name": "predict"}, {"name": "predict_proba"}]
    for inputs in ([matrix], tensors):
        request = {"id": "v2", "inputs": inputs, "outputs": both}
        response = running.http.post("/v2/models/cancer/infer", json=request)
        assert response.status_code == 200, response.text
        v2 = response.json()
        assert (v2["model_name"], v2["model_version"], v2["id"]) == ("cancer", "1", "v2")
        outputs = {o["name"]: o for o in v2["outputs"]}
        assert outputs["predict"]["data"] == labels
        assert outputs["predict"]["shape"] == [len(frame)]
        assert outputs["predict_proba"]["shape"] == [len(frame), 2]
        np.testing.assert_allclose(
            np.reshape(outputs["predict_proba"]["data"], (len(frame), 2)), scores, rtol=1e-9
        )
    plain = running.http.post("/v2/models/cancer/infer", json={"inputs": [matrix]})
    assert plain.status_code == 200, plain.text
    # Asked for no output in particular, the protocol answers with every output.
    assert [o["name"] for o in plain.json()["outputs"]] == ["predict", "predict_proba"]
    assert plain.json()["outputs"][0]["data"] == labels

    assert running.http.get("/v2/health/live").json() == {"live": True}
    assert running.http.get("/v2/health/ready").json() == {"ready": True}
    ready = running.http.get("/v2/models/cancer/ready")
    assert (ready.status_code, ready.json()) == (200, {"name": "cancer", "ready": True})
    metadata = running.http.get("/v2/models/cancer").json()
    assert (metadata["name"], metadata["versions"]) == ("cancer", ["1"])
    assert [i["name"] for i in metadata["inputs"]] == list(X.columns)
    assert {i["datatype"] for i in metadata["inputs"]} == {"FP64"}
    assert running.slots("cancer") == [
        {"uri": "cancer@champion", "version": 1, "workers": 1, "batch_size": 64}
    ]
    for path in ("/v2/models/nosuch", "/v2/models/nosuch/ready"):
        missing = running.http.get(path)
        assert missing.status_code == 404
        assert "nosuch" in missing.json()["error"]


PREDICT, INFER = "/models/cancer/predict", "/v2/models/cancer/infer"
JSON = "application/json"


def _tensor(width: int, datatype: str = "FP64") -> str:
    tensor = {"name": "x", "shape": [1, width], "datatype": datatype, "data": [0.0] * width}
    return json.dumps({"inputs": [tensor]})


@sqlite_only
def test_bad_requests_are_refused_by_name_and_the_server_goes_on(
    cancer: TrackingClient, server: Start
) -> None:
    running = server(
        config={"server": {"max_body_mb": 0.01}, "models": [{"uri": "cancer@champion"}]}
    )
    good = records(rows(7))
    too_many = json.dumps({"records": records(rows(range(20)))})
    assert len(too_many) > 0.01 * 1024 * 1024

    def with_value(column: str, value: Any) -> str:
        return json.dumps({"records": [{**good[0], column: value}]})

    without = json.dumps({"records": [{k: v for k, v in good[0].items() if k != "worst area"}]})
    # case: (path, body, content type, status, what the error names)
    cases: dict[str, tuple[str, str, str, int, list[str]]] = {
        "malformed": (PREDICT, '{"records": [', JSON, 422, ["JSON"]),
        "type": (PREDICT, json.dumps({"records": good}), "text/plain", 415, [JSON, "text/plain"]),
        "large": (PREDICT, too_many, JSON, 413, ["max_body_mb"]),
        "nan": (PREDICT, with_value("mean radius", math.nan), JSON, 422, ["'mean radius'", "nan"]),
        "inf": (PREDICT, with_value("worst area", math.inf), JSON, 422, ["'worst area'", "inf"]),
        "kind": (
            PREDICT,
            with_value("mean texture", "x"),
            JSON,
            422,
            ["'mean texture'", "a number"],
        ),
        "null": (PREDICT, with_value("mean area", None), JSON, 422, ["'mean area'", "null"]),
        "missing": (PREDICT, without, JSON, 422, ["missing column", "worst area"]),
        "form": (PREDICT, json.dumps(good), JSON, 422, ['"records"']),
        "model": ("/models/nosuch/predict", json.dumps({"records": good}), JSON, 404, ["'nosuch'"]),
        "v2-model": ("/v2/models/nosuch/infer", _tensor(30), JSON, 404, ["'nosuch'"]),
        "v2-datatype": (INFER, _tensor(30, "FLOAT"), JSON, 422, ["inputs[0]", "'FLOAT'"]),
        "v2-width": (INFER, _tensor(3), JSON, 422, ["'x'", "takes 30"]),
        "v2-outputs": (INFER, _tensor(30)[:-1] + ', "outputs": 5}', JSON, 422, ['"outputs"']),
    }
    for case, (path, content, content_type, status, fragments) in cases.items():
        refused = running.http.post(path, content=content, headers={"content-type": content_type})
        assert refused.status_code == status, (case, refused.text)
        assert refused.headers["content-type"].startswith(JSON), case
        error = refused.json()["error"]
        for fragment in fragments:
            assert fragment in error, (case, error)

        answered = running.predict("cancer", {"records": good, "scores": True})
        assert answered.status_code == 200, (case, answered.text)
        assert answer_of(STRONG, rows(7), answered.json()), case
    assert running.metric("mlpilot_serve_rejected_total", status="422") >= 8


def test_the_prediction_log_holds_every_row_and_never_fails_a_request(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion", "--log-sample", "1")
    sent: dict[str, Any] = {}
    for index in range(12):
        frame = rows([index]) if index != 5 else rows([5, 6, 7])
        response = running.predict("cancer", body(frame), headers={"x-request-id": f"req-{index}"})
        assert response.status_code == 200, response.text
        sent[f"req-{index}"] = (frame, response.json())
    wanted = 14

    logged = logged_rows(cancer, "cancer", wanted)

    assert len(logged) == wanted
    assert set(logged["request_id"]) == set(sent)
    assert set(logged["version"]) == {1}
    assert set(logged["role"]) == {"primary"}
    assert all(math.isfinite(v) and v > 0 for v in logged["latency_ms"])
    X, _ = data()
    for request_id, (frame, answer) in sent.items():
        mine = logged[logged["request_id"] == request_id].sort_values("row")
        assert list(mine["row"]) == list(range(len(frame)))
        np.testing.assert_allclose(mine[list(X.columns)].to_numpy(float), frame.to_numpy(float))
        assert list(mine["prediction"]) == answer["predictions"]
        np.testing.assert_allclose(np.array(list(mine["scores"])), answer["scores"], rtol=1e-12)

    # The log is no reason to fail a prediction: a request id it cannot store (over 64
    # characters) is refused by name up front, or answered.
    long_id = "trace-" + "0123456789" * 10
    response = running.predict("cancer", body(rows(3)), headers={"x-request-id": long_id})
    if response.status_code == 200:
        assert answer_of(STRONG, rows(3), response.json())
    else:
        assert 400 <= response.status_code < 500, response.text
        assert "x-request-id" in response.json()["error"], response.text
