//! Python values to JSON, the only direction done by hand (results go out as the core's own JSON
//! text, decoded by `json.loads`, so `to_dict()` always agrees with `to_json()`).
//!
//! `dict`/`list`/`tuple`/`str`/`bool`/`int`/`None` map as expected; a `float` is a JSON number
//! written as its `repr` (so `0.1` stays `0.1`); a `decimal.Decimal` is its plain-notation string
//! (strings keep exactness); an aware `datetime` is RFC 3339 text and a `date` `YYYY-MM-DD`.

use std::str::FromStr;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple, PyType};
use serde_json::{Map, Number, Value as Json};

/// Why a Python value could not be converted, and where (keys and indices from the root).
#[derive(Debug)]
pub(crate) struct ConvertError {
    path: String,
    message: String,
}

impl ConvertError {
    fn new(message: impl Into<String>) -> Self {
        ConvertError { path: String::new(), message: message.into() }
    }

    /// The message, after the path of the offending value (`what` names the root).
    pub(crate) fn describe(&self, what: &str) -> String {
        format!("`{what}{}`: {}", self.path, self.message)
    }
}

/// A Python error raised while converting (from `utcoffset()`, `repr`, …) is kept as text.
impl From<PyErr> for ConvertError {
    fn from(e: PyErr) -> Self {
        ConvertError::new(e.to_string())
    }
}

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Converts a Python value to JSON, allowing `depth` levels of nesting (the value itself
/// counts as one, as in the core's limit).
pub(crate) fn to_json(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Json, ConvertError> {
    let Some(below) = depth.checked_sub(1) else {
        return Err(ConvertError::new("nests too deeply (arrays and objects are limited to 64 levels)"));
    };
    let py = obj.py();
    // The path of a value inside this one, as the error travels outwards.
    let at = |segment: String| move |e: ConvertError| ConvertError { path: segment + &e.path, message: e.message };
    if obj.is_none() {
        Ok(Json::Null)
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Json::String(s.to_cow()?.into_owned()))
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                let found = type_name(&key);
                return Err(ConvertError::new(format!("object keys must be text, found a key of type `{found}`")));
            };
            let key = key.to_cow()?.into_owned();
            let value = to_json(&value, below).map_err(at(format!(".{key}")))?;
            map.insert(key, value);
        }
        Ok(Json::Object(map))
    } else if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let items = obj.try_iter()?.enumerate();
        items
            .map(|(i, item)| to_json(&item?, below).map_err(at(format!("[{i}]"))))
            .collect::<Result<_, _>>()
            .map(Json::Array)
    } else if let Ok(b) = obj.cast::<PyBool>() {
        // `bool` is a subclass of `int`: tested first.
        Ok(Json::Bool(b.is_true()))
    } else if obj.cast::<PyInt>().is_ok() {
        match (obj.extract::<i64>(), obj.extract::<u64>()) {
            (Ok(i), _) => Ok(Json::Number(i.into())),
            (_, Ok(u)) => Ok(Json::Number(u.into())),
            _ => big_int(obj),
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        let value = f.value();
        if !value.is_finite() {
            return Err(ConvertError::new(format!("`{value}` is not a finite number")));
        }
        // A plain float's repr, even for subclasses whose own repr differs.
        number(&PyFloat::new(py, value).repr()?.to_cow()?)
    } else if is_datetime(obj)? {
        datetime(obj).map(Json::String)
    } else if obj.is_instance(DATE.import(py, "datetime", "date")?)? {
        Ok(Json::String(obj.call_method0("isoformat")?.extract::<String>()?))
    } else if obj.is_instance(DECIMAL.import(py, "decimal", "Decimal")?)? {
        decimal(obj).map(Json::String)
    } else {
        let set = obj.cast::<PySet>().is_ok() || obj.cast::<PyFrozenSet>().is_ok();
        let hint = if set { "; a set has no order, pass a sorted list instead" } else { "" };
        Err(ConvertError::new(format!("cannot convert a value of type `{}` to JSON{hint}", type_name(obj))))
    }
}

/// The most bits an integer beyond 64 bits may have to be passed on as its digits: 2,048 bits is
/// at most 617 digits, below the lowest limit CPython lets `sys.set_int_max_str_digits` set (640),
/// so `str()` never raises CPython's own limit error here.
const MAX_INT_BITS: u64 = 2048;

/// An integer beyond 64 bits: its digits while they are few (the core reports the range error
/// for the field that reads it); a longer one is out of every range the engine has and is
/// refused without writing its digits (which CPython may refuse, and does in quadratic time).
fn big_int(obj: &Bound<'_, PyAny>) -> Result<Json, ConvertError> {
    let bits: u64 = obj.call_method0("bit_length")?.extract()?;
    if let Some(digits) = (bits <= MAX_INT_BITS).then(|| obj.str().ok()).flatten() {
        return number(&digits.to_cow()?);
    }
    // log10(2) is 0.30103.
    let digits = bits.saturating_mul(30_103).checked_div(100_000).unwrap_or(0).saturating_add(1);
    Err(ConvertError::new(format!(
        "an integer of about {digits} digits is out of range: whole numbers hold 64 bits and decimals 28 significant digits"
    )))
}

fn number(text: &str) -> Result<Json, ConvertError> {
    Number::from_str(text).map(Json::Number).map_err(|_| ConvertError::new(format!("`{text}` is not a JSON number")))
}

/// Whether `obj` is a `datetime.datetime`.
pub(crate) fn is_datetime(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    obj.is_instance(DATETIME.import(obj.py(), "datetime", "datetime")?)
}

/// An aware `datetime` as RFC 3339 (`isoformat`, which is RFC 3339 whenever the offset is a
/// whole number of minutes).
pub(crate) fn datetime(obj: &Bound<'_, PyAny>) -> Result<String, ConvertError> {
    let offset = obj.call_method0("utcoffset")?;
    if offset.is_none() {
        return Err(ConvertError::new(
            "a datetime without a time zone (naive) is ambiguous; attach one, such as `tzinfo=datetime.timezone.utc` \
             or a `zoneinfo.ZoneInfo`",
        ));
    }
    let seconds: i64 = offset.getattr("seconds")?.extract()?;
    let micros: i64 = offset.getattr("microseconds")?.extract()?;
    if seconds.checked_rem(60) != Some(0) || micros != 0 {
        return Err(ConvertError::new(format!(
            "the UTC offset `{}` is not a whole number of minutes, which RFC 3339 cannot write",
            offset.str()?.to_cow()?
        )));
    }
    Ok(obj.call_method0("isoformat")?.extract::<String>()?)
}

/// A finite `Decimal` as a decimal numeral: `Decimal("1E-7")` prints with an exponent, and is
/// written out in full when that stays short (a longer numeral is beyond the engine's 28
/// digits anyway, and the core says so).
fn decimal(obj: &Bound<'_, PyAny>) -> Result<String, ConvertError> {
    let text = obj.str()?.to_cow()?.into_owned();
    if !obj.call_method0("is_finite")?.is_truthy()? {
        return Err(ConvertError::new(format!("`{text}` is not a finite number")));
    }
    let adjusted: i64 = obj.call_method0("adjusted")?.extract()?;
    if !text.contains(['E', 'e']) || !(-64..=64).contains(&adjusted) {
        return Ok(text);
    }
    Ok(obj.py().import("builtins")?.getattr("format")?.call1((obj, "f"))?.extract::<String>()?)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().qualname().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_owned())
}
