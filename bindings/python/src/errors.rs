//! Error mapping: core errors become the exception classes of the pure-Python layer
//! (`probity.PolicyError`, `probity.InputError`); a panic becomes a `probity.InternalError`
//! (a `ProbityError`, and a `RuntimeError` as it used to be).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

/// A serde value as Python objects, through the core's own JSON text and `json.loads`, so
/// that what Python sees is exactly what the JSON contract says (field order included).
/// (A macro, not a function: this crate does not depend on `serde` to name its trait.)
macro_rules! to_python {
    ($py:expr, $value:expr) => {
        serde_json::to_string($value)
            .map_err($crate::errors::internal)
            .and_then(|text| $crate::errors::json_loads($py, &text))
    };
}
pub(crate) use to_python;

static POLICY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INPUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INTERNAL_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Instantiates an exception class of the `probity` package with `args`.
fn raise<'py, A>(py: Python<'py>, cell: &PyOnceLock<Py<PyType>>, name: &str, args: A) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let made = cell.import(py, "probity", name).and_then(|ty| ty.call1(args));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// `probity.InputError(message)`.
pub(crate) fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, &INPUT_ERROR, "InputError", (message.into(),))
}

/// `probity.PolicyError(message, diagnostics)`: every diagnostic as a record, and a readable
/// message with the source excerpts.
pub(crate) fn policy_error(py: Python<'_>, diagnostics: &probity::Diagnostics) -> PyErr {
    // The records and the rendering run the core's diagnostic code with the GIL held: a panic
    // there is caught here too, not left to surface as pyo3's `PanicException`.
    let made = catch_unwind(AssertUnwindSafe(|| {
        let summary = diagnostics.to_string();
        let headline = summary.lines().next().unwrap_or("policy text has errors").to_owned();
        (diagnostics.records(), format!("{headline}\n\n{}", diagnostics.render().trim_end()))
    }));
    let (records, message) = match made {
        Ok(made) => made,
        Err(payload) => return internal(panic_message(payload.as_ref())),
    };
    let records = match to_python!(py, &records) {
        Ok(records) => records,
        Err(e) => return e,
    };
    raise(py, &POLICY_ERROR, "PolicyError", (message, records))
}

/// A policy directory that did not load: its text (`PolicyError`) or the file system (`OSError`).
pub(crate) fn load_error(py: Python<'_>, error: probity::LoadError) -> PyErr {
    match error {
        probity::LoadError::Policy(diagnostics) => policy_error(py, &diagnostics),
        io @ probity::LoadError::Io { .. } => PyOSError::new_err(io.to_string()),
        other => raise(py, &POLICY_ERROR, "PolicyError", (other.to_string(), PyList::empty(py))),
    }
}

/// A failure of the engine itself (a panic caught at the boundary, or output that would not
/// serialise): never the caller's fault.
pub(crate) fn internal(message: impl std::fmt::Display) -> PyErr {
    let message = format!("internal error in probity (please report it): {message}");
    Python::attach(|py| raise(py, &INTERNAL_ERROR, "InternalError", (message,)))
}

/// Runs `f` with the GIL released, catching a panic as a last line of defence.
pub(crate) fn run<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    py.detach(|| catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))).map_err(internal)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// `json.loads(text)`.
pub(crate) fn json_loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    JSON_LOADS.import(py, "json", "loads")?.call1((text,))
}
