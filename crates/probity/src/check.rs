//! Names, types and structure: one parsed file → its compiled [`Policy`], with every problem
//! reported at once.

use smol_str::SmolStr;
use std::collections::HashMap;
use std::sync::Arc;

use chrono_tz::Tz;

use crate::ast::{
    self, AggregateFn, BinaryOp, ClauseKind, DurationUnit, ExprKind, OutcomeKind, RuleKind, Span, UnaryOp,
};
use crate::decision::Verdict;
use crate::diagnostics::{suggestion, Diagnostic, SourceFile};
use crate::limits;
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
        })
    }

    /// Warnings for declarations nothing reads.
    fn unused(&mut self, file: &ast::PolicyFile) {
        for item in &file.items {
            let (kind, decl) = match item {
                ast::Item::Action(a) => ("action", a),
                ast::Item::Record(r) => ("record", r),
                _ => continue,
            };
            let name = &decl.name.name;
            if name != "rm" && !self.used.contains(&format!("{kind} {name}")) {
                let help = match kind {
                    "action" => {
                        "no rule is `on` it, and no aggregate or `fulfilled by` reads it: remove it, or write the rule"
                    }
                    _ => "no field has this type: remove it, or use it as a field's type",
                };
                self.warn("W0005", format!("{kind} `{name}` is never used"), decl.name.span.clone(), help);
                continue;
            }
            for field in &decl.fields {
                if !self.used.contains(&format!("field {name}.{}", field.name.name)) {
                    self.warn(
                        "W0006",
                        format!("field `{}` of {kind} `{name}` is never read", field.name.name),
                        field.name.span.clone(),
                        "declare only what a rule, message or aggregate reads (unknown input fields are ignored)",
                    );
                }
            }
        }
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

    fn duplicate(&mut self, kind: &str, id: &ast::Ident) {
        self.error("P0302", format!("{kind} `{}` is declared twice", id.name), id.span.clone());
        self.help(Some("give each declaration its own name".into()));
    }

    fn duplicate_with(&mut self, kind: &str, id: &ast::Ident, first: Span) {
        let d = Diagnostic::error("P0302", format!("`{}` is defined twice", id.name))
            .at(self.source, id.span.clone())
            .with_label(format!("second {kind} named `{}`", id.name))
            .with_related("first defined here", self.source, first)
            .with_help("rules, conflicts and duties share one namespace: rename one of them");
        self.report(d);
    }

    // ------------------------------------------------------------ types

    fn resolve_record(&mut self, name: &str) -> Option<RecordId> {
        if let Some(r) = self.records.get(name) {
            return *r;
        }
        let decl = self.record_decls.get(name).copied();
        let builtin_rm = name == "rm";
        if decl.is_none() && !builtin_rm {
            return None;
        }
        if self.resolving.iter().any(|n| n == name) {
            if let Some(d) = decl {
                self.error("P0110", format!("record `{name}` contains itself"), d.name.span.clone());
                self.help(Some("a record cannot hold itself, directly or through another record".into()));
            }
            self.records.insert(name.to_string(), None);
            return None;
        }
        // A chain of records inside records longer than the limit: stop before recursing
        // further. The outermost record is the one too deep (the one here may be fine, reached
        // from a shorter chain), so it is named and this one is not remembered as failed.
        if self.resolving.len() >= limits::MAX_TYPE_NESTING {
            let outer = self.resolving.first().and_then(|n| self.record_decls.get(n)).map(|d| d.name.clone());
            if let Some(outer) = outer {
                self.record_too_deep(&outer);
            }
            return None;
        }
        self.resolving.push(name.to_string());
        let mut fields: Vec<(SmolStr, Ty, bool)> = Vec::new();
        if builtin_rm {
            fields.push(("id".into(), Ty::Text, false));
        }
        let mut ok = true;
        for field in decl.map(|d| d.fields.as_slice()).unwrap_or(&[]) {
            if fields.iter().any(|(n, ..)| **n == *field.name.name) {
                let what = if builtin_rm && field.name.name == "id" { "is built in" } else { "is declared twice" };
                self.error("P0302", format!("field `{}` {what}", field.name.name), field.name.span.clone());
                continue;
            }
            match self.type_expr(&field.ty) {
                Some(ty) => fields.push((field.name.name.as_str().into(), ty, field.ty.optional)),
                None => ok = false,
            }
        }
        self.resolving.pop();
        let depth = decl
            .map(|d| d.fields.iter().map(|f| self.nesting(&f.ty)).max().unwrap_or(0))
            .unwrap_or(0)
            .saturating_add(1);
        if ok && depth > limits::MAX_TYPE_NESTING {
            if let Some(d) = decl {
                self.record_too_deep(&d.name);
            }
            ok = false;
        }
        self.record_depths.insert(name.to_string(), depth);
        let id = ok.then(|| self.schema.intern_record(RecordType { name: name.into(), fields }));
        self.records.insert(name.to_string(), id);
        id
    }

    /// How many levels a type nests: each `set of`, `list of` and record is one.
    fn nesting(&self, t: &ast::TypeExpr) -> usize {
        match &t.kind {
            ast::TypeKind::Set(e) | ast::TypeKind::List(e) => self.nesting(e).saturating_add(1),
            ast::TypeKind::Enum(_) | ast::TypeKind::Signed(_) => 0,
            ast::TypeKind::Named(n) => self.record_depths.get(&n.name).copied().unwrap_or(0),
        }
    }

    fn record_too_deep(&mut self, name: &ast::Ident) {
        if std::mem::replace(&mut self.too_deep_reported, true) {
            return;
        }
        self.error(
            "P0011",
            format!("record `{}` nests more than {} levels deep", name.name, limits::MAX_TYPE_NESTING),
            name.span.clone(),
        );
        self.help(Some(format!(
            "each `set of`, `list of` and record inside a record is a level; at most {} are allowed: \
             flatten the records",
            limits::MAX_TYPE_NESTING
        )));
    }

    fn type_expr(&mut self, t: &ast::TypeExpr) -> Option<Ty> {
        match &t.kind {
            ast::TypeKind::Set(e) => self.type_expr(e).map(|e| Ty::Set(Box::new(e))),
            ast::TypeKind::List(e) => self.type_expr(e).map(|e| Ty::List(Box::new(e))),
            ast::TypeKind::Enum(members) => {
                let mut names: Vec<SmolStr> = Vec::with_capacity(members.len());
                let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
                for m in members {
                    if !seen.insert(m.name.as_str()) {
                        self.error("P0302", format!("enum member `{}` is listed twice", m.name), m.span.clone());
                    }
                    names.push(m.name.as_str().into());
                }
                Some(Ty::Enum(self.schema.intern_enum(names)))
            }
            ast::TypeKind::Signed(n) if n.name == "money" => Some(Ty::SignedMoney),
            ast::TypeKind::Signed(n) => {
                self.error("P0107", format!("unknown type `signed {}`", n.name), n.span.clone());
                self.help(Some("only money may be declared signed: `signed money` allows negative amounts".into()));
                None
            }
            ast::TypeKind::Named(n) => Some(match n.name.as_str() {
                "bool" => Ty::Bool,
                "int" => Ty::Int,
                "decimal" => Ty::Decimal,
                "money" => Ty::Money,
                "text" => Ty::Text,
                "date" => Ty::Date,
                "datetime" => Ty::DateTime,
                "duration" => Ty::Duration,
                other => match self.use_record(other) {
                    Some(id) => Ty::Record(id),
                    // A declared record that failed has its own error.
                    None if self.records.contains_key(other) || self.record_decls.contains_key(other) => return None,
                    None => {
                        let candidates: Vec<String> = BUILTIN_TYPES
                            .iter()
                            .map(|s| s.to_string())
                            .chain(self.record_decls.keys().cloned())
                            .collect();
                        let help = suggestion(other, candidates.iter().map(String::as_str)).unwrap_or_else(|| {
                            format!("declare it with `record {other} {{ … }}`, or use one of the built-in types")
                        });
                        self.error("P0107", format!("unknown type `{other}`"), n.span.clone());
                        self.help(Some(help));
                        return None;
                    }
                },
            }),
        }
    }

    /// Resolves a record type named in a field declaration, noting that it is used.
    fn use_record(&mut self, name: &str) -> Option<RecordId> {
        self.used.insert(format!("record {name}"));
        self.resolve_record(name)
    }

    fn rm_type(&mut self) -> Ty {
        match self.resolve_record("rm") {
            Some(id) => Ty::Record(id),
            None => Ty::Error,
        }
    }

    fn action_decl(&mut self, a: &ast::FieldsDecl) {
        if self.actions.contains_key(&a.name.name) {
            self.duplicate("action", &a.name);
            return;
        }
        let type_id = self.schema.action_type(&a.name.name);
        let rm = self.rm_type();
        let mut fields = HashMap::new();
        for f in &a.fields {
            if matches!(f.name.name.as_str(), "id" | "at" | "rm") {
                self.error("P0302", format!("`{}` is built into every action", f.name.name), f.name.span.clone());
                self.help(Some(
                    "every action has `id`, `at` and `rm`; declare `record rm { … }` to add RM fields".into(),
                ));
                continue;
            }
            if fields.contains_key(&f.name.name) {
                self.error("P0302", format!("field `{}` is declared twice", f.name.name), f.name.span.clone());
                continue;
            }
            // A field whose type has an error is still declared, so that reading it adds no
            // second error; the policy does not load either way.
            let mut ty = self.type_expr(&f.ty).unwrap_or(Ty::Error);
            if ty != Ty::Error && self.nesting(&f.ty) > limits::MAX_TYPE_NESTING {
                let d = crate::parse::type_too_deep(self.source, f.ty.span.clone());
                self.report(d);
                ty = Ty::Error;
            }
            fields.insert(f.name.name.clone(), ty);
        }
        self.action_names.push(a.name.name.clone());
        self.actions
            .insert(a.name.name.clone(), Arc::new(ActionInfo { name: a.name.name.clone(), type_id, fields, rm }));
    }

    fn unknown_action(&mut self, name: &ast::Ident) {
        let help = suggestion(&name.name, self.action_names.iter().map(String::as_str))
            .unwrap_or_else(|| format!("declare it with `action {} {{ … }}`", name.name));
        self.error("P0103", format!("unknown action type `{}`", name.name), name.span.clone());
        self.help(Some(help));
    }

    // ------------------------------------------------------------ ladders

    fn duration(&mut self, d: &ast::DurationLit) -> Duration {
        let span = d.span.0..d.span.1;
        let result = match d.unit {
            DurationUnit::Month => i32::try_from(d.amount).ok().map(|m| Duration { months: m, seconds: 0 }),
            DurationUnit::Year => {
                i32::try_from(d.amount).ok().and_then(|y| y.checked_mul(12)).map(|m| Duration { months: m, seconds: 0 })
            }
            unit => {
                let factor = match unit {
                    DurationUnit::Minute => 60,
                    DurationUnit::Hour => 3_600,
                    DurationUnit::Day => 86_400,
                    _ => 604_800,
                };
                d.amount.checked_mul(factor).map(|s| Duration { months: 0, seconds: s })
            }
        };
        // Keep durations well inside chrono's range (about 260,000 years).
        match result {
            Some(dur) if dur.months <= 12 * 10_000 && dur.seconds <= 10_000 * 366 * 86_400 => dur,
            _ => {
                self.error("P0007", "duration out of range", span);
                self.help(Some("durations are limited to 10,000 years".into()));
                Duration::default()
            }
        }
    }

    fn ladder_decl(&mut self, policy: &SmolStr, l: &'a ast::LadderDecl) {
        if self.ladders.iter().any(|(x, _)| *x.id == *l.id.name) {
            self.duplicate("ladder", &l.id);
            return;
        }
        let window = match l.windows.first() {
            Some(w) => self.duration(w),
            None => {
                self.error("P0307", format!("ladder `{}` has no `window`", l.id.name), l.id.span.clone());
                self.help(Some("add a window such as `window 12 months`".into()));
                Duration::default()
            }
        };
        if let Some(second) = l.windows.get(1) {
            self.error("P0308", "`window` is given more than once", second.span.0..second.span.1);
        }
        let mut points: Vec<(SmolStr, i64)> = Vec::new();
        for (name, p, span) in &l.points {
            if points.iter().any(|(n, _)| **n == *name.name) {
                self.error("P0302", format!("severity `{}` is given points twice", name.name), name.span.clone());
            } else if *p < 0 {
                self.error("P0201", "points cannot be negative", span.clone());
            } else {
                points.push((name.name.as_str().into(), *p));
            }
        }
        if l.points.is_empty() {
            self.error("P0307", format!("ladder `{}` has no `points`", l.id.name), l.id.span.clone());
            self.help(Some("list the severities and their points, as in `points minor 1, major 3`".into()));
        }
        let max_points = points.iter().map(|(_, p)| *p).max().unwrap_or(0);
        for (threshold, label, span) in &l.steps {
            if *threshold <= 0 {
                self.warn(
                    "W0009",
                    format!("step \"{}\" is reached without any breach", label.value),
                    span.clone(),
                    "step thresholds count points: start at 1 or more",
                );
            } else if max_points == 0 && !points.is_empty() {
                self.warn(
                    "W0009",
                    format!("step \"{}\" can never be reached", label.value),
                    span.clone(),
                    "every severity gives 0 points: give the severities points",
                );
            }
        }
        let mut steps: Vec<(i64, SmolStr)> = Vec::new();
        let mut reported = false;
        for (threshold, label, span) in &l.steps {
            if let Some((prev, _)) = steps.last() {
                if *threshold <= *prev && !reported {
                    reported = true;
                    let d = Diagnostic::error("P0303", "ladder steps must ascend")
                        .at(self.source, span.clone())
                        .with_label(format!("step {threshold} comes after step {prev}"))
                        .with_help("list steps from the lowest threshold to the highest, each higher than the last");
                    self.report(d);
                }
            }
            steps.push((*threshold, label.value.as_str().into()));
        }
        let key = (policy.clone(), SmolStr::from(l.id.name.as_str()));
        let index = self.ladder_keys.iter().position(|k| *k == key).unwrap_or_else(|| {
            self.ladder_keys.push(key);
            self.ladder_keys.len().saturating_sub(1)
        });
        let ladder = Ladder {
            key: u32::try_from(index).unwrap_or(u32::MAX),
            id: l.id.name.as_str().into(),
            window,
            points,
            steps,
        };
        self.ladders.push((ladder, l));
    }

    // ------------------------------------------------------------ rules

    fn rule_decl(&mut self, r: &ast::RuleDecl) -> Option<Rule> {
        let kind = r.kind;
        let mut cites = Vec::new();
        let mut on: Vec<&ast::Ident> = Vec::new();
        let mut lets: Vec<(&ast::Ident, &ast::Expr)> = Vec::new();
        let mut when = None;
        let mut unless = None;
        let mut then = None;
        let mut require = None;
        let mut due = None;
        let mut fulfilled = None;
        let mut otherwise = None;
        let mut messages = Vec::new();
        let mut once: HashMap<&'static str, ()> = HashMap::new();
        for clause in &r.clauses {
            let keyword = clause.kind.keyword();
            let repeatable = matches!(clause.kind, ClauseKind::Cite(_) | ClauseKind::Let(..) | ClauseKind::Message(..));
            if !repeatable && once.insert(keyword, ()).is_some() {
                self.error("P0308", format!("`{keyword}` is given more than once"), clause.span.clone());
                self.help(Some(format!("a {} takes one `{keyword}` clause; combine them with `and`", kind.keyword())));
                continue;
            }
            let duty_only = matches!(
                clause.kind,
                ClauseKind::Require(_) | ClauseKind::Due(_) | ClauseKind::FulfilledBy(..) | ClauseKind::Otherwise(_)
            );
            if duty_only && kind != RuleKind::Duty {
                self.error("P0308", format!("a {} cannot have `{keyword}`", kind.keyword()), clause.span.clone());
                self.help(Some(
                    "`require`, `due`, `fulfilled by` and `otherwise` belong to duties; write `duty` instead".into(),
                ));
                continue;
            }
            if matches!(clause.kind, ClauseKind::Then(_)) && kind == RuleKind::Duty {
                self.error("P0308", "a duty cannot have `then`", clause.span.clone());
                self.help(Some("a duty's outcomes when it fails go in `otherwise`".into()));
                continue;
            }
            match &clause.kind {
                ClauseKind::Cite(t) => cites.push(SmolStr::from(t.value.as_str())),
                ClauseKind::On(types) => on.extend(types),
                ClauseKind::Let(name, e) => lets.push((name, e)),
                ClauseKind::When(e) => when = Some(e),
                ClauseKind::Unless(e) => unless = Some(e),
                ClauseKind::Then(o) => then = Some((o, clause.span.clone())),
                ClauseKind::Require(e) => require = Some(e),
                ClauseKind::Due(d) => due = Some((d, clause.span.clone())),
                ClauseKind::FulfilledBy(t, e) => fulfilled = Some((t, e.as_ref(), clause.span.clone())),
                ClauseKind::Otherwise(o) => otherwise = Some((o, clause.span.clone())),
                ClauseKind::Message(lang, m) => messages.push((lang.as_ref(), m)),
            }
        }
        if cites.is_empty() {
            self.warn(
                "W0001",
                format!("{} `{}` has no `cite`", kind.keyword(), r.id.name),
                r.id.span.clone(),
                "cite the regulation or internal rule it enforces, as in `cite \"Gift policy 4.2\"`",
            );
        }
        if on.is_empty() {
            self.error("P0307", format!("{} `{}` has no `on` clause", kind.keyword(), r.id.name), r.id.span.clone());
            self.help(Some("say which action types it checks, as in `on product_sale`".into()));
        }
        let outcomes = match kind {
            RuleKind::Duty => match otherwise {
                Some((o, _)) => self.outcomes(o),
                None => Outcomes {
                    keywords: Arc::from([SmolStr::new_static(Verdict::Review.as_str())]),
                    verdict: Some(Verdict::Review),
                    ..Outcomes::default()
                },
            },
            _ => match then {
                Some((o, _)) => self.outcomes(o),
                None => {
                    self.error(
                        "P0307",
                        format!("{} `{}` has no `then` clause", kind.keyword(), r.id.name),
                        r.id.span.clone(),
                    );
                    self.help(Some("say what happens when it fires, as in `then review`".into()));
                    Outcomes::default()
                }
            },
        };
        let mut deadline = None;
        if kind == RuleKind::Duty {
            match (require, due, &fulfilled) {
                (Some(_), None, None) => {}
                (None, Some((d, _)), Some((t, _, _))) => {
                    let within = self.duration(d);
                    match self.actions.get(&t.name) {
                        Some(info) => deadline = Some(Deadline { within, fulfilled_by: info.type_id }),
                        None => self.unknown_action(t),
                    }
                }
                (None, Some((_, span)), None) => {
                    self.error("P0307", "`due within` needs `fulfilled by`", span);
                    self.help(Some("say which later action meets the duty, as in `fulfilled by gift_registered where gift = action.id`".into()));
                }
                (None, None, Some((_, _, span))) => {
                    self.error("P0307", "`fulfilled by` needs `due within`", span.clone());
                    self.help(Some("give the deadline, as in `due within 30 days`".into()));
                }
                (None, None, None) => {
                    self.error(
                        "P0307",
                        format!("duty `{}` has neither `require` nor `due within`", r.id.name),
                        r.id.span.clone(),
                    );
                    self.help(Some(
                        "a duty either requires something now (`require …`) or later (`due within … fulfilled by …`)"
                            .into(),
                    ));
                }
                (Some(_), _, _) => {
                    self.error("P0308", "a duty takes `require` or `due within`, not both", r.id.span.clone());
                }
            }
        }
        let mut bodies = Vec::new();
        let mut seen_types: Vec<&str> = Vec::new();
        let before = self.diagnostics.len();
        for t in on {
            if seen_types.contains(&t.name.as_str()) {
                continue;
            }
            seen_types.push(&t.name);
            self.used.insert(format!("action {}", t.name));
            let Some(info) = self.actions.get(&t.name).cloned() else {
                self.unknown_action(t);
                continue;
            };
            let later = fulfilled.as_ref().and_then(|(ft, _, _)| self.actions.get(&ft.name).cloned());
            if let Some(later) = &later {
                self.used.insert(format!("action {}", later.name));
            }
            let predicate = fulfilled.as_ref().and_then(|f| f.1);
            let body = self.body(&info, later.as_deref(), &lets, when, unless, require, predicate, &messages);
            bodies.push(body);
        }
        dedup_diagnostics(&mut self.diagnostics, before);
        Some(Rule {
            id: r.id.name.as_str().into(),
            kind,
            title: r.title.as_ref().map(|t| t.value.as_str().into()),
            cites: cites.into(),
            outcomes,
            deadline,
            bodies,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn body(
        &mut self,
        action: &ActionInfo,
        fulfilled: Option<&ActionInfo>,
        lets: &[(&ast::Ident, &ast::Expr)],
        when: Option<&ast::Expr>,
        unless: Option<&ast::Expr>,
        require: Option<&ast::Expr>,
        fulfilment: Option<&ast::Expr>,
        messages: &[(Option<&ast::Ident>, &ast::MessageText)],
    ) -> Body {
        let mut evidence: Vec<SmolStr> = Vec::new();
        let mut let_infos: Vec<LetInfo> = Vec::new();
        let mut compiled_lets = Vec::new();
        let mut let_evidence = Vec::new();
        for (i, (name, e)) in lets.iter().enumerate() {
            if let_infos.iter().any(|l| l.name == name.name) {
                self.error("P0302", format!("`let {}` is defined twice", name.name), name.span.clone());
            }
            // A let is evidence under its own name, in source order.
            let_evidence.push(evidence_slot(&mut evidence, &name.name));
            let mut scope =
                Scope { action, item: ItemScope::None, visible_lets: i, evidence: Some(&mut evidence), dynamic: false };
            let (ir, ty) = self.expr(e, &mut scope, &mut let_infos);
            compiled_lets.push(ir);
            let_infos.push(LetInfo { name: name.name.clone(), ty, span: name.span.clone(), used: false });
        }
        let all = let_infos.len();
        let condition = |this: &mut Self,
                         e: Option<&ast::Expr>,
                         what: &str,
                         evidence: &mut Vec<SmolStr>,
                         let_infos: &mut Vec<LetInfo>| {
            e.map(|e| {
                let mut scope = Scope {
                    action,
                    item: ItemScope::None,
                    visible_lets: all,
                    evidence: Some(evidence),
                    dynamic: false,
                };
                let (ir, ty) = this.expr(e, &mut scope, let_infos);
                this.expect_bool(&ty, &e.span, what);
                (ir, scope.dynamic)
            })
        };
        let before_when = self.diagnostics.len();
        let when_ir = condition(self, when, "`when`", &mut evidence, &mut let_infos);
        let when_has_errors =
            self.diagnostics.get(before_when..).unwrap_or(&[]).iter().any(|d| d.severity() == crate::Severity::Error);
        let before_unless = self.diagnostics.len();
        let unless_ir = condition(self, unless, "`unless`", &mut evidence, &mut let_infos);
        let unless_clean = !self
            .diagnostics
            .get(before_unless..)
            .unwrap_or(&[])
            .iter()
            .any(|d| d.severity() == crate::Severity::Error);
        if let (Some((ir, false)), Some(e), true) = (&unless_ir, unless, unless_clean) {
            let (message, help) = match ir {
                Expr::Const(Value::Bool(true)) => {
                    ("`unless` always holds: the rule can never fire", "fix the exception, or remove the rule")
                }
                Expr::Const(Value::Bool(false)) => ("`unless` never holds", "remove the `unless` clause"),
                _ => (
                    "`unless` does not depend on the action: it always holds or never does",
                    "an exception should read the action, its RM or its history",
                ),
            };
            self.warn("W0008", message, e.span.clone(), help);
        }
        let require_ir = condition(self, require, "`require`", &mut evidence, &mut let_infos);
        if let (Some((ir, false)), Some(e), false) = (&when_ir, when, when_has_errors) {
            if let Expr::Const(Value::Bool(b)) = ir {
                self.warn(
                    "W0003",
                    format!("`when` is always {b}"),
                    e.span.clone(),
                    if *b {
                        "drop the `when` clause: a rule without one always applies"
                    } else {
                        "the rule can never fire; remove it or fix the condition"
                    },
                );
            } else {
                self.warn(
                    "W0003",
                    "`when` does not depend on the action",
                    e.span.clone(),
                    "a constant condition makes the rule fire always or never",
                );
            }
        }
        let fulfilment_ir = match (fulfilled, fulfilment) {
            (Some(later), Some(e)) => {
                let mut scope =
                    Scope { action, item: ItemScope::Actions(later), visible_lets: 0, evidence: None, dynamic: false };
                let (ir, ty) = self.expr(e, &mut scope, &mut Vec::new());
                self.expect_bool(&ty, &e.span, "`fulfilled by … where`");
                Some(ir)
            }
            _ => None,
        };
        let mut compiled_messages = Vec::new();
        for (lang, m) in messages {
            let mut parts = Vec::new();
            for part in &m.parts {
                match part {
                    ast::MessagePart::Literal(s) => parts.push(MessagePart::Literal(s.as_str().into())),
                    ast::MessagePart::Placeholder(path, span) => {
                        if let Some(ir) = self.placeholder(action, path, span, &mut let_infos) {
                            parts.push(MessagePart::Value(ir));
                        }
                    }
                }
            }
            compiled_messages.push(Message { lang: lang.map(|l| l.name.as_str().into()), parts });
        }
        for l in &let_infos {
            if !l.used {
                self.warn(
                    "W0002",
                    format!("`let {}` is never used", l.name),
                    l.span.clone(),
                    "remove it, or use it in a clause or a message",
                );
            }
        }
        Body {
            action_type: action.type_id,
            lets: compiled_lets,
            when: when_ir.map(|(ir, _)| ir),
            unless: unless_ir.map(|(ir, _)| ir),
            require: require_ir.map(|(ir, _)| ir),
            fulfilment: fulfilment_ir,
            messages: compiled_messages,
            evidence,
            let_evidence,
            sources: ClauseSources {
                when: when.map(|e| self.source_text(e)),
                unless: unless.map(|e| self.source_text(e)),
                require: require.map(|e| self.source_text(e)),
            },
        }
    }

    fn source_text(&self, e: &ast::Expr) -> SmolStr {
        normalise_space(self.source.text().get(e.span.clone()).unwrap_or("")).into()
    }

    fn placeholder(
        &mut self,
        action: &ActionInfo,
        path: &[ast::Ident],
        span: &Span,
        lets: &mut [LetInfo],
    ) -> Option<Expr> {
        let first = path.first()?;
        if path.len() == 1 {
            if let Some((i, l)) = lets.iter_mut().enumerate().find(|(_, l)| l.name == first.name) {
                l.used = true;
                return Some(Expr::Let(u32::try_from(i).unwrap_or(u32::MAX)));
            }
        }
        if first.name == "action" || first.name == "rm" {
            let before = self.diagnostics.len();
            let resolved = self.action_path(action, Subject::Action, path, None);
            if let Some((ir, _)) = resolved {
                return Some(ir);
            }
            // Re-point the error at the placeholder as a whole.
            self.diagnostics.truncate(before);
        }
        let text: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
        let text = text.join(".");
        let mut candidates: Vec<String> = lets.iter().map(|l| l.name.clone()).collect();
        candidates.extend(action.fields.keys().map(|f| format!("action.{f}")));
        candidates.extend(["action.id".to_string(), "action.at".to_string()]);
        let help = suggestion(&text, candidates.iter().map(String::as_str))
            .unwrap_or_else(|| "a placeholder names a field (`{action.amount}`) or a `let`".into());
        self.error("P0304", format!("placeholder `{{{text}}}` names nothing"), span.clone());
        self.help(Some(help));
        None
    }

    fn outcomes(&mut self, list: &[ast::Outcome]) -> Outcomes {
        let mut out = Outcomes::default();
        let mut keywords: Vec<SmolStr> = Vec::new();
        for o in list {
            match &o.kind {
                OutcomeKind::Deny => {
                    keywords.push(SmolStr::new_static(Verdict::Deny.as_str()));
                    out.verdict = Some(Verdict::Deny);
                }
                OutcomeKind::Review => {
                    keywords.push(SmolStr::new_static(Verdict::Review.as_str()));
                    out.verdict = out.verdict.max(Some(Verdict::Review));
                }
                OutcomeKind::Warn => keywords.push(SmolStr::new_static("warn")),
                OutcomeKind::Escalate(team) => {
                    keywords.push(SmolStr::new_static("escalate"));
                    out.escalations.push(team.value.as_str().into());
                }
                OutcomeKind::Breach { severity, ladder } => {
                    keywords.push(SmolStr::new_static("breach"));
                    if out.breach.is_some() {
                        self.error("P0308", "a rule records at most one `breach`", o.span.clone());
                        continue;
                    }
                    out.breach = self.breach(severity, ladder.as_ref(), &o.span);
                }
            }
        }
        out.keywords = keywords.into();
        out
    }

    fn breach(&mut self, severity: &ast::Ident, ladder: Option<&ast::Ident>, span: &Span) -> Option<BreachOutcome> {
        let index = match ladder {
            Some(name) => match self.ladders.iter().position(|(l, _)| *l.id == *name.name) {
                Some(i) => i,
                None => {
                    let names: Vec<String> = self.ladders.iter().map(|(l, _)| l.id.to_string()).collect();
                    let help = suggestion(&name.name, names.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("declare it with `ladder {} window … points … step …`", name.name));
                    self.error("P0106", format!("unknown ladder `{}`", name.name), name.span.clone());
                    self.help(Some(help));
                    return None;
                }
            },
            None => match self.ladders.len() {
                1 => 0,
                0 => {
                    self.error("P0306", "`breach` needs a ladder, and this policy declares none", span.clone());
                    self.help(Some("declare a `ladder` with the severities' points".into()));
                    return None;
                }
                _ => {
                    let names: Vec<String> = self.ladders.iter().map(|(l, _)| format!("`{}`", l.id)).collect();
                    self.error("P0306", "this policy has several ladders: say which one", span.clone());
                    self.help(Some(format!(
                        "write `breach {} in <ladder>`; the ladders are {}",
                        severity.name,
                        names.join(", ")
                    )));
                    return None;
                }
            },
        };
        let (ladder, _) = self.ladders.get(index)?;
        if ladder.points_of(&severity.name).is_none() {
            let names: Vec<String> = ladder.points.iter().map(|(s, _)| s.to_string()).collect();
            let ladder_id = ladder.id.clone();
            let help = suggestion(&severity.name, names.iter().map(String::as_str)).unwrap_or_else(|| {
                format!(
                    "ladder `{ladder_id}` gives points for {}",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                )
            });
            self.error("P0105", format!("unknown severity `{}`", severity.name), severity.span.clone());
            self.help(Some(help));
            return None;
        }
        Some(BreachOutcome {
            severity: severity.name.as_str().into(),
            ladder: u32::try_from(index).unwrap_or(u32::MAX),
        })
    }

    // ------------------------------------------------------------ expressions

    fn expect_bool(&mut self, ty: &Ty, span: &Span, what: &str) {
        if !matches!(ty, Ty::Bool | Ty::Error) {
            self.error("P0201", format!("{what} needs a condition, found {}", self.describe(ty)), span.clone());
            self.help(Some("compare values to make a condition, as in `action.amount > 500 CNY`".into()));
        }
    }

    fn describe(&self, ty: &Ty) -> String {
        match ty {
            Ty::Bool => "a condition (bool)".into(),
            Ty::Int => "a number (int)".into(),
            Ty::Decimal => "a number (decimal)".into(),
            Ty::Money => "money".into(),
            Ty::SignedMoney => "signed money".into(),
            Ty::Text => "text".into(),
            Ty::Date => "a date".into(),
            Ty::DateTime => "a datetime".into(),
            Ty::Duration => "a duration".into(),
            Ty::Enum(id) => {
                let members = self
                    .schema
                    .enums
                    .get(*id as usize)
                    .map(|m| m.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "));
                format!("one of {}", members.unwrap_or_default())
            }
            Ty::Set(t) => format!("a set of {}", self.describe(t)),
            Ty::List(t) => format!("a list of {}", self.describe(t)),
            Ty::Record(id) => {
                self.schema.records.get(*id as usize).map_or("a record".into(), |r| format!("a `{}` record", r.name))
            }
            Ty::Nothing => "an empty set".into(),
            Ty::Error => "an invalid value".into(),
        }
    }

    fn type_error(&mut self, message: String, span: &Span, help: &str) -> (Expr, Ty) {
        self.error("P0201", message, span.clone());
        self.help(Some(help.to_string()));
        (Expr::Const(Value::Missing), Ty::Error)
    }

    fn expr(&mut self, e: &ast::Expr, scope: &mut Scope<'_>, lets: &mut Vec<LetInfo>) -> (Expr, Ty) {
        match &e.kind {
            ExprKind::Int(i) => (Expr::Const(Value::Int(*i)), Ty::Int),
            ExprKind::Decimal(d) => (Expr::Const(Value::Decimal(*d)), Ty::Decimal),
            ExprKind::Bool(b) => (Expr::Const(Value::Bool(*b)), Ty::Bool),
            ExprKind::Text(t) => (Expr::Const(Value::Text(t.as_str().into())), Ty::Text),
            ExprKind::Date(d) => (Expr::Const(Value::Date(*d)), Ty::Date),
            ExprKind::DateTime(t) => (Expr::Const(Value::DateTime(*t)), Ty::DateTime),
            ExprKind::Duration(d) => (Expr::Const(Value::Duration(self.duration(d))), Ty::Duration),
            ExprKind::Money(amount, code) => match crate::action::currency(&code.name) {
                Some(c) => (Expr::Const(Value::Money(Money { amount: *amount, currency: Some(c) })), Ty::Money),
                None => {
                    self.error("P0109", format!("unknown currency `{}`", code.name), code.span.clone());
                    self.help(Some("use an ISO 4217 code such as `CNY`, `USD`, `EUR` or `GBP`".into()));
                    (Expr::Const(Value::Missing), Ty::Error)
                }
            },
            ExprKind::Now => {
                scope.dynamic = true;
                (Expr::Now, Ty::DateTime)
            }
            ExprKind::Today => {
                scope.dynamic = true;
                (Expr::Today, Ty::Date)
            }
            ExprKind::Paren(inner) => self.expr(inner, scope, lets),
            ExprKind::Set(items) => self.set_literal(items, e, scope, lets),
            ExprKind::Path(path) => self.path(path, &e.span, scope, lets),
            ExprKind::Unary(op, inner) => {
                let (ir, ty) = self.expr(inner, scope, lets);
                match op {
                    UnaryOp::Not => {
                        self.expect_bool(&ty, &inner.span, "`not`");
                        (Expr::Not(Box::new(ir)), Ty::Bool)
                    }
                    UnaryOp::Neg => match ty {
                        Ty::Int | Ty::Decimal | Ty::Money | Ty::Error => (Expr::Neg(Box::new(ir)), ty),
                        other => {
                            let d = self.describe(&other);
                            self.type_error(format!("cannot negate {d}"), &e.span, "only numbers and money have a sign")
                        }
                    },
                }
            }
            ExprKind::Presence(inner, present) => {
                let (ir, _) = self.expr(inner, scope, lets);
                (Expr::Presence(Box::new(ir), *present), Ty::Bool)
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, e, scope, lets),
            ExprKind::Call(name, args) => self.call(name, args, e, scope, lets),
            ExprKind::Aggregate(a) => self.aggregate(a, e, scope, lets),
        }
    }

    fn set_literal(
        &mut self,
        items: &[ast::Expr],
        e: &ast::Expr,
        scope: &mut Scope<'_>,
        lets: &mut Vec<LetInfo>,
    ) -> (Expr, Ty) {
        let mut irs = Vec::new();
        let mut element = Ty::Nothing;
        for item in items {
            let (ir, ty) = self.expr(item, scope, lets);
            element = match unify(&element, &ty) {
                Some(t) => t,
                None => {
                    let (a, b) = (self.describe(&element), self.describe(&ty));
                    return self.type_error(
                        format!("a set mixes {a} and {b}"),
                        &e.span,
                        "a set holds values of one type",
                    );
                }
            };
            irs.push(ir);
        }
        (fold_set(irs), Ty::Set(Box::new(element)))
    }

    fn path(&mut self, path: &[ast::Ident], span: &Span, scope: &mut Scope<'_>, lets: &mut [LetInfo]) -> (Expr, Ty) {
        let Some(first) = path.first() else { return (Expr::Const(Value::Missing), Ty::Error) };
        let evidence_label = path.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(".");
        // Inside an aggregate's `where` (or a fulfilment), bare names are the item's fields; a
        // bare `action` too (the item's own field of that name), while `action.f` stays the
        // current action's field.
        let bare = path.len() == 1;
        match scope.item {
            ItemScope::Actions(item) if first.name != "action" || (bare && item.fields.contains_key("action")) => {
                let shadowed = lets.iter().take(scope.visible_lets).any(|l| l.name == first.name);
                if let Some(result) = self.item_path(item, path) {
                    if shadowed {
                        self.warn(
                            "W0004",
                            format!("`{}` here is the history item's field, not the `let`", first.name),
                            first.span.clone(),
                            "rename the `let` to avoid confusion",
                        );
                    }
                    return result;
                }
            }
            ItemScope::Breaches if first.name != "action" || bare => {
                if let Some((_, field, ty)) = BreachField::ALL.iter().find(|(n, ..)| *n == first.name) {
                    if let Some(second) = path.get(1) {
                        self.error(
                            "P0102",
                            format!("`{}` has no field `{}`", first.name, second.name),
                            second.span.clone(),
                        );
                        return (Expr::Const(Value::Missing), Ty::Error);
                    }
                    return (Expr::BreachField(*field), ty.clone());
                }
            }
            _ => {}
        }
        if path.len() == 1 {
            if let Some((i, l)) =
                lets.iter_mut().enumerate().take(scope.visible_lets).find(|(_, l)| l.name == first.name)
            {
                l.used = true;
                scope.dynamic = true;
                return (Expr::Let(u32::try_from(i).unwrap_or(u32::MAX)), l.ty.clone());
            }
        }
        if first.name == "action" || first.name == "rm" {
            let evidence = scope.evidence.as_deref_mut().map(|ev| evidence_slot(ev, &evidence_label));
            scope.dynamic = true;
            return self
                .action_path(scope.action, Subject::Action, path, evidence)
                .unwrap_or((Expr::Const(Value::Missing), Ty::Error));
        }
        let mut candidates: Vec<String> = lets.iter().take(scope.visible_lets).map(|l| l.name.clone()).collect();
        match scope.item {
            ItemScope::Actions(item) => candidates.extend(item.fields.keys().cloned()),
            ItemScope::Breaches => candidates.extend(BreachField::ALL.iter().map(|(n, ..)| n.to_string())),
            ItemScope::None => {}
        }
        let help = suggestion(&first.name, candidates.iter().map(String::as_str)).unwrap_or_else(|| {
            if scope.action.fields.contains_key(&first.name) {
                format!("the action's field is `action.{}`", first.name)
            } else {
                "name a field with `action.` (as in `action.amount`), or define the name with `let`".into()
            }
        });
        self.error("P0101", format!("unknown name `{}`", first.name), first.span.clone());
        self.help(Some(help));
        let _ = span;
        (Expr::Const(Value::Missing), Ty::Error)
    }

    fn item_path(&mut self, item: &ActionInfo, path: &[ast::Ident]) -> Option<(Expr, Ty)> {
        let first = path.first()?;
        let known = matches!(first.name.as_str(), "id" | "at" | "rm") || item.fields.contains_key(&first.name);
        if !known {
            return None;
        }
        let mut full = vec![ast::Ident { name: "action".into(), span: first.span.clone() }];
        full.extend(path.iter().cloned());
        Some(self.action_path(item, Subject::Item, &full, None).unwrap_or((Expr::Const(Value::Missing), Ty::Error)))
    }

    /// Resolves `action.a.b` or `rm.a` against an action type.
    fn action_path(
        &mut self,
        info: &ActionInfo,
        subject: Subject,
        path: &[ast::Ident],
        evidence: Option<u32>,
    ) -> Option<(Expr, Ty)> {
        let first = path.first()?;
        let mut rest = path.get(1..).unwrap_or(&[]);
        // `id` and `at` are built in; any other path reads a slot, found by its member names.
        let (builtin, mut members, mut ty) = if first.name == "rm" {
            (None, vec![SmolStr::new_static("rm")], info.rm.clone())
        } else {
            let Some(field) = rest.first() else {
                self.error("P0102", "`action` needs a field", first.span.clone());
                self.help(Some("name one of the action's fields, as in `action.amount`".into()));
                return None;
            };
            rest = rest.get(1..).unwrap_or(&[]);
            match field.name.as_str() {
                "id" => (Some(Root::Id), Vec::new(), Ty::Text),
                "at" => (Some(Root::At), Vec::new(), Ty::DateTime),
                "rm" => (None, vec![SmolStr::new_static("rm")], info.rm.clone()),
                name => match info.fields.get(name) {
                    Some(ty) => {
                        self.used.insert(format!("field {}.{name}", info.name));
                        (None, vec![SmolStr::from(name)], ty.clone())
                    }
                    None => {
                        let mut names: Vec<&str> = info.fields.keys().map(String::as_str).collect();
                        names.extend(["id", "at", "rm"]);
                        names.sort_unstable();
                        let type_name = self
                            .schema
                            .action_types
                            .get(info.type_id as usize)
                            .map(|t| t.name.to_string())
                            .unwrap_or_default();
                        let help = suggestion(name, names.iter().copied()).unwrap_or_else(|| {
                            format!(
                                "`{type_name}` has {}",
                                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                            )
                        });
                        self.error("P0102", format!("action `{type_name}` has no field `{name}`"), field.span.clone());
                        self.help(Some(help));
                        return None;
                    }
                },
            }
        };
        for segment in rest {
            // A field whose type failed has its own error.
            if ty == Ty::Error {
                return None;
            }
            let Ty::Record(rid) = ty else {
                let d = self.describe(&ty);
                self.error("P0102", format!("{d} has no field `{}`", segment.name), segment.span.clone());
                return None;
            };
            let record = self.schema.records.get(rid as usize)?;
            match record.fields.iter().position(|(n, ..)| **n == *segment.name) {
                Some(i) => {
                    self.used.insert(format!("field {}.{}", record.name, segment.name));
                    members.push(segment.name.as_str().into());
                    ty = record.fields.get(i).map(|(_, t, _)| t.clone()).unwrap_or(Ty::Error);
                }
                None => {
                    let names: Vec<String> = record.fields.iter().map(|(n, ..)| n.to_string()).collect();
                    let record_name = record.name.clone();
                    let help = suggestion(&segment.name, names.iter().map(String::as_str)).unwrap_or_else(|| {
                        format!(
                            "record `{record_name}` has {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        )
                    });
                    self.error(
                        "P0102",
                        format!("record `{record_name}` has no field `{}`", segment.name),
                        segment.span.clone(),
                    );
                    self.help(Some(help));
                    return None;
                }
            }
        }
        let skip = usize::from(subject == Subject::Item);
        let label = path.iter().skip(skip).map(|p| p.name.as_str()).collect::<Vec<_>>().join(".");
        let root = builtin.unwrap_or_else(|| Root::Slot(self.schema.slot(info.type_id, &members, &ty)));
        // The slot decodes the declared type; the expression sees the type it reads as.
        Some((Expr::Field { subject, root, evidence, label: label.into() }, ty.read()))
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        l: &ast::Expr,
        r: &ast::Expr,
        e: &ast::Expr,
        scope: &mut Scope<'_>,
        lets: &mut Vec<LetInfo>,
    ) -> (Expr, Ty) {
        let (lir, lty) = self.expr(l, scope, lets);
        let (rir, rty) = self.expr(r, scope, lets);
        if lty == Ty::Error || rty == Ty::Error {
            return (
                Expr::Const(Value::Missing),
                if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) { Ty::Bool } else { Ty::Error },
            );
        }
        match op {
            BinaryOp::And | BinaryOp::Or => {
                self.expect_bool(&lty, &l.span, &format!("`{}`", op.symbol()));
                self.expect_bool(&rty, &r.span, &format!("`{}`", op.symbol()));
                let (a, b) = (Box::new(lir), Box::new(rir));
                (if op == BinaryOp::And { Expr::And(a, b) } else { Expr::Or(a, b) }, Ty::Bool)
            }
            BinaryOp::In | BinaryOp::NotIn | BinaryOp::Contains => {
                let (elem, elem_ty, coll, coll_ty, elem_span, coll_span) = if op == BinaryOp::Contains {
                    (rir, rty, lir, lty, &r.span, &l.span)
                } else {
                    (lir, lty, rir, rty, &l.span, &r.span)
                };
                if op == BinaryOp::Contains && coll_ty == Ty::Text {
                    if elem_ty != Ty::Text {
                        let d = self.describe(&elem_ty);
                        return self.type_error(
                            format!("text can only contain text, not {d}"),
                            elem_span,
                            "compare text with text",
                        );
                    }
                    return (Expr::TextContains(Box::new(coll), Box::new(elem)), Ty::Bool);
                }
                let Some(inner) = coll_ty.element().cloned() else {
                    let d = self.describe(&coll_ty);
                    return self.type_error(
                        format!("`{}` needs a set or a list, found {d}", op.symbol()),
                        coll_span,
                        "write a set such as `[\"a\", \"b\"]`, or use a set field",
                    );
                };
                let (elem, elem_ty) = self.coerce(elem, elem_ty, &inner, elem_span);
                let (coll, coll_ty) = match &elem_ty {
                    Ty::Enum(_) => self.coerce(coll, coll_ty, &Ty::Set(Box::new(elem_ty.clone())), coll_span),
                    _ => (coll, coll_ty),
                };
                let inner = coll_ty.element().cloned().unwrap_or(Ty::Error);
                if unify(&elem_ty, &inner).is_none() {
                    let (a, b) = (self.describe(&elem_ty), self.describe(&coll_ty));
                    return self.type_error(
                        format!("cannot look for {a} in {b}"),
                        &e.span,
                        "the value and the set's elements must have one type",
                    );
                }
                (
                    Expr::Member {
                        element: Box::new(elem),
                        collection: Box::new(coll),
                        negated: op == BinaryOp::NotIn,
                    },
                    Ty::Bool,
                )
            }
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let (lir, lty) = self.coerce(lir, lty, &rty, &l.span);
                let (rir, rty) = self.coerce(rir, rty, &lty, &r.span);
                let ordered = !matches!(op, BinaryOp::Eq | BinaryOp::Ne);
                let Some(common) = unify(&lty, &rty) else {
                    let (a, b) = (self.describe(&lty), self.describe(&rty));
                    let help = if lty == Ty::Money || rty == Ty::Money {
                        "money compares with money: add a currency, as in `5000 CNY`"
                    } else {
                        "compare values of the same type"
                    };
                    return self.type_error(format!("cannot compare {a} with {b}"), &e.span, help);
                };
                if ordered
                    && !matches!(
                        common,
                        Ty::Int
                            | Ty::Decimal
                            | Ty::Money
                            | Ty::Date
                            | Ty::DateTime
                            | Ty::Enum(_)
                            | Ty::Duration
                            | Ty::Text
                    )
                {
                    let d = self.describe(&common);
                    return self.type_error(
                        format!("{d} has no order for `{}`", op.symbol()),
                        &e.span,
                        "use `=` or `!=`",
                    );
                }
                self.literal_currencies(&lir, &rir, &e.span);
                let cmp = match op {
                    BinaryOp::Eq => Comparison::Eq,
                    BinaryOp::Ne => Comparison::Ne,
                    BinaryOp::Lt => Comparison::Lt,
                    BinaryOp::Le => Comparison::Le,
                    BinaryOp::Gt => Comparison::Gt,
                    _ => Comparison::Ge,
                };
                (Expr::Compare(cmp, Box::new(lir), Box::new(rir)), Ty::Bool)
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                let result = arith_type(op, &lty, &rty);
                let Some(ty) = result else {
                    let (a, b) = (self.describe(&lty), self.describe(&rty));
                    let help = match (op, &lty, &rty) {
                        (BinaryOp::Add | BinaryOp::Sub, Ty::Money, _)
                        | (BinaryOp::Add | BinaryOp::Sub, _, Ty::Money) => {
                            "money adds to money of the same currency, as in `action.amount + 500 CNY`"
                        }
                        (BinaryOp::Mul, Ty::Money, Ty::Money) => "money multiplies by a number, not by money",
                        _ => "arithmetic works on numbers, money, and dates with durations",
                    };
                    return self.type_error(format!("cannot apply `{}` to {a} and {b}", op.symbol()), &e.span, help);
                };
                if ty == Ty::Date {
                    if let Expr::Const(Value::Duration(d)) = &rir {
                        if d.seconds % 86_400 != 0 {
                            return self.type_error(
                                "a date moves by whole days, months or years".into(),
                                &r.span,
                                "use a datetime (such as `now`) for hours and minutes",
                            );
                        }
                    }
                }
                self.literal_currencies(&lir, &rir, &e.span);
                let arith = match op {
                    BinaryOp::Add => Arith::Add,
                    BinaryOp::Sub => Arith::Sub,
                    BinaryOp::Mul => Arith::Mul,
                    _ => Arith::Div,
                };
                (Expr::Arith(arith, Box::new(lir), Box::new(rir)), ty)
            }
        }
    }

    fn literal_currencies(&mut self, l: &Expr, r: &Expr, span: &Span) {
        if let (Expr::Const(Value::Money(a)), Expr::Const(Value::Money(b))) = (l, r) {
            if let (Some(x), Some(y)) = (a.currency, b.currency) {
                if x != y {
                    self.error("P0202", format!("currency mismatch: {} and {}", x.code(), y.code()), span.clone());
                    self.help(Some("money combines only with money of the same currency".into()));
                }
            }
        }
    }

    /// Turns a text literal (or a set of them) into an enum value where the other side is an
    /// enum, reporting values that are not members.
    fn coerce(&mut self, ir: Expr, ty: Ty, target: &Ty, span: &Span) -> (Expr, Ty) {
        match (target, ir) {
            (Ty::Enum(eid), Expr::Const(Value::Text(t))) if ty == Ty::Text => {
                let found = self.schema.enums.get(*eid as usize).and_then(|m| m.iter().position(|m| **m == *t));
                match found {
                    Some(i) => (Expr::Const(Value::Enum(*eid, u32::try_from(i).unwrap_or(u32::MAX))), Ty::Enum(*eid)),
                    None => {
                        let members = self.schema.enums.get(*eid as usize).cloned().unwrap_or_default();
                        let help = suggestion(&t, members.iter().map(|m| &**m)).unwrap_or_else(|| {
                            format!(
                                "the members are {}",
                                members.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                            )
                        });
                        self.error("P0203", format!("`{t}` is not one of the enum's members"), span.clone());
                        self.help(Some(help));
                        (Expr::Const(Value::Missing), Ty::Error)
                    }
                }
            }
            (Ty::Set(inner) | Ty::List(inner), Expr::Const(Value::Set(items)))
                if matches!(**inner, Ty::Enum(_)) && matches!(ty.element(), Some(Ty::Text)) =>
            {
                // Members by name, once for the whole set (not a scan of the members per item).
                let mut index: HashMap<SmolStr, u32> = HashMap::new();
                if let Ty::Enum(eid) = &**inner {
                    for (name, i) in self.schema.enums.get(*eid as usize).into_iter().flatten().zip(0u32..) {
                        index.entry(name.clone()).or_insert(i);
                    }
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items.iter() {
                    if let (Ty::Enum(eid), Value::Text(t)) = (&**inner, item) {
                        if let Some(i) = index.get(t) {
                            out.push(Expr::Const(Value::Enum(*eid, *i)));
                            continue;
                        }
                    }
                    let (ir, t) = self.coerce(Expr::Const(item.clone()), Ty::Text, inner, span);
                    if t == Ty::Error {
                        return (Expr::Const(Value::Missing), Ty::Error);
                    }
                    out.push(ir);
                }
                (fold_set(out), Ty::Set(inner.clone()))
            }
            (_, ir) => (ir, ty),
        }
    }

    fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        e: &ast::Expr,
        scope: &mut Scope<'_>,
        lets: &mut Vec<LetInfo>,
    ) -> (Expr, Ty) {
        let function = match name.name.as_str() {
            "year" => Function::Year,
            "month" => Function::Month,
            "age" => Function::Age,
            "days_between" => Function::DaysBetween,
            "date" => Function::Date,
            "hour" => Function::Hour,
            "weekday" => Function::Weekday,
            "len" => Function::Len,
            "lower" => Function::Lower,
            "abs" => Function::Abs,
            "min" => Function::Min,
            "max" => Function::Max,
            "amount" => Function::Amount,
            "currency" => Function::Currency,
            other => {
                let help = suggestion(other, FUNCTIONS)
                    .unwrap_or_else(|| format!("the functions are {}", FUNCTIONS.join(", ")));
                self.error("P0104", format!("unknown function `{other}`"), name.span.clone());
                self.help(Some(help));
                return (Expr::Const(Value::Missing), Ty::Error);
            }
        };
        if matches!(
            function,
            Function::Age | Function::Year | Function::Month | Function::Date | Function::Hour | Function::Weekday
        ) {
            scope.dynamic = true;
        }
        let mut irs = Vec::new();
        let mut tys = Vec::new();
        for a in args {
            let (ir, ty) = self.expr(a, scope, lets);
            irs.push(ir);
            tys.push(ty);
        }
        let arity = if matches!(function, Function::DaysBetween | Function::Min | Function::Max) { 2 } else { 1 };
        if irs.len() != arity {
            let msg = format!(
                "`{}` takes {arity} argument{}, found {}",
                name.name,
                if arity == 1 { "" } else { "s" },
                irs.len()
            );
            return self.type_error(msg, &e.span, "check the function's arguments");
        }
        if tys.contains(&Ty::Error) {
            return (Expr::Const(Value::Missing), Ty::Error);
        }
        let first = tys.first().cloned().unwrap_or(Ty::Error);
        let dated = matches!(first, Ty::Date | Ty::DateTime);
        let result = match function {
            Function::Year | Function::Month | Function::Weekday if dated => Some(Ty::Int),
            Function::Age if first == Ty::Date => Some(Ty::Int),
            Function::DaysBetween if dated && matches!(tys.get(1), Some(Ty::Date | Ty::DateTime)) => Some(Ty::Int),
            Function::Date | Function::Hour if first == Ty::DateTime => {
                Some(if function == Function::Date { Ty::Date } else { Ty::Int })
            }
            Function::Len if matches!(first, Ty::Set(_) | Ty::List(_) | Ty::Text) => Some(Ty::Int),
            Function::Lower if first == Ty::Text => Some(Ty::Text),
            Function::Abs if matches!(first, Ty::Int | Ty::Decimal | Ty::Money) => Some(first.clone()),
            Function::Amount if first == Ty::Money => Some(Ty::Decimal),
            Function::Currency if first == Ty::Money => Some(Ty::Text),
            Function::Min | Function::Max => tys
                .get(1)
                .and_then(|second| unify(&first, second))
                .filter(|t| matches!(t, Ty::Int | Ty::Decimal | Ty::Money | Ty::Date | Ty::DateTime)),
            _ => None,
        };
        match result {
            Some(ty) => (Expr::Call(function, irs), ty),
            None => {
                let found: Vec<String> = tys.iter().map(|t| self.describe(t)).collect();
                let expects = match function {
                    Function::Year | Function::Month | Function::Weekday => "a date or a datetime",
                    Function::Age => "a date",
                    Function::DaysBetween => "two dates",
                    Function::Date | Function::Hour => "a datetime",
                    Function::Len => "a set, a list or text",
                    Function::Lower => "text",
                    Function::Abs => "a number or money",
                    Function::Amount | Function::Currency => "money",
                    Function::Min | Function::Max => "two numbers, amounts of money, dates or datetimes of one type",
                };
                self.type_error(
                    format!("`{}` takes {expects}, found {}", name.name, found.join(" and ")),
                    &e.span,
                    "check the function's arguments",
                )
            }
        }
    }

    fn aggregate(
        &mut self,
        a: &ast::Aggregate,
        e: &ast::Expr,
        scope: &mut Scope<'_>,
        lets: &mut Vec<LetInfo>,
    ) -> (Expr, Ty) {
        scope.dynamic = true;
        let fname = a.function.name();
        let window = match &a.window {
            Some(w) => self.duration(w),
            None => {
                self.error("P0301", format!("`{fname}` needs a window"), e.span.clone());
                self.help(Some(format!("add `within`, as in `{fname}({} within 12 months)`", a.source.name)));
                Duration::default()
            }
        };
        let wants_field = matches!(a.function, AggregateFn::Sum | AggregateFn::Min | AggregateFn::Max);
        if wants_field && a.field.is_none() {
            return self.type_error(
                format!("`{fname}` needs a field to add up or compare"),
                &e.span,
                &format!("name the field, as in `{fname}({}.amount within 12 months)`", a.source.name),
            );
        }
        if !wants_field && a.field.is_some() {
            return self.type_error(
                format!("`{fname}` counts items, not a field"),
                &e.span,
                &format!("write `{fname}({} … within …)`", a.source.name),
            );
        }
        let item_info = self.actions.get(&a.source.name).cloned();
        self.used.insert(format!("action {}", a.source.name));
        let (source, item) = match &item_info {
            _ if a.source.name == "breach" => (Source::Breaches, ItemScope::Breaches),
            Some(info) => (Source::Actions(info.type_id), ItemScope::Actions(info)),
            None => {
                self.unknown_action(&a.source);
                return (Expr::Const(Value::Missing), Ty::Error);
            }
        };
        let label = normalise_space(self.source.text().get(e.span.clone()).unwrap_or(fname));
        let evidence = scope.evidence.as_deref_mut().map(|ev| evidence_slot(ev, &label));
        let mut field_ir = None;
        let mut field_ty = Ty::Int;
        if let Some(f) = &a.field {
            let mut inner = Scope { action: scope.action, item, visible_lets: 0, evidence: None, dynamic: false };
            let path = [f.clone()];
            let (ir, ty) = self.path(&path, &f.span, &mut inner, lets);
            field_ir = Some(ir);
            field_ty = ty;
        }
        let filter = a.filter.as_ref().map(|p| {
            let mut inner = Scope {
                action: scope.action,
                item,
                visible_lets: scope.visible_lets,
                evidence: scope.evidence.as_deref_mut(),
                dynamic: false,
            };
            let (ir, ty) = self.expr(p, &mut inner, lets);
            self.expect_bool(&ty, &p.span, "`where`");
            ir
        });
        let (result_ty, zero) = match a.function {
            AggregateFn::Count => (Ty::Int, Value::Int(0)),
            AggregateFn::Exists => (Ty::Bool, Value::Bool(false)),
            AggregateFn::Sum => match field_ty {
                Ty::Int => (Ty::Int, Value::Int(0)),
                Ty::Decimal => (Ty::Decimal, Value::Decimal(rust_decimal::Decimal::ZERO)),
                Ty::Money => (Ty::Money, Value::Money(Money { amount: rust_decimal::Decimal::ZERO, currency: None })),
                Ty::Error => (Ty::Error, Value::Missing),
                other => {
                    let d = self.describe(&other);
                    return self.type_error(
                        format!("`sum` adds numbers or money, not {d}"),
                        &e.span,
                        "sum a number or money field",
                    );
                }
            },
            AggregateFn::Min | AggregateFn::Max => match field_ty {
                Ty::Int | Ty::Decimal | Ty::Money | Ty::Date | Ty::DateTime | Ty::Error => {
                    (field_ty.clone(), Value::Missing)
                }
                other => {
                    let d = self.describe(&other);
                    return self.type_error(
                        format!("`{fname}` compares numbers, money or dates, not {d}"),
                        &e.span,
                        "pick a field with an order",
                    );
                }
            },
        };
        let aggregate = Aggregate { function: a.function, source, field: field_ir, filter, window, zero, evidence };
        (Expr::Aggregate(Box::new(aggregate)), result_ty)
    }
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

/// A set literal whose elements are all constant becomes one constant, each value once (in
/// the order first written). Texts, integers, enum members and booleans are found again by
/// hashing, so that a large literal folds in linear time; other values (rare in sets) are
/// compared with the others of their kind.
fn fold_set(items: Vec<Expr>) -> Expr {
    #[derive(PartialEq, Eq, Hash)]
    enum Key {
        Text(SmolStr),
        Int(i64),
        Enum(u32, u32),
        Bool(bool),
    }
    if items.iter().all(|i| matches!(i, Expr::Const(_))) {
        let mut values: Vec<Value> = Vec::new();
        let mut keyed: std::collections::HashSet<Key> = std::collections::HashSet::new();
        let mut others: Vec<Value> = Vec::new();
        for item in items {
            if let Expr::Const(v) = item {
                let key = match &v {
                    Value::Text(t) => Some(Key::Text(t.clone())),
                    Value::Int(i) => Some(Key::Int(*i)),
                    Value::Enum(e, m) => Some(Key::Enum(*e, *m)),
                    Value::Bool(b) => Some(Key::Bool(*b)),
                    _ => None,
                };
                let new = match key {
                    Some(key) => keyed.insert(key),
                    None if others.contains(&v) => false,
                    None => {
                        others.push(v.clone());
                        true
                    }
                };
                if new {
                    values.push(v);
                }
            }
        }
        Expr::Const(Value::Set(values.into()))
    } else {
        Expr::Set(items)
    }
}

/// The common type of two operands of a comparison, if they can be compared.
fn unify(a: &Ty, b: &Ty) -> Option<Ty> {
    match (a, b) {
        (Ty::Error, t) | (t, Ty::Error) => Some(t.clone()),
        (Ty::Nothing, t) | (t, Ty::Nothing) => Some(t.clone()),
        (Ty::Int, Ty::Decimal) | (Ty::Decimal, Ty::Int) => Some(Ty::Decimal),
        (Ty::Date, Ty::DateTime) | (Ty::DateTime, Ty::Date) => Some(Ty::Date),
        (Ty::Set(x), Ty::Set(y)) => unify(x, y).map(|t| Ty::Set(Box::new(t))),
        (Ty::List(x), Ty::List(y)) | (Ty::Set(x), Ty::List(y)) | (Ty::List(x), Ty::Set(y)) => {
            unify(x, y).map(|t| Ty::List(Box::new(t)))
        }
        (x, y) if x == y => Some(x.clone()),
        _ => None,
    }
}

fn arith_type(op: BinaryOp, l: &Ty, r: &Ty) -> Option<Ty> {
    use Ty::*;
    Some(match (op, l, r) {
        (BinaryOp::Div, Int, Int) => Decimal,
        (_, Int, Int) => Int,
        (_, Int | Decimal, Int | Decimal) => Decimal,
        (BinaryOp::Add | BinaryOp::Sub, Money, Money) => Money,
        (BinaryOp::Div, Money, Money) => Decimal,
        (BinaryOp::Mul, Money, Int | Decimal) | (BinaryOp::Mul, Int | Decimal, Money) => Money,
        (BinaryOp::Div, Money, Int | Decimal) => Money,
        (BinaryOp::Add | BinaryOp::Sub, Date, Duration) => Date,
        (BinaryOp::Add, Duration, Date) => Date,
        (BinaryOp::Add | BinaryOp::Sub, DateTime, Duration) => DateTime,
        (BinaryOp::Add, Duration, DateTime) => DateTime,
        (BinaryOp::Add | BinaryOp::Sub, Duration, Duration) => Duration,
        _ => return None,
    })
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
