"""POST the alert as JSON to a URL."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.monitor.actions._base import Action, AlertContext, outcome


class WebhookAction(Action):
    """POST the alert's JSON document to ``url``, giving up after ``timeout_s``.

    A refused connection, a timeout or an answer other than 2xx is recorded as a failed
    outcome with the reason; the alert stands either way.
    """

    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"a webhook url starts with http:// or https://, got {url!r}")
        if (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int | float)
            or not math.isfinite(timeout_s)
            or timeout_s <= 0
        ):
            raise InvalidInputError(f"a webhook's timeout_s is above 0, got {timeout_s!r}")
        self.url = url
        self.timeout_s = float(timeout_s)

    def run(self, context: AlertContext) -> dict[str, Any]:
        body = json.dumps(context.document, default=str).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            return outcome(self.kind, "failed", f"{self.url} answered {exc.code}", url=self.url)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return outcome(self.kind, "failed", f"POST {self.url} failed: {reason}", url=self.url)
        return outcome(self.kind, "ok", f"{self.url} answered {status}", url=self.url)

    def to_spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, "timeout_s": self.timeout_s}
