//! Matching a step's result against its `expect`: lists as multisets, findings paired one to one,
//! sanctions per ladder.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use probity::{Decision, Finding, FindingKind, OverdueReport, Sanction};

use crate::file::{Expect, FindingMatch, SanctionMatch};
use crate::Mismatch;

/// What an action's decision (and the overdue reports of the advance before it) did not meet.
pub(crate) fn decision(expect: &Expect, d: &Decision, overdue: &[OverdueReport]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(v) = &expect.verdict {
        if v != d.verdict.as_str() {
            out.push(Mismatch::Differs { key: "verdict", expected: v.clone(), actual: d.verdict.to_string() });
        }
    }
    if let Some(p) = &expect.policies {
        let actual: Vec<String> = d.policies.iter().map(|p| format!("{}@{}", p.id, p.version)).collect();
        multiset("policies", p, &actual, &mut out);
    }
    if let Some(f) = &expect.findings {
        findings(f, &d.findings, &mut out);
    }
    if let Some(o) = &expect.obligations {
        let actual: Vec<String> = d.obligations.iter().map(|o| o.duty.to_string()).collect();
        multiset("obligations", o, &actual, &mut out);
    }
    if let Some(f) = &expect.fulfilled {
        let actual: Vec<String> = d.fulfilled.iter().map(|o| o.duty.to_string()).collect();
        multiset("fulfilled", f, &actual, &mut out);
    }
    if let Some(o) = &expect.overdue {
        let actual: Vec<String> = overdue.iter().map(|r| r.obligation.duty.to_string()).collect();
        multiset("overdue", o, &actual, &mut out);
    }
    if let Some(e) = &expect.escalations {
        multiset("escalations", e, &d.escalations, &mut out);
    }
    if let Some(s) = &expect.sanctions {
        sanctions(s, &d.sanctions, &mut out);
    }
    out
}

/// What an advance's overdue reports did not meet.
pub(crate) fn advance(expect: &Expect, reports: &[OverdueReport]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (key, given) in [
        ("verdict", expect.verdict.is_some()),
        ("policies", expect.policies.is_some()),
        ("obligations", expect.obligations.is_some()),
        ("fulfilled", expect.fulfilled.is_some()),
    ] {
        if given {
            out.push(Mismatch::NotAfterAdvance(key));
        }
    }
    if let Some(o) = &expect.overdue {
        let actual: Vec<String> = reports.iter().map(|r| r.obligation.duty.to_string()).collect();
        multiset("overdue", o, &actual, &mut out);
    }
    if let Some(f) = &expect.findings {
        let all: Vec<Finding> = reports.iter().flat_map(|r| r.findings.iter().cloned()).collect();
        findings(f, &all, &mut out);
    }
    if let Some(e) = &expect.escalations {
        let actual: Vec<String> = reports.iter().flat_map(|r| r.escalations.iter().map(ToString::to_string)).collect();
        multiset("escalations", e, &actual, &mut out);
    }
    if let Some(s) = &expect.sanctions {
        // The last sanction per ladder is where the RM stands after the advance.
        let mut last: Vec<Sanction> = Vec::new();
        for sanction in reports.iter().flat_map(|r| &r.sanctions) {
            last.retain(|x| x.ladder != sanction.ladder || x.policy != sanction.policy);
            last.push(sanction.clone());
        }
        sanctions(s, &last, &mut out);
    }
    out
}

fn sorted(list: &[String]) -> Vec<String> {
    let mut v = list.to_vec();
    v.sort();
    v
}

fn multiset(key: &'static str, expected: &[String], actual: &[impl AsRef<str>], out: &mut Vec<Mismatch>) {
    let actual: Vec<String> = actual.iter().map(|a| a.as_ref().to_string()).collect();
    if sorted(expected) != sorted(&actual) {
        out.push(Mismatch::Differs {
            key,
            expected: format!("[{}]", expected.join(", ")),
            actual: format!("[{}]", actual.join(", ")),
        });
    }
}

/// A finding's kind as the JSON names it (`rule`, `overdue`, …).
fn kind_name(f: &Finding) -> String {
    serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

impl FindingMatch {
    fn matches(&self, f: &Finding) -> bool {
        let kind = kind_name(f);
        match self {
            FindingMatch::Rule(r) => *r == f.rule,
            FindingMatch::Fields { rule, kind: k, severity, policy } => {
                rule.as_ref().is_none_or(|r| *r == f.rule)
                    && k.as_ref().is_none_or(|k| *k == kind)
                    && severity.as_ref().is_none_or(|s| Some(s.as_str()) == f.severity.as_deref())
                    && policy.as_ref().is_none_or(|p| *p == f.policy)
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            FindingMatch::Rule(r) => r.clone(),
            FindingMatch::Fields { rule, kind, severity, policy } => {
                let parts: Vec<String> = [("rule", rule), ("kind", kind), ("severity", severity), ("policy", policy)]
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
        }
    }
}

fn describe_finding(f: &Finding) -> String {
    let mut s = format!("{{rule: {}, kind: {}, policy: {}", f.rule, kind_name(f), f.policy);
    if let Some(sev) = &f.severity {
        let _ = write!(s, ", severity: {sev}");
    }
    if f.kind == FindingKind::Error {
        let _ = write!(s, ", message: {:?}", f.message);
    }
    s.push('}');
    s
}

/// Whether expected and actual findings pair up one to one (a bipartite matching).
fn findings(expected: &[FindingMatch], actual: &[Finding], out: &mut Vec<Mismatch>) {
    fn augment(
        e: usize,
        expected: &[FindingMatch],
        actual: &[Finding],
        owner: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for (a, f) in actual.iter().enumerate() {
            let Some(m) = expected.get(e) else { return false };
            if m.matches(f) && !seen.get(a).copied().unwrap_or(true) {
                if let Some(s) = seen.get_mut(a) {
                    *s = true;
                }
                let current = owner.get(a).copied().flatten();
                if current.is_none_or(|other| augment(other, expected, actual, owner, seen)) {
                    if let Some(o) = owner.get_mut(a) {
                        *o = Some(e);
                    }
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; actual.len()];
    let all = expected.len() == actual.len()
        && (0..expected.len()).all(|e| augment(e, expected, actual, &mut owner, &mut vec![false; actual.len()]));
    if !all {
        let exp: Vec<String> = expected.iter().map(FindingMatch::describe).collect();
        let act: Vec<String> = actual.iter().map(describe_finding).collect();
        out.push(Mismatch::Differs {
            key: "findings",
            expected: format!("[{}]", exp.join(", ")),
            actual: format!("[{}]", act.join(", ")),
        });
    }
}

fn sanctions(expected: &BTreeMap<String, SanctionMatch>, actual: &[Sanction], out: &mut Vec<Mismatch>) {
    let describe = |s: &Sanction| {
        format!(
            "{}: {{step: {}, previous: {}, points: {}}}",
            s.ladder,
            s.step,
            s.previous.as_deref().unwrap_or("null"),
            s.points
        )
    };
    let mut ok = expected.len() == actual.len();
    for (ladder, m) in expected {
        let Some(s) = actual.iter().find(|s| s.ladder == *ladder) else {
            ok = false;
            continue;
        };
        ok &= match m {
            SanctionMatch::Step(step) => *step == s.step,
            SanctionMatch::Fields { step, previous, points } => {
                step.as_ref().is_none_or(|x| *x == s.step)
                    && previous.as_ref().is_none_or(|p| p.as_deref() == s.previous.as_deref())
                    && points.is_none_or(|p| p == s.points)
            }
        };
    }
    if !ok {
        let exp: Vec<String> = expected
            .iter()
            .map(|(l, m)| match m {
                SanctionMatch::Step(s) => format!("{l}: {s}"),
                SanctionMatch::Fields { step, previous, points } => format!(
                    "{l}: {{step: {}, previous: {}, points: {}}}",
                    step.as_deref().unwrap_or("*"),
                    previous.as_ref().map_or("*".to_string(), |p| p.clone().unwrap_or_else(|| "null".into())),
                    points.map_or("*".to_string(), |p| p.to_string())
                ),
            })
            .collect();
        let act: Vec<String> = actual.iter().map(describe).collect();
        out.push(Mismatch::Differs {
            key: "sanctions",
            expected: format!("{{{}}}", exp.join(", ")),
            actual: format!("{{{}}}", act.join(", ")),
        });
    }
}
