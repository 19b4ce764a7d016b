"""Batch replay: ``Engine.replay`` (native) calls :func:`replay` here.

This module only converts: tables in to JSON lines (each library's own fast writer), and the
engine's records out to the kind of table that came in. The replay itself is the Rust core's
``probity::replay::replay``, run with the GIL released. pandas, pyarrow and polars are imported
only when a value of theirs is passed or asked for: none is a dependency.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, Dict, Tuple, TypedDict


class ReplaySummary(TypedDict):
    """What ``Engine.replay(..., summary=True)`` returns beside the table (the CLI's summary)."""

    events: int
    """Lines that were actions (decided)."""
    verdicts: Dict[str, int]
    """Decisions per verdict: ``{"allow": n, "review": n, "deny": n}``."""
    breaches: Dict[str, int]
    """Breaches per ``policy/rule``, overdue breaches included."""
    sanctions: Dict[str, int]
    """Sanctions reached per ``policy/ladder → step``."""
    restricted_actions: int
    """Decisions with at least one restriction finding."""
    restricted: Dict[str, int]
    """Restriction findings per ``policy/ladder → step``."""
    overdue_reports: int
    open_obligations: int
    """Obligations still open at the end, not yet overdue."""
    overdue_open: int
    """Obligations reported overdue and still open at the end."""
    retained_items: int
    """History items (actions, breaches, obligations) the ledgers held at the end."""
    errors: int
    """Lines that could not be used (each has an ``error`` record)."""
    table: str
    """The summary as the aligned text table ``probity replay`` prints on stderr."""


OUTPUTS = ("decisions", "findings", "jsonl")
INTOS = ("list", "pandas", "pyarrow", "polars")


def replay(
    engine,
    events,
    *,
    as_of=None,
    jobs=None,
    output="decisions",
    into=None,
    summary=False,
    out=None,
    max_skew=86400.0,
    report=None,
    state=None,
):
    if output not in OUTPUTS:
        raise ValueError(f"`output` must be one of {', '.join(OUTPUTS)}, found `{output}`")
    if into is not None and into not in INTOS:
        raise ValueError(f"`into` must be one of {', '.join(INTOS)} (or None), found `{into}`")
    if out is not None:
        if output != "jsonl" or into is not None:
            raise ValueError('`out` takes the records as JSON lines: pass `output="jsonl"` (and no `into`)')
        out = os.fspath(out)
    if report is not None:
        report = os.fspath(report)
    if state is not None:
        state = os.fspath(state)
    max_skew = _seconds(max_skew)
    kind, source, payload = _prepare(events)
    records, stats = engine._replay(source, payload, as_of, jobs, output, max_skew, (out, report, state))
    del payload
    if out is not None:
        return stats
    if output != "jsonl":
        records = _build(records, into or kind)
    return (records, stats) if summary else records


def _seconds(max_skew):
    """``max_skew`` (a ``timedelta``, a number of seconds or None) as seconds; the engine
    checks the range."""
    if max_skew is None:
        return None
    if hasattr(type(max_skew), "__float__") or hasattr(type(max_skew), "__index__"):
        return float(max_skew)
    total_seconds = getattr(max_skew, "total_seconds", None)
    if callable(total_seconds):
        return float(total_seconds())
    raise TypeError(
        f"`max_skew` must be a `datetime.timedelta`, a number of seconds or None, found `{type(max_skew).__qualname__}`"
    )


# --- in -----------------------------------------------------------------------------------------


def _loaded(name: str):
    """The module if the program has imported it (a value of its types can exist only then)."""
    return sys.modules.get(name)


def _prepare(events) -> Tuple[str, str, Any]:
    """``(kind of table, source, payload)`` for ``Engine._replay``."""
    if isinstance(events, (bytes, bytearray)):
        return "list", "data", events
    if isinstance(events, memoryview):
        return "list", "data", events.tobytes()
    if isinstance(events, (str, os.PathLike)):
        return "list", "path", os.fspath(events)
    pd = _loaded("pandas")
    if pd is not None and isinstance(events, pd.DataFrame):
        return "pandas", "data", _pandas_lines(pd, events)
    pa = _loaded("pyarrow")
    if pa is not None and isinstance(events, (pa.Table, pa.RecordBatch)):
        return _arrow_lines(events)
    pl = _loaded("polars")
    if pl is not None and isinstance(events, (pl.DataFrame, pl.LazyFrame)):
        frame = events.collect() if isinstance(events, pl.LazyFrame) else events
        return "polars", "data", _polars_lines(pl, frame)
    if isinstance(events, dict):
        raise TypeError("`events` is one dict: pass a list of actions, e.g. `engine.replay([action])`")
    try:
        iter(events)
    except TypeError:
        raise TypeError(
            "`events` must be an iterable of dicts, a pandas, pyarrow or polars table, a path or bytes "
            f"of JSON lines, found `{type(events).__qualname__}`"
        ) from None
    return "list", "rows", events


def _pandas_lines(pd, frame) -> str:
    """A DataFrame as JSON lines, one per row, by pandas' own C writer (the engine reads a
    ``null`` member as an absent field).

    Two repairs keep values as the engine expects them: a float column that holds only whole
    numbers and missing values (an integer column with gaps, which pandas stores as floats)
    is written as integers, and a timezone-aware datetime column is written as RFC 3339 text
    with its own offset (pandas would write UTC with milliseconds). Missing values are
    written as ``null``, which the engine reads as an absent field.
    """
    fixed = {}
    for name in frame.columns:
        column = frame[name]
        dtype = column.dtype
        if dtype.kind == "f":
            present = column.dropna()
            if len(present) < len(column) and bool((present == present.round()).all()):
                fixed[name] = column.astype("Int64")
        elif dtype.kind == "M" and getattr(dtype, "tz", None) is not None:
            fixed[name] = column.map(lambda t: None if pd.isna(t) else t.isoformat()).astype(object)
    if fixed:
        frame = frame.copy(deep=False)
        for name, column in fixed.items():
            frame[name] = column
    return frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False, double_precision=15)


def _arrow_lines(table) -> Tuple[str, str, Any]:
    """A pyarrow table as JSON lines: through polars' writer (which reads Arrow without a copy)
    when polars is installed, else row by row."""
    try:
        import polars as pl
    except ImportError:
        return "pyarrow", "rows", table.to_pylist()
    frame = pl.from_arrow(table)
    return "pyarrow", "data", _polars_lines(pl, frame)


def _polars_lines(pl, frame) -> bytes:
    """A polars DataFrame as JSON lines by its own writer (the engine reads a ``null`` member
    as an absent field). Datetime values (in struct fields too) are first written as RFC 3339
    text: with their offset when they have a time zone, without one when naive (the engine then
    reports those rows as errors, as it does for any timestamp without an offset)."""

    def fix(expr, dtype):
        if isinstance(dtype, pl.Datetime):
            return expr.dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S%.f")
        if isinstance(dtype, pl.Struct):
            fields = [(f.name, fix(pl.field(f.name), f.dtype)) for f in dtype.fields]
            fields = [e.alias(name) for name, e in fields if e is not None]
            if fields:
                return expr.struct.with_fields(fields)
        return None

    fixed = [e.alias(name) for name, dtype in frame.schema.items() if (e := fix(pl.col(name), dtype)) is not None]
    if fixed:
        frame = frame.with_columns(fixed)
    out = io.BytesIO()
    frame.write_ndjson(out)
    return out.getvalue()


# --- out ----------------------------------------------------------------------------------------


def _build(records, into: str):
    if into == "list":
        return records.json(False)
    if into == "pyarrow":
        return _arrow_table(records)
    if into == "pandas":
        import pandas as pd

        try:
            table = _arrow_table(records)
        except ImportError:
            frame = pd.DataFrame(records.json(True), columns=[n for n, _ in records.schema])
            return frame.astype({n: "int64" for n, k in records.schema if k == "int"})
        return table.to_pandas()
    if into == "polars":
        import polars as pl

        try:
            table = _arrow_table(records)
        except ImportError:
            schema = {n: (pl.Int64 if k == "int" else pl.String) for n, k in records.schema}
            return pl.DataFrame(records.json(True), schema=schema)
        return pl.from_arrow(table)
    raise ValueError(f"unknown table kind `{into}`")


def _arrow_table(records):
    import pyarrow as pa

    types = [pa.large_string() if k == "str" else pa.int64() for _, k in records.schema]
    schema = pa.schema([pa.field(n, t) for (n, _), t in zip(records.schema, types)])
    batches = []
    for chunk in records.arrow():
        arrays = []
        for typ, (rows, nulls, validity, offsets, data) in zip(types, chunk):
            validity = None if validity is None else pa.py_buffer(validity)
            if offsets is None:
                buffers = [validity, pa.py_buffer(data)]
            else:
                buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
            arrays.append(pa.Array.from_buffers(typ, rows, buffers, null_count=nulls))
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)
