"""The contract of :class:`~mlpilot.store.base.DatasetRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`DatasetRecordsContract` in a
test module that provides a ``store`` fixture (a fresh, empty
:class:`~mlpilot.store.Store` whose ``datasets`` is the implementation)::

    class TestMyDatasetRecords(DatasetRecordsContract):
        pass
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._profile import ColumnProfile
from mlpilot.store._store import Store
from mlpilot.store.base._datasets import DatasetRecords, VersionContent
from mlpilot.testing._processes import race

#: Versions each of two processes registers in the concurrency test.
REGISTRATIONS = 8


def digest_of(text: str) -> str:
    """A made-up content digest: the records never look at the bytes."""
    return hashlib.sha256(text.encode()).hexdigest()


def content(label: str, *, rows: int = 10, parent_id: str | None = None) -> VersionContent:
    """What a registration records about bytes stored under ``label``."""
    return VersionContent(
        blob_digest=digest_of(f"blob {label}"),
        num_bytes=100 + rows,
        num_rows=rows,
        columns=[{"name": "age", "type": "int64", "nullable": True}],
        profile={
            "age": ColumnProfile(
                name="age", type="int64", kind="number", family="integer", count=rows, nulls=0
            )
        },
        parent_id=parent_id,
        source="pandas.DataFrame",
    )


def register(store: Store, name: str, label: str, **options: Any) -> Any:
    return store.datasets.register_version(name, digest_of(label), content(label), **options)


def register_many(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Register ``REGISTRATIONS`` new versions of one dataset and report
    ``(worker, error or None)``."""
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        for index in range(REGISTRATIONS):
            register(store, "shared", f"w{worker}-{index}")
        results.put((worker, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


class DatasetRecordsContract:
    """Tests every dataset records implementation passes."""

    def test_a_version_records_its_content(self, store: Store) -> None:
        records = store.datasets
        assert isinstance(records, DatasetRecords)
        version = register(store, "churn", "a", description="monthly customers")

        assert (version.ref, version.num_rows, version.digest) == ("churn@v1", 10, digest_of("a"))
        assert version.blob_digest == digest_of("blob a")
        assert version.columns == [{"name": "age", "type": "int64", "nullable": True}]
        assert version.profile["age"].count == 10
        assert (version.source, version.created_by, version.tags) == (
            "pandas.DataFrame",
            store.settings.user,
            [],
        )
        assert records.find_version("churn", digest_of("a")) == version
        assert records.find_version("churn", digest_of("b")) is None
        assert records.find_version("sales", digest_of("a")) is None
        assert records.get_version_by_id(version.id) == version
        [summary] = records.list_datasets()
        assert (summary.name, summary.description, summary.versions) == (
            "churn",
            "monthly customers",
            1,
        )
        assert version.to_dict(profile=False)["ref"] == "churn@v1"

    def test_new_content_gets_the_next_number_and_known_content_its_own(self, store: Store) -> None:
        records = store.datasets
        first = register(store, "churn", "a")
        assert [register(store, "churn", label).version for label in "bc"] == [2, 3]

        again = records.register_version("churn", digest_of("a"), None)
        restored = records.register_version("churn", digest_of("a"), content("a-again"))

        assert again.id == restored.id == first.id and again.version == 1
        assert restored.blob_digest == digest_of("blob a-again")
        assert [v.version for v in records.list_versions("churn")] == [1, 2, 3]
        # The same content under another name is another dataset's first version.
        assert register(store, "sales", "a").ref == "sales@v1"
        with pytest.raises(NotFoundError, match="give the content"):
            records.register_version("churn", digest_of("new"), None)

    def test_selectors_name_versions(self, store: Store) -> None:
        records = store.datasets
        for label in "abc":
            register(store, "churn", label)
        records.tag(records.get_version("churn", "v2").id, "prod")

        assert records.get_version("churn").version == 3
        assert records.get_version("churn", "").version == 3
        assert records.get_version("churn", "latest").version == 3
        assert records.get_version("churn", "v1").version == 1
        assert records.get_version("churn", "1").version == 1
        assert records.get_version("churn", "prod").version == 2

    def test_a_tag_moves_and_can_be_removed(self, store: Store) -> None:
        records = store.datasets
        register(store, "churn", "a", tags=["prod", "baseline"])
        second = register(store, "churn", "b")

        moved = records.tag(second.id, "prod")

        assert moved.tags == ["prod"]
        assert records.get_version("churn", "v1").tags == ["baseline"]
        records.untag("churn", "prod")
        with pytest.raises(NotFoundError, match="no version 'prod'; it has v1..v2 and tags"):
            records.get_version("churn", "prod")
        with pytest.raises(NotFoundError, match="has no tag 'prod'"):
            records.untag("churn", "prod")
        with pytest.raises(NotFoundError, match="no dataset named 'sales'"):
            records.untag("sales", "prod")

    @pytest.mark.parametrize("tag", ["latest", "v2", "3"])
    def test_tags_that_would_shadow_a_version_are_refused(self, store: Store, tag: str) -> None:
        with pytest.raises(ConflictError, match="reserved"):
            register(store, "churn", "a", tags=[tag])
        assert store.datasets.list_datasets() == []
        version = register(store, "churn", "a")
        with pytest.raises(ConflictError, match="reserved"):
            store.datasets.tag(version.id, tag)

    def test_unknown_names_say_what_exists(self, store: Store) -> None:
        records = store.datasets
        register(store, "churn", "a", tags=["prod"])

        with pytest.raises(NotFoundError, match="no version 'v9'; it has v1..v1 and tags prod"):
            records.get_version("churn", "v9")
        with pytest.raises(NotFoundError, match="no dataset named 'sales'"):
            records.get_version("sales")
        with pytest.raises(NotFoundError, match="no dataset named 'sales'"):
            records.list_versions("sales")
        with pytest.raises(NotFoundError, match="no dataset version with id"):
            records.get_version_by_id("0" * 32)
        with pytest.raises(NotFoundError, match="no dataset version with id"):
            records.lineage("0" * 32)
        with pytest.raises(NotFoundError, match="no dataset version with id"):
            records.tag("0" * 32, "prod")

    @pytest.mark.parametrize("name", ["", "../up", "a b", "x@y", "-dash", "k" * 251, 7])
    def test_bad_names_are_refused_and_nothing_is_stored(self, store: Store, name: Any) -> None:
        with pytest.raises(InvalidInputError, match="dataset name"):
            store.datasets.register_version(name, digest_of("a"), content("a"))
        with pytest.raises(InvalidInputError, match="tags is a list"):
            register(store, "churn", "a", tags="prod")
        assert store.datasets.list_datasets() == []

    def test_runs_are_linked_and_lineage_follows_parents(self, store: Store) -> None:
        records = store.datasets
        producer = store.tracking.create_run("prep", "make-raw")
        consumer = store.tracking.create_run("train", "fit")
        raw = register(store, "raw", "a", run_id=producer.id, step="load")
        clean = records.register_version("clean", digest_of("b"), content("b", parent_id=raw.id))
        records.record_use(raw.id, consumer.id)
        records.record_use(raw.id, consumer.id)  # recorded once

        found = records.lineage(raw.id)

        assert found.parent is None and [c.ref for c in found.children] == ["clean@v1"]
        assert [(r.run_id, r.run_name, r.role, r.step) for r in found.produced_by] == [
            (producer.id, "make-raw", "output", "load")
        ]
        assert [(r.run_id, r.role) for r in found.used_by] == [(consumer.id, "input")]
        assert records.lineage(clean.id).parent == raw
        assert found.to_dict()["children"] == ["clean@v1"]
        with pytest.raises(InvalidInputError, match="role must be one of"):
            records.record_use(raw.id, consumer.id, role="both")
        with pytest.raises(NotFoundError, match="no run with id"):
            records.record_use(raw.id, "f" * 32)
        with pytest.raises(NotFoundError, match="no run with id"):
            register(store, "raw", "c", run_id="f" * 32)
        assert [v.version for v in records.list_versions("raw")] == [1]

    def test_two_processes_registering_at_once_get_consecutive_numbers(self, store: Store) -> None:
        reports = sorted(race(register_many, [(store.settings, worker) for worker in range(2)]))

        assert reports == [(0, None), (1, None)]
        versions = store.datasets.list_versions("shared")
        assert [v.version for v in versions] == list(range(1, 2 * REGISTRATIONS + 1))
        assert len({v.digest for v in versions}) == 2 * REGISTRATIONS
