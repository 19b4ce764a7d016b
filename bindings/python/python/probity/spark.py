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
) -> DataFrame:
    """Replays the actions of ``df`` as ``probity replay`` does, one RM group per executor task.

    ``df`` holds one action per row: as JSON text in a ``value`` column (what
    ``spark.read.text`` gives), or as typed columns (``type``, ``id``, ``at``, an ``rm`` struct
    with ``id``…, written as JSON by Spark's ``to_json``), and the integer column ``line`` that
    numbers the rows in input order. The policies are a directory (``policies``) or a signed
    bundle (``bundle``, with the public key ``trust``): checked here, their files' bytes go to
    the executors with the task, and each Python worker loads them once.

    ``as_of`` (RFC 3339 text or an aware datetime) advances every RM to that time at the end;
    its overdue reports get the line after the last one, ordered as the CLI orders them (by
    deadline, then RM). ``state`` is a directory: the RMs' ledgers found there (parquet,
    ``STATE_SCHEMA``) are continued, and the state after the replay is written back there
    (replacing it) before this returns.

    Returns a DataFrame of ``RECORD_SCHEMA``; order it by ``line, seq`` for the CLI's order.
    Every action line's time is checked against its RM's own, not the whole stream's: the CLI's
    ``max_skew`` check (a line more than a day ahead of the stream) is not made (docs/spark.md).
    """
    spark = df.sparkSession
    payload = _policy_payload(policies, bundle, trust)
    if as_of is not None and not isinstance(as_of, str):
        as_of = as_of.isoformat()
    if line not in df.columns:
        raise ValueError(f"`df` has no column `{line}` numbering its rows (pass `line=`)")
    events = _events(df, line)
    if state is not None:
        state = os.fspath(state)
        previous = _read_state(spark, state)
        if previous is not None:
            events = events.unionByName(previous, allowMissingColumns=True)
    stateful = state is not None
    run = _group_runner(payload, as_of, stateful)
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


def _policy_payload(policies, bundle, trust) -> Tuple[str, str, Dict[str, bytes]]:
    """``(kind, digest, files)``: the bytes of every file of the policy directory, or of the
    bundle and its key, checked here by loading them (so a bad policy fails on the driver)."""
    if (policies is None) == (bundle is None) or (bundle is not None and trust is None):
        raise ValueError("give `policies=DIR`, or `bundle=FILE, trust=KEY.pub`")
    if policies is not None:
        root = os.fspath(policies)
        probity.PolicySet.from_dir(root)
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
        probity.PolicySet.from_bundle(bundle, trust)
        with open(bundle, "rb") as f, open(trust, "rb") as k:
            files = {"bundle": f.read(), "trust.pub": k.read()}
        kind = "bundle"
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return kind, f"{kind}:{digest.hexdigest()}", files


def _events(df: DataFrame, line: str) -> DataFrame:
    """``rm, line, value``: the JSON text of each row and its RM's id (null when there is none)."""
    if "value" in df.columns:
        value = F.col("value").cast("string")
    else:
        value = F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns if c != line]))
    return df.select(
        F.get_json_object(value, "$.rm.id").alias("rm"), F.col(line).cast("long").alias("line"), value.alias("value")
    )


def _read_state(spark, path: str) -> Optional[DataFrame]:
    if not _fs_exists(spark, path):
        return None
    state = spark.read.schema(STATE_SCHEMA).parquet(path)
    return state.select("rm", "snapshot", "clock", "recorded")


def _write_state(spark, rows: DataFrame, path: str) -> None:
    """Writes the state beside ``path`` and swaps it in: a failed write leaves the old state."""
    rows = rows.select(
        F.col("rm"), F.col("_snapshot").alias("snapshot"), F.col("_clock").alias("clock"), F.col("_recorded").alias("recorded")
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
                policy_set = probity.PolicySet.from_bundle(os.path.join(root, "bundle"), os.path.join(root, "trust.pub"))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        engine = _ENGINES[digest] = probity.Engine(policy_set)
    return engine


def _group_runner(payload, as_of: Optional[str], stateful: bool):
    """The function each RM group runs in (the closure carries the policies' bytes)."""

    def run(table: pa.Table) -> pa.Table:
        return _replay_group(_engine(payload), table, as_of, stateful)

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


def _replay_group(engine, table: pa.Table, as_of: Optional[str], stateful: bool) -> pa.Table:
    """One RM's rows (events, and with a state its saved ledger) → its records (and state)."""
    columns = table.column_names
    rm = next((v for v in table.column("rm").to_pylist() if v is not None), None)
    saved = None
    if "snapshot" in columns:
        for snapshot, clock, recorded in zip(
            table.column("snapshot").to_pylist(), table.column("clock").to_pylist(), table.column("recorded").to_pylist()
        ):
            if snapshot is not None:
                saved = (snapshot, clock, recorded or [])
    events = [(n, v) for n, v in zip(table.column("line").to_pylist(), table.column("value").to_pylist()) if n is not None]
    events.sort(key=lambda e: e[0])
    lines = [n for n, _ in events]
    texts = [v if v is not None else "" for _, v in events]
    if not stateful or rm is None:
        records = engine.replay(texts, as_of=as_of, into="pyarrow", max_skew=None) if texts else None
        return _records(records, lines, None)
    if not texts and as_of is None:
        # Nothing to replay: the saved state goes on as it was.
        return _records(None, lines, saved and [(rm, *saved)])
    work = tempfile.mkdtemp(prefix="probity-spark-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        path = os.path.join(work, "state.sqlite")
        if saved is not None:
            _seed(engine, path, rm, saved)
        records = engine.replay(texts, as_of=as_of, into="pyarrow", max_skew=None, state=path)
        return _records(records, lines, _saved_rms(path))
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
            text = blob.decode("utf-8") if isinstance(blob, bytes) else blob
            out.append((rm, text, clock, [dict(zip(("action", "hash", "records", "expires"), r)) for r in recorded]))
        return out
    finally:
        db.close()


_ERROR_LINE = re.compile(r'^\{"error":\{"line":(\d+),')


def _records(records: Optional[pa.Table], lines: List[int], states) -> pa.Table:
    """The group's records with the input's line numbers (the replay numbered its own rows from
    1; 0 for the closing reports, which get a null line and a sort key) and their ``seq``."""
    out: Dict[str, List[Any]] = {f.name: [] for f in _OUT_ARROW}
    if records is not None:
        data = records.to_pydict()
        previous, seq = None, 0
        for i, local in enumerate(data["line"]):
            seq = seq + 1 if local == previous else 0
            previous = local
            record = data["json"][i]
            if local == 0:
                out["line"].append(None)
                out["_order"].append(_instant_key(data["at"][i]))
            else:
                number = lines[local - 1]
                out["line"].append(number)
                out["_order"].append(None)
                if data["kind"][i] == "error":
                    record = _ERROR_LINE.sub('{"error":{"line":%d,' % number, record, count=1)
            out["seq"].append(seq)
            out["kind"].append(data["kind"][i])
            out["record"].append(record)
            for name, _ in _TYPED:
                out[name].append(data[name][i])
            for name in ("_snapshot", "_clock", "_recorded"):
                out[name].append(None)
    for rm, snapshot, clock, recorded in states or ():
        for name in out:
            out[name].append(None)
        out["kind"][-1], out["rm"][-1] = _STATE_KIND, rm
        out["_snapshot"][-1], out["_clock"][-1], out["_recorded"][-1] = snapshot, clock, recorded
    return pa.Table.from_pydict(out, schema=_OUT_ARROW)


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
