"""Dataset benchmark: mlpilot's dataset layer against plain pyarrow, and against DVC.

What is measured, each contender against its baseline in the same run and on the same
synthetic frame (1,000,000 rows × 20 columns, fixed seed: 12 float64, 4 int64, 2
low-cardinality text, 1 bool and 1 timestamp column):

* ``register``: ``DatasetStore.register(name, df)`` of new content (one cell differs
  each repetition, so nothing is deduplicated), best of 3, against
  ``pq.write_table(pa.Table.from_pandas(df), path, compression="zstd")``; the pandas to
  Arrow conversion counts on both sides. Target: at most 2× the pyarrow time.
  ``register_again`` registers content already stored, which only hashes the values and
  finds the existing version (no target; shown for scale).
* ``profile``: ``profile_table`` of the Arrow table that ``register`` profiles. Target:
  under 1.5 s. (``register`` runs it on a thread beside the Parquet encoder.)
* ``read``: the second read, ``ds.read(ref).to_table()`` once a full read has filled the
  local cache (a memory-mapped, uncompressed Arrow file), against ``pq.read_table`` of
  the pyarrow-written Parquet file on local disk. Target: within 1.3×. The first read
  (row groups fetched, decoded, checked against the blob's digest and cached) is shown.
* ``prefetch``: first reads (the cache folder is emptied before each) through a
  consumer that works on every batch, from an artifact store whose every request sleeps
  a fixed latency first: the ``slowfile://`` fsspec filesystem defined here, a local
  filesystem with 40 ms added to each ``cat_file`` call (and to each file opened for
  reading). (a) plain ``file://`` with ``prefetch=0``, (b) slow store with
  ``prefetch=0``, (c) slow store with ``prefetch=4``. The latency added is (b) - (a);
  the share of it hidden by prefetching is ((b) - (c)) / ((b) - (a)), each the median
  of 7 runs, the three configurations taking turns. Target: ≥ 80%.
  The consumer is a stand-in for a training step: it stacks the batch's float columns
  into a matrix and runs ``np.tanh(x).sum(axis=0)`` over it a number of times calibrated
  at start-up to cost about the latency per batch (numpy work, no ``time.sleep``). The
  tail request and the first row group cannot overlap with anything, so with G row
  groups at most (G - 1) / (G + 1) of the latency can be hidden; the quick run has too
  few row groups for the target to be judged and reports it without a verdict.
* ``dvc``: the data scientist's usual way to version a file: write it with pyarrow, then
  ``dvc add`` it in a ``dvc init --no-scm`` repository (the CLI as run from a shell,
  Python start-up included), best of 3, each in a fresh repository. DVC has no reader:
  reading back is ``pq.read_table`` of the workspace file, and after removing the file,
  ``dvc checkout`` followed by that read. DVC runs in a subprocess with its own virtual
  environment, ``bench/.venv-dvc``, created on first use; if it cannot be installed its
  figures are null and the reason is reported.

Usage::

    python bench/datasets.py [--quick] [--skip-dvc] [--check]

The result table goes to stdout, followed by one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from _common import (
    BENCH_DIR,
    Row,
    ensure_venv,
    err_console,
    fmt_seconds,
    print_json_line,
    print_table,
    run_worker,
    say,
    stopwatch,
)

if TYPE_CHECKING:
    from mlpilot.store import DatasetReader, DatasetStore, DatasetVersion, Store

DVC_VENV = BENCH_DIR / ".venv-dvc"
DVC_WORKER = BENCH_DIR / "_dvc_worker.py"

TARGET_REGISTER_RATIO = 2.0
TARGET_PROFILE_S = 1.5
TARGET_READ_CACHED_RATIO = 1.3
TARGET_HIDDEN_SHARE = 0.8

#: Protocol of the artificially slow artifact store.
SLOW_PROTOCOL = "slowfile"


@dataclasses.dataclass(frozen=True)
class Sizes:
    rows: int
    #: Best of this many for register, pyarrow write, profile and DVC add.
    repeat: int
    #: Best of this many for the cached read and its pyarrow baseline.
    read_repeat: int
    #: Median of this many for each of the three prefetch configurations.
    prefetch_repeat: int
    latency_ms: float
    prefetch: int


FULL = Sizes(
    rows=1_000_000,
    repeat=3,
    read_repeat=5,
    prefetch_repeat=7,
    latency_ms=40.0,
    prefetch=4,
)

QUICK = Sizes(
    rows=100_000,
    repeat=1,
    read_repeat=3,
    prefetch_repeat=1,
    latency_ms=40.0,
    prefetch=4,
)


# --------------------------------------------------------------------------- data


FLOAT_COLUMNS = [f"f{i:02d}" for i in range(12)]


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """The benchmark's frame: 12 float64, 4 int64, 2 text, 1 bool, 1 timestamp column."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(FLOAT_COLUMNS):
        values = rng.standard_normal(rows) * (i + 1) + i
        if i % 3 == 2:  # some columns are rounded, as prices and ratios often are
            values = np.round(values, 2)
        data[name] = values
    data["i00"] = rng.integers(0, 1_000_000_000, rows)  # ids: nearly all distinct
    data["i01"] = rng.integers(0, 100, rows)  # small counts
    data["i02"] = rng.poisson(3.0, rows).astype(np.int64)
    data["i03"] = rng.integers(-5_000, 5_000, rows)
    cities = np.array(["Lyon", "Paris", "Lille", "Nantes", "Nice", "Brest", "Metz", "Pau"])
    plans = np.array(["free", "basic", "pro", "enterprise"])
    data["city"] = cities[rng.integers(0, len(cities), rows)]
    data["plan"] = plans[rng.choice(len(plans), rows, p=[0.55, 0.25, 0.15, 0.05])]
    data["churned"] = rng.random(rows) < 0.2
    seconds = rng.integers(0, 365 * 86_400, rows).astype("timedelta64[s]")
    data["signup"] = (np.datetime64("2024-01-01T00:00:00", "s") + seconds).astype("datetime64[us]")
    return pd.DataFrame(data)


def pyarrow_write(df: pd.DataFrame, path: Path) -> None:
    """The baseline write: pandas to Arrow, then one zstd Parquet file."""
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="zstd")


# --------------------------------------------------------------------------- slow store


class SlowFS(LocalFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """A local filesystem that sleeps :attr:`latency_s` before each read request.

    ``cat_file`` (what the dataset reader uses for its ranged reads) and opening a file
    for reading each pay the latency once; writes, listings and renames pay nothing, so
    registering through this filesystem costs what it costs on ``file://``.
    """

    protocol: ClassVar[tuple[str, ...]] = (SLOW_PROTOCOL,)
    latency_s: ClassVar[float] = 0.04
    _lock: ClassVar[threading.Lock] = threading.Lock()
    requests: ClassVar[int] = 0

    @classmethod
    def _wait(cls) -> None:
        with cls._lock:
            cls.requests += 1
        time.sleep(cls.latency_s)

    @classmethod
    def reset(cls, latency_s: float) -> None:
        with cls._lock:
            cls.latency_s = latency_s
            cls.requests = 0

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        self._wait()
        local = self._strip_protocol(path)
        with open(local, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            first = 0 if start is None else start if start >= 0 else max(size + start, 0)
            last = size if end is None else end if end >= 0 else size + end
            handle.seek(first)
            return handle.read(max(last - first, 0))

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "r" in mode:
            self._wait()
        return super()._open(path, mode, *args, **kwargs)


def install_slow_fs(root: Path) -> str:
    """Register :class:`SlowFS` with fsspec; return the ``slowfile://`` URL of ``root``
    after checking that it resolves to that folder through ``url_to_fs``."""
    fsspec.register_implementation(SLOW_PROTOCOL, SlowFS, clobber=True)
    url = f"{SLOW_PROTOCOL}://{root.resolve().as_posix()}"
    fs, path = url_to_fs(url)
    if not isinstance(fs, SlowFS) or Path(path) != root.resolve():
        raise RuntimeError(f"{url} resolves to {type(fs).__name__} {path!r}, not SlowFS {root}")
    return url


# --------------------------------------------------------------------------- consumer


Consumer = Callable[[pa.RecordBatch], None]


def make_consumer(sample_batch: pa.RecordBatch, target_s: float) -> tuple[Consumer, float]:
    """A per-batch workload costing about ``target_s`` on ``sample_batch`` (a full batch
    of the data to be read): stack the float columns into a matrix, then run
    ``np.tanh(x).sum(axis=0)`` over it a calibrated number of times.

    Returns the consumer and its measured cost on ``sample_batch``, in seconds.
    """
    passes = [1]

    def consume(batch: pa.RecordBatch) -> None:
        matrix = np.column_stack([batch.column(name).to_numpy() for name in FLOAT_COLUMNS])
        for _ in range(passes[0]):
            np.tanh(matrix).sum(axis=0)

    def cost() -> float:
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            consume(sample_batch)
            timings.append(time.perf_counter() - start)
        return statistics.median(timings)

    for _ in range(3):  # converge on the number of passes
        passes[0] = max(1, round(passes[0] * target_s / cost()))
    return consume, cost()


# --------------------------------------------------------------------------- mlpilot


@dataclasses.dataclass
class Stores:
    plain: Store
    slow: Store
    settings_cache: Path

    def close(self) -> None:
        self.slow.close()
        self.plain.close()


def open_stores(workdir: Path) -> Stores:
    """A fresh mlpilot store in ``workdir``, opened twice: through ``file://`` and
    through the slow filesystem, sharing one metadata database and artifact folder."""
    from mlpilot.store import open_store

    home = workdir / "home"
    artifacts = home / "artifacts"
    artifacts.mkdir(parents=True)
    common: dict[str, Any] = {
        "home": str(home),
        "store_uri": f"sqlite:///{home / 'mlpilot.db'}",
        "cache_dir": str(home / "cache"),
    }
    plain = open_store(**common, artifacts_uri=artifacts.as_uri())
    slow = open_store(**common, artifacts_uri=install_slow_fs(artifacts))
    return Stores(plain, slow, plain.settings.dataset_cache)


def clear_cache(stores: Stores) -> None:
    shutil.rmtree(stores.settings_cache, ignore_errors=True)


def best(times: list[float]) -> float:
    return min(times)


def bench_register(
    ds: DatasetStore, df: pd.DataFrame, workdir: Path, sizes: Sizes
) -> tuple[dict[str, Any], DatasetVersion, Path]:
    """Register against the pyarrow write, alternating, each of new content."""
    from mlpilot.store._content import as_table
    from mlpilot.store._profile import profile_table

    # One small registration first, so that neither side pays for first-use setup
    # (database connections, imports) in its timing.
    ds.register("warmup", df.head(1000))
    pyarrow_write(df.head(1000), workdir / "warmup.parquet")

    register_times: list[float] = []
    write_times: list[float] = []
    parquet_path = workdir / "pyarrow.parquet"
    version: DatasetVersion | None = None
    for rep in range(sizes.repeat):
        # New content each time: one cell differs, so no registration is deduplicated.
        df.loc[0, "f00"] = 1000.0 + rep
        with stopwatch() as elapsed:
            version = ds.register("bench", df)
        register_times.append(elapsed[0])
        if version.version != rep + 1:
            raise RuntimeError(f"registration {rep} gave {version.ref}, expected a new version")
        path = workdir / f"pyarrow-{rep}.parquet"
        with stopwatch() as elapsed:
            pyarrow_write(df, path)
        write_times.append(elapsed[0])
        os.replace(path, parquet_path)
    assert version is not None
    say("mlpilot", f"register: {fmt_seconds(best(register_times))}")
    say("pyarrow", f"write_table: {fmt_seconds(best(write_times))}")

    again_times = []
    for _ in range(sizes.repeat):
        with stopwatch() as elapsed:
            again = ds.register("bench", df)
        again_times.append(elapsed[0])
        if again.id != version.id:
            raise RuntimeError("registering the same content again made a new version")
    say("mlpilot", f"register again (deduplicated): {fmt_seconds(best(again_times))}")

    table, _ = as_table(df)
    profile_times = []
    for _ in range(sizes.repeat):
        with stopwatch() as elapsed:
            profile = profile_table(table)
        profile_times.append(elapsed[0])
    if len(profile) != table.num_columns:
        raise RuntimeError("profile_table did not profile every column")
    say("mlpilot", f"profile_table: {fmt_seconds(best(profile_times))}")

    result = {
        "register_s": best(register_times),
        "register_times_s": register_times,
        "pyarrow_write_s": best(write_times),
        "pyarrow_write_times_s": write_times,
        "register_again_s": best(again_times),
        "profile_s": best(profile_times),
        "parquet_bytes": parquet_path.stat().st_size,
        "blob_bytes": version.num_bytes,
    }
    return result, version, parquet_path


def bench_read(
    stores: Stores,
    ds: DatasetStore,
    version: DatasetVersion,
    df: pd.DataFrame,
    parquet_path: Path,
    sizes: Sizes,
) -> dict[str, Any]:
    """First and cached reads of ``version`` against ``pq.read_table`` of a local file."""
    clear_cache(stores)
    reader = ds.read(version)
    if reader.cached:
        raise RuntimeError("the cache was not cleared before the first read")
    with stopwatch() as elapsed:
        first = reader.to_table()
    first_s = elapsed[0]
    if not ds.read(version).cached:
        raise RuntimeError("a full first read left no cache file")
    expected = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    if first.num_rows != len(df) or not first.equals(expected.cast(first.schema)):
        raise RuntimeError("the dataset read back differs from the frame registered")
    say("mlpilot", f"first read: {fmt_seconds(first_s)}")

    cached_times: list[float] = []
    pyarrow_times: list[float] = []
    for _ in range(sizes.read_repeat):
        with stopwatch() as elapsed:
            cached = ds.read(version).to_table()
        cached_times.append(elapsed[0])
        with stopwatch() as elapsed:
            local = pq.read_table(parquet_path)
        pyarrow_times.append(elapsed[0])
        if cached.num_rows != local.num_rows:
            raise RuntimeError("cached read and pyarrow read differ in rows")
    say("mlpilot", f"cached read: {fmt_seconds(best(cached_times))}")
    say("pyarrow", f"read_table: {fmt_seconds(best(pyarrow_times))}")

    # The cached read memory-maps its file, so to_table touches no value; a pass over
    # every value after each read shows what a caller pays once it uses the data.
    cached_scan_times: list[float] = []
    pyarrow_scan_times: list[float] = []
    for _ in range(sizes.read_repeat):
        with stopwatch() as elapsed:
            scan(ds.read(version).to_table())
        cached_scan_times.append(elapsed[0])
        with stopwatch() as elapsed:
            scan(pq.read_table(parquet_path))
        pyarrow_scan_times.append(elapsed[0])
    return {
        "read_first_s": first_s,
        "read_cached_s": best(cached_times),
        "pyarrow_read_s": best(pyarrow_times),
        "read_cached_scan_s": best(cached_scan_times),
        "pyarrow_read_scan_s": best(pyarrow_scan_times),
        "cache_bytes": ds.read(version).cache_path.stat().st_size,
    }


def scan(table: pa.Table) -> None:
    """Read every value of ``table`` once (min and max of each column)."""
    for column in table.columns:
        pc.min_max(column)


def _consume_first_read(
    stores: Stores, reader: DatasetReader, consume: Consumer, expected_rows: int
) -> float:
    clear_cache(stores)
    if reader.cached:
        raise RuntimeError("the cache was not cleared before a first read")
    rows = 0
    with stopwatch() as elapsed:
        for batch in reader:
            consume(batch)
            rows += batch.num_rows
    if rows != expected_rows:
        raise RuntimeError(f"a first read gave {rows} rows, expected {expected_rows}")
    return elapsed[0]


def bench_prefetch(stores: Stores, version: DatasetVersion, sizes: Sizes) -> dict[str, Any]:
    """First reads with a consumer: file:// without prefetch, slow store without and with."""
    from mlpilot.store import DatasetStore
    from mlpilot.store._datasets import ROW_GROUP_ROWS

    latency_s = sizes.latency_ms / 1000
    whole = DatasetStore(stores.plain).read(version).to_table()
    sample = whole.slice(0, ROW_GROUP_ROWS).combine_chunks().to_batches()[0]
    consume, consumer_s = make_consumer(sample, latency_s)
    say("consumer", f"{fmt_seconds(consumer_s)} of numpy work per {ROW_GROUP_ROWS:,}-row batch")
    plain, slow = DatasetStore(stores.plain), DatasetStore(stores.slow)
    configs: dict[str, tuple[DatasetStore, int]] = {
        "plain_p0": (plain, 0),
        "slow_p0": (slow, 0),
        f"slow_p{sizes.prefetch}": (slow, sizes.prefetch),
    }
    times: dict[str, list[float]] = {key: [] for key in configs}
    requests: dict[str, int] = {}
    for _ in range(sizes.prefetch_repeat):
        for key, (store, prefetch) in configs.items():  # interleaved, so drift hits all
            SlowFS.reset(latency_s)
            reader = store.read(version, prefetch=prefetch)
            times[key].append(_consume_first_read(stores, reader, consume, version.num_rows))
            requests[key] = SlowFS.requests
    clear_cache(stores)

    # Medians, not minima: each first read writes and deletes ~250 MB and most of its
    # time is CPU work, so single runs wander by ±10% on a small machine, and a lucky
    # minimum of one configuration skews a ratio of differences.
    a = statistics.median(times["plain_p0"])
    b = statistics.median(times["slow_p0"])
    c = statistics.median(times[f"slow_p{sizes.prefetch}"])
    added = b - a
    hidden = (b - c) / added if added > 0 else None
    groups = -(-version.num_rows // ROW_GROUP_ROWS)
    ceiling = (groups - 1) / (groups + 1)
    say("mlpilot", f"first read + consumer, file://, prefetch=0: {fmt_seconds(a)}")
    say("mlpilot", f"first read + consumer, slow, prefetch=0: {fmt_seconds(b)}")
    say("mlpilot", f"first read + consumer, slow, prefetch={sizes.prefetch}: {fmt_seconds(c)}")
    if hidden is not None:
        say("mlpilot", f"prefetch hides {hidden:.0%} of {fmt_seconds(added)} added latency")
    return {
        "slow_plain_p0_s": a,
        "slow_p0_s": b,
        "slow_prefetch_s": c,
        "slow_times_s": times,
        "slow_latency_added_s": added,
        "prefetch_hidden_share": hidden,
        "prefetch_hidden_ceiling": ceiling,
        "slow_requests": requests[f"slow_p{sizes.prefetch}"],
        "row_groups": groups,
        "consumer_s_per_batch": consumer_s,
    }


def bench_mlpilot(workdir: Path, df: pd.DataFrame, sizes: Sizes) -> dict[str, Any]:
    import mlpilot
    from mlpilot.store import DatasetStore

    stores = open_stores(workdir)
    try:
        ds = DatasetStore(stores.plain)
        result: dict[str, Any] = {"mlpilot_version": mlpilot.__version__}
        registered, version, parquet_path = bench_register(ds, df, workdir, sizes)
        result.update(registered)
        result.update(bench_read(stores, ds, version, df, parquet_path, sizes))
        result.update(bench_prefetch(stores, version, sizes))
        result["parquet_path"] = parquet_path
        return result
    finally:
        stores.close()


# --------------------------------------------------------------------------- DVC


def bench_dvc(workdir: Path, parquet_path: Path, sizes: Sizes) -> dict[str, Any]:
    """DVC's figures from the worker, or nulls and the reason it could not run."""
    try:
        python = ensure_venv(DVC_VENV, ["dvc", "pyarrow"], "dvc")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        say("dvc", f"not available: {exc}")
        return {"dvc_error": f"installing DVC failed: {exc}"}
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run_worker(
            python,
            DVC_WORKER,
            [
                "--workdir",
                str(workdir),
                "--parquet",
                str(parquet_path),
                "--repeat",
                str(sizes.repeat),
            ],
            env={"DVC_NO_ANALYTICS": "1"},
            status="DVC: init, add, checkout",
        )
    except (RuntimeError, OSError) as exc:
        say("dvc", f"worker failed: {exc}")
        return {"dvc_error": f"the DVC worker failed: {exc}"}


# --------------------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}×"


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def build_report(
    sizes: Sizes, quick: bool, pilot: dict[str, Any], dvc: dict[str, Any] | None
) -> tuple[list[Row], dict[str, Any]]:
    dvc = dvc or {}
    register_ratio = _ratio(pilot["register_s"], pilot["pyarrow_write_s"])
    read_ratio = _ratio(pilot["read_cached_s"], pilot["pyarrow_read_s"])
    hidden = pilot["prefetch_hidden_share"]
    ceiling = pilot["prefetch_hidden_ceiling"]
    judged = ceiling >= TARGET_HIDDEN_SHARE
    dvc_add = dvc.get("dvc_add_s")
    dvc_write_add = None if dvc_add is None else pilot["pyarrow_write_s"] + dvc_add
    dvc_read = dvc.get("dvc_read_s")
    dvc_checkout_read = dvc.get("dvc_checkout_read_s")
    not_judged = f" (n/a: {pilot['row_groups']} row groups)"

    rows = [
        Row(
            "register vs from_pandas + pq.write_table",
            fmt_seconds(pilot["register_s"]),
            fmt_seconds(pilot["pyarrow_write_s"]),
            _fmt_ratio(register_ratio),
            f"≤ {TARGET_REGISTER_RATIO:.0f}×",
            None if register_ratio is None else register_ratio <= TARGET_REGISTER_RATIO,
        ),
        Row(
            "register again (same content, dedup)",
            fmt_seconds(pilot["register_again_s"]),
            "—",
            "—",
            "—",
            None,
        ),
        Row(
            "profile_table",
            fmt_seconds(pilot["profile_s"]),
            "—",
            "—",
            f"< {TARGET_PROFILE_S} s",
            pilot["profile_s"] < TARGET_PROFILE_S,
        ),
        Row(
            "cached read vs pq.read_table (local)",
            fmt_seconds(pilot["read_cached_s"]),
            fmt_seconds(pilot["pyarrow_read_s"]),
            _fmt_ratio(read_ratio),
            f"≤ {TARGET_READ_CACHED_RATIO}×",
            None if read_ratio is None else read_ratio <= TARGET_READ_CACHED_RATIO,
        ),
        Row(
            "  same, + one scan of every value",
            fmt_seconds(pilot["read_cached_scan_s"]),
            fmt_seconds(pilot["pyarrow_read_scan_s"]),
            _fmt_ratio(_ratio(pilot["read_cached_scan_s"], pilot["pyarrow_read_scan_s"])),
            "—",
            None,
        ),
        Row(
            "first read vs pq.read_table (local)",
            fmt_seconds(pilot["read_first_s"]),
            fmt_seconds(pilot["pyarrow_read_s"]),
            _fmt_ratio(_ratio(pilot["read_first_s"], pilot["pyarrow_read_s"])),
            "—",
            None,
        ),
        Row(
            "(b) slow p=0 vs (a) file:// p=0",
            fmt_seconds(pilot["slow_p0_s"]),
            fmt_seconds(pilot["slow_plain_p0_s"]),
            _fmt_ratio(_ratio(pilot["slow_p0_s"], pilot["slow_plain_p0_s"])),
            "—",
            None,
        ),
        Row(
            f"(c) slow p={sizes.prefetch} vs (b) slow p=0",
            fmt_seconds(pilot["slow_prefetch_s"]),
            fmt_seconds(pilot["slow_p0_s"]),
            _fmt_ratio(_ratio(pilot["slow_prefetch_s"], pilot["slow_p0_s"])),
            "—",
            None,
        ),
        Row(
            "latency hidden: ((b)-(c)) / ((b)-(a))",
            "—" if hidden is None else f"{hidden:.0%}",
            f"{fmt_seconds(pilot['slow_latency_added_s'])} added",
            "—",
            f"≥ {TARGET_HIDDEN_SHARE:.0%}" + ("" if judged else not_judged),
            None if hidden is None or not judged else hidden >= TARGET_HIDDEN_SHARE,
        ),
        Row(
            "register vs pq.write_table + dvc add",
            fmt_seconds(pilot["register_s"]),
            fmt_seconds(dvc_write_add),
            _fmt_ratio(_ratio(pilot["register_s"], dvc_write_add)),
            "peer",
            None,
        ),
        Row("  dvc add alone (CLI)", "—", fmt_seconds(dvc_add), "—", "peer", None),
        Row(
            "cached read vs DVC: pq.read_table",
            fmt_seconds(pilot["read_cached_s"]),
            fmt_seconds(dvc_read),
            _fmt_ratio(_ratio(pilot["read_cached_s"], dvc_read)),
            "peer",
            None,
        ),
        Row(
            "first read vs dvc checkout + read_table",
            fmt_seconds(pilot["read_first_s"]),
            fmt_seconds(dvc_checkout_read),
            _fmt_ratio(_ratio(pilot["read_first_s"], dvc_checkout_read)),
            "peer",
            None,
        ),
    ]
    summary: dict[str, Any] = {
        "register_s": _round(pilot["register_s"]),
        "pyarrow_write_s": _round(pilot["pyarrow_write_s"]),
        "register_ratio": _round(register_ratio, 3),
        "register_again_s": _round(pilot["register_again_s"]),
        "profile_s": _round(pilot["profile_s"]),
        "read_cached_s": _round(pilot["read_cached_s"]),
        "read_first_s": _round(pilot["read_first_s"]),
        "pyarrow_read_s": _round(pilot["pyarrow_read_s"]),
        "read_cached_ratio": _round(read_ratio, 3),
        "read_cached_scan_s": _round(pilot["read_cached_scan_s"]),
        "pyarrow_read_scan_s": _round(pilot["pyarrow_read_scan_s"]),
        "slow_plain_p0_s": _round(pilot["slow_plain_p0_s"]),
        "slow_p0_s": _round(pilot["slow_p0_s"]),
        "slow_prefetch_s": _round(pilot["slow_prefetch_s"]),
        "slow_latency_added_s": _round(pilot["slow_latency_added_s"]),
        "prefetch_hidden_share": _round(hidden, 3),
        "prefetch_hidden_ceiling": _round(ceiling, 3),
        "prefetch_runs_s": {
            key: [round(t, 4) for t in runs] for key, runs in pilot["slow_times_s"].items()
        },
        "slow_requests": pilot["slow_requests"],
        "row_groups": pilot["row_groups"],
        "consumer_s_per_batch": _round(pilot["consumer_s_per_batch"]),
        "dvc_add_s": _round(dvc_add),
        "dvc_write_add_s": _round(dvc_write_add),
        "dvc_read_s": _round(dvc_read),
        "dvc_checkout_read_s": _round(dvc_checkout_read),
        "dvc_cli_startup_s": _round(dvc.get("dvc_cli_startup_s")),
        "dvc_version": dvc.get("dvc_version"),
        "dvc_error": dvc.get("dvc_error"),
        "parquet_bytes": pilot["parquet_bytes"],
        "blob_bytes": pilot["blob_bytes"],
        "cache_bytes": pilot["cache_bytes"],
        "mlpilot_version": pilot["mlpilot_version"],
        "targets_met": all(row.met for row in rows if row.met is not None),
        "quick": quick,
        "sizes": dataclasses.asdict(sizes),
    }
    return rows, summary


def caption_for(sizes: Sizes, pilot: dict[str, Any], dvc_error: str | None) -> str:
    lines = [
        f"{sizes.rows:,} rows × 20 columns; register, write, profile and dvc add best of "
        f"{sizes.repeat}, reads best of {sizes.read_repeat}.",
        f"(a)-(c): first reads with a consumer doing "
        f"{pilot['consumer_s_per_batch'] * 1000:.0f} ms of numpy work per batch, median of "
        f"{sizes.prefetch_repeat}; slow = {sizes.latency_ms:.0f} ms per request, "
        f"{pilot['slow_requests']} requests for {pilot['row_groups']} row groups, at most "
        f"{pilot['prefetch_hidden_ceiling']:.0%} hideable.",
        "DVC has no reader of its own: its reads are pq.read_table of the workspace file.",
    ]
    if dvc_error:
        lines.append(f"DVC figures missing: {dvc_error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mlpilot dataset benchmark against pyarrow/DVC.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--skip-dvc", action="store_true", help="leave out the DVC comparison")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-datasets-") as tmp:
        workdir = Path(tmp)
        with err_console.status(f"generating {sizes.rows:,} × 20 frame"):
            df = make_frame(sizes.rows)
        pilot = bench_mlpilot(workdir / "mlpilot", df, sizes)
        if args.skip_dvc:
            dvc: dict[str, Any] | None = {"dvc_error": "skipped (--skip-dvc)"}
        else:
            dvc = bench_dvc(workdir / "dvc", pilot["parquet_path"], sizes)

    rows, summary = build_report(sizes, args.quick, pilot, dvc)
    title = "mlpilot datasets vs pyarrow and DVC" + (" — quick" if args.quick else "")
    caption = caption_for(sizes, pilot, summary["dvc_error"])
    print_table(title, rows, other_name="baseline", caption=caption)
    print_json_line(summary)
    return 1 if args.check and not summary["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
