//! `replay::output`: every sink gives the records `replay_to` writes, a file is replaced only by
//! a complete replay, and a tap sees every record in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod common;

use probity::replay::output::{self, Events, EventsFailure, Failure, Gathered, Hooks, OutputFile, Sink, Tap};
use probity::replay::table::{self, Output};
use probity::replay::{self, Options, Record};

const GIFTS: &str = r#"policy gifts "Gifts" version "1" effective 2026-01-01 timezone "Asia/Shanghai"
action gift_received { giver: text  kind: one of cash, goods  value: money }
rule cash_gift "Cash is never accepted" cite "4.1" on gift_received when action.kind = "cash"
  then deny, breach major message "cash from {action.giver}"
ladder conduct window 12 months points minor 1, major 3 step 1 "verbal warning" step 3 "formal warning"
"#;

/// `n` actions over a few RMs, with an unusable line in the middle.
fn events(n: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..n {
        let kind = if i % 3 == 0 { "cash" } else { "goods" };
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00+08:00").unwrap()
            + chrono::TimeDelta::seconds(i64::try_from(i).unwrap());
        out.push_str(&format!(
            r#"{{"type":"gift_received","id":"G-{i}","at":"{}","rm":{{"id":"R{}"}},"giver":"x","kind":"{kind}","value":"50 CNY"}}"#,
            at.to_rfc3339(),
            i % 7
        ));
        out.push('\n');
        if i == n / 2 {
            out.push_str("not json\n");
        }
    }
    out.into_bytes()
}

fn options(jobs: usize) -> Options {
    Options { jobs, ..Options::default() }
}

/// What `replay_to` writes: the reference.
fn reference(events: &[u8]) -> Vec<u8> {
    let engine = common::engine(GIFTS);
    let mut out = Vec::new();
    replay::replay_to(&engine, events, &mut out, &options(1), |_| {}).unwrap();
    out
}

#[test]
fn memory_and_file_sinks_hold_what_replay_to_writes_whatever_the_jobs() {
    let engine = common::engine(GIFTS);
    let input = events(5000);
    let expected = reference(&input);
    for jobs in [1, 3] {
        let (gathered, summary) = output::run(
            &engine,
            &input[..],
            &options(jobs),
            Sink::Memory(Vec::new()),
            None::<&mut ()>,
            Hooks::default(),
        )
        .unwrap();
        let Gathered::Lines(lines) = gathered else { panic!("lines expected") };
        assert_eq!(lines, expected, "jobs {jobs}");
        assert_eq!((summary.events, summary.errors), (5000, 1));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "old\n").unwrap();
        let sink = Sink::File(OutputFile::create(&path).unwrap());
        let (gathered, _) =
            output::run(&engine, &input[..], &options(jobs), sink, None::<&mut ()>, Hooks::default()).unwrap();
        assert!(matches!(gathered, Gathered::Written));
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["out.jsonl"], "no temporary file is left");
    }
}

#[test]
fn table_chunks_hold_one_row_per_record_in_order() {
    let engine = common::engine(GIFTS);
    let input = events(table::CHUNK_ROWS + 10);
    let (gathered, _) = output::run(
        &engine,
        &input[..],
        &options(2),
        Sink::Table(Output::Decisions),
        None::<&mut ()>,
        Hooks::default(),
    )
    .unwrap();
    let Gathered::Chunks(chunks) = gathered else { panic!("chunks expected") };
    assert_eq!(chunks.len(), 2, "a full chunk, then the rest");
    assert_eq!(chunks[0].rows, table::CHUNK_ROWS);
    // The `json` column is the JSON lines, in order.
    let json = table::DECISIONS.iter().position(|(name, _)| *name == "json").unwrap();
    let mut lines = Vec::new();
    for chunk in &chunks {
        for row in 0..chunk.rows {
            let Some(table::Value::Text(text)) = chunk.value(json, row) else { panic!("text expected") };
            lines.extend_from_slice(text.as_bytes());
            lines.push(b'\n');
        }
    }
    assert_eq!(lines, reference(&input));
    // The rows as JSON text, as a binding's decoder reads them.
    let rows: serde_json::Value = serde_json::from_slice(&table::to_json(table::DECISIONS, &chunks, false)).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), table::CHUNK_ROWS + 11);
    assert_eq!(rows[0]["kind"], "decision");
    let columns: serde_json::Value = serde_json::from_slice(&table::to_json(table::DECISIONS, &chunks, true)).unwrap();
    assert_eq!(columns["line"][0], 1);
    assert_eq!(columns["error"][0], serde_json::Value::Null);
    // An empty replay still has one (empty) chunk.
    let (gathered, _) =
        output::run(&engine, &b""[..], &options(1), Sink::Table(Output::Findings), None::<&mut ()>, Hooks::default())
            .unwrap();
    let Gathered::Chunks(chunks) = gathered else { panic!("chunks expected") };
    assert_eq!((chunks.len(), chunks[0].rows), (1, 0));
}

#[test]
fn an_interrupted_replay_leaves_the_file_as_it_was() {
    let engine = common::engine(GIFTS);
    let input = events(3 * output::CHECK_EVERY);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    std::fs::write(&path, "mine\n").unwrap();
    let mut asked = 0;
    let mut interrupted = || {
        asked += 1;
        asked == 2
    };
    let hooks = Hooks { progress: None, interrupted: Some(&mut interrupted), state: None };
    let sink = Sink::File(OutputFile::create(&path).unwrap());
    let failed = output::run(&engine, &input[..], &options(1), sink, None::<&mut ()>, hooks);
    assert!(matches!(failed, Err(Failure::Interrupted)));
    assert_eq!(asked, 2, "asked every CHECK_EVERY lines, until it said stop");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
}

/// Counts the records a tap is given, and checks their order.
#[derive(Default)]
struct Lines(Vec<usize>);

impl Tap for Lines {
    type Item = Option<usize>;
    type Digester = ();

    fn digester(&self) {}

    fn digest((): &(), record: &Record<'_>) -> Option<usize> {
        match *record {
            Record::Decision { line, .. } | Record::Error { line, .. } => Some(line),
            Record::Overdue { .. } => None,
        }
    }

    fn add(&mut self, item: Option<usize>) {
        self.0.extend(item);
    }
}

#[test]
fn a_tap_takes_every_record_in_input_order() {
    let engine = common::engine(GIFTS);
    let input = events(2000);
    let mut tap = Lines::default();
    output::run(&engine, &input[..], &options(3), Sink::Memory(Vec::new()), Some(&mut tap), Hooks::default()).unwrap();
    assert_eq!(tap.0, (1..=2001).collect::<Vec<_>>());
}

#[test]
fn replay_events_names_the_file_at_fault_and_refuses_to_overwrite_the_events() {
    let engine = common::engine(GIFTS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, events(10)).unwrap();
    let run = |events: Events<'_>, output: Output, out: Option<&std::path::Path>| {
        output::replay_events(&engine, events, &options(1), (output, out), None::<&mut ()>, Hooks::default())
    };
    match run(Events::File(&path), Output::JsonLines, Some(&path)) {
        Err(EventsFailure::Refused(message)) => assert!(message.contains("is the events file"), "{message}"),
        other => panic!("{other:?}"),
    }
    let missing = dir.path().join("missing.jsonl");
    match run(Events::File(&missing), Output::JsonLines, None) {
        Err(EventsFailure::File(message)) => assert!(message.starts_with("cannot read `"), "{message}"),
        other => panic!("{other:?}"),
    }
    match run(Events::File(dir.path()), Output::JsonLines, None) {
        Err(EventsFailure::File(message)) => assert!(message.contains("not a regular file or a pipe"), "{message}"),
        other => panic!("{other:?}"),
    }
    let nowhere = dir.path().join("no").join("out.jsonl");
    match run(Events::Memory(b""), Output::JsonLines, Some(&nowhere)) {
        Err(EventsFailure::File(message)) => assert!(message.starts_with("cannot write `"), "{message}"),
        other => panic!("{other:?}"),
    }
    let (gathered, summary) = run(Events::File(&path), Output::JsonLines, None).unwrap();
    assert!(matches!(gathered, Gathered::Lines(lines) if lines == reference(&events(10))));
    assert_eq!(summary.events, 10);
}

#[test]
fn binding_options_are_checked() {
    assert_eq!(output::options(None, Some(0), None).unwrap_err(), "`jobs` must be at least 1");
    assert!(output::options(None, None, None).unwrap().jobs >= 1);
    let skew = output::options(None, Some(2), Some(90.5)).unwrap().max_skew;
    assert_eq!(skew, Some(chrono::TimeDelta::milliseconds(90_500)));
    for bad in [-1.0, f64::NAN, f64::INFINITY, 1e20] {
        assert!(replay::max_skew_seconds(bad).unwrap_err().contains("`max_skew`"), "{bad}");
    }
    assert_eq!("findings".parse::<Output>(), Ok(Output::Findings));
    assert!("csv".parse::<Output>().unwrap_err().contains("`output` must be"));
}

#[test]
fn an_output_file_is_renamed_over_its_target_only_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    std::fs::write(&path, "old").unwrap();
    let mut file = OutputFile::create(&path).unwrap();
    std::io::Write::write_all(file.file(), b"new").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    file.commit().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    drop(OutputFile::create(&path).unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new", "dropped, it leaves the target alone");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(OutputFile::create(dir.path()).unwrap_err().to_string(), "a directory");
}
