"""Probity on Apache Spark: ``probity.spark.replay`` replays a DataFrame of RM actions by RM.

RMs are independent, so the replay partitions by RM: the actions are grouped by ``rm.id``
(``groupBy(...).applyInArrow``, Spark 4), and each group is replayed in an executor by
``Engine.replay``, in input order, through one ledger. The records are the CLI's, line for line:
sorted by ``(line, seq)`` they are ``probity replay``'s output for the same events, byte for byte.

With ``state=`` (a directory of parquet, one row per RM) each RM's ledger is read before the
replay and written after it, so tonight's run continues yesterday's (docs/spark.md).

pyspark is an optional dependency (``pip install probity[spark]``); this module imports it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

import probity
from probity import _probity as _native

__all__ = ["replay", "RECORD_SCHEMA", "STATE_SCHEMA"]

_TYPED = (
    ("action", "string"),
    ("rm", "string"),
    ("at", "string"),
    ("verdict", "string"),
    ("findings", "long"),
    ("rules", "string"),
    ("escalations", "string"),
    ("sanctions", "string"),
    ("error", "string"),
)

RECORD_SCHEMA = "line long, seq long, kind string, record string, " + ", ".join(f"{n} {t}" for n, t in _TYPED)
"""The columns ``replay`` returns: ``line`` (the input line the record answers; the number after
the last line for the reports of the closing ``as_of``), ``seq`` (the record's place among its
line's records, from 0: overdue reports first, then the decision), ``kind`` (``decision``,
``overdue`` or ``error``), ``record`` (the record's JSON line, as the CLI writes it) and the typed
columns of ``Engine.replay(..., into="pyarrow")``."""

_RECORDED = "array<struct<action:string,hash:string,records:string,expires:string>>"

STATE_SCHEMA = f"rm string, snapshot string, clock string, recorded {_RECORDED}"
"""A state's rows, one per RM, as the durable ledger keeps them (docs/state.md): ``snapshot``
the RM's ledger state (the snapshot format's RM entry, without its recorded decisions), ``clock``
the latest instant it has seen, ``recorded`` the decisions kept for retries."""

# What the executors return: the records, and with a state one `_state` row per RM.
_OUT_SCHEMA = RECORD_SCHEMA + f", _order string, _snapshot string, _clock string, _recorded {_RECORDED}"
_STATE_KIND = "_state"


def replay(
    df: DataFrame,
    policies=None,
    bundle=None,
    trust=None,
    *,
    line: str = "line",
    as_of=None,
    state=None,
    max_skew=86400.0,
) -> DataFrame:
    """Replays the actions of ``df`` as ``probity replay`` does, one RM group per executor task.

    ``df`` holds one action per row: as JSON text in a ``value`` column (what
    ``spark.read.text`` gives; no ``type`` column), or as typed columns (``type``, ``id``, ``at``,
    an ``rm`` struct with ``id``…, written as JSON by Spark's ``to_json``), and the integer column
    ``line`` that numbers the rows in input order. The policies are a directory (``policies``) or a signed
    bundle (``bundle``, with the public key ``trust``): checked here, their files' bytes go to
    the executors with the task, and each Python worker loads them once.

    ``as_of`` (RFC 3339 text or an aware datetime) advances every RM to that time at the end;
    its overdue reports get the line after the last one, ordered as the CLI orders them (by
    deadline, then RM). ``state`` is a directory: the RMs' ledgers found there (parquet,
    ``STATE_SCHEMA``) are continued, and the state after the replay is written back there
    (replacing it) before this returns.

    ``max_skew`` (seconds or a ``timedelta``; ``None``: no bound) is the CLI's check of the whole
    stream's clock: a line more than that ahead of the latest time before it, when the next
    action is back with the stream, is an error record that moves no clock. The stream's times
    (``line`` and ``at`` of every row with an RM) are read by the driver for it, in one pass.

    Returns a DataFrame of ``RECORD_SCHEMA``; order it by ``line, seq`` for the CLI's order.
    """
    spark = df.sparkSession
    payload, policy_set = _policy_payload(policies, bundle, trust)
    if as_of is not None and not isinstance(as_of, str):
        as_of = as_of.isoformat()
    if line not in df.columns:
        raise ValueError(f"`df` has no column `{line}` numbering its rows (pass `line=`)")
    events = _events(df, line)
    skew = probity._replay._seconds(max_skew)
    skewed = {} if skew is None else _skewed(events, probity.Engine(policy_set), skew)
    if state is not None:
        state = os.fspath(state)
        previous = _read_state(spark, state)
        if previous is not None:
            events = events.unionByName(previous, allowMissingColumns=True)
    stateful = state is not None
    run = _group_runner(payload, as_of, stateful, skewed)
    out = events.groupBy("rm").applyInArrow(run, _OUT_SCHEMA)
    if stateful:
        # The new state overwrites the old one that `out` was computed from: cut the lineage
        # first, so that the records are never recomputed from the new state.
        out = out.localCheckpoint(eager=True)
        _write_state(spark, out.where(F.col("kind") == _STATE_KIND), state)
        out = out.where(F.col("kind") != _STATE_KIND)
    records = out.drop("_snapshot", "_clock", "_recorded")
    if as_of is not None:
        records = _number_closing(records, df, line)
    return records.drop("_order")


# --- the driver ---------------------------------------------------------------------------------


def _policy_payload(policies, bundle, trust):
    """``((kind, digest, files), policy set)``: the bytes of every file of the policy directory,
    or of the bundle and its key, checked here by loading them (a bad policy fails here)."""
    if (policies is None) == (bundle is None) or (bundle is not None and trust is None):
        raise ValueError("give `policies=DIR`, or `bundle=FILE, trust=KEY.pub`")
    if policies is not None:
        root = os.fspath(policies)
        policy_set = probity.PolicySet.from_dir(root)
        files = {}
        for here, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(here, name)
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        files[os.path.relpath(path, root)] = f.read()
        kind = "dir"
    else:
        policy_set = probity.PolicySet.from_bundle(bundle, trust)
        with open(bundle, "rb") as f, open(trust, "rb") as k:
            files = {"bundle": f.read(), "trust.pub": k.read()}
        kind = "bundle"
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return (kind, f"{kind}:{digest.hexdigest()}", files), policy_set


def _events(df: DataFrame, line: str) -> DataFrame:
    """``rm, line, value``: the JSON text of each row and its RM's id (null when there is none)."""
    # Typed columns have `type` (every action does), and may have a field named `value` (a gift's).
    if "value" in df.columns and "type" not in df.columns:
        value = F.col("value").cast("string")
    else:
        value = F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns if c != line]))
    return df.select(
        F.get_json_object(value, "$.rm.id").alias("rm"), F.col(line).cast("long").alias("line"), value.alias("value")
    )


def _skewed(events: DataFrame, engine, seconds: float) -> Dict[int, Dict[str, Any]]:
    """The CLI's stream clock over the whole input: the lines it refuses as too far ahead, each
    with its error record (as the executors return records).

    The clock runs over every row that has an RM and an RFC 3339 ``at`` (in microseconds), in
    line order, as the CLI's does over the actions that parse. Each refusal is then confirmed,
    and its record written, by the engine itself: it replays the line between the line that set
    the clock and the next one with the same ``max_skew``. A line the engine does not refuse
    there (its neighbours are not actions) is taken as accepted and the clock run again.
    """
    import numpy as np

    # One parse of each row for both members (`rm` of `events` would parse it again).
    parsed = F.from_json("value", "at string, rm struct<id string>")
    at = F.col("p.at")
    times = (
        events.select("line", parsed.alias("p"))
        .where(F.col("p.rm.id").isNotNull() & F.col("line").isNotNull() & at.rlike(_RFC3339.pattern))
        .select("line", F.unix_micros(F.try_to_timestamp(at)).alias("t"))
        .where(F.col("t").isNotNull())
        .toArrow()
    )
    lines = np.asarray(times.column("line").to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(lines, kind="stable")
    lines = lines[order]
    t = np.asarray(times.column("t").to_numpy(zero_copy_only=False), dtype=np.int64)[order]
    skew = int(round(seconds * 1000)) * 1000  # the engine keeps milliseconds
    accepted: set = set()
    texts: Dict[int, str] = {}
    while True:
        refused = _stream_clock(t, skew, accepted)
        wanted = {int(lines[i]) for triple in refused for i in triple if i is not None}
        missing = wanted - texts.keys()
        if missing:
            for row in events.where(F.col("line").isin(sorted(missing))).select("line", "value").collect():
                texts[row["line"]] = row["value"]
        out: Dict[int, Dict[str, Any]] = {}
        for latest, index, following in refused:
            number = int(lines[index])
            trio = [texts.get(int(lines[latest]), ""), texts.get(number, ""), texts.get(int(lines[following]), "")]
            records = engine.replay(trio, into="pyarrow", max_skew=seconds).to_pylist()
            error = next((r for r in records if r["line"] == 2 and r["kind"] == "error"), None)
            if error is None:
                accepted.add(index)
                break
            row = {name: error[name] for name, _ in _TYPED}
            record = _ERROR_LINE.sub('{"error":{"line":%d,' % number, error["json"], count=1)
            row.update(line=number, seq=0, kind="error", record=record)
            out[number] = row
        else:
            return out


def _stream_clock(t, skew: int, accepted: set) -> List[Tuple[int, int, int]]:
    """``(index of the time the clock stood at, index refused, index of the next time)`` for
    each time the clock refuses: more than ``skew`` ahead of the latest accepted time, with the
    next time within ``skew`` of it either side (indexes in ``accepted`` are never refused)."""
    import numpy as np

    low = np.iinfo(np.int64).min
    n = len(t)
    kept = t.copy()
    refused: List[Tuple[int, int, int]] = []

    def latest_before(start: int, first):
        tail = np.maximum.accumulate(np.concatenate(([first], kept[start:])))
        return tail[:-1]

    prev = latest_before(0, low) if n else np.empty(0, dtype=np.int64)
    i = 1
    while i < n:
        ahead = np.nonzero((prev[i:] != low) & (t[i:] - skew > prev[i:]))[0]
        if len(ahead) == 0:
            break
        j = i + int(ahead[0])
        latest = int(prev[j])
        if j + 1 < n and j not in accepted and latest - skew <= int(t[j + 1]) <= latest + skew:
            # The line that set the clock: the last one at that instant (the engine keeps it).
            setter = int(np.nonzero(kept[:j] == latest)[0][-1])
            refused.append((setter, j, j + 1))
            kept[j] = low
            prev[j + 1 :] = latest_before(j + 1, latest)
        i = j + 1
    return refused


def _read_state(spark, path: str) -> Optional[DataFrame]:
    if not _fs_exists(spark, path):
        return None
    state = spark.read.schema(STATE_SCHEMA).parquet(path)
    return state.select("rm", "snapshot", "clock", "recorded")


def _write_state(spark, rows: DataFrame, path: str) -> None:
    """Writes the state beside ``path`` and swaps it in: a failed write leaves the old state."""
    rows = rows.select(
        F.col("rm"),
        F.col("_snapshot").alias("snapshot"),
        F.col("_clock").alias("clock"),
        F.col("_recorded").alias("recorded"),
    )
    fresh, old = path.rstrip("/") + ".new", path.rstrip("/") + ".old"
    rows.write.mode("overwrite").parquet(fresh)
    fs, p = _fs(spark, path)
    jvm = spark.sparkContext._jvm
    if fs.exists(p):
        fs.delete(jvm.org.apache.hadoop.fs.Path(old), True)
        fs.rename(p, jvm.org.apache.hadoop.fs.Path(old))
    fs.rename(jvm.org.apache.hadoop.fs.Path(fresh), p)
    fs.delete(jvm.org.apache.hadoop.fs.Path(old), True)


def _fs(spark, path: str):
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), p


def _fs_exists(spark, path: str) -> bool:
    fs, p = _fs(spark, path)
    return bool(fs.exists(p))


def _number_closing(records: DataFrame, df: DataFrame, line: str) -> DataFrame:
    """The closing ``as_of`` reports (line null from the executors): line = the last line + 1,
    ``seq`` in the CLI's order (by deadline, then RM, then each ledger's own order)."""
    last = df.agg(F.max(F.col(line).cast("long"))).first()[0] or 0
    closing = records.where(F.col("line").isNull())
    order = Window.orderBy("_order", "rm", "seq")
    closing = closing.withColumn("line", F.lit(last + 1).cast("long")).withColumn(
        "seq", (F.row_number().over(order) - 1).cast("long")
    )
    return records.where(F.col("line").isNotNull()).unionByName(closing)


# --- the executors ------------------------------------------------------------------------------

# The engines of this Python worker, by policy digest: loaded once, not per group or row.
_ENGINES: Dict[str, "probity.Engine"] = {}


def _engine(payload) -> "probity.Engine":
    kind, digest, files = payload
    engine = _ENGINES.get(digest)
    if engine is None:
        root = tempfile.mkdtemp(prefix="probity-policies-")
        try:
            for name, data in files.items():
                path = os.path.join(root, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            if kind == "dir":
                policy_set = probity.PolicySet.from_dir(root)
            else:
                bundle, trust = os.path.join(root, "bundle"), os.path.join(root, "trust.pub")
                policy_set = probity.PolicySet.from_bundle(bundle, trust)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        engine = _ENGINES[digest] = probity.Engine(policy_set)
    return engine


def _group_runner(payload, as_of: Optional[str], stateful: bool, skewed: Dict[int, Dict[str, Any]]):
    """The function each RM group runs in (the closure carries the policies' bytes and the
    records of the lines the stream's clock refused)."""

    def run(table: pa.Table) -> pa.Table:
        return _replay_group(_engine(payload), table, as_of, stateful, skewed)

    return run


_TYPES = {"string": pa.string(), "long": pa.int64()}
_RECORDED_TYPE = pa.list_(
    pa.struct([("action", pa.string()), ("hash", pa.string()), ("records", pa.string()), ("expires", pa.string())])
)
_OUT_ARROW = pa.schema(
    [("line", pa.int64()), ("seq", pa.int64()), ("kind", pa.string()), ("record", pa.string())]
    + [(n, _TYPES[t]) for n, t in _TYPED]
    + [("_order", pa.string()), ("_snapshot", pa.string()), ("_clock", pa.string()), ("_recorded", _RECORDED_TYPE)]
)


def _replay_group(engine, table: pa.Table, as_of: Optional[str], stateful: bool, skewed) -> pa.Table:
    """One RM's rows (events, and with a state its saved ledger) → its records (and state)."""
    columns = table.column_names
    rm = next((v for v in table.column("rm").to_pylist() if v is not None), None)
    saved = None
    if "snapshot" in columns:
        columns = [table.column(name).to_pylist() for name in ("snapshot", "clock", "recorded")]
        for snapshot, clock, recorded in zip(*columns):
            if snapshot is not None:
                saved = (snapshot, clock, recorded or [])
    numbers, values = table.column("line").to_pylist(), table.column("value").to_pylist()
    events = [(n, v) for n, v in zip(numbers, values) if n is not None]
    events.sort(key=lambda e: e[0])
    refused = [skewed[n] for n, _ in events if n in skewed]
    events = [e for e in events if e[0] not in skewed]
    lines = [n for n, _ in events]
    texts = [v if v is not None else "" for _, v in events]
    if not stateful or rm is None:
        records = engine.replay(texts, as_of=as_of, into="pyarrow", max_skew=None) if texts else None
        return _records(records, lines, None, refused)
    if not texts and as_of is None:
        # Nothing to replay: the saved state goes on as it was.
        return _records(None, lines, saved and [(rm, *saved)], refused)
    work = tempfile.mkdtemp(prefix="probity-spark-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        path = os.path.join(work, "state.sqlite")
        if saved is not None:
            _seed(engine, path, rm, saved)
        records = engine.replay(texts, as_of=as_of, into="pyarrow", max_skew=None, state=path)
        return _records(records, lines, _saved_rms(path), refused)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _seed(engine, path: str, rm: str, saved) -> None:
    """A SQLite state holding one RM's saved ledger, as ``probity replay --state`` keeps it."""
    engine.replay([], state=path, output="jsonl")  # creates the state's tables and meta
    snapshot, clock, recorded = saved
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO probity_rm (rm, state, clock) VALUES (?, ?, ?)", (rm, snapshot.encode(), clock))
        db.executemany(
            "INSERT INTO probity_recorded (rm, action, hash, records, expires) VALUES (?, ?, ?, ?, ?)",
            [(rm, r["action"], r["hash"], r["records"], r["expires"]) for r in recorded],
        )
    db.close()


def _saved_rms(path: str) -> List[Tuple[str, str, str, List[Dict[str, str]]]]:
    """Every RM of a SQLite state, with its recorded decisions."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT rm, state, clock FROM probity_rm ORDER BY rm").fetchall()
        out = []
        for rm, blob, clock in rows:
            recorded = db.execute(
                "SELECT action, hash, records, expires FROM probity_recorded WHERE rm = ? ORDER BY action", (rm,)
            ).fetchall()
            # The engine reads the blob: a state keeps it packed (or, as seeded, plain JSON).
            text = _native.unpack_state(blob if isinstance(blob, bytes) else blob.encode())
            out.append((rm, text, clock, [dict(zip(("action", "hash", "records", "expires"), r)) for r in recorded]))
        return out
    finally:
        db.close()


_ERROR_LINE = re.compile(r'^\{"error":\{"line":(\d+),')


def _records(records: Optional[pa.Table], lines: List[int], states, refused) -> pa.Table:
    """The group's records with the input's line numbers (the replay numbered its own rows from
    1; 0 for the closing reports, which get a null line and a sort key) and their ``seq``, the
    error records of its ``refused`` lines, and its ``states``. Column by column (numpy and
    Arrow): only error records and closing reports are touched one by one."""
    import numpy as np

    parts = []
    if records is not None and records.num_rows:
        local = records.column("line").to_numpy()
        count = len(local)
        index = np.arange(count)
        closing = local == 0
        numbers = np.asarray(lines, dtype=np.int64)
        found = numbers[np.clip(local - 1, 0, max(len(numbers) - 1, 0))] if len(numbers) else np.zeros(count, np.int64)
        # A line's records are consecutive: `seq` counts from each run's first.
        starts = np.ones(count, dtype=bool)
        starts[1:] = local[1:] != local[:-1]
        seq = index - np.maximum.accumulate(np.where(starts, index, 0))
        record = records.column("json").cast(pa.string())
        kind = records.column("kind").cast(pa.string())
        errors = np.nonzero(np.asarray(kind.to_numpy(zero_copy_only=False) == "error") & ~closing)[0]
        if len(errors):
            texts = record.to_pylist()
            for i in errors:
                texts[i] = _ERROR_LINE.sub('{"error":{"line":%d,' % found[i], texts[i], count=1)
            record = pa.array(texts, pa.string())
        order = [None] * count
        if closing.any():
            at = records.column("at").to_pylist()
            for i in np.nonzero(closing)[0]:
                order[i] = _instant_key(at[i])
        columns = {
            "line": pa.array(found, pa.int64(), mask=closing),
            "seq": pa.array(seq, pa.int64()),
            "kind": kind,
            "record": record,
            **{n: records.column(n).cast(_TYPES[t]) for n, t in _TYPED},
            "_order": pa.array(order, pa.string()),
        }
        parts.append(_table(columns, count))
    rows = [dict(r) for r in refused]
    for rm, snapshot, clock, recorded in states or ():
        rows.append({"kind": _STATE_KIND, "rm": rm, "_snapshot": snapshot, "_clock": clock, "_recorded": recorded})
    if rows or not parts:
        parts.append(pa.Table.from_pylist(rows, schema=_OUT_ARROW))
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _table(columns: Dict[str, Any], count: int) -> pa.Table:
    """A table of ``_OUT_ARROW`` from some of its columns (the others null)."""
    arrays = [columns.get(f.name, pa.nulls(count, f.type)) for f in _OUT_ARROW]
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    return pa.Table.from_arrays(arrays, schema=_OUT_ARROW)


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$")


def _instant_key(text: Optional[str]) -> Optional[str]:
    """RFC 3339 text as UTC text with nine digits of fraction: its order is the instants'."""
    match = _RFC3339.match(text or "")
    if match is None:
        return text
    base, fraction, offset = match.groups()
    zone = "+00:00" if offset in ("Z", "z") else offset
    moment = datetime.fromisoformat(base.replace("t", "T").replace(" ", "T") + zone).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + (fraction or "").ljust(9, "0")[:9] + "Z"
