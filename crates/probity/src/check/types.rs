//! Expressions: each one type-checked and lowered to the compiled form in one walk.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn expect_bool(&mut self, ty: &Ty, span: &Span, what: &str) {
        if !matches!(ty, Ty::Bool | Ty::Error) {
            self.error("P0201", format!("{what} needs a condition, found {}", self.describe(ty)), span.clone());
            self.help(Some("compare values to make a condition, as in `action.amount > 500 CNY`".into()));
        }
    }

    pub(super) fn describe(&self, ty: &Ty) -> String {
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

    pub(super) fn type_error(&mut self, message: String, span: &Span, help: &str) -> (Expr, Ty) {
        self.error("P0201", message, span.clone());
        self.help(Some(help.to_string()));
        (Expr::Const(Value::Missing), Ty::Error)
    }

    pub(super) fn expr(&mut self, e: &ast::Expr, scope: &mut Scope<'_>, lets: &mut Vec<LetInfo>) -> (Expr, Ty) {
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

    pub(super) fn set_literal(
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

    pub(super) fn path(
        &mut self,
        path: &[ast::Ident],
        span: &Span,
        scope: &mut Scope<'_>,
        lets: &mut [LetInfo],
    ) -> (Expr, Ty) {
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
        if path.len() == 1 {
            if let Some(named) = self.named(&first.name) {
                return named;
            }
        }
        if (first.name == "action" || first.name == "rm") && self.periodic.is_some() {
            self.no_action_in_periodic(first, span);
            return (Expr::Const(Value::Missing), Ty::Error);
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

    pub(super) fn item_path(&mut self, item: &ActionInfo, path: &[ast::Ident]) -> Option<(Expr, Ty)> {
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
    pub(super) fn action_path(
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

    pub(super) fn binary(
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

    pub(super) fn literal_currencies(&mut self, l: &Expr, r: &Expr, span: &Span) {
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
    pub(super) fn coerce(&mut self, ir: Expr, ty: Ty, target: &Ty, span: &Span) -> (Expr, Ty) {
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

    pub(super) fn call(
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

    pub(super) fn aggregate(
        &mut self,
        a: &ast::Aggregate,
        e: &ast::Expr,
        scope: &mut Scope<'_>,
        lets: &mut Vec<LetInfo>,
    ) -> (Expr, Ty) {
        scope.dynamic = true;
        let fname = a.function.name();
        let mut period = None;
        let window = match (&a.window, &a.period) {
            (_, Some(span)) => match self.periodic {
                Some((every, grace)) => {
                    period = Some(grace);
                    Duration { months: i32::try_from(every.months()).unwrap_or(12), ..Duration::default() }
                }
                None => {
                    self.error("P0435", "`within period` outside a periodic duty", span.clone());
                    self.help(Some(
                        "only a duty with `every month`, `every quarter` or `every year` has a period; give a duration, as in `within 30 days`".into(),
                    ));
                    Duration::default()
                }
            },
            (Some(w), None) => self.duration(w),
            (None, None) => {
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
        let calendar = Arc::clone(&self.files.calendar);
        let aggregate = Aggregate {
            function: a.function,
            source,
            field: field_ir,
            filter,
            window,
            period,
            calendar,
            zero,
            evidence,
        };
        (Expr::Aggregate(Box::new(aggregate)), result_ty)
    }
}

/// A set literal whose elements are all constant becomes one constant, each value once (in
/// the order first written). Texts, integers, enum members and booleans are found again by
/// hashing, so that a large literal folds in linear time; other values (rare in sets) are
/// compared with the others of their kind.
pub(super) fn fold_set(items: Vec<Expr>) -> Expr {
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
pub(super) fn unify(a: &Ty, b: &Ty) -> Option<Ty> {
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

pub(super) fn arith_type(op: BinaryOp, l: &Ty, r: &Ty) -> Option<Ty> {
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
