//! Names, types and structure: one parsed file → its compiled [`Policy`], with every problem
//! reported at once.

mod consts;
mod lints;
mod names;
mod rules;
mod types;

use smol_str::SmolStr;
use std::collections::HashMap;
use std::sync::Arc;

use chrono_tz::Tz;

use crate::decision::Verdict;
use crate::diagnostics::{suggestion, Diagnostic, SourceFile};
use crate::limits;
use crate::parse::ast::{
    self, AggregateFn, BinaryOp, ClauseKind, DurationUnit, ExprKind, OutcomeKind, RuleKind, Span, UnaryOp,
};
use crate::program::*;
use crate::value::{Duration, Money, RecordId, Ty, Value};

const BUILTIN_TYPES: [&str; 8] = ["bool", "int", "decimal", "money", "text", "date", "datetime", "duration"];
const FUNCTIONS: [&str; 14] = [
    "year",
    "month",
    "age",
    "days_between",
    "date",
    "hour",
    "weekday",
    "len",
    "lower",
    "abs",
    "min",
    "max",
    "amount",
    "currency",
];

/// The set-level tables a file's checker adds to.
pub(crate) struct Shared<'a> {
    pub(crate) schema: &'a mut Schema,
    pub(crate) ladder_keys: &'a mut Vec<(SmolStr, SmolStr)>,
    /// The file's list and calendar files, read when it loaded.
    pub(crate) files: &'a crate::refdata::RefFiles,
}

/// Checks one file and compiles it. Returns the policy when the file has no errors.
pub(crate) fn check_file(
    source: &Arc<SourceFile>,
    file: &ast::PolicyFile,
    digest: SmolStr,
    shared: Shared<'_>,
) -> (Option<Policy>, Vec<Diagnostic>) {
    let mut checker = Checker {
        source,
        schema: shared.schema,
        ladder_keys: shared.ladder_keys,
        diagnostics: Vec::new(),
        record_decls: HashMap::new(),
        records: HashMap::new(),
        resolving: Vec::new(),
        record_depths: HashMap::new(),
        too_deep_reported: false,
        actions: HashMap::new(),
        action_names: Vec::new(),
        used: std::collections::HashSet::new(),
        ladders: Vec::new(),
        files: shared.files,
        consts: HashMap::new(),
        periodic: None,
    };
    let policy = checker.file(file, digest);
    let failed = checker.diagnostics.iter().any(|d| d.severity() == crate::Severity::Error);
    (if failed { None } else { policy }, checker.diagnostics)
}

struct ActionInfo {
    name: String,
    type_id: TypeId,
    /// Declared fields: name → type (each has a slot once a rule reads it).
    fields: HashMap<String, Ty>,
    rm: Ty,
}

struct LetInfo {
    name: String,
    ty: Ty,
    span: Span,
    used: bool,
}

/// What bare names mean where an expression is checked.
#[derive(Clone, Copy)]
enum ItemScope<'s> {
    None,
    Actions(&'s ActionInfo),
    Breaches,
}

struct Scope<'s> {
    action: &'s ActionInfo,
    item: ItemScope<'s>,
    /// How many lets are visible (lets see only earlier lets).
    visible_lets: usize,
    evidence: Option<&'s mut Vec<SmolStr>>,
    /// Whether `now`/`today`/fields were read (for constant-`when` warnings).
    dynamic: bool,
}

struct Checker<'a> {
    source: &'a Arc<SourceFile>,
    schema: &'a mut Schema,
    ladder_keys: &'a mut Vec<(SmolStr, SmolStr)>,
    diagnostics: Vec<Diagnostic>,
    record_decls: HashMap<String, &'a ast::FieldsDecl>,
    records: HashMap<String, Option<RecordId>>,
    resolving: Vec<String>,
    /// How deep each resolved record nests (1 + its deepest field), to bound type nesting.
    record_depths: HashMap<String, usize>,
    /// Whether a record nested too deep was reported (one error says it; the rest follow).
    too_deep_reported: bool,
    actions: HashMap<String, Arc<ActionInfo>>,
    action_names: Vec<String>,
    /// What the rules read: `action x`, `field x.y` (an action's or a record's field), `record x`.
    used: std::collections::HashSet<String>,
    ladders: Vec<(Ladder, &'a ast::LadderDecl)>,
    files: &'a crate::refdata::RefFiles,
    /// `const` and `list` names: their value and type (`Ty::Error` for one with an error).
    consts: HashMap<String, consts::Named>,
    /// While a periodic duty is checked: its period and grace (`within period` reads them).
    periodic: Option<(Period, Duration)>,
}

impl<'a> Checker<'a> {
    fn error(&mut self, code: &'static str, message: impl Into<String>, span: Span) {
        self.diagnostics.push(Diagnostic::error(code, message).at(self.source, span));
    }

    fn report(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn warn(&mut self, code: &'static str, message: impl Into<String>, span: Span, help: &str) {
        let d = Diagnostic::warning(code, message).at(self.source, span).with_help(help);
        self.diagnostics.push(d);
    }

    fn help(&mut self, help: Option<String>) {
        if let (Some(h), Some(last)) = (help, self.diagnostics.pop()) {
            self.diagnostics.push(last.with_help(h));
        }
    }

    // ------------------------------------------------------------ file

    fn file(&mut self, file: &'a ast::PolicyFile, digest: SmolStr) -> Option<Policy> {
        let header = self.header(&file.header);
        self.named_values(file);
        for item in &file.items {
            if let ast::Item::Record(r) = item {
                if self.record_decls.contains_key(&r.name.name) {
                    self.duplicate("record", &r.name);
                } else {
                    self.record_decls.insert(r.name.name.clone(), r);
                }
            }
        }
        // In the order written, so that which record an error names does not depend on hashing.
        for item in &file.items {
            if let ast::Item::Record(r) = item {
                self.resolve_record(&r.name.name);
            }
        }
        for item in &file.items {
            if let ast::Item::Action(a) = item {
                self.action_decl(a);
            }
        }
        let policy_id: SmolStr = file.header.id.name.as_str().into();
        for item in &file.items {
            if let ast::Item::Ladder(l) = item {
                self.ladder_decl(&policy_id, l);
            }
        }
        let mut rules: Vec<Rule> = Vec::new();
        let mut seen: HashMap<String, Span> = HashMap::new();
        for item in &file.items {
            if let ast::Item::Rule(r) = item {
                if let Some(first) = seen.get(&r.id.name).cloned() {
                    self.duplicate_with(r.kind.keyword(), &r.id, first);
                    continue;
                }
                seen.insert(r.id.name.clone(), r.id.span.clone());
                if let Some(rule) = self.rule_decl(r) {
                    rules.push(rule);
                }
            }
        }
        // Unused declarations are noise next to errors (a rule with an error reads nothing).
        if !self.diagnostics.iter().any(|d| d.severity() == crate::Severity::Error) {
            self.unused(file);
        }
        let (version, effective, until, timezone, on_error) = header?;
        let mut by_type: Vec<Vec<(u32, u32)>> = Vec::new();
        for (ri, rule) in rules.iter().enumerate() {
            for (bi, body) in rule.bodies.iter().enumerate() {
                let t = body.action_type as usize;
                if by_type.len() <= t {
                    by_type.resize_with(t.saturating_add(1), Vec::new);
                }
                if let Some(entry) = by_type.get_mut(t) {
                    entry.push((u32::try_from(ri).unwrap_or(u32::MAX), u32::try_from(bi).unwrap_or(u32::MAX)));
                }
            }
        }
        Some(Policy {
            id: policy_id,
            version,
            digest,
            effective,
            until,
            timezone,
            on_error,
            rules,
            by_type,
            ladders: self.ladders.drain(..).map(|(l, _)| l).collect(),
            calendar: Arc::clone(&self.files.calendar),
        })
    }

    #[allow(clippy::type_complexity)]
    fn header(
        &mut self,
        h: &ast::Header,
    ) -> Option<(SmolStr, chrono::NaiveDate, Option<chrono::NaiveDate>, Tz, Verdict)> {
        let span = h.id.span.clone();
        let version = self.exactly_one(&h.versions, "version", &span, |t| t.span.clone());
        let effective = self.exactly_one(&h.effective, "effective", &span, |e| e.1.clone());
        self.at_most_one(&h.until, "until", |u| u.1.clone());
        self.at_most_one(&h.timezones, "timezone", |t| t.span.clone());
        self.at_most_one(&h.on_error, "on error", |o| o.1.clone());
        self.at_most_one(&h.calendars, "calendar", |t| t.span.clone());
        let timezone = match h.timezones.first() {
            None => Some(Tz::UTC),
            Some(t) => match t.value.parse::<Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
                    let help = suggestion(&t.value, names)
                        .unwrap_or_else(|| "use an IANA name such as `Asia/Shanghai` or `Europe/London`".into());
                    self.error("P0108", format!("unknown time zone `{}`", t.value), t.span.clone());
                    self.help(Some(help));
                    None
                }
            },
        };
        let until = h.until.first().map(|u| u.0);
        if let (Some(e), Some((u, span))) = (effective, h.until.first()) {
            if *u <= e.0 {
                self.error("P0305", "`until` must be later than `effective`", span.clone());
            }
        }
        let on_error = match h.on_error.first() {
            Some((ast::OnError::Deny, _)) => Verdict::Deny,
            _ => Verdict::Review,
        };
        Some((version?.value.as_str().into(), effective?.0, until, timezone?, on_error))
    }

    fn exactly_one<'t, T>(&mut self, list: &'t [T], what: &str, at: &Span, span: impl Fn(&T) -> Span) -> Option<&'t T> {
        if list.is_empty() {
            self.error("P0307", format!("the policy has no `{what}`"), at.clone());
            self.help(Some(format!("add `{what}` to the header, as in `policy p version \"1\" effective 2026-01-01`")));
        }
        self.at_most_one(list, what, span);
        list.first()
    }

    fn at_most_one<T>(&mut self, list: &[T], what: &str, span: impl Fn(&T) -> Span) {
        if let Some(second) = list.get(1) {
            self.error("P0308", format!("`{what}` is given more than once"), span(second));
            self.help(Some(format!("keep one `{what}`")));
        }
    }
}

/// A rule `on` several types is checked once per type; keep each message once.
fn dedup_diagnostics(list: &mut Vec<Diagnostic>, from: usize) {
    let mut seen: Vec<Diagnostic> = Vec::new();
    let tail = list.split_off(from.min(list.len()));
    for d in tail {
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
    list.extend(seen);
}

fn evidence_slot(evidence: &mut Vec<SmolStr>, label: &str) -> u32 {
    let index = evidence.iter().position(|l| **l == *label).unwrap_or_else(|| {
        evidence.push(label.into());
        evidence.len().saturating_sub(1)
    });
    u32::try_from(index).unwrap_or(u32::MAX)
}

fn normalise_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
