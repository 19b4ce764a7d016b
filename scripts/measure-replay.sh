#!/usr/bin/env bash
# Whole-process replay throughput and peak memory at scale, measured with /usr/bin/time -v.
#
#   scripts/measure-replay.sh [EVENTS ...]        (default: 1000000 5000000 10000000)
#
# Each size is the first EVENTS events of a stream from `probity generate` over RMS relationship
# managers (default 10000, seed 7), replayed against policies/cn with 1 and with 2 worker threads
# (`-j`). A prefix of a stream in time order is itself a valid stream. Streams are kept in WORK
# (default $TMPDIR/probity-measure; 10M events are about 5 GB) and reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package: time)" >&2; exit 1; }
cargo build --release -q -p probity-cli
probity=./target/release/probity
rms=${RMS:-10000}
work=${WORK:-${TMPDIR:-/tmp}/probity-measure}
mkdir -p "$work"

# Simulated days that certainly give EVENTS events: the first days are the busiest (about 7,100
# events a day at 10,000 RMs, falling to about 5,700), so allow 2,000 events a day per 10,000 RMs.
per_day=$(( rms / 5 > 0 ? rms / 5 : 1 ))

printf '%-10s %-11s %-5s %9s %10s %9s %10s\n' events last_day jobs seconds events/s peak_MiB held_items
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 5000000 10000000)
for events in "${sizes[@]}"; do
  file="$work/events-$rms-rms-$events.jsonl"
  if [ ! -s "$file" ]; then
    days=$(( events / per_day + 1 ))
    # `head` closes the pipe once it has its lines; the generator's broken pipe is expected.
    { "$probity" generate --rms "$rms" --days "$days" --seed 7 --out - 2>/dev/null || true; } |
      head -n "$events" > "$file"
  fi
  lines=$(wc -l < "$file")
  [ "$lines" -eq "$events" ] || { echo "only $lines events generated for $events" >&2; exit 1; }
  last_day=$(tail -n 1 "$file" | grep -o '"at":"[0-9-]*' | head -n 1 | cut -d'"' -f4)
  for jobs in 1 2; do
    /usr/bin/time -v "$probity" replay -j "$jobs" --policies policies/cn "$file" --out /dev/null \
      2> "$work/time.txt" || true
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time.txt")
    rate=$(awk -v n="$lines" -v s="$secs" 'BEGIN {printf "%.0f", n/s}')
    # The summary (on stderr, beside time's report): history items the ledgers held at the end.
    held=$(awk '/history items held at the end/ {print $NF}' "$work/time.txt")
    printf '%-10s %-11s %-5s %9s %10s %9s %10s\n' "$lines" "$last_day" "$jobs" "$secs" "$rate" "$rss" "$held"
  done
done
