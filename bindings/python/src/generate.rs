//! `probity.generate`: the event generator of `probity generate` (the `probity-generate` crate),
//! writing to files with the GIL released.

use std::path::PathBuf;

use crate::errors::{run, to_python};
use crate::Obj;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

/// Writes a seeded stream of actions for `policies/cn` to `out` (and the injected violations
/// to `labels`); returns `{"events", "first", "last", "injected": {kind: count}}`.
#[pyfunction]
#[pyo3(signature = (out, *, rms, days, seed, violation_rate=0.02, start="2026-02-02", labels=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn generate<'py>(
    py: Python<'py>,
    out: PathBuf,
    rms: u32,
    days: u32,
    seed: u64,
    violation_rate: f64,
    start: &str,
    labels: Option<PathBuf>,
) -> PyResult<Obj<'py>> {
    let start = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d")
        .map_err(|e| PyValueError::new_err(format!("`start` `{start}`: {e} (use YYYY-MM-DD)")))?;
    let config = probity_generate::Config { rms, days, seed, violation_rate, start };
    config.validate().map_err(PyValueError::new_err)?;
    let stats = run(py, || probity_generate::run(&config, &out, labels.as_deref()))?.map_err(PyOSError::new_err)?;
    to_python!(py, &stats.to_json())
}
