"""Request bodies to columns: the simple JSON form and the Open Inference Protocol, and
refusals that name what was wrong."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from mlpilot.errors import InvalidInputError
from mlpilot.registry import Signature
from mlpilot.registry._signature import Column
from mlpilot.serve._codec import Schema, decode
from mlpilot.serve._v2 import output_tensors

SIGNATURE = Signature(
    (
        Column("age", "number"),
        Column("plan", "string"),
        Column("seats", "integer"),
        Column("active", "boolean"),
    ),
    "integer",
)
NUMBERS = Signature((Column("a", "number"), Column("b", "number"), Column("c", "number")), "number")

RECORDS = [
    {"age": 31.5, "plan": "pro", "seats": 3, "active": True},
    {"age": 40, "plan": "free", "seats": 1, "active": False},
]
COLUMNS = {"age": [31.5, 40], "plan": ["pro", "free"], "seats": [3, 1], "active": [True, False]}


def test_records_become_columns_in_the_signatures_order() -> None:
    shuffled = [dict(reversed(list(r.items()))) | {"extra": 1} for r in RECORDS]

    columns = Schema(SIGNATURE).columns({"records": shuffled})

    assert columns == COLUMNS
    assert list(columns) == ["age", "plan", "seats", "active"]


def test_columns_are_taken_as_they_are() -> None:
    assert Schema(SIGNATURE).columns({"columns": {**COLUMNS, "extra": [0, 0]}}) == COLUMNS


def test_a_string_column_takes_nulls() -> None:
    body = {"records": [{**RECORDS[0], "plan": None}]}

    assert Schema(SIGNATURE).columns(body)["plan"] == [None]


def test_v2_one_matrix_is_split_into_the_signatures_columns() -> None:
    tensor = {"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6.5]}
    nested = {**tensor, "data": [[1, 2, 3], [4, 5, 6.5]]}

    for sent in (tensor, nested):
        columns = Schema(NUMBERS).v2_columns({"inputs": [sent]})
        assert columns == {"a": [1, 4], "b": [2, 5], "c": [3, 6.5]}


def test_v2_one_tensor_per_column() -> None:
    inputs = [
        {"name": "active", "shape": [2], "datatype": "BOOL", "data": [True, False]},
        {"name": "age", "shape": [2], "datatype": "FP32", "data": [31.5, 40]},
        {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "free"]},
        {"name": "seats", "shape": [2], "datatype": "INT64", "data": [3, 1]},
    ]

    assert Schema(SIGNATURE).v2_columns({"inputs": inputs}) == COLUMNS


def test_without_a_signature_each_request_is_taken_in_its_own_columns() -> None:
    schema = Schema(None)

    assert schema.columns({"records": [{"x": 1, "y": "a"}]}) == {"x": [1], "y": ["a"]}
    assert schema.columns({"columns": {"y": ["b"], "x": [2]}}) == {"y": ["b"], "x": [2]}
    matrix = {"name": "m", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}
    assert Schema(None).v2_columns({"inputs": [matrix]}) == {"x0": [1], "x1": [2]}


def _with(index: int, **values: Any) -> dict[str, Any]:
    records = [dict(r) for r in RECORDS]
    records[index].update(values)
    return {"records": records}


def _without(name: str) -> dict[str, Any]:
    return {"columns": {k: v for k, v in COLUMNS.items() if k != name}}


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        pytest.param(_without("seats"), ["missing column", "seats"], id="missing-column"),
        pytest.param(
            {"records": [{k: v for k, v in RECORDS[0].items() if k != "plan"}]},
            ["missing column", "plan"],
            id="missing-in-every-record",
        ),
        pytest.param(
            {"records": [RECORDS[0], {k: v for k, v in RECORDS[1].items() if k != "age"}]},
            ["records[1]", "'age'"],
            id="missing-in-a-later-record",
        ),
        pytest.param({"records": [{}]}, ["missing column", "age"], id="empty-record"),
        pytest.param(_with(1, age="old"), ["'age'", "row 1", "a number", "a string"], id="kind"),
        pytest.param(_with(0, age=None), ["'age'", "row 0", "null"], id="null-number"),
        pytest.param(_with(0, age=[1]), ["'age'", "a list"], id="list-in-number"),
        pytest.param(_with(1, age=math.nan), ["'age'", "row 1", "nan"], id="nan"),
        pytest.param(_with(0, age=math.inf), ["'age'", "inf"], id="inf"),
        pytest.param(_with(0, age=-math.inf), ["'age'", "-inf"], id="minus-inf"),
        pytest.param(_with(0, seats=1.5), ["'seats'", "whole numbers"], id="fraction"),
        pytest.param(_with(0, plan=5), ["'plan'", "a string", "int"], id="string"),
        pytest.param(_with(1, active=1), ["'active'", "true or false"], id="boolean"),
        pytest.param({"columns": {**COLUMNS, "plan": ["pro"]}}, ["'plan'"], id="ragged"),
        pytest.param({"columns": {**COLUMNS, "seats": 3}}, ["'seats'", "list"], id="not-a-list"),
        pytest.param({"records": []}, ['"records"', "non-empty"], id="no-records"),
        pytest.param({"records": {"age": 1}}, ['"records"', "list"], id="records-object"),
        pytest.param({"records": [1]}, ["records[0]", "object"], id="record-not-object"),
        pytest.param({"records": [RECORDS[0], "x"]}, ["records[1]", "object"], id="later-record"),
        pytest.param({"columns": {}}, ['"columns"'], id="no-columns"),
        pytest.param({"columns": [1, 2]}, ['"columns"'], id="columns-list"),
        pytest.param({"columns": {k: [] for k in COLUMNS}}, ["no rows"], id="no-rows"),
        pytest.param({"rows": RECORDS}, ['"records"', '"columns"'], id="neither-form"),
        pytest.param([RECORDS[0]], ['"records"', '"columns"'], id="bare-list"),
    ],
)
def test_a_bad_body_is_refused_naming_the_field(body: Any, fragments: list[str]) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Schema(SIGNATURE).columns(body)

    for fragment in fragments:
        assert fragment in str(raised.value)


def _tensor(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "shape": [1], "datatype": "FP64", "data": [1.0]} | fields


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        pytest.param({}, ['"inputs"'], id="no-inputs"),
        pytest.param({"inputs": {}}, ['"inputs"'], id="inputs-object"),
        pytest.param({"inputs": []}, ['"inputs"', "empty"], id="empty-inputs"),
        pytest.param({"inputs": [5]}, ["inputs[0]", "object"], id="tensor-not-object"),
        pytest.param(
            {"inputs": [_tensor("a", datatype="FLOAT")]},
            ["inputs[0]", "'FLOAT'", "FP64"],
            id="datatype",
        ),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b", shape=[-1])]},
            ["inputs[1]", "shape"],
            id="negative-shape",
        ),
        pytest.param({"inputs": [_tensor("a", shape=[])]}, ["inputs[0]", "shape"], id="no-shape"),
        pytest.param(
            {"inputs": [_tensor("a", shape=["1"])]}, ["inputs[0]", "shape"], id="shape-text"
        ),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b"), {"shape": [1], "datatype": "FP64"}]},
            ["inputs[2]", "name"],
            id="no-name",
        ),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b", shape=[1, 1], data=[[1.0]]), _tensor("c")]},
            ["'b'", "shape", "[1, 1]"],
            id="2d-among-columns",
        ),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b", shape=[2]), _tensor("c")]},
            ["'b'", "1 values", "says 2"],
            id="data-shorter-than-shape",
        ),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b", data=5), _tensor("c")]},
            ["'b'", "data"],
            id="data-not-a-list",
        ),
        pytest.param(
            {"inputs": [{"name": "m", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]},
            ["'m'", "2 columns", "takes 3"],
            id="matrix-width",
        ),
        pytest.param(
            {"inputs": [{"name": "m", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            ["'m'", "3 values", "says 6"],
            id="matrix-data",
        ),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b", datatype="BYTES", data=["x"]), _tensor("c")]},
            ["'b'", "a number"],
            id="kind",
        ),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b", data=[math.nan]), _tensor("c")]},
            ["'b'", "nan"],
            id="nan",
        ),
        pytest.param({"inputs": [_tensor("a"), _tensor("b")]}, ["missing", "c"], id="missing"),
        pytest.param(
            {"inputs": [_tensor("a"), _tensor("b", shape=[2], data=[1, 2]), _tensor("c")]},
            ["'b'"],
            id="ragged",
        ),
    ],
)
def test_a_bad_v2_body_is_refused_naming_the_field(body: Any, fragments: list[str]) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Schema(NUMBERS).v2_columns(body)

    for fragment in fragments:
        assert fragment in str(raised.value)


def test_decode_refuses_what_is_not_json() -> None:
    assert math.isnan(decode(b'{"records": [{"a": NaN}]}')["records"][0]["a"])
    for raw in (b'{"records": [', b"\xff\xfe", b""):
        with pytest.raises(InvalidInputError, match="not valid JSON"):
            decode(raw)


def test_v2_outputs_hold_predictions_and_scores() -> None:
    outputs = output_tensors([1, 0], [[0.25, 0.75], [0.9, 0.1]])

    assert outputs == [
        {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
        {
            "name": "predict_proba",
            "shape": [2, 2],
            "datatype": "FP64",
            "data": [0.25, 0.75, 0.9, 0.1],
        },
    ]
    assert [o["datatype"] for o in output_tensors(["a"], None)] == ["BYTES"]
    assert [o["datatype"] for o in output_tensors([0.5], None)] == ["FP64"]
    assert [o["datatype"] for o in output_tensors([True], None)] == ["BOOL"]


def test_without_a_signature_no_request_changes_what_later_ones_are_checked_against() -> None:
    schema = Schema(None)

    assert schema.columns({"records": [{"a": 1, "b": 2}]}) == {"a": [1], "b": [2]}
    later = schema.columns({"records": RECORDS})

    assert later == COLUMNS
    assert schema.names is None


def test_v1_instances_as_objects_or_as_lists_in_the_signatures_order() -> None:
    lists = [[r[c] for c in ("age", "plan", "seats", "active")] for r in RECORDS]

    schema = Schema(SIGNATURE)

    assert schema.check(schema.read_v1({"instances": RECORDS})) == COLUMNS
    assert Schema(SIGNATURE).read_v1({"instances": lists}) == COLUMNS
    assert Schema(SIGNATURE).read_v1({"inputs": lists}) == COLUMNS


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"rows": []}, '"instances"'),
        ({"instances": []}, "non-empty"),
        ({"instances": [[1, "pro", 3]]}, "instances[0] must be a list of 4 values"),
        ({"instances": [[1, "pro", 3, True], "x"]}, "instances[1]"),
    ],
)
def test_v1_refusals_name_the_instance(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(fragment)):
        Schema(SIGNATURE).read_v1(body)


def test_v1_lists_need_a_signature() -> None:
    with pytest.raises(InvalidInputError, match="without a signature"):
        Schema(None).read_v1({"instances": [[1, 2]]})
