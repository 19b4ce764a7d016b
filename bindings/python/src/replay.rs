//! Batch replay: the events' JSON lines go to the core's `probity::replay::replay` (with the
//! GIL released) and its records come back either as the exact JSON lines or as columns, which
//! `probity/_replay.py` turns into a list of dicts or a pandas, pyarrow or polars table.
//!
//! The columns are derived from the core's own output records (parsed back with the core's
//! serde types), in parallel. A decision does not name its RM, so each record is matched with
//! the input line it answers: every usable or unusable non-blank line gives zero or more
//! `overdue` records followed by exactly one `decision` or `error` record; the overdue reports
//! of the closing `as_of` advance come last and answer no line.

use std::ops::Range;

use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use serde_json::Value as Json;

use crate::convert;
use crate::errors::{input_error, internal};

/// The events as JSON lines, wherever they are held.
pub(crate) enum Input {
    /// A Python `bytes` (or a copy of a `bytearray`).
    Bytes(PyBackedBytes),
    /// A Python `str`, as UTF-8.
    Text(PyBackedStr),
    /// Read from a file, or converted from Python rows.
    Owned(Vec<u8>),
}

impl Input {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Input::Bytes(b) => b,
            Input::Text(s) => s.as_bytes(),
            Input::Owned(v) => v,
        }
    }
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
    /// One row per output record.
    Decisions,
    /// One row per finding of a decision or overdue report.
    Findings,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    /// Text that is a record of the output, kept as its place in the output (no copy).
    Record,
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
    ("json", Kind::Record),
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
            Output::Decisions => DECISIONS,
            Output::Findings => FINDINGS,
        }
    }
}

/// A text column in Arrow's layout: the values back to back, `len + 1` offsets, validity.
#[derive(Default)]
struct Text {
    data: Vec<u8>,
    offsets: Vec<i64>,
    valid: Vec<bool>,
    nulls: usize,
}

impl Text {
    fn push(&mut self, value: Option<&str>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        match value {
            Some(v) => self.data.extend_from_slice(v.as_bytes()),
            None => self.nulls = self.nulls.saturating_add(1),
        }
        self.offsets.push(i64::try_from(self.data.len()).unwrap_or(i64::MAX));
        self.valid.push(value.is_some());
    }

    fn get(&self, row: usize) -> Option<&str> {
        if !self.valid.get(row).copied().unwrap_or(false) {
            return None;
        }
        let start = usize::try_from(*self.offsets.get(row)?).ok()?;
        let end = usize::try_from(*self.offsets.get(row.saturating_add(1))?).ok()?;
        std::str::from_utf8(self.data.get(start..end)?).ok()
    }
}

enum Column {
    Text(Text),
    Int(Vec<i64>),
    Record(Vec<Range<usize>>),
}

/// Rows of one share of the records, column by column.
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
                Kind::Record => Column::Record(Vec::new()),
            })
            .collect();
        Chunk { columns, rows: 0 }
    }

    /// Appends one row; `cells` follow the schema's order.
    fn push(&mut self, cells: &[Cell<'_>]) {
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            match (column, cell) {
                (Column::Text(t), Cell::Text(v)) => t.push(*v),
                (Column::Int(values), Cell::Int(v)) => values.push(*v),
                (Column::Record(ranges), Cell::Record(r)) => ranges.push(r.clone()),
                // The schemas and the rows below are written together; a mismatch is a null
                // (or 0, or an empty text).
                (Column::Text(t), _) => t.push(None),
                (Column::Int(values), _) => values.push(0),
                (Column::Record(ranges), _) => ranges.push(0..0),
            }
        }
        self.rows = self.rows.saturating_add(1);
    }
}

enum Cell<'a> {
    Text(Option<&'a str>),
    Int(i64),
    Record(Range<usize>),
}

fn text(value: &str) -> Cell<'_> {
    Cell::Text(Some(value))
}

fn int(value: usize) -> Cell<'static> {
    Cell::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

const NULL: Cell<'static> = Cell::Text(None);

/// Runs each job on a thread of its own; the results come back in job order.
fn in_parallel<T: Send, F: FnOnce() -> T + Send>(jobs: impl Iterator<Item = F>) -> Result<Vec<T>, String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.map(|job| scope.spawn(job)).collect();
        handles.into_iter().map(|h| h.join().map_err(|_| "a replay thread failed".to_owned())).collect()
    })
}

/// Byte ranges of the lines of `data` (without their `\n`), found by `parts` threads.
fn split_lines(data: &[u8], parts: usize) -> Result<Vec<Range<usize>>, String> {
    // Cut points just after a newline, so that no line is split between two parts.
    let mut cuts = vec![0];
    for p in 1..parts {
        let guess = data.len().checked_div(parts).unwrap_or(0).saturating_mul(p).max(cuts.last().copied().unwrap_or(0));
        let cut = data
            .get(guess..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(data.len(), |i| guess.saturating_add(i).saturating_add(1));
        cuts.push(cut);
    }
    cuts.push(data.len());
    let segments: Vec<Range<usize>> = cuts.windows(2).filter_map(|w| Some(*w.first()?..*w.get(1)?)).collect();
    let found = in_parallel(segments.into_iter().map(|segment| {
        move || {
            let mut lines = Vec::new();
            let mut start = segment.start;
            if let Some(bytes) = data.get(segment.clone()) {
                for (i, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b'\n') {
                    let end = segment.start.saturating_add(i);
                    lines.push(start..end);
                    start = end.saturating_add(1);
                }
            }
            if start < segment.end {
                lines.push(start..segment.end);
            }
            lines
        }
    }))?;
    Ok(found.into_iter().flatten().collect())
}

/// Whether the core skips this line (it is empty or white space once read as UTF-8).
fn is_blank(line: &[u8]) -> bool {
    match line.first() {
        Some(b'{') => false,
        None => true,
        Some(_) => std::str::from_utf8(line).map(|s| s.trim().is_empty()).unwrap_or(false),
    }
}

/// What a record is, from its first key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RecordKind {
    Decision,
    Overdue,
    Error,
}

const DECISION_PREFIX: &[u8] = b"{\"decision\":";
const OVERDUE_PREFIX: &[u8] = b"{\"overdue\":";
const ERROR_PREFIX: &[u8] = b"{\"error\":";

fn record_kind(record: &[u8]) -> Option<RecordKind> {
    if record.starts_with(DECISION_PREFIX) {
        Some(RecordKind::Decision)
    } else if record.starts_with(OVERDUE_PREFIX) {
        Some(RecordKind::Overdue)
    } else if record.starts_with(ERROR_PREFIX) {
        Some(RecordKind::Error)
    } else {
        None
    }
}

/// The inner object of a one-key record: `{"decision":{…}}` → `{…}`.
fn inner<'a>(record: &'a str, prefix: &[u8]) -> Option<&'a str> {
    record.get(prefix.len()..)?.strip_suffix('}')
}

/// One output record and the input line it answers (`None`: the closing `as_of` advance).
struct Item<'a> {
    record: &'a str,
    /// Where the record is in the output.
    range: Range<usize>,
    kind: RecordKind,
    /// The 1-based line number and the line's text.
    line: Option<(usize, &'a [u8])>,
}

/// The records of a replay (`out`, the core's output) as columns, in chunks (one per thread).
pub(crate) fn columns(input: &[u8], out: Vec<u8>, output: Output, jobs: usize) -> Result<Records, String> {
    let out = String::from_utf8(out).map_err(|e| e.to_string())?;
    let chunks = chunks(input, &out, output, jobs)?;
    Ok(Records { schema: output.schema(), chunks, out })
}

fn chunks(input: &[u8], out_text: &str, output: Output, jobs: usize) -> Result<Vec<Chunk>, String> {
    let jobs = jobs.clamp(1, 64);
    let input_lines = split_lines(input, jobs)?;
    let answered: Vec<(usize, &[u8])> = input_lines
        .into_iter()
        .enumerate()
        .filter_map(|(i, range)| {
            let mut line = input.get(range)?;
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            (!is_blank(line)).then_some((i.saturating_add(1), line))
        })
        .collect();
    let records = split_lines(out_text.as_bytes(), jobs)?;
    let mut items = Vec::with_capacity(records.len());
    let mut next = answered.iter();
    let mut current = None;
    for range in records {
        let record = out_text.get(range.clone()).ok_or("a record out of range")?;
        let kind = record_kind(record.as_bytes()).ok_or_else(|| format!("an unknown record: {record}"))?;
        if current.is_none() {
            current = next.next().copied();
        }
        items.push(Item { record, range, kind, line: current });
        if kind != RecordKind::Overdue {
            current = None;
        }
    }
    let share = items.len().div_ceil(jobs).max(1);
    in_parallel(items.chunks(share).map(|part| move || build(part, output)))?.into_iter().collect()
}

fn joined<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out
}

fn finding_kind(kind: probity::FindingKind) -> &'static str {
    match kind {
        probity::FindingKind::Rule => "rule",
        probity::FindingKind::Conflict => "conflict",
        probity::FindingKind::Duty => "duty",
        probity::FindingKind::Overdue => "overdue",
        probity::FindingKind::Error => "error",
    }
}

/// The rows of one share of the records.
fn build(items: &[Item<'_>], output: Output) -> Result<Chunk, String> {
    let mut chunk = Chunk::new(output.schema());
    if output == Output::Decisions {
        // One row per record.
        for column in &mut chunk.columns {
            match column {
                Column::Text(t) => {
                    t.offsets.reserve(items.len().saturating_add(1));
                    t.valid.reserve(items.len());
                }
                Column::Int(values) => values.reserve(items.len()),
                Column::Record(ranges) => ranges.reserve(items.len()),
            }
        }
    }
    for item in items {
        let line = item.line.map_or(0, |(n, _)| n);
        let line_rm = || item.line.and_then(|(_, text)| rm_id(text));
        let bad = |e: serde_json::Error| format!("{e} in the record {}", item.record);
        match item.kind {
            RecordKind::Decision => {
                let body = inner(item.record, DECISION_PREFIX).ok_or("a truncated record")?;
                let d: probity::Decision = serde_json::from_str(body).map_err(bad)?;
                let rm = line_rm();
                let outcome = Outcome {
                    kind: "decision",
                    action: &d.action,
                    rm: rm.as_deref(),
                    at: &d.at,
                    verdict: Some(d.verdict.as_str()),
                    findings: &d.findings,
                    escalations: &d.escalations,
                    sanctions: &d.sanctions,
                };
                outcome.push(&mut chunk, output, line, &item.range);
            }
            RecordKind::Overdue => {
                let body = inner(item.record, OVERDUE_PREFIX).ok_or("a truncated record")?;
                let r: probity::OverdueReport = serde_json::from_str(body).map_err(bad)?;
                let outcome = Outcome {
                    kind: "overdue",
                    action: &r.obligation.action,
                    rm: Some(&r.rm),
                    at: &r.at,
                    verdict: None,
                    findings: &r.findings,
                    escalations: &r.escalations,
                    sanctions: &r.sanctions,
                };
                outcome.push(&mut chunk, output, line, &item.range);
            }
            RecordKind::Error => {
                if output == Output::Findings {
                    continue;
                }
                let body = inner(item.record, ERROR_PREFIX).ok_or("a truncated record")?;
                let e: Json = serde_json::from_str(body).map_err(bad)?;
                let rm = line_rm();
                chunk.push(&[
                    text("error"),
                    int(line),
                    NULL,
                    Cell::Text(rm.as_deref()),
                    NULL,
                    NULL,
                    int(0),
                    text(""),
                    text(""),
                    text(""),
                    Cell::Text(e.get("message").and_then(Json::as_str)),
                    Cell::Record(item.range.clone()),
                ]);
            }
        }
    }
    Ok(chunk)
}

/// A decision or an overdue report, as the tables show it.
struct Outcome<'r> {
    kind: &'static str,
    action: &'r str,
    rm: Option<&'r str>,
    at: &'r str,
    /// The decision's verdict (an overdue report has none).
    verdict: Option<&'static str>,
    findings: &'r [probity::Finding],
    escalations: &'r [probity::SmolStr],
    sanctions: &'r [probity::Sanction],
}

impl Outcome<'_> {
    /// Its row (`decisions`), or a row per finding (`findings`); `record` is where its JSON is
    /// in the output.
    fn push(&self, chunk: &mut Chunk, output: Output, line: usize, record: &Range<usize>) {
        match output {
            Output::Decisions => {
                let rules = joined(self.findings.iter().map(|f| f.rule.as_str()));
                let escalations = joined(self.escalations.iter().map(probity::SmolStr::as_str));
                let sanctions = sanctions(self.sanctions);
                chunk.push(&[
                    text(self.kind),
                    int(line),
                    text(self.action),
                    Cell::Text(self.rm),
                    text(self.at),
                    Cell::Text(self.verdict),
                    int(self.findings.len()),
                    text(&rules),
                    text(&escalations),
                    text(&sanctions),
                    NULL,
                    Cell::Record(record.clone()),
                ]);
            }
            Output::Findings => {
                for f in self.findings {
                    push_finding(chunk, f, self.action, self.rm, self.at, self.kind, line);
                }
            }
        }
    }
}

fn sanctions(sanctions: &[probity::Sanction]) -> String {
    let mut out = String::new();
    for (i, s) in sanctions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&s.ladder);
        out.push(':');
        out.push_str(&s.step);
    }
    out
}

fn push_finding(
    chunk: &mut Chunk,
    f: &probity::Finding,
    action: &str,
    rm: Option<&str>,
    at: &str,
    record: &str,
    line: usize,
) {
    chunk.push(&[
        text(action),
        Cell::Text(rm),
        text(at),
        text(&f.policy),
        text(&f.rule),
        text(finding_kind(f.kind)),
        Cell::Text(f.severity.as_deref()),
        Cell::Text(f.ladder.as_deref()),
        text(&f.message),
        text(record),
        int(line),
    ]);
}

// --- `rm.id` of an input line, without parsing all of it ---------------------------------------

/// The `rm.id` of an action's JSON text, found by skipping every other value by its brackets
/// and strings (and nothing after `rm`). `None` when the text has no textual `rm.id` (the core
/// then reported an error).
fn rm_id(line: &[u8]) -> Option<String> {
    let mut s = Scanner { text: line, at: 0 };
    let mut found = None;
    // The scan stops (`None`) as soon as `rm` has been read.
    let _ = s.object(|s, key| {
        if key != "rm" {
            return s.skip_value();
        }
        let _ = s.object(|s, key| {
            if key == "id" && s.peek() == Some(b'"') {
                let start = s.at;
                s.skip_string()?;
                found = serde_json::from_slice::<String>(s.text.get(start..s.at)?).ok();
                None
            } else {
                s.skip_value()
            }
        });
        None
    });
    found
}

/// A cursor over JSON text that reads keys and skips values.
struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.text.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.bump();
        }
        None
    }

    /// Whether the value at the cursor is the literal `null`.
    fn null(&self) -> bool {
        self.text.get(self.at..).is_some_and(|rest| {
            rest.starts_with(b"null")
                && rest.get(4).is_none_or(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
        })
    }

    fn bump(&mut self) {
        self.at = self.at.saturating_add(1);
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.bump())
    }

    /// Reads an object, calling `member` at each value with its key (as written, unescaped
    /// when it holds an escape).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let start = self.at;
            self.skip_string()?;
            let text = self.text;
            let raw = text.get(start..self.at)?;
            let key: std::borrow::Cow<'_, str> = match raw.get(1..raw.len().saturating_sub(1)) {
                Some(plain) if !plain.contains(&b'\\') => std::str::from_utf8(plain).ok()?.into(),
                _ => serde_json::from_slice::<String>(raw).ok()?.into(),
            };
            self.eat(b':')?;
            self.peek()?;
            member(self, &key)?;
            match self.peek()? {
                b',' => self.bump(),
                b'}' => {
                    self.bump();
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips a string, the cursor on its opening quote.
    fn skip_string(&mut self) -> Option<()> {
        self.bump();
        loop {
            match *self.text.get(self.at)? {
                b'"' => {
                    self.bump();
                    return Some(());
                }
                b'\\' => self.at = self.at.saturating_add(2),
                _ => self.bump(),
            }
        }
    }

    /// Skips any value.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.text.get(self.at)? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth = depth.saturating_add(1),
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                self.bump();
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.bump();
                }
            }
            _ => {
                while let Some(&b) = self.text.get(self.at) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.bump();
                }
                Some(())
            }
        }
    }
}

// --- tables' JSON lines without their nulls -------------------------------------------------

/// Drops the object members whose value is `null` from every line, on `parts` threads.
///
/// A table writes every column of every row, so a table of mixed action types is mostly
/// `"field":null`; the engine reads `null` as absent, and leaving those members out halves
/// the text it parses. Lines stay lines (numbering is kept); a line that is not JSON is copied
/// as it is, for the engine to report.
pub(crate) fn drop_nulls(data: &[u8], parts: usize) -> Result<Vec<u8>, String> {
    let lines = split_lines(data, parts)?;
    let share = lines.len().div_ceil(parts.max(1)).max(1);
    let pieces = in_parallel(lines.chunks(share).map(|part| {
        move || {
            let mut out = Vec::with_capacity(part.iter().map(|r| r.len().saturating_add(1)).sum::<usize>() / 2);
            for range in part {
                let line = data.get(range.clone()).unwrap_or_default();
                let mark = out.len();
                let mut s = Scanner { text: line, at: 0 };
                let copied = copy_without_nulls(&mut s, &mut out, 0).is_some() && s.peek().is_none();
                if !copied {
                    out.truncate(mark);
                    out.extend_from_slice(line);
                }
                out.push(b'\n');
            }
            out
        }
    }))?;
    Ok(pieces.concat())
}

/// Nesting beyond which a line is left as it is (the engine allows 64 levels).
const MAX_NESTING: usize = 128;

/// Copies one JSON value without white space, leaving out `null` object members.
fn copy_without_nulls(s: &mut Scanner<'_>, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_NESTING {
        return None;
    }
    let below = depth.saturating_add(1);
    let text = s.text;
    match s.peek()? {
        b'{' => {
            s.bump();
            out.push(b'{');
            if s.eat(b'}').is_some() {
                out.push(b'}');
                return Some(());
            }
            let mut first = true;
            loop {
                if s.peek()? != b'"' {
                    return None;
                }
                let start = s.at;
                s.skip_string()?;
                let key = text.get(start..s.at)?;
                s.eat(b':')?;
                s.peek()?;
                if s.null() {
                    s.at = s.at.saturating_add(4);
                } else {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(key);
                    out.push(b':');
                    copy_without_nulls(s, out, below)?;
                }
                match s.peek()? {
                    b',' => s.bump(),
                    b'}' => {
                        s.bump();
                        out.push(b'}');
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }
        b'[' => {
            s.bump();
            out.push(b'[');
            if s.eat(b']').is_some() {
                out.push(b']');
                return Some(());
            }
            loop {
                copy_without_nulls(s, out, below)?;
                match s.peek()? {
                    b',' => {
                        s.bump();
                        out.push(b',');
                    }
                    b']' => {
                        s.bump();
                        out.push(b']');
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }
        _ => {
            let start = s.at;
            s.skip_value()?;
            out.extend_from_slice(text.get(start..s.at)?);
            Some(())
        }
    }
}

// --- to Python ----------------------------------------------------------------------------------

/// The records of a replay as columns (internal: `probity/_replay.py` makes the table).
#[pyclass(module = "probity._probity", name = "_Records", frozen)]
pub(crate) struct Records {
    schema: &'static [(&'static str, Kind)],
    chunks: Vec<Chunk>,
    /// The core's output, which `Kind::Record` columns point into.
    out: String,
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
            for column in &chunk.columns {
                match column {
                    Column::Text(t) => {
                        let validity = if t.nulls == 0 {
                            None
                        } else {
                            let bits: Vec<u8> = t
                                .valid
                                .chunks(8)
                                .map(|bits| bits.iter().rev().fold(0u8, |byte, &bit| (byte << 1) | u8::from(bit)))
                                .collect();
                            Some(PyBytes::new(py, &bits))
                        };
                        let offsets: Vec<u8> = if t.offsets.is_empty() {
                            0i64.to_le_bytes().to_vec()
                        } else {
                            t.offsets.iter().flat_map(|o| o.to_le_bytes()).collect()
                        };
                        columns.append((
                            chunk.rows,
                            t.nulls,
                            validity,
                            PyBytes::new(py, &offsets),
                            PyBytes::new(py, &t.data),
                        ))?;
                    }
                    Column::Int(values) => {
                        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                        columns.append((chunk.rows, 0, py.None(), py.None(), PyBytes::new(py, &data)))?;
                    }
                    Column::Record(ranges) => {
                        // Copied once, straight from the output into the Python buffer.
                        let mut offsets = Vec::with_capacity(ranges.len().saturating_add(1).saturating_mul(8));
                        let mut end = 0usize;
                        offsets.extend(0i64.to_le_bytes());
                        for r in ranges {
                            end = end.saturating_add(r.len());
                            offsets.extend(i64::try_from(end).unwrap_or(i64::MAX).to_le_bytes());
                        }
                        let out = self.out.as_bytes();
                        let data = PyBytes::new_with(py, end, |buf| {
                            let mut at = 0usize;
                            for r in ranges {
                                let next = at.saturating_add(r.len());
                                if let (Some(dst), Some(src)) = (buf.get_mut(at..next), out.get(r.clone())) {
                                    dst.copy_from_slice(src);
                                }
                                at = next;
                            }
                            Ok(())
                        })?;
                        columns.append((chunk.rows, 0, py.None(), PyBytes::new(py, &offsets), data))?;
                    }
                }
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
                    values.append(self.cell(py, chunk.columns.get(i), row))?;
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
                    dict.set_item(name, self.cell(py, Some(column), row))?;
                }
                rows.append(dict)?;
            }
        }
        Ok(rows)
    }
}

impl Records {
    fn cell<'py>(&self, py: Python<'py>, column: Option<&Column>, row: usize) -> Bound<'py, PyAny> {
        let text = match column {
            Some(Column::Text(t)) => t.get(row),
            Some(Column::Record(ranges)) => ranges.get(row).and_then(|r| self.out.get(r.clone())),
            Some(Column::Int(values)) => {
                if let Some(Ok(v)) = values.get(row).map(|v| v.into_pyobject(py)) {
                    return v.into_any();
                }
                None
            }
            None => None,
        };
        match text {
            Some(s) => PyString::new(py, s).into_any(),
            None => py.None().into_bound(py),
        }
    }
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
