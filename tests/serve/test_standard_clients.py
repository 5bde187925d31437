"""The Open Inference Protocol as standard clients speak it: ``tritonclient.http`` with its
defaults (binary tensors, no content type) and in JSON, and the protocol's own rules for
outputs, versions and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlpilot.tracking import TrackingClient

from . import STRONG, expected, fitted, rows
from .conftest import RunningServer, Start, free_port, sqlite_only

httpclient = pytest.importorskip("tritonclient.http")
utils = pytest.importorskip("tritonclient.utils")

pytestmark = pytest.mark.integration


def _client(running: RunningServer) -> object:
    return httpclient.InferenceServerClient(url=running.url.removeprefix("http://"))


def _input(frame: np.ndarray, binary: bool) -> object:
    tensor = httpclient.InferInput("input-0", list(frame.shape), "FP64")
    tensor.set_data_from_numpy(frame, binary_data=binary)
    return tensor


@sqlite_only
def test_tritonclient_gets_the_models_own_answers_binary_and_json(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion")
    client = _client(running)
    frame = rows(range(40, 60))
    matrix = frame.to_numpy(dtype=np.float64)
    labels, probabilities = expected(STRONG, frame)

    assert client.is_server_ready() and client.is_model_ready("cancer")
    metadata = client.get_model_metadata("cancer")
    assert {o["name"]: o["datatype"] for o in metadata["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP64",
    }
    assert [i["name"] for i in metadata["inputs"]] == list(frame.columns)

    # The client's defaults: binary input, every output back as binary data.
    result = client.infer("cancer", [_input(matrix, binary=True)])
    assert result.as_numpy("predict").tolist() == labels
    np.testing.assert_allclose(result.as_numpy("predict_proba"), probabilities, rtol=1e-12)

    # JSON both ways, asking for one output only.
    result = client.infer(
        "cancer",
        [_input(matrix, binary=False)],
        outputs=[httpclient.InferRequestedOutput("predict_proba", binary_data=False)],
    )
    assert result.as_numpy("predict") is None
    np.testing.assert_allclose(result.as_numpy("predict_proba"), probabilities, rtol=1e-12)
    assert result.get_response()["model_version"] == "1"

    # Binary input, one binary output, addressed by version.
    result = client.infer(
        "cancer",
        [_input(matrix, binary=True)],
        model_version="1",
        outputs=[httpclient.InferRequestedOutput("predict", binary_data=True)],
    )
    assert result.as_numpy("predict").tolist() == labels
    assert result.as_numpy("predict_proba") is None


@sqlite_only
def test_the_protocols_refusals_name_what_was_wrong(cancer: TrackingClient, server: Start) -> None:
    running = server("cancer@champion")
    client = _client(running)
    matrix = rows(range(3)).to_numpy(dtype=np.float64)

    with pytest.raises(utils.InferenceServerException, match="unknown output.*'probabilities'"):
        client.infer(
            "cancer",
            [_input(matrix, binary=True)],
            outputs=[httpclient.InferRequestedOutput("probabilities")],
        )
    with pytest.raises(utils.InferenceServerException, match="version '7'"):
        client.infer("cancer", [_input(matrix, binary=True)], model_version="7")

    columns = [
        {"name": name, "shape": [3], "datatype": "FP64", "data": matrix[:, i].tolist()}
        for i, name in enumerate(rows(0).columns)
    ]
    cases = {
        "duplicate": ([*columns, columns[0]], "sent twice"),
        "extra": ([*columns, {**columns[0], "name": "colour"}], "unknown input(s) 'colour'"),
    }
    for case, (inputs, fragment) in cases.items():
        refused = running.http.post("/v2/models/cancer/infer", json={"inputs": inputs})
        assert refused.status_code == 422, (case, refused.text)
        assert fragment in refused.json()["error"], case
    answered = running.http.post("/v2/models/cancer/infer", json={"inputs": columns})
    assert answered.status_code == 200, answered.text
    assert answered.json()["outputs"][0]["data"] == fitted(STRONG).predict(rows(range(3))).tolist()

    unknown = running.http.get("/v2/models/cancer/nothing")
    assert unknown.status_code == 404
    assert "error" in unknown.json() and "detail" not in unknown.json()
    cut = running.http.post(
        "/v2/models/cancer/infer",
        content=json.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 30],
                        "datatype": "FP64",
                        "parameters": {"binary_data_size": 240},
                    }
                ]
            }
        ).encode(),
        headers={"Inference-Header-Content-Length": "999999"},
    )
    assert cut.status_code == 422 and "Inference-Header-Content-Length" in cut.json()["error"]


@sqlite_only
def test_kserve_v1_predicts_instances_as_lists_or_objects(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion")
    frame = rows(range(10, 20))
    labels = expected(STRONG, frame)[0]

    as_lists = {"instances": frame.to_numpy().tolist()}
    as_objects = {"instances": frame.to_dict("records")}
    for request in (as_lists, as_objects):
        answered = running.http.post("/v1/models/cancer:predict", json=request)
        assert answered.status_code == 200, answered.text
        assert answered.json() == {"predictions": labels}

    assert running.http.get("/v1/models").json() == {"models": ["cancer"]}
    assert running.http.get("/v1/models/cancer").json() == {"name": "cancer", "ready": True}
    short = running.http.post("/v1/models/cancer:predict", json={"instances": [[1.0, 2.0]]})
    assert short.status_code == 422 and "30 values" in short.json()["error"]
    assert running.http.post("/v1/models/nosuch:predict", json=as_lists).status_code == 404


@sqlite_only
def test_tritonclient_grpc_gets_the_models_own_answers(
    cancer: TrackingClient, server: Start
) -> None:
    grpcclient = pytest.importorskip("tritonclient.grpc")
    grpc_port = free_port()
    running = server("cancer@champion", "--grpc-port", str(grpc_port))
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
    frame = rows(range(100, 140))
    labels, probabilities = expected(STRONG, frame)

    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cancer")
    metadata = client.get_model_metadata("cancer", as_json=True)
    assert [o["name"] for o in metadata["outputs"]] == ["predict", "predict_proba"]
    assert [i["name"] for i in metadata["inputs"]] == list(frame.columns)

    tensor = grpcclient.InferInput("input-0", list(frame.shape), "FP64")
    tensor.set_data_from_numpy(frame.to_numpy(dtype=np.float64))
    result = client.infer("cancer", [tensor])
    assert result.as_numpy("predict").tolist() == labels
    np.testing.assert_allclose(result.as_numpy("predict_proba"), probabilities, rtol=1e-12)

    only = client.infer("cancer", [tensor], outputs=[grpcclient.InferRequestedOutput("predict")])
    assert only.as_numpy("predict").tolist() == labels
    assert only.as_numpy("predict_proba") is None

    with pytest.raises(utils.InferenceServerException, match="nosuch"):
        client.infer("nosuch", [tensor])
    narrow = grpcclient.InferInput("input-0", [2, 3], "FP64")
    narrow.set_data_from_numpy(np.zeros((2, 3)))
    with pytest.raises(utils.InferenceServerException, match="takes 30"):
        client.infer("cancer", [narrow])
    # The same server still answers HTTP.
    assert running.http.get("/v2/health/ready").status_code == 200
