# %% [markdown]
# # Replaying six months of RM activity with the Python binding
#
# Loads the PRC wealth-sales policies, replays the sample events (`examples/events.jsonl`: 5,865
# actions of 50 relationship managers) into pandas, and looks at the breaches per rule and per
# branch. Run it as a script (`python examples/python_replay.py` from the repository root) or cell
# by cell in an editor that understands `# %%` (VS Code, PyCharm, Jupytext).
#
# Needs `pip install ./bindings/python pandas`.

# %%
from pathlib import Path

import pandas as pd

import probity

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
engine = probity.Engine(probity.PolicySet.from_dir(ROOT / "policies" / "cn"))
engine.policy_set.versions

# %% [markdown]
# The events, one row per action. `dtype=False` keeps every value as written (timestamps as text,
# booleans as booleans); nested records (`rm`, `customer`) are dict columns.

# %%
events = pd.read_json(ROOT / "examples" / "events.jsonl", lines=True, dtype=False)
events[["type", "id", "at"]].head()

# %% [markdown]
# Replay them: one row per record. `as_of` closes the period, reporting the obligations still
# overdue at the end of it; `summary=True` also returns the counts the CLI prints.

# %%
decisions, summary = engine.replay(events, as_of="2026-05-01T00:00:00+08:00", summary=True)
print(summary["table"])
decisions[["kind", "line", "action", "rm", "verdict", "rules", "sanctions"]].head(10)

# %%
decisions[decisions["kind"] == "decision"].groupby("verdict").size()

# %% [markdown]
# One row per finding. A breach is a finding with a severity.

# %%
findings = engine.replay(events, as_of="2026-05-01T00:00:00+08:00", output="findings")
breaches = findings[findings["severity"].notna()]
per_rule = breaches.pivot_table(index="rule", columns="severity", values="action", aggfunc="count", fill_value=0)
per_rule["total"] = per_rule.sum(axis=1)
per_rule.sort_values("total", ascending=False)

# %% [markdown]
# Breaches per branch: each RM's branch comes from the events' `rm` column.

# %%
branch_of = {rm["id"]: rm["branch"] for rm in events["rm"]}
breaches = breaches.assign(branch=breaches["rm"].map(branch_of))
per_branch = breaches.groupby(["branch", "severity"]).size().unstack(fill_value=0)
per_branch["total"] = per_branch.sum(axis=1)
per_branch.sort_values("total", ascending=False)

# %% [markdown]
# The worst sanction step each RM reached, and where to look first.

# %%
sanctioned = decisions[decisions["sanctions"] != ""]
latest = sanctioned.groupby("rm").tail(1)[["rm", "at", "sanctions"]]
latest.assign(branch=latest["rm"].map(branch_of)).sort_values("at").tail(10)

# %%
if __name__ == "__main__":
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\nBreaches per rule:\n", per_rule.sort_values("total", ascending=False), sep="")
        print("\nBreaches per branch:\n", per_branch.sort_values("total", ascending=False), sep="")
