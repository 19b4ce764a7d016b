"""The whole spec corpus (`tests/spec/*.yaml`) run through Python.

Every case is run as the Rust test runner runs it (a fresh ledger, seeded with the case's
history, then each step), and every decision and overdue report is compared byte for byte with
the Rust CLI's output for the same input:

* cases without history: `probity replay` of the case's actions as JSON lines, with `--as-of`
  the last step when the case ends with advances (its records are the concatenation of the
  Python steps' records: reports are per RM and in deadline order either way);
* cases with history: `probity eval --history` for each action (`Engine.evaluate` must match it
  exactly, and so must the ledger's decision when the advance before it reported nothing);
* cases that must not load: `probity check --format json` gives the same diagnostic records as
  `PolicyError.diagnostics`.

The case's `expect` block is checked as well (every key the Rust runner checks).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import probity

from conftest import SPEC_DIR, load_yaml

SPEC_FILES = sorted(SPEC_DIR.glob("*.yaml"))


def collect_cases():
    params = []
    for path in SPEC_FILES:
        data = load_yaml(path)
        for index, case in enumerate(data["cases"]):
            params.append(pytest.param(path, index, id=f"{path.stem}::{case['name']}"))
    return params


CASES = collect_cases()


def test_corpus_is_there():
    assert len(SPEC_FILES) >= 9
    assert len(CASES) >= 50


def case_sources(path: Path, data, case):
    """(name, text) of the case's policies, named as the Rust runner names them."""
    out = []
    for i, entry in enumerate(case.get("policies", data.get("policies") or [])):
        if "\n" in entry:
            out.append((f"{path}#{i + 1}", entry))
        else:
            file = path.parent / entry
            out.append((str(file), file.read_text(encoding="utf-8")))
    return out


def write_policies(sources, directory: Path) -> Path:
    directory.mkdir()
    # The list and calendar files the policies read, relative to the policy file.
    for sub in ("lists", "calendars"):
        if (SPEC_DIR / sub).is_dir():
            shutil.copytree(SPEC_DIR / sub, directory / sub)
    for i, (_, text) in enumerate(sources):
        (directory / f"p{i + 1:03}.probity").write_text(text, encoding="utf-8")
    return directory


def run_cli(cli: Path, *args, ok=(0,)) -> str:
    done = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, encoding="utf-8")
    assert done.returncode in ok, f"probity {' '.join(map(str, args))} failed:\n{done.stderr}"
    return done.stdout


def to_json_line(value) -> str:
    # The same JSON the binding builds: floats as their repr, text as is.
    return json.dumps(value, ensure_ascii=False)


# --- expectations, as docs/language.md#test-files and the Rust runner define them -------------


def finding_matches(expected, actual) -> bool:
    if isinstance(expected, str):
        return actual["rule"] == expected
    return all(actual.get(key) == value for key, value in expected.items())


def findings_pair_up(expected, actual) -> bool:
    """Expected and actual findings pair up one to one (a small bipartite matching)."""
    if len(expected) != len(actual):
        return False

    def assign(i, used):
        if i == len(expected):
            return True
        return any(
            j not in used and finding_matches(expected[i], actual[j]) and assign(i + 1, used | {j})
            for j in range(len(actual))
        )

    return assign(0, frozenset())


def check_sanctions(expected, sanctions):
    last = {s["ladder"]: s for s in sanctions}  # the last per ladder
    assert set(last) == set(expected), f"sanctions on ladders {sorted(last)}, expected {sorted(expected)}"
    for ladder, want in expected.items():
        got = last[ladder]
        if isinstance(want, str):
            assert got["step"] == want, f"ladder {ladder}: step {got['step']!r}, expected {want!r}"
        else:
            for key, value in want.items():
                assert got[key] == value, f"ladder {ladder}: {key} {got[key]!r}, expected {value!r}"


def check_decision(expect, decision: probity.Decision, overdue):
    if "verdict" in expect:
        assert decision.verdict == expect["verdict"]
    if "policies" in expect:
        got = Counter(f"{p['id']}@{p['version']}" for p in decision.policies)
        assert got == Counter(expect["policies"])
    if "findings" in expect:
        assert findings_pair_up(expect["findings"], decision.findings), (
            f"findings {[f['rule'] for f in decision.findings]}, expected {expect['findings']}"
        )
    if "obligations" in expect:
        assert Counter(o["duty"] for o in decision.obligations) == Counter(expect["obligations"])
    if "fulfilled" in expect:
        assert Counter(f["duty"] for f in decision.fulfilled) == Counter(expect["fulfilled"])
    if "overdue" in expect:
        assert Counter(r.obligation["duty"] for r in overdue) == Counter(expect["overdue"])
    if "escalations" in expect:
        assert Counter(decision.escalations) == Counter(expect["escalations"])
    if "sanctions" in expect:
        check_sanctions(expect["sanctions"], decision.sanctions)


def check_advance(expect, reports):
    if "overdue" in expect:
        assert Counter(r.obligation["duty"] for r in reports) == Counter(expect["overdue"])
    if "findings" in expect:
        actual = [f for r in reports for f in r.findings]
        assert findings_pair_up(expect["findings"], actual)
    if "escalations" in expect:
        assert Counter(e for r in reports for e in r.escalations) == Counter(expect["escalations"])
    if "sanctions" in expect:
        check_sanctions(expect["sanctions"], [s for r in reports for s in r.sanctions])


# --- the corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize("path,index", CASES)
def test_spec_case(path: Path, index: int, cli: Path, tmp_path: Path):
    data = load_yaml(path)
    case = data["cases"][index]
    sources = case_sources(path, data, case)
    policy_dir = write_policies(sources, tmp_path / "policies")

    if "expect_error" in case:
        check_load_error(case, sources, policy_dir, cli)
        return

    engine = probity.Engine(probity.PolicySet.from_sources(dict(sources)))
    ledger = engine.ledger()
    history = case.get("history")
    if history is not None:
        ledger.load(history)

    # Run the steps through Python, checking expectations, and keep every record.
    records = []  # ("decision" | "overdue", json text)
    steps = case.get("steps") or []
    for number, step in enumerate(steps, 1):
        expect = step.get("expect") or {}
        if "action" in step:
            submission = ledger.submit(step["action"])
            overdue, decision = submission
            assert submission.overdue == overdue and submission.decision == decision
            check_decision(expect, decision, overdue)
            records += [("overdue", r.to_json()) for r in overdue]
            records.append(("decision", decision.to_json()))
            if history is not None:
                check_against_eval(step["action"], history, engine, decision, overdue, cli, tmp_path, policy_dir, number)
        else:
            reports = ledger.advance_to(step["advance"])
            check_advance(expect, reports)
            records += [("overdue", r.to_json()) for r in reports]

    if history is None and steps:
        check_against_replay(steps, records, cli, tmp_path, policy_dir)


def check_against_replay(steps, records, cli, tmp_path: Path, policy_dir: Path):
    actions = [step["action"] for step in steps if "action" in step]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(to_json_line(a) + "\n" for a in actions), encoding="utf-8")
    args = ["replay", "--policies", policy_dir, events]
    trailing = []
    for step in reversed(steps):
        if "action" in step:
            break
        trailing.append(step["advance"])
    if trailing:
        args += ["--as-of", trailing[0]]
    expected = run_cli(cli, *args).splitlines()
    actual = [f'{{"{kind}":{text}}}' for kind, text in records]
    middle_advances = any("advance" in s for s in steps[: len(steps) - len(trailing)])
    if not middle_advances:
        assert actual == expected
    else:
        # A replay cannot advance between lines: the decisions must still be identical, and the
        # overdue reports the same (their place may move when several RMs are involved).
        assert [r for r in actual if r.startswith('{"decision"')] == [r for r in expected if r.startswith('{"decision"')]
        assert Counter(actual) == Counter(expected)


def check_against_eval(action, history, engine, ledger_decision, overdue, cli, tmp_path, policy_dir, number):
    action_file = tmp_path / f"action-{number}.json"
    history_file = tmp_path / "history.json"
    action_file.write_text(to_json_line(action), encoding="utf-8")
    history_file.write_text(to_json_line(history), encoding="utf-8")
    expected = run_cli(cli, "eval", "--policies", policy_dir, action_file, "--history", history_file).rstrip("\n")
    assert engine.evaluate(action, history).to_json() == expected
    assert engine.evaluate_json(to_json_line(action), to_json_line(history)).to_json() == expected
    if number == 1 and not overdue:
        assert ledger_decision.to_json() == expected


def check_load_error(case, sources, policy_dir: Path, cli: Path):
    with pytest.raises(probity.PolicyError) as caught:
        probity.PolicySet.from_sources(dict(sources))
    error = caught.value
    assert error.diagnostics, "a PolicyError carries its diagnostics"
    assert any(d["severity"] == "error" for d in error.diagnostics)
    line = (case["expect_error"] or {}).get("line")
    if line is not None:
        assert line in [d["line"] for d in error.errors], str(error)
    for d in error.diagnostics:
        assert set(d) == {"code", "severity", "message", "help", "file", "line", "column", "end_line", "end_column", "related"}
        assert d["line"] >= 1 and d["column"] >= 1
        assert str(d["line"]) in str(error) or d["message"] in str(error)

    # The same records as the CLI's, once the files have the same names on both sides.
    named = {str(policy_dir / f"p{i + 1:03}.probity"): text for i, (_, text) in enumerate(sources)}
    with pytest.raises(probity.PolicyError) as again:
        probity.PolicySet.from_sources(named)
    expected = json.loads(run_cli(cli, "check", "--format", "json", policy_dir, ok=(0, 1)))
    assert again.value.diagnostics == expected
    # Loading the directory gives the same error.
    with pytest.raises(probity.PolicyError) as from_dir:
        probity.PolicySet.from_dir(policy_dir)
    assert from_dir.value.diagnostics == expected
