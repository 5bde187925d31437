"""The content-addressed artifact store, on a local folder and in memory."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.core import url_to_fs

from mlpilot.errors import ArtifactCorruptedError, InvalidInputError, NotFoundError
from mlpilot.store import ArtifactStore, validate_artifact_path


@pytest.fixture(params=["file", "memory"])
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "file":
        yield ArtifactStore((tmp_path / "artifacts").as_uri())
        return
    url = f"memory://mlpilot-test-{uuid.uuid4().hex}"
    store = ArtifactStore(url)
    yield store
    fs, root = url_to_fs(url)
    fs.rm(root, recursive=True)


def root_of(store: ArtifactStore) -> str:
    return str(url_to_fs(store.url)[1]).rstrip("/")


def blob_location(store: ArtifactStore, digest: str) -> str:
    """Where the documented layout puts a blob: ``<root>/sha256/<d[:2]>/<digest>``."""
    return f"{root_of(store)}/sha256/{digest[:2]}/{digest}"


def temporaries(store: ArtifactStore) -> list[str]:
    return list(store.fs.find(f"{root_of(store)}/tmp"))


def test_bytes_round_trip(artifacts: ArtifactStore) -> None:
    data = b"\x00weights\xff" * 1000

    blob = artifacts.put_bytes(data)

    assert blob.digest == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert artifacts.exists(blob.digest)
    assert artifacts.get_bytes(blob.digest) == data


def test_file_round_trip(artifacts: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    # Larger than one read chunk, so streaming is exercised.
    source.write_bytes(bytes(range(256)) * 9000)

    blob = artifacts.put_file(source)
    copy = artifacts.get_file(blob.digest, tmp_path / "out" / "copy.bin")

    assert copy == tmp_path / "out" / "copy.bin"
    assert copy.read_bytes() == source.read_bytes()
    assert blob.size == source.stat().st_size
    assert artifacts.get_bytes(blob.digest) == source.read_bytes()


def test_same_bytes_are_stored_once(artifacts: ArtifactStore, tmp_path: Path) -> None:
    data = b"same content"
    source = tmp_path / "same.txt"
    source.write_bytes(data)

    digests = {
        artifacts.put_bytes(data).digest,
        artifacts.put_bytes(data).digest,
        artifacts.put_file(source).digest,
    }
    other = artifacts.put_bytes(b"other content")

    assert digests == {hashlib.sha256(data).hexdigest()}
    assert sorted(b.digest for b in artifacts.blobs()) == sorted([*digests, other.digest])


def test_no_temporary_files_are_left(artifacts: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"a")

    artifacts.put_bytes(b"a")
    artifacts.put_bytes(b"a")
    artifacts.put_file(source)
    artifacts.put_bytes(b"b")
    source.write_bytes(b"c")
    artifacts.put_file(source)

    assert temporaries(artifacts) == []
    assert len(list(artifacts.blobs())) == 3


def test_corrupted_blob_is_refused_by_get_bytes(artifacts: ArtifactStore) -> None:
    blob = artifacts.put_bytes(b"the real bytes")
    artifacts.fs.pipe_file(blob_location(artifacts, blob.digest), b"tampered bytes")

    with pytest.raises(ArtifactCorruptedError, match=blob.digest):
        artifacts.get_bytes(blob.digest)


def test_corrupted_blob_is_refused_by_get_file_leaving_no_file(
    artifacts: ArtifactStore, tmp_path: Path
) -> None:
    blob = artifacts.put_bytes(b"the real bytes")
    artifacts.fs.pipe_file(blob_location(artifacts, blob.digest), b"tampered bytes")
    dest_dir = tmp_path / "downloads"

    with pytest.raises(ArtifactCorruptedError, match="corrupted"):
        artifacts.get_file(blob.digest, dest_dir / "copy.bin")

    assert list(dest_dir.iterdir()) == []


def test_truncated_blob_is_refused(artifacts: ArtifactStore) -> None:
    blob = artifacts.put_bytes(b"0123456789")
    artifacts.fs.pipe_file(blob_location(artifacts, blob.digest), b"01234")

    with pytest.raises(ArtifactCorruptedError):
        artifacts.get_bytes(blob.digest)


def test_missing_blob_is_not_found(artifacts: ArtifactStore, tmp_path: Path) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()

    assert not artifacts.exists(digest)
    with pytest.raises(NotFoundError, match=digest):
        artifacts.get_bytes(digest)
    with pytest.raises(NotFoundError, match=digest):
        artifacts.get_file(digest, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "abc",
        "0" * 63,
        "0" * 65,
        "A" * 64,
        "g" * 64,
        "0" * 62 + "/x",
        "../" + "0" * 61,
        "0" * 64 + "\n",
        None,
        12,
    ],
)
def test_malformed_digests_are_refused(
    artifacts: ArtifactStore, tmp_path: Path, digest: object
) -> None:
    artifacts.put_bytes(b"something")

    for call in (
        lambda: artifacts.get_bytes(digest),  # type: ignore[arg-type]
        lambda: artifacts.get_file(digest, tmp_path / "out"),  # type: ignore[arg-type]
        lambda: artifacts.exists(digest),  # type: ignore[arg-type]
        lambda: artifacts.delete(digest),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInputError, match="not an artifact digest"):
            call()
    assert len(list(artifacts.blobs())) == 1


def test_delete_removes_one_blob(artifacts: ArtifactStore) -> None:
    kept = artifacts.put_bytes(b"kept")
    gone = artifacts.put_bytes(b"gone")

    artifacts.delete(gone.digest)

    assert [b.digest for b in artifacts.blobs()] == [kept.digest]
    assert not artifacts.exists(gone.digest)


def test_put_file_of_a_missing_file_or_folder(artifacts: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="absent.txt"):
        artifacts.put_file(tmp_path / "absent.txt")
    with pytest.raises(InvalidInputError, match="folder"):
        artifacts.put_file(tmp_path)
    assert list(artifacts.blobs()) == []
    assert temporaries(artifacts) == []


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "empty"),
        ("/abs", "absolute"),
        ("/", "absolute"),
        ("../x", "'..'"),
        ("a/../b", "'..'"),
        ("a/..", "'..'"),
        ("./a", "'.'"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("C:\\x", "backslash"),
        ("C:x", "absolute"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("bad\udcff", "UTF-8"),
        ("x" * 1001, "longer than 1000"),
    ],
)
def test_bad_artifact_paths_are_refused(path: str, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        validate_artifact_path(path)


@pytest.mark.parametrize("path", [b"plots/roc.png", None, 3])
def test_artifact_paths_must_be_text(path: object) -> None:
    with pytest.raises(InvalidInputError, match="string"):
        validate_artifact_path(path)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["plots/roc.png", "model", "a/b/c.d", "résumé/ü.txt", "x" * 1000])
def test_good_artifact_paths_are_kept_as_given(path: str) -> None:
    assert validate_artifact_path(path) == path
