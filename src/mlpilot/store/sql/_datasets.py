"""Dataset records in SQL: datasets, versions, tags and the runs that used them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select
from sqlalchemy.exc import IntegrityError

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._profile import ColumnProfile
from mlpilot.store._schema import (
    dataset_tags,
    dataset_usage,
    dataset_versions,
    datasets,
    model_versions,
    monitors,
    runs,
)
from mlpilot.store.base._datasets import (
    LINK_ROLES,
    DatasetSummary,
    DatasetVersion,
    Lineage,
    ModelVersionLink,
    MonitorLink,
    RunLink,
    VersionContent,
    check_name,
    check_tag,
    version_number,
)
from mlpilot.store.sql._retry import write_retrying


class SqlDatasetRecords:
    """:class:`~mlpilot.store.base.DatasetRecords` over the metadata database.

    Args:
        metadata: The database.
        actor: Who the events of writes name (the settings' user).
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self._metadata = metadata
        self._actor = actor

    # -- writing ---------------------------------------------------------------------

    def register_version(
        self,
        name: str,
        digest: str,
        content: VersionContent | None,
        *,
        description: str | None = None,
        tags: Sequence[str] = (),
        run_id: str | None = None,
        step: str = "",
    ) -> DatasetVersion:
        check_name(name, "dataset name")
        if isinstance(tags, str):
            raise InvalidInputError(f"tags is a list of tags; got the text {tags!r}")
        for tag in tags:
            check_tag(tag)
        if not isinstance(digest, str) or not digest:
            raise InvalidInputError(f"a version's digest is text, got {digest!r}")

        def register(conn: Connection) -> str:
            if run_id is not None:
                _require_run(conn, run_id)
            dataset_id = self._dataset_id(conn, name, description)
            # Registrations of one dataset take turns from here (a row lock on PostgreSQL;
            # SQLite writers are serial anyway), so the check below sees the others' work.
            conn.execute(select(datasets.c.id).where(datasets.c.id == dataset_id).with_for_update())
            existing = conn.execute(
                select(dataset_versions.c.id).where(
                    dataset_versions.c.dataset_id == dataset_id,
                    dataset_versions.c.digest == digest,
                )
            ).scalar()
            if existing is None:
                if content is None:
                    raise NotFoundError(
                        f"dataset {name!r} has no version with digest {digest[:12]}; give "
                        "the content to register it"
                    )
                version_id = self._insert(conn, dataset_id, name, digest, content)
            else:
                version_id = str(existing)
                if content is not None:
                    conn.execute(
                        dataset_versions.update()
                        .where(dataset_versions.c.id == version_id)
                        .values(blob_digest=content.blob_digest, num_bytes=content.num_bytes)
                    )
            for tag in tags:
                self._point_tag(conn, dataset_id, name, tag, version_id)
            if run_id is not None:
                self._link(conn, version_id, run_id, "output", step)
            return version_id

        try:
            version_id = write_retrying(self._metadata, register)
        except IntegrityError as exc:  # a parent that names no version
            raise NotFoundError(f"cannot register {name!r}: {exc.orig}") from None
        return self.get_version_by_id(version_id)

    def tag(self, version_id: str, tag: str) -> DatasetVersion:
        check_tag(tag)
        version = self.get_version_by_id(version_id)

        def point(conn: Connection) -> None:
            dataset_id = self._dataset_id(conn, version.name)
            self._point_tag(conn, dataset_id, version.name, tag, version.id)

        write_retrying(self._metadata, point)
        return self.get_version_by_id(version.id)

    def untag(self, name: str, tag: str) -> None:
        def remove(conn: Connection) -> None:
            dataset_id = self._find_dataset(conn, name)
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
                conn, "dataset.untagged", "dataset", name, self._actor, tag=tag
            )

        write_retrying(self._metadata, remove)

    def record_use(
        self, version_id: str, run_id: str, *, role: str = "input", step: str = ""
    ) -> None:
        if role not in LINK_ROLES:
            raise InvalidInputError(f"role must be one of {LINK_ROLES}, got {role!r}")
        self.get_version_by_id(version_id)
        write_retrying(
            self._metadata, lambda conn: self._link(conn, version_id, run_id, role, step)
        )

    # -- reading ---------------------------------------------------------------------

    def find_version(self, name: str, digest: str) -> DatasetVersion | None:
        with self._metadata.read() as conn:
            row = conn.execute(
                _version_query().where(datasets.c.name == name, dataset_versions.c.digest == digest)
            ).first()
            return _hydrate(conn, [row])[0] if row else None

    def get_version(self, name: str, selector: str = "latest") -> DatasetVersion:
        check_name(name, "dataset name")
        if not isinstance(selector, str):
            raise InvalidInputError(f"a version selector is text like 'v3', got {selector!r}")
        query = _version_query().where(datasets.c.name == name)
        number = version_number(selector)
        if selector in ("", "latest"):
            query = query.order_by(dataset_versions.c.version.desc()).limit(1)
        elif number is not None:
            query = query.where(dataset_versions.c.version == number)
        else:
            query = query.join(
                dataset_tags,
                (dataset_tags.c.version_id == dataset_versions.c.id)
                & (dataset_tags.c.tag == selector),
            )
        with self._metadata.read() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(_unknown(conn, name, selector))
            return _hydrate(conn, [row])[0]

    def get_version_by_id(self, version_id: str) -> DatasetVersion:
        with self._metadata.read() as conn:
            row = conn.execute(_version_query().where(dataset_versions.c.id == version_id)).first()
            if row is None:
                raise NotFoundError(f"no dataset version with id {version_id!r}")
            return _hydrate(conn, [row])[0]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        with self._metadata.read() as conn:
            rows = conn.execute(
                _version_query().where(datasets.c.name == name).order_by(dataset_versions.c.version)
            ).all()
            if not rows:
                raise NotFoundError(_unknown(conn, name))
            return _hydrate(conn, rows)

    def list_datasets(self) -> list[DatasetSummary]:
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
                _version_query()
                .add_columns(datasets.c.description, newest.c.count.label("num_versions"))
                .join(
                    newest,
                    (newest.c.dataset_id == dataset_versions.c.dataset_id)
                    & (newest.c.version == dataset_versions.c.version),
                )
                .order_by(datasets.c.name)
            ).all()
            versions = _hydrate(conn, rows)
        return [
            DatasetSummary(v.name, row.description, row.num_versions, v)
            for v, row in zip(versions, rows, strict=True)
        ]

    def lineage(self, version_id: str) -> Lineage:
        version = self.get_version_by_id(version_id)
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
            children = _hydrate(
                conn,
                conn.execute(
                    _version_query()
                    .where(dataset_versions.c.parent_id == version.id)
                    .order_by(dataset_versions.c.created_ms, dataset_versions.c.id)
                ).all(),
            )
            trained = conn.execute(
                select(
                    model_versions.c.model,
                    model_versions.c.version,
                    model_versions.c.run_id,
                    model_versions.c.created_ms,
                )
                .where(model_versions.c.dataset == version.ref)
                .order_by(model_versions.c.created_ms, model_versions.c.model)
            ).all()
            watching = conn.execute(
                select(monitors.c.name, monitors.c.model, monitors.c.created_ms)
                .where(monitors.c.reference == version.ref)
                .order_by(monitors.c.created_ms, monitors.c.name)
            ).all()
        parent = self.get_version_by_id(version.parent_id) if version.parent_id else None
        by_role = {
            role: [RunLink(*link) for link in links if link.role == role] for role in LINK_ROLES
        }
        return Lineage(
            version,
            parent,
            children,
            by_role["output"],
            by_role["input"],
            model_versions=[ModelVersionLink(*row) for row in trained],
            monitors=[MonitorLink(*row) for row in watching],
        )

    # -- helpers ---------------------------------------------------------------------

    def _insert(
        self, conn: Connection, dataset_id: int, name: str, digest: str, content: VersionContent
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
                blob_digest=content.blob_digest,
                num_rows=content.num_rows,
                num_bytes=content.num_bytes,
                columns=content.columns,
                profile={key: p.to_json() for key, p in content.profile.items()},
                parent_id=content.parent_id,
                source=content.source,
                created_by=self._actor,
                created_ms=now_ms(),
            )
        )
        self._metadata.record_event(
            conn,
            "dataset.version_registered",
            "dataset_version",
            version_id,
            self._actor,
            ref=f"{name}@v{number + 1}",
            digest=digest,
            rows=content.num_rows,
        )
        return version_id

    def _dataset_id(self, conn: Connection, name: str, description: str | None = None) -> int:
        """The id of dataset ``name``, created if new; ``description`` replaces its own."""
        self._metadata.insert_ignoring_conflicts(
            conn,
            datasets,
            [{"name": name, "description": description or "", "created_ms": now_ms()}],
        )
        if description is not None:
            conn.execute(
                datasets.update().where(datasets.c.name == name).values(description=description)
            )
        found = self._find_dataset(conn, name)
        assert found is not None
        return found

    @staticmethod
    def _find_dataset(conn: Connection, name: str) -> int | None:
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
            conn, "dataset.tagged", "dataset_version", version_id, self._actor, name=name, tag=tag
        )

    def _link(self, conn: Connection, version_id: str, run_id: str, role: str, step: str) -> None:
        _require_run(conn, run_id)
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


def _require_run(conn: Connection, run_id: str) -> None:
    if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise NotFoundError(f"no run with id {run_id!r} to record as using a dataset")


def _unknown(conn: Connection, name: str, selector: str = "") -> str:
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


def _version_query() -> Any:
    return select(dataset_versions, datasets.c.name).join(
        datasets, datasets.c.id == dataset_versions.c.dataset_id
    )


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
