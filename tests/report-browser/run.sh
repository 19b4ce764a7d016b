#!/usr/bin/env bash
# The report's browser test from scratch: Debian's chromium (if missing), the npm packages, the
# release CLI, then `node --test`. Screenshots and the report land in artifacts/ (gitignored).
# Usage: tests/report-browser/run.sh   (CHROMIUM=/path/to/chromium to use another browser)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "installing chromium (Debian package)…" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq chromium
  fi
fi

cd "$here"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

(cd "$root" && cargo build --release -q -p probity-cli)

mkdir -p artifacts
PROBITY="$root/target/release/probity" CHROMIUM="$chromium" node --test
echo "report: $here/artifacts/report.html" >&2
echo "screenshots: $here/artifacts/report*.png" >&2
