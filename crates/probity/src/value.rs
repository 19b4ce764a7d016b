//! Run-time values, their static types, and how they are written in decisions.

use smol_str::SmolStr;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
use iso_currency::Currency;
use rust_decimal::Decimal;

/// An index into the policy set's table of enum types.
pub(crate) type EnumId = u32;
/// An index into the policy set's table of record types.
pub(crate) type RecordId = u32;

/// A static type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Ty {
    Bool,
    Int,
    Decimal,
    Money,
    Text,
    Date,
    DateTime,
    Duration,
    Enum(EnumId),
    Set(Box<Ty>),
    List(Box<Ty>),
    Record(RecordId),
    /// The element type of `[]`: fits any set.
    Nothing,
    /// The type of an expression that already has an error: fits anything, reports nothing.
    Error,
}

impl Ty {
    pub(crate) fn element(&self) -> Option<&Ty> {
        match self {
            Ty::Set(t) | Ty::List(t) => Some(t),
            _ => None,
        }
    }
}

/// A span of time: calendar months plus exact seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Duration {
    pub(crate) months: i32,
    pub(crate) seconds: i64,
}

impl Duration {
    /// An upper bound in seconds, for keeping history: a month counts as 31 days plus a day
    /// of slack for clock changes.
    pub(crate) fn upper_bound_seconds(self) -> i64 {
        let months = i64::from(self.months.max(0)).saturating_mul(31 * 86_400);
        months.saturating_add(self.seconds.max(0)).saturating_add(86_400)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: i64, unit: &str| {
            if n == 1 {
                format!("1 {unit}")
            } else {
                format!("{n} {unit}s")
            }
        };
        let mut parts = Vec::new();
        if self.months != 0 {
            let m = i64::from(self.months);
            parts.push(if m % 12 == 0 { plural(m / 12, "year") } else { plural(m, "month") });
        }
        let s = self.seconds;
        if s != 0 || parts.is_empty() {
            parts.push(if s % 86_400 == 0 {
                plural(s / 86_400, "day")
            } else if s % 3_600 == 0 {
                plural(s / 3_600, "hour")
            } else if s % 60 == 0 {
                plural(s / 60, "minute")
            } else {
                plural(s, "second")
            });
        }
        f.write_str(&parts.join(" "))
    }
}

/// An amount of money. `currency` is absent only for the zero that a sum of no items gives,
/// which adds to and compares with money of any currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Money {
    pub(crate) amount: Decimal,
    pub(crate) currency: Option<Currency>,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut amount = self.amount;
        // Show at least the currency's minor units ("500.00 CNY"); never drop digits.
        let minor = self.currency.and_then(|c| c.exponent()).map_or(0, u32::from);
        if amount.scale() < minor {
            amount.rescale(minor);
        }
        match self.currency {
            Some(c) => write!(f, "{amount} {}", c.code()),
            None => write!(f, "{amount}"),
        }
    }
}

/// A value as the evaluator sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Int(i64),
    Decimal(Decimal),
    Money(Money),
    Text(SmolStr),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    Duration(Duration),
    Enum(EnumId, u32),
    Set(Arc<[Value]>),
    List(Arc<[Value]>),
    Record(Arc<[Value]>),
    /// A field the input did not give (or gave as `null`).
    Missing,
    /// A field the input gave in a form its declared type does not accept.
    Invalid(SmolStr),
}

/// Names of enum members, for writing values out.
pub(crate) trait EnumNames {
    fn member(&self, id: EnumId, index: u32) -> Option<&str>;
}

impl Value {
    /// The value as decision JSON: money and decimals as text, so that they stay exact.
    pub(crate) fn to_json(&self, enums: &dyn EnumNames) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Decimal(d) => J::String(d.to_string()),
            Value::Money(m) => J::String(m.to_string()),
            Value::Text(t) => J::String(String::from(&**t)),
            Value::Date(d) => J::String(d.to_string()),
            Value::DateTime(t) => J::String(format_datetime(t)),
            Value::Duration(d) => J::String(d.to_string()),
            Value::Enum(id, index) => J::String(String::from(enums.member(*id, *index).unwrap_or("?"))),
            Value::Set(items) | Value::List(items) | Value::Record(items) => {
                J::Array(items.iter().map(|v| v.to_json(enums)).collect())
            }
            Value::Missing | Value::Invalid(_) => J::Null,
        }
    }

    /// The value as message text.
    pub(crate) fn to_text(&self, enums: &dyn EnumNames) -> String {
        match self {
            Value::Text(t) => String::from(&**t),
            Value::Set(items) | Value::List(items) => {
                let parts: Vec<String> = items.iter().map(|v| v.to_text(enums)).collect();
                format!("[{}]", parts.join(", "))
            }
            other => match other.to_json(enums) {
                serde_json::Value::String(s) => s,
                j => j.to_string(),
            },
        }
    }
}

/// RFC 3339 with the offset as given, `Z` for UTC, and fractional seconds only when present.
pub(crate) fn format_datetime(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
