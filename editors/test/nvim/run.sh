#!/usr/bin/env bash
# A real editor on the language server: headless Neovim opens a policy with a misspelt field,
# attaches `probity lsp` (init.lua), and the diagnostics it shows must hold P0102 at the field;
# its hover on the enum field must show the members.
# Uses $PROBITY, else the workspace's release (or debug) binary, building it if there is none.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
if ! command -v nvim >/dev/null 2>&1; then
  echo "nvim: skipped, Neovim is not installed (apt-get install neovim)"
  exit 0
fi
if [ -z "${PROBITY:-}" ]; then
  for p in "$root/target/release/probity" "$root/target/debug/probity"; do
    # A binary from before `probity lsp` is no use.
    if [ -x "$p" ] && "$p" help lsp >/dev/null 2>&1; then PROBITY=$p; break; fi
  done
fi
if [ -z "${PROBITY:-}" ]; then
  (cd "$root" && cargo build --release -q -p probity-cli)
  PROBITY=$root/target/release/probity
fi
export PROBITY
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/gifts.probity" <<'POLICY'
policy gifts "Gifts" version "1" effective 2026-01-01 timezone "Asia/Shanghai"
action gift_received { value: money  kind: one of cash, goods }
rule r1 "Cash gifts" cite "art. 7" on gift_received
  when action.knd = "cash" and action.value > 100 CNY
  then deny
POLICY
export OUT="$dir/diagnostics.jsonl"
# On `kind` where the action declares it.
export HOVER=1:38
(cd "$dir" && timeout 60 nvim --headless --noplugin -u "$here/init.lua" gifts.probity) >/dev/null 2>&1 || true
if [ ! -s "$OUT" ]; then
  echo "nvim: no diagnostics were written" >&2
  exit 1
fi
python3 - "$OUT" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
records = [json.loads(l) for l in lines if l.startswith("{")]
assert records, lines
hovers = [r["hover"] for r in records if "hover" in r]
records = [r for r in records if "hover" not in r]
assert hovers and "cash" in hovers[0] and "goods" in hovers[0], hovers
hit = [r for r in records if r["code"] == "P0102" and r["line"] == 3 and r["col"] == 14]
assert hit and "knd" in hit[0]["message"], records
print(f"nvim: P0102 at 4:15 ({hit[0]['message'].splitlines()[0]}), {len(records)} diagnostic(s); hover shows the enum's members")
PY
