"""Dataset versions: registration, deduplication, references, tags and events."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import select

from mlpilot.config import Settings
from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store import DatasetStore, Store, collect_garbage
from mlpilot.store._schema import dataset_versions, events


def frame(seed: int = 0, rows: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "plan": rng.choice(["basic", "pro"], rows),
            "spend": rng.normal(50, 10, rows),
        }
    )


def blobs(datasets: DatasetStore) -> set[str]:
    return {blob.digest for blob in datasets.store.artifacts.blobs()}


def test_a_version_records_what_the_data_is(datasets: DatasetStore) -> None:
    version = datasets.register("churn", frame(), description="monthly customers")

    assert version.ref == "churn@v1"
    assert version.num_rows == 500
    assert [(c["name"], c["type"]) for c in version.columns] == [
        ("age", "int64"),
        ("plan", "string"),
        ("spend", "double"),
    ]
    assert version.profile["age"].min >= 18 and version.profile["age"].max < 90
    assert version.profile["plan"].distinct == 2
    assert version.source == "pandas.DataFrame"
    assert version.created_by == "tester"
    assert len(version.digest) == 64
    assert version.num_bytes == datasets.store.artifacts.get_bytes(version.blob_digest).__len__()
    assert datasets.list_datasets()[0].description == "monthly customers"


def test_the_same_content_is_the_same_version_and_stored_once(datasets: DatasetStore) -> None:
    first = datasets.register("churn", frame())
    stored = blobs(datasets)

    again = datasets.register("churn", pa.Table.from_pandas(frame(), preserve_index=False))

    assert again.id == first.id
    assert blobs(datasets) == stored
    assert [v.version for v in datasets.versions("churn")] == [1]


def test_new_content_gets_the_next_number(datasets: DatasetStore) -> None:
    refs = [datasets.register("churn", frame(seed)).ref for seed in range(3)]
    assert refs == ["churn@v1", "churn@v2", "churn@v3"]
    assert [v.version for v in datasets.versions("churn")] == [1, 2, 3]


def test_references_name_versions(datasets: DatasetStore) -> None:
    for seed in range(3):
        datasets.register("churn", frame(seed))
    datasets.tag("churn@v2", "prod")

    assert datasets.get("churn").version == 3
    assert datasets.get("churn@latest").version == 3
    assert datasets.get("churn@v1").version == 1
    assert datasets.get("churn@1").version == 1
    assert datasets.get("churn@prod").version == 2


def test_a_tag_moves_and_can_be_removed(datasets: DatasetStore) -> None:
    datasets.register("churn", frame(0), tags=["prod"])
    datasets.register("churn", frame(1))

    moved = datasets.tag("churn@v2", "prod")
    assert moved.tags == ["prod"]
    assert datasets.get("churn@v1").tags == []

    datasets.untag("churn", "prod")
    with pytest.raises(NotFoundError, match="no version 'prod'; it has v1..v2 and no tags"):
        datasets.get("churn@prod")
    with pytest.raises(NotFoundError, match="has no tag 'prod'"):
        datasets.untag("churn", "prod")


@pytest.mark.parametrize("tag", ["latest", "v2", "3"])
def test_tags_that_would_shadow_a_version_are_refused(datasets: DatasetStore, tag: str) -> None:
    with pytest.raises(ConflictError, match="reserved"):
        datasets.register("churn", frame(), tags=[tag])
    assert datasets.list_datasets() == []


def test_unknown_references_say_what_exists(datasets: DatasetStore) -> None:
    datasets.register("churn", frame(), tags=["prod"])
    with pytest.raises(NotFoundError, match="no version 'v9'; it has v1..v1 and tags prod"):
        datasets.get("churn@v9")
    with pytest.raises(NotFoundError, match="no dataset named 'sales'"):
        datasets.get("sales")
    with pytest.raises(NotFoundError, match="no dataset named 'sales'"):
        datasets.versions("sales")


@pytest.mark.parametrize("name", ["", "../up", "a b", "x@y", "-dash", "k" * 251, 7])
def test_bad_names_are_refused_and_nothing_is_stored(datasets: DatasetStore, name: object) -> None:
    with pytest.raises(InvalidInputError, match="dataset name"):
        datasets.register(name, frame())  # type: ignore[arg-type]
    assert datasets.list_datasets() == []
    assert blobs(datasets) == set()


def test_a_parent_is_recorded(datasets: DatasetStore) -> None:
    raw = datasets.register("raw", frame())
    clean = datasets.register("clean", frame().dropna(), parent="raw@v1")
    assert clean.parent_id == raw.id
    assert [c.ref for c in datasets.lineage("raw").children] == ["clean@v1"]


def test_registering_writes_events(datasets: DatasetStore) -> None:
    version = datasets.register("churn", frame(), tags=["prod"])
    with datasets.store.metadata.read() as conn:
        rows = conn.execute(select(events.c.kind, events.c.object_id, events.c.actor)).all()
    assert ("dataset.version_registered", version.id, "tester") in rows
    assert ("dataset.tagged", version.id, "tester") in rows


def test_list_shows_each_dataset_with_its_newest_version(datasets: DatasetStore) -> None:
    datasets.register("sales", frame(5))
    datasets.register("churn", frame(0))
    datasets.register("churn", frame(1), tags=["prod"])

    summaries = datasets.list_datasets()

    assert [(s.name, s.versions, s.latest.version, s.latest.tags) for s in summaries] == [
        ("churn", 2, 2, ["prod"]),
        ("sales", 1, 1, []),
    ]


def test_garbage_collection_keeps_dataset_files(datasets: DatasetStore) -> None:
    version = datasets.register("churn", frame())
    collect_garbage(datasets.store.metadata, datasets.store.artifacts, grace_s=0)
    assert datasets.read(version).to_table().num_rows == 500


def test_a_registration_whose_run_is_unknown_stores_no_version(datasets: DatasetStore) -> None:
    with pytest.raises(NotFoundError, match="no run with id 'nope'"):
        datasets.register("churn", frame(), run_id="nope")
    with datasets.store.metadata.read() as conn:
        assert conn.execute(select(dataset_versions.c.id)).all() == []
    assert blobs(datasets) == set()  # refused before anything was written


def test_tags_given_as_text_are_refused(datasets: DatasetStore) -> None:
    with pytest.raises(InvalidInputError, match="tags is a list of tags"):
        datasets.register("churn", frame(), tags="prod")  # type: ignore[arg-type]


def _register_many(settings: Settings, worker: int, count: int) -> None:
    store = Store(settings)
    datasets = DatasetStore(store)
    for index in range(count):
        datasets.register("shared", frame(seed=1000 * worker + index, rows=50))
    store.close()


@pytest.mark.integration
def test_concurrent_registrations_number_versions_without_gaps(settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_register_many, args=(settings, worker, 5)) for worker in range(3)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0

    store = Store(settings)
    versions = DatasetStore(store).versions("shared")
    store.close()
    assert [v.version for v in versions] == list(range(1, 16))
    assert len({v.digest for v in versions}) == 15


def test_files_register_like_frames(datasets: DatasetStore, tmp_path: Path) -> None:
    frame().to_parquet(tmp_path / "churn.parquet")
    from_file = datasets.register("churn", tmp_path / "churn.parquet")
    from_frame = datasets.register("churn", frame())
    assert from_file.id == from_frame.id
    assert from_file.source == f"parquet: {tmp_path / 'churn.parquet'}"
