//! An RM's history: prior actions, breaches and open obligations, kept in time order.

use smol_str::SmolStr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::action::{Action, Decoded, InputError};
use crate::program::{BreachField, LadderKey, TypeId};
use crate::value::Value;

/// The history an evaluation reads: the RM's prior actions, prior breaches and open
/// obligations. Items of other RMs are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Prior actions.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Prior breaches.
    #[serde(default)]
    pub breaches: Vec<HistoryBreach>,
    /// Obligations not yet met.
    #[serde(default)]
    pub obligations: Vec<HistoryObligation>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Parses `{"actions": [...], "breaches": [...], "obligations": [...]}`.
    ///
    /// Read in one pass: actions are read as strict trees (a repeated key is an error), and
    /// serde rejects a repeated or unknown field of the history, a breach or an obligation.
    pub fn from_json(text: &str) -> Result<History, InputError> {
        use crate::node::Node;
        if !text.trim_start().starts_with('{') {
            return Err(InputError::Json(match Node::parse(text) {
                Ok(node) => format!(
                    "history: expected an object with `actions`, `breaches` and `obligations`, found {}",
                    node.kind()
                ),
                Err(e) => format!("history: {e}"),
            }));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let read = History::deserialize(&mut de).and_then(|history| de.end().map(|()| history));
        read.map_err(|e| InputError::Json(format!("history: {e}")))
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.actions.len().saturating_add(self.breaches.len()).saturating_add(self.obligations.len())
    }

    /// Whether the history holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A breach recorded earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryBreach {
    /// The RM; absent means the acting RM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rm: Option<String>,
    /// The policy id.
    pub policy: String,
    /// The rule, conflict or duty id.
    pub rule: String,
    /// The severity.
    pub severity: String,
    /// The ladder it counts on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<String>,
    /// When it happened, RFC 3339.
    pub at: String,
    /// The id of the action that caused it.
    pub action: String,
    /// Its points (0 or more); absent means the points of its severity in the ladder then in
    /// force.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "points")]
    pub points: Option<i64>,
}

/// A breach's `points`: a whole number from 0 to 2^63 - 1, read from the number's own text (so
/// that `1e30` or `2.5` is named for what it is, not as "floating point"). Negative points
/// would erase the sanctions of other breaches.
fn points<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let text = n.to_string();
    match text.parse::<i64>() {
        Ok(p) if p >= 0 => Ok(Some(p)),
        Ok(p) => Err(D::Error::custom(format!(
            "breach `points` must not be negative, found {p}: negative points would cancel other breaches' sanctions"
        ))),
        Err(_) => Err(D::Error::custom(format!(
            "breach `points` must be a whole number from 0 to {}, found {text}",
            i64::MAX
        ))),
    }
}

/// An obligation still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryObligation {
    /// The RM; absent means the acting RM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rm: Option<String>,
    /// The policy id.
    pub policy: String,
    /// The duty id.
    pub duty: String,
    /// The id of the action that started it.
    pub action: String,
    /// Its deadline, RFC 3339.
    pub due: String,
    /// The policy version that created it; absent means the version in force when the
    /// starting action happened (or, if that action is not in the history, at `due`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A breach as the engine keeps it.
#[derive(Debug, Clone)]
pub(crate) struct BreachRecord {
    pub(crate) policy: SmolStr,
    pub(crate) rule: SmolStr,
    pub(crate) severity: SmolStr,
    pub(crate) ladder: Option<SmolStr>,
    pub(crate) ladder_key: Option<LadderKey>,
    pub(crate) points: i64,
    pub(crate) action: SmolStr,
    pub(crate) at: DateTime<FixedOffset>,
}

impl BreachRecord {
    pub(crate) fn field(&self, field: BreachField) -> Value {
        match field {
            BreachField::Rule => Value::Text(self.rule.clone()),
            BreachField::Policy => Value::Text(self.policy.clone()),
            BreachField::Severity => Value::Text(self.severity.clone()),
            BreachField::Ladder => self.ladder.clone().map_or(Value::Missing, Value::Text),
            BreachField::Points => Value::Int(self.points),
            BreachField::Action => Value::Text(self.action.clone()),
            BreachField::At => Value::DateTime(self.at),
        }
    }
}

/// An open obligation: the duty (by policy, rule and body index) and the action that
/// started it.
#[derive(Debug, Clone)]
pub(crate) struct OpenObligation {
    pub(crate) policy: u32,
    pub(crate) rule: u32,
    pub(crate) body: u32,
    pub(crate) trigger: Arc<Decoded>,
    pub(crate) due: DateTime<FixedOffset>,
    pub(crate) reported: bool,
    pub(crate) seq: u64,
}

impl OpenObligation {
    /// Whether advancing to `at` reports it overdue: its deadline is before `at` and it was
    /// not reported yet.
    pub(crate) fn falls_overdue_by(&self, at: DateTime<FixedOffset>) -> bool {
        !self.reported && self.due < at
    }
}

/// What aggregates read: time-ordered slices.
pub(crate) trait HistoryView {
    fn actions(&self, type_id: TypeId) -> &[Arc<Decoded>];
    fn breaches(&self) -> &[BreachRecord];
}

/// Items kept in time order; old ones are dropped from the front.
#[derive(Debug, Clone)]
pub(crate) struct TimeOrdered<T> {
    items: Vec<T>,
    start: usize,
}

impl<T> Default for TimeOrdered<T> {
    fn default() -> Self {
        TimeOrdered { items: Vec::new(), start: 0 }
    }
}

impl<T> TimeOrdered<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        self.items.get(self.start..).unwrap_or(&[])
    }

    /// Inserts after every item at or before `at` (so equal timestamps keep arrival order).
    pub(crate) fn insert(&mut self, item: T, at: impl Fn(&T) -> DateTime<FixedOffset>) {
        let t = at(&item);
        if self.items.last().is_none_or(|last| at(last) <= t) {
            self.items.push(item);
        } else {
            let index = self.start.saturating_add(self.as_slice().partition_point(|i| at(i) <= t));
            self.items.insert(index.min(self.items.len()), item);
        }
    }

    /// Drops the items before `cutoff`. They are released once they are at least as many as
    /// the items kept, so that each item is moved at most once per item dropped (amortised
    /// constant time) and the dead never outnumber the live; spare capacity is returned when
    /// it is more than three quarters of the list.
    pub(crate) fn prune_before(&mut self, cutoff: DateTime<FixedOffset>, at: impl Fn(&T) -> DateTime<FixedOffset>) {
        let dropped = self.as_slice().partition_point(|i| at(i) < cutoff);
        self.start = self.start.saturating_add(dropped);
        if self.start > 0 && self.start >= self.len() {
            self.items.drain(..self.start.min(self.items.len()));
            self.start = 0;
            if self.items.capacity() > self.items.len().saturating_mul(4).max(8) {
                self.items.shrink_to(self.items.len().saturating_mul(2));
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len().saturating_sub(self.start)
    }
}

/// One RM's history as the engine keeps it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RmHistory {
    /// By action type; only the types some window reads hold items.
    pub(crate) actions: Vec<TimeOrdered<Arc<Decoded>>>,
    pub(crate) breaches: TimeOrdered<BreachRecord>,
    pub(crate) obligations: Vec<OpenObligation>,
    pub(crate) clock: Option<DateTime<FixedOffset>>,
}

impl HistoryView for RmHistory {
    fn actions(&self, type_id: TypeId) -> &[Arc<Decoded>] {
        self.actions.get(type_id as usize).map_or(&[], TimeOrdered::as_slice)
    }

    fn breaches(&self) -> &[BreachRecord] {
        self.breaches.as_slice()
    }
}

impl RmHistory {
    pub(crate) fn record_action(&mut self, action: Arc<Decoded>) {
        let Some(t) = action.type_id else { return };
        let index = t as usize;
        if self.actions.len() <= index {
            self.actions.resize_with(index.saturating_add(1), TimeOrdered::default);
        }
        if let Some(list) = self.actions.get_mut(index) {
            list.insert(action, |d| d.at);
        }
    }

    pub(crate) fn record_breach(&mut self, breach: BreachRecord) {
        self.breaches.insert(breach, |b| b.at);
    }

    /// How many items the history holds (for limits and tests).
    pub(crate) fn size(&self) -> usize {
        let actions: usize = self.actions.iter().map(TimeOrdered::len).sum();
        actions.saturating_add(self.breaches.len()).saturating_add(self.obligations.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::TimeOrdered;
    use chrono::{DateTime, FixedOffset, TimeDelta};

    fn at(day: i64) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap() + TimeDelta::days(day)
    }

    #[test]
    fn pruned_items_are_released_and_never_outnumber_the_kept_ones() {
        let mut list: TimeOrdered<i64> = TimeOrdered::default();
        // A sliding 30-day window over 1,000 days, one item a day.
        for day in 0..1000 {
            list.insert(day, |d| at(*d));
            list.prune_before(at(day - 29), |d| at(*d));
            assert_eq!(list.len(), (day + 1).min(30) as usize);
            assert_eq!(list.as_slice().first().copied(), Some((day - 29).max(0)));
            assert!(list.items.len() <= 2 * list.len() + 1, "day {day}: {} held for {}", list.items.len(), list.len());
            assert!(list.items.capacity() <= 4 * list.items.len().max(2) + 8);
        }
    }
}
