//! `probity serve` as a user runs it: on a loopback port, its answers against the CLI's, coded
//! errors, idempotent submissions across a restart, metrics, a reload that fails and keeps the
//! policies in force, and a clean stop on SIGTERM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `probity serve`, stopped (SIGKILL) if the test ends without stopping it.
struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    /// Starts the service on a free port and waits for its "listening" line.
    fn start(policies: &Path, state: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_probity"))
            .current_dir(root())
            .args(["serve", "--listen", "127.0.0.1:0", "--policies"])
            .arg(policies)
            .arg("--state")
            .arg(state)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let line = lines.next().unwrap().unwrap();
        let address = line.rsplit("http://").next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
        // Keep reading its standard error, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, address }
    }

    fn call(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        call(self.address, method, path, body)
    }

    fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        self.call("POST", path, body)
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.call("GET", path, b"")
    }

    /// Sends SIGTERM; the exit status, within 10 seconds.
    fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request to `address`; the status and the body.
fn call(address: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.to_string() };
    (status, body)
}

fn unchunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn cli_eval(action: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_probity"))
        .current_dir(root())
        .args(["eval", "--policies", "policies/cn"])
        .arg(action)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_service_answers_as_the_cli_records_once_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let action_path = root().join("examples/action.json");
    let action = std::fs::read(&action_path).unwrap();
    let server = Server::start(&root().join("policies/cn"), &state);

    assert_eq!(server.get("/health"), (200, r#"{"status":"ok"}"#.to_string()));
    // evaluate: the decision `probity eval` prints, byte for byte.
    let (status, body) = server.post("/v1/evaluate", &action);
    assert_eq!(status, 200);
    assert_eq!(body, cli_eval(&action_path).trim_end());
    // evaluate also takes {"action", "history"}.
    let wrapped = format!(r#"{{"action": {}, "history": null}}"#, String::from_utf8_lossy(&action));
    assert_eq!(server.post("/v1/evaluate", wrapped.as_bytes()).1, body);
    assert!(json(&server.post("/v1/explain", &action).1).get("rules").is_some());

    // submit: recorded once; a retry gets the recorded decision and no overdue reports.
    let (status, first) = server.post("/v1/submit", &action);
    assert_eq!(status, 200, "{first}");
    let first = json(&first);
    assert_eq!(first["decision"], json(&body));
    let (status, again) = server.post("/v1/submit", &action);
    assert_eq!((status, json(&again)["decision"].clone()), (200, first["decision"].clone()));

    // Coded errors with a 4xx status.
    let (status, error) = server.post("/v1/evaluate", br#"{"type": "product_sale", "id": "#);
    assert_eq!(status, 400);
    assert_eq!(json(&error)["error"]["code"], "I0001");
    let older = String::from_utf8_lossy(&action).replace("2026-03-18", "2026-01-18").replace("S-DEMO-0318", "S-OLD");
    let (status, error) = server.post("/v1/submit", older.as_bytes());
    assert_eq!((status, json(&error)["error"]["code"].as_str().unwrap()), (409, "I0009"), "{error}");
    // The same id with other content.
    let reused = String::from_utf8_lossy(&action).replace("\"grade\": \"junior\"", "\"grade\": \"senior\"");
    assert_ne!(reused.as_bytes(), &action[..]);
    let (status, error) = server.post("/v1/submit", reused.as_bytes());
    assert_eq!((status, json(&error)["error"]["code"].as_str().unwrap()), (409, "I0012"), "{error}");
    let huge = vec![b' '; 5 << 20];
    let (status, error) = server.post("/v1/evaluate", &huge);
    assert_eq!(status, 413, "{error}");
    assert_eq!(server.get("/v1/nothing").0, 404);
    let (status, error) = server.post("/v1/advance", br#"{"to": "not a time"}"#);
    assert_eq!((status, json(&error)["error"]["field"].as_str()), (400, Some("to")));
    let (status, reports) = server.post("/v1/advance", br#"{"to": "2026-03-19T00:00:00+08:00"}"#);
    assert_eq!(status, 200);
    assert!(json(&reports).is_array());

    // What is in force, metrics and the OpenAPI document.
    let (status, policies) = server.get("/v1/policies");
    assert_eq!(status, 200);
    assert!(json(&policies)[0]["digest"].as_str().unwrap().starts_with("sha256:"));
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("probity_decisions_total{verdict=\"deny\"}"), "{metrics}");
    assert!(metrics.contains("probity_request_duration_seconds_bucket{route=\"/v1/submit\""), "{metrics}");
    assert!(metrics.contains("probity_state_rms 1"), "{metrics}");
    let (status, openapi) = server.get("/v1/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(json(&openapi)["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));

    assert_eq!(server.terminate(), Some(0), "SIGTERM exits 0 within 10 s");

    // After a restart on the same state, a retry still gets the recorded decision.
    let server = Server::start(&root().join("policies/cn"), &state);
    let (status, after) = server.post("/v1/submit", &action);
    assert_eq!((status, json(&after)["decision"].clone()), (200, first["decision"].clone()));
    assert_eq!(server.terminate(), Some(0));
}

#[test]
fn a_reload_that_fails_keeps_the_policies_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for entry in std::fs::read_dir(root().join("policies/cn")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
        }
    }
    for sub in ["lists", "calendars"] {
        let from = root().join("policies/cn").join(sub);
        if from.is_dir() {
            std::fs::create_dir(policies.join(sub)).unwrap();
            for entry in std::fs::read_dir(&from).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, policies.join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let server = Server::start(&policies, &dir.path().join("state.db"));
    let (_, before) = server.get("/v1/policies");
    std::fs::write(policies.join("broken.probity"), "policy broken \"Broken\"\n  version \"1\"\n").unwrap();
    let (status, error) = server.post("/v1/policies", b"");
    assert_eq!(status, 422, "{error}");
    assert_eq!(json(&error)["error"]["code"], "policy-errors");
    assert_eq!(server.get("/v1/policies").1, before, "the old policies stay in force");
    let action = std::fs::read(root().join("examples/action.json")).unwrap();
    assert_eq!(server.post("/v1/evaluate", &action).0, 200);
    // Mended, it loads, atomically.
    std::fs::remove_file(policies.join("broken.probity")).unwrap();
    let (status, after) = server.post("/v1/policies", b"");
    assert_eq!((status, after), (200, before));
    assert_eq!(server.terminate(), Some(0));
}

/// Submissions from eight connections while the service is SIGKILLed: after a restart on the
/// same state, every acknowledged submission is there once (a retry gets its decision back, and
/// the state holds no more decisions than were sent).
#[test]
fn a_killed_service_keeps_every_acknowledged_submission_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let mut server = Server::start(&root().join("policies/cn"), &state);
    let template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("examples/action.json")).unwrap()).unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-18T09:00:00+08:00").unwrap();
    let address = server.address;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..8)
        .map(|c| {
            let (template, stop) = (template.clone(), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                let (mut acked, mut sent) = (Vec::new(), 0usize);
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let mut action = template.clone();
                    action["id"] = format!("K-{c}-{n}").into();
                    action["rm"]["id"] = format!("K-{c}").into();
                    action["at"] = (start + chrono::TimeDelta::seconds(n)).to_rfc3339().into();
                    let body = action.to_string();
                    sent += 1;
                    match std::panic::catch_unwind(|| call(address, "POST", "/v1/submit", body.as_bytes())) {
                        Ok((200, answer)) => acked.push((body, json(&answer)["decision"].clone())),
                        _ => break,
                    }
                }
                (acked, sent)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acked = Vec::new();
    let mut sent = 0;
    for s in senders {
        let (a, n) = s.join().unwrap();
        acked.extend(a);
        sent += n;
    }
    assert!(!acked.is_empty(), "nothing was acknowledged before the kill");
    let server = Server::start(&root().join("policies/cn"), &state);
    for (body, decision) in &acked {
        let (status, answer) = server.post("/v1/submit", body.as_bytes());
        assert_eq!(status, 200, "{answer}");
        let answer = json(&answer);
        assert_eq!(&answer["decision"], decision, "an acknowledged submission was lost or changed");
        assert_eq!(answer["overdue"], serde_json::json!([]));
    }
    assert_eq!(server.terminate(), Some(0));
    let output = Command::new(env!("CARGO_BIN_EXE_probity")).args(["state", "show"]).arg(&state).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let recorded: usize = text
        .lines()
        .find(|l| l.starts_with("decisions recorded"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap();
    // Each acknowledged one once; at most the eight in flight at the kill besides.
    assert!(
        recorded >= acked.len() && recorded <= sent,
        "{recorded} recorded, {} acknowledged, {sent} sent",
        acked.len()
    );
}

/// A signal the moment the service says it listens is already the service's: `SIGHUP` reloads
/// (it does not end the process, as its default action would) and `SIGTERM` stops it cleanly.
#[test]
fn signals_as_soon_as_the_service_listens_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        let server = Server::start(&root().join("policies/cn"), &dir.path().join("s.db"));
        let status = Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert_eq!(server.terminate(), Some(0), "SIGTERM right after SIGHUP exits 0");
    }
}
