//! `const` and `list` declarations: file-scoped names for one literal or a set of text, and
//! business-day lengths of time (docs/language.md, "Constants and reference lists").

use super::*;

/// A name's compiled value. One with an error has `Ty::Error` (its error is reported once, at
/// the declaration; its uses report nothing more).
#[derive(Debug, Clone)]
pub(super) struct Named {
    pub(super) value: Value,
    pub(super) ty: Ty,
    /// The literal as written, for `within NAME` / `due within NAME`.
    pub(super) duration: Option<ast::DurationLit>,
}

impl<'a> Checker<'a> {
    /// Compiles every `const` and `list` of the file, in the order written.
    pub(super) fn named_values(&mut self, file: &'a ast::PolicyFile) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for item in &file.items {
            let (name, named) = match item {
                ast::Item::Const(c) => (&c.name, self.const_value(c)),
                ast::Item::List(l) => (&l.name, self.list_value(l)),
                _ => continue,
            };
            if let Some(first) = seen.get(&name.name).cloned() {
                let d = Diagnostic::error("P0302", format!("`{}` is defined twice", name.name))
                    .at(self.source, name.span.clone())
                    .with_related("first defined here", self.source, first)
                    .with_help("consts and lists share one namespace: rename one of them");
                self.report(d);
                continue;
            }
            seen.insert(name.name.clone(), name.span.clone());
            self.consts.insert(name.name.clone(), named);
        }
    }

    fn const_value(&mut self, c: &ast::ConstDecl) -> Named {
        let failed = Named { value: Value::Missing, ty: Ty::Error, duration: None };
        let dummy = ActionInfo { name: String::new(), type_id: 0, fields: HashMap::new(), rm: Ty::Error };
        let mut scope =
            Scope { action: &dummy, item: ItemScope::None, visible_lets: 0, evidence: None, dynamic: false };
        let before = self.diagnostics.len();
        let (negated, literal) = match &c.value.kind {
            ExprKind::Unary(UnaryOp::Neg, inner) => (true, &**inner),
            _ => (false, &c.value),
        };
        if !is_literal(literal, true) {
            self.not_a_literal(c);
            return failed;
        }
        let (ir, ty) = self.expr(literal, &mut scope, &mut Vec::new());
        if self.diagnostics.len() > before {
            return failed;
        }
        let value = match ir {
            Expr::Const(v) if negated => match negate_literal(v) {
                Some(v) => v,
                None => {
                    self.error(
                        "P0401",
                        format!("`-` cannot negate the value of const `{}`", c.name.name),
                        c.value.span.clone(),
                    );
                    self.help(Some("only numbers and money have a sign".into()));
                    return failed;
                }
            },
            Expr::Const(v) => v,
            _ => {
                self.not_a_literal(c);
                return failed;
            }
        };
        let duration = match &literal.kind {
            ExprKind::Duration(d) if !negated => Some(d.clone()),
            _ => None,
        };
        Named { value, ty, duration }
    }

    fn not_a_literal(&mut self, c: &ast::ConstDecl) {
        self.error("P0401", format!("const `{}` is not one literal", c.name.name), c.value.span.clone());
        self.help(Some(
            "a const takes one literal: a number, money, duration, date, datetime, text or bool (optionally \
             negated), or a set of them, as in `const gift_cap = 300 USD`"
                .into(),
        ));
    }

    fn list_value(&mut self, l: &ast::ListDecl) -> Named {
        match self.files.lists.get(&l.name.name) {
            Some(members) => {
                let values: Vec<Value> = members.iter().map(|m| Value::Text(m.clone())).collect();
                Named { value: Value::Set(values.into()), ty: Ty::Set(Box::new(Ty::Text)), duration: None }
            }
            // The file did not read: its error is reported already.
            None => Named { value: Value::Missing, ty: Ty::Error, duration: None },
        }
    }

    /// A bare name that is a const or a list, as the literal it names.
    pub(super) fn named(&mut self, name: &str) -> Option<(Expr, Ty)> {
        let named = self.consts.get(name)?;
        Some((Expr::Const(named.value.clone()), named.ty.clone()))
    }

    /// Reports a `let` that shadows a const or a list (at the `let`).
    pub(super) fn shadowing_let(&mut self, name: &ast::Ident) {
        if self.consts.contains_key(&name.name) {
            self.error(
                "P0405",
                format!("`let {}` shadows the const or list `{}`", name.name, name.name),
                name.span.clone(),
            );
            self.help(Some("consts, lists and `let` names share one namespace: rename the `let`".into()));
        }
    }

    /// A length of time where one is given: a duration, `N business days`, or a const's name.
    pub(super) fn span_duration(&mut self, d: &ast::DurationLit) -> Duration {
        let span = d.span.0..d.span.1;
        if let Some(name) = &d.name {
            let named = self.consts.get(name).cloned();
            return match named {
                Some(Named { duration: Some(lit), .. }) => self.duration(&lit),
                Some(Named { ty: Ty::Error, .. }) => Duration::default(),
                Some(_) => {
                    self.error("P0406", format!("const `{name}` is not a duration"), span);
                    self.help(Some("a window or deadline takes a duration, as in `const reply = 30 days`".into()));
                    Duration::default()
                }
                None => {
                    let names: Vec<&str> = self.consts.keys().map(String::as_str).collect();
                    let help = suggestion(name, names)
                        .unwrap_or_else(|| format!("declare it with `const {name} = 30 days`, or write a duration"));
                    self.error("P0406", format!("unknown const `{name}`"), span);
                    self.help(Some(help));
                    Duration::default()
                }
            };
        }
        self.duration(d)
    }

    /// `N business days`, within [`crate::refdata::MAX_BUSINESS_DAYS`].
    pub(super) fn business_days(&mut self, d: &ast::DurationLit) -> Duration {
        match i32::try_from(d.amount) {
            Ok(n) if i64::from(n) <= crate::refdata::MAX_BUSINESS_DAYS => {
                Duration { months: 0, seconds: 0, business_days: n }
            }
            _ => {
                self.error("P0407", "too many business days", d.span.0..d.span.1);
                self.help(Some(format!(
                    "a length in business days counts at most {} days; write longer ones in months or years",
                    crate::refdata::MAX_BUSINESS_DAYS
                )));
                Duration::default()
            }
        }
    }
}

/// Whether an expression is one literal (or, at the top, a set literal of them).
fn is_literal(e: &ast::Expr, top: bool) -> bool {
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Decimal(_)
        | ExprKind::Money(..)
        | ExprKind::Duration(_)
        | ExprKind::Text(_)
        | ExprKind::Bool(_)
        | ExprKind::Date(_)
        | ExprKind::DateTime(_) => true,
        ExprKind::Unary(UnaryOp::Neg, inner) => !top && is_literal(inner, false),
        ExprKind::Set(items) => top && items.iter().all(|i| is_literal(i, false)),
        _ => false,
    }
}

fn negate_literal(v: Value) -> Option<Value> {
    Some(match v {
        Value::Int(i) => Value::Int(i.checked_neg()?),
        Value::Decimal(d) => Value::Decimal(d.checked_mul(rust_decimal::Decimal::NEGATIVE_ONE)?),
        Value::Money(m) => {
            Value::Money(Money { amount: m.amount.checked_mul(rust_decimal::Decimal::NEGATIVE_ONE)?, ..m })
        }
        _ => return None,
    })
}
