//! `probity diff`: replay the same events under two policy sets and report what changes — the
//! review a compliance committee needs before approving a new version.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;

use probity::{Action, Decision, Engine, OverdueReport};
use serde::Serialize;

/// How many examples each line of the report keeps.
const EXAMPLES: usize = 3;

/// A count with its first few examples (action ids).
#[derive(Debug, Default, Serialize)]
pub struct Examples {
    /// How many.
    pub count: u64,
    /// The first few action ids.
    pub examples: Vec<String>,
}

impl Examples {
    fn add(&mut self, id: &str) {
        self.count = self.count.saturating_add(1);
        if self.examples.len() < EXAMPLES {
            self.examples.push(id.to_string());
        }
    }
}

/// What changes between the old and the new policy set on the same events.
#[derive(Debug, Default, Serialize)]
pub struct Changes {
    /// Actions replayed.
    pub events: u64,
    /// Decisions whose JSON differs in any way (the policy versions aside).
    pub changed: u64,
    /// Lines that could not be used.
    pub errors: u64,
    /// `old → new` verdict changes.
    pub verdicts: BTreeMap<String, Examples>,
    /// Findings (`policy/rule (kind)`) that only the new set gives.
    pub added: BTreeMap<String, Examples>,
    /// Findings that only the old set gives.
    pub removed: BTreeMap<String, Examples>,
    /// Sanction steps reached, `ladder → step`: how often under the old and the new set.
    pub steps: BTreeMap<String, (u64, u64)>,
    /// Overdue reports under the old and the new set.
    pub overdue: (u64, u64),
}

fn finding_keys(findings: &[probity::Finding]) -> Vec<String> {
    let mut keys: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{}/{} ({})",
                f.policy,
                f.rule,
                serde_json::to_value(f.kind).ok().and_then(|k| k.as_str().map(str::to_string)).unwrap_or_default()
            )
        })
        .collect();
    keys.sort();
    keys
}

fn sanction_keys(d: &Decision, overdue: &[OverdueReport]) -> Vec<String> {
    d.sanctions
        .iter()
        .chain(overdue.iter().flat_map(|r| &r.sanctions))
        .map(|s| format!("{}/{} → {}", s.policy, s.ladder, s.step))
        .collect()
}

/// Replays `events` under both engines and collects the differences.
pub fn diff(old: &Engine, new: &Engine, events: impl BufRead) -> std::io::Result<Changes> {
    let mut changes = Changes::default();
    let (mut old_ledger, mut new_ledger) = (old.ledger(), new.ledger());
    // Lines are read as `probity replay` reads them: each within an action's size, and one that
    // is too long or not UTF-8 is an unusable line, not the end of the run.
    for line in probity::replay::Lines::new(events) {
        let probity::replay::Line::Text(mut bytes) = line? else {
            changes.errors = changes.errors.saturating_add(1);
            continue;
        };
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let Ok(line) = std::str::from_utf8(&bytes) else {
            changes.errors = changes.errors.saturating_add(1);
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let Ok(action) = Action::from_json(line) else {
            changes.errors = changes.errors.saturating_add(1);
            continue;
        };
        let (Ok(a), Ok(b)) = (old_ledger.submit(&action), new_ledger.submit(&action)) else {
            changes.errors = changes.errors.saturating_add(1);
            continue;
        };
        changes.events = changes.events.saturating_add(1);
        let id = action.id();
        let (mut x, mut y) = (a.decision.clone(), b.decision.clone());
        x.policies.clear();
        y.policies.clear();
        if x != y {
            changes.changed = changes.changed.saturating_add(1);
        }
        if a.decision.verdict != b.decision.verdict {
            changes.verdicts.entry(format!("{} → {}", a.decision.verdict, b.decision.verdict)).or_default().add(id);
        }
        let (before, after) = (finding_keys(&a.decision.findings), finding_keys(&b.decision.findings));
        for key in after.iter().filter(|k| !before.contains(k)) {
            changes.added.entry(key.clone()).or_default().add(id);
        }
        for key in before.iter().filter(|k| !after.contains(k)) {
            changes.removed.entry(key.clone()).or_default().add(id);
        }
        for key in sanction_keys(&a.decision, &a.overdue) {
            let entry = changes.steps.entry(key).or_default();
            entry.0 = entry.0.saturating_add(1);
        }
        for key in sanction_keys(&b.decision, &b.overdue) {
            let entry = changes.steps.entry(key).or_default();
            entry.1 = entry.1.saturating_add(1);
        }
        changes.overdue.0 = changes.overdue.0.saturating_add(a.overdue.len() as u64);
        changes.overdue.1 = changes.overdue.1.saturating_add(b.overdue.len() as u64);
    }
    Ok(changes)
}

impl Changes {
    /// The changes as text for a committee.
    pub fn to_text(&self) -> String {
        let mut out = format!("{} events replayed, {} decisions differ", self.events, self.changed);
        if self.errors > 0 {
            let _ = write!(out, ", {} lines unusable", self.errors);
        }
        out.push('\n');
        let section = |out: &mut String, title: &str, map: &BTreeMap<String, Examples>| {
            let _ = writeln!(out, "\n{title}");
            if map.is_empty() {
                let _ = writeln!(out, "  none");
            }
            for (key, e) in map {
                let _ = writeln!(out, "  {key}: {}  (e.g. {})", e.count, e.examples.join(", "));
            }
        };
        section(&mut out, "verdict changes", &self.verdicts);
        section(&mut out, "findings added by the new policies", &self.added);
        section(&mut out, "findings removed by the new policies", &self.removed);
        let _ = writeln!(out, "\nsanction steps reached (old → new)");
        if self.steps.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for (key, (old, new)) in &self.steps {
            let _ = writeln!(out, "  {key}: {old} → {new}");
        }
        let _ = writeln!(out, "\noverdue reports (old → new): {} → {}", self.overdue.0, self.overdue.1);
        out
    }
}
