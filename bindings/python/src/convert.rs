//! Python values to JSON, the only direction done by hand (results go out as the core's own JSON
//! text, decoded by `json.loads`, so `to_dict()` always agrees with `to_json()`).
//!
//! `dict`/`list`/`tuple`/`str`/`bool`/`int`/`None` map as expected; a `float` is a JSON number
//! written as its `repr` (so `0.1` stays `0.1`). Values JSON has no type for (`Decimal`, `datetime`,
//! `date`, integers beyond 64 bits) are made JSON text by `probity/_convert.py`.

use std::str::FromStr;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value as Json};

use crate::errors::{coded, input_error};
use crate::Obj;

/// The deepest nesting accepted in action JSON (as the core's own limit).
pub(crate) const MAX_DEPTH: usize = probity::limits::MAX_JSON_DEPTH;

/// An action from a Python mapping.
pub(crate) fn action(value: &Obj<'_>) -> PyResult<probity::Action> {
    let py = value.py();
    let json = to_json(value, MAX_DEPTH).map_err(|e| input_error(py, e.describe("action")))?;
    probity::Action::from_value(json).map_err(|e| coded(py, e))
}

/// A history from a Python mapping (`None`: an empty history), read by the core's own reader
/// (as `api::history` reads one), for its wording and limits.
pub(crate) fn history(value: Option<&Obj<'_>>) -> PyResult<probity::History> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(probity::History::new()) };
    let py = value.py();
    // Two more levels than an action: the history object and its `actions` list.
    let json = to_json(value, MAX_DEPTH.saturating_add(2)).map_err(|e| input_error(py, e.describe("history")))?;
    probity::History::from_json(&json.to_string()).map_err(|e| coded(py, e))
}

/// A timestamp from an aware `datetime` or RFC 3339 text, read by the core's own parser.
pub(crate) fn timestamp(value: &Obj<'_>, name: &str) -> PyResult<chrono::DateTime<chrono::FixedOffset>> {
    let py = value.py();
    let text: String = TIMESTAMP.import(py, "probity._convert", "timestamp")?.call1((value, name))?.extract()?;
    probity::parse_timestamp_field(&text, name).map_err(|e| coded(py, e))
}

/// Why a Python value could not be converted, and where (keys and indices from the root).
#[derive(Debug)]
pub(crate) struct ConvertError {
    path: String,
    message: String,
}

impl ConvertError {
    /// The message, after the path of the offending value (`what` names the root).
    pub(crate) fn describe(&self, what: &str) -> String {
        format!("`{what}{}`: {}", self.path, self.message)
    }
}

/// A Python error raised while converting (by `probity/_convert.py`, `repr`, …): its message.
impl From<PyErr> for ConvertError {
    fn from(e: PyErr) -> Self {
        ConvertError { path: String::new(), message: Python::attach(|py| e.value(py).to_string()) }
    }
}

static SPECIAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TIMESTAMP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Converts a Python value to JSON, allowing `depth` levels of nesting (the value itself
/// counts as one, as in the core's limit).
pub(crate) fn to_json(obj: &Obj<'_>, depth: usize) -> Result<Json, ConvertError> {
    let error = |message: String| Err(ConvertError { path: String::new(), message });
    let Some(below) = depth.checked_sub(1) else {
        return error("nests too deeply (arrays and objects are limited to 64 levels)".into());
    };
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
                return error(format!(
                    "object keys must be text, found a key of type `{}`",
                    key.get_type().qualname()?
                ));
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
            _ => special(obj),
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        let value = f.value();
        if !value.is_finite() {
            return error(format!("`{value}` is not a finite number"));
        }
        // A plain float's repr, even for subclasses whose own repr differs.
        number(&PyFloat::new(obj.py(), value).repr()?.to_cow()?)
    } else {
        special(obj)
    }
}

/// A value JSON has no type for, made JSON text by `probity._convert.special`.
fn special(obj: &Obj<'_>) -> Result<Json, ConvertError> {
    match SPECIAL.import(obj.py(), "probity._convert", "special")?.call1((obj,))?.extract::<(bool, String)>()? {
        (true, digits) => number(&digits),
        (false, text) => Ok(Json::String(text)),
    }
}

fn number(text: &str) -> Result<Json, ConvertError> {
    let message = || format!("`{text}` is not a JSON number");
    Number::from_str(text).map(Json::Number).map_err(|_| ConvertError { path: String::new(), message: message() })
}
