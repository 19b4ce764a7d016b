//! An RM's history: prior actions, breaches and open obligations, kept in time order.

use smol_str::SmolStr;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::action::{parse_datetime, Action, Decoded, FieldFault, InputError};
use crate::eval::{leading_equality, Operand};
use crate::limits;
use crate::policy_set::PolicySet;
use crate::program::{to_u32, BreachField, LadderKey, TypeId};
use crate::value::Value;

/// The history an evaluation reads: the RM's prior actions, prior breaches and open
/// obligations. Items of other RMs are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct History {
    /// Prior actions.
    #[serde(default)]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub actions: Vec<Action>,
    /// Prior breaches.
    #[serde(default)]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub breaches: Vec<HistoryBreach>,
    /// Obligations not yet met.
    #[serde(default)]
    #[cfg_attr(feature = "typescript", tsify(optional))]
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
        use crate::program::node::Node;
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
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
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
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
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

/// What aggregates read: time-ordered slices.
pub(crate) trait HistoryView {
    fn actions(&self, type_id: TypeId) -> &[Arc<Decoded>];
    fn breaches(&self) -> &[BreachRecord];
    /// The actions of a type by the key of one operand, if the history keeps that index.
    fn keyed(&self, _type_id: TypeId, _operand: Operand) -> Option<&KeyIndex> {
        None
    }
    /// The breaches by the key of one field, if the history keeps that index.
    fn breaches_by(&self, _field: BreachField) -> Option<&BreachIndex> {
        None
    }
    /// Whether aggregates take the plain fold only (tests compare it with the fast paths).
    fn plain(&self) -> bool {
        false
    }
}

/// A value looked up by equality: two keys are equal exactly when `=` holds between the
/// values they come from, without error (values of other types have no key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Text(SmolStr),
    Enum(u32, u32),
    Bool(bool),
    Int(i64),
}

impl Key {
    pub(crate) fn of(value: &Value) -> Option<Key> {
        match value {
            Value::Text(t) => Some(Key::Text(t.clone())),
            Value::Enum(e, i) => Some(Key::Enum(*e, *i)),
            Value::Bool(b) => Some(Key::Bool(*b)),
            Value::Int(i) => Some(Key::Int(*i)),
            _ => None,
        }
    }

    /// The kind of value: keys of different kinds are never compared by an index (`=` between
    /// them is an error, or a numeric widening).
    pub(crate) fn class(&self) -> usize {
        match self {
            Key::Text(_) => 0,
            Key::Enum(..) => 1,
            Key::Bool(_) => 2,
            Key::Int(_) => 3,
        }
    }
}

/// One action type's items by the key of one operand (a field or the id), each list in time
/// order, beside the full list; the items whose operand has no key are kept apart.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyIndex {
    pub(crate) by_key: HashMap<Key, TimeOrdered<Arc<Decoded>>>,
    /// Items whose operand is absent, malformed or of a type without keys.
    pub(crate) irregular: TimeOrdered<Arc<Decoded>>,
    /// How many items each class of key holds.
    pub(crate) classes: [usize; 4],
}

impl KeyIndex {
    fn insert(&mut self, operand: Operand, action: &Arc<Decoded>) {
        match operand.key_of(action) {
            Some(key) => {
                if let Some(n) = self.classes.get_mut(key.class()) {
                    *n = n.saturating_add(1);
                }
                self.by_key.entry(key).or_default().insert(Arc::clone(action), |d| d.at);
            }
            None => self.irregular.insert(Arc::clone(action), |d| d.at),
        }
    }

    /// Drops `dropped` (the items the full list drops before `cutoff`).
    fn prune(&mut self, operand: Operand, dropped: &[Arc<Decoded>], cutoff: DateTime<FixedOffset>) {
        for action in dropped {
            let Some(key) = operand.key_of(action) else { continue };
            let Some(list) = self.by_key.get_mut(&key) else { continue };
            let before = list.len();
            list.prune_before(cutoff, |d| d.at);
            let gone = before.saturating_sub(list.len());
            if let Some(n) = self.classes.get_mut(key.class()) {
                *n = n.saturating_sub(gone);
            }
            if list.len() == 0 {
                self.by_key.remove(&key);
            }
        }
        self.irregular.prune_before(cutoff, |d| d.at);
    }
}

/// What some aggregate's `where` looks up by equality: actions of a type by an operand, or
/// breaches by a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indexed {
    Action(TypeId, Operand),
    Breach(BreachField),
}

/// The indexes each RM's history keeps.
pub(crate) type IndexedKeys = Arc<[Indexed]>;

/// Breaches by the key of one field, each key's in time order with running totals of their
/// points, so that the count and the points of a window are two binary searches.
#[derive(Debug, Clone, Default)]
pub(crate) struct BreachIndex {
    pub(crate) by_key: HashMap<Key, Points>,
    /// Breaches whose field has no key (a breach without a ladder).
    pub(crate) irregular: TimeOrdered<DateTime<FixedOffset>>,
}

impl BreachIndex {
    fn insert(&mut self, field: BreachField, b: &BreachRecord) {
        match Key::of(&b.field(field)) {
            Some(key) => self.by_key.entry(key).or_default().insert(b.at, b.points),
            None => self.irregular.insert(b.at, |t| *t),
        }
    }

    fn prune(&mut self, cutoff: DateTime<FixedOffset>) {
        self.by_key.retain(|_, points| {
            points.prune_before(cutoff);
            points.len() > 0
        });
        self.irregular.prune_before(cutoff, |t| *t);
    }
}

/// One key's breaches: (at, points, running total of points up to and including it), in time
/// order; `negative` counts those with negative points (a running total then says nothing of
/// the partial sums a plain fold would overflow at).
#[derive(Debug, Clone, Default)]
pub(crate) struct Points {
    list: TimeOrdered<(DateTime<FixedOffset>, i64, i128)>,
    pub(crate) negative: usize,
}

impl Points {
    fn len(&self) -> usize {
        self.list.len()
    }

    fn insert(&mut self, at: DateTime<FixedOffset>, points: i64) {
        // After every item at or before `at`, and never among the dropped ones.
        let start = self.list.start;
        let items = &mut self.list.items;
        let index = items.partition_point(|(t, _, _)| *t <= at).max(start);
        // The running total before it (of the dropped items too: only differences are read).
        let before = match index.checked_sub(1).and_then(|i| items.get(i)) {
            Some((_, _, total)) => *total,
            None => items.first().map_or(0, |(_, p, total)| total.saturating_sub(i128::from(*p))),
        };
        items.insert(index.min(items.len()), (at, points, before.saturating_add(i128::from(points))));
        for (_, _, total) in items.iter_mut().skip(index.saturating_add(1)) {
            *total = total.saturating_add(i128::from(points));
        }
        if points < 0 {
            self.negative = self.negative.saturating_add(1);
        }
    }

    fn prune_before(&mut self, cutoff: DateTime<FixedOffset>) {
        let live = self.list.as_slice();
        let gone = live.get(..live.partition_point(|(t, _, _)| *t < cutoff)).unwrap_or(&[]);
        let negative = gone.iter().filter(|(_, p, _)| *p < 0).count();
        self.negative = self.negative.saturating_sub(negative);
        self.list.prune_before(cutoff, |(t, _, _)| *t);
    }

    /// The number of breaches with `from <= at <= to` and the sum of their points.
    pub(crate) fn window(&self, from: DateTime<FixedOffset>, to: DateTime<FixedOffset>) -> (usize, i128) {
        let live = self.list.as_slice();
        let start = live.partition_point(|(t, _, _)| *t < from);
        let end = live.partition_point(|(t, _, _)| *t <= to);
        match (live.get(start), end.checked_sub(1).and_then(|i| live.get(i))) {
            (Some((_, p, first)), Some((_, _, last))) if end > start => {
                (end.saturating_sub(start), last.saturating_sub(first.saturating_sub(i128::from(*p))))
            }
            _ => (0, 0),
        }
    }
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

/// How many items of one kind (actions of a type, breaches, open obligations) an RM holds
/// before they are indexed by key: below it a scan costs no more than a lookup, and most RMs
/// never hold that many, so they pay neither the index's memory nor its upkeep. A dense RM
/// still becomes linear. An index is dropped again once pruning leaves half as many.
pub(crate) const INDEX_FROM: usize = 32;

/// One RM's history as the engine keeps it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RmHistory {
    /// By action type; only the types some window reads hold items.
    pub(crate) actions: Vec<TimeOrdered<Arc<Decoded>>>,
    /// The same actions by the keys aggregates look them up by, for the types that hold more
    /// than [`INDEX_FROM`] items.
    pub(crate) keyed: Vec<(TypeId, Operand, KeyIndex)>,
    breaches: TimeOrdered<BreachRecord>,
    /// The same breaches by the fields aggregates look them up by, once there are more than
    /// [`INDEX_FROM`].
    breaches_by: Vec<(BreachField, BreachIndex)>,
    pub(crate) obligations: Obligations,
    /// The restricting ladder steps reached, in the order of the records that reached them.
    pub(crate) reached: Vec<crate::decide::restrict::Reaching>,
    pub(crate) clock: Option<DateTime<FixedOffset>>,
    /// Tests only: read everything the plain way (no index), to compare with the indexed way.
    #[cfg(test)]
    pub(crate) plain: bool,
    /// Tests only: index from this many items instead of [`INDEX_FROM`].
    #[cfg(test)]
    pub(crate) index_from: Option<usize>,
}

impl HistoryView for RmHistory {
    fn actions(&self, type_id: TypeId) -> &[Arc<Decoded>] {
        self.actions.get(type_id as usize).map_or(&[], TimeOrdered::as_slice)
    }

    fn breaches(&self) -> &[BreachRecord] {
        self.breaches.as_slice()
    }

    fn keyed(&self, type_id: TypeId, operand: Operand) -> Option<&KeyIndex> {
        #[cfg(test)]
        if self.plain {
            return None;
        }
        self.keyed.iter().find(|(t, o, _)| *t == type_id && *o == operand).map(|(_, _, index)| index)
    }

    #[cfg(test)]
    fn plain(&self) -> bool {
        self.plain
    }

    fn breaches_by(&self, field: BreachField) -> Option<&BreachIndex> {
        #[cfg(test)]
        if self.plain {
            return None;
        }
        self.breaches_by.iter().find(|(f, _)| *f == field).map(|(_, index)| index)
    }
}

impl RmHistory {
    /// The number of items of one kind above which they are indexed.
    fn index_from(&self) -> usize {
        #[cfg(test)]
        if let Some(n) = self.index_from {
            return n;
        }
        INDEX_FROM
    }

    /// Tests only: index from `n` items (its obligations too); `None` for [`INDEX_FROM`].
    #[cfg(test)]
    pub(crate) fn set_index_from(&mut self, n: Option<usize>) {
        self.index_from = n;
        self.obligations.index_from = n;
    }

    /// Records an action; `keys` are the indexes the policies look items up by, built for its
    /// type once the type holds more than [`INDEX_FROM`] items.
    pub(crate) fn record_action(&mut self, action: Arc<Decoded>, keys: &[Indexed]) {
        let Some(t) = action.type_id else { return };
        let index = t as usize;
        if self.actions.len() <= index {
            self.actions.resize_with(index.saturating_add(1), TimeOrdered::default);
        }
        let from = self.index_from();
        let Some(list) = self.actions.get_mut(index) else { return };
        if self.keyed.iter().any(|(k, _, _)| *k == t) {
            for (_, operand, keyed) in self.keyed.iter_mut().filter(|(k, _, _)| *k == t) {
                keyed.insert(*operand, &action);
            }
            list.insert(action, |d| d.at);
        } else {
            list.insert(action, |d| d.at);
            if list.len() > from {
                // Built from the list in its order: the same as inserting each as it came.
                for key in keys {
                    let Indexed::Action(k, operand) = *key else { continue };
                    if k != t {
                        continue;
                    }
                    let mut keyed = KeyIndex::default();
                    for a in list.as_slice() {
                        keyed.insert(operand, a);
                    }
                    self.keyed.push((t, operand, keyed));
                }
            }
        }
    }

    /// Drops the actions of a type before `cutoff`, from its list and its indexes.
    pub(crate) fn prune_actions(&mut self, type_id: usize, cutoff: DateTime<FixedOffset>) {
        let from = self.index_from();
        let Some(list) = self.actions.get_mut(type_id) else { return };
        let items = list.as_slice();
        // Most calls drop nothing: one comparison, not a binary search.
        if items.first().is_none_or(|a| a.at >= cutoff) {
            return;
        }
        let dropped = items.get(..items.partition_point(|a| a.at < cutoff)).unwrap_or(&[]);
        if dropped.is_empty() {
            return;
        }
        let kept = items.len().saturating_sub(dropped.len());
        let drop_index = kept <= from / 2;
        if !drop_index {
            for (_, operand, index) in self.keyed.iter_mut().filter(|(k, _, _)| *k as usize == type_id) {
                index.prune(*operand, dropped, cutoff);
            }
        }
        list.prune_before(cutoff, |a| a.at);
        if drop_index {
            self.drop_keyed(type_id);
        }
    }

    /// Drops the indexes of a type's actions.
    fn drop_keyed(&mut self, type_id: usize) {
        self.keyed.retain(|(k, _, _)| *k as usize != type_id);
        if self.keyed.is_empty() {
            self.keyed = Vec::new();
        }
    }

    /// Drops every action of a type (no window reads it).
    pub(crate) fn clear_actions(&mut self, type_id: usize) {
        if let Some(list) = self.actions.get_mut(type_id) {
            if list.len() == 0 && list.items.capacity() == 0 {
                return;
            }
            *list = TimeOrdered::default();
        }
        self.drop_keyed(type_id);
    }

    /// Records a breach; `keys` as for [`RmHistory::record_action`].
    pub(crate) fn record_breach(&mut self, breach: BreachRecord, keys: &[Indexed]) {
        for (field, index) in &mut self.breaches_by {
            index.insert(*field, &breach);
        }
        self.breaches.insert(breach, |b| b.at);
        if self.breaches_by.is_empty() && self.breaches.len() > self.index_from() {
            for key in keys {
                let Indexed::Breach(field) = *key else { continue };
                let mut index = BreachIndex::default();
                for b in self.breaches.as_slice() {
                    index.insert(field, b);
                }
                self.breaches_by.push((field, index));
            }
        }
    }

    /// Drops the breaches before `cutoff`.
    pub(crate) fn prune_breaches(&mut self, cutoff: DateTime<FixedOffset>) {
        if self.breaches.as_slice().first().is_none_or(|b| b.at >= cutoff) {
            return;
        }
        self.breaches.prune_before(cutoff, |b| b.at);
        if self.breaches.len() <= self.index_from() / 2 {
            self.breaches_by = Vec::new();
        }
        for (_, index) in &mut self.breaches_by {
            index.prune(cutoff);
        }
    }

    /// Drops every breach (no window reads them).
    pub(crate) fn clear_breaches(&mut self) {
        self.breaches = TimeOrdered::default();
        self.breaches_by = Vec::new();
    }

    /// Tests only: the indexes kept (of actions by key, of breaches by field), and whether the
    /// obligations are indexed.
    #[cfg(test)]
    pub(crate) fn indexes(&self) -> (usize, usize, bool) {
        (self.keyed.len(), self.breaches_by.len(), self.obligations.indexed)
    }

    /// Tests only: the same history recorded anew, indexing from `n` items.
    #[cfg(test)]
    pub(crate) fn reindexed(&self, set: &PolicySet, keys: &[Indexed], n: Option<usize>) -> RmHistory {
        let mut out = RmHistory::default();
        out.set_index_from(n);
        for list in &self.actions {
            for a in list.as_slice() {
                out.record_action(Arc::clone(a), keys);
            }
        }
        for b in self.breaches.as_slice() {
            out.record_breach(b.clone(), keys);
        }
        for o in self.obligations.iter() {
            out.obligations.insert(set, o.clone());
        }
        out.clock = self.clock;
        out
    }

    /// How many items the history holds (for limits and tests).
    pub(crate) fn size(&self) -> usize {
        let actions: usize = self.actions.iter().map(TimeOrdered::len).sum();
        actions
            .saturating_add(self.breaches.len())
            .saturating_add(self.obligations.len())
            .saturating_add(self.reached.len())
    }
}

/// The open obligations of an RM, by `seq` (the order they were opened in), with the indexes
/// that keep the work of one action independent of how many it does not concern: unreported
/// ones by deadline, reported ones by the instant they may be dropped, and each by the type
/// that fulfils it and the key its `fulfilled by … where` equality looks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obligations {
    /// While there are [`INDEX_FROM`] or fewer: a list by `seq`, scanned (a map and its
    /// indexes would cost an RM a kilobyte for one obligation).
    small: Vec<OpenObligation>,
    /// Beyond: the obligations by `seq`, with the indexes below.
    items: BTreeMap<u64, OpenObligation>,
    /// Unreported, by (due, seq).
    pending: BTreeSet<(DateTime<FixedOffset>, u64)>,
    /// Reported, by (the instant after which nothing reaches them, seq).
    expiring: BTreeSet<(DateTime<FixedOffset>, u64)>,
    /// By fulfilling action type.
    by_type: HashMap<TypeId, Fulfillers>,
    /// Whether the obligations are in `items` and indexed (not in `small`).
    indexed: bool,
    /// Tests only: index from this many obligations instead of [`INDEX_FROM`].
    #[cfg(test)]
    pub(crate) index_from: Option<usize>,
}

/// The obligations one action type may fulfil.
#[derive(Debug, Clone, Default)]
struct Fulfillers {
    /// Tried for every action of the type: no predicate, a predicate without a leading
    /// equality, or a triggering action without a key for it.
    always: BTreeSet<u64>,
    /// By duty body (policy, rule, body): the later action's operand and the obligations by key.
    groups: HashMap<(u32, u32, u32), Group>,
}

#[derive(Debug, Clone)]
struct Group {
    operand: Operand,
    by_key: HashMap<Key, Vec<u64>>,
    classes: [usize; 4],
}

/// Where an obligation sits in the fulfilment index.
enum Slot {
    Nowhere,
    Always(TypeId),
    Keyed(TypeId, (u32, u32, u32), Operand, Key),
}

impl Obligations {
    pub(crate) fn len(&self) -> usize {
        self.small.len().saturating_add(self.items.len())
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&OpenObligation> {
        if self.indexed {
            return self.items.get(&seq);
        }
        self.small.binary_search_by_key(&seq, |o| o.seq).ok().and_then(|i| self.small.get(i))
    }

    /// In the order they were opened.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &OpenObligation> {
        self.small.iter().chain(self.items.values())
    }

    /// When nothing reaches a reported obligation any more: `None` for never.
    fn end(set: &PolicySet, o: &OpenObligation) -> Option<DateTime<FixedOffset>> {
        TimeDelta::try_seconds(Self::keep_seconds(set, o)).and_then(|k| o.due.checked_add_signed(k))
    }

    fn slot(set: &PolicySet, o: &OpenObligation) -> Slot {
        let Some(policy) = set.policies.get(o.policy as usize) else { return Slot::Nowhere };
        let Some(rule) = policy.rules.get(o.rule as usize) else { return Slot::Nowhere };
        let Some(deadline) = &rule.deadline else { return Slot::Nowhere };
        let t = deadline.fulfilled_by;
        let Some(body) = rule.bodies.get(o.body as usize) else { return Slot::Nowhere };
        let Some(equality) = body.fulfilment.as_ref().and_then(leading_equality) else { return Slot::Always(t) };
        match equality.other_key(&o.trigger) {
            Some(key) => Slot::Keyed(t, (o.policy, o.rule, o.body), equality.item, key),
            None => Slot::Always(t),
        }
    }

    /// How long a reported obligation stays open: as long as any window reaches back to it,
    /// and at least one more deadline period of its duty.
    fn keep_seconds(set: &PolicySet, o: &OpenObligation) -> i64 {
        let within = set.policies.get(o.policy as usize).map_or(0, |p| {
            let deadline = p.rules.get(o.rule as usize).and_then(|r| r.deadline.as_ref());
            deadline.map_or(0, |d| p.calendar.upper_bound_seconds(d.within))
        });
        set.longest_window.max(within)
    }

    fn index_from(&self) -> usize {
        #[cfg(test)]
        if let Some(n) = self.index_from {
            return n;
        }
        INDEX_FROM
    }

    /// Adds an obligation (its `seq` must be above every one held).
    pub(crate) fn insert(&mut self, set: &PolicySet, o: OpenObligation) {
        if !self.indexed {
            self.small.push(o);
            if self.small.len() > self.index_from() {
                self.indexed = true;
                for o in std::mem::take(&mut self.small) {
                    self.insert_indexed(set, o);
                }
            }
            return;
        }
        self.insert_indexed(set, o);
    }

    fn insert_indexed(&mut self, set: &PolicySet, o: OpenObligation) {
        self.file(set, &o);
        if o.reported {
            self.expire(set, &o);
        } else {
            self.pending.insert((o.due, o.seq));
        }
        self.items.insert(o.seq, o);
    }

    /// Back to the plain list, once removals leave half as many as indexing takes.
    fn unindex(&mut self) {
        self.small = std::mem::take(&mut self.items).into_values().collect();
        self.pending = BTreeSet::new();
        self.expiring = BTreeSet::new();
        self.by_type = HashMap::new();
        self.indexed = false;
    }

    /// Files an obligation in the fulfilment index.
    fn file(&mut self, set: &PolicySet, o: &OpenObligation) {
        let seq = o.seq;
        match Self::slot(set, o) {
            Slot::Nowhere => {}
            Slot::Always(t) => {
                self.by_type.entry(t).or_default().always.insert(seq);
            }
            Slot::Keyed(t, group, operand, key) => {
                let group = self.by_type.entry(t).or_default().groups.entry(group).or_insert_with(|| Group {
                    operand,
                    by_key: HashMap::new(),
                    classes: [0; 4],
                });
                if let Some(n) = group.classes.get_mut(key.class()) {
                    *n = n.saturating_add(1);
                }
                group.by_key.entry(key).or_default().push(seq);
            }
        }
    }

    fn expire(&mut self, set: &PolicySet, o: &OpenObligation) {
        // Past the end of time: kept for good, as the plain rule keeps it.
        if let Some(end) = Self::end(set, o) {
            self.expiring.insert((end, o.seq));
        }
    }

    /// Removes an obligation (met, or dropped).
    pub(crate) fn remove(&mut self, set: &PolicySet, seq: u64) -> Option<OpenObligation> {
        if !self.indexed {
            let i = self.small.binary_search_by_key(&seq, |o| o.seq).ok()?;
            return Some(self.small.remove(i));
        }
        let o = self.items.remove(&seq)?;
        match Self::slot(set, &o) {
            Slot::Nowhere => {}
            Slot::Always(t) => {
                if let Some(f) = self.by_type.get_mut(&t) {
                    f.always.remove(&seq);
                }
            }
            Slot::Keyed(t, group, _, key) => {
                if let Some(g) = self.by_type.get_mut(&t).and_then(|f| f.groups.get_mut(&group)) {
                    if let Some(list) = g.by_key.get_mut(&key) {
                        list.retain(|s| *s != seq);
                        if list.is_empty() {
                            g.by_key.remove(&key);
                        }
                    }
                    if let Some(n) = g.classes.get_mut(key.class()) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
        }
        self.pending.remove(&(o.due, seq));
        if o.reported {
            if let Some(end) = Self::end(set, &o) {
                self.expiring.remove(&(end, seq));
            }
        }
        if self.items.len() <= self.index_from() / 2 {
            self.unindex();
        }
        Some(o)
    }

    /// Whether an unreported obligation is due before `at`.
    pub(crate) fn any_overdue_by(&self, at: DateTime<FixedOffset>) -> bool {
        if !self.indexed {
            return self.small.iter().any(|o| !o.reported && o.due < at);
        }
        self.pending.first().is_some_and(|(due, _)| *due < at)
    }

    /// Marks the unreported obligation first due before `at` (by deadline, then seq) reported,
    /// and gives a copy of it.
    pub(crate) fn report_next(&mut self, set: &PolicySet, at: DateTime<FixedOffset>) -> Option<OpenObligation> {
        if !self.indexed {
            let o = self.small.iter_mut().filter(|o| !o.reported && o.due < at).min_by_key(|o| (o.due, o.seq))?;
            o.reported = true;
            return Some(o.clone());
        }
        let &(due, seq) = self.pending.first().filter(|(due, _)| *due < at)?;
        self.pending.remove(&(due, seq));
        let o = self.items.get_mut(&seq)?;
        o.reported = true;
        let copy = o.clone();
        self.expire(set, &copy);
        Some(copy)
    }

    /// Drops the reported obligations that nothing reaches any more from `now` on: those
    /// whose deadline is before `now` less their keep time.
    pub(crate) fn drop_expired(&mut self, set: &PolicySet, now: DateTime<FixedOffset>) {
        while let Some(&(end, seq)) = self.expiring.first().filter(|_| self.indexed) {
            if end >= now {
                break;
            }
            self.expiring.remove(&(end, seq));
            self.remove(set, seq);
        }
        // Also when the removals above went back to the list.
        if !self.indexed {
            self.small.retain(|o| !o.reported || Self::end(set, o).is_none_or(|end| end >= now));
        }
    }

    /// The obligations an action of type `t` may fulfil, in seq order: every obligation whose
    /// predicate could hold or fail for it. An obligation left out is one whose leading
    /// equality is false for this action without error, so its predicate is false.
    pub(crate) fn candidates(&self, t: TypeId, action: &Decoded, plain: bool) -> Vec<u64> {
        if plain || !self.indexed {
            return self.iter().map(|o| o.seq).collect();
        }
        let Some(f) = self.by_type.get(&t) else { return Vec::new() };
        let mut out: Vec<u64> = f.always.iter().copied().collect();
        for g in f.groups.values() {
            let key = g.operand.key_of(action);
            let uniform = key
                .as_ref()
                .is_some_and(|k| g.classes.iter().enumerate().all(|(class, n)| class == k.class() || *n == 0));
            match key {
                Some(k) if uniform => out.extend(g.by_key.get(&k).into_iter().flatten().copied()),
                // The action has no key, or keys of another kind are held: try them all.
                _ => out.extend(g.by_key.values().flatten().copied()),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl PolicySet {
    /// One RM's history, decoded and in time order.
    pub(crate) fn history_for(&self, rm: &str, history: &History) -> Result<RmHistory, InputError> {
        self.history_of(rm, history, false)
    }

    /// The same, keeping each action's canonical JSON (`sources`) for a ledger's snapshots.
    pub(crate) fn history_of(&self, rm: &str, history: &History, sources: bool) -> Result<RmHistory, InputError> {
        if history.len() > limits::MAX_HISTORY_ITEMS {
            return Err(InputError::Limit(format!(
                "history holds {} items, more than the limit of {}",
                history.len(),
                limits::MAX_HISTORY_ITEMS
            )));
        }
        if history.is_empty() {
            return Ok(RmHistory::default());
        }
        let mut out = RmHistory::default();
        // The indexes are worked out only for a history long enough to be indexed.
        let keys = if history.actions.len().max(history.breaches.len()) > out.index_from() {
            crate::eval::indexed_keys(self)
        } else {
            Vec::new()
        };
        let mine = |owner: &Option<String>| owner.as_deref().is_none_or(|o| o == rm);
        let mut by_id: Vec<Arc<Decoded>> = Vec::new();
        for (i, a) in history.actions.iter().enumerate().filter(|(_, a)| a.rm() == rm) {
            let mut decoded = self.schema.decode(a).map_err(|e| e.within(&format!("actions[{i}]")))?;
            if sources {
                decoded.source = Some(a.canonical_raw());
            }
            let decoded = Arc::new(decoded);
            by_id.push(Arc::clone(&decoded));
            out.record_action(decoded, &keys);
        }
        for (i, b) in history.breaches.iter().enumerate().filter(|(_, b)| mine(&b.rm)) {
            out.record_breach(self.history_breach(i, b)?, &keys);
        }
        out.reached = crate::decide::restrict::from_breaches(self, out.breaches());
        for (i, o) in history.obligations.iter().enumerate().filter(|(_, o)| mine(&o.rm)) {
            let trigger = by_id.iter().find(|d| *d.id == *o.action).cloned();
            let o = self.history_obligation(i, o, rm, trigger, i as u64)?;
            out.obligations.insert(self, o);
        }
        Ok(out)
    }

    pub(crate) fn history_breach(
        &self,
        index: usize,
        b: &crate::eval::history::HistoryBreach,
    ) -> Result<BreachRecord, InputError> {
        let field = |name: &str| format!("breaches[{index}].{name}");
        let at = parse_datetime(&b.at).map_err(|p| InputError::in_field(FieldFault::Timestamp, field("at"), p))?;
        let ladder_key = b.ladder.as_deref().and_then(|l| self.ladder_key(&b.policy, l));
        let points = match b.points {
            // Also for a history built in code rather than read from JSON.
            Some(p) if p < 0 => {
                return Err(InputError::in_field(
                    FieldFault::Negative,
                    field("points"),
                    format!("must not be negative, found {p}"),
                ))
            }
            Some(p) => p,
            None => {
                let version = self.version_of(&b.policy, None, &at).and_then(|i| self.policies.get(i));
                let ladder = version.and_then(|p| p.ladders.iter().find(|l| Some(&*l.id) == b.ladder.as_deref()));
                match (ladder, &b.ladder) {
                    (_, None) => 0,
                    (Some(l), Some(_)) => l.points_of(&b.severity).ok_or_else(|| {
                        InputError::in_field(
                            FieldFault::Unresolved,
                            field("severity"),
                            format!("ladder `{}` gives no points for `{}`", l.id, b.severity),
                        )
                    })?,
                    (None, Some(name)) => {
                        return Err(InputError::in_field(
                            FieldFault::Unresolved,
                            field("ladder"),
                            format!("policy `{}` has no ladder `{name}` in force at {}", b.policy, b.at),
                        ))
                    }
                }
            }
        };
        Ok(BreachRecord {
            policy: b.policy.as_str().into(),
            rule: b.rule.as_str().into(),
            severity: b.severity.as_str().into(),
            ladder: b.ladder.as_deref().map(SmolStr::from),
            ladder_key,
            points,
            action: b.action.as_str().into(),
            at,
        })
    }

    pub(crate) fn history_obligation(
        &self,
        index: usize,
        o: &crate::eval::history::HistoryObligation,
        rm: &str,
        trigger: Option<Arc<Decoded>>,
        seq: u64,
    ) -> Result<OpenObligation, InputError> {
        let field = |name: &str| format!("obligations[{index}].{name}");
        let due = parse_datetime(&o.due).map_err(|p| InputError::in_field(FieldFault::Timestamp, field("due"), p))?;
        let when = trigger.as_ref().map_or(due, |t| t.at);
        let policy_index = self.version_of(&o.policy, o.version.as_deref(), &when).ok_or_else(|| {
            InputError::in_field(
                FieldFault::Unresolved,
                field("policy"),
                format!("no version of policy `{}` applies", o.policy),
            )
        })?;
        let policy = self
            .policies
            .get(policy_index)
            .ok_or_else(|| InputError::in_field(FieldFault::Unresolved, field("policy"), "unknown policy"))?;
        let (rule_index, rule) =
            policy.rules.iter().enumerate().find(|(_, r)| *r.id == *o.duty && r.deadline.is_some()).ok_or_else(
                || {
                    InputError::in_field(
                        FieldFault::Unresolved,
                        field("duty"),
                        format!("policy `{}` has no duty `{}` with a deadline", o.policy, o.duty),
                    )
                },
            )?;
        let trigger = trigger.unwrap_or_else(|| {
            Arc::new(Decoded {
                type_id: None,
                id: o.action.as_str().into(),
                at: due,
                rm: rm.into(),
                slots: Box::new([]),
                source: None,
            })
        });
        let body = rule.bodies.iter().position(|b| Some(b.action_type) == trigger.type_id).unwrap_or(0);
        Ok(OpenObligation {
            policy: to_u32(policy_index),
            rule: to_u32(rule_index),
            body: to_u32(body),
            trigger,
            due,
            reported: false,
            seq,
        })
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
