#!/usr/bin/env python3
"""Scale the sample events up for load measurements, keeping them realistic and in time order.

Takes examples/events.jsonl (50 RMs over six months) and writes COPIES x PERIODS copies of it:
each copy renames the RMs (RM-BJ-050 -> RM-BJ-050-c07) and the ids that point at other actions,
and each period shifts every timestamp and date by 182 days, so the stream keeps running forward.
20 copies x 10 periods is about 1,000,000 events over 1,000 RMs and five years.

Usage: scale_events.py COPIES PERIODS [INPUT] > OUTPUT
"""

import datetime as dt
import json
import re
import sys

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
ID_FIELDS = ("id", "gift", "complaint")
PERIOD = dt.timedelta(days=182)


def shifted(value, delta):
    """Shift dates and datetimes found anywhere in a JSON value."""
    if isinstance(value, dict):
        return {k: shifted(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, delta) for v in value]
    if isinstance(value, str):
        if DATETIME.match(value):
            return (dt.datetime.fromisoformat(value) + delta).isoformat()
        if DATE.match(value):
            return (dt.date.fromisoformat(value) + delta).isoformat()
    return value


def main():
    copies, periods = int(sys.argv[1]), int(sys.argv[2])
    source = sys.argv[3] if len(sys.argv) > 3 else "examples/events.jsonl"
    with open(source, encoding="utf-8") as f:
        events = [json.loads(line) for line in f if line.strip()]
    out = sys.stdout
    for p in range(periods):
        delta = PERIOD * p
        base = [shifted(e, delta) for e in events] if p else events
        for event in base:
            for c in range(copies):
                e = dict(event)
                suffix = f"-p{p}c{c}"
                for key in ID_FIELDS:
                    if key in e:
                        e[key] = e[key] + suffix
                rm = dict(e["rm"])
                rm["id"] = f"{rm['id']}-c{c:02d}"
                e["rm"] = rm
                out.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")


if __name__ == "__main__":
    main()
