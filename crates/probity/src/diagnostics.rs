//! Diagnostics: every problem found in policy text, with its place, a message and a hint.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

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

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset).max(1);
        let start = self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(0);
        let column = self.text.get(start..offset).map_or(0, |prefix| prefix.chars().count());
        (line, column.saturating_add(1))
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

    /// Renders the diagnostic with a source excerpt, labels and help, without colours.
    pub fn render(&self) -> String {
        self.render_with(false)
    }

    /// Renders the diagnostic, with ANSI colours when `color` is set.
    pub fn render_with(&self, color: bool) -> String {
        let theme = if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
        let mut out = String::new();
        let report = Report(self);
        if handler.render_report(&mut out, &report).is_err() {
            return self.to_string();
        }
        out
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

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0 .0.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::SourceCode for SourceFile {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let inner = self.text.read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.0 .0.code))
    }

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
        self.0 .0.source.as_ref()?;
        let len = self.0 .0.span.end.saturating_sub(self.0 .0.span.start);
        let main = miette::LabeledSpan::new_primary_with_span(self.0 .0.label.clone(), (self.0 .0.span.start, len));
        let same_file = self
            .0
             .0
            .related
            .iter()
            .filter(|(_, source, _)| self.0 .0.source.as_ref().is_some_and(|s| Arc::ptr_eq(s, source)));
        let related = same_file.map(|(message, _, span)| {
            miette::LabeledSpan::new_with_span(Some(message.clone()), (span.start, span.end.saturating_sub(span.start)))
        });
        Some(Box::new(std::iter::once(main).chain(related)))
    }
}

/// The serialisable form of a diagnostic: `{code, severity, message, help, file, line, column,
/// end_line, end_column, related}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
