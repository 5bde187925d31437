"""``mlpilot artifacts``: listing, verified downloads, corruption and bad paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlpilot.config import Settings
from mlpilot.tracking import Run, TrackingClient

from .conftest import Invoke, assert_one_line_error, parse_json

MODEL_BYTES = bytes(range(256)) * 40
README = b"trained on iris\n"


@pytest.fixture
def run(client: TrackingClient) -> Run:
    with client.create_run("iris", "with-files") as run:
        run.client.log_blobs(
            run.id,
            {
                "model/weights.bin": MODEL_BYTES,
                "model/meta/info.json": b'{"kind": "svm"}',
                "README.md": README,
            },
        )
    return run


def _blob_file(settings: Settings, digest: str) -> Path:
    root = Path(settings.artifacts_uri.removeprefix("file://"))
    return root / "sha256" / digest[:2] / digest


def test_artifacts_list_json_matches_the_store(
    client: TrackingClient, run: Run, cli: Invoke
) -> None:
    listed = parse_json(cli("artifacts", "list", run.id[:8], "--json"))
    expected = client.list_artifacts(run.id)
    assert [(a["path"], a["digest"], a["size"]) for a in listed] == [
        (a.path, a.digest, a.size) for a in expected
    ]
    table = cli("artifacts", "list", run.id)
    assert table.exit_code == 0, table.output
    for artifact in expected:
        assert artifact.path in table.stdout
        assert artifact.digest[:12] in table.stdout


def test_artifacts_get_writes_identical_bytes_into_the_current_folder(
    run: Run, cli: Invoke, tmp_path: Path
) -> None:
    result = cli("artifacts", "get", run.id, "model/weights.bin")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "weights.bin").read_bytes() == MODEL_BYTES


def test_artifacts_get_out_names_a_file_or_a_folder(run: Run, cli: Invoke, tmp_path: Path) -> None:
    assert cli("artifacts", "get", run.id, "README.md", "--out", "notes.md").exit_code == 0
    assert (tmp_path / "notes.md").read_bytes() == README

    (tmp_path / "downloads").mkdir()
    assert cli("artifacts", "get", run.id, "README.md", "--out", "downloads").exit_code == 0
    assert (tmp_path / "downloads" / "README.md").read_bytes() == README

    assert cli("artifacts", "get", run.id, "README.md", "--out", "new/").exit_code == 0
    assert (tmp_path / "new" / "README.md").read_bytes() == README


def test_artifacts_get_into_a_path_through_a_file_is_a_one_line_error(
    run: Run, cli: Invoke, tmp_path: Path
) -> None:
    (tmp_path / "taken").write_text("a file")
    result = cli("artifacts", "get", run.id, "README.md", "--out", "taken/README.md")
    assert_one_line_error(result, "cannot write", "taken")
    assert_one_line_error(cli("artifacts", "get", run.id, "model", "--out", "taken"), "is a file")
    assert (tmp_path / "taken").read_text() == "a file"


def test_artifacts_get_downloads_every_file_under_a_folder(
    run: Run, cli: Invoke, tmp_path: Path
) -> None:
    result = cli("artifacts", "get", run.id, "model")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model" / "weights.bin").read_bytes() == MODEL_BYTES
    assert (tmp_path / "model" / "meta" / "info.json").read_bytes() == b'{"kind": "svm"}'
    assert not (tmp_path / "README.md").exists()

    result = cli("artifacts", "get", run.id, "model/meta/", "--out", "elsewhere")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "elsewhere")) == ["info.json"]


def test_artifacts_get_refuses_corrupted_bytes_and_writes_nothing(
    client: TrackingClient, run: Run, cli: Invoke, settings: Settings, tmp_path: Path
) -> None:
    [record] = client.list_artifacts(run.id, "model/weights.bin")
    blob = _blob_file(settings, record.digest)
    assert blob.read_bytes() == MODEL_BYTES
    blob.write_bytes(b"tampered" + MODEL_BYTES[8:])

    out = tmp_path / "out"
    out.mkdir()
    result = cli("artifacts", "get", run.id, "model/weights.bin", "--out", str(out / "w.bin"))
    assert_one_line_error(result, "corrupted", record.digest)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "model/../../x", "a//b"])
def test_artifacts_get_rejects_paths_that_leave_the_run(
    run: Run, cli: Invoke, tmp_path: Path, path: str
) -> None:
    before = set(tmp_path.iterdir())
    assert_one_line_error(cli("artifacts", "get", run.id, path), repr(path))
    assert set(tmp_path.iterdir()) == before


def test_artifacts_get_names_a_missing_path(run: Run, cli: Invoke) -> None:
    assert_one_line_error(cli("artifacts", "get", run.id, "nope.txt"), "no artifact", "nope.txt")


def test_artifacts_list_json_is_the_records(run: Run, cli: Invoke) -> None:
    listed = parse_json(cli("artifacts", "list", run.id, "--json"))
    assert listed == [a.to_dict() for a in run.client.list_artifacts(run.id)]
    assert listed and set(listed[0]) == {"path", "digest", "size", "created_ms"}
