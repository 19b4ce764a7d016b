//! The report's aggregates: records are digested into [`Item`]s and added to a [`Collector`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, Months, NaiveDate};
use probity::replay::Record;
use probity::{Action, Engine, FindingKind, Sanction, SmolStr, Verdict};

use crate::labels::{Labels, RuleScore, Scoring};
use crate::{EXAMPLES_PER_RM, MAX_BRANCHES, MAX_DAYS, MAX_ERRORS_SHOWN, MAX_EXAMPLE_BYTES, MAX_RMS_WITH_EXAMPLES};

/// Breaches kept per RM and ladder while the ladder's window is not known.
const MAX_UNWINDOWED: usize = 1_024;
/// Actions explained again to learn ladders.
const MAX_PROBES: usize = 64;

// ------------------------------------------------------------------ items

/// What the report takes from one replay record: made with [`Digester::item`] (or
/// [`Item::new`]) on the thread that encoded the record, added to a [`Collector`] in input order.
pub struct Item(Kind);

enum Kind {
    Decision {
        rm: SmolStr,
        /// The action's `rm.branch`, read when the record is its RM's first (`None` after).
        branch: Option<Option<String>>,
        /// The action, when its breaches feed a ladder (to learn the ladder from it).
        action: Option<Box<Action>>,
        decision: Digest,
    },
    Overdue {
        rm: SmolStr,
        policy: SmolStr,
        duty: SmolStr,
        /// A periodic duty's period: its first day and the day after its last.
        period: Option<(SmolStr, SmolStr)>,
        digest: Digest,
    },
    Error {
        line: usize,
        message: String,
    },
}

/// The parts of a decision or overdue report the report reads (messages, citations and
/// evidence are left out).
struct Digest {
    /// The action's id (for an overdue report, the obligation's action).
    action: SmolStr,
    at: SmolStr,
    verdict: Verdict,
    policies: Vec<(SmolStr, SmolStr, SmolStr)>,
    findings: Vec<Finding>,
    escalations: Vec<SmolStr>,
    sanctions: Vec<Sanction>,
    /// The record's JSON line, for a record with breaches or sanctions (cut to
    /// [`MAX_EXAMPLE_BYTES`]).
    json: Option<String>,
}

pub(crate) struct Finding {
    pub(crate) policy: SmolStr,
    pub(crate) rule: SmolStr,
    pub(crate) kind: FindingKind,
    deny: bool,
    review: bool,
    severity: Option<SmolStr>,
    ladder: Option<SmolStr>,
}

fn findings(findings: &[probity::Finding]) -> Vec<Finding> {
    findings
        .iter()
        .map(|f| Finding {
            policy: f.policy.clone(),
            rule: f.rule.clone(),
            kind: f.kind,
            deny: f.outcomes.iter().any(|o| o == "deny"),
            review: f.outcomes.iter().any(|o| o == "review"),
            severity: f.severity.clone(),
            ladder: f.ladder.clone(),
        })
        .collect()
}

/// The record's JSON line when it is kept as an example: it has breaches or sanctions.
fn example_json(record: &Record<'_>, findings: &[Finding], sanctions: &[Sanction]) -> Option<String> {
    if !findings.iter().any(|f| f.severity.is_some()) && sanctions.is_empty() {
        return None;
    }
    let mut bytes = Vec::new();
    record.write_json(&mut bytes);
    let mut json = String::from_utf8_lossy(&bytes).into_owned();
    if json.len() > MAX_EXAMPLE_BYTES {
        let mut cut = MAX_EXAMPLE_BYTES;
        while !json.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        json.truncate(cut);
        json.push_str(" …");
    }
    Some(json)
}

/// Makes [`Item`]s on the threads that encode records (it is `Sync`). It remembers the RMs it
/// has seen, so that only an RM's first action is read for its branch: the records of one RM
/// come from one thread, in input order.
#[derive(Default)]
pub struct Digester {
    seen: Mutex<HashSet<SmolStr>>,
}

impl Digester {
    /// The report's digest of a replay record.
    pub fn item(&self, record: &Record<'_>) -> Item {
        // A poisoned set only means reading a branch again.
        let first = |rm: &str| self.seen.lock().map_or(true, |mut seen| seen.insert(SmolStr::from(rm)));
        Item::digest(record, first)
    }
}

impl Item {
    /// The report's digest of a replay record, reading the branch of every action (a
    /// [`Digester`] reads it once per RM).
    pub fn new(record: &Record<'_>) -> Item {
        Item::digest(record, |_| true)
    }

    fn digest(record: &Record<'_>, first: impl FnOnce(&str) -> bool) -> Item {
        Item(match *record {
            Record::Decision { rm, action, decision: d, .. } => {
                let found = findings(&d.findings);
                let json = example_json(record, &found, &d.sanctions);
                let probe = found.iter().any(|f| f.ladder.is_some() && f.severity.is_some());
                Kind::Decision {
                    rm: SmolStr::from(rm),
                    branch: first(rm).then(|| branch_of(action)),
                    action: probe.then(|| Box::new(action.clone())),
                    decision: Digest {
                        action: d.action.clone(),
                        at: d.at.clone(),
                        verdict: d.verdict,
                        policies: d
                            .policies
                            .iter()
                            .map(|p| (p.id.clone(), p.version.clone(), p.digest.clone()))
                            .collect(),
                        findings: found,
                        escalations: d.escalations.clone(),
                        sanctions: d.sanctions.clone(),
                        json,
                    },
                }
            }
            Record::Overdue { report: r, .. } => {
                let found = findings(&r.findings);
                let json = example_json(record, &found, &r.sanctions);
                Kind::Overdue {
                    rm: r.rm.clone(),
                    policy: r.obligation.policy.clone(),
                    duty: r.obligation.duty.clone(),
                    period: r.obligation.period.as_ref().map(|p| (p.from.clone(), p.until.clone())),
                    digest: Digest {
                        // A periodic duty's report names its period where others name the action.
                        action: match (&r.obligation.action, &r.obligation.period) {
                            (Some(action), _) => action.clone(),
                            (None, Some(p)) => format!("period {} to {}", p.from, p.until).into(),
                            (None, None) => SmolStr::default(),
                        },
                        at: r.at.clone(),
                        verdict: Verdict::Allow,
                        policies: Vec::new(),
                        findings: found,
                        escalations: r.escalations.clone(),
                        sanctions: r.sanctions.clone(),
                        json,
                    },
                }
            }
            Record::Error { line, message, .. } => Kind::Error { line, message: message.to_string() },
        })
    }
}

// ------------------------------------------------------------------ aggregates

#[derive(Default)]
pub(crate) struct RuleStats {
    pub(crate) kind: &'static str,
    pub(crate) findings: u64,
    pub(crate) deny: u64,
    pub(crate) review: u64,
    pub(crate) severities: BTreeMap<String, u64>,
}

impl RuleStats {
    pub(crate) fn breaches(&self) -> u64 {
        self.severities.values().sum()
    }
}

#[derive(Default)]
pub(crate) struct PolicyStats {
    /// Version → digest.
    pub(crate) versions: BTreeMap<String, String>,
    pub(crate) decisions: u64,
    pub(crate) findings: u64,
    pub(crate) breaches: u64,
}

#[derive(Default, Clone)]
pub(crate) struct BranchStats {
    pub(crate) events: u64,
    pub(crate) denies: u64,
    pub(crate) breaches: u64,
    pub(crate) rms: u64,
}

/// A ladder's definition, as learnt from the engine.
#[derive(Default)]
pub(crate) struct LadderInfo {
    /// `(threshold, label)`, ascending.
    pub(crate) steps: Option<Vec<(i64, String)>>,
    pub(crate) window: Option<Window>,
    pub(crate) window_text: Option<String>,
    /// Points per severity.
    pub(crate) points: BTreeMap<String, i64>,
    /// The labels in file order, from the policy set.
    pub(crate) labels: Vec<String>,
    /// The fewest points each label was seen with in a sanction.
    pub(crate) seen_min: BTreeMap<String, i64>,
    /// Sanction entries per label.
    pub(crate) entries: BTreeMap<String, u64>,
}

#[derive(Clone, Copy, Default)]
pub(crate) struct Window {
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
    pub(crate) fn start(self, end: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        end.checked_sub_months(Months::new(self.months))?
            .checked_sub_signed(chrono::TimeDelta::try_seconds(self.seconds)?)
    }
}

#[derive(Default)]
pub(crate) struct RmLadder {
    /// `(timestamp, severity)` of breaches that may still be inside the window.
    pub(crate) breaches: VecDeque<(i64, String)>,
    pub(crate) breaches_total: u64,
    /// The last sanction seen: points, step label, when.
    pub(crate) last_sanction: Option<(i64, String, String)>,
    /// The highest step reached during the replay, by rank in the ladder's labels.
    pub(crate) highest: Option<String>,
}

pub(crate) struct Example {
    pub(crate) kind: &'static str,
    pub(crate) action: String,
    pub(crate) at: String,
    pub(crate) rules: Vec<String>,
    pub(crate) json: String,
}

#[derive(Default)]
pub(crate) struct RmState {
    pub(crate) branch: String,
    pub(crate) events: u64,
    pub(crate) denies: u64,
    /// Actions of this RM held back by a restriction.
    pub(crate) restricted: u64,
    pub(crate) breaches: u64,
    pub(crate) last_breach: Option<String>,
    pub(crate) ladders: BTreeMap<(String, String), RmLadder>,
    pub(crate) examples: VecDeque<Example>,
    keeps_examples: bool,
}

/// The report's state: fed the replay's records, rendered at the end.
pub struct Collector<'e> {
    engine: Option<&'e Engine>,
    pub(crate) events: u64,
    pub(crate) verdicts: BTreeMap<Verdict, u64>,
    pub(crate) errors: u64,
    pub(crate) error_examples: Vec<(usize, String)>,
    pub(crate) overdue_reports: u64,
    /// Decisions with a restriction finding (a ladder step the RM reached holds the action back).
    pub(crate) restricted_actions: u64,
    pub(crate) breaches: u64,
    pub(crate) rules: BTreeMap<(String, String), RuleStats>,
    pub(crate) policies: BTreeMap<String, PolicyStats>,
    pub(crate) severities: BTreeMap<String, u64>,
    pub(crate) days: BTreeMap<NaiveDate, BTreeMap<String, u64>>,
    pub(crate) days_dropped: u64,
    pub(crate) branches: BTreeMap<String, BranchStats>,
    pub(crate) branch_other: BranchStats,
    pub(crate) rms: BTreeMap<String, RmState>,
    rms_with_examples: usize,
    pub(crate) ladders: BTreeMap<(String, String), LadderInfo>,
    pub(crate) escalations: BTreeMap<String, u64>,
    pub(crate) overdue_duties: BTreeMap<(String, String), u64>,
    /// For a periodic duty: the latest period reported overdue (first day, day after the last).
    pub(crate) overdue_periods: BTreeMap<(String, String), (SmolStr, SmolStr)>,
    pub(crate) first: Option<DateTime<FixedOffset>>,
    pub(crate) last: Option<DateTime<FixedOffset>>,
    probes: usize,
    /// Precision and recall per labelled rule, when labels were given.
    scoring: Option<Scoring>,
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

/// The action's `rm.branch`, when it is text.
fn branch_of(action: &Action) -> Option<String> {
    let value = action.to_value();
    value.get("rm")?.get("branch")?.as_str().map(str::to_string)
}

impl<'e> Collector<'e> {
    /// A collector; with an engine, ladders are learnt exactly (see the crate documentation).
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
            events: 0,
            verdicts: BTreeMap::new(),
            errors: 0,
            error_examples: Vec::new(),
            overdue_reports: 0,
            restricted_actions: 0,
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
            overdue_periods: BTreeMap::new(),
            first: None,
            last: None,
            probes: 0,
            scoring: None,
        }
    }

    /// Scores every labelled rule against `labels` (the injected violations of a generated
    /// stream): the report then states each one's precision and recall.
    pub fn with_labels(mut self, labels: Labels) -> Collector<'e> {
        self.scoring = Some(Scoring::new(labels));
        self
    }

    /// Precision and recall per labelled rule (empty without labels).
    pub fn scores(&self) -> Vec<RuleScore> {
        self.scoring.as_ref().map(Scoring::scores).unwrap_or_default()
    }

    /// Adds a record (in input order): [`Item::new`] and [`Collector::add`] in one step.
    pub fn record(&mut self, record: &Record<'_>) {
        self.add(Item::new(record));
    }

    /// Adds a record's digest; records must come in the order the replay writes them.
    pub fn add(&mut self, item: Item) {
        match item.0 {
            Kind::Decision { rm, branch, action, decision } => self.decision(&rm, branch, action.as_deref(), &decision),
            Kind::Overdue { rm, policy, duty, period, digest } => self.overdue(&rm, policy, duty, period, &digest),
            Kind::Error { line, message } => {
                inc(&mut self.errors);
                if self.error_examples.len() < MAX_ERRORS_SHOWN {
                    self.error_examples.push((line, message));
                }
            }
        }
    }

    fn see_time(&mut self, at: &str) -> Option<DateTime<FixedOffset>> {
        let t = probity::parse_timestamp(at).ok()?;
        if self.first.is_none_or(|f| t < f) {
            self.first = Some(t);
        }
        if self.last.is_none_or(|l| t > l) {
            self.last = Some(t);
        }
        Some(t)
    }

    /// The RM's state; a new RM takes its branch from `branch` (or from its id).
    fn rm_entry(&mut self, rm: &str, branch: Option<String>) -> Option<&mut RmState> {
        if !self.rms.contains_key(rm) {
            let branch = branch.unwrap_or_else(|| branch_from_rm_id(rm));
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

    fn decision(&mut self, rm: &str, branch: Option<Option<String>>, action: Option<&Action>, d: &Digest) {
        inc(&mut self.events);
        bump(&mut self.verdicts, d.verdict);
        let at = self.see_time(&d.at);
        for (id, version, digest) in &d.policies {
            let stats = self.policies.entry(id.to_string()).or_default();
            inc(&mut stats.decisions);
            if stats.versions.len() < 64 && !stats.versions.contains_key(version.as_str()) {
                stats.versions.insert(version.to_string(), digest.to_string());
            }
        }
        let restricted = d.findings.iter().any(|f| f.kind == FindingKind::Restriction);
        if restricted {
            inc(&mut self.restricted_actions);
        }
        if let Some(state) = self.rm_entry(rm, branch.flatten()) {
            inc(&mut state.events);
            if d.verdict == Verdict::Deny {
                inc(&mut state.denies);
            }
            if restricted {
                inc(&mut state.restricted);
            }
            let branch = state.branch.clone();
            let stats = self.branch_stats(&branch);
            inc(&mut stats.events);
            if d.verdict == Verdict::Deny {
                inc(&mut stats.denies);
            }
        }
        self.findings(rm, d, at);
        if let Some(json) = &d.json {
            self.example(rm, "decision", d, json);
        }
        if let Some(action) = action {
            self.probe(d, action);
        }
    }

    fn overdue(&mut self, rm: &str, policy: SmolStr, duty: SmolStr, period: Option<(SmolStr, SmolStr)>, r: &Digest) {
        inc(&mut self.overdue_reports);
        let at = self.see_time(&r.at);
        // The latest period reported of a periodic duty (dates in ISO order sort as text).
        if let Some(period) = period {
            let latest = self.overdue_periods.entry((policy.to_string(), duty.to_string())).or_default();
            if period.1 > latest.1 {
                *latest = period;
            }
        }
        bump(&mut self.overdue_duties, (policy.to_string(), duty.to_string()));
        self.rm_entry(rm, None);
        self.findings(rm, r, at);
        if let Some(json) = &r.json {
            self.example(rm, "overdue", r, json);
        }
    }

    fn findings(&mut self, rm: &str, d: &Digest, at: Option<DateTime<FixedOffset>>) {
        if let Some(scoring) = &mut self.scoring {
            scoring.add(&d.action, &d.findings);
        }
        for team in &d.escalations {
            if self.escalations.len() < 256 || self.escalations.contains_key(team.as_str()) {
                bump(&mut self.escalations, team.to_string());
            }
        }
        for f in &d.findings {
            let rule = self.rules.entry((f.policy.to_string(), f.rule.to_string())).or_default();
            rule.kind = f.kind.as_str();
            inc(&mut rule.findings);
            if f.deny {
                inc(&mut rule.deny);
            } else if f.review {
                inc(&mut rule.review);
            }
            let policy = self.policies.entry(f.policy.to_string()).or_default();
            inc(&mut policy.findings);
            let Some(severity) = &f.severity else { continue };
            bump(&mut rule.severities, severity.to_string());
            inc(&mut policy.breaches);
            inc(&mut self.breaches);
            if self.severities.len() < 32 || self.severities.contains_key(severity.as_str()) {
                bump(&mut self.severities, severity.to_string());
            }
            if let Some(t) = at {
                let day = t.date_naive();
                if self.days.contains_key(&day) || self.days.len() < MAX_DAYS {
                    bump(self.days.entry(day).or_default(), severity.to_string());
                } else {
                    inc(&mut self.days_dropped);
                }
            }
            let ladder_key = f.ladder.as_ref().map(|l| (f.policy.to_string(), l.to_string()));
            let window = ladder_key.as_ref().and_then(|k| self.ladders.get(k)).and_then(|l| l.window);
            let Some(state) = self.rm_entry(rm, None) else { continue };
            inc(&mut state.breaches);
            state.last_breach = Some(d.at.to_string());
            let branch = state.branch.clone();
            if let (Some(key), Some(t)) = (ladder_key, at) {
                let entry = state.ladders.entry(key).or_default();
                inc(&mut entry.breaches_total);
                entry.breaches.push_back((t.timestamp(), severity.to_string()));
                prune(&mut entry.breaches, window, t);
            }
            inc(&mut self.branch_stats(&branch).breaches);
        }
        for s in &d.sanctions {
            let key = (s.policy.to_string(), s.ladder.to_string());
            let info = self.ladders.entry(key.clone()).or_default();
            bump(&mut info.entries, s.step.to_string());
            let min = info.seen_min.entry(s.step.to_string()).or_insert(s.points);
            *min = (*min).min(s.points);
            let rank = |label: &str| info.labels.iter().position(|l| l == label);
            let new_rank = rank(&s.step);
            let state = self.rms.entry(rm.to_string()).or_default();
            let entry = state.ladders.entry(key).or_default();
            entry.last_sanction = Some((s.points, s.step.to_string(), d.at.to_string()));
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

    fn example(&mut self, rm: &str, kind: &'static str, d: &Digest, json: &str) {
        let Some(state) = self.rms.get_mut(rm) else { return };
        if !state.keeps_examples {
            return;
        }
        let rules =
            d.findings.iter().filter(|f| f.severity.is_some()).map(|f| format!("{}/{}", f.policy, f.rule)).collect();
        if state.examples.len() >= EXAMPLES_PER_RM {
            state.examples.pop_front();
        }
        state.examples.push_back(Example {
            kind,
            action: d.action.to_string(),
            at: d.at.to_string(),
            rules,
            json: json.to_string(),
        });
    }

    /// Learns ladders from the engine: explains the action again on an empty history and reads
    /// the ladder traces (steps, window, and the points of a single breach's severity).
    fn probe(&mut self, d: &Digest, action: &Action) {
        let Some(engine) = self.engine else { return };
        let needed = d.findings.iter().any(|f| {
            let (Some(ladder), Some(severity)) = (&f.ladder, &f.severity) else { return false };
            self.ladders
                .get(&(f.policy.to_string(), ladder.to_string()))
                .is_none_or(|l| l.steps.is_none() || !l.points.contains_key(severity.as_str()))
        });
        if !needed || self.probes >= MAX_PROBES {
            return;
        }
        self.probes = self.probes.saturating_add(1);
        let Ok(explanation) = engine.explain(action, &probity::History::new()) else { return };
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
