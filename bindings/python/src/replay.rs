//! Batch replay: the core's `probity::replay::output::run` (with the GIL released) reads the
//! events and puts the records where they are wanted; this module only converts Python events
//! to JSON lines and copies the chunks of columns into Python `bytes` (Arrow's layout), from
//! which `probity/_replay.py` builds a list of dicts or a pandas, pyarrow or polars table.

use std::path::PathBuf;

use probity::replay::output::{self, Failure, Gathered, Hooks, OutputFile, Sink};
use probity::replay::table::{self, Chunk, Column, Kind, Output};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::errors::{input_error, internal, run, to_python};

/// The events as JSON lines, wherever they are held.
pub(crate) enum Input {
    /// A file, read as the replay goes.
    File(PathBuf),
    /// A Python `bytes` (or a copy of a `bytearray`).
    Bytes(PyBackedBytes),
    /// A Python `str`, as UTF-8.
    Text(PyBackedStr),
    /// Converted from Python rows.
    Owned(Vec<u8>),
}

impl Input {
    /// `source` is `"path"` (a file name), `"data"` (JSON lines as `bytes`, `bytearray` or `str`)
    /// or `"rows"` (an iterable of dicts or JSON texts).
    pub(crate) fn new(source: &str, payload: &Bound<'_, PyAny>) -> PyResult<Input> {
        Ok(match source {
            "path" => Input::File(payload.extract()?),
            "data" => match payload.cast::<PyString>() {
                Ok(text) => Input::Text(text.to_owned().try_into()?),
                Err(_) => Input::Bytes(payload.extract()?),
            },
            "rows" => Input::Owned(rows_to_lines(payload)?),
            other => return Err(PyValueError::new_err(format!("unknown event source `{other}`"))),
        })
    }

    /// The events held in memory (none for a file).
    fn bytes(&self) -> &[u8] {
        match self {
            Input::File(_) => &[],
            Input::Bytes(b) => b,
            Input::Text(s) => s.as_bytes(),
            Input::Owned(v) => v,
        }
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
    (out, report): (Option<PathBuf>, Option<PathBuf>),
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let events = match &input {
        Input::File(path) => Some(path.as_path()),
        _ => None,
    };
    if let (Some(events), Some(path)) = (events, &out) {
        if probity::replay::same_file(events, path) {
            let message = format!("`out` `{}` is the events file: refusing to overwrite it", path.display());
            return Err(PyValueError::new_err(message));
        }
    }
    let cannot =
        |verb: &str, path: &std::path::Path, e| PyOSError::new_err(format!("cannot {verb} `{}`: {e}", path.display()));
    let mut collector = report.as_ref().map(|_| probity_report::Collector::new(Some(engine)));
    let (gathered, summary) = run(py, || {
        // The output is started once the input is open: a bad input leaves an existing file as it was.
        let file = events.map(|p| output::open_events(p).map_err(|e| cannot("read", p, e))).transpose()?;
        let sink = match (&out, output) {
            (Some(path), _) => Sink::File(OutputFile::create(path).map_err(|e| cannot("write", path, e))?),
            (None, Output::JsonLines) => {
                // The JSON lines are about as long as the events: room for them up front.
                let size = file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len());
                let room = size.map_or(input.bytes().len(), |n| usize::try_from(n).unwrap_or(0));
                Sink::Memory(Vec::with_capacity(room.saturating_add(room / 4)))
            }
            (None, _) => Sink::Table(output, Box::new(freeze)),
        };
        // The replay runs without the GIL; Python's signal handlers run only when it is taken,
        // so a Ctrl-C would otherwise wait for the end of the replay.
        let mut signal = None;
        let mut interrupted = || Python::attach(|py| py.check_signals()).map_err(|e| signal = Some(e)).is_err();
        let hooks = Hooks { progress: None, interrupted: Some(&mut interrupted) };
        let ran = match file {
            Some(file) => {
                let file = std::io::BufReader::with_capacity(1 << 20, file);
                output::run(engine, file, options, sink, collector.as_mut(), hooks)
            }
            None => output::run(engine, input.bytes(), options, sink, collector.as_mut(), hooks),
        };
        ran.map_err(|e| match (e, events, &out) {
            (Failure::Interrupted, _, _) => signal.take().unwrap_or_else(|| internal("interrupted")),
            (Failure::Read(e), Some(path), _) => cannot("read", path, e),
            (Failure::Write(e), _, Some(path)) => cannot("write", path, e),
            (Failure::Read(e) | Failure::Write(e) | Failure::Internal(e), _, _) => internal(e),
        })
    })??;
    if let (Some(path), Some(collector)) = (&report, &collector) {
        // The engine keeps no directory: the report names the policy versions loaded.
        let policies: Vec<String> = engine.policy_set().versions().map(|(id, v)| format!("{id} {v}")).collect();
        let meta = probity_report::Meta {
            policies: policies.join(", "),
            events: events.map_or_else(|| "(events in memory)".to_string(), |p| p.display().to_string()),
            as_of: options.as_of.map(|t| t.to_rfc3339()),
        };
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
fn rows_to_lines(rows: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = rows.py();
    let mut out = Vec::new();
    for (i, row) in rows.try_iter()?.enumerate() {
        let row = row?;
        let text = match (row.cast::<PyString>(), row.cast::<PyBytes>()) {
            (Ok(text), _) => Some(text.to_cow()?.into_owned().into_bytes()),
            (_, Ok(bytes)) => Some(bytes.as_bytes().to_vec()),
            _ => None,
        };
        match text {
            // One line of JSON text as given, its line breaks (JSON whitespace) made spaces.
            Some(text) => {
                let text = text.strip_suffix(b"\n").unwrap_or(&text);
                out.extend(text.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
            }
            None => {
                let json = crate::convert::to_json(&row, crate::MAX_DEPTH)
                    .map_err(|e| input_error(py, e.describe(&format!("events[{i}]"))))?;
                serde_json::to_writer(&mut out, &json).map_err(internal)?;
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// One column of a chunk, as Arrow buffers: a `large_string` column has offsets (and validity
/// when some value is null), an `int64` one only its data.
struct Buffers {
    nulls: usize,
    validity: Option<Py<PyBytes>>,
    offsets: Option<Py<PyBytes>>,
    data: Py<PyBytes>,
}

/// A chunk's rows, handed over to Python.
struct Frozen {
    rows: usize,
    columns: Vec<Buffers>,
}

/// A chunk's columns copied into Python buffers in Arrow's layout (taking the GIL for the copy).
fn freeze(chunk: &Chunk) -> std::io::Result<Frozen> {
    Python::attach(|py| -> PyResult<Frozen> {
        let little_endian = |values: &[i64]| {
            let bytes = PyBytes::new_with(py, values.len().saturating_mul(8), |buf| {
                table::little_endian(values, buf);
                Ok(())
            });
            bytes.map(Bound::unbind)
        };
        let mut columns = Vec::new();
        for column in chunk.columns() {
            columns.push(match column {
                Column::Text(t) => Buffers {
                    nulls: t.nulls(),
                    validity: t.validity().map(|bits| PyBytes::new(py, &bits).unbind()),
                    offsets: Some(little_endian(t.offsets())?),
                    data: PyBytes::new(py, t.data()).unbind(),
                },
                Column::Int(values) => {
                    Buffers { nulls: 0, validity: None, offsets: None, data: little_endian(values)? }
                }
            });
        }
        Ok(Frozen { rows: chunk.rows(), columns })
    })
    .map_err(std::io::Error::other)
}

/// The records of a replay as columns (internal: `probity/_replay.py` makes the table).
#[pyclass(module = "probity._probity", name = "_Records", frozen)]
pub(crate) struct Records {
    schema: &'static [(&'static str, Kind)],
    chunks: Vec<Frozen>,
}

impl Records {
    /// Every row's values, chunk after chunk (`None` for a null).
    fn values<'a, 'py>(&'a self, py: Python<'py>) -> impl Iterator<Item = Vec<Bound<'py, PyAny>>> + use<'a, 'py> {
        self.chunks.iter().flat_map(move |chunk| (0..chunk.rows).map(move |row| cells(py, chunk, row)))
    }
}

/// A row's values (`None` for a null or a value out of range).
fn cells<'py>(py: Python<'py>, chunk: &Frozen, row: usize) -> Vec<Bound<'py, PyAny>> {
    let cell = |b: &Buffers| {
        let (validity, offsets) = (b.validity.as_ref(), b.offsets.as_ref());
        let (validity, offsets) = (validity.map(|b| b.as_bytes(py)), offsets.map(|b| b.as_bytes(py)));
        match table::cell(validity, offsets, b.data.as_bytes(py), row)? {
            table::Value::Text(text) => Some(PyString::new(py, text).into_any()),
            table::Value::Int(i) => i.into_pyobject(py).ok().map(Bound::into_any),
        }
    };
    chunk.columns.iter().map(|b| cell(b).unwrap_or_else(|| py.None().into_bound(py))).collect()
}

#[pymethods]
impl Records {
    /// The column names, in order.
    #[getter]
    fn names(&self) -> Vec<&'static str> {
        self.schema.iter().map(|(name, _)| *name).collect()
    }

    /// The column types, `"str"` or `"int"`.
    #[getter]
    fn kinds(&self) -> Vec<&'static str> {
        self.schema.iter().map(|(_, kind)| if *kind == Kind::Int { "int" } else { "str" }).collect()
    }

    fn __len__(&self) -> usize {
        self.chunks.iter().map(|c| c.rows).sum()
    }

    /// Per chunk, per column, Arrow buffers: `(rows, null_count, validity or None, offsets, data)`
    /// for a `large_string` column, `(rows, 0, None, None, data)` for an `int64` one.
    fn arrow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let chunks = PyList::empty(py);
        for chunk in &self.chunks {
            let columns = PyList::empty(py);
            for b in &chunk.columns {
                let copy = |buffer: &Option<Py<PyBytes>>| buffer.as_ref().map(|b| b.clone_ref(py));
                columns.append((chunk.rows, b.nulls, copy(&b.validity), copy(&b.offsets), b.data.clone_ref(py)))?;
            }
            chunks.append(columns)?;
        }
        Ok(chunks)
    }

    /// `{name: [values]}`.
    fn columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let columns: Vec<Bound<'py, PyList>> = self.schema.iter().map(|_| PyList::empty(py)).collect();
        for row in self.values(py) {
            for (column, value) in columns.iter().zip(row) {
                column.append(value)?;
            }
        }
        let dict = PyDict::new(py);
        for ((name, _), column) in self.schema.iter().zip(columns) {
            dict.set_item(*name, column)?;
        }
        Ok(dict)
    }

    /// `[{name: value}]`.
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let names: Vec<Bound<'py, PyString>> = self.schema.iter().map(|(name, _)| PyString::intern(py, name)).collect();
        let rows = PyList::empty(py);
        for row in self.values(py) {
            let dict = PyDict::new(py);
            for (name, value) in names.iter().zip(row) {
                dict.set_item(name, value)?;
            }
            rows.append(dict)?;
        }
        Ok(rows)
    }
}
