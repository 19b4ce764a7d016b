#!/usr/bin/env bash
# Whole-process replay throughput and peak memory, measured with /usr/bin/time -v.
# Usage: scripts/measure-replay.sh [EVENTS ...]   (default: 1000000 3000000)
# Each size is built from examples/events.jsonl scaled to 1,000 RMs (scripts/scale_events.py).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package: time)" >&2; exit 1; }
cargo build --release -q -p probity-cli
work=${TMPDIR:-/tmp}/probity-measure
mkdir -p "$work"
sample=$(wc -l < examples/events.jsonl)
printf '%-10s %-5s %12s %12s %10s\n' events jobs seconds events/s peak_MiB
for events in "${@:-1000000 3000000}"; do
  periods=$(( (events + sample * 20 - 1) / (sample * 20) ))
  file="$work/events-$events.jsonl"
  [ -s "$file" ] || python3 scripts/scale_events.py 20 "$periods" > "$file"
  lines=$(wc -l < "$file")
  for jobs in 1 2; do
    /usr/bin/time -v ./target/release/probity replay -j "$jobs" --policies policies/cn "$file" --out /dev/null \
      2> "$work/time.txt" || true
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time.txt")
    rate=$(awk -v n="$lines" -v s="$secs" 'BEGIN {printf "%.0f", n/s}')
    printf '%-10s %-5s %12s %12s %10s\n' "$lines" "$jobs" "$secs" "$rate" "$rss"
  done
done
