//! Batch replay: the events' JSON lines go to the core's `probity::replay::replay_with` (with
//! the GIL released). Each record is encoded on the worker thread that decided it, as its JSON
//! line (`output="jsonl"`) or as table rows, and the rows are gathered into columns in input
//! order: the core's `probity::replay::table`, whose Arrow buffers are copied here into Python
//! `bytes` that `probity/_replay.py` turns into a list of dicts or a pandas, pyarrow or polars
//! table. A file is read as a stream, a line at a time.

use std::io::{BufReader, Write};
use std::path::PathBuf;

pub(crate) use probity::replay::table::Output;
use probity::replay::table::{self, Chunk, Column, Kind, Rows};
use probity::replay::{Record, Summary};
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::convert;
use crate::errors::{input_error, internal};

/// The events as JSON lines, wherever they are held.
pub(crate) enum Input {
    /// A file, read as the replay goes.
    File(PathBuf),
    /// A Python `bytes` (or a copy of a `bytearray`).
    Bytes(PyBackedBytes),
    /// A Python `str`, as UTF-8.
    Text(PyBackedStr),
    /// Converted from Python rows or from a table.
    Owned(Vec<u8>),
}

impl Input {
    /// The events held in memory (`None` for a file).
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Input::File(_) => None,
            Input::Bytes(b) => Some(b),
            Input::Text(s) => Some(s.as_bytes()),
            Input::Owned(v) => Some(v),
        }
    }
}

/// What a replay gives back.
pub(crate) enum Replayed {
    /// The records as JSON lines, as `probity replay` writes them.
    Lines(Vec<u8>),
    /// The records as table rows.
    Records(Records),
    /// The JSON lines went to the file asked for.
    Written,
}

/// `max_skew`: a `datetime.timedelta` or a number of seconds, as seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Skew(pub(crate) f64);

impl Skew {
    /// The default bound: one day.
    pub(crate) const DAY: Skew = Skew(86_400.0);

    /// The bound, which must be a finite number of seconds, not negative.
    pub(crate) fn delta(self) -> PyResult<chrono::TimeDelta> {
        let millis = (self.0 * 1000.0).round();
        if !(0.0..=1e15).contains(&millis) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "`max_skew` must be a duration of zero or more seconds (at most about 30,000 years), found {}",
                self.0
            )));
        }
        // In range by the check above.
        #[allow(clippy::cast_possible_truncation)]
        let millis = millis as i64;
        chrono::TimeDelta::try_milliseconds(millis)
            .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("`max_skew` is too long"))
    }
}

impl<'py> FromPyObject<'_, 'py> for Skew {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(seconds) = value.extract::<f64>() {
            return Ok(Skew(seconds));
        }
        match value.getattr("total_seconds").and_then(|f| f.call0()).and_then(|s| s.extract::<f64>()) {
            Ok(seconds) => Ok(Skew(seconds)),
            Err(_) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "`max_skew` must be a `datetime.timedelta`, a number of seconds or None, found `{}`",
                value.get_type().qualname()?
            ))),
        }
    }
}

/// Why a replay stopped.
pub(crate) enum Failure {
    /// A signal handler raised (Ctrl-C: `KeyboardInterrupt`); nothing was written to `out`.
    Interrupted(PyErr),
    /// The events could not be read.
    Read(std::io::Error),
    /// The output file could not be written.
    Write(std::io::Error),
    /// Anything else (a failed thread, a buffer Python could not allocate).
    Internal(std::io::Error),
}

/// Replays `input` (runs without the GIL); with `out`, the JSON lines go to a temporary file
/// beside it as they come, renamed over it once complete (started once the input is open, so
/// that a bad input, a failure or Ctrl-C leaves an existing file as it was); with `report`,
/// every record is also added to that report.
pub(crate) fn replay(
    engine: &probity::Engine,
    input: &Input,
    options: &probity::replay::Options,
    output: Output,
    out: Option<&std::path::Path>,
    report: Option<&mut probity_report::Collector<'_>>,
) -> Result<(Replayed, Summary), Failure> {
    let events = match input {
        Input::File(path) => {
            // A regular file or a pipe: a directory or a device (`/dev/zero`) is refused.
            let metadata = std::fs::metadata(path).map_err(Failure::Read)?;
            #[cfg(unix)]
            let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&metadata.file_type());
            #[cfg(not(unix))]
            let pipe = false;
            if !metadata.is_file() && !pipe {
                return Err(Failure::Read(std::io::Error::other("not a regular file or a pipe")));
            }
            Some(std::fs::File::open(path).map_err(Failure::Read)?)
        }
        _ => None,
    };
    let to_file = |path: &std::path::Path| -> Result<Sink, Failure> {
        // A link is followed (its target is replaced); a replaced file keeps its mode.
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(Failure::Write)?,
            _ => path.to_path_buf(),
        };
        match std::fs::metadata(&target) {
            Ok(m) if m.is_dir() => {
                return Err(Failure::Write(std::io::Error::other("a directory")));
            }
            // A device or a pipe (`/dev/null`) is written directly: it cannot be replaced.
            Ok(m) if !m.is_file() => {
                let file = std::fs::OpenOptions::new().write(true).open(&target).map_err(Failure::Write)?;
                return Ok(Sink::Direct(std::io::BufWriter::with_capacity(1 << 20, file)));
            }
            _ => {}
        }
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".probity-replay.").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).map_or(0o666, |m| m.permissions().mode() & 0o7777);
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        let file = builder.tempfile_in(dir).map_err(Failure::Write)?;
        Ok(Sink::File(std::io::BufWriter::with_capacity(1 << 20, file), target))
    };
    let sink = match out {
        Some(path) => to_file(path)?,
        None if output == Output::JsonLines => {
            // The JSON lines are about as long as the events: room for them up front spares
            // copying them as they grow.
            let room = match &events {
                Some(file) => file.metadata().map_or(0, |m| usize::try_from(m.len()).unwrap_or(0)),
                None => input.bytes().map_or(0, <[u8]>::len),
            };
            Sink::Memory(Vec::with_capacity(room.saturating_add(room / 4)))
        }
        None => Sink::Table(output),
    };
    match events {
        Some(file) => replay_from(engine, BufReader::with_capacity(1 << 20, file), options, output, sink, report),
        None => replay_from(engine, input.bytes().unwrap_or_default(), options, output, sink, report),
    }
}

/// Where the gathered records go.
enum Sink {
    Memory(Vec<u8>),
    /// A temporary file and the path it is renamed to once complete.
    File(std::io::BufWriter<tempfile::NamedTempFile>, PathBuf),
    /// A device or a pipe, written as the records come.
    Direct(std::io::BufWriter<std::fs::File>),
    Table(Output),
}

/// Encoded lines between two checks for a signal (Ctrl-C), each taking the GIL for a moment.
const SIGNAL_EVERY: usize = 4096;

fn replay_from(
    engine: &probity::Engine,
    input: impl std::io::BufRead,
    options: &probity::replay::Options,
    output: Output,
    sink: Sink,
    mut report: Option<&mut probity_report::Collector<'_>>,
) -> Result<(Replayed, Summary), Failure> {
    let digester = report.as_ref().map(|_| probity_report::Digester::default());
    let encode = |rows: &mut Encoded, record: &Record<'_>| {
        rows.rows.record(record, output);
        if let Some(digester) = &digester {
            rows.report.push(digester.item(record));
        }
    };
    // What the workers encoded is gathered on a thread of its own while they go on deciding.
    // Set when the replay did not complete: the gatherer then leaves `out` as it was.
    let abandoned = std::sync::atomic::AtomicBool::new(false);
    let abandoned = &abandoned;
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Encoded>>(4);
        let gatherer = scope.spawn(move || gather(receive, sink, abandoned));
        let mut pending = Vec::with_capacity(HANDOVER);
        let stopped = || std::io::Error::other("the replay's gatherer stopped");
        let mut signal: Option<PyErr> = None;
        let mut since = 0usize;
        let emit = |mut rows: Encoded| {
            since = since.saturating_add(1);
            if since >= SIGNAL_EVERY {
                since = 0;
                // The replay runs without the GIL; Python's signal handlers run only when it is
                // taken, so a Ctrl-C would otherwise wait for the end of the replay.
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    signal = Some(e);
                    return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted by a signal"));
                }
            }
            // The report takes the records in input order, here on the calling thread.
            if let Some(report) = report.as_deref_mut() {
                rows.report.drain(..).for_each(|item| report.add(item));
            }
            pending.push(rows);
            if pending.len() < HANDOVER {
                return Ok(());
            }
            send.send(std::mem::replace(&mut pending, Vec::with_capacity(HANDOVER))).map_err(|_| stopped())
        };
        let replayed = probity::replay::replay_with_options(engine, input, options, encode, emit, |_| {})
            .and_then(|summary| send.send(pending).map(|()| summary).map_err(|_| stopped()));
        if replayed.is_err() || signal.is_some() {
            abandoned.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        drop(send);
        if let Some(e) = signal {
            // The gatherer ends with the channel; its temporary file goes with it.
            let _ = gatherer.join();
            return Err(Failure::Interrupted(e));
        }
        let gathered =
            gatherer.join().map_err(|_| Failure::Internal(std::io::Error::other("the replay's gatherer failed")))?;
        // The gatherer's own error comes first: it is why the replay stopped. Of the replay's
        // own, a failed thread is `Other`; the rest are the input's.
        let gathered = gathered?;
        let summary = replayed.map_err(|e| match e.kind() {
            std::io::ErrorKind::Other => Failure::Internal(e),
            _ => Failure::Read(e),
        })?;
        Ok((gathered, summary))
    })
}

/// Encoded lines handed to the gatherer at a time.
const HANDOVER: usize = 1024;

/// Gathers the encoded lines: JSON lines back to back, into memory or a file, or rows into
/// chunks of columns, handed over to Python as they fill.
fn gather(
    lines: std::sync::mpsc::Receiver<Vec<Encoded>>,
    sink: Sink,
    abandoned: &std::sync::atomic::AtomicBool,
) -> Result<Replayed, Failure> {
    let output = match sink {
        Sink::Memory(mut out) => {
            for rows in lines.iter().flatten() {
                out.extend_from_slice(rows.rows.text());
            }
            return Ok(Replayed::Lines(out));
        }
        Sink::Direct(mut out) => {
            for rows in lines.iter().flatten() {
                out.write_all(rows.rows.text()).map_err(Failure::Write)?;
            }
            out.flush().map_err(Failure::Write)?;
            return Ok(Replayed::Written);
        }
        Sink::File(mut out, target) => {
            for rows in lines.iter().flatten() {
                out.write_all(rows.rows.text()).map_err(Failure::Write)?;
            }
            if abandoned.load(std::sync::atomic::Ordering::SeqCst) {
                // Dropped, the temporary file is removed; the replay's own error is reported.
                return Ok(Replayed::Written);
            }
            let file = out.into_inner().map_err(|e| Failure::Write(e.into_error()))?;
            file.as_file().sync_all().map_err(Failure::Write)?;
            file.persist(&target).map_err(|e| Failure::Write(e.error))?;
            return Ok(Replayed::Written);
        }
        Sink::Table(output) => output,
    };
    let mut chunk = Chunk::new(output);
    let mut chunks = Vec::new();
    for rows in lines.iter().flatten() {
        chunk.append(&rows.rows);
        if chunk.rows() >= table::CHUNK_ROWS {
            chunks.push(freeze(&mut chunk).map_err(Failure::Internal)?);
        }
    }
    if chunk.rows() > 0 || chunks.is_empty() {
        chunks.push(freeze(&mut chunk).map_err(Failure::Internal)?);
    }
    Ok(Replayed::Records(Records { schema: output.schema(), chunks }))
}

/// Converts Python rows (dicts, or JSON text) to JSON lines, one line per row, so that line
/// numbers are row numbers.
pub(crate) fn rows_to_lines(rows: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = rows.py();
    let mut out = Vec::new();
    for (i, row) in rows.try_iter()?.enumerate() {
        let row = row?;
        if let Ok(text) = row.cast::<PyString>() {
            line_text(&mut out, text.to_cow()?.as_bytes());
        } else if let Ok(bytes) = row.cast::<PyBytes>() {
            line_text(&mut out, bytes.as_bytes());
        } else {
            let json = convert::to_json(&row, crate::MAX_DEPTH)
                .map_err(|e| input_error(py, e.describe(&format!("events[{i}]"))))?;
            serde_json::to_writer(&mut out, &json).map_err(internal)?;
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// One line of JSON text as given, its line breaks (JSON whitespace) made spaces.
fn line_text(out: &mut Vec<u8>, text: &[u8]) {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    out.extend(text.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
}

/// A line's records, encoded on the worker thread that decided them: their JSON lines or
/// table rows (the core's), and what the report takes from them when one is asked for.
#[derive(Default)]
struct Encoded {
    rows: Rows,
    report: Vec<probity_report::Item>,
}

/// The rows as Python buffers in Arrow's layout (taking the GIL for the copy); the chunk is
/// left empty, its memory kept for the next rows.
fn freeze(chunk: &mut Chunk) -> std::io::Result<Frozen> {
    let frozen = Python::attach(|py| -> PyResult<Frozen> {
        let little_endian = |values: &[i64]| {
            PyBytes::new_with(py, values.len().saturating_mul(8), |buf| {
                table::little_endian(values, buf);
                Ok(())
            })
            .map(Bound::unbind)
        };
        let columns = chunk
            .columns()
            .iter()
            .map(|column| {
                Ok(match column {
                    Column::Text(t) => Buffers {
                        nulls: t.nulls(),
                        validity: t.validity().map(|bits| PyBytes::new(py, &bits).unbind()),
                        offsets: Some(little_endian(t.offsets())?),
                        data: PyBytes::new(py, t.data()).unbind(),
                    },
                    Column::Int(values) => {
                        Buffers { nulls: 0, validity: None, offsets: None, data: little_endian(values)? }
                    }
                })
            })
            .collect::<PyResult<_>>()?;
        Ok(Frozen { rows: chunk.rows(), columns })
    })
    .map_err(std::io::Error::other)?;
    chunk.clear();
    Ok(frozen)
}

/// One column of a chunk, as Arrow buffers: a `large_string` column has offsets (and validity
/// when some value is null), an `int64` one only its data.
struct Buffers {
    nulls: usize,
    validity: Option<Py<PyBytes>>,
    offsets: Option<Py<PyBytes>>,
    data: Py<PyBytes>,
}

impl Buffers {
    /// The value of `row` (`None` when null or out of range).
    fn cell<'py>(&self, py: Python<'py>, row: usize) -> Option<Bound<'py, PyAny>> {
        let (validity, offsets) = (self.validity.as_ref(), self.offsets.as_ref());
        let (validity, offsets) = (validity.map(|b| b.as_bytes(py)), offsets.map(|b| b.as_bytes(py)));
        match table::cell(validity, offsets, self.data.as_bytes(py), row)? {
            table::Value::Text(text) => Some(PyString::new(py, text).into_any()),
            table::Value::Int(i) => i.into_pyobject(py).ok().map(Bound::into_any),
        }
    }
}

/// A chunk's rows, handed over to Python.
struct Frozen {
    rows: usize,
    columns: Vec<Buffers>,
}

// --- to Python ----------------------------------------------------------------------------------

/// The records of a replay as columns (internal: `probity/_replay.py` makes the table).
#[pyclass(module = "probity._probity", name = "_Records", frozen)]
pub(crate) struct Records {
    schema: &'static [(&'static str, Kind)],
    chunks: Vec<Frozen>,
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
                let optional = |buffer: &Option<Py<PyBytes>>| buffer.as_ref().map(|b| b.clone_ref(py));
                columns.append((
                    chunk.rows,
                    b.nulls,
                    optional(&b.validity),
                    optional(&b.offsets),
                    b.data.clone_ref(py),
                ))?;
            }
            chunks.append(columns)?;
        }
        Ok(chunks)
    }

    /// `{name: [values]}`.
    fn columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (i, (name, _)) in self.schema.iter().enumerate() {
            let values = PyList::empty(py);
            for chunk in &self.chunks {
                for row in 0..chunk.rows {
                    values.append(cell(py, chunk.columns.get(i), row))?;
                }
            }
            dict.set_item(*name, values)?;
        }
        Ok(dict)
    }

    /// `[{name: value}]`.
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let names: Vec<Bound<'py, PyString>> = self.schema.iter().map(|(name, _)| PyString::intern(py, name)).collect();
        let rows = PyList::empty(py);
        for chunk in &self.chunks {
            for row in 0..chunk.rows {
                let dict = PyDict::new(py);
                for (name, column) in names.iter().zip(&chunk.columns) {
                    dict.set_item(name, cell(py, Some(column), row))?;
                }
                rows.append(dict)?;
            }
        }
        Ok(rows)
    }
}

/// A cell's value, `None` for a null.
fn cell<'py>(py: Python<'py>, column: Option<&Buffers>, row: usize) -> Bound<'py, PyAny> {
    column.and_then(|c| c.cell(py, row)).unwrap_or_else(|| py.None().into_bound(py))
}

/// The replay's summary as a dict: its JSON form, and the table `probity replay` prints.
pub(crate) fn summary<'py>(py: Python<'py>, s: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let dict = crate::errors::to_python!(py, s)?.cast_into::<PyDict>()?;
    dict.set_item("table", s.table())?;
    Ok(dict)
}
