"""Search filters and orderings over runs, compiled to SQL.

A filter compares run attributes, params, tags and latest metric values, joined with
``and``/``or`` and grouped with parentheses::

    metrics.accuracy > 0.9 and params.model = 'gbm' and status = 'finished'
    (tags.team = 'vision' or tags.team = 'nlp') and metrics.`val loss` < 0.3
    name like 'sweep-%' and status in ('finished', 'failed')

Keys with spaces or dots are quoted with backticks. Params and tags are text: they
compare with ``=``, ``!=``, ``like`` (``%`` and ``_`` wildcards, ignoring case on every
backend) and ``in``; metrics, ``experiment_id`` and the ``*_ms``
attributes are numbers and also take ``<``, ``<=``, ``>``, ``>=``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, exists, false, or_, select
from sqlalchemy.sql.elements import ColumnElement

from mlpilot.errors import FilterError
from mlpilot.store._schema import latest_metrics, params, runs, tags

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<ident>(?:metrics|params|tags)\.(?:`[^`]+`|[\w\-.:/]+)|[A-Za-z_]\w*)
    | (?P<op><=|>=|!=|==|=|<|>)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_TEXT_ATTRIBUTES = {"name", "status", "user", "host", "run_id", "parent_id"}
_NUMBER_ATTRIBUTES = {"experiment_id", "start_ms", "end_ms", "heartbeat_ms"}
_ATTRIBUTE_COLUMNS = {"run_id": runs.c.id} | {
    name: runs.c[name] for name in (_TEXT_ATTRIBUTES | _NUMBER_ATTRIBUTES) - {"run_id"}
}
_ORDER_OPS = {"<", "<=", ">", ">="}


class _Number(float):
    """A number as written in the filter, which also matches params logged in other forms."""

    text: str


@dataclasses.dataclass
class _Token:
    kind: str
    text: str
    position: int


@dataclasses.dataclass(frozen=True)
class Field:
    """What a filter or ordering names: ``("metrics", "acc")`` or ``("attribute", "name")``."""

    kind: str
    key: str


def parse_field(text: str) -> Field:
    prefix, dot, key = text.partition(".")
    if dot and prefix in ("metrics", "params", "tags"):
        return Field(prefix, key[1:-1] if key.startswith("`") else key)
    if text not in _ATTRIBUTE_COLUMNS:
        raise FilterError(
            f"unknown field {text!r}; use metrics.KEY, params.KEY, tags.KEY or one of "
            f"{sorted(_ATTRIBUTE_COLUMNS)}"
        )
    return Field("attribute", text)


def compile_filter(text: str) -> ColumnElement[bool]:
    """Compile a filter expression into a condition on the ``runs`` table."""
    return _Parser(text).parse()


#: Words that may follow a field in an ordering, and whether each means descending.
DIRECTIONS = {"asc": False, "ascending": False, "desc": True, "descending": True}
_ORDER = re.compile(r"(?P<field>(?:metrics|params|tags)\.`[^`]+`|\S+)(?:\s+(?P<direction>\S+))?")


def parse_order(clause: str) -> tuple[Field, bool]:
    """``"FIELD [ASC|DESC]"`` as the field and whether it sorts descending.

    The direction may also be ``ASCENDING`` or ``DESCENDING``, in any case; keys with
    spaces are quoted in backticks (``metrics.`val loss` DESC``).
    """
    if not isinstance(clause, str):
        raise FilterError(f"an order_by clause must be a string, got {type(clause).__name__}")
    text = clause.strip()
    if not text:
        raise FilterError("empty order_by clause")
    found = _ORDER.fullmatch(text)
    if found is None:
        raise FilterError(
            f"cannot read order_by clause {clause!r}: write FIELD [ASC|DESC], with keys "
            'that hold spaces in backticks, e.g. "metrics.`val loss` DESC"'
        )
    direction = found["direction"]
    if direction is not None and direction.lower() not in DIRECTIONS:
        raise FilterError(
            f"unknown direction {direction!r} in order_by clause {clause!r}; use ASC or "
            "DESC (or ASCENDING, DESCENDING), and put keys with spaces in backticks"
        )
    return parse_field(found["field"]), direction is not None and DIRECTIONS[direction.lower()]


def apply_order(query: Select[Any], order_by: Sequence[str]) -> Select[Any]:
    """Order ``query`` (over ``runs``) by each ``"FIELD [ASC|DESC]"``; missing values last.

    Ties go newest first, then by id, so that pages of one ordering never overlap.
    """
    for index, clause in enumerate(order_by):
        field, descending = parse_order(clause)
        column: Any
        if field.kind == "attribute":
            column = _ATTRIBUTE_COLUMNS[field.key]
        else:
            table = {"metrics": latest_metrics, "params": params, "tags": tags}[field.kind]
            joined = table.alias(f"order_{index}")
            query = query.outerjoin(
                joined, and_(joined.c.run_id == runs.c.id, joined.c.key == field.key)
            )
            column = joined.c.value
        query = query.order_by(
            column.desc().nulls_last() if descending else column.asc().nulls_last()
        )
    return query.order_by(runs.c.start_ms.desc(), runs.c.id)


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise FilterError(f"a filter must be a string, got {type(text).__name__}")
        self.text = text
        self.tokens = self._tokenize(text)
        self.index = 0

    def parse(self) -> ColumnElement[bool]:
        if not self.tokens:
            raise FilterError("the filter is empty; leave it out to match every run")
        condition = self._or()
        if self.index < len(self.tokens):
            self._fail(self.tokens[self.index], "expected 'and', 'or' or the end of the filter")
        return condition

    def _tokenize(self, text: str) -> list[_Token]:
        tokens, position = [], 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if not match or match.lastgroup is None:
                start = len(text) - len(text[position:].lstrip())
                raise FilterError(
                    f"cannot read the filter at position {start}: {text[start : start + 20]!r}"
                )
            tokens.append(
                _Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup))
            )
            position = match.end()
        return tokens

    def _peek_word(self) -> str | None:
        if self.index < len(self.tokens) and self.tokens[self.index].kind == "ident":
            return self.tokens[self.index].text.lower()
        return None

    def _next(self, expected: str) -> _Token:
        if self.index >= len(self.tokens):
            raise FilterError(f"the filter {self.text!r} ends early: expected {expected}")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _fail(self, token: _Token, message: str) -> None:
        raise FilterError(f"{message}, got {token.text!r} at position {token.position}")

    def _or(self) -> ColumnElement[bool]:
        terms = [self._and()]
        while self._peek_word() == "or":
            self.index += 1
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else or_(*terms)

    def _and(self) -> ColumnElement[bool]:
        terms = [self._atom()]
        while self._peek_word() == "and":
            self.index += 1
            terms.append(self._atom())
        return terms[0] if len(terms) == 1 else and_(*terms)

    def _atom(self) -> ColumnElement[bool]:
        token = self._next("a comparison such as metrics.acc > 0.9")
        if token.text == "(":
            inner = self._or()
            closing = self._next("')'")
            if closing.text != ")":
                self._fail(closing, "expected ')'")
            return inner
        if token.kind != "ident":
            self._fail(token, "expected a field such as metrics.acc, params.lr or status")
        field = parse_field(token.text)
        op_token = self._next("a comparison operator")
        op = op_token.text.lower()
        if op_token.kind == "op":
            return _compare(field, "=" if op == "==" else op, self._literal())
        if op in ("like", "in"):
            return _compare(field, op, self._literal() if op == "like" else self._list())
        if op == "not":
            nxt = self._next("'like' or 'in'")
            if nxt.text.lower() not in ("like", "in"):
                self._fail(nxt, "expected 'like' or 'in' after 'not'")
            op = "not " + nxt.text.lower()
            return _compare(field, op, self._literal() if op == "not like" else self._list())
        self._fail(op_token, "expected one of = != < <= > >= like in")
        raise AssertionError  # unreachable: _fail raises

    def _literal(self) -> str | float:
        token = self._next("a value")
        if token.kind == "number":
            number = _Number(token.text)
            number.text = token.text
            return number
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        self._fail(token, "expected a number or a quoted string")
        raise AssertionError  # unreachable: _fail raises

    def _list(self) -> list[str | float]:
        opening = self._next("'('")
        if opening.text != "(":
            self._fail(opening, "expected '(' to open the list")
        values = [self._literal()]
        while (separator := self._next("',' or ')'")).text == ",":
            values.append(self._literal())
        if separator.text != ")":
            self._fail(separator, "expected ',' or ')'")
        return values


def _compare(field: Field, op: str, value: Any) -> ColumnElement[bool]:
    numeric = field.kind == "metrics" or field.key in _NUMBER_ATTRIBUTES
    values = value if isinstance(value, list) else [value]
    for item in values:
        if numeric and not isinstance(item, float) and op not in ("like", "not like"):
            raise FilterError(f"{_name(field)} is a number; compare it with a number, not {item!r}")
    if not numeric:
        if op in _ORDER_OPS:
            raise FilterError(
                f"{_name(field)} is text and cannot be compared with {op!r}; use =, !=, like "
                "or in (or log the value as a metric to compare by size)"
            )
        values = [text for item in values for text in _as_text(item)]
        if op in ("=", "!="):
            op = "in" if op == "=" else "not in"
    if numeric and op in ("like", "not like"):
        raise FilterError(f"{_name(field)} is a number; 'like' works on text only")

    if field.kind == "attribute":
        return _condition(_ATTRIBUTE_COLUMNS[field.key], op, values)
    table = {"metrics": latest_metrics, "params": params, "tags": tags}[field.kind]
    negated = op in ("!=", "not like", "not in")
    positive = {"!=": "=", "not like": "like", "not in": "in"}.get(op, op)
    matching = exists(
        select(table.c.run_id).where(
            table.c.run_id == runs.c.id,
            table.c.key == field.key,
            _condition(table.c.value, positive, values),
        )
    )
    if not negated:
        return matching
    # "!=" means: the run has the key and its value differs (as MLflow reads it).
    has_key = exists(
        select(table.c.run_id).where(table.c.run_id == runs.c.id, table.c.key == field.key)
    )
    return and_(has_key, ~matching)


def _condition(column: Any, op: str, values: list[Any]) -> ColumnElement[bool]:
    value = values[0]
    conditions: dict[str, Any] = {
        "=": lambda: column == value,
        "!=": lambda: column != value,
        "<": lambda: column < value,
        "<=": lambda: column <= value,
        ">": lambda: column > value,
        ">=": lambda: column >= value,
        "like": lambda: column.ilike(value),
        "not like": lambda: ~column.ilike(value),
        "in": lambda: column.in_(values) if values else false(),
        "not in": lambda: column.not_in(values),
    }
    result: ColumnElement[bool] = conditions[op]()
    return result


def _as_text(value: str | float) -> list[str]:
    """The texts a filter value matches: ``1`` matches a param logged as 1 or as 1.0."""
    if not isinstance(value, _Number):
        return [str(value)]
    forms = {value.text, repr(float(value))}
    if value.is_integer() and abs(value) < 1e16:
        forms.add(str(int(value)))
    return sorted(forms)


def _name(field: Field) -> str:
    return field.key if field.kind == "attribute" else f"{field.kind}.{field.key}"
