//! The ledger: per-RM history that records what happened, tracks obligations and reports the
//! overdue ones, keeping only what some window can still read.

use smol_str::SmolStr;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta};

use crate::action::{Action, InputError};
use crate::decision::{Decision, OverdueReport};
use crate::engine::{decide, overdue_report, Engine};
use crate::history::{History, OpenObligation, RmHistory};
use crate::policy_set::PolicySet;
use crate::value::format_datetime;

/// What submitting an action gives: the overdue reports of the implicit advance to the
/// action's time, then the action's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// Obligations of the RM that fell overdue before the action, in deadline order.
    pub overdue: Vec<OverdueReport>,
    /// The decision on the action.
    pub decision: Decision,
}

/// A stateful, per-RM history. Actions must arrive in time order per RM.
#[derive(Debug, Clone)]
pub struct Ledger {
    set: Arc<PolicySet>,
    rms: HashMap<SmolStr, RmHistory>,
    next_seq: u64,
}

impl Ledger {
    /// An empty ledger over an engine's policy set.
    pub fn new(engine: &Engine) -> Ledger {
        Ledger { set: engine.shared_set(), rms: HashMap::new(), next_seq: 0 }
    }

    /// Loads history as it is (nothing is evaluated). Breaches and obligations must name
    /// their RM (`rm`); actions name theirs in `rm.id`.
    pub fn load(&mut self, history: &History) -> Result<(), InputError> {
        let mut rms: Vec<&str> = history.actions.iter().map(Action::rm).collect();
        for (i, b) in history.breaches.iter().enumerate() {
            rms.push(b.rm.as_deref().ok_or_else(|| {
                InputError::field(format!("breaches[{i}].rm"), "missing: the ledger needs each breach's RM")
            })?);
        }
        for (i, o) in history.obligations.iter().enumerate() {
            rms.push(o.rm.as_deref().ok_or_else(|| {
                InputError::field(format!("obligations[{i}].rm"), "missing: the ledger needs each obligation's RM")
            })?);
        }
        rms.sort_unstable();
        rms.dedup();
        for rm in rms {
            let mut loaded = self.set.history_for(rm, history)?;
            for o in &mut loaded.obligations {
                o.seq = self.next_seq;
                self.next_seq = self.next_seq.saturating_add(1);
            }
            let entry = self.rms.entry(rm.into()).or_default();
            let latest = loaded
                .breaches
                .as_slice()
                .iter()
                .map(|b| b.at)
                .chain(loaded.actions.iter().flat_map(|l| l.as_slice().iter().map(|a| a.at)))
                .max();
            for list in loaded.actions {
                for a in list.as_slice() {
                    entry.record_action(Arc::clone(a));
                }
            }
            for b in loaded.breaches.as_slice() {
                entry.record_breach(b.clone());
            }
            entry.obligations.extend(loaded.obligations);
            entry.clock = entry.clock.max(latest);
        }
        Ok(())
    }

    /// Records an action: first advances its RM to the action's time (reporting what fell
    /// overdue), then decides on it against the RM's history, then records the action, its
    /// breaches and its obligations, whatever the verdict.
    pub fn submit(&mut self, action: &Action) -> Result<Submission, InputError> {
        let set = Arc::clone(&self.set);
        let decoded = Arc::new(set.schema.decode(action)?);
        let at = decoded.at;
        let rm_id: SmolStr = decoded.rm.clone();
        let mut seq = self.next_seq;
        let rm = self.rms.entry(rm_id.clone()).or_default();
        if let Some(clock) = rm.clock.filter(|clock| at < *clock) {
            return Err(out_of_order(action, &rm_id, at, clock));
        }
        let overdue = advance_rm(&set, &rm_id, rm, at);
        let outcome = decide(&set, &decoded, rm);
        let mut fulfilled = outcome.fulfilled;
        fulfilled.sort_unstable_by(|a, b| b.cmp(a));
        for i in fulfilled {
            if i < rm.obligations.len() {
                rm.obligations.remove(i);
            }
        }
        for b in outcome.breaches {
            rm.record_breach(b);
        }
        for mut o in outcome.obligations {
            o.seq = seq;
            seq = seq.saturating_add(1);
            rm.obligations.push(o);
        }
        if decoded.type_id.and_then(|t| set.action_retention.get(t as usize).copied().flatten()).is_some() {
            rm.record_action(decoded);
        }
        rm.clock = Some(at);
        // After the decision, so that an obligation reported overdue by this very advance can
        // still be met by this action.
        prune(&set, rm, at);
        self.next_seq = seq;
        Ok(Submission { overdue, decision: outcome.decision })
    }

    /// Decides on an action against the RM's recorded history without recording anything: a
    /// what-if, such as a pre-clearance check before the RM goes ahead. The decision is the one
    /// [`Ledger::submit`] would give now, obligations that would fall overdue first included.
    pub fn evaluate(&self, action: &Action) -> Result<Decision, InputError> {
        let decoded = self.set.schema.decode(action)?;
        let Some(rm) = self.rms.get(&*decoded.rm) else {
            return Ok(decide(&self.set, &decoded, &RmHistory::default()).decision);
        };
        if let Some(clock) = rm.clock.filter(|clock| decoded.at < *clock) {
            return Err(out_of_order(action, &decoded.rm, decoded.at, clock));
        }
        if rm.obligations.iter().any(|o| o.falls_overdue_by(decoded.at)) {
            // Reporting them records their breaches: work on a copy of this RM's history.
            let mut rm = rm.clone();
            advance_rm(&self.set, &decoded.rm, &mut rm, decoded.at);
            return Ok(decide(&self.set, &decoded, &rm).decision);
        }
        Ok(decide(&self.set, &decoded, rm).decision)
    }

    /// Advances every RM's clock to `at` (an RM already past it is left as it is), reporting
    /// every open obligation whose deadline is before `at` and was not yet reported, in
    /// deadline order, and recording their breaches.
    pub fn advance_to(&mut self, at: DateTime<FixedOffset>) -> Vec<OverdueReport> {
        let set = Arc::clone(&self.set);
        let mut reports: Vec<(DateTime<FixedOffset>, SmolStr, OverdueReport)> = Vec::new();
        for (rm_id, rm) in &mut self.rms {
            if rm.clock.is_some_and(|c| c >= at) {
                continue;
            }
            for report in advance_rm(&set, rm_id, rm, at) {
                let when = crate::action::parse_datetime(&report.at).unwrap_or(at);
                reports.push((when, rm_id.clone(), report));
            }
            prune(&set, rm, at);
        }
        reports.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        reports.into_iter().map(|(_, _, r)| r).collect()
    }

    /// Open obligations: how many are not yet overdue, and how many were reported overdue but
    /// are still open (a late fulfilment can still close them).
    pub fn open_obligations(&self) -> (usize, usize) {
        let all = self.rms.values().flat_map(|rm| rm.obligations.iter());
        all.fold(
            (0, 0),
            |(open, overdue), o| {
                if o.reported {
                    (open, overdue.saturating_add(1))
                } else {
                    (open.saturating_add(1), overdue)
                }
            },
        )
    }

    /// The number of RMs the ledger tracks.
    pub fn rm_count(&self) -> usize {
        self.rms.len()
    }

    /// The number of actions, breaches and obligations held (what windows can still reach).
    pub fn retained_items(&self) -> usize {
        self.rms.values().map(RmHistory::size).sum()
    }
}

fn out_of_order(action: &Action, rm: &str, at: DateTime<FixedOffset>, clock: DateTime<FixedOffset>) -> InputError {
    InputError::OutOfOrder {
        action: action.id().to_string(),
        rm: rm.to_string(),
        at: format_datetime(&at),
        clock: format_datetime(&clock),
    }
}

/// Reports the RM's unreported obligations due before `at`, in deadline order, recording
/// their breaches; moves the RM's clock to `at`.
fn advance_rm(set: &PolicySet, rm_id: &str, rm: &mut RmHistory, at: DateTime<FixedOffset>) -> Vec<OverdueReport> {
    let mut reports = Vec::new();
    loop {
        let next = rm
            .obligations
            .iter()
            .enumerate()
            .filter(|(_, o)| o.falls_overdue_by(at))
            .min_by_key(|(_, o)| (o.due, o.seq))
            .map(|(i, _)| i);
        let Some(index) = next else { break };
        let Some(o) = rm.obligations.get(index).cloned() else { break };
        if let Some(slot) = rm.obligations.get_mut(index) {
            slot.reported = true;
        }
        if let Some((report, breach)) = overdue_report(set, rm_id, &o, rm) {
            if let Some(b) = breach {
                rm.record_breach(b);
            }
            reports.push(report);
        }
    }
    rm.clock = rm.clock.max(Some(at));
    reports
}

/// Drops what no window can reach from `now` on.
fn prune(set: &PolicySet, rm: &mut RmHistory, now: DateTime<FixedOffset>) {
    let cutoff = |seconds: i64| TimeDelta::try_seconds(seconds).and_then(|d| now.checked_sub_signed(d));
    for (t, list) in rm.actions.iter_mut().enumerate() {
        match set.action_retention.get(t).copied().flatten() {
            Some(keep) => {
                if let Some(c) = cutoff(keep) {
                    list.prune_before(c, |a| a.at);
                }
            }
            None => *list = Default::default(),
        }
    }
    match set.breach_retention.and_then(cutoff) {
        Some(c) => rm.breaches.prune_before(c, |b| b.at),
        None if set.breach_retention.is_none() => rm.breaches = Default::default(),
        None => {}
    }
    // An obligation reported overdue stays open for a late fulfilment as long as any window
    // reaches back to it, and at least for one more deadline period of its duty.
    rm.obligations.retain(|o: &OpenObligation| {
        let within = set
            .policies
            .get(o.policy as usize)
            .and_then(|p| p.rules.get(o.rule as usize))
            .and_then(|r| r.deadline.as_ref())
            .map_or(0, |d| d.within.upper_bound_seconds());
        !o.reported || cutoff(set.longest_window.max(within)).is_none_or(|c| o.due >= c)
    });
}
