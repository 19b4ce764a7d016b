//! Actions and history as JSON, and their decoding into typed values.

use smol_str::SmolStr;
use std::cmp::Ordering;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate};
use iso_currency::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::limits;
use crate::program::node::{key_order, member, Node};
use crate::program::{ActionType, MemberPlan, Schema, TypeId};
use crate::value::{Duration, Money, Ty, Value};

/// Input that cannot be used: the message names the field and what was wrong, and
/// [`InputError::code`] gives a stable code (`I0001`…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// `I0001`: the text is not JSON (or not of the expected shape).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field is absent, or has the wrong type or form: the code is its [`FieldFault`]'s.
    #[error("`{field}`: {problem}")]
    Field {
        /// The field's path, such as `at`, `rm.id` or `actions[0].amount`.
        field: String,
        /// What is wrong with it.
        problem: String,
        /// What kind of problem it is.
        fault: FieldFault,
    },
    /// `I0009`: an action arrived before an action already recorded for the same RM.
    #[error("action `{action}` at {at} is older than the ledger's clock for RM `{rm}` ({clock}); actions must arrive in time order per RM")]
    OutOfOrder {
        /// The action's id.
        action: String,
        /// The RM's id.
        rm: String,
        /// The action's timestamp.
        at: String,
        /// The RM's clock.
        clock: String,
    },
    /// `I0002`: an input exceeds a documented limit.
    #[error("{0}")]
    Limit(String),
    /// `I0012`: an action reuses the id of another action recorded for the same RM (the same
    /// id with other content; a retry of the same action is not an error). The message names
    /// both actions' `at` and content hash.
    #[error("{0}")]
    IdReused(String),
    /// `I0013`: a ledger snapshot that cannot be read: not a snapshot, a format version this
    /// build does not read, or content that contradicts itself.
    #[error("invalid snapshot: {0}")]
    Snapshot(String),
    /// `I0014`: a snapshot's item belongs to a policy version (or a duty or ladder of it) that
    /// the policy set restored into does not have; the message names the RM, item and version.
    #[error("{0}")]
    UnknownVersion(String),
    /// `I0015`: a snapshot of an RM that the ledger restored into already tracks.
    #[error("RM `{rm}` is already in the ledger: a restore adds RMs the ledger does not track")]
    RmExists {
        /// The RM's id.
        rm: String,
    },
}

/// What is wrong with the field of an [`InputError::Field`]; each has its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldFault {
    /// `I0003`: a required field is absent.
    Missing,
    /// `I0004`: a field of the wrong JSON type.
    WrongType,
    /// `I0005`: a text that must not be empty is.
    Empty,
    /// `I0006`: not an RFC 3339 timestamp with a UTC offset.
    Timestamp,
    /// `I0007`: a negative amount or number of points where only 0 or more is allowed.
    Negative,
    /// `I0008`: a name the policy set does not have (a policy, a duty, a ladder, a severity).
    Unresolved,
    /// `I0010`: in a replay, a timestamp too far ahead of the stream, taken for a mistake.
    Skewed,
}

impl FieldFault {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            FieldFault::Missing => "I0003",
            FieldFault::WrongType => "I0004",
            FieldFault::Empty => "I0005",
            FieldFault::Timestamp => "I0006",
            FieldFault::Negative => "I0007",
            FieldFault::Unresolved => "I0008",
            FieldFault::Skewed => "I0010",
        }
    }
}

impl InputError {
    pub(crate) fn in_field(fault: FieldFault, field: impl Into<String>, problem: impl Into<String>) -> Self {
        InputError::Field { field: field.into(), problem: problem.into(), fault }
    }

    /// The error with its field named from an enclosing item (`actions[3]` + `amount`).
    pub(crate) fn within(self, item: &str) -> Self {
        match self {
            InputError::Field { field, problem, fault } => {
                InputError::Field { field: format!("{item}.{field}"), problem, fault }
            }
            other => other,
        }
    }

    /// The stable code (`I0001`…).
    pub fn code(&self) -> &'static str {
        match self {
            InputError::Json(_) => "I0001",
            InputError::Limit(_) => "I0002",
            InputError::Field { fault, .. } => fault.code(),
            InputError::OutOfOrder { .. } => "I0009",
            InputError::IdReused(_) => "I0012",
            InputError::Snapshot(_) => "I0013",
            InputError::UnknownVersion(_) => "I0014",
            InputError::RmExists { .. } => "I0015",
        }
    }

    /// The path of the field the error is about (`at`, `customer.risk_level`,
    /// `breaches[0].points`), when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            InputError::Field { field, .. } => Some(field),
            InputError::OutOfOrder { .. } => Some("at"),
            InputError::IdReused(_) => Some("id"),
            InputError::Json(_)
            | InputError::Limit(_)
            | InputError::Snapshot(_)
            | InputError::UnknownVersion(_)
            | InputError::RmExists { .. } => None,
        }
    }

    /// The serialisable record shared by every surface.
    pub fn record(&self) -> InputErrorRecord {
        InputErrorRecord {
            code: self.code().to_string(),
            message: self.to_string(),
            field: self.field().map(str::to_string),
        }
    }
}

/// The serialisable form of an input error: `{code, message, field}`, every key always present
/// (`field` is `null` for an error about no one field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputErrorRecord {
    /// Stable code such as `I0003`.
    pub code: String,
    /// What is wrong, as the error's text gives it.
    pub message: String,
    /// The field's path, if the error is about one.
    pub field: Option<String>,
}

/// One thing an RM did or wants to do: `type`, `id`, `at`, `rm` and the fields its type declares.
///
/// Construct it from JSON with [`Action::from_json`] or [`Action::from_value`]; the built-in
/// fields are checked then, the declared fields when a policy set decodes the action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    kind: SmolStr,
    id: SmolStr,
    at: DateTime<FixedOffset>,
    rm: SmolStr,
    /// Every member of the action's object, sorted by key.
    fields: Box<[(SmolStr, Node)]>,
}

impl Action {
    /// Parses an action from JSON text.
    pub fn from_json(text: &str) -> Result<Action, InputError> {
        if text.len() > limits::MAX_ACTION_BYTES {
            return Err(InputError::Limit(format!(
                "action is {} bytes, more than the limit of {}",
                text.len(),
                limits::MAX_ACTION_BYTES
            )));
        }
        Action::from_node(Node::parse(text).map_err(InputError::Json)?)
    }

    /// Builds an action from a JSON value.
    pub fn from_value(value: Json) -> Result<Action, InputError> {
        Action::from_node(Node::deserialize(value).map_err(|e| InputError::Json(e.to_string()))?)
    }

    fn from_node(node: Node) -> Result<Action, InputError> {
        if node.too_deep(limits::MAX_JSON_DEPTH) {
            return Err(InputError::Limit(format!("action nests deeper than {} levels", limits::MAX_JSON_DEPTH)));
        }
        let Node::Object(fields) = node else {
            return Err(InputError::Json(format!("an action is a JSON object, found {}", node.kind())));
        };
        let kind = required_text(&fields, "type")?;
        let id = required_text(&fields, "id")?;
        let at = match member(&fields, "at") {
            None | Some(Node::Null) => {
                return Err(InputError::in_field(FieldFault::Missing, "at", "missing: every action needs a timestamp"))
            }
            Some(Node::Text(s)) => {
                parse_datetime(s).map_err(|p| InputError::in_field(FieldFault::Timestamp, "at", p))?
            }
            Some(other) => {
                return Err(InputError::in_field(
                    FieldFault::WrongType,
                    "at",
                    format!("expected an RFC 3339 timestamp, found {}", other.kind()),
                ))
            }
        };
        let rm = match member(&fields, "rm") {
            Some(rm @ Node::Object(_)) => match rm.get("id") {
                Some(Node::Text(s)) if !s.is_empty() => s.clone(),
                Some(Node::Text(_)) => {
                    return Err(InputError::in_field(FieldFault::Empty, "rm.id", "must not be empty"))
                }
                None | Some(Node::Null) => {
                    return Err(InputError::in_field(
                        FieldFault::Missing,
                        "rm.id",
                        "missing: every action names its RM",
                    ))
                }
                Some(other) => {
                    return Err(InputError::in_field(
                        FieldFault::WrongType,
                        "rm.id",
                        format!("expected text, found {}", other.kind()),
                    ))
                }
            },
            None | Some(Node::Null) => {
                return Err(InputError::in_field(
                    FieldFault::Missing,
                    "rm",
                    "missing: every action names its RM as `{\"id\": …}`",
                ))
            }
            Some(other) => {
                return Err(InputError::in_field(
                    FieldFault::WrongType,
                    "rm",
                    format!("expected an object with `id`, found {}", other.kind()),
                ))
            }
        };
        Ok(Action { kind, id, at, rm, fields })
    }

    /// The action type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The action's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the action happened.
    pub fn at(&self) -> DateTime<FixedOffset> {
        self.at
    }

    /// The acting RM's id.
    pub fn rm(&self) -> &str {
        &self.rm
    }

    /// The action as JSON.
    pub fn to_value(&self) -> Json {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The action as canonical JSON text: members in key order at every level, no spaces,
    /// numbers as written. Equal actions give equal text.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// [`Action::canonical_json`] as a raw JSON value, written once and never parsed again.
    pub(crate) fn canonical_raw(&self) -> Arc<serde_json::value::RawValue> {
        match serde_json::value::to_raw_value(self) {
            Ok(raw) => Arc::from(raw),
            // Serialising an action cannot fail: it is JSON already.
            Err(_) => Arc::from(serde_json::value::RawValue::NULL.to_owned()),
        }
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Action::from_node(Node::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::program::node::serialize_members(&self.fields, s)
    }
}

fn required_text(fields: &[(SmolStr, Node)], name: &str) -> Result<SmolStr, InputError> {
    match member(fields, name) {
        Some(Node::Text(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Node::Text(_)) => Err(InputError::in_field(FieldFault::Empty, name, "must not be empty")),
        None | Some(Node::Null) => Err(InputError::in_field(
            FieldFault::Missing,
            name,
            "missing: every action has `type`, `id`, `at` and `rm`",
        )),
        Some(other) => {
            Err(InputError::in_field(FieldFault::WrongType, name, format!("expected text, found {}", other.kind())))
        }
    }
}

/// Parses an RFC 3339 timestamp with an explicit offset, as action timestamps are written.
pub fn parse_timestamp(text: &str) -> Result<DateTime<FixedOffset>, InputError> {
    parse_timestamp_field(text, "timestamp")
}

/// [`parse_timestamp`] of the value of `field`, which an error names.
pub fn parse_timestamp_field(text: &str, field: &str) -> Result<DateTime<FixedOffset>, InputError> {
    parse_datetime(text).map_err(|problem| InputError::in_field(FieldFault::Timestamp, field, problem))
}

/// An RFC 3339 timestamp with an explicit offset. Second 60 is refused: chrono reads it as a
/// leap second on any day, and no system Probity serves keeps leap seconds (they are smeared),
/// so `23:59:60` would be a second that sorts between two others and exists nowhere else.
pub(crate) fn parse_datetime(s: &str) -> Result<DateTime<FixedOffset>, String> {
    use chrono::Timelike;
    let parsed = DateTime::parse_from_rfc3339(s);
    if parsed.is_ok_and(|t| t.nanosecond() >= 1_000_000_000) {
        return Err(format!("`{s}` has second 60: leap seconds are not accepted, write the next minute's second 00"));
    }
    parsed.map_err(|_| {
        if NaiveDateTimeLike::looks_offsetless(s) {
            format!("`{s}` has no UTC offset; write it as `{s}Z` or with an offset such as `+08:00`")
        } else {
            format!("`{s}` is not an RFC 3339 timestamp such as `2026-03-01T10:00:00+08:00`")
        }
    })
}

struct NaiveDateTimeLike;

impl NaiveDateTimeLike {
    fn looks_offsetless(s: &str) -> bool {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
    }
}

/// A decoded action: its built-in fields and one value per slot of its type.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub(crate) type_id: Option<TypeId>,
    pub(crate) id: SmolStr,
    pub(crate) at: DateTime<FixedOffset>,
    pub(crate) rm: SmolStr,
    pub(crate) slots: Box<[Value]>,
    /// The action's canonical JSON (members in key order, no spaces), for an action a ledger
    /// keeps: a snapshot writes it out, and a restore decodes it again.
    pub(crate) source: Option<Arc<serde_json::value::RawValue>>,
}

impl Schema {
    /// Decodes an action's declared fields. A field that is absent or malformed becomes a
    /// `Missing` or `Invalid` value: an evaluation error only for the rules that read it.
    /// A negative amount in a field declared `money` (not `signed money`) is an input error
    /// naming the field: a negative gift would silently cancel an annual cap.
    pub(crate) fn decode(&self, action: &Action) -> Result<Decoded, InputError> {
        let type_id = self.type_id(&action.kind);
        let action_type = type_id.and_then(|t| self.action_types.get(t as usize));
        let slots = action_type.map(|t| self.slots(t, &action.fields)).unwrap_or_default();
        if let Some(t) = action_type {
            for &i in &t.money_slots {
                let (Some(slot), Some(value)) = (t.slots.get(i as usize), slots.get(i as usize)) else { continue };
                if let Some((within, money)) = self.negative_money(&slot.ty, value) {
                    return Err(negative_money(&slot.path, &within, money));
                }
            }
        }
        Ok(Decoded { type_id, id: action.id.clone(), at: action.at, rm: action.rm.clone(), slots, source: None })
    }

    /// The first negative amount in `value` where its declared type `ty` says `money`, with
    /// the path to it inside the value (`[2].amount`).
    #[inline]
    fn negative_money(&self, ty: &Ty, value: &Value) -> Option<(String, Money)> {
        // Most slots are neither money nor a container: no call for them.
        match value {
            Value::Money(m) if m.amount.is_sign_negative() => self.negative_money_in(ty, value),
            Value::Set(_) | Value::List(_) | Value::Record(_) => self.negative_money_in(ty, value),
            _ => None,
        }
    }

    fn negative_money_in(&self, ty: &Ty, value: &Value) -> Option<(String, Money)> {
        match (ty, value) {
            (Ty::Money, Value::Money(m)) if m.amount.is_sign_negative() && !m.amount.is_zero() => {
                Some((String::new(), *m))
            }
            (Ty::Set(t) | Ty::List(t), Value::Set(items) | Value::List(items)) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| self.negative_money(t, item).map(|(within, m)| (format!("[{i}]{within}"), m))),
            (Ty::Record(id), Value::Record(values)) => {
                let record = self.records.get(*id as usize)?;
                record.fields.iter().zip(values.iter()).find_map(|((name, t, _), v)| {
                    self.negative_money(t, v).map(|(within, m)| (format!(".{name}{within}"), m))
                })
            }
            _ => None,
        }
    }

    /// One value per slot of `action_type`.
    fn slots(&self, action_type: &ActionType, members: &[(SmolStr, Node)]) -> Box<[Value]> {
        let mut slots: Box<[Value]> = (0..action_type.slots.len()).map(|_| Value::Missing).collect();
        self.decode_members(action_type, &action_type.members, members, &mut slots);
        slots
    }

    /// Decodes the slots that `plan` reads from an object's members, walking the two (both in
    /// member order) side by side.
    fn decode_members(
        &self,
        action_type: &ActionType,
        plan: &[MemberPlan],
        members: &[(SmolStr, Node)],
        out: &mut [Value],
    ) {
        let mut members = members.iter().map(|(key, value)| (key.as_str(), value));
        let mut next = members.next();
        for wanted in plan {
            while let Some((key, value)) = next {
                match key_order(key, &wanted.name) {
                    Ordering::Less => next = members.next(),
                    Ordering::Equal => {
                        self.decode_member(action_type, wanted, value, out);
                        // Keys are unique, and so are the names in a plan.
                        next = members.next();
                        break;
                    }
                    Ordering::Greater => break,
                }
            }
        }
    }

    /// Decodes the slots that read a member: its own value, and the members of it that
    /// `plan` names, which are `Missing` when it is `null` and invalid when it is no object.
    fn decode_member(&self, action_type: &ActionType, plan: &MemberPlan, value: &Node, out: &mut [Value]) {
        for &slot in &plan.slots {
            if let (Some(out), Some(slot)) = (out.get_mut(slot as usize), action_type.slots.get(slot as usize)) {
                self.decode_into(value, &slot.ty, out);
            }
        }
        if plan.members.is_empty() {
            return;
        }
        match value {
            Node::Object(members) => self.decode_members(action_type, &plan.members, members, out),
            Node::Null => {}
            other => {
                let problem = not_an_object(other);
                for &slot in &plan.below {
                    if let Some(out) = out.get_mut(slot as usize) {
                        *out = problem.clone();
                    }
                }
            }
        }
    }

    /// Decodes a JSON value as a value of type `ty` into `out` (which holds `Missing`), or
    /// `Invalid` saying why it is not one; `null` stays `Missing`.
    ///
    /// Values are written where they belong rather than returned: reading back a value just
    /// written (to move it into a list) stalls the processor, and costs more than decoding.
    fn decode_into(&self, v: &Node, ty: &Ty, out: &mut Value) {
        match (ty, v) {
            (_, Node::Null) => put(out, Value::Missing),
            (Ty::Bool, Node::Bool(b)) => put(out, Value::Bool(*b)),
            (Ty::Int, Node::Number(n)) => match n.parse() {
                Ok(i) => put(out, Value::Int(i)),
                Err(_) => put(out, invalid(format!("`{n}` is not a whole number in the 64-bit range"))),
            },
            (Ty::Decimal, Node::Number(n) | Node::Text(n)) => match parse_decimal(n) {
                Ok(d) => put(out, Value::Decimal(d)),
                Err(problem) => put(out, invalid(problem)),
            },
            (Ty::Money | Ty::SignedMoney, _) => match parse_money(v) {
                Ok(Money { amount, currency }) => {
                    // Written as zero money, then filled in field by field (see `put`); a
                    // constant written straight into the slot needs no copy on the stack.
                    *out = Value::Money(Money { amount: Decimal::ZERO, currency: None });
                    if let Value::Money(slot) = out {
                        slot.amount = amount;
                        slot.currency = currency;
                    }
                }
                Err(problem) => put(out, invalid(problem)),
            },
            (Ty::Text, Node::Text(s)) => {
                // The text is copied into the slot's own text: see `put`.
                put(out, Value::Text(SmolStr::default()));
                if let Value::Text(text) = out {
                    text.clone_from(s);
                }
            }
            (Ty::Date, Node::Text(s)) => match parse_date(s) {
                Some(d) => put(out, Value::Date(d)),
                None => put(out, invalid(format!("`{s}` is not a calendar date (YYYY-MM-DD)"))),
            },
            (Ty::DateTime, Node::Text(s)) => match parse_datetime(s) {
                Ok(t) => put(out, Value::DateTime(t)),
                Err(problem) => put(out, invalid(problem)),
            },
            (Ty::Duration, Node::Text(s)) => match parse_duration(s) {
                Ok(d) => put(out, Value::Duration(d)),
                Err(problem) => put(out, invalid(problem)),
            },
            (Ty::Enum(id), Node::Text(s)) => match self.enums.get(*id as usize) {
                Some(members) => match members.iter().position(|m| m == s).map(u32::try_from) {
                    Some(Ok(index)) => put(out, Value::Enum(*id, index)),
                    _ => put(out, not_a_member(s, members)),
                },
                None => put(out, invalid("unknown enum")),
            },
            (Ty::Set(inner) | Ty::List(inner), Node::Array(items)) => {
                let values = self.decode_all(items.iter().map(|item| (Some(item), &**inner)));
                // The first malformed item makes the whole invalid.
                if let Some(bad) = values.iter().find(|v| matches!(v, Value::Invalid(_))) {
                    put(out, bad.clone());
                    return;
                }
                let repeats = |i: usize, v: &Value| values.get(..i).is_some_and(|before| before.contains(v));
                let value = match ty {
                    Ty::Set(_) if values.iter().enumerate().any(|(i, v)| repeats(i, v)) => Value::Set(
                        values.iter().enumerate().filter(|&(i, v)| !repeats(i, v)).map(|(_, v)| v.clone()).collect(),
                    ),
                    Ty::Set(_) => Value::Set(values),
                    _ => Value::List(values),
                };
                put(out, value);
            }
            (Ty::Record(id), Node::Object(fields)) => match self.records.get(*id as usize) {
                Some(record) => {
                    let values = self.decode_all(record.fields.iter().map(|(name, ty, _)| (member(fields, name), ty)));
                    put(out, Value::Record(values));
                }
                None => put(out, invalid("unknown record")),
            },
            (ty, v) => put(out, wrong_kind(ty, v)),
        }
    }

    /// Decodes each (JSON value, type) pair into one shared list, in place; an absent value is
    /// `Missing`.
    fn decode_all<'n, 't>(&self, parts: impl ExactSizeIterator<Item = (Option<&'n Node>, &'t Ty)>) -> Arc<[Value]> {
        let mut values: Arc<[Value]> = (0..parts.len()).map(|_| Value::Missing).collect();
        if let Some(slots) = Arc::get_mut(&mut values) {
            for (slot, (v, ty)) in slots.iter_mut().zip(parts) {
                if let Some(v) = v {
                    self.decode_into(v, ty, slot);
                }
            }
        }
        values
    }
}

/// Writes `value` into a slot, then drops what the slot held (`Missing`, as a rule).
///
/// A value is moved as a whole enum: bytes 1 to 31 after the tag. A text or money value built on
/// the stack was written there in the pieces of its own layout, from offset 8, and read back in
/// pieces that straddle them, which stalls the processor until the writes land (`perf` showed
/// it as the dearest line of decoding). Those two are therefore written as an empty value of
/// their kind and then filled in: the text or money is copied in its own pieces.
fn put(out: &mut Value, value: Value) {
    drop(std::mem::replace(out, value));
}

/// The input error for a negative amount at `path` (then `within` it) in a field declared
/// `money`.
#[cold]
fn negative_money(path: &[SmolStr], within: &str, money: Money) -> InputError {
    let mut field = path.join(".");
    field.push_str(within);
    InputError::in_field(
        FieldFault::Negative,
        field,
        format!("`{money}` is negative; money fields hold amounts of 0 or more unless declared `signed money`"),
    )
}

/// An invalid value and why.
#[cold]
fn invalid(problem: impl Into<SmolStr>) -> Value {
    Value::Invalid(problem.into())
}

/// A JSON value of the wrong kind for `ty`.
#[cold]
fn wrong_kind(ty: &Ty, v: &Node) -> Value {
    let expected = match ty {
        Ty::Bool => "true or false",
        Ty::Int => "a whole number",
        Ty::Decimal => "a number or a decimal numeral in text",
        Ty::Money | Ty::SignedMoney => "money such as \"500.00 CNY\"",
        Ty::Text => "text",
        Ty::Date => "a date (YYYY-MM-DD)",
        Ty::DateTime => "an RFC 3339 timestamp",
        Ty::Duration => "a duration such as \"30 days\"",
        Ty::Enum(_) => "text naming a member",
        Ty::Set(_) | Ty::List(_) => "an array",
        Ty::Record(_) => return not_an_object(v),
        Ty::Nothing | Ty::Error => return invalid("no value fits this type"),
    };
    invalid(format!("expected {expected}, found {}", v.kind()))
}

/// A JSON value that is not the object a record needs.
#[cold]
fn not_an_object(v: &Node) -> Value {
    invalid(format!("expected an object, found {}", v.kind()))
}

/// Text that names no member of an enum.
#[cold]
fn not_a_member(s: &str, members: &[SmolStr]) -> Value {
    let names: Vec<&str> = members.iter().map(|m| &**m).collect();
    invalid(format!("`{s}` is not one of {}", names.join(", ")))
}

/// A calendar date written `YYYY-MM-DD`, exactly that form.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        s.get(range).filter(|t| t.bytes().all(|c| c.is_ascii_digit()))?.parse().ok()
    };
    NaiveDate::from_ymd_opt(i32::try_from(number(0..4)?).ok()?, number(5..7)?, number(8..10)?)
}

/// A decimal numeral, exactly; more than 28 significant digits (or more than 28 after the
/// point) is an error, never a rounding.
pub(crate) fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let trimmed = s.trim();
    let parsed = match trimmed.split_once(['e', 'E']) {
        Some((digits, exponent)) => scientific(digits, exponent),
        None => Decimal::from_str_exact(trimmed).ok(),
    };
    match parsed {
        Some(d) if crate::value::fits(d) => Ok(d),
        _ => Err(format!("`{s}` is not a decimal number that fits in 28 significant digits")),
    }
}

/// `digits × 10^exponent`, exactly (`Decimal::from_scientific` rounds digits it cannot hold).
fn scientific(digits: &str, exponent: &str) -> Option<Decimal> {
    let digits = Decimal::from_str_exact(digits).ok()?;
    let exponent: i32 = exponent.parse().ok()?;
    if exponent >= 0 {
        let power = Decimal::try_from_i128_with_scale(10i128.checked_pow(exponent.unsigned_abs())?, 0).ok()?;
        return crate::value::exact_mul(digits, power).ok();
    }
    // Trailing zeros after the point first, so that `1.50e-27` still fits.
    let digits = if digits.scale() > 0 { digits.normalize() } else { digits };
    let scale = digits.scale().checked_add(exponent.unsigned_abs())?;
    Decimal::try_from_i128_with_scale(digits.mantissa(), scale).ok()
}

/// Money as `"500.00 CNY"` or `{"amount": "500.00", "currency": "CNY"}`.
pub(crate) fn parse_money(v: &Node) -> Result<Money, String> {
    let (amount, code) = match v {
        Node::Text(s) => match plain_money(s) {
            Some(plain) => plain,
            None => {
                let mut parts = s.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(a), Some(c), None) => (parse_decimal(a)?, c),
                    _ => return Err(format!("`{s}` is not money such as \"500.00 CNY\"")),
                }
            }
        },
        Node::Object(_) => {
            let amount = match v.get("amount") {
                Some(Node::Text(s) | Node::Number(s)) => parse_decimal(s)?,
                _ => return Err("money objects need `amount` as a number or a decimal numeral in text".into()),
            };
            let code = match v.get("currency") {
                Some(Node::Text(s)) => s.as_str(),
                _ => return Err("money objects need `currency` as an ISO 4217 code".into()),
            };
            (amount, code)
        }
        _ => return Err(format!("expected money such as \"500.00 CNY\", found {}", v.kind())),
    };
    let currency = currency(code).ok_or_else(|| format!("`{code}` is not an ISO 4217 currency code"))?;
    Ok(Money { amount, currency: Some(currency) })
}

/// Money written the plain way, `"1250000 CNY"` or `"99.50 USD"` (digits, at most one point,
/// one space, a code of three capitals), read in one pass without the general decimal parser:
/// most money is written so. `None` for anything else, which [`parse_money`] reads the general
/// way.
fn plain_money(s: &str) -> Option<(Decimal, &str)> {
    let (amount, code) = s.split_at_checked(s.len().checked_sub(4)?)?;
    let code = code.strip_prefix(' ')?;
    if !code.bytes().all(|b| b.is_ascii_uppercase()) || amount.len() > 19 {
        return None;
    }
    let mut mantissa: i64 = 0;
    let mut scale: Option<u32> = None;
    for (i, b) in amount.bytes().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)?.checked_add(i64::from(b & 0x0f))?;
                scale = scale.map(|n| n.saturating_add(1));
            }
            b'.' if i > 0 && scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    // At least one digit, and one after a point.
    let scale = match scale {
        Some(0) => return None,
        Some(n) => n,
        None if amount.is_empty() => return None,
        None => 0,
    };
    Some((Decimal::try_new(mantissa, scale).ok()?, code))
}

/// The currency with ISO 4217 code `code`, found in a table indexed by its three capitals.
pub(crate) fn currency(code: &str) -> Option<Currency> {
    type ByLetters = [[[Option<Currency>; 26]; 26]; 26];
    static BY_CODE: std::sync::OnceLock<Box<ByLetters>> = std::sync::OnceLock::new();
    /// The code's three letters as indices (0 for `A`), if it is three capitals.
    fn letters(code: &str) -> Option<[usize; 3]> {
        let letter = |b: u8| b.checked_sub(b'A').map(usize::from).filter(|i| *i < 26);
        match *code.as_bytes() {
            [a, b, c] => Some([letter(a)?, letter(b)?, letter(c)?]),
            _ => None,
        }
    }
    let table = BY_CODE.get_or_init(|| {
        use iso_currency::IntoEnumIterator;
        let mut table: Box<ByLetters> = Box::new([[[None; 26]; 26]; 26]);
        for currency in Currency::iter() {
            if let Some([a, b, c]) = letters(currency.code()) {
                if let Some(slot) = table.get_mut(a).and_then(|t| t.get_mut(b)).and_then(|t| t.get_mut(c)) {
                    *slot = Some(currency);
                }
            }
        }
        table
    });
    let [a, b, c] = letters(code)?;
    *table.get(a)?.get(b)?.get(c)?
}

/// A duration such as `"30 days"` or `"1 month"`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration such as \"30 days\"");
    let mut parts = s.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
    let n = i64::from_str(n).map_err(|_| bad())?;
    let seconds = |factor: i64| n.checked_mul(factor).map(|s| Duration { months: 0, seconds: s, business_days: 0 });
    let months = |factor: i64| {
        n.checked_mul(factor).and_then(|m| i32::try_from(m).ok()).map(|m| Duration {
            months: m,
            seconds: 0,
            business_days: 0,
        })
    };
    match unit.trim_end_matches('s') {
        "minute" => seconds(60),
        "hour" => seconds(3_600),
        "day" => seconds(86_400),
        "week" => seconds(604_800),
        "month" => months(1),
        "year" => months(12),
        _ => None,
    }
    .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Money read the general way: split at white space, the amount by the decimal parser.
    fn general_money(s: &str) -> Option<(Decimal, Currency)> {
        let mut parts = s.split_whitespace();
        let (Some(amount), Some(code), None) = (parts.next(), parts.next(), parts.next()) else { return None };
        Some((parse_decimal(amount).ok()?, Currency::from_code(code)?))
    }

    proptest! {
        #[test]
        fn plain_money_reads_as_the_general_parser_does(
            s in prop_oneof!["[0-9.+-]{0,21}[ ]{0,2}(CNY|USD|JPY|cny|XYZ|CN| CNY|CNY )", "[0-9]{1,12}([.][0-9]{0,9})? (CNY|JPY)"],
        ) {
            let general = general_money(&s);
            let read = parse_money(&Node::Text(s.as_str().into())).ok().map(|m| (m.amount, m.currency));
            prop_assert_eq!(read.map(|(a, c)| (a, a.scale(), c)), general.map(|(a, c)| (a, a.scale(), Some(c))));
            if let Some((amount, code)) = plain_money(&s) {
                let parts: Vec<&str> = s.split_whitespace().collect();
                let expected = parse_decimal(parts[0]).unwrap();
                prop_assert_eq!((amount.mantissa(), amount.scale()), (expected.mantissa(), expected.scale()));
                prop_assert_eq!(vec![parts[0], code], parts);
            }
        }
    }

    #[test]
    fn plain_money_takes_the_common_forms_and_leaves_the_rest() {
        let plain = |s: &'static str| plain_money(s).map(|(a, c)| (a.to_string(), c));
        assert_eq!(plain("1250000 CNY"), Some(("1250000".into(), "CNY")));
        assert_eq!(plain("99.50 USD"), Some(("99.50".into(), "USD")));
        assert_eq!(plain("007.0 JPY"), Some(("7.0".into(), "JPY")));
        assert_eq!(plain("999999999999999999 CNY"), Some(("999999999999999999".into(), "CNY")));
        for general in [
            "1. CNY",
            ".5 CNY",
            "-5 CNY",
            "1e3 CNY",
            "5  CNY",
            "5 CNY ",
            "5 cny",
            "1.2.3 CNY",
            "9999999999999999999 CNY",
        ] {
            assert_eq!(plain(general), None, "{general}");
        }
        // What the general way reads, it still reads.
        let m = parse_money(&Node::Text("  -5.5   CNY ".into())).unwrap();
        assert_eq!((m.amount.to_string(), m.currency), ("-5.5".into(), Currency::from_code("CNY")));
        assert_eq!(currency("CNY"), Some(Currency::CNY));
        assert_eq!(currency("ZWL").is_some(), Currency::from_code("ZWL").is_some());
        assert_eq!(currency("cny"), None);
        assert_eq!(currency(""), None);
        assert_eq!(currency("€"), None, "three bytes, not three capitals");
        assert_eq!(currency("AAAA"), None);
    }

    #[test]
    fn the_currency_table_knows_every_code() {
        use iso_currency::IntoEnumIterator;
        for c in Currency::iter() {
            assert_eq!(currency(c.code()), Some(c));
        }
    }
}
