"""The Python API: every class and method, value conversion, and both error types."""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import json
import pickle
import threading
from pathlib import Path

import pytest

import probity

from conftest import ROOT

CONVERSIONS = """\
policy conv version "1" effective 2026-01-01 timezone "Asia/Shanghai"

record customer { birth_date: date }

action sale {
  customer: customer
  amount: money
  rate: decimal
  units: int
  booked: datetime
  advised: bool
  tags: set of text
}

rule high_rate "High rates are reviewed"
  cite "Rates 1.1"
  on sale
  when action.rate > 0.05
  then review
  message "rate {action.rate}"

rule big "Big sales are reviewed"
  cite "Limits 2"
  on sale
  when action.amount >= 1000.50 CNY
  then review

rule elderly "Elderly customers are denied"
  cite "Age 3"
  on sale
  when age(action.customer.birth_date) >= 70
  then deny, breach major

rule late_booking "Bookings after 18:00 local time are reviewed"
  cite "Hours 4"
  on sale
  when hour(action.booked) >= 18
  then review

rule many "Many units"
  cite "Units 5"
  on sale
  when action.units > 1000000 and action.advised and "vip" in action.tags
  then warn

ladder conduct
  window 12 months
  points major 3
  step 3 "formal warning"
"""

GIFTS = """\
policy gifts version "1" effective 2025-01-01 timezone "Asia/Shanghai"

action gift_received { giver: text  value: money }
action gift_registered { gift: text }

duty gift_register "Gifts of CNY 200 or more are registered within 30 days"
  cite "Gift policy 3.1"
  on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise breach minor

ladder conduct
  window 12 months
  points minor 1, major 3
  step 1 "verbal warning"
"""

BAD = """\
policy p version "1" effective 2026-01-01
action product_sale { amount: money }
rule r "r"
  cite "x"
  on product_sale
  when action.amount_cny > 5 CNY
  then review
rule s "s"
  cite "y"
  on product_sale
  when action.amount > 5000
  then review
"""

UTC8 = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def engine() -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_sources({"conv.probity": CONVERSIONS}))


@pytest.fixture(scope="module")
def gifts() -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_sources({"gifts.probity": GIFTS}))


def sale(**fields):
    action = {
        "type": "sale",
        "id": "S-1",
        "at": "2026-03-01T10:00:00+08:00",
        "rm": {"id": "R1"},
        "customer": {"id": "C1", "birth_date": "1980-05-01"},
        "amount": "500.00 CNY",
        "rate": "0.01",
        "units": 1,
        "booked": "2026-03-01T10:00:00+08:00",
        "advised": False,
        "tags": [],
    }
    action.update(fields)
    return action


def gift(id="G-1", at="2026-03-01T10:00:00+08:00", value="300 CNY", rm="R1"):
    return {"type": "gift_received", "id": id, "at": at, "rm": {"id": rm}, "giver": "ACME", "value": value}


def rules(decision):
    return [f["rule"] for f in decision.findings]


# --- PolicySet ---------------------------------------------------------------------------------


def test_from_sources_dict_and_pairs():
    a = probity.PolicySet.from_sources({"conv.probity": CONVERSIONS})
    b = probity.PolicySet.from_sources([("conv.probity", CONVERSIONS)])
    assert a.versions == b.versions == [("conv", "1")]
    assert a.rule_count == 5
    assert a.warnings == []
    assert "1 policy file" in repr(a)


def test_from_sources_rejects_text_and_non_text():
    with pytest.raises(TypeError, match="name: text"):
        probity.PolicySet.from_sources(CONVERSIONS)
    with pytest.raises(TypeError):
        probity.PolicySet.from_sources({"a.probity": 42})


def test_from_sources_empty_is_an_empty_set():
    empty = probity.PolicySet.from_sources({})
    assert empty.versions == [] and empty.rule_count == 0
    decision = probity.Engine(empty).evaluate(sale())
    assert decision.verdict == "allow" and decision.policies == []


def test_from_dir(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "conv.probity").write_text(CONVERSIONS, encoding="utf-8")
    (tmp_path / "gifts.probity").write_text(GIFTS, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a policy", encoding="utf-8")
    by_str = probity.PolicySet.from_dir(str(tmp_path))
    by_path = probity.PolicySet.from_dir(tmp_path)  # os.PathLike
    assert sorted(by_str.versions) == sorted(by_path.versions) == [("conv", "1"), ("gifts", "1")]
    from_sources = probity.PolicySet.from_sources({"conv.probity": CONVERSIONS, "gifts.probity": GIFTS})
    assert probity.Engine(by_str).evaluate(sale()) == probity.Engine(from_sources).evaluate(sale())


def test_from_dir_of_the_repository_policies():
    policies = ROOT / "policies"
    if not any(policies.rglob("*.probity")):
        pytest.skip("no policies in the repository")
    loaded = probity.PolicySet.from_dir(policies)
    assert loaded.versions


def test_from_dir_missing_is_an_os_error(tmp_path: Path):
    with pytest.raises(OSError, match="cannot read"):
        probity.PolicySet.from_dir(tmp_path / "missing")


def test_from_dir_bad_policy_names_the_file(tmp_path: Path):
    (tmp_path / "bad.probity").write_text(BAD, encoding="utf-8")
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_dir(tmp_path)
    assert {d["file"] for d in caught.value.diagnostics} == {str(tmp_path / "bad.probity")}


# --- PolicyError ---------------------------------------------------------------------------------


def test_policy_error_carries_every_diagnostic_with_line_and_column():
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_sources({"bad.probity": BAD})
    error = caught.value
    assert isinstance(error, probity.ProbityError)
    errors = error.errors
    assert [(d["line"], d["column"]) for d in errors] == [(6, 15), (11, 8)]
    first = errors[0]
    assert first == {
        "code": first["code"],
        "severity": "error",
        "message": "action `product_sale` has no field `amount_cny`",
        "help": "did you mean `amount`?",
        "file": "bad.probity",
        "line": 6,
        "column": 15,
        "end_line": 6,
        "end_column": 25,
        "related": [],
    }
    assert first["code"].startswith("P")
    assert all(d["severity"] in ("error", "warning") for d in error.diagnostics)
    text = str(error)
    assert text.startswith("2 error(s)")
    assert "bad.probity:6:15" in text  # the excerpt's location
    assert "when action.amount_cny > 5 CNY" in text  # the source line
    assert "did you mean `amount`?" in text
    assert first["code"] in text


def test_policy_error_is_picklable_and_constructible():
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_sources({"bad.probity": BAD})
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.diagnostics == caught.value.diagnostics and str(copy) == str(caught.value)
    made = probity.PolicyError("message")
    assert made.diagnostics == [] and str(made) == "message"


def test_syntax_error_and_warning_records():
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_sources({"p.probity": 'policy p version "1" effective 2026-01-01\nrule r "r"\n  onn x\n'})
    assert any(d["line"] == 3 for d in caught.value.errors)
    # A set that loads keeps its warnings (a rule without `cite`).
    loaded = probity.PolicySet.from_sources(
        {"w.probity": 'policy w version "1" effective 2026-01-01\naction a { }\nrule r "r"\n  on a\n  then review\n'}
    )
    assert [(w["severity"], w["line"]) for w in loaded.warnings] == [("warning", 3)]


# --- Engine and Decision -------------------------------------------------------------------------


def test_evaluate_and_decision_attributes(engine):
    decision = engine.evaluate(sale(rate="0.06", amount="2000 CNY"))
    assert isinstance(decision, probity.Decision)
    assert decision.action == "S-1"
    assert decision.at == "2026-03-01T10:00:00+08:00"
    assert decision.verdict == "review"
    assert rules(decision) == ["high_rate", "big"]
    assert decision.findings[0]["message"] == "rate 0.06"
    assert decision.policies == [{"id": "conv", "version": "1", "digest": decision.policies[0]["digest"]}]
    assert decision.policies[0]["digest"].startswith("sha256:")
    assert decision.obligations == [] and decision.fulfilled == []
    assert decision.escalations == [] and decision.sanctions == []
    assert "review" in repr(decision)


def test_to_dict_and_to_json_agree(engine):
    decision = engine.evaluate(sale(customer={"id": "C1", "birth_date": "1950-01-01"}))
    text = decision.to_json()
    assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))  # compact
    assert decision.to_dict() == json.loads(text)
    assert list(decision.to_dict()) == [
        "action", "at", "verdict", "policies", "findings", "obligations", "fulfilled", "escalations", "sanctions",
    ]
    assert decision.verdict == "deny"
    assert decision.sanctions == [
        {"policy": "conv", "ladder": "conduct", "points": 3, "step": "formal warning", "previous": None}
    ]
    assert probity.Decision.from_json(text) == decision
    assert probity.Decision.from_json(text).to_json() == text


def test_decision_is_not_constructible():
    with pytest.raises(TypeError):
        probity.Decision()


def test_decision_equality(engine):
    assert engine.evaluate(sale()) == engine.evaluate(sale())
    assert engine.evaluate(sale()) != engine.evaluate(sale(id="S-2"))
    assert engine.evaluate(sale()) != "not a decision"


def test_evaluate_json(engine):
    action = sale(rate="0.06")
    assert engine.evaluate_json(json.dumps(action)) == engine.evaluate(action)
    with pytest.raises(probity.InputError, match="invalid JSON"):
        engine.evaluate_json("{not json")


def test_engines_share_a_policy_set():
    policies = probity.PolicySet.from_sources({"conv.probity": CONVERSIONS})
    one, two = probity.Engine(policies), probity.Engine(policies)
    assert one.evaluate(sale()) == two.evaluate(sale())
    assert one.policy_set.versions == policies.versions
    with pytest.raises(TypeError):
        probity.Engine("not a policy set")


def test_evaluate_with_history_and_fulfilment(gifts):
    history = {
        "actions": [gift(id="G-0", at="2026-02-01T10:00:00+08:00")],
        "obligations": [
            {"policy": "gifts", "duty": "gift_register", "action": "G-0", "due": "2026-03-03T10:00:00+08:00"}
        ],
    }
    registered = {"type": "gift_registered", "id": "GR-1", "at": "2026-03-01T09:00:00+08:00", "rm": {"id": "R1"}, "gift": "G-0"}
    decision = gifts.evaluate(registered, history)
    assert decision.fulfilled == [{"policy": "gifts", "duty": "gift_register", "action": "G-0"}]
    assert gifts.evaluate(registered).fulfilled == []
    assert gifts.evaluate(registered, None).fulfilled == []


def test_overdue_is_pure(gifts):
    history = {
        "obligations": [
            {"rm": "R1", "policy": "gifts", "duty": "gift_register", "action": "G-0", "due": "2026-03-03T10:00:00+08:00"}
        ]
    }
    for at in ("2026-04-01T00:00:00+08:00", dt.datetime(2026, 4, 1, tzinfo=UTC8)):
        reports = gifts.overdue(history, at)
        assert [r.obligation["duty"] for r in reports] == ["gift_register"]
    assert gifts.overdue(history, "2026-03-02T00:00:00+08:00") == []


# --- Ledger ---------------------------------------------------------------------------------------


def test_ledger_submit_advance_and_reports(gifts):
    ledger = gifts.ledger()
    submission = ledger.submit(gift())
    overdue, decision = submission
    assert overdue == [] and submission.overdue == []
    assert submission.decision == decision == submission[1] == submission[-1]
    assert len(submission) == 2 and list(submission) == [overdue, decision]
    assert [o["duty"] for o in decision.obligations] == ["gift_register"]
    assert "Submission" in repr(submission)
    assert ledger.rm_count == 1 and ledger.retained_items >= 1
    assert ledger.open_obligations() == (1, 0)

    assert ledger.advance_to("2026-03-31T10:00:00+08:00") == []  # the deadline itself is on time
    reports = ledger.advance_to(dt.datetime(2026, 3, 31, 2, 0, 1, tzinfo=dt.timezone.utc))
    assert len(reports) == 1
    report = reports[0]
    assert isinstance(report, probity.OverdueReport)
    assert report.rm == "R1" and report.at == "2026-03-31T10:00:00+08:00"
    assert report.obligation == {"policy": "gifts", "duty": "gift_register", "action": "G-1", "due": "2026-03-31T10:00:00+08:00"}
    assert [(f["kind"], f["severity"]) for f in report.findings] == [("overdue", "minor")]
    assert report.escalations == []
    assert [s["step"] for s in report.sanctions] == ["verbal warning"]
    assert report.to_dict() == json.loads(report.to_json())
    assert "gift_register" in repr(report)
    assert ledger.open_obligations() == (0, 1)

    # A late registration closes the obligation; its breach stands.
    overdue, decision = ledger.submit(
        {"type": "gift_registered", "id": "GR-1", "at": "2026-04-02T10:00:00+08:00", "rm": {"id": "R1"}, "gift": "G-1"}
    )
    assert overdue == [] and [f["duty"] for f in decision.fulfilled] == ["gift_register"]
    assert ledger.open_obligations() == (0, 0)


def test_ledger_reports_overdue_before_the_action(gifts):
    ledger = gifts.ledger()
    ledger.submit(gift(id="G-1"))
    overdue, decision = ledger.submit(gift(id="G-2", at="2026-05-01T10:00:00+08:00"))
    assert [r.obligation["action"] for r in overdue] == ["G-1"]
    assert decision.action == "G-2"


def test_ledger_load(gifts):
    ledger = gifts.ledger()
    ledger.load(
        {
            "actions": [gift(id="G-0", at="2026-01-01T10:00:00+08:00")],
            "breaches": [
                {"rm": "R1", "policy": "gifts", "rule": "gift_register", "severity": "minor", "ladder": "conduct",
                 "at": "2026-01-15T10:00:00+08:00", "action": "G-0"}
            ],
            "obligations": [
                {"rm": "R1", "policy": "gifts", "duty": "gift_register", "action": "G-0", "due": "2026-01-31T10:00:00+08:00"}
            ],
        }
    )
    assert ledger.rm_count == 1
    assert ledger.open_obligations() == (1, 0)
    reports = ledger.advance_to("2026-03-01T00:00:00+08:00")
    assert [r.obligation["action"] for r in reports] == ["G-0"]
    assert reports[0].sanctions[0]["points"] == 2  # the loaded breach counts too
    with pytest.raises(probity.InputError, match="rm"):
        gifts.ledger().load({"breaches": [{"policy": "gifts", "rule": "x", "severity": "minor", "at": "2026-01-01T00:00:00Z", "action": "A"}]})


def test_ledger_rejects_actions_out_of_order(gifts):
    ledger = gifts.ledger()
    ledger.submit(gift(id="G-2", at="2026-03-02T10:00:00+08:00"))
    with pytest.raises(probity.InputError, match="time order"):
        ledger.submit(gift(id="G-1", at="2026-03-01T10:00:00+08:00"))
    # Nothing was recorded, and the ledger still works.
    assert ledger.submit(gift(id="G-3", at="2026-03-03T10:00:00+08:00")).decision.action == "G-3"
    # Another RM has its own clock.
    assert ledger.submit(gift(id="G-4", at="2026-03-01T10:00:00+08:00", rm="R2")).decision.action == "G-4"
    assert ledger.rm_count == 2
    assert "Ledger" in repr(ledger)


def test_advance_to_rejects_bad_times(gifts):
    ledger = gifts.ledger()
    with pytest.raises(probity.InputError, match="no UTC offset"):
        ledger.advance_to("2026-03-01T10:00:00")
    with pytest.raises(probity.InputError, match="naive"):
        ledger.advance_to(dt.datetime(2026, 3, 1))
    with pytest.raises(probity.InputError, match="RFC 3339"):
        ledger.advance_to("yesterday")
    with pytest.raises(TypeError, match="timezone-aware datetime"):
        ledger.advance_to(1767225600)
    with pytest.raises(TypeError):
        ledger.advance_to(dt.date(2026, 3, 1))


# --- InputError -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, message",
    [
        ([], "an action is a JSON object"),
        ("text", "an action is a JSON object"),
        ({"id": "S", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}, "`type`"),
        ({"type": "sale", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}, "`id`"),
        ({"type": "sale", "id": "S", "rm": {"id": "R"}}, "`at`"),
        ({"type": "sale", "id": "S", "at": "soon", "rm": {"id": "R"}}, "`at`"),
        ({"type": "sale", "id": "S", "at": "2026-03-01T10:00:00", "rm": {"id": "R"}}, "no UTC offset"),
        ({"type": "sale", "id": "S", "at": "2026-03-01T10:00:00Z"}, "`rm`"),
        ({"type": "sale", "id": "S", "at": "2026-03-01T10:00:00Z", "rm": {}}, "`rm.id`"),
        ({"type": "sale", "id": "", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}, "must not be empty"),
    ],
)
def test_bad_actions_are_input_errors(engine, action, message):
    with pytest.raises(probity.InputError, match=message):
        engine.evaluate(action)
    with pytest.raises(probity.InputError, match=message):
        engine.ledger().submit(action)


def test_input_error_is_a_value_error(engine):
    with pytest.raises(ValueError):
        engine.evaluate({})


def test_naive_datetime_is_rejected(engine):
    with pytest.raises(probity.InputError, match="naive") as caught:
        engine.evaluate(sale(at=dt.datetime(2026, 3, 1, 10, 0)))
    assert "`action.at`" in str(caught.value)
    with pytest.raises(probity.InputError, match=r"`action\.booked`.*naive"):
        engine.evaluate(sale(booked=dt.datetime(2026, 3, 1, 10, 0)))


def test_offset_with_seconds_is_rejected(engine):
    odd = dt.timezone(dt.timedelta(hours=8, seconds=30))
    with pytest.raises(probity.InputError, match="whole number of minutes"):
        engine.evaluate(sale(at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=odd)))


@pytest.mark.parametrize(
    "value, message",
    [
        (object(), "cannot convert a value of type `object`"),
        ({"vip"}, "sorted list"),
        (frozenset(), "sorted list"),
        (b"bytes", "`bytes`"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (decimal.Decimal("NaN"), "not a finite number"),
        (decimal.Decimal("-Infinity"), "not a finite number"),
        ({1: "a"}, "keys must be text"),
    ],
)
def test_unconvertible_values_are_input_errors(engine, value, message):
    with pytest.raises(probity.InputError, match=message) as caught:
        engine.evaluate(sale(tags=[value]))
    assert "`action.tags[0]`" in str(caught.value)


def test_nesting_is_bounded(engine):
    deep = "x"
    for _ in range(70):
        deep = [deep]
    with pytest.raises(probity.InputError, match="nests too deeply"):
        engine.evaluate(sale(extra=deep))
    # 62 levels below the action (64 in all) is fine: unknown fields are ignored.
    ok = "x"
    for _ in range(62):
        ok = [ok]
    assert engine.evaluate(sale(extra=ok)).verdict == "allow"


def test_self_containing_values_do_not_crash(engine):
    loop = []
    loop.append(loop)
    with pytest.raises(probity.InputError, match="nests too deeply"):
        engine.evaluate(sale(extra=loop))
    cycle = {}
    cycle["self"] = cycle
    with pytest.raises(probity.InputError):
        engine.evaluate(cycle)


def test_bad_history_is_an_input_error(engine):
    with pytest.raises(probity.InputError, match="history"):
        engine.evaluate(sale(), {"actions": [], "unexpected": []})
    with pytest.raises(probity.InputError, match="history"):
        engine.evaluate(sale(), {"actions": [{"type": "sale"}]})
    with pytest.raises(probity.InputError, match="naive"):
        engine.evaluate(sale(), {"actions": [sale(at=dt.datetime(2026, 1, 1))]})
    with pytest.raises(probity.InputError, match="history"):
        engine.evaluate(sale(), [])


def test_declared_field_of_the_wrong_form_is_an_error_finding_not_an_exception(engine):
    decision = engine.evaluate(sale(rate="oops"))
    assert [f["kind"] for f in decision.findings] == ["error"]
    assert decision.verdict != "allow"


# --- conversions that are accepted ----------------------------------------------------------------


def test_decimal_float_and_text_are_the_same_number(engine):
    as_text = engine.evaluate(sale(rate="0.1")).to_json()
    assert engine.evaluate(sale(rate=0.1)).to_json() == as_text  # float through its repr
    assert engine.evaluate(sale(rate=decimal.Decimal("0.1"))).to_json() == as_text
    decision = engine.evaluate(sale(rate=0.1))
    assert decision.findings[0]["message"] == "rate 0.1"
    assert decision.findings[0]["evidence"]["action.rate"] in (0.1, "0.1")
    # 0.1 + 0.2 is not 0.3 in binary, and the binding does not pretend otherwise.
    assert engine.evaluate(sale(rate=0.1 + 0.2)).findings[0]["message"] == "rate 0.30000000000000004"


def test_decimal_with_an_exponent_is_written_in_full(engine):
    small = engine.evaluate(sale(rate=decimal.Decimal("6E-2")))
    assert small.findings[0]["message"] == "rate 0.06"
    assert engine.evaluate(sale(rate=decimal.Decimal("1E-7"))).verdict == "allow"


def test_money_with_decimal_amount(engine):
    text = engine.evaluate(sale(amount="1000.50 CNY"))
    as_object = engine.evaluate(sale(amount={"amount": decimal.Decimal("1000.50"), "currency": "CNY"}))
    assert rules(text) == rules(as_object) == ["big"]
    assert text.to_json() == as_object.to_json()
    below = engine.evaluate(sale(amount={"amount": decimal.Decimal("1000.49"), "currency": "CNY"}))
    assert rules(below) == []


def test_int_bool_and_tuple(engine):
    decision = engine.evaluate(sale(units=2_000_000, advised=True, tags=("vip", "new")))
    assert rules(decision) == ["many"]
    with_lists = engine.evaluate(sale(units=2_000_000, advised=True, tags=["vip", "new"]))
    assert decision.to_json() == with_lists.to_json()
    # An int beyond 64 bits still converts; the engine reports it as a bad value, not a crash.
    huge = engine.evaluate(sale(units=10**30, advised=True, tags=["vip"]))
    assert [f["kind"] for f in huge.findings] in (["error"], ["rule"])


def test_date_and_aware_datetime(engine):
    as_text = engine.evaluate(sale(customer={"id": "C1", "birth_date": "1950-03-01"}, booked="2026-03-01T19:00:00+08:00"))
    as_objects = engine.evaluate(
        sale(
            at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC8),
            customer={"id": "C1", "birth_date": dt.date(1950, 3, 1)},
            booked=dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.timezone.utc),  # 19:00 in Beijing
        )
    )
    assert rules(as_text) == rules(as_objects) == ["elderly", "late_booking"]
    assert as_objects.at == "2026-03-01T10:00:00+08:00"


def test_zoneinfo_datetime():
    zoneinfo = pytest.importorskip("zoneinfo")
    engine = probity.Engine(probity.PolicySet.from_sources({"conv.probity": CONVERSIONS}))
    try:
        shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database")
    decision = engine.evaluate(sale(at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=shanghai)))
    assert decision.at == "2026-03-01T10:00:00+08:00"


def test_mapping_subclasses_and_str_subclasses(engine):
    from collections import OrderedDict
    from enum import Enum

    class Channel(str, Enum):
        BRANCH = "vip"

    assert rules(engine.evaluate(OrderedDict(sale(units=2_000_000, advised=True, tags=[Channel.BRANCH])))) == ["many"]


# --- threads ----------------------------------------------------------------------------------------


def test_evaluations_from_many_threads(engine):
    expected = engine.evaluate(sale(rate="0.06")).to_json()
    results, errors = [], []

    def work():
        try:
            for _ in range(200):
                results.append(engine.evaluate(sale(rate="0.06")).to_json())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 800 and set(results) == {expected}


def test_one_ledger_from_many_threads(gifts):
    ledger = gifts.ledger()
    errors = []

    def work(rm):
        try:
            for day in range(1, 29):
                ledger.submit(gift(id=f"{rm}-{day}", at=f"2026-02-{day:02}T10:00:00+08:00", rm=rm, value="10 CNY"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"R{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Calls on one ledger take turns (each RM's actions stay in order).
    assert errors == []
    assert ledger.rm_count == 4
    assert ledger.open_obligations() == (0, 0)


# --- the stubs match the module ---------------------------------------------------------------------


def test_stubs_match_the_native_module():
    stub = Path(probity.__file__).with_name("_probity.pyi")
    assert Path(probity.__file__).with_name("py.typed").exists()
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    native = probity._probity
    assert set(classes) == {name for name in dir(native) if isinstance(getattr(native, name), type)}
    for name, node in classes.items():
        declared = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
        actual = {attr for attr in dir(getattr(native, name)) if not attr.startswith("_")}
        assert {d for d in declared if not d.startswith("_")} == actual, name
    for name in probity.__all__:
        assert hasattr(probity, name)
