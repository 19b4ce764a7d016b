//! `probity serve --bundle FILE --trust KEY.pub` and `--log FILE`, as a user runs them: decisions
//! from a bundle equal `probity eval --bundle`, a reload of a tampered or foreign bundle is
//! refused with its code and the old policies stay, a re-signed bundle with a new version is
//! taken up keeping the ledger; the decision log holds each submission once, verifies, continues
//! across a restart, and `log why` confirms its decisions.

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
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn probity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probity")).args(args).current_dir(root()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A running `probity serve`, killed if the test ends without stopping it.
struct Server {
    child: Child,
    address: SocketAddr,
    /// What it wrote to standard error after its "listening" line.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `probity serve ARGS --listen 127.0.0.1:0` and waits for its "listening" line.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_probity"))
            .current_dir(root())
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut before = String::new();
        let address = loop {
            let line = lines.next().unwrap_or_else(|| panic!("serve stopped: {before}")).unwrap();
            if let Some(address) = line.rsplit_once("http://") {
                break address.1.parse().unwrap();
            }
            before.push_str(&line);
            before.push('\n');
        };
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(before));
        let sink = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Server { child, address, stderr }
    }

    fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        call(self.address, "POST", path, body)
    }

    fn get(&self, path: &str) -> (u16, String) {
        call(self.address, "GET", path, b"")
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
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

/// One request (`Connection: close`); the status and the body.
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
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    (status, body.to_string())
}

/// A key pair (`key`, `key.pub`) in `dir`.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(name);
    let out = probity(&["keygen", "--out", s(&key)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = dir.join(format!("{name}.pub"));
    (key, public)
}

fn bundle(policies: &Path, out: &Path, key: &Path) {
    let made = probity(&["bundle", s(policies), "--out", s(out), "--sign", s(key)]);
    assert!(made.status.success(), "{}", text(&made.stderr));
}

/// The bundle with one byte of a policy file changed, re-gzip'd.
fn tampered(bundle: &Path, out: &Path) {
    let raw = std::fs::read(bundle).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut tar).unwrap();
    let i = tar.windows(9).position(|w| w == b"cash_gift").unwrap();
    tar[i] = b'C';
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    std::fs::write(out, gz.finish().unwrap()).unwrap();
}

/// A copy of policies/cn (with its folders, such as its calendars) in `dir`.
fn copy_policies(dir: &Path) -> PathBuf {
    let out = dir.join("policies");
    copy_dir(&root().join("policies/cn"), &out);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, target).unwrap();
        }
    }
}

/// Writes `file` atomically (a rename), as a deployment replaces a bundle.
fn replace(file: &Path, with: &Path) {
    let staged = file.with_extension("staged");
    std::fs::copy(with, &staged).unwrap();
    std::fs::rename(&staged, file).unwrap();
}

fn action() -> Vec<u8> {
    std::fs::read(root().join("examples/action.json")).unwrap()
}

/// The example action with another id and time (`n` minutes later), for RM `rm`.
fn nth_action(n: i64, rm: &str) -> String {
    let mut action = json(&text(&action()));
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-18T14:20:00+08:00").unwrap() + chrono::TimeDelta::minutes(n);
    action["id"] = format!("L-{rm}-{n}").into();
    action["rm"]["id"] = rm.into();
    action["at"] = at.to_rfc3339().into();
    action.to_string()
}

#[test]
fn serve_from_a_bundle_refuses_a_bad_one_and_takes_up_a_new_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, trust) = keygen(tmp.path(), "key");
    let (other, _) = keygen(tmp.path(), "other");
    let policies = copy_policies(tmp.path());
    let deployed = tmp.path().join("deployed.bundle");
    bundle(&policies, &deployed, &key);
    let original = tmp.path().join("original.bundle");
    std::fs::copy(&deployed, &original).unwrap();
    let state = tmp.path().join("state.db");
    let args = ["--bundle", s(&deployed), "--trust", s(&trust), "--state", s(&state)];
    let server = Server::start(&args);

    // evaluate = `probity eval --bundle`, byte for byte.
    let cli = probity(&["eval", "--bundle", s(&deployed), "--trust", s(&trust), "examples/action.json"]);
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    let (status, decision) = server.post("/v1/evaluate", &action());
    assert_eq!((status, decision.as_str()), (200, text(&cli.stdout).trim_end()));
    let (status, first) = server.post("/v1/submit", &action());
    assert_eq!(status, 200, "{first}");
    let (_, before) = server.get("/v1/policies");

    // A tampered bundle, then one signed by another key: refused with their codes, the old
    // policies stay in force.
    let bad = tmp.path().join("bad.bundle");
    tampered(&original, &bad);
    let foreign = tmp.path().join("foreign.bundle");
    bundle(&policies, &foreign, &other);
    for (refused, code) in [(&bad, "B0003"), (&foreign, "B0002")] {
        replace(&deployed, refused);
        let (status, error) = server.post("/v1/policies", b"");
        assert_eq!((status, json(&error)["error"]["code"].as_str()), (422, Some(code)), "{error}");
        assert_eq!(json(&error)["error"]["kind"], "PolicyError");
        assert_eq!(server.get("/v1/policies").1, before, "the old policies stay in force");
        assert_eq!(server.post("/v1/evaluate", &action()).1, decision);
    }
    // SIGHUP with a bad bundle: refused the same way, said on standard error.
    let hup = Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap();
    assert!(hup.success());
    let start = Instant::now();
    while !server.stderr().contains("not reloaded") && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stderr().contains("[B0002]"), "{}", server.stderr());
    assert_eq!(server.get("/v1/policies").1, before);

    // A new version, re-signed with the trusted key: taken up, the ledger kept.
    let newer = std::fs::read_to_string(policies.join("wealth_sales_2026.probity"))
        .unwrap()
        .replace("version \"2026.1\"", "version \"2026.2\"")
        .replace("effective 2026-02-01", "effective 2026-09-01");
    assert!(newer.contains("2026.2") && newer.contains("2026-09-01"));
    std::fs::write(policies.join("wealth_sales_2026_2.probity"), newer).unwrap();
    let next = tmp.path().join("next.bundle");
    bundle(&policies, &next, &key);
    replace(&deployed, &next);
    let (status, after) = server.post("/v1/policies", b"");
    assert_eq!(status, 200, "{after}");
    let versions: Vec<String> =
        json(&after).as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap().to_string()).collect();
    assert!(versions.contains(&"2026.2".to_string()), "{after}");
    assert_eq!(server.get("/v1/policies").1, after);
    let (status, again) = server.post("/v1/submit", &action());
    assert_eq!((status, json(&again)["decision"].clone()), (200, json(&first)["decision"].clone()), "{again}");
    assert_eq!(server.terminate(), Some(0));

    // Refused at the start too: exit 2 with the code, as `eval` is.
    for (refused, code) in [(&bad, "[B0003]"), (&foreign, "[B0002]")] {
        let out = probity(&["serve", "--bundle", s(refused), "--trust", s(&trust), "--state", s(&state)]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(code), "{}", text(&out.stderr));
        let eval = probity(&["eval", "--bundle", s(refused), "--trust", s(&trust), "examples/action.json"]);
        assert_eq!(eval.status.code(), Some(2));
    }
}

/// `probity log verify FILE`: its exit status and standard output.
fn log_verify(log: &Path) -> (Option<i32>, String) {
    let out = probity(&["log", "verify", s(log)]);
    (out.status.code(), text(&out.stdout) + &text(&out.stderr))
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn serve_logs_each_submission_once_in_a_chain_that_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, trust) = keygen(tmp.path(), "key");
    let packed = tmp.path().join("cn.bundle");
    bundle(&root().join("policies/cn"), &packed, &key);
    let state = tmp.path().join("state.db");
    let log = tmp.path().join("decisions.log");
    let args = ["--bundle", s(&packed), "--trust", s(&trust), "--state", s(&state), "--log", s(&log)];
    let server = Server::start(&args);
    let n = 12;
    let mut answers = Vec::new();
    for i in 0..n {
        let (status, answer) = server.post("/v1/submit", nth_action(i, &format!("RM-{}", i % 3)).as_bytes());
        assert_eq!(status, 200, "{answer}");
        answers.push(json(&answer));
    }
    // A gift that starts a duty, for the advance below to report overdue.
    let gift = r#"{"type": "gift_received", "id": "G-1", "at": "2026-03-18T15:00:00+08:00", "rm": {"id": "RM-0"},
        "giver": "ACME", "giver_type": "customer", "kind": "goods", "value": "500 CNY", "pending_decision": false}"#;
    let (status, answer) = server.post("/v1/submit", gift.as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["decision"]["obligations"].as_array().map(Vec::len), Some(1), "{answer}");
    // Retries answer the recorded decision and add no line.
    for i in [0, 5, n - 1] {
        let (status, answer) = server.post("/v1/submit", nth_action(i, &format!("RM-{}", i % 3)).as_bytes());
        assert_eq!((status, &json(&answer)["decision"]), (200, &answers[i as usize]["decision"]));
    }
    // An error is answered and not logged.
    assert_eq!(server.post("/v1/submit", br#"{"type": "product_sale"}"#).0, 400);
    assert_eq!(server.post("/v1/submit", gift.as_bytes()).0, 200);
    let total = n as usize + 1;
    assert_eq!(lines(&log).len(), total, "one line per submission, synced before the answer");
    let (code, out) = log_verify(&log);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("{total} line(s), chain intact")), "{out}");
    // Each line: seq, the bundle's digest, the action, the record the service answered.
    let digest = text(&probity(&["verify", s(&packed), "--trust", s(&trust)]).stdout);
    for (i, line) in lines(&log).iter().take(n as usize).enumerate() {
        let line = json(line);
        assert_eq!(line["seq"], i + 1);
        assert!(digest.contains(line["policies"]["bundle"].as_str().unwrap()), "{line}");
        assert_eq!(line["action"]["id"], format!("L-RM-{}-{i}", i % 3));
        assert_eq!(line["record"]["decision"], answers[i]["decision"]);
    }
    // `log why` re-derives a decision from the logged actions of its RM: the same bytes.
    let why = probity(&["log", "why", s(&log), "L-RM-1-10", "--bundle", s(&packed), "--trust", s(&trust)]);
    assert_eq!(why.status.code(), Some(0), "{}", text(&why.stdout));
    assert!(text(&why.stdout).contains("byte for byte the logged record"), "{}", text(&why.stdout));
    assert!(text(&why.stdout).contains("decided again after 3 earlier action(s)"), "{}", text(&why.stdout));
    // An advance's overdue reports are logged too (as many lines as it answered reports).
    let (status, reports) = server.post("/v1/advance", br#"{"to": "2026-04-30T00:00:00+08:00"}"#);
    assert_eq!(status, 200, "{reports}");
    let reported = json(&reports).as_array().unwrap().len();
    assert!(reported >= 1, "{reports}");
    let after_advance = lines(&log);
    assert_eq!(after_advance.len(), total + reported);
    assert_eq!(json(&after_advance[total])["record"]["overdue"], json(&reports)[0]);
    assert!(after_advance[total..]
        .iter()
        .all(|l| json(l)["action"].is_null() && json(l)["record"]["overdue"].is_object()));
    assert_eq!(server.terminate(), Some(0));

    // A restart with the same log continues its chain; the retries still add nothing.
    let server = Server::start(&args);
    let before = lines(&log).len();
    assert_eq!(server.post("/v1/submit", nth_action(0, "RM-0").as_bytes()).0, 200);
    let (status, answer) = server.post("/v1/submit", nth_action(100_000, "RM-9").as_bytes());
    assert_eq!(status, 200, "{answer}");
    let now = lines(&log);
    assert_eq!(now.len(), before + 1);
    assert_eq!(json(&now[before])["seq"], before + 1);
    let (code, out) = log_verify(&log);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(server.terminate(), Some(0));

    // The last line lost (as if the service stopped between the commit and the log's write):
    // the restart finds that submission in the state and not the log, and logs it when it is
    // retried, once; earlier retries still add nothing.
    let cut = &now[..now.len() - 1];
    std::fs::write(&log, cut.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let server = Server::start(&args);
    assert!(server.stderr().contains("1 submission(s) in the state are not in the log"), "{}", server.stderr());
    for _ in 0..2 {
        let (status, again) = server.post("/v1/submit", nth_action(100_000, "RM-9").as_bytes());
        assert_eq!((status, &json(&again)["decision"]), (200, &json(&answer)["decision"]));
    }
    assert_eq!(server.post("/v1/submit", nth_action(3, "RM-0").as_bytes()).0, 200);
    assert_eq!(lines(&log), now, "the lost line is logged again, as it was, and only once");
    assert_eq!(server.terminate(), Some(0));

    // A log that does not verify is refused at the start (exit 2, its code), and not continued.
    let mut edited = lines(&log);
    edited[3] = edited[3].replacen("\"seq\":4,", "\"seq\":4, ", 1);
    std::fs::write(&log, edited.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = probity(&["serve", "--policies", "policies/cn", "--state", s(&state), "--log", s(&log)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("[L0003]"), "{}", text(&out.stderr));
    assert_eq!(lines(&log), edited);
}

/// Submissions from eight connections while the service, with a log, is SIGKILLed; after a
/// restart on the same state and log, every client sends again what it was not answered: every
/// acknowledged submission is then in the state and the log once, and so is every one in flight
/// at the kill (the log holds as many decisions as the state records).
#[test]
fn a_killed_service_with_a_log_keeps_state_and_log_equal() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.db");
    let log = tmp.path().join("decisions.log");
    let args = ["--policies", "policies/cn", "--state", s(&state), "--log", s(&log)];
    let mut server = Server::start(&args);
    let address = server.address;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..8)
        .map(|c| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut acked, mut unanswered) = (Vec::new(), None);
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let body = nth_action(n, &format!("K-{c}"));
                    match std::panic::catch_unwind(|| call(address, "POST", "/v1/submit", body.as_bytes())) {
                        Ok((200, answer)) => acked.push((body, json(&answer)["decision"].clone())),
                        _ => {
                            unanswered = Some(body);
                            break;
                        }
                    }
                }
                (acked, unanswered)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut acked, mut unanswered) = (Vec::new(), Vec::new());
    for sender in senders {
        let (a, u) = sender.join().unwrap();
        acked.extend(a);
        unanswered.extend(u);
    }
    assert!(!acked.is_empty(), "nothing was acknowledged before the kill");
    let logged_at_kill = lines(&log).len();
    let server = Server::start(&args);
    for (body, decision) in &acked {
        let (status, answer) = server.post("/v1/submit", body.as_bytes());
        assert_eq!((status, &json(&answer)["decision"]), (200, decision), "{answer}");
    }
    for body in &unanswered {
        let (status, answer) = server.post("/v1/submit", body.as_bytes());
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(server.terminate(), Some(0));
    let (code, out) = log_verify(&log);
    assert_eq!(code, Some(0), "{out}");
    let mut ids: Vec<String> =
        lines(&log).iter().map(|l| json(l)["action"]["id"].as_str().unwrap().to_string()).collect();
    let logged = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), logged, "an action logged twice");
    for (body, _) in &acked {
        assert!(ids.binary_search(&json(body)["id"].as_str().unwrap().to_string()).is_ok(), "not logged: {body}");
    }
    let shown = probity(&["state", "show", s(&state)]);
    let recorded: usize = text(&shown.stdout)
        .lines()
        .find(|l| l.starts_with("decisions recorded"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(recorded, logged, "the state and the log hold the same submissions");
    assert_eq!(logged, acked.len() + unanswered.len());
    eprintln!(
        "fault test with a log: {} acknowledged before the kill, {} in flight, {} lines at the kill; after the \
         restart and the retries {logged} in the log and {recorded} in the state, each once",
        acked.len(),
        unanswered.len(),
        logged_at_kill
    );
}
