"""Garbage collection: delete blobs that nothing in the metadata store refers to."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from mlpilot.store._store import Store
from mlpilot.store.sql._gc import referenced_digests


@dataclasses.dataclass(frozen=True)
class GcReport:
    """What a garbage collection found, and removed unless it was a dry run."""

    blobs_removed: int
    bytes_freed: int
    blobs_kept: int
    temporaries_removed: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def collect_garbage(
    store: Store,
    *,
    grace_s: float = 3600.0,
    dry_run: bool = False,
    actor: str | None = None,
) -> GcReport:
    """Remove the blobs of ``store``'s artifact store that no record refers to and that
    are older than ``grace_s`` seconds, and its writers' stale temporary files.

    The grace period protects a blob that a writer has stored but not yet recorded:
    logging an artifact writes the blob first and its reference second.

    Args:
        store: The store to clean (``client.store`` of a
            :class:`~mlpilot.tracking.TrackingClient`).
        grace_s: Keep unreferenced blobs and temporaries younger than this.
        dry_run: Count what would go; remove nothing and record no event.
        actor: Who the ``artifacts.gc`` event names; the store's user by default.
    """
    referenced = referenced_digests(store.metadata)
    artifacts = store.artifacts
    cutoff = time.time() - grace_s
    removed = kept = freed = 0
    for blob in artifacts.blobs():
        too_young = blob.modified_s is not None and blob.modified_s > cutoff
        if blob.digest in referenced or too_young:
            kept += 1
            continue
        if not dry_run:
            artifacts.delete(blob.digest)
        removed += 1
        freed += blob.size
    temporaries = artifacts.stale_temporaries(older_than_s=grace_s)
    if not dry_run:
        for path in temporaries:
            artifacts.remove(path)
        store.events.record(
            "artifacts.gc",
            "store",
            artifacts.url,
            actor=actor,
            blobs_removed=removed,
            bytes_freed=freed,
            temporaries_removed=len(temporaries),
        )
    return GcReport(removed, freed, kept, len(temporaries), dry_run)
