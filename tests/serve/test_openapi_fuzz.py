"""Every route of the inference server's OpenAPI document, fuzzed from the document
itself: no request a client can build gives a 5xx, and every answer is one the document
declares (status, content type and body)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from mlpilot.tracking import TrackingClient

from .conftest import Start, sqlite_only

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.integration

#: Requests per operation: enough to reach every refusal, few enough for two cores.
EXAMPLES = 25


@sqlite_only
def test_no_generated_request_breaks_the_server_or_its_document(
    cancer: TrackingClient, server: Start
) -> None:
    running = server("cancer@champion")
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    paths = {operation.ok().path for operation in schema.get_all_operations()}
    assert {"/models/{name}/predict", "/v2/models/{name}/infer", "/metrics"} <= paths

    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=running.url, timeout=30)
            assert response.status_code < 500, (case.as_curl_command(), response.text)
            case.validate_response(response)

        check()

    # The fuzzing did not leave the model unable to answer.
    assert running.http.get("/v2/health/ready").status_code == 200
