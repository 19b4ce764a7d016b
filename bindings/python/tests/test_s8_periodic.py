"""Periodic duties (docs/language.md, "Periodic duties") through Python: checks run when the
ledger advances past a period's end plus its grace, once per RM and period, and their reports
name the period instead of an action."""

from __future__ import annotations

import json

import pytest

import probity

POLICY = """\
policy training version "1" effective 2025-01-01 timezone "Asia/Shanghai"

action training_completed { hours: int }

duty quarterly_training "10 hours of training each quarter"
  cite "Training policy 2"
  every quarter
  require sum(training_completed.hours within period) >= 10
  due within 15 days
  otherwise breach minor

ladder conduct window 12 months points minor 1 step 1 "verbal warning"
"""


def training(id: str, at: str, hours: int, rm: str = "R1") -> dict:
    return {"type": "training_completed", "id": id, "at": at, "rm": {"id": rm}, "hours": hours}


def ledger() -> probity.Ledger:
    return probity.Engine(probity.PolicySet.from_sources({"training.probity": POLICY})).ledger()


def test_a_failed_quarter_is_reported_after_its_grace_with_its_period():
    l = ledger()
    l.submit(training("T-1", "2025-12-15T10:00:00+08:00", 2))  # the partial quarter is exempt
    l.submit(training("T-2", "2026-02-15T10:00:00+08:00", 6))
    # Training in the grace does not count for the quarter.
    overdue, _ = l.submit(training("T-3", "2026-04-03T10:00:00+08:00", 5))
    assert overdue == []
    assert l.advance_to("2026-04-16T00:00:00+08:00") == [], "due is end + grace: not yet past"
    [report] = l.advance_to("2026-04-16T00:00:01+08:00")
    assert report.rm == "R1"
    assert report.at == "2026-04-16T00:00:00+08:00"
    assert report.obligation == {
        "policy": "training",
        "duty": "quarterly_training",
        "period": {"from": "2026-01-01", "until": "2026-04-01"},
        "due": "2026-04-16T00:00:00+08:00",
    }
    assert "action" not in report.obligation
    [finding] = report.findings
    assert (finding["kind"], finding["severity"]) == ("overdue", "minor")
    assert finding["evidence"] == {"sum(training_completed.hours within period)": 6}
    assert [s["step"] for s in report.sanctions] == ["verbal warning"]
    assert "period 2026-01-01 to 2026-04-01" in repr(report)
    assert "quarterly_training" in repr(report)
    # Once per RM and period.
    assert l.advance_to("2026-05-01T00:00:00+08:00") == []


def test_a_submit_reports_only_its_rm_and_an_advance_every_rm():
    l = ledger()
    l.submit(training("A", "2025-12-01T10:00:00+08:00", 1, rm="R1"))
    l.submit(training("B", "2025-12-02T10:00:00+08:00", 1, rm="R2"))
    overdue, decision = l.submit(training("C", "2026-04-20T10:00:00+08:00", 1, rm="R1"))
    assert [(r.rm, r.obligation["duty"]) for r in overdue] == [("R1", "quarterly_training")]
    assert decision.verdict == "allow"
    assert [r.rm for r in l.advance_to("2026-04-21T00:00:00+08:00")] == ["R2"]


def test_the_report_json_is_the_rust_engines():
    l = ledger()
    l.submit(training("T-1", "2026-01-01T00:00:00+08:00", 3))
    [report] = l.advance_to("2026-04-17T00:00:00+08:00")
    text = report.to_json()
    assert text.startswith(
        '{"rm":"R1","at":"2026-04-16T00:00:00+08:00","obligation":{"policy":"training",'
        '"duty":"quarterly_training","period":{"from":"2026-01-01","until":"2026-04-01"},'
        '"due":"2026-04-16T00:00:00+08:00"}'
    )
    assert json.loads(text)["findings"][0]["evidence"] == {"sum(training_completed.hours within period)": 3}


def test_within_period_outside_a_periodic_duty_is_a_policy_error():
    bad = POLICY.replace("every quarter", "on training_completed").replace("  due within 15 days\n", "")
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_sources({"bad.probity": bad})
    [error] = caught.value.errors
    assert (error["code"], error["line"]) == ("P0435", 8)
