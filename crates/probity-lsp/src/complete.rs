//! Completion in context. It reads the text around the cursor, not the syntax tree: what is
//! being typed seldom parses yet. Declarations come from the set's outlines.

use lsp_types::{CompletionItem, CompletionItemKind};
use probity::outline::DeclarationKind;

use crate::analysis::{Set, BUILT_IN_FIELDS};

/// The keywords that start a declaration in column 1.
const DECLARATIONS: [&str; 8] = ["rule", "conflict", "duty", "ladder", "record", "action", "const", "list"];
/// A rule's clauses.
const CLAUSES: [&str; 12] = [
    "cite",
    "on",
    "let",
    "when",
    "unless",
    "then",
    "message",
    "require",
    "due within",
    "fulfilled by",
    "otherwise",
    "every",
];
/// The outcomes after `then` and `otherwise`.
const OUTCOMES: [&str; 5] = ["deny", "review", "warn", "breach", "escalate"];
/// A ladder's clauses.
const LADDER: [&str; 5] = ["window", "points", "step", "restricts", "for"];
/// The header's clauses.
const HEADER: [&str; 6] = ["version", "effective", "until", "timezone", "on error", "calendar"];
/// Field types.
const TYPES: [&str; 11] =
    ["bool", "int", "decimal", "money", "text", "date", "datetime", "duration", "set of", "list of", "one of"];
/// What may start an expression, besides paths, consts and lists.
const EXPRESSION: [&str; 24] = [
    "action",
    "rm",
    "now",
    "today",
    "not",
    "and",
    "or",
    "in",
    "contains",
    "is present",
    "is missing",
    "count",
    "exists",
    "sum",
    "min",
    "max",
    "year",
    "month",
    "age",
    "days_between",
    "date",
    "hour",
    "weekday",
    "len",
];
const AGGREGATES: [&str; 5] = ["count", "exists", "sum", "min", "max"];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// A text literal; `false` while it is still open.
    Text(bool),
    Punct(char),
}

/// The tokens of `text` with their start offsets; `None` when `until` is inside a comment.
fn tokens(text: &str, until: usize) -> Option<Vec<(usize, usize, Token)>> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if i >= until {
            break;
        }
        if c == '#' {
            let mut end = text.len();
            for (j, c) in chars.by_ref() {
                if c == '\n' {
                    end = j;
                    break;
                }
            }
            if until <= end {
                return None;
            }
        } else if c == '"' {
            let (mut end, mut closed, mut escaped) = (text.len(), false, false);
            for (j, c) in chars.by_ref() {
                if c == '\n' || (c == '"' && !escaped) {
                    closed = c == '"';
                    end = j.saturating_add(1);
                    break;
                }
                escaped = c == '\\' && !escaped;
            }
            out.push((i, end, Token::Text(closed)));
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut end = i.saturating_add(1);
            while let Some(&(j, c)) = chars.peek() {
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    break;
                }
                end = j.saturating_add(1);
                chars.next();
            }
            out.push((i, end, Token::Word(text.get(i..end).unwrap_or("").to_string())));
        } else if !c.is_whitespace() {
            out.push((i, i.saturating_add(c.len_utf8()), Token::Punct(c)));
        }
    }
    Some(out)
}

/// Where the declaration holding `offset` starts: the last line before it that begins in
/// column 1 with a declaration keyword (the header's chunk is the text's start).
fn chunk_start(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    let mut start = 0usize;
    let mut at = 0usize;
    for line in before.split_inclusive('\n') {
        let first = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
        if DECLARATIONS.contains(&first) && line.len() > first.len() {
            start = at;
        }
        at = at.saturating_add(line.len());
    }
    start
}

/// Where the next declaration after the line holding `offset` starts (the text's end if none).
fn chunk_end(text: &str, offset: usize) -> usize {
    let Some(newline) = text.get(offset..).and_then(|t| t.find('\n')) else { return text.len() };
    let mut at = offset.saturating_add(newline).saturating_add(1);
    for line in text.get(at..).unwrap_or("").split_inclusive('\n') {
        let first = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
        if DECLARATIONS.contains(&first) && line.len() > first.len() {
            return at;
        }
        at = at.saturating_add(line.len());
    }
    text.len()
}

fn word(t: Option<&(usize, usize, Token)>) -> Option<&str> {
    match t {
        Some((_, _, Token::Word(w))) => Some(w),
        _ => None,
    }
}

fn punct(t: Option<&(usize, usize, Token)>) -> Option<char> {
    match t {
        Some((_, _, Token::Punct(c))) => Some(*c),
        _ => None,
    }
}

/// All but the last token.
fn but_last<T>(tokens: &[T]) -> &[T] {
    tokens.split_last().map_or(tokens, |(_, rest)| rest)
}

/// The dotted path that ends just before `tokens`' end (`action.customer` before a `.`).
fn path_before(tokens: &[(usize, usize, Token)]) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = tokens;
    while let Some((last, before)) = rest.split_last() {
        let Token::Word(w) = &last.2 else { break };
        segments.push(w.clone());
        match before.split_last() {
            Some((dot, earlier)) if dot.2 == Token::Punct('.') => rest = earlier,
            _ => break,
        }
    }
    segments.reverse();
    segments
}

fn items<'a>(labels: impl IntoIterator<Item = &'a str>, kind: CompletionItemKind) -> Vec<CompletionItem> {
    labels
        .into_iter()
        .map(|label| CompletionItem { label: label.to_string(), kind: Some(kind), ..CompletionItem::default() })
        .collect()
}

/// The completions at `offset` of `text`.
pub fn complete(set: &Set<'_>, text: &str, offset: usize) -> Vec<CompletionItem> {
    let offset = offset.min(text.len());
    let start = chunk_start(text, offset);
    let end = chunk_end(text, offset);
    let chunk = text.get(start..end).unwrap_or("");
    let local = offset.saturating_sub(start);
    let Some(all) = tokens(chunk, chunk.len()) else { return Vec::new() };
    if tokens(chunk, local).is_none() {
        return Vec::new();
    }
    let kind = word(all.first()).unwrap_or("policy").to_string();
    let on = on_types(&all);
    let before: Vec<_> = all.iter().filter(|(s, _, _)| *s < local).cloned().collect();
    // The word (or open text) being typed is not context.
    let (context, in_text) = match before.split_last() {
        Some(((_, end, Token::Word(_)), rest)) if *end >= local => (rest, false),
        // Inside a text: before its closing quote, or anywhere in one left open.
        Some(((_, end, Token::Text(closed)), rest)) if *end > local || (!*closed && *end >= local) => (rest, true),
        _ => (before.as_slice(), false),
    };
    let line_start = text.get(..offset).and_then(|t| t.rfind('\n')).map_or(0, |i| i.saturating_add(1));
    let column_one =
        text.get(line_start..offset).is_some_and(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let last = context.last();
    if column_one {
        // A new declaration, or a clause of this one.
        let mut out = items(DECLARATIONS, CompletionItemKind::KEYWORD);
        out.extend(keywords_of(set, &kind, None));
        return out;
    }
    if in_text && punct(last) != Some('=') {
        // Only a message's placeholder holds names: `"… {action.giver.`.
        return placeholder_path(chunk, local).map_or_else(Vec::new, |path| fields_after(set, &path, &on));
    }
    if punct(last) == Some('.') {
        let path = path_before(but_last(context));
        return fields_after(set, &path, &on);
    }
    if punct(last) == Some('=') {
        let left = but_last(context);
        let left = if punct(left.last()) == Some('!') { but_last(left) } else { left };
        return members_of(set, &path_before(left), &on, in_text);
    }
    let previous = word(last);
    let two_back = context.len().checked_sub(2).and_then(|i| context.get(i));
    let three_back = context.len().checked_sub(3).and_then(|i| context.get(i));
    if previous == Some("in") && word(three_back) == Some("breach") {
        return items(set.names(DeclarationKind::Ladder), CompletionItemKind::ENUM);
    }
    if previous == Some("breach") {
        let mut severities: Vec<&str> = set
            .declarations()
            .filter(|(_, d)| d.kind == DeclarationKind::Ladder)
            .flat_map(|(_, d)| d.members.iter().map(String::as_str))
            .collect();
        severities.sort_unstable();
        severities.dedup();
        return items(severities, CompletionItemKind::ENUM_MEMBER);
    }
    let in_list_after = |keywords: &[&str]| {
        let mut i = context.len();
        while let Some(t) = i.checked_sub(1).and_then(|j| context.get(j)) {
            match &t.2 {
                Token::Word(w) if keywords.contains(&w.as_str()) => return true,
                Token::Punct(',') | Token::Word(_) if !CLAUSES.contains(&word(Some(t)).unwrap_or("")) => {}
                _ => return false,
            }
            i = i.saturating_sub(1);
        }
        false
    };
    // Action types after `on` (not the header's `on error`), `fulfilled by` and `restricts`.
    let types_follow = matches!(previous, Some("on" | "by" | "restricts"))
        || (punct(last) == Some(',') && in_list_after(&["on", "restricts"]));
    if types_follow && kind != "policy" {
        return items(set.names(DeclarationKind::Action), CompletionItemKind::CLASS);
    }
    if punct(last) == Some('(') && word(two_back).is_some_and(|w| AGGREGATES.contains(&w)) {
        let mut out = items(set.names(DeclarationKind::Action), CompletionItemKind::CLASS);
        out.extend(items(["breach"], CompletionItemKind::KEYWORD));
        return out;
    }
    if matches!(previous, Some("then" | "otherwise"))
        || (punct(last) == Some(',') && in_list_after(&["then", "otherwise"]))
    {
        return items(OUTCOMES, CompletionItemKind::KEYWORD);
    }
    keywords_of(set, &kind, last)
}

/// The keywords (and names) that may come next in a declaration of `kind`.
fn keywords_of(set: &Set<'_>, kind: &str, last: Option<&(usize, usize, Token)>) -> Vec<CompletionItem> {
    let mut out = Vec::new();
    match kind {
        "rule" | "conflict" | "duty" => {
            out.extend(items(CLAUSES, CompletionItemKind::KEYWORD));
            out.extend(items(EXPRESSION, CompletionItemKind::KEYWORD));
            out.extend(items(set.names(DeclarationKind::Const), CompletionItemKind::CONSTANT));
            out.extend(items(set.names(DeclarationKind::List), CompletionItemKind::VARIABLE));
        }
        "ladder" => out.extend(items(LADDER, CompletionItemKind::KEYWORD)),
        "record" | "action" if punct(last) == Some(':') || word(last) == Some("of") => {
            out.extend(items(TYPES, CompletionItemKind::KEYWORD));
            out.extend(items(set.names(DeclarationKind::Record), CompletionItemKind::STRUCT));
        }
        "policy" => out.extend(items(HEADER, CompletionItemKind::KEYWORD)),
        _ => {}
    }
    out
}

/// The complete segments of the placeholder being typed at `local` (`["action", "giver"]` in
/// `"… {action.giver.ri`); `None` outside one, or before its first dot.
fn placeholder_path(chunk: &str, local: usize) -> Option<Vec<String>> {
    let before = chunk.get(..local)?;
    let line = before.rsplit('\n').next()?;
    let open = line.rfind('{')?;
    let inside = line.get(open.saturating_add(1)..)?;
    if inside.contains('}') || line.get(..open)?.ends_with('{') {
        return None;
    }
    let (path, _) = inside.rsplit_once('.')?;
    let segments: Vec<String> = path.split('.').map(str::to_string).collect();
    segments
        .iter()
        .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(segments)
}

/// The action types of the rule's `on` clause.
fn on_types(tokens: &[(usize, usize, Token)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = tokens.iter().skip(1).peekable();
    while let Some(t) = iter.next() {
        if word(Some(t)) != Some("on") {
            continue;
        }
        while let Some(name) = word(iter.peek().copied()) {
            out.push(name.to_string());
            iter.next();
            if punct(iter.peek().copied()) != Some(',') {
                break;
            }
            iter.next();
        }
    }
    out
}

/// The type a path leads to: the action types for `action`, `rm`, an action type itself
/// (`sum(T.`), then the record each field names.
fn path_types(set: &Set<'_>, path: &[String], on: &[String]) -> Vec<String> {
    let Some((first, rest)) = path.split_first() else { return Vec::new() };
    let mut types = match first.as_str() {
        "action" => on.to_vec(),
        "rm" => vec!["rm".to_string()],
        other if set.declares(DeclarationKind::Action, other) => vec![other.to_string()],
        other if set.declares(DeclarationKind::Record, other) => vec![other.to_string()],
        _ => Vec::new(),
    };
    for segment in rest {
        types = types.iter().filter_map(|t| set.field_type(t, segment)).take(1).collect();
    }
    types
}

fn fields_after(set: &Set<'_>, path: &[String], on: &[String]) -> Vec<CompletionItem> {
    let mut out: Vec<CompletionItem> = Vec::new();
    for t in path_types(set, path, on) {
        for f in set.fields_of(&t) {
            if !out.iter().any(|i| i.label == f.name) {
                out.push(CompletionItem {
                    label: f.name.clone(),
                    kind: Some(CompletionItemKind::FIELD),
                    detail: Some(f.detail.clone()),
                    ..CompletionItem::default()
                });
            }
        }
        if set.declares(DeclarationKind::Action, &t) {
            for (name, ty) in BUILT_IN_FIELDS {
                if !out.iter().any(|i| i.label == name) {
                    out.push(CompletionItem {
                        label: name.to_string(),
                        kind: Some(CompletionItemKind::FIELD),
                        detail: Some(ty.to_string()),
                        ..CompletionItem::default()
                    });
                }
            }
        }
    }
    out
}

/// The enum members of the field a path names, quoted unless the quote is typed already.
fn members_of(set: &Set<'_>, path: &[String], on: &[String], in_text: bool) -> Vec<CompletionItem> {
    let Some((last, parent_path)) = path.split_last() else { return Vec::new() };
    let mut parents = path_types(set, parent_path, on);
    if parent_path.is_empty() {
        // A bare name inside an aggregate's `where`: a field of some action type.
        parents = set.names(DeclarationKind::Action).into_iter().map(str::to_string).collect();
    }
    let Some(field) = parents.iter().find_map(|p| set.field(p, last)) else { return Vec::new() };
    field
        .members
        .iter()
        .map(|m| CompletionItem {
            label: m.clone(),
            kind: Some(CompletionItemKind::ENUM_MEMBER),
            insert_text: (!in_text).then(|| format!("\"{m}\"")),
            detail: Some(field.detail.clone()),
            ..CompletionItem::default()
        })
        .collect()
}
