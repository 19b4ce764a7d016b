//! Replay: stream JSON-lines actions through ledgers, write JSON-lines records, and summarise
//! what happened. The CLI's `probity replay` and the bindings' batch replay share it.

pub mod durable;
#[cfg(not(target_arch = "wasm32"))]
pub mod output;
mod pool;
pub mod table;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use crate::ledger::RmChange;
use crate::{Action, Decision, Engine, FieldFault, InputError, Ledger, OverdueReport, Verdict};
use chrono::{DateTime, FixedOffset, TimeDelta};
use pool::Pool;
use serde::Serialize;
use smol_str::SmolStr;

/// One record of a replay's output, as [`replay_with`] hands it to its encoder.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// An obligation found overdue.
    Overdue {
        /// The line whose action advanced the RM's clock past the deadline; `None` for the
        /// closing advance to `as_of`.
        line: Option<usize>,
        /// The report.
        report: &'a OverdueReport,
    },
    /// The decision on a line's action.
    Decision {
        /// The line, numbered from 1.
        line: usize,
        /// The RM whose action it is.
        rm: &'a str,
        /// The action decided on (for what the decision does not carry, such as `rm.branch`).
        action: &'a Action,
        /// The decision.
        decision: &'a Decision,
        /// The decision as [`Decision::to_json`] writes it, when that text exists already (a
        /// durable ledger keeps it for retries); `None`, and it is written from `decision`.
        json: Option<&'a str>,
    },
    /// A line that could not be used.
    Error {
        /// The line, numbered from 1.
        line: usize,
        /// The RM the line names (`rm.id`), when it is JSON that names one.
        rm: Option<&'a str>,
        /// Why.
        message: &'a str,
    },
}

impl Record<'_> {
    /// Appends the record as one line of JSON without its newline: `{"decision":{…}}`,
    /// `{"overdue":{…}}` or `{"error":{"line":…,"message":…}}`, as `probity replay` writes it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        if let Record::Decision { json: Some(text), .. } = *self {
            // What serialising `Json::Decision` writes, without doing it again.
            out.extend_from_slice(b"{\"decision\":");
            out.extend_from_slice(text.as_bytes());
            out.push(b'}');
            return;
        }
        let json = match *self {
            Record::Overdue { report, .. } => Json::Overdue(report),
            Record::Decision { decision, .. } => Json::Decision(decision),
            Record::Error { line, message, .. } => Json::Error { line, message },
        };
        // Writing into memory fails only on a value serde cannot represent, and the records'
        // types have none.
        let _ = serde_json::to_writer(out, &json);
    }
}

/// A record's JSON form.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Json<'a> {
    Decision(&'a Decision),
    Overdue(&'a OverdueReport),
    Error { line: usize, message: &'a str },
}

fn every_verdict<S: serde::Serializer>(verdicts: &BTreeMap<Verdict, u64>, out: S) -> Result<S::Ok, S::Error> {
    let count = |v: Verdict| (v, verdicts.get(&v).copied().unwrap_or(0));
    out.collect_map([count(Verdict::Allow), count(Verdict::Review), count(Verdict::Deny)])
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, n: u64) {
    let count = map.entry(key).or_default();
    *count = count.saturating_add(n);
}

/// What a replay saw, for the closing summary. Its JSON form (the bindings' summary) is an
/// object of these fields, `verdicts` naming every verdict (0 for those not seen).
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Input lines that were actions.
    pub events: u64,
    /// Decisions per verdict.
    #[serde(serialize_with = "every_verdict")]
    pub verdicts: BTreeMap<Verdict, u64>,
    /// Breaches per `policy/rule` (overdue breaches included).
    pub breaches: BTreeMap<String, u64>,
    /// Sanctions per `ladder → step`.
    pub sanctions: BTreeMap<String, u64>,
    /// Decisions with at least one restriction finding.
    pub restricted_actions: u64,
    /// Restriction findings per `policy/ladder → step`.
    pub restricted: BTreeMap<String, u64>,
    /// Overdue reports written.
    pub overdue_reports: u64,
    /// Obligations still open at the end, not yet overdue.
    pub open_obligations: usize,
    /// Obligations reported overdue and still open at the end.
    pub overdue_open: usize,
    /// History items (actions, breaches, obligations) the ledgers held at the end: what some
    /// window can still reach. It stops growing once the windows are full.
    pub retained_items: usize,
    /// Lines that could not be used.
    pub errors: u64,
}

impl Summary {
    fn merge(&mut self, other: &Summary) {
        self.events = self.events.saturating_add(other.events);
        for (k, n) in &other.verdicts {
            bump(&mut self.verdicts, *k, *n);
        }
        for (k, n) in &other.breaches {
            bump(&mut self.breaches, k.clone(), *n);
        }
        for (k, n) in &other.sanctions {
            bump(&mut self.sanctions, k.clone(), *n);
        }
        self.restricted_actions = self.restricted_actions.saturating_add(other.restricted_actions);
        for (k, n) in &other.restricted {
            bump(&mut self.restricted, k.clone(), *n);
        }
        self.overdue_reports = self.overdue_reports.saturating_add(other.overdue_reports);
        self.errors = self.errors.saturating_add(other.errors);
    }

    fn decision(&mut self, d: &Decision) {
        self.events = self.events.saturating_add(1);
        bump(&mut self.verdicts, d.verdict, 1);
        self.findings(&d.findings, &d.sanctions);
        let mut restricted = false;
        for f in d.findings.iter().filter(|f| f.kind == crate::FindingKind::Restriction) {
            restricted = true;
            let step = f.evidence.iter().find(|(k, _)| k == "step").map(|(_, v)| v.to_json());
            let step = step.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
            bump(&mut self.restricted, format!("{}/{} → {step}", f.policy, f.rule), 1);
        }
        if restricted {
            self.restricted_actions = self.restricted_actions.saturating_add(1);
        }
    }

    fn overdue(&mut self, r: &OverdueReport) {
        self.overdue_reports = self.overdue_reports.saturating_add(1);
        self.findings(&r.findings, &r.sanctions);
    }

    fn findings(&mut self, findings: &[crate::Finding], sanctions: &[crate::Sanction]) {
        for f in findings.iter().filter(|f| f.severity.is_some()) {
            bump(&mut self.breaches, format!("{}/{}", f.policy, f.rule), 1);
        }
        for s in sanctions {
            bump(&mut self.sanctions, format!("{}/{} → {}", s.policy, s.ladder, s.step), 1);
        }
    }

    /// The summary as an aligned text table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![("events".into(), self.events.to_string())];
        for v in [Verdict::Allow, Verdict::Review, Verdict::Deny] {
            rows.push((format!("  {v}"), self.verdicts.get(&v).copied().unwrap_or(0).to_string()));
        }
        rows.push(("breaches".into(), self.breaches.values().sum::<u64>().to_string()));
        rows.extend(self.breaches.iter().map(|(k, n)| (format!("  {k}"), n.to_string())));
        rows.push(("sanctions".into(), self.sanctions.values().sum::<u64>().to_string()));
        rows.extend(self.sanctions.iter().map(|(k, n)| (format!("  {k}"), n.to_string())));
        rows.push(("restricted actions".into(), self.restricted_actions.to_string()));
        rows.extend(self.restricted.iter().map(|(k, n)| (format!("  {k}"), n.to_string())));
        rows.push(("overdue reports".into(), self.overdue_reports.to_string()));
        rows.push(("obligations open at the end, not yet due".into(), self.open_obligations.to_string()));
        rows.push(("obligations overdue and still open".into(), self.overdue_open.to_string()));
        rows.push(("history items held at the end".into(), self.retained_items.to_string()));
        rows.push(("errors".into(), self.errors.to_string()));
        let cells = |k: &str| unicode_width::UnicodeWidthStr::width(k);
        let width = rows.iter().map(|(k, _)| cells(k)).max().unwrap_or(0);
        let number = rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let pad = width.saturating_sub(cells(&k));
            out.push_str(&format!("{k}{}  {v:>number$}\n", " ".repeat(pad)));
        }
        out
    }
}

/// How far ahead of the latest time seen in the stream so far an action may be dated by
/// default: one day. A line dated further ahead (a typo of the year, say) would otherwise move
/// its RM's clock and make every later line of that RM out of order.
pub const DEFAULT_MAX_SKEW: TimeDelta = TimeDelta::days(1);

/// A skew bound given in seconds (the bindings' `max_skew`): a finite number, not negative,
/// rounded to the millisecond.
pub fn max_skew_seconds(seconds: f64) -> Result<TimeDelta, String> {
    let millis = (seconds * 1000.0).round();
    if !(0.0..=1e15).contains(&millis) {
        return Err(format!(
            "`max_skew` must be a duration of zero or more seconds (at most about 30,000 years), found {seconds}"
        ));
    }
    // In range by the check above.
    #[allow(clippy::cast_possible_truncation)]
    let millis = millis as i64;
    TimeDelta::try_milliseconds(millis).ok_or_else(|| "`max_skew` is too long".to_string())
}

/// How a replay runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Advance every RM to this time after the last line.
    pub as_of: Option<DateTime<FixedOffset>>,
    /// Threads to share the RMs among (clamped to 1..=64); the output does not depend on it.
    pub jobs: usize,
    /// An action dated more than this ahead of the latest time of the actions before it (in
    /// input order) is an input error that moves no clock; `None` accepts any time.
    pub max_skew: Option<TimeDelta>,
    /// With a state ([`durable`]): commit every this many lines, or up to twice as many while
    /// the last commit still runs (`None`: [`durable::COMMIT_EVERY_AT_LEAST`] lines, or sixteen
    /// per RM the state tracks if more).
    pub commit_every: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options { as_of: None, jobs: 1, max_skew: Some(DEFAULT_MAX_SKEW), commit_every: None }
    }
}

/// Replays JSON-lines actions: for each line the overdue reports of the implicit advance, then
/// the decision; `as_of` advances every RM at the end. Each record is written to `out` as a line
/// of JSON ([`Record::write_json`]). `progress` is called with the bytes read. Actions more than
/// [`DEFAULT_MAX_SKEW`] ahead of the stream are input errors ([`replay_with_options`] sets it).
///
/// With `jobs > 1` the work is shared among threads, each owning the ledger of a share of the
/// RMs (RMs are independent); the output is the same, line for line, as with one job.
pub fn replay(
    engine: &Engine,
    input: impl BufRead,
    out: &mut impl Write,
    as_of: Option<DateTime<FixedOffset>>,
    jobs: usize,
    progress: impl FnMut(u64),
) -> std::io::Result<Summary> {
    replay_to(engine, input, out, &Options { as_of, jobs, ..Options::default() }, progress)
}

/// [`replay`] with every option.
pub fn replay_to(
    engine: &Engine,
    input: impl BufRead,
    out: &mut impl Write,
    options: &Options,
    progress: impl FnMut(u64),
) -> std::io::Result<Summary> {
    let encode = |lines: &mut Vec<u8>, record: &Record<'_>| {
        // Room for a typical decision at once, rather than growing to it in steps.
        lines.reserve(1024);
        record.write_json(lines);
        lines.push(b'\n');
    };
    let summary =
        replay_with_options(engine, input, options, encode, |lines: Vec<u8>| out.write_all(&lines), progress)?;
    out.flush()?;
    Ok(summary)
}

/// [`replay`] with the records encoded by the caller: `encode` appends a record to the encoding
/// of its input line (an `L::default()` per line), on the thread that decided it; `emit` takes
/// the encoded lines in input order on the calling thread (the closing `as_of` reports come last,
/// one to an `L`). An error from `emit` ends the replay.
pub fn replay_with<L: Default + Send>(
    engine: &Engine,
    input: impl BufRead,
    as_of: Option<DateTime<FixedOffset>>,
    jobs: usize,
    encode: impl Fn(&mut L, &Record<'_>) + Sync,
    emit: impl FnMut(L) -> std::io::Result<()>,
    progress: impl FnMut(u64),
) -> std::io::Result<Summary> {
    replay_with_options(engine, input, &Options { as_of, jobs, ..Options::default() }, encode, emit, progress)
}

/// [`replay_with`] with every option.
pub fn replay_with_options<L: Default + Send>(
    engine: &Engine,
    input: impl BufRead,
    options: &Options,
    encode: impl Fn(&mut L, &Record<'_>) + Sync,
    emit: impl FnMut(L) -> std::io::Result<()>,
    progress: impl FnMut(u64),
) -> std::io::Result<Summary> {
    let workers = (0..options.jobs.clamp(1, 64)).map(|_| Worker::new(engine.ledger().transient())).collect();
    run(workers, input, options, encode, emit, progress, &mut InMemory)
}

/// Where a replay's state goes as it runs: a plain replay keeps it in memory; a durable one
/// ([`durable`]) commits it to a store before the records it covers are emitted.
trait Checkpoint {
    /// Before a batch is decided: the lines the state answers itself (retries of submissions
    /// it recorded), taken out of `parsed`.
    fn answered(&mut self, workers: &[Worker], parsed: &mut Parsed) -> std::io::Result<Vec<Answered>>;
    /// Before a batch of `lines` input lines is decided: whether a commit starts after it. Each
    /// worker then takes its ledger's changes at the end of its share, on its own thread,
    /// instead of the calling thread taking them all while the workers wait.
    fn commit_after(&mut self, lines: usize) -> bool;
    /// After each batch of `lines` input lines, with `pending` records not yet emitted and
    /// `commit` as [`Checkpoint::commit_after`] settled it: how many of them, from the first,
    /// may be emitted now.
    fn batch_done(
        &mut self,
        workers: &mut [Worker],
        lines: usize,
        pending: usize,
        commit: bool,
    ) -> std::io::Result<usize>;
    /// After the last line and the closing advance, before the last records are emitted.
    fn finish(&mut self, workers: &mut [Worker]) -> std::io::Result<()>;
}

/// A replay that saves nothing.
struct InMemory;

/// A line a durable replay's state answered: the recorded decision, or why it cannot be given.
struct Answered {
    line: usize,
    action: Action,
    answer: Result<Decision, InputError>,
}

impl Checkpoint for InMemory {
    fn answered(&mut self, _: &[Worker], _: &mut Parsed) -> std::io::Result<Vec<Answered>> {
        Ok(Vec::new())
    }

    fn commit_after(&mut self, _: usize) -> bool {
        false
    }

    fn batch_done(&mut self, _: &mut [Worker], _: usize, pending: usize, _: bool) -> std::io::Result<usize> {
        Ok(pending)
    }

    fn finish(&mut self, _: &mut [Worker]) -> std::io::Result<()> {
        Ok(())
    }
}

/// The replay loop over ready ledgers (one per worker thread, each owning a share of the RMs).
fn run<L: Default + Send>(
    workers: Vec<Worker>,
    input: impl BufRead,
    options: &Options,
    encode: impl Fn(&mut L, &Record<'_>) + Sync,
    mut emit: impl FnMut(L) -> std::io::Result<()>,
    mut progress: impl FnMut(u64),
    checkpoint: &mut dyn Checkpoint,
) -> std::io::Result<Summary> {
    // With one job, the calling thread does all the work, and no thread is started (nor can
    // be, in WebAssembly).
    if workers.len() <= 1 {
        return run_in(&Pool::none(), workers, input, options, &encode, &mut emit, &mut progress, checkpoint);
    }
    std::thread::scope(|scope| {
        let pool = Pool::new(scope, workers.len());
        run_in(&pool, workers, input, options, &encode, &mut emit, &mut progress, checkpoint)
    })
}

/// [`run`] with its threads.
#[allow(clippy::too_many_arguments)]
fn run_in<'env, L: Default + Send + 'env>(
    pool: &Pool<'env>,
    mut workers: Vec<Worker>,
    input: impl BufRead,
    options: &Options,
    encode: &'env (impl Fn(&mut L, &Record<'_>) + Sync),
    emit: &mut impl FnMut(L) -> std::io::Result<()>,
    progress: &mut impl FnMut(u64),
    checkpoint: &mut dyn Checkpoint,
) -> std::io::Result<Summary> {
    let mut lines = Lines::new(input);
    let mut stream = StreamClock { latest: None, max_skew: options.max_skew };
    let mut number = 0usize;
    let mut read = || -> std::io::Result<Option<Parsed>> {
        let batch = read_batch(&mut lines, &mut number, progress)?;
        if batch.is_empty() {
            return Ok(None);
        }
        parse_batch(pool, batch).map(Some)
    };
    // One batch is read ahead, so that the skew check of a batch's last lines can see the
    // first action after them.
    let mut next = read()?;
    // Records not yet emitted: those a durable replay has not committed yet.
    let mut pending: Vec<L> = Vec::new();
    while let Some(mut parsed) = next.take() {
        next = read()?;
        let following = next.as_ref().and_then(|p| p.iter().find_map(|(_, a)| a.as_ref().ok().map(Action::at)));
        stream.check(&mut parsed, following);
        let count = parsed.len();
        let answered = checkpoint.answered(&workers, &mut parsed)?;
        let commit = checkpoint.commit_after(count);
        let mut decided = run_batch(pool, &mut workers, parsed, encode, commit)?;
        if let (false, Some(worker)) = (answered.is_empty(), workers.first_mut()) {
            decided.extend(answered.into_iter().map(|a| (a.line, worker.give(a, encode))));
            decided.sort_by_key(|(n, _)| *n);
        }
        pending.extend(decided.into_iter().map(|(_, encoded)| encoded));
        let ready = checkpoint.batch_done(&mut workers, count, pending.len(), commit)?;
        pending.drain(..ready.min(pending.len())).try_for_each(&mut *emit)?;
    }
    let mut summary = Summary::default();
    for worker in &workers {
        summary.merge(&worker.summary);
    }
    if let Some(t) = options.as_of {
        let mut reports: Vec<OverdueReport> = workers.iter_mut().flat_map(|w| w.ledger.advance_to(t)).collect();
        // The order one ledger gives: by deadline, then RM.
        reports.sort_by(|a, b| {
            let key = |r: &OverdueReport| (DateTime::parse_from_rfc3339(&r.at).ok(), r.rm.clone());
            key(a).cmp(&key(b))
        });
        for report in &reports {
            summary.overdue(report);
            let mut encoded = L::default();
            encode(&mut encoded, &Record::Overdue { line: None, report });
            pending.push(encoded);
        }
    }
    checkpoint.finish(&mut workers)?;
    pending.into_iter().try_for_each(emit)?;
    for ledger in workers.iter().map(|w| &w.ledger) {
        let (open, overdue) = ledger.open_obligations();
        summary.open_obligations = summary.open_obligations.saturating_add(open);
        summary.overdue_open = summary.overdue_open.saturating_add(overdue);
        summary.retained_items = summary.retained_items.saturating_add(ledger.retained_items());
    }
    Ok(summary)
}

/// The longest line kept: an action's limit, and room for a `\r` before the newline.
const MAX_LINE_BYTES: usize = crate::limits::MAX_ACTION_BYTES.saturating_add(1);

/// A line of input, as [`Lines`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The line's bytes, without the newline.
    Text(Vec<u8>),
    /// A line longer than an action may be: only its length in bytes (without the newline).
    /// Its bytes were skipped up to the next newline, never held.
    TooLong(u64),
}

impl Line {
    /// Why a [`Line::TooLong`] is unusable, as the action parser would say of it.
    pub fn too_long(bytes: u64) -> InputError {
        InputError::Limit(format!(
            "action is {bytes} bytes, more than the limit of {}",
            crate::limits::MAX_ACTION_BYTES
        ))
    }
}

/// The lines of a stream, split at `\n`, each held only up to the size an action may have: an
/// endless line (`/dev/zero`) costs bounded memory and is one [`Line::TooLong`] if it ends.
#[derive(Debug)]
pub struct Lines<R> {
    input: R,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `input`.
    pub fn new(input: R) -> Self {
        Lines { input, done: false }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = std::io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (mut bytes, mut length, mut too_long) = (Vec::new(), 0u64, false);
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if available.is_empty() {
                self.done = true;
                // The end: a last line without a newline, or nothing more.
                if length == 0 {
                    return None;
                }
                break;
            }
            let newline = memchr::memchr(b'\n', available);
            let part = match newline {
                Some(at) => available.get(..at).unwrap_or_default(),
                None => available,
            };
            length = length.saturating_add(part.len() as u64);
            if !too_long {
                if bytes.len().saturating_add(part.len()) > MAX_LINE_BYTES {
                    too_long = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(part);
                }
            }
            let used = part.len().saturating_add(usize::from(newline.is_some()));
            self.input.consume(used);
            if newline.is_some() {
                break;
            }
        }
        Some(Ok(if too_long { Line::TooLong(length) } else { Line::Text(bytes) }))
    }
}

/// The latest time of the actions accepted so far, in input order, against which a line's
/// time is checked for skew: deterministic whatever the number of jobs.
///
/// A line past the bound is taken for a mistake when the next action of the stream is back
/// with the stream (within the skew of its latest time): a quiet weekend moves the whole stream
/// ahead, a mistyped year moves one line.
struct StreamClock {
    latest: Option<DateTime<FixedOffset>>,
    max_skew: Option<TimeDelta>,
}

impl StreamClock {
    /// Turns every action of `parsed` (in line order) that is too far ahead into an input error;
    /// `following` is the time of the first action after the batch, if there is one.
    fn check(&mut self, parsed: &mut [(usize, Result<Action, Unusable>)], following: Option<DateTime<FixedOffset>>) {
        for index in 0..parsed.len() {
            let Some(at) = parsed.get(index).and_then(|(_, a)| a.as_ref().ok()).map(Action::at) else { continue };
            let bound = self.latest.zip(self.max_skew).and_then(|(latest, skew)| latest.checked_add_signed(skew));
            let ahead = bound.is_some_and(|bound| at > bound);
            // The jump is a mistake when the next action is back with the stream: within the
            // skew of the latest time, either side (looked for only past the bound). The last
            // action has no later line whose clock it could spoil.
            let mistaken = ahead && {
                let later = parsed.get(index.saturating_add(1)..).unwrap_or_default();
                let next = later.iter().find_map(|(_, a)| a.as_ref().ok().map(Action::at)).or(following);
                let floor = self.latest.zip(self.max_skew).and_then(|(latest, skew)| latest.checked_sub_signed(skew));
                matches!((next, floor, bound), (Some(t), Some(floor), Some(bound)) if floor <= t && t <= bound)
            };
            let Some(entry) = parsed.get_mut(index).map(|(_, a)| a) else { continue };
            let Ok(action) = entry else { continue };
            match self.latest {
                Some(latest) if mistaken => {
                    let error = InputError::in_field(
                        FieldFault::Skewed,
                        "at",
                        format!(
                            "{} is more than {} ahead of the latest time in the stream so far ({}); \
                             the line is taken for a mistake and moves no clock",
                            crate::value::format_datetime(&at),
                            skew_text(self.max_skew.unwrap_or(DEFAULT_MAX_SKEW)),
                            crate::value::format_datetime(&latest),
                        ),
                    );
                    *entry = Err(Unusable { error, rm: Some(SmolStr::from(action.rm())) });
                }
                _ => self.latest = Some(self.latest.map_or(at, |latest| latest.max(at))),
            }
        }
    }
}

/// A skew as text: whole days, hours, minutes or seconds, whichever it is.
fn skew_text(skew: TimeDelta) -> String {
    let seconds = skew.num_seconds();
    let unit = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    if seconds != 0 && seconds.checked_rem(86_400) == Some(0) {
        unit(seconds.checked_div(86_400).unwrap_or(0), "day")
    } else if seconds != 0 && seconds.checked_rem(3_600) == Some(0) {
        unit(seconds.checked_div(3_600).unwrap_or(0), "hour")
    } else if seconds != 0 && seconds.checked_rem(60) == Some(0) {
        unit(seconds.checked_div(60).unwrap_or(0), "minute")
    } else {
        unit(seconds, "second")
    }
}

/// Lines read and processed together.
const BATCH: usize = 4096;

/// The next lines (up to `BATCH`), numbered from 1 across the input; empty at the end. Lines are
/// only split here: checking their text and parsing them is the workers' job.
fn read_batch(
    lines: &mut impl Iterator<Item = std::io::Result<Line>>,
    number: &mut usize,
    progress: &mut impl FnMut(u64),
) -> std::io::Result<Vec<(usize, Line)>> {
    let mut batch = Vec::with_capacity(BATCH);
    for line in lines.by_ref() {
        let mut line = line?;
        *number = number.saturating_add(1);
        match &mut line {
            Line::Text(bytes) => {
                progress(bytes.len().saturating_add(1) as u64);
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            Line::TooLong(length) => progress(length.saturating_add(1)),
        }
        batch.push((*number, line));
        if batch.len() == BATCH {
            break;
        }
    }
    Ok(batch)
}

/// One thread's share of the RMs: their ledger, and what its lines added to the summary.
struct Worker {
    ledger: Ledger,
    summary: Summary,
    /// The ledger's changes, taken at the end of a batch for the commit after it.
    taken: Option<Vec<RmChange>>,
}

impl Worker {
    fn new(ledger: Ledger) -> Worker {
        Worker { ledger, summary: Summary::default(), taken: None }
    }

    /// Decides on a share of a batch; with `take_changes`, then takes the ledger's changes.
    fn process_share<L: Default>(
        &mut self,
        share: Vec<(usize, Result<Action, Unusable>)>,
        encode: &(impl Fn(&mut L, &Record<'_>) + Sync),
        take_changes: bool,
    ) -> Vec<(usize, L)> {
        let encoded = share.into_iter().map(|(n, a)| (n, self.process(n, a, encode))).collect();
        if take_changes {
            self.taken = Some(self.ledger.take_changes());
        }
        encoded
    }

    /// The ledger's changes: those taken at the end of the last batch, else taken now.
    fn changes(&mut self) -> Vec<RmChange> {
        self.taken.take().unwrap_or_else(|| self.ledger.take_changes())
    }
}

/// A line that is not an action: why, and the RM it names, if any.
struct Unusable {
    error: InputError,
    rm: Option<SmolStr>,
}

impl Unusable {
    fn new(error: InputError, text: &str) -> Self {
        // Only for the record: the `rm.id` of a line that is JSON, read the plain way, and only
        // within the size an action may have (a longer line is not read whole).
        let json: Option<serde_json::Value> =
            (text.len() <= crate::limits::MAX_ACTION_BYTES).then(|| serde_json::from_str(text).ok()).flatten();
        let rm = json.as_ref().and_then(|j| j.get("rm")?.get("id")?.as_str()).map(SmolStr::from);
        Unusable { error, rm }
    }
}

/// An input line's action; `None` for a blank line (which gives no output).
fn parse_line(line: &Line) -> Option<Result<Action, Unusable>> {
    let bytes = match line {
        Line::Text(bytes) => bytes,
        Line::TooLong(length) => return Some(Err(Unusable { error: Line::too_long(*length), rm: None })),
    };
    match std::str::from_utf8(bytes) {
        Ok(text) if text.trim().is_empty() => None,
        Ok(text) => Some(Action::from_json(text).map_err(|e| Unusable::new(e, text))),
        Err(e) => Some(Err(Unusable { error: not_utf8(&e), rm: None })),
    }
}

/// Why a line that is not UTF-8 is unusable (its record carries the line's number).
pub fn not_utf8(e: &std::str::Utf8Error) -> InputError {
    InputError::Json(format!("the line is not UTF-8 (byte {})", e.valid_up_to()))
}

/// The parsed lines of a batch that are not blank, with their numbers.
fn parse_lines(lines: &[(usize, Line)]) -> Vec<(usize, Result<Action, Unusable>)> {
    lines.iter().filter_map(|(n, bytes)| Some((*n, parse_line(bytes)?))).collect()
}

/// The encoded records of each line that is not blank, by line number.
type Encoded<L> = Vec<(usize, L)>;

/// A batch's lines that are not blank, parsed, with their numbers, in line order.
type Parsed = Vec<(usize, Result<Action, Unusable>)>;

/// Checks and parses a batch, in parallel (in contiguous chunks, one a thread of the pool) when
/// the pool has threads.
fn parse_batch(pool: &Pool<'_>, batch: Vec<(usize, Line)>) -> std::io::Result<Parsed> {
    let jobs = pool.threads();
    if jobs == 0 {
        return Ok(parse_lines(&batch));
    }
    let chunk = batch.len().div_ceil(jobs).max(1);
    let mut lines = batch.into_iter();
    let parts: Vec<Vec<(usize, Line)>> = (0..jobs).map(|_| lines.by_ref().take(chunk).collect()).collect();
    Ok(pool.map(parts.into_iter().map(|part| move || parse_lines(&part)))?.into_iter().flatten().collect())
}

/// Processes a batch: each worker takes the lines of its RMs, in order, on a thread of the
/// pool; the encoded lines come back in line order.
fn run_batch<'env, L: Default + Send + 'env>(
    pool: &Pool<'env>,
    workers: &mut Vec<Worker>,
    parsed: Parsed,
    encode: &'env (impl Fn(&mut L, &Record<'_>) + Sync),
    take_changes: bool,
) -> std::io::Result<Encoded<L>> {
    let jobs = workers.len();
    if jobs <= 1 {
        return Ok(match workers.first_mut() {
            Some(worker) => worker.process_share(parsed, encode, take_changes),
            None => Vec::new(),
        });
    }
    // Each ledger takes its RMs' actions (unparseable lines go to the first).
    let mut shares: Vec<Vec<(usize, Result<Action, Unusable>)>> = (0..jobs).map(|_| Vec::new()).collect();
    for (n, action) in parsed {
        let share = match &action {
            Ok(a) => shard(a.rm(), jobs),
            Err(_) => 0,
        };
        if let Some(list) = shares.get_mut(share) {
            list.push((n, action));
        }
    }
    // The workers go to the threads and come back with their lines' records.
    let done = pool.map(std::mem::take(workers).into_iter().zip(shares).map(|(mut worker, share)| {
        move || {
            let encoded = worker.process_share(share, encode, take_changes);
            (worker, encoded)
        }
    }))?;
    let mut outputs = Vec::with_capacity(done.iter().map(|(_, e)| e.len()).sum());
    for (worker, encoded) in done {
        workers.push(worker);
        outputs.extend(encoded);
    }
    outputs.sort_by_key(|(n, _)| *n);
    Ok(outputs)
}

fn shard(rm: &str, jobs: usize) -> usize {
    // FNV-1a: stable across runs and platforms.
    let hash = rm.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    usize::try_from(hash.checked_rem(jobs as u64).unwrap_or(0)).unwrap_or(0)
}

impl Worker {
    /// A line the state answered: its record, counted in the worker's summary and encoded.
    fn give<L: Default>(&mut self, answered: Answered, encode: &impl Fn(&mut L, &Record<'_>)) -> L {
        let mut encoded = L::default();
        let Answered { line, action, answer } = answered;
        match answer {
            Ok(decision) => {
                self.summary.decision(&decision);
                let record =
                    Record::Decision { line, rm: action.rm(), action: &action, decision: &decision, json: None };
                encode(&mut encoded, &record);
            }
            Err(error) => {
                self.summary.errors = self.summary.errors.saturating_add(1);
                let message = error.to_string();
                encode(&mut encoded, &Record::Error { line, rm: Some(action.rm()), message: &message });
            }
        }
        encoded
    }

    /// Submits a line's action; its records, counted in the worker's summary and encoded.
    fn process<L: Default>(
        &mut self,
        line: usize,
        action: Result<Action, Unusable>,
        encode: &impl Fn(&mut L, &Record<'_>),
    ) -> L {
        let mut encoded = L::default();
        let (error, rm) = match action {
            Ok(action) => match self.ledger.submit_with_json(&action) {
                Ok((submission, json)) => {
                    for report in &submission.overdue {
                        self.summary.overdue(report);
                        encode(&mut encoded, &Record::Overdue { line: Some(line), report });
                    }
                    let decision = &submission.decision;
                    self.summary.decision(decision);
                    encode(&mut encoded, &Record::Decision { line, rm: action.rm(), action: &action, decision, json });
                    return encoded;
                }
                Err(error) => (error, Some(SmolStr::from(action.rm()))),
            },
            Err(Unusable { error, rm }) => (error, rm),
        };
        self.summary.errors = self.summary.errors.saturating_add(1);
        let message = error.to_string();
        encode(&mut encoded, &Record::Error { line, rm: rm.as_deref(), message: &message });
        encoded
    }
}

/// Whether two paths name the same file (through links too); `false` when either does not
/// exist. Every surface refuses an output that is the events file: writing it would truncate
/// the events before they are read.
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
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
