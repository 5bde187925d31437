"""Every operation of the server's OpenAPI document, fuzzed from the document itself: no
request a client can build gives a 5xx, and every answer is one the document declares."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.integration

#: Requests per operation: enough to reach the refusals, few enough for two cores. The
#: same ones each run (derandomize), so that a run fails only for a change of the code.
EXAMPLES = 8


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_no_generated_request_breaks_the_server_or_its_document(server_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=server_url, timeout=30)
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
            # A store's rules reach beyond a schema (an experiment name may not be
            # blank): a 400 that names one is an answer the document declares.
            case.validate_response(
                response, excluded_checks=[schemathesis.checks.positive_data_acceptance]
            )

        try:
            check()
        except Exception as exc:  # gather them all, to fix them all at once
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert not failures, "\n\n".join(failures)
    assert httpx.get(f"{server_url}/api/v1/health").status_code == 200
