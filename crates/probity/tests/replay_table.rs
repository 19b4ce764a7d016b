//! `replay::table`: the columns a replay's records are gathered into hold exactly what the
//! records' JSON lines hold, read back from their Arrow buffers, whatever the chunking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod common;

use common::ts;
use probity::replay::table::{self, Chunk, Column, Kind, Output, Rows, Value};
use probity::replay::{self, Record};
use probity::{Engine, PolicySet};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

const GIFTS: &str = r#"policy gifts "Gifts" version "1" effective 2026-01-01 timezone "Asia/Shanghai"
action gift_received { giver: text  kind: one of cash, goods  value: money }
action gift_registered { gift: text }
rule cash_gift "Cash is never accepted" cite "4.1" on gift_received when action.kind = "cash"
  then deny, breach major, escalate "compliance", escalate "audit" message "cash from {action.giver}"
rule big_gift cite "4.2" on gift_received when action.value > 1000 CNY then warn
duty gift_register cite "3.1" on gift_received when action.value >= 200 CNY due within 30 days
  fulfilled by gift_registered where gift = action.id otherwise breach minor
ladder conduct window 12 months points minor 1, major 3 step 1 "verbal warning" step 3 "formal warning"
"#;

/// A cell as the test compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum V {
    Null,
    S(String),
    I(i64),
}

fn s(value: &Json) -> V {
    value.as_str().map_or(V::Null, |t| V::S(t.to_owned()))
}

/// A column's Arrow buffers: validity, offsets, data.
type Buffers = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>);

/// A chunk's rows read back through its Arrow buffers, as a binding hands them over.
fn read_back(chunk: &Chunk) -> Vec<Vec<V>> {
    let buffers: Vec<Buffers> = chunk
        .columns()
        .iter()
        .map(|column| {
            let le = |values: &[i64]| {
                let mut out = vec![0; values.len() * 8];
                table::little_endian(values, &mut out);
                out
            };
            match column {
                Column::Text(t) => {
                    assert_eq!(t.offsets().len(), chunk.rows() + 1);
                    assert_eq!(t.validity().is_some(), t.nulls() > 0);
                    (t.validity(), Some(le(t.offsets())), t.data().to_vec())
                }
                Column::Int(values) => (None, None, le(values)),
            }
        })
        .collect();
    (0..chunk.rows())
        .map(|row| {
            buffers
                .iter()
                .map(|(validity, offsets, data)| {
                    match table::cell(validity.as_deref(), offsets.as_deref(), data, row) {
                        Some(Value::Text(t)) => V::S(t.to_owned()),
                        Some(Value::Int(i)) => V::I(i),
                        None => V::Null,
                    }
                })
                .collect()
        })
        .collect()
}

fn joined(items: &Json, piece: impl Fn(&Json) -> String) -> V {
    V::S(items.as_array().unwrap().iter().map(piece).collect::<Vec<_>>().join(","))
}

/// The rows the records' JSON lines (as written, and parsed) call for; `input` is the events,
/// `at` each record's line.
fn expected(records: &[(String, Json)], at: &[usize], input: &[String]) -> (Vec<Vec<V>>, Vec<Vec<V>>) {
    let rm_of = |line: usize| -> V {
        let parsed: Option<Json> = input.get(line.wrapping_sub(1)).and_then(|l| serde_json::from_str(l).ok());
        parsed.map_or(V::Null, |p| s(&p["rm"]["id"]))
    };
    let (mut decisions, mut findings) = (Vec::new(), Vec::new());
    for ((raw, record), &line) in records.iter().zip(at) {
        let text = V::S(raw.clone());
        let n = i64::try_from(line).unwrap();
        if let Some(e) = record.get("error") {
            assert_eq!(e["line"], json!(line));
            let empty = V::S(String::new());
            decisions.push(vec![
                V::S("error".into()),
                V::I(n),
                V::Null,
                rm_of(line),
                V::Null,
                V::Null,
                V::I(0),
                empty.clone(),
                empty.clone(),
                empty,
                s(&e["message"]),
                text,
            ]);
            continue;
        }
        let (kind, body, action, rm, verdict) = match (record.get("decision"), record.get("overdue")) {
            (Some(d), _) => ("decision", d, s(&d["action"]), rm_of(line), s(&d["verdict"])),
            (_, Some(r)) => ("overdue", r, s(&r["obligation"]["action"]), s(&r["rm"]), V::Null),
            _ => panic!("an unknown record {record}"),
        };
        let list = &body["findings"];
        decisions.push(vec![
            V::S(kind.into()),
            V::I(n),
            action.clone(),
            rm.clone(),
            s(&body["at"]),
            verdict,
            V::I(i64::try_from(list.as_array().unwrap().len()).unwrap()),
            joined(list, |f| f["rule"].as_str().unwrap().to_owned()),
            joined(&body["escalations"], |t| t.as_str().unwrap().to_owned()),
            joined(&body["sanctions"], |x| {
                format!("{}:{}", x["ladder"].as_str().unwrap(), x["step"].as_str().unwrap())
            }),
            V::Null,
            text,
        ]);
        for f in list.as_array().unwrap() {
            findings.push(vec![
                action.clone(),
                rm.clone(),
                s(&body["at"]),
                s(&f["policy"]),
                s(&f["rule"]),
                s(&f["kind"]),
                s(&f["severity"]),
                s(&f["ladder"]),
                s(&f["message"]),
                V::S(kind.into()),
                V::I(n),
            ]);
        }
    }
    (decisions, findings)
}

/// One line's encodings, in every shape.
#[derive(Default)]
struct Encoded {
    decisions: Rows,
    findings: Rows,
    lines: Rows,
    at: Vec<usize>,
}

/// Replays `input` gathering every shape (chunks cleared every `chunk_rows` rows) and checks
/// the columns against the JSON lines.
fn check(input: &[String], jobs: usize, chunk_rows: usize) {
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap());
    let encode = |e: &mut Encoded, record: &Record<'_>| {
        e.decisions.record(record, Output::Decisions);
        e.findings.record(record, Output::Findings);
        e.lines.record(record, Output::JsonLines);
        e.at.push(match *record {
            Record::Decision { line, .. } | Record::Error { line, .. } => line,
            Record::Overdue { line, .. } => line.unwrap_or(0),
        });
    };
    let mut chunks = [Chunk::new(Output::Decisions), Chunk::new(Output::Findings)];
    let mut got: [Vec<Vec<V>>; 2] = [Vec::new(), Vec::new()];
    let (mut text, mut at) = (Vec::new(), Vec::new());
    let flush = |chunk: &mut Chunk, got: &mut Vec<Vec<V>>| {
        got.extend(read_back(chunk));
        chunk.clear();
        assert_eq!(chunk.rows(), 0);
    };
    let joined = input.join("\n");
    let as_of = Some(ts("2027-01-01T00:00:00Z"));
    replay::replay_with(
        &engine,
        joined.as_bytes(),
        as_of,
        jobs,
        encode,
        |e: Encoded| {
            text.extend_from_slice(e.lines.text());
            at.extend(e.at);
            for ((chunk, got), rows) in chunks.iter_mut().zip(&mut got).zip([&e.decisions, &e.findings]) {
                chunk.append(rows);
                if chunk.rows() >= chunk_rows {
                    flush(chunk, got);
                }
            }
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    for (chunk, got) in chunks.iter_mut().zip(&mut got) {
        flush(chunk, got);
    }
    // The JSON lines are `probity replay`'s, byte for byte.
    let mut reference = Vec::new();
    replay::replay(&engine, joined.as_bytes(), &mut reference, as_of, 1, |_| {}).unwrap();
    assert_eq!(String::from_utf8(text.clone()).unwrap(), String::from_utf8(reference).unwrap());
    let text = String::from_utf8(text).unwrap();
    let records: Vec<(String, Json)> = text.lines().map(|l| (l.to_owned(), serde_json::from_str(l).unwrap())).collect();
    let (decisions, findings) = expected(&records, &at, input);
    assert_eq!(got[0], decisions);
    assert_eq!(got[1], findings);
}

fn gift(id: usize, rm: usize, day: u32, kind: &str, value: u32) -> String {
    let at = format!("2026-{:02}-{:02}T10:00:00+08:00", 1 + day / 28, 1 + day % 28);
    json!({"type": "gift_received", "id": format!("G-{id}"), "at": at, "rm": {"id": format!("R{rm}")},
        "giver": "ACME", "kind": kind, "value": format!("{value} CNY")})
    .to_string()
}

#[test]
fn every_shape_of_record_is_a_row_with_what_its_json_holds() {
    let input = vec![
        gift(1, 1, 0, "goods", 300),
        gift(2, 2, 1, "cash", 5000),
        String::new(),
        json!({"type": "gift_received", "rm": {"id": "R2"}}).to_string(),
        "{ not json".to_owned(),
        json!({"type": "gift_registered", "id": "X", "at": "2026-01-05T10:00:00+08:00", "rm": {"id": "R2"}, "gift": "G-2"})
            .to_string(),
        gift(3, 1, 40, "cash", 100),
        gift(4, 1, 2, "goods", 300),
    ];
    check(&input, 1, table::CHUNK_ROWS);
    check(&input, 3, 1);
}

#[test]
fn the_schemas_name_their_columns_and_types() {
    assert!(Output::JsonLines.schema().is_empty());
    assert_eq!(Output::Decisions.schema().len(), 12);
    assert_eq!(Output::Findings.schema().last(), Some(&("line", Kind::Int)));
    // An empty chunk has its columns and no rows; JSON lines have none.
    assert_eq!(Chunk::new(Output::Findings).columns().len(), 11);
    assert!(Chunk::new(Output::JsonLines).columns().is_empty());
}

#[test]
fn cells_out_of_range_or_broken_read_as_null() {
    let mut offsets = vec![0; 16];
    table::little_endian(&[0, 2], &mut offsets);
    assert_eq!(table::cell(None, Some(&offsets), b"hi", 0), Some(Value::Text("hi")));
    assert_eq!(table::cell(None, Some(&offsets), b"hi", 1), None);
    assert_eq!(table::cell(Some(&[0]), Some(&offsets), b"hi", 0), None);
    assert_eq!(table::cell(None, Some(&offsets), b"\xff\xfe", 0), None);
    assert_eq!(table::cell(None, Some(&offsets), b"h", 0), None);
    assert_eq!(table::cell(None, None, &offsets, 1), Some(Value::Int(2)));
    assert_eq!(table::cell(None, None, &offsets, 2), None);
}

fn event() -> impl Strategy<Value = (u8, usize, u32, bool, u32)> {
    (0u8..10, 1usize..4, 0u32..200, any::<bool>(), prop_oneof![Just(100u32), Just(300), Just(2000)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn columns_hold_what_the_json_lines_hold(events in prop::collection::vec(event(), 0..40), jobs in 1usize..4, chunk in 1usize..7) {
        let input: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, &(what, rm, day, cash, value))| match what {
                0 => "[1, 2".to_owned(),
                1 => json!({"type": "gift_registered", "id": format!("X-{i}"), "at": "2026-03-01T10:00:00+08:00",
                    "rm": {"id": format!("R{rm}")}, "gift": format!("G-{}", i.saturating_sub(1))}).to_string(),
                _ => gift(i, rm, day, if cash { "cash" } else { "goods" }, value),
            })
            .collect();
        check(&input, jobs, chunk);
    }
}

#[test]
fn the_summary_is_json_with_every_verdict() {
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap());
    let input = [gift(1, 1, 0, "cash", 100), "{".to_owned()].join("\n");
    let summary = replay::replay(&engine, input.as_bytes(), &mut Vec::new(), None, 1, |_| {}).unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(
        json,
        json!({"events": 1, "verdicts": {"allow": 0, "review": 0, "deny": 1}, "breaches": {"gifts/cash_gift": 1},
            "sanctions": {"gifts/conduct → formal warning": 1}, "restricted_actions": 0, "restricted": {}, "overdue_reports": 0, "open_obligations": 0,
            "overdue_open": 0, "retained_items": 1, "errors": 1})
    );
    // In the fields' order, the verdicts in theirs.
    let text = serde_json::to_string(&summary).unwrap();
    assert!(text.starts_with(r#"{"events":1,"verdicts":{"allow":0,"review":0,"deny":1},"breaches""#), "{text}");
}
