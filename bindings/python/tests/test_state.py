"""The durable ledger from Python: `Ledger.snapshot` / `restore` (snapshot anywhere, restore,
continue = never stopped), retries of `Ledger.submit`, and `Engine.replay(..., state=...)` in
parts, retried, and over states that cannot be used (coded errors)."""

from __future__ import annotations

import decimal
import json
import pickle
import random

import pytest

import probity

from conftest import ROOT

POLICIES = ROOT / "policies" / "cn"
EVENTS = ROOT / "examples" / "events.jsonl"
AS_OF = "2026-06-01T00:00:00+08:00"

# The first 1,200 lines: two obligations fall overdue within them (lines 906 and 964).
LINES = EVENTS.read_text(encoding="utf-8").splitlines(keepends=True)[:1200]

GIFTS = """policy gifts "Gifts"
  version "VERSION"
  effective 2026-01-01
  timezone "UTC"

action gift {
  value: money
  rate: decimal?
}

action registered {
  gift: text
}

ladder conduct
  window 30 days
  points minor 1
  step 1 "warning"

duty register "Gifts are registered"
  cite "c"
  on gift
  due within 1 days
  fulfilled by registered where gift = action.id
  otherwise breach minor
"""


@pytest.fixture(scope="module")
def engine() -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_dir(POLICIES))


def gifts(version: str = "1") -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_sources({"gifts.probity": GIFTS.replace("VERSION", version)}))


def gift(id: str, at: str, rm: str = "R1", value: str = "5 CNY") -> dict:
    return {"type": "gift", "id": id, "at": at, "rm": {"id": rm}, "value": value}


def submit_all(ledger: probity.Ledger, lines) -> list:
    """Every record of the submissions, as the JSON contract: overdue reports, then the decision."""
    out = []
    for line in lines:
        overdue, decision = ledger.submit(json.loads(line))
        out.extend(report.to_json() for report in overdue)
        out.append(decision.to_json())
    return out


def finish(ledger: probity.Ledger) -> list:
    return [report.to_json() for report in ledger.advance_to(AS_OF)]


@pytest.fixture(scope="module")
def never_stopped(engine):
    """The records and final state of one ledger that takes every line, then advances to AS_OF."""
    ledger = engine.ledger()
    records = submit_all(ledger, LINES)
    records += finish(ledger)
    return records, ledger.snapshot_json()


# --- snapshot and restore -------------------------------------------------------------------


def test_the_snapshot_dict_is_the_rust_json_member_for_member(engine):
    ledger = engine.ledger()
    submit_all(ledger, LINES[:300])
    snapshot, text = ledger.snapshot(), ledger.snapshot_json()
    assert list(snapshot) == ["format", "policies", "rms"]
    assert snapshot["format"] == 1
    assert {p["id"] for p in snapshot["policies"]} >= {"cn_wealth_sales"}
    assert all(p["digest"].startswith("sha256:") for p in snapshot["policies"])
    rms = [rm["rm"] for rm in snapshot["rms"]]
    assert rms == sorted(rms) and len(rms) == ledger.rm_count
    # Dumped compactly, the dict gives the engine's bytes: members keep their order.
    assert json.dumps(snapshot, separators=(",", ":"), ensure_ascii=False) == text
    assert json.loads(text) == snapshot
    # An empty ledger's snapshot has no RMs.
    assert engine.ledger().snapshot()["rms"] == []


def test_snapshot_anywhere_restore_and_continue_is_never_stopped(engine, never_stopped):
    records, final = never_stopped
    assert any(r.startswith('{"rm"') for r in records), "the stream reports overdue obligations"
    # The edges, around the overdue reports (lines 906 and 964), and random cuts (seeded).
    cuts = [0, 1, 905, 906, 964, len(LINES)] + random.Random(18).sample(range(2, len(LINES)), 4)
    for i, cut in enumerate(sorted(cuts)):
        first = engine.ledger()
        before = submit_all(first, LINES[:cut])
        # Through a dict, and through its JSON text, in turn.
        snapshot = first.snapshot() if i % 2 == 0 else first.snapshot_json()
        resumed = engine.ledger()
        resumed.restore(snapshot)
        assert resumed.snapshot_json() == first.snapshot_json(), f"cut {cut}: the restored state"
        after = submit_all(resumed, LINES[cut:]) + finish(resumed)
        assert before + after == records, f"cut {cut}"
        assert resumed.snapshot_json() == final, f"cut {cut}: the final state"


def test_a_snapshot_restores_into_a_ledger_beside_other_rms():
    engine = gifts()
    a, b = engine.ledger(), engine.ledger()
    a.submit(gift("G1", "2026-03-01T00:00:00Z", rm="R1"))
    b.submit(gift("G2", "2026-03-01T00:00:00Z", rm="R2"))
    b.restore(a.snapshot())
    assert b.rm_count == 2 and b.open_obligations() == (2, 0)
    # Both duties fall overdue once the clock passes their deadlines.
    reports = b.advance_to("2026-03-03T00:00:00Z")
    assert sorted(r.rm for r in reports) == ["R1", "R2"]


def test_restore_errors_are_coded_and_change_nothing(engine):
    ledger = gifts().ledger()
    ledger.submit(gift("G1", "2026-03-01T00:00:00Z"))
    snapshot = ledger.snapshot()
    # I0015: the RM is in the ledger already.
    with pytest.raises(probity.InputError, match="already in the ledger") as caught:
        ledger.restore(snapshot)
    assert caught.value.code == "I0015"
    # I0013: not a snapshot (text that is not JSON, another shape, a later format).
    for bad in ["", "{", "[]", {"format": 1}, {**snapshot, "format": 2}, json.dumps({**snapshot, "format": 2})]:
        fresh = gifts().ledger()
        with pytest.raises(probity.InputError, match="invalid snapshot") as caught:
            fresh.restore(bad)
        assert caught.value.code == "I0013", bad
        assert fresh.rm_count == 0
    # I0014: the open obligation belongs to version 1, which this set lacks.
    other = gifts("2").ledger()
    with pytest.raises(probity.InputError) as caught:
        other.restore(snapshot)
    assert caught.value.code == "I0014"
    assert "gifts" in str(caught.value) and other.rm_count == 0
    # All or nothing: a snapshot of two RMs, one already tracked, adds neither.
    two = gifts().ledger()
    two.submit(gift("G1", "2026-03-01T00:00:00Z", rm="R1"))
    two.submit(gift("G2", "2026-03-01T00:00:00Z", rm="R2"))
    with pytest.raises(probity.InputError) as caught:
        ledger.restore(two.snapshot())
    assert caught.value.code == "I0015" and ledger.rm_count == 1
    # A value with no JSON form is the binding's own input error, naming where it is.
    with pytest.raises(probity.InputError, match="`snapshot`: cannot convert a value of type `object`") as caught:
        gifts().ledger().restore({"format": 1, "policies": [], "rms": object()})
    assert caught.value.code is None
    # The codes survive pickling.
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), str(copy), copy.code) == (probity.InputError, str(caught.value), None)


def test_a_snapshot_as_text_keeps_every_digit():
    ledger = gifts().ledger()
    ledger.submit(gift("G1", "2026-03-01T00:00:00Z") | {"rate": 0.5})
    # As a state built from JSON text would hold it (Python's own values write `0.5`).
    text = ledger.snapshot_json().replace('"rate":0.5', '"rate":0.50')
    assert '"rate":0.50' in text
    resumed = gifts().ledger()
    resumed.restore(text)
    assert resumed.snapshot_json() == text
    # The dict holds Python's float: the same value, fewer digits.
    assert resumed.snapshot()["rms"][0]["obligations"][0]["trigger"]["action"]["rate"] == 0.5


# --- retries ----------------------------------------------------------------------------------


def test_a_retried_submission_returns_the_recorded_decision_and_no_overdue(engine):
    ledger = engine.ledger()
    for line in LINES:
        action = json.loads(line)
        overdue, decision = ledger.submit(action)
        if overdue:
            break
    else:
        pytest.fail("no submission reported an overdue obligation")
    state = ledger.snapshot_json()
    again = ledger.submit(action)
    assert again.overdue == [] and again.decision.to_json() == decision.to_json()
    assert ledger.snapshot_json() == state, "a retry records nothing"
    # Still a retry after later actions of the same RM (not out of order).
    rm = action["rm"]["id"]
    later = dict(action, id="LATER-1", at="2026-01-31T10:00:00+08:00")
    ledger.submit(later)
    assert ledger.submit(action).decision.to_json() == decision.to_json()
    # The same id with other content is I0012, naming the field `id`.
    changed = dict(action, at="2026-02-01T10:00:00+08:00")
    with pytest.raises(probity.InputError, match="already recorded with other content") as caught:
        ledger.submit(changed)
    assert (caught.value.code, caught.value.field) == ("I0012", "id")
    assert rm in str(caught.value)


def test_core_input_errors_carry_their_code_and_field(engine):
    ledger = gifts().ledger()
    ledger.submit(gift("G2", "2026-03-02T00:00:00Z"))
    with pytest.raises(probity.InputError, match="older than the ledger's clock") as caught:
        ledger.submit(gift("G1", "2026-03-01T00:00:00Z"))
    assert caught.value.code == "I0009"
    with pytest.raises(probity.InputError) as caught:
        engine.evaluate({"type": "sale", "id": "S", "at": "2026-03-01T10:00:00", "rm": {"id": "R"}})
    assert caught.value.field == "at" and caught.value.code.startswith("I")


# --- replay with a state ----------------------------------------------------------------------


def jsonl(lines) -> bytes:
    return "".join(lines).encode()


def test_a_replay_in_three_parts_with_a_state_is_the_one_run_replay(engine, tmp_path):
    whole = engine.replay(jsonl(LINES), output="jsonl")
    assert b'{"overdue"' in whole
    # A state changes no record.
    assert engine.replay(jsonl(LINES), output="jsonl", state=tmp_path / "whole.db") == whole
    # Part 2 holds the lines whose actions found obligations overdue (each line gives one
    # decision or error record, after its overdue reports); part 1 goes in as a file, part 3
    # as dicts.
    triggers, line = [], 0
    for record in whole.splitlines():
        if record.startswith(b'{"overdue"'):
            triggers.append(line)
        else:
            line += 1
    first, last = max(triggers[0], 1), min(triggers[-1] + 1, len(LINES) - 1)
    parts = [LINES[:first], LINES[first:last], LINES[last:]]
    (tmp_path / "part1.jsonl").write_text("".join(parts[0]), encoding="utf-8")
    state = str(tmp_path / "split.db")
    o1 = engine.replay(tmp_path / "part1.jsonl", output="jsonl", state=state)
    o2 = engine.replay(jsonl(parts[1]), output="jsonl", state=state)
    retried = engine.replay(jsonl(parts[1]), output="jsonl", state=state, jobs=1)
    o3 = engine.replay([json.loads(line) for line in parts[2]], output="jsonl", state=state)
    assert o1 + o2 + o3 == whole
    assert b'{"overdue"' in o2, "the middle part reports overdue obligations"
    # The retried part: the recorded decisions, and nothing overdue a second time.
    decisions = [line for line in o2.splitlines() if line.startswith(b'{"decision"')]
    assert retried.splitlines() == decisions


def test_a_state_replay_gives_the_same_tables(engine, tmp_path):
    whole = engine.replay(jsonl(LINES), as_of=AS_OF)
    state = tmp_path / "s.db"
    first = engine.replay(jsonl(LINES[:700]), state=state)
    second, summary = engine.replay(jsonl(LINES[700:]), as_of=AS_OF, state=state, summary=True)
    assert [r["json"] for r in first + second] == [r["json"] for r in whole]
    assert summary["events"] == len(LINES) - 700
    # Lines are numbered within each part.
    assert second[0]["line"] == 1


def test_a_bad_state_raises_its_code_and_hint(engine, tmp_path):
    events = jsonl(LINES[:10])
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"these are not the droids\n" * 100)
    with pytest.raises(probity.StateError) as caught:
        engine.replay(events, state=foreign)
    e = caught.value
    assert isinstance(e, probity.ProbityError) and e.code == "S0002"
    assert e.hint == "give the path of a state that Probity created, or a path where none exists yet"
    assert "is not a Probity state" in e.message
    assert str(e) == f"[S0002] {e.message}\nhint: {e.hint}"
    assert foreign.read_bytes() == b"these are not the droids\n" * 100, "left untouched"
    # A directory that does not exist: S0001.
    with pytest.raises(probity.StateError) as caught:
        engine.replay(events, state=tmp_path / "missing" / "s.db")
    assert caught.value.code == "S0001" and "directory must exist" in caught.value.hint
    # No server on the port: S0001, naming the URL.
    with pytest.raises(probity.StateError) as caught:
        engine.replay(events, state="postgres://probity@127.0.0.1:1/probity")
    assert caught.value.code == "S0001" and "127.0.0.1" in caught.value.message
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.code, copy.hint, str(copy)) == (caught.value.code, caught.value.hint, str(caught.value))
