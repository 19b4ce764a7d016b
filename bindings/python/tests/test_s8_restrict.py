"""Restrictions (docs/language.md, "Restrictions") through Python: a reached ladder step holds
later actions back, from a ledger's own records and from a history's breaches, and its mistakes
are policy errors with their code and line."""

from __future__ import annotations

import pytest

import probity

POLICY = """\
policy sales version "1" effective 2026-01-01 timezone "Asia/Shanghai"

action product_sale { amount: money }
action mis_sale { }

rule mis_sale_breach "A mis-sale" cite "Conduct 1" on mis_sale then breach major

ladder conduct
  window 12 months
  points major 3
  step 6 "suspension from sales" restricts product_sale for 90 days
  step 9 "dismissal review" restricts all
"""


def act(kind: str, id: str, at: str) -> dict:
    a = {"type": kind, "id": id, "at": at, "rm": {"id": "R1"}}
    if kind == "product_sale":
        a["amount"] = "500 CNY"
    return a


def breach(at: str) -> dict:
    return {"rm": "R1", "policy": "sales", "rule": "mis_sale_breach", "severity": "major",
            "ladder": "conduct", "at": at, "action": "M-" + at}


@pytest.fixture
def engine() -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_sources({"sales.probity": POLICY}))


def test_a_ledger_restricts_the_actions_after_the_reaching_one(engine: probity.Engine):
    ledger = engine.ledger()
    ledger.submit(act("mis_sale", "M-1", "2026-03-01T10:00:00+08:00"))
    reaching = ledger.submit(act("mis_sale", "M-2", "2026-03-01T10:00:00+08:00")).decision
    assert reaching.verdict == "allow"
    assert [s["step"] for s in reaching.sanctions] == ["suspension from sales"]
    denied = ledger.submit(act("product_sale", "S-1", "2026-03-01T10:00:00+08:00")).decision
    assert denied.verdict == "deny"
    [finding] = denied.findings
    assert finding == {
        "policy": "sales",
        "rule": "conduct",
        "kind": "restriction",
        "outcomes": ["deny"],
        "message": finding["message"],
        "cite": [],
        "evidence": {
            "step": "suspension from sales",
            "reached": "2026-03-01T10:00:00+08:00",
            "until": "2026-05-30T10:00:00+08:00",
            "points": 6,
        },
    }
    assert "suspension from sales" in finding["message"] and "product_sale" in finding["message"]
    # At reached + 90 days the restriction is over.
    assert ledger.submit(act("product_sale", "S-2", "2026-05-30T10:00:00+08:00")).decision.verdict == "allow"


def test_evaluate_derives_restrictions_from_the_history(engine: probity.Engine):
    history = {"breaches": [breach("2026-03-01T10:00:00+08:00"), breach("2026-03-02T10:00:00+08:00"),
                            breach("2026-03-03T10:00:00+08:00")]}
    d = engine.evaluate(act("mis_sale", "M-9", "2026-03-04T10:00:00+08:00"), history)
    # `restricts all`, without `for`: its `until` is null.
    assert [f["kind"] for f in d.findings] == ["rule", "restriction"]
    restriction = d.findings[1]
    assert restriction["evidence"] == {"step": "dismissal review", "reached": "2026-03-03T10:00:00+08:00",
                                       "until": None, "points": 9}
    # The same decision from a ledger seeded with that history, and the same JSON.
    ledger = engine.ledger()
    ledger.load(history)
    assert ledger.submit(act("mis_sale", "M-9", "2026-03-04T10:00:00+08:00")).decision.to_json() == d.to_json()
    # Before the breach that reached it, nothing is restricted.
    early = engine.evaluate(act("mis_sale", "M-0", "2026-03-02T12:00:00+08:00"), history)
    assert [f["kind"] for f in early.findings] == ["rule"]


@pytest.mark.parametrize(
    ("step", "code"),
    [
        ('step 6 "s" restricts product_sales', "P0420"),
        ('step 6 "s" restricts product_sale, product_sale', "P0421"),
        ('step 6 "s" restricts all, product_sale', "P0422"),
        ('step 6 "s" restricts product_sale for 0 days', "P0423"),
    ],
)
def test_restriction_mistakes_are_policy_errors_at_the_step(step: str, code: str):
    source = POLICY.replace('step 6 "suspension from sales" restricts product_sale for 90 days', step)
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_sources({"sales.probity": source})
    [error] = [e for e in caught.value.errors if e["severity"] == "error"]
    assert (error["code"], error["line"]) == (code, 11)
    assert error["help"]
