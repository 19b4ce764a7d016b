#!/usr/bin/env bash
# Checks editors/probity.tmLanguage.json against every policy in the repository, then the
# language server in a real editor (nvim/run.sh: headless Neovim, skipped without it).
# Installs the test's npm packages on first use (or when they are missing), then runs `npm test`.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  echo "run.sh: npm is needed (Node.js 18 or later)" >&2
  exit 2
fi
if [ ! -d node_modules/vscode-textmate ] || [ ! -d node_modules/vscode-oniguruma ] || [ ! -d node_modules/yaml ]; then
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
fi
npm test
nvim/run.sh
