"""Reading a pipeline run's deadline from what a user writes."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from mlpilot.errors import InvalidInputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_deadline(deadline: Any, now: float | None = None) -> float | None:
    """Seconds since the epoch by which a run must be done, or None for no deadline.

    Takes a ``datetime`` (naive ones are UTC), a ``timedelta``, seconds from now, or
    text: a duration such as ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``, or an ISO time.
    A deadline that has already passed is refused.
    """
    if deadline is None:
        return None
    now = time.time() if now is None else now
    if isinstance(deadline, bool):
        raise InvalidInputError(f"a deadline is a time or a duration, not {deadline!r}")
    if isinstance(deadline, int | float):
        at = now + float(deadline)
    elif isinstance(deadline, dt.timedelta):
        at = now + deadline.total_seconds()
    elif isinstance(deadline, dt.datetime):
        at = _epoch(deadline)
    elif isinstance(deadline, str):
        at = _from_text(deadline, now)
    else:
        raise InvalidInputError(f"a deadline is a time or a duration, not {deadline!r}")
    if at <= now:
        when = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")
        raise InvalidInputError(
            f"the deadline {deadline!r} ({when}) has already passed; give a later time or a "
            "duration such as 30m"
        )
    return at


def parse_duration(duration: Any, what: str = "a duration") -> float:
    """Seconds in ``duration``: a number of seconds, a ``timedelta``, or text such as
    ``"90s"``, ``"30m"``, ``"2h"`` or ``"1d"``."""
    if isinstance(duration, dt.timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, int | float) and not isinstance(duration, bool):
        seconds = float(duration)
    elif isinstance(duration, str) and _DURATION.match(duration):
        match = _DURATION.match(duration)
        assert match is not None
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        try:
            seconds = float(duration)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"cannot read {what} {duration!r}: write seconds or a duration such as 90s, "
                "30m, 2h or 1d"
            ) from None
    if not seconds > 0:
        raise InvalidInputError(f"{what} must be longer than 0 seconds, got {duration!r}")
    return seconds


def _from_text(text: str, now: float) -> float:
    if _DURATION.match(text):
        return now + parse_duration(text)
    try:
        return _epoch(dt.datetime.fromisoformat(text.strip()))
    except ValueError:
        raise InvalidInputError(
            f"cannot read the deadline {text!r}: write a duration (90s, 30m, 2h, 1d) or an "
            "ISO time (2026-11-23T18:00, taken as UTC unless it has an offset)"
        ) from None


def _epoch(moment: dt.datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
