//! The ledger: per-RM history that records what happened, tracks obligations and reports the
//! overdue ones, keeping only what some window can still read.

pub(crate) mod durable;
mod snapshot;

pub use durable::{DurableLedger, StateSummary, META_FORMAT, META_POLICIES};
pub(crate) use snapshot::policy_digests;
pub use snapshot::{PolicyDigest, RmSnapshot, Snapshot, SNAPSHOT_FORMAT};

use smol_str::SmolStr;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta};

use crate::action::{Action, FieldFault, InputError};
use crate::decide::periodic::{due_checks, periodic_report, PeriodCheck, Subject};
use crate::decide::{decide, overdue_report};
use crate::decision::{Decision, OverdueReport};
use crate::eval::history::{History, HistoryView, Indexed, IndexedKeys, RmHistory};
use crate::policy_set::PolicySet;
use crate::value::format_datetime;

/// What submitting an action gives: the overdue reports of the implicit advance to the
/// action's time, then the action's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// Obligations of the RM that fell overdue before the action, and its periodic duties' failed
    /// checks, in deadline order (then policy, duty and the obligation's action id).
    pub overdue: Vec<OverdueReport>,
    /// The decision on the action.
    pub decision: Decision,
}

/// A stateful, per-RM history. Actions must arrive in time order per RM.
#[derive(Debug, Clone)]
pub struct Ledger {
    set: Arc<PolicySet>,
    rms: HashMap<SmolStr, Entry>,
    next_seq: u64,
    /// The indexes of actions by key each RM's history keeps.
    keys: IndexedKeys,
    /// Whether submissions are recorded for retries and kept actions keep their JSON for
    /// snapshots; off only in a replay that saves nothing ([`Ledger::transient`]).
    durable: bool,
    /// How long a submission is kept for retries, in seconds.
    receipt_retention: i64,
    /// The RMs changed since the last [`Ledger::take_changes`], when tracked.
    changes: Option<Changes>,
    /// Tests only: the RMs' histories read everything the plain way.
    #[cfg(test)]
    plain: bool,
    /// Tests only: the RMs' histories index from this many items.
    #[cfg(test)]
    index_from: Option<usize>,
}

/// An RM as the ledger keeps it: its history, or, once that holds nothing the policies still
/// need, only its clock (an idle RM costs a map slot, not a history).
#[derive(Debug, Clone, Default)]
struct Entry {
    /// The clock while there is no history (the history keeps its own).
    clock: Option<DateTime<FixedOffset>>,
    history: Option<Box<RmHistory>>,
    /// Periodic duties: since when the RM is subject, and which checks have run.
    subject: Subject,
    /// The submissions recorded for idempotency, by action id.
    recorded: HashMap<SmolStr, Recorded>,
    /// The same, by (expiry, action id): the next to drop first.
    expiring: BTreeSet<(DateTime<FixedOffset>, SmolStr)>,
    /// Whether the RM is in the ledger's [`Changes`] already.
    changed: bool,
    /// The ids of the submissions recorded since the last [`Ledger::take_changes`], if tracked.
    unsaved: Vec<SmolStr>,
}

/// The RMs whose state changed since the changes were last taken, in the order they changed.
#[derive(Debug, Clone, Default)]
struct Changes {
    rms: Vec<SmolStr>,
}

/// What changed for one RM since the last [`Ledger::take_changes`]: its state now, and the
/// submissions it recorded in between (what a durable store writes at a commit).
#[derive(Debug, Clone)]
pub struct RmChange {
    /// The RM's state, without its recorded submissions ([`RmSnapshot::without_recorded`]).
    pub state: RmSnapshot,
    /// The submissions recorded since: action id, content hash (`sha256:…`), expiry, and the
    /// decision as its JSON.
    pub recorded: Vec<RecordedDecision>,
}

/// A submission kept for retries, as a store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedDecision {
    /// The action's id.
    pub action: SmolStr,
    /// `sha256:` and the hex of the SHA-256 of the action's canonical JSON.
    pub hash: String,
    /// Kept while the RM's clock is at or before this.
    pub expires: DateTime<FixedOffset>,
    /// The decision, as [`Decision::to_json`] writes it.
    pub decision: String,
}

/// A submission as the ledger recorded it: a retry of the same action (the same content hash)
/// gets its decision back as it was.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    /// SHA-256 of the action's canonical JSON.
    hash: [u8; 32],
    /// The action's `at`.
    at: DateTime<FixedOffset>,
    /// Kept while the RM's clock is at or before this: the action's `at` plus the ledger's
    /// receipt retention.
    expires: DateTime<FixedOffset>,
    /// The decision's JSON ([`Decision::to_json`]): a store keeps the same text (moved to it at
    /// [`Ledger::take_changes`]), and a retry reads it back.
    decision: String,
}

impl Entry {
    fn clock(&self) -> Option<DateTime<FixedOffset>> {
        self.history.as_ref().map_or(self.clock, |rm| rm.clock)
    }

    /// The history, made anew (empty but for the clock) if the RM was idle.
    fn active(&mut self) -> &mut RmHistory {
        let clock = self.clock;
        self.history.get_or_insert_with(|| {
            let mut rm = RmHistory::default();
            rm.clock = clock;
            Box::new(rm)
        })
    }

    fn history(&self) -> Option<&RmHistory> {
        self.history.as_deref()
    }

    /// Keeps a submission for retries until `expires`; `unsaved` notes it for the next
    /// [`Ledger::take_changes`].
    fn record(&mut self, id: SmolStr, recorded: Recorded, unsaved: bool) {
        self.expiring.insert((recorded.expires, id.clone()));
        if unsaved {
            self.unsaved.push(id.clone());
        }
        self.recorded.insert(id, recorded);
    }

    /// Drops the recorded submissions that expire before `now`.
    fn drop_recorded(&mut self, now: DateTime<FixedOffset>) {
        while let Some((expires, id)) = self.expiring.first().filter(|(e, _)| *e < now).cloned() {
            self.expiring.remove(&(expires, id.clone()));
            self.recorded.remove(&id);
        }
    }

    /// Reduces the entry to its clock if its history holds nothing.
    fn settle(&mut self) {
        if let Some(rm) = self.history.take_if(|rm| rm.size() == 0) {
            self.clock = rm.clock;
        }
    }
}

impl Ledger {
    /// An empty ledger over a policy set (made by [`crate::Engine::ledger`]).
    pub(crate) fn new(set: Arc<PolicySet>) -> Ledger {
        let keys = crate::eval::indexed_keys(&set).into();
        // As long as any window reads back, and at least 30 days (a retry comes within hours).
        let receipt_retention = set.longest_window.max(RECEIPTS_AT_LEAST);
        Ledger {
            set,
            rms: HashMap::new(),
            next_seq: 0,
            keys,
            durable: true,
            receipt_retention,
            changes: None,
            #[cfg(test)]
            plain: false,
            #[cfg(test)]
            index_from: None,
        }
    }

    /// Loads history as it is (nothing is evaluated). Breaches and obligations must name
    /// their RM (`rm`); actions name theirs in `rm.id`.
    pub fn load(&mut self, history: &History) -> Result<(), InputError> {
        let mut rms: Vec<&str> = history.actions.iter().map(Action::rm).collect();
        for (i, b) in history.breaches.iter().enumerate() {
            rms.push(b.rm.as_deref().ok_or_else(|| {
                InputError::in_field(
                    FieldFault::Missing,
                    format!("breaches[{i}].rm"),
                    "missing: the ledger needs each breach's RM",
                )
            })?);
        }
        for (i, o) in history.obligations.iter().enumerate() {
            rms.push(o.rm.as_deref().ok_or_else(|| {
                InputError::in_field(
                    FieldFault::Missing,
                    format!("obligations[{i}].rm"),
                    "missing: the ledger needs each obligation's RM",
                )
            })?);
        }
        rms.sort_unstable();
        rms.dedup();
        for rm in rms {
            let loaded = self.set.history_of(rm, history, true)?;
            let keys = &self.keys;
            let entry = self.rms.entry(rm.into()).or_default();
            // Every seeded action counts, whether or not a window keeps it.
            let first = history.actions.iter().filter(|a| a.rm() == rm).map(Action::at).min();
            entry.subject.first = match (entry.subject.first, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let entry = entry.active();
            let latest = loaded
                .breaches()
                .iter()
                .map(|b| b.at)
                .chain(loaded.actions.iter().flat_map(|l| l.as_slice().iter().map(|a| a.at)))
                .max();
            for list in &loaded.actions {
                for a in list.as_slice() {
                    entry.record_action(Arc::clone(a), keys);
                }
            }
            for b in loaded.breaches() {
                entry.record_breach(b.clone(), keys);
            }
            entry.reached.extend(loaded.reached.iter().cloned());
            entry.reached.sort_by_key(|r| r.at);
            for mut o in loaded.obligations.iter().cloned() {
                o.seq = self.next_seq;
                self.next_seq = self.next_seq.saturating_add(1);
                entry.obligations.insert(&self.set, o);
            }
            entry.clock = entry.clock.max(latest);
        }
        Ok(())
    }

    /// Records an action: first advances its RM to the action's time (reporting what fell
    /// overdue), then decides on it against the RM's history, then records the action, its
    /// breaches and its obligations, whatever the verdict.
    ///
    /// **Idempotent**: an action whose id is already recorded for its RM, with the same content
    /// (the SHA-256 of its canonical JSON), gets the recorded decision back, with no overdue
    /// reports (they were reported the first time), and records nothing; with other content it
    /// is an error ([`InputError::IdReused`]). A submission is recorded while the RM's clock is
    /// within the receipt retention of the action's `at`: the policy set's longest window, and
    /// at least 30 days.
    pub fn submit(&mut self, action: &Action) -> Result<Submission, InputError> {
        self.submit_with_json(action).map(|(submission, _)| submission)
    }

    /// [`Ledger::submit`], and the decision's JSON as [`Decision::to_json`] writes it when the
    /// ledger recorded it for retries just now (not for a retry): a replay writes that text
    /// instead of serialising the decision a second time.
    pub(crate) fn submit_with_json(&mut self, action: &Action) -> Result<(Submission, Option<&str>), InputError> {
        let source = self.durable.then(|| action.canonical_raw());
        let hash = source.as_deref().map(|raw| content_hash(raw.get()));
        // Before the order check: a retry of an older action is not out of order.
        if let (Some(r), Some(hash)) = (self.rms.get(action.rm()).and_then(|e| e.recorded.get(action.id())), hash) {
            if r.hash == hash {
                let decision = serde_json::from_str(&r.decision)
                    .map_err(|e| InputError::Snapshot(format!("the recorded decision cannot be read: {e}")))?;
                return Ok((Submission { overdue: Vec::new(), decision }, None));
            }
            return Err(id_reused(action, &format_datetime(&r.at), &hash_text(&r.hash), &hash_text(&hash)));
        }
        let set = Arc::clone(&self.set);
        let mut decoded = set.schema.decode(action)?;
        decoded.source = source;
        let decoded = Arc::new(decoded);
        let at = decoded.at;
        let rm_id: SmolStr = decoded.rm.clone();
        let mut seq = self.next_seq;
        let keys = &self.keys;
        let entry = self.rms.entry(rm_id.clone()).or_default();
        if let Some(clock) = entry.clock().filter(|clock| at < *clock) {
            return Err(out_of_order(action, &rm_id, at, clock));
        }
        let mut subject = entry.subject;
        let rm = entry.active();
        #[cfg(test)]
        {
            rm.plain = self.plain;
            rm.set_index_from(self.index_from);
        }
        let overdue = advance_rm(&set, &rm_id, rm, at, keys, &mut subject);
        // The RM is subject to periodic duties from its first action on, of any type.
        subject.first = subject.first.or(Some(at));
        let outcome = decide(&set, &decoded, rm);
        for seq in outcome.fulfilled {
            rm.obligations.remove(&set, seq);
        }
        for b in outcome.breaches {
            rm.record_breach(b, keys);
        }
        rm.reached.extend(outcome.reached);
        for mut o in outcome.obligations {
            o.seq = seq;
            seq = seq.saturating_add(1);
            rm.obligations.insert(&set, o);
        }
        let retention = decoded.type_id.and_then(|t| set.action_retention.get(t as usize).copied().flatten());
        let id = decoded.id.clone();
        if retention.is_some() {
            rm.record_action(decoded, keys);
        }
        rm.clock = Some(at);
        // After the decision, so that an obligation reported overdue by this very advance can
        // still be met by this action.
        prune(&set, rm, at);
        entry.subject = subject;
        entry.drop_recorded(at);
        entry.settle();
        self.next_seq = seq;
        let recorded = match hash {
            Some(hash) => {
                let expires = TimeDelta::try_seconds(self.receipt_retention)
                    .and_then(|d| at.checked_add_signed(d))
                    .unwrap_or_else(end_of_time);
                let decision = outcome.decision.to_json();
                entry.record(id.clone(), Recorded { hash, at, expires, decision }, self.changes.is_some());
                Some(id)
            }
            None => None,
        };
        if let Some(changes) = &mut self.changes {
            changes.note(&rm_id, entry);
        }
        let json = recorded.and_then(|id| entry.recorded.get(&id)).map(|r| r.decision.as_str());
        Ok((Submission { overdue, decision: outcome.decision }, json))
    }

    /// The ledger for a replay that saves nothing: it records no submissions for retries (an
    /// action id seen again is decided again) and keeps no action's JSON for snapshots, so it
    /// holds only what the windows read.
    pub(crate) fn transient(mut self) -> Ledger {
        self.durable = false;
        self
    }

    /// Tracks the RMs that change from now on, for [`Ledger::take_changes`].
    pub fn track_changes(&mut self) {
        self.changes.get_or_insert_with(Changes::default);
    }

    /// The RMs that changed since tracking started or the changes were last taken, in the order
    /// they first changed, each with its state now and the submissions it recorded in between:
    /// what a durable store writes at a commit. The ledger then forgets those RMs' recorded
    /// submissions: the store keeps them, and a retry of one is answered from there (see
    /// [`Ledger::may_be_recorded`]).
    pub fn take_changes(&mut self) -> Vec<RmChange> {
        let Some(changes) = &mut self.changes else { return Vec::new() };
        let rms = std::mem::take(&mut changes.rms);
        let mut out = Vec::with_capacity(rms.len());
        for rm in rms {
            let Some(entry) = self.rms.get_mut(&rm) else { continue };
            entry.changed = false;
            let unsaved = std::mem::take(&mut entry.unsaved);
            let state = snapshot::snapshot_entry(&self.set, &rm, entry, false);
            // The ledger forgets them: their text moves to the store, uncopied.
            let mut kept = std::mem::take(&mut entry.recorded);
            entry.expiring.clear();
            let recorded = unsaved
                .into_iter()
                .filter_map(|id| {
                    kept.remove(&id).map(|r| RecordedDecision {
                        hash: hash_text(&r.hash),
                        expires: r.expires,
                        decision: r.decision,
                        action: id,
                    })
                })
                .collect();
            out.push(RmChange { state, recorded });
        }
        out
    }

    /// Decides on an action against the RM's recorded history without recording anything: a
    /// what-if, such as a pre-clearance check before the RM goes ahead. The decision is the one
    /// [`Ledger::submit`] would give now, obligations that would fall overdue first included.
    pub fn evaluate(&self, action: &Action) -> Result<Decision, InputError> {
        let decoded = self.set.schema.decode(action)?;
        let entry = self.rms.get(&*decoded.rm);
        if let Some(clock) = entry.and_then(Entry::clock).filter(|clock| decoded.at < *clock) {
            return Err(out_of_order(action, &decoded.rm, decoded.at, clock));
        }
        let mut subject = entry.map(|e| e.subject).unwrap_or_default();
        let periodic_due = !due_checks(&self.set, subject, decoded.at).is_empty();
        let Some(rm) = entry.and_then(Entry::history).filter(|_| !periodic_due) else {
            if periodic_due {
                // Periodic checks may record breaches: work on a copy (empty if the RM was idle).
                let mut rm = entry.and_then(Entry::history).cloned().unwrap_or_default();
                rm.clock = rm.clock.or(entry.and_then(Entry::clock));
                advance_rm(&self.set, &decoded.rm, &mut rm, decoded.at, &self.keys, &mut subject);
                return Ok(decide(&self.set, &decoded, &rm).decision);
            }
            return Ok(decide(&self.set, &decoded, &RmHistory::default()).decision);
        };
        if rm.obligations.any_overdue_by(decoded.at) {
            // Reporting them records their breaches: work on a copy of this RM's history.
            let mut rm = rm.clone();
            advance_rm(&self.set, &decoded.rm, &mut rm, decoded.at, &self.keys, &mut subject);
            return Ok(decide(&self.set, &decoded, &rm).decision);
        }
        Ok(decide(&self.set, &decoded, rm).decision)
    }

    /// Advances every RM's clock to `at` (an RM already past it is left as it is), reporting
    /// every open obligation whose deadline is before `at` and was not yet reported, and every
    /// periodic duty's check due before `at` that fails, recording their breaches. Reports are in
    /// deadline order, then policy, duty, RM and the obligation's action id (an obligation before
    /// a periodic check at equal keys).
    pub fn advance_to(&mut self, at: DateTime<FixedOffset>) -> Vec<OverdueReport> {
        let set = Arc::clone(&self.set);
        let mut reports: Vec<(DateTime<FixedOffset>, OverdueReport)> = Vec::new();
        for (rm_id, entry) in &mut self.rms {
            if entry.clock().is_some_and(|c| c >= at) {
                continue;
            }
            if let Some(changes) = &mut self.changes {
                changes.note(rm_id, entry);
            }
            let mut subject = entry.subject;
            entry.drop_recorded(at);
            if entry.history.is_none() && due_checks(&set, subject, at).is_empty() {
                entry.clock = Some(at);
                if entry.subject.first.is_some() {
                    entry.subject.checked = entry.subject.checked.max(Some(at));
                }
                continue;
            }
            let rm = entry.active();
            for report in advance_rm(&set, rm_id, rm, at, &self.keys, &mut subject) {
                let when = crate::action::parse_datetime(&report.at).unwrap_or(at);
                reports.push((when, report));
            }
            prune(&set, rm, at);
            entry.subject = subject;
            entry.settle();
        }
        // Each RM's reports are already in this order: sorting (stably) interleaves the RMs.
        reports.sort_by(|(a, x), (b, y)| report_key(*a, x).cmp(&report_key(*b, y)));
        reports.into_iter().map(|(_, r)| r).collect()
    }

    /// Open obligations: how many are not yet overdue, and how many were reported overdue but
    /// are still open (a late fulfilment can still close them).
    pub fn open_obligations(&self) -> (usize, usize) {
        let all = self.rms.values().filter_map(Entry::history).flat_map(|rm| rm.obligations.iter());
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

    /// Whether `action` may be a retry of a submission this ledger no longer holds (it handed
    /// it to a store with [`Ledger::take_changes`]): its RM's clock is at or past its `at`, and
    /// the ledger holds no submission of its id. Such an action is looked up in the store
    /// before it is submitted; any other is submitted as it is.
    pub fn may_be_recorded(&self, action: &Action) -> bool {
        self.rms.get(action.rm()).is_some_and(|e| {
            e.clock().is_some_and(|clock| action.at() <= clock) && !e.recorded.contains_key(action.id())
        })
    }

    /// The restricting ladder steps in force for each RM at its clock, summed over the RMs.
    pub fn restrictions_in_force(&self) -> usize {
        let held = |e: &Entry| match (e.history(), e.clock()) {
            (Some(rm), Some(at)) => crate::decide::restrict::in_force(&self.set, rm, at, |_| true).len(),
            _ => 0,
        };
        self.rms.values().map(held).sum()
    }

    /// The submissions recorded for retries, over all RMs.
    pub fn recorded_count(&self) -> usize {
        self.rms.values().map(|e| e.recorded.len()).sum()
    }

    /// The number of RMs the ledger tracks (each keeps its clock, whatever it holds).
    pub fn rm_count(&self) -> usize {
        self.rms.len()
    }

    /// The number of RMs whose history holds something (the others keep only their clock).
    pub fn active_rm_count(&self) -> usize {
        self.rms.values().filter(|e| e.history().is_some()).count()
    }

    /// The number of actions, breaches and obligations held (what windows can still reach).
    pub fn retained_items(&self) -> usize {
        self.rms.values().filter_map(Entry::history).map(RmHistory::size).sum()
    }
}

impl Changes {
    fn note(&mut self, rm: &SmolStr, entry: &mut Entry) {
        if !entry.changed {
            entry.changed = true;
            self.rms.push(rm.clone());
        }
    }
}

/// The least a submission is recorded for retries, in seconds: 30 days.
const RECEIPTS_AT_LEAST: i64 = 30 * 24 * 3600;

/// I0012: `action` reuses the id of a recorded action with other content.
pub(crate) fn id_reused(action: &Action, recorded_at: &str, recorded_hash: &str, hash: &str) -> InputError {
    InputError::IdReused(format!(
        "action `{}` of RM `{}` is already recorded with other content (recorded: at {recorded_at}, hash {recorded_hash}; this one: at {}, hash {hash})",
        action.id(),
        action.rm(),
        format_datetime(&action.at()),
    ))
}

/// The content hash of an action as text (`sha256:` and hex), as receipts keep it.
pub(crate) fn action_hash(action: &Action) -> String {
    hash_text(&content_hash(&action.canonical_json()))
}

/// Later than any instant a ledger sees: the expiry of what is kept for good.
fn end_of_time() -> DateTime<FixedOffset> {
    DateTime::<FixedOffset>::MAX_UTC.fixed_offset()
}

/// SHA-256 of an action's canonical JSON.
fn content_hash(source: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(source.as_bytes()).into()
}

/// A content hash as text: `sha256:` and its hex.
fn hash_text(hash: &[u8; 32]) -> String {
    format!("sha256:{:x}", sha2::digest::Output::<sha2::Sha256>::from(*hash))
}

fn out_of_order(action: &Action, rm: &str, at: DateTime<FixedOffset>, clock: DateTime<FixedOffset>) -> InputError {
    InputError::OutOfOrder {
        action: action.id().to_string(),
        rm: rm.to_string(),
        at: format_datetime(&at),
        clock: format_datetime(&clock),
    }
}

/// The order of overdue reports within one advance: deadline, policy, duty, RM, then an
/// obligation (by its action's id) before a periodic check.
fn report_key(due: DateTime<FixedOffset>, r: &OverdueReport) -> (DateTime<FixedOffset>, &str, &str, &str, bool, &str) {
    let o = &r.obligation;
    (due, &o.policy, &o.duty, &r.rm, o.action.is_none(), o.action.as_deref().unwrap_or(""))
}

/// Reports the RM's unreported obligations and periodic checks due before `at`, in the order
/// of [`report_key`], recording their breaches; moves the RM's clock to `at`.
fn advance_rm(
    set: &PolicySet,
    rm_id: &str,
    rm: &mut RmHistory,
    at: DateTime<FixedOffset>,
    keys: &[Indexed],
    subject: &mut Subject,
) -> Vec<OverdueReport> {
    enum Due {
        Obligation(crate::eval::history::OpenObligation),
        Periodic(PeriodCheck),
    }
    let mut due: Vec<(DateTime<FixedOffset>, SmolStr, SmolStr, bool, SmolStr, Due)> = Vec::new();
    while let Some(o) = rm.obligations.report_next(set, at) {
        let Some(policy) = set.policies.get(o.policy as usize) else { continue };
        let Some(rule) = policy.rules.get(o.rule as usize) else { continue };
        due.push((o.due, policy.id.clone(), rule.id.clone(), false, o.trigger.id.clone(), Due::Obligation(o)));
    }
    for check in due_checks(set, *subject, at) {
        let Some(policy) = set.policies.get(check.policy) else { continue };
        let Some(rule) = policy.rules.get(check.rule) else { continue };
        due.push((check.due, policy.id.clone(), rule.id.clone(), true, SmolStr::default(), Due::Periodic(check)));
    }
    if subject.first.is_some() {
        subject.checked = subject.checked.max(Some(at));
    }
    due.sort_by(|a, b| (a.0, &a.1, &a.2, a.3, &a.4).cmp(&(b.0, &b.1, &b.2, b.3, &b.4)));
    let mut reports = Vec::new();
    for (.., item) in due {
        let made = match &item {
            Due::Obligation(o) => overdue_report(set, rm_id, o, rm),
            Due::Periodic(check) => periodic_report(set, rm_id, check, rm),
        };
        if let Some((report, breach, reached)) = made {
            if let Some(b) = breach {
                rm.record_breach(b, keys);
            }
            rm.reached.extend(reached);
            reports.push(report);
        }
    }
    rm.clock = rm.clock.max(Some(at));
    reports
}

/// Drops what no window can reach from `now` on.
fn prune(set: &PolicySet, rm: &mut RmHistory, now: DateTime<FixedOffset>) {
    let cutoff = |seconds: i64| TimeDelta::try_seconds(seconds).and_then(|d| now.checked_sub_signed(d));
    for t in 0..rm.actions.len() {
        match set.action_retention.get(t).copied().flatten() {
            Some(keep) => {
                if let Some(c) = cutoff(keep) {
                    rm.prune_actions(t, c);
                }
            }
            None => rm.clear_actions(t),
        }
    }
    if let Some(c) = set.restriction_retention.and_then(cutoff) {
        crate::decide::restrict::prune(rm, c);
    }
    match set.breach_retention.and_then(cutoff) {
        Some(c) => rm.prune_breaches(c),
        None if set.breach_retention.is_none() => rm.clear_breaches(),
        None => {}
    }
    // An obligation reported overdue stays open for a late fulfilment as long as any window
    // reaches back to it, and at least for one more deadline period of its duty.
    rm.obligations.drop_expired(set, now);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    //! The indexed ways (aggregates by key, obligations by fulfilment key, deadlines in order)
    //! against the plain ones they replace: the same decisions, errors, overdue reports and
    //! evaluation steps, in the same order.
    use super::*;
    use crate::decide::obligation_record;
    use crate::eval::Evaluator;
    use crate::value::Clock;
    use crate::Engine;
    use proptest::prelude::*;

    const POLICY: &str = r#"policy prop "Indexed and plain"
  version "1"
  effective 2026-01-01
  timezone "UTC"

action gift {
  customer: text
  value: money
  kind: one of cash, goods
  n: int
}

action registered {
  gift: text
  customer: text
  n: int
}

ladder conduct
  window 30 days
  points minor 1
  step 2 "warning"

rule cap "Gifts to one customer"
  cite "c"
  on gift
  let total = sum(gift.value where customer = action.customer within 3 days)
  when total + action.value > 100 CNY
  then review
  message "{total}"

rule kinds "Gifts of a kind to others"
  cite "c"
  on gift
  when count(gift where kind = action.kind and customer != action.customer within 2 days) > 2
    or exists(gift where n = action.n and value > 20 CNY within 1 days)
  then review

rule constant "Gifts to the first customer"
  cite "c"
  on gift, registered
  when count(gift where customer = "C1" within 2 days) > 2
    or max(gift.n where action.customer = customer and n > 0 within 4 days) > 2
  then review

rule ids "A gift id named by a registration"
  cite "c"
  on registered
  when exists(gift where id = action.gift within 2 days)
    and min(gift.value where n = action.n within 2 days) > 5 CNY
  then review

rule repeat "Registration duties missed"
  cite "c"
  on gift, registered
  when count(breach where rule = "register" within 3 days) >= 2
  then review

rule ladder_points "Points on the ladder"
  cite "c"
  on gift, registered
  when sum(breach.points where "conduct" = ladder within 2 days) >= 3
  then review

rule busy "Many gifts, or a registration just now"
  cite "c"
  on gift
  when count(gift within 1 days) > 4 or exists(registered within 2 hours)
  then review

duty register "Gifts are registered"
  cite "c"
  on gift
  due within 1 days
  fulfilled by registered where gift = action.id
  otherwise breach minor

duty register_customer "Gifts are registered under their customer"
  cite "c"
  on gift
  due within 2 days
  fulfilled by registered where customer = action.customer and n = action.n
  otherwise breach minor

duty any "Something is registered"
  cite "c"
  on gift
  when action.kind = "cash"
  due within 1 days
  fulfilled by registered
  otherwise breach minor
"#;

    /// One step of a stream: a gift, a registration or an advance, each field drawn from a few
    /// values (absent and malformed ones included) so that keys collide and predicates fail.
    #[derive(Debug, Clone)]
    struct Step {
        kind: u8,
        rm: u8,
        gap: u8,
        customer: u8,
        value: u8,
        n: u8,
        gift: u8,
    }

    fn step() -> impl Strategy<Value = Step> {
        (0u8..10, 0u8..2, 0u8..6, 0u8..5, 0u8..8, 0u8..5, 0u8..8)
            .prop_map(|(kind, rm, gap, customer, value, n, gift)| Step { kind, rm, gap, customer, value, n, gift })
    }

    const GAPS: [i64; 6] = [0, 0, 600, 3_600, 40_000, 100_000];

    fn action(i: usize, s: &Step, at: DateTime<FixedOffset>) -> Option<Action> {
        let mut v = serde_json::json!({
            "id": format!("G{i}"),
            "at": format_datetime(&at),
            "rm": {"id": format!("R{}", s.rm)},
        });
        let customer = match s.customer {
            0 => serde_json::Value::Null,
            c => format!("C{c}").into(),
        };
        let n = match s.n {
            0 => serde_json::json!("x"),
            n => serde_json::json!(n),
        };
        if s.kind < 6 {
            v["type"] = "gift".into();
            v["customer"] = customer;
            v["value"] = match s.value {
                0 => serde_json::Value::Null,
                1 => "3 USD".into(),
                x => format!("{} CNY", u32::from(x) * 9).into(),
            };
            v["kind"] = if s.gift.is_multiple_of(2) { "cash" } else { "goods" }.into();
            v["n"] = n;
        } else if s.kind < 9 {
            v["type"] = "registered".into();
            v["id"] = format!("R{i}").into();
            v["gift"] = match s.gift {
                0 => serde_json::Value::Null,
                g => format!("G{}", i.saturating_sub(usize::from(g))).into(),
            };
            v["customer"] = customer;
            v["n"] = n;
        } else {
            return None;
        }
        Some(Action::from_json(&v.to_string()).unwrap())
    }

    fn engine() -> Engine {
        Engine::new(PolicySet::from_sources([("prop.probity", POLICY)]).unwrap())
    }

    /// Every rule clause evaluated against the RM's history both ways: the same result and the
    /// same steps.
    fn same_evaluations(set: &PolicySet, indexed: &Ledger, plain: &Ledger, action: &Action) {
        let Ok(decoded) = set.schema.decode(action) else { return };
        let (Some(a), Some(b)) = (
            indexed.rms.get(&*decoded.rm).and_then(Entry::history),
            plain.rms.get(&*decoded.rm).and_then(Entry::history),
        ) else {
            return;
        };
        assert!(b.plain && !a.plain);
        for policy in &set.policies {
            for rule in &policy.rules {
                for body in rule.bodies.iter().filter(|body| Some(body.action_type) == decoded.type_id) {
                    for clause in body.when.iter().chain(&body.lets) {
                        let clock = Clock::new(decoded.at, policy.timezone);
                        let mut x = Evaluator::new(body, &decoded, clock, a);
                        let mut y = Evaluator::new(body, &decoded, clock, b);
                        assert_eq!(x.eval(clause), y.eval(clause), "rule {}", rule.id);
                        assert_eq!(x.steps, y.steps, "rule {}", rule.id);
                    }
                }
            }
        }
    }

    /// An RM is indexed only while it holds more than `INDEX_FROM` items of a kind: its
    /// indexes are built when it passes that and dropped when pruning leaves half as many.
    #[test]
    fn indexes_are_kept_only_for_dense_histories() {
        use crate::eval::history::INDEX_FROM;
        let engine = engine();
        let mut ledger = engine.ledger();
        let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap();
        let gift = |i: usize| {
            let at = start + TimeDelta::minutes(i as i64);
            let json = serde_json::json!({
                "id": format!("G{i}"), "type": "gift", "at": format_datetime(&at), "rm": {"id": "R0"},
                "customer": "C1", "value": "1 CNY", "kind": "goods", "n": 1,
            });
            Action::from_json(&json.to_string()).unwrap()
        };
        let indexes = |ledger: &Ledger| ledger.rms.get("R0").and_then(Entry::history).map(RmHistory::indexes);
        // Two obligations a gift: the obligations pass the threshold first.
        for i in 0..INDEX_FROM / 2 {
            ledger.submit(&gift(i)).unwrap();
        }
        assert_eq!(indexes(&ledger), Some((0, 0, false)));
        ledger.submit(&gift(INDEX_FROM / 2)).unwrap();
        assert_eq!(indexes(&ledger), Some((0, 0, true)));
        for i in INDEX_FROM / 2 + 1..INDEX_FROM {
            ledger.submit(&gift(i)).unwrap();
        }
        assert_eq!(indexes(&ledger), Some((0, 0, true)));
        // Gifts are looked up by customer, kind, n and id.
        ledger.submit(&gift(INDEX_FROM)).unwrap();
        assert_eq!(indexes(&ledger), Some((4, 0, true)));
        // Two days on: every obligation is overdue (breaches by rule and by ladder) and still
        // open for a late registration; the gifts are still in the longest window.
        let reports = ledger.advance_to(start + TimeDelta::days(2) + TimeDelta::hours(1));
        assert_eq!(reports.len(), 2 * (INDEX_FROM + 1));
        assert_eq!(indexes(&ledger), Some((4, 2, true)));
        // Past every window: nothing left, and the RM is its clock again.
        ledger.advance_to(start + TimeDelta::days(90));
        assert_eq!(indexes(&ledger), None);
        assert_eq!(ledger.retained_items(), 0);
        // A few gifts later, nothing is indexed.
        for i in 0..3 {
            let late = gift(i);
            let json = serde_json::json!({
                "id": format!("L{i}"), "type": "gift", "at": format_datetime(&(late.at() + TimeDelta::days(100))),
                "rm": {"id": "R0"}, "customer": "C1", "value": "1 CNY", "kind": "goods", "n": 1,
            });
            ledger.submit(&Action::from_json(&json.to_string()).unwrap()).unwrap();
        }
        assert_eq!(indexes(&ledger), Some((0, 0, false)));
    }

    fn gift_json(id: &str, at: &str, value: &str) -> Action {
        let json = serde_json::json!({"id": id, "type": "gift", "at": at, "rm": {"id": "R0"},
            "customer": "C1", "value": value, "kind": "cash", "n": 1});
        Action::from_json(&json.to_string()).unwrap()
    }

    /// A retry returns the recorded decision with no overdue reports, even after later actions;
    /// other content under the same id is I0012; once the receipt retention has passed, the
    /// retry is out of order.
    #[test]
    fn a_retry_returns_the_recorded_decision_and_records_nothing() {
        let mut ledger = engine().ledger();
        let first = ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "50 CNY")).unwrap();
        let later = ledger.submit(&gift_json("G2", "2026-03-02T00:00:00Z", "60 CNY")).unwrap();
        let before = ledger.snapshot().to_json();
        let retry = ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "50 CNY")).unwrap();
        assert_eq!(retry, Submission { overdue: Vec::new(), decision: first.decision.clone() });
        assert_eq!(ledger.snapshot().to_json(), before, "a retry records nothing");
        let e = ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "51 CNY")).unwrap_err();
        assert_eq!((e.code(), e.field()), ("I0012", Some("id")));
        assert!(e.to_string().contains("2026-03-01T00:00:00Z") && e.to_string().contains("sha256:"), "{e}");
        assert_eq!(ledger.submit(&gift_json("G2", "2026-03-02T00:00:00Z", "60 CNY")).unwrap().decision, later.decision);
        // Kept for the policy's longest window, at least 30 days; G1's record expires then, to
        // the nanosecond.
        assert_eq!(ledger.receipt_retention, ledger.set.longest_window.max(RECEIPTS_AT_LEAST));
        let g1 = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap();
        let edge = g1 + TimeDelta::seconds(ledger.receipt_retention);
        ledger.advance_to(edge);
        assert_eq!(ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "50 CNY")).unwrap().decision, first.decision);
        ledger.advance_to(edge + TimeDelta::nanoseconds(1));
        let e = ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "50 CNY")).unwrap_err();
        assert_eq!(e.code(), "I0009");
    }

    /// The decision's JSON comes back with a fresh submission, as recorded and as the decision
    /// writes it, and the record line written from it is the one written from the decision;
    /// a retry, and a transient ledger, give none.
    #[test]
    fn a_fresh_submission_gives_the_json_recorded_for_it() {
        let mut ledger = engine().ledger();
        let gift = gift_json("G1", "2026-03-01T00:00:00Z", "50 CNY");
        let (submission, json) = ledger.submit_with_json(&gift).unwrap();
        let json = json.map(str::to_string);
        assert_eq!(json.as_deref(), Some(submission.decision.to_json().as_str()));
        let line = |json: Option<&str>| {
            let mut out = Vec::new();
            let record = crate::replay::Record::Decision {
                line: 1,
                rm: gift.rm(),
                action: &gift,
                decision: &submission.decision,
                json,
            };
            record.write_json(&mut out);
            out
        };
        assert_eq!(line(json.as_deref()), line(None));
        assert!(ledger.submit_with_json(&gift).unwrap().1.is_none(), "a retry");
        let mut transient = engine().ledger().transient();
        assert!(transient.submit_with_json(&gift).unwrap().1.is_none());
    }

    /// A transient ledger (a replay that saves nothing) decides a repeated id again.
    #[test]
    fn a_transient_ledger_records_no_retries() {
        let mut ledger = engine().ledger().transient();
        let first = ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "60 CNY")).unwrap();
        let again = ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "60 CNY")).unwrap();
        assert_eq!(ledger.recorded_count(), 0);
        assert_ne!(first.decision.findings, again.decision.findings, "the second gift counts the first");
    }

    #[test]
    fn restore_errors_are_coded() {
        let mut ledger = engine().ledger();
        ledger.submit(&gift_json("G1", "2026-03-01T00:00:00Z", "50 CNY")).unwrap();
        let snapshot = ledger.snapshot();
        let text = snapshot.to_json();
        // Into a ledger that already tracks the RM.
        assert_eq!(ledger.restore(snapshot.clone()).unwrap_err().code(), "I0015");
        // Another format version, no format, corrupt JSON.
        let later = text.replacen("\"format\":1", "\"format\":2", 1);
        let e = Snapshot::from_json(&later).unwrap_err();
        assert_eq!(e.code(), "I0013");
        assert!(e.to_string().contains("format 2"), "{e}");
        assert_eq!(Snapshot::from_json("{}").unwrap_err().code(), "I0013");
        assert_eq!(Snapshot::from_json(&text[..text.len() - 3]).unwrap_err().code(), "I0013");
        assert_eq!(Snapshot::from_json("[1]").unwrap_err().code(), "I0013");
        // An obligation of a version the set lacks, named.
        let other = text.replace("\"version\":\"1\"", "\"version\":\"9\"");
        let e = engine().ledger().restore(Snapshot::from_json(&other).unwrap()).unwrap_err();
        assert_eq!(e.code(), "I0014");
        assert!(e.to_string().contains("policy `prop` version `9`") && e.to_string().contains("`G1`"), "{e}");
        // An action of another RM in an RM's state.
        let moved = text.replacen("\"rm\":\"R0\"", "\"rm\":\"R9\"", 1);
        let e = engine().ledger().restore(Snapshot::from_json(&moved).unwrap()).unwrap_err();
        assert_eq!(e.code(), "I0013");
        assert!(e.to_string().contains("RM `R0`"), "{e}");
        // A snapshot with the RM twice; nothing restored.
        let mut twice = snapshot.clone();
        twice.rms.push(twice.rms[0].clone());
        let mut fresh = engine().ledger();
        assert_eq!(fresh.restore(twice).unwrap_err().code(), "I0013");
        assert_eq!(fresh.rm_count(), 0);
        fresh.restore(snapshot).unwrap();
        assert_eq!(fresh.snapshot().to_json(), text);
    }

    /// Submits a stream's steps into `ledger`, writing every record's JSON.
    fn run(ledger: &mut Ledger, steps: &[(usize, Step, DateTime<FixedOffset>)], out: &mut Vec<String>) {
        for (i, s, at) in steps {
            match action(*i, s, *at) {
                Some(a) => match ledger.submit(&a) {
                    Ok(sub) => {
                        out.extend(sub.overdue.iter().map(OverdueReport::to_json));
                        out.push(sub.decision.to_json());
                    }
                    Err(e) => out.push(format!("{:?}", e.record())),
                },
                None => out.extend(ledger.advance_to(*at).iter().map(OverdueReport::to_json)),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]
        /// Snapshot at any point (the whole ledger through JSON text, or only some RMs), restore
        /// into a fresh ledger, continue: the records of a ledger that never stopped.
        #[test]
        fn snapshot_restore_continue_is_never_stopped(
            steps in proptest::collection::vec(step(), 1..80),
            cut in 0usize..80,
            retries in proptest::collection::vec(0usize..80, 0..6),
        ) {
            let engine = engine();
            let mut at = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap();
            let mut timed = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                at += TimeDelta::seconds(GAPS[usize::from(s.gap)]);
                timed.push((i, s.clone(), at));
                // Retries of earlier steps: recorded, out of order or expired.
                if retries.contains(&i) {
                    let (j, t, a) = timed[i / 2].clone();
                    timed.push((j, t, a));
                }
            }
            let cut = cut.min(timed.len());
            let mut whole = engine.ledger();
            let mut expected = Vec::new();
            run(&mut whole, &timed, &mut expected);
            let mut first = engine.ledger();
            let mut got = Vec::new();
            run(&mut first, &timed[..cut], &mut got);
            let text = first.snapshot().to_json();
            let mut second = engine.ledger();
            second.restore(Snapshot::from_json(&text).unwrap()).unwrap();
            prop_assert_eq!(second.snapshot().to_json(), text);
            run(&mut second, &timed[cut..], &mut got);
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(second.snapshot().to_json(), whole.snapshot().to_json());
            // Per RM: R1 alone moved into another ledger continues as in the ledger it left.
            let mut r1 = engine.ledger();
            if let Some(rm) = first.snapshot_rm("R1") {
                r1.restore_rm(RmSnapshot::from_json(&rm.to_json()).unwrap()).unwrap();
            }
            let rest: Vec<_> = timed[cut..].iter().filter(|(_, s, _)| s.rm == 1 && s.kind < 9).cloned().collect();
            let mut moved = Vec::new();
            run(&mut r1, &rest, &mut moved);
            let mut stayed = Vec::new();
            run(&mut first, &rest, &mut stayed);
            prop_assert_eq!(moved, stayed);
            prop_assert_eq!(r1.snapshot_rm("R1"), first.snapshot_rm("R1"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Indexed from the first item, or from the fourth (indexes built and dropped as
        /// histories grow and shrink), against never.
        #[test]
        fn indexed_histories_decide_as_plain_ones(
            steps in proptest::collection::vec(step(), 1..120),
            index_from in prop::sample::select(vec![0usize, 3]),
        ) {
            let engine = engine();
            let set = engine.policy_set();
            let mut indexed = engine.ledger();
            indexed.index_from = Some(index_from);
            let mut plain = engine.ledger();
            plain.plain = true;
            let mut at = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap();
            let mut submitted: Vec<Action> = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                at += TimeDelta::seconds(GAPS[usize::from(s.gap)]);
                match action(i, s, at) {
                    Some(a) => {
                        same_evaluations(set, &indexed, &plain, &a);
                        prop_assert_eq!(format!("{:?}", indexed.evaluate(&a)), format!("{:?}", plain.evaluate(&a)));
                        prop_assert_eq!(format!("{:?}", indexed.submit(&a)), format!("{:?}", plain.submit(&a)));
                        submitted.push(a);
                    }
                    None => prop_assert_eq!(indexed.advance_to(at), plain.advance_to(at)),
                }
                prop_assert_eq!(indexed.retained_items(), plain.retained_items());
                prop_assert_eq!(indexed.open_obligations(), plain.open_obligations());
            }
            // Engine::evaluate with a seeded history: the submitted actions and the obligations
            // of R0 still open, decided both ways for one more action.
            let Some(rm) = indexed.rms.get("R0").and_then(Entry::history) else { return Ok(()) };
            let history = History {
                actions: submitted.iter().filter(|a| a.rm() == "R0").cloned().collect(),
                // Breaches without a ladder among them: `ladder = "conduct"` is an error for those.
                breaches: steps
                    .iter()
                    .take(6)
                    .map(|s| crate::eval::history::HistoryBreach {
                        rm: None,
                        policy: "prop".into(),
                        rule: if s.n % 2 == 0 { "register" } else { "any" }.into(),
                        severity: "minor".into(),
                        ladder: (s.customer != 0).then(|| "conduct".into()),
                        at: format_datetime(&(at - TimeDelta::hours(i64::from(s.gap) * 7))),
                        action: "G0".into(),
                        points: Some(i64::from(s.value)),
                    })
                    .collect(),
                obligations: rm
                    .obligations
                    .iter()
                    .filter_map(|o| obligation_record(set, o))
                    .map(|o| crate::eval::history::HistoryObligation {
                        rm: None,
                        policy: o.policy.to_string(),
                        duty: o.duty.to_string(),
                        action: o.action.as_deref().unwrap_or("").to_string(),
                        due: o.due.to_string(),
                        version: None,
                    })
                    .collect(),
            };
            for s in steps.iter().take(8) {
                let Some(last) = action(steps.len(), &Step { rm: 0, ..s.clone() }, at) else { continue };
                let Ok(decoded) = set.schema.decode(&last) else { continue };
                let loaded = set.history_for("R0", &history).unwrap();
                let fast = loaded.reindexed(set, &crate::eval::indexed_keys(set), Some(index_from));
                let mut slow = loaded.clone();
                slow.plain = true;
                let slow = format!("{:?}", Ok::<Decision, InputError>(decide(set, &decoded, &slow).decision));
                prop_assert_eq!(format!("{:?}", Ok::<Decision, InputError>(decide(set, &decoded, &fast).decision)), slow.clone());
                prop_assert_eq!(format!("{:?}", engine.evaluate(&last, &history)), slow);
            }
        }
    }
}
