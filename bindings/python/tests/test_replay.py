"""`Engine.replay`: the same records as `probity replay` from every kind of input, tables out,
summaries, line numbers of bad rows, and argument errors."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
from pathlib import Path

import pytest

import probity

from conftest import ROOT

POLICIES = ROOT / "policies" / "cn"
EVENTS = ROOT / "examples" / "events.jsonl"
AS_OF = "2026-06-01T00:00:00+08:00"

DECISION_COLUMNS = [
    "kind", "line", "action", "rm", "at", "verdict", "findings", "rules", "escalations", "sanctions", "error", "json",
]  # fmt: skip
FINDING_COLUMNS = ["action", "rm", "at", "policy", "rule", "kind", "severity", "ladder", "message", "record", "line"]


def run_cli(cli: Path, events: Path, *args: str) -> subprocess.CompletedProcess:
    """`probity replay` (exit status 1 when some lines are errors, which is not a failure here)."""
    done = subprocess.run(
        [str(cli), "replay", "--policies", str(POLICIES), str(events), *args], capture_output=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    return done


@pytest.fixture(scope="module")
def engine() -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_dir(POLICIES))


@pytest.fixture(scope="module")
def rows() -> list:
    with open(EVENTS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def expected(cli: Path) -> subprocess.CompletedProcess:
    return run_cli(cli, EVENTS)


def joined(records) -> bytes:
    """The `json` column of a decisions table as JSON lines."""
    return "".join(r + "\n" for r in records).encode("utf-8")


# --- every kind of input gives the CLI's records -------------------------------------------------


def _pandas(rows):
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(rows)


def _pandas_read_json(rows):
    pd = pytest.importorskip("pandas")
    return pd.read_json(io.StringIO(EVENTS.read_text(encoding="utf-8")), lines=True, dtype=False)


def _pyarrow(rows):
    pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    return pl.read_ndjson(EVENTS, infer_schema_length=None).to_arrow()


def _pyarrow_from_pylist(rows):
    pa = pytest.importorskip("pyarrow")
    # `from_pylist` infers its schema from the first row only: unify the rows' schemas.
    schema = pa.unify_schemas([pa.Table.from_pylist([r]).schema for r in rows])
    return pa.Table.from_pylist(rows, schema=schema)


def _polars(rows):
    pl = pytest.importorskip("polars")
    return pl.DataFrame(rows, infer_schema_length=None)


def _polars_read_ndjson(rows):
    pl = pytest.importorskip("polars")
    return pl.read_ndjson(EVENTS, infer_schema_length=None)


INPUTS = {
    "list of dicts": lambda rows: rows,
    "generator of dicts": lambda rows: (r for r in rows),
    "tuple of JSON texts": lambda rows: tuple(EVENTS.read_text(encoding="utf-8").splitlines()),
    "open text file": lambda rows: open(EVENTS, encoding="utf-8"),  # noqa: SIM115 (closed by the GC)
    "path": lambda rows: EVENTS,
    "path as str": lambda rows: str(EVENTS),
    "bytes": lambda rows: EVENTS.read_bytes(),
    "bytearray": lambda rows: bytearray(EVENTS.read_bytes()),
    "memoryview": lambda rows: memoryview(EVENTS.read_bytes()),
    "pandas": _pandas,
    "pandas read_json": _pandas_read_json,
    "pyarrow": _pyarrow,
    "pyarrow from_pylist": _pyarrow_from_pylist,
    "polars": _polars,
    "polars read_ndjson": _polars_read_ndjson,
    "polars lazy": lambda rows: _polars(rows).lazy(),
}


@pytest.mark.parametrize("kind", list(INPUTS))
def test_records_are_the_clis_byte_for_byte(engine, rows, expected, kind):
    events = INPUTS[kind](rows)
    assert engine.replay(events, output="jsonl") == expected.stdout


@pytest.mark.parametrize("kind", ["list of dicts", "pandas", "pyarrow", "polars"])
def test_json_column_is_the_clis_records(engine, rows, expected, kind):
    table = engine.replay(INPUTS[kind](rows), jobs=2)
    if kind == "list of dicts":
        records = [r["json"] for r in table]
    elif kind == "pyarrow":
        records = table.column("json").to_pylist()
    else:
        records = list(table["json"])
    assert joined(records) == expected.stdout


@pytest.mark.parametrize("output", ["jsonl", "decisions", "findings"])
def test_jobs_do_not_change_the_result(engine, output):
    pytest.importorskip("pyarrow")
    results = [engine.replay(EVENTS, jobs=jobs, output=output, into=None if output == "jsonl" else "pyarrow",
                             as_of=AS_OF) for jobs in (1, 2, 3)]  # fmt: skip
    assert results[0] == results[1] == results[2]


def test_as_of_reports_come_last_and_match_the_cli(engine, cli):
    done = run_cli(cli, EVENTS, "--as-of", AS_OF)
    assert engine.replay(EVENTS, output="jsonl", as_of=AS_OF) == done.stdout
    when = dt.datetime(2026, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    table = engine.replay(EVENTS, as_of=when)
    assert joined(r["json"] for r in table) == done.stdout
    closing = [r for r in table if r["line"] == 0]
    assert closing and all(r["kind"] == "overdue" for r in closing)
    assert table[-len(closing) :] == closing


def test_summary_is_the_clis(engine, expected):
    records, summary = engine.replay(EVENTS, output="jsonl", summary=True)
    assert records == expected.stdout
    assert summary["table"] == expected.stderr.decode("utf-8")
    assert summary["events"] == sum(summary["verdicts"].values()) == 5865
    assert set(summary["verdicts"]) == {"allow", "review", "deny"}
    assert summary["errors"] == 0
    assert summary["retained_items"] > 0, "the sample's windows hold history at the end"
    table, again = engine.replay(EVENTS, summary=True)
    assert again == summary
    decisions = [r for r in table if r["kind"] == "decision"]
    assert len(decisions) == summary["events"]
    assert sum(r["kind"] == "overdue" for r in table) == summary["overdue_reports"]
    for verdict, count in summary["verdicts"].items():
        assert sum(r["verdict"] == verdict for r in decisions) == count


# --- the columns --------------------------------------------------------------------------------


def test_decisions_columns(engine, rows):
    table = engine.replay(rows, as_of=AS_OF)
    assert all(list(r) == DECISION_COLUMNS for r in table)
    for r in table:
        record = json.loads(r["json"])
        assert list(record) == [r["kind"]]
        body = record[r["kind"]]
        if r["kind"] == "decision":
            assert r["rm"] == rows[r["line"] - 1]["rm"]["id"]
            assert (r["action"], r["at"], r["verdict"]) == (body["action"], body["at"], body["verdict"])
            assert r["action"] == rows[r["line"] - 1]["id"]
        else:
            assert r["kind"] == "overdue"
            assert (r["action"], r["rm"], r["at"], r["verdict"]) == (
                body["obligation"]["action"], body["rm"], body["at"], None,
            )  # fmt: skip
            if r["line"]:
                assert r["rm"] == rows[r["line"] - 1]["rm"]["id"]
        assert r["findings"] == len(body["findings"])
        assert r["rules"] == ",".join(f["rule"] for f in body["findings"])
        assert r["escalations"] == ",".join(body["escalations"])
        assert r["sanctions"] == ",".join(f"{s['ladder']}:{s['step']}" for s in body["sanctions"])
        assert r["error"] is None
    assert any(r["sanctions"] for r in table) and any(r["escalations"] for r in table)
    lines = [r["line"] for r in table if r["kind"] == "decision"]
    assert lines == list(range(1, len(rows) + 1))


def test_findings_rows(engine, rows):
    decisions = engine.replay(rows, as_of=AS_OF)
    findings = engine.replay(rows, as_of=AS_OF, output="findings")
    assert all(list(f) == FINDING_COLUMNS for f in findings)
    assert len(findings) == sum(r["findings"] for r in decisions)
    expected = []
    for r in decisions:
        body = json.loads(r["json"])[r["kind"]]
        for f in body["findings"]:
            expected.append({
                "action": r["action"], "rm": r["rm"], "at": r["at"], "policy": f["policy"], "rule": f["rule"],
                "kind": f["kind"], "severity": f.get("severity"), "ladder": f.get("ladder"),
                "message": f["message"], "record": r["kind"], "line": r["line"],
            })  # fmt: skip
    assert findings == expected
    assert {f["record"] for f in findings} == {"decision", "overdue"}
    assert any(f["severity"] is None for f in findings) and any(f["severity"] for f in findings)


def test_decision_json_round_trips(engine):
    for r in engine.replay(EVENTS):
        if r["kind"] == "decision":
            body = json.dumps(json.loads(r["json"])["decision"], ensure_ascii=False, separators=(",", ":"))
            assert probity.Decision.from_json(body).to_json() == body
            assert r["json"] == '{"decision":' + body + "}"


# --- tables out, and their round trips ----------------------------------------------------------


@pytest.mark.parametrize("output", ["decisions", "findings"])
def test_each_table_kind_holds_the_same_rows(engine, output):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    listed = engine.replay(EVENTS, output=output, as_of=AS_OF)
    arrow = engine.replay(EVENTS, output=output, as_of=AS_OF, into="pyarrow")
    frame = engine.replay(EVENTS, output=output, as_of=AS_OF, into="pandas")
    polars = engine.replay(EVENTS, output=output, as_of=AS_OF, into="polars")
    assert isinstance(arrow, pa.Table) and isinstance(frame, pd.DataFrame) and isinstance(polars, pl.DataFrame)
    names = DECISION_COLUMNS if output == "decisions" else FINDING_COLUMNS
    assert arrow.column_names == list(frame.columns) == polars.columns == names
    assert arrow.to_pylist() == listed
    assert polars.to_dicts() == listed
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert records == listed
    for name in ("line",) if output == "findings" else ("line", "findings"):
        assert arrow.schema.field(name).type == pa.int64()
        assert str(frame[name].dtype) == "int64"
        assert polars.schema[name] == pl.Int64
    assert arrow.schema.field("rm").type == pa.large_string()
    # Round trips: Arrow ⇄ pandas ⇄ polars, and through Parquet.
    pd.testing.assert_frame_equal(pa.Table.from_pandas(frame, preserve_index=False).to_pandas(), frame)
    assert pl.from_arrow(arrow).equals(polars)
    assert pl.from_pandas(frame).equals(polars)
    assert polars.to_arrow().cast(arrow.schema).equals(arrow)
    pq = pytest.importorskip("pyarrow.parquet")
    sink = io.BytesIO()
    pq.write_table(arrow, sink)
    assert pq.read_table(io.BytesIO(sink.getvalue())).equals(arrow)


def test_the_input_kind_decides_the_output_kind(engine, rows):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    few = rows[:50]
    assert isinstance(engine.replay(pd.DataFrame(few)), pd.DataFrame)
    assert isinstance(engine.replay(_pyarrow_from_pylist(few)), pa.Table)
    assert isinstance(engine.replay(pl.DataFrame(few, infer_schema_length=None)), pl.DataFrame)
    assert isinstance(engine.replay(pl.DataFrame(few, infer_schema_length=None).lazy()), pl.DataFrame)
    assert isinstance(engine.replay(few), list)
    assert isinstance(engine.replay(EVENTS), list)
    assert isinstance(engine.replay(pd.DataFrame(few), into="list"), list)
    assert isinstance(engine.replay(few, into="polars"), pl.DataFrame)


@pytest.mark.parametrize("into", ["list", "pandas", "pyarrow", "polars"])
@pytest.mark.parametrize("output", ["decisions", "findings"])
def test_no_events_give_an_empty_table_with_the_columns(engine, into, output):
    if into != "list":
        pytest.importorskip(into)
    table = engine.replay([], into=into, output=output)
    names = DECISION_COLUMNS if output == "decisions" else FINDING_COLUMNS
    if into == "list":
        assert table == []
    elif into == "pyarrow":
        assert table.num_rows == 0 and table.column_names == names
    else:
        assert len(table) == 0 and list(table.columns) == names
    assert engine.replay(b"", output="jsonl") == b""


# --- bad rows keep their line numbers -----------------------------------------------------------


def bad_rows(rows):
    """The first 40 sample actions with problems at known rows (1-based): 3 has no `at`, 7 a bad
    timestamp, 12 is not an object, 20 has an `rm` without an id, 25 is out of time order."""
    events = [dict(r) for r in rows[:40]]
    del events[2]["at"]
    events[6]["at"] = "yesterday"
    events[11] = ["not", "an", "action"]
    events[19]["rm"] = {"grade": "junior"}
    events[24]["at"] = "2000-01-01T00:00:00+08:00"
    events[24]["rm"] = events[23]["rm"]
    return events


ERROR_LINES = [3, 7, 12, 20, 25]


def test_bad_rows_are_errors_at_their_line(engine, rows, cli, tmp_path):
    events = bad_rows(rows)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    done = run_cli(cli, path)
    assert engine.replay(events, output="jsonl") == done.stdout
    table, summary = engine.replay(events, summary=True)
    errors = [r for r in table if r["kind"] == "error"]
    assert [r["line"] for r in errors] == ERROR_LINES
    assert [json.loads(r["json"])["error"]["line"] for r in errors] == ERROR_LINES
    assert summary["errors"] == len(ERROR_LINES)
    assert all(r["error"] and r["action"] is None and r["verdict"] is None for r in errors)
    assert "`at`" in errors[0]["error"] and "yesterday" in errors[1]["error"]
    assert errors[4]["rm"] == events[24]["rm"]["id"] and "time order" in errors[4]["error"]
    assert errors[2]["rm"] is None and errors[3]["rm"] is None
    decided = [r["line"] for r in table if r["kind"] == "decision"]
    assert decided == [n for n in range(1, 41) if n not in ERROR_LINES]
    assert all(r["rm"] == events[r["line"] - 1]["rm"]["id"] for r in table if r["kind"] == "decision")


def test_blank_and_broken_lines_in_bytes_keep_the_files_numbering(engine, rows, cli, tmp_path):
    lines = [json.dumps(r, ensure_ascii=False) for r in rows[:10]]
    lines[4:4] = ["", "   ", "{not json", "\u3000"]  # lines 5–8: blank, blank, broken, blank
    data = ("\r\n".join(lines) + "\n").encode("utf-8") + b"\xff\xfe\n" + lines[-1].encode("utf-8")
    path = tmp_path / "events.jsonl"
    path.write_bytes(data)
    done = run_cli(cli, path)
    assert engine.replay(data, output="jsonl") == done.stdout
    table = engine.replay(data)
    assert [(r["kind"], r["line"]) for r in table if r["kind"] == "error"] == [("error", 7), ("error", 15)]
    decided = [r for r in table if r["kind"] == "decision"]
    assert [r["line"] for r in decided] == [1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 16]
    assert [r["rm"] for r in decided] == [r["rm"]["id"] for r in rows[:10]] + [rows[9]["rm"]["id"]]


def test_bad_table_rows_are_errors_at_their_row(engine, rows):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    events = bad_rows(rows)
    events[11] = {"id": "X-1"}  # a table row is always an object: this one lacks most fields
    frame = pd.DataFrame(events, index=[f"row{i}" for i in range(len(events))])
    table = engine.replay(frame)
    errors = table[table["kind"] == "error"]
    assert list(errors["line"]) == ERROR_LINES
    assert list(errors["rm"].isna()) == [False, False, True, True, False]
    decided = table[table["kind"] == "decision"]
    assert list(decided["rm"]) == [events[n - 1]["rm"]["id"] for n in decided["line"]]
    polars = engine.replay(pl.DataFrame(events, infer_schema_length=None))
    assert polars.filter(pl.col("kind") == "error")["line"].to_list() == ERROR_LINES
    assert engine.replay(frame, output="jsonl") == engine.replay(events, output="jsonl")


def test_a_python_value_without_json_form_names_its_row(engine, rows):
    events = [dict(r) for r in rows[:5]]
    events[3]["tags"] = {"a", "b"}
    with pytest.raises(probity.InputError, match=r"`events\[3\]\.tags`.*sorted list"):
        engine.replay(events)
    events[3]["tags"] = []
    events[3]["at"] = dt.datetime(2025, 11, 3, 10, 0)
    with pytest.raises(probity.InputError, match=r"`events\[3\]\.at`.*naive"):
        engine.replay(events)


# --- conversions of table values ----------------------------------------------------------------


def test_pandas_integer_columns_with_gaps_and_aware_datetimes(engine, rows):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(rows)
    assert str(frame["issuer_risk"].dtype) == "float64"  # ints with gaps, as pandas stores them
    at = pd.to_datetime(frame["at"].str.slice(0, 19)).dt.tz_localize("Asia/Shanghai")
    frame["at"] = at
    table = engine.replay(frame, output="jsonl")
    decisions = [json.loads(line) for line in table.splitlines() if line.startswith(b'{"decision"')]
    assert [d["decision"]["at"] for d in decisions] == [r["at"] for r in rows]
    assert engine.replay(frame.assign(at=[r["at"] for r in rows]), output="jsonl") == engine.replay(rows, output="jsonl")


def test_polars_aware_datetimes_are_written_with_their_offset(engine, rows):
    pl = pytest.importorskip("polars")
    few = rows[:20]
    frame = pl.DataFrame(few, infer_schema_length=None).with_columns(
        pl.col("at").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z")
    )
    assert frame.schema["at"].time_zone is not None
    table = engine.replay(frame, into="list")
    for r, row in zip([r for r in table if r["kind"] == "decision"], few):
        assert dt.datetime.fromisoformat(r["at"]) == dt.datetime.fromisoformat(row["at"])


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_table_nulls_are_absent_fields_and_list_items_stay(engine, rows, library):
    lib = pytest.importorskip(library)
    few = [dict(r) for r in rows[:30]]
    few[0]["note"] = "null"  # text stays text
    few[1]["disclosures"] = ["risk_disclosure", None]  # a null inside a list stays
    few[2]["customer"] = dict(few[2]["customer"], segment=None, nested={"a": None, "b": [None, {"c": None}]})
    frame = lib.DataFrame(few) if library == "pandas" else lib.DataFrame(few, infer_schema_length=None)
    expected = engine.replay(few, output="jsonl")
    assert b"null" in expected  # the list item above, in the evidence or an error
    assert engine.replay(frame, output="jsonl") == expected


def test_naive_table_timestamps_are_errors_on_each_row(engine, rows):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(rows[:5])
    frame["at"] = pd.to_datetime(frame["at"].str.slice(0, 19))
    table = engine.replay(frame)
    assert list(table["kind"]) == ["error"] * 5
    assert table["error"].str.contains("no UTC offset").all()


# --- arguments ----------------------------------------------------------------------------------


def test_a_table_of_several_chunks_keeps_every_row_in_order(engine, cli, tmp_path):
    """The rows are handed to Python 65,536 at a time; a longer replay is one table all the same.
    (The sample read 13 times over: the repeats are mostly errors, older than what came before.)"""
    pa = pytest.importorskip("pyarrow")
    events = tmp_path / "events.jsonl"
    events.write_bytes(EVENTS.read_bytes() * 13)
    done = run_cli(cli, events)
    table = engine.replay(events, into="pyarrow")
    assert table.num_rows > 65_536 and table.column("json").num_chunks == 2
    assert joined(table.column("json").to_pylist()) == done.stdout
    listed = engine.replay(events)
    assert listed == table.to_pylist()
    errors = [r for r in listed if r["kind"] == "error"]
    assert errors and all(r["action"] is None and r["error"] for r in errors)
    lines = [r["line"] for r in listed if r["kind"] != "overdue"]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)


def test_out_writes_the_clis_json_lines_to_a_file(engine, cli, tmp_path):
    done = run_cli(cli, EVENTS, "--as-of", AS_OF)
    out = tmp_path / "decisions.jsonl"
    stats = engine.replay(EVENTS, output="jsonl", as_of=AS_OF, out=out, jobs=2)
    assert out.read_bytes() == done.stdout
    assert stats["events"] > 0 and stats == engine.replay(EVENTS, output="jsonl", as_of=AS_OF, summary=True)[1]
    # From rows too, and over a file that was there.
    with open(EVENTS, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    engine.replay(rows, output="jsonl", out=str(out))
    assert out.read_bytes() == engine.replay(rows, output="jsonl")


def test_out_errors(engine, rows, tmp_path):
    with pytest.raises(ValueError, match="`out`"):
        engine.replay(rows, out=tmp_path / "d.jsonl")  # the default output is a table
    with pytest.raises(ValueError, match="`out`"):
        engine.replay(rows, output="jsonl", into="pandas", out=tmp_path / "d.jsonl")
    with pytest.raises(OSError, match="cannot write"):
        engine.replay(rows, output="jsonl", out=tmp_path / "missing" / "d.jsonl")
    kept = tmp_path / "kept.jsonl"
    kept.write_text("mine\n")
    with pytest.raises(OSError, match="cannot read"):
        engine.replay(tmp_path / "missing.jsonl", output="jsonl", out=kept)
    assert kept.read_text() == "mine\n", "a replay that cannot start leaves the file alone"


def test_a_file_that_cannot_be_read_is_an_os_error(engine, tmp_path):
    with pytest.raises(OSError, match="cannot read"):
        engine.replay(tmp_path)  # a directory opens, but does not read


def test_argument_errors(engine, rows, tmp_path):
    with pytest.raises(ValueError, match="`output`"):
        engine.replay(rows, output="csv")
    with pytest.raises(ValueError, match="`into`"):
        engine.replay(rows, into="excel")
    with pytest.raises(ValueError, match="`jobs`"):
        engine.replay(rows, jobs=0)
    with pytest.raises(probity.InputError, match="`as_of`.*no UTC offset"):
        engine.replay(rows, as_of="2026-01-01T00:00:00")
    with pytest.raises(probity.InputError, match="`as_of`.*naive"):
        engine.replay(rows, as_of=dt.datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="`as_of`"):
        engine.replay(rows, as_of=20260101)
    with pytest.raises(TypeError, match="one dict"):
        engine.replay(rows[0])
    with pytest.raises(TypeError, match="iterable of dicts"):
        engine.replay(42)
    with pytest.raises(OSError, match="cannot read"):
        engine.replay(tmp_path / "missing.jsonl")
    with pytest.raises(TypeError):
        engine.replay(rows, True)  # everything after `events` is keyword-only


def test_replay_releases_the_gil(engine):
    import threading

    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        before = len(ticks)
        data = EVENTS.read_bytes() * 4
        engine.replay(data, output="jsonl", jobs=1)
        during = len(ticks) - before
    finally:
        stop.set()
        thread.join()
    assert during > 5
