"""Data schemas (column types, nullability, ranges, categories, uniqueness, row counts)
and the reports that checking data against them gives.

A schema is written in Python (:class:`DataSchema`, :class:`ColumnRule`), in TOML::

    min_rows = 1000
    extra_columns = false

    [columns.age]
    type = "int64"
    nullable = false
    min = 0
    max = 120

    [columns.plan]
    type = "string"
    allowed = ["basic", "pro"]

or inferred from a dataset version and then edited. Every check is a vectorised Arrow
kernel over whole columns.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import tomli_w

from mlpilot.errors import DataValidationError, InvalidInputError
from mlpilot.store._profile import TOP_K, TYPE_FAMILIES, ColumnProfile

#: How many example values a failure shows.
EXAMPLES = 5


@dataclasses.dataclass(frozen=True)
class ColumnRule:
    """What one column must look like.

    Args:
        name: The column.
        type: An exact Arrow type (``"int64"``, ``"timestamp[us, tz=UTC]"``) or a family:
            ``integer``, ``float``, ``number``, ``string``, ``bool``, ``timestamp``,
            ``date``, ``binary``. Categorical (dictionary) columns match the type of their
            values. ``None`` accepts any type.
        nullable: Whether nulls are allowed.
        min, max: Inclusive bounds, for numbers, text, dates and times (ISO strings).
        allowed: The only values the column may hold (nulls aside).
        unique: Whether every non-null value must occur once.
        required: Whether the column must be present.
    """

    name: str
    type: str | None = None
    nullable: bool = True
    min: Any = None
    max: Any = None
    allowed: tuple[Any, ...] | None = None
    unique: bool = False
    required: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"a column rule needs a column name, got {self.name!r}")
        if self.allowed is not None:
            if isinstance(self.allowed, str) or not isinstance(self.allowed, Sequence):
                raise InvalidInputError(
                    f"allowed values of column {self.name!r} must be a list, got {self.allowed!r}"
                )
            if any(v is None for v in self.allowed):
                raise InvalidInputError(
                    f"allowed values of column {self.name!r} cannot include None; nulls are "
                    "governed by nullable"
                )
            object.__setattr__(self, "allowed", tuple(self.allowed))
        if self.type is not None and not _known_type(self.type):
            raise InvalidInputError(
                f"column {self.name!r}: unknown type {self.type!r}; use an Arrow type such as "
                f"int64 or timestamp[us], or one of {sorted(TYPE_FAMILIES)}"
            )
        for flag in ("nullable", "unique", "required"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidInputError(
                    f"column {self.name!r}: {flag} must be true or false, got "
                    f"{getattr(self, flag)!r}"
                )
        for bound in (self.min, self.max):
            if isinstance(bound, float) and math.isnan(bound):
                raise InvalidInputError(f"column {self.name!r}: a bound cannot be NaN")
        if self.min is not None and self.max is not None:
            try:
                inverted = self.min > self.max
            except TypeError:
                raise InvalidInputError(
                    f"min {self.min!r} and max {self.max!r} of column {self.name!r} do not compare"
                ) from None
            if inverted:
                raise InvalidInputError(
                    f"column {self.name!r} has min {self.min!r} above max {self.max!r}"
                )


@dataclasses.dataclass(frozen=True)
class RuleFailure:
    """One rule that some rows break."""

    column: str
    rule: str
    expected: str
    failing_rows: int
    examples: list[Any]


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """The outcome of checking data against a :class:`DataSchema`."""

    dataset: str
    rows: int
    failures: list[RuleFailure]

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        """Raise :class:`DataValidationError` carrying this report if any rule failed."""
        if self.failures:
            raise DataValidationError(self)

    def __str__(self) -> str:
        if self.ok:
            return f"{self.dataset}: all rules pass on {self.rows:,} rows"
        lines = [f"{self.dataset}: {len(self.failures)} rule(s) fail on {self.rows:,} rows"]
        for f in self.failures:
            shown = ", ".join(_show(v) for v in f.examples)
            lines.append(
                f"  {f.column}: {f.rule} ({f.expected}) fails on {f.failing_rows:,} row(s)"
                + (f"; e.g. {shown}" if shown else "")
            )
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class DataSchema:
    """The rules a dataset must follow.

    Args:
        columns: One rule per column.
        min_rows, max_rows: Inclusive bounds on the row count.
        extra_columns: Whether columns without a rule are allowed.
    """

    columns: tuple[ColumnRule, ...] = ()
    min_rows: int | None = None
    max_rows: int | None = None
    extra_columns: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        names = [rule.name for rule in self.columns]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise InvalidInputError(f"column(s) {sorted(duplicated)} have more than one rule")
        if not isinstance(self.extra_columns, bool):
            raise InvalidInputError(
                f"extra_columns must be true or false, got {self.extra_columns!r}"
            )
        for bound in ("min_rows", "max_rows"):
            value = getattr(self, bound)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise InvalidInputError(f"{bound} must be a whole number >= 0, got {value!r}")

    def column(self, name: str) -> ColumnRule | None:
        return next((rule for rule in self.columns if rule.name == name), None)

    # ------------------------------------------------------------------ building

    @classmethod
    def infer(
        cls,
        profiles: Mapping[str, ColumnProfile],
        *,
        ranges: bool = False,
        max_categories: int = TOP_K,
    ) -> DataSchema:
        """A schema that ``profiles`` (a dataset version's) satisfy.

        It fixes each column's type (as a family: ``integer`` rather than ``int32``, since
        the width often changes with how the data was loaded) and nullability; text and
        boolean columns with at most ``max_categories`` distinct values get their values
        as the allowed set; columns
        whose every value is distinct are unique. With ``ranges``, numeric columns are
        bounded by the observed minimum and maximum.
        """
        rules = []
        for name, profile in profiles.items():
            categorical = (
                profile.kind in ("text", "bool")
                and profile.distinct is not None
                and 0 < profile.distinct <= max_categories
                and len(profile.top) == profile.distinct
            )
            unique = (
                profile.kind in ("number", "text", "temporal")
                and profile.type not in ("halffloat", "float", "double")
                and profile.count > 1
                and profile.distinct == profile.count
            )
            type_name = profile.family or profile.type
            # Decimal bounds went through floats in the profile and would not be exact.
            bounded = ranges and profile.kind == "number" and profile.family != "number"
            rules.append(
                ColumnRule(
                    name=name,
                    type=type_name,
                    nullable=profile.nulls > 0,
                    min=profile.min if bounded else None,
                    max=profile.max if bounded else None,
                    allowed=tuple(sorted(v for v, _ in profile.top)) if categorical else None,
                    unique=unique,
                )
            )
        return cls(columns=tuple(rules))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, origin: str = "schema") -> DataSchema:
        """Build a schema from the structure of its TOML form."""
        known = {"columns", "min_rows", "max_rows", "extra_columns"}
        unknown = set(document) - known
        if unknown:
            raise InvalidInputError(
                f"{origin}: unknown key(s) {sorted(unknown)}; a schema has {sorted(known)}"
            )
        columns = document.get("columns", {})
        if not isinstance(columns, Mapping):
            raise InvalidInputError(f"{origin}: 'columns' must be a table of column tables")
        fields = {f.name for f in dataclasses.fields(ColumnRule)} - {"name"}
        rules = []
        for name, spec in columns.items():
            if not isinstance(spec, Mapping):
                raise InvalidInputError(f"{origin}: [columns.{name}] must be a table")
            unknown = set(spec) - fields
            if unknown:
                raise InvalidInputError(
                    f"{origin}: [columns.{name}] has unknown key(s) {sorted(unknown)}; "
                    f"a column rule takes {sorted(fields)}"
                )
            rules.append(ColumnRule(name=name, **spec))
        return cls(
            columns=tuple(rules),
            min_rows=document.get("min_rows"),
            max_rows=document.get("max_rows"),
            extra_columns=document.get("extra_columns", True),
        )

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> DataSchema:
        """Read a schema from a TOML file."""
        path = Path(source)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(f"no schema file at {path}") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInputError(f"cannot read schema file {path}: {exc}") from None
        return cls.from_dict(document, origin=str(path))

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            key: value
            for key, value in (("min_rows", self.min_rows), ("max_rows", self.max_rows))
            if value is not None
        }
        if not self.extra_columns:
            document["extra_columns"] = False
        defaults = ColumnRule(name="-")
        document["columns"] = {
            rule.name: {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(rule).items()
                if key != "name" and value is not None and value != getattr(defaults, key)
            }
            for rule in self.columns
        }
        return document

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    # ------------------------------------------------------------------ checking

    def validate(self, table: pa.Table, *, dataset: str = "data") -> ValidationReport:
        """Check ``table`` against every rule; the report lists each rule that fails."""
        rows = table.num_rows
        failures: list[RuleFailure] = []
        if self.min_rows is not None and rows < self.min_rows:
            failures.append(RuleFailure("(rows)", "min_rows", f">= {self.min_rows:,}", rows, []))
        if self.max_rows is not None and rows > self.max_rows:
            failures.append(RuleFailure("(rows)", "max_rows", f"<= {self.max_rows:,}", rows, []))
        present = set(table.column_names)
        if not self.extra_columns:
            ruled = {rule.name for rule in self.columns}
            for name in table.column_names:
                if name not in ruled:
                    failures.append(RuleFailure(name, "extra_columns", "no such column", rows, []))
        for rule in self.columns:
            if rule.name not in present:
                if rule.required:
                    failures.append(RuleFailure(rule.name, "required", "present", rows, []))
                continue
            failures.extend(_check_column(rule, table.column(rule.name)))
        return ValidationReport(dataset=dataset, rows=rows, failures=failures)


def _check_column(rule: ColumnRule, column: pa.ChunkedArray) -> list[RuleFailure]:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if rule.type is not None and not _type_matches(rule.type, column.type):
        return [RuleFailure(rule.name, "type", rule.type, len(column), [str(column.type)])]
    failures = []
    if not rule.nullable and column.null_count:
        rows = pc.indices_nonzero(column.is_null()).slice(0, EXAMPLES).to_pylist()
        failures.append(
            RuleFailure(
                rule.name,
                "nullable",
                "no nulls",
                column.null_count,
                [f"null at row {r}" for r in rows],
            )
        )
    if (rule.allowed is not None or rule.unique) and pa.types.is_nested(column.type):
        raise InvalidInputError(
            f"column {rule.name!r} holds {column.type}; allowed and unique work on plain values"
        )
    if rule.min is not None or rule.max is not None:
        if pa.types.is_float16(column.type):  # Arrow compares no half floats
            column = column.cast(pa.float32())
        low = None if rule.min is None else _scalar(rule, rule.min, column.type)
        high = None if rule.max is None else _scalar(rule, rule.max, column.type)
        checks = [pc.less(column, low)] if low is not None else []
        checks += [pc.greater(column, high)] if high is not None else []
        if pa.types.is_floating(column.type):  # NaN is inside no range
            checks.append(pc.is_nan(column))
        outside = functools.reduce(pc.or_, checks)
        expected = f"{_bound(rule.min)} .. {_bound(rule.max)}"
        failures.extend(_failure(rule, "range", expected, column, outside))
    if rule.allowed is not None:
        try:
            value_set = pa.array(list(rule.allowed)).cast(column.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise InvalidInputError(
                f"allowed values of column {rule.name!r} do not fit its type {column.type}: "
                f"{list(rule.allowed)!r}"
            ) from None
        shown = ", ".join(_show(v) for v in rule.allowed[:EXAMPLES])
        more = " ..." if len(rule.allowed) > EXAMPLES else ""
        # Nulls are the nullable rule's business, not this one's.
        outside = pc.and_(pc.is_valid(column), pc.invert(pc.is_in(column, value_set=value_set)))
        failures.extend(_failure(rule, "allowed", f"one of {shown}{more}", column, outside))
    if rule.unique:
        counts = pc.value_counts(column.drop_null())
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))
        if len(repeated):
            failing = pc.sum(repeated.field("counts")).as_py()
            failures.append(
                RuleFailure(
                    rule.name,
                    "unique",
                    "each value once",
                    failing,
                    repeated.field("values").slice(0, EXAMPLES).to_pylist(),
                )
            )
    return failures


def _failure(
    rule: ColumnRule, name: str, expected: str, column: pa.ChunkedArray, mask: pa.ChunkedArray
) -> list[RuleFailure]:
    mask = mask.fill_null(False)
    failing = pc.sum(mask).as_py() or 0
    if not failing:
        return []
    examples = pc.unique(column.filter(mask)).slice(0, EXAMPLES).to_pylist()
    return [RuleFailure(rule.name, name, expected, failing, examples)]


def _type_matches(expected: str, actual: pa.DataType) -> bool:
    family = TYPE_FAMILIES.get(expected)
    return bool(family(actual)) if family is not None else str(actual) == expected


def _scalar(rule: ColumnRule, value: Any, kind: pa.DataType) -> pa.Scalar:
    failures = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)
    try:
        return pa.scalar(value, type=kind)
    except failures:
        pass
    try:  # text such as "2020-01-31" for a date column
        return pa.scalar(value).cast(kind)
    except failures:
        raise InvalidInputError(
            f"bound {value!r} of column {rule.name!r} does not fit its type {kind}"
        ) from None


_TYPE_PREFIXES = (
    "timestamp[",
    "time32[",
    "time64[",
    "duration[",
    "decimal",
    "fixed_size_binary[",
    "dictionary<",
    "list<",
    "large_list<",
    "fixed_size_list<",
    "struct<",
    "map<",
)


def _known_type(name: str) -> bool:
    if name in TYPE_FAMILIES or name.startswith(_TYPE_PREFIXES):
        return True
    try:
        pa.type_for_alias(name)
    except ValueError:
        return False
    return True


def _bound(value: Any) -> str:
    return "" if value is None else str(value)


def _show(value: Any) -> str:
    return value if isinstance(value, str) and value.startswith("null at row") else repr(value)
