"""``mlpilot doctor``: versions, resolved settings, and checks that exercise each store."""

from __future__ import annotations

import dataclasses
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.table import Table
from rich.text import Text

import mlpilot
from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.config import Settings
from mlpilot.errors import MlpilotError
from mlpilot.store import ArtifactStore, MetadataStore
from mlpilot.store._migrate import current_revision, head_revision
from mlpilot.tracking._models import package_version

#: Packages whose versions matter when reporting a problem.
PACKAGES = ("sqlalchemy", "alembic", "fsspec", "pyarrow", "pandas", "scikit-learn", "skops")
#: Below this much free space at home, the disk check fails.
MIN_FREE_BYTES = 512 * 1024**2


@dataclasses.dataclass
class Check:
    name: str
    ok: bool
    detail: str
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)


def doctor(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """Show versions and settings, and check that the stores really work.

    The checks open the metadata store and compare its schema revision with the
    newest one, write a probe blob to the artifact store, read it back verified and
    delete it, and look at the free disk space at home. Exits 1 if a check fails.
    """
    settings: Settings | None = None
    checks: list[Check] = []
    try:
        settings = state(ctx).settings()
    except MlpilotError as exc:
        checks.append(Check("settings", False, str(exc)))
    if settings is not None:
        checks += [
            _check_metadata(settings.store_uri),
            _check_artifacts(settings.artifacts_uri),
            _check_disk(settings.home),
        ]
    document = {
        "mlpilot": mlpilot.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "settings": _settings_document(settings),
        "checks": [dataclasses.asdict(c) for c in checks],
        "ok": all(check.ok for check in checks),
    }
    if as_json:
        _output.print_json(document)
    else:
        _print_report(document, checks)
    if not document["ok"]:
        raise typer.Exit(1)


def _check_metadata(uri: str) -> Check:
    name = "metadata store"
    try:
        store = MetadataStore(uri)
    except Exception as exc:
        return Check(name, False, _describe(exc))
    try:
        current, head = current_revision(store.engine), head_revision()
    except Exception as exc:
        detail = f"opened, but its schema revision is unreadable: {_describe(exc)}"
        return Check(name, False, detail)
    finally:
        store.close()
    facts = {"dialect": store.dialect, "schema_revision": current, "head_revision": head}
    if current != head:
        return Check(
            name, False, f"{store.dialect}, schema revision {current}; expected {head}", facts
        )
    return Check(name, True, f"{store.dialect}, schema revision {current} (newest)", facts)


def _check_artifacts(url: str) -> Check:
    name = "artifact store"
    probe = f"mlpilot doctor probe {uuid.uuid4().hex}".encode()
    try:
        artifacts = ArtifactStore(url)
        blob = artifacts.put_bytes(probe)
        try:
            intact = artifacts.get_bytes(blob.digest) == probe
        finally:
            artifacts.delete(blob.digest)
    except Exception as exc:
        return Check(name, False, _describe(exc))
    if not intact:
        return Check(name, False, "the probe blob read back different bytes")
    return Check(name, True, f"wrote, read back and verified a {blob.size}-byte probe; removed it")


def _check_disk(home: Path) -> Check:
    folder = home
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError as exc:
        return Check("disk space", False, f"cannot read the free space at {folder}: {exc}")
    detail = f"{_output.size(usage.free)} free of {_output.size(usage.total)} at {folder}"
    facts = {"free_bytes": usage.free, "total_bytes": usage.total}
    if usage.free < MIN_FREE_BYTES:
        detail += f"; less than {_output.size(MIN_FREE_BYTES)}"
    return Check("disk space", usage.free >= MIN_FREE_BYTES, detail, facts)


def _settings_document(settings: Settings | None) -> dict[str, Any] | None:
    if settings is None:
        return None
    return {
        "home": str(settings.home),
        "store_uri": _hide_password(settings.store_uri),
        "artifacts_uri": _hide_password(settings.artifacts_uri),
        "user": settings.user,
    }


def _print_report(document: dict[str, Any], checks: list[Check]) -> None:
    console = _output.stdout()
    console.print(f"mlpilot {document['mlpilot']} on Python {document['python']}")
    packages = ", ".join(f"{name} {ver or 'missing'}" for name, ver in document["packages"].items())
    console.print(Text(packages, style="dim"))
    if document["settings"] is not None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for key, value in document["settings"].items():
            grid.add_row(key, value)
        console.print(Text("\nSettings", style="bold underline"), grid)
    console.print(Text("\nChecks", style="bold underline"))
    for check in checks:
        mark = Text("✓", style="green") if check.ok else Text("✗", style="red")
        console.print(mark, Text(f"{check.name}: {check.detail}"))


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, MlpilotError) else f"{type(exc).__name__}: {text}"


def _hide_password(url: str) -> str:
    """``url`` (a database URI or an artifact store URL) with its password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    # Keep what follows the credentials as written (an IPv6 host's brackets, the port).
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
