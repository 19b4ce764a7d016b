"""`probity.spark.replay` on a local Spark (`local[2]`): the records sorted by (line, seq) are
the CLI's output byte for byte (policy directory and signed bundle, with and without `as_of`);
two nightly runs over a state give the records of one run; bad rows become error records with
their line; typed columns. One SparkSession for the module (a cold JVM takes ~20 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install probity[spark])")
if shutil.which("java") is None:
    pytest.skip(
        "no java on PATH: the Spark tests need a JRE (apt-get install openjdk-17-jre-headless)", allow_module_level=True
    )

from pyspark.sql import SparkSession  # noqa: E402

import probity  # noqa: E402
import probity.spark  # noqa: E402

from conftest import ROOT  # noqa: E402

POLICIES = ROOT / "policies" / "cn"
AS_OF = "2026-09-01T00:00:00+08:00"
# Bad rows: not JSON, no RM (so in the group of no RM), an RM's action missing its id, and a
# blank line (which the CLI skips).
BAD = [
    "not json",
    '{"type":"complaint_received","id":"X-1","at":"2026-02-03T09:00:00+08:00"}',
    "",
]


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """A generated stream with the bad rows spliced in (one RM's action loses its id)."""
    path = tmp_path_factory.mktemp("spark") / "events.jsonl"
    probity.generate(path, rms=60, days=45, seed=11, violation_rate=0.2)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[200:200] = [BAD[0], BAD[1]]
    missing_id = json.loads(lines[300])
    del missing_id["id"]
    lines[300] = json.dumps(missing_id, separators=(",", ":"))
    lines.insert(400, BAD[2])
    # A mistyped year: the CLI's stream clock refuses the line (the next action is back with the
    # stream); replayed by its RM alone, it would move that RM's clock a year ahead.
    mistyped = json.loads(lines[250])
    mistyped["at"] = "2027" + mistyped["at"][4:]
    lines[250] = json.dumps(mistyped, separators=(",", ":"), ensure_ascii=False)
    # Last, a gift no one registers: its duty is open at the end, for the closing advance to
    # report overdue.
    gift = next(json.loads(t) for t in lines if t.startswith('{"type":"gift_received"'))
    last_at = json.loads(next(t for t in reversed(lines) if t.startswith('{"type"')))["at"]
    gift.update({"id": "G-UNREGISTERED", "at": last_at, "kind": "goods", "value": "5000.00 CNY", "pending_decision": False})
    lines.append(json.dumps(gift, separators=(",", ":"), ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


def cli_records(cli, events_path, *args):
    out = events_path.with_name("cli.jsonl")
    # The CLI exits with 1 when some lines were errors (as here), with 2 when it could not run.
    ran = subprocess.run([str(cli), "replay", *args, str(events_path), "--out", str(out)], capture_output=True)
    assert ran.returncode in (0, 1), ran.stderr
    return out.read_text(encoding="utf-8").splitlines()


def frame(spark, lines, first=1):
    rows = [(first + i, text) for i, text in enumerate(lines)]
    return spark.createDataFrame(rows, "line long, value string").repartition(3)


def records(out):
    return [r["record"] for r in out.orderBy("line", "seq").select("record").collect()]


def test_records_equal_the_cli(spark, events, cli):
    path, lines = events
    want = cli_records(cli, path, "--policies", str(POLICIES))
    out = probity.spark.replay(frame(spark, lines), policies=POLICIES)
    assert out.columns == [f.split()[0] for f in probity.spark.RECORD_SCHEMA.split(", ")]
    assert records(out) == want


def test_closing_as_of_equals_the_cli(spark, events, cli):
    path, lines = events
    want = cli_records(cli, path, "--policies", str(POLICIES), "--as-of", AS_OF)
    out = probity.spark.replay(frame(spark, lines), policies=POLICIES, as_of=AS_OF)
    got = records(out)
    assert got == want
    closing = out.where(out.line == len(lines) + 1).orderBy("seq").collect()
    assert closing, "the closing advance reported nothing: the test needs overdue duties by then"
    assert [r["seq"] for r in closing] == list(range(len(closing)))
    assert all(r["kind"] == "overdue" for r in closing)


def test_bad_rows_are_error_records_with_their_line(spark, events):
    _, lines = events
    out = probity.spark.replay(frame(spark, lines), policies=POLICIES).where("kind = 'error'").orderBy("line")
    errors = {r["line"]: r for r in out.collect()}
    assert sorted(errors) == [201, 202, 251, 301]
    assert "ahead of the latest time in the stream" in errors[251]["error"]
    assert errors[201]["record"].startswith('{"error":{"line":201,"message":"invalid JSON')
    assert errors[202]["rm"] is None and '"line":202,' in errors[202]["record"]
    assert errors[301]["rm"] == json.loads(lines[300])["rm"]["id"] and "`id`" in errors[301]["error"]
    assert json.loads(errors[301]["record"])["error"]["line"] == 301


def test_without_a_skew_bound_equals_the_cli(spark, events, cli):
    path, lines = events
    want = cli_records(cli, path, "--policies", str(POLICIES), "--max-skew", "none")
    assert any("older than the ledger's clock" in r for r in want if r.startswith('{"error"'))
    assert records(probity.spark.replay(frame(spark, lines), policies=POLICIES, max_skew=None)) == want


def test_typed_columns(spark, events):
    _, lines = events
    out = probity.spark.replay(frame(spark, lines[:300]), policies=POLICIES)
    types = dict(out.dtypes)
    assert types["line"] == types["seq"] == types["findings"] == "bigint"
    assert types["verdict"] == types["rules"] == types["at"] == "string"
    rows = out.where("kind = 'decision'").collect()
    assert {r["verdict"] for r in rows} <= {"allow", "review", "deny"}
    for r in rows[:50]:
        decision = json.loads(r["record"])["decision"]
        assert (r["action"], r["at"], r["verdict"]) == (decision["action"], decision["at"], decision["verdict"])
        assert r["findings"] == len(decision["findings"])


def test_typed_input_columns_give_the_json_lines_records(spark, events):
    """Typed columns (as `spark.read.json` infers them) are written back to JSON by Spark."""
    _, lines = events
    good = [text for text in lines[:400] if text.startswith('{"type"') and '"rm"' in text]
    numbered = [json.dumps(dict(json.loads(text), line=i + 1)) for i, text in enumerate(good)]
    typed = spark.read.json(spark.sparkContext.parallelize(numbered))
    # A gift's `value` is a column too: the frame is typed because it has `type`.
    assert "value" in typed.columns and dict(typed.dtypes)["rm"].startswith("struct")
    want = records(probity.spark.replay(frame(spark, good), policies=POLICIES))
    assert records(probity.spark.replay(typed, policies=POLICIES)) == want


def test_two_nights_equal_one_run(spark, events, cli, tmp_path):
    path, lines = events
    want = cli_records(cli, path, "--policies", str(POLICIES), "--as-of", AS_OF)
    night = len(lines) // 2
    state = tmp_path / "state"
    first = probity.spark.replay(frame(spark, lines[:night]), policies=POLICIES, state=state)
    first_records = records(first)
    saved = spark.read.parquet(str(state))
    assert sorted(saved.columns) == ["clock", "recorded", "rm", "snapshot"]
    rms = {r["rm"] for r in saved.collect()}
    actions = [json.loads(t) for t in lines[:night] if t.startswith('{"type"')]
    assert rms == {a["rm"]["id"] for a in actions if "rm" in a}
    tonight = frame(spark, lines[night:], first=night + 1)
    second = probity.spark.replay(tonight, policies=POLICIES, state=state, as_of=AS_OF)
    second_records = records(second)
    # The closing reports are numbered after the second night's last line, as in one run.
    assert first_records + second_records == want
    # Lines replayed again over the state give their recorded decisions and no overdue reports.
    rerun = frame(spark, lines[night : night + 50], first=night + 1)
    again = probity.spark.replay(rerun, policies=POLICIES, state=state)
    kept = second.where(f"line <= {night + 50} and kind = 'decision'")
    assert records(again.where("kind != 'error'")) == records(kept)
    assert spark.read.parquet(str(state)).count() >= len(rms)


def test_bundle_equals_the_cli(spark, events, cli, tmp_path):
    path, lines = events
    key = tmp_path / "key"
    subprocess.run([str(cli), "keygen", "--out", str(key)], check=True, capture_output=True)
    bundle = tmp_path / "cn.bundle"
    pack = [str(cli), "bundle", str(POLICIES), "--out", str(bundle), "--sign", str(key)]
    subprocess.run(pack, check=True, capture_output=True)
    trust = tmp_path / "key.pub"
    part = tmp_path / "part.jsonl"
    part.write_text("\n".join(lines[:500]) + "\n", encoding="utf-8")
    want = cli_records(cli, part, "--bundle", str(bundle), "--trust", str(trust))
    out = probity.spark.replay(frame(spark, lines[:500]), bundle=bundle, trust=trust)
    assert records(out) == want
    other = tmp_path / "other"
    subprocess.run([str(cli), "keygen", "--out", str(other)], check=True, capture_output=True)
    with pytest.raises(probity.PolicyError, match=r"^\[B0002\]"):
        probity.spark.replay(frame(spark, lines[:5]), bundle=bundle, trust=tmp_path / "other.pub")


def test_arguments_are_checked_on_the_driver(spark, events):
    _, lines = events
    df = frame(spark, lines[:5])
    with pytest.raises(ValueError, match="policies=DIR"):
        probity.spark.replay(df, policies=POLICIES, bundle="b")
    with pytest.raises(ValueError, match="policies=DIR"):
        probity.spark.replay(df)
    with pytest.raises(ValueError, match="no column `n`"):
        probity.spark.replay(df, policies=POLICIES, line="n")
