#!/usr/bin/env python3
"""Prints the tables of docs/comparison.md from criterion's estimates.

    python3 bench/report.py [BASELINE ...]     (default: system mimalloc)

Reads bench/target/criterion/<group>/<engine>/<BASELINE>/estimates.json, as written by
`cargo bench --bench compare -- --save-baseline BASELINE` (see bench/run.sh), and prints one
Markdown table per group and baseline: the median per evaluation, evaluations per second and
the ratio of each engine's median to Probity's (above 1: Probity is faster).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CRITERION = Path(__file__).resolve().parent / "target" / "criterion"

ROWS = {
    "stateless": [
        ("probity", "**Probity** (action already parsed)"),
        ("probity_from_json", "**Probity** from JSON text (`evaluate_json`)"),
        ("rego", "Rego (regorus)"),
        ("cedar", "Cedar (cedar-policy)"),
        ("jdm", "GoRules JDM (zen-engine)"),
    ],
    "aggregate": [
        ("probity_ledger", "**Probity** `Ledger::evaluate` (history held by the ledger)"),
        ("probity", "**Probity** `Engine::evaluate` (a `History` value decoded on every call)"),
        ("probity_from_json", "**Probity** from JSON text (action + history JSON)"),
        ("rego", "Rego (regorus)"),
        ("jdm", "GoRules JDM (zen-engine)"),
    ],
    "load": [
        ("probity", "**Probity**: parse, static checks, compile"),
        ("rego", "Rego: parse, analyse, first evaluation's preparation"),
        ("cedar", "Cedar: parse"),
        ("jdm", "GoRules JDM: JSON parse and expression compilation (both graphs)"),
    ],
}


def median_ns(group: str, engine: str, baseline: str) -> float | None:
    path = CRITERION / group / engine / baseline / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def duration(ns: float) -> str:
    return f"{ns / 1000:.2f} µs" if ns < 100_000 else f"{ns / 1000:.0f} µs"


def table(group: str, baseline: str) -> list[str]:
    reference = median_ns(group, "probity_ledger" if group == "aggregate" else "probity", baseline)
    if reference is None:
        return [f"(no `{baseline}` estimates for `{group}`)"]
    per = "load" if group == "load" else "evaluation"
    lines = [
        f"| engine | median per {per} | {per}s/s | × Probity |",
        "|---|---|---|---|",
    ]
    for engine, title in ROWS[group]:
        ns = median_ns(group, engine, baseline)
        if ns is None:
            continue
        lines.append(f"| {title} | {duration(ns)} | {1e9 / ns:,.0f} | {ns / reference:.2f} |")
    return lines


def main() -> None:
    baselines = sys.argv[1:] or ["system", "mimalloc"]
    for baseline in baselines:
        for group in ROWS:
            print(f"### {group} ({baseline} allocator)\n")
            print("\n".join(table(group, baseline)))
            print()


if __name__ == "__main__":
    main()
