//! The canonical layout of policy text (`probity fmt`).
//!
//! The text is parsed, printed again from the syntax tree, and the comments (which the grammar
//! skips) are put back by position: a comment on a line of its own goes before the
//! declaration, field or clause that follows it, one at the end of a line stays at the end of
//! the line of the construct it follows.

use std::ops::Range;
use std::sync::Arc;

use unicode_width::UnicodeWidthStr;

use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile};
use crate::parse::ast::*;
use crate::parse::{lexemes, parse_file, Lexeme};

/// Lines longer than this are broken (expressions before `and` / `or`, aggregates before
/// `where` / `within`).
const WIDTH: usize = 100;
/// The indentation of a clause, a field or a header line.
const INDENT: usize = 2;
/// The extra indentation of a continued expression.
const HANG: usize = 2;

/// Formats one policy file in the canonical layout, keeping its comments.
///
/// Fails with the syntax errors when the text does not parse.
pub fn format_source(name: &str, text: &str) -> Result<String, Diagnostics> {
    // The canonical text has no byte order mark.
    let text = text.strip_prefix(crate::diagnostics::BOM).unwrap_or(text);
    let source = Arc::new(SourceFile::new(name, text));
    let file = parse(&source)?;
    Ok(Printer { text }.file(&file))
}

/// The syntax tree of a policy text with every span and every pair of parentheses removed,
/// rendered as text: two texts with the same fingerprint mean the same policy.
#[doc(hidden)]
pub fn syntax_fingerprint(name: &str, text: &str) -> Result<String, Diagnostics> {
    let source = Arc::new(SourceFile::new(name, text));
    let mut file = parse(&source)?;
    strip::file(&mut file);
    Ok(format!("{file:#?}"))
}

fn parse(source: &Arc<SourceFile>) -> Result<PolicyFile, Diagnostics> {
    let (file, errors) = parse_file(source);
    match file {
        Some(file) if errors.is_empty() => Ok(file),
        _ if !errors.is_empty() => Err(Diagnostics::new(errors)),
        _ => Err(Diagnostics::new(vec![Diagnostic::error("P0000", "the policy text did not parse")
            .at(source, 0..0)
            .with_help("check the file with `probity check`")])),
    }
}

// ---------------------------------------------------------------- comments

/// A comment as written: `#` to the end of its line.
struct Comment {
    start: usize,
    /// The comment, from `#`, without trailing white space.
    text: String,
    /// Nothing but white space before it on its line.
    own_line: bool,
    /// An own-line comment right after a blank line.
    blank_before: bool,
}

/// Every comment of the text: a `#` outside a text literal, to the end of its line.
fn scan_comments(text: &str) -> Vec<Comment> {
    let mut comments = Vec::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                let mut end = text.len();
                for (j, c) in chars.by_ref() {
                    if c == '\n' {
                        end = j;
                        break;
                    }
                }
                let body = text.get(i..end).unwrap_or("").trim_end();
                let line_start = line_start(text, i);
                let own_line = text.get(line_start..i).is_some_and(|before| before.trim().is_empty());
                comments.push(Comment {
                    start: i,
                    text: body.to_string(),
                    own_line,
                    blank_before: own_line && line_before_is_blank(text, i),
                });
            }
            '"' => {
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    if c == '\n' || (c == '"' && !escaped) {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
            }
            _ => {}
        }
    }
    comments
}

/// The offset where the line holding `pos` begins.
fn line_start(text: &str, pos: usize) -> usize {
    text.get(..pos).and_then(|before| before.rfind('\n')).map_or(0, |n| n.saturating_add(1))
}

/// Whether the line before the one holding `pos` exists and is blank.
fn line_before_is_blank(text: &str, pos: usize) -> bool {
    let start = line_start(text, pos);
    if start == 0 {
        return false;
    }
    let previous_end = start.saturating_sub(1);
    let previous_start = line_start(text, previous_end);
    text.get(previous_start..previous_end).is_some_and(|line| line.trim().is_empty())
}

// ---------------------------------------------------------------- anchors

/// One printed construct that comments attach to: a header line, a declaration's first line,
/// a field, a closing brace, a clause, a ladder line, or the end of the file.
struct Anchor {
    /// Where the construct was written (several places for a ladder's `points`).
    pieces: Vec<Range<usize>>,
    /// A declaration (or the policy header): a blank line goes before it.
    top: bool,
    /// The first line inside a declaration: no blank line before its comments.
    first_inner: bool,
    /// The indentation of comments printed before it.
    indent: usize,
    lines: Vec<String>,
    /// The closing brace of an empty block: joins the line before when nothing is between.
    joins_previous: bool,
    /// The end of the file (collects the comments after the last construct).
    end: bool,
    leading: Vec<usize>,
    trailing: Vec<usize>,
}

impl Anchor {
    fn new(piece: Range<usize>, indent: usize, lines: Vec<String>) -> Anchor {
        Anchor {
            pieces: vec![piece],
            top: false,
            first_inner: false,
            indent,
            lines,
            joins_previous: false,
            end: false,
            leading: Vec::new(),
            trailing: Vec::new(),
        }
    }

    fn top(piece: Range<usize>, line: String) -> Anchor {
        let mut a = Anchor::new(piece, 0, vec![line]);
        a.top = true;
        a
    }

    fn start(&self) -> usize {
        self.pieces.iter().map(|p| p.start).min().unwrap_or(0)
    }
}

/// The end of the last token in `span`: a syntax node's span may run on over the white space
/// and comments after it (pest skips them before a repetition that then matches nothing).
fn content_end(text: &str, span: &Range<usize>) -> usize {
    let Some(inside) = text.get(span.clone()) else { return span.end };
    let mut end = span.start;
    for lexeme in lexemes(inside) {
        match lexeme {
            Lexeme::Text(string) => end = span.start.saturating_add(string.end),
            Lexeme::Char(_, c) if c.is_whitespace() => {}
            Lexeme::Char(i, c) => end = span.start.saturating_add(i).saturating_add(c.len_utf8()),
        }
    }
    end
}

/// Attaches every comment to an anchor.
fn attach(text: &str, anchors: &mut [Anchor], comments: &[Comment]) {
    let mut pieces: Vec<(Range<usize>, usize)> = Vec::new();
    for (index, anchor) in anchors.iter_mut().enumerate() {
        for piece in &mut anchor.pieces {
            piece.end = content_end(text, piece);
            pieces.push((piece.clone(), index));
        }
    }
    // The pieces do not overlap: sorted by start, the one before a position is the only one
    // that can hold it.
    pieces.sort_by_key(|(s, _)| s.start);
    let end = anchors.len().saturating_sub(1);
    for (ci, c) in comments.iter().enumerate() {
        let p = c.start;
        let after = pieces.partition_point(|(s, _)| s.start < p);
        let before = after.checked_sub(1).and_then(|i| pieces.get(i));
        let next = pieces.get(after).map_or(end, |&(_, a)| a);
        let (index, trailing) = match before {
            Some((s, a)) if p < s.end => (*a, !c.own_line),
            Some((_, a)) if !c.own_line => (*a, true),
            _ => (next, false),
        };
        if let Some(anchor) = anchors.get_mut(index) {
            if trailing {
                anchor.trailing.push(ci);
            } else {
                anchor.leading.push(ci);
            }
        }
    }
    // Several end-of-line comments on one construct: all go before it, in order.
    for anchor in anchors.iter_mut() {
        if anchor.trailing.len() > 1 {
            anchor.leading.append(&mut anchor.trailing);
            anchor.leading.sort_unstable();
        }
    }
}

/// One output line: code and an optional end-of-line comment (aligned later).
struct OutLine {
    code: String,
    comment: Option<String>,
}

struct Output {
    lines: Vec<OutLine>,
}

impl Output {
    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| !l.code.is_empty() || l.comment.is_some()) {
            self.lines.push(OutLine { code: String::new(), comment: None });
        }
    }

    fn code(&mut self, code: String) {
        self.lines.push(OutLine { code: code.trim_end().to_string(), comment: None });
    }

    /// The text: runs of consecutive lines with end-of-line comments align their comments.
    fn finish(mut self) -> String {
        let mut i = 0usize;
        while i < self.lines.len() {
            let run_end = (i..self.lines.len())
                .find(|&j| self.lines.get(j).is_none_or(|l| l.comment.is_none()))
                .unwrap_or(self.lines.len());
            if run_end > i {
                let run = self.lines.get_mut(i..run_end).unwrap_or_default();
                let column = run.iter().map(|l| l.code.width()).max().unwrap_or(0).saturating_add(2);
                for line in run {
                    if let Some(comment) = line.comment.take() {
                        let pad = column.saturating_sub(line.code.width());
                        line.code.push_str(&" ".repeat(pad));
                        line.code.push_str(&comment);
                    }
                }
                i = run_end;
            } else {
                i = i.saturating_add(1);
            }
        }
        while self.lines.last().is_some_and(|l| l.code.is_empty()) {
            self.lines.pop();
        }
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.code);
            text.push('\n');
        }
        text
    }
}

fn emit(text: &str, anchors: &[Anchor], comments: &[Comment]) -> String {
    let mut out = Output { lines: Vec::new() };
    let mut previous: Option<&Anchor> = None;
    for (index, anchor) in anchors.iter().enumerate() {
        if anchor.top && index > 0 && !anchor.end {
            out.blank();
        }
        let mut last_comment = None;
        for (k, &ci) in anchor.leading.iter().enumerate() {
            let Some(c) = comments.get(ci) else { continue };
            let first_of_block = k == 0 && !anchor.end && (anchor.top || anchor.first_inner);
            if c.blank_before && !first_of_block {
                out.blank();
            }
            out.code(format!("{}{}", " ".repeat(anchor.indent), c.text));
            last_comment = Some(c);
        }
        let start = anchor.start();
        if last_comment.is_some_and(|c| c.start < start) && line_before_is_blank(text, start) {
            out.blank();
        }
        let join = anchor.joins_previous
            && anchor.leading.is_empty()
            && previous.is_some_and(|p| p.trailing.is_empty())
            && out.lines.last().is_some_and(|l| !l.code.is_empty());
        let mut lines = anchor.lines.iter();
        if join {
            if let (Some(last), Some(first)) = (out.lines.last_mut(), lines.next()) {
                last.code.push_str(first.trim_start());
            }
        }
        for line in lines {
            out.code(line.clone());
        }
        if let [ci] = anchor.trailing.as_slice() {
            if let (Some(c), Some(last)) = (comments.get(*ci), out.lines.last_mut()) {
                last.comment = Some(c.text.clone());
            }
        }
        previous = Some(anchor);
    }
    out.finish()
}

// ---------------------------------------------------------------- documents

/// A layout document: text, line breaks that become spaces when their group fits on the line,
/// indentation and groups.
enum Doc {
    Text(String),
    Line,
    Nest(usize, Box<Doc>),
    Group(Box<Doc>),
    Cat(Vec<Doc>),
}

fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

fn group_nest(parts: Vec<Doc>) -> Doc {
    Doc::Group(Box::new(Doc::Nest(HANG, Box::new(Doc::Cat(parts)))))
}

/// Lays a document out in lines: a group whose content fits in the rest of the line stays on
/// it, otherwise its line breaks become new lines.
fn render(doc: &Doc, indent: usize) -> Vec<String> {
    let mut lines = vec![" ".repeat(indent)];
    let mut column = indent;
    let mut stack: Vec<(usize, bool, &Doc)> = vec![(indent, false, doc)];
    while let Some((ind, flat, d)) = stack.pop() {
        match d {
            Doc::Text(s) => {
                if let Some(line) = lines.last_mut() {
                    line.push_str(s);
                }
                column = column.saturating_add(s.width());
            }
            Doc::Line if flat => {
                if let Some(line) = lines.last_mut() {
                    line.push(' ');
                }
                column = column.saturating_add(1);
            }
            Doc::Line => {
                lines.push(" ".repeat(ind));
                column = ind;
            }
            Doc::Nest(n, inner) => stack.push((ind.saturating_add(*n), flat, inner)),
            Doc::Group(inner) => {
                let flat = flat || fits(WIDTH.saturating_sub(column), (ind, true, inner), &stack);
                stack.push((ind, flat, inner));
            }
            Doc::Cat(parts) => stack.extend(parts.iter().rev().map(|p| (ind, flat, p))),
        }
    }
    lines
}

/// Whether `first`, then what follows it up to the next line break, fits in `room` columns.
fn fits(mut room: usize, first: (usize, bool, &Doc), rest: &[(usize, bool, &Doc)]) -> bool {
    let mut work = vec![first];
    let mut rest = rest.iter().rev();
    loop {
        let Some((ind, flat, d)) = work.pop().or_else(|| rest.next().copied()) else { return true };
        match d {
            Doc::Text(s) => match room.checked_sub(s.width()) {
                Some(r) => room = r,
                None => return false,
            },
            Doc::Line if flat => match room.checked_sub(1) {
                Some(r) => room = r,
                None => return false,
            },
            Doc::Line => return true,
            Doc::Nest(n, inner) => work.push((ind.saturating_add(*n), flat, inner)),
            Doc::Group(inner) => work.push((ind, flat, inner)),
            Doc::Cat(parts) => work.extend(parts.iter().rev().map(|p| (ind, flat, p))),
        }
    }
}

// ---------------------------------------------------------------- literals

/// A text literal: quoted, with `"`, `\` and line breaks escaped.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len().saturating_add(2));
    out.push('"');
    for c in value.chars() {
        push_escaped(&mut out, c);
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        c => out.push(c),
    }
}

/// A message: literal braces doubled, placeholders as `{path}`.
fn quote_message(message: &MessageText) -> String {
    let mut out = String::from("\"");
    for part in &message.parts {
        match part {
            MessagePart::Literal(s) => {
                for c in s.chars() {
                    match c {
                        '{' => out.push_str("{{"),
                        '}' => out.push_str("}}"),
                        c => push_escaped(&mut out, c),
                    }
                }
            }
            MessagePart::Placeholder(path, _) => {
                out.push('{');
                out.push_str(&join_path(path));
                out.push('}');
            }
        }
    }
    out.push('"');
    out
}

fn join_path(path: &[Ident]) -> String {
    path.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(".")
}

fn duration(d: &DurationLit) -> String {
    if let Some(name) = &d.name {
        return name.clone();
    }
    let unit = match d.unit {
        DurationUnit::Minute => "minute",
        DurationUnit::Hour => "hour",
        DurationUnit::Day => "day",
        DurationUnit::Week => "week",
        DurationUnit::Month => "month",
        DurationUnit::Year => "year",
        DurationUnit::BusinessDay => "business day",
    };
    let plural = if d.amount == 1 { "" } else { "s" };
    format!("{} {unit}{plural}", d.amount)
}

fn type_text(t: &TypeExpr) -> String {
    let mut out = match &t.kind {
        TypeKind::Named(name) => name.name.clone(),
        TypeKind::Signed(name) => format!("signed {}", name.name),
        TypeKind::Set(element) => format!("set of {}", type_text(element)),
        TypeKind::List(element) => format!("list of {}", type_text(element)),
        TypeKind::Enum(members) => {
            format!("one of {}", members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "))
        }
    };
    if t.optional {
        out.push('?');
    }
    out
}

fn outcomes(list: &[Outcome]) -> String {
    let texts: Vec<String> = list
        .iter()
        .map(|o| match &o.kind {
            OutcomeKind::Deny => "deny".to_string(),
            OutcomeKind::Review => "review".to_string(),
            OutcomeKind::Warn => "warn".to_string(),
            OutcomeKind::Breach { severity, ladder: Some(ladder) } => {
                format!("breach {} in {}", severity.name, ladder.name)
            }
            OutcomeKind::Breach { severity, ladder: None } => format!("breach {}", severity.name),
            OutcomeKind::Escalate(team) => format!("escalate {}", quote(&team.value)),
        })
        .collect();
    texts.join(", ")
}

// ---------------------------------------------------------------- expressions

/// Binding strength, loosest first (docs/language.md#operators-and-precedence); atoms bind
/// tightest.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const COMPARE: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const NEG: u8 = 7;
const ATOM: u8 = 8;

/// The expression inside any parentheses the author wrote.
fn bare(mut e: &Expr) -> &Expr {
    while let ExprKind::Paren(inner) = &e.kind {
        e = inner;
    }
    e
}

fn precedence(e: &Expr) -> u8 {
    match &bare(e).kind {
        ExprKind::Binary(op, ..) => binary_precedence(*op),
        ExprKind::Unary(UnaryOp::Not, _) => NOT,
        ExprKind::Unary(UnaryOp::Neg, _) => NEG,
        ExprKind::Presence(..) => COMPARE,
        _ => ATOM,
    }
}

fn binary_precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => OR,
        BinaryOp::And => AND,
        BinaryOp::Add | BinaryOp::Sub => ADD,
        BinaryOp::Mul | BinaryOp::Div => MUL,
        _ => COMPARE,
    }
}

/// A literal, a path, `now` or `today`.
fn is_atom(e: &Expr) -> bool {
    !matches!(
        &bare(e).kind,
        ExprKind::Binary(..)
            | ExprKind::Unary(..)
            | ExprKind::Presence(..)
            | ExprKind::Call(..)
            | ExprKind::Aggregate(..)
            | ExprKind::Set(_)
    )
}

fn is_comparison(e: &Expr) -> bool {
    matches!(&bare(e).kind, ExprKind::Binary(op, ..) if op.is_comparison())
}

struct Printer<'a> {
    text: &'a str,
}

impl Printer<'_> {
    fn source(&self, span: &Span) -> Option<&str> {
        self.text.get(span.clone()).map(str::trim)
    }

    /// An operand: in parentheses when the tree needs them (it binds looser than `min`, or it
    /// is a comparison directly under a comparison, which does not chain).
    fn operand(&self, e: &Expr, min: u8, under_comparison: bool) -> Doc {
        let doc = self.expr(e);
        if precedence(e) < min || (under_comparison && is_comparison(e)) {
            Doc::Cat(vec![text("("), doc, text(")")])
        } else {
            doc
        }
    }

    fn expr(&self, e: &Expr) -> Doc {
        let e = bare(e);
        match &e.kind {
            ExprKind::Binary(op @ (BinaryOp::And | BinaryOp::Or), ..) => self.chain(e, *op),
            ExprKind::Binary(op, lhs, rhs) => {
                let p = binary_precedence(*op);
                let compare = op.is_comparison();
                let lhs = self.operand(lhs, p, compare);
                let right = self.operand(rhs, p.saturating_add(1), compare);
                // Two large operands may go on two lines, the second starting with the operator.
                if is_atom(rhs) {
                    Doc::Cat(vec![lhs, text(format!(" {} ", op.symbol())), right])
                } else {
                    group_nest(vec![lhs, Doc::Line, text(format!("{} ", op.symbol())), right])
                }
            }
            ExprKind::Unary(UnaryOp::Not, x) => Doc::Cat(vec![text("not "), self.operand(x, NOT, false)]),
            ExprKind::Unary(UnaryOp::Neg, x) => Doc::Cat(vec![text("-"), self.operand(x, NEG, false)]),
            ExprKind::Presence(x, present) => Doc::Cat(vec![
                self.operand(x, COMPARE, false),
                text(if *present { " is present" } else { " is missing" }),
            ]),
            ExprKind::Paren(x) => self.expr(x),
            ExprKind::Set(items) => {
                let mut parts = vec![text("[")];
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        parts.push(text(", "));
                    }
                    parts.push(self.operand(item, 0, false));
                }
                parts.push(text("]"));
                Doc::Cat(parts)
            }
            ExprKind::Call(name, args) => {
                // `min((a.b))` must keep its parentheses, or it would read as an aggregate.
                let looks_aggregate = matches!(name.name.as_str(), "count" | "exists" | "sum" | "min" | "max")
                    && matches!(args.as_slice(), [arg] if matches!(&bare(arg).kind, ExprKind::Path(p) if p.len() <= 2));
                let mut parts = vec![text(format!("{}(", name.name))];
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        parts.push(text(", "));
                    }
                    let doc = self.operand(arg, 0, false);
                    parts.push(if looks_aggregate { Doc::Cat(vec![text("("), doc, text(")")]) } else { doc });
                }
                parts.push(text(")"));
                Doc::Cat(parts)
            }
            ExprKind::Aggregate(a) => {
                let mut head = format!("{}({}", a.function.name(), a.source.name);
                if let Some(field) = &a.field {
                    head.push('.');
                    head.push_str(&field.name);
                }
                let mut parts = vec![text(head)];
                if let Some(filter) = &a.filter {
                    parts.push(Doc::Line);
                    parts.push(text("where "));
                    parts.push(self.operand(filter, 0, false));
                }
                if let Some(window) = &a.window {
                    parts.push(Doc::Line);
                    parts.push(text(format!("within {}", duration(window))));
                }
                if a.period.is_some() {
                    parts.push(Doc::Line);
                    parts.push(text("within period"));
                }
                parts.push(text(")"));
                group_nest(parts)
            }
            _ => text(self.atom(e)),
        }
    }

    /// `a and b and c` (or `or`): broken before each operator, with a hanging indent, when the
    /// chain does not fit on the line.
    fn chain(&self, e: &Expr, op: BinaryOp) -> Doc {
        let mut rights = Vec::new();
        let mut left = e;
        while let ExprKind::Binary(o, lhs, rhs) = &bare(left).kind {
            if *o != op {
                break;
            }
            rights.push(rhs.as_ref());
            left = lhs;
        }
        let p = binary_precedence(op);
        let mut parts = vec![self.operand(left, p, false)];
        for rhs in rights.into_iter().rev() {
            parts.push(Doc::Line);
            parts.push(text(format!("{} ", op.symbol())));
            parts.push(self.operand(rhs, p.saturating_add(1), false));
        }
        group_nest(parts)
    }

    fn atom(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(n) => n.to_string(),
            // The tree keeps `30%` as 0.30: the literal is printed as written.
            ExprKind::Decimal(d) => self.source(&e.span).map_or_else(|| d.to_string(), str::to_string),
            ExprKind::Money(amount, currency) => {
                let written = self.source(&e.span).and_then(|s| s.split_whitespace().next());
                let amount = written.map_or_else(|| amount.to_string(), str::to_string);
                format!("{amount} {}", currency.name)
            }
            ExprKind::Duration(d) => duration(d),
            ExprKind::Text(s) => quote(s),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Date(d) => d.format("%Y-%m-%d").to_string(),
            ExprKind::DateTime(t) => self.source(&e.span).map_or_else(|| t.to_rfc3339(), str::to_string),
            ExprKind::Now => "now".to_string(),
            ExprKind::Today => "today".to_string(),
            ExprKind::Path(path) => join_path(path),
            // Composite kinds are handled by `expr`.
            _ => String::new(),
        }
    }

    // ------------------------------------------------------------ declarations

    fn file(&self, file: &PolicyFile) -> String {
        let mut anchors = Vec::new();
        let h = &file.header;
        let head_end = h.title.as_ref().map_or(h.id.span.end, |t| t.span.end);
        let mut line = format!("policy {}", h.id.name);
        if let Some(title) = &h.title {
            line.push(' ');
            line.push_str(&quote(&title.value));
        }
        anchors.push(Anchor::top(h.span.start..head_end, line));
        let mut inner = Vec::new();
        let pad = " ".repeat(INDENT);
        for v in &h.versions {
            inner.push(Anchor::new(v.span.clone(), INDENT, vec![format!("{pad}version {}", quote(&v.value))]));
        }
        for (d, span) in &h.effective {
            inner.push(Anchor::new(span.clone(), INDENT, vec![format!("{pad}effective {}", d.format("%Y-%m-%d"))]));
        }
        for (d, span) in &h.until {
            inner.push(Anchor::new(span.clone(), INDENT, vec![format!("{pad}until {}", d.format("%Y-%m-%d"))]));
        }
        for t in &h.timezones {
            inner.push(Anchor::new(t.span.clone(), INDENT, vec![format!("{pad}timezone {}", quote(&t.value))]));
        }
        for (level, span) in &h.on_error {
            let level = match level {
                OnError::Review => "review",
                OnError::Deny => "deny",
            };
            inner.push(Anchor::new(span.clone(), INDENT, vec![format!("{pad}on error {level}")]));
        }
        for t in &h.calendars {
            inner.push(Anchor::new(t.span.clone(), INDENT, vec![format!("{pad}calendar {}", quote(&t.value))]));
        }
        push_inner(&mut anchors, inner);
        let mut follows_named = false;
        for item in &file.items {
            let named = matches!(item, Item::Const(_) | Item::List(_));
            let follows = std::mem::replace(&mut follows_named, named);
            let follows_named = follows && named;
            match item {
                Item::Record(decl) => self.fields_decl(&mut anchors, "record", decl),
                Item::Action(decl) => self.fields_decl(&mut anchors, "action", decl),
                Item::Rule(rule) => self.rule_decl(&mut anchors, rule),
                Item::Ladder(ladder) => self.ladder_decl(&mut anchors, ladder),
                Item::Const(c) => {
                    let line =
                        render(&Doc::Cat(vec![text(format!("const {} = ", c.name.name)), self.expr(&c.value)]), 0);
                    anchors.push(named_line(c.span.clone(), line.concat(), follows_named));
                }
                Item::List(l) => {
                    let line = format!("list {} from {}", l.name.name, quote(&l.path.value));
                    anchors.push(named_line(l.span.clone(), line, follows_named));
                }
            }
        }
        let mut end = Anchor::new(0..0, 0, Vec::new());
        end.pieces.clear();
        end.top = true;
        end.end = true;
        anchors.push(end);
        let comments = scan_comments(self.text);
        attach(self.text, &mut anchors, &comments);
        emit(self.text, &anchors, &comments)
    }

    fn fields_decl(&self, anchors: &mut Vec<Anchor>, keyword: &str, decl: &FieldsDecl) {
        let brace = self.open_brace(decl.name.span.end).map_or(decl.name.span.end, |b| b.saturating_add(1));
        anchors.push(Anchor::top(decl.span.start..brace, format!("{keyword} {} {{", decl.name.name)));
        let pad = " ".repeat(INDENT);
        let mut inner: Vec<Anchor> = decl
            .fields
            .iter()
            .map(|f| {
                let line = format!("{pad}{}: {}", f.name.name, type_text(&f.ty));
                Anchor::new(f.name.span.start..f.ty.span.end, INDENT, vec![line])
            })
            .collect();
        let close_at = decl.span.end.saturating_sub(1);
        let mut close = Anchor::new(close_at..decl.span.end, INDENT, vec!["}".to_string()]);
        close.joins_previous = decl.fields.is_empty();
        inner.push(close);
        push_inner(anchors, inner);
    }

    /// The offset of a block's `{`: the first character after `from` that is neither white
    /// space nor in a comment.
    fn open_brace(&self, from: usize) -> Option<usize> {
        let rest = self.text.get(from..)?;
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' => return Some(from.saturating_add(i)),
                '#' => {
                    for (_, c) in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                c if c.is_whitespace() => {}
                _ => return None,
            }
        }
        None
    }

    fn rule_decl(&self, anchors: &mut Vec<Anchor>, rule: &RuleDecl) {
        let head_end = rule.title.as_ref().map_or(rule.id.span.end, |t| t.span.end);
        let mut line = format!("{} {}", rule.kind.keyword(), rule.id.name);
        if let Some(title) = &rule.title {
            line.push(' ');
            line.push_str(&quote(&title.value));
        }
        anchors.push(Anchor::top(rule.span.start..head_end, line));
        let inner = rule.clauses.iter().map(|c| Anchor::new(c.span.clone(), INDENT, self.clause(c))).collect();
        push_inner(anchors, inner);
    }

    fn clause(&self, clause: &Clause) -> Vec<String> {
        let simple = |s: String| vec![format!("{}{s}", " ".repeat(INDENT))];
        let with_expr = |head: String, e: &Expr| render(&Doc::Cat(vec![text(head), self.operand(e, 0, false)]), INDENT);
        match &clause.kind {
            ClauseKind::Cite(t) => simple(format!("cite {}", quote(&t.value))),
            ClauseKind::On(types) => {
                simple(format!("on {}", types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")))
            }
            ClauseKind::Let(name, e) => with_expr(format!("let {} = ", name.name), e),
            ClauseKind::When(e) => with_expr("when ".to_string(), e),
            ClauseKind::Unless(e) => with_expr("unless ".to_string(), e),
            ClauseKind::Require(e) => with_expr("require ".to_string(), e),
            ClauseKind::Then(list) => simple(format!("then {}", outcomes(list))),
            ClauseKind::Otherwise(list) => simple(format!("otherwise {}", outcomes(list))),
            ClauseKind::Due(d) => simple(format!("due within {}", duration(d))),
            ClauseKind::FulfilledBy(ty, Some(e)) => with_expr(format!("fulfilled by {} where ", ty.name), e),
            ClauseKind::FulfilledBy(ty, None) => simple(format!("fulfilled by {}", ty.name)),
            ClauseKind::Message(Some(lang), m) => simple(format!("message {} {}", lang.name, quote_message(m))),
            ClauseKind::Message(None, m) => simple(format!("message {}", quote_message(m))),
            ClauseKind::Every(period) => simple(format!("every {}", period.name)),
        }
    }

    fn ladder_decl(&self, anchors: &mut Vec<Anchor>, ladder: &LadderDecl) {
        let head_end = ladder.title.as_ref().map_or(ladder.id.span.end, |t| t.span.end);
        let mut line = format!("ladder {}", ladder.id.name);
        if let Some(title) = &ladder.title {
            line.push(' ');
            line.push_str(&quote(&title.value));
        }
        anchors.push(Anchor::top(ladder.span.start..head_end, line));
        let pad = " ".repeat(INDENT);
        let mut inner = Vec::new();
        for w in &ladder.windows {
            inner.push(Anchor::new(w.span.0..w.span.1, INDENT, vec![format!("{pad}window {}", duration(w))]));
        }
        if !ladder.points.is_empty() {
            let list: Vec<String> = ladder.points.iter().map(|(name, n, _)| format!("{} {n}", name.name)).collect();
            let mut points = Anchor::new(0..0, INDENT, vec![format!("{pad}points {}", list.join(", "))]);
            points.pieces = ladder.points.iter().map(|(_, _, span)| span.clone()).collect();
            inner.push(points);
        }
        for step in &ladder.steps {
            let mut line = format!("{pad}step {} {}", step.threshold, quote(&step.label.value));
            if let Some(r) = &step.restricts {
                let targets: Vec<&str> = r
                    .targets
                    .iter()
                    .map(|t| match t {
                        RestrictTarget::All(_) => "all",
                        RestrictTarget::Type(name) => name.name.as_str(),
                    })
                    .collect();
                line.push_str(" restricts ");
                line.push_str(&targets.join(", "));
                if let Some(d) = &r.length {
                    line.push_str(" for ");
                    line.push_str(&duration(d));
                }
            }
            inner.push(Anchor::new(step.span.clone(), INDENT, vec![line]));
        }
        push_inner(anchors, inner);
    }
}

/// A `const` or `list` line: consecutive ones form one block, without blank lines between.
fn named_line(span: Range<usize>, line: String, follows_named: bool) -> Anchor {
    if follows_named {
        Anchor::new(span, 0, vec![line])
    } else {
        Anchor::top(span, line)
    }
}

fn push_inner(anchors: &mut Vec<Anchor>, mut inner: Vec<Anchor>) {
    if let Some(first) = inner.first_mut() {
        first.first_inner = true;
    }
    anchors.append(&mut inner);
}

// ---------------------------------------------------------------- span-free trees

/// Removes every span and every pair of parentheses from a tree, so that two trees compare
/// equal when they mean the same policy.
mod strip {
    use crate::parse::ast::*;

    fn ident(i: &mut Ident) {
        i.span = 0..0;
    }

    fn text(t: &mut Text) {
        t.span = 0..0;
    }

    pub(super) fn file(f: &mut PolicyFile) {
        let h = &mut f.header;
        h.span = 0..0;
        ident(&mut h.id);
        h.title.iter_mut().for_each(text);
        h.versions.iter_mut().for_each(text);
        h.timezones.iter_mut().for_each(text);
        h.effective.iter_mut().for_each(|(_, s)| *s = 0..0);
        h.until.iter_mut().for_each(|(_, s)| *s = 0..0);
        h.on_error.iter_mut().for_each(|(_, s)| *s = 0..0);
        h.calendars.iter_mut().for_each(text);
        for item in &mut f.items {
            match item {
                Item::Record(d) | Item::Action(d) => {
                    d.span = 0..0;
                    ident(&mut d.name);
                    for field in &mut d.fields {
                        ident(&mut field.name);
                        type_expr(&mut field.ty);
                    }
                }
                Item::Rule(r) => {
                    r.span = 0..0;
                    ident(&mut r.id);
                    r.title.iter_mut().for_each(text);
                    for c in &mut r.clauses {
                        clause(c);
                    }
                }
                Item::Const(c) => {
                    c.span = 0..0;
                    ident(&mut c.name);
                    c.value = expr(std::mem::replace(&mut c.value, Expr::new(ExprKind::Now, 0..0)));
                }
                Item::List(l) => {
                    l.span = 0..0;
                    ident(&mut l.name);
                    text(&mut l.path);
                }
                Item::Ladder(l) => {
                    l.span = 0..0;
                    ident(&mut l.id);
                    l.title.iter_mut().for_each(text);
                    l.windows.iter_mut().for_each(|w| w.span = (0, 0));
                    for (name, _, span) in &mut l.points {
                        ident(name);
                        *span = 0..0;
                    }
                    for step in &mut l.steps {
                        text(&mut step.label);
                        step.span = 0..0;
                        if let Some(r) = &mut step.restricts {
                            r.span = 0..0;
                            r.length.iter_mut().for_each(|d| d.span = (0, 0));
                            for t in &mut r.targets {
                                match t {
                                    RestrictTarget::All(span) => *span = 0..0,
                                    RestrictTarget::Type(name) => ident(name),
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn type_expr(t: &mut TypeExpr) {
        t.span = 0..0;
        match &mut t.kind {
            TypeKind::Named(name) | TypeKind::Signed(name) => ident(name),
            TypeKind::Set(e) | TypeKind::List(e) => type_expr(e),
            TypeKind::Enum(members) => members.iter_mut().for_each(ident),
        }
    }

    fn clause(c: &mut Clause) {
        c.span = 0..0;
        let take = |e: &mut Expr| *e = expr(std::mem::replace(e, Expr::new(ExprKind::Now, 0..0)));
        match &mut c.kind {
            ClauseKind::Cite(t) => text(t),
            ClauseKind::On(types) => types.iter_mut().for_each(ident),
            ClauseKind::Let(name, e) => {
                ident(name);
                take(e);
            }
            ClauseKind::When(e) | ClauseKind::Unless(e) | ClauseKind::Require(e) => take(e),
            ClauseKind::Then(list) | ClauseKind::Otherwise(list) => list.iter_mut().for_each(outcome),
            ClauseKind::Due(d) => d.span = (0, 0),
            ClauseKind::Every(period) => ident(period),
            ClauseKind::FulfilledBy(ty, filter) => {
                ident(ty);
                filter.iter_mut().for_each(take);
            }
            ClauseKind::Message(lang, m) => {
                lang.iter_mut().for_each(ident);
                m.span = 0..0;
                for part in &mut m.parts {
                    if let MessagePart::Placeholder(path, span) = part {
                        path.iter_mut().for_each(ident);
                        *span = 0..0;
                    }
                }
            }
        }
    }

    fn outcome(o: &mut Outcome) {
        o.span = 0..0;
        match &mut o.kind {
            OutcomeKind::Breach { severity, ladder } => {
                ident(severity);
                ladder.iter_mut().for_each(ident);
            }
            OutcomeKind::Escalate(team) => text(team),
            OutcomeKind::Deny | OutcomeKind::Review | OutcomeKind::Warn => {}
        }
    }

    fn expr(e: Expr) -> Expr {
        let kind = match e.kind {
            ExprKind::Paren(inner) => return expr(*inner),
            ExprKind::Money(amount, mut currency) => {
                ident(&mut currency);
                ExprKind::Money(amount, currency)
            }
            ExprKind::Duration(mut d) => {
                d.span = (0, 0);
                ExprKind::Duration(d)
            }
            ExprKind::Set(items) => ExprKind::Set(items.into_iter().map(expr).collect()),
            ExprKind::Path(mut path) => {
                path.iter_mut().for_each(ident);
                ExprKind::Path(path)
            }
            ExprKind::Unary(op, x) => ExprKind::Unary(op, Box::new(expr(*x))),
            ExprKind::Binary(op, a, b) => ExprKind::Binary(op, Box::new(expr(*a)), Box::new(expr(*b))),
            ExprKind::Presence(x, present) => ExprKind::Presence(Box::new(expr(*x)), present),
            ExprKind::Call(mut name, args) => {
                ident(&mut name);
                ExprKind::Call(name, args.into_iter().map(expr).collect())
            }
            ExprKind::Aggregate(mut a) => {
                ident(&mut a.source);
                a.field.iter_mut().for_each(ident);
                a.filter = a.filter.take().map(expr);
                a.window.iter_mut().for_each(|w| w.span = (0, 0));
                a.period.iter_mut().for_each(|p| *p = 0..0);
                ExprKind::Aggregate(a)
            }
            other => other,
        };
        Expr::new(kind, 0..0)
    }
}
