#!/usr/bin/env python3
"""`probity.spark.replay` on a local Spark: wall time and peak memory (driver JVM + Python workers).

    python bindings/python/bench/spark_bench.py EVENTS.jsonl WORK_DIR [--master local[2]] [--policies DIR]
                                               [--compare CLI_OUTPUT.jsonl]

1. prepare (timed apart): `spark.read.text(EVENTS)` numbered by line (each split's rows counted,
   then offset: no single-partition sort) and written to WORK_DIR/events.parquet;
2. shuffle only: the same grouping by `rm.id` and `applyInArrow`, with a function that only
   counts its rows: reading, JSON path extraction, the shuffle and the Arrow hand-over to
   Python, without the engine;
3. the stream clock (`max_skew`) pass alone: the driver reads every row's line and time;
4. replay: `probity.spark.replay` over the parquet, its records written to WORK_DIR/records.parquet.

Memory is the peak of the summed resident sizes of this process and every descendant (the JVM
and its Python workers), sampled every 0.2 s. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time


def tree_rss_kb(root: int) -> dict:
    """Resident KB of `root` and its descendants, by kind (python driver, java, python workers)."""
    parents, rss, names = {}, {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                names[int(pid)] = f.read().strip()
        except OSError:
            continue
        parents[int(pid)] = int(fields[1])
        rss[int(pid)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
    inside = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in inside and pid not in inside:
                inside.add(pid)
                changed = True
    out = {"driver": 0, "jvm": 0, "workers": 0}
    for pid in inside:
        kind = "driver" if pid == root else "jvm" if names.get(pid) == "java" else "workers"
        out[kind] += rss.get(pid, 0)
    return out


class Peak(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak = {"total": 0}

    def run(self):
        while not self.stop.wait(0.2):
            now = tree_rss_kb(os.getpid())
            now["total"] = sum(now.values())
            if now["total"] > self.peak["total"]:
                self.peak = now

    def reset(self):
        self.peak = {"total": 0}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("events")
    parser.add_argument("work")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--policies", default="policies/cn")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--compare", help="the CLI's output for EVENTS: check the records against it, byte for byte")
    args = parser.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import probity.spark

    peak = Peak()
    peak.start()
    spark = (
        SparkSession.builder.master(args.master)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", args.driver_memory)
        .getOrCreate()
    )
    results = {"master": args.master}
    prepared = os.path.join(args.work, "events.parquet")

    t = time.time()
    raw = spark.read.text(args.events).withColumn("pid", F.spark_partition_id()).withColumn(
        "n", F.monotonically_increasing_id()
    )
    counts = sorted((r["pid"], r["count"]) for r in raw.groupBy("pid").count().collect())
    offsets, total = {}, 0
    for pid, count in counts:
        offsets[pid] = total
        total += count
    offset = F.create_map(*[x for pid, o in offsets.items() for x in (F.lit(pid), F.lit(o))])
    # Within a split, the ids count up from `pid << 33`.
    numbered = raw.select(
        (offset[F.col("pid")] + (F.col("n") - F.shiftleft(F.col("pid").cast("long"), 33)) + 1).alias("line"), "value"
    )
    numbered.write.mode("overwrite").parquet(prepared)
    results["events"] = total
    results["prepare_s"] = round(time.time() - t, 1)

    df = spark.read.parquet(prepared)

    def count_rows(table):
        import pyarrow as pa

        return pa.table({"rm": [table.column("rm")[0].as_py()], "n": [table.num_rows]})

    t = time.time()
    peak.reset()
    grouped = df.select(F.get_json_object("value", "$.rm.id").alias("rm"), "line", "value")
    groups = grouped.groupBy("rm").applyInArrow(count_rows, "rm string, n long").agg(F.count("*"), F.sum("n")).first()
    results["shuffle_only_s"] = round(time.time() - t, 1)
    results["groups"] = groups[0]
    results["shuffle_only_peak_kb"] = peak.peak

    # The stream clock's pass alone (part of the replay below): the driver reads every row's time.
    t = time.time()
    engine = probity.Engine(probity.PolicySet.from_dir(args.policies))
    refused = probity.spark._skewed(probity.spark._events(df, "line"), engine, 86400.0)
    results["stream_clock_s"] = round(time.time() - t, 1)
    results["stream_clock_refused"] = len(refused)

    t = time.time()
    peak.reset()
    out = probity.spark.replay(df, policies=args.policies)
    out.write.mode("overwrite").parquet(os.path.join(args.work, "records.parquet"))
    results["replay_s"] = round(time.time() - t, 1)
    results["replay_peak_kb"] = peak.peak
    records = spark.read.parquet(os.path.join(args.work, "records.parquet"))
    results["records"] = records.count()
    results["events_per_s"] = round(total / results["replay_s"])
    if args.compare:
        # Not timed: the records in the CLI's order, one text file, compared with the CLI's.
        sorted_dir = os.path.join(args.work, "sorted")
        records.orderBy("line", "seq").select("record").coalesce(1).write.mode("overwrite").text(sorted_dir)
        (part,) = [f for f in os.listdir(sorted_dir) if f.startswith("part-")]
        with open(os.path.join(sorted_dir, part), "rb") as a, open(args.compare, "rb") as b:
            same = True
            while True:
                x, y = a.read(1 << 24), b.read(1 << 24)
                if x != y:
                    same = False
                    break
                if not x:
                    break
        results["identical_to_cli"] = same
    spark.stop()
    peak.stop.set()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
