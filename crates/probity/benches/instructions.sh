#!/usr/bin/env bash
# Instructions per iteration of the three criterion benches of engine.rs, counted by callgrind
# (load on the machine does not change them, as it changes times): each bench's work
# (examples/bench_work.rs) runs with two counts, and the difference of the totals over the
# difference of the counts is one figure; three figures each (hash seeds move them a little),
# then their median.
#
#   cargo build --release -p probity --example bench_work
#   crates/probity/benches/instructions.sh [target/release/examples/bench_work]
set -euo pipefail
bin=${1:-target/release/examples/bench_work}
total() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for spec in product_sale:200:4200 product_sale_from_json:200:4200 sample_events:1:3; do
    IFS=: read -r bench low high <<<"$spec"
    figures=()
    for _ in 1 2 3; do
        a=$(total "$bench" "$low")
        b=$(total "$bench" "$high")
        figures+=($(( (b - a) / (high - low) )))
    done
    median=$(printf '%s\n' "${figures[@]}" | sort -n | sed -n 2p)
    echo "$bench: $median instructions/iter (${figures[*]})"
done
