"""Garbage collection: delete blobs that nothing in the metadata store refers to."""

from __future__ import annotations

import dataclasses
import time

from sqlalchemy import select, union

from mlpilot.store._artifacts import ArtifactStore
from mlpilot.store._metadata import MetadataStore
from mlpilot.store._schema import DIGEST_COLUMNS


@dataclasses.dataclass(frozen=True)
class GcReport:
    """What a garbage collection found, and removed unless it was a dry run."""

    blobs_removed: int
    bytes_freed: int
    blobs_kept: int
    temporaries_removed: int
    dry_run: bool


def collect_garbage(
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    *,
    grace_s: float = 3600.0,
    dry_run: bool = False,
    actor: str = "mlpilot.gc",
) -> GcReport:
    """Remove unreferenced blobs older than ``grace_s`` seconds.

    The grace period protects a blob that a writer has stored but not yet recorded:
    logging an artifact writes the blob first and its reference second.
    """
    with metadata.read() as conn:
        referenced = set(
            conn.execute(union(*(select(column) for column in DIGEST_COLUMNS))).scalars()
        )
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
        with metadata.write() as conn:
            metadata.record_event(
                conn,
                "artifacts.gc",
                "store",
                artifacts.url,
                actor,
                blobs_removed=removed,
                bytes_freed=freed,
                temporaries_removed=len(temporaries),
            )
    return GcReport(removed, freed, kept, len(temporaries), dry_run)
