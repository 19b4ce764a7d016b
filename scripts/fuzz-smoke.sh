#!/usr/bin/env bash
# Every fuzz target for SECONDS (default 60), seeded from the acceptance corpus in tests/spec:
# its policies for the text targets, its actions (and their histories) for `evaluate`, and the
# bytes of its case files for `ledger`. A crash fails the run and leaves fuzz/artifacts/TARGET/.
#
#   scripts/fuzz-smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
# cargo-fuzz needs a nightly compiler's flags; without a nightly toolchain, stable with
# RUSTC_BOOTSTRAP does the same.
if rustup run nightly rustc --version >/dev/null 2>&1; then fuzz=(cargo +nightly fuzz)
else fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz); fi

corpus=$(mktemp -d "${TMPDIR:-/tmp}/probity-fuzz.XXXXXX")
trap 'rm -rf "$corpus"' EXIT
python3 - "$corpus" tests/spec/*.yaml <<'PY'
import json, pathlib, sys, yaml
out = pathlib.Path(sys.argv[1])
for target in ("parse_check", "format_roundtrip", "evaluate", "ledger"):
    (out / target).mkdir()
for path in map(pathlib.Path, sys.argv[2:]):
    doc = yaml.safe_load(path.read_text())
    (out / "ledger" / path.stem).write_bytes(path.read_bytes()[:4096])
    for i, text in enumerate(doc.get("policies") or []):
        for target in ("parse_check", "format_roundtrip"):
            (out / target / f"{path.stem}_{i}.probity").write_text(text)
    for c, case in enumerate(doc.get("cases") or []):
        history = case.get("history")
        for s, step in enumerate(case.get("steps") or []):
            if "action" not in step:
                continue
            seed = json.dumps(step["action"], default=str)
            if history is not None:
                seed += "\x1e" + json.dumps(history, default=str)
            (out / "evaluate" / f"{path.stem}_{c}_{s}.json").write_text(seed)
PY

cd fuzz
"${fuzz[@]}" build -O
for target in parse_check format_roundtrip evaluate ledger; do
  echo "fuzz $target: ${seconds} s from $(ls "$corpus/$target" | wc -l) seeds"
  dict=()
  [ "$target" = ledger ] || dict=(-dict=probity.dict)
  log="$corpus/$target.log"
  if ! "${fuzz[@]}" run -O "$target" "$corpus/$target" -- "${dict[@]}" -max_total_time="$seconds" \
      -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz $target: failed; the reproducer is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | tr '\n' ' '; echo
done
