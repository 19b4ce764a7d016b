//! Restrictions: ladder steps that take effect. A record (a decision or an overdue report)
//! that gives a ladder a total at or above a restricting step *reaches* it; while the
//! restriction holds, every later action of a restricted type gets a finding of kind
//! `restriction`. The ledger keeps the reachings of its records; a history given as it is
//! (a seeded ledger, `Engine::evaluate`) has them derived from its breaches. Both end here.

use smol_str::SmolStr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};

use crate::action::Decoded;
use crate::decide::LadderTotal;
use crate::decision::{EvidenceValue, Finding, FindingKind, Verdict};
use crate::eval::history::{BreachRecord, HistoryView, RmHistory};
use crate::eval::{shift, window};
use crate::policy_set::PolicySet;
use crate::program::{to_u32, Ladder, LadderKey, Policy, Restriction};
use crate::value::datetime_text;

/// A record that gave a ladder a total at or above one of its restricting steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reaching {
    /// The policy version whose steps apply (its index in the set).
    pub(crate) policy: u32,
    /// The ladder's index in that version.
    pub(crate) ladder: u32,
    /// The record's `at`, with its offset.
    pub(crate) at: DateTime<FixedOffset>,
    /// The ladder's total after the record.
    pub(crate) points: i64,
}

/// Whether a total reaches a step of the ladder that restricts something.
fn restricting(ladder: &Ladder, points: i64) -> bool {
    ladder.restrictions.iter().any(|r| r.threshold <= points)
}

/// The reachings of a record's ladder totals (only those that reach a restricting step).
pub(crate) fn reached(totals: &[LadderTotal<'_>], at: DateTime<FixedOffset>) -> Vec<Reaching> {
    totals
        .iter()
        .filter(|t| restricting(t.ladder, t.total()))
        .map(|t| Reaching { policy: to_u32(t.index), ladder: t.ladder_index, at, points: t.total() })
        .collect()
}

/// Breach times with the running sum of their points.
type RunningSums = Vec<(DateTime<FixedOffset>, i128)>;

/// The reachings a history's breaches (in time order) imply: one at the `at` of each breach
/// after which its ladder's total, computed at that `at` with the window of the version then
/// in force, reaches a restricting step. Prefix sums per ladder keep it O(n log n).
pub(crate) fn from_breaches(set: &PolicySet, breaches: &[BreachRecord]) -> Vec<Reaching> {
    let mut out: Vec<Reaching> = Vec::new();
    if !set.policies.iter().any(|p| p.ladders.iter().any(|l| !l.restrictions.is_empty())) {
        return out;
    }
    // Per ladder key: the breaches' times and the running sums of their points.
    let mut by_key: Vec<(LadderKey, RunningSums)> = Vec::new();
    for b in breaches {
        let Some(key) = b.ladder_key else { continue };
        let at = match by_key.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                by_key.push((key, Vec::new()));
                by_key.len().saturating_sub(1)
            }
        };
        if let Some((_, list)) = by_key.get_mut(at) {
            let sum = list.last().map_or(0, |(_, s)| *s).saturating_add(i128::from(b.points));
            list.push((b.at, sum));
        }
    }
    for b in breaches {
        let Some(key) = b.ladder_key else { continue };
        let Some(pi) = set.version_of(&b.policy, None, &b.at) else { continue };
        let Some(policy) = set.policies.get(pi) else { continue };
        let Some(li) = policy.ladders.iter().position(|l| l.key == key) else { continue };
        let Some(ladder) = policy.ladders.get(li) else { continue };
        if ladder.restrictions.is_empty() {
            continue;
        }
        let Some((_, list)) = by_key.iter().find(|(k, _)| *k == key) else { continue };
        let from = window_start(policy, ladder, b.at);
        let hi = list.partition_point(|(t, _)| *t <= b.at);
        let lo = list.partition_point(|(t, _)| *t < from);
        let sum_to = |i: usize| i.checked_sub(1).and_then(|j| list.get(j)).map_or(0, |(_, s)| *s);
        let total = sum_to(hi).saturating_sub(sum_to(lo));
        let points = i64::try_from(total).unwrap_or(i64::MAX);
        if !restricting(ladder, points) {
            continue;
        }
        out.push(Reaching { policy: to_u32(pi), ladder: to_u32(li), at: b.at, points });
    }
    // Breaches of one `at` give equal reachings, next to each other unless ladders interleave
    // (a repeat left then changes nothing: the latest reaching of a step counts).
    out.dedup();
    out
}

fn window_start(policy: &Policy, ladder: &Ladder, now: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    shift(now, ladder.window, false, policy.timezone).unwrap_or(DateTime::<FixedOffset>::MIN_UTC.fixed_offset())
}

/// The RM's points on a ladder at `now` (§3.6 window of that ladder version).
pub(crate) fn total_at(history: &RmHistory, policy: &Policy, ladder: &Ladder, now: DateTime<FixedOffset>) -> i64 {
    window(history.breaches(), |b| b.at, window_start(policy, ladder, now), now)
        .iter()
        .filter(|b| b.ladder_key == Some(ladder.key))
        .fold(0i64, |sum, b| sum.saturating_add(b.points))
}

/// A restriction in effect: the step, the record that last reached it and when it ends.
pub(crate) struct Held<'s> {
    pub(crate) policy: &'s Policy,
    pub(crate) ladder_index: u32,
    pub(crate) ladder: &'s Ladder,
    pub(crate) step: &'s Restriction,
    pub(crate) reaching: &'s Reaching,
    /// `reached + D` with the reaching's offset; `None` without `for` (or past the calendar).
    pub(crate) until: Option<DateTime<FixedOffset>>,
}

/// The restrictions in effect for an action, sorted by policy id, ladder position, threshold.
pub(crate) fn held<'s>(set: &'s PolicySet, action: &Decoded, history: &'s RmHistory) -> Vec<Held<'s>> {
    if action.type_id.is_none() {
        return Vec::new();
    }
    in_force(set, history, action.at, |step| step.covers(action.type_id))
}

/// The restrictions of the steps `covers` accepts in effect at `at`, sorted by policy id,
/// ladder position, threshold.
pub(crate) fn in_force<'s>(
    set: &'s PolicySet,
    history: &'s RmHistory,
    at: DateTime<FixedOffset>,
    covers: impl Fn(&Restriction) -> bool,
) -> Vec<Held<'s>> {
    let mut latest: Vec<Held<'s>> = Vec::new();
    // A later reaching of a step (or of one above) restarts it.
    for r in history.reached.iter().filter(|r| r.at <= at) {
        let Some(policy) = set.policies.get(r.policy as usize) else { continue };
        let Some(ladder) = policy.ladders.get(r.ladder as usize) else { continue };
        for step in ladder.restrictions.iter().filter(|s| s.threshold <= r.points) {
            let entry = Held { policy, ladder_index: r.ladder, ladder, step, reaching: r, until: None };
            match latest.iter_mut().find(|x| x.ladder.key == ladder.key && x.step.threshold == step.threshold) {
                Some(x) => *x = entry,
                None => latest.push(entry),
            }
        }
    }
    let mut out: Vec<Held<'s>> = Vec::new();
    for mut h in latest {
        if !covers(h.step) {
            continue;
        }
        let holds = match h.step.length {
            Some(d) => match h.policy.shift(h.reaching.at, d, true) {
                Ok(end) => {
                    let end = end.with_timezone(h.reaching.at.offset());
                    h.until = Some(end);
                    at < end
                }
                // An end past the calendar's range never comes.
                Err(_) => true,
            },
            None => total_at(history, h.policy, h.ladder, at) >= h.step.threshold,
        };
        if holds {
            out.push(h);
        }
    }
    out.sort_by(|a, b| {
        (&a.policy.id, a.ladder_index, a.step.threshold).cmp(&(&b.policy.id, b.ladder_index, b.step.threshold))
    });
    out
}

/// The finding of a restriction in effect.
fn finding(set: &PolicySet, action: &Decoded, h: &Held<'_>) -> Finding {
    let type_name =
        action.type_id.and_then(|t| set.schema.action_types.get(t as usize)).map_or("", |t| t.name.as_str());
    let reached = datetime_text(&h.reaching.at);
    let until = h.until.map(|u| datetime_text(&u));
    let lasting = match (&until, h.step.length) {
        (Some(u), _) => format!("until {u}"),
        (None, Some(_)) => "with no end".to_string(),
        (None, None) => format!("while `{}` points stay at {} or more", h.ladder.id, h.step.threshold),
    };
    let points = match h.reaching.points {
        1 => "1 point".to_string(),
        n => format!("{n} points"),
    };
    let message =
        format!("`{type_name}` is restricted by step \"{}\" (reached {reached} at {points}) {lasting}", h.step.label);
    let text = |s: &str| EvidenceValue::from(serde_json::Value::String(s.to_string()));
    Finding {
        policy: h.policy.id.clone(),
        rule: h.ladder.id.clone(),
        kind: FindingKind::Restriction,
        code: None,
        outcomes: Arc::from([SmolStr::new_static(Verdict::Deny.as_str())]),
        severity: None,
        ladder: None,
        message: message.into(),
        messages: Vec::new(),
        cite: Arc::from([]),
        evidence: vec![
            (SmolStr::new_static("step"), text(&h.step.label)),
            (SmolStr::new_static("reached"), text(&reached)),
            (
                SmolStr::new_static("until"),
                EvidenceValue::from(
                    until.as_ref().map_or(serde_json::Value::Null, |u| serde_json::Value::String(u.to_string())),
                ),
            ),
            (SmolStr::new_static("points"), EvidenceValue::from(serde_json::Value::from(h.reaching.points))),
        ],
    }
}

/// Adds the findings of the restrictions in effect for an action, each after its policy's
/// other findings. Returns whether any was added (the verdict is then `deny`).
pub(crate) fn add_findings(
    set: &PolicySet,
    action: &Decoded,
    history: &RmHistory,
    findings: &mut Vec<Finding>,
) -> bool {
    if history.reached.is_empty() {
        return false;
    }
    let held = held(set, action, history);
    for h in &held {
        let f = finding(set, action, h);
        // Findings are by policy id: after the last one whose policy sorts at or before it.
        let at = findings.iter().rposition(|x| x.policy <= f.policy).map_or(0, |i| i.saturating_add(1));
        findings.insert(at, f);
    }
    !held.is_empty()
}

/// Drops the reachings older than `cutoff` (no window plus `for` reaches back to them).
pub(crate) fn prune(history: &mut RmHistory, cutoff: DateTime<FixedOffset>) {
    history.reached.retain(|r| r.at >= cutoff);
}
