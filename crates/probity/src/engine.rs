//! The engine: a loaded policy set, and the entry points that decide, explain and open a ledger.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};

use crate::action::{Action, InputError};
use crate::decide::decide;
use crate::decide::explain::{explain, Explanation};
use crate::decision::{Decision, OverdueReport};
use crate::eval::history::History;
use crate::ledger::Ledger;
use crate::policy_set::PolicySet;

/// Evaluates actions against a policy set. Cheap to clone; shareable across threads.
#[derive(Debug, Clone)]
pub struct Engine {
    set: Arc<PolicySet>,
}

impl Engine {
    /// An engine for a loaded policy set.
    pub fn new(set: PolicySet) -> Engine {
        Engine { set: Arc::new(set) }
    }

    /// The policy set the engine evaluates.
    pub fn policy_set(&self) -> &PolicySet {
        &self.set
    }

    pub(crate) fn shared_set(&self) -> Arc<PolicySet> {
        Arc::clone(&self.set)
    }

    /// Decides on an action given the RM's history. Pure: nothing is recorded. Lists under
    /// `fulfilled` the open obligations of `history` that the action meets.
    pub fn evaluate(&self, action: &Action, history: &History) -> Result<Decision, InputError> {
        let decoded = self.set.schema.decode(action)?;
        let rm = self.set.history_for(action.rm(), history)?;
        Ok(decide(&self.set, &decoded, &rm).decision)
    }

    /// Decides on an action given as JSON, with a history given as JSON (or none).
    pub fn evaluate_json(&self, action: &str, history: Option<&str>) -> Result<Decision, InputError> {
        let action = Action::from_json(action)?;
        let history = match history {
            Some(text) => History::from_json(text)?,
            None => History::new(),
        };
        self.evaluate(&action, &history)
    }

    /// The overdue reports of `history` at time `at`: every open obligation whose deadline is
    /// before `at`, and every failed periodic check due before `at` of the RMs with actions in
    /// `history`, in deadline order. Pure, like [`Engine::evaluate`].
    pub fn overdue(&self, history: &History, at: DateTime<FixedOffset>) -> Result<Vec<OverdueReport>, InputError> {
        let mut ledger = self.ledger();
        ledger.load(history)?;
        Ok(ledger.advance_to(at))
    }

    /// A new, empty ledger over this engine's policy set.
    pub fn ledger(&self) -> Ledger {
        Ledger::new(self.shared_set())
    }

    /// Decides on an action like [`Engine::evaluate`], and explains the decision: for every rule
    /// of the action's type, each clause with the values it read and its result, the history
    /// items each aggregate counted, and the sanction arithmetic.
    pub fn explain(&self, action: &Action, history: &History) -> Result<Explanation, InputError> {
        explain(&self.set, action, history)
    }
}
