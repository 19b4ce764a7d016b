"""Constants, reference lists and business days (docs/language.md) through Python: a list file
and a calendar read next to the policy, their bytes in the digest, and a business-day deadline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import probity

POLICY = """\
policy pa version "1" effective 2026-01-01 timezone "Asia/Shanghai"
  calendar "cn.txt"

const cap = 300 USD
list restricted from "lists/restricted.txt"

action pa_deal { security: text  value: money }
action pa_reported { deal: text }

rule restricted_deal "No dealing in restricted securities"
  cite "PA 4"
  on pa_deal
  when action.security in restricted or action.value > cap
  then deny

duty report_deal "Deals are reported within 2 business days"
  cite "PA 5"
  on pa_deal
  due within 2 business days
  fulfilled by pa_reported where deal = action.id
  otherwise review
"""

CALENDAR = "holiday 2026-05-01\nholiday 2026-05-04\nworkday 2026-05-09\n"
LIST = "# restricted\nA1\n  B2  \n"


def deal(security: str, value: str = "10 USD") -> dict:
    return {"type": "pa_deal", "id": "D-1", "at": "2026-04-30T10:00:00+08:00", "rm": {"id": "R1"},
            "security": security, "value": value}


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "lists").mkdir()
    (tmp_path / "pa.probity").write_text(POLICY, encoding="utf-8")
    (tmp_path / "cn.txt").write_text(CALENDAR, encoding="utf-8")
    (tmp_path / "lists" / "restricted.txt").write_text(LIST, encoding="utf-8")
    return tmp_path


def test_lists_calendars_and_business_days_reach_python(policy_dir: Path):
    engine = probity.Engine(probity.PolicySet.from_dir(policy_dir))
    denied = engine.evaluate(deal("B2"))
    assert denied.verdict == "deny"
    assert [f["rule"] for f in denied.findings] == ["restricted_deal"]
    # Thursday 30 April: Friday 1 May and Monday 4 May are holidays, so the second business
    # day is Wednesday 6 May.
    assert denied.obligations == [
        {"policy": "pa", "duty": "report_deal", "action": "D-1", "due": "2026-05-06T10:00:00+08:00"}
    ]
    assert engine.evaluate(deal("X9")).verdict == "allow"
    assert engine.evaluate(deal("X9", "300.01 USD")).verdict == "deny"

    digest = hashlib.sha256(POLICY.encode())
    for path, text in (("cn.txt", CALENDAR), ("lists/restricted.txt", LIST)):
        digest.update(b"\0" + path.encode() + b"\0" + text.encode())
    assert denied.policies[0]["digest"] == "sha256:" + digest.hexdigest()

    # A changed list changes the digest.
    (policy_dir / "lists" / "restricted.txt").write_text(LIST + "C3\n", encoding="utf-8")
    again = probity.Engine(probity.PolicySet.from_dir(policy_dir)).evaluate(deal("C3"))
    assert again.verdict == "deny"
    assert again.policies[0]["digest"] != denied.policies[0]["digest"]


def test_a_missing_list_is_a_policy_error_at_the_list_line(policy_dir: Path):
    (policy_dir / "lists" / "restricted.txt").unlink()
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_dir(policy_dir)
    [error] = caught.value.errors
    assert error["code"] == "P0402" and error["line"] == 5
