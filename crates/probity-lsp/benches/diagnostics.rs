//! Diagnostics for a 2,000-line policy after a change: the time from `didChange` to the
//! `publishDiagnostics` it causes, through the server's real loop on an in-memory connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::arithmetic_side_effects)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::json;

/// A policy of about `lines` lines: one action type and rules of four lines each.
pub fn big_policy(lines: usize) -> String {
    let mut text = String::from(
        "policy big \"Big\" version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
         action sale {\n  amount: money\n  channel: one of branch, online, phone\n  risk: int\n}\n\
         ladder conduct window 12 months points minor 1, major 3 step 6 \"warned\"\n",
    );
    let mut i = 0;
    while text.lines().count() < lines {
        text.push_str(&format!(
            "rule r{i} \"Rule {i}\" cite \"art. {i}\" on sale\n  when action.amount > {i} CNY and action.channel = \"online\"\n  then review, breach minor in conduct\n  message \"sale over {i}\"\n"
        ));
        i += 1;
    }
    text
}

fn diagnostics_after_a_change(c: &mut Criterion) {
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || probity_lsp::serve(&server));
    let uri = "file:///bench/big.probity";
    client
        .sender
        .send(Request::new(RequestId::from(1), "initialize".into(), json!({"capabilities": {}})).into())
        .unwrap();
    let _ = client.receiver.recv().unwrap();
    client.sender.send(Notification::new("initialized".into(), json!({})).into()).unwrap();
    let text = big_policy(2_000);
    assert!(text.lines().count() >= 2_000);
    let open = json!({"textDocument": {"uri": uri, "languageId": "probity", "version": 1, "text": text}});
    client.sender.send(Notification::new("textDocument/didOpen".into(), open).into()).unwrap();
    let wait = |client: &Connection| loop {
        match client.receiver.recv().unwrap() {
            Message::Notification(n) if n.method == "textDocument/publishDiagnostics" => return n.params,
            _ => {}
        }
    };
    wait(&client);
    let mut version = 1;
    c.bench_function("diagnostics after a change, 2,000 lines", |b| {
        b.iter(|| {
            version += 1;
            // A misspelt field every other change, so the diagnostics change too.
            let changed =
                if version % 2 == 0 { text.replacen("action.amount", "action.amout", 1) } else { text.clone() };
            let change =
                json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": changed}]});
            client.sender.send(Notification::new("textDocument/didChange".into(), change).into()).unwrap();
            black_box(wait(&client))
        })
    });
    client.sender.send(Request::new(RequestId::from(2), "shutdown".into(), json!(null)).into()).unwrap();
    let _ = client.receiver.recv().unwrap();
    client.sender.send(Notification::new("exit".into(), json!(null)).into()).unwrap();
    thread.join().unwrap().unwrap();
}

criterion_group!(benches, diagnostics_after_a_change);
criterion_main!(benches);
