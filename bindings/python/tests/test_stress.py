"""10,000 evaluations (and as many ledger submissions) neither leak nor crash."""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import os
import sys

import pytest

import probity

from conftest import SPEC_DIR, load_yaml

N = 10_000


def rss_bytes() -> int:
    """The resident set size now (Linux), else the peak (which can only over-report growth)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture(scope="module")
def basics() -> probity.Engine:
    data = load_yaml(SPEC_DIR / "01_basics.yaml")
    return probity.Engine(probity.PolicySet.from_sources({"basics.probity": data["policies"][0]}))


def action(i: int):
    return {
        "type": "product_sale",
        "id": f"S-{i}",
        "at": dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.timezone.utc) + dt.timedelta(hours=i),
        "rm": {"id": f"R{i % 7}"},
        "customer": {"id": "C1", "risk_level": 3},
        "product_risk": 1 + i % 5,  # some sales are unsuitable: deny, breach, sanction
        "amount": {"amount": decimal.Decimal(i * 250) + decimal.Decimal("0.5"), "currency": "CNY"},
        "note": [0.1 * i, "文本", None, True],
    }


def run_evaluations(engine: probity.Engine, count: int) -> int:
    denied = 0
    for i in range(count):
        decision = engine.evaluate(action(i))
        denied += decision.verdict == "deny"
        decision.to_json()
        decision.to_dict()
        decision.findings
        if i % 10 == 0:
            with pytest.raises(probity.InputError):
                engine.evaluate({"type": "product_sale", "id": f"S-{i}", "at": dt.datetime(2026, 3, 1)})
    return denied


def test_ten_thousand_evaluations_do_not_leak(basics):
    run_evaluations(basics, 1_000)  # warm up caches and allocator pools
    gc.collect()
    before = rss_bytes()
    denied = run_evaluations(basics, N)
    gc.collect()
    grown = rss_bytes() - before
    assert denied == 4_000  # product risk 4 and 5 exceed level 3
    assert grown < 16 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB over {N} evaluations"


def test_inputs_are_not_kept_alive(basics):
    one = action(1)
    history = {"actions": [action(0)]}
    refs = (sys.getrefcount(one), sys.getrefcount(history), sys.getrefcount(one["customer"]))
    for _ in range(1_000):
        basics.evaluate(one, history)
    assert (sys.getrefcount(one), sys.getrefcount(history), sys.getrefcount(one["customer"])) == refs


def test_ten_thousand_submissions_stay_bounded(basics):
    ledger = basics.ledger()
    sizes = []
    for i in range(N):
        overdue, decision = ledger.submit(action(i))
        assert decision.action == f"S-{i}"
        if i % 1000 == 999:
            sizes.append(ledger.retained_items)
    # 10,000 hours is longer than the ladder's 12-month window (8,760 hours): once the window
    # is full, old breaches are dropped as new ones come, and the ledger stops growing.
    assert ledger.rm_count == 7
    assert sizes[-1] <= sizes[-2] + 10
    assert sizes[-1] < N // 2


def test_policy_errors_repeatedly(basics):
    gc.collect()
    before = rss_bytes()
    for _ in range(1_000):
        with pytest.raises(probity.PolicyError) as caught:
            probity.PolicySet.from_sources({"bad.probity": 'policy p version "1" effective 2026-01-01\nrule r "r" onn x\n'})
        assert caught.value.diagnostics
    gc.collect()
    assert rss_bytes() - before < 16 * 1024 * 1024
