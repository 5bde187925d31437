"""Versioned datasets: registration, references, tags, lineage and reading.

A version is the content of a table. Registering it writes one zstd Parquet file to the
artifact store (content-addressed, so the same bytes are stored once) and records its
schema, row count, profile, digest, creator and origin in the store's dataset records
(:class:`~mlpilot.store.base.DatasetRecords`). Registering the same content again under
the same name returns the existing version.

A reference names a version: ``churn`` or ``churn@latest`` (the newest), ``churn@v3``
(the third), or ``churn@prod`` (whatever the tag ``prod`` points at).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq

from mlpilot.errors import InvalidInputError
from mlpilot.store._artifacts import Blob
from mlpilot.store._content import DataLike, as_table, content_digest
from mlpilot.store._profile import ColumnProfile, profile_table
from mlpilot.store._reader import DatasetReader
from mlpilot.store._store import Store
from mlpilot.store._validation import DataSchema, ValidationReport
from mlpilot.store.base._datasets import (
    DatasetSummary,
    DatasetVersion,
    Lineage,
    VersionContent,
    check_name,
    check_tag,
)

#: Rows per Parquet row group: the unit of prefetching and the default batch.
ROW_GROUP_ROWS = 1 << 16
# Dictionary encoding pays for columns of repeated values (text, categories, flags,
# codes). Building a dictionary of distinct floats or timestamps for every row group
# costs more time than it saves bytes, and one past this size gives up early.
_DICTIONARY_LIMIT = 128 << 10


class DatasetStore:
    """The datasets of one :class:`Store`: their bytes in its artifact store, what is
    known about them in its dataset records."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._records = store.datasets
        self._artifacts = store.artifacts

    # ------------------------------------------------------------------ writing

    def register(
        self,
        name: str,
        data: DataLike,
        *,
        description: str | None = None,
        tags: Sequence[str] = (),
        parent: str | DatasetVersion | None = None,
        run_id: str | None = None,
        step: str = "",
    ) -> DatasetVersion:
        """Store ``data`` as a version of dataset ``name`` (created if new).

        Args:
            name: The dataset; letters, digits, ``_``, ``-`` and ``.``.
            data: A pandas DataFrame, a pyarrow Table, or paths of Parquet or CSV files.
            description: Sets the dataset's description.
            tags: Tags to point at this version (``prod``, ``baseline``...).
            parent: The version this one was derived from.
            run_id: The run that produced the data (its id or a unique prefix);
                recorded as lineage.
            step: The pipeline step inside that run.

        Returns:
            The new version, or the existing one if this content was registered before.

        Raises:
            NotFoundError: ``parent`` or ``run_id`` names nothing; then nothing is stored.
        """
        check_name(name, "dataset name")
        if isinstance(tags, str):
            raise InvalidInputError(f"tags is a list of tags; got the text {tags!r}")
        for tag in tags:
            check_tag(tag)
        parent_version = self._as_version(parent) if parent is not None else None
        if run_id is not None:
            run_id = self.store.tracking.resolve_run_id(run_id)
        table, source = as_table(data)
        digest = content_digest(table)
        existing = self._records.find_version(name, digest)
        content = None
        # A version whose file went missing gets it back (the same content, stored anew).
        if existing is None or not self._artifacts.exists(existing.blob_digest):
            blob, profile = self._write(table)
            content = VersionContent(
                blob_digest=blob.digest,
                num_bytes=blob.size,
                num_rows=table.num_rows,
                columns=[
                    {"name": f.name, "type": str(f.type), "nullable": f.nullable}
                    for f in table.schema
                ],
                profile=profile,
                parent_id=parent_version.id if parent_version else None,
                source=source,
            )
        return self._records.register_version(
            name, digest, content, description=description, tags=tags, run_id=run_id, step=step
        )

    def _write(self, table: pa.Table) -> tuple[Blob, dict[str, ColumnProfile]]:
        # Profiling and Parquet encoding both run in Arrow's C++ code without the GIL.
        with ThreadPoolExecutor(max_workers=1) as pool:
            profiling = pool.submit(profile_table, table)
            with self._artifacts.writer() as out:
                pq.write_table(
                    table,
                    out,
                    compression="zstd",
                    row_group_size=ROW_GROUP_ROWS,
                    use_dictionary=_dictionary_columns(table.schema),
                    dictionary_pagesize_limit=_DICTIONARY_LIMIT,
                    write_page_checksum=True,
                )
            return out.blob, profiling.result()

    def tag(self, ref: str | DatasetVersion, tag: str) -> DatasetVersion:
        """Point ``tag`` at the version ``ref`` names (moving it if it pointed elsewhere)."""
        check_tag(tag)
        return self._records.tag(self._as_version(ref).id, tag)

    def untag(self, name: str, tag: str) -> None:
        """Remove ``tag`` from dataset ``name``."""
        self._records.untag(name, tag)

    def record_use(
        self, ref: str | DatasetVersion, run_id: str, *, role: str = "input", step: str = ""
    ) -> DatasetVersion:
        """Record that run ``run_id`` read (``input``) or wrote (``output``) a version."""
        version = self._as_version(ref)
        run_id = self.store.tracking.resolve_run_id(run_id)
        self._records.record_use(version.id, run_id, role=role, step=step)
        return version

    # ------------------------------------------------------------------ reading

    def get(self, ref: str | DatasetVersion) -> DatasetVersion:
        """The version ``ref`` names; see the module docstring for the forms."""
        return self._as_version(ref)

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of dataset ``name``, oldest first."""
        return self._records.list_versions(name)

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset with its newest version, by name."""
        return self._records.list_datasets()

    def read(
        self,
        ref: str | DatasetVersion,
        *,
        columns: Sequence[str] | None = None,
        batch_size: int | None = None,
        prefetch: int = 4,
    ) -> DatasetReader:
        """A :class:`DatasetReader` over the version ``ref`` names."""
        version = self._as_version(ref)
        settings = self.store.settings
        return DatasetReader(
            self._artifacts,
            version.blob_digest,
            version.num_bytes,
            settings.dataset_cache,
            columns=columns,
            batch_size=batch_size,
            prefetch=prefetch,
            cache_max_bytes=int(settings.cache_max_gb * (1 << 30)),
        )

    def validate(
        self, data: str | DatasetVersion | DataLike, schema: DataSchema
    ) -> ValidationReport:
        """Check a version (text is always a reference) or other data against ``schema``."""
        if isinstance(data, DatasetVersion | str):
            version = self._as_version(data)
            return schema.validate(self.read(version).to_table(), dataset=version.ref)
        table, source = as_table(data)
        return schema.validate(table, dataset=source)

    def lineage(self, ref: str | DatasetVersion) -> Lineage:
        """What produced the version and what used it: runs, derived versions,
        registered model versions trained on it and monitors that compare with it."""
        return self._records.lineage(self._as_version(ref).id)

    def _as_version(self, ref: str | DatasetVersion) -> DatasetVersion:
        if isinstance(ref, DatasetVersion):
            return ref
        if not isinstance(ref, str):
            raise InvalidInputError(f"a dataset reference is text like 'churn@v3', got {ref!r}")
        name, _, selector = ref.partition("@")
        return self._records.get_version(name, selector)


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    return [
        field.name
        for field in schema
        if pa.types.is_integer(field.type)
        or pa.types.is_boolean(field.type)
        or pa.types.is_dictionary(field.type)
        or pa.types.is_string(field.type)
        or pa.types.is_binary(field.type)
    ]
