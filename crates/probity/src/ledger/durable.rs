//! A ledger whose state lives in a [`Store`]: each batch of submissions is one transaction that
//! loads the RMs it needs, submits, writes their state and recorded decisions back, and
//! commits. A batch is acknowledged only once it is committed.
//!
//! A store keeps each RM's state without its recorded submissions ([`RmSnapshot::without_recorded`])
//! and the recorded decisions one row each, so that a commit writes the RMs that changed and
//! the decisions made, never every decision kept again.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::snapshot::policy_digests;
use super::{Ledger, PolicyDigest, RecordedDecision, RmChange, RmSnapshot, Submission, SNAPSHOT_FORMAT};
use crate::action::{Action, InputError};
use crate::engine::Engine;
use crate::policy_set::PolicySet;
use crate::store::{pack_state, unpack_state, Recorded, RmState, Store, StoreError, Transaction};

/// The meta key of the snapshot format the state's RM blobs are in.
pub const META_FORMAT: &str = "format";
/// The meta key of the policy versions (`[{"id", "version", "digest"}…]`) last written with.
pub const META_POLICIES: &str = "policies";

/// A ledger over a store (see the module's documentation). The store is borrowed for the
/// ledger's life; each [`DurableLedger::submit_batch`] is one transaction.
#[derive(Debug)]
pub struct DurableLedger<'s> {
    engine: Engine,
    store: &'s mut dyn Store,
}

impl<'s> DurableLedger<'s> {
    /// A durable ledger deciding with `engine`'s policy set over `store`.
    pub fn new(engine: &Engine, store: &'s mut dyn Store) -> DurableLedger<'s> {
        DurableLedger { engine: engine.clone(), store }
    }

    /// Submits a batch of actions in one transaction, in order, and commits. Each action gets
    /// its submission or its input error, as [`Ledger::submit`] gives them: an action already
    /// recorded (by an earlier, committed batch) gets the recorded decision, and nothing is
    /// reported overdue twice. A store error (which rolls the whole batch back) is the `Err`:
    /// then nothing of the batch was acknowledged, and it may be submitted again.
    pub fn submit_batch(&mut self, actions: &[Action]) -> Result<Vec<Result<Submission, InputError>>, StoreError> {
        let mut ledger = self.engine.ledger();
        let mut tx = self.store.transaction()?;
        check_format(tx.as_mut())?;
        // Lock in ascending order of id, so that two batches never wait for each other in a cycle.
        let rms: BTreeSet<&str> = actions.iter().map(Action::rm).collect();
        for rm in &rms {
            tx.lock_rm(rm)?;
            if let Some(state) = tx.read_rm(rm)? {
                let snapshot = read_state(tx.as_mut(), rm, &state)?;
                ledger.restore_rm(snapshot).map_err(|e| unrestorable(rm, &e))?;
            }
        }
        ledger.track_changes();
        let out: Vec<_> = actions.iter().map(|action| ledger.submit(action)).collect();
        write_changes(tx.as_mut(), ledger.take_changes())?;
        write_meta(tx.as_mut(), self.engine.policy_set())?;
        tx.commit()?;
        Ok(out)
    }

    /// Advances every RM of the state to `at` in one transaction (as [`Ledger::advance_to`]),
    /// and commits: the overdue reports, acknowledged once committed. Every RM is locked, in
    /// ascending order of id, for the transaction.
    pub fn advance_to(&mut self, at: DateTime<FixedOffset>) -> Result<Vec<crate::OverdueReport>, StoreError> {
        let mut ledger = self.engine.ledger();
        let mut tx = self.store.transaction()?;
        check_format(tx.as_mut())?;
        let mut ids: Vec<String> = Vec::new();
        tx.read_all_rms(&mut |rm: &str, _| {
            ids.push(rm.to_string());
            Ok(())
        })?;
        for rm in &ids {
            tx.lock_rm(rm)?;
            // Read again under the lock: the latest committed state. No receipt is needed to
            // advance, and none changes.
            if let Some(state) = tx.read_rm(rm)? {
                ledger.restore_rm(read_blob(rm, &state)?).map_err(|e| unrestorable(rm, &e))?;
            }
        }
        ledger.track_changes();
        let reports = ledger.advance_to(at);
        write_changes(tx.as_mut(), ledger.take_changes())?;
        write_meta(tx.as_mut(), self.engine.policy_set())?;
        tx.commit()?;
        Ok(reports)
    }

    /// The whole ledger as the store holds it now (every RM, sorted by id), in a ledger of
    /// this engine: to read it, or to continue in memory.
    pub fn load(&mut self) -> Result<Ledger, StoreError> {
        let mut ledger = self.engine.ledger();
        let mut tx = self.store.transaction()?;
        for snapshot in read_all(tx.as_mut(), true)? {
            let rm = snapshot.rm().to_string();
            ledger.restore_rm(snapshot).map_err(|e| unrestorable(&rm, &e))?;
        }
        Ok(ledger)
    }
}

/// S0007 for an RM whose stored state cannot be read or restored.
pub(crate) fn corrupt(rm: &str, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("the state of RM `{rm}`: {e}"))
}

/// Why an RM's state does not restore: S0008 when the policy set lacks a version it needs
/// (I0014), else S0007.
pub(crate) fn unrestorable(rm: &str, e: &InputError) -> StoreError {
    match e {
        InputError::UnknownVersion(message) => StoreError::PolicyMismatch(message.clone()),
        other => corrupt(rm, other),
    }
}

/// Refuses a state written in a later snapshot format (S0007) before anything is read.
pub(crate) fn check_format(tx: &mut dyn Transaction) -> Result<(), StoreError> {
    match tx.meta(META_FORMAT)? {
        Some(f) if f != SNAPSHOT_FORMAT.to_string() => Err(StoreError::Corrupt(format!(
            "the state is in snapshot format {f}, which this version does not read ({SNAPSHOT_FORMAT})"
        ))),
        _ => Ok(()),
    }
}

/// One RM's stored state with its recorded decisions, ready to restore.
pub(crate) fn read_state(tx: &mut dyn Transaction, rm: &str, state: &RmState) -> Result<RmSnapshot, StoreError> {
    let snapshot = read_blob(rm, state)?;
    let recorded = tx
        .all_recorded(rm)?
        .into_iter()
        .map(|(action, r)| RecordedDecision {
            action: action.into(),
            hash: r.hash,
            expires: r.expires,
            decision: r.records,
        })
        .collect();
    snapshot.with_recorded(recorded).map_err(|e| corrupt(rm, &e))
}

/// One RM's stored state without its recorded decisions.
fn read_blob(rm: &str, state: &RmState) -> Result<RmSnapshot, StoreError> {
    let text = unpack_state(&state.blob).map_err(|e| corrupt(rm, &e))?;
    let snapshot = RmSnapshot::from_json(&text).map_err(|e| corrupt(rm, &e))?;
    if snapshot.rm() != rm {
        return Err(corrupt(rm, &format!("it is the state of RM `{}`", snapshot.rm())));
    }
    Ok(snapshot)
}

/// Every RM's stored state, in ascending order of RM id; with `recorded`, with their recorded
/// decisions.
pub(crate) fn read_all(tx: &mut dyn Transaction, recorded: bool) -> Result<Vec<RmSnapshot>, StoreError> {
    check_format(tx)?;
    let mut states: Vec<(String, RmState)> = Vec::new();
    tx.read_all_rms(&mut |rm: &str, state: RmState| {
        states.push((rm.to_string(), state));
        Ok(())
    })?;
    match recorded {
        true => states.iter().map(|(rm, state)| read_state(tx, rm, state)).collect(),
        false => states.iter().map(|(rm, state)| read_blob(rm, state)).collect(),
    }
}

/// Writes what changed: each RM's state and its new recorded decisions, and drops those expired
/// by its clock. With [`write_meta`], before the caller commits.
pub(crate) fn write_changes(tx: &mut dyn Transaction, changes: Vec<RmChange>) -> Result<(), StoreError> {
    for change in changes {
        let rm = change.state.rm().to_string();
        let Some(clock) = change.state.clock() else { continue };
        for r in change.recorded {
            let recorded = Recorded { hash: r.hash, records: r.decision, expires: r.expires };
            tx.put_recorded(&rm, &r.action, &recorded)?;
        }
        tx.upsert_rm(&rm, &RmState { blob: pack_state(&change.state.to_json()), clock })?;
        // The ledger dropped the recorded submissions that expired before the RM's clock.
        tx.delete_recorded_before(&rm, clock)?;
    }
    Ok(())
}

/// Writes the meta entries: the snapshot format and the policy versions written with.
pub(crate) fn write_meta(tx: &mut dyn Transaction, set: &PolicySet) -> Result<(), StoreError> {
    tx.set_meta(META_FORMAT, &SNAPSHOT_FORMAT.to_string())?;
    let digests = serde_json::to_string(&policy_digests(set)).unwrap_or_default();
    tx.set_meta(META_POLICIES, &digests)
}

/// What a state holds, as `probity state show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateSummary {
    /// The store's backend (`sqlite`, `postgres`, `memory`).
    pub backend: &'static str,
    /// The snapshot format the RMs' states are in (`None` for a state never written).
    pub format: Option<String>,
    /// The policy versions the state was last written with.
    pub policies: Vec<PolicyDigest>,
    /// The RMs tracked.
    pub rms: usize,
    /// The latest clock of any RM.
    pub latest: Option<DateTime<FixedOffset>>,
    /// Actions kept for windows, over all RMs.
    pub actions: usize,
    /// Breaches kept, over all RMs.
    pub breaches: usize,
    /// Decisions recorded for retries, over all RMs.
    pub recorded: usize,
    /// Open obligations not yet overdue.
    pub open_obligations: usize,
    /// Obligations reported overdue and still open for a late fulfilment.
    pub overdue_open: usize,
    /// Restricting ladder steps reached and kept.
    pub restricting_steps_reached: usize,
    /// Restrictions in force at each RM's clock, summed; known only against a policy set.
    pub restrictions_in_force: Option<usize>,
}

impl StateSummary {
    /// Reads a state's summary. With `engine`, the RMs are restored into a ledger of its
    /// policy set to tell which restrictions are in force (and any RM that does not restore
    /// into it is an error).
    pub fn read(store: &mut dyn Store, engine: Option<&Engine>) -> Result<StateSummary, StoreError> {
        let backend = store.backend();
        let mut tx = store.transaction()?;
        let format = tx.meta(META_FORMAT)?;
        let policies = match tx.meta(META_POLICIES)? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("the state's policy versions cannot be read: {e}")))?,
            None => Vec::new(),
        };
        // The recorded decisions are counted, not read.
        let snapshots = read_all(tx.as_mut(), false)?;
        let mut recorded = 0usize;
        for s in &snapshots {
            recorded = recorded.saturating_add(tx.all_recorded(s.rm())?.len());
        }
        drop(tx);
        let mut summary = StateSummary {
            backend,
            format,
            policies,
            rms: snapshots.len(),
            latest: snapshots.iter().filter_map(RmSnapshot::clock).max(),
            actions: 0,
            breaches: 0,
            recorded,
            open_obligations: 0,
            overdue_open: 0,
            restricting_steps_reached: 0,
            restrictions_in_force: None,
        };
        for s in &snapshots {
            let (actions, breaches, _) = s.items();
            let (open, overdue) = s.open_obligations();
            summary.actions = summary.actions.saturating_add(actions);
            summary.breaches = summary.breaches.saturating_add(breaches);
            summary.open_obligations = summary.open_obligations.saturating_add(open.saturating_sub(overdue));
            summary.overdue_open = summary.overdue_open.saturating_add(overdue);
            summary.restricting_steps_reached = summary.restricting_steps_reached.saturating_add(s.reached_count());
        }
        if let Some(engine) = engine {
            let mut ledger = engine.ledger();
            for snapshot in snapshots {
                let rm = snapshot.rm().to_string();
                ledger.restore_rm(snapshot).map_err(|e| unrestorable(&rm, &e))?;
            }
            summary.restrictions_in_force = Some(ledger.restrictions_in_force());
        }
        Ok(summary)
    }

    /// The summary as an aligned table, one item a line, then the policy versions.
    pub fn table(&self) -> String {
        let latest = self.latest.map_or_else(|| "-".to_string(), |t| crate::value::format_datetime(&t));
        let in_force =
            self.restrictions_in_force.map_or_else(|| "- (give --policies to tell)".to_string(), |n| n.to_string());
        let rows = [
            ("backend", self.backend.to_string()),
            ("format", self.format.clone().unwrap_or_else(|| "- (empty)".to_string())),
            ("RMs", self.rms.to_string()),
            ("latest clock", latest),
            ("actions kept", self.actions.to_string()),
            ("breaches kept", self.breaches.to_string()),
            ("decisions recorded", self.recorded.to_string()),
            ("open obligations", self.open_obligations.to_string()),
            ("overdue, still open", self.overdue_open.to_string()),
            ("restricting steps reached", self.restricting_steps_reached.to_string()),
            ("restrictions in force", in_force),
        ];
        let mut out = String::new();
        for (name, value) in rows {
            out.push_str(&format!("{name:<27}{value}\n"));
        }
        out.push_str("policies\n");
        for p in &self.policies {
            out.push_str(&format!("  {} {} {}\n", p.id, p.version, p.digest));
        }
        out
    }
}
