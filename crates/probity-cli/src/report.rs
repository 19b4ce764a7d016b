//! `probity replay --report FILE`: a self-contained HTML report of a replay.
//!
//! The report is built while the replay streams: a [`Tap`] wraps the replay's input (to learn
//! each action's RM and branch, which decision records do not carry) and its output (to read the
//! JSON-lines records as they are written). Only aggregates are kept, with bounded lists:
//!
//! - counts per verdict, rule, policy, severity, escalation team, overdue duty, sanction step;
//! - breaches per day (at most [`MAX_DAYS`] distinct days) and per branch (at most
//!   [`MAX_BRANCHES`] branches; the rest are counted as "other");
//! - per RM: counts, its breaches still inside the ladder's window (pruned as the stream moves
//!   on), the last sanction seen, and its last [`EXAMPLES_PER_RM`] breach records (each at most
//!   [`MAX_EXAMPLE_BYTES`], for at most [`MAX_RMS_WITH_EXAMPLES`] RMs).
//!
//! **Branch.** The branch is the `rm.branch` field of the input action. An RM whose actions carry
//! no branch is grouped under its id up to the last `-` (`RM-SH-0012` → `RM-SH`).
//!
//! **Ladder steps.** Decision records carry a sanction (`points`, `step`) only when a step is
//! reached, not the ladder's thresholds, window or the points of each severity. The report reads
//! those from the engine: for the first few decisions whose breaches feed a ladder, it explains
//! the input action again (on an empty history) and takes the ladder's steps, window and the
//! points the action's breach added ([`probity::LadderTrace`]). An RM's standing is then exact:
//! the points of its breaches inside the window ending at the last record of the replay, the step
//! they reach and the points still missing to the next one. Without an engine, or if no probe
//! succeeds, the report falls back to the last sanction seen per RM, and takes as each step's
//! threshold the fewest points with which it was seen; the method section says which was used.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::io::{self, BufRead, Read, Write};
use std::rc::Rc;

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate};
use probity::replay::Summary;
use probity::{Engine, FindingKind, Sanction, Verdict};
use serde::Deserialize;

/// RMs listed in the "closest to the next step" table.
pub const TOP_RMS: usize = 25;
/// Breach records kept per RM (the most recent).
pub const EXAMPLES_PER_RM: usize = 5;
/// The longest record kept as an example, in bytes (longer ones are cut).
pub const MAX_EXAMPLE_BYTES: usize = 16 * 1024;
/// RMs for which examples are kept (the first ones to breach).
pub const MAX_RMS_WITH_EXAMPLES: usize = 20_000;
/// Branches counted one by one.
pub const MAX_BRANCHES: usize = 5_000;
/// Distinct days counted for the chart over time.
pub const MAX_DAYS: usize = 60_000;
/// Input errors quoted.
pub const MAX_ERRORS_SHOWN: usize = 10;
/// Breaches kept per RM and ladder while the ladder's window is not known.
const MAX_UNWINDOWED: usize = 1_024;
/// Actions explained again to learn ladders.
const MAX_PROBES: usize = 64;

// ------------------------------------------------------------------ records

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    decision: Option<Decision>,
    #[serde(default)]
    overdue: Option<OverdueReport>,
    #[serde(default)]
    error: Option<ErrorRecord>,
}

/// The parts of a decision the report reads (messages, citations and evidence are skipped, which
/// is much cheaper than reading them).
#[derive(Deserialize)]
struct Decision {
    action: String,
    at: String,
    verdict: Verdict,
    #[serde(default)]
    policies: Vec<AppliedPolicy>,
    #[serde(default)]
    findings: Vec<Finding>,
    #[serde(default)]
    escalations: Vec<String>,
    #[serde(default)]
    sanctions: Vec<Sanction>,
}

#[derive(Deserialize)]
struct AppliedPolicy {
    id: String,
    version: String,
    #[serde(default)]
    digest: String,
}

#[derive(Deserialize)]
struct Finding {
    policy: String,
    rule: String,
    kind: FindingKind,
    #[serde(default)]
    outcomes: Vec<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    ladder: Option<String>,
}

/// The parts of an overdue report the report reads.
#[derive(Deserialize)]
struct OverdueReport {
    rm: String,
    at: String,
    obligation: Obligation,
    #[serde(default)]
    findings: Vec<Finding>,
    #[serde(default)]
    escalations: Vec<String>,
    #[serde(default)]
    sanctions: Vec<Sanction>,
}

#[derive(Deserialize)]
struct Obligation {
    policy: String,
    duty: String,
    action: String,
}

#[derive(Deserialize)]
struct ErrorRecord {
    #[serde(default)]
    line: usize,
    #[serde(default)]
    message: String,
}

/// What the report needs of an input action.
#[derive(Deserialize, Default)]
struct Head<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    rm: Option<RmHead<'a>>,
}

#[derive(Deserialize, Default)]
struct RmHead<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    branch: Option<Cow<'a, str>>,
}

// ------------------------------------------------------------------ aggregates

#[derive(Default)]
struct RuleStats {
    kind: String,
    findings: u64,
    deny: u64,
    review: u64,
    severities: BTreeMap<String, u64>,
}

#[derive(Default)]
struct PolicyStats {
    /// Version → digest.
    versions: BTreeMap<String, String>,
    decisions: u64,
    findings: u64,
    breaches: u64,
}

#[derive(Default, Clone)]
struct BranchStats {
    events: u64,
    denies: u64,
    breaches: u64,
    rms: u64,
}

/// A ladder's definition, as learnt from the engine.
#[derive(Default)]
struct LadderInfo {
    /// `(threshold, label)`, ascending.
    steps: Option<Vec<(i64, String)>>,
    window: Option<Window>,
    window_text: Option<String>,
    /// Points per severity.
    points: BTreeMap<String, i64>,
    /// The labels in file order, from the policy set.
    labels: Vec<String>,
    /// The fewest points each label was seen with in a sanction.
    seen_min: BTreeMap<String, i64>,
    /// Sanction entries per label.
    entries: BTreeMap<String, u64>,
}

#[derive(Clone, Copy, Default)]
struct Window {
    months: u32,
    seconds: i64,
}

impl Window {
    fn parse(text: &str) -> Option<Window> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut window = Window::default();
        let mut any = false;
        for pair in words.chunks(2) {
            let [n, unit] = pair else { return None };
            let n: i64 = n.parse().ok()?;
            let unit = unit.trim_end_matches('s');
            match unit {
                "year" => window.months = window.months.checked_add(u32::try_from(n.checked_mul(12)?).ok()?)?,
                "month" => window.months = window.months.checked_add(u32::try_from(n).ok()?)?,
                "week" => window.seconds = window.seconds.checked_add(n.checked_mul(604_800)?)?,
                "day" => window.seconds = window.seconds.checked_add(n.checked_mul(86_400)?)?,
                "hour" => window.seconds = window.seconds.checked_add(n.checked_mul(3_600)?)?,
                "minute" => window.seconds = window.seconds.checked_add(n.checked_mul(60)?)?,
                "second" => window.seconds = window.seconds.checked_add(n)?,
                _ => return None,
            }
            any = true;
        }
        any.then_some(window)
    }

    /// The window's start for a window ending at `end`.
    fn start(self, end: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        end.checked_sub_months(Months::new(self.months))?
            .checked_sub_signed(chrono::TimeDelta::try_seconds(self.seconds)?)
    }
}

#[derive(Default)]
struct RmLadder {
    /// `(timestamp, severity)` of breaches that may still be inside the window.
    breaches: VecDeque<(i64, String)>,
    breaches_total: u64,
    /// The last sanction seen: points, step label, when.
    last_sanction: Option<(i64, String, String)>,
    /// The highest step reached during the replay, by rank in the ladder's labels.
    highest: Option<String>,
}

struct Example {
    kind: &'static str,
    action: String,
    at: String,
    rules: Vec<String>,
    json: String,
}

#[derive(Default)]
struct RmState {
    branch: String,
    events: u64,
    denies: u64,
    breaches: u64,
    last_breach: Option<String>,
    ladders: BTreeMap<(String, String), RmLadder>,
    examples: VecDeque<Example>,
    keeps_examples: bool,
}

/// The report's state: fed input lines and output records, rendered at the end.
pub struct Collector<'e> {
    engine: Option<&'e Engine>,
    /// Input lines whose decision (or error) record has not been seen yet.
    pending: VecDeque<Vec<u8>>,
    events: u64,
    verdicts: BTreeMap<Verdict, u64>,
    errors: u64,
    error_examples: Vec<(usize, String)>,
    overdue_reports: u64,
    breaches: u64,
    rules: BTreeMap<(String, String), RuleStats>,
    policies: BTreeMap<String, PolicyStats>,
    severities: BTreeMap<String, u64>,
    days: BTreeMap<NaiveDate, BTreeMap<String, u64>>,
    days_dropped: u64,
    branches: BTreeMap<String, BranchStats>,
    branch_other: BranchStats,
    rms: BTreeMap<String, RmState>,
    rms_with_examples: usize,
    ladders: BTreeMap<(String, String), LadderInfo>,
    escalations: BTreeMap<String, u64>,
    overdue_duties: BTreeMap<(String, String), u64>,
    first: Option<DateTime<FixedOffset>>,
    last: Option<DateTime<FixedOffset>>,
    probes: usize,
    unmatched: u64,
    bad_records: u64,
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    let n = map.entry(key).or_default();
    *n = n.saturating_add(1);
}

fn inc(n: &mut u64) {
    *n = n.saturating_add(1);
}

/// The branch used for an RM whose actions name none: its id up to the last `-`.
pub fn branch_from_rm_id(rm: &str) -> String {
    match rm.rsplit_once('-') {
        Some((prefix, _)) if !prefix.is_empty() => prefix.to_string(),
        _ => rm.to_string(),
    }
}

fn verdict_rank(outcomes: &[String]) -> (bool, bool) {
    (outcomes.iter().any(|o| o == "deny"), outcomes.iter().any(|o| o == "review"))
}

impl<'e> Collector<'e> {
    /// A collector; with an engine, ladders are learnt exactly (see the module documentation).
    pub fn new(engine: Option<&'e Engine>) -> Collector<'e> {
        let mut ladders: BTreeMap<(String, String), LadderInfo> = BTreeMap::new();
        if let Some(engine) = engine {
            for (policy, _, ladder, label) in engine.policy_set().ladder_steps() {
                let info = ladders.entry((policy.to_string(), ladder.to_string())).or_default();
                if !info.labels.iter().any(|l| l == label) {
                    info.labels.push(label.to_string());
                }
            }
        }
        Collector {
            engine,
            pending: VecDeque::new(),
            events: 0,
            verdicts: BTreeMap::new(),
            errors: 0,
            error_examples: Vec::new(),
            overdue_reports: 0,
            breaches: 0,
            rules: BTreeMap::new(),
            policies: BTreeMap::new(),
            severities: BTreeMap::new(),
            days: BTreeMap::new(),
            days_dropped: 0,
            branches: BTreeMap::new(),
            branch_other: BranchStats::default(),
            rms: BTreeMap::new(),
            rms_with_examples: 0,
            ladders,
            escalations: BTreeMap::new(),
            overdue_duties: BTreeMap::new(),
            first: None,
            last: None,
            probes: 0,
            unmatched: 0,
            bad_records: 0,
        }
    }

    /// One input line, as the replay reads it (without its line break).
    pub fn input_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // The replay skips blank lines: they get no record.
        if line.first() != Some(&b'{') && std::str::from_utf8(line).is_ok_and(|s| s.trim().is_empty()) {
            return;
        }
        self.pending.push_back(line.to_vec());
    }

    /// One output record (a JSON line).
    pub fn record_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Ok(record) = serde_json::from_slice::<Record>(line) else {
            inc(&mut self.bad_records);
            return;
        };
        if let Some(decision) = record.decision {
            let input = self.pending.pop_front();
            self.decision(&decision, input.as_deref(), line);
        } else if let Some(report) = record.overdue {
            self.overdue(&report, line);
        } else if let Some(error) = record.error {
            self.pending.pop_front();
            inc(&mut self.errors);
            if self.error_examples.len() < MAX_ERRORS_SHOWN {
                self.error_examples.push((error.line, error.message));
            }
        } else {
            inc(&mut self.bad_records);
        }
    }

    fn see_time(&mut self, at: &str) -> Option<DateTime<FixedOffset>> {
        let t = DateTime::parse_from_rfc3339(at).ok()?;
        if self.first.is_none_or(|f| t < f) {
            self.first = Some(t);
        }
        if self.last.is_none_or(|l| t > l) {
            self.last = Some(t);
        }
        Some(t)
    }

    fn rm_entry(&mut self, rm: &str, branch: Option<&str>) -> Option<&mut RmState> {
        if !self.rms.contains_key(rm) {
            let branch = branch.map_or_else(|| branch_from_rm_id(rm), str::to_string);
            let keeps_examples = self.rms_with_examples < MAX_RMS_WITH_EXAMPLES;
            if keeps_examples {
                self.rms_with_examples = self.rms_with_examples.saturating_add(1);
            }
            let stats = self.branch_stats(&branch);
            inc(&mut stats.rms);
            self.rms.insert(rm.to_string(), RmState { branch, keeps_examples, ..RmState::default() });
        }
        self.rms.get_mut(rm)
    }

    fn branch_stats(&mut self, branch: &str) -> &mut BranchStats {
        if self.branches.contains_key(branch) || self.branches.len() < MAX_BRANCHES {
            self.branches.entry(branch.to_string()).or_default()
        } else {
            &mut self.branch_other
        }
    }

    fn decision(&mut self, d: &Decision, input: Option<&[u8]>, text: &[u8]) {
        inc(&mut self.events);
        bump(&mut self.verdicts, d.verdict);
        let at = self.see_time(&d.at);
        let head: Head = input.and_then(|l| serde_json::from_slice(l).ok()).unwrap_or_default();
        let matched = head.id.as_deref() == Some(d.action.as_str());
        if !matched {
            inc(&mut self.unmatched);
        }
        let (rm, branch) = match head.rm {
            Some(RmHead { id: Some(id), branch }) if matched => (id, branch),
            _ => (Cow::Borrowed("(unknown RM)"), None),
        };
        for p in &d.policies {
            if !self.policies.contains_key(&p.id) {
                self.policies.insert(p.id.clone(), PolicyStats::default());
            }
            let Some(stats) = self.policies.get_mut(&p.id) else { continue };
            inc(&mut stats.decisions);
            if stats.versions.len() < 64 && !stats.versions.contains_key(&p.version) {
                stats.versions.insert(p.version.clone(), p.digest.clone());
            }
        }
        let breach_count = d.findings.iter().filter(|f| f.severity.is_some()).count();
        if let Some(state) = self.rm_entry(&rm, branch.as_deref()) {
            inc(&mut state.events);
            if d.verdict == Verdict::Deny {
                inc(&mut state.denies);
            }
            let branch = state.branch.clone();
            let stats = self.branch_stats(&branch);
            inc(&mut stats.events);
            if d.verdict == Verdict::Deny {
                inc(&mut stats.denies);
            }
        }
        self.findings(&rm, &d.findings, &d.at, at, &d.escalations, &d.sanctions);
        if breach_count > 0 || !d.sanctions.is_empty() {
            self.example(&rm, "decision", &d.action, &d.at, &d.findings, text);
            if matched {
                if let Some(line) = input {
                    self.probe(d, line);
                }
            }
        }
    }

    fn overdue(&mut self, r: &OverdueReport, text: &[u8]) {
        inc(&mut self.overdue_reports);
        let at = self.see_time(&r.at);
        bump(&mut self.overdue_duties, (r.obligation.policy.clone(), r.obligation.duty.clone()));
        self.rm_entry(&r.rm, None);
        self.findings(&r.rm, &r.findings, &r.at, at, &r.escalations, &r.sanctions);
        if r.findings.iter().any(|f| f.severity.is_some()) || !r.sanctions.is_empty() {
            self.example(&r.rm, "overdue", &r.obligation.action, &r.at, &r.findings, text);
        }
    }

    fn findings(
        &mut self,
        rm: &str,
        findings: &[Finding],
        at_text: &str,
        at: Option<DateTime<FixedOffset>>,
        escalations: &[String],
        sanctions: &[Sanction],
    ) {
        for team in escalations {
            if self.escalations.len() < 256 || self.escalations.contains_key(team) {
                bump(&mut self.escalations, team.clone());
            }
        }
        for f in findings {
            let kind = f.kind.as_str();
            let rule = self.rules.entry((f.policy.clone(), f.rule.clone())).or_default();
            if rule.kind != kind {
                rule.kind = kind.to_string();
            }
            inc(&mut rule.findings);
            let (deny, review) = verdict_rank(&f.outcomes);
            if deny {
                inc(&mut rule.deny);
            } else if review {
                inc(&mut rule.review);
            }
            let policy = self.policies.entry(f.policy.clone()).or_default();
            inc(&mut policy.findings);
            let Some(severity) = &f.severity else { continue };
            bump(&mut rule.severities, severity.clone());
            inc(&mut policy.breaches);
            inc(&mut self.breaches);
            if self.severities.len() < 32 || self.severities.contains_key(severity) {
                bump(&mut self.severities, severity.clone());
            }
            if let Some(t) = at {
                let day = t.date_naive();
                if self.days.contains_key(&day) || self.days.len() < MAX_DAYS {
                    bump(self.days.entry(day).or_default(), severity.clone());
                } else {
                    inc(&mut self.days_dropped);
                }
            }
            let ladder_key = f.ladder.as_ref().map(|l| (f.policy.clone(), l.clone()));
            let window = ladder_key.as_ref().and_then(|k| self.ladders.get(k)).and_then(|l| l.window);
            let Some(state) = self.rm_entry(rm, None) else { continue };
            inc(&mut state.breaches);
            state.last_breach = Some(at_text.to_string());
            let branch = state.branch.clone();
            if let (Some(key), Some(t)) = (ladder_key, at) {
                let entry = state.ladders.entry(key).or_default();
                inc(&mut entry.breaches_total);
                entry.breaches.push_back((t.timestamp(), severity.clone()));
                prune(&mut entry.breaches, window, t);
            }
            inc(&mut self.branch_stats(&branch).breaches);
        }
        for s in sanctions {
            let key = (s.policy.to_string(), s.ladder.to_string());
            let info = self.ladders.entry(key.clone()).or_default();
            bump(&mut info.entries, s.step.to_string());
            let min = info.seen_min.entry(s.step.to_string()).or_insert(s.points);
            *min = (*min).min(s.points);
            let rank = |label: &str| info.labels.iter().position(|l| l == label);
            let new_rank = rank(&s.step);
            let state = self.rms.entry(rm.to_string()).or_default();
            let entry = state.ladders.entry(key).or_default();
            entry.last_sanction = Some((s.points, s.step.to_string(), at_text.to_string()));
            let higher = match (&entry.highest, new_rank) {
                (None, _) => true,
                (Some(h), Some(n)) => rank(h).is_none_or(|r| n > r),
                (Some(_), None) => false,
            };
            if higher {
                entry.highest = Some(s.step.to_string());
            }
        }
    }

    fn example(&mut self, rm: &str, kind: &'static str, action: &str, at: &str, findings: &[Finding], text: &[u8]) {
        let Some(state) = self.rms.get_mut(rm) else { return };
        if !state.keeps_examples {
            return;
        }
        let mut json = String::from_utf8_lossy(text).into_owned();
        if json.len() > MAX_EXAMPLE_BYTES {
            let mut cut = MAX_EXAMPLE_BYTES;
            while !json.is_char_boundary(cut) {
                cut = cut.saturating_sub(1);
            }
            json.truncate(cut);
            json.push_str(" …");
        }
        let rules =
            findings.iter().filter(|f| f.severity.is_some()).map(|f| format!("{}/{}", f.policy, f.rule)).collect();
        if state.examples.len() >= EXAMPLES_PER_RM {
            state.examples.pop_front();
        }
        state.examples.push_back(Example { kind, action: action.to_string(), at: at.to_string(), rules, json });
    }

    /// Learns ladders from the engine: explains the action again on an empty history and reads
    /// the ladder traces (steps, window, and the points of a single breach's severity).
    fn probe(&mut self, d: &Decision, line: &[u8]) {
        let Some(engine) = self.engine else { return };
        let needed = d.findings.iter().any(|f| {
            let (Some(ladder), Some(severity)) = (&f.ladder, &f.severity) else { return false };
            self.ladders
                .get(&(f.policy.clone(), ladder.clone()))
                .is_none_or(|l| l.steps.is_none() || !l.points.contains_key(severity))
        });
        if !needed || self.probes >= MAX_PROBES {
            return;
        }
        self.probes = self.probes.saturating_add(1);
        let Ok(text) = std::str::from_utf8(line) else { return };
        let Ok(action) = probity::Action::from_json(text) else { return };
        let Ok(explanation) = engine.explain(&action, &probity::History::new()) else { return };
        for trace in &explanation.ladders {
            let key = (trace.policy.clone(), trace.ladder.clone());
            let info = self.ladders.entry(key).or_default();
            if info.steps.is_none() {
                info.steps = Some(trace.steps.clone());
                info.window = Window::parse(&trace.window);
                info.window_text = Some(trace.window.clone());
            }
            let breaches: Vec<&probity::Finding> = explanation
                .decision
                .findings
                .iter()
                .filter(|f| f.policy == trace.policy && f.ladder.as_deref() == Some(trace.ladder.as_str()))
                .collect();
            if let [only] = breaches.as_slice() {
                if let Some(severity) = &only.severity {
                    info.points.entry(severity.to_string()).or_insert(trace.added);
                }
            }
        }
    }

    /// The report as HTML.
    pub fn render(&self, meta: &Meta, summary: Option<&Summary>) -> String {
        render(self, meta, summary)
    }
}

fn prune(breaches: &mut VecDeque<(i64, String)>, window: Option<Window>, now: DateTime<FixedOffset>) {
    match window.and_then(|w| w.start(now)) {
        Some(start) => {
            let start = start.timestamp();
            while breaches.front().is_some_and(|(t, _)| *t < start) {
                breaches.pop_front();
            }
        }
        None => {
            while breaches.len() > MAX_UNWINDOWED {
                breaches.pop_front();
            }
        }
    }
}

// ------------------------------------------------------------------ taps

/// Connects a [`Collector`] to a replay: wrap its input and its output.
pub struct Tap<'e> {
    shared: Rc<RefCell<Collector<'e>>>,
}

struct InputTap<'e, R> {
    inner: R,
    shared: Rc<RefCell<Collector<'e>>>,
    partial: Vec<u8>,
}

/// Splits `bytes` into lines, carrying an unfinished line over in `partial`.
fn feed_lines(partial: &mut Vec<u8>, bytes: &[u8], mut line_done: impl FnMut(&[u8])) {
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|b| *b == b'\n') {
        let (line, tail) = rest.split_at(i);
        if partial.is_empty() {
            line_done(line);
        } else {
            partial.extend_from_slice(line);
            line_done(partial);
            partial.clear();
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    partial.extend_from_slice(rest);
}

impl<R: BufRead> InputTap<'_, R> {
    fn feed(&mut self, bytes: &[u8]) {
        let shared = &self.shared;
        feed_lines(&mut self.partial, bytes, |line| shared.borrow_mut().input_line(line));
    }

    fn end(&mut self) {
        if !self.partial.is_empty() {
            self.shared.borrow_mut().input_line(&self.partial);
            self.partial.clear();
        }
    }
}

impl<R: BufRead> Read for InputTap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.end();
        }
        self.feed(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<R: BufRead> BufRead for InputTap<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let empty = self.inner.fill_buf()?.is_empty();
        if empty {
            self.end();
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let shared = &self.shared;
            let taken = buf.get(..amount.min(buf.len())).unwrap_or_default();
            feed_lines(&mut self.partial, taken, |line| shared.borrow_mut().input_line(line));
        }
        self.inner.consume(amount);
    }
}

struct OutputTap<'e, W> {
    inner: W,
    shared: Rc<RefCell<Collector<'e>>>,
    partial: Vec<u8>,
}

impl<W: Write> Write for OutputTap<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let shared = &self.shared;
        feed_lines(&mut self.partial, buf.get(..n).unwrap_or_default(), |line| shared.borrow_mut().record_line(line));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<'e> Tap<'e> {
    /// A tap; with an engine, ladders are learnt exactly.
    pub fn new(engine: Option<&'e Engine>) -> Tap<'e> {
        Tap { shared: Rc::new(RefCell::new(Collector::new(engine))) }
    }

    /// Wraps the replay's input.
    pub fn input<'a>(&self, inner: Box<dyn BufRead + 'a>) -> Box<dyn BufRead + 'a>
    where
        'e: 'a,
    {
        Box::new(InputTap { inner, shared: Rc::clone(&self.shared), partial: Vec::new() })
    }

    /// Wraps the replay's output.
    pub fn output<'a>(&self, inner: Box<dyn Write + 'a>) -> Box<dyn Write + 'a>
    where
        'e: 'a,
    {
        Box::new(OutputTap { inner, shared: Rc::clone(&self.shared), partial: Vec::new() })
    }

    /// The report as HTML.
    pub fn render(&self, meta: &Meta, summary: Option<&Summary>) -> String {
        self.shared.borrow().render(meta, summary)
    }

    /// Writes the report to `path`.
    pub fn write(&self, path: &std::path::Path, meta: &Meta, summary: Option<&Summary>) -> Result<(), String> {
        std::fs::write(path, self.render(meta, summary))
            .map_err(|e| format!("cannot write the report `{}`: {e}", path.display()))
    }
}

/// What the report says about its inputs.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The policy directory.
    pub policies: String,
    /// The events file.
    pub events: String,
    /// `--as-of`, if given.
    pub as_of: Option<String>,
}

// ------------------------------------------------------------------ rendering

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

/// A timestamp as `YYYY-MM-DD HH:MM` in a `<time>` element.
fn short_time(at: &str) -> String {
    match DateTime::parse_from_rfc3339(at) {
        Ok(t) => format!("<time datetime=\"{}\" class=\"nowrap\">{}</time>", escape(at), t.format("%Y-%m-%d %H:%M")),
        Err(_) => escape(at),
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
            let _ = write!(out, "_{b:02x}");
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

fn time_chart(c: &Collector<'_>, order: &[String]) -> String {
    let (buckets, unit) = buckets(c);
    if buckets.is_empty() {
        return "<p class=\"empty\">No breaches.</p>".into();
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
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" id=\"chart-time\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-labelledby=\"chart-time-title chart-time-desc\" preserveAspectRatio=\"xMidYMid meet\">\
         <title id=\"chart-time-title\">Breaches per {unit}, stacked by severity</title>\
         <desc id=\"chart-time-desc\">{} breaches over {} {unit}s{}.</desc>",
        thousands(total),
        buckets.len(),
        escape(&peak_text)
    );
    // Grid and y axis.
    let mut v = 0;
    while v <= top {
        let yy = y(v);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            width - right,
            left - 8.0,
            yy + 4.0,
            thousands(v)
        );
        v = v.saturating_add(step);
        if step == 0 {
            break;
        }
    }
    // Bars.
    let label_every = ((n / 16.0).ceil() as usize).max(1);
    for (i, b) in buckets.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut base = 0u64;
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
        let _ = write!(svg, "<g class=\"bar\" data-total=\"{sum}\"><title>{}</title>", escape(&tip));
        for s in order {
            let Some(&count) = b.counts.get(s) else { continue };
            if count == 0 {
                continue;
            }
            let y1 = y(base.saturating_add(count));
            let y0 = y(base);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                (y0 - y1).max(0.5),
                colour(order, s)
            );
            base = base.saturating_add(count);
        }
        svg.push_str("</g>");
        if i.checked_rem(label_every) == Some(0) {
            let _ = write!(
                svg,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar_w / 2.0,
                top_margin + plot_h + 18.0,
                escape(&b.label)
            );
        }
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        width - right,
        top_margin + plot_h,
        top_margin + plot_h
    );
    // Legend.
    let mut lx = left;
    for s in order {
        let _ = write!(
            svg,
            "<rect x=\"{lx:.1}\" y=\"8\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{}\"/>\
             <text class=\"legend\" x=\"{:.1}\" y=\"18\">{}</text>",
            colour(order, s),
            lx + 17.0,
            escape(s)
        );
        lx += 24.0 + 8.0 * s.chars().count() as f64 + 12.0;
    }
    svg.push_str("</svg>");
    // The same data as a table.
    let mut table = format!(
        "<details class=\"data\"><summary>Data table: breaches per {unit}</summary><table><thead><tr><th scope=\"col\">{}</th>",
        if unit == "week" { "Week of" } else { "Month" }
    );
    for s in order {
        let _ = write!(table, "<th scope=\"col\" class=\"num\">{}</th>", escape(s));
    }
    table.push_str("<th scope=\"col\" class=\"num\">Total</th></tr></thead><tbody>");
    for b in &buckets {
        let _ = write!(table, "<tr><th scope=\"row\">{}</th>", escape(&b.long));
        for s in order {
            let _ = write!(table, "<td class=\"num\">{}</td>", thousands(b.counts.get(s).copied().unwrap_or(0)));
        }
        let _ = write!(table, "<td class=\"num\">{}</td></tr>", thousands(b.counts.values().sum()));
    }
    table.push_str("</tbody></table></details>");
    format!("<figure>{svg}<figcaption>Breaches per {unit} (by the local date of the decision, or of the deadline for overdue duties), stacked by severity. Hover a bar for its numbers.</figcaption>{table}</figure>")
}

fn branch_chart(c: &Collector<'_>) -> String {
    let mut rows: Vec<(&String, &BranchStats)> = c.branches.iter().filter(|(_, b)| b.breaches > 0).collect();
    rows.sort_by(|a, b| b.1.breaches.cmp(&a.1.breaches).then(a.0.cmp(b.0)));
    if rows.is_empty() {
        return "<p class=\"empty\">No breaches.</p>".into();
    }
    const SHOWN: usize = 15;
    let rest: Vec<&(&String, &BranchStats)> = rows.iter().skip(SHOWN).collect();
    let other = rest.iter().map(|(_, b)| b.breaches).sum::<u64>().saturating_add(c.branch_other.breaches);
    let mut bars: Vec<(String, u64, u64)> =
        rows.iter().take(SHOWN).map(|(name, b)| ((*name).clone(), b.breaches, b.rms)).collect();
    if other > 0 {
        let count = rest.len().saturating_add(usize::from(c.branch_other.breaches > 0));
        bars.push((format!("{count} other branches"), other, 0));
    }
    let max = bars.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let row_h = 26.0_f64;
    let (width, label_w, right) = (920.0_f64, 190.0_f64, 80.0_f64);
    let height = row_h * bars.len() as f64 + 16.0;
    let total: u64 = c.branches.values().map(|b| b.breaches).sum::<u64>().saturating_add(c.branch_other.breaches);
    let top_text = bars.first().map(|(n, v, _)| format!("; the most is {} in {n}", thousands(*v))).unwrap_or_default();
    let mut svg = format!(
        "<svg class=\"chart\" id=\"chart-branch\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-labelledby=\"chart-branch-title chart-branch-desc\" preserveAspectRatio=\"xMidYMid meet\">\
         <title id=\"chart-branch-title\">Breaches by branch</title>\
         <desc id=\"chart-branch-desc\">{} breaches in {} branches{}.</desc>",
        thousands(total),
        rows.len(),
        escape(&top_text)
    );
    for (i, (name, value, rms)) in bars.iter().enumerate() {
        let y = 8.0 + row_h * i as f64;
        let w = ((width - label_w - right) * (*value as f64) / max as f64).max(1.0);
        let tip = if *rms > 0 {
            format!("{name}: {} breaches, {} RMs", thousands(*value), thousands(*rms))
        } else {
            format!("{name}: {} breaches", thousands(*value))
        };
        let _ = write!(
            svg,
            "<g class=\"bar\" data-total=\"{value}\"><title>{}</title>\
             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"#3b5b92\"/>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            escape(&tip),
            label_w - 10.0,
            y + row_h * 0.62,
            escape(name),
            row_h - 8.0,
            label_w + w + 6.0,
            y + row_h * 0.62,
            thousands(*value)
        );
    }
    svg.push_str("</svg>");
    let mut table = String::from(
        "<details class=\"data\"><summary>Data table: every branch</summary><table><thead><tr>\
         <th scope=\"col\">Branch</th><th scope=\"col\" class=\"num\">RMs</th><th scope=\"col\" class=\"num\">Decisions</th>\
         <th scope=\"col\" class=\"num\">Denied</th><th scope=\"col\" class=\"num\">Breaches</th></tr></thead><tbody>",
    );
    let mut all: Vec<(&String, &BranchStats)> = c.branches.iter().collect();
    all.sort_by(|a, b| b.1.breaches.cmp(&a.1.breaches).then(a.0.cmp(b.0)));
    for (name, b) in all {
        let _ = write!(
            table,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(name),
            thousands(b.rms),
            thousands(b.events),
            thousands(b.denies),
            thousands(b.breaches)
        );
    }
    table.push_str("</tbody></table></details>");
    format!("<figure>{svg}<figcaption>Breaches (decisions and overdue duties) by the branch of the RM.</figcaption>{table}</figure>")
}

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

fn rules_table(c: &Collector<'_>, order: &[String]) -> String {
    let mut rows: Vec<(&(String, String), &RuleStats)> = c.rules.iter().collect();
    rows.sort_by(|a, b| b.1.breaches().cmp(&a.1.breaches()).then(b.1.findings.cmp(&a.1.findings)).then(a.0.cmp(b.0)));
    let (breaching, others): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, r)| r.breaches() > 0);
    let mut out = String::new();
    let header = |out: &mut String, class: &str, caption: &str| {
        let _ = write!(
            out,
            "<table class=\"{class}\"><caption>{caption}</caption><thead><tr>\
             <th scope=\"col\">Rule</th><th scope=\"col\">Policy</th><th scope=\"col\">Kind</th><th scope=\"col\">Severity</th>\
             <th scope=\"col\" class=\"num\">Findings</th><th scope=\"col\" class=\"num\">Breaches</th>\
             <th scope=\"col\" class=\"num\">Denied</th><th scope=\"col\" class=\"num\">Reviewed</th>\
             <th scope=\"col\"><span class=\"sr-only\">Share of breaches</span></th></tr></thead><tbody>"
        );
    };
    let max = breaching.iter().map(|(_, r)| r.breaches()).max().unwrap_or(1).max(1);
    let row = |out: &mut String, (policy, rule): &(String, String), r: &RuleStats| {
        let severity = r
            .severities
            .keys()
            .map(|s| format!("<span class=\"sev\" style=\"--c:{}\">{}</span>", colour(order, s), escape(s)))
            .collect::<Vec<_>>()
            .join(" ");
        let spark = match r.severities.iter().max_by_key(|(_, n)| **n) {
            Some((s, _)) => format!(
                "<span style=\"width:{:.1}%;background:{}\"></span>",
                r.breaches() as f64 * 100.0 / max as f64,
                colour(order, s)
            ),
            None => String::new(),
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"spark\" aria-hidden=\"true\">{spark}</td></tr>",
            escape(rule),
            escape(policy),
            escape(&r.kind),
            if severity.is_empty() { "<span class=\"muted\">—</span>".to_string() } else { severity },
            thousands(r.findings),
            thousands(r.breaches()),
            thousands(r.deny),
            thousands(r.review)
        );
    };
    if breaching.is_empty() {
        out.push_str("<p class=\"empty\">No breaches.</p>");
    } else {
        header(&mut out, "rules", "Rules, conflicts and duties whose findings recorded breaches (overdue duties included), most breaches first.");
        for (key, r) in &breaching {
            row(&mut out, key, r);
        }
        out.push_str("</tbody></table>");
    }
    if !others.is_empty() {
        let _ = write!(
            out,
            "<details class=\"data\"><summary>{} that fired without recording a breach (reviews, denials and warnings)</summary>",
            plural(others.len() as u64, "other rule", "other rules")
        );
        header(&mut out, "rules-other", "Findings without a breach, most frequent first.");
        for (key, r) in &others {
            row(&mut out, key, r);
        }
        out.push_str("</tbody></table></details>");
    }
    out
}

impl RuleStats {
    fn breaches(&self) -> u64 {
        self.severities.values().sum()
    }
}

fn render(c: &Collector<'_>, meta: &Meta, summary: Option<&Summary>) -> String {
    let order = severity_order(c);
    let verdict = |v: Verdict| c.verdicts.get(&v).copied().unwrap_or(0);
    let (allow, review, deny) = (verdict(Verdict::Allow), verdict(Verdict::Review), verdict(Verdict::Deny));
    let rms_breaching = c.rms.values().filter(|r| r.breaches > 0).count() as u64;
    let sanction_entries: u64 = c.ladders.values().flat_map(|l| l.entries.values()).sum();
    let period = match (c.first, c.last) {
        (Some(f), Some(l)) => format!("{} to {}", f.format("%Y-%m-%d %H:%M %:z"), l.format("%Y-%m-%d %H:%M %:z")),
        _ => "no records".into(),
    };
    let mut h = String::with_capacity(256 * 1024);
    h.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>Probity replay report</title>\n<style>\n");
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n");
    h.push_str("<a class=\"skip\" href=\"#main\">Skip to the report</a>\n<header class=\"top\"><div class=\"wrap\">");
    h.push_str("<p class=\"brand\">Probity</p><h1>Replay report</h1>");
    let _ = write!(
        h,
        "<dl class=\"meta\"><div><dt>Policies</dt><dd><code>{}</code></dd></div><div><dt>Events</dt><dd><code>{}</code></dd></div>\
         <div><dt>Period</dt><dd>{}</dd></div>{}</dl>",
        escape(&meta.policies),
        escape(&meta.events),
        escape(&period),
        meta.as_of.as_ref().map(|a| format!("<div><dt>As of</dt><dd>{}</dd></div>", escape(a))).unwrap_or_default()
    );
    h.push_str("</div></header>\n<nav class=\"toc\" aria-label=\"Sections\"><div class=\"wrap\"><ul>");
    for (id, title) in [
        ("summary", "Summary"),
        ("rules", "Rules"),
        ("policies", "Policies"),
        ("over-time", "Over time"),
        ("branches", "Branches"),
        ("sanctions", "Sanctions"),
        ("overdue", "Overdue duties"),
        ("closest", "Closest to next step"),
        ("method", "Method"),
    ] {
        let _ = write!(h, "<li><a href=\"#{id}\">{title}</a></li>");
    }
    h.push_str("</ul></div></nav>\n<main id=\"main\" class=\"wrap\">\n");

    // Summary.
    h.push_str(
        "<section id=\"summary\" aria-labelledby=\"h-summary\"><h2 id=\"h-summary\">Summary</h2><div class=\"cards\">",
    );
    let card = |h: &mut String, id: &str, label: &str, value: u64, note: String| {
        let _ = write!(
            h,
            "<div class=\"card\" id=\"card-{id}\"><p class=\"label\">{label}</p><p class=\"value\" data-value=\"{value}\">{}</p><p class=\"note\">{note}</p></div>",
            thousands(value)
        );
    };
    card(&mut h, "events", "Events", c.events, plural(c.overdue_reports, "overdue report", "overdue reports"));
    card(&mut h, "deny", "Denied", deny, format!("{} of decisions", percent(deny, c.events)));
    card(&mut h, "review", "Reviewed", review, format!("{} of decisions", percent(review, c.events)));
    card(&mut h, "breaches", "Breaches", c.breaches, format!("by {}", plural(rms_breaching, "RM", "RMs")));
    let sanctioned = c.rms.values().filter(|r| r.ladders.values().any(|l| l.highest.is_some())).count() as u64;
    card(
        &mut h,
        "sanctioned",
        "RMs sanctioned",
        sanctioned,
        format!("of {} RMs; {} reached", thousands(c.rms.len() as u64), plural(sanction_entries, "step", "steps")),
    );
    card(
        &mut h,
        "errors",
        "Input errors",
        c.errors,
        if c.errors == 0 { "every line was used".into() } else { "lines that could not be used".into() },
    );
    h.push_str("</div>");
    // Verdict bar.
    let total = allow.saturating_add(review).saturating_add(deny).max(1);
    h.push_str("<div class=\"verdicts\" role=\"img\" aria-label=\"");
    let _ = write!(
        h,
        "Verdicts: {} allowed, {} reviewed, {} denied\">",
        thousands(allow),
        thousands(review),
        thousands(deny)
    );
    for (class, label, n) in [("allow", "Allowed", allow), ("review", "Reviewed", review), ("deny", "Denied", deny)] {
        let w = n as f64 * 100.0 / total as f64;
        if n > 0 {
            let _ = write!(
                h,
                "<span class=\"v-{class}\" style=\"width:{w:.3}%\" title=\"{label}: {} ({})\"></span>",
                thousands(n),
                percent(n, c.events)
            );
        }
    }
    h.push_str("</div><table class=\"compact\"><caption>Decisions by verdict</caption><thead><tr><th scope=\"col\">Verdict</th><th scope=\"col\" class=\"num\">Decisions</th><th scope=\"col\" class=\"num\">Share</th></tr></thead><tbody>");
    for (class, label, n) in [("allow", "allow", allow), ("review", "review", review), ("deny", "deny", deny)] {
        let _ = write!(
            h,
            "<tr><th scope=\"row\"><span class=\"dot v-{class}\"></span>{label}</th><td class=\"num\" id=\"verdict-{class}\">{}</td><td class=\"num\">{}</td></tr>",
            thousands(n),
            percent(n, c.events)
        );
    }
    h.push_str("</tbody></table>");
    if !c.escalations.is_empty() {
        h.push_str("<table class=\"compact\"><caption>Escalations by team</caption><thead><tr><th scope=\"col\">Team</th><th scope=\"col\" class=\"num\">Escalations</th></tr></thead><tbody>");
        let mut teams: Vec<(&String, &u64)> = c.escalations.iter().collect();
        teams.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (team, n) in teams {
            let _ =
                write!(h, "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td></tr>", escape(team), thousands(*n));
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>\n");

    // Rules.
    h.push_str("<section id=\"rules\" aria-labelledby=\"h-rules\"><h2 id=\"h-rules\">Breaches per rule</h2>");
    h.push_str(&rules_table(c, &order));
    h.push_str("</section>\n");

    // Policies.
    h.push_str(
        "<section id=\"policies\" aria-labelledby=\"h-policies\"><h2 id=\"h-policies\">Breaches per policy</h2>",
    );
    h.push_str("<table><caption>Policies that applied, with the versions in force during the replay.</caption><thead><tr><th scope=\"col\">Policy</th><th scope=\"col\">Versions</th>\
        <th scope=\"col\" class=\"num\">Decisions</th><th scope=\"col\" class=\"num\">Findings</th><th scope=\"col\" class=\"num\">Breaches</th></tr></thead><tbody>");
    for (id, p) in &c.policies {
        let versions: Vec<String> =
            p.versions.iter().map(|(v, d)| format!("<span title=\"{}\">{}</span>", escape(d), escape(v))).collect();
        let _ = write!(
            h,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(id),
            versions.join(", "),
            thousands(p.decisions),
            thousands(p.findings),
            thousands(p.breaches)
        );
    }
    h.push_str("</tbody></table></section>\n");

    // Over time and by branch.
    h.push_str("<section id=\"over-time\" aria-labelledby=\"h-time\"><h2 id=\"h-time\">Breaches over time</h2>");
    h.push_str(&time_chart(c, &order));
    h.push_str("</section>\n<section id=\"branches\" aria-labelledby=\"h-branches\"><h2 id=\"h-branches\">Breaches by branch</h2>");
    h.push_str(&branch_chart(c));
    h.push_str("</section>\n");

    // Sanctions.
    let standings = standings(c);
    h.push_str(
        "<section id=\"sanctions\" aria-labelledby=\"h-sanctions\"><h2 id=\"h-sanctions\">RMs by sanction step</h2>",
    );
    if c.ladders.values().all(|l| l.entries.is_empty()) && standings.is_empty() {
        h.push_str("<p class=\"empty\">No breach fed a sanction ladder.</p>");
    } else {
        h.push_str("<table><caption>For each ladder step: the RMs whose highest step during the replay was this one, the RMs at it at the end (points inside the window), and how often a decision reached it.</caption><thead><tr>\
            <th scope=\"col\">Ladder</th><th scope=\"col\">Step</th><th scope=\"col\" class=\"num\">From</th><th scope=\"col\" class=\"num\">RMs, highest reached</th>\
            <th scope=\"col\" class=\"num\">RMs at the end</th><th scope=\"col\" class=\"num\">Times reached</th></tr></thead><tbody>");
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
            let _ = write!(
                h,
                "<tr class=\"below\"><th scope=\"row\" rowspan=\"{}\"><code>{}/{}</code>{}</th><td>below the first step</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">{}</td><td class=\"num\">—</td></tr>",
                labels.len().saturating_add(1),
                escape(policy),
                escape(ladder),
                info.window_text.as_ref().map(|w| format!("<br><small>window {}</small>", escape(w))).unwrap_or_default(),
                thousands(below as u64)
            );
            for (threshold, label) in &labels {
                let highest = c
                    .rms
                    .values()
                    .filter(|r| {
                        r.ladders.get(&(policy.clone(), ladder.clone())).and_then(|l| l.highest.as_ref()) == Some(label)
                    })
                    .count();
                let now = standings.iter().filter(in_ladder).filter(|s| s.step.as_ref() == Some(label)).count();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    escape(label),
                    threshold.map_or_else(|| "?".to_string(), |t| format!("{t} pts")),
                    thousands(highest as u64),
                    thousands(now as u64),
                    thousands(info.entries.get(label).copied().unwrap_or(0))
                );
            }
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>\n");

    // Overdue duties.
    h.push_str("<section id=\"overdue\" aria-labelledby=\"h-overdue\"><h2 id=\"h-overdue\">Overdue duties</h2>");
    if c.overdue_duties.is_empty() {
        h.push_str("<p class=\"empty\">No duty fell overdue.</p>");
    } else {
        h.push_str("<table><caption>Obligations reported overdue, per duty.</caption><thead><tr><th scope=\"col\">Duty</th><th scope=\"col\">Policy</th><th scope=\"col\" class=\"num\">Overdue reports</th></tr></thead><tbody>");
        let mut rows: Vec<(&(String, String), &u64)> = c.overdue_duties.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for ((policy, duty), n) in rows {
            let _ = write!(
                h,
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td class=\"num\">{}</td></tr>",
                escape(duty),
                escape(policy),
                thousands(*n)
            );
        }
        h.push_str("</tbody></table>");
    }
    if let Some(s) = summary {
        let _ = write!(
            h,
            "<p>At the end of the replay, <strong>{}</strong> obligations were still open and not yet due, and <strong>{}</strong> were open after being reported overdue.</p>",
            thousands(s.open_obligations as u64),
            thousands(s.overdue_open as u64)
        );
    }
    h.push_str("</section>\n");

    // Closest to the next step.
    h.push_str("<section id=\"closest\" aria-labelledby=\"h-closest\"><h2 id=\"h-closest\">RMs closest to the next sanction step</h2>");
    let mut ranked: Vec<&Standing<'_>> =
        standings.iter().filter(|s| s.next.is_some() && (s.points > 0 || s.step.is_some())).collect();
    ranked.sort_by(|a, b| {
        let gap = |s: &Standing<'_>| s.next.as_ref().map_or(i64::MAX, |(t, _)| t.saturating_sub(s.points));
        gap(a).cmp(&gap(b)).then(b.points.cmp(&a.points)).then(a.rm.cmp(b.rm)).then(a.ladder.cmp(b.ladder))
    });
    ranked.truncate(TOP_RMS);
    let exact = standings.iter().all(|s| s.exact);
    if ranked.is_empty() {
        h.push_str("<p class=\"empty\">No RM has points on a ladder.</p>");
    } else {
        let _ = write!(
            h,
            "<table id=\"closest-table\"><caption>The {} RMs with the fewest points still missing to the next step ({}). Each RM links to the breaches behind its points.</caption><thead><tr>\
             <th scope=\"col\">RM</th><th scope=\"col\">Branch</th><th scope=\"col\">Ladder</th><th scope=\"col\" class=\"num\">Points</th><th scope=\"col\">Current step</th>\
             <th scope=\"col\">Next step</th><th scope=\"col\" class=\"num\">Points to go</th><th scope=\"col\" class=\"num\">Breaches</th><th scope=\"col\">Last breach</th></tr></thead><tbody>",
            ranked.len(),
            if exact { "points inside the ladder's window at the end of the replay" } else { "points of the last sanction seen; see the method" }
        );
        for s in &ranked {
            let (threshold, next) = s.next.clone().unwrap_or((0, String::new()));
            let _ = write!(
                h,
                "<tr><th scope=\"row\" class=\"nowrap\"><a href=\"#{}\">{}</a></th><td class=\"nowrap\">{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td><td>{} <small>({} pts)</small></td>\
                 <td class=\"num gap\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                anchor(s.rm),
                escape(s.rm),
                escape(&s.state.branch),
                escape(s.ladder),
                s.points,
                s.step.as_deref().map_or_else(|| "<span class=\"muted\">none</span>".to_string(), escape),
                escape(&next),
                threshold,
                threshold.saturating_sub(s.points),
                thousands(s.state.breaches),
                s.state.last_breach.as_deref().map(short_time).unwrap_or_default()
            );
        }
        h.push_str("</tbody></table>");
    }
    let top: Vec<&Standing<'_>> = standings.iter().filter(|s| s.next.is_none() && s.step.is_some()).collect();
    if !top.is_empty() {
        let _ = write!(
            h,
            "<p class=\"callout\" role=\"note\"><strong>{}</strong> RM{} {} at the top step of a ladder: {}.</p>",
            top.len(),
            if top.len() == 1 { "" } else { "s" },
            if top.len() == 1 { "is" } else { "are" },
            top.iter()
                .take(TOP_RMS)
                .map(|s| format!("<a href=\"#{}\">{}</a>", anchor(s.rm), escape(s.rm)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // The decisions behind each listed RM.
    let mut listed: Vec<&str> = ranked.iter().map(|s| s.rm).collect();
    listed.extend(top.iter().take(TOP_RMS).map(|s| s.rm));
    if !listed.is_empty() {
        h.push_str("<h3 id=\"h-behind\">The decisions behind the table</h3>");
    }
    let mut seen = BTreeSet::new();
    for rm in listed {
        if !seen.insert(rm) {
            continue;
        }
        let Some(state) = c.rms.get(rm) else { continue };
        let _ = write!(
                h,
                "<article class=\"rm\" id=\"{}\" aria-labelledby=\"{}-h\"><h4 id=\"{}-h\">{} <small>{} · {} in {}</small></h4>",
                anchor(rm),
                anchor(rm),
                anchor(rm),
                escape(rm),
                escape(&state.branch),
                plural(state.breaches, "breach", "breaches"),
                plural(state.events, "decision", "decisions")
            );
        if state.examples.is_empty() {
            h.push_str("<p class=\"muted\">No breach records kept for this RM (see the bounds in the method).</p>");
        } else {
            let n = state.examples.len() as u64;
            let _ = write!(
                h,
                "<p>{}, oldest first:</p><ol class=\"examples\">",
                if n == 1 { "Its breach record".to_string() } else { format!("The last {n} breach records") }
            );
            for e in &state.examples {
                let pretty = reindent(&e.json);
                let _ = write!(
                        h,
                        "<li><details><summary><span class=\"tag\">{}</span> <code>{}</code> · {} · {}</summary><pre><code>{}</code></pre></details></li>",
                        e.kind,
                        escape(&e.action),
                        escape(&e.at),
                        escape(&e.rules.join(", ")),
                        escape(&pretty)
                    );
            }
            h.push_str("</ol>");
        }
        h.push_str("<p class=\"back\"><a href=\"#closest\">Back to the table</a></p></article>");
    }
    h.push_str("</section>\n");

    // Errors.
    if c.errors > 0 {
        h.push_str("<section id=\"errors\" aria-labelledby=\"h-errors\"><h2 id=\"h-errors\">Input errors</h2>");
        let _ = write!(h, "<p>{} input lines could not be used. The first ones:</p><ul>", thousands(c.errors));
        for (line, message) in &c.error_examples {
            let _ = write!(h, "<li>line {line}: {}</li>", escape(message));
        }
        h.push_str("</ul></section>\n");
    }

    // Method.
    h.push_str(
        "<section id=\"method\" aria-labelledby=\"h-method\"><h2 id=\"h-method\">How this report is computed</h2><ul>",
    );
    h.push_str("<li>Every figure comes from the replay's records (decisions, overdue reports, errors), read as they are written. Breaches are findings with a severity, in decisions and in overdue reports.</li>");
    h.push_str("<li>The branch of an RM is the <code>rm.branch</code> field of its input actions; an RM whose actions carry none is grouped under its id up to the last <code>-</code>.</li>");
    if exact {
        h.push_str("<li>Ladder thresholds, windows and the points of each severity were read from the policies through the engine (by explaining a decision that breached). An RM's points are those of its breaches inside the ladder's window ending at the last record of the replay.</li>");
    } else {
        h.push_str("<li>The ladder's thresholds could not all be read from the policies, so an RM's points are those of the last sanction seen, and each step's threshold is the fewest points it was seen with (a step never reached shows no threshold).</li>");
    }
    let _ = write!(
        h,
        "<li>Memory is bounded: the report keeps aggregates, the last {EXAMPLES_PER_RM} breach records of at most {} RMs (each cut at {} KiB), at most {} branches and {} days.</li>",
        thousands(MAX_RMS_WITH_EXAMPLES as u64),
        MAX_EXAMPLE_BYTES / 1024,
        thousands(MAX_BRANCHES as u64),
        thousands(MAX_DAYS as u64)
    );
    if c.unmatched > 0 || c.days_dropped > 0 || c.bad_records > 0 {
        let _ = write!(
            h,
            "<li>Caveats: {} decisions could not be matched to their input line (counted under an unknown RM); {} breaches fell outside the days counted; {} records could not be read.</li>",
            thousands(c.unmatched),
            thousands(c.days_dropped),
            thousands(c.bad_records)
        );
    }
    h.push_str("</ul></section>\n</main>\n");
    let _ = write!(
        h,
        "<footer class=\"wrap\"><p>Generated by probity {} from {} records. The report is self-contained: no scripts, fonts or images are loaded.</p></footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        thousands(c.events.saturating_add(c.overdue_reports).saturating_add(c.errors))
    );
    h
}

const CSS: &str = r#":root {
  --ink: #1d2433; --muted: #5b6475; --line: #e3e7ee; --bg: #f6f7fa; --card: #ffffff;
  --accent: #3b5b92; --allow: #2f855a; --review: #c07a00; --deny: #c0392b;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "PingFang SC", sans-serif; color: var(--ink); background: var(--bg); }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 12px; top: 12px; background: #fff; padding: 6px 10px; z-index: 10; }
header.top { background: #1f2f4d; color: #fff; padding: 22px 0 18px; }
header.top .brand { margin: 0; font-size: 12px; letter-spacing: .14em; text-transform: uppercase; color: #aebbd6; }
header.top h1 { margin: 2px 0 12px; font-size: 26px; font-weight: 650; }
dl.meta { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0; font-size: 13px; }
dl.meta div { display: flex; gap: 6px; }
dl.meta dt { color: #aebbd6; }
dl.meta dd { margin: 0; }
dl.meta code { color: #fff; background: rgba(255,255,255,.08); }
nav.toc { background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 5; }
nav.toc ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 18px; }
nav.toc a { display: inline-block; padding: 10px 0; color: var(--muted); text-decoration: none; font-size: 13.5px; }
nav.toc a:hover, nav.toc a:focus { color: var(--accent); text-decoration: underline; }
main { padding-top: 8px; padding-bottom: 24px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px 20px; margin: 18px 0; }
h2 { font-size: 19px; margin: 0 0 14px; font-weight: 650; }
h3 { font-size: 16px; margin: 26px 0 8px; }
h4 { font-size: 15px; margin: 0 0 6px; }
h4 small, td small { color: var(--muted); font-weight: 400; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f1f3f7; padding: 1px 5px; border-radius: 4px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fbfcfe; }
.card .label { margin: 0; font-size: 12.5px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.card .value { margin: 2px 0 0; font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .note { margin: 0; font-size: 12.5px; color: var(--muted); }
#card-deny .value, #card-sanctioned .value { color: var(--deny); } #card-review .value { color: var(--review); } #card-breaches .value { color: #8a2432; }
.verdicts { display: flex; height: 14px; border-radius: 7px; overflow: hidden; background: var(--line); margin: 4px 0 14px; }
.verdicts span { display: block; height: 100%; }
.v-allow { background: var(--allow); } .v-review { background: var(--review); } .v-deny { background: var(--deny); }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 8px; vertical-align: baseline; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0 10px; }
table.compact { width: auto; min-width: 320px; display: inline-table; margin-right: 28px; vertical-align: top; }
caption { text-align: left; color: var(--muted); font-size: 12.5px; padding-bottom: 6px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; background: #fafbfd; border-bottom: 1px solid #d5dbe5; }
tbody th { font-weight: 500; }
tbody tr:hover { background: #f7f9fc; }
.nowrap { white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.gap { font-weight: 650; color: var(--deny); }
tr.below td { color: var(--muted); }
.sev { display: inline-block; font-size: 11.5px; padding: 0 7px; border-radius: 9px; color: #fff; background: var(--c); }
.spark { width: 120px; }
.spark span { display: block; height: 8px; margin-top: 6px; border-radius: 4px; background: #9fb3d6; min-width: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #edf0f5; } svg .axis { stroke: #9aa4b5; }
svg .tick { font-size: 11px; fill: var(--muted); } svg .legend { font-size: 12px; fill: var(--ink); }
svg .label { font-size: 12.5px; fill: var(--ink); } svg .value { font-size: 12px; fill: var(--muted); font-variant-numeric: tabular-nums; }
svg g.bar:hover rect { opacity: .8; }
details.data { margin-top: 8px; font-size: 13px; }
details.data summary, .examples summary { cursor: pointer; color: var(--accent); }
details.data table { max-width: 720px; }
.callout { background: #fff5f5; border: 1px solid #f1c0c0; border-radius: 8px; padding: 8px 12px; }
section, article.rm { scroll-margin-top: 52px; }
article.rm { border-top: 1px solid var(--line); padding: 12px 0 4px; }
article.rm:target { background: #fffbea; box-shadow: 0 0 0 8px #fffbea; border-radius: 4px; }
.examples { padding-left: 20px; margin: 6px 0; }
.examples li { margin: 3px 0; }
.examples pre { max-height: 320px; overflow: auto; background: #f6f8fb; border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
.examples pre code { background: none; padding: 0; font-size: 12px; }
.tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 4px; background: #e9eef8; color: var(--accent); }
.muted, .empty { color: var(--muted); }
.back { font-size: 12.5px; margin: 4px 0 0; }
a { color: var(--accent); }
footer { color: var(--muted); font-size: 12.5px; padding-bottom: 28px; }
@media print { nav.toc { display: none; } section { break-inside: avoid; border: none; } body { background: #fff; } details { display: block; } }
"#;

impl Tap<'_> {
    /// Writes the report of a finished replay to `path`.
    pub fn finish(
        &self,
        path: &std::path::Path,
        policies: &std::path::Path,
        events: &std::path::Path,
        as_of: Option<String>,
        summary: &Summary,
    ) -> Result<(), String> {
        let meta = Meta { policies: policies.display().to_string(), events: events.display().to_string(), as_of };
        self.write(path, &meta, Some(summary))
    }
}
