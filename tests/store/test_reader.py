"""Reading versions back: the local cache, prefetching, integrity and training helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest
from fsspec.implementations.local import LocalFileSystem

from mlpilot.config import Settings, load_settings
from mlpilot.errors import ArtifactCorruptedError, InvalidInputError, NotFoundError
from mlpilot.store import DatasetStore, DatasetVersion, Store
from mlpilot.store._datasets import ROW_GROUP_ROWS

ROWS = ROW_GROUP_ROWS * 3 + 123  # four row groups, the last one short


class RecordingFileSystem(LocalFileSystem):
    """A local filesystem that counts ranged reads and how many overlap in time."""

    protocol = ("recording",)
    root_marker = "/"
    calls = 0
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        path = str(path)
        return super()._strip_protocol(path.removeprefix("recording://"))

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kw: Any
    ) -> Any:
        cls = type(self)
        with cls.lock:
            cls.calls += 1
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        try:
            time.sleep(0.02)  # a remote store's round trip, so that requests can overlap
            return super().cat_file(path, start=start, end=end, **kw)
        finally:
            with cls.lock:
                cls.in_flight -= 1

    @classmethod
    def reset(cls) -> None:
        cls.calls = cls.in_flight = cls.most_in_flight = 0


fsspec.register_implementation("recording", RecordingFileSystem, clobber=True)


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[DatasetStore]:
    """Datasets whose artifacts sit behind the recording filesystem (SQLite metadata)."""
    settings = load_settings(
        home=str(tmp_path / "home"),
        artifacts_uri=f"recording://{tmp_path / 'remote'}",
        user="tester",
    )
    store = Store(settings)
    RecordingFileSystem.reset()
    yield DatasetStore(store)
    store.close()


def table_frame(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "label": rng.choice(["a", "b", "c"], rows, p=[0.6, 0.3, 0.1]),
            "n": np.arange(rows),
        }
    )


def test_the_first_read_fills_the_cache_and_the_second_needs_no_store(
    remote: DatasetStore,
) -> None:
    version = remote.register("big", table_frame())
    reader = remote.read(version)
    assert not reader.cached

    first = reader.to_table()
    assert reader.cached
    # The store may vanish now: a cached read does not touch it.
    remote.store.artifacts.delete(version.blob_digest)
    RecordingFileSystem.reset()

    second = remote.read(version).to_table()

    assert RecordingFileSystem.calls == 0
    assert second.equals(first)
    assert first.to_pandas().equals(table_frame())


def test_prefetch_keeps_several_requests_in_flight(remote: DatasetStore) -> None:
    version = remote.register("big", table_frame())
    RecordingFileSystem.reset()
    batches = list(remote.read(version, prefetch=3))
    assert sum(b.num_rows for b in batches) == ROWS
    assert RecordingFileSystem.most_in_flight > 1


def test_without_prefetch_requests_go_one_at_a_time(remote: DatasetStore) -> None:
    version = remote.register("big", table_frame())
    RecordingFileSystem.reset()
    assert remote.read(version, prefetch=0).to_table().num_rows == ROWS
    assert RecordingFileSystem.most_in_flight == 1
    assert RecordingFileSystem.calls >= 4  # the footer, then one request per row group


def test_a_corrupted_file_is_refused_before_its_rows_and_not_cached(
    remote: DatasetStore, tmp_path: Path
) -> None:
    version = remote.register("big", table_frame())
    blob = tmp_path / "remote" / "sha256" / version.blob_digest[:2] / version.blob_digest
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))

    reader = remote.read(version)
    seen = []
    with pytest.raises(ArtifactCorruptedError, match="is damaged"):
        for batch in reader:
            seen.append(batch)
    assert len(seen) < 4  # the damaged row group never reached the caller
    assert not reader.cached
    assert list(reader.cache_path.parent.iterdir()) == []


def test_a_missing_file_is_stored_again_by_registering_the_data(remote: DatasetStore) -> None:
    version = remote.register("big", table_frame(1000))
    remote.store.artifacts.delete(version.blob_digest)
    with pytest.raises(NotFoundError, match="register the data again"):
        remote.read(version).to_table()

    again = remote.register("big", table_frame(1000))

    assert again.id == version.id
    assert remote.read(again).to_pandas().equals(table_frame(1000))


def test_stopping_early_leaves_no_partial_files(remote: DatasetStore) -> None:
    version = remote.register("big", table_frame())
    reader = remote.read(version)
    batches = iter(reader)
    next(batches)
    batches.close()  # type: ignore[attr-defined]
    assert not reader.cached
    assert list(reader.cache_path.parent.iterdir()) == []


def test_columns_and_batch_sizes(datasets: DatasetStore) -> None:
    version = datasets.register("big", table_frame())
    for _ in range(2):  # the first read streams from the store, the second from the cache
        batches = list(datasets.read(version, columns=["n", "x"], batch_size=50_000))
        assert [b.num_rows for b in batches] == [50_000] * 3 + [ROWS - 150_000]
        assert all(b.schema.names == ["n", "x"] for b in batches)
        assert np.concatenate([b.column("n").to_numpy() for b in batches]).tolist() == list(
            range(ROWS)
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"columns": ["x", "nope"]}, r"no column\(s\) \['nope'\] in this dataset"),
        ({"batch_size": 0}, "batch_size must be a whole number >= 1"),
        ({"prefetch": -1}, "prefetch must be a whole number >= 0"),
        ({"columns": "x"}, "columns is a list of names"),
    ],
)
def test_bad_read_options_are_refused(
    datasets: DatasetStore, options: dict[str, Any], message: str
) -> None:
    version = datasets.register("small", table_frame(10))
    for _ in range(2):  # uncached, then cached
        with pytest.raises(InvalidInputError, match=message):
            datasets.read(version, **options).to_table()
        datasets.read(version).to_table()


def test_to_numpy_stacks_columns(datasets: DatasetStore) -> None:
    reader = datasets.read(datasets.register("small", table_frame(10)))
    assert reader.to_numpy(["x", "n"]).shape == (10, 2)
    assert reader.to_numpy(["n"]).tolist() == list(range(10))


def test_split_is_fixed_by_the_seed_and_keeps_class_shares(datasets: DatasetStore) -> None:
    version: DatasetVersion = datasets.register("labelled", table_frame(10_000))

    train, test = datasets.read(version).split(test_size=0.2, seed=7, stratify="label")
    again_train, _ = datasets.read(version).split(test_size=0.2, seed=7, stratify="label")
    other_train, _ = datasets.read(version).split(test_size=0.2, seed=8, stratify="label")

    assert (len(train), len(test)) == (8000, 2000)
    assert train.equals(again_train)
    assert not train.equals(other_train)
    assert set(train.n) | set(test.n) == set(range(10_000))
    shares = test.label.value_counts(normalize=True)
    assert shares["c"] == pytest.approx(0.1, abs=0.01)


def test_split_refuses_what_it_cannot_do(datasets: DatasetStore) -> None:
    reader = datasets.read(datasets.register("small", table_frame(10)))
    with pytest.raises(InvalidInputError, match="test_size must be between 0 and 1"):
        reader.split(test_size=1.5)
    one_each = pd.DataFrame({"label": ["a", "b", "c", "d"], "x": [1, 2, 3, 4]})
    with pytest.raises(InvalidInputError, match="cannot split this dataset"):
        datasets.read(datasets.register("tiny", one_each)).split(stratify="label")


def test_least_recently_read_copies_are_evicted(tmp_path: Path) -> None:
    settings = load_settings(home=str(tmp_path / "home"), cache_max_gb=1.5e-4)  # ~160 KiB
    store = Store(settings)
    datasets = DatasetStore(store)
    first = datasets.register("a", table_frame(8000))
    second = datasets.register("b", table_frame(8001))
    datasets.read(first).to_table()
    datasets.read(second).to_table()
    store.close()

    assert not datasets.read(first).cached
    assert datasets.read(second).cached


def test_an_in_memory_artifact_store_works(tmp_path: Path) -> None:
    settings: Settings = load_settings(
        home=str(tmp_path / "home"), artifacts_uri=f"memory://{tmp_path.name}"
    )
    store = Store(settings)
    datasets = DatasetStore(store)
    version = datasets.register("m", table_frame(100))
    assert datasets.read(version).to_pandas().equals(table_frame(100))
    store.close()


def test_an_empty_version_reads_back_with_its_columns(datasets: DatasetStore) -> None:
    empty = pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="str")})
    version = datasets.register("empty", empty)
    assert version.num_rows == 0
    for _ in range(2):
        table = datasets.read(version).to_table()
        assert (table.num_rows, table.column_names) == (0, ["a", "b"])
