//! Names and declared types: records, actions, ladders and durations, resolved once per file.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn duplicate(&mut self, kind: &str, id: &ast::Ident) {
        self.error("P0302", format!("{kind} `{}` is declared twice", id.name), id.span.clone());
        self.help(Some("give each declaration its own name".into()));
    }

    pub(super) fn duplicate_with(&mut self, kind: &str, id: &ast::Ident, first: Span) {
        let d = Diagnostic::error("P0302", format!("`{}` is defined twice", id.name))
            .at(self.source, id.span.clone())
            .with_label(format!("second {kind} named `{}`", id.name))
            .with_related("first defined here", self.source, first)
            .with_help("rules, conflicts and duties share one namespace: rename one of them");
        self.report(d);
    }

    // ------------------------------------------------------------ types

    pub(super) fn resolve_record(&mut self, name: &str) -> Option<RecordId> {
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
    pub(super) fn nesting(&self, t: &ast::TypeExpr) -> usize {
        match &t.kind {
            ast::TypeKind::Set(e) | ast::TypeKind::List(e) => self.nesting(e).saturating_add(1),
            ast::TypeKind::Enum(_) | ast::TypeKind::Signed(_) => 0,
            ast::TypeKind::Named(n) => self.record_depths.get(&n.name).copied().unwrap_or(0),
        }
    }

    pub(super) fn record_too_deep(&mut self, name: &ast::Ident) {
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

    pub(super) fn type_expr(&mut self, t: &ast::TypeExpr) -> Option<Ty> {
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
    pub(super) fn use_record(&mut self, name: &str) -> Option<RecordId> {
        self.used.insert(format!("record {name}"));
        self.resolve_record(name)
    }

    pub(super) fn rm_type(&mut self) -> Ty {
        match self.resolve_record("rm") {
            Some(id) => Ty::Record(id),
            None => Ty::Error,
        }
    }

    pub(super) fn action_decl(&mut self, a: &ast::FieldsDecl) {
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

    pub(super) fn unknown_action(&mut self, name: &ast::Ident) {
        let help = suggestion(&name.name, self.action_names.iter().map(String::as_str))
            .unwrap_or_else(|| format!("declare it with `action {} {{ … }}`", name.name));
        self.error("P0103", format!("unknown action type `{}`", name.name), name.span.clone());
        self.help(Some(help));
    }

    // ------------------------------------------------------------ ladders

    pub(super) fn duration(&mut self, d: &ast::DurationLit) -> Duration {
        if d.name.is_some() {
            return self.span_duration(d);
        }
        if d.unit == DurationUnit::BusinessDay {
            return self.business_days(d);
        }
        let span = d.span.0..d.span.1;
        let result = match d.unit {
            DurationUnit::Month => {
                i32::try_from(d.amount).ok().map(|m| Duration { months: m, seconds: 0, business_days: 0 })
            }
            DurationUnit::Year => i32::try_from(d.amount).ok().and_then(|y| y.checked_mul(12)).map(|m| Duration {
                months: m,
                seconds: 0,
                business_days: 0,
            }),
            unit => {
                let factor = match unit {
                    DurationUnit::Minute => 60,
                    DurationUnit::Hour => 3_600,
                    DurationUnit::Day => 86_400,
                    _ => 604_800,
                };
                d.amount.checked_mul(factor).map(|s| Duration { months: 0, seconds: s, business_days: 0 })
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

    pub(super) fn ladder_decl(&mut self, policy: &SmolStr, l: &'a ast::LadderDecl) {
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
        for ast::Step { threshold, label, span, .. } in &l.steps {
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
        let mut restrictions = Vec::new();
        for step in &l.steps {
            let (threshold, label, span) = (&step.threshold, &step.label, &step.span);
            if let Some(r) = &step.restricts {
                restrictions.push(self.restriction(*threshold, label.value.as_str().into(), r));
            }
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
            restrictions,
        };
        self.ladders.push((ladder, l));
    }

    /// A step's `restricts`: the names are resolved against the whole set when it loads.
    fn restriction(&mut self, threshold: i64, label: SmolStr, r: &ast::Restricts) -> Restriction {
        let mut all = false;
        let mut names: Vec<(SmolStr, std::ops::Range<usize>)> = Vec::new();
        for (i, target) in r.targets.iter().enumerate() {
            match target {
                ast::RestrictTarget::All(span) => {
                    all = true;
                    if r.targets.len() > 1 {
                        self.error("P0422", "`restricts all` cannot list other action types", span.clone());
                        self.help(Some("write `restricts all` alone, or list the action types without `all`".into()));
                    }
                }
                ast::RestrictTarget::Type(name) => {
                    if r.targets
                        .iter()
                        .take(i)
                        .any(|t| matches!(t, ast::RestrictTarget::Type(n) if n.name == name.name))
                    {
                        self.error(
                            "P0421",
                            format!("`{}` is restricted twice by one step", name.name),
                            name.span.clone(),
                        );
                        self.help(Some("list each action type once".into()));
                    } else {
                        // A restricted type is used, even with no rule `on` it.
                        self.used.insert(format!("action {}", name.name));
                        names.push((name.name.as_str().into(), name.span.clone()));
                    }
                }
            }
        }
        let length = r.length.as_ref().map(|d| {
            let before = self.diagnostics.len();
            let length = self.span_duration(d);
            // A const with an error is reported at the const (and gives a zero length).
            let broken = d.name.as_ref().is_some_and(|n| self.consts.get(n).is_some_and(|c| c.ty == Ty::Error));
            if self.diagnostics.len() > before || broken {
                return length;
            }
            let parts = [i64::from(length.months), length.seconds, i64::from(length.business_days)];
            if parts.iter().any(|p| *p < 0) || parts.iter().all(|p| *p == 0) {
                self.error("P0423", "a restriction's `for` must be a positive length of time", d.span.0..d.span.1);
                self.help(Some("give how long the restriction holds, as in `for 90 days`; leave `for` out for one that holds while the points stay at the step".into()));
            }
            length
        });
        Restriction { threshold, label, all, types: Vec::new(), names, length }
    }

    // ------------------------------------------------------------ rules
}
