//! The request loop: initialize, then each message in turn; diagnostics are published once
//! the queue is empty, so a burst of edits is checked once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionProviderCapability, CompletionList, CompletionOptions,
    DocumentSymbol, HoverContents, HoverProviderCapability, Location, MarkupContent, MarkupKind, OneOf, Position,
    SemanticTokens, SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensServerCapabilities,
    ServerCapabilities, SymbolKind, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri, WorkspaceEdit,
};
use probity::outline::{Declaration, DeclarationKind};
use serde_json::{json, Value};

use crate::analysis::Set;
use crate::text::uri_to_path;
use crate::world::World;

/// `probity lsp`: the server on standard input and output. Status 0 after `shutdown` and
/// `exit`; 1, with the reason on standard error, otherwise (an `exit` without `shutdown`, as
/// the protocol says, or a broken connection).
pub fn run() -> ExitCode {
    match run_stdio() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the server on standard input and output until `exit`.
pub fn run_stdio() -> Result<(), String> {
    let (connection, threads) = Connection::stdio();
    serve(&connection)?;
    // The reader stops after `exit`, the writer once the connection is gone.
    drop(connection);
    threads.join().map_err(|e| format!("lsp: {e}"))
}

/// Serves one client on a connection: the handshake, then requests until `shutdown` and
/// `exit` (an error if the client exits without `shutdown`, or the connection breaks).
pub fn serve(connection: &Connection) -> Result<(), String> {
    let (id, params) = connection.initialize_start().map_err(|e| format!("lsp: {e}"))?;
    let capabilities = capabilities();
    let answer = json!({ "capabilities": capabilities, "serverInfo": { "name": "probity", "version": env!("CARGO_PKG_VERSION") } });
    connection.initialize_finish(id, answer).map_err(|e| format!("lsp: {e}"))?;
    let mut server = Server { world: World::new(root_of(&params)), dirty: false };
    loop {
        let Ok(message) = connection.receiver.recv() else { return Err("lsp: the client went away".into()) };
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request).map_err(|e| format!("lsp: {e}"))? {
                    return Ok(());
                }
                send(connection, server.request(request).into())?;
            }
            Message::Notification(n) if n.method == "exit" => return Err("lsp: exit before shutdown".into()),
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => {}
        }
        if server.dirty && connection.receiver.is_empty() {
            server.dirty = false;
            for params in server.world.diagnostics() {
                send(connection, Notification::new("textDocument/publishDiagnostics".into(), params).into())?;
            }
        }
    }
}

fn send(connection: &Connection, message: Message) -> Result<(), String> {
    connection.sender.send(message).map_err(|_| "lsp: the client went away".to_string())
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "\"".into(), " ".into()]),
            ..CompletionOptions::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: crate::semantic::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                ..SemanticTokensOptions::default()
            },
        )),
        ..ServerCapabilities::default()
    }
}

/// The root folder: `workspaceFolders`' first, else `rootUri`, else `rootPath`.
fn root_of(params: &Value) -> Option<PathBuf> {
    let folder = params.pointer("/workspaceFolders/0/uri").and_then(Value::as_str);
    let uri = folder.or_else(|| params.get("rootUri").and_then(Value::as_str));
    uri.and_then(uri_to_path).or_else(|| params.get("rootPath").and_then(Value::as_str).map(PathBuf::from))
}

struct Server {
    world: World,
    /// Whether a text changed since diagnostics were last published.
    dirty: bool,
}

/// A request's document, read from its JSON: the server reads the few fields it uses, so a
/// client's extra or unusual fields never fail a request.
fn document(params: &Value) -> Option<(String, PathBuf)> {
    let uri = params.pointer("/textDocument/uri")?.as_str()?;
    Some((uri.to_string(), uri_to_path(uri)?))
}

fn position(params: &Value) -> Option<Position> {
    let line = params.pointer("/position/line")?.as_u64()?;
    let character = params.pointer("/position/character")?.as_u64()?;
    Some(Position { line: u32::try_from(line).ok()?, character: u32::try_from(character).ok()? })
}

impl Server {
    fn notification(&mut self, n: Notification) {
        let params = &n.params;
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let text = params.pointer("/textDocument/text").and_then(Value::as_str);
                let version = params.pointer("/textDocument/version").and_then(Value::as_i64);
                if let (Some((uri, path)), Some(text)) = (document(params), text) {
                    self.world.set_text(path, uri, text.to_string(), version.and_then(|v| i32::try_from(v).ok()));
                    self.dirty = true;
                }
            }
            "textDocument/didChange" => {
                // Full synchronisation: the last change is the whole text.
                let changes = params.get("contentChanges").and_then(Value::as_array);
                let text = changes.and_then(|c| c.last()).and_then(|c| c.get("text")).and_then(Value::as_str);
                let version = params.pointer("/textDocument/version").and_then(Value::as_i64);
                if let (Some((uri, path)), Some(text)) = (document(params), text) {
                    self.world.set_text(path, uri, text.to_string(), version.and_then(|v| i32::try_from(v).ok()));
                    self.dirty = true;
                }
            }
            // Files changed on disk (the client watches `**/*.probity`): an open document keeps
            // the editor's text.
            "workspace/didChangeWatchedFiles" => {
                for change in params.get("changes").and_then(Value::as_array).into_iter().flatten() {
                    let path = change.get("uri").and_then(Value::as_str).and_then(uri_to_path);
                    if let Some(path) = path.filter(|p| p.extension().is_some_and(|e| e == "probity")) {
                        self.world.reload(&path);
                        self.dirty = true;
                    }
                }
            }
            "textDocument/didClose" => {
                if let Some((_, path)) = document(params) {
                    self.world.close(&path);
                    self.dirty = true;
                }
            }
            _ => {}
        }
    }

    fn request(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        let params = &request.params;
        let result = match request.method.as_str() {
            "textDocument/hover" => self.at(params, |set, path, offset| {
                let (span, target) = set.target_at(path, offset)?;
                let value = set.hover(&target)?;
                let range = self.world.files.get(path).map(|f| f.lines.range(&f.text, &span));
                Some(json!({ "contents": HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }), "range": range }))
            }),
            "textDocument/definition" => self.at(params, |set, path, offset| {
                let (_, target) = set.target_at(path, offset)?;
                let (file, d) = set.declaration(&target)?;
                json!(self.location(file, &d.name_span)?).into()
            }),
            "textDocument/references" => self.at(params, |set, path, offset| {
                let (_, target) = set.target_at(path, offset)?;
                let with_declaration = params.pointer("/context/includeDeclaration").and_then(Value::as_bool).unwrap_or(true);
                let found = set.references(&target, with_declaration);
                json!(found.iter().filter_map(|(file, span)| self.location(file, span)).collect::<Vec<_>>()).into()
            }),
            "textDocument/completion" => self.at(params, |set, path, offset| {
                let text = &self.world.files.get(path)?.text;
                let items = crate::complete::complete(set, text, offset);
                json!(CompletionList { is_incomplete: false, items }).into()
            }),
            "textDocument/formatting" => document(params).map(|(_, path)| self.format(&path)),
            "textDocument/documentSymbol" => document(params).map(|(_, path)| self.symbols(&path)),
            "textDocument/semanticTokens/full" => document(params).and_then(|(_, path)| {
                let file = self.world.files.get(&path)?;
                let data = crate::semantic::tokens(&Set::new(&self.world, Some(&path)), &path, file);
                Some(json!(SemanticTokens { result_id: None, data }))
            }),
            "textDocument/codeAction" => document(params).map(|(uri, _)| quick_fixes(&uri, params)),
            _ => {
                return Response::new_err(id, ErrorCode::MethodNotFound as i32, format!("unknown request `{}`", request.method))
            }
        };
        Response::new_ok(id, result.unwrap_or(Value::Null))
    }

    /// Runs `f` on the set, the document's path and the offset of the request's position.
    fn at(&self, params: &Value, f: impl FnOnce(&Set<'_>, &Path, usize) -> Option<Value>) -> Option<Value> {
        let (_, path) = document(params)?;
        let file = self.world.files.get(&path)?;
        let offset = file.lines.offset(&file.text, position(params)?);
        f(&Set::new(&self.world, Some(&path)), &path, offset)
    }

    fn location(&self, path: &Path, span: &std::ops::Range<usize>) -> Option<Location> {
        let file = self.world.files.get(path)?;
        Some(Location { uri: Uri::from_str(&file.uri).ok()?, range: file.lines.range(&file.text, span) })
    }

    /// One edit that replaces the whole document with its `fmt` layout (none when it is in
    /// that layout already; null when it does not parse).
    fn format(&self, path: &Path) -> Value {
        let Some(file) = self.world.files.get(path) else { return Value::Null };
        match probity::format_source(&path.display().to_string(), &file.text) {
            Ok(formatted) if formatted == file.text => json!([]),
            Ok(formatted) => json!([TextEdit { range: file.lines.whole(&file.text), new_text: formatted }]),
            Err(_) => Value::Null,
        }
    }

    /// The outline: the header, records and actions with their fields, rules, ladders, consts
    /// and lists.
    fn symbols(&self, path: &Path) -> Value {
        let Some(file) = self.world.files.get(path) else { return Value::Null };
        let outline = file.outline(path);
        let symbol = |d: &Declaration, children: Option<Vec<DocumentSymbol>>| {
            let kind = match d.kind {
                DeclarationKind::Policy => SymbolKind::MODULE,
                DeclarationKind::Record => SymbolKind::STRUCT,
                DeclarationKind::Action => SymbolKind::EVENT,
                DeclarationKind::Field => SymbolKind::FIELD,
                DeclarationKind::Rule => SymbolKind::FUNCTION,
                DeclarationKind::Ladder => SymbolKind::ENUM,
                DeclarationKind::Const => SymbolKind::CONSTANT,
                _ => SymbolKind::ARRAY,
            };
            #[allow(deprecated)]
            DocumentSymbol {
                name: d.name.clone(),
                detail: (!d.detail.is_empty()).then(|| d.detail.clone()),
                kind,
                tags: None,
                deprecated: None,
                range: file.lines.range(&file.text, &d.span),
                selection_range: file.lines.range(&file.text, &d.name_span),
                children,
            }
        };
        let mut out = Vec::new();
        for d in outline.declarations.iter().filter(|d| d.kind != DeclarationKind::Field) {
            let children = matches!(d.kind, DeclarationKind::Record | DeclarationKind::Action).then(|| {
                outline
                    .declarations
                    .iter()
                    .filter(|f| f.kind == DeclarationKind::Field && f.parent.as_deref() == Some(&d.name))
                    .map(|f| symbol(f, None))
                    .collect()
            });
            out.push(symbol(d, children));
        }
        json!(out)
    }
}

/// A quick fix for each diagnostic of the request that carries a did-you-mean replacement.
fn quick_fixes(uri: &str, params: &Value) -> Value {
    let Ok(parsed) = Uri::from_str(uri) else { return Value::Null };
    let diagnostics = params.pointer("/context/diagnostics").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for d in diagnostics {
        let Some(replace) = d.pointer("/data/replace").and_then(Value::as_str) else { continue };
        let Some(range) = range_of(d.get("range")) else { continue };
        let edit = TextEdit { range, new_text: replace.to_string() };
        let diagnostic = serde_json::from_value(d.clone()).ok();
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("change to `{}`", replace.trim_matches('"')),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: diagnostic.map(|d| vec![d]),
            edit: Some(WorkspaceEdit {
                changes: Some([(parsed.clone(), vec![edit])].into_iter().collect()),
                ..WorkspaceEdit::default()
            }),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    json!(out)
}

fn range_of(value: Option<&Value>) -> Option<lsp_types::Range> {
    let value = value?;
    let at = |p: &str| -> Option<Position> {
        let line = value.pointer(&format!("/{p}/line"))?.as_u64()?;
        let character = value.pointer(&format!("/{p}/character"))?.as_u64()?;
        Some(Position { line: u32::try_from(line).ok()?, character: u32::try_from(character).ok()? })
    };
    Some(lsp_types::Range { start: at("start")?, end: at("end")? })
}
