"""Garbage collection of blobs that nothing refers to."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fsspec.core import url_to_fs

from mlpilot.store import Store, collect_garbage
from mlpilot.tracking import TrackingClient

HOUR = 3600.0


def artifacts_root(store: Store) -> Path:
    return Path(url_to_fs(store.artifacts.url)[1])


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def blob_file(store: Store, digest: str) -> Path:
    return artifacts_root(store) / "sha256" / digest[:2] / digest


def test_referenced_blobs_stay_and_old_unreferenced_ones_go(
    store: Store, client: TrackingClient, tmp_path: Path
) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"referenced")
    with client.create_run("gc") as run:
        [kept] = run.log_artifact(source)
    orphan = store.artifacts.put_bytes(b"orphan, old")
    young = store.artifacts.put_bytes(b"orphan, written just now")
    age(blob_file(store, kept.digest), 2 * HOUR)
    age(blob_file(store, orphan.digest), 2 * HOUR)

    report = collect_garbage(store, grace_s=HOUR)

    assert (report.blobs_removed, report.blobs_kept) == (1, 2)
    assert report.bytes_freed == orphan.size
    assert not report.dry_run
    assert not store.artifacts.exists(orphan.digest)
    assert store.artifacts.exists(young.digest)
    assert client.read_artifact(run.id, "weights.bin") == b"referenced"


def test_dry_run_removes_nothing(store: Store, tmp_path: Path) -> None:
    orphan = store.artifacts.put_bytes(b"orphan")
    age(blob_file(store, orphan.digest), 2 * HOUR)
    stale = artifacts_root(store) / "tmp" / "left-by-a-dead-writer"
    stale.write_bytes(b"partial")
    age(stale, 2 * HOUR)

    report = collect_garbage(store, grace_s=HOUR, dry_run=True)

    assert (report.blobs_removed, report.bytes_freed, report.temporaries_removed) == (1, 6, 1)
    assert report.dry_run
    assert store.artifacts.exists(orphan.digest)
    assert stale.exists()
    assert store.events.read("artifacts.gc") == []


def test_stale_temporaries_go_and_fresh_ones_stay(store: Store) -> None:
    tmp = artifacts_root(store) / "tmp"
    stale, fresh = tmp / "stale", tmp / "fresh"
    stale.write_bytes(b"left by a writer that died")
    fresh.write_bytes(b"a writer is streaming into this one")
    age(stale, 2 * HOUR)

    report = collect_garbage(store, grace_s=HOUR)

    assert report.temporaries_removed == 1
    assert not stale.exists()
    assert fresh.exists()


def test_blobs_of_a_deleted_run_are_collected(
    store: Store, client: TrackingClient, tmp_path: Path
) -> None:
    with client.create_run("gc") as doomed:
        [record] = doomed.log_artifact(_write(tmp_path / "a.txt", b"only in the doomed run"))
    with client.create_run("gc") as survivor:
        [shared] = survivor.log_artifact(_write(tmp_path / "b.txt", b"shared"))
    doomed.log_artifact(tmp_path / "b.txt")
    for digest in (record.digest, shared.digest):
        age(blob_file(store, digest), 2 * HOUR)

    client.delete_run(doomed.id)
    assert store.artifacts.exists(record.digest)  # blobs stay until collected
    report = collect_garbage(store, grace_s=HOUR)

    assert report.blobs_removed == 1
    assert not store.artifacts.exists(record.digest)
    assert client.read_artifact(survivor.id, "b.txt") == b"shared"


def test_storing_an_old_blob_again_restarts_its_grace_period(store: Store) -> None:
    blob = store.artifacts.put_bytes(b"about to be referenced")
    age(blob_file(store, blob.digest), 2 * HOUR)

    store.artifacts.put_bytes(b"about to be referenced")
    report = collect_garbage(store, grace_s=HOUR)

    assert report.blobs_removed == 0
    assert store.artifacts.exists(blob.digest)


def test_collection_is_recorded_as_an_event(store: Store) -> None:
    orphan = store.artifacts.put_bytes(b"orphan")
    age(blob_file(store, orphan.digest), 2 * HOUR)

    collect_garbage(store, grace_s=HOUR, actor="nightly")

    rows = [(e.actor, e.payload) for e in store.events.read("artifacts.gc")]
    assert len(rows) == 1
    actor, payload = rows[0]
    assert actor == "nightly"
    assert payload["blobs_removed"] == 1
    assert payload["bytes_freed"] == orphan.size


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
