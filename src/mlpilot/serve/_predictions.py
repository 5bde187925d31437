"""The prediction log's front doors: read what the servers logged, add ground truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlpilot.tracking import TrackingClient

if TYPE_CHECKING:
    import pandas as pd


def read_predictions(
    model: str,
    *,
    version: int | None = None,
    roles: Sequence[str] = ("primary", "canary"),
    since_ms: int | None = None,
    until_ms: int | None = None,
    last: int | None = None,
    labels: bool = False,
    client: TrackingClient | None = None,
) -> pd.DataFrame:
    """The rows the inference servers logged for ``model``, oldest first.

    The frame has one row per predicted row: ``request_id``, ``row``, ``model``,
    ``version``, ``role``, ``ts_ms``, ``latency_ms``, ``prediction`` and ``scores``, then
    ``label`` where ``labels`` is true, then one column per feature (a feature named like
    one of those comes out as ``feature.<name>``).

    Args:
        model: The served model's name.
        version: Only rows served by this version.
        roles: Only rows served in these roles; shadow traffic is left out by default.
        since_ms: Only rows logged at or after this time (UTC milliseconds).
        until_ms: Only rows logged before this time.
        last: Only the newest ``last`` rows of those selected.
        labels: Add the ground truth stored with :func:`record_labels` (None where none
            arrived).
        client: The store to read; by default the one the settings name.

    Raises:
        InvalidInputError: An unknown role or a ``last`` below 1.

    Example::

        frame = read_predictions("churn", since_ms=now_ms() - 3_600_000, labels=True)
    """
    client = client or TrackingClient()
    return client.store.predictions.read(
        model,
        version=version,
        roles=roles,
        since_ms=since_ms,
        until_ms=until_ms,
        last=last,
        labels=labels,
    )


def record_labels(
    labels: Mapping[tuple[str, int], Any] | pd.DataFrame,
    *,
    ts_ms: int | None = None,
    client: TrackingClient | None = None,
) -> int:
    """Store the ground truth of logged rows, replacing what was stored for them.

    Args:
        labels: ``{(request_id, row): label}``, or a frame with the columns
            ``request_id``, ``label`` and ``row`` (0 where the column is absent); the
            request id is the one the server answered with (a label may come before
            the server's log of the request is written; it joins the request when that
            lands). Where a row appears twice, the last label counts.
        ts_ms: When the labels arrived; now by default.
        client: The store to write; by default the one the settings name.

    Returns:
        The number of rows stored.

    Raises:
        InvalidInputError: A label is missing or malformed; then nothing is stored.
    """
    client = client or TrackingClient()
    return client.store.predictions.record_labels(labels, ts_ms=ts_ms)
