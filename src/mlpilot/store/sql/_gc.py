"""The artifact digests the metadata database refers to, across every domain."""

from __future__ import annotations

from sqlalchemy import select, union

from mlpilot.store._metadata import MetadataStore
from mlpilot.store._schema import DIGEST_COLUMNS


def referenced_digests(metadata: MetadataStore) -> set[str]:
    """Every blob digest a row of the database names (the columns of
    :data:`~mlpilot.store._schema.DIGEST_COLUMNS`), read in one snapshot."""
    with metadata.read() as conn:
        query = union(*(select(column) for column in DIGEST_COLUMNS))
        return {str(digest) for digest in conn.execute(query).scalars()}
