//! Diagnostics: every problem found in policy text, with its place, a message and a hint.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The byte order mark a file may start with.
pub(crate) const BOM: char = '\u{feff}';

/// A policy file's name and text, shared by the diagnostics that point into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wraps a file's name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i.saturating_add(1))).collect();
        SourceFile { name: name.into(), text, line_starts }
    }

    /// The file's name as given when it was loaded.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The 1-based line and column (in characters) of a byte offset. A leading byte order
    /// mark is not a column (editors do not show it).
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset).max(1);
        let mut start = self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(0);
        if start == 0 {
            start = self.bom_len().min(offset);
        }
        let column = self.text.get(start..offset).map_or(0, |prefix| prefix.chars().count());
        (line, column.saturating_add(1))
    }

    /// The length of a leading byte order mark (0 without one).
    fn bom_len(&self) -> usize {
        if self.text.starts_with(BOM) {
            BOM.len_utf8()
        } else {
            0
        }
    }

    /// The 0-based line holding `offset`, and that line's range without its line break.
    fn line_of(&self, offset: usize) -> (usize, Range<usize>) {
        let index = self.line_starts.partition_point(|&start| start <= offset).saturating_sub(1);
        let start = self.line_starts.get(index).copied().unwrap_or(0);
        let end = self.line_starts.get(index.saturating_add(1)).map_or(self.text.len(), |next| next.saturating_sub(1));
        (index, start..end.max(start))
    }

    /// Whether the line holding `offset` is too long to be drawn whole under its excerpt.
    fn is_wide(&self, offset: usize) -> bool {
        self.line_of(offset).1.len() > WIDE_LINE
    }
}

/// Lines longer than this (in bytes) are drawn as a window around the span they hold, with no
/// other label on them: the excerpt stays readable, and the drawing never pads to a column
/// that the formatting machinery cannot reach (65,535).
const WIDE_LINE: usize = 1_024;

/// How much of a wide line is shown on each side of a span, in bytes.
const WIDE_MARGIN: usize = 60;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub enum Severity {
    /// The policy does not load.
    Error,
    /// The policy loads, but something deserves a look.
    Warning,
}

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    code: &'static str,
    severity: Severity,
    message: String,
    help: Option<String>,
    label: Option<String>,
    source: Option<Arc<SourceFile>>,
    span: Range<usize>,
    related: Vec<(String, Arc<SourceFile>, Range<usize>)>,
}

impl Diagnostic {
    pub(crate) fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic(Box::new(Inner {
            code,
            severity: Severity::Error,
            message: message.into(),
            help: None,
            label: None,
            source: None,
            span: 0..0,
            related: Vec::new(),
        }))
    }

    pub(crate) fn warning(code: &'static str, message: impl Into<String>) -> Self {
        let mut d = Diagnostic::error(code, message);
        d.0.severity = Severity::Warning;
        d
    }

    pub(crate) fn at(mut self, source: &Arc<SourceFile>, span: Range<usize>) -> Self {
        self.0.source = Some(Arc::clone(source));
        self.0.span = span;
        self
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    pub(crate) fn with_label(mut self, label: impl Into<String>) -> Self {
        self.0.label = Some(label.into());
        self
    }

    pub(crate) fn with_related(
        mut self,
        message: impl Into<String>,
        source: &Arc<SourceFile>,
        span: Range<usize>,
    ) -> Self {
        self.0.related.push((message.into(), Arc::clone(source), span));
        self
    }

    /// The stable code, such as `P0102`.
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.0.severity
    }

    /// What is wrong, in one line.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Advice on how to fix it, when there is any.
    pub fn help(&self) -> Option<&str> {
        self.0.help.as_deref()
    }

    /// The file the diagnostic points into (empty when it has no place).
    pub fn file(&self) -> &str {
        self.0.source.as_ref().map_or("", |s| s.name())
    }

    /// The byte range the diagnostic points at.
    pub fn span(&self) -> Range<usize> {
        self.0.span.clone()
    }

    /// The other places that explain this one (an earlier definition): each its message, its
    /// file's name and its byte range.
    pub fn related(&self) -> impl Iterator<Item = (&str, &str, Range<usize>)> {
        self.0.related.iter().map(|(message, source, span)| (message.as_str(), source.name(), span.clone()))
    }

    /// The 1-based line and column where the diagnostic starts.
    pub fn line_column(&self) -> (usize, usize) {
        self.0.source.as_ref().map_or((0, 0), |s| s.line_column(self.0.span.start))
    }

    /// The serialisable record shared by every surface.
    pub fn record(&self) -> DiagnosticRecord {
        let (line, column) = self.line_column();
        let (end_line, end_column) = self.0.source.as_ref().map_or((0, 0), |s| s.line_column(self.0.span.end));
        DiagnosticRecord {
            code: self.0.code.to_string(),
            severity: self.0.severity,
            message: self.0.message.clone(),
            help: self.0.help.clone(),
            file: self.file().to_string(),
            line,
            column,
            end_line,
            end_column,
            related: self
                .0
                .related
                .iter()
                .map(|(message, source, span)| {
                    let (line, column) = source.line_column(span.start);
                    RelatedRecord { message: message.clone(), file: source.name().to_string(), line, column }
                })
                .collect(),
        }
    }

    /// Renders the diagnostic without colours, as rustc does: one line
    /// `error[P0102]: message` (or `warning[W0005]: …`), then the source excerpt with
    /// `file:line:column`, labels and help.
    pub fn render(&self) -> String {
        self.render_with(false)
    }

    /// Renders the diagnostic, with ANSI colours when `color` is set.
    pub fn render_with(&self, color: bool) -> String {
        let theme = if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
        let mut drawn = String::new();
        if handler.render_report(&mut drawn, &Report(self)).is_err() {
            return self.to_string();
        }
        // miette draws no header (the adapter gives no code) and then its message line, which
        // is one line since the adapter's text is empty: the headline takes its place.
        let excerpt = drawn.split_once('\n').map_or("", |(_, rest)| rest);
        let mut out = self.headline(color);
        out.push('\n');
        out.push_str(excerpt);
        out
    }

    /// `error[P0102]: message`, the severity and code in bold red (yellow for a warning) and
    /// the message in bold when `color` is set, as rustc writes them.
    fn headline(&self, color: bool) -> String {
        let (kind, style) = match self.0.severity {
            Severity::Error => ("error", "\u{1b}[1;31m"),
            Severity::Warning => ("warning", "\u{1b}[1;33m"),
        };
        let (code, message) = (self.0.code, &self.0.message);
        if color {
            format!("{style}{kind}[{code}]\u{1b}[0m\u{1b}[1m: {message}\u{1b}[0m")
        } else {
            format!("{kind}[{code}]: {message}")
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = self.line_column();
        let kind = match self.0.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{line}:{column}: {kind}[{}]: {}", self.file(), self.0.code, self.0.message)?;
        if let Some(help) = &self.0.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// The adapter that lets miette draw a diagnostic.
struct Report<'a>(&'a Diagnostic);

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// Empty: the message is the headline, written before miette's drawing (see `render_with`).
impl fmt::Display for Report<'_> {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl std::error::Error for Report<'_> {}

/// The excerpt miette draws. It reads only the lines around the span (found from the line
/// index, so rendering many diagnostics of a large file stays linear), and a wide line only
/// around the span.
impl miette::SourceCode for SourceFile {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let start = span.offset();
        let end = start.checked_add(span.len()).ok_or(miette::MietteError::OutOfBounds)?;
        // As miette's own reading: a span may run one byte past the end (a syntax error at the
        // end of the text points at the character that is not there).
        if start > self.text.len() || end > self.text.len().saturating_add(1) {
            return Err(miette::MietteError::OutOfBounds);
        }
        let (line, range) = self.line_of(start);
        if range.len() > WIDE_LINE {
            let from = if context_lines_before == 0 { start } else { start.saturating_sub(WIDE_MARGIN) };
            let from = floor_boundary(&self.text, from.max(range.start));
            let to = end.saturating_add(WIDE_MARGIN).min(range.end).max(end).min(self.text.len());
            let to = ceil_boundary(&self.text, to);
            let data = self.text.get(from..to).ok_or(miette::MietteError::OutOfBounds)?;
            return Ok(Box::new(miette::MietteSpanContents::new_named(
                self.name.clone(),
                data.as_bytes(),
                (from, to.saturating_sub(from)).into(),
                line,
                from.saturating_sub(range.start),
                line,
            )));
        }
        // The lines miette can ask for, and one more on each side: reading them alone gives
        // what reading the whole text would.
        let (last, _) = self.line_of(end);
        let first = line.saturating_sub(context_lines_before.saturating_add(1));
        let past = last.saturating_add(context_lines_after).saturating_add(2);
        let from = self.line_starts.get(first).copied().unwrap_or(0).max(self.bom_len()).min(start);
        let to = self.line_starts.get(past).copied().unwrap_or(self.text.len()).max(end).min(self.text.len());
        let window = self.text.get(from..to).ok_or(miette::MietteError::OutOfBounds)?;
        let local = miette::SourceSpan::new(start.saturating_sub(from).into(), span.len());
        let inner = window.read_span(&local, context_lines_before, context_lines_after)?;
        let first_line = self.line_starts.partition_point(|&s| s <= from).saturating_sub(1);
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            (inner.span().offset().saturating_add(from), inner.span().len()).into(),
            inner.line().saturating_add(first_line),
            inner.column(),
            // miette's own reading counts every line break from the start of the text here
            // (and decides from it which excerpts to join): count the same.
            inner.line_count().saturating_add(first_line),
        )))
    }
}

/// The nearest character boundary at or before `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at = at.saturating_sub(1);
    }
    at
}

/// The nearest character boundary at or after `at` (at most the end of the text).
fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at = at.saturating_add(1);
    }
    at.min(text.len())
}

/// No code: the headline carries it.
impl miette::Diagnostic for Report<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.0 .0.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.0 .0.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0 .0.source.as_ref().map(|s| s.as_ref() as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let source = self.0 .0.source.as_ref()?;
        let start = self.0 .0.span.start;
        let mut len = self.0 .0.span.end.saturating_sub(start);
        // On a wide line the span is drawn alone and within its line (see `WIDE_LINE`).
        let wide = source.is_wide(start);
        if wide {
            len = len.min(source.line_of(start).1.end.saturating_sub(start));
        }
        let main = miette::LabeledSpan::new_primary_with_span(self.0 .0.label.clone(), (start, len));
        let same_file = self
            .0
             .0
            .related
            .iter()
            .filter(move |(_, other, span)| Arc::ptr_eq(source, other) && !wide && !source.is_wide(span.start));
        let related = same_file.map(|(message, _, span)| {
            miette::LabeledSpan::new_with_span(Some(message.clone()), (span.start, span.end.saturating_sub(span.start)))
        });
        Some(Box::new(std::iter::once(main).chain(related)))
    }
}

/// The serialisable form of a diagnostic: `{code, severity, message, help, file, line, column,
/// end_line, end_column, related}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct DiagnosticRecord {
    /// Stable code such as `P0102`.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The file's name.
    pub file: String,
    /// 1-based line of the start.
    pub line: usize,
    /// 1-based column (in characters) of the start.
    pub column: usize,
    /// 1-based line of the end.
    pub end_line: usize,
    /// 1-based column of the end.
    pub end_column: usize,
    /// Other places that explain this one.
    pub related: Vec<RelatedRecord>,
}

/// A place related to a diagnostic, such as an earlier definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct RelatedRecord {
    /// What this place is.
    pub message: String,
    /// The file's name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Every diagnostic of a failed load (errors and warnings), in file and position order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn new(mut list: Vec<Diagnostic>) -> Self {
        sort(&mut list);
        Diagnostics(list)
    }

    /// All diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.0.severity == Severity::Error)
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The serialisable records of all diagnostics.
    pub fn records(&self) -> Vec<DiagnosticRecord> {
        self.0.iter().map(Diagnostic::record).collect()
    }

    /// Renders every diagnostic with its source excerpt.
    pub fn render(&self) -> String {
        self.0.iter().map(Diagnostic::render).collect::<Vec<_>>().join("\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        write!(f, "{errors} error(s) in policy text")?;
        for d in &self.0 {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

pub(crate) fn sort(list: &mut [Diagnostic]) {
    list.sort_by(|a, b| {
        (a.file(), a.0.span.start, a.0.severity, a.0.code).cmp(&(b.file(), b.0.span.start, b.0.severity, b.0.code))
    });
}

/// The closest candidate to a misspelt name, if one is close enough to suggest.
pub(crate) fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

pub(crate) fn suggestion<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(wrong, candidates).map(|c| format!("did you mean `{c}`?"))
}
