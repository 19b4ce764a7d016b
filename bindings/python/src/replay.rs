//! Batch replay: the events' JSON lines go to the core's `probity::replay::replay_with` (with
//! the GIL released). Each record is encoded on the worker thread that decided it, as its JSON
//! line (`output="jsonl"`) or as table rows, and the rows are gathered into columns in input
//! order, which `probity/_replay.py` turns into a list of dicts or a pandas, pyarrow or polars
//! table. A file is read as a stream, a line at a time.

use std::io::{BufReader, Write};
use std::ops::Range;
use std::path::PathBuf;

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

/// Whether two paths name the same file (through links too); `false` when either does not exist.
pub(crate) fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        x.dev() == y.dev() && x.ino() == y.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (x, y);
        matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(p), Ok(q)) if p == q)
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
    let encode = |rows: &mut LineRows, record: &Record<'_>| {
        rows.record(record, output);
        if let Some(digester) = &digester {
            rows.report.push(digester.item(record));
        }
    };
    // What the workers encoded is gathered on a thread of its own while they go on deciding.
    // Set when the replay did not complete: the gatherer then leaves `out` as it was.
    let abandoned = std::sync::atomic::AtomicBool::new(false);
    let abandoned = &abandoned;
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<LineRows>>(4);
        let gatherer = scope.spawn(move || gather(receive, sink, abandoned));
        let mut pending = Vec::with_capacity(HANDOVER);
        let stopped = || std::io::Error::other("the replay's gatherer stopped");
        let mut signal: Option<PyErr> = None;
        let mut since = 0usize;
        let emit = |mut rows: LineRows| {
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
    lines: std::sync::mpsc::Receiver<Vec<LineRows>>,
    sink: Sink,
    abandoned: &std::sync::atomic::AtomicBool,
) -> Result<Replayed, Failure> {
    let output = match sink {
        Sink::Memory(mut out) => {
            for rows in lines.iter().flatten() {
                out.extend_from_slice(&rows.text);
            }
            return Ok(Replayed::Lines(out));
        }
        Sink::Direct(mut out) => {
            for rows in lines.iter().flatten() {
                out.write_all(&rows.text).map_err(Failure::Write)?;
            }
            out.flush().map_err(Failure::Write)?;
            return Ok(Replayed::Written);
        }
        Sink::File(mut out, target) => {
            for rows in lines.iter().flatten() {
                out.write_all(&rows.text).map_err(Failure::Write)?;
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
    let mut chunk = Chunk::new(output.schema());
    let mut chunks = Vec::new();
    for rows in lines.iter().flatten() {
        chunk.append(&rows);
        if chunk.rows >= CHUNK_ROWS {
            chunks.push(chunk.freeze().map_err(Failure::Internal)?);
        }
    }
    if chunk.rows > 0 || chunks.is_empty() {
        chunks.push(chunk.freeze().map_err(Failure::Internal)?);
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

/// The shape of the records wanted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// The records as JSON lines, as `probity replay` writes them.
    JsonLines,
    /// One row per output record.
    Decisions,
    /// One row per finding of a decision or overdue report.
    Findings,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
}

const DECISIONS: &[(&str, Kind)] = &[
    ("kind", Kind::Text),
    ("line", Kind::Int),
    ("action", Kind::Text),
    ("rm", Kind::Text),
    ("at", Kind::Text),
    ("verdict", Kind::Text),
    ("findings", Kind::Int),
    ("rules", Kind::Text),
    ("escalations", Kind::Text),
    ("sanctions", Kind::Text),
    ("error", Kind::Text),
    ("json", Kind::Text),
];

const FINDINGS: &[(&str, Kind)] = &[
    ("action", Kind::Text),
    ("rm", Kind::Text),
    ("at", Kind::Text),
    ("policy", Kind::Text),
    ("rule", Kind::Text),
    ("kind", Kind::Text),
    ("severity", Kind::Text),
    ("ladder", Kind::Text),
    ("message", Kind::Text),
    ("record", Kind::Text),
    ("line", Kind::Int),
];

impl Output {
    fn schema(self) -> &'static [(&'static str, Kind)] {
        match self {
            Output::JsonLines => &[],
            Output::Decisions => DECISIONS,
            Output::Findings => FINDINGS,
        }
    }
}

// --- a line's rows, encoded on the worker thread --------------------------------------------------

/// A cell of a row: its text is a range of the line's `text`.
#[derive(Clone)]
enum Cell {
    Null,
    Text(Range<usize>),
    Int(i64),
}

/// The rows of one input line's records: the cells, row after row (as many to a row as the
/// schema has columns), and their text back to back.
#[derive(Default)]
struct LineRows {
    text: Vec<u8>,
    cells: Vec<Cell>,
    /// What the report takes from the records, when one is asked for.
    report: Vec<probity_report::Item>,
}

impl LineRows {
    /// The text cell that `write` appends.
    fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.text.len();
        write(&mut self.text);
        self.cells.push(Cell::Text(start..self.text.len()));
    }

    fn text(&mut self, value: &str) {
        self.write(|text| text.extend_from_slice(value.as_bytes()));
    }

    fn optional(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.cells.push(Cell::Null),
        }
    }

    fn int(&mut self, value: usize) {
        self.cells.push(Cell::Int(i64::try_from(value).unwrap_or(i64::MAX)));
    }

    /// `items` joined by commas, each written as its pieces back to back.
    fn joined<'a, const N: usize>(&mut self, items: impl Iterator<Item = [&'a str; N]>) {
        self.write(|text| {
            for (i, pieces) in items.enumerate() {
                if i > 0 {
                    text.push(b',');
                }
                for piece in pieces {
                    text.extend_from_slice(piece.as_bytes());
                }
            }
        });
    }

    /// The encoding of one record: its JSON line, or its rows.
    fn record(&mut self, record: &Record<'_>, output: Output) {
        match (output, Outcome::of(record)) {
            (Output::JsonLines, _) => {
                // Room for a typical decision at once, rather than growing to it in steps.
                self.text.reserve(1024);
                record.write_json(&mut self.text);
                self.text.push(b'\n');
            }
            (Output::Decisions, Some((line, outcome))) => {
                self.text.reserve(1024);
                self.cells.reserve(DECISIONS.len());
                self.text(outcome.kind);
                self.int(line);
                self.text(outcome.action);
                self.text(outcome.rm);
                self.text(outcome.at);
                self.optional(outcome.verdict);
                self.int(outcome.findings.len());
                self.joined(outcome.findings.iter().map(|f| [f.rule.as_str()]));
                self.joined(outcome.escalations.iter().map(|team| [team.as_str()]));
                self.joined(outcome.sanctions.iter().map(|s| [s.ladder.as_str(), ":", s.step.as_str()]));
                self.cells.push(Cell::Null);
                self.write(|text| record.write_json(text));
            }
            (Output::Decisions, None) => {
                if let Record::Error { line, rm, message } = *record {
                    self.text("error");
                    self.int(line);
                    self.cells.push(Cell::Null);
                    self.optional(rm);
                    self.cells.extend([Cell::Null, Cell::Null]);
                    self.int(0);
                    self.text("");
                    self.text("");
                    self.text("");
                    self.text(message);
                    self.write(|text| record.write_json(text));
                }
            }
            (Output::Findings, Some((line, outcome))) => {
                for f in outcome.findings {
                    self.text(outcome.action);
                    self.text(outcome.rm);
                    self.text(outcome.at);
                    self.text(&f.policy);
                    self.text(&f.rule);
                    self.text(f.kind.as_str());
                    self.optional(f.severity.as_deref());
                    self.optional(f.ladder.as_deref());
                    self.text(&f.message);
                    self.text(outcome.kind);
                    self.int(line);
                }
            }
            // An unusable line has no findings.
            (Output::Findings, None) => {}
        }
    }
}

/// A decision or an overdue report, as the tables show it.
struct Outcome<'r> {
    kind: &'static str,
    action: &'r str,
    rm: &'r str,
    at: &'r str,
    /// The decision's verdict (an overdue report has none).
    verdict: Option<&'static str>,
    findings: &'r [probity::Finding],
    escalations: &'r [probity::SmolStr],
    sanctions: &'r [probity::Sanction],
}

impl<'r> Outcome<'r> {
    /// A decision's or overdue report's outcome and its line (0: the closing `as_of`); `None`
    /// for an unusable line.
    fn of(record: &Record<'r>) -> Option<(usize, Self)> {
        match *record {
            Record::Decision { line, rm, decision: d, .. } => Some((
                line,
                Outcome {
                    kind: "decision",
                    action: &d.action,
                    rm,
                    at: &d.at,
                    verdict: Some(d.verdict.as_str()),
                    findings: &d.findings,
                    escalations: &d.escalations,
                    sanctions: &d.sanctions,
                },
            )),
            Record::Overdue { line, report: r } => Some((
                line.unwrap_or(0),
                Outcome {
                    kind: "overdue",
                    action: &r.obligation.action,
                    rm: &r.rm,
                    at: &r.at,
                    verdict: None,
                    findings: &r.findings,
                    escalations: &r.escalations,
                    sanctions: &r.sanctions,
                },
            )),
            Record::Error { .. } => None,
        }
    }
}

// --- the columns, gathered in input order ---------------------------------------------------------

/// Rows gathered before they are copied into Python buffers. The buffers that gather them are
/// reused, chunk after chunk, so that the replay writes each value into fresh memory once: on
/// machines where fresh memory is slow to touch, that was a third of a large replay's time.
const CHUNK_ROWS: usize = 1 << 16;

/// A text column in Arrow's layout: the values back to back, `len + 1` offsets, validity.
struct Text {
    data: Vec<u8>,
    offsets: Vec<i64>,
    valid: Vec<bool>,
    nulls: usize,
}

impl Default for Text {
    fn default() -> Self {
        Text { data: Vec::new(), offsets: vec![0], valid: Vec::new(), nulls: 0 }
    }
}

impl Text {
    fn push(&mut self, value: Option<&[u8]>) {
        match value {
            Some(v) => self.data.extend_from_slice(v),
            None => self.nulls = self.nulls.saturating_add(1),
        }
        self.offsets.push(i64::try_from(self.data.len()).unwrap_or(i64::MAX));
        self.valid.push(value.is_some());
    }

    /// Arrow's validity bitmap (least significant bit first); `None` when no value is null.
    fn validity(&self) -> Option<Vec<u8>> {
        (self.nulls > 0).then(|| {
            let byte = |bits: &[bool]| bits.iter().rev().fold(0u8, |byte, &bit| (byte << 1) | u8::from(bit));
            self.valid.chunks(8).map(byte).collect()
        })
    }

    fn clear(&mut self) {
        self.data.clear();
        self.offsets.clear();
        self.offsets.push(0);
        self.valid.clear();
        self.nulls = 0;
    }
}

enum Column {
    Text(Text),
    Int(Vec<i64>),
}

/// Rows being gathered, column by column.
struct Chunk {
    columns: Vec<Column>,
    rows: usize,
}

impl Chunk {
    fn new(schema: &[(&str, Kind)]) -> Self {
        let columns = schema
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Text => Column::Text(Text::default()),
                Kind::Int => Column::Int(Vec::new()),
            })
            .collect();
        Chunk { columns, rows: 0 }
    }

    /// Appends a line's rows.
    fn append(&mut self, rows: &LineRows) {
        let width = self.columns.len().max(1);
        for row in rows.cells.chunks(width) {
            for (column, cell) in self.columns.iter_mut().zip(row) {
                match (column, cell) {
                    (Column::Text(t), Cell::Text(range)) => t.push(rows.text.get(range.clone())),
                    (Column::Int(values), Cell::Int(v)) => values.push(*v),
                    // The schemas and the rows above are written together; a mismatch is a
                    // null (or 0).
                    (Column::Text(t), _) => t.push(None),
                    (Column::Int(values), _) => values.push(0),
                }
            }
            self.rows = self.rows.saturating_add(1);
        }
    }

    /// The rows as Python buffers in Arrow's layout (taking the GIL for the copy); the chunk is
    /// left empty, its memory kept for the next rows.
    fn freeze(&mut self) -> std::io::Result<Frozen> {
        let frozen = Python::attach(|py| -> PyResult<Frozen> {
            let columns = self
                .columns
                .iter()
                .map(|column| {
                    Ok(match column {
                        Column::Text(t) => Buffers {
                            nulls: t.nulls,
                            validity: t.validity().map(|bits| PyBytes::new(py, &bits).unbind()),
                            offsets: Some(little_endian(py, &t.offsets)?.unbind()),
                            data: PyBytes::new(py, &t.data).unbind(),
                        },
                        Column::Int(values) => Buffers {
                            nulls: 0,
                            validity: None,
                            offsets: None,
                            data: little_endian(py, values)?.unbind(),
                        },
                    })
                })
                .collect::<PyResult<_>>()?;
            Ok(Frozen { rows: self.rows, columns })
        })
        .map_err(std::io::Error::other)?;
        for column in &mut self.columns {
            match column {
                Column::Text(t) => t.clear(),
                Column::Int(values) => values.clear(),
            }
        }
        self.rows = 0;
        Ok(frozen)
    }
}

/// 64-bit integers as Arrow stores them, written straight into a Python buffer.
fn little_endian<'py>(py: Python<'py>, values: &[i64]) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, values.len().saturating_mul(8), |buf| {
        for (dst, v) in buf.chunks_exact_mut(8).zip(values) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        Ok(())
    })
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
        let data = self.data.as_bytes(py);
        let word = |bytes: &[u8], i: usize| -> Option<i64> {
            let at = i.checked_mul(8)?;
            Some(i64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
        };
        let Some(offsets) = &self.offsets else {
            return word(data, row)?.into_pyobject(py).ok().map(Bound::into_any);
        };
        if let Some(validity) = &self.validity {
            let byte = validity.as_bytes(py).get(row / 8)?;
            if byte >> (row % 8) & 1 == 0 {
                return None;
            }
        }
        let offsets = offsets.as_bytes(py);
        let start = usize::try_from(word(offsets, row)?).ok()?;
        let end = usize::try_from(word(offsets, row.checked_add(1)?)?).ok()?;
        let text = std::str::from_utf8(data.get(start..end)?).ok()?;
        Some(PyString::new(py, text).into_any())
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

/// The replay's summary as a dict.
pub(crate) fn summary<'py>(py: Python<'py>, s: &probity::replay::Summary) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("events", s.events)?;
    let verdicts = PyDict::new(py);
    for v in [probity::Verdict::Allow, probity::Verdict::Review, probity::Verdict::Deny] {
        verdicts.set_item(v.as_str(), s.verdicts.get(&v).copied().unwrap_or(0))?;
    }
    dict.set_item("verdicts", verdicts)?;
    dict.set_item("breaches", s.breaches.clone())?;
    dict.set_item("sanctions", s.sanctions.clone())?;
    dict.set_item("overdue_reports", s.overdue_reports)?;
    dict.set_item("open_obligations", s.open_obligations)?;
    dict.set_item("overdue_open", s.overdue_open)?;
    dict.set_item("retained_items", s.retained_items)?;
    dict.set_item("errors", s.errors)?;
    dict.set_item("table", s.table())?;
    Ok(dict)
}
