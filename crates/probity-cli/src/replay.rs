//! `probity replay`: stream JSON-lines actions through a ledger, write JSON-lines records, and
//! summarise what happened.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use chrono::{DateTime, FixedOffset};
use probity::{Action, Decision, Engine, OverdueReport, Verdict};
use serde::Serialize;

/// One output record.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Record<'a> {
    Decision(&'a Decision),
    Overdue(&'a OverdueReport),
    Error { line: usize, message: String },
}

/// What a replay saw, for the closing summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Input lines that were actions.
    pub events: u64,
    /// Decisions per verdict.
    pub verdicts: BTreeMap<Verdict, u64>,
    /// Breaches per `policy/rule` (overdue breaches included).
    pub breaches: BTreeMap<String, u64>,
    /// Sanctions per `ladder → step`.
    pub sanctions: BTreeMap<String, u64>,
    /// Overdue reports written.
    pub overdue_reports: u64,
    /// Obligations still open at the end, not yet overdue.
    pub open_obligations: usize,
    /// Obligations reported overdue and still open at the end.
    pub overdue_open: usize,
    /// Lines that could not be used.
    pub errors: u64,
}

impl Summary {
    fn decision(&mut self, d: &Decision) {
        self.events = self.events.saturating_add(1);
        *self.verdicts.entry(d.verdict).or_default() += 1;
        self.findings(&d.findings, &d.sanctions);
    }

    fn overdue(&mut self, r: &OverdueReport) {
        self.overdue_reports = self.overdue_reports.saturating_add(1);
        self.findings(&r.findings, &r.sanctions);
    }

    fn findings(&mut self, findings: &[probity::Finding], sanctions: &[probity::Sanction]) {
        for f in findings.iter().filter(|f| f.severity.is_some()) {
            *self.breaches.entry(format!("{}/{}", f.policy, f.rule)).or_default() += 1;
        }
        for s in sanctions {
            *self.sanctions.entry(format!("{}/{} → {}", s.policy, s.ladder, s.step)).or_default() += 1;
        }
    }

    /// The summary as an aligned text table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![("events".into(), self.events.to_string())];
        for v in [Verdict::Allow, Verdict::Review, Verdict::Deny] {
            rows.push((format!("  {v}"), self.verdicts.get(&v).copied().unwrap_or(0).to_string()));
        }
        rows.push(("breaches".into(), self.breaches.values().sum::<u64>().to_string()));
        rows.extend(self.breaches.iter().map(|(k, n)| (format!("  {k}"), n.to_string())));
        rows.push(("sanctions".into(), self.sanctions.values().sum::<u64>().to_string()));
        rows.extend(self.sanctions.iter().map(|(k, n)| (format!("  {k}"), n.to_string())));
        rows.push(("overdue reports".into(), self.overdue_reports.to_string()));
        rows.push(("obligations open at the end".into(), self.open_obligations.to_string()));
        rows.push(("  of them reported overdue".into(), self.overdue_open.to_string()));
        rows.push(("errors".into(), self.errors.to_string()));
        let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        let number = rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let pad = width.saturating_sub(k.chars().count());
            out.push_str(&format!("{k}{}  {v:>number$}\n", " ".repeat(pad)));
        }
        out
    }
}

/// Replays JSON-lines actions: for each line the overdue reports of the implicit advance, then
/// the decision; `as_of` advances every RM at the end. `progress` is called with the bytes read.
pub fn replay(
    engine: &Engine,
    input: impl BufRead,
    out: &mut impl Write,
    as_of: Option<DateTime<FixedOffset>>,
    mut progress: impl FnMut(u64),
) -> std::io::Result<Summary> {
    let mut ledger = engine.ledger();
    let mut summary = Summary::default();
    let mut write = |record: Record<'_>, out: &mut dyn Write| -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &record).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    };
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        progress(line.len().saturating_add(1) as u64);
        if line.trim().is_empty() {
            continue;
        }
        let number = index.saturating_add(1);
        let submitted = Action::from_json(&line).and_then(|action| ledger.submit(&action));
        match submitted {
            Ok(submission) => {
                for report in &submission.overdue {
                    summary.overdue(report);
                    write(Record::Overdue(report), out)?;
                }
                summary.decision(&submission.decision);
                write(Record::Decision(&submission.decision), out)?;
            }
            Err(e) => {
                summary.errors = summary.errors.saturating_add(1);
                write(Record::Error { line: number, message: e.to_string() }, out)?;
            }
        }
    }
    if let Some(t) = as_of {
        for report in ledger.advance_to(t) {
            summary.overdue(&report);
            write(Record::Overdue(&report), out)?;
        }
    }
    (summary.open_obligations, summary.overdue_open) = ledger.open_obligations();
    out.flush()?;
    Ok(summary)
}
