//! Side-by-side comparison: one workload in Probity, Rego (regorus), Cedar (cedar-policy) and
//! GoRules JDM (zen-engine), in one process and one run.
//!
//! Before anything is timed, every engine evaluates every generated input and the sets of rules
//! that fired must be identical across engines; the process panics on the first difference.
//!
//! Run (from bench/): `cargo bench --bench compare -- --warm-up-time 1 --measurement-time 3`, with
//! `--features mimalloc` for every engine on mimalloc; `bench/report.py` writes the tables of
//! docs/comparison.md from criterion's estimates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value as Json};

// Every engine in the process allocates through it (the probity CLI's and wheel's allocator).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROBITY_SRC: &str = include_str!("../policies/workload.probity");
const REGO_SRC: &str = include_str!("../policies/workload.rego");
const CEDAR_SRC: &str = include_str!("../policies/workload.cedar");
const JDM_SALES_SRC: &str = include_str!("../policies/workload.jdm.json");
const JDM_GIFTS_SRC: &str = include_str!("../policies/gifts.jdm.json");

const N_SALES: usize = 1000;
const N_GIFTS: usize = 1000;
const REGO_RULE: &str = "data.probity.bench.fired";

type Fired = BTreeSet<String>;

// ---------------------------------------------------------------- deterministic inputs

/// Knuth's MMIX linear congruential generator; high bits only.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Uniform-ish in lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy)]
struct Ymd(i64, i64, i64);

impl Ymd {
    fn text(self) -> String {
        format!("{:04}-{:02}-{:02}", self.0, self.1, self.2)
    }
    fn int(self) -> i64 {
        self.0 * 10000 + self.1 * 100 + self.2
    }
}

struct Sale {
    id: String,
    at: String,
    today: Ymd,
    rm: String,
    grade: &'static str,
    related: Vec<String>,
    customer: String,
    birth: Ymd,
    risk_level: i64,
    product_risk: i64,
    amount: i64,
    borrower: String,
    channel: &'static str,
    recording_id: Option<String>,
}

struct GiftItem {
    id: String,
    at: String,
    giver: String,
    value: i64,
}

struct Gift {
    current: GiftItem,
    rm: String,
    history: Vec<GiftItem>,
}

/// Days are 1..=28 throughout, so that no engine's calendar arithmetic meets a clamped or
/// normalised month end (Go/regorus `AddDate` normalises Feb 29 + 1 year to Mar 1; Probity clamps).
fn gen_sales(rng: &mut Lcg, n: usize) -> Vec<Sale> {
    const GRADES: [&str; 3] = ["junior", "intermediate", "senior"];
    const CHANNELS: [&str; 3] = ["branch", "online", "phone"];
    (0..n)
        .map(|i| {
            let today = Ymd(2026, rng.range(1, 12), rng.range(1, 28));
            let at = format!("{}T{:02}:{:02}:{:02}Z", today.text(), rng.range(0, 23), rng.range(0, 59), rng.range(0, 59));
            // One in five customers is born within a day of their 65th birthday, to exercise the
            // boundary; the others anywhere from 1940 to 2000.
            let birth = if rng.chance(20) {
                let (m, d) = (today.1, (today.2 + rng.range(-1, 1)).clamp(1, 28));
                Ymd(today.0 - 65, m, d)
            } else {
                Ymd(rng.range(1940, 2000), rng.range(1, 12), rng.range(1, 28))
            };
            let related = (0..rng.range(0, 4)).map(|_| format!("P{}", rng.range(0, 19))).collect::<BTreeSet<_>>();
            Sale {
                id: format!("S-{i}"),
                at,
                today,
                rm: format!("R{}", rng.range(1, 50)),
                grade: GRADES[rng.range(0, 2) as usize],
                related: related.into_iter().collect(),
                customer: format!("C{i}"),
                birth,
                risk_level: rng.range(1, 5),
                product_risk: rng.range(1, 5),
                amount: rng.range(10_000, 8_000_000),
                borrower: format!("P{}", rng.range(0, 29)),
                channel: CHANNELS[rng.range(0, 2) as usize],
                recording_id: if rng.chance(50) { Some(format!("REC-{i}")) } else { None },
            }
        })
        .collect()
}

fn gen_gifts(rng: &mut Lcg, n: usize) -> Vec<Gift> {
    const GIVERS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
    (0..n)
        .map(|i| {
            let (y, m, d) = (2026, rng.range(1, 12), rng.range(1, 28));
            // Seconds since the Unix epoch for the current gift, then history before it.
            let now = days_from_civil(y, m, d) * 86_400 + rng.range(0, 86_399);
            let history = (0..rng.range(0, 30))
                .map(|j| GiftItem {
                    id: format!("G-{i}-{j}"),
                    at: rfc3339(now - rng.range(1, 540 * 86_400)),
                    giver: GIVERS[rng.range(0, 3) as usize].to_string(),
                    value: rng.range(50, 1500),
                })
                .collect();
            Gift {
                current: GiftItem {
                    id: format!("G-{i}"),
                    at: rfc3339(now),
                    giver: GIVERS[rng.range(0, 3) as usize].to_string(),
                    value: rng.range(50, 1500),
                },
                rm: format!("R{}", rng.range(1, 50)),
                history,
            }
        })
        .collect()
}

// Howard Hinnant's civil-date algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn rfc3339(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let rem = secs.rem_euclid(86_400);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

// ---------------------------------------------------------------- engine inputs

/// The plain JSON shape the Rego and JDM policies read (amounts as numbers in CNY).
fn sale_plain(s: &Sale) -> Json {
    let mut v = json!({
        "type": "loan_sale", "id": s.id, "at": s.at,
        "rm": { "id": s.rm, "grade": s.grade, "related_parties": s.related },
        "customer": { "id": s.customer, "birth_date": s.birth.text(), "risk_level": s.risk_level },
        "product_risk": s.product_risk, "amount": s.amount, "borrower": s.borrower, "channel": s.channel,
    });
    if let Some(r) = &s.recording_id {
        v["recording_id"] = json!(r);
    }
    v
}

fn sale_probity(s: &Sale) -> String {
    let mut v = sale_plain(s);
    v["amount"] = json!(format!("{} CNY", s.amount));
    v.to_string()
}

fn gift_plain(g: &GiftItem) -> Json {
    json!({ "at": g.at, "giver": g.giver, "value": g.value })
}

fn gift_probity_action(g: &GiftItem, rm: &str) -> Json {
    json!({ "type": "gift_received", "id": g.id, "at": g.at, "rm": { "id": rm }, "giver": g.giver, "value": format!("{} CNY", g.value) })
}

fn gift_probity(g: &Gift) -> (String, String) {
    let history: Vec<Json> = g.history.iter().map(|h| gift_probity_action(h, &g.rm)).collect();
    (gift_probity_action(&g.current, &g.rm).to_string(), json!({ "actions": history }).to_string())
}

fn gift_input_plain(g: &Gift) -> Json {
    let mut v = gift_plain(&g.current);
    v["history"] = Json::Array(g.history.iter().map(gift_plain).collect());
    v
}

struct CedarInput {
    request: cedar_policy::Request,
    entities: cedar_policy::Entities,
}

/// Cedar's idiom: the RM is the principal and the customer the resource (entities with
/// attributes), the sale's own fields are the context. Dates are yyyymmdd integers: Cedar has
/// no calendar arithmetic, and with that encoding `today - birth >= 650000` is exactly "age >= 65".
fn sale_cedar(s: &Sale) -> CedarInput {
    use cedar_policy::{Context, Entities, EntityUid, Request};
    let entities = Entities::from_json_value(
        json!([
            { "uid": { "type": "Rm", "id": s.rm }, "attrs": { "grade": s.grade, "related_parties": s.related }, "parents": [] },
            { "uid": { "type": "Customer", "id": s.customer }, "attrs": { "risk_level": s.risk_level, "birth_date": s.birth.int() }, "parents": [] },
        ]),
        None,
    )
    .unwrap();
    let mut ctx = json!({
        "product_risk": s.product_risk, "amount": s.amount, "borrower": s.borrower,
        "channel": s.channel, "today": s.today.int(),
    });
    if let Some(r) = &s.recording_id {
        ctx["recording_id"] = json!(r);
    }
    let request = Request::new(
        EntityUid::from_str(&format!("Rm::\"{}\"", s.rm)).unwrap(),
        EntityUid::from_str("Action::\"loan_sale\"").unwrap(),
        EntityUid::from_str(&format!("Customer::\"{}\"", s.customer)).unwrap(),
        Context::from_json_value(ctx, None).unwrap(),
        None,
    )
    .unwrap();
    CedarInput { request, entities }
}

// ---------------------------------------------------------------- engines

fn probity_load() -> probity::Engine {
    let set = probity::PolicySet::from_sources([("workload.probity", PROBITY_SRC)])
        .unwrap_or_else(|d| panic!("the Probity workload does not load: {d:?}"));
    probity::Engine::new(set)
}

fn probity_fired(d: &probity::Decision) -> Fired {
    d.findings.iter().map(|f| f.rule.to_string()).collect()
}

fn rego_load() -> regorus::Engine {
    let mut e = regorus::Engine::new();
    e.add_policy("workload.rego".into(), REGO_SRC.into()).unwrap();
    // Parse, analyse and schedule now, not on the first evaluation.
    e.set_input(regorus::Value::from_json_str(r#"{"action": {}, "history": []}"#).unwrap());
    e.eval_rule(REGO_RULE.into()).unwrap();
    e
}

fn rego_eval(e: &mut regorus::Engine, input: &regorus::Value) -> regorus::Value {
    e.set_input(input.clone());
    e.eval_rule(REGO_RULE.into()).unwrap()
}

fn rego_fired(v: &regorus::Value) -> Fired {
    match v {
        regorus::Value::Set(s) => s.iter().map(|x| x.as_string().unwrap().to_string()).collect(),
        regorus::Value::Undefined => Fired::new(),
        other => panic!("unexpected Rego result {other:?}"),
    }
}

fn to_rego(v: &Json) -> regorus::Value {
    regorus::Value::from_json_str(&v.to_string()).unwrap()
}

fn cedar_load() -> cedar_policy::PolicySet {
    cedar_policy::PolicySet::from_str(CEDAR_SRC).unwrap()
}

fn cedar_fired(policies: &cedar_policy::PolicySet, r: &cedar_policy::Response) -> Fired {
    assert!(r.diagnostics().errors().next().is_none(), "Cedar evaluation errors: {:?}", r.diagnostics());
    r.diagnostics()
        .reason()
        .map(|id| policies.annotation(id, "id").unwrap().to_string())
        .filter(|id| id != "allow")
        .collect()
}

fn zen_load(src: &str) -> zen_engine::Decision {
    let mut content: zen_engine::model::GraphContent = serde_json::from_str(src).unwrap();
    content.compile();
    zen_engine::Decision::from(Arc::new(content))
}

fn zen_eval(
    rt: &tokio::runtime::Runtime,
    d: &zen_engine::Decision,
    input: &zen_expression::Variable,
) -> zen_expression::Variable {
    rt.block_on(d.evaluate(input.clone())).unwrap().result
}

fn zen_fired(v: &zen_expression::Variable) -> Fired {
    let j: Json = serde_json::to_value(v).unwrap();
    j.as_array()
        .unwrap_or_else(|| panic!("unexpected JDM result {j}"))
        .iter()
        .map(|row| row["rule"].as_str().unwrap().to_string())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

// ---------------------------------------------------------------- prepared inputs

struct Prepared {
    sales: Vec<Sale>,
    sales_probity_json: Vec<String>,
    sales_probity: Vec<probity::Action>,
    sales_rego: Vec<regorus::Value>,
    sales_cedar: Vec<CedarInput>,
    sales_zen: Vec<zen_expression::Variable>,
    gifts_probity_json: Vec<(String, String)>,
    gifts_probity: Vec<(probity::Action, probity::History)>,
    gifts_rego: Vec<regorus::Value>,
    gifts_zen: Vec<zen_expression::Variable>,
}

fn prepare() -> Prepared {
    let mut rng = Lcg(20260301);
    let sales = gen_sales(&mut rng, N_SALES);
    let gifts = gen_gifts(&mut rng, N_GIFTS);
    let sales_probity_json: Vec<String> = sales.iter().map(sale_probity).collect();
    let gifts_probity_json: Vec<(String, String)> = gifts.iter().map(gift_probity).collect();
    Prepared {
        sales_probity: sales_probity_json.iter().map(|j| probity::Action::from_json(j).unwrap()).collect(),
        sales_rego: sales.iter().map(|s| to_rego(&json!({ "action": sale_plain(s) }))).collect(),
        sales_cedar: sales.iter().map(sale_cedar).collect(),
        sales_zen: sales.iter().map(|s| sale_plain(s).into()).collect(),
        gifts_probity: gifts_probity_json
            .iter()
            .map(|(a, h)| (probity::Action::from_json(a).unwrap(), probity::History::from_json(h).unwrap()))
            .collect(),
        gifts_rego: gifts
            .iter()
            .map(|g| {
                let p = gift_input_plain(g);
                to_rego(&json!({ "action": p, "history": p["history"] }))
            })
            .collect(),
        gifts_zen: gifts.iter().map(|g| gift_input_plain(g).into()).collect(),
        sales,
        sales_probity_json,
        gifts_probity_json,
    }
}

// ---------------------------------------------------------------- the outcome check

/// Every engine, loaded once: checked for agreement, then timed.
struct Engines {
    probity: probity::Engine,
    rego: regorus::Engine,
    cedar: cedar_policy::PolicySet,
    authorizer: cedar_policy::Authorizer,
    zen_sales: zen_engine::Decision,
    zen_gifts: zen_engine::Decision,
    rt: tokio::runtime::Runtime,
}

impl Engines {
    fn load() -> Engines {
        Engines {
            probity: probity_load(),
            rego: rego_load(),
            cedar: cedar_load(),
            authorizer: cedar_policy::Authorizer::new(),
            zen_sales: zen_load(JDM_SALES_SRC),
            zen_gifts: zen_load(JDM_GIFTS_SRC),
            rt: runtime(),
        }
    }
}

fn check(p: &Prepared, e: &mut Engines) {
    let empty = probity::History::new();

    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..p.sales.len() {
        let a = probity_fired(&e.probity.evaluate(&p.sales_probity[i], &empty).unwrap());
        let a_json = probity_fired(&e.probity.evaluate_json(&p.sales_probity_json[i], None).unwrap());
        let b = rego_fired(&rego_eval(&mut e.rego, &p.sales_rego[i]));
        let c = cedar_fired(
            &e.cedar,
            &e.authorizer.is_authorized(&p.sales_cedar[i].request, &e.cedar, &p.sales_cedar[i].entities),
        );
        let d = zen_fired(&zen_eval(&e.rt, &e.zen_sales, &p.sales_zen[i]));
        if !(a == a_json && a == b && a == c && a == d) {
            panic!(
                "OUTCOME MISMATCH on sale {i} ({}):\n probity {a:?}\n probity(json) {a_json:?}\n rego {b:?}\n cedar {c:?}\n jdm {d:?}",
                p.sales_probity_json[i]
            );
        }
        for r in &a {
            *counts.entry(r.clone()).or_default() += 1;
        }
        if a.is_empty() {
            *counts.entry("(none)".into()).or_default() += 1;
        }
    }
    let mut gift_fired = 0;
    for i in 0..p.gifts_probity.len() {
        let (action, history) = &p.gifts_probity[i];
        let a = probity_fired(&e.probity.evaluate(action, history).unwrap());
        let (aj, hj) = &p.gifts_probity_json[i];
        let a_json = probity_fired(&e.probity.evaluate_json(aj, Some(hj)).unwrap());
        let a_ledger = probity_fired(&gift_ledger(&e.probity, history).evaluate(action).unwrap());
        let b = rego_fired(&rego_eval(&mut e.rego, &p.gifts_rego[i]));
        let d = zen_fired(&zen_eval(&e.rt, &e.zen_gifts, &p.gifts_zen[i]));
        if !(a == a_json && a == a_ledger && a == b && a == d) {
            panic!(
                "OUTCOME MISMATCH on gift {i}:\n action {aj}\n history {hj}\n probity {a:?}\n probity(json) {a_json:?}\n probity(ledger) {a_ledger:?}\n rego {b:?}\n jdm {d:?}"
            );
        }
        gift_fired += a.len();
    }
    eprintln!(
        "outcome check passed: {} sales x 4 engines, {} gifts x 3 engines (Probity three ways; Cedar cannot sum); \
         sales rules fired {counts:?}; gift_limit fired {gift_fired}",
        p.sales.len(),
        p.gifts_probity.len()
    );
}

/// A ledger holding a gift's history, as a long-running service keeps it (decoded, in time order).
fn gift_ledger(probity: &probity::Engine, history: &probity::History) -> probity::Ledger {
    let mut ledger = probity.ledger();
    ledger.load(history).unwrap();
    ledger
}

// ---------------------------------------------------------------- timing

/// Cycles through the inputs, one evaluation per criterion iteration.
fn cycle<'a, T>(items: &'a [T]) -> impl FnMut() -> &'a T + 'a {
    let mut i = 0usize;
    move || {
        i = if i + 1 == items.len() { 0 } else { i + 1 };
        &items[i]
    }
}

fn benches(c: &mut Criterion) {
    let p = prepare();
    let mut engines = Engines::load();
    check(&p, &mut engines);
    let Engines { probity, mut rego, cedar, authorizer, zen_sales, zen_gifts, rt } = engines;
    let empty = probity::History::new();

    let mut g = c.benchmark_group("stateless");
    g.throughput(Throughput::Elements(1));
    let mut next = cycle(&p.sales_probity);
    g.bench_function("probity", |b| b.iter(|| probity.evaluate(next(), &empty).unwrap()));
    let mut next = cycle(&p.sales_probity_json);
    g.bench_function("probity_from_json", |b| b.iter(|| probity.evaluate_json(next(), None).unwrap()));
    let mut next = cycle(&p.sales_rego);
    g.bench_function("rego", |b| b.iter(|| rego_eval(&mut rego, next())));
    let mut next = cycle(&p.sales_cedar);
    g.bench_function("cedar", |b| {
        b.iter(|| {
            let i = next();
            authorizer.is_authorized(&i.request, &cedar, &i.entities)
        })
    });
    let mut next = cycle(&p.sales_zen);
    g.bench_function("jdm", |b| b.iter(|| zen_eval(&rt, &zen_sales, next())));
    g.finish();

    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(1));
    let mut next = cycle(&p.gifts_probity);
    g.bench_function("probity", |b| {
        b.iter(|| {
            let (a, h) = next();
            probity.evaluate(a, h).unwrap()
        })
    });
    let ledgers: Vec<(&probity::Action, probity::Ledger)> =
        p.gifts_probity.iter().map(|(a, h)| (a, gift_ledger(&probity, h))).collect();
    let mut next = cycle(&ledgers);
    g.bench_function("probity_ledger", |b| {
        b.iter(|| {
            let (a, ledger) = next();
            ledger.evaluate(a).unwrap()
        })
    });
    let mut next = cycle(&p.gifts_probity_json);
    g.bench_function("probity_from_json", |b| {
        b.iter(|| {
            let (a, h) = next();
            probity.evaluate_json(a, Some(h)).unwrap()
        })
    });
    let mut next = cycle(&p.gifts_rego);
    g.bench_function("rego", |b| b.iter(|| rego_eval(&mut rego, next())));
    let mut next = cycle(&p.gifts_zen);
    g.bench_function("jdm", |b| b.iter(|| zen_eval(&rt, &zen_gifts, next())));
    g.finish();

    // Load = from source text to an engine ready to evaluate (Rego: including the first
    // evaluation's preparation; JDM: parse + expression compilation; both JDM graphs).
    let mut g = c.benchmark_group("load");
    g.bench_function("probity", |b| b.iter(probity_load));
    g.bench_function("rego", |b| b.iter(rego_load));
    g.bench_function("cedar", |b| b.iter(cedar_load));
    g.bench_function("jdm", |b| b.iter(|| (zen_load(black_box(JDM_SALES_SRC)), zen_load(black_box(JDM_GIFTS_SRC)))));
    g.finish();
}

criterion_group!(compare, benches);
criterion_main!(compare);
