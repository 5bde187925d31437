"""Checks on what users log: keys, metric values, steps, param and tag text."""

from __future__ import annotations

import math
import operator
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.store._schema import MAX_KEY_LENGTH

#: Longest param or tag value, in characters.
MAX_VALUE_LENGTH = 8000
RUN_STATUSES = ("running", "finished", "failed", "killed", "pruned")
END_STATUSES = RUN_STATUSES[1:]


def check_key(key: Any, what: str) -> str:
    """Return ``key`` if it is a usable name for a metric, param, tag, run or experiment."""
    if not isinstance(key, str):
        raise InvalidInputError(f"{what} must be a string, got {type(key).__name__}: {key!r}")
    if not key or key.strip() != key:
        raise InvalidInputError(f"{what} {key!r} is empty or has surrounding spaces")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{what} {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    if any(ord(ch) < 32 for ch in key):
        raise InvalidInputError(f"{what} {key!r} contains control characters")
    _check_utf8(key, what)
    return key


def check_metric(key: str, value: Any) -> float:
    """Return ``value`` as a finite float; text is refused, even text that reads as a number."""
    try:
        if isinstance(value, str | bytes | bytearray):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"metric {key!r} must be a number, got {type(value).__name__}: {value!r}"
        ) from None
    if not math.isfinite(number):
        raise InvalidInputError(
            f"metric {key!r} is {number}; only finite values can be logged "
            "(a diverged loss is better recorded as a tag or by ending the run as failed)"
        )
    return number


#: Steps are stored as signed 64-bit integers.
MAX_STEP = 2**63 - 1


def check_step(key: str, step: Any) -> int:
    """Return ``step`` as a non-negative int (numpy integers are accepted)."""
    try:
        if isinstance(step, bool):
            raise TypeError
        number = operator.index(step)
    except TypeError:
        raise InvalidInputError(
            f"step of metric {key!r} must be an integer, got {type(step).__name__}: {step!r}"
        ) from None
    if not 0 <= number <= MAX_STEP:
        raise InvalidInputError(
            f"step of metric {key!r} must be between 0 and {MAX_STEP}, got {number}"
        )
    return number


def check_text(key: str, value: Any, what: str) -> str:
    """Return ``value`` as the text stored for a param or tag."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidInputError(
            f"{what} {key!r} is {len(text)} characters; the limit is {MAX_VALUE_LENGTH}. "
            "Log long values as an artifact instead"
        )
    if "\x00" in text:  # PostgreSQL cannot store it in a text column
        raise InvalidInputError(f"{what} {key!r} contains a NUL character")
    _check_utf8(text, f"{what} {key!r}")
    return text


def check_status(status: Any) -> str:
    if status not in END_STATUSES:
        raise InvalidInputError(f"a run ends as one of {END_STATUSES}, not {status!r}")
    return str(status)


def _check_utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} {text!r} is not valid UTF-8 (bad character at position {exc.start})"
        ) from None
