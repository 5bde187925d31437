"""The dataset records: versions, tags, lineage links and summaries.

A version's bytes live in the artifact store; :class:`DatasetRecords` holds what is
known about them. :class:`mlpilot.store.DatasetStore` writes the bytes and talks to the
records; :class:`mlpilot.testing.DatasetRecordsContract` is the contract every
implementation passes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from mlpilot.errors import ConflictError, InvalidInputError
from mlpilot.store._profile import ColumnProfile
from mlpilot.store._schema import MAX_KEY_LENGTH
from mlpilot.store._validation import DataSchema

#: How a run took part in a version: it read it or wrote it.
LINK_ROLES = ("input", "output")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_VERSION = re.compile(r"v?(\d+)")


def check_name(name: Any, what: str) -> None:
    """Refuse a dataset or tag name that references could not spell."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{what} {name!r} is not valid: use letters, digits, '_', '-' and '.', starting "
            f"with a letter or digit, at most {MAX_KEY_LENGTH} characters"
        )


def check_tag(tag: Any) -> None:
    """Refuse a tag that is not a name, or that a reference reads as a version."""
    check_name(tag, "tag")
    if tag == "latest" or _VERSION.fullmatch(tag):
        raise ConflictError(
            f"tag {tag!r} is reserved: 'latest' and version numbers (v3) already name versions"
        )


def version_number(selector: str) -> int | None:
    """The version number a selector names (``v3`` or ``3``), or None for a tag."""
    number = _VERSION.fullmatch(selector)
    return int(number.group(1)) if number else None


@dataclasses.dataclass(frozen=True)
class DatasetVersion:
    """One stored version of a dataset."""

    id: str
    name: str
    version: int
    digest: str
    blob_digest: str
    num_rows: int
    num_bytes: int
    #: ``{"name", "type", "nullable"}`` per column, in order.
    columns: list[dict[str, Any]]
    profile: dict[str, ColumnProfile]
    parent_id: str | None
    source: str
    created_by: str
    created_ms: int
    tags: list[str]

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def infer_schema(self, *, ranges: bool = False) -> DataSchema:
        """A :class:`DataSchema` this version satisfies (see :meth:`DataSchema.infer`)."""
        return DataSchema.infer(self.profile, ranges=ranges)

    def to_dict(self, *, profile: bool = True) -> dict[str, Any]:
        """The version as JSON-able values, with its ``ref``; without the column
        profiles where ``profile`` is false."""
        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        document["columns"] = [dict(column) for column in self.columns]
        document["tags"] = list(self.tags)
        document["ref"] = self.ref
        if profile:
            document["profile"] = {key: p.to_json() for key, p in self.profile.items()}
        else:
            del document["profile"]
        return document


@dataclasses.dataclass(frozen=True)
class VersionContent:
    """What registering a new version records about its stored bytes."""

    blob_digest: str
    num_bytes: int
    num_rows: int
    columns: list[dict[str, Any]]
    profile: dict[str, ColumnProfile]
    parent_id: str | None = None
    #: Where the data came from: the files read, or the kind of object given.
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {
            "profile": {key: p.to_json() for key, p in self.profile.items()}
        }


@dataclasses.dataclass(frozen=True)
class DatasetSummary:
    """A dataset and its newest version."""

    name: str
    description: str
    versions: int
    latest: DatasetVersion

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "versions": self.versions,
            "latest": self.latest.to_dict(profile=False),
        }


@dataclasses.dataclass(frozen=True)
class RunLink:
    """A run that read (``input``) or wrote (``output``) a version."""

    run_id: str
    run_name: str
    status: str
    role: str
    step: str
    created_ms: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ModelVersionLink:
    """A registered model version trained on a dataset version."""

    model: str
    version: int
    run_id: str
    created_ms: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MonitorLink:
    """A monitor whose reference is a dataset version."""

    name: str
    model: str
    created_ms: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Lineage:
    """Where a version came from and where it went."""

    version: DatasetVersion
    parent: DatasetVersion | None
    children: list[DatasetVersion]
    produced_by: list[RunLink]
    used_by: list[RunLink]
    #: ``(run_id, model name)`` of the models logged by the runs that used the version.
    models: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: The registered model versions trained on this version, oldest first.
    model_versions: list[ModelVersionLink] = dataclasses.field(default_factory=list)
    #: The monitors that compare traffic with this version, oldest first.
    monitors: list[MonitorLink] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The lineage as JSON-able values; versions are named by their ``ref``."""
        return {
            "version": self.version.ref,
            "source": self.version.source,
            "parent": self.parent.ref if self.parent else None,
            "children": [child.ref for child in self.children],
            "produced_by": [link.to_dict() for link in self.produced_by],
            "used_by": [link.to_dict() for link in self.used_by],
            "models": [{"run_id": run_id, "model": model} for run_id, model in self.models],
            "model_versions": [link.to_dict() for link in self.model_versions],
            "monitors": [link.to_dict() for link in self.monitors],
        }


@runtime_checkable
class DatasetRecords(Protocol):
    """What the dataset layer records and asks; each method is one atomic unit.

    Versions are named by dataset name and a selector: ``""`` or ``"latest"`` (the
    newest), ``"v3"`` or ``"3"`` (the third), or a tag. Unknown datasets, versions,
    tags and runs raise :class:`~mlpilot.errors.NotFoundError` with what exists; bad
    names :class:`~mlpilot.errors.InvalidInputError`; a reserved tag
    :class:`~mlpilot.errors.ConflictError`. Writes record their events as the store's
    user.
    """

    def find_version(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of dataset ``name`` whose content digest is ``digest``, if any."""
        ...

    def register_version(
        self,
        name: str,
        digest: str,
        content: VersionContent | None,
        *,
        description: str | None = None,
        tags: Sequence[str] = (),
        run_id: str | None = None,
        step: str = "",
    ) -> DatasetVersion:
        """Record the version of dataset ``name`` (created if new) whose content digest
        is ``digest``, and return it.

        New content gets the next version number, also when processes register
        versions of one dataset at once. Content registered before keeps its number;
        ``content``, where given, then replaces its stored file (the same bytes stored
        anew). ``content`` is required for new content. ``description`` sets the
        dataset's description; ``tags`` are pointed at the version; ``run_id`` (and its
        pipeline ``step``) is recorded as the run that produced it. Nothing is recorded
        if ``run_id`` names no run.
        """
        ...

    def get_version(self, name: str, selector: str = "latest") -> DatasetVersion:
        """The version of dataset ``name`` that ``selector`` names."""
        ...

    def get_version_by_id(self, version_id: str) -> DatasetVersion: ...

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of dataset ``name``, oldest first."""
        ...

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset with its newest version, by name."""
        ...

    def tag(self, version_id: str, tag: str) -> DatasetVersion:
        """Point ``tag`` at the version (moving it if it pointed at another version of
        the dataset) and return the version."""
        ...

    def untag(self, name: str, tag: str) -> None:
        """Remove ``tag`` from dataset ``name``."""
        ...

    def record_use(
        self, version_id: str, run_id: str, *, role: str = "input", step: str = ""
    ) -> None:
        """Record that run ``run_id`` read (``input``) or wrote (``output``) the version;
        recording it again changes nothing."""
        ...

    def lineage(self, version_id: str) -> Lineage:
        """The version's parent and children, the runs that produced and used it, and
        the registered model versions and monitors that name it (``models`` is left
        empty: it comes from the runs' artifacts)."""
        ...
