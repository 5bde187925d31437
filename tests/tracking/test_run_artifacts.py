"""Artifacts of runs: files and folders in, the same bytes out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fsspec.core import url_to_fs

import mlpilot
from mlpilot.errors import ArtifactCorruptedError, InvalidInputError, NotFoundError
from mlpilot.tracking import TrackingClient


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "config.yaml": b"lr: 0.1\n",
        "plots/roc.png": bytes(range(256)) * 40,
        "plots/deep/pr curve.png": b"\x89PNG fake",
        "empty.txt": b"",
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_file_round_trip(client: TrackingClient, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01weights" * 5000)

    with client.create_run() as run:
        [record] = run.log_artifact(source)
        [named] = run.log_artifact(source, "models/best.bin")

    assert (record.path, named.path) == ("weights.bin", "models/best.bin")
    assert record.digest == named.digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record.size == source.stat().st_size
    assert client.read_artifact(run.id, "weights.bin") == source.read_bytes()
    dest = client.download_artifact(run.id, "models/best.bin", tmp_path / "out" / "best.bin")
    assert dest.read_bytes() == source.read_bytes()
    assert len(list(client.store.artifacts.blobs())) == 1


def test_folder_round_trip(client: TrackingClient, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "report")

    with client.create_run() as run:
        records = run.log_artifact(tmp_path / "report")

    expected = sorted(f"report/{relative}" for relative in files)
    assert sorted(r.path for r in records) == expected
    assert [r.path for r in client.list_artifacts(run.id)] == expected
    for relative, data in files.items():
        assert client.read_artifact(run.id, f"report/{relative}") == data
        copy = client.download_artifact(run.id, f"report/{relative}", tmp_path / "dl" / relative)
        assert copy.read_bytes() == data


def test_folder_under_a_chosen_path_and_listing_by_prefix(
    client: TrackingClient, tmp_path: Path
) -> None:
    make_tree(tmp_path / "report")

    with client.create_run() as run:
        run.log_artifact(tmp_path / "report", "eval")
        run.log_text("plots-like name, not in the folder", "eval/plotsmore.txt")

    assert [r.path for r in client.list_artifacts(run.id, "eval/plots")] == [
        "eval/plots/deep/pr curve.png",
        "eval/plots/roc.png",
    ]
    assert [r.path for r in client.list_artifacts(run.id, "eval/plots/roc.png")] == [
        "eval/plots/roc.png"
    ]
    assert client.list_artifacts(run.id, "absent") == []


def test_text_and_dict_artifacts(client: TrackingClient) -> None:
    with mlpilot.start_run(client=client) as run:
        run.log_text("héllo\n", "notes/readme.txt")
        run.log_dict({"b": 1, "a": [1, 2]}, "summary.json")

    assert client.read_artifact(run.id, "notes/readme.txt") == "héllo\n".encode()
    assert client.read_artifact(run.id, "summary.json").startswith(b'{\n  "a": [')


def test_logging_a_path_again_replaces_it(client: TrackingClient, tmp_path: Path) -> None:
    source = tmp_path / "metrics.csv"
    with client.create_run() as run:
        source.write_bytes(b"v1")
        run.log_artifact(source)
        source.write_bytes(b"v2")
        run.log_artifact(source)

    assert client.read_artifact(run.id, "metrics.csv") == b"v2"
    assert len(client.list_artifacts(run.id)) == 1


@pytest.mark.parametrize("artifact_path", ["../evil", "/etc/passwd", "a/../../b", "a//b", "a\\b"])
def test_path_traversal_is_refused_and_nothing_recorded(
    client: TrackingClient, tmp_path: Path, artifact_path: str
) -> None:
    source = tmp_path / "payload.txt"
    source.write_bytes(b"payload")

    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match="artifact path"):
            run.log_artifact(source, artifact_path)
        with pytest.raises(InvalidInputError, match="artifact path"):
            run.log_text("payload", artifact_path)
        with pytest.raises(InvalidInputError, match="artifact path"):
            client.read_artifact(run.id, artifact_path)

    assert client.list_artifacts(run.id) == []
    assert list(client.store.artifacts.blobs()) == []


def test_missing_artifacts(client: TrackingClient, tmp_path: Path) -> None:
    with client.create_run() as run:
        with pytest.raises(NotFoundError, match="absent.txt"):
            run.log_artifact(tmp_path / "absent.txt")

    with pytest.raises(NotFoundError, match="has no artifact 'model.bin'"):
        client.read_artifact(run.id, "model.bin")
    with pytest.raises(NotFoundError, match="has no artifact"):
        client.download_artifact(run.id, "model.bin", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_artifacts_of_an_unknown_run(client: TrackingClient, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"a")

    with pytest.raises(NotFoundError, match="no run"):
        client.log_artifact("0" * 32, source)
    with pytest.raises(NotFoundError, match="no run"):
        client.list_artifacts("0" * 32)


def test_corrupted_artifact_is_refused(client: TrackingClient, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    with client.create_run() as run:
        [record] = run.log_artifact(source)
    root = Path(url_to_fs(client.settings.artifacts_uri)[1])
    (root / "sha256" / record.digest[:2] / record.digest).write_bytes(b"a,b\n1,3\n")

    with pytest.raises(ArtifactCorruptedError, match="corrupted"):
        client.read_artifact(run.id, "data.csv")
    with pytest.raises(ArtifactCorruptedError):
        client.download_artifact(run.id, "data.csv", tmp_path / "out" / "data.csv")
    assert not (tmp_path / "out" / "data.csv").exists()


def test_log_blobs_refuses_non_bytes(client: TrackingClient) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match="must be bytes"):
            client.log_blobs(run.id, {"a.txt": "text"})  # type: ignore[dict-item]

    assert client.list_artifacts(run.id) == []


def test_module_level_log_artifact(client: TrackingClient, tmp_path: Path) -> None:
    source = tmp_path / "notes.md"
    source.write_text("# notes")

    with mlpilot.start_run(client=client) as run:
        mlpilot.log_artifact(source, "docs/notes.md")

    assert client.read_artifact(run.id, "docs/notes.md") == b"# notes"


def test_listing_with_a_traversal_prefix_is_refused(client: TrackingClient) -> None:
    with client.create_run("e") as run:
        run.log_text("x", "a/b.txt")
    with pytest.raises(InvalidInputError, match="artifact path"):
        client.list_artifacts(run.id, "../a")
    assert [a.path for a in client.list_artifacts(run.id, "a/")] == ["a/b.txt"]
