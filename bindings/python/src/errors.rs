//! Error mapping: core errors become the exception classes of the pure-Python layer
//! (`probity.PolicyError`, `probity.InputError`); a panic becomes a `probity.InternalError`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::Obj;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

/// A serde value as Python objects, through the core's own JSON text and `json.loads`: exactly
/// what the JSON contract says. (A macro: this crate does not depend on `serde` for its trait.)
macro_rules! to_python {
    ($py:expr, $value:expr) => {
        serde_json::to_string($value)
            .map_err($crate::errors::internal)
            .and_then(|text| $crate::errors::json_loads($py, &text))
    };
}
pub(crate) use to_python;

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `json.loads(text)` (of `str` or UTF-8 `bytes`).
pub(crate) fn json_loads<'py, T: pyo3::IntoPyObject<'py>>(py: Python<'py>, text: T) -> PyResult<Obj<'py>> {
    JSON_LOADS.import(py, "json", "loads")?.call1((text,))
}

/// An instance of the exception class `name` of the `probity` package.
fn raise<'py>(py: Python<'py>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    match py.import("probity").and_then(|m| m.getattr(name)).and_then(|class| class.call1(args)) {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// `probity.InputError(message)`, for a value the binding itself cannot convert.
pub(crate) fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InputError", (message.into(),))
}

/// The exception of the core's error (not a policy error): its kind's class, with its message,
/// stable code and the field at fault (`probity.InputError(message, "I0012", "id")`).
pub(crate) fn coded(py: Python<'_>, e: impl Into<probity::api::Error>) -> PyErr {
    let e = e.into();
    raise(py, e.kind.as_str(), (e.message, e.code, e.field))
}

/// `probity.StateError(message, code, None, hint)` for a failure of a state's store (`S0001`…).
pub(crate) fn state_error(e: &probity::store::StoreError) -> PyErr {
    Python::attach(|py| raise(py, "StateError", (e.to_string(), e.code(), None::<String>, e.hint())))
}

/// `probity.PolicyError(message, diagnostics)`: the message with source excerpts, and records.
pub(crate) fn policy_error(py: Python<'_>, diagnostics: &probity::Diagnostics) -> PyErr {
    // The records and the rendering run the core's diagnostic code with the GIL held: a panic
    // there is caught here too, not left to surface as pyo3's `PanicException`.
    let made = catch_unwind(AssertUnwindSafe(|| probity::api::Error::rendered(diagnostics)));
    match made.map_err(|payload| internal(probity::api::Error::panic_message(payload))) {
        Ok(e) => to_python!(py, &e.diagnostics).map_or_else(|e| e, |r| raise(py, "PolicyError", (e.message, r))),
        Err(e) => e,
    }
}

/// A policy directory that did not load: its text (`PolicyError`) or the file system (`OSError`).
pub(crate) fn load_error(py: Python<'_>, error: probity::LoadError) -> PyErr {
    match error {
        probity::LoadError::Policy(diagnostics) => policy_error(py, &diagnostics),
        io @ probity::LoadError::Io { .. } => PyOSError::new_err(io.to_string()),
        other => raise(py, "PolicyError", (other.to_string(), PyList::empty(py))),
    }
}

/// A bundle that does not verify or load: `PolicyError` (`OSError` when a file cannot be read),
/// its message with the stable code (B0001…) and the hint, as the CLI prints them.
pub(crate) fn bundle_error(py: Python<'_>, e: &probity_audit::bundle::BundleError) -> PyErr {
    let message = format!("[{}] {e}\nhint: {}", e.code(), e.hint());
    match e {
        probity_audit::bundle::BundleError::Io { .. } => PyOSError::new_err(message),
        _ => raise(py, "PolicyError", (message, PyList::empty(py))),
    }
}

/// A failure of the engine itself (a caught panic): never the caller's fault.
pub(crate) fn internal(message: impl std::fmt::Display) -> PyErr {
    let message = format!("internal error in probity (please report it): {message}");
    Python::attach(|py| raise(py, "InternalError", (message,)))
}

/// Runs `f` with the GIL released, catching a panic as a last line of defence.
pub(crate) fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)).map_err(probity::api::Error::panic_message)).map_err(internal)
}
