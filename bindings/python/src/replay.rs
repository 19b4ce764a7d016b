//! Batch replay: the core's `probity::replay::output` (with the GIL released) reads the events
//! and puts the records where they are wanted; this module converts Python events to JSON lines
//! and hands the records over as `bytes`, from which `probity/_replay.py` builds the tables.

use std::path::PathBuf;

use probity::replay::output::{self, Events, EventsFailure, Gathered, Hooks};
use probity::replay::table::{self, Frozen, Kind, Output};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::errors::{input_error, internal, json_loads, run, state_error, to_python};
use crate::Obj;

/// The events as JSON lines: a file, read as the replay goes, or a Python `bytes` or `str`
/// (the JSON lines of rows, or of a table library's writing).
pub(crate) enum Input {
    File(PathBuf),
    Bytes(PyBackedBytes),
    Text(PyBackedStr),
}

impl Input {
    /// `source` is `"path"` (a file name), `"data"` (JSON lines as `bytes`, `bytearray` or `str`)
    /// or `"rows"` (an iterable of dicts or JSON texts).
    pub(crate) fn new(source: &str, payload: &Obj<'_>) -> PyResult<Input> {
        Ok(match source {
            "path" => Input::File(payload.extract()?),
            "data" => match payload.cast::<PyString>() {
                Ok(text) => Input::Text(text.to_owned().try_into()?),
                Err(_) => Input::Bytes(payload.extract()?),
            },
            "rows" => Input::Bytes(PyBytes::new(payload.py(), &rows_to_lines(payload)?).into()),
            other => return Err(PyValueError::new_err(format!("unknown event source `{other}`"))),
        })
    }
}

/// Replays `input`: the records as JSON lines (`bytes`, or `None` when they went to the file
/// `out`) or as `_Records`, and the summary; with `report`, the HTML report goes to that file.
pub(crate) fn replay<'py>(
    py: Python<'py>,
    engine: &probity::Engine,
    input: Input,
    options: &probity::replay::Options,
    output: Output,
    (out, report, state): (Option<PathBuf>, Option<PathBuf>, Option<String>),
) -> PyResult<(Obj<'py>, crate::Dict<'py>)> {
    let events = match &input {
        Input::File(path) => Events::File(path),
        Input::Bytes(bytes) => Events::Memory(bytes),
        Input::Text(text) => Events::Memory(text.as_bytes()),
    };
    let mut collector = report.as_ref().map(|_| probity_report::Collector::new(Some(engine)));
    let (gathered, summary) = run(py, || {
        // The replay runs without the GIL; Python's signal handlers run only when it is taken,
        // so a Ctrl-C would otherwise wait for the end of the replay.
        let mut store = state.as_deref().map(probity_store::open).transpose().map_err(|e| state_error(&e))?;
        let mut signal = None;
        let mut interrupted = || Python::attach(|py| py.check_signals()).map_err(|e| signal = Some(e)).is_err();
        let hooks =
            Hooks { progress: None, interrupted: Some(&mut interrupted), state: store.as_mut().map(|s| &mut **s as _) };
        let ran = output::replay_events(engine, events, options, (output, out.as_deref()), collector.as_mut(), hooks);
        ran.map_err(|e| match e {
            EventsFailure::Refused(message) => PyValueError::new_err(format!("`out` {message}")),
            EventsFailure::File(message) => PyOSError::new_err(message),
            EventsFailure::Interrupted => signal.take().unwrap_or_else(|| internal("interrupted")),
            EventsFailure::State(e) => state_error(&e),
            EventsFailure::Internal(message) => internal(message),
        })
    })??;
    if let (Some(path), Some(collector)) = (&report, &collector) {
        let events =
            if let Events::File(path) = events { path.display().to_string() } else { "(events in memory)".into() };
        let meta = probity_report::Meta::loaded(engine, events, options.as_of);
        collector.write(path, &meta, Some(&summary)).map_err(PyOSError::new_err)?;
    }
    drop(input);
    // The summary's JSON form, and the table `probity replay` prints.
    let dict = to_python!(py, &summary)?.cast_into::<PyDict>()?;
    dict.set_item("table", summary.table())?;
    let records = match gathered {
        Gathered::Lines(lines) => PyBytes::new(py, &lines).into_any(),
        Gathered::Chunks(chunks) => Bound::new(py, Records { schema: output.schema(), chunks })?.into_any(),
        Gathered::Written => py.None().into_bound(py),
    };
    Ok((records, dict))
}

/// Converts Python rows (dicts, or JSON text) to JSON lines, one line per row, so that line
/// numbers are row numbers.
fn rows_to_lines(rows: &Obj<'_>) -> PyResult<Vec<u8>> {
    let py = rows.py();
    let mut out = Vec::new();
    for (i, row) in rows.try_iter()?.enumerate() {
        let row = row?;
        if let Ok(text) = row.cast::<PyString>() {
            probity::api::push_json_line(&mut out, text.to_cow()?.as_bytes());
        } else if let Ok(bytes) = row.cast::<PyBytes>() {
            probity::api::push_json_line(&mut out, bytes.as_bytes());
        } else {
            let json = crate::convert::to_json(&row, crate::convert::MAX_DEPTH)
                .map_err(|e| input_error(py, e.describe(&format!("events[{i}]"))))?;
            probity::api::push_json_line(&mut out, json.to_string().as_bytes());
        }
    }
    Ok(out)
}

/// The records of a replay as columns (internal: `probity/_replay.py` makes the table).
#[pyclass(module = "probity._probity", name = "_Records", frozen)]
pub(crate) struct Records {
    schema: &'static [(&'static str, Kind)],
    chunks: Vec<Frozen>,
}

/// A column's Arrow buffers: `(rows, null_count, validity, offsets, data)`.
type Arrow<'py> = (usize, usize, Option<Bound<'py, PyBytes>>, Option<Bound<'py, PyBytes>>, Bound<'py, PyBytes>);

#[pymethods]
impl Records {
    fn __len__(&self) -> usize {
        self.chunks.iter().map(|c| c.rows).sum()
    }

    /// `(name, "str" or "int")` per column, in order.
    #[getter]
    fn schema(&self) -> Vec<(&'static str, &'static str)> {
        self.schema.iter().map(|(name, kind)| (*name, if *kind == Kind::Int { "int" } else { "str" })).collect()
    }

    /// Per chunk, per column, Arrow buffers: `(rows, null_count, validity or None, offsets, data)`
    /// for a `large_string` column, `(rows, 0, None, None, data)` for an `int64` one.
    fn arrow<'py>(&self, py: Python<'py>) -> Vec<Vec<Arrow<'py>>> {
        let bytes = |b: &[u8]| PyBytes::new(py, b);
        let column = |rows, b: &table::Buffers| {
            (rows, b.nulls, b.validity.as_deref().map(bytes), b.offsets.as_deref().map(bytes), bytes(&b.data))
        };
        self.chunks.iter().map(|chunk| chunk.columns.iter().map(|b| column(chunk.rows, b)).collect()).collect()
    }

    /// `{name: [values]}` by columns, else `[{name: value}]`.
    fn json<'py>(&self, py: Python<'py>, by_columns: bool) -> PyResult<Obj<'py>> {
        json_loads(py, PyBytes::new(py, &table::to_json(self.schema, &self.chunks, by_columns)))
    }
}
