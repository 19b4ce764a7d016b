//! Policy text → syntax tree. pest stays inside this module.

pub(crate) mod ast;
pub(crate) mod format;

use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate};
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use rust_decimal::Decimal;

use crate::diagnostics::{suggestion, Diagnostic, SourceFile, BOM};
use crate::limits;
use crate::parse::ast::*;

#[derive(pest_derive::Parser)]
#[grammar = "parse/grammar.pest"]
struct Grammar;

type Result<T> = std::result::Result<T, Diagnostic>;

/// Parses one file: the tree (when the header parsed) and every syntax error, at most one per
/// declaration.
pub(crate) fn parse_file(source: &Arc<SourceFile>) -> (Option<PolicyFile>, Vec<Diagnostic>) {
    let text = source.text();
    if text.len() > limits::MAX_SOURCE_BYTES {
        let error = Diagnostic::error(
            "P0005",
            format!("policy file is {} bytes, more than the limit of {}", text.len(), limits::MAX_SOURCE_BYTES),
        )
        .at(source, 0..0)
        .with_help("split the policy into several files");
        return (None, vec![error]);
    }
    if let Some(error) = check_nesting(source).or_else(|| check_type_nesting(source)) {
        return (None, vec![error]);
    }
    pest::set_call_limit(NonZeroUsize::new(limits::PARSER_CALL_LIMIT));

    let mut errors = Vec::new();
    let mut header = None;
    let mut items = Vec::new();
    let mut starts = chunk_starts(text);
    // A leading UTF-8 byte order mark (some Windows editors write one) is not policy text.
    if text.starts_with(BOM) {
        if let Some(first) = starts.first_mut() {
            *first = BOM.len_utf8();
        }
    }
    let ends = starts.iter().copied().skip(1).chain([text.len()]);
    for (index, (start, end)) in starts.iter().copied().zip(ends).enumerate() {
        let Some(chunk) = text.get(start..end) else { continue };
        let builder = Builder { source, offset: start };
        let result = if index == 0 {
            builder.header_chunk(chunk).map(|(h, found)| {
                header = Some(h);
                found
            })
        } else {
            builder.items_chunk(chunk)
        };
        match result {
            Ok(mut found) => items.append(&mut found),
            Err(error) => errors.push(error),
        }
    }
    (header.map(|header| PolicyFile { header, items }), errors)
}

/// Byte offsets where chunks begin: 0, then every line that starts in column 1 with a
/// declaration keyword and a name (`rule x`, never `action.`).
fn chunk_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        if offset > 0 && starts_declaration(line) {
            starts.push(offset);
        }
        offset = offset.saturating_add(line.len());
    }
    starts
}

fn starts_declaration(line: &str) -> bool {
    ["rule", "conflict", "duty", "ladder", "record", "action", "const", "list"].iter().any(|kw| {
        line.strip_prefix(kw).is_some_and(|rest| {
            let trimmed = rest.trim_start_matches([' ', '\t']);
            // `list of text` (a field's type) starts no declaration; `list x from` does.
            let type_of = *kw == "list" && trimmed.strip_prefix("of").is_some_and(|r| !r.starts_with(is_ident_char));
            trimmed.len() < rest.len() && trimmed.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') && !type_of
        })
    })
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Rejects a type with more `set of` / `list of` in a row than the limit before pest sees the
/// text, so that neither pest nor any later phase recurses through it.
fn check_type_nesting(source: &Arc<SourceFile>) -> Option<Diagnostic> {
    let text = source.text();
    let mut run = TypeRun::default();
    let mut word: Option<(usize, usize)> = None;
    for lexeme in lexemes(text) {
        if let Lexeme::Char(i, c) = lexeme {
            if c.is_ascii_alphanumeric() || c == '_' {
                let end = i.saturating_add(1);
                word = Some(word.map_or((i, end), |(start, _)| (start, end)));
                continue;
            }
        }
        if let Some((start, end)) = word.take() {
            run.word(text.get(start..end).unwrap_or(""), start);
        }
        if run.levels > limits::MAX_TYPE_NESTING {
            break;
        }
        if !matches!(lexeme, Lexeme::Char(_, c) if c.is_whitespace()) {
            run = TypeRun::default();
        }
    }
    if let Some((start, end)) = word {
        run.word(text.get(start..end).unwrap_or(""), start);
    }
    (run.levels > limits::MAX_TYPE_NESTING).then(|| type_too_deep(source, run.start..run.start.saturating_add(1)))
}

/// Consecutive `set of` / `list of` words, as [`check_type_nesting`] counts them.
#[derive(Default)]
struct TypeRun {
    levels: usize,
    /// Where the run began.
    start: usize,
    /// The offset of a `set` or `list` waiting for its `of`.
    pending: Option<usize>,
}

impl TypeRun {
    fn word(&mut self, word: &str, at: usize) {
        match (word, self.pending) {
            ("set" | "list", None) => self.pending = Some(at),
            ("of", Some(kw)) => {
                if self.levels == 0 {
                    self.start = kw;
                }
                self.levels = self.levels.saturating_add(1);
                self.pending = None;
            }
            _ => *self = TypeRun::default(),
        }
    }
}

/// The error of a type nested deeper than the limit.
pub(crate) fn type_too_deep(source: &Arc<SourceFile>, span: Span) -> Diagnostic {
    Diagnostic::error("P0011", format!("type nests more than {} levels deep", limits::MAX_TYPE_NESTING))
        .at(source, span)
        .with_label("too deep")
        .with_help(format!(
            "each `set of`, `list of` and record inside a record is a level; at most {} are allowed",
            limits::MAX_TYPE_NESTING
        ))
}

/// Rejects bracket nesting deeper than the limit before pest sees the text.
fn check_nesting(source: &Arc<SourceFile>) -> Option<Diagnostic> {
    let mut depth = 0usize;
    for lexeme in lexemes(source.text()) {
        match lexeme {
            Lexeme::Char(i, '(' | '[' | '{') => {
                depth = depth.saturating_add(1);
                if depth > limits::MAX_NESTING {
                    return Some(
                        Diagnostic::error("P0004", format!("brackets nest more than {} deep", limits::MAX_NESTING))
                            .at(source, i..i.saturating_add(1))
                            .with_label("too deep")
                            .with_help("name part of the expression with `let`"),
                    );
                }
            }
            Lexeme::Char(_, ')' | ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A piece of policy text as the grammar reads it, comments left out.
pub(crate) enum Lexeme {
    /// A character outside strings and comments, and its byte offset.
    Char(usize, char),
    /// A string literal with its quotes; one left open ends with its line (newline included).
    Text(Range<usize>),
}

/// The lexemes of `text`: enough of the grammar's view to count brackets or find where code
/// ends before the parser has run.
pub(crate) fn lexemes(text: &str) -> impl Iterator<Item = Lexeme> + '_ {
    let mut chars = text.char_indices();
    std::iter::from_fn(move || loop {
        let (i, c) = chars.next()?;
        match c {
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                let mut end = text.len();
                let mut escaped = false;
                for (j, c) in chars.by_ref() {
                    if c == '\n' || (c == '"' && !escaped) {
                        end = j.saturating_add(c.len_utf8());
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                return Some(Lexeme::Text(i..end));
            }
            c => return Some(Lexeme::Char(i, c)),
        }
    })
}

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_in, Assoc::Left)
            | Op::infix(Rule::op_not_in, Assoc::Left)
            | Op::infix(Rule::op_contains, Assoc::Left)
            | Op::postfix(Rule::op_is_present)
            | Op::postfix(Rule::op_is_missing))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
        .op(Op::prefix(Rule::op_neg))
});

#[derive(Clone, Copy)]
struct Builder<'a> {
    source: &'a Arc<SourceFile>,
    offset: usize,
}

impl Builder<'_> {
    fn header_chunk(self, chunk: &str) -> Result<(Header, Vec<Item>)> {
        let pairs = self.run(Rule::header_file, chunk)?;
        let mut header = None;
        let mut items = Vec::new();
        for pair in pairs.flat_map(Pair::into_inner) {
            match pair.as_rule() {
                Rule::header => header = Some(self.header(pair)?),
                Rule::EOI => {}
                _ => items.push(self.item(pair)?),
            }
        }
        let header = header.ok_or_else(|| self.internal(0..0))?;
        Ok((header, items))
    }

    fn items_chunk(self, chunk: &str) -> Result<Vec<Item>> {
        self.run(Rule::items_file, chunk)?
            .flat_map(Pair::into_inner)
            .filter(|p| p.as_rule() != Rule::EOI)
            .map(|p| self.item(p))
            .collect()
    }

    fn run<'i>(self, rule: Rule, chunk: &'i str) -> Result<Pairs<'i, Rule>> {
        Grammar::parse(rule, chunk).map_err(|error| self.syntax_error(chunk, &error))
    }

    fn span(self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        self.offset.saturating_add(s.start())..self.offset.saturating_add(s.end())
    }

    fn internal(self, span: Span) -> Diagnostic {
        Diagnostic::error("P0000", "internal parser error: unexpected syntax tree")
            .at(self.source, span)
            .with_help("please report this policy text to the Probity maintainers")
    }

    fn syntax_error(self, chunk: &str, error: &pest::error::Error<Rule>) -> Diagnostic {
        let pos = match error.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        // A text left open makes the parser fail later (often on the next line, where the text
        // was meant to go on): the open quote is the error to report.
        if let Some(quote) = first_open_text(chunk, pos) {
            return unterminated(self.source, self.offset.saturating_add(quote));
        }
        let found = found_token(chunk.get(pos..).unwrap_or(""));
        let start = self.offset.saturating_add(pos);
        let end = start.saturating_add(found.len().max(1));
        let (message, help) = match &error.variant {
            ErrorVariant::ParsingError { positives, .. } => {
                let expected = describe_expected(positives);
                let found_text =
                    if found.is_empty() { "the end of the file".to_string() } else { format!("`{found}`") };
                let keywords = positives.iter().filter_map(|r| keyword_of(*r));
                let reserved = positives.contains(&Rule::ident) && Grammar::parse(Rule::reserved, found).is_ok();
                let help = if reserved {
                    Some(format!("`{found}` is a reserved word; choose another name"))
                } else {
                    suggestion(found, keywords).or_else(|| hint_for(positives))
                };
                (format!("expected {expected}, found {found_text}"), help)
            }
            ErrorVariant::CustomError { message } => (message.clone(), None),
        };
        let mut d = Diagnostic::error("P0001", message).at(self.source, start..end);
        if let Some(help) = help {
            d = d.with_help(help);
        }
        d
    }

    // ------------------------------------------------------------ header

    fn header(self, pair: Pair<'_, Rule>) -> Result<Header> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let mut header = Header {
            id: Ident { name: String::new(), span: span.clone() },
            title: None,
            versions: Vec::new(),
            effective: Vec::new(),
            until: Vec::new(),
            timezones: Vec::new(),
            on_error: Vec::new(),
            calendars: Vec::new(),
            span,
        };
        for p in inner.by_ref() {
            match p.as_rule() {
                Rule::kw_policy => {}
                Rule::ident => header.id = self.ident(&p),
                Rule::text => header.title = Some(self.text(p)?),
                Rule::version_clause => header.versions.push(self.text(self.last(p)?)?),
                Rule::effective_clause => header.effective.push(self.date(&self.last(p)?)?),
                Rule::until_clause => header.until.push(self.date(&self.last(p)?)?),
                Rule::timezone_clause => header.timezones.push(self.text(self.last(p)?)?),
                Rule::calendar_clause => header.calendars.push(self.text(self.last(p)?)?),
                Rule::on_error_clause => {
                    let span = self.span(&p);
                    let level = self.last(p)?;
                    let level = if level.as_rule() == Rule::kw_deny { OnError::Deny } else { OnError::Review };
                    header.on_error.push((level, span));
                }
                _ => return Err(self.internal(self.span(&p))),
            }
        }
        Ok(header)
    }

    fn last<'i>(self, pair: Pair<'i, Rule>) -> Result<Pair<'i, Rule>> {
        let span = self.span(&pair);
        pair.into_inner().last().ok_or_else(|| self.internal(span))
    }

    // ------------------------------------------------------------ declarations

    fn item(self, pair: Pair<'_, Rule>) -> Result<Item> {
        match pair.as_rule() {
            Rule::record_decl => Ok(Item::Record(self.fields_decl(pair)?)),
            Rule::action_decl => Ok(Item::Action(self.fields_decl(pair)?)),
            Rule::rule_decl => Ok(Item::Rule(self.rule_decl(pair, RuleKind::Rule)?)),
            Rule::conflict_decl => Ok(Item::Rule(self.rule_decl(pair, RuleKind::Conflict)?)),
            Rule::duty_decl => Ok(Item::Rule(self.rule_decl(pair, RuleKind::Duty)?)),
            Rule::ladder_decl => Ok(Item::Ladder(self.ladder_decl(pair)?)),
            Rule::const_decl | Rule::list_decl => self.named_decl(pair),
            _ => Err(self.internal(self.span(&pair))),
        }
    }

    /// `const NAME = literal` or `list NAME from "PATH"`.
    fn named_decl(self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let is_const = pair.as_rule() == Rule::const_decl;
        let mut inner =
            pair.into_inner().filter(|p| !matches!(p.as_rule(), Rule::kw_const | Rule::kw_list | Rule::kw_from));
        let (Some(name), Some(value)) = (inner.next(), inner.next()) else { return Err(self.internal(span)) };
        let name = self.ident(&name);
        if !is_const {
            return Ok(Item::List(ListDecl { name, path: self.text(value)?, span }));
        }
        let value = self.expr(value)?;
        Ok(Item::Const(ConstDecl { name, value, span }))
    }

    fn fields_decl(self, pair: Pair<'_, Rule>) -> Result<FieldsDecl> {
        let span = self.span(&pair);
        let mut name = None;
        let mut fields = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(&p)),
                Rule::field_block => {
                    for field in p.into_inner() {
                        let mut parts = field.into_inner();
                        let (Some(n), Some(t)) = (parts.next(), parts.next()) else {
                            return Err(self.internal(span));
                        };
                        fields.push(FieldDecl { name: self.ident(&n), ty: self.type_expr(t, 0)? });
                    }
                }
                _ => {}
            }
        }
        let name = name.ok_or_else(|| self.internal(span.clone()))?;
        Ok(FieldsDecl { name, fields, span })
    }

    /// A field's type; `depth` counts the `set of` / `list of` around it, bounded so that the
    /// recursion is (the pre-scan rejects such text first; this is the backstop).
    fn type_expr(self, pair: Pair<'_, Rule>, depth: usize) -> Result<TypeExpr> {
        let span = self.span(&pair);
        if depth > limits::MAX_TYPE_NESTING {
            return Err(type_too_deep(self.source, span));
        }
        let mut optional = false;
        let mut kind = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::optional_mark => optional = true,
                Rule::named_type => kind = Some(TypeKind::Named(self.ident(&self.last(p)?))),
                Rule::signed_type => {
                    let named = p.into_inner().find(|q| q.as_rule() == Rule::named_type);
                    let name = named.ok_or_else(|| self.internal(span.clone()))?;
                    kind = Some(TypeKind::Signed(self.ident(&self.last(name)?)));
                }
                Rule::enum_type => {
                    let members = p.into_inner().filter(|m| m.as_rule() == Rule::name);
                    kind = Some(TypeKind::Enum(members.map(|m| self.ident(&m)).collect()));
                }
                Rule::set_type | Rule::list_type => {
                    let is_set = p.as_rule() == Rule::set_type;
                    let mut element = self.type_expr(self.last(p)?, depth.saturating_add(1))?;
                    // `set of text?` is an optional set: the mark belongs to the whole type.
                    optional |= std::mem::take(&mut element.optional);
                    let element = Box::new(element);
                    kind = Some(if is_set { TypeKind::Set(element) } else { TypeKind::List(element) });
                }
                _ => return Err(self.internal(self.span(&p))),
            }
        }
        let kind = kind.ok_or_else(|| self.internal(span.clone()))?;
        Ok(TypeExpr { kind, optional, span })
    }

    fn rule_decl(self, pair: Pair<'_, Rule>, kind: RuleKind) -> Result<RuleDecl> {
        let span = self.span(&pair);
        let mut id = None;
        let mut title = None;
        let mut clauses = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_rule | Rule::kw_conflict | Rule::kw_duty => {}
                Rule::ident => id = Some(self.ident(&p)),
                Rule::text => title = Some(self.text(p)?),
                _ => clauses.push(self.clause(p)?),
            }
        }
        let id = id.ok_or_else(|| self.internal(span.clone()))?;
        Ok(RuleDecl { kind, id, title, clauses, span })
    }

    fn clause(self, pair: Pair<'_, Rule>) -> Result<Clause> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner().filter(|p| !is_keyword(p.as_rule()));
        let mut next = || inner.next().ok_or_else(|| self.internal(span.clone()));
        let kind = match rule {
            Rule::cite_clause => ClauseKind::Cite(self.text(next()?)?),
            Rule::on_clause => {
                let mut types = vec![self.ident(&next()?)];
                while let Ok(p) = next() {
                    types.push(self.ident(&p));
                }
                ClauseKind::On(types)
            }
            Rule::let_clause => {
                let name = self.ident(&next()?);
                ClauseKind::Let(name, self.expr(next()?)?)
            }
            Rule::when_clause => ClauseKind::When(self.expr(next()?)?),
            Rule::unless_clause => ClauseKind::Unless(self.expr(next()?)?),
            Rule::require_clause => ClauseKind::Require(self.expr(next()?)?),
            Rule::then_clause => ClauseKind::Then(self.outcomes(next()?)?),
            Rule::otherwise_clause => ClauseKind::Otherwise(self.outcomes(next()?)?),
            Rule::due_clause => ClauseKind::Due(self.duration(&next()?)?),
            Rule::every_clause => ClauseKind::Every(self.ident(&next()?)),
            Rule::fulfilled_clause => {
                let ty = self.ident(&next()?);
                let filter = match next() {
                    Ok(p) => Some(self.expr(p)?),
                    Err(_) => None,
                };
                ClauseKind::FulfilledBy(ty, filter)
            }
            Rule::message_clause => {
                let first = next()?;
                if first.as_rule() == Rule::ident {
                    let lang = self.ident(&first);
                    ClauseKind::Message(Some(lang), self.message(next()?)?)
                } else {
                    ClauseKind::Message(None, self.message(first)?)
                }
            }
            _ => return Err(self.internal(span)),
        };
        Ok(Clause { kind, span })
    }

    fn outcomes(self, pair: Pair<'_, Rule>) -> Result<Vec<Outcome>> {
        pair.into_inner()
            .map(|p| {
                let span = self.span(&p);
                let rule = p.as_rule();
                let mut inner = p.into_inner().filter(|q| !is_keyword(q.as_rule()));
                let kind = match rule {
                    Rule::outcome_deny => OutcomeKind::Deny,
                    Rule::outcome_review => OutcomeKind::Review,
                    Rule::outcome_warn => OutcomeKind::Warn,
                    Rule::outcome_breach => {
                        let severity = inner.next().ok_or_else(|| self.internal(span.clone()))?;
                        OutcomeKind::Breach {
                            severity: self.ident(&severity),
                            ladder: inner.next().map(|l| self.ident(&l)),
                        }
                    }
                    Rule::outcome_escalate => {
                        let team = inner.next().ok_or_else(|| self.internal(span.clone()))?;
                        OutcomeKind::Escalate(self.text(team)?)
                    }
                    _ => return Err(self.internal(span)),
                };
                Ok(Outcome { kind, span })
            })
            .collect()
    }

    fn ladder_decl(self, pair: Pair<'_, Rule>) -> Result<LadderDecl> {
        let span = self.span(&pair);
        let mut ladder = LadderDecl {
            id: Ident { name: String::new(), span: span.clone() },
            title: None,
            windows: Vec::new(),
            points: Vec::new(),
            steps: Vec::new(),
            span,
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_ladder => {}
                Rule::ident => ladder.id = self.ident(&p),
                Rule::text => ladder.title = Some(self.text(p)?),
                Rule::window_clause => ladder.windows.push(self.duration(&self.last(p)?)?),
                Rule::points_clause => {
                    for sp in p.into_inner().filter(|q| q.as_rule() == Rule::severity_points) {
                        let span = self.span(&sp);
                        let mut parts = sp.into_inner();
                        let (Some(name), Some(points)) = (parts.next(), parts.next()) else {
                            return Err(self.internal(span));
                        };
                        ladder.points.push((self.ident(&name), self.integer(&points)?, span));
                    }
                }
                Rule::step_clause => {
                    let span = self.span(&p);
                    let mut parts = p.into_inner().filter(|q| !is_keyword(q.as_rule()));
                    let (Some(threshold), Some(label)) = (parts.next(), parts.next()) else {
                        return Err(self.internal(span));
                    };
                    let restricts = match parts.next() {
                        Some(r) => Some(self.restricts(r)?),
                        None => None,
                    };
                    let label = self.text(label)?;
                    // The clause's pair also holds the blanks after it (where `restricts` may start).
                    let end = restricts.as_ref().map_or(label.span.end, |r: &Restricts| r.span.end);
                    let span = span.start..end.max(span.start);
                    ladder.steps.push(Step { threshold: self.integer(&threshold)?, label, restricts, span });
                }
                _ => return Err(self.internal(self.span(&p))),
            }
        }
        Ok(ladder)
    }

    fn restricts(self, pair: Pair<'_, Rule>) -> Result<Restricts> {
        let span = self.span(&pair);
        let mut out = Restricts { targets: Vec::new(), length: None, span };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_restricts | Rule::kw_for => {}
                Rule::restrict_target => {
                    let Some(inner) = p.into_inner().next() else { return Err(self.internal(out.span)) };
                    out.targets.push(match inner.as_rule() {
                        Rule::kw_all => RestrictTarget::All(self.span(&inner)),
                        _ => RestrictTarget::Type(self.ident(&inner)),
                    });
                }
                _ => out.length = Some(self.duration(&p)?),
            }
        }
        // The pair also holds the blanks after it: end at the last part.
        let last = match (&out.length, out.targets.last()) {
            (Some(d), _) => Some(d.span.1),
            (None, Some(RestrictTarget::All(span))) => Some(span.end),
            (None, Some(RestrictTarget::Type(name))) => Some(name.span.end),
            (None, None) => None,
        };
        if let Some(end) = last {
            out.span.end = end.max(out.span.start);
        }
        Ok(out)
    }

    // ------------------------------------------------------------ expressions

    fn expr(self, pair: Pair<'_, Rule>) -> Result<Expr> {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, operand| {
                let operand = operand?;
                let span = self.span(&op).start..operand.span.end;
                let op = if op.as_rule() == Rule::op_not { UnaryOp::Not } else { UnaryOp::Neg };
                self.bounded(Expr::new(ExprKind::Unary(op, Box::new(operand)), span))
            })
            .map_postfix(|operand, op| {
                let operand = operand?;
                let span = operand.span.start..self.span(&op).end;
                let present = op.as_rule() == Rule::op_is_present;
                self.bounded(Expr::new(ExprKind::Presence(Box::new(operand), present), span))
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op_span = self.span(&op);
                let op = binary_op(op.as_rule()).ok_or_else(|| self.internal(op_span.clone()))?;
                if op.is_comparison() {
                    for side in [&lhs, &rhs] {
                        if let ExprKind::Binary(inner, ..) = side.kind {
                            if inner.is_comparison() {
                                return Err(Diagnostic::error("P0006", "comparisons do not chain")
                                    .at(self.source, op_span)
                                    .with_label("second comparison")
                                    .with_help("join the comparisons with `and`, as in `a < b and b < c`"));
                            }
                        }
                    }
                }
                let span = lhs.span.start..rhs.span.end;
                self.bounded(Expr::new(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span))
            })
            .parse(pair.into_inner())
    }

    /// Rejects expressions deeper than the limit while they are built, so that no later
    /// recursion (checking, evaluating, dropping) can exhaust the stack.
    fn bounded(self, e: Expr) -> Result<Expr> {
        if e.depth as usize > limits::MAX_EXPRESSION_DEPTH {
            return Err(Diagnostic::error(
                "P0004",
                format!("expression nests more than {} levels deep", limits::MAX_EXPRESSION_DEPTH),
            )
            .at(self.source, e.span.clone())
            .with_help("name parts of it with `let`, or test many values at once with `in [\"a\", \"b\"]`"));
        }
        Ok(e)
    }

    fn primary(self, pair: Pair<'_, Rule>) -> Result<Expr> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::paren | Rule::item_paren => ExprKind::Paren(Box::new(self.expr(self.last(pair)?)?)),
            Rule::true_lit => ExprKind::Bool(true),
            Rule::false_lit => ExprKind::Bool(false),
            Rule::now_lit => ExprKind::Now,
            Rule::today_lit => ExprKind::Today,
            Rule::text => ExprKind::Text(self.text(pair)?.value),
            Rule::number_lit => {
                let raw = pair.as_str();
                if raw.contains('.') {
                    ExprKind::Decimal(self.decimal(raw, &span)?)
                } else {
                    ExprKind::Int(raw.parse().map_err(|_| self.too_large(&span))?)
                }
            }
            Rule::percent_lit => {
                let raw = pair.as_str().trim_end_matches('%');
                let mut value = self.decimal(raw, &span)?;
                let scale = value.scale().saturating_add(2);
                if scale > 28 {
                    return Err(self.too_large(&span));
                }
                value.set_scale(scale).map_err(|_| self.too_large(&span))?;
                ExprKind::Decimal(value)
            }
            Rule::money_lit => {
                let mut inner = pair.into_inner();
                let (Some(amount), Some(currency)) = (inner.next(), inner.next()) else {
                    return Err(self.internal(span));
                };
                ExprKind::Money(self.decimal(amount.as_str(), &span)?, self.ident(&currency))
            }
            Rule::duration_lit => ExprKind::Duration(self.duration(&pair)?),
            Rule::date_lit => ExprKind::Date(self.date(&pair)?.0),
            Rule::datetime_lit => ExprKind::DateTime(self.datetime(&pair)?),
            Rule::set_lit | Rule::item_set_lit => {
                ExprKind::Set(pair.into_inner().map(|p| self.expr(p)).collect::<Result<_>>()?)
            }
            Rule::path | Rule::item_path => ExprKind::Path(pair.into_inner().map(|p| self.ident(&p)).collect()),
            Rule::call | Rule::item_call => {
                let mut inner = pair.into_inner();
                let name = inner.next().ok_or_else(|| self.internal(span.clone()))?;
                let args = inner.map(|p| self.expr(p)).collect::<Result<_>>()?;
                ExprKind::Call(self.ident(&name), args)
            }
            Rule::aggregate => ExprKind::Aggregate(Box::new(self.aggregate(pair)?)),
            _ => return Err(self.internal(span)),
        };
        self.bounded(Expr::new(kind, span))
    }

    fn aggregate(self, pair: Pair<'_, Rule>) -> Result<Aggregate> {
        let span = self.span(&pair);
        let mut function = None;
        let mut source = None;
        let mut field = None;
        let mut filter = None;
        let mut window = None;
        let mut period = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::aggregate_name => {
                    function = Some(match p.as_str() {
                        "count" => AggregateFn::Count,
                        "exists" => AggregateFn::Exists,
                        "sum" => AggregateFn::Sum,
                        "min" => AggregateFn::Min,
                        _ => AggregateFn::Max,
                    })
                }
                Rule::aggregate_source => {
                    let mut names = p.into_inner();
                    source = names.next().map(|n| self.ident(&n));
                    field = names.next().map(|n| self.ident(&n));
                }
                Rule::item_expr => filter = Some(self.expr(p)?),
                Rule::duration_lit | Rule::business_days_lit | Rule::const_ref => window = Some(self.duration(&p)?),
                Rule::period_window => period = Some(self.span(&p)),
                Rule::kw_where | Rule::kw_within => {}
                _ => return Err(self.internal(self.span(&p))),
            }
        }
        let (Some(function), Some(source)) = (function, source) else {
            return Err(self.internal(span));
        };
        Ok(Aggregate { function, source, field, filter, window, period })
    }

    // ------------------------------------------------------------ literals

    fn ident(self, pair: &Pair<'_, Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(pair) }
    }

    fn too_large(self, span: &Span) -> Diagnostic {
        Diagnostic::error("P0007", "number out of range")
            .at(self.source, span.clone())
            .with_help("numbers hold up to 28 significant digits; integers fit in 64 bits")
    }

    fn decimal(self, raw: &str, span: &Span) -> Result<Decimal> {
        Decimal::from_str_exact(raw).ok().filter(|d| crate::value::fits(*d)).ok_or_else(|| self.too_large(span))
    }

    fn integer(self, pair: &Pair<'_, Rule>) -> Result<i64> {
        pair.as_str().parse().map_err(|_| self.too_large(&self.span(pair)))
    }

    fn date(self, pair: &Pair<'_, Rule>) -> Result<(NaiveDate, Span)> {
        let span = self.span(pair);
        NaiveDate::parse_from_str(pair.as_str(), "%Y-%m-%d").map(|d| (d, span.clone())).map_err(|_| {
            Diagnostic::error("P0008", format!("`{}` is not a calendar date", pair.as_str()))
                .at(self.source, span)
                .with_help("write dates as YYYY-MM-DD, such as `2026-02-01`")
        })
    }

    fn datetime(self, pair: &Pair<'_, Rule>) -> Result<DateTime<chrono::FixedOffset>> {
        let span = self.span(pair);
        let raw = pair.as_str();
        let has_offset = pair.clone().into_inner().any(|p| p.as_rule() == Rule::utc_offset);
        if !has_offset {
            return Err(Diagnostic::error("P0008", format!("`{raw}` has no UTC offset"))
                .at(self.source, span)
                .with_help("add an offset such as `Z` or `+08:00`"));
        }
        // Seconds are optional in the language; RFC 3339 wants them.
        let normalised = match raw.get(..16) {
            Some(prefix) if raw.as_bytes().get(16) != Some(&b':') => {
                format!("{prefix}:00{}", raw.get(16..).unwrap_or(""))
            }
            _ => raw.to_string(),
        };
        // Second 60 (a leap second) is refused, as in action JSON.
        let parsed =
            DateTime::parse_from_rfc3339(&normalised).ok().filter(|t| chrono::Timelike::nanosecond(t) < 1_000_000_000);
        parsed.ok_or_else(|| {
            Diagnostic::error("P0008", format!("`{raw}` is not a valid date and time"))
                .at(self.source, span)
                .with_help("write times as `2026-02-01T09:00:00+08:00`")
        })
    }

    fn duration(self, pair: &Pair<'_, Rule>) -> Result<DurationLit> {
        let span = self.span(pair);
        if pair.as_rule() == Rule::const_ref {
            let name = Some(pair.as_str().to_string());
            return Ok(DurationLit { amount: 0, unit: DurationUnit::Day, span: (span.start, span.end), name });
        }
        let mut inner = pair.clone().into_inner().filter(|p| p.as_rule() != Rule::kw_business);
        let (Some(amount), Some(unit)) = (inner.next(), inner.next()) else {
            return Err(self.internal(span));
        };
        if unit.as_rule() == Rule::business_unit {
            let amount = self.integer(&amount)?;
            return Ok(DurationLit {
                amount,
                unit: DurationUnit::BusinessDay,
                span: (span.start, span.end),
                name: None,
            });
        }
        let unit = match unit.as_str().trim_end_matches('s') {
            "minute" => DurationUnit::Minute,
            "hour" => DurationUnit::Hour,
            "day" => DurationUnit::Day,
            "week" => DurationUnit::Week,
            "month" => DurationUnit::Month,
            _ => DurationUnit::Year,
        };
        Ok(DurationLit { amount: self.integer(&amount)?, unit, span: (span.start, span.end), name: None })
    }

    /// The raw body of a text literal and the offset where it starts, or the error of an
    /// unterminated text (reported at its opening quote).
    fn text_body<'i>(self, pair: Pair<'i, Rule>) -> Result<(&'i str, usize, Span)> {
        let span = self.span(&pair);
        let inner = self.last(pair)?;
        if inner.as_rule() == Rule::text_unterminated {
            return Err(unterminated(self.source, span.start));
        }
        let body = self.last(inner)?;
        let start = self.span(&body).start;
        Ok((body.as_str(), start, span))
    }

    fn text(self, pair: Pair<'_, Rule>) -> Result<Text> {
        let (body, start, span) = self.text_body(pair)?;
        let mut value = String::with_capacity(body.len());
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                value.push(self.escape(chars.next(), start.saturating_add(i))?);
            } else {
                value.push(c);
            }
        }
        Ok(Text { value, span })
    }

    fn escape(self, next: Option<(usize, char)>, at: usize) -> Result<char> {
        match next.map(|(_, c)| c) {
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('n') => Ok('\n'),
            other => {
                let len = other.map_or(1, |c| c.len_utf8().saturating_add(1));
                Err(Diagnostic::error("P0003", "unknown escape in text")
                    .at(self.source, at..at.saturating_add(len))
                    .with_help("the escapes are `\\\"`, `\\\\` and `\\n`"))
            }
        }
    }

    fn message(self, pair: Pair<'_, Rule>) -> Result<MessageText> {
        let (body, start, span) = self.text_body(pair)?;
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at = start.saturating_add(i);
            match c {
                '\\' => literal.push(self.escape(chars.next(), at)?),
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(Diagnostic::error("P0009", "unmatched `}` in message")
                        .at(self.source, at..at.saturating_add(1))
                        .with_help("write `}}` for a literal brace"))
                }
                '{' => {
                    let rest = body.get(i.saturating_add(1)..).unwrap_or("");
                    let Some(close) = rest.find('}') else {
                        return Err(Diagnostic::error("P0009", "unclosed `{` in message")
                            .at(self.source, at..at.saturating_add(1))
                            .with_help("close the placeholder with `}`, or write `{{` for a literal brace"));
                    };
                    let inner = rest.get(..close).unwrap_or("");
                    let inner_start = at.saturating_add(1);
                    let path = self.placeholder(inner, inner_start)?;
                    if !literal.is_empty() {
                        parts.push(MessagePart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(MessagePart::Placeholder(path, at..inner_start.saturating_add(close).saturating_add(1)));
                    for _ in 0..=close {
                        chars.next();
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(MessagePart::Literal(literal));
        }
        Ok(MessageText { parts, span })
    }

    fn placeholder(self, inner: &str, start: usize) -> Result<Vec<Ident>> {
        let trimmed = inner.trim();
        let lead = inner.len().saturating_sub(inner.trim_start().len());
        let mut offset = start.saturating_add(lead);
        let mut path = Vec::new();
        for segment in trimmed.split('.') {
            let valid = segment.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && segment.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(Diagnostic::error("P0009", format!("`{{{inner}}}` is not a placeholder"))
                    .at(self.source, start.saturating_sub(1)..start.saturating_add(inner.len()).saturating_add(1))
                    .with_help("a placeholder names a field or a `let`, as in `{action.amount}`; write `{{` for a literal brace"));
            }
            path.push(Ident { name: segment.to_string(), span: offset..offset.saturating_add(segment.len()) });
            offset = offset.saturating_add(segment.len()).saturating_add(1);
        }
        Ok(path)
    }
}

/// The error of a text with no closing quote on its line, at its opening quote.
fn unterminated(source: &Arc<SourceFile>, quote: usize) -> Diagnostic {
    Diagnostic::error("P0002", "unterminated text")
        .at(source, quote..quote.saturating_add(1))
        .with_label("this text has no closing quote")
        .with_help("close the text with `\"` on the same line")
}

/// The offset of the first text in `chunk` that opens at or before `limit` and has no closing
/// quote on its line.
fn first_open_text(chunk: &str, limit: usize) -> Option<usize> {
    lexemes(chunk)
        .filter_map(|lexeme| match lexeme {
            Lexeme::Text(range) => Some(range),
            Lexeme::Char(..) => None,
        })
        .take_while(|range| range.start <= limit)
        .find(|range| {
            let literal = chunk.get(range.clone()).unwrap_or("");
            literal.len() < 2 || !literal.ends_with('"')
        })
        .map(|range| range.start)
}

fn binary_op(rule: Rule) -> Option<BinaryOp> {
    Some(match rule {
        Rule::op_or => BinaryOp::Or,
        Rule::op_and => BinaryOp::And,
        Rule::op_eq => BinaryOp::Eq,
        Rule::op_ne => BinaryOp::Ne,
        Rule::op_lt => BinaryOp::Lt,
        Rule::op_le => BinaryOp::Le,
        Rule::op_gt => BinaryOp::Gt,
        Rule::op_ge => BinaryOp::Ge,
        Rule::op_in => BinaryOp::In,
        Rule::op_not_in => BinaryOp::NotIn,
        Rule::op_contains => BinaryOp::Contains,
        Rule::op_add => BinaryOp::Add,
        Rule::op_sub => BinaryOp::Sub,
        Rule::op_mul => BinaryOp::Mul,
        Rule::op_div => BinaryOp::Div,
        _ => return None,
    })
}

fn keyword_of(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::kw_policy => "policy",
        Rule::kw_version | Rule::version_clause => "version",
        Rule::kw_effective | Rule::effective_clause => "effective",
        Rule::kw_until | Rule::until_clause => "until",
        Rule::kw_timezone | Rule::timezone_clause => "timezone",
        Rule::on_error_clause => "on error",
        Rule::kw_record | Rule::record_decl => "record",
        Rule::kw_action | Rule::action_decl => "action",
        Rule::kw_rule | Rule::rule_decl => "rule",
        Rule::kw_conflict | Rule::conflict_decl => "conflict",
        Rule::kw_duty | Rule::duty_decl => "duty",
        Rule::kw_ladder | Rule::ladder_decl => "ladder",
        Rule::kw_cite | Rule::cite_clause => "cite",
        Rule::kw_on | Rule::on_clause => "on",
        Rule::kw_let | Rule::let_clause => "let",
        Rule::kw_when | Rule::when_clause => "when",
        Rule::kw_unless | Rule::unless_clause => "unless",
        Rule::kw_then | Rule::then_clause => "then",
        Rule::kw_require | Rule::require_clause => "require",
        Rule::kw_otherwise | Rule::otherwise_clause => "otherwise",
        Rule::kw_due | Rule::due_clause => "due",
        Rule::kw_fulfilled | Rule::fulfilled_clause => "fulfilled",
        Rule::kw_message | Rule::message_clause => "message",
        Rule::kw_window | Rule::window_clause => "window",
        Rule::kw_points | Rule::points_clause => "points",
        Rule::kw_step | Rule::step_clause => "step",
        Rule::kw_within => "within",
        Rule::kw_where => "where",
        Rule::kw_by => "by",
        Rule::kw_of => "of",
        Rule::kw_deny | Rule::outcome_deny => "deny",
        Rule::kw_review | Rule::outcome_review => "review",
        Rule::kw_warn | Rule::outcome_warn => "warn",
        Rule::kw_breach | Rule::outcome_breach => "breach",
        Rule::kw_escalate | Rule::outcome_escalate => "escalate",
        Rule::kw_error => "error",
        Rule::kw_in => "in",
        Rule::kw_and | Rule::op_and => "and",
        Rule::kw_or | Rule::op_or => "or",
        Rule::kw_contains => "contains",
        Rule::kw_is => "is",
        Rule::kw_present => "present",
        Rule::kw_missing => "missing",
        Rule::kw_one => "one of",
        Rule::kw_set => "set of",
        Rule::kw_list => "list of",
        Rule::kw_const => "const",
        Rule::kw_from => "from",
        Rule::kw_calendar => "calendar",
        Rule::kw_business => "business",
        Rule::kw_restricts | Rule::restricts => "restricts",
        Rule::kw_for => "for",
        Rule::kw_all => "all",
        Rule::kw_every | Rule::every_clause => "every",
        Rule::kw_period | Rule::period_window => "period",
        _ => return None,
    })
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_cite
            | Rule::kw_on
            | Rule::kw_let
            | Rule::kw_when
            | Rule::kw_unless
            | Rule::kw_then
            | Rule::kw_require
            | Rule::kw_otherwise
            | Rule::kw_due
            | Rule::kw_within
            | Rule::kw_fulfilled
            | Rule::kw_by
            | Rule::kw_where
            | Rule::kw_message
            | Rule::kw_breach
            | Rule::kw_in
            | Rule::kw_escalate
            | Rule::kw_deny
            | Rule::kw_review
            | Rule::kw_warn
            | Rule::kw_step
            | Rule::kw_every
    )
}

/// Prose for what the parser expected.
fn describe_expected(positives: &[Rule]) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: String| {
        if !words.contains(&w) {
            words.push(w);
        }
    };
    let declaration = positives.iter().any(|r| {
        matches!(
            r,
            Rule::record_decl
                | Rule::action_decl
                | Rule::rule_decl
                | Rule::conflict_decl
                | Rule::duty_decl
                | Rule::ladder_decl
                | Rule::kw_record
                | Rule::kw_rule
                | Rule::kw_const
        )
    });
    let clause = positives.iter().any(|r| {
        matches!(
            r,
            Rule::cite_clause | Rule::on_clause | Rule::when_clause | Rule::then_clause | Rule::kw_cite | Rule::kw_when
        )
    });
    if clause {
        add("a clause such as `cite`, `on`, `let`, `when`, `unless`, `then` or `message`".into());
    }
    for rule in positives {
        let word = match rule {
            Rule::record_decl
            | Rule::action_decl
            | Rule::rule_decl
            | Rule::conflict_decl
            | Rule::duty_decl
            | Rule::ladder_decl
            | Rule::kw_record
            | Rule::kw_action
            | Rule::kw_rule
            | Rule::kw_conflict
            | Rule::kw_duty
            | Rule::kw_ladder
            | Rule::kw_const
            | Rule::const_decl
            | Rule::list_decl => {
                "a declaration (`record`, `action`, `rule`, `conflict`, `duty` or `ladder`)".to_string()
            }
            // `list` where a declaration may start is `list NAME from` (said by the above).
            Rule::kw_list if positives.contains(&Rule::kw_const) => continue,
            // Named consts and business days are mentioned where their errors are checked.
            Rule::const_ref | Rule::calendar_clause => continue,
            Rule::business_days_lit | Rule::business_unit => "a number".to_string(),
            Rule::cite_clause
            | Rule::on_clause
            | Rule::let_clause
            | Rule::when_clause
            | Rule::unless_clause
            | Rule::then_clause
            | Rule::require_clause
            | Rule::due_clause
            | Rule::fulfilled_clause
            | Rule::otherwise_clause
            | Rule::message_clause
            | Rule::kw_cite
            | Rule::kw_on
            | Rule::kw_let
            | Rule::kw_when
            | Rule::kw_unless
            | Rule::kw_then
            | Rule::kw_require
            | Rule::kw_due
            | Rule::kw_fulfilled
            | Rule::kw_otherwise
            | Rule::kw_message
            | Rule::every_clause
            | Rule::kw_every
            | Rule::period_window
            | Rule::kw_period => continue,
            Rule::EOI if declaration || clause => continue,
            Rule::EOI => "the end of the file".to_string(),
            Rule::ident | Rule::name | Rule::named_type => "a name".to_string(),
            Rule::text | Rule::text_terminated | Rule::text_unterminated => "a text in double quotes".to_string(),
            Rule::expr
            | Rule::paren
            | Rule::path
            | Rule::call
            | Rule::item_expr
            | Rule::item_paren
            | Rule::item_path
            | Rule::item_call
            | Rule::item_set_lit
            | Rule::aggregate
            | Rule::number_lit
            | Rule::money_lit
            | Rule::set_lit
            | Rule::true_lit
            | Rule::false_lit
            | Rule::now_lit
            | Rule::today_lit
            | Rule::percent_lit
            | Rule::datetime_lit
            | Rule::op_not
            | Rule::op_neg
            | Rule::aggregate_name
            | Rule::kw_true
            | Rule::kw_false
            | Rule::kw_now
            | Rule::kw_today
            | Rule::kw_not => "an expression".to_string(),
            Rule::date_lit => "a date such as `2026-02-01`".to_string(),
            Rule::duration_lit | Rule::integer => "a number".to_string(),
            Rule::duration_unit => "a unit such as `days` or `months`".to_string(),
            Rule::currency => "a currency code such as `CNY`".to_string(),
            Rule::type_expr | Rule::set_type | Rule::list_type | Rule::enum_type => "a type".to_string(),
            Rule::field_decl | Rule::field_block => "a field such as `amount: money`".to_string(),
            Rule::outcome_deny
            | Rule::outcome_review
            | Rule::outcome_warn
            | Rule::outcome_breach
            | Rule::outcome_escalate
            | Rule::outcomes => "an outcome (`deny`, `review`, `warn`, `breach` or `escalate`)".to_string(),
            Rule::op_or
            | Rule::op_and
            | Rule::op_eq
            | Rule::op_ne
            | Rule::op_lt
            | Rule::op_le
            | Rule::op_gt
            | Rule::op_ge
            | Rule::op_in
            | Rule::op_not_in
            | Rule::op_contains
            | Rule::op_add
            | Rule::op_sub
            | Rule::op_mul
            | Rule::op_div => "an operator".to_string(),
            Rule::window_clause | Rule::points_clause | Rule::step_clause => {
                "a ladder clause (`window`, `points` or `step`)".to_string()
            }
            Rule::header | Rule::kw_policy => "`policy` and the policy's id".to_string(),
            other => match keyword_of(*other) {
                Some(kw) => format!("`{kw}`"),
                None => continue,
            },
        };
        add(word);
    }
    match words.len() {
        0 => "something else".to_string(),
        1 => words.concat(),
        n => {
            let (rest, last) = words.split_at(n.saturating_sub(1));
            format!("{} or {}", rest.join(", "), last.concat())
        }
    }
}

fn hint_for(positives: &[Rule]) -> Option<String> {
    if positives.contains(&Rule::currency) {
        return Some("write money as an amount and an ISO 4217 code, such as `500 CNY`".into());
    }
    if positives.contains(&Rule::duration_unit) {
        return Some("durations take a unit: `minutes`, `hours`, `days`, `weeks`, `months` or `years`".into());
    }
    None
}

/// The token at the start of `rest`: a word, or one character.
fn found_token(rest: &str) -> &str {
    let word_len =
        rest.char_indices().find(|&(_, c)| !(c.is_alphanumeric() || c == '_')).map_or(rest.len(), |(i, _)| i);
    if word_len > 0 {
        return rest.get(..word_len).unwrap_or("");
    }
    let first = rest.chars().next().map_or(0, char::len_utf8);
    rest.get(..first).unwrap_or("")
}
