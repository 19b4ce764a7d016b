"""The binding against hostile input and interruptions: `out=` the events file, Ctrl-C during a
replay, mistyped times, sets with no policy in force, and panics caught as Probity's own error."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import probity

GIFTS = textwrap.dedent(
    """\
    policy gifts "Gifts" version "1" effective 2025-01-01 timezone "Asia/Shanghai"

    action gift { value: money }

    rule big_gift "Large gifts are reviewed"
      cite "Gift policy 1"
      on gift
      when action.value >= 1000 CNY
      then review
      message "gift of {action.value}"
    """
)


def gift(id: str, rm: str, at: str) -> str:
    return json.dumps({"type": "gift", "id": id, "at": at, "rm": {"id": rm}, "value": "50 CNY"})


@pytest.fixture(scope="module")
def engine() -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_sources({"gifts.probity": GIFTS}))


def test_out_may_not_be_the_events_file_directly_or_through_a_link(engine, tmp_path):
    events = tmp_path / "events.jsonl"
    text = gift("G-1", "R1", "2026-03-01T10:00:00+08:00") + "\n"
    events.write_text(text)
    (tmp_path / "link.jsonl").symlink_to("events.jsonl")
    for out in (events, tmp_path / "link.jsonl", str(tmp_path / "." / "events.jsonl")):
        with pytest.raises(ValueError, match="is the events file"):
            engine.replay(events, output="jsonl", out=out)
        assert events.read_text() == text
    # Elsewhere it is written whole, with nothing left beside it.
    out = tmp_path / "out.jsonl"
    engine.replay(events, output="jsonl", out=out)
    assert out.read_bytes() == engine.replay(events, output="jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "link.jsonl", "out.jsonl"]
    # A device is written, not replaced.
    assert engine.replay(events, output="jsonl", out="/dev/null")["events"] == 1
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_a_device_is_not_read_as_events(engine):
    with pytest.raises(OSError, match="not a regular file or a pipe"):
        engine.replay("/dev/zero", output="jsonl")


def test_a_line_far_ahead_is_an_error_that_moves_no_clock(engine):
    lines = [
        gift("G-1", "R1", "2026-03-01T10:00:00+08:00"),
        gift("TYPO", "R1", "2096-03-01T11:00:00+08:00"),
        gift("G-3", "R1", "2026-03-01T12:00:00+08:00"),
    ]
    events = "\n".join(lines).encode()
    records = engine.replay(events)
    assert [r["kind"] for r in records] == ["decision", "error", "decision"]
    assert "more than 1 day ahead" in records[1]["error"]
    assert records[1]["rm"] == "R1"
    # The bound is a timedelta or seconds; None turns it off, and the typo moves R1's clock.
    assert engine.replay(events, output="jsonl", max_skew=datetime.timedelta(days=1)) == engine.replay(
        events, output="jsonl"
    )
    hours = engine.replay(events, max_skew=3 * 3600)
    assert [r["kind"] for r in hours] == ["decision", "error", "decision"]
    assert "more than 3 hours ahead" in hours[1]["error"]
    loose = engine.replay(events, max_skew=None)
    assert [r["kind"] for r in loose] == ["decision", "decision", "error"]
    assert "older than the ledger's clock" in loose[2]["error"]
    with pytest.raises(ValueError, match="max_skew"):
        engine.replay(events, max_skew=-1)
    with pytest.raises(TypeError, match="max_skew"):
        engine.replay(events, max_skew="1d")


def test_require_policy_reviews_an_action_no_policy_is_in_force_for(tmp_path):
    early = json.loads(gift("G-0", "R1", "2020-01-01T10:00:00+08:00"))
    plain = probity.Engine(probity.PolicySet.from_sources({"gifts.probity": GIFTS}))
    assert plain.evaluate(early).verdict == "allow"
    strict = probity.Engine(probity.PolicySet.from_sources({"gifts.probity": GIFTS}, require_policy=True))
    decision = json.loads(strict.evaluate(early).to_json())
    assert decision["verdict"] == "review"
    assert decision["policies"] == []
    assert [(f["policy"], f["rule"], f["kind"]) for f in decision["findings"]] == [
        ("probity", "no-policy-in-force", "error")
    ]
    (tmp_path / "gifts.probity").write_text(GIFTS)
    from_dir = probity.Engine(probity.PolicySet.from_dir(tmp_path, require_policy=True))
    assert from_dir.evaluate(early).to_json() == strict.evaluate(early).to_json()
    # An empty directory does not load.
    (tmp_path / "empty").mkdir()
    with pytest.raises(OSError, match="no `.probity` policy files"):
        probity.PolicySet.from_dir(tmp_path / "empty")


def test_a_panic_is_probitys_own_error_not_pyo3s():
    assert issubclass(probity.InternalError, probity.ProbityError)
    assert issubclass(probity.InternalError, RuntimeError)
    # An error past column 65,535: its rendering once panicked inside the diagnostic renderer.
    wide = (
        'policy p "P" version "1" effective 2026-01-01 timezone "UTC"\naction a { x: int }\n'
        + " " * 70_000
        + 'rule r "R" cite "c" on a when action.y > 1 then review message "m"\n'
    )
    with pytest.raises(probity.ProbityError):
        probity.PolicySet.from_sources({"wide.probity": wide})


CHILD = textwrap.dedent(
    """\
    import json, sys, probity
    policies = probity.PolicySet.from_sources({"gifts.probity": sys.argv[1]})
    engine = probity.Engine(policies)
    line = '{"type":"gift","id":"G","at":"2026-03-01T10:00:00+08:00","rm":{"id":"R%d"},"value":"50 CNY"}\\n'
    events = "".join(line % (i % 1000) for i in range(3_000_000)).encode()
    print("ready", flush=True)
    try:
        engine.replay(events, output="jsonl", out=sys.argv[2], jobs=1)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
    print("finished", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_stops_a_replay_promptly_and_leaves_out_as_it_was(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("mine\n")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, GIFTS, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=60)
        waited = time.monotonic() - sent
    finally:
        child.kill()
    assert child.returncode == 3, (stdout, stderr)
    assert stdout.strip() == "interrupted"
    assert waited < 5, f"took {waited:.1f} s to stop"
    assert out.read_text() == "mine\n"
    assert sorted(os.listdir(tmp_path)) == ["out.jsonl"]
