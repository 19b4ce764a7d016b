//! A self-contained HTML report of a replay (`probity replay --report FILE`, and the Python
//! binding's `Engine.replay(..., report=...)`).
//!
//! The report is built while the replay streams: each [`Record`] the replay hands its encoder is
//! digested into an [`Item`] by a [`Digester`] (on the thread that decided it), and the items are
//! added to a
//! [`Collector`] in input order. [`replay`] does both around [`probity::replay::replay_with`],
//! writing the same JSON lines as [`probity::replay::replay`]. Only aggregates are kept, with
//! bounded lists:
//!
//! - counts per verdict, rule, policy, severity, escalation team, overdue duty, sanction step;
//! - breaches per day (at most [`MAX_DAYS`] distinct days) and per branch (at most
//!   [`MAX_BRANCHES`] branches; the rest are counted as "other");
//! - per RM: counts, its breaches still inside the ladder's window (pruned as the stream moves
//!   on), the last sanction seen, and its last [`EXAMPLES_PER_RM`] breach records (each at most
//!   [`MAX_EXAMPLE_BYTES`], for at most [`MAX_RMS_WITH_EXAMPLES`] RMs).
//!
//! **Branch.** The branch is the `rm.branch` field of the RM's first action. An RM whose action
//! carries no branch is grouped under its id up to the last `-` (`RM-SH-0012` → `RM-SH`).
//!
//! **Ladder steps.** Decision records carry a sanction (`points`, `step`) only when a step is
//! reached, not the ladder's thresholds, window or the points of each severity. The report reads
//! those from the engine: for the first few decisions whose breaches feed a ladder, it explains
//! the action again (on an empty history) and takes the ladder's steps, window and the points
//! the action's breach added ([`probity::LadderTrace`]). An RM's standing is then exact: the
//! points of its breaches inside the window ending at the last record of the replay, the step
//! they reach and the points still missing to the next one. Without an engine, or if no probe
//! succeeds, the report falls back to the last sanction seen per RM, and takes as each step's
//! threshold the fewest points with which it was seen; the method section says which was used.
//!
//! **Precision and recall.** Given the labels of a generated stream ([`Collector::with_labels`]),
//! the report scores every labelled rule: the labelled actions it named (true positives), the
//! other actions it named (false positives) and the labelled ones it missed, with its precision
//! and recall ([`labels`](crate::Labels)).
//!
//! The page is rendered from the minijinja templates in `templates/`, compiled into the crate.

mod collect;
mod labels;
mod render;

use std::io::{BufRead, Write};

use probity::replay::{Record, Summary};
use probity::Engine;

pub use collect::{branch_from_rm_id, Collector, Digester, Item};
pub use labels::{percent, Labels, RuleScore};
pub use render::{escape, reindent, RenderError};

/// RMs listed in the "closest to the next step" table.
pub const TOP_RMS: usize = 25;
/// Breach records kept per RM (the most recent).
pub const EXAMPLES_PER_RM: usize = 5;
/// The longest record kept as an example, in bytes (longer ones are cut).
pub const MAX_EXAMPLE_BYTES: usize = 16 * 1024;
/// RMs for which examples are kept (the first ones to breach).
pub const MAX_RMS_WITH_EXAMPLES: usize = 20_000;
/// Branches counted one by one.
pub const MAX_BRANCHES: usize = 5_000;
/// Distinct days counted for the chart over time.
pub const MAX_DAYS: usize = 60_000;
/// Input errors quoted.
pub const MAX_ERRORS_SHOWN: usize = 10;

/// What the report says about its inputs.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The policy directory.
    pub policies: String,
    /// The events file.
    pub events: String,
    /// The time every RM was advanced to at the end, if given.
    pub as_of: Option<String>,
}

impl Meta {
    /// For a replay through an engine that keeps no directory (a binding's): the policy
    /// versions loaded stand for the directory.
    pub fn loaded(
        engine: &probity::Engine,
        events: String,
        as_of: Option<chrono::DateTime<chrono::FixedOffset>>,
    ) -> Meta {
        let policies: Vec<String> = engine.policy_set().versions().map(|(id, v)| format!("{id} {v}")).collect();
        Meta { policies: policies.join(", "), events, as_of: as_of.map(|t| t.to_rfc3339()) }
    }
}

/// A line's encoding: its JSON lines, and what the report takes from its records.
#[derive(Default)]
struct Encoded {
    lines: Vec<u8>,
    items: Vec<Item>,
}

/// [`probity::replay::replay`] with a report: the same JSON lines go to `out`, and every record
/// is added to `collector`, in input order whatever the number of jobs.
pub fn replay(
    engine: &Engine,
    collector: &mut Collector<'_>,
    input: impl BufRead,
    out: &mut impl Write,
    options: &probity::replay::Options,
    progress: impl FnMut(u64),
) -> std::io::Result<Summary> {
    let digester = Digester::default();
    let encode = |encoded: &mut Encoded, record: &Record<'_>| {
        // As `probity::replay::replay` encodes a record: room for a typical decision at once.
        encoded.lines.reserve(1024);
        record.write_json(&mut encoded.lines);
        encoded.lines.push(b'\n');
        encoded.items.push(digester.item(record));
    };
    let emit = |encoded: Encoded| {
        for item in encoded.items {
            collector.add(item);
        }
        out.write_all(&encoded.lines)
    };
    let summary = probity::replay::replay_with_options(engine, input, options, encode, emit, progress)?;
    out.flush()?;
    Ok(summary)
}

/// Writes `html` to `path`, with the path in the error.
pub fn write(path: &std::path::Path, html: &str) -> Result<(), String> {
    std::fs::write(path, html).map_err(|e| format!("cannot write the report `{}`: {e}", path.display()))
}

/// The report takes a replay's records through [`probity::replay::output::run`].
impl probity::replay::output::Tap for Collector<'_> {
    type Item = Item;
    type Digester = Digester;

    fn digester(&self) -> Digester {
        Digester::default()
    }

    fn digest(digester: &Digester, record: &Record<'_>) -> Item {
        digester.item(record)
    }

    fn add(&mut self, item: Item) {
        Collector::add(self, item);
    }
}
