"""``mlpilot gc``: a blob goes only once no run refers to it and its grace period is over."""

from __future__ import annotations

from pathlib import Path

from mlpilot.config import Settings
from mlpilot.tracking import TrackingClient

from .conftest import Invoke, parse_json


def _blob_file(settings: Settings, digest: str) -> Path:
    root = Path(settings.artifacts_uri.removeprefix("file://"))
    return root / "sha256" / digest[:2] / digest


def test_gc_removes_a_blob_only_after_its_run_is_deleted_and_its_grace_is_over(
    client: TrackingClient, cli: Invoke, settings: Settings
) -> None:
    with client.create_run("iris", "doomed") as doomed:
        [only_here] = doomed.client.log_blobs(doomed.id, {"weights.bin": b"doomed weights"})
        doomed.client.log_blobs(doomed.id, {"shared.txt": b"shared bytes"})
    with client.create_run("iris", "keeper") as keeper:
        [shared] = keeper.client.log_blobs(keeper.id, {"copy.txt": b"shared bytes"})
    blob = _blob_file(settings, only_here.digest)

    report = parse_json(cli("gc", "--grace-seconds", "0", "--json"))
    assert report["blobs_removed"] == 0
    assert blob.exists()

    assert cli("runs", "delete", doomed.id, "--yes").exit_code == 0
    young = parse_json(cli("gc", "--json"))  # default grace period: an hour
    assert young["blobs_removed"] == 0
    assert blob.exists()

    dry = parse_json(cli("gc", "--dry-run", "--grace-seconds", "0", "--json"))
    assert (dry["dry_run"], dry["blobs_removed"], dry["bytes_freed"]) == (True, 1, 14)
    assert blob.exists()

    result = cli("gc", "--grace-seconds", "0")
    assert result.exit_code == 0, result.output
    assert "Removed 1 unreferenced blob" in result.stdout
    assert "14 B" in result.stdout
    assert not blob.exists()
    assert _blob_file(settings, shared.digest).exists()
    assert client.read_artifact(keeper.id, "copy.txt") == b"shared bytes"

    again = parse_json(cli("gc", "--grace-seconds", "0", "--json"))
    assert again["blobs_removed"] == 0
