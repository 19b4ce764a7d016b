//! Criterion sweeps: how the cost of ONE decision grows with the number of rules and with
//! the size of the RM's history.
//!
//! - `rules/{10,100,1000}`: `Engine::evaluate` of one product sale against a generated policy
//!   whose rules all apply to `product_sale`; about 5% of them fire for the benchmark action.
//! - `history_ledger/{inside,outside}/{10,1000,100000}`: `Ledger::evaluate` (decides without
//!   recording) of one gift against a ledger loaded with that many earlier gifts of the same RM,
//!   all inside the rules' 12-month window, or all older than it. `Ledger::load` does not prune,
//!   so the old items stay in the ledger: with a binary-searched window, `outside` should cost
//!   the same at every size, and `inside` should grow with the items the aggregates read.
//! - `history_passed_in/{inside,outside}/{10,1000,100000}`: the stateless `Engine::evaluate`
//!   with the same history passed in as a `History` value, which is decoded on every call and
//!   so is expected to grow linearly with the history, inside or outside the window.
//!
//! - `load/{set_literal,enum}/N` and `load/render_warnings/N`: loading a policy with an
//!   N-member set literal or enum, and rendering N warnings. Each should grow linearly with N
//!   (a quadratic path once took 40 s at the largest size); `tests/hostile_parse.rs` checks
//!   their results, these measure their cost.
//!
//! Every setup checks the decision (findings, verdict, retained items) before timing it, so a
//! broken policy or history cannot be measured silently.
//!
//! Run with `cargo bench -p probity --bench sweeps` (a few minutes on a small machine); one
//! group with e.g. `cargo bench -p probity --bench sweeps -- history_ledger`.

#![allow(clippy::expect_used, clippy::arithmetic_side_effects, clippy::panic)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use probity::{Action, Decision, Engine, History, PolicySet, Verdict};

// ------------------------------------------------------------------ rule count sweep

const RULE_COUNTS: [usize; 3] = [10, 100, 1_000];

/// One rule in `FIRING_EVERY` fires for the benchmark sale (5%).
const FIRING_EVERY: usize = 20;

const SALES_HEADER: &str = r#"
policy bench_sales "Generated product-sale rules"
  version "1"
  effective 2026-01-01
  timezone "Asia/Shanghai"

record customer {
  id: text
  risk_level: int
  age: int
  segment: one of retail, affluent, private_banking, corporate
}

action product_sale {
  customer: customer
  product_risk: int
  amount: money
  channel: one of branch, online, phone
  recording_id: text?
  disclosures: set of text
}

ladder conduct "Conduct points"
  window 12 months
  points minor 1, major 3
  step 3 "formal warning"
  step 6 "suspension from sales"
"#;

/// The sale every rule-count benchmark decides on: CNY 250,000 of an R3 product sold online
/// to a 58-year-old retail C3 customer who acknowledged the usual documents.
const BENCH_SALE: &str = r#"{"type": "product_sale", "id": "S-1", "at": "2026-06-01T10:00:00+08:00",
  "rm": {"id": "R1"},
  "customer": {"id": "C-1", "risk_level": 3, "age": 58, "segment": "retail"},
  "product_risk": 3, "amount": "250000 CNY", "channel": "online",
  "disclosures": ["risk_disclosure", "product_manual"]}"#;

/// A rule that fires for [`BENCH_SALE`]; `k` varies its thresholds and outcomes.
fn firing_rule(k: usize) -> String {
    match k % 3 {
        0 => format!(
            "  when action.amount >= {} CNY and action.product_risk >= action.customer.risk_level\n  \
             unless action.customer.segment = \"private_banking\"\n  \
             then review\n  \
             message \"sale of {{action.amount}} at R{{action.product_risk}} to {{action.customer.id}}, \
             C{{action.customer.risk_level}}\"\n",
            100_000 + 1_000 * k
        ),
        1 => "  when action.channel = \"online\" and action.product_risk >= 3\n  \
              then warn, escalate \"second_line\"\n  \
              message \"online sale of an R{action.product_risk} product\"\n"
            .to_string(),
        _ => format!(
            "  when action.amount > {} CNY\n  then breach minor\n  message \"large sale of {{action.amount}}\"\n",
            200_000 - 1_000 * k
        ),
    }
}

/// A rule that does not fire for [`BENCH_SALE`], from one of eight shapes; `j` varies its
/// thresholds. Some fail early, some only after several comparisons, and one passes `when` but
/// is stopped by `unless`.
fn quiet_rule(shape: usize, j: usize) -> String {
    match shape {
        0 => format!(
            "  when action.amount > {} CNY and action.product_risk >= {}\n  then review\n",
            300_000 + 5_000 * j,
            2 + j % 3
        ),
        1 => format!(
            "  when action.product_risk > action.customer.risk_level + {}\n  \
             unless action.customer.segment = \"private_banking\"\n  then deny, breach major\n",
            j % 2
        ),
        2 => format!(
            "  when action.channel = \"phone\" and action.amount >= {} CNY\n  then review\n",
            10_000 + 1_000 * j
        ),
        3 => format!(
            "  when action.customer.risk_level <= {} and action.product_risk >= {}\n  then deny\n",
            1 + j % 2,
            3 + j % 2
        ),
        4 => "  when action.channel in [\"branch\", \"phone\"] and action.recording_id is missing\n  \
              then deny, breach minor\n"
            .to_string(),
        5 => format!(
            "  when action.amount >= {} CNY and action.product_risk >= 2\n  \
             unless action.customer.segment in [\"retail\", \"affluent\"]\n  then review\n",
            50_000 + 1_000 * j
        ),
        6 => format!(
            "  when action.product_risk >= {} and not (action.disclosures contains \"risk_disclosure\")\n  \
             then warn\n",
            2 + j % 2
        ),
        _ => format!(
            "  let share = amount(action.amount) / {}\n  \
             when action.customer.age >= {} and share > 10%\n  then review, escalate \"second_line\"\n",
            1_000_000 + 10_000 * j,
            65 + j % 10
        ),
    }
}

/// The text of a policy with `count` rules on `product_sale`.
fn sales_policy(count: usize) -> String {
    let mut text = String::from(SALES_HEADER);
    for i in 0..count {
        let body = if i % FIRING_EVERY == 0 { firing_rule(i / FIRING_EVERY) } else { quiet_rule(i % 8, i / 8) };
        write!(text, "\nrule r{i:04}\n  cite \"Generated rule {i}\"\n  on product_sale\n{body}").expect("writes");
    }
    text
}

fn engine_for(name: &str, text: String) -> Engine {
    let set = PolicySet::from_sources([(name.to_string(), text)]).unwrap_or_else(|d| panic!("{name} loads:\n{d}"));
    let warnings: Vec<String> = set.warnings().iter().map(|w| format!("{}: {}", w.code(), w.message())).collect();
    assert!(warnings.is_empty(), "{name} loads without warnings: {warnings:?}");
    Engine::new(set)
}

fn rule_count_sweep(c: &mut Criterion) {
    let sale = Action::from_json(BENCH_SALE).expect("the benchmark sale parses");
    let history = History::new();
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(1));
    for count in RULE_COUNTS {
        let engine = engine_for("sales.probity", sales_policy(count));
        assert_eq!(engine.policy_set().rule_count(), count);
        let decision = engine.evaluate(&sale, &history).expect("decides");
        let firing = count.div_ceil(FIRING_EVERY);
        assert_eq!(decision.findings.len(), firing, "{count} rules: findings {:?}", rule_ids(&decision));
        assert!(
            decision.findings.iter().all(|f| planted_index(&f.rule).is_some_and(|i| i % FIRING_EVERY == 0)),
            "{count} rules: only the planted rules fire: {:?}",
            rule_ids(&decision)
        );
        assert_eq!(decision.verdict, Verdict::Review);
        group.bench_function(BenchmarkId::from_parameter(count), |b| {
            b.iter(|| engine.evaluate(black_box(&sale), &history).expect("decides"))
        });
    }
    group.finish();
}

/// The index `i` of a generated rule id `r{i:04}`.
fn planted_index(rule: &str) -> Option<usize> {
    rule.strip_prefix('r')?.parse().ok()
}

fn rule_ids(decision: &Decision) -> Vec<&str> {
    decision.findings.iter().map(|f| f.rule.as_str()).collect()
}

// ------------------------------------------------------------------ history size sweep

const HISTORY_SIZES: [usize; 3] = [10, 1_000, 100_000];

const GIFTS_POLICY: &str = r#"
policy bench_gifts "Gifts from one giver"
  version "1"
  effective 2020-01-01
  timezone "Asia/Shanghai"

action gift_received { giver: text  kind: one of cash, goods, hospitality  value: money }

rule cash_gift "Cash is never accepted"
  cite "Generated gift rule 0"
  on gift_received
  when action.kind = "cash"
  then deny
  message "cash gift of {action.value} from {action.giver}"

rule giver_annual_total "Gifts from one giver above CNY 5,000 in 12 months are reviewed"
  cite "Generated gift rule 1"
  on gift_received
  let giver_total = sum(gift_received.value where giver = action.giver within 12 months) + action.value
  when giver_total > 5000 CNY
  then review
  message "gifts from {action.giver} total {giver_total} in 12 months"

rule giver_frequency "A sixth gift from one giver in 12 months is an early warning"
  cite "Generated gift rule 2"
  on gift_received
  when count(gift_received where giver = action.giver within 12 months) >= 5
  then warn
  message "another gift from {action.giver}"
"#;

const GIFT_AT: &str = "2026-06-01T10:00:00+08:00";

/// The gift every history benchmark decides on.
fn bench_gift() -> Action {
    Action::from_json(&format!(
        r#"{{"type": "gift_received", "id": "G-now", "at": "{GIFT_AT}", "rm": {{"id": "R1"}},
            "giver": "ACME", "kind": "goods", "value": "500 CNY"}}"#
    ))
    .expect("the benchmark gift parses")
}

/// Where the earlier gifts sit relative to the 12-month window of the benchmark gift.
#[derive(Clone, Copy)]
enum Placement {
    /// All within the 360 days before the benchmark gift.
    Inside,
    /// All in the 360 days ending 400 days before it: older than any window.
    Outside,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Inside => "inside",
            Placement::Outside => "outside",
        }
    }
}

/// `size` earlier gifts of RM R1, evenly spread in time order, alternately from ACME (the
/// benchmark gift's giver) and from Globex, CNY 1,200 each. Even the smallest inside history
/// holds five ACME gifts, CNY 6,000: both gift rules fire.
fn gift_history(placement: Placement, size: usize) -> History {
    let now = probity::parse_timestamp(GIFT_AT).expect("a timestamp");
    let span = TimeDelta::days(360);
    let end: DateTime<FixedOffset> = match placement {
        Placement::Inside => now - TimeDelta::minutes(1),
        Placement::Outside => now - TimeDelta::days(400),
    };
    let start = end - span;
    let step = span / i32::try_from(size).expect("a small size");
    let mut json = String::from(r#"{"actions": ["#);
    for k in 0..size {
        let at = start + step * i32::try_from(k).expect("a small index");
        let giver = if k % 2 == 0 { "ACME" } else { "Globex" };
        if k > 0 {
            json.push(',');
        }
        write!(
            json,
            r#"{{"type": "gift_received", "id": "G-{k}", "at": "{}", "rm": {{"id": "R1"}}, "giver": "{giver}", "kind": "goods", "value": "1200 CNY"}}"#,
            at.to_rfc3339()
        )
        .expect("writes");
    }
    json.push_str("]}");
    let history = History::from_json(&json).expect("the history parses");
    assert_eq!(history.len(), size);
    history
}

/// Checks a decision on the benchmark gift (goods, not cash): both aggregate rules fire with
/// an inside history, nothing fires with an outside one.
fn check_gift_decision(decision: &Decision, placement: Placement, size: usize) {
    let label = format!("{}/{size}", placement.name());
    match placement {
        Placement::Inside => {
            assert_eq!(rule_ids(decision), ["giver_annual_total", "giver_frequency"], "{label}");
            assert_eq!(decision.verdict, Verdict::Review, "{label}");
        }
        Placement::Outside => {
            assert!(decision.findings.is_empty(), "{label}: {:?}", rule_ids(decision));
            assert_eq!(decision.verdict, Verdict::Allow, "{label}");
        }
    }
}

struct HistoryCase {
    placement: Placement,
    size: usize,
    history: History,
}

fn history_cases() -> Vec<HistoryCase> {
    let mut cases = Vec::new();
    for placement in [Placement::Inside, Placement::Outside] {
        for size in HISTORY_SIZES {
            cases.push(HistoryCase { placement, size, history: gift_history(placement, size) });
        }
    }
    cases
}

fn history_size_sweep(c: &mut Criterion) {
    let engine = engine_for("gifts.probity", GIFTS_POLICY.to_string());
    let gift = bench_gift();
    let cases = history_cases();

    let mut group = c.benchmark_group("history_ledger");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for case in &cases {
        let mut ledger = engine.ledger();
        ledger.load(&case.history).expect("the history loads");
        assert_eq!(ledger.retained_items(), case.size, "load keeps every item");
        check_gift_decision(&ledger.evaluate(&gift).expect("decides"), case.placement, case.size);
        group.bench_function(BenchmarkId::new(case.placement.name(), case.size), |b| {
            b.iter(|| ledger.evaluate(black_box(&gift)).expect("decides"))
        });
        assert_eq!(ledger.retained_items(), case.size, "evaluate records nothing");
    }
    group.finish();

    let mut group = c.benchmark_group("history_passed_in");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for case in &cases {
        check_gift_decision(&engine.evaluate(&gift, &case.history).expect("decides"), case.placement, case.size);
        group.bench_function(BenchmarkId::new(case.placement.name(), case.size), |b| {
            b.iter(|| engine.evaluate(black_box(&gift), black_box(&case.history)).expect("decides"))
        });
    }
    group.finish();
}

// ------------------------------------------------------------------ loads that must stay linear

/// A policy whose one rule tests `action.x` against an `n`-member set literal.
fn set_literal_policy(n: usize) -> String {
    let members: Vec<String> = (0..n).map(|i| format!("\"m{i}\"")).collect();
    format!(
        "policy p version \"1\" effective 2026-01-01\naction t {{ x: text }}\n\
         rule r cite \"c\" on t when action.x in [{}] then review\n",
        members.join(", ")
    )
}

/// A policy with an `n`-member enum.
fn enum_policy(n: usize) -> String {
    let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    format!(
        "policy p version \"1\" effective 2026-01-01\naction t {{ x: one of {} }}\n\
         rule r cite \"c\" on t when action.x = \"m1\" then review\n",
        members.join(", ")
    )
}

/// A policy with `n + 1` fields of one action, ten to a line, all but one unused (`n` warnings).
fn unused_fields_policy(n: usize) -> String {
    let names: Vec<String> = (0..=n).map(|i| format!("f{i}: int")).collect();
    let lines: Vec<String> = names.chunks(10).map(|c| c.join(" ")).collect();
    format!(
        "policy p version \"1\" effective 2026-01-01\naction t {{\n{}\n}}\n\
         rule r cite \"c\" on t when action.f0 = 1 then review\n",
        lines.join("\n")
    )
}

fn load_sweep(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    let load = |text: &str| PolicySet::from_sources([("p.probity", text)]).expect("the policy loads");
    for n in [15_000, 30_000, 60_000] {
        let text = set_literal_policy(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("set_literal", n), &text, |b, text| b.iter(|| load(text)));
    }
    for n in [25_000, 50_000, 100_000] {
        let text = enum_policy(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("enum", n), &text, |b, text| b.iter(|| load(text)));
    }
    for n in [2_500, 5_000, 10_000] {
        let set = load(&unused_fields_policy(n));
        assert_eq!(set.warnings().len(), n, "one warning per unused field");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("render_warnings", n), &set, |b, set| {
            b.iter(|| set.warnings().iter().map(probity::Diagnostic::render).collect::<String>())
        });
    }
    group.finish();
}

criterion_group!(benches, rule_count_sweep, history_size_sweep, load_sweep);
criterion_main!(benches);
