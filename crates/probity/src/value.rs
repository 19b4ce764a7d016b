//! Run-time values, their static types, and how they are written in decisions.

use smol_str::SmolStr;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
use chrono_tz::Tz;
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
    /// A field declared `signed money`: money that may be negative. Only declarations hold it;
    /// expressions reading such a field see [`Ty::Money`] (see [`Ty::read`]).
    SignedMoney,
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
    /// The type an expression reading a field of this declared type has: `signed money` is
    /// money there (the sign matters only when the field is decoded).
    pub(crate) fn read(&self) -> Ty {
        match self {
            Ty::SignedMoney => Ty::Money,
            Ty::Set(t) => Ty::Set(Box::new(t.read())),
            Ty::List(t) => Ty::List(Box::new(t.read())),
            other => other.clone(),
        }
    }

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
    /// `N business days` (never with months or seconds): only windows and deadlines hold it.
    pub(crate) business_days: i32,
}

impl Duration {
    /// An upper bound in seconds, for keeping history: a month counts as 31 days plus a day
    /// of slack for clock changes.
    pub(crate) fn upper_bound_seconds(self) -> i64 {
        let months = i64::from(self.months.max(0)).saturating_mul(31 * 86_400);
        // N business days span at most 7⌈N/5⌉ days (plus one a holiday, added by the caller).
        let weeks = i64::from(self.business_days.max(0)).saturating_add(4) / 5;
        let business = weeks.saturating_mul(7 * 86_400);
        months.saturating_add(self.seconds.max(0)).saturating_add(business).saturating_add(86_400)
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
        if self.business_days != 0 {
            parts.push(plural(i64::from(self.business_days), "business day"));
        }
        if self.months != 0 {
            let m = i64::from(self.months);
            parts.push(if m % 12 == 0 { plural(m / 12, "year") } else { plural(m, "month") });
        }
        let s = self.seconds;
        if s != 0 || (parts.is_empty() && self.business_days == 0) {
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

impl Money {
    /// The money as decision text: the amount with at least the currency's minor units
    /// ("500.00 CNY"), never dropping digits, then the currency code.
    pub(crate) fn to_text(self) -> String {
        let mut amount = self.amount;
        let minor = self.currency.and_then(|c| c.exponent()).map_or(0, u32::from);
        if amount.scale() < minor {
            amount.rescale(minor);
        }
        let mut text = decimal_text(amount);
        if let Some(c) = self.currency {
            text.push(' ');
            text.push_str(c.code());
        }
        text
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// One more than the largest number of significant digits a decimal holds: 10^28.
const DIGITS_LIMIT: u128 = 10_000_000_000_000_000_000_000_000_000;

/// Whether `d` is held exactly as Probity holds decimals: at most 28 significant digits
/// (trailing zeros after the point not counted) and at most 28 after the point.
pub(crate) fn fits(d: Decimal) -> bool {
    d.normalize().mantissa().unsigned_abs() < DIGITS_LIMIT
}

/// Why a decimal operation has no result: it is never rounded instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inexact {
    /// The exact result needs more than 28 significant digits, or more than 28 after the point.
    TooManyDigits,
    /// A quotient with no exact decimal value within 28 digits (`100 / 3`).
    NotExact,
    /// Division by zero.
    DivisionByZero,
}

/// A normalised decimal as (sign, digits, scale): no trailing zeros after the point.
fn parts(d: Decimal) -> (bool, u128, u32) {
    let n = d.normalize();
    (n.is_sign_negative(), n.mantissa().unsigned_abs(), n.scale())
}

/// The decimal `digits × 10^-scale` with that sign, if it fits (trailing zeros after the point
/// are dropped first).
fn exact_value(negative: bool, mut digits: u128, mut scale: u32) -> Result<Decimal, Inexact> {
    while scale > 0 && digits.is_multiple_of(10) && digits != 0 {
        digits /= 10;
        scale = scale.saturating_sub(1);
    }
    if digits >= DIGITS_LIMIT || scale > 28 {
        return Err(Inexact::TooManyDigits);
    }
    let signed = i128::try_from(digits).map_err(|_| Inexact::TooManyDigits)?;
    let mut value = Decimal::try_from_i128_with_scale(signed, scale).map_err(|_| Inexact::TooManyDigits)?;
    value.set_sign_negative(negative && !value.is_zero());
    Ok(value)
}

/// `computed` (rust_decimal's result, which keeps the operands' scale) when it is the exact
/// value, else the exact value itself: rust_decimal rounds where the exact value does not fit.
fn prefer(computed: Option<Decimal>, exact: Decimal) -> Decimal {
    computed.filter(|c| *c == exact).unwrap_or(exact)
}

/// How many times `n` (not zero) divides by `p`, at most `limit` times.
fn factors(mut n: u128, p: u128, limit: u32) -> u32 {
    let mut count = 0;
    while count < limit && n.checked_rem(p) == Some(0) {
        n = n.checked_div(p).unwrap_or(n);
        count = count.saturating_add(1);
    }
    count
}

/// `n` with `count` factors of `p` divided out (they must be there).
fn without(mut n: u128, p: u128, count: u32) -> u128 {
    for _ in 0..count {
        n = n.checked_div(p).unwrap_or(n);
    }
    n
}

/// Whether `computed`, rust_decimal's result of an operation whose exact value is
/// `digits × 10^-scale`, is that value as it stands (not rounded) and fits in 28 digits. Then
/// it is what the plain exact operation returns too, so the fast paths return it at once.
#[inline]
fn held_as_computed(computed: Decimal, digits: Option<i128>, scale: u32) -> bool {
    digits.is_some_and(|d| computed.mantissa() == d && computed.scale() == scale && d.unsigned_abs() < DIGITS_LIMIT)
}

/// `x × y`, exactly, or why it cannot be held.
#[inline]
pub(crate) fn exact_mul(x: Decimal, y: Decimal) -> Result<Decimal, Inexact> {
    let computed = x.checked_mul(y);
    // Fast path: the operands' digits multiply in i128 to rust_decimal's unrounded product.
    if let Some(c) = computed {
        if held_as_computed(c, x.mantissa().checked_mul(y.mantissa()), x.scale().saturating_add(y.scale())) {
            return Ok(c);
        }
    }
    exact_mul_plain(x, y, computed)
}

/// [`exact_mul`] without its fast path (`computed` is rust_decimal's product).
#[inline(never)]
fn exact_mul_plain(x: Decimal, y: Decimal, computed: Option<Decimal>) -> Result<Decimal, Inexact> {
    let ((xn, a, sa), (yn, b, sb)) = (parts(x), parts(y));
    if a == 0 || b == 0 {
        return Ok(computed.unwrap_or(Decimal::ZERO));
    }
    // The product's factors of ten (2 × 5 pairs) are divided out of the operands first, as far
    // as the scale allows, so that a product whose significant digits fit also fits in 128 bits.
    let scale = sa.saturating_add(sb);
    let tens = (factors(a, 2, scale).saturating_add(factors(b, 2, scale)))
        .min(factors(a, 5, scale).saturating_add(factors(b, 5, scale)))
        .min(scale);
    let (a2, a5) = (factors(a, 2, tens), factors(a, 5, tens));
    let a = without(without(a, 2, a2), 5, a5);
    let b = without(without(b, 2, tens.saturating_sub(a2)), 5, tens.saturating_sub(a5));
    let digits = a.checked_mul(b).ok_or(Inexact::TooManyDigits)?;
    let exact = exact_value(xn != yn, digits, scale.saturating_sub(tens))?;
    Ok(prefer(computed, exact))
}

/// `x + y`, exactly, or why it cannot be held.
#[inline]
pub(crate) fn exact_add(x: Decimal, y: Decimal) -> Result<Decimal, Inexact> {
    let computed = x.checked_add(y);
    // Fast path: the operands' digits at the finer scale add in i128 to rust_decimal's
    // unrounded sum (amounts of one currency mostly share a scale).
    if let Some(c) = computed {
        let scale = x.scale().max(y.scale());
        let at_scale = |d: Decimal| 10i128.checked_pow(scale.saturating_sub(d.scale()))?.checked_mul(d.mantissa());
        let sum = at_scale(x).and_then(|a| a.checked_add(at_scale(y)?));
        if held_as_computed(c, sum, scale) {
            return Ok(c);
        }
    }
    exact_add_plain(x, y, computed)
}

/// [`exact_add`] without its fast path (`computed` is rust_decimal's sum).
#[inline(never)]
fn exact_add_plain(x: Decimal, y: Decimal, computed: Option<Decimal>) -> Result<Decimal, Inexact> {
    let ((xn, a, sa), (yn, b, sb)) = (parts(x), parts(y));
    let scale = sa.max(sb);
    // Both at the finer scale. If that overflows 127 bits, the coarser operand has at least ten
    // digits more before the point than the finer one holds after it, so the sum needs more
    // than 28 digits.
    let align = |digits: u128, s: u32, negative: bool| -> Result<i128, Inexact> {
        let factor = 10i128.checked_pow(scale.saturating_sub(s)).ok_or(Inexact::TooManyDigits)?;
        let digits = i128::try_from(digits).map_err(|_| Inexact::TooManyDigits)?;
        let aligned = digits.checked_mul(factor).ok_or(Inexact::TooManyDigits)?;
        Ok(if negative { aligned.checked_neg().ok_or(Inexact::TooManyDigits)? } else { aligned })
    };
    let sum = align(a, sa, xn)?.checked_add(align(b, sb, yn)?).ok_or(Inexact::TooManyDigits)?;
    let exact = exact_value(sum < 0, sum.unsigned_abs(), scale)?;
    Ok(prefer(computed, exact))
}

/// `x - y`, exactly, or why it cannot be held.
pub(crate) fn exact_sub(x: Decimal, mut y: Decimal) -> Result<Decimal, Inexact> {
    y.set_sign_negative(!y.is_sign_negative());
    exact_add(x, y)
}

/// `x / y` when the quotient has an exact decimal value within 28 digits (`7 / 2 = 3.5`),
/// else why not (`100 / 3`): a quotient is never rounded.
pub(crate) fn exact_div(x: Decimal, y: Decimal) -> Result<Decimal, Inexact> {
    if y.is_zero() {
        return Err(Inexact::DivisionByZero);
    }
    // rust_decimal rounds a quotient to what it holds; it is exact when multiplying back
    // gives `x` exactly.
    let quotient = x.checked_div(y).ok_or(Inexact::TooManyDigits)?;
    // A quotient's digits below 10^28 fit however many of them are trailing zeros.
    let held = |q: Decimal| q.mantissa().unsigned_abs() < DIGITS_LIMIT || fits(q);
    match exact_mul(quotient, y) {
        Ok(back) if back == x && held(quotient) => Ok(quotient),
        _ => Err(Inexact::NotExact),
    }
}

/// A decimal written as `Decimal`'s `Display` writes it (every digit of its scale), without
/// the formatting machinery: decisions write many of them.
pub(crate) fn decimal_text(d: Decimal) -> String {
    let digits = d.mantissa().unsigned_abs().to_string();
    let scale = d.scale() as usize;
    let mut text = String::with_capacity(digits.len().saturating_add(scale).saturating_add(6));
    if d.is_sign_negative() {
        text.push('-');
    }
    match digits.len().checked_sub(scale) {
        Some(0) | None => {
            text.push_str("0.");
            text.extend(std::iter::repeat_n('0', scale.saturating_sub(digits.len())));
            text.push_str(&digits);
        }
        Some(whole) => match (digits.get(..whole), digits.get(whole..)) {
            (Some(integer), Some(fraction)) if scale > 0 => {
                text.push_str(integer);
                text.push('.');
                text.push_str(fraction);
            }
            _ => text.push_str(&digits),
        },
    }
    text
}

/// A date as `YYYY-MM-DD`, as `NaiveDate`'s `Display` writes years 0 to 9999.
pub(crate) fn date_text(d: NaiveDate) -> String {
    let mut text = *b"0000-00-00";
    if !write_date(d, &mut text) {
        return d.to_string();
    }
    std::str::from_utf8(&text).map_or_else(|_| d.to_string(), String::from)
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

/// A value serialised as [`Value::serialize_json`] writes it.
struct AsJson<'v>(&'v Value);

impl serde::Serialize for AsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_json(s)
    }
}

/// Names of enum members, for writing values out.
pub(crate) trait EnumNames {
    fn member(&self, id: EnumId, index: u32) -> Option<&SmolStr>;
}

impl Value {
    /// The value as decision JSON: money and decimals as text, so that they stay exact
    /// (what [`Value::serialize_json`] writes, with enum members named).
    pub(crate) fn to_json(&self, enums: &dyn EnumNames) -> serde_json::Value {
        serde_json::to_value(AsJson(&self.naming_enums(enums))).unwrap_or_default()
    }

    /// Writes the value as decision JSON, without building a JSON value first: money and
    /// decimals as text, dates and timestamps as ISO text, sets, lists and records as arrays,
    /// an absent or malformed field as `null` (enum members must already be text).
    pub(crate) fn serialize_json<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Decimal(d) => s.serialize_str(&decimal_text(*d)),
            Value::Money(m) => s.serialize_str(&m.to_text()),
            Value::Text(t) => s.serialize_str(t),
            Value::Date(d) => s.serialize_str(&date_text(*d)),
            Value::DateTime(t) => s.serialize_str(&format_datetime(t)),
            Value::Duration(d) => s.collect_str(d),
            Value::Enum(..) => s.serialize_str("?"),
            Value::Set(items) | Value::List(items) | Value::Record(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(&AsJson(item))?;
                }
                seq.end()
            }
            Value::Missing | Value::Invalid(_) => s.serialize_unit(),
        }
    }

    /// The value with its enum members, however deep, replaced by their names.
    pub(crate) fn naming_enums(&self, enums: &dyn EnumNames) -> Value {
        match self {
            Value::Enum(id, index) => {
                Value::Text(enums.member(*id, *index).cloned().unwrap_or_else(|| SmolStr::new_static("?")))
            }
            Value::Set(items) | Value::List(items) | Value::Record(items) if items.iter().any(Value::has_enum) => {
                let named: Arc<[Value]> = items.iter().map(|v| v.naming_enums(enums)).collect();
                match self {
                    Value::Set(_) => Value::Set(named),
                    Value::Record(_) => Value::Record(named),
                    _ => Value::List(named),
                }
            }
            other => other.clone(),
        }
    }

    fn has_enum(&self) -> bool {
        match self {
            Value::Enum(..) => true,
            Value::Set(items) | Value::List(items) | Value::Record(items) => items.iter().any(Value::has_enum),
            _ => false,
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
    let mut text = [0; DATETIME_LEN];
    match write_datetime(t, &mut text) {
        Some(written) => String::from(written),
        None => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

/// The same as [`format_datetime`], as shared text: a UTC timestamp of whole seconds is held
/// inline, without allocating.
pub(crate) fn datetime_text(t: &DateTime<FixedOffset>) -> SmolStr {
    let mut text = [0; DATETIME_LEN];
    match write_datetime(t, &mut text) {
        Some(written) => SmolStr::new(written),
        None => t.to_rfc3339_opts(SecondsFormat::AutoSi, true).into(),
    }
}

/// The length of `2026-03-01T10:00:00+08:00`, the longest timestamp [`write_datetime`] writes.
const DATETIME_LEN: usize = 25;

/// Writes the common case of a timestamp (whole seconds, years 0 to 9999, an offset in whole
/// minutes) directly into `out`, as every decision writes one, giving the text written; `None`
/// for anything else, which chrono writes. The output matches chrono's (property-tested).
fn write_datetime<'o>(t: &DateTime<FixedOffset>, out: &'o mut [u8; DATETIME_LEN]) -> Option<&'o str> {
    use chrono::Timelike;
    let local = t.naive_local();
    let offset = t.offset().local_minus_utc();
    if local.nanosecond() != 0 || offset % 60 != 0 {
        return None;
    }
    *out = *b"0000-00-00T00:00:00+00:00";
    let (date, time) = out.split_at_mut(10);
    if !write_date(local.date(), date) {
        return None;
    }
    for (at, n) in [(1, local.hour()), (4, local.minute()), (7, local.second())] {
        write_two_digits(time, at, n);
    }
    let len = if offset == 0 {
        if let Some(z) = time.get_mut(9) {
            *z = b'Z';
        }
        20
    } else {
        if offset < 0 {
            if let Some(sign) = time.get_mut(9) {
                *sign = b'-';
            }
        }
        let minutes = offset.unsigned_abs() / 60;
        write_two_digits(time, 10, minutes / 60);
        write_two_digits(time, 13, minutes % 60);
        DATETIME_LEN
    };
    out.get(..len).and_then(|text| std::str::from_utf8(text).ok())
}

/// Writes the digits of a date of years 0 to 9999 over the zeros of `0000-00-00`; `false`
/// for any other year.
fn write_date(d: NaiveDate, out: &mut [u8]) -> bool {
    use chrono::Datelike;
    let Some(year) = u32::try_from(d.year()).ok().filter(|y| *y <= 9999) else { return false };
    write_two_digits(out, 0, year / 100);
    write_two_digits(out, 2, year % 100);
    write_two_digits(out, 5, d.month());
    write_two_digits(out, 8, d.day());
    true
}

/// Writes `n` (below 100) as two digits at `out[at..at + 2]`.
fn write_two_digits(out: &mut [u8], at: usize, n: u32) {
    if let Some([tens, ones]) = out.get_mut(at..at.saturating_add(2)) {
        // Each digit is below ten, so it fits the low bits of '0'.
        *tens = b'0' | ((n / 10) % 10) as u8;
        *ones = b'0' | (n % 10) as u8;
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decimals as policies meet them (amounts of a few places, often of one scale, zeros)
    /// and anywhere in rust_decimal's range.
    fn decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..=4).prop_map(|(m, s)| Decimal::new(m % 100_000_000, s)),
            (-3i64..=3, 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
            (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
                .prop_map(|(lo, mid, hi, negative, s)| Decimal::from_parts(lo, mid, hi, negative, s)),
        ]
    }

    proptest! {
        #[test]
        fn decimal_text_is_display(mantissa in any::<i64>(), wide in any::<bool>(), scale in 0u32..=28) {
            let m = if wide { i128::from(mantissa).wrapping_mul(1_000_000_007) } else { i128::from(mantissa) };
            let d = Decimal::from_i128_with_scale(m, scale);
            prop_assert_eq!(decimal_text(d), d.to_string());
        }

        #[test]
        fn format_datetime_is_chronos_rfc3339(
            seconds in -80_000_000_000i64..260_000_000_000,
            nanos in prop_oneof![Just(0u32), 0u32..2_000_000_000],
            offset in prop_oneof![Just(0i32), -86_399i32..86_400, (-23i32..24).prop_map(|h| h.wrapping_mul(3600)), (-1439i32..1440).prop_map(|m| m.wrapping_mul(60))],
        ) {
            let utc = DateTime::from_timestamp(seconds, nanos % 1_000_000_000).unwrap();
            let t = utc.with_timezone(&FixedOffset::east_opt(offset).unwrap());
            let chrono = t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            prop_assert_eq!(&datetime_text(&t), &chrono);
            prop_assert_eq!(format_datetime(&t), chrono);
        }

        /// The fast paths of `exact_add`, `exact_sub`, `exact_mul` and `exact_div` give what
        /// the plain versions give, to the bit (scale and sign of zero included), errors too.
        #[test]
        fn exact_arithmetic_fast_paths_are_the_plain_versions(x in decimal(), y in decimal()) {
            let bits = |r: Result<Decimal, Inexact>| r.map(|d| d.serialize());
            let plain_add = |x: Decimal, y: Decimal| exact_add_plain(x, y, x.checked_add(y));
            let plain_mul = |x: Decimal, y: Decimal| exact_mul_plain(x, y, x.checked_mul(y));
            let plain_div = |x: Decimal, y: Decimal| -> Result<Decimal, Inexact> {
                if y.is_zero() {
                    return Err(Inexact::DivisionByZero);
                }
                let q = x.checked_div(y).ok_or(Inexact::TooManyDigits)?;
                match plain_mul(q, y) {
                    Ok(back) if back == x && fits(q) => Ok(q),
                    _ => Err(Inexact::NotExact),
                }
            };
            prop_assert_eq!(bits(exact_add(x, y)), bits(plain_add(x, y)), "{} + {}", x, y);
            let mut negated = y;
            negated.set_sign_negative(!y.is_sign_negative());
            prop_assert_eq!(bits(exact_sub(x, y)), bits(plain_add(x, negated)), "{} - {}", x, y);
            prop_assert_eq!(bits(exact_mul(x, y)), bits(plain_mul(x, y)), "{} * {}", x, y);
            prop_assert_eq!(bits(exact_div(x, y)), bits(plain_div(x, y)), "{} / {}", x, y);
        }

        /// Products and sums of operands small enough to compute in i128 are exact when the
        /// exact value fits in 28 significant digits and 28 places, and errors otherwise.
        #[test]
        fn decimal_arithmetic_is_exact_or_an_error(
            mx in any::<i64>(), sx in 0u32..=18, my in any::<i64>(), sy in 0u32..=18, small in any::<bool>(),
        ) {
            let (mx, my) = if small { (mx % 100_000, my % 1_000) } else { (mx, my) };
            let (x, y) = (Decimal::new(mx, sx), Decimal::new(my, sy));
            // The exact value digits × 10^-scale, if Probity holds it.
            let reference = |mut digits: i128, mut scale: u32| {
                while scale > 0 && digits % 10 == 0 {
                    digits /= 10;
                    scale -= 1;
                }
                let held = digits.unsigned_abs() < DIGITS_LIMIT && scale <= 28;
                held.then(|| Decimal::from_i128_with_scale(digits, scale))
            };
            let product = i128::from(mx) * i128::from(my);
            prop_assert_eq!(exact_mul(x, y).ok(), reference(product, sx + sy), "{} * {}", x, y);
            let scale = sx.max(sy);
            let sum = i128::from(mx) * 10i128.pow(scale - sx) + i128::from(my) * 10i128.pow(scale - sy);
            prop_assert_eq!(exact_add(x, y).ok(), reference(sum, scale), "{} + {}", x, y);
            // Where the exact value is held, it is rust_decimal's result, scale and all (so
            // decisions write the same digits as before).
            for (ours, theirs) in [(exact_mul(x, y), x.checked_mul(y)), (exact_add(x, y), x.checked_add(y))] {
                if let Ok(ours) = ours {
                    prop_assert_eq!(Some((ours, ours.scale())), theirs.map(|t| (t, t.scale())));
                }
            }
            if let Ok(sum) = exact_add(x, y) {
                prop_assert_eq!(exact_sub(sum, y), Ok(x));
            }
            // A quotient is exact: multiplied back it gives the dividend.
            match exact_div(x, y) {
                Ok(q) => prop_assert_eq!(exact_mul(q, y), Ok(x)),
                Err(why) => prop_assert!(my == 0 || why == Inexact::NotExact),
            }
            if let (true, Ok(p)) = (my != 0, exact_mul(x, y)) {
                prop_assert_eq!(exact_div(p, y), Ok(x), "{} / {}", p, y);
            }
        }

        #[test]
        fn date_text_is_display(days in -1_000_000i32..4_000_000) {
            let d = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            prop_assert_eq!(date_text(d), d.to_string());
        }
    }

    #[test]
    fn values_as_decision_json() {
        struct Names;
        impl EnumNames for Names {
            fn member(&self, _: EnumId, index: u32) -> Option<&SmolStr> {
                static NAMES: [SmolStr; 2] = [SmolStr::new_static("cash"), SmolStr::new_static("card")];
                NAMES.get(index as usize)
            }
        }
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.25+08:00").unwrap();
        let values = [
            (Value::Bool(true), "true"),
            (Value::Int(-42), "-42"),
            (Value::Decimal("0.10".parse().unwrap()), r#""0.10""#),
            (
                Value::Money(Money { amount: "12".parse().unwrap(), currency: Currency::from_code("CNY") }),
                r#""12.00 CNY""#,
            ),
            (Value::Text("quote \" and 中文".into()), r#""quote \" and 中文""#),
            (Value::Date(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()), r#""2026-02-28""#),
            (Value::DateTime(at), r#""2026-03-01T10:00:00.250+08:00""#),
            (Value::Duration(Duration { months: 0, seconds: 86_400, business_days: 0 }), r#""1 day""#),
            (Value::Enum(0, 1), r#""card""#),
            (Value::Set(Arc::from([Value::Enum(0, 0), Value::Text("x".into())])), r#"["cash","x"]"#),
            (Value::Record(Arc::from([Value::Missing, Value::Int(1), Value::Invalid("bad".into())])), "[null,1,null]"),
            (Value::Missing, "null"),
        ];
        for (v, json) in values {
            assert_eq!(v.to_json(&Names).to_string(), json, "{v:?}");
            let written = serde_json::to_string(&AsJson(&v.naming_enums(&Names))).unwrap();
            assert_eq!(written, json, "{v:?}");
        }
    }

    #[test]
    fn money_shows_minor_units_and_keeps_digits() {
        let cny = Currency::from_code("CNY");
        let jpy = Currency::from_code("JPY");
        let money = |text: &str, currency| Money { amount: text.parse().unwrap(), currency };
        assert_eq!(money("500", cny).to_text(), "500.00 CNY");
        assert_eq!(money("-0.5", cny).to_text(), "-0.50 CNY");
        assert_eq!(money("1.2345", cny).to_text(), "1.2345 CNY");
        assert_eq!(money("1200", jpy).to_text(), "1200 JPY");
        assert_eq!(money("0", None).to_text(), "0");
        assert_eq!(decimal_text(Decimal::new(5, 3)), "0.005");
        assert_eq!(decimal_text(Decimal::new(-5, 1)), "-0.5");
        let mut negative_zero = Decimal::new(0, 2);
        negative_zero.set_sign_negative(true);
        assert_eq!(decimal_text(negative_zero), negative_zero.to_string());
    }
}

/// An instant with its local date in a policy's time zone, computed once per policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: DateTime<FixedOffset>,
    pub(crate) today: NaiveDate,
    pub(crate) timezone: Tz,
}

impl Clock {
    pub(crate) fn new(now: DateTime<FixedOffset>, timezone: Tz) -> Self {
        Clock { now, today: local_date(&now, timezone), timezone }
    }
}

/// The local date of an instant in a time zone.
pub(crate) fn local_date(t: &DateTime<FixedOffset>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}
