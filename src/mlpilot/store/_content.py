"""Turning what users register into one canonical Arrow table, and naming its content.

The content digest covers the schema and the values only. Two tables that hold the same
values under the same schema share a digest however they are chunked, which row groups
their files had, or what the slots under nulls happen to contain.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from mlpilot.errors import InvalidInputError, NotFoundError

#: What :func:`as_table` accepts.
DataLike: TypeAlias = (
    pd.DataFrame | pa.Table | pa.RecordBatch | str | os.PathLike[str] | Sequence[Any]
)

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv"}


def as_table(data: DataLike) -> tuple[pa.Table, str]:
    """Return ``data`` as an Arrow table without schema metadata, and where it came from.

    A DataFrame's index is kept as columns unless it is an unnamed range index.
    """
    if isinstance(data, pd.DataFrame):
        unnamed_range = isinstance(data.index, pd.RangeIndex) and data.index.name is None
        frame = data if unnamed_range else data.reset_index()
        _check_names(list(frame.columns))
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (
            pa.ArrowInvalid,
            pa.ArrowTypeError,
            pa.ArrowNotImplementedError,
            TypeError,
        ) as exc:
            raise InvalidInputError(
                f"this DataFrame cannot be stored as Arrow data: {exc}"
            ) from exc
        source = "pandas.DataFrame"
    elif isinstance(data, pa.RecordBatch):
        table, source = pa.Table.from_batches([data]), "pyarrow.RecordBatch"
    elif isinstance(data, pa.Table):
        table, source = data, "pyarrow.Table"
    elif isinstance(data, str | os.PathLike) or (
        isinstance(data, Sequence) and data and all(isinstance(p, str | os.PathLike) for p in data)
    ):
        paths = [data] if isinstance(data, str | os.PathLike) else list(data)
        table, source = _read_files([Path(p) for p in paths])
    else:
        raise InvalidInputError(
            f"cannot register {type(data).__name__} as a dataset; give a pandas DataFrame, a "
            "pyarrow Table, or the paths of Parquet or CSV files"
        )
    if table.num_columns == 0:
        raise InvalidInputError("a dataset needs at least one column")
    _check_names(table.column_names)
    return _as_stored(table.replace_schema_metadata(None)), source


def _as_stored(table: pa.Table) -> pa.Table:
    """Cast the columns whose type Parquet stores as another (``date64``, seconds...) to
    the type a read gives back, so that what was registered is exactly what is read.

    Text and bytes become ``string`` and ``binary`` whatever their Arrow layout (pandas
    gives ``large_string``, a CSV reader ``string``), so that the same values read from a
    DataFrame or from a file are the same content.
    """
    plain = pa.schema([f.with_type(_plain_layout(f.type)) for f in table.schema])
    if not plain.equals(table.schema):
        try:
            table = table.cast(plain)
        except pa.ArrowInvalid:  # a chunk past 2 GiB of text keeps its large layout
            pass
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(table.slice(0, 0), sink)
    except pa.ArrowNotImplementedError:
        for field in table.schema:
            try:
                pq.write_table(pa.table({field.name: pa.array([], field.type)}), io.BytesIO())
            except pa.ArrowNotImplementedError as exc:
                raise InvalidInputError(
                    f"column {field.name!r} has type {field.type}, which Parquet cannot store "
                    f"({exc}); cast it to a supported type first"
                ) from None
        raise
    stored = pq.read_schema(pa.BufferReader(sink.getvalue())).remove_metadata()
    return table if stored.equals(table.schema) else table.cast(stored)


def _check_names(names: list[Any]) -> None:
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise InvalidInputError(
            f"column names must be non-empty text; got {bad[0]!r}. Rename the columns first"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInputError(f"column {name!r} appears twice; column names must be unique")
        seen.add(name)


def _read_files(paths: list[Path]) -> tuple[pa.Table, str]:
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise NotFoundError(f"no such file or folder to register: {missing[0]}")
    # Folders are read as datasets: hive-style key=value subfolders become columns, and
    # marker files such as _SUCCESS or .crc are skipped.
    files = [
        f
        for p in paths
        for f in (sorted(p.rglob("*")) if p.is_dir() else [p])
        if f.is_file() and not f.name.startswith(("_", "."))
    ]
    kinds = {f.suffix.lower() for f in files}
    if (
        not files
        or not kinds <= set(_FORMATS)
        or len({_FORMATS[k] for k in kinds}) > 1
        or (kinds == {".csv", ".tsv"})
    ):
        odd = next((f for f in files if f.suffix.lower() not in _FORMATS), None)
        raise InvalidInputError(
            f"cannot tell how to read {odd or paths[0]}: register Parquet (.parquet, .pq), "
            "CSV (.csv) or TSV (.tsv) files, one format at a time"
        )
    kind = _FORMATS[kinds.pop()]
    file_format: Any = kind
    if kind == "csv":  # empty fields are missing values, as pandas reads them
        file_format = pads.CsvFileFormat(
            parse_options=pacsv.ParseOptions(
                delimiter="\t" if files[0].suffix.lower() == ".tsv" else ",",
                newlines_in_values=True,
            ),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
    try:
        if len(paths) == 1 and paths[0].is_dir():
            dataset = pads.dataset(str(paths[0]), format=file_format, partitioning="hive")
        else:
            dataset = pads.dataset([str(f) for f in files], format=file_format)
        _check_same_schema(dataset)
        table = dataset.to_table()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"cannot read {paths[0]} as {kind}: {exc}") from exc
    shown = ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
    return table, f"{kind}: {shown}"


def _check_same_schema(dataset: pads.FileSystemDataset) -> None:
    """Refuse files whose columns differ: reading them as one would drop or invent data."""
    first_file, first = None, None
    for path in dataset.files:
        schema = dataset.format.inspect(path, dataset.filesystem).remove_metadata()
        if first is None:
            first_file, first = path, schema
        elif not schema.equals(first):
            only_first = sorted(set(first.names) - set(schema.names))
            only_this = sorted(set(schema.names) - set(first.names))
            detail = (
                f"columns only in the first: {only_first}, only in this one: {only_this}"
                if only_first or only_this
                else f"column types differ ({first} vs {schema})"
            )
            raise InvalidInputError(
                f"{path} does not have the columns of {first_file}: {detail}. Register files "
                "with the same schema together, or align them first"
            )


def _plain_layout(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    if pa.types.is_dictionary(kind):
        return pa.dictionary(kind.index_type, _plain_layout(kind.value_type), kind.ordered)
    return kind


def content_digest(table: pa.Table) -> str:
    """sha256 over the schema and the values of ``table`` (see the module docstring)."""
    hasher = hashlib.sha256()
    hasher.update(f"rows={table.num_rows}\n".encode())
    for field in table.schema:
        hasher.update(f"{field.name!r}:{field.type}:{field.nullable}\n".encode())
    for column in table.columns:
        _hash_array(hasher, column.combine_chunks() if column.num_chunks != 1 else column.chunk(0))
    return hasher.hexdigest()


def _hash_array(hasher: Any, array: pa.Array) -> None:
    kind = array.type
    if isinstance(kind, pa.BaseExtensionType):  # e.g. pandas intervals: hash what stores them
        hasher.update(f"extension {kind}".encode())
        _hash_array(hasher, array.storage)
        return
    if array.null_count:
        hasher.update(np.packbits(array.is_valid().to_numpy(zero_copy_only=False)).tobytes())
    if pa.types.is_string_view(kind) or pa.types.is_binary_view(kind):
        large = pa.large_string() if pa.types.is_string_view(kind) else pa.large_binary()
        _hash_array(hasher, array.cast(large))
    elif pa.types.is_dictionary(kind):
        _hash_array(hasher, array.dictionary_decode())
    elif pa.types.is_struct(kind):
        for index in range(kind.num_fields):
            _hash_array(hasher, pc.struct_field(array, [index]))
    elif pa.types.is_map(kind):
        entries = pa.struct([kind.key_field.with_name("key"), kind.item_field.with_name("value")])
        _hash_array(hasher, array.cast(pa.list_(entries)))
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lengths = np.diff(array.offsets.to_numpy()).astype("<i8")
        if array.null_count:
            lengths[~array.is_valid().to_numpy(zero_copy_only=False)] = 0
        hasher.update(lengths.tobytes())
        _hash_array(hasher, array.flatten())  # the values of valid lists only
    elif pa.types.is_fixed_size_list(kind):
        _hash_array(hasher, array.flatten())
    elif _is_variable_width(kind):
        if array.null_count:  # filling rebuilds the buffers without the bytes under nulls
            binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
            array = array.fill_null(pa.scalar(b"" if binary else "", kind))
        large = pa.types.is_large_string(kind) or pa.types.is_large_binary(kind)
        _, offset_buffer, data = array.buffers()[:3]
        assert offset_buffer is not None
        offsets = np.frombuffer(offset_buffer, dtype="<i8" if large else "<i4")
        offsets = offsets[array.offset : array.offset + len(array) + 1].astype("<i8")
        hasher.update(np.diff(offsets).tobytes())
        if data is not None:
            hasher.update(memoryview(data)[offsets[0] : offsets[-1]])
    elif pa.types.is_boolean(kind):
        hasher.update(pc.cast(array, pa.int8()).fill_null(0).to_numpy().tobytes())
    elif pa.types.is_null(kind):
        pass
    else:  # fixed width: numbers, decimals, dates, times, timestamps, durations, fixed binary
        width = kind.byte_width
        data = array.buffers()[1]
        assert data is not None
        rows = np.frombuffer(data, dtype=np.uint8)[
            array.offset * width : (array.offset + len(array)) * width
        ].reshape(len(array), width)
        if array.null_count:  # what lies under a null is arbitrary; hash zeros instead
            rows = rows.copy()
            rows[~array.is_valid().to_numpy(zero_copy_only=False)] = 0
        hasher.update(rows.tobytes())


def _is_variable_width(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )
