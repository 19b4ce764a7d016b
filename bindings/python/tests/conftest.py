"""Shared fixtures: the workspace root, the Rust CLI (the reference the Python results are
compared with) and a YAML loader that reads the spec corpus as the Rust test runner does."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = ROOT / "tests" / "spec"


class SpecLoader(yaml.SafeLoader):
    """YAML as the Rust runner (serde_norway, YAML 1.2) reads it: timestamps and dates stay
    text, and only `true`/`false` are booleans (not YAML 1.1's `yes`, `no`, `on`, `off`)."""


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: Path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=SpecLoader)  # noqa: S506 (a SafeLoader subclass)


def cli_path() -> Path:
    """The release `probity` binary, built on first use unless `PROBITY_CLI` names one."""
    override = os.environ.get("PROBITY_CLI")
    if override:
        return Path(override)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    path = (target if target.is_absolute() else ROOT / target) / "release" / "probity"
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "probity-cli"], cwd=ROOT, check=True)
    return path


@pytest.fixture(scope="session")
def cli() -> Path:
    return cli_path()
