//! `probity lsp` as an editor runs it: framed JSON-RPC on its standard input and output, the
//! misspelt field's diagnostic, and the exit status of a clean and of an abrupt end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

struct Lsp {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Lsp {
    fn start() -> Lsp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_probity"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Lsp { child, input, output }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.input, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.input.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            assert!(self.output.read_line(&mut line).unwrap() > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.output.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn initialize(&mut self, root: &std::path::Path) {
        let root = format!("file://{}", root.display());
        self.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": null, "rootUri": root, "capabilities": {}}}));
        let answer = self.read();
        assert_eq!(answer["id"], 1);
        assert_eq!(answer["result"]["serverInfo"]["name"], "probity");
        assert_eq!(answer["result"]["capabilities"]["documentFormattingProvider"], true);
        self.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    }
}

#[test]
fn diagnostics_over_stdio_then_a_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let text = "policy p version \"1\" effective 2026-01-01\naction sale { amount: money }\nrule r \"R\" cite \"x\" on sale when action.amuont > 1 CNY then deny\n";
    std::fs::write(dir.path().join("p.probity"), text).unwrap();
    let mut lsp = Lsp::start();
    lsp.initialize(dir.path());
    let uri = format!("file://{}", dir.path().join("p.probity").display());
    lsp.send(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "probity", "version": 1, "text": text}}}));
    let published = lsp.read();
    assert_eq!(published["method"], "textDocument/publishDiagnostics");
    assert_eq!(published["params"]["uri"], uri);
    let d = &published["params"]["diagnostics"][0];
    assert_eq!(d["code"], "P0102");
    assert_eq!(d["range"]["start"], json!({"line": 2, "character": 40}));
    // A text id is answered with the same id.
    lsp.send(json!({"jsonrpc": "2.0", "id": "s", "method": "shutdown"}));
    let answer = lsp.read();
    assert_eq!((answer["id"].clone(), answer["result"].clone()), (json!("s"), Value::Null));
    lsp.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(lsp.child.wait().unwrap().code(), Some(0));
}

#[test]
fn exit_without_shutdown_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut lsp = Lsp::start();
    lsp.initialize(dir.path());
    lsp.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(lsp.child.wait().unwrap().code(), Some(1), "the protocol's status for an exit without shutdown");
}
