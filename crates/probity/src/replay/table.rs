//! A replay's records as table columns in Arrow's layout, for the bindings' tables.
//!
//! Each record is encoded on the worker thread that decided it, into [`Rows`]: its cells and
//! their text back to back (or its JSON line). The rows are appended, in input order, to a
//! [`Chunk`] of typed columns: a text column is Arrow's `large_string` (the values back to back,
//! `len + 1` 64-bit offsets, a validity bitmap when some value is null), an integer column
//! Arrow's `int64`. A binding copies a chunk's buffers out and [`Chunk::clear`]s it, so that
//! the same memory serves chunk after chunk. [`cell`] reads a value back from such buffers.

use std::ops::Range;

use super::Record;
use crate::{Finding, Sanction, SmolStr};

/// The shape of the records wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The records as JSON lines, as `probity replay` writes them (no columns).
    JsonLines,
    /// One row per output record: [`DECISIONS`].
    Decisions,
    /// One row per finding of a decision or overdue report: [`FINDINGS`].
    Findings,
}

impl Output {
    /// The columns, in order (none for JSON lines).
    pub fn schema(self) -> &'static [(&'static str, Kind)] {
        match self {
            Output::JsonLines => &[],
            Output::Decisions => DECISIONS,
            Output::Findings => FINDINGS,
        }
    }
}

impl std::str::FromStr for Output {
    type Err = String;

    /// `decisions`, `findings` or `jsonl`, as the bindings name them.
    fn from_str(name: &str) -> Result<Output, String> {
        match name {
            "decisions" => Ok(Output::Decisions),
            "findings" => Ok(Output::Findings),
            "jsonl" => Ok(Output::JsonLines),
            other => Err(format!("`output` must be `decisions`, `findings` or `jsonl`, found `{other}`")),
        }
    }
}

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (`large_string`), possibly null.
    Text,
    /// A 64-bit integer, never null.
    Int,
}

/// The columns of [`Output::Decisions`].
pub const DECISIONS: &[(&str, Kind)] = &[
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

/// The columns of [`Output::Findings`].
pub const FINDINGS: &[(&str, Kind)] = &[
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

/// Rows gathered in a chunk before a binding copies them out. The buffers are reused, chunk
/// after chunk, so that each value is written into fresh memory once: on machines where fresh
/// memory is slow to touch, that was a third of a large replay's time.
pub const CHUNK_ROWS: usize = 1 << 16;

/// A cell of a row: its text is a range of the rows' `text`.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Text(Range<usize>),
    Int(i64),
}

/// The rows of one input line's records: the cells, row after row (as many to a row as the
/// schema has columns), and their text back to back. For [`Output::JsonLines`], the text is
/// the records' JSON lines and there are no cells.
#[derive(Debug, Default)]
pub struct Rows {
    text: Vec<u8>,
    cells: Vec<Cell>,
}

impl Rows {
    /// The text: the JSON lines for [`Output::JsonLines`].
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The text cell that `write` appends.
    fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.text.len();
        write(&mut self.text);
        self.cells.push(Cell::Text(start..self.text.len()));
    }

    fn str(&mut self, value: &str) {
        self.write(|text| text.extend_from_slice(value.as_bytes()));
    }

    fn optional(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.str(v),
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

    /// Appends the encoding of one record: its JSON line, or its rows.
    pub fn record(&mut self, record: &Record<'_>, output: Output) {
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
                self.str(outcome.kind);
                self.int(line);
                self.str(outcome.action);
                self.str(outcome.rm);
                self.str(outcome.at);
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
                    self.str("error");
                    self.int(line);
                    self.cells.push(Cell::Null);
                    self.optional(rm);
                    self.cells.extend([Cell::Null, Cell::Null]);
                    self.int(0);
                    self.str("");
                    self.str("");
                    self.str("");
                    self.str(message);
                    self.write(|text| record.write_json(text));
                }
            }
            (Output::Findings, Some((line, outcome))) => {
                for f in outcome.findings {
                    self.str(outcome.action);
                    self.str(outcome.rm);
                    self.str(outcome.at);
                    self.str(&f.policy);
                    self.str(&f.rule);
                    self.str(f.kind.as_str());
                    self.optional(f.severity.as_deref());
                    self.optional(f.ladder.as_deref());
                    self.str(&f.message);
                    self.str(outcome.kind);
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
    findings: &'r [Finding],
    escalations: &'r [SmolStr],
    sanctions: &'r [Sanction],
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
                    action: r.obligation.action.as_deref().unwrap_or(""),
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

/// A text column in Arrow's `large_string` layout.
#[derive(Debug)]
pub struct Text {
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

    /// The values back to back (UTF-8).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Where each value starts, and where the last ends: one more than the rows.
    pub fn offsets(&self) -> &[i64] {
        &self.offsets
    }

    /// The number of null values.
    pub fn nulls(&self) -> usize {
        self.nulls
    }

    /// Arrow's validity bitmap (least significant bit first); `None` when no value is null.
    pub fn validity(&self) -> Option<Vec<u8>> {
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

/// One column of a chunk.
#[derive(Debug)]
pub enum Column {
    /// A text column.
    Text(Text),
    /// An integer column, never null.
    Int(Vec<i64>),
}

/// Rows being gathered, column by column.
#[derive(Debug)]
pub struct Chunk {
    columns: Vec<Column>,
    rows: usize,
}

impl Chunk {
    /// An empty chunk with the columns of `output`.
    pub fn new(output: Output) -> Self {
        let columns = output
            .schema()
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Text => Column::Text(Text::default()),
                Kind::Int => Column::Int(Vec::new()),
            })
            .collect();
        Chunk { columns, rows: 0 }
    }

    /// The number of rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The columns, in the schema's order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Appends a line's rows (encoded for the same output).
    pub fn append(&mut self, rows: &Rows) {
        let width = self.columns.len().max(1);
        for row in rows.cells.chunks(width) {
            for (column, cell) in self.columns.iter_mut().zip(row) {
                match (column, cell) {
                    (Column::Text(t), Cell::Text(range)) => t.push(rows.text.get(range.clone())),
                    (Column::Int(values), Cell::Int(v)) => values.push(*v),
                    // The schemas and the rows are written together; a mismatch is a null (or 0).
                    (Column::Text(t), _) => t.push(None),
                    (Column::Int(values), _) => values.push(0),
                }
            }
            self.rows = self.rows.saturating_add(1);
        }
    }

    /// Empties the chunk, keeping its memory for the next rows.
    pub fn clear(&mut self) {
        for column in &mut self.columns {
            match column {
                Column::Text(t) => t.clear(),
                Column::Int(values) => values.clear(),
            }
        }
        self.rows = 0;
    }
}

impl Chunk {
    /// The rows' columns copied out as Arrow buffers, for a binding to hand over (the chunk can
    /// then be cleared and its memory reused).
    pub fn freeze(&self) -> Frozen {
        let words = |values: &[i64]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let columns = self
            .columns
            .iter()
            .map(|column| match column {
                Column::Text(t) => Buffers {
                    nulls: t.nulls,
                    validity: t.validity(),
                    offsets: Some(words(&t.offsets)),
                    data: t.data.clone(),
                },
                Column::Int(values) => Buffers { nulls: 0, validity: None, offsets: None, data: words(values) },
            })
            .collect();
        Frozen { rows: self.rows, columns }
    }
}

/// A chunk's rows as Arrow buffers ([`Chunk::freeze`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frozen {
    /// The number of rows.
    pub rows: usize,
    /// The columns, in the schema's order.
    pub columns: Vec<Buffers>,
}

impl Frozen {
    /// The value in `column` of `row` (`None` when null or out of range).
    pub fn value(&self, column: usize, row: usize) -> Option<Value<'_>> {
        let b = self.columns.get(column)?;
        cell(b.validity.as_deref(), b.offsets.as_deref(), &b.data, row)
    }
}

/// The rows of `chunks` (columns named by `schema`) as JSON text, for a binding's JSON decoder:
/// `[{name: value, …}, …]`, or with `by_column` `{name: [value, …], …}`. A value is its text,
/// its integer or `null`.
pub fn to_json(schema: &[(&str, Kind)], chunks: &[Frozen], by_column: bool) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing text into memory cannot fail.
    let value = |out: &mut Vec<u8>, chunk: &Frozen, column: usize, row: usize| match chunk.value(column, row) {
        Some(Value::Text(text)) => {
            let _ = serde_json::to_writer(out, text);
        }
        Some(Value::Int(i)) => out.extend_from_slice(i.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    };
    let name = |out: &mut Vec<u8>, column: usize| {
        let name = schema.get(column).map_or("", |(name, _)| *name);
        let _ = serde_json::to_writer(&mut *out, name);
        out.push(b':');
    };
    let rows = || chunks.iter().flat_map(|chunk| (0..chunk.rows).map(move |row| (chunk, row)));
    let comma = |out: &mut Vec<u8>, first: bool| {
        if !first {
            out.push(b',')
        }
    };
    if by_column {
        out.push(b'{');
        for column in 0..schema.len() {
            comma(&mut out, column == 0);
            name(&mut out, column);
            out.push(b'[');
            for (i, (chunk, row)) in rows().enumerate() {
                comma(&mut out, i == 0);
                value(&mut out, chunk, column, row);
            }
            out.push(b']');
        }
        out.push(b'}');
    } else {
        out.push(b'[');
        for (i, (chunk, row)) in rows().enumerate() {
            comma(&mut out, i == 0);
            out.push(b'{');
            for column in 0..schema.len() {
                comma(&mut out, column == 0);
                name(&mut out, column);
                value(&mut out, chunk, column, row);
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    out
}

/// One column as Arrow buffers: a `large_string` column has little-endian 64-bit `offsets`
/// (and a `validity` bitmap when some value is null), an `int64` one only its little-endian
/// `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buffers {
    /// The number of null values.
    pub nulls: usize,
    /// The validity bitmap, when some value is null.
    pub validity: Option<Vec<u8>>,
    /// The offsets of a text column.
    pub offsets: Option<Vec<u8>>,
    /// The values.
    pub data: Vec<u8>,
}

/// Writes 64-bit integers as Arrow stores them (little-endian) into `out`, 8 bytes each (as
/// many as fit).
pub fn little_endian(values: &[i64], out: &mut [u8]) {
    for (dst, v) in out.chunks_exact_mut(8).zip(values) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

/// A value read back from a column's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A text value.
    Text(&'a str),
    /// An integer.
    Int(i64),
}

/// The value of `row` in a column's Arrow buffers: a text column has `offsets` (and `validity`
/// when some value is null), an integer column only `data`. `None` when null, out of range or
/// not UTF-8.
pub fn cell<'a>(validity: Option<&[u8]>, offsets: Option<&[u8]>, data: &'a [u8], row: usize) -> Option<Value<'a>> {
    let word = |bytes: &[u8], i: usize| -> Option<i64> {
        let at = i.checked_mul(8)?;
        Some(i64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
    };
    let Some(offsets) = offsets else {
        return word(data, row).map(Value::Int);
    };
    if let Some(validity) = validity {
        if validity.get(row / 8)? >> (row % 8) & 1 == 0 {
            return None;
        }
    }
    let start = usize::try_from(word(offsets, row)?).ok()?;
    let end = usize::try_from(word(offsets, row.checked_add(1)?)?).ok()?;
    std::str::from_utf8(data.get(start..end)?).ok().map(Value::Text)
}
