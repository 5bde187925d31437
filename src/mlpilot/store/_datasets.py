"""Versioned datasets: registration, references, tags, lineage rows and reading.

A version is the content of a table. Registering it writes one zstd Parquet file to the
artifact store (content-addressed, so the same bytes are stored once) and one row that
records its schema, row count, profile, digest, creator and origin. Registering the same
content again under the same name returns the existing version.

A reference names a version: ``churn`` or ``churn@latest`` (the newest), ``churn@v3``
(the third), or ``churn@prod`` (whatever the tag ``prod`` points at).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Row, delete, func, select

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._content import DataLike, as_table, content_digest
from mlpilot.store._metadata import now_ms
from mlpilot.store._profile import ColumnProfile, profile_table
from mlpilot.store._reader import DatasetReader
from mlpilot.store._schema import (
    MAX_KEY_LENGTH,
    dataset_tags,
    dataset_usage,
    dataset_versions,
    datasets,
    runs,
)
from mlpilot.store._store import Store
from mlpilot.store._validation import DataSchema, ValidationReport

#: Rows per Parquet row group: the unit of prefetching and the default batch.
ROW_GROUP_ROWS = 1 << 16
# Dictionary encoding pays for columns of repeated values (text, categories, flags,
# codes). Building a dictionary of distinct floats or timestamps for every row group
# costs more time than it saves bytes, and one past this size gives up early.
_DICTIONARY_LIMIT = 128 << 10

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_VERSION = re.compile(r"v?(\d+)")
_ROLES = ("input", "output")


@dataclasses.dataclass(frozen=True)
class DatasetVersion:
    """One stored version of a dataset."""

    id: str
    name: str
    version: int
    digest: str
    blob_digest: str
    num_rows: int
    num_bytes: int
    #: ``{"name", "type", "nullable"}`` per column, in order.
    columns: list[dict[str, Any]]
    profile: dict[str, ColumnProfile]
    parent_id: str | None
    source: str
    created_by: str
    created_ms: int
    tags: list[str]

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def infer_schema(self, *, ranges: bool = False) -> DataSchema:
        """A :class:`DataSchema` this version satisfies (see :meth:`DataSchema.infer`)."""
        return DataSchema.infer(self.profile, ranges=ranges)


@dataclasses.dataclass(frozen=True)
class DatasetSummary:
    """A dataset and its newest version."""

    name: str
    description: str
    versions: int
    latest: DatasetVersion


@dataclasses.dataclass(frozen=True)
class RunLink:
    """A run that read (``input``) or wrote (``output``) a version."""

    run_id: str
    run_name: str
    status: str
    role: str
    step: str
    created_ms: int


@dataclasses.dataclass(frozen=True)
class Lineage:
    """Where a version came from and where it went."""

    version: DatasetVersion
    parent: DatasetVersion | None
    children: list[DatasetVersion]
    produced_by: list[RunLink]
    used_by: list[RunLink]
    #: ``(run_id, model name)`` of the models logged by the runs that used the version.
    models: list[tuple[str, str]] = dataclasses.field(default_factory=list)


class DatasetStore:
    """The datasets of one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._metadata = store.metadata
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
            run_id: The run that produced the data; recorded as lineage.
            step: The pipeline step inside that run.

        Returns:
            The new version, or the existing one if this content was registered before.
        """
        _check_name(name, "dataset name")
        if isinstance(tags, str):
            raise InvalidInputError(f"tags is a list of tags; got the text {tags!r}")
        for tag in tags:
            _check_tag(tag)
        parent_version = self._as_version(parent) if parent is not None else None
        table, source = as_table(data)
        digest = content_digest(table)
        with self._metadata.read() as conn:
            if run_id is not None:
                self._require_run(conn, run_id)
            existing = self._find_digest(conn, name, digest)
        # A version whose file went missing gets it back (the same content, stored anew).
        missing = existing is not None and not self._artifacts.exists(existing.blob_digest)
        blob, profile = self._write(table) if existing is None or missing else (None, {})
        with self._metadata.write() as conn:
            dataset_id = self._dataset_id(conn, name, description, create=True)
            assert dataset_id is not None
            # Registrations of one dataset take turns from here (a row lock on PostgreSQL;
            # SQLite writers are serial anyway), so the check below sees the others' work.
            conn.execute(select(datasets.c.id).where(datasets.c.id == dataset_id).with_for_update())
            if existing is None:
                existing = self._find_digest(conn, name, digest)
            if existing is None:
                version_id = self._insert_version(
                    conn, dataset_id, name, table, digest, blob, profile, parent_version, source
                )
            else:
                version_id = existing.id
                if missing and blob is not None:
                    conn.execute(
                        dataset_versions.update()
                        .where(dataset_versions.c.id == version_id)
                        .values(blob_digest=blob.digest, num_bytes=blob.size)
                    )
            for tag in tags:
                self._point_tag(conn, dataset_id, name, tag, version_id)
            if run_id is not None:
                self._link(conn, version_id, run_id, "output", step)
        return self._get_by_id(version_id)

    def _write(self, table: pa.Table) -> tuple[Any, dict[str, ColumnProfile]]:
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

    def _insert_version(
        self,
        conn: Connection,
        dataset_id: int,
        name: str,
        table: pa.Table,
        digest: str,
        blob: Any,
        profile: dict[str, ColumnProfile],
        parent: DatasetVersion | None,
        source: str,
    ) -> str:
        number = conn.execute(
            select(func.coalesce(func.max(dataset_versions.c.version), 0)).where(
                dataset_versions.c.dataset_id == dataset_id
            )
        ).scalar_one()
        version_id = uuid.uuid4().hex
        conn.execute(
            dataset_versions.insert().values(
                id=version_id,
                dataset_id=dataset_id,
                version=number + 1,
                digest=digest,
                blob_digest=blob.digest,
                num_rows=table.num_rows,
                num_bytes=blob.size,
                columns=[
                    {"name": f.name, "type": str(f.type), "nullable": f.nullable}
                    for f in table.schema
                ],
                profile={key: p.to_json() for key, p in profile.items()},
                parent_id=parent.id if parent else None,
                source=source,
                created_by=self.store.settings.user,
                created_ms=now_ms(),
            )
        )
        self._metadata.record_event(
            conn,
            "dataset.version_registered",
            "dataset_version",
            version_id,
            self.store.settings.user,
            ref=f"{name}@v{number + 1}",
            digest=digest,
            rows=table.num_rows,
        )
        return version_id

    def tag(self, ref: str | DatasetVersion, tag: str) -> DatasetVersion:
        """Point ``tag`` at the version ``ref`` names (moving it if it pointed elsewhere)."""
        _check_tag(tag)
        version = self._as_version(ref)
        with self._metadata.write() as conn:
            dataset_id = self._dataset_id(conn, version.name)
            assert dataset_id is not None
            self._point_tag(conn, dataset_id, version.name, tag, version.id)
        return self._get_by_id(version.id)

    def untag(self, name: str, tag: str) -> None:
        """Remove ``tag`` from dataset ``name``."""
        with self._metadata.write() as conn:
            dataset_id = self._dataset_id(conn, name)
            if dataset_id is None:
                raise NotFoundError(f"no dataset named {name!r}")
            removed = conn.execute(
                delete(dataset_tags).where(
                    dataset_tags.c.dataset_id == dataset_id, dataset_tags.c.tag == tag
                )
            ).rowcount
            if not removed:
                raise NotFoundError(f"dataset {name!r} has no tag {tag!r}")
            self._metadata.record_event(
                conn, "dataset.untagged", "dataset", name, self.store.settings.user, tag=tag
            )

    def record_use(
        self, ref: str | DatasetVersion, run_id: str, *, role: str = "input", step: str = ""
    ) -> DatasetVersion:
        """Record that run ``run_id`` read (``input``) or wrote (``output``) a version."""
        if role not in _ROLES:
            raise InvalidInputError(f"role must be one of {_ROLES}, got {role!r}")
        version = self._as_version(ref)
        with self._metadata.write() as conn:
            self._link(conn, version.id, run_id, role, step)
        return version

    # ------------------------------------------------------------------ reading

    def get(self, ref: str | DatasetVersion) -> DatasetVersion:
        """The version ``ref`` names; see the module docstring for the forms."""
        return self._as_version(ref)

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of dataset ``name``, oldest first."""
        with self._metadata.read() as conn:
            if self._dataset_id(conn, name) is None:
                raise NotFoundError(self._unknown(conn, name))
            rows = conn.execute(
                self._version_query()
                .where(datasets.c.name == name)
                .order_by(dataset_versions.c.version)
            ).all()
            return self._hydrate(conn, rows)

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset with its newest version, by name."""
        newest = (
            select(
                dataset_versions.c.dataset_id,
                func.max(dataset_versions.c.version).label("version"),
                func.count().label("count"),
            )
            .group_by(dataset_versions.c.dataset_id)
            .subquery()
        )
        with self._metadata.read() as conn:
            rows = conn.execute(
                self._version_query()
                .add_columns(datasets.c.description, newest.c.count.label("num_versions"))
                .join(
                    newest,
                    (newest.c.dataset_id == dataset_versions.c.dataset_id)
                    & (newest.c.version == dataset_versions.c.version),
                )
                .order_by(datasets.c.name)
            ).all()
            versions = self._hydrate(conn, rows)
        return [
            DatasetSummary(v.name, row.description, row.num_versions, v)
            for v, row in zip(versions, rows, strict=True)
        ]

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
        """What produced the version and what used it."""
        version = self._as_version(ref)
        with self._metadata.read() as conn:
            links = conn.execute(
                select(
                    dataset_usage.c.run_id,
                    runs.c.name,
                    runs.c.status,
                    dataset_usage.c.role,
                    dataset_usage.c.step,
                    dataset_usage.c.created_ms,
                )
                .join(runs, runs.c.id == dataset_usage.c.run_id)
                .where(dataset_usage.c.version_id == version.id)
                .order_by(dataset_usage.c.created_ms, dataset_usage.c.run_id)
            ).all()
            children = self._hydrate(
                conn,
                conn.execute(
                    self._version_query()
                    .where(dataset_versions.c.parent_id == version.id)
                    .order_by(dataset_versions.c.created_ms)
                ).all(),
            )
        parent = self._get_by_id(version.parent_id) if version.parent_id else None
        by_role = {role: [RunLink(*link) for link in links if link.role == role] for role in _ROLES}
        return Lineage(version, parent, children, by_role["output"], by_role["input"])

    # ------------------------------------------------------------------ helpers

    def _as_version(self, ref: str | DatasetVersion) -> DatasetVersion:
        if isinstance(ref, DatasetVersion):
            return ref
        if not isinstance(ref, str):
            raise InvalidInputError(f"a dataset reference is text like 'churn@v3', got {ref!r}")
        name, _, selector = ref.partition("@")
        _check_name(name, "dataset name")
        with self._metadata.read() as conn:
            query = self._version_query().where(datasets.c.name == name)
            number = _VERSION.fullmatch(selector)
            if selector in ("", "latest"):
                query = query.order_by(dataset_versions.c.version.desc()).limit(1)
            elif number:
                query = query.where(dataset_versions.c.version == int(number.group(1)))
            else:
                query = query.join(
                    dataset_tags,
                    (dataset_tags.c.version_id == dataset_versions.c.id)
                    & (dataset_tags.c.tag == selector),
                )
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(self._unknown(conn, name, selector))
            return self._hydrate(conn, [row])[0]

    def _unknown(self, conn: Connection, name: str, selector: str = "") -> str:
        known = (
            conn.execute(
                select(dataset_versions.c.version)
                .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                .where(datasets.c.name == name)
                .order_by(dataset_versions.c.version)
            )
            .scalars()
            .all()
        )
        if not known:
            return f"no dataset named {name!r}; register it first (mlpilot datasets register)"
        tags = (
            conn.execute(
                select(dataset_tags.c.tag)
                .join(datasets, datasets.c.id == dataset_tags.c.dataset_id)
                .where(datasets.c.name == name)
                .order_by(dataset_tags.c.tag)
            )
            .scalars()
            .all()
        )
        return f"dataset {name!r} has no version {selector!r}; it has v{known[0]}..v{known[-1]}" + (
            f" and tags {', '.join(tags)}" if tags else " and no tags"
        )

    def _find_digest(self, conn: Connection, name: str, digest: str) -> DatasetVersion | None:
        row = conn.execute(
            self._version_query().where(
                datasets.c.name == name, dataset_versions.c.digest == digest
            )
        ).first()
        return self._hydrate(conn, [row])[0] if row else None

    def _get_by_id(self, version_id: str) -> DatasetVersion:
        with self._metadata.read() as conn:
            row = conn.execute(
                self._version_query().where(dataset_versions.c.id == version_id)
            ).one()
            return self._hydrate(conn, [row])[0]

    def _dataset_id(
        self, conn: Connection, name: str, description: str | None = None, create: bool = False
    ) -> int | None:
        if create:
            self._metadata.insert_ignoring_conflicts(
                conn,
                datasets,
                [{"name": name, "description": description or "", "created_ms": now_ms()}],
            )
            if description is not None:
                conn.execute(
                    datasets.update().where(datasets.c.name == name).values(description=description)
                )
        found = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
        return None if found is None else int(found)

    def _point_tag(
        self, conn: Connection, dataset_id: int, name: str, tag: str, version_id: str
    ) -> None:
        self._metadata.upsert(
            conn,
            dataset_tags,
            [
                {
                    "dataset_id": dataset_id,
                    "tag": tag,
                    "version_id": version_id,
                    "created_ms": now_ms(),
                }
            ],
            keys=["dataset_id", "tag"],
        )
        self._metadata.record_event(
            conn,
            "dataset.tagged",
            "dataset_version",
            version_id,
            self.store.settings.user,
            name=name,
            tag=tag,
        )

    @staticmethod
    def _require_run(conn: Connection, run_id: str) -> None:
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise NotFoundError(f"no run with id {run_id!r} to record as using a dataset")

    def _link(self, conn: Connection, version_id: str, run_id: str, role: str, step: str) -> None:
        self._require_run(conn, run_id)
        self._metadata.insert_ignoring_conflicts(
            conn,
            dataset_usage,
            [
                {
                    "version_id": version_id,
                    "run_id": run_id,
                    "role": role,
                    "step": step,
                    "created_ms": now_ms(),
                }
            ],
        )

    @staticmethod
    def _version_query() -> Any:
        return select(dataset_versions, datasets.c.name).join(
            datasets, datasets.c.id == dataset_versions.c.dataset_id
        )

    @staticmethod
    def _hydrate(conn: Connection, rows: Sequence[Row[Any]]) -> list[DatasetVersion]:
        ids = [row.id for row in rows]
        tags: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            for version_id, tag in conn.execute(
                select(dataset_tags.c.version_id, dataset_tags.c.tag)
                .where(dataset_tags.c.version_id.in_(ids))
                .order_by(dataset_tags.c.tag)
            ):
                tags[version_id].append(tag)
        return [
            DatasetVersion(
                id=row.id,
                name=row.name,
                version=row.version,
                digest=row.digest,
                blob_digest=row.blob_digest,
                num_rows=row.num_rows,
                num_bytes=row.num_bytes,
                columns=list(row.columns),
                profile={k: ColumnProfile.from_json(v) for k, v in row.profile.items()},
                parent_id=row.parent_id,
                source=row.source,
                created_by=row.created_by,
                created_ms=row.created_ms,
                tags=tags[row.id],
            )
            for row in rows
        ]


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


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{what} {name!r} is not valid: use letters, digits, '_', '-' and '.', starting "
            f"with a letter or digit, at most {MAX_KEY_LENGTH} characters"
        )


def _check_tag(tag: Any) -> None:
    _check_name(tag, "tag")
    if tag == "latest" or _VERSION.fullmatch(tag):
        raise ConflictError(
            f"tag {tag!r} is reserved: 'latest' and version numbers (v3) already name versions"
        )
