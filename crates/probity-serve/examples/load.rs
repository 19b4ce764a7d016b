//! A load generator for `probity serve` on loopback: CONNECTIONS keep-alive HTTP/1.1
//! connections, each its own thread, sending requests for SECONDS and timing each.
//!
//! ```sh
//! probity serve --policies policies/cn --state /tmp/load.db --listen 127.0.0.1:8080 &
//! cargo run --release -p probity-serve --example load -- 127.0.0.1:8080 evaluate 64 30
//! cargo run --release -p probity-serve --example load -- 127.0.0.1:8080 submit 64 30 [ACKED]
//! ```
//!
//! `evaluate` posts `examples/action.json`; `submit` posts that action with a fresh id, each
//! connection for its own RM (`LOAD-<connection>`) one second later each time, so that no two
//! connections race for an RM. Prints requests per second and the p50 / p99 / p99.9 latency;
//! with ACKED, writes every acknowledged submission (one action per line) there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = args.first().expect("an address").clone();
    let mode = args.get(1).map_or("evaluate", String::as_str).to_string();
    let connections: usize = args.get(2).map_or(64, |n| n.parse().expect("a number of connections"));
    let seconds: u64 = args.get(3).map_or(30, |n| n.parse().expect("a number of seconds"));
    let acked_path = args.get(4).cloned();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("examples/action.json")).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let (address, mode, template) = (address.clone(), mode.clone(), template.clone());
            std::thread::spawn(move || run(&address, &mode, &template, c, deadline))
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut errors, mut acked) = (0usize, Vec::new());
    for w in workers {
        let (l, e, a) = w.join().unwrap();
        latencies.extend(l);
        errors += e;
        acked.extend(a);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64) * p).ceil() as usize;
        latencies.get(i.saturating_sub(1)).copied().unwrap_or_default()
    };
    println!(
        "{mode}: {connections} connections, {seconds} s: {} requests ({:.0}/s), {errors} errors; p50 {:?} p99 {:?} p99.9 {:?}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        pct(0.50),
        pct(0.99),
        pct(0.999)
    );
    if let Some(path) = acked_path {
        std::fs::write(path, acked.iter().map(|a| format!("{a}\n")).collect::<String>()).unwrap();
    }
}

/// One connection's loop: its latencies, its error count, the actions acknowledged.
fn run(
    address: &str,
    mode: &str,
    template: &serde_json::Value,
    connection: usize,
    deadline: Instant,
) -> (Vec<Duration>, usize, Vec<String>) {
    let (mut latencies, mut errors, mut acked) = (Vec::new(), 0, Vec::new());
    let Ok(stream) = TcpStream::connect(address) else { return (latencies, 1, acked) };
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-18T09:00:00+08:00").unwrap();
    let mut n = 0i64;
    while Instant::now() < deadline {
        let (path, body) = match mode {
            "submit" => {
                let mut action = template.clone();
                action["id"] = format!("LOAD-{connection}-{n}").into();
                action["rm"]["id"] = format!("LOAD-{connection}").into();
                action["at"] = (start + chrono::TimeDelta::seconds(n)).to_rfc3339().into();
                ("/v1/submit", action.to_string())
            }
            _ => ("/v1/evaluate", template.to_string()),
        };
        n += 1;
        let began = Instant::now();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body.as_bytes())).is_err() {
            errors += 1;
            break;
        }
        match read_response(&mut reader) {
            Some(200) => {
                latencies.push(began.elapsed());
                if mode == "submit" {
                    acked.push(body);
                }
            }
            Some(_) => errors += 1,
            None => {
                errors += 1;
                break;
            }
        }
    }
    (latencies, errors, acked)
}

/// Reads one response (with a Content-Length body); its status.
fn read_response(reader: &mut impl BufRead) -> Option<u16> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(status)
}
