//! Positions: byte offsets (the core's spans) to and from LSP positions, whose columns count
//! UTF-16 code units; and `file://` URIs to and from paths.

use std::ops::Range;
use std::path::{Path, PathBuf};

use lsp_types::{Position, Range as LspRange};

/// Where each line of a text starts, to turn offsets into positions and back.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// The index of a text.
    pub fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i.saturating_add(1))).collect();
        LineIndex { starts }
    }

    /// The position of a byte offset (clamped to the text, and back to a character boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset = offset.saturating_sub(1);
        }
        let line = self.starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let character = text.get(start..offset).map_or(0, |s| s.encode_utf16().count());
        Position { line: to_u32(line), character: to_u32(character) }
    }

    /// The range of a byte span.
    pub fn range(&self, text: &str, span: &Range<usize>) -> LspRange {
        LspRange { start: self.position(text, span.start), end: self.position(text, span.end.max(span.start)) }
    }

    /// The byte offset of a position; a column past the line's end is the line's end, a line
    /// past the text's end is the text's end.
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else { return text.len() };
        let mut units = 0usize;
        let line = text.get(start..).unwrap_or("");
        for (i, c) in line.char_indices() {
            if c == '\n' || units >= position.character as usize {
                return start.saturating_add(i);
            }
            units = units.saturating_add(c.len_utf16());
        }
        text.len()
    }

    /// The range of the whole text.
    pub fn whole(&self, text: &str) -> LspRange {
        LspRange { start: Position { line: 0, character: 0 }, end: self.position(text, text.len()) }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The path of a `file://` URI (percent-decoded); `None` for another scheme.
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file://localhost/p` and `file:///p`: the path starts at the first slash.
    let path = rest.get(rest.find('/')?..)?;
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i.saturating_add(1)..i.saturating_add(3)).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i = i.saturating_add(3);
            }
            _ => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8(out).ok().map(PathBuf::from)
}

/// The `file://` URI of an absolute path, percent-encoding what a URI path may not hold.
pub fn path_to_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn utf16_columns_both_ways() {
        // `规` is 3 bytes and one UTF-16 unit; `𝄞` is 4 bytes and two units.
        let text = "ab\n规𝄞x\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(index.position(text, x), Position { line: 1, character: 3 });
        assert_eq!(index.offset(text, Position { line: 1, character: 3 }), x);
        assert_eq!(index.offset(text, Position { line: 1, character: 99 }), x + 1);
        assert_eq!(index.offset(text, Position { line: 9, character: 0 }), text.len());
        assert_eq!(index.position(text, 4), Position { line: 1, character: 0 }, "inside `规`: back to its start");
        assert_eq!(index.whole(text).end, Position { line: 2, character: 0 });
    }

    #[test]
    fn uris_and_paths() {
        let path = Path::new("/tmp/a b/规.probity");
        let uri = path_to_uri(path);
        assert_eq!(uri, "file:///tmp/a%20b/%E8%A7%84.probity");
        assert_eq!(uri_to_path(&uri).unwrap(), path);
        assert_eq!(uri_to_path("file://localhost/x").unwrap(), Path::new("/x"));
        assert_eq!(uri_to_path("untitled:1"), None);
    }
}
