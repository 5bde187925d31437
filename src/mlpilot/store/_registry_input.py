"""The checks every implementation of the registry's records applies to its input, so
that each refuses the same names, numbers and documents with the same message."""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.store._validate import check_key
from mlpilot.store.base._registry import OUTCOMES


def model_name(name: Any) -> str:
    """``name`` if it can name a model: a key without the ``@`` and ``/`` of URIs."""
    checked = check_key(name, "model name")
    if "@" in checked or "/" in checked:
        raise InvalidInputError(f"a model name cannot contain '@' or '/': {checked!r}")
    return checked


def version_number(version: Any) -> int:
    """``version`` as an int if it can number a version (numpy integers are accepted)."""
    if isinstance(version, bool) or not isinstance(version, numbers.Integral) or version < 1:
        raise InvalidInputError(f"a version is a whole number from 1, got {version!r}")
    return int(version)


def check_text_value(value: Any, what: str, longest: int) -> None:
    """Refuse ``value`` unless it is text of 1 to ``longest`` characters."""
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        raise InvalidInputError(f"a {what} is text of 1 to {longest} characters, got {value!r}")


def check_reason(reason: Any) -> None:
    """Refuse a reason that is not text (it may be empty)."""
    if not isinstance(reason, str):
        raise InvalidInputError(f"a reason is text, got {reason!r}")


def checked_decision(
    outcome: str, reason: str, decision: Mapping[str, Any]
) -> tuple[dict[str, Any], bool, list[dict[str, Any]]]:
    """The decision as stored, whether it passed and its checks, if it fits ``outcome``."""
    if outcome not in OUTCOMES:
        raise InvalidInputError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    check_reason(reason)
    if outcome == "override" and not reason.strip():
        raise InvalidInputError("an override of the gate needs a reason")
    evidence = json_object(decision, "decision")
    passed, checks = evidence.get("passed"), evidence.get("checks")
    if not isinstance(passed, bool) or not isinstance(checks, list):
        raise InvalidInputError('a decision holds "passed" (true or false) and "checks"')
    if passed != (outcome == "promote"):
        raise InvalidInputError(
            f"a decision that {'passed' if passed else 'failed'} cannot be recorded as {outcome!r}"
        )
    return evidence, passed, checks


def json_object(value: Any, what: str) -> dict[str, Any]:
    """``value`` as the JSON object it is stored as: refused unless it holds only JSON's
    types and finite numbers."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"the {what} is a JSON object, got {type(value).__name__}")
    try:
        stored: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the {what} holds JSON's types and finite numbers only: {exc}"
        ) from None
    return stored
