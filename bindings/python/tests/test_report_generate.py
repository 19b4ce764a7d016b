"""`Engine.replay(..., report=...)` writes the report `probity replay --report` writes, and
`probity.generate` writes the bytes `probity generate` writes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import probity

from conftest import ROOT

POLICIES = ROOT / "policies" / "cn"
EVENTS = ROOT / "examples" / "events.jsonl"
AS_OF = "2026-06-01T00:00:00+08:00"


def body(html: str) -> str:
    """The report without its header's description of the inputs (which each surface names
    in its own way)."""
    return re.sub(r'<dl class="meta">.*?</dl>', "", html, count=1, flags=re.S)


@pytest.fixture(scope="module")
def engine() -> probity.Engine:
    return probity.Engine(probity.PolicySet.from_dir(POLICIES))


@pytest.fixture(scope="module")
def cli_report(cli: Path, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cli") / "report.html"
    done = subprocess.run(
        [str(cli), "replay", "--policies", str(POLICIES), str(EVENTS), "--as-of", AS_OF, "--out", "/dev/null",
         "--report", str(path)],
        capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr.decode()
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("output", ["decisions", "jsonl"])
def test_replay_writes_the_cli_report(engine, cli_report, tmp_path, output):
    path = tmp_path / "report.html"
    records = engine.replay(EVENTS, as_of=AS_OF, output=output, report=path, jobs=2)
    assert records, "the records are returned as without a report"
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Breaches per rule</h2>" in html
    assert body(html) == body(cli_report)
    assert f"<code>{EVENTS}</code>" in html
    assert "cn_wealth_sales " in html, "the header names the policy versions"


def test_replay_of_rows_reports_them_too(engine, cli_report, tmp_path):
    path = tmp_path / "report.html"
    with open(EVENTS, encoding="utf-8") as f:
        lines = f.read().encode()
    engine.replay(lines, as_of=AS_OF, report=str(path))
    html = path.read_text(encoding="utf-8")
    assert body(html) == body(cli_report)
    assert "(events in memory)" in html


def test_a_report_that_cannot_be_written_is_an_os_error(engine, tmp_path):
    with pytest.raises(OSError, match="cannot write the report"):
        engine.replay(EVENTS, report=tmp_path / "missing" / "report.html")


def test_generate_writes_what_the_cli_writes(cli, tmp_path):
    args = {"rms": 20, "days": 30, "seed": 7, "violation_rate": 0.05}
    stats = probity.generate(tmp_path / "py.jsonl", labels=tmp_path / "py-labels.jsonl", **args)
    subprocess.run(
        [str(cli), "generate", "--rms", "20", "--days", "30", "--seed", "7", "--violation-rate", "0.05",
         "--out", str(tmp_path / "cli.jsonl"), "--labels", str(tmp_path / "cli-labels.jsonl")],
        capture_output=True, check=True,
    )  # fmt: skip
    assert (tmp_path / "py.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()
    assert (tmp_path / "py-labels.jsonl").read_bytes() == (tmp_path / "cli-labels.jsonl").read_bytes()
    lines = (tmp_path / "py.jsonl").read_bytes().count(b"\n")
    assert stats["events"] == lines > 0
    labels = (tmp_path / "py-labels.jsonl").read_bytes().count(b"\n")
    assert sum(stats["injected"].values()) == labels
    assert stats["first"] < stats["last"]


def test_generate_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="start"):
        probity.generate(tmp_path / "e.jsonl", rms=1, days=1, seed=1, start="02/02/2026")
