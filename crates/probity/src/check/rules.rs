//! Rules, conflicts and duties: their clauses, outcomes and messages, compiled.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn rule_decl(&mut self, r: &ast::RuleDecl) -> Option<Rule> {
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
        let mut every: Option<&ast::Ident> = None;
        let mut on_span: Option<Span> = None;
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
            if matches!(clause.kind, ClauseKind::Every(_)) && kind != RuleKind::Duty {
                self.error("P0436", format!("a {} cannot have `every`", kind.keyword()), clause.span.clone());
                self.help(Some(
                    "only a duty can be periodic: write `duty … every month require …`, or check actions with `on`"
                        .into(),
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
                ClauseKind::On(types) => {
                    on.extend(types);
                    on_span = Some(clause.span.clone());
                }
                ClauseKind::Every(period) => every = Some(period),
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
        if let Some(period) = every {
            let periodic =
                self.periodic_duty(r, period, on_span, require, due, fulfilled.as_ref().map(|f| f.2.clone()));
            let body = periodic.map(|(every, grace)| {
                self.periodic = Some((every, grace));
                let dummy =
                    ActionInfo { name: String::new(), type_id: u32::MAX, fields: HashMap::new(), rm: Ty::Error };
                let before = self.diagnostics.len();
                let body = self.body(&dummy, None, &lets, when, unless, require, None, &messages);
                dedup_diagnostics(&mut self.diagnostics, before);
                self.periodic = None;
                Periodic { every, grace, body }
            });
            return Some(Rule {
                id: r.id.name.as_str().into(),
                kind,
                title: r.title.as_ref().map(|t| t.value.as_str().into()),
                cites: cites.into(),
                outcomes,
                deadline: None,
                bodies: Vec::new(),
                periodic: body,
            });
        }
        if on.is_empty() {
            self.error("P0307", format!("{} `{}` has no `on` clause", kind.keyword(), r.id.name), r.id.span.clone());
            self.help(Some("say which action types it checks, as in `on product_sale`".into()));
        }
        let mut deadline = None;
        if kind == RuleKind::Duty {
            match (require, due, &fulfilled) {
                (Some(_), None, None) => {}
                (None, Some((d, _)), Some((t, _, _))) => {
                    let within = self.duration(d);
                    match self.actions.get(&t.name) {
                        Some(info) => {
                            deadline = Some(Deadline { within, fulfilled_by: info.type_id });
                        }
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
            periodic: None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn body(
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
            self.shadowing_let(name);
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

    /// The period and grace of a periodic duty, checking its clauses: `every` with a known
    /// period, a `require`, and neither `on` nor `fulfilled by`.
    fn periodic_duty(
        &mut self,
        r: &ast::RuleDecl,
        period: &ast::Ident,
        on: Option<Span>,
        require: Option<&ast::Expr>,
        due: Option<(&ast::DurationLit, Span)>,
        fulfilled: Option<Span>,
    ) -> Option<(Period, Duration)> {
        let every = match period.name.as_str() {
            "month" => Some(Period::Month),
            "quarter" => Some(Period::Quarter),
            "year" => Some(Period::Year),
            other => {
                let help = suggestion(other, ["month", "quarter", "year"])
                    .unwrap_or_else(|| "write `every month`, `every quarter` or `every year`".into());
                self.error("P0430", format!("`{other}` is not a period"), period.span.clone());
                self.help(Some(help));
                None
            }
        };
        if let Some(span) = on {
            self.error("P0431", "a periodic duty cannot have `on`", span);
            self.help(Some(
                "`every` starts the duty from the calendar; drop `on`, or drop `every` to check actions".into(),
            ));
        }
        if let Some(span) = fulfilled {
            self.error("P0432", "a periodic duty cannot have `fulfilled by`", span);
            self.help(Some(
                "a periodic duty checks its `require` when the period ends; count the actions that meet it with an aggregate `within period`".into(),
            ));
        }
        if require.is_none() {
            self.error("P0433", format!("periodic duty `{}` has no `require`", r.id.name), r.id.span.clone());
            self.help(Some(
                "say what each period must hold, as in `require count(training_completed within period) >= 1`".into(),
            ));
        }
        let grace = due.map(|(d, _)| self.duration(d)).unwrap_or_default();
        every.filter(|_| require.is_some()).map(|e| (e, grace))
    }

    /// The error of an `action.` or `rm.` path where no action is decided (a periodic duty).
    pub(super) fn no_action_in_periodic(&mut self, first: &ast::Ident, span: &Span) {
        let what = if first.name == "rm" { "`rm.`" } else { "`action.`" };
        self.error("P0434", format!("a periodic duty has no action: {what} cannot be read here"), span.clone());
        self.help(Some(
            "a periodic check runs when a period ends, for each RM; read the RM's history with aggregates `within period`"
                .into(),
        ));
    }

    pub(super) fn source_text(&self, e: &ast::Expr) -> SmolStr {
        normalise_space(self.source.text().get(e.span.clone()).unwrap_or("")).into()
    }

    pub(super) fn placeholder(
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
            // A const (or list) names its value in a message too.
            if let Some((ir, _)) = self.named(&first.name) {
                return Some(ir);
            }
        }
        if (first.name == "action" || first.name == "rm") && self.periodic.is_some() {
            self.no_action_in_periodic(first, span);
            return None;
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

    pub(super) fn outcomes(&mut self, list: &[ast::Outcome]) -> Outcomes {
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

    pub(super) fn breach(
        &mut self,
        severity: &ast::Ident,
        ladder: Option<&ast::Ident>,
        span: &Span,
    ) -> Option<BreachOutcome> {
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
}
