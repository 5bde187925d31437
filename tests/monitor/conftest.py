"""Fixtures of the monitoring tests: monitors of model ``churn`` against ``ref@v1``,
and a webhook receiver."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mlpilot.monitor import Monitors
from mlpilot.registry import ModelRegistry
from mlpilot.tracking import TrackingClient

from .test_monitor import reference


@pytest.fixture
def monitors(client: TrackingClient) -> Monitors:
    client.datasets.register("ref", reference())
    ModelRegistry(client).create_model("churn")
    return Monitors(client)


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback: its URL and what it received."""
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
