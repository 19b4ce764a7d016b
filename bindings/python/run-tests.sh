#!/usr/bin/env bash
# Builds the Python binding into a virtualenv and runs its tests (CI calls this).
#
#   bindings/python/run-tests.sh [pytest args…]
#
# VENV (default: .venv at the workspace root) is created when missing. The tests compare the
# binding's decisions with the Rust CLI's, so the release `probity` binary is built first.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VENV:-$root/.venv}"
cd "$root"

start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
if ! { [ -x "$venv/bin/maturin" ] && python -c "import pytest, yaml" 2>/dev/null; }; then
    python -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" pytest pyyaml
fi
# The table libraries `Engine.replay` reads and writes (none is a dependency of the package):
# their tests are skipped only where a wheel cannot be installed.
for pkg in pandas pyarrow polars; do
    python -c "import $pkg" 2>/dev/null ||
        python -m pip install --quiet --disable-pip-version-check "$pkg" ||
        echo "note: $pkg could not be installed; its replay tests are skipped"
done

# Apache Spark for `probity.spark` (tests/test_spark.py): pyspark in the venv and a Java runtime
# (.ci/run installs Debian's openjdk-17-jre-headless). Without java only those tests are skipped.
python -c "import pyspark" 2>/dev/null ||
    python -m pip install --quiet --disable-pip-version-check "pyspark>=4.0"
if ! command -v java >/dev/null; then
    echo "note: no java on PATH (apt-get install openjdk-17-jre-headless): the Spark tests are SKIPPED"
fi
# Spark in local mode binds to this address (the machine's name may not resolve).
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"

# The reference: the Rust CLI (its build is shared with `make build`).
cargo build --release -p probity-cli
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
export PROBITY_CLI="$target/release/probity"
# The binding, installed into the venv (editable: the Python sources stay in place).
maturin develop --release -m bindings/python/Cargo.toml

python -m pytest "$here/tests" "$@"
echo "python binding: built and tested in $(( $(date +%s) - start )) s"
