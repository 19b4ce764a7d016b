//! A ledger whose state lives in a [`Store`]: each batch of submissions is one transaction that
//! loads the RMs it needs, submits, writes their snapshots and recorded decisions back, and
//! commits. A batch is acknowledged only once it is committed.

use std::collections::BTreeSet;

use super::snapshot::{action_hash, policy_digests};
use super::{end_of_time, Ledger, RmSnapshot, Submission, SNAPSHOT_FORMAT};
use crate::action::{Action, InputError};
use crate::engine::Engine;
use crate::store::{Recorded, RmState, Store, StoreError};

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
    /// recorded (by an earlier, committed batch) gets the recorded submission, and nothing is
    /// reported overdue twice. A store error (which rolls the whole batch back) is the `Err`:
    /// then nothing of the batch was acknowledged, and it may be submitted again.
    pub fn submit_batch(&mut self, actions: &[Action]) -> Result<Vec<Result<Submission, InputError>>, StoreError> {
        let mut ledger = self.engine.ledger();
        let mut tx = self.store.transaction()?;
        // Lock in ascending order of id, so that two batches never wait for each other in a cycle.
        let rms: BTreeSet<&str> = actions.iter().map(Action::rm).collect();
        for rm in &rms {
            tx.lock_rm(rm)?;
            let Some(state) = tx.read_rm(rm)? else { continue };
            let text = std::str::from_utf8(&state.blob)
                .map_err(|e| StoreError::Corrupt(format!("the state of RM `{rm}` is not UTF-8: {e}")))?;
            let snapshot = RmSnapshot::from_json(text)
                .and_then(|s| match s.rm() == *rm {
                    true => Ok(s),
                    false => Err(InputError::Snapshot(format!("it is the state of RM `{}`", s.rm()))),
                })
                .map_err(|e| StoreError::Corrupt(format!("the state of RM `{rm}`: {e}")))?;
            ledger.restore_rm(snapshot).map_err(|e| StoreError::Corrupt(format!("the state of RM `{rm}`: {e}")))?;
        }
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            let known = ledger.rms.get(action.rm()).is_some_and(|e| e.recorded.contains_key(action.id()));
            let result = ledger.submit(action);
            if let (Ok(submission), false) = (&result, known) {
                let expires = ledger
                    .rms
                    .get(action.rm())
                    .and_then(|e| e.recorded.get(action.id()))
                    .map_or_else(end_of_time, |r| r.expires);
                let records = record_lines(submission);
                tx.put_recorded(action.rm(), action.id(), &Recorded { hash: action_hash(action), records, expires })?;
            }
            out.push(result);
        }
        for rm in &rms {
            let Some(snapshot) = ledger.snapshot_rm(rm) else { continue };
            let Some(clock) = snapshot.clock() else { continue };
            tx.upsert_rm(rm, &RmState { blob: snapshot.to_json().into_bytes(), clock })?;
            // The ledger dropped the recorded submissions that expired before the RM's clock.
            tx.delete_recorded_before(rm, clock)?;
        }
        tx.set_meta(META_FORMAT, &SNAPSHOT_FORMAT.to_string())?;
        let digests = serde_json::to_string(&policy_digests(self.engine.policy_set())).unwrap_or_default();
        tx.set_meta(META_POLICIES, &digests)?;
        tx.commit()?;
        Ok(out)
    }

    /// The whole ledger as the store holds it now (every RM, sorted by id), in a ledger of
    /// this engine: to read it, or to continue in memory.
    pub fn load(&mut self) -> Result<Ledger, StoreError> {
        let mut ledger = self.engine.ledger();
        let mut tx = self.store.transaction()?;
        tx.read_all_rms(&mut |rm: &str, state: RmState| -> Result<(), StoreError> {
            let text = std::str::from_utf8(&state.blob)
                .map_err(|e| StoreError::Corrupt(format!("the state of RM `{rm}` is not UTF-8: {e}")))?;
            RmSnapshot::from_json(text)
                .and_then(|s| ledger.restore_rm(s))
                .map_err(|e| StoreError::Corrupt(format!("the state of RM `{rm}`: {e}")))
        })?;
        drop(tx);
        Ok(ledger)
    }
}

/// A submission's record lines, as a replay writes them: its overdue reports, then its decision.
fn record_lines(submission: &Submission) -> String {
    let mut lines: Vec<String> = submission.overdue.iter().map(crate::OverdueReport::to_json).collect();
    lines.push(submission.decision.to_json());
    lines.join("\n")
}
