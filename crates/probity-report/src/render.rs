//! The report's page: the figures are worked out here (counts, shares, chart geometry) and laid
//! out by the templates in `templates/`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Months, NaiveDate};
use minijinja::{AutoEscape, Environment};
use probity::replay::Summary;
use probity::Verdict;
use serde::Serialize;

use crate::collect::{BranchStats, Collector, RmState, RuleStats};
use crate::{Meta, EXAMPLES_PER_RM, MAX_BRANCHES, MAX_DAYS, MAX_EXAMPLE_BYTES, MAX_RMS_WITH_EXAMPLES, TOP_RMS};

const PAGE: &str = include_str!("../templates/report.html");
const MACROS: &str = include_str!("../templates/macros.html");
const CSS: &str = include_str!("../templates/report.css");

/// A template that could not be rendered (a defect of the crate, not of the replay).
#[derive(Debug)]
pub struct RenderError(minijinja::Error);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the report could not be rendered: {:#}", self.0)
    }
}

impl std::error::Error for RenderError {}

/// The templates' markup is laid out over lines for reading; the page needs none of those line
/// breaks, so each line is joined to the next without its break and its indentation.
fn compact(source: &str) -> String {
    source.lines().map(str::trim_start).collect()
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_formatter(|out, state, value| {
        // The same escaping as `escape`, which also serves the attribute values.
        if *state.auto_escape() != AutoEscape::None && !value.is_safe() {
            if let Some(text) = value.as_str() {
                return out.write_str(&escape(text)).map_err(minijinja::Error::from);
            }
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_template_owned("macros.html", compact(MACROS))?;
    env.add_template_owned("report.html", compact(PAGE))?;
    Ok(env)
}

impl Collector<'_> {
    /// The report as HTML; `summary` (the replay's) adds the obligations open at the end.
    pub fn render(&self, meta: &Meta, summary: Option<&Summary>) -> Result<String, RenderError> {
        let page = page(self, meta, summary);
        let env = environment().map_err(RenderError)?;
        let template = env.get_template("report.html").map_err(RenderError)?;
        template.render(minijinja::Value::from(minijinja::value::Serde(&page))).map_err(RenderError)
    }

    /// Renders the report and writes it to `path`.
    pub fn write(&self, path: &std::path::Path, meta: &Meta, summary: Option<&Summary>) -> Result<(), String> {
        let html = self.render(meta, summary).map_err(|e| e.to_string())?;
        crate::write(path, &html)
    }
}

// ------------------------------------------------------------------ text

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Lays out compact JSON over lines, two spaces per level, keeping the keys' order.
pub fn reindent(json: &str) -> String {
    let mut out = String::with_capacity(json.len().saturating_mul(2));
    let mut depth = 0usize;
    let mut in_text = false;
    let mut escaped = false;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(ch) = chars.next() {
        if in_text {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_text = false;
            }
            continue;
        }
        match ch {
            '"' => {
                in_text = true;
                out.push(ch);
            }
            '{' | '[' => {
                let close = if ch == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(ch);
                    out.push(close);
                } else {
                    out.push(ch);
                    depth = depth.saturating_add(1);
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(ch);
            }
            ',' => {
                out.push(ch);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// A timestamp for a `<time>` element: the text as given, and `YYYY-MM-DD HH:MM` when it is
/// RFC 3339 (else it is shown as given).
#[derive(Serialize)]
struct Time {
    at: String,
    short: Option<String>,
}

fn time(at: &str) -> Time {
    Time {
        at: at.to_string(),
        short: probity::parse_timestamp(at).ok().map(|t| t.format("%Y-%m-%d %H:%M").to_string()),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// An anchor id for an RM: letters, digits, `-` and `_`, others as `_xx`.
fn anchor(rm: &str) -> String {
    let mut out = String::from("rm-");
    for b in rm.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len().saturating_add(digits.len() / 3));
    let len = digits.len();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && len.saturating_sub(i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

const SEVERITY_COLOURS: &[&str] = &["#e0a100", "#e8590c", "#b02a37", "#7b2d8e", "#2b6cb0", "#495057"];

/// Severities ordered by their points where known (lightest first), else by name.
fn severity_order(c: &Collector<'_>) -> Vec<String> {
    let points = |s: &str| c.ladders.values().filter_map(|l| l.points.get(s).copied()).min();
    let mut names: Vec<String> = c.severities.keys().cloned().collect();
    let known = ["minor", "moderate", "major", "serious", "severe", "critical"];
    names.sort_by_key(|s| (points(s), known.iter().position(|k| k == s), s.clone()));
    names
}

fn colour(order: &[String], severity: &str) -> &'static str {
    let i = order.iter().position(|s| s == severity).unwrap_or(usize::MAX);
    SEVERITY_COLOURS.get(i).copied().unwrap_or("#495057")
}

/// A "nice" axis step for a maximum.
fn nice_step(max: u64) -> u64 {
    let target = (max as f64 / 5.0).max(1.0);
    let magnitude = 10f64.powf(target.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= target).unwrap_or(target);
    (step as u64).max(1)
}

/// A coordinate as the charts write it: one decimal.
fn n1(x: f64) -> String {
    format!("{x:.1}")
}

// ------------------------------------------------------------------ the page

#[derive(Serialize)]
struct Page {
    css: minijinja::Value,
    meta: MetaView,
    cards: Vec<Card>,
    verdicts: Verdicts,
    escalations: Vec<(String, String)>,
    rules: Rules,
    policies: Vec<PolicyRow>,
    time_chart: Option<TimeChart>,
    branch_chart: Option<BranchChart>,
    sanctions: Option<Vec<LadderRows>>,
    /// Duty, policy, reports, and the latest period of a periodic duty (empty for others).
    overdue: Vec<(String, String, String, String)>,
    /// Precision and recall per labelled rule (empty without labels).
    scores: Vec<ScoreRow>,
    open: Option<(String, String)>,
    closest: Closest,
    errors: Option<Errors>,
    method: Method,
    version: &'static str,
    records: String,
}

#[derive(Serialize)]
struct ScoreRow {
    policy: String,
    rule: String,
    labelled: String,
    true_positives: String,
    false_positives: String,
    false_negatives: String,
    precision: String,
    recall: String,
}

fn score_rows(c: &Collector<'_>) -> Vec<ScoreRow> {
    c.scores()
        .into_iter()
        .map(|s| ScoreRow {
            labelled: thousands(s.labelled),
            true_positives: thousands(s.true_positives),
            false_positives: thousands(s.false_positives),
            false_negatives: thousands(s.false_negatives),
            precision: crate::percent(s.precision_permille()),
            recall: crate::percent(s.recall_permille()),
            policy: s.policy,
            rule: s.rule,
        })
        .collect()
}

#[derive(Serialize)]
struct MetaView {
    policies: String,
    events: String,
    period: String,
    as_of: Option<String>,
}

#[derive(Serialize)]
struct Card {
    id: &'static str,
    label: &'static str,
    value: u64,
    text: String,
    note: String,
}

#[derive(Serialize)]
struct Verdicts {
    label: String,
    bar: Vec<VerdictPart>,
    rows: Vec<VerdictPart>,
}

#[derive(Serialize)]
struct VerdictPart {
    class: &'static str,
    label: &'static str,
    width: String,
    count: String,
    share: String,
}

fn page(c: &Collector<'_>, meta: &Meta, summary: Option<&Summary>) -> Page {
    let order = severity_order(c);
    let verdict = |v: Verdict| c.verdicts.get(&v).copied().unwrap_or(0);
    let (allow, review, deny) = (verdict(Verdict::Allow), verdict(Verdict::Review), verdict(Verdict::Deny));
    let rms_breaching = c.rms.values().filter(|r| r.breaches > 0).count() as u64;
    let sanction_entries: u64 = c.ladders.values().flat_map(|l| l.entries.values()).sum();
    let period = match (c.first, c.last) {
        (Some(f), Some(l)) => format!("{} to {}", f.format("%Y-%m-%d %H:%M %:z"), l.format("%Y-%m-%d %H:%M %:z")),
        _ => "no records".into(),
    };
    let sanctioned = c.rms.values().filter(|r| r.ladders.values().any(|l| l.highest.is_some())).count() as u64;
    let card = |id, label, value: u64, note: String| Card { id, label, value, text: thousands(value), note };
    let cards = vec![
        card("events", "Events", c.events, plural(c.overdue_reports, "overdue report", "overdue reports")),
        card("deny", "Denied", deny, format!("{} of decisions", percent(deny, c.events))),
        card("review", "Reviewed", review, format!("{} of decisions", percent(review, c.events))),
        card("breaches", "Breaches", c.breaches, format!("by {}", plural(rms_breaching, "RM", "RMs"))),
        card(
            "sanctioned",
            "RMs sanctioned",
            sanctioned,
            format!("of {} RMs; {} reached", thousands(c.rms.len() as u64), plural(sanction_entries, "step", "steps")),
        ),
        card(
            "restricted",
            "Restricted actions",
            c.restricted_actions,
            format!(
                "by {}, held back by a ladder step",
                plural(c.rms.values().filter(|r| r.restricted > 0).count() as u64, "RM", "RMs")
            ),
        ),
        card(
            "errors",
            "Input errors",
            c.errors,
            if c.errors == 0 { "every line was used".into() } else { "lines that could not be used".into() },
        ),
    ];
    let total = allow.saturating_add(review).saturating_add(deny).max(1);
    let part = |class, label, n: u64| VerdictPart {
        class,
        label,
        width: format!("{:.3}", n as f64 * 100.0 / total as f64),
        count: thousands(n),
        share: percent(n, c.events),
    };
    let verdicts = Verdicts {
        label: format!(
            "Verdicts: {} allowed, {} reviewed, {} denied",
            thousands(allow),
            thousands(review),
            thousands(deny)
        ),
        bar: [("allow", "Allowed", allow), ("review", "Reviewed", review), ("deny", "Denied", deny)]
            .into_iter()
            .filter(|(_, _, n)| *n > 0)
            .map(|(class, label, n)| part(class, label, n))
            .collect(),
        rows: [("allow", "allow", allow), ("review", "review", review), ("deny", "deny", deny)]
            .into_iter()
            .map(|(class, label, n)| part(class, label, n))
            .collect(),
    };
    let mut teams: Vec<(&String, &u64)> = c.escalations.iter().collect();
    teams.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let policies = c
        .policies
        .iter()
        .map(|(id, p)| PolicyRow {
            id: id.clone(),
            versions: p.versions.iter().map(|(v, d)| (v.clone(), d.clone())).collect(),
            decisions: thousands(p.decisions),
            findings: thousands(p.findings),
            breaches: thousands(p.breaches),
        })
        .collect();
    let mut overdue: Vec<(&(String, String), &u64)> = c.overdue_duties.iter().collect();
    overdue.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let standings = standings(c);
    let closest = closest(c, &standings);
    let exact = standings.iter().all(|s| s.exact);
    Page {
        css: minijinja::Value::from_safe_string(CSS.to_string()),
        meta: MetaView {
            policies: meta.policies.clone(),
            events: meta.events.clone(),
            period,
            as_of: meta.as_of.clone(),
        },
        cards,
        verdicts,
        escalations: teams.into_iter().map(|(t, n)| (t.clone(), thousands(*n))).collect(),
        rules: rules(c, &order),
        policies,
        time_chart: time_chart(c, &order),
        branch_chart: branch_chart(c),
        sanctions: sanctions(c, &standings),
        scores: score_rows(c),
        overdue: overdue
            .into_iter()
            .map(|(key, n)| {
                let period =
                    c.overdue_periods.get(key).map_or_else(String::new, |(from, until)| format!("{from} to {until}"));
                (key.1.clone(), key.0.clone(), thousands(*n), period)
            })
            .collect(),
        open: summary.map(|s| (thousands(s.open_obligations as u64), thousands(s.overdue_open as u64))),
        closest,
        errors: (c.errors > 0).then(|| Errors {
            count: thousands(c.errors),
            examples: c.error_examples.iter().map(|(l, m)| (*l, m.clone())).collect(),
        }),
        method: Method {
            exact,
            examples_per_rm: EXAMPLES_PER_RM,
            max_rms: thousands(MAX_RMS_WITH_EXAMPLES as u64),
            max_kib: MAX_EXAMPLE_BYTES / 1024,
            max_branches: thousands(MAX_BRANCHES as u64),
            max_days: thousands(MAX_DAYS as u64),
            days_dropped: (c.days_dropped > 0).then(|| thousands(c.days_dropped)),
        },
        version: env!("CARGO_PKG_VERSION"),
        records: thousands(c.events.saturating_add(c.overdue_reports).saturating_add(c.errors)),
    }
}

#[derive(Serialize)]
struct PolicyRow {
    id: String,
    versions: Vec<(String, String)>,
    decisions: String,
    findings: String,
    breaches: String,
}

#[derive(Serialize)]
struct Errors {
    count: String,
    examples: Vec<(usize, String)>,
}

#[derive(Serialize)]
struct Method {
    exact: bool,
    examples_per_rm: usize,
    max_rms: String,
    max_kib: usize,
    max_branches: String,
    max_days: String,
    days_dropped: Option<String>,
}

// ------------------------------------------------------------------ rules

#[derive(Serialize)]
struct Rules {
    breaching: Vec<RuleRow>,
    others: Vec<RuleRow>,
    others_label: String,
}

#[derive(Serialize)]
struct RuleRow {
    rule: String,
    policy: String,
    kind: &'static str,
    /// `(severity, colour)`.
    severities: Vec<(String, &'static str)>,
    findings: String,
    breaches: String,
    deny: String,
    review: String,
    /// The bar's width (percent of the most breaches) and colour (of the commonest severity).
    spark: Option<(String, &'static str)>,
}

fn rules(c: &Collector<'_>, order: &[String]) -> Rules {
    let mut rows: Vec<(&(String, String), &RuleStats)> = c.rules.iter().collect();
    rows.sort_by(|a, b| b.1.breaches().cmp(&a.1.breaches()).then(b.1.findings.cmp(&a.1.findings)).then(a.0.cmp(b.0)));
    let (breaching, others): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, r)| r.breaches() > 0);
    let max = breaching.iter().map(|(_, r)| r.breaches()).max().unwrap_or(1).max(1);
    let row = |((policy, rule), r): (&(String, String), &RuleStats)| RuleRow {
        rule: rule.clone(),
        policy: policy.clone(),
        kind: r.kind,
        severities: r.severities.keys().map(|s| (s.clone(), colour(order, s))).collect(),
        findings: thousands(r.findings),
        breaches: thousands(r.breaches()),
        deny: thousands(r.deny),
        review: thousands(r.review),
        spark: r
            .severities
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(s, _)| (n1(r.breaches() as f64 * 100.0 / max as f64), colour(order, s))),
    };
    let others_label = plural(others.len() as u64, "other rule", "other rules");
    Rules {
        breaching: breaching.into_iter().map(row).collect(),
        others: others.into_iter().map(row).collect(),
        others_label,
    }
}

// ------------------------------------------------------------------ charts

struct Bucket {
    label: String,
    long: String,
    counts: BTreeMap<String, u64>,
}

fn buckets(c: &Collector<'_>) -> (Vec<Bucket>, &'static str) {
    let (Some(first), Some(last)) = (c.days.keys().next(), c.days.keys().next_back()) else {
        return (Vec::new(), "month");
    };
    let weekly = last.signed_duration_since(*first).num_days() <= 182;
    let key = |d: &NaiveDate| -> NaiveDate {
        if weekly {
            d.checked_sub_days(chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))).unwrap_or(*d)
        } else {
            d.with_day(1).unwrap_or(*d)
        }
    };
    // Every period from the first to the last, empty ones included.
    let mut out: Vec<Bucket> = Vec::new();
    let mut starts: Vec<NaiveDate> = Vec::new();
    let mut period = key(first);
    let end = key(last);
    while period <= end && out.len() < 2_000 {
        let (label, long) = if weekly {
            (period.format("%m-%d").to_string(), format!("week of {}", period.format("%Y-%m-%d")))
        } else {
            (period.format("%Y-%m").to_string(), period.format("%B %Y").to_string())
        };
        out.push(Bucket { label, long, counts: BTreeMap::new() });
        starts.push(period);
        let next = if weekly {
            period.checked_add_days(chrono::Days::new(7))
        } else {
            period.checked_add_months(Months::new(1))
        };
        let Some(next) = next else { break };
        period = next;
    }
    for (day, counts) in &c.days {
        let k = key(day);
        if let Ok(i) = starts.binary_search(&k) {
            if let Some(bucket) = out.get_mut(i) {
                for (sev, n) in counts {
                    let slot = bucket.counts.entry(sev.clone()).or_default();
                    *slot = slot.saturating_add(*n);
                }
            }
        }
    }
    (out, if weekly { "week" } else { "month" })
}

#[derive(Serialize)]
struct TimeChart {
    unit: &'static str,
    width: String,
    height: String,
    desc: String,
    /// `(y, tick x, tick y, label)` of each grid line.
    grid: Vec<(String, String, String, String)>,
    left: String,
    right: String,
    bars: Vec<TimeBar>,
    axis_y: String,
    /// `(x, text x, colour, severity)`.
    legend: Vec<(String, String, &'static str, String)>,
    severities: Vec<String>,
    /// `(period, counts per severity, total)`.
    table: Vec<(String, Vec<String>, String)>,
}

#[derive(Serialize)]
struct TimeBar {
    total: u64,
    tip: String,
    /// `(x, y, width, height, colour)`.
    rects: Vec<(String, String, String, String, &'static str)>,
    /// `(x, y, text)` of the bar's period label, on every few bars.
    label: Option<(String, String, String)>,
}

fn time_chart(c: &Collector<'_>, order: &[String]) -> Option<TimeChart> {
    let (buckets, unit) = buckets(c);
    if buckets.is_empty() {
        return None;
    }
    let totals: Vec<u64> = buckets.iter().map(|b| b.counts.values().sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let step = nice_step(max);
    let top = max.div_ceil(step).saturating_mul(step).max(step);
    let (width, height) = (920.0_f64, 300.0_f64);
    let (left, right, top_margin, bottom) = (52.0, 16.0, 34.0, 46.0);
    let plot_w = width - left - right;
    let plot_h = height - top_margin - bottom;
    let n = buckets.len() as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.72).max(1.0);
    let y = |v: u64| top_margin + plot_h - (v as f64 / top as f64) * plot_h;
    let peak = totals.iter().enumerate().max_by_key(|(i, t)| (**t, usize::MAX.saturating_sub(*i)));
    let peak_text = peak
        .and_then(|(i, t)| buckets.get(i).map(|b| format!("; the peak is {t} in the {unit} of {}", b.label)))
        .unwrap_or_default();
    let total: u64 = totals.iter().sum();
    let desc = format!("{} breaches over {} {unit}s{peak_text}.", thousands(total), buckets.len());
    let mut grid = Vec::new();
    let mut v = 0;
    // Bounded: a top near `u64::MAX` would saturate `v`.
    while v <= top && grid.len() < 64 {
        let yy = y(v);
        grid.push((n1(yy), n1(left - 8.0), n1(yy + 4.0), thousands(v)));
        v = v.saturating_add(step);
    }
    let label_every = ((n / 16.0).ceil() as usize).max(1);
    let mut bars = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let parts: Vec<String> = order
            .iter()
            .filter_map(|s| b.counts.get(s).filter(|n| **n > 0).map(|n| format!("{s} {}", thousands(*n))))
            .collect();
        let sum: u64 = b.counts.values().sum();
        let tip = format!(
            "{}: {} breaches{}",
            b.long,
            thousands(sum),
            if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
        );
        let mut base = 0u64;
        let mut rects = Vec::new();
        for s in order {
            let Some(&count) = b.counts.get(s) else { continue };
            if count == 0 {
                continue;
            }
            let y1 = y(base.saturating_add(count));
            let y0 = y(base);
            rects.push((n1(x), n1(y1), n1(bar_w), n1((y0 - y1).max(0.5)), colour(order, s)));
            base = base.saturating_add(count);
        }
        let label = (i.checked_rem(label_every) == Some(0))
            .then(|| (n1(x + bar_w / 2.0), n1(top_margin + plot_h + 18.0), b.label.clone()));
        bars.push(TimeBar { total: sum, tip, rects, label });
    }
    let mut legend = Vec::new();
    let mut lx = left;
    for s in order {
        legend.push((n1(lx), n1(lx + 17.0), colour(order, s), s.clone()));
        lx += 24.0 + 8.0 * s.chars().count() as f64 + 12.0;
    }
    let table = buckets
        .iter()
        .map(|b| {
            let counts = order.iter().map(|s| thousands(b.counts.get(s).copied().unwrap_or(0))).collect();
            (b.long.clone(), counts, thousands(b.counts.values().sum()))
        })
        .collect();
    Some(TimeChart {
        unit,
        width: width.to_string(),
        height: height.to_string(),
        desc,
        grid,
        left: left.to_string(),
        right: n1(width - right),
        bars,
        axis_y: n1(top_margin + plot_h),
        legend,
        severities: order.to_vec(),
        table,
    })
}

#[derive(Serialize)]
struct BranchChart {
    width: String,
    height: String,
    desc: String,
    bars: Vec<BranchBar>,
    /// `(branch, RMs, decisions, denied, breaches)`, most breaches first.
    table: Vec<(String, String, String, String, String)>,
}

#[derive(Serialize)]
struct BranchBar {
    value: u64,
    tip: String,
    label_x: String,
    text_y: String,
    name: String,
    x: String,
    y: String,
    w: String,
    h: String,
    value_x: String,
    value_text: String,
}

fn branch_chart(c: &Collector<'_>) -> Option<BranchChart> {
    const SHOWN: usize = 15;
    let mut rows: Vec<(&String, &BranchStats)> = c.branches.iter().filter(|(_, b)| b.breaches > 0).collect();
    rows.sort_by(|a, b| b.1.breaches.cmp(&a.1.breaches).then(a.0.cmp(b.0)));
    if rows.is_empty() {
        return None;
    }
    let rest: Vec<&(&String, &BranchStats)> = rows.iter().skip(SHOWN).collect();
    let other = rest.iter().map(|(_, b)| b.breaches).sum::<u64>().saturating_add(c.branch_other.breaches);
    let mut shown: Vec<(String, u64, u64)> =
        rows.iter().take(SHOWN).map(|(name, b)| ((*name).clone(), b.breaches, b.rms)).collect();
    if other > 0 {
        let count = rest.len().saturating_add(usize::from(c.branch_other.breaches > 0));
        shown.push((format!("{count} other branches"), other, 0));
    }
    let max = shown.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let row_h = 26.0_f64;
    let (width, label_w, right) = (920.0_f64, 190.0_f64, 80.0_f64);
    let height = row_h * shown.len() as f64 + 16.0;
    let total: u64 = c.branches.values().map(|b| b.breaches).sum::<u64>().saturating_add(c.branch_other.breaches);
    let top_text = shown.first().map(|(n, v, _)| format!("; the most is {} in {n}", thousands(*v))).unwrap_or_default();
    let desc = format!("{} breaches in {} branches{top_text}.", thousands(total), rows.len());
    let bars = shown
        .iter()
        .enumerate()
        .map(|(i, (name, value, rms))| {
            let y = 8.0 + row_h * i as f64;
            let w = ((width - label_w - right) * (*value as f64) / max as f64).max(1.0);
            let tip = if *rms > 0 {
                format!("{name}: {} breaches, {} RMs", thousands(*value), thousands(*rms))
            } else {
                format!("{name}: {} breaches", thousands(*value))
            };
            BranchBar {
                value: *value,
                tip,
                label_x: n1(label_w - 10.0),
                text_y: n1(y + row_h * 0.62),
                name: name.clone(),
                x: n1(label_w),
                y: n1(y),
                w: n1(w),
                h: n1(row_h - 8.0),
                value_x: n1(label_w + w + 6.0),
                value_text: thousands(*value),
            }
        })
        .collect();
    let mut all: Vec<(&String, &BranchStats)> = c.branches.iter().collect();
    all.sort_by(|a, b| b.1.breaches.cmp(&a.1.breaches).then(a.0.cmp(b.0)));
    let table = all
        .into_iter()
        .map(|(name, b)| {
            (name.clone(), thousands(b.rms), thousands(b.events), thousands(b.denies), thousands(b.breaches))
        })
        .collect();
    Some(BranchChart { width: width.to_string(), height: height.to_string(), desc, bars, table })
}

// ------------------------------------------------------------------ sanctions

/// An RM's standing on a ladder at the end of the replay.
struct Standing<'a> {
    rm: &'a str,
    state: &'a RmState,
    policy: &'a str,
    ladder: &'a str,
    points: i64,
    exact: bool,
    step: Option<String>,
    next: Option<(i64, String)>,
}

fn standings<'a>(c: &'a Collector<'_>) -> Vec<Standing<'a>> {
    let end = c.last;
    let mut out = Vec::new();
    for (rm, state) in &c.rms {
        for ((policy, ladder), entry) in &state.ladders {
            let info = c.ladders.get(&(policy.clone(), ladder.clone()));
            let exact_points = info.and_then(|info| {
                let steps = info.steps.as_ref()?;
                let start = match (info.window, end) {
                    (Some(w), Some(e)) => w.start(e)?.timestamp(),
                    _ => i64::MIN,
                };
                let mut sum = 0i64;
                for (t, sev) in &entry.breaches {
                    if *t >= start {
                        sum = sum.saturating_add(*info.points.get(sev)?);
                    }
                }
                Some((sum, steps))
            });
            let standing = match exact_points {
                Some((points, steps)) => {
                    let step = steps.iter().rev().find(|(t, _)| *t <= points).map(|(_, l)| l.clone());
                    let next = steps.iter().find(|(t, _)| *t > points).cloned();
                    Standing { rm, state, policy, ladder, points, exact: true, step, next }
                }
                None => {
                    // Fallback: the last sanction seen, thresholds as first seen.
                    let (points, step) =
                        entry.last_sanction.as_ref().map_or((0, None), |(p, s, _)| (*p, Some(s.clone())));
                    let labels: Vec<String> = info
                        .map(|i| {
                            if i.labels.is_empty() {
                                let mut seen: Vec<(&String, &i64)> = i.seen_min.iter().collect();
                                seen.sort_by_key(|(l, p)| (**p, (*l).clone()));
                                seen.into_iter().map(|(l, _)| l.clone()).collect()
                            } else {
                                i.labels.clone()
                            }
                        })
                        .unwrap_or_default();
                    let rank = step.as_ref().and_then(|s| labels.iter().position(|l| l == s));
                    let next_label = match rank {
                        Some(r) => labels.get(r.saturating_add(1)),
                        None if step.is_none() => labels.first(),
                        None => None,
                    };
                    let next = next_label.and_then(|l| info.and_then(|i| i.seen_min.get(l)).map(|t| (*t, l.clone())));
                    Standing { rm, state, policy, ladder, points, exact: false, step, next }
                }
            };
            out.push(standing);
        }
    }
    out
}

#[derive(Serialize)]
struct LadderRows {
    policy: String,
    ladder: String,
    window: Option<String>,
    below: String,
    /// `(label, threshold, RMs whose highest step it was, RMs at it at the end, times reached)`.
    steps: Vec<(String, String, String, String, String)>,
}

fn sanctions(c: &Collector<'_>, standings: &[Standing<'_>]) -> Option<Vec<LadderRows>> {
    if c.ladders.values().all(|l| l.entries.is_empty()) && standings.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for ((policy, ladder), info) in &c.ladders {
        let mut labels: Vec<(Option<i64>, String)> = match &info.steps {
            Some(steps) => steps.iter().map(|(t, l)| (Some(*t), l.clone())).collect(),
            None => info.labels.iter().map(|l| (info.seen_min.get(l).copied(), l.clone())).collect(),
        };
        for l in info.entries.keys() {
            if !labels.iter().any(|(_, x)| x == l) {
                labels.push((info.seen_min.get(l).copied(), l.clone()));
            }
        }
        let in_ladder = |s: &&Standing<'_>| s.policy == policy && s.ladder == ladder;
        let below = standings.iter().filter(in_ladder).filter(|s| s.step.is_none() && s.points > 0).count();
        let steps = labels
            .iter()
            .map(|(threshold, label)| {
                let highest = c
                    .rms
                    .values()
                    .filter(|r| {
                        r.ladders.get(&(policy.clone(), ladder.clone())).and_then(|l| l.highest.as_ref()) == Some(label)
                    })
                    .count();
                let now = standings.iter().filter(in_ladder).filter(|s| s.step.as_ref() == Some(label)).count();
                (
                    label.clone(),
                    threshold.map_or_else(|| "?".to_string(), |t| format!("{t} pts")),
                    thousands(highest as u64),
                    thousands(now as u64),
                    thousands(info.entries.get(label).copied().unwrap_or(0)),
                )
            })
            .collect();
        out.push(LadderRows {
            policy: policy.clone(),
            ladder: ladder.clone(),
            window: info.window_text.clone(),
            below: thousands(below as u64),
            steps,
        });
    }
    Some(out)
}

#[derive(Serialize)]
struct Closest {
    exact: bool,
    rows: Vec<ClosestRow>,
    /// `(anchor, RM)` of the RMs at a ladder's top step.
    top: Vec<(String, String)>,
    top_count: usize,
    behind: Vec<Behind>,
}

#[derive(Serialize)]
struct ClosestRow {
    anchor: String,
    rm: String,
    branch: String,
    ladder: String,
    points: i64,
    step: Option<String>,
    next: String,
    threshold: i64,
    gap: i64,
    breaches: String,
    last_breach: Option<Time>,
}

#[derive(Serialize)]
struct Behind {
    anchor: String,
    rm: String,
    branch: String,
    breaches: String,
    decisions: String,
    intro: String,
    examples: Vec<ExampleView>,
}

#[derive(Serialize)]
struct ExampleView {
    kind: &'static str,
    action: String,
    at: String,
    rules: String,
    json: String,
}

fn closest(c: &Collector<'_>, standings: &[Standing<'_>]) -> Closest {
    let mut ranked: Vec<&Standing<'_>> =
        standings.iter().filter(|s| s.next.is_some() && (s.points > 0 || s.step.is_some())).collect();
    ranked.sort_by(|a, b| {
        let gap = |s: &Standing<'_>| s.next.as_ref().map_or(i64::MAX, |(t, _)| t.saturating_sub(s.points));
        gap(a).cmp(&gap(b)).then(b.points.cmp(&a.points)).then(a.rm.cmp(b.rm)).then(a.ladder.cmp(b.ladder))
    });
    ranked.truncate(TOP_RMS);
    let rows = ranked
        .iter()
        .map(|s| {
            let (threshold, next) = s.next.clone().unwrap_or((0, String::new()));
            ClosestRow {
                anchor: anchor(s.rm),
                rm: s.rm.to_string(),
                branch: s.state.branch.clone(),
                ladder: s.ladder.to_string(),
                points: s.points,
                step: s.step.clone(),
                next,
                threshold,
                gap: threshold.saturating_sub(s.points),
                breaches: thousands(s.state.breaches),
                last_breach: s.state.last_breach.as_deref().map(time),
            }
        })
        .collect();
    let top: Vec<&Standing<'_>> = standings.iter().filter(|s| s.next.is_none() && s.step.is_some()).collect();
    // The decisions behind each listed RM.
    let mut listed: Vec<&str> = ranked.iter().map(|s| s.rm).collect();
    listed.extend(top.iter().take(TOP_RMS).map(|s| s.rm));
    let mut seen = BTreeSet::new();
    let mut behind = Vec::new();
    for rm in listed {
        if !seen.insert(rm) {
            continue;
        }
        let Some(state) = c.rms.get(rm) else { continue };
        let n = state.examples.len() as u64;
        behind.push(Behind {
            anchor: anchor(rm),
            rm: rm.to_string(),
            branch: state.branch.clone(),
            breaches: plural(state.breaches, "breach", "breaches"),
            decisions: plural(state.events, "decision", "decisions"),
            intro: if n == 1 { "Its breach record".to_string() } else { format!("The last {n} breach records") },
            examples: state
                .examples
                .iter()
                .map(|e| ExampleView {
                    kind: e.kind,
                    action: e.action.clone(),
                    at: e.at.clone(),
                    rules: e.rules.join(", "),
                    json: reindent(&e.json),
                })
                .collect(),
        });
    }
    Closest {
        exact: standings.iter().all(|s| s.exact),
        rows,
        top_count: top.len(),
        top: top.iter().take(TOP_RMS).map(|s| (anchor(s.rm), s.rm.to_string())).collect(),
        behind,
    }
}
