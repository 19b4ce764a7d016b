//! The expression evaluator: exact decimals, calendar arithmetic in the policy's time zone,
//! and fail-closed errors.

pub(crate) mod history;

use smallvec::SmallVec;
use smol_str::SmolStr;
use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike,
};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::action::Decoded;
use crate::eval::history::{BreachRecord, HistoryView, Indexed, Key};
use crate::limits;
use crate::parse::ast::AggregateFn;
use crate::program::*;
use crate::refdata::Calendar;
use crate::value::{
    decimal_text, exact_add, exact_div, exact_mul, exact_sub, format_datetime, local_date, Clock, Duration, Inexact,
    Money, Value,
};

/// Why an expression could not be evaluated: the rule's decision fails closed, and its error
/// finding carries [`EvalError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// `E0000`: the evaluator met a value the checker should have ruled out (please report it).
    #[error("internal error: {what}")]
    Internal {
        /// What was unexpected.
        what: &'static str,
    },
    /// `E0001`: a field the expression reads is absent.
    #[error("`{field}` is missing")]
    Missing {
        /// The field's path, such as `action.amount`.
        field: SmolStr,
    },
    /// `E0002`: `min` or `max` over no items has no value (it reads as absent).
    #[error("`{function}(…) of no items` is missing")]
    NoItems {
        /// The aggregate function, `min` or `max`.
        function: &'static str,
    },
    /// `E0003`: a field is present but malformed (text where money is declared, say).
    #[error("`{}`: {}", .0.field, .0.problem)]
    Invalid(Box<InvalidField>),
    /// `E0004`: money of two currencies added, subtracted or compared.
    #[error("currency mismatch: {} and {}", .0.left, .0.right)]
    CurrencyMismatch(Box<Operands>),
    /// `E0005`: a division by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// `E0006`: a decimal result that needs more than 28 significant digits.
    #[error("{expression} cannot be held exactly: decimals hold 28 significant digits, at most 28 after the point, and are never rounded")]
    TooManyDigits {
        /// The operation, as `x op y`.
        expression: Box<str>,
    },
    /// `E0007`: a quotient with no exact decimal value (`1 / 3`).
    #[error("{expression} has no exact decimal value within 28 digits, and decimals are never rounded: compare by multiplying instead (`a > b * c` rather than `a / b > c`)")]
    NoExactQuotient {
        /// The division, as `x / y`.
        expression: Box<str>,
    },
    /// `E0008`: an integer or duration beyond its range.
    #[error("arithmetic overflow")]
    Overflow,
    /// `E0009`: date arithmetic beyond the calendar's range.
    #[error("date out of range")]
    DateOutOfRange,
    /// `E0010`: a date or deadline outside the years 0000 to 9999 that can be written.
    #[error("date out of range: {date} is outside the years 0000 to 9999 that dates and timestamps are written in")]
    UnwritableDate {
        /// The date reached.
        date: Box<str>,
    },
    /// `E0011`: a date moved by a duration that is not whole days.
    #[error("a date moves by whole days, months or years")]
    PartialDays,
    /// `E0012`: durations of months compared with durations of seconds.
    #[error("cannot compare {} with {}: months have no fixed length", .0.left, .0.right)]
    IncomparableDurations(Box<Operands>),
    /// `E0013`: the rule took more than [`limits::MAX_EVALUATION_STEPS`] steps.
    #[error("evaluation cost limit reached ({limit} steps)")]
    StepLimit {
        /// The limit.
        limit: u64,
    },
}

/// A field that is present but malformed ([`EvalError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The field's path, such as `action.amount`.
    pub field: SmolStr,
    /// What is wrong with its value.
    pub problem: SmolStr,
}

/// The two operands of a failed operation, as written (`100.00 USD`, `1 month`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operands {
    /// The left operand.
    pub left: Box<str>,
    /// The right operand.
    pub right: Box<str>,
}

impl Operands {
    fn new(left: &impl std::fmt::Display, right: &impl std::fmt::Display) -> Box<Operands> {
        Box::new(Operands { left: left.to_string().into(), right: right.to_string().into() })
    }
}

impl EvalError {
    /// The stable code (`E0000`…), as error findings carry it.
    pub fn code(&self) -> &'static str {
        match self {
            EvalError::Internal { .. } => "E0000",
            EvalError::Missing { .. } => "E0001",
            EvalError::NoItems { .. } => "E0002",
            EvalError::Invalid(_) => "E0003",
            EvalError::CurrencyMismatch(_) => "E0004",
            EvalError::DivisionByZero => "E0005",
            EvalError::TooManyDigits { .. } => "E0006",
            EvalError::NoExactQuotient { .. } => "E0007",
            EvalError::Overflow => "E0008",
            EvalError::DateOutOfRange => "E0009",
            EvalError::UnwritableDate { .. } => "E0010",
            EvalError::PartialDays => "E0011",
            EvalError::IncomparableDurations(_) => "E0012",
            EvalError::StepLimit { .. } => "E0013",
        }
    }

    /// Whether the error means "no value" (an absent field, `min`/`max` of no items): `present`
    /// and `absent` read it as absence rather than failing.
    fn is_absence(&self) -> bool {
        matches!(self, EvalError::Missing { .. } | EvalError::NoItems { .. })
    }
}

type Result<T> = std::result::Result<T, EvalError>;

/// An internal error: a value the checker rules out.
#[cold]
fn internal<T>(what: &'static str) -> Result<T> {
    Err(EvalError::Internal { what })
}

/// The error of reading the absent field `label` (out of line: `value` stays small).
#[inline(never)]
fn missing(label: &SmolStr) -> EvalError {
    EvalError::Missing { field: label.clone() }
}

/// The error of reading the malformed field `label`.
#[cold]
#[inline(never)]
fn invalid(label: &SmolStr, problem: &SmolStr) -> EvalError {
    EvalError::Invalid(Box::new(InvalidField { field: label.clone(), problem: problem.clone() }))
}

/// The history item that bare names read inside `where`.
#[derive(Clone, Copy)]
pub(crate) enum Item<'a> {
    None,
    Action(&'a Decoded),
    Breach(&'a BreachRecord),
}

/// Evaluates one rule body for one action.
pub(crate) struct Evaluator<'a> {
    pub(crate) body: &'a Body,
    pub(crate) action: &'a Decoded,
    pub(crate) item: Item<'a>,
    pub(crate) now: DateTime<FixedOffset>,
    pub(crate) today: NaiveDate,
    pub(crate) timezone: Tz,
    pub(crate) history: &'a dyn HistoryView,
    lets: Vec<Option<Result<Value>>>,
    /// The values read (when recording): each entry is an evidence index and the first value
    /// read under it, in the order read; fields of the action by reference, computed values
    /// owned. A rule rarely reads more than eight, which are kept without allocating.
    pub(crate) evidence: SmallVec<[(u32, Cow<'a, Value>); 8]>,
    recording: bool,
    /// When explaining: for each aggregate (by evidence index), the items it counted.
    pub(crate) counted: Option<Vec<(u32, Vec<String>)>>,
    /// Values of the rule-level aggregates computed so far and the steps each took, by evidence
    /// index: an aggregate read again (in a message, say) is not counted again, and is
    /// charged the same steps.
    aggregates: Vec<Option<(Value, u64)>>,
    pub(crate) steps: u64,
    /// In a periodic check: the period `[start, end)` that `within period` reads.
    pub(crate) period: Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator at `clock` (the time, its local date and the policy's time zone).
    pub(crate) fn new(body: &'a Body, action: &'a Decoded, clock: Clock, history: &'a dyn HistoryView) -> Self {
        Evaluator {
            body,
            action,
            item: Item::None,
            now: clock.now,
            today: clock.today,
            timezone: clock.timezone,
            history,
            lets: Vec::new(),
            evidence: SmallVec::new(),
            recording: false,
            counted: None,
            aggregates: Vec::new(),
            steps: 0,
            period: None,
        }
    }

    /// The same evaluator, recording the values it reads as evidence.
    pub(crate) fn recording(mut self) -> Self {
        self.recording = true;
        self
    }

    /// Starts on another rule body at the same clock: what the last body computed, read and
    /// recorded is forgotten (the lists keep their memory for the next body).
    pub(crate) fn start(&mut self, body: &'a Body) {
        self.body = body;
        self.item = Item::None;
        self.lets.clear();
        self.aggregates.clear();
        self.steps = 0;
        self.evidence.clear();
    }

    /// Evaluates an expression of type bool. Connectives, comparisons, membership and
    /// presence give their truth directly, never as a `Value` (and are charged the same steps).
    pub(crate) fn condition(&mut self, e: &Expr) -> Result<bool> {
        self.tick(1)?;
        self.truth(e)
    }

    /// The truth of an expression of type bool whose step is charged.
    fn truth(&mut self, e: &Expr) -> Result<bool> {
        match e {
            Expr::Not(inner) => Ok(!self.condition(inner)?),
            Expr::And(a, b) => Ok(self.condition(a)? && self.condition(b)?),
            Expr::Or(a, b) => Ok(self.condition(a)? || self.condition(b)?),
            Expr::Compare(op, a, b) => {
                if let (Some(a), Some(b)) = (self.borrowed(a), self.borrowed(b)) {
                    self.tick(2)?;
                    return holds(*op, a, b, self.timezone);
                }
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                holds(*op, &a, &b, self.timezone)
            }
            Expr::Member { element, collection, negated } => {
                if let (Some(element), Some(collection)) = (self.borrowed(element), self.borrowed(collection)) {
                    self.tick(2)?;
                    return Ok(self.member(element, collection)? != *negated);
                }
                let element = self.eval(element)?;
                let collection = self.eval(collection)?;
                Ok(self.member(&element, &collection)? != *negated)
            }
            Expr::Presence(inner, present) => {
                if self.borrowed(inner).is_some() {
                    self.tick(1)?;
                    return Ok(*present);
                }
                match self.eval(inner) {
                    Ok(_) => Ok(*present),
                    Err(e) if e.is_absence() => Ok(!*present),
                    Err(other) => Err(other),
                }
            }
            _ => match self.value(e)? {
                Value::Bool(b) => Ok(b),
                _ => internal("a condition did not give true or false"),
            },
        }
    }

    /// Records a computed value as evidence.
    fn record(&mut self, index: Option<u32>, value: &Value) {
        self.record_with(index, || Cow::Owned(value.clone()));
    }

    /// Records a value of the action (or of a history item) by reference.
    fn record_read(&mut self, index: Option<u32>, value: &'a Value) {
        self.record_with(index, || Cow::Borrowed(value));
    }

    fn record_with(&mut self, index: Option<u32>, value: impl FnOnce() -> Cow<'a, Value>) {
        if !self.recording {
            return;
        }
        // The first value read counts.
        if let Some(index) = index {
            if !self.evidence.iter().any(|(i, _)| *i == index) {
                self.evidence.push((index, value()));
            }
        }
    }

    fn tick(&mut self, n: u64) -> Result<()> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > limits::MAX_EVALUATION_STEPS {
            return Err(EvalError::StepLimit { limit: limits::MAX_EVALUATION_STEPS });
        }
        Ok(())
    }

    pub(crate) fn eval(&mut self, e: &Expr) -> Result<Value> {
        self.tick(1)?;
        self.value(e)
    }

    /// The value of an expression whose step is charged.
    fn value(&mut self, e: &Expr) -> Result<Value> {
        match e {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Now => Ok(Value::DateTime(self.now)),
            Expr::Today => Ok(Value::Date(self.today)),
            Expr::Field { subject, root, evidence, label } => {
                let Some(record) = self.subject(*subject) else {
                    return internal("no history item in scope");
                };
                let value = match root {
                    Root::Slot(slot) => Cow::Borrowed(self.read_slot(record, *subject, *slot, *evidence)),
                    Root::Id => Cow::Owned(Value::Text(record.id.clone())),
                    Root::At => Cow::Owned(Value::DateTime(record.at)),
                };
                // A slot was recorded as it was read; the id and the time are recorded here.
                if let (Cow::Owned(v), Subject::Action) = (&value, subject) {
                    self.record(*evidence, v);
                }
                match &*value {
                    Value::Missing => Err(missing(label)),
                    Value::Invalid(problem) => Err(invalid(label, problem)),
                    _ => Ok(value.into_owned()),
                }
            }
            Expr::BreachField(field) => match self.item {
                Item::Breach(b) => Ok(b.field(*field)),
                _ => internal("no breach in scope"),
            },
            Expr::Let(i) => self.let_value(*i),
            Expr::Not(_)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Compare(..)
            | Expr::Member { .. }
            | Expr::Presence(..) => Ok(Value::Bool(self.truth(e)?)),
            Expr::Neg(inner) => negate(self.eval(inner)?),
            Expr::TextContains(haystack, needle) => match (self.eval(haystack)?, self.eval(needle)?) {
                (Value::Text(h), Value::Text(n)) => Ok(Value::Bool(h.contains(&*n))),
                _ => internal("`contains` without text"),
            },
            Expr::Arith(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                arith(*op, a, b, self.timezone)
            }
            Expr::Call(function, args) => {
                // Functions take one or two arguments (the checker sees to it).
                let mut args = args.iter();
                let first = match args.next() {
                    Some(a) => self.eval(a)?,
                    None => Value::Missing,
                };
                let second = match args.next() {
                    Some(a) => Some(self.eval(a)?),
                    None => None,
                };
                for extra in args {
                    self.eval(extra)?;
                }
                self.call(*function, first, second)
            }
            Expr::Aggregate(a) => {
                let value = self.remembered_aggregate(a)?;
                self.record(a.evidence, &value);
                Ok(value)
            }
            Expr::Set(items) => self.set(items),
        }
    }

    /// A set literal's value: its items, duplicates dropped. Out of line, as the other rarer
    /// cases of [`Evaluator::value`], so that its frame stays small for the common ones.
    #[inline(never)]
    fn set(&mut self, items: &[Expr]) -> Result<Value> {
        let mut values: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            let v = self.eval(item)?;
            let mut duplicate = false;
            for existing in &values {
                if equal(existing, &v, self.timezone)? {
                    duplicate = true;
                    break;
                }
            }
            if !duplicate {
                values.push(v);
            }
        }
        Ok(Value::Set(values.into()))
    }

    /// The record a field path starts from: the action, or the history item in scope.
    fn subject(&self, subject: Subject) -> Option<&'a Decoded> {
        match (subject, self.item) {
            (Subject::Action, _) => Some(self.action),
            (Subject::Item, Item::Action(d)) => Some(d),
            (Subject::Item, _) => None,
        }
    }

    /// An aggregate's value. Rule-level aggregates (not inside `where`, where the item changes)
    /// are remembered with the steps they took, so that reading one again in the same rule (in
    /// its message, say) reuses it and is charged the same; an explanation always counts the
    /// items again.
    #[inline(never)]
    fn remembered_aggregate(&mut self, a: &Aggregate) -> Result<Value> {
        let memo = a.evidence.filter(|_| matches!(self.item, Item::None) && self.counted.is_none());
        if let Some((value, steps)) = memo.and_then(|i| self.aggregates.get(i as usize).cloned().flatten()) {
            self.tick(steps)?;
            return Ok(value);
        }
        let before = self.steps;
        // What the aggregate reads, item by item, is not the rule's evidence (its value is);
        // an explanation shows it.
        let inside = self.recording && self.counted.is_some();
        let recording = std::mem::replace(&mut self.recording, inside);
        let value = self.aggregate(a);
        self.recording = recording;
        let value = value?;
        if let Some(i) = memo {
            put(&mut self.aggregates, i as usize, (value.clone(), self.steps.saturating_sub(before)));
        }
        Ok(value)
    }

    /// The value of a constant or of a field that is present, by reference (recording the
    /// field as evidence): comparisons read them without cloning. `None` for anything else, so
    /// that the caller evaluates as usual.
    fn borrowed<'v>(&mut self, e: &'v Expr) -> Option<&'v Value>
    where
        'a: 'v,
    {
        match e {
            Expr::Const(v) => Some(v),
            Expr::Field { subject, root: Root::Slot(slot), evidence, .. } => {
                let record = self.subject(*subject)?;
                let value = self.read_slot(record, *subject, *slot, *evidence);
                (!matches!(value, Value::Missing | Value::Invalid(_))).then_some(value)
            }
            _ => None,
        }
    }

    /// The value of a slot of `record`, recorded as evidence when `record` is the action.
    fn read_slot(&mut self, record: &'a Decoded, subject: Subject, slot: u32, evidence: Option<u32>) -> &'a Value {
        let value = record.slots.get(slot as usize).unwrap_or(&MISSING);
        if subject == Subject::Action {
            self.record_read(evidence, value);
        }
        value
    }

    /// `element in collection`.
    fn member(&mut self, element: &Value, collection: &Value) -> Result<bool> {
        let (Value::Set(items) | Value::List(items)) = collection else {
            return internal("`in` without a set");
        };
        self.tick(items.len() as u64)?;
        for item in items.iter() {
            if equal(element, item, self.timezone)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The same evaluator, also noting which history items each aggregate counted.
    pub(crate) fn explaining(mut self) -> Self {
        self.counted = Some(Vec::new());
        self.recording()
    }

    /// The values recorded since the last call, by evidence index; the record starts afresh.
    pub(crate) fn take_evidence(&mut self) -> Vec<(usize, Value)> {
        let mut taken: Vec<(usize, Value)> =
            self.evidence.drain(..).map(|(i, v)| (i as usize, v.into_owned())).collect();
        taken.sort_unstable_by_key(|(i, _)| *i);
        taken
    }

    fn let_value(&mut self, i: u32) -> Result<Value> {
        let index = i as usize;
        if let Some(Some(cached)) = self.lets.get(index) {
            let cached = cached.clone();
            if let Ok(v) = &cached {
                self.record(self.body.let_evidence.get(index).copied(), v);
            }
            return cached;
        }
        let Some(expr) = self.body.lets.get(index) else { return internal("unknown let") };
        // A let is computed in the rule's scope, even when first read inside `where`.
        let item = std::mem::replace(&mut self.item, Item::None);
        let result = self.eval(expr);
        self.item = item;
        if let Ok(v) = &result {
            let evidence = self.body.let_evidence.get(index).copied();
            self.record(evidence, v);
        }
        put(&mut self.lets, index, result.clone());
        result
    }

    fn call(&mut self, function: Function, first: Value, second: Option<Value>) -> Result<Value> {
        let tz = self.timezone;
        let date_of = |v: &Value| -> Result<NaiveDate> {
            match v {
                Value::Date(d) => Ok(*d),
                Value::DateTime(t) => Ok(local_date(t, tz)),
                _ => internal("expected a date"),
            }
        };
        Ok(match function {
            Function::Year => Value::Int(i64::from(date_of(&first)?.year())),
            Function::Month => Value::Int(i64::from(date_of(&first)?.month())),
            Function::Weekday => Value::Int(i64::from(date_of(&first)?.weekday().number_from_monday())),
            Function::Date => Value::Date(date_of(&first)?),
            Function::Hour => match first {
                Value::DateTime(t) => Value::Int(i64::from(t.with_timezone(&tz).hour())),
                _ => return internal("expected a datetime"),
            },
            Function::Age => Value::Int(age(date_of(&first)?, self.today)?),
            Function::DaysBetween => {
                let a = date_of(&first)?;
                let b = date_of(second.as_ref().unwrap_or(&Value::Missing))?;
                Value::Int(b.signed_duration_since(a).num_days())
            }
            Function::Len => match first {
                Value::Set(items) | Value::List(items) => Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX)),
                Value::Text(t) => Value::Int(i64::try_from(t.chars().count()).unwrap_or(i64::MAX)),
                _ => return internal("`len` of a value without length"),
            },
            Function::Lower => match first {
                Value::Text(t) => Value::Text(t.to_lowercase().into()),
                _ => return internal("`lower` of a value that is not text"),
            },
            Function::Abs => match first {
                Value::Int(i) => Value::Int(i.checked_abs().ok_or_else(overflow)?),
                Value::Decimal(d) => Value::Decimal(d.abs()),
                Value::Money(m) => Value::Money(Money { amount: m.amount.abs(), ..m }),
                _ => return internal("`abs` of a value without a sign"),
            },
            Function::Min | Function::Max => {
                let second = second.unwrap_or(Value::Missing);
                let order = compare(&first, &second, tz)?;
                let take_first =
                    if function == Function::Min { order != Ordering::Greater } else { order != Ordering::Less };
                if take_first {
                    first
                } else {
                    second
                }
            }
            Function::Amount => match first {
                Value::Money(m) => Value::Decimal(m.amount),
                _ => return internal("`amount` of a value that is not money"),
            },
            Function::Currency => match first {
                Value::Money(m) => Value::Text(m.currency.map_or("", |c| c.code()).into()),
                _ => return internal("`currency` of a value that is not money"),
            },
        })
    }

    fn aggregate(&mut self, a: &Aggregate) -> Result<Value> {
        let (from, to) = match (a.period, self.period) {
            // `[start, end)`: the last instant before the end is the window's last.
            (Some(_), Some((start, end))) => {
                (start, end.checked_sub_signed(TimeDelta::nanoseconds(1)).ok_or(EvalError::DateOutOfRange)?)
            }
            (Some(_), None) => return internal("`within period` outside a periodic check"),
            (None, _) => (shift_on(self.now, a.window, false, self.timezone, &a.calendar)?, self.now),
        };
        let saved = self.item;
        let result = match a.source {
            Source::Actions(type_id) => {
                let items = window(self.history.actions(type_id), |d| d.at, from, to);
                if let Some(value) = self.unfiltered(a, items.len()) {
                    value
                } else if items.is_empty() {
                    // Nothing to fold: no index to look for.
                    self.fold(a, std::iter::empty())
                } else if let Some((matched, reject)) = self.matching(a, type_id, items, from, to) {
                    self.fold_matched(a, items, &matched, reject)
                } else {
                    self.fold(a, items.iter().map(|d| Item::Action(d)))
                }
            }
            Source::Breaches => {
                let items = window(self.history.breaches(), |b| b.at, from, to);
                if let Some(value) = self.unfiltered(a, items.len()) {
                    value
                } else if let Some(value) = self.breach_totals(a, items.len(), from, to) {
                    value
                } else {
                    self.fold(a, items.iter().map(Item::Breach))
                }
            }
        };
        self.item = saved;
        result
    }

    /// `count` and `exists` without `where` over `n` items, as the plain fold gives them (one
    /// step an item; `exists` stops at the first). `None` for the plain fold (other functions,
    /// a `where`, or an explanation, which lists the items).
    fn unfiltered(&mut self, a: &Aggregate, n: usize) -> Option<Result<Value>> {
        if a.filter.is_some() || self.counted.is_some() || self.history.plain() {
            return None;
        }
        let n = i64::try_from(n).ok()?;
        match a.function {
            AggregateFn::Count => Some(self.tick(n.unsigned_abs()).map(|()| Value::Int(n))),
            AggregateFn::Exists if n == 0 => Some(Ok(Value::Bool(false))),
            AggregateFn::Exists => Some(self.tick(1).map(|()| Value::Bool(true))),
            _ => None,
        }
    }

    /// `count(breach where f = x …)` and `sum(breach.points where f = x …)`, the `where` being that
    /// equality alone, from the history's running totals by `f`: `n` breaches in the window, each
    /// charged the plain fold's steps (its own, the condition's, the comparison's two; and one to
    /// read the points of each counted). `None` for the plain fold when there is no such index,
    /// `x` has no text key, a breach in the window has no key (its `=` is an error), or the sum
    /// could overflow (negative points, or a total beyond an int).
    fn breach_totals(
        &mut self,
        a: &Aggregate,
        n: usize,
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    ) -> Option<Result<Value>> {
        if self.counted.is_some() {
            return None;
        }
        let (field, other) = breach_equality(a.filter.as_ref()?)?;
        let index = self.history.breaches_by(field)?;
        let key = other_key(other, self.action)?;
        if !matches!(key, Key::Text(_)) || !window(index.irregular.as_slice(), |t| *t, from, to).is_empty() {
            return None;
        }
        let (matched, total) = index
            .by_key
            .get(&key)
            .map_or(Some((0, 0)), |points| (points.negative == 0).then(|| points.window(from, to)))?;
        let per_item: u64 = 4;
        let steps = per_item.saturating_mul(n as u64);
        match (a.function, &a.field) {
            (AggregateFn::Count, _) => {
                let count = i64::try_from(matched).ok()?;
                Some(self.tick(steps).map(|()| Value::Int(count)))
            }
            (AggregateFn::Sum, Some(Expr::BreachField(BreachField::Points))) if a.zero == Value::Int(0) => {
                let total = i64::try_from(total).ok()?;
                Some(self.tick(steps.saturating_add(matched as u64)).map(|()| Value::Int(total)))
            }
            _ => None,
        }
    }

    /// The fast path of an aggregate over actions whose `where` starts with `f = x` (`x` a
    /// constant or a field of the action) when the history indexes the type by `f`: the
    /// positions in `items` of the items whose `f` equals `x`, and the steps the plain fold
    /// takes for each other item (all of which the `where` rejects, without error, at that
    /// equality). `None` (the plain fold) when explaining, without such an index, when `x` has no
    /// key, or when an item in the window has no key or one of another kind (`=` with it could
    /// fail or widen).
    fn matching(
        &self,
        a: &Aggregate,
        type_id: TypeId,
        items: &'a [std::sync::Arc<Decoded>],
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    ) -> Option<(Vec<usize>, u64)> {
        if self.counted.is_some() {
            return None;
        }
        let equality = leading_equality(a.filter.as_ref()?)?;
        let index = self.history.keyed(type_id, equality.item)?;
        let key = equality.other_key(self.action)?;
        if index.classes.iter().enumerate().any(|(class, n)| class != key.class() && *n > 0) {
            return None;
        }
        if !window(index.irregular.as_slice(), |d| d.at, from, to).is_empty() {
            return None;
        }
        let matched = index.by_key.get(&key).map_or(&[][..], |list| window(list.as_slice(), |d| d.at, from, to));
        // Each matched item's place in the window: after the earlier ones at its instant.
        let mut positions = Vec::with_capacity(matched.len());
        let mut next = 0usize;
        for m in matched {
            let start = next.max(items.partition_point(|d| d.at < m.at));
            let offset =
                items.get(start..)?.iter().take_while(|d| d.at == m.at).position(|d| std::sync::Arc::ptr_eq(d, m))?;
            let at = start.checked_add(offset)?;
            positions.push(at);
            next = at.checked_add(1)?;
        }
        // The fold's own step for each item, then the predicate's.
        Some((positions, equality.reject_steps.saturating_add(1)))
    }

    /// [`Evaluator::fold`] over `items`, evaluating only the items at `matched` and charging
    /// `reject` steps for each other item, in the order the plain fold would.
    fn fold_matched(
        &mut self,
        a: &Aggregate,
        items: &'a [std::sync::Arc<Decoded>],
        matched: &[usize],
        reject: u64,
    ) -> Result<Value> {
        let mut state = (0i64, a.zero.clone());
        let mut next = 0usize;
        for &at in matched {
            let Some(item) = items.get(at) else { return internal("an index out of step") };
            self.tick(reject.saturating_mul(at.saturating_sub(next) as u64))?;
            next = at.saturating_add(1);
            if let Some(done) = self.fold_item(a, Item::Action(item), &mut state)? {
                return Ok(done);
            }
        }
        self.tick(reject.saturating_mul(items.len().saturating_sub(next) as u64))?;
        self.fold_end(a, state)
    }

    fn fold<'i>(&mut self, a: &Aggregate, items: impl Iterator<Item = Item<'i>>) -> Result<Value>
    where
        'i: 'a,
    {
        let mut state = (0i64, a.zero.clone());
        for item in items {
            if let Some(done) = self.fold_item(a, item, &mut state)? {
                return Ok(done);
            }
        }
        self.fold_end(a, state)
    }

    /// One item of a fold: the count and the accumulator so far in `state`; `Some` when the
    /// aggregate's value is known without the remaining items (`exists`).
    fn fold_item<'i>(&mut self, a: &Aggregate, item: Item<'i>, state: &mut (i64, Value)) -> Result<Option<Value>>
    where
        'i: 'a,
    {
        self.tick(1)?;
        self.item = item;
        if let Some(filter) = &a.filter {
            if !self.condition(filter)? {
                return Ok(None);
            }
        }
        if let (Some(counted), Some(index)) = (self.counted.as_mut(), a.evidence) {
            let description = match item {
                Item::Action(d) => format!("{} at {}", d.id, format_datetime(&d.at)),
                Item::Breach(b) => {
                    format!("{} on {} ({} points) at {}", b.rule, b.action, b.points, format_datetime(&b.at))
                }
                Item::None => String::new(),
            };
            match counted.iter_mut().find(|(i, _)| *i == index) {
                Some((_, list)) => list.push(description),
                None => counted.push((index, vec![description])),
            }
        }
        let (count, acc) = state;
        match a.function {
            AggregateFn::Exists => return Ok(Some(Value::Bool(true))),
            AggregateFn::Count => *count = count.saturating_add(1),
            AggregateFn::Sum | AggregateFn::Min | AggregateFn::Max => {
                let Some(field) = &a.field else { return internal("aggregate without a field") };
                let v = self.eval(field)?;
                let old = std::mem::replace(acc, Value::Missing);
                *acc = match (a.function, &old) {
                    (AggregateFn::Sum, _) => arith(Arith::Add, old, v, self.timezone)?,
                    (_, Value::Missing) => v,
                    (AggregateFn::Min, _) if compare(&v, &old, self.timezone)? == Ordering::Less => v,
                    (AggregateFn::Max, _) if compare(&v, &old, self.timezone)? == Ordering::Greater => v,
                    _ => old,
                };
            }
        }
        Ok(None)
    }

    fn fold_end(&self, a: &Aggregate, (count, acc): (i64, Value)) -> Result<Value> {
        match a.function {
            AggregateFn::Count => Ok(Value::Int(count)),
            AggregateFn::Exists => Ok(Value::Bool(false)),
            AggregateFn::Min | AggregateFn::Max if acc == Value::Missing => {
                Err(EvalError::NoItems { function: a.function.name() })
            }
            _ => Ok(acc),
        }
    }
}

/// One side of an equality that is read without evaluating anything: a field of a record by
/// slot, or its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Operand {
    Slot(u32),
    Id,
}

impl Operand {
    /// The key of this operand of a record; `None` when absent, malformed or of a type
    /// without keys.
    pub(crate) fn key_of(self, record: &Decoded) -> Option<Key> {
        match self {
            Operand::Slot(s) => record.slots.get(s as usize).and_then(Key::of),
            Operand::Id => Some(Key::Text(record.id.clone())),
        }
    }
}

/// An equality `f = x` (or `x = f`) at the left end of a predicate's chain of `and`, with `f`
/// a field of the item (the history item of a `where`, the later action of a `fulfilled by …
/// where`) and `x` a constant or a field of the action. When `f` and `x` have keys of one kind
/// that differ, the equality is false without error, and so is the predicate, having taken
/// `reject_steps` steps (the condition's along the chain, then the comparison's two).
pub(crate) struct LeadingEquality<'e> {
    pub(crate) item: Operand,
    pub(crate) other: &'e Expr,
    pub(crate) reject_steps: u64,
}

impl LeadingEquality<'_> {
    /// The key of `x` for this action (`None` when it has none).
    pub(crate) fn other_key(&self, action: &Decoded) -> Option<Key> {
        other_key(self.other, action)
    }
}

/// The key of a constant or of a field of the action (`None` for anything else).
fn other_key(other: &Expr, action: &Decoded) -> Option<Key> {
    match other {
        Expr::Const(v) => Key::of(v),
        Expr::Field { subject: Subject::Action, root: Root::Slot(s), .. } => Operand::Slot(*s).key_of(action),
        Expr::Field { subject: Subject::Action, root: Root::Id, .. } => Operand::Id.key_of(action),
        _ => None,
    }
}

/// A breach aggregate's `where` that is one equality `f = x` (or `x = f`): `f` a field of the
/// breach, `x` a constant or a field of the action. Each side is read in one step.
fn breach_equality(filter: &Expr) -> Option<(BreachField, &Expr)> {
    let Expr::Compare(Comparison::Eq, a, b) = filter else { return None };
    let other = |x: &Expr| {
        matches!(x, Expr::Const(_) | Expr::Field { subject: Subject::Action, root: Root::Slot(_) | Root::Id, .. })
    };
    match (&**a, &**b) {
        (Expr::BreachField(f), x) | (x, Expr::BreachField(f)) if other(x) => Some((*f, x)),
        _ => None,
    }
}

/// The equality a predicate starts with, as [`LeadingEquality`] describes.
pub(crate) fn leading_equality(predicate: &Expr) -> Option<LeadingEquality<'_>> {
    let mut e = predicate;
    // The predicate's own condition step, then one per `and` down to its left operand.
    let mut steps: u64 = 1;
    while let Expr::And(left, _) = e {
        steps = steps.saturating_add(1);
        e = left;
    }
    let Expr::Compare(Comparison::Eq, a, b) = e else { return None };
    let item = |x: &Expr| match x {
        Expr::Field { subject: Subject::Item, root: Root::Slot(s), .. } => Some(Operand::Slot(*s)),
        Expr::Field { subject: Subject::Item, root: Root::Id, .. } => Some(Operand::Id),
        _ => None,
    };
    let other = |x: &Expr| {
        matches!(x, Expr::Const(_) | Expr::Field { subject: Subject::Action, root: Root::Slot(_) | Root::Id, .. })
    };
    let (item, other) = match (item(a), item(b)) {
        (Some(i), None) if other(b) => (i, &**b),
        (None, Some(i)) if other(a) => (i, &**a),
        _ => return None,
    };
    // Each side of the comparison is one step (read by reference or evaluated).
    Some(LeadingEquality { item, other, reject_steps: steps.saturating_add(2) })
}

/// What the aggregates of a policy set look up by equality: the indexes a history keeps.
pub(crate) fn indexed_keys(set: &crate::policy_set::PolicySet) -> Vec<Indexed> {
    let mut keys = Vec::new();
    for policy in &set.policies {
        for rule in &policy.rules {
            for body in rule.bodies.iter().chain(rule.periodic.as_ref().map(|p| &p.body)) {
                let clauses = body.lets.iter().chain(&body.when).chain(&body.unless).chain(&body.require);
                let messages = body.messages.iter().flat_map(|m| &m.parts).filter_map(|p| match p {
                    MessagePart::Value(e) => Some(e),
                    MessagePart::Literal(_) => None,
                });
                for e in clauses.chain(&body.fulfilment).chain(messages) {
                    collect_keys(e, &mut keys, limits::MAX_EXPRESSION_DEPTH.saturating_mul(4));
                }
            }
        }
    }
    let mut unique: Vec<Indexed> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.contains(&key) {
            unique.push(key);
        }
    }
    unique
}

/// Adds the keys of the aggregates in `e` (depth bounded: trees are bounded when they load).
fn collect_keys(e: &Expr, keys: &mut Vec<Indexed>, depth: usize) {
    let Some(depth) = depth.checked_sub(1) else { return };
    match e {
        Expr::Const(_) | Expr::Field { .. } | Expr::BreachField(_) | Expr::Let(_) | Expr::Now | Expr::Today => {}
        Expr::Not(x) | Expr::Neg(x) | Expr::Presence(x, _) => collect_keys(x, keys, depth),
        Expr::And(x, y)
        | Expr::Or(x, y)
        | Expr::Compare(_, x, y)
        | Expr::TextContains(x, y)
        | Expr::Arith(_, x, y)
        | Expr::Member { element: x, collection: y, .. } => {
            collect_keys(x, keys, depth);
            collect_keys(y, keys, depth);
        }
        Expr::Call(_, args) | Expr::Set(args) => args.iter().for_each(|x| collect_keys(x, keys, depth)),
        Expr::Aggregate(a) => {
            a.field.iter().chain(&a.filter).for_each(|x| collect_keys(x, keys, depth));
            match (&a.source, &a.filter) {
                (Source::Actions(t), Some(filter)) => {
                    if let Some(equality) = leading_equality(filter) {
                        keys.push(Indexed::Action(*t, equality.item));
                    }
                }
                (Source::Breaches, Some(filter)) => {
                    if let Some((field, _)) = breach_equality(filter) {
                        keys.push(Indexed::Breach(field));
                    }
                }
                _ => {}
            }
        }
    }
}

/// The items of a time-ordered slice with `from <= at <= to`, found by binary search.
pub(crate) fn window<T>(
    items: &[T],
    at: impl Fn(&T) -> DateTime<FixedOffset>,
    from: DateTime<FixedOffset>,
    to: DateTime<FixedOffset>,
) -> &[T] {
    let start = items.partition_point(|i| at(i) < from);
    let end = items.partition_point(|i| at(i) <= to);
    items.get(start..end.max(start)).unwrap_or(&[])
}

static MISSING: Value = Value::Missing;

/// Whether a comparison holds.
fn holds(op: Comparison, a: &Value, b: &Value, tz: Tz) -> Result<bool> {
    Ok(match op {
        Comparison::Eq => equal(a, b, tz)?,
        Comparison::Ne => !equal(a, b, tz)?,
        Comparison::Lt => compare(a, b, tz)? == Ordering::Less,
        Comparison::Le => compare(a, b, tz)? != Ordering::Greater,
        Comparison::Gt => compare(a, b, tz)? == Ordering::Greater,
        Comparison::Ge => compare(a, b, tz)? != Ordering::Less,
    })
}

/// Stores `item` at `index` of a table that grows as needed.
fn put<T: Clone>(table: &mut Vec<Option<T>>, index: usize, item: T) {
    if table.len() <= index {
        table.resize(index.saturating_add(1), None);
    }
    if let Some(slot) = table.get_mut(index) {
        *slot = Some(item);
    }
}

fn overflow() -> EvalError {
    EvalError::Overflow
}

/// Why `x op y` has no exact decimal result.
#[cold]
fn inexact(why: Inexact, op: Arith, x: Decimal, y: Decimal) -> EvalError {
    let symbol = match op {
        Arith::Add => "+",
        Arith::Sub => "-",
        Arith::Mul => "*",
        Arith::Div => "/",
    };
    let (x, y) = (decimal_text(x), decimal_text(y));
    match why {
        Inexact::DivisionByZero => EvalError::DivisionByZero,
        Inexact::TooManyDigits => EvalError::TooManyDigits { expression: format!("{x} {symbol} {y}").into() },
        Inexact::NotExact => EvalError::NoExactQuotient { expression: format!("{x} / {y}").into() },
    }
}

/// `age(d)`: the largest n with `d + n years <= today`.
fn age(birth: NaiveDate, today: NaiveDate) -> Result<i64> {
    let mut years = i64::from(today.year()).saturating_sub(i64::from(birth.year()));
    // Whole years from any day but 29 February land on the same month and day, so the
    // anniversary is reached when today's month and day are past the birth's.
    if (birth.month(), birth.day()) != (2, 29) {
        let reached = (today.month(), today.day()) >= (birth.month(), birth.day());
        return Ok(if reached { years } else { years.saturating_sub(1) });
    }
    let months = |y: i64| u32::try_from(y.checked_mul(12)?).ok().map(Months::new);
    let reached = |y: i64| -> bool {
        if y < 0 {
            return birth
                .checked_sub_months(months(y.saturating_neg()).unwrap_or(Months::new(0)))
                .is_some_and(|d| d <= today);
        }
        months(y).and_then(|m| birth.checked_add_months(m)).is_some_and(|d| d <= today)
    };
    if !reached(years) {
        years = years.saturating_sub(1);
    }
    Ok(years)
}

/// Moves a datetime by a duration: months in the policy's calendar (clamped to the month's
/// end), then exact seconds. The result keeps the original offset. Business days count
/// Monday to Friday here; [`shift_on`] takes a policy's holidays and workdays.
pub(crate) fn shift(t: DateTime<FixedOffset>, d: Duration, forward: bool, tz: Tz) -> Result<DateTime<FixedOffset>> {
    shift_on(t, d, forward, tz, &Calendar::default())
}

// Here rather than in `program`, which does not depend on the evaluator.
impl Policy {
    /// Moves `t` by `d` in this policy's time zone and calendar (business days included).
    pub(crate) fn shift(&self, t: DateTime<FixedOffset>, d: Duration, forward: bool) -> Result<DateTime<FixedOffset>> {
        shift_on(t, d, forward, self.timezone, &self.calendar)
    }
}

/// [`shift`] with business days counted on `calendar`: `N business days` after `t` is the same
/// local time of day on the N-th business day after `t`'s local date (in a clock change's gap,
/// the first instant after it; in an overlap, the earlier instant).
pub(crate) fn shift_on(
    t: DateTime<FixedOffset>,
    d: Duration,
    forward: bool,
    tz: Tz,
    calendar: &Calendar,
) -> Result<DateTime<FixedOffset>> {
    if d.business_days != 0 {
        return shift_business(t, d.business_days, forward, tz, calendar);
    }
    let out_of_range = || EvalError::DateOutOfRange;
    let mut result = t;
    if d.months != 0 {
        let local: NaiveDateTime = t.with_timezone(&tz).naive_local();
        let months = Months::new(d.months.unsigned_abs());
        let moved =
            if forward == (d.months > 0) { local.checked_add_months(months) } else { local.checked_sub_months(months) };
        let moved = moved.ok_or_else(out_of_range)?;
        let instant = match tz.from_local_datetime(&moved) {
            LocalResult::Single(x) => x,
            LocalResult::Ambiguous(earliest, _) => earliest,
            // In a clock-change gap: read the wall time with the offset from before the gap.
            LocalResult::None => {
                let offset = tz.offset_from_utc_datetime(&t.naive_utc());
                let utc = moved
                    .checked_sub_signed(TimeDelta::seconds(i64::from(chrono::Offset::fix(&offset).local_minus_utc())))
                    .ok_or_else(out_of_range)?;
                tz.from_utc_datetime(&utc)
            }
        };
        result = instant.with_timezone(t.offset());
    }
    if d.seconds != 0 {
        let delta = TimeDelta::try_seconds(d.seconds).ok_or_else(out_of_range)?;
        result = if forward { result.checked_add_signed(delta) } else { result.checked_sub_signed(delta) }
            .ok_or_else(out_of_range)?;
    }
    writable(result.naive_local().date())?;
    Ok(result)
}

fn shift_business(
    t: DateTime<FixedOffset>,
    n: i32,
    forward: bool,
    tz: Tz,
    calendar: &Calendar,
) -> Result<DateTime<FixedOffset>> {
    let out_of_range = || EvalError::DateOutOfRange;
    let local = t.with_timezone(&tz).naive_local();
    let date = calendar.step(local.date(), i64::from(n), forward).ok_or_else(out_of_range)?;
    writable(date)?;
    let wanted = date.and_time(local.time());
    let instant = match tz.from_local_datetime(&wanted) {
        LocalResult::Single(x) => x,
        LocalResult::Ambiguous(earliest, _) => earliest,
        LocalResult::None => first_after_gap(wanted, tz).ok_or_else(out_of_range)?,
    };
    Ok(instant.with_timezone(t.offset()))
}

/// The first instant whose local time is at or after `wanted`, a local time in a gap: between
/// reading it with the offset after the gap and with the one before, local time only grows.
pub(crate) fn first_after_gap(wanted: NaiveDateTime, tz: Tz) -> Option<DateTime<Tz>> {
    let day = TimeDelta::days(1);
    let offset_at = |naive: NaiveDateTime| -> i64 {
        i64::from(chrono::Offset::fix(&tz.offset_from_utc_datetime(&naive)).local_minus_utc())
    };
    let before = offset_at(wanted.checked_sub_signed(day)?);
    let after = offset_at(wanted.checked_add_signed(day)?);
    let mut lo = wanted.checked_sub_signed(TimeDelta::try_seconds(before.max(after))?)?;
    let mut hi = wanted.checked_sub_signed(TimeDelta::try_seconds(before.min(after))?)?;
    // Invariant: local(hi) >= wanted; find the first such second.
    while lo < hi {
        let half = hi.signed_duration_since(lo).num_seconds() / 2;
        let mid = lo.checked_add_signed(TimeDelta::try_seconds(half)?)?;
        if tz.from_utc_datetime(&mid).naive_local() >= wanted {
            hi = mid;
        } else {
            lo = mid.checked_add_signed(TimeDelta::try_seconds(1)?)?;
        }
    }
    Some(tz.from_utc_datetime(&hi))
}

/// A date that RFC 3339 and `YYYY-MM-DD` can write (years 0000 to 9999), or an evaluation
/// error: a deadline past 9999-12-31 would be written as a `due` no reader accepts.
fn writable(date: NaiveDate) -> Result<NaiveDate> {
    if (0..=9999).contains(&date.year()) {
        Ok(date)
    } else {
        Err(EvalError::UnwritableDate { date: date.to_string().into() })
    }
}

fn shift_date(date: NaiveDate, d: Duration, forward: bool) -> Result<NaiveDate> {
    let out_of_range = || EvalError::DateOutOfRange;
    if d.seconds % 86_400 != 0 {
        return Err(EvalError::PartialDays);
    }
    let mut result = date;
    if d.months != 0 {
        let months = Months::new(d.months.unsigned_abs());
        result = if forward == (d.months > 0) {
            result.checked_add_months(months)
        } else {
            result.checked_sub_months(months)
        }
        .ok_or_else(out_of_range)?;
    }
    let days = TimeDelta::try_days(d.seconds / 86_400).ok_or_else(out_of_range)?;
    writable(
        if forward { result.checked_add_signed(days) } else { result.checked_sub_signed(days) }
            .ok_or_else(out_of_range)?,
    )
}

fn negate(v: Value) -> Result<Value> {
    Ok(match v {
        Value::Int(i) => Value::Int(i.checked_neg().ok_or_else(overflow)?),
        Value::Decimal(d) => Value::Decimal(d.checked_mul(Decimal::NEGATIVE_ONE).ok_or_else(overflow)?),
        Value::Money(m) => {
            Value::Money(Money { amount: m.amount.checked_mul(Decimal::NEGATIVE_ONE).ok_or_else(overflow)?, ..m })
        }
        _ => return internal("negating a value without a sign"),
    })
}

fn as_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Int(i) => Some(Decimal::from(*i)),
        Value::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn same_currency(a: &Money, b: &Money) -> Result<Option<iso_currency::Currency>> {
    match (a.currency, b.currency) {
        (Some(x), Some(y)) if x != y => Err(EvalError::CurrencyMismatch(Operands::new(a, b))),
        (x, y) => Ok(x.or(y)),
    }
}

fn arith(op: Arith, a: Value, b: Value, tz: Tz) -> Result<Value> {
    // Exact, or an evaluation error: a decimal is never rounded (see `value::exact_mul`).
    let decimal = |x: rust_decimal::Decimal, y: rust_decimal::Decimal| -> Result<rust_decimal::Decimal> {
        let result = match op {
            Arith::Add => exact_add(x, y),
            Arith::Sub => exact_sub(x, y),
            Arith::Mul => exact_mul(x, y),
            Arith::Div => exact_div(x, y),
        };
        result.map_err(|why| inexact(why, op, x, y))
    };
    use Value::*;
    Ok(match (a, b) {
        (Int(x), Int(y)) => match op {
            Arith::Add => Int(x.checked_add(y).ok_or_else(overflow)?),
            Arith::Sub => Int(x.checked_sub(y).ok_or_else(overflow)?),
            Arith::Mul => Int(x.checked_mul(y).ok_or_else(overflow)?),
            Arith::Div => Decimal(decimal(x.into(), y.into())?),
        },
        (Money(x), Money(y)) => {
            let currency = same_currency(&x, &y)?;
            match op {
                Arith::Div => Decimal(decimal(x.amount, y.amount)?),
                _ => Money(crate::value::Money { amount: decimal(x.amount, y.amount)?, currency }),
            }
        }
        (Money(m), n) if as_decimal(&n).is_some() => {
            let n = as_decimal(&n).unwrap_or_default();
            Money(crate::value::Money { amount: decimal(m.amount, n)?, ..m })
        }
        (n, Money(m)) if as_decimal(&n).is_some() => {
            let n = as_decimal(&n).unwrap_or_default();
            Money(crate::value::Money { amount: decimal(n, m.amount)?, ..m })
        }
        (Date(d), Duration(dur)) => Date(shift_date(d, dur, op == Arith::Add)?),
        (Duration(dur), Date(d)) if op == Arith::Add => Date(shift_date(d, dur, true)?),
        (DateTime(t), Duration(dur)) => DateTime(shift(t, dur, op == Arith::Add, tz)?),
        (Duration(dur), DateTime(t)) if op == Arith::Add => DateTime(shift(t, dur, true, tz)?),
        (Duration(x), Duration(y)) => {
            let (months, seconds) = if op == Arith::Add {
                (x.months.checked_add(y.months), x.seconds.checked_add(y.seconds))
            } else {
                (x.months.checked_sub(y.months), x.seconds.checked_sub(y.seconds))
            };
            Duration(crate::value::Duration {
                months: months.ok_or_else(overflow)?,
                seconds: seconds.ok_or_else(overflow)?,
                business_days: 0,
            })
        }
        (x, y) => match (as_decimal(&x), as_decimal(&y)) {
            (Some(x), Some(y)) => Decimal(decimal(x, y)?),
            _ => return internal("arithmetic on values of the wrong types"),
        },
    })
}

/// Equality with numeric widening, money currencies checked, sets compared as sets.
pub(crate) fn equal(a: &Value, b: &Value, tz: Tz) -> Result<bool> {
    match (a, b) {
        (Value::Set(x), Value::Set(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for item in x.iter() {
                let mut found = false;
                for other in y.iter() {
                    if equal(item, other, tz)? {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (Value::List(x), Value::List(y)) | (Value::Set(x), Value::List(y)) | (Value::List(x), Value::Set(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for (p, q) in x.iter().zip(y.iter()) {
                if !equal(p, q, tz)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (Value::Text(x), Value::Text(y)) => Ok(x == y),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::Enum(i, x), Value::Enum(j, y)) => Ok(i == j && x == y),
        (Value::Record(x), Value::Record(y)) => Ok(x == y),
        _ => Ok(compare(a, b, tz)? == Ordering::Equal),
    }
}

/// Order of two values of one type.
pub(crate) fn compare(a: &Value, b: &Value, tz: Tz) -> Result<Ordering> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Money(x), Value::Money(y)) => {
            same_currency(x, y)?;
            x.amount.cmp(&y.amount)
        }
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        (Value::Date(x), Value::DateTime(y)) => x.cmp(&local_date(y, tz)),
        (Value::DateTime(x), Value::Date(y)) => local_date(x, tz).cmp(y),
        (Value::Enum(i, x), Value::Enum(j, y)) if i == j => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Duration(x), Value::Duration(y)) => {
            if (x.months == 0 && y.months == 0) || (x.seconds == 0 && y.seconds == 0) {
                (x.months, x.seconds).cmp(&(y.months, y.seconds))
            } else {
                return Err(EvalError::IncomparableDurations(Operands::new(x, y)));
            }
        }
        (x, y) => match (as_decimal(x), as_decimal(y)) {
            (Some(p), Some(q)) => p.cmp(&q),
            _ => return internal("comparing values of different types"),
        },
    })
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `age` by its definition: the largest n with `birth + n years <= today`, adding calendar
    /// years with chrono (which clamps 29 February to the 28th).
    fn age_by_adding_years(birth: NaiveDate, today: NaiveDate) -> i64 {
        let years = i64::from(today.year()) - i64::from(birth.year());
        let plus = |n: i64| {
            let months = Months::new(u32::try_from(n.unsigned_abs() * 12).unwrap());
            if n >= 0 {
                birth.checked_add_months(months)
            } else {
                birth.checked_sub_months(months)
            }
        };
        if plus(years).is_some_and(|d| d <= today) {
            years
        } else {
            years - 1
        }
    }

    proptest! {
        #[test]
        fn age_is_whole_calendar_years(birth in -200_000i32..1_000_000, today in -200_000i32..1_000_000) {
            let birth = NaiveDate::from_num_days_from_ce_opt(birth).unwrap();
            let today = NaiveDate::from_num_days_from_ce_opt(today).unwrap();
            prop_assert_eq!(age(birth, today).unwrap(), age_by_adding_years(birth, today));
        }
    }

    #[test]
    fn age_on_and_around_birthdays() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(age(d(1960, 3, 2), d(2025, 3, 1)).unwrap(), 64);
        assert_eq!(age(d(1960, 3, 2), d(2025, 3, 2)).unwrap(), 65);
        assert_eq!(age(d(1960, 2, 29), d(2025, 2, 27)).unwrap(), 64);
        assert_eq!(age(d(1960, 2, 29), d(2025, 2, 28)).unwrap(), 65, "clamped to the 28th");
        assert_eq!(age(d(1960, 2, 29), d(2024, 2, 28)).unwrap(), 63, "a leap year has the 29th");
        assert_eq!(age(d(2030, 6, 1), d(2025, 6, 1)).unwrap(), -5);
        assert_eq!(age(d(2030, 6, 1), d(2025, 5, 31)).unwrap(), -6);
    }
}
#[cfg(test)]
mod error_size {
    /// Every expression returns a `Result`: errors stay as small as a text, so that a result
    /// is no larger than a value (the larger payloads are boxed).
    #[test]
    fn an_error_is_no_larger_than_a_text() {
        assert!(std::mem::size_of::<super::EvalError>() <= std::mem::size_of::<smol_str::SmolStr>());
        assert!(
            std::mem::size_of::<super::Result<crate::value::Value>>() <= std::mem::size_of::<crate::value::Value>()
        );
    }
}
