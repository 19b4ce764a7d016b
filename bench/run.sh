#!/usr/bin/env bash
# Runs the comparison twice, every engine on the system allocator and then on mimalloc, and
# prints the tables of docs/comparison.md (bench/report.py). The first build compiles ~580 crates.
set -euo pipefail
cd "$(dirname "$0")"
args=(--warm-up-time 1 --measurement-time 3)
cargo bench --bench compare -- "${args[@]}" --save-baseline system
cargo bench --bench compare --features mimalloc -- "${args[@]}" --save-baseline mimalloc
python3 report.py system mimalloc
