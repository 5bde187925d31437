"""Reading dataset versions for training: a local decompressed cache and prefetching.

The first read of a version fetches the row groups of its Parquet file from the artifact
store on a pool of threads, several requests in flight ahead of the one being decoded,
so the latency of a remote store overlaps with decoding and with the caller's work. Each
decoded batch goes to the caller and into an uncompressed Arrow file in the local cache.
Once the whole file has arrived and its sha256 matches, the cache file is renamed into
place; later reads memory-map it and touch neither the network nor a decompressor.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError, NotFoundError
from mlpilot.store._artifacts import ArtifactStore

#: Bytes read from the end of a file in the first request: enough for most footers.
_TAIL = 1 << 16


class DatasetReader:
    """Streams the record batches of one dataset version.

    Iterate it for :class:`pyarrow.RecordBatch` objects, or load it whole with
    :meth:`to_table`, :meth:`to_pandas`, :meth:`to_numpy` or :meth:`split`.

    Args:
        artifacts: Where the version's Parquet file lives.
        blob_digest: The sha256 of that file.
        size: Its size in bytes.
        cache_dir: The local cache folder.
        columns: Only these columns (default: all).
        batch_size: Rows per batch (default: one row group, 65,536 rows).
        prefetch: Row groups fetched ahead on a first read; 0 fetches one at a time.
        cache_max_bytes: Evict the least recently read cache files beyond this size.
    """

    def __init__(
        self,
        artifacts: ArtifactStore,
        blob_digest: str,
        size: int,
        cache_dir: Path,
        *,
        columns: Sequence[str] | None = None,
        batch_size: int | None = None,
        prefetch: int = 4,
        cache_max_bytes: int | None = None,
    ) -> None:
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise InvalidInputError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        if isinstance(columns, str):
            raise InvalidInputError(f"columns is a list of names; got the text {columns!r}")
        if not isinstance(prefetch, int) or prefetch < 0:
            raise InvalidInputError(f"prefetch must be a whole number >= 0, got {prefetch!r}")
        self._artifacts = artifacts
        self._digest = blob_digest
        self._size = size
        self._cache_dir = cache_dir
        self.columns = None if columns is None else list(columns)
        self.batch_size = batch_size
        self.prefetch = prefetch
        self._cache_max_bytes = cache_max_bytes
        self._schema: pa.Schema | None = None

    @property
    def cache_path(self) -> Path:
        return self._cache_dir / f"{self._digest}.arrow"

    @property
    def cached(self) -> bool:
        """Whether a read will come from the local cache."""
        return self.cache_path.exists()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        batches = self._cached_batches() if self.cached else self._fetched_batches()
        yield from _rebatch(batches, self.batch_size) if self.batch_size else batches

    # ------------------------------------------------------------------ whole reads

    def to_table(self) -> pa.Table:
        if self.cached:
            try:
                return self._select(self._open_cache().read_all())
            except FileNotFoundError:  # evicted by another process just now
                pass
        batches = list(self._fetched_batches())
        return pa.Table.from_batches(batches, schema=self._schema)

    def to_pandas(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.to_table().to_pandas()
        return frame

    def to_numpy(self, columns: Sequence[str] | None = None) -> np.ndarray:
        """The chosen columns as one 2-D array (rows × columns); one column gives 1-D."""
        table = self.to_table()
        chosen = list(columns) if columns is not None else table.column_names
        self._check_columns(chosen, table.column_names)
        arrays = [table.column(name).to_numpy() for name in chosen]
        return arrays[0] if columns is not None and len(arrays) == 1 else np.column_stack(arrays)

    def split(
        self,
        *,
        test_size: float = 0.25,
        seed: int = 0,
        stratify: str | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Train and test frames, the same for the same version, ``test_size`` and ``seed``.

        With ``stratify``, each value of that column keeps its share in both parts.
        """
        from sklearn.model_selection import train_test_split

        if not 0 < test_size < 1:
            raise InvalidInputError(f"test_size must be between 0 and 1, got {test_size!r}")
        frame = self.to_pandas()
        if stratify is not None:
            self._check_columns([stratify], list(frame.columns))
        try:
            train, test = train_test_split(
                frame,
                test_size=test_size,
                random_state=seed,
                stratify=frame[stratify] if stratify is not None else None,
            )
        except ValueError as exc:  # too few rows, or a class with a single member
            raise InvalidInputError(f"cannot split this dataset: {exc}") from exc
        return train.reset_index(drop=True), test.reset_index(drop=True)

    # ------------------------------------------------------------------ cached path

    def _open_cache(self) -> pa.ipc.RecordBatchFileReader:
        path = self.cache_path
        os.utime(path)  # the least recently read files are evicted first (may raise
        # FileNotFoundError if another process evicted it a moment ago)
        return pa.ipc.open_file(pa.memory_map(str(path)))

    def _cached_batches(self) -> Iterator[pa.RecordBatch]:
        reader = self._open_cache()
        self._select(reader.schema.empty_table())  # checks the columns before any batch
        for index in range(reader.num_record_batches):
            yield self._select(reader.get_batch(index))

    def _select(self, data: Any) -> Any:
        if self.columns is None:
            return data
        self._check_columns(self.columns, data.schema.names)
        return data.select(self.columns)

    # ------------------------------------------------------------------ first read

    def _fetched_batches(self) -> Iterator[pa.RecordBatch]:
        fs, path = self._artifacts.fs, self._artifacts.blob_path(self._digest)
        if not fs.exists(path):
            raise NotFoundError(
                f"dataset file {self._digest} is missing from {self._artifacts.url}; register "
                "the data again to store it anew"
            )
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        local = self._cache_dir / f".{self._digest}.{token}.parquet.partial"
        staged = self._cache_dir / f".{self._digest}.{token}.arrow.partial"
        pool = ThreadPoolExecutor(max_workers=max(self.prefetch, 1), thread_name_prefix="prefetch")
        try:
            with open(local, "wb") as handle:
                handle.truncate(self._size)
            tail_start = max(self._size - _TAIL, 0)
            tail = fs.cat_file(path, start=tail_start, end=self._size)
            _write_at(local, tail_start, tail)
            footer_start = self._size - 8 - int.from_bytes(tail[-8:-4], "little")
            if footer_start < tail_start:  # a footer longer than the first request
                _write_at(
                    local, footer_start, fs.cat_file(path, start=footer_start, end=tail_start)
                )
            parquet = pq.ParquetFile(local, page_checksum_verification=True)
            self._schema = self._select(parquet.schema_arrow.empty_table()).schema
            ranges = _row_group_ranges(parquet.metadata, footer_start)

            def fetch(start: int, end: int) -> None:
                _write_at(local, start, fs.cat_file(path, start=start, end=end))

            pending: dict[int, Future[None]] = {}
            with pa.OSFile(str(staged), "wb") as sink:
                writer = pa.ipc.new_file(sink, parquet.schema_arrow)
                for index, (start, end) in enumerate(ranges):
                    for ahead in range(index + 1, min(index + 1 + self.prefetch, len(ranges))):
                        if ahead not in pending:
                            pending[ahead] = pool.submit(fetch, *ranges[ahead])
                    if index in pending:
                        pending.pop(index).result()
                    else:
                        fetch(start, end)
                    for batch in self._decode(parquet, index).to_batches():
                        writer.write_batch(batch)
                        yield self._select(batch)
                writer.close()
            self._verify(local)
            os.replace(staged, self.cache_path)
            self._evict()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            local.unlink(missing_ok=True)
            staged.unlink(missing_ok=True)

    def _decode(self, parquet: pq.ParquetFile, index: int) -> pa.Table:
        # Every page carries a checksum: a damaged page fails here, before its rows reach
        # the caller, not only when the whole file's digest is checked at the end.
        try:
            return parquet.read_row_group(index)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ArtifactCorruptedError(self._damaged(f"row group {index}: {exc}")) from exc

    def _damaged(self, detail: str) -> str:
        return (
            f"dataset file {self._digest} in {self._artifacts.url} is damaged ({detail}). "
            "Restore it from a backup, or delete the blob and register the data again"
        )

    def _verify(self, local: Path) -> None:
        hasher = hashlib.sha256()
        with open(local, "rb") as handle:
            while chunk := handle.read(1 << 22):
                hasher.update(chunk)
        if hasher.hexdigest() != self._digest:
            raise ArtifactCorruptedError(self._damaged(f"its bytes hash to {hasher.hexdigest()}"))

    def _evict(self) -> None:
        if self._cache_max_bytes is None:
            return
        sizes: dict[Path, tuple[float, int]] = {}
        for path in self._cache_dir.glob("*.arrow"):
            try:  # other processes evict too
                stat = path.stat()
            except FileNotFoundError:
                continue
            sizes[path] = (stat.st_mtime, stat.st_size)
        total = sum(size for _, size in sizes.values())
        for stale in sorted(sizes, key=lambda p: sizes[p][0]):
            if total <= self._cache_max_bytes:
                break
            if stale != self.cache_path:
                stale.unlink(missing_ok=True)
                total -= sizes[stale][1]

    @staticmethod
    def _check_columns(wanted: Sequence[str], present: Sequence[str]) -> None:
        missing = [name for name in wanted if name not in present]
        if missing:
            raise InvalidInputError(
                f"no column(s) {missing} in this dataset; it has {list(present)}"
            )


def _write_at(path: Path, offset: int, data: Any) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _row_group_ranges(metadata: pq.FileMetaData, fetched_from: int) -> list[tuple[int, int]]:
    """Byte ranges [start, end) to fetch, one per row group, holding its column chunks.

    Together with the bytes from ``fetched_from`` on (the footer, already fetched) they
    cover the whole file, so that the copy can be checked against the file's digest.
    """
    starts_of_groups = []
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        starts = []
        for position in range(group.num_columns):
            chunk = group.column(position)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and 0 < chunk.dictionary_page_offset < start:
                start = chunk.dictionary_page_offset
            starts.append(start)
        starts_of_groups.append(min(starts))
    if not starts_of_groups:
        return [(0, fetched_from)] if fetched_from > 0 else []
    bounds = [0, *starts_of_groups[1:], fetched_from]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Regroup ``batches`` into batches of exactly ``size`` rows (the last may be short)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(held)
            yield table.slice(0, size).combine_chunks().to_batches()[0]
            rest = table.slice(size)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held).combine_chunks().to_batches()[0]
