//! The decision log: one JSON line per record a replay writes (a decision or an overdue report),
//! hash-chained so that an edited, removed, inserted or reordered line is found
//! (docs/provenance.md).
//!
//! A line is `{"seq":N,"prev":HEX,"policies":{…},"action":{…}|null,"record":{…}}`, members in
//! that order: `seq` counts lines from 1, `prev` is the sha256 (hex) of the previous line's bytes
//! (without its newline; the first line's is the sha256 of nothing, [`GENESIS`]), `policies` the
//! versions and digests loaded (and the bundle's manifest digest), `action` the decided action's
//! canonical JSON (`null` for an overdue report), `record` the replay's record line exactly.

use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use probity::replay::output::Tap;
use probity::replay::Record;
use probity::{Action, Decision, Engine, Explanation, History, OverdueReport, PolicySet};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The `prev` of the first line: the sha256 of the empty string.
pub const GENESIS: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// A line of the log: at most this many bytes.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// What a log could not be read, written or verified for. Each has a stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// L0001: the file could not be read or written.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The log.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// L0002: a line that is not a log line.
    #[error("line {line} is not a decision log line: {reason}")]
    NotALine {
        /// The line, from 1.
        line: u64,
        /// What was found.
        reason: String,
    },
    /// L0003: a line's bytes are not those the next line's `prev` records.
    #[error("line {line} was edited: its sha256 is {found}, line {next} records {expected}")]
    Edited {
        /// The edited line (or the next line's `prev` was).
        line: u64,
        /// The line after it.
        next: u64,
        /// The `prev` the next line records.
        expected: String,
        /// The line's sha256.
        found: String,
    },
    /// L0004: lines are missing before this one (its `seq` jumps).
    #[error("{missing} line(s) were removed before line {line}: its seq is {found}, {expected} was expected")]
    Removed {
        /// The line after the gap.
        line: u64,
        /// How many are missing.
        missing: u64,
        /// The seq expected.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// L0005: a line that repeats an earlier seq: it, or the line before it, was inserted.
    #[error("a line was inserted at line {line}: its seq is {found}, {expected} was expected")]
    Inserted {
        /// The line.
        line: u64,
        /// The seq expected.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// L0006: two lines in the wrong order.
    #[error("lines {line} and {next} are swapped: their seqs are {first} then {second}")]
    Swapped {
        /// The first line.
        line: u64,
        /// The line after it.
        next: u64,
        /// The first line's seq.
        first: u64,
        /// The second line's.
        second: u64,
    },
    /// L0007: the file ends inside a line (a write cut short).
    #[error("the log ends inside line {line} (no newline after it)")]
    Truncated {
        /// The line.
        line: u64,
    },
    /// L0008: `log why` found no decision on the action.
    #[error("the log holds no decision on action `{id}`")]
    NoSuchAction {
        /// The action id.
        id: String,
    },
}

impl LogError {
    /// The stable code: `L0001` to `L0008` (docs/diagnostics.md).
    pub fn code(&self) -> &'static str {
        match self {
            LogError::Io { .. } => "L0001",
            LogError::NotALine { .. } => "L0002",
            LogError::Edited { .. } => "L0003",
            LogError::Removed { .. } => "L0004",
            LogError::Inserted { .. } => "L0005",
            LogError::Swapped { .. } => "L0006",
            LogError::Truncated { .. } => "L0007",
            LogError::NoSuchAction { .. } => "L0008",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            LogError::Io { .. } => "check the path and its permissions",
            LogError::NotALine { .. } | LogError::Truncated { .. } => {
                "the log was damaged or is not a decision log (`probity replay --log FILE` writes one); restore it \
                 from a copy"
            }
            LogError::Edited { .. }
            | LogError::Removed { .. }
            | LogError::Inserted { .. }
            | LogError::Swapped { .. } => {
                "the log was altered after it was written: restore it from a copy, and compare its head with one \
                 recorded elsewhere"
            }
            LogError::NoSuchAction { .. } => "give the `id` of an action whose decision the log holds",
        }
    }

    /// Whether the log was found altered or damaged (rather than unreadable or asked about an
    /// action it does not hold).
    pub fn is_tamper(&self) -> bool {
        !matches!(self, LogError::Io { .. } | LogError::NoSuchAction { .. })
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::Io { action, path: path.to_path_buf(), source }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The `policies` member of every line a run writes, made once.
#[derive(Debug, Clone)]
pub struct LogPolicies(String);

impl LogPolicies {
    /// `{"versions":[{"id","version","digest"},…]}` of a set loaded from a directory; with a
    /// bundle's manifest digest, `{"bundle":"sha256:…","versions":[…]}`.
    pub fn new(set: &PolicySet, bundle: Option<&str>) -> LogPolicies {
        let versions: Vec<serde_json::Value> = set
            .digests()
            .map(|(id, version, digest)| serde_json::json!({"id": id, "version": version, "digest": digest}))
            .collect();
        let versions = serde_json::to_string(&versions).unwrap_or_default();
        LogPolicies(match bundle {
            Some(digest) => format!("{{\"bundle\":{},\"versions\":{versions}}}", serde_json::json!(digest)),
            None => format!("{{\"versions\":{versions}}}"),
        })
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A line as read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    seq: u64,
    prev: String,
    #[allow(dead_code)]
    policies: Box<RawValue>,
    action: Option<Box<RawValue>>,
    record: Box<RawValue>,
}

/// Reads the lines of a log, each with its bytes, checking the chain as it goes.
struct Reader<R> {
    input: R,
    line: u64,
    /// The previous line's seq and sha256.
    last: (u64, String),
    /// The line read ahead, for telling a swap from a gap.
    ahead: Option<(Vec<u8>, Line)>,
}

impl<R: BufRead> Reader<R> {
    fn new(input: R) -> Self {
        Reader { input, line: 0, last: (0, GENESIS.to_string()), ahead: None }
    }

    fn raw(&mut self, number: u64) -> Result<Option<(Vec<u8>, Line)>, LogError> {
        let mut bytes = Vec::new();
        let read = (&mut self.input)
            .take(MAX_LINE_BYTES.saturating_add(1))
            .read_until(b'\n', &mut bytes)
            .map_err(|e| LogError::NotALine { line: number, reason: e.to_string() })?;
        if read == 0 {
            return Ok(None);
        }
        if bytes.pop() != Some(b'\n') {
            if bytes.len() as u64 >= MAX_LINE_BYTES {
                let reason = format!("longer than {MAX_LINE_BYTES} bytes");
                return Err(LogError::NotALine { line: number, reason });
            }
            return Err(LogError::Truncated { line: number });
        }
        let parsed: Line =
            serde_json::from_slice(&bytes).map_err(|e| LogError::NotALine { line: number, reason: e.to_string() })?;
        Ok(Some((bytes, parsed)))
    }

    /// The next line, checked against the one before.
    fn next_line(&mut self) -> Result<Option<(Vec<u8>, Line)>, LogError> {
        let number = self.line.saturating_add(1);
        let current = match self.ahead.take() {
            Some(line) => Some(line),
            None => self.raw(number)?,
        };
        let Some((bytes, line)) = current else { return Ok(None) };
        let expected = self.last.0.saturating_add(1);
        if line.seq > expected {
            // A swap shows as a jump whose next line holds the seq expected.
            let after = self.raw(number.saturating_add(1))?;
            if let Some((_, next)) = after.as_ref().filter(|(_, n)| n.seq == expected) {
                return Err(LogError::Swapped {
                    line: number,
                    next: number.saturating_add(1),
                    first: line.seq,
                    second: next.seq,
                });
            }
            let missing = line.seq.saturating_sub(expected);
            return Err(LogError::Removed { line: number, missing, expected, found: line.seq });
        }
        if line.seq < expected {
            return Err(LogError::Inserted { line: number, expected, found: line.seq });
        }
        if line.prev != self.last.1 {
            if number == 1 {
                let reason = format!("the first line's prev is `{}`, not the genesis value", line.prev);
                return Err(LogError::NotALine { line: 1, reason });
            }
            return Err(LogError::Edited {
                line: number.saturating_sub(1),
                next: number,
                expected: line.prev,
                found: self.last.1.clone(),
            });
        }
        self.line = number;
        self.last = (line.seq, sha256_hex(&bytes));
        Ok(Some((bytes, line)))
    }
}

/// The end of an intact log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Lines in the file.
    pub lines: u64,
    /// The last line's seq (0 for an empty log).
    pub seq: u64,
    /// The last line's sha256 ([`GENESIS`] for an empty log): the `prev` of the next line.
    /// Recorded elsewhere, it shows lines cut from the end, which the chain alone cannot.
    pub hash: String,
}

/// Walks the chain of a log: the first line edited, removed, inserted or swapped is an error
/// naming it; an intact log gives its head.
pub fn verify(file: &Path) -> Result<Head, LogError> {
    let input = std::fs::File::open(file).map_err(io("read", file))?;
    let mut reader = Reader::new(BufReader::with_capacity(1 << 16, input));
    while reader.next_line()?.is_some() {}
    Ok(Head { lines: reader.line, seq: reader.last.0, hash: reader.last.1 })
}

/// Appends lines to a log, continuing its chain.
pub struct LogWriter {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    seq: u64,
    prev: String,
}

impl LogWriter {
    /// Opens a log to append to (created if absent). The existing lines are verified first
    /// ([`verify`]): a log that does not verify is not continued.
    pub fn open_append(path: &Path) -> Result<LogWriter, LogError> {
        let mut file =
            std::fs::OpenOptions::new().read(true).append(true).create(true).open(path).map_err(io("write", path))?;
        let mut reader = Reader::new(BufReader::with_capacity(1 << 16, &mut file));
        while reader.next_line()?.is_some() {}
        let (seq, prev) = reader.last;
        file.seek(std::io::SeekFrom::End(0)).map_err(io("write", path))?;
        Ok(LogWriter { path: path.to_path_buf(), out: std::io::BufWriter::with_capacity(1 << 16, file), seq, prev })
    }

    /// The head so far: the last line's seq and sha256.
    pub fn head(&self) -> (u64, &str) {
        (self.seq, &self.prev)
    }

    /// Appends a record (`record_json`: the replay's record line, `{"decision":…}` or
    /// `{"overdue":…}`) with the action decided (none for an overdue report).
    pub fn append(
        &mut self,
        action: Option<&Action>,
        record_json: &str,
        policies: &LogPolicies,
    ) -> Result<(), LogError> {
        let action = action.map(Action::canonical_json);
        self.append_json(action.as_deref(), record_json, policies)
    }

    /// [`LogWriter::append`] with the action's canonical JSON already made.
    pub fn append_json(
        &mut self,
        action_json: Option<&str>,
        record_json: &str,
        policies: &LogPolicies,
    ) -> Result<(), LogError> {
        let seq = self.seq.saturating_add(1);
        let line = format!(
            "{{\"seq\":{seq},\"prev\":\"{}\",\"policies\":{},\"action\":{},\"record\":{record_json}}}",
            self.prev,
            policies.as_str(),
            action_json.unwrap_or("null"),
        );
        self.out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(io("write", &self.path))?;
        self.seq = seq;
        self.prev = sha256_hex(line.as_bytes());
        Ok(())
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.out.flush().map_err(io("write", &self.path))
    }

    /// Writes what is buffered and waits for it to reach the disk.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.flush()?;
        self.out.get_ref().sync_data().map_err(io("write", &self.path))
    }
}

/// A replay's records into a log, in input order, beside another tap (the HTML report): give
/// it to [`probity::replay::output::run`], then see [`LogTap::finish`].
pub struct LogTap<'a, T: Tap> {
    writer: &'a mut LogWriter,
    policies: &'a LogPolicies,
    other: Option<&'a mut T>,
    error: Option<LogError>,
}

impl<'a, T: Tap> LogTap<'a, T> {
    /// A tap writing to `writer`, and passing every record to `other` too.
    pub fn new(writer: &'a mut LogWriter, policies: &'a LogPolicies, other: Option<&'a mut T>) -> Self {
        LogTap { writer, policies, other, error: None }
    }

    /// The first write error, if any; else the log flushed and synced.
    pub fn finish(self) -> Result<(), LogError> {
        match self.error {
            Some(e) => Err(e),
            None => self.writer.sync(),
        }
    }
}

/// A record made ready on the worker thread: the action's canonical JSON and the record line.
pub struct LogItem<I> {
    entry: Option<(Option<String>, String)>,
    other: Option<I>,
}

impl<T: Tap> Tap for LogTap<'_, T> {
    type Item = LogItem<T::Item>;
    type Digester = Option<T::Digester>;

    fn digester(&self) -> Self::Digester {
        self.other.as_ref().map(|o| o.digester())
    }

    fn digest(digester: &Self::Digester, record: &Record<'_>) -> Self::Item {
        let entry = match record {
            Record::Decision { action, .. } => Some(Some(action.canonical_json())),
            Record::Overdue { .. } => Some(None),
            // A line that could not be used decided nothing: the log leaves it out.
            Record::Error { .. } => None,
        }
        .map(|action| {
            let mut json = Vec::new();
            record.write_json(&mut json);
            (action, String::from_utf8(json).unwrap_or_default())
        });
        LogItem { entry, other: digester.as_ref().map(|d| T::digest(d, record)) }
    }

    fn add(&mut self, item: Self::Item) {
        if let (Some(other), Some(i)) = (self.other.as_deref_mut(), item.other) {
            other.add(i);
        }
        if let (None, Some((action, record))) = (&self.error, item.entry) {
            if let Err(e) = self.writer.append_json(action.as_deref(), &record, self.policies) {
                self.error = Some(e);
            }
        }
    }
}

/// What `log why` found.
#[derive(Debug)]
pub struct Why {
    /// The action id.
    pub id: String,
    /// Its RM.
    pub rm: String,
    /// The log line of its decision.
    pub line: u64,
    /// The RM's earlier actions decided again first.
    pub prior: usize,
    /// The record as logged.
    pub logged: String,
    /// The record decided again.
    pub derived: String,
    /// Where they differ (`None`: byte for byte the same).
    pub difference: Option<String>,
    /// The explanation of the action against the RM's history rebuilt from the log.
    pub explanation: Option<Explanation>,
    /// Whether the explanation's decision is the one decided again (the history a log gives an
    /// explanation is rebuilt from its records: it should, and this says if it does not).
    pub explanation_agrees: bool,
}

impl Why {
    /// Whether the decision decided again is byte for byte the logged one.
    pub fn identical(&self) -> bool {
        self.difference.is_none()
    }

    /// As `probity log why` prints it.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "action {} of {} (log line {}), decided again after {} earlier action(s) of that RM\n",
            self.id, self.rm, self.line, self.prior
        );
        match &self.difference {
            None => out.push_str("the decision decided again is byte for byte the logged record\n"),
            Some(d) => {
                out.push_str(&format!("MISMATCH: the decision decided again differs from the logged record: {d}\n"));
                out.push_str(&format!("logged:  {}\nderived: {}\n", self.logged, self.derived));
            }
        }
        if let Some(e) = &self.explanation {
            if !self.explanation_agrees {
                out.push_str("note: the explanation's decision differs from the one decided again\n");
            }
            out.push('\n');
            out.push_str(&e.to_text());
        }
        out
    }
}

/// A record line's JSON form.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RecordJson {
    Decision(Decision),
    Overdue(OverdueReport),
}

/// Re-derives the decision on `id` from the log: every earlier logged action of its RM is
/// submitted to a fresh ledger over `set`, in log order, then the action itself; the record is
/// compared byte for byte with the logged one, and the action explained against the RM's
/// history as the log shows it. The log's chain is verified as it is read.
pub fn why(file: &Path, id: &str, set: PolicySet) -> Result<Why, LogError> {
    let input = std::fs::File::open(file).map_err(io("read", file))?;
    let mut reader = Reader::new(BufReader::with_capacity(1 << 16, input));
    // Every decision line: its number, action and record; overdue reports' records.
    let mut entries: Vec<(u64, Option<Action>, String)> = Vec::new();
    let mut target = None;
    while let Some((_, line)) = reader.next_line()? {
        let number = reader.line;
        let action = match &line.action {
            Some(raw) => Some(
                Action::from_json(raw.get())
                    .map_err(|e| LogError::NotALine { line: number, reason: format!("its action: {e}") })?,
            ),
            None => None,
        };
        if target.is_none() && action.as_ref().is_some_and(|a| a.id() == id) {
            target = Some(entries.len());
        }
        entries.push((number, action, line.record.get().to_string()));
    }
    let index = target.ok_or_else(|| LogError::NoSuchAction { id: id.to_string() })?;
    let Some((line, Some(action), logged)) = entries.get(index).cloned() else {
        return Err(LogError::NoSuchAction { id: id.to_string() });
    };
    let rm = action.rm().to_string();
    let earlier = entries.get(..index).unwrap_or_default();
    let engine = Engine::new(set);
    let mut ledger = engine.ledger();
    let mut prior = 0usize;
    let mut history = History::new();
    let mut open: Vec<probity::HistoryObligation> = Vec::new();
    for (_, logged_action, record) in earlier {
        let record: Option<RecordJson> = serde_json::from_str(record).ok();
        match (logged_action, record) {
            (Some(a), record) if a.rm() == rm => {
                prior = prior.saturating_add(1);
                // An earlier action that no longer decides shows in the comparison below.
                let _ = ledger.submit(a);
                history.actions.push(a.clone());
                if let Some(RecordJson::Decision(d)) = record {
                    note_decision(&d, &mut history, &mut open);
                }
            }
            (None, Some(RecordJson::Overdue(report))) if report.rm == rm => {
                note_overdue(&report, &mut history, &mut open)
            }
            _ => {}
        }
    }
    history.obligations = open;
    let derived = match ledger.submit(&action) {
        Ok(submission) => format!("{{\"decision\":{}}}", submission.decision.to_json()),
        Err(e) => format!("{{\"error\":{}}}", serde_json::json!(format!("[{}] {e}", e.code()))),
    };
    let difference = (derived != logged).then(|| describe_difference(&logged, &derived));
    let explanation = engine.explain(&action, &history).ok();
    let explanation_agrees =
        explanation.as_ref().is_some_and(|e| format!("{{\"decision\":{}}}", e.decision.to_json()) == derived);
    Ok(Why { id: id.to_string(), rm, line, prior, logged, derived, difference, explanation, explanation_agrees })
}

/// The breaches and obligations a logged decision adds to the RM's history.
fn note_decision(d: &Decision, history: &mut History, open: &mut Vec<probity::HistoryObligation>) {
    for f in d.findings.iter().filter(|f| f.outcomes.iter().any(|o| o == "breach")) {
        history.breaches.push(probity::HistoryBreach {
            rm: None,
            policy: f.policy.to_string(),
            rule: f.rule.to_string(),
            severity: f.severity.as_deref().unwrap_or("minor").to_string(),
            ladder: f.ladder.as_ref().map(ToString::to_string),
            at: d.at.to_string(),
            action: d.action.to_string(),
            points: None,
        });
    }
    for done in &d.fulfilled {
        open.retain(|o| !(o.policy == *done.policy && o.duty == *done.duty && o.action == *done.action));
    }
    for o in &d.obligations {
        let Some(action) = &o.action else { continue };
        open.push(probity::HistoryObligation {
            rm: None,
            policy: o.policy.to_string(),
            duty: o.duty.to_string(),
            action: action.to_string(),
            due: o.due.to_string(),
            version: None,
        });
    }
}

/// The breaches an overdue report adds; its obligation is no longer open.
fn note_overdue(report: &OverdueReport, history: &mut History, open: &mut Vec<probity::HistoryObligation>) {
    let o = &report.obligation;
    let action = o.action.as_deref().unwrap_or("");
    open.retain(|h| !(h.policy == *o.policy && h.duty == *o.duty && h.action == action));
    for f in report.findings.iter().filter(|f| f.outcomes.iter().any(|o| o == "breach")) {
        history.breaches.push(probity::HistoryBreach {
            rm: None,
            policy: f.policy.to_string(),
            rule: f.rule.to_string(),
            severity: f.severity.as_deref().unwrap_or("minor").to_string(),
            ladder: f.ladder.as_ref().map(ToString::to_string),
            at: report.at.to_string(),
            action: action.to_string(),
            points: None,
        });
    }
}

/// Where two records differ: the decision's members that differ, and the first byte.
fn describe_difference(logged: &str, derived: &str) -> String {
    let at = logged.bytes().zip(derived.bytes()).position(|(a, b)| a != b).unwrap_or(logged.len().min(derived.len()));
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
    let members = match (parse(logged), parse(derived)) {
        (Some(a), Some(b)) => {
            let a = a.get("decision").and_then(|d| d.as_object()).cloned().unwrap_or_default();
            let b = b.get("decision").and_then(|d| d.as_object()).cloned().unwrap_or_default();
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).map(|k| format!("`{k}`")).collect::<Vec<_>>()
        }
        _ => Vec::new(),
    };
    if members.is_empty() {
        format!("from byte {at}")
    } else {
        format!("in {} (from byte {at})", members.join(", "))
    }
}
