//! The policy set the server works on: every `.probity` file under the root, with the open
//! documents' text in place of the files on disk; and its diagnostics.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, PublishDiagnosticsParams,
    Uri,
};
use probity::outline::Outline;
use probity::PolicySet;
use serde_json::json;

use crate::text::{path_to_uri, LineIndex};

/// How deep the root is searched for policy files, and how many are read at most: a root that
/// is a home directory must not stall the editor.
const MAX_DEPTH: usize = 8;
const MAX_FILES: usize = 5_000;

/// One policy file of the set.
#[derive(Debug)]
pub struct File {
    /// The URI the client names it by (or one made from its path).
    pub uri: String,
    /// Its text: the editor's while it is open, else the disk's.
    pub text: String,
    /// Where its lines start.
    pub lines: LineIndex,
    /// The version the editor gave with the text.
    pub version: Option<i32>,
    /// Whether the editor has it open (its text is the editor's).
    pub open: bool,
    outline: OnceCell<Outline>,
}

impl File {
    fn new(uri: String, text: String, version: Option<i32>) -> File {
        File { uri, lines: LineIndex::new(&text), text, version, open: false, outline: OnceCell::new() }
    }

    /// The file's declarations and name uses (parsed once per text).
    pub fn outline(&self, path: &Path) -> &Outline {
        self.outline.get_or_init(|| probity::outline::outline(&path.display().to_string(), &self.text))
    }
}

/// The files of the set and what was last published for them.
#[derive(Debug, Default)]
pub struct World {
    /// The folder whose policy files form the set, if the client gave one.
    pub root: Option<PathBuf>,
    /// By path.
    pub files: BTreeMap<PathBuf, File>,
    /// The files whose last published diagnostics were not empty, with their URIs (to clear
    /// them, even once the file is gone).
    published: BTreeMap<PathBuf, String>,
    /// The documents opened or changed since the last publication: each is told its
    /// diagnostics, even none.
    touched: BTreeSet<PathBuf>,
}

impl World {
    /// The set under `root` as the disk has it.
    pub fn new(root: Option<PathBuf>) -> World {
        let mut world = World { root, ..World::default() };
        if let Some(root) = world.root.clone() {
            let mut paths = Vec::new();
            collect(&root, 0, &mut paths);
            for path in paths {
                if let Ok(text) = read_policy(&path) {
                    let uri = path_to_uri(&path);
                    world.files.insert(path, File::new(uri, text, None));
                }
            }
        }
        world
    }

    /// The editor opened (or changed) a document.
    pub fn set_text(&mut self, path: PathBuf, uri: String, text: String, version: Option<i32>) {
        self.touched.insert(path.clone());
        let mut file = File::new(uri, text, version);
        file.open = true;
        self.files.insert(path, file);
    }

    /// The editor closed a document: the disk's text counts again (none if it is not on disk
    /// or not under the root).
    pub fn close(&mut self, path: &Path) {
        let under_root = self.root.as_ref().is_some_and(|root| path.starts_with(root));
        match read_policy(path) {
            Ok(text) if under_root => {
                let uri = self.files.get(path).map_or_else(|| path_to_uri(path), |f| f.uri.clone());
                self.files.insert(path.to_path_buf(), File::new(uri, text, None));
            }
            _ => {
                self.files.remove(path);
            }
        }
    }

    /// A file changed (or appeared, or went) on disk: read it again unless the editor has it
    /// open.
    pub fn reload(&mut self, path: &Path) {
        if self.files.get(path).is_some_and(|f| f.open) {
            return;
        }
        self.close(path);
    }

    /// Every file's diagnostics from checking the whole set, with an empty list for a file
    /// whose earlier ones are gone.
    pub fn diagnostics(&mut self) -> Vec<PublishDiagnosticsParams> {
        let sources = self.files.iter().map(|(path, file)| (path.display().to_string(), file.text.clone()));
        let found = PolicySet::diagnose(sources);
        let mut by_file: BTreeMap<PathBuf, Vec<Diagnostic>> = BTreeMap::new();
        for d in &found {
            let path = PathBuf::from(d.file());
            let Some(file) = self.files.get(&path) else { continue };
            let converted = self.convert(file, d);
            by_file.entry(path).or_default().push(converted);
        }
        let mut out = Vec::new();
        let touched = std::mem::take(&mut self.touched);
        let stale: Vec<PathBuf> =
            self.published.keys().chain(&touched).filter(|p| !by_file.contains_key(*p)).cloned().collect();
        for path in stale {
            by_file.insert(path, Vec::new());
        }
        let mut published = BTreeMap::new();
        for (path, diagnostics) in by_file {
            let file = self.files.get(&path);
            let Some(uri) = file.map(|f| f.uri.clone()).or_else(|| self.published.get(&path).cloned()) else {
                continue;
            };
            let Ok(parsed) = Uri::from_str(&uri) else { continue };
            if !diagnostics.is_empty() {
                published.insert(path, uri);
            }
            out.push(PublishDiagnosticsParams { uri: parsed, diagnostics, version: file.and_then(|f| f.version) });
        }
        self.published = published;
        out
    }

    /// The LSP form of a diagnostic: code, UTF-16 range, the hint after the message, related
    /// places, and a did-you-mean replacement in `data` for the quick fix.
    fn convert(&self, file: &File, d: &probity::Diagnostic) -> Diagnostic {
        let span = d.span();
        let mut message = d.message().to_string();
        if let Some(help) = d.help() {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .related()
            .filter_map(|(message, name, span)| {
                let other = self.files.get(Path::new(name))?;
                let uri = Uri::from_str(&other.uri).ok()?;
                let range = other.lines.range(&other.text, &span);
                Some(DiagnosticRelatedInformation { location: Location { uri, range }, message: message.to_string() })
            })
            .collect();
        let data = d.help().and_then(suggested).map(|name| {
            // An enum member is written as a text literal: the fix keeps its quotes.
            let quoted = file.text.get(span.clone()).is_some_and(|s| s.starts_with('"'));
            json!({ "replace": if quoted { format!("\"{name}\"") } else { name.to_string() } })
        });
        Diagnostic {
            range: file.lines.range(&file.text, &span),
            severity: Some(match d.severity() {
                probity::Severity::Error => DiagnosticSeverity::ERROR,
                probity::Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code().to_string())),
            code_description: None,
            source: Some("probity".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data,
        }
    }
}

/// The name a "did you mean `x`?" hint suggests.
fn suggested(help: &str) -> Option<&str> {
    let rest = help.split_once("did you mean `")?.1;
    let name = rest.split_once('`')?.0;
    (!name.is_empty()).then_some(name)
}

fn read_policy(path: &Path) -> std::io::Result<String> {
    let size = std::fs::metadata(path)?.len();
    if size > probity::limits::MAX_SOURCE_BYTES as u64 {
        return Err(std::io::Error::other("too large"));
    }
    std::fs::read_to_string(path)
}

/// The `.probity` files under `dir`, skipping hidden folders and build output.
fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if out.len() >= MAX_FILES {
            return;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if depth < MAX_DEPTH && !name.starts_with('.') && name != "target" && name != "node_modules" {
                collect(&path, depth.saturating_add(1), out);
            }
        } else if path.extension().is_some_and(|e| e == "probity") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::suggested;

    #[test]
    fn did_you_mean_names() {
        assert_eq!(suggested("did you mean `kind`?"), Some("kind"));
        assert_eq!(suggested("declare it first"), None);
        assert_eq!(suggested("did you mean ``?"), None);
    }
}
