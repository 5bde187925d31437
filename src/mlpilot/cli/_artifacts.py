"""``mlpilot artifacts``: list and download the files a run logged."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.errors import MlpilotError, NotFoundError
from mlpilot.store import validate_artifact_path
from mlpilot.tracking import ArtifactRecord, TrackingClient

app = typer.Typer(no_args_is_help=True, help="List and download run artifacts.")

RunIdArgument = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="A run id or a unique prefix of 6+ characters.")
]


@app.command("list")
def list_artifacts(
    ctx: typer.Context, run_id: RunIdArgument, as_json: _output.JsonOption = False
) -> None:
    """List a run's artifacts: path, size, sha256 digest and when each was logged."""
    artifacts = state(ctx).client().list_artifacts(run_id)
    if as_json:
        _output.print_json([artifact.to_dict() for artifact in artifacts])
        return
    if not artifacts:
        _output.stderr().print("This run has no artifacts.")
        return
    table = Table("path", "size", "digest", "logged")
    for artifact in artifacts:
        table.add_row(
            artifact.path,
            _output.size(artifact.size),
            artifact.digest[:12],
            _output.local_time(artifact.created_ms),
        )
    _output.stdout().print(table)


@app.command("get")
def get_artifact(
    ctx: typer.Context,
    run_id: RunIdArgument,
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH", help="An artifact path, or a folder to download every file under it."
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE_OR_DIR",
            help="Where to write; by default ./NAME, NAME being the last part of PATH.",
        ),
    ] = None,
) -> None:
    """Download an artifact, or every artifact under a folder, verifying each file's sha256.

    A file goes to --out, or into it when --out is a folder (it exists, or ends with
    a slash). A folder's files go under --out, keeping their paths below PATH. A file
    whose bytes do not match their digest is reported as corrupted and not written.

        mlpilot artifacts get 3f9c2a1b model --out ./model
    """
    client = state(ctx).client()
    run = client.resolve_run_id(run_id)
    path = validate_artifact_path(path[:-1] if path.endswith("/") and len(path) > 1 else path)
    found = client.list_artifacts(run, path)
    name = PurePosixPath(path).name
    if any(artifact.path == path for artifact in found):
        target = Path(out if out is not None else name)
        into_folder = target.is_dir() or (out is not None and out.endswith(("/", os.sep)))
        dest = target / name if into_folder else target
        _download(client, run, path, dest)
        _output.stdout().print(f"Wrote {dest}")
        return
    if not found:
        raise NotFoundError(
            f"run {run} has no artifact or folder {path!r}; "
            f"list them with `mlpilot artifacts list {run}`"
        )
    folder = Path(out if out is not None else name)
    if folder.exists() and not folder.is_dir():
        _output.fail(f"{folder} is a file; give --out a folder to download {path!r} into")
    _download_folder(client, run, path, found, folder)


def _download_folder(
    client: TrackingClient, run: str, prefix: str, artifacts: list[ArtifactRecord], folder: Path
) -> None:
    console = _output.stderr()
    total = sum(artifact.size for artifact in artifacts)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"Downloading {prefix}", total=total)
        for artifact in artifacts:
            dest = folder.joinpath(*PurePosixPath(artifact.path).relative_to(prefix).parts)
            _download(client, run, artifact.path, dest)
            progress.advance(task, artifact.size)
    _output.stdout().print(f"Wrote {len(artifacts)} file(s), {_output.size(total)}, under {folder}")


def _download(client: TrackingClient, run: str, path: str, dest: Path) -> None:
    try:
        client.download_artifact(run, path, dest)
    except MlpilotError:
        raise
    except OSError as exc:
        # Only a problem with the destination (a file in the way, no permission) is the
        # user's to fix; anything else comes from the store and keeps its traceback.
        if not _is_destination(exc.filename, dest):
            raise
        where = "" if Path(exc.filename).parent == dest.parent else f" ({exc.filename})"
        _output.fail(f"cannot write {dest}: {exc.strerror or exc}{where}")


def _is_destination(filename: object, dest: Path) -> bool:
    if not isinstance(filename, str | os.PathLike):
        return False
    failed = Path(filename).absolute()
    dest = dest.absolute()
    return failed == dest or failed in dest.parents or failed.parent == dest.parent
