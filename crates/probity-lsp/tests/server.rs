//! The server driven as an editor drives it: JSON-RPC messages over an in-memory connection,
//! assertions on the answers, for each feature.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::thread::JoinHandle;
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};

/// Last year's version of the policy, in a file of its own (the set is the folder): it declares
/// its own record and action, as each file does.
const SHARED: &str = "policy gifts version \"0\" effective 2025-01-01\n\
record customer {\n  id: text\n  risk: int\n  tier: int\n}\n\
action gift_received { value: money  kind: one of cash, goods  giver: customer }\n\
rule old \"Old\" cite \"x\" on gift_received\n  when action.giver.risk > 5 and action.value > 1 CNY and action.kind = \"cash\" and action.giver.id = \"c\" and action.giver.tier > 1\n  then review\n";

/// The policy the tests edit. Line numbers (0-based) matter: see the positions below.
const POLICY: &str = "policy gifts \"Gifts\" version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
action gift_received { value: money  kind: one of cash, goods  giver: customer }\n\
const cap = 500 CNY\n\
list blocked from \"lists/blocked.txt\"\n\
ladder conduct \"Conduct points\" window 12 months points minor 1, major 3 step 4 \"warning\"\n\
rule r1 \"Cash gifts\" cite \"art. 7\" cite \"art. 9\" on gift_received\n  when action.kind = \"cash\" and action.giver.risk > 2\n  then deny, breach major in conduct\n\
rule r2 \"Big\" cite \"x\" on gift_received\n  when action.value > cap and action.giver.id in blocked\n  then review\n\
record customer { id: text  risk: int }\n";

struct Client {
    connection: Connection,
    thread: Option<JoinHandle<Result<(), String>>>,
    next_id: i32,
    /// Notifications that arrived while waiting for a response.
    pending: Vec<Notification>,
    dir: tempfile::TempDir,
    /// What the server said it can do.
    capabilities: Value,
}

impl Client {
    /// A server on a folder holding `shared.probity`, `gifts.probity` and a list file.
    fn start() -> Client {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shared.probity"), SHARED).unwrap();
        std::fs::write(dir.path().join("gifts.probity"), POLICY).unwrap();
        std::fs::create_dir(dir.path().join("lists")).unwrap();
        std::fs::write(dir.path().join("lists/blocked.txt"), "# blocked givers\nc1\nc2\n\nc3\n").unwrap();
        let (server, connection) = Connection::memory();
        let thread = std::thread::spawn(move || probity_lsp::serve(&server));
        let mut client = Client {
            connection,
            thread: Some(thread),
            next_id: 0,
            pending: Vec::new(),
            dir,
            capabilities: Value::Null,
        };
        let root = format!("file://{}", client.dir.path().display());
        let answer = client.request("initialize", json!({"processId": null, "rootUri": root, "capabilities": {}}));
        assert_eq!(answer["capabilities"]["hoverProvider"], json!(true));
        client.capabilities = answer["capabilities"].clone();
        client.notify("initialized", json!({}));
        client
    }

    fn uri(&self, name: &str) -> String {
        format!("file://{}", self.dir.path().join(name).display())
    }

    fn notify(&self, method: &str, params: Value) {
        self.connection.sender.send(Notification::new(method.into(), params).into()).unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.connection.sender.send(Request::new(id.clone(), method.into(), params).into()).unwrap();
        loop {
            match self.connection.receiver.recv_timeout(Duration::from_secs(20)).unwrap() {
                Message::Response(r) if r.id == id => return r.response_result.unwrap(),
                Message::Notification(n) => self.pending.push(n),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let n = match self.pending.iter().position(|n| n.params["uri"] == uri) {
                Some(i) => self.pending.remove(i),
                None => match self.connection.receiver.recv_timeout(Duration::from_secs(20)).unwrap() {
                    Message::Notification(n) => n,
                    other => panic!("unexpected {other:?}"),
                },
            };
            if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri {
                return n.params["diagnostics"].as_array().unwrap().clone();
            }
        }
    }

    fn open(&mut self, name: &str, text: &str) -> String {
        let uri = self.uri(name);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "probity", "version": 1, "text": text}}),
        );
        uri
    }

    fn change(&self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32) -> Value {
        self.request(method, json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"includeDeclaration": true}}))
    }

    fn completion_labels(&mut self, uri: &str, line: u32, character: u32) -> Vec<String> {
        let answer = self.at("textDocument/completion", uri, line, character);
        answer["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap().to_string()).collect()
    }

    /// `shutdown` then `exit`: the server's loop ends cleanly.
    fn stop(mut self) {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        self.thread.take().unwrap().join().unwrap().unwrap();
    }
}

/// The (line, UTF-16 column) of the `n`-th occurrence of `needle` in `text`, plus `extra`
/// characters.
fn pos(text: &str, needle: &str, n: usize, extra: u32) -> (u32, u32) {
    let offset = text.match_indices(needle).nth(n).unwrap().0;
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let column = before.rsplit('\n').next().unwrap().encode_utf16().count() as u32;
    (line, column + extra)
}

#[test]
fn a_misspelt_field_is_p0102_at_the_field_with_a_quick_fix() {
    let mut c = Client::start();
    let broken = POLICY.replace("action.kind = \"cash\"", "action.knd = \"cash\"");
    let uri = c.open("gifts.probity", &broken);
    let diagnostics = c.diagnostics(&uri);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d["code"], "P0102");
    assert_eq!(d["severity"], 1);
    let (line, column) = pos(&broken, "knd", 0, 0);
    assert_eq!(
        d["range"],
        json!({"start": {"line": line, "character": column}, "end": {"line": line, "character": column + 3}})
    );
    assert!(d["message"].as_str().unwrap().contains("`knd`"), "{d}");
    assert!(d["message"].as_str().unwrap().contains("help: did you mean `kind`?"), "{d}");

    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}),
    );
    let action = &actions[0];
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(action["edit"]["changes"][&uri], json!([{"range": d["range"], "newText": "kind"}]));

    // The fix applied: the diagnostics are cleared.
    c.change(&uri, 2, POLICY);
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());
    c.stop();
}

#[test]
fn a_misspelt_enum_member_keeps_its_quotes_and_columns_count_utf16() {
    let mut c = Client::start();
    // `规则` is two UTF-16 units and six bytes, before the error on the same line.
    let broken = POLICY
        .replace("rule r2 \"Big\"", "rule r2 \"规则\"")
        .replace("then review", "then review message \"{action.kind}\"")
        .replace("action.value > cap and", "action.kind = \"goosd\" and action.value > cap and");
    let uri = c.open("gifts.probity", &broken);
    let diagnostics = c.diagnostics(&uri);
    let d = diagnostics.iter().find(|d| d["code"] == "P0203").unwrap_or_else(|| panic!("{diagnostics:?}"));
    let (line, column) = pos(&broken, "\"goosd\"", 0, 0);
    assert_eq!(d["range"]["start"], json!({"line": line, "character": column}));
    assert_eq!(d["data"]["replace"], "\"goods\"");

    let cjk = POLICY.replace(
        "rule r2 \"Big\" cite \"x\" on gift_received\n  when",
        "rule r2 \"规则\" cite \"x\" on gift_received when action.vaule > cap or",
    );
    c.change(&uri, 2, &cjk);
    let diagnostics = c.diagnostics(&uri);
    let d = diagnostics.iter().find(|d| d["code"] == "P0102").unwrap_or_else(|| panic!("{diagnostics:?}"));
    let (line, column) = pos(&cjk, "vaule", 0, 0);
    assert_eq!(d["range"]["start"], json!({"line": line, "character": column}));
    let byte_column = cjk.lines().nth(line as usize).unwrap().find("vaule").unwrap() as u32;
    assert!(column < byte_column, "UTF-16 columns, not bytes");
    c.stop();
}

#[test]
fn related_locations_point_at_the_other_declaration() {
    let mut c = Client::start();
    let twice = POLICY.replace("const cap = 500 CNY\n", "const cap = 500 CNY\nconst cap = 600 CNY\n");
    let uri = c.open("gifts.probity", &twice);
    let diagnostics = c.diagnostics(&uri);
    let d =
        diagnostics.iter().find(|d| d["relatedInformation"].is_array()).unwrap_or_else(|| panic!("{diagnostics:?}"));
    let related = &d["relatedInformation"][0]["location"];
    assert_eq!(related["uri"], uri);
    let lines = [related["range"]["start"]["line"].as_u64().unwrap(), d["range"]["start"]["line"].as_u64().unwrap()];
    assert!(lines.contains(&2) && lines.contains(&3), "{d}");
    c.stop();
}

#[test]
fn hover_tells_types_members_titles_ladders_consts_and_lists() {
    let mut c = Client::start();
    let uri = c.open("gifts.probity", POLICY);
    c.diagnostics(&uri);
    let hover = |c: &mut Client, needle: &str, n: usize, extra: u32| {
        let (line, character) = pos(POLICY, needle, n, extra);
        let answer = c.at("textDocument/hover", &uri, line, character);
        answer["contents"]["value"].as_str().unwrap_or_else(|| panic!("no hover on {needle}: {answer}")).to_string()
    };
    let kind = hover(&mut c, "action.kind", 0, 8);
    assert!(kind.contains("kind: one of cash, goods") && kind.contains("members: `cash`, `goods`"), "{kind}");
    assert!(kind.contains("action `gift_received`"), "{kind}");
    let risk = hover(&mut c, "giver.risk", 0, 7);
    assert!(risk.contains("risk: int") && risk.contains("record `customer`"), "{risk}");
    let rule = hover(&mut c, "r1", 0, 1);
    assert!(
        rule.contains("rule r1 \"Cash gifts\"") && rule.contains("cite art. 7") && rule.contains("cite art. 9"),
        "{rule}"
    );
    let ladder = hover(&mut c, "in conduct", 0, 4);
    assert!(
        ladder.contains("window 12 months")
            && ladder.contains("points minor 1, major 3")
            && ladder.contains("step 4 \"warning\""),
        "{ladder}"
    );
    let cap = hover(&mut c, "> cap", 0, 3);
    assert!(cap.contains("const cap = 500 CNY"), "{cap}");
    let list = hover(&mut c, "in blocked", 0, 5);
    assert!(list.contains("lists/blocked.txt") && list.contains("3 entries"), "{list}");
    let id = hover(&mut c, "giver.id", 0, 6);
    assert!(id.contains("id: text"), "{id}");
    // Nothing to say on a keyword.
    let (line, character) = pos(POLICY, "then", 0, 1);
    assert_eq!(c.at("textDocument/hover", &uri, line, character), Value::Null);
    c.stop();
}

#[test]
fn definition_and_references_across_the_set() {
    let mut c = Client::start();
    let uri = c.open("gifts.probity", POLICY);
    c.diagnostics(&uri);
    let shared = c.uri("shared.probity");
    let definition = |c: &mut Client, needle: &str, n: usize, extra: u32| {
        let (line, character) = pos(POLICY, needle, n, extra);
        c.at("textDocument/definition", &uri, line, character)
    };
    // The action type in `on` jumps to its declaration.
    let on = definition(&mut c, "on gift_received", 0, 5);
    assert_eq!(on["uri"], uri);
    assert_eq!(on["range"]["start"], json!({"line": 1, "character": 7}));
    // A record's field, declared after its use; the record named in a field's type.
    let risk = definition(&mut c, "giver.risk", 0, 6);
    assert_eq!(risk["uri"], uri);
    let (line, character) = pos(POLICY, "risk: int", 0, 0);
    assert_eq!(risk["range"]["start"], json!({"line": line, "character": character}));
    let record = definition(&mut c, ": customer", 0, 3);
    assert_eq!(record["range"]["start"], json!({"line": line, "character": 7}));
    // From the other file, its own declaration.
    let (line, character) = pos(SHARED, "giver.risk", 0, 7);
    let there = c.at("textDocument/definition", &shared, line, character);
    assert_eq!((there["uri"].clone(), there["range"]["start"]["line"].clone()), (json!(shared), json!(3)));
    assert_eq!(there["range"]["start"]["character"], 2);
    assert_eq!(definition(&mut c, "in conduct", 0, 4)["range"]["start"]["line"], 4);
    assert_eq!(definition(&mut c, "> cap", 0, 2)["range"]["start"]["line"], 2);
    assert_eq!(definition(&mut c, "in blocked", 0, 3)["range"]["start"]["line"], 3);
    assert_eq!(definition(&mut c, "action.value", 0, 8)["range"]["start"], json!({"line": 1, "character": 23}));

    let (line, character) = pos(POLICY, "gift_received", 0, 2);
    let references = c.at("textDocument/references", &uri, line, character);
    let places: Vec<(String, u64)> = references
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["uri"].as_str().unwrap().to_string(), r["range"]["start"]["line"].as_u64().unwrap()))
        .collect();
    let here = |line| (uri.clone(), line);
    let other = |line| (shared.clone(), line);
    assert_eq!(places, [here(1), here(5), here(8), other(6), other(7)]);
    // A field of both versions' record: both declarations and both uses.
    let (line, character) = pos(SHARED, "risk", 0, 1);
    let references = c.at("textDocument/references", &shared, line, character);
    assert_eq!(references.as_array().unwrap().len(), 4, "{references}");
    c.stop();
}

#[test]
fn completion_in_context_while_the_rule_is_half_written() {
    let mut c = Client::start();
    let typing = POLICY.to_string()
        + "rule r3 on gift_received\n  \n  when action. and action.giver. and action.kind = \n  then breach \n  then breach major in \nrule r4 on \nrule r5 on gift_received when count( \n";
    let uri = c.open("gifts.probity", &typing);
    let (line, character) = pos(&typing, "action. and", 0, 7);
    let fields = c.completion_labels(&uri, line, character);
    assert_eq!(fields, ["value", "kind", "giver", "id", "at", "rm"]);
    // This version's record (last year's has a `tier`).
    let (line, character) = pos(&typing, "giver. and", 0, 6);
    assert_eq!(c.completion_labels(&uri, line, character), ["id", "risk"]);
    let (line, character) = pos(&typing, "kind = \n", 0, 7);
    let answer = c.at("textDocument/completion", &uri, line, character);
    let members: Vec<(&str, &str)> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["label"].as_str().unwrap(), i["insertText"].as_str().unwrap()))
        .collect();
    assert_eq!(members, [("cash", "\"cash\""), ("goods", "\"goods\"")]);
    let (line, character) = pos(&typing, "breach \n", 0, 7);
    assert_eq!(c.completion_labels(&uri, line, character), ["major", "minor"]);
    let (line, character) = pos(&typing, "major in \n", 0, 9);
    assert_eq!(c.completion_labels(&uri, line, character), ["conduct"]);
    let (line, character) = pos(&typing, "r4 on \n", 0, 6);
    assert_eq!(c.completion_labels(&uri, line, character), ["gift_received"]);
    let (line, character) = pos(&typing, "count( \n", 0, 7);
    assert_eq!(c.completion_labels(&uri, line, character), ["gift_received", "breach"]);
    // Clause keywords inside a rule, declarations in column 1.
    let (line, _) = pos(&typing, "  \n  when action.", 0, 0);
    let clauses = c.completion_labels(&uri, line, 2);
    assert!(
        clauses.contains(&"when".to_string())
            && clauses.contains(&"cap".to_string())
            && !clauses.contains(&"ladder".to_string()),
        "{clauses:?}"
    );
    let (line, _) = pos(&typing, "rule r4", 0, 0);
    let top = c.completion_labels(&uri, line, 0);
    assert!(top.contains(&"ladder".to_string()) && top.contains(&"record".to_string()), "{top:?}");
    // A rule with no `on` yet does not borrow the next rule's.
    let no_on = typing.replace("rule r4 on \n", "rule r4 when action.\nrule r6 on gift_received\n");
    c.change(&uri, 4, &no_on);
    let (line, character) = pos(&no_on, "r4 when action.", 0, 15);
    assert!(c.completion_labels(&uri, line, character).is_empty());
    // A message's placeholder.
    let placeholder =
        typing.replace("rule r4 on \n", "rule r4 on gift_received then deny message \"from {action.giver.\n");
    c.change(&uri, 2, &placeholder);
    let (line, character) = pos(&placeholder, "{action.giver.", 0, 14);
    assert_eq!(c.completion_labels(&uri, line, character), ["id", "risk"]);
    let (line, character) = pos(&placeholder, "\"from {", 0, 3);
    assert!(c.completion_labels(&uri, line, character).is_empty(), "plain message text");
    // In a closed message too, and in a cite nothing.
    let closed =
        typing.replace("rule r4 on \n", "rule r4 on gift_received then deny message \"from {action.} here\"\n");
    c.change(&uri, 3, &closed);
    let (line, character) = pos(&closed, "{action.}", 0, 8);
    assert_eq!(c.completion_labels(&uri, line, character), ["value", "kind", "giver", "id", "at", "rm"]);
    let (line, character) = pos(&closed, "cite \"art. 7\"", 0, 8);
    assert!(c.completion_labels(&uri, line, character).is_empty(), "inside a cite");
    // Nothing inside a comment.
    let commented = typing.replace("rule r4 on \n", "# action.\n");
    c.change(&uri, 5, &commented);
    let (line, character) = pos(&commented, "# action.", 0, 9);
    assert!(c.completion_labels(&uri, line, character).is_empty());
    c.stop();
}

#[test]
fn formatting_returns_the_fmt_layout_as_one_edit() {
    let mut c = Client::start();
    let messy = POLICY.replace("  then review", "  then    review");
    let uri = c.open("gifts.probity", &messy);
    let format = |c: &mut Client| {
        c.request(
            "textDocument/formatting",
            json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
        )
    };
    let edits = format(&mut c);
    let edits = edits.as_array().unwrap();
    assert_eq!(edits.len(), 1);
    let expected = probity::format_source("gifts.probity", &messy).unwrap();
    assert_eq!(edits[0]["newText"], expected);
    assert_eq!(edits[0]["range"]["start"], json!({"line": 0, "character": 0}));
    assert_eq!(edits[0]["range"]["end"], json!({"line": messy.lines().count(), "character": 0}));
    c.change(&uri, 2, &expected);
    assert_eq!(format(&mut c), json!([]), "formatted already");
    c.change(&uri, 3, "policy");
    assert_eq!(format(&mut c), Value::Null, "no layout for text that does not parse");
    c.stop();
}

#[test]
fn document_symbols_are_the_outline() {
    let mut c = Client::start();
    let uri = c.open("gifts.probity", POLICY);
    let symbols = c.request("textDocument/documentSymbol", json!({"textDocument": {"uri": uri}}));
    let names: Vec<&str> = symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["gifts", "gift_received", "cap", "blocked", "conduct", "r1", "r2", "customer"]);
    let action = &symbols[1];
    let fields: Vec<&str> =
        action["children"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(fields, ["value", "kind", "giver"]);
    assert_eq!(symbols[5]["detail"], "Cash gifts");
    assert_eq!(symbols[5]["selectionRange"]["start"], json!({"line": 5, "character": 5}));
    c.stop();
}

#[test]
fn closing_a_document_goes_back_to_the_disk_and_unknown_requests_are_errors() {
    let mut c = Client::start();
    let uri = c.open("gifts.probity", &POLICY.replace("action.value", "action.valu"));
    assert_eq!(c.diagnostics(&uri).len(), 1);
    c.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new(), "the file on disk is clean");
    c.next_id += 1;
    let id = RequestId::from(c.next_id);
    c.connection.sender.send(Request::new(id.clone(), "textDocument/rename".into(), json!({})).into()).unwrap();
    loop {
        match c.connection.receiver.recv_timeout(Duration::from_secs(20)).unwrap() {
            Message::Response(r) => break assert_eq!(r.response_result.unwrap_err().code, -32601),
            Message::Notification(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    c.stop();
}

#[test]
fn files_changed_on_disk_are_read_again_unless_open() {
    let mut c = Client::start();
    let shared = c.uri("shared.probity");
    let gifts = c.open("gifts.probity", POLICY);
    c.diagnostics(&gifts);
    std::fs::write(c.dir.path().join("shared.probity"), SHARED.replace("action.giver.risk", "action.giver.rsk"))
        .unwrap();
    c.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": shared, "type": 2}]}));
    let diagnostics = c.diagnostics(&shared);
    assert_eq!(diagnostics[0]["code"], "P0102");
    std::fs::remove_file(c.dir.path().join("shared.probity")).unwrap();
    c.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": shared, "type": 3}]}));
    assert_eq!(c.diagnostics(&shared), Vec::<Value>::new(), "a deleted file's diagnostics are cleared");
    // The open document keeps the editor's text, whatever the disk says.
    std::fs::write(c.dir.path().join("gifts.probity"), "policy").unwrap();
    c.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": gifts, "type": 2}]}));
    let (line, character) = pos(POLICY, "on gift_received", 0, 5);
    assert_eq!(c.at("textDocument/definition", &gifts, line, character)["range"]["start"]["line"], 1);
    c.stop();
}

#[test]
fn exit_without_shutdown_is_an_error() {
    let mut c = Client::start();
    c.notify("exit", Value::Null);
    assert!(c.thread.take().unwrap().join().unwrap().is_err());
}

#[test]
fn semantic_tokens_name_what_each_name_stands_for() {
    let mut c = Client::start();
    let uri = c.open("gifts.probity", POLICY);
    let legend = &c.capabilities["semanticTokensProvider"]["legend"];
    assert_eq!(
        legend["tokenTypes"],
        json!(["struct", "event", "property", "function", "enum", "variable", "namespace"])
    );
    assert_eq!(legend["tokenModifiers"], json!(["declaration", "readonly"]));
    let answer = c.request("textDocument/semanticTokens/full", json!({"textDocument": {"uri": uri}}));
    let data: Vec<u32> = answer["data"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap() as u32).collect();
    assert_eq!(data.len() % 5, 0);
    // Decode the relative encoding into (line, column, length, type).
    let (mut line, mut column) = (0, 0);
    let mut tokens = Vec::new();
    for t in data.chunks(5) {
        if t[0] > 0 {
            column = 0;
        }
        line += t[0];
        column += t[1];
        tokens.push((line, column, t[2], t[3], t[4]));
    }
    let at = |needle: &str, n: usize, extra: u32| {
        let (l, col) = pos(POLICY, needle, n, extra);
        *tokens.iter().find(|t| t.0 == l && t.1 == col).unwrap_or_else(|| panic!("no token at {needle}: {tokens:?}"))
    };
    // Types: 0 struct (record), 1 event (action), 2 property (field), 3 function (rule),
    // 4 enum (ladder), 5 variable (const, list); modifier 1 declaration, 2 readonly.
    assert_eq!(at("gift_received {", 0, 0), (1, 7, 13, 1, 1));
    assert_eq!(at("on gift_received", 0, 3).3, 1);
    assert_eq!(at("action.kind", 0, 7).3, 2);
    assert_eq!(at("giver.risk", 0, 6).3, 2);
    assert_eq!(at("r1", 0, 0).3, 3);
    assert_eq!(at("in conduct", 0, 3).3, 4);
    assert_eq!(at("> cap", 0, 2), {
        let (l, col) = pos(POLICY, "> cap", 0, 2);
        (l, col, 3, 5, 2)
    });
    c.stop();
}

#[test]
fn every_position_answers_without_error() {
    let mut c = Client::start();
    // Half a rule at the end, and CJK text, so that positions fall in every kind of place.
    let text = POLICY.replace("\"Big\"", "\"大额礼品 🎁\"") + "rule r9 \"未完\" on gift_received when action.giver.";
    let uri = c.open("gifts.probity", &text);
    for (line, content) in text.split('\n').enumerate() {
        let width = content.encode_utf16().count() as u32;
        for character in 0..=width + 1 {
            for method in
                ["textDocument/hover", "textDocument/definition", "textDocument/completion", "textDocument/references"]
            {
                // `request` unwraps the result: an error answer fails the test.
                c.at(method, &uri, line as u32, character);
            }
        }
    }
    c.request("textDocument/documentSymbol", json!({"textDocument": {"uri": uri}}));
    c.request("textDocument/semanticTokens/full", json!({"textDocument": {"uri": uri}}));
    c.stop();
}
