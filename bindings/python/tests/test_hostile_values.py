"""Hostile values through the Python binding: integers too long for any field are the binding's
own `InputError` naming the field, not CPython's `set_int_max_str_digits` ValueError."""

from __future__ import annotations

import sys

import pytest

import probity

POLICY = """policy p version "1" effective 2026-01-01
action t { n: int  d: decimal  m: money }
rule n cite "c" on t when action.n > 0 then warn
rule d cite "c" on t when action.d > 0 then warn
rule m cite "c" on t when action.m > 0 CNY then warn
"""


@pytest.fixture(scope="module")
def engine():
    return probity.Engine(probity.PolicySet.from_sources({"p.probity": POLICY}))


def action(**fields):
    return {"type": "t", "id": "A-1", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"}, **fields}


@pytest.mark.parametrize("value", [10**5000, -(10**5000), 2**2049, 10**100_000], ids=["1e5000", "-1e5000", "2^2049", "1e100000"])
def test_an_integer_past_every_range_is_an_input_error(engine, value):
    with pytest.raises(probity.InputError) as caught:
        engine.evaluate(action(n=value))
    message = str(caught.value)
    assert "set_int_max_str_digits" not in message
    assert "action.n" in message and "out of range" in message, message


def test_the_digit_limit_does_not_matter(engine):
    # At the lowest limit CPython allows, an integer is either passed on as digits (a field
    # error) or refused by the binding: never CPython's ValueError.
    if not hasattr(sys, "set_int_max_str_digits"):
        pytest.skip("no integer digit limit in this Python")
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        for value in (2**2047, 10**616):
            decision = engine.evaluate(action(n=value, d=1, m="1 CNY"))
            assert [f["kind"] for f in decision.findings if f["rule"] == "n"] == ["error"]
        for value in (2**2048, 10**639 + 1, 10**700):
            with pytest.raises(probity.InputError) as caught:
                engine.evaluate(action(n=1, d=1, m="1 CNY", extra={"deep": [value]}))
            message = str(caught.value)
            assert "set_int_max_str_digits" not in message and "action.extra.deep[0]" in message, message
    finally:
        sys.set_int_max_str_digits(previous)


def test_a_long_integer_that_fits_no_field_is_still_a_field_error(engine):
    # 2**100 is passed on as digits: the rule reading it fails closed, others are unaffected.
    decision = engine.evaluate(action(n=2**100, d=1, m="1 CNY"))
    kinds = {f["rule"]: f["kind"] for f in decision.findings}
    assert kinds == {"n": "error", "d": "rule", "m": "rule"}
    assert decision.verdict == "review"


@pytest.mark.parametrize(("points", "message"), [(1e30, "whole number from 0 to"), (-5, "must not be negative"), (2.5, "found 2.5")])
def test_history_points_are_whole_and_not_negative(engine, points, message):
    breach = {"policy": "p", "rule": "n", "severity": "major", "at": "2026-02-01T10:00:00+08:00", "action": "A-0", "points": points}
    with pytest.raises(probity.InputError, match=message) as caught:
        engine.evaluate(action(n=1, d=1, m="1 CNY"), history={"breaches": [breach]})
    assert "floating point" not in str(caught.value)
