//! The outline of one policy file for editors: what it declares and where it names something,
//! with byte spans. A language server joins the outlines of a set's files to answer hover,
//! definition, references and completion. It is read from whatever parsed: a declaration with
//! a syntax error is missing, the others are there.

use std::ops::Range;
use std::sync::Arc;

use crate::diagnostics::SourceFile;
use crate::parse::ast::{
    ClauseKind, Expr, ExprKind, FieldsDecl, Item, MessagePart, OutcomeKind, RestrictTarget, RuleDecl, TypeExpr,
    TypeKind,
};
use crate::parse::parse_file;

/// What a declaration declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeclarationKind {
    /// The file's `policy` header.
    Policy,
    /// A `record`.
    Record,
    /// An `action` type.
    Action,
    /// A field of a record or action (its parent is named in [`Declaration::parent`]).
    Field,
    /// A `rule`, `conflict` or `duty`.
    Rule,
    /// A sanction `ladder`.
    Ladder,
    /// A `const`.
    Const,
    /// A `list … from`.
    List,
}

/// One declaration of a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// What it is.
    pub kind: DeclarationKind,
    /// Its name (a rule's id, a field's name).
    pub name: String,
    /// The record or action a field belongs to.
    pub parent: Option<String>,
    /// The whole declaration.
    pub span: Range<usize>,
    /// The name where it is declared.
    pub name_span: Range<usize>,
    /// What it is in a line: a field's type as written (`one of cash, goods`), a rule's
    /// title, a const's value, a list's path, a ladder's title.
    pub detail: String,
    /// More facts, one a line: a rule's citations, a ladder's window, points and steps.
    pub facts: Vec<String>,
    /// For a field whose type is a bare name (a record, or a built-in type): that name.
    pub type_name: Option<String>,
    /// A field's enum members (`one of …`, also inside `set of`), or a ladder's severities.
    pub members: Vec<String>,
}

/// Where a use of a name stands, so that it can be resolved against the set's declarations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UseKind {
    /// An action type (`on`, an aggregate's source, `fulfilled by`, `restricts`).
    Action,
    /// A record type named in a field's type.
    Record,
    /// A ladder (`breach … in`).
    Ladder,
    /// A field of the named action type (`sum(T.f …)`).
    FieldOf(String),
    /// A path in an expression or message placeholder: its segments (`action`, `customer`,
    /// `risk_level`) each with its span, the enclosing rule's `on` types, and inside an
    /// aggregate's `where` the item's type (whose fields bare names are).
    Path {
        /// The segments and their spans.
        segments: Vec<(String, Range<usize>)>,
        /// The action types of the rule the path is in.
        on: Vec<String>,
        /// The aggregate item's type inside its `where` (`breach` for breaches).
        item: Option<String>,
    },
}

/// One place where the file names a declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameUse {
    /// How to resolve it.
    pub kind: UseKind,
    /// The name as written (the first segment of a path).
    pub name: String,
    /// Where it is written.
    pub span: Range<usize>,
}

/// The declarations and name uses of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// In source order (a record's fields after the record).
    pub declarations: Vec<Declaration>,
    /// In source order.
    pub uses: Vec<NameUse>,
}

/// The outline of one policy file (empty when its header does not parse).
pub fn outline(name: &str, text: &str) -> Outline {
    let source = Arc::new(SourceFile::new(name, text));
    let (file, _) = parse_file(&source);
    let mut out = Outline::default();
    let Some(file) = file else { return out };
    let slice = |span: &Range<usize>| text.get(span.clone()).unwrap_or("").trim_end().to_string();
    let header = &file.header;
    out.declarations.push(Declaration {
        kind: DeclarationKind::Policy,
        name: header.id.name.clone(),
        parent: None,
        span: header.span.clone(),
        name_span: header.id.span.clone(),
        detail: header.title.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
        facts: header.versions.iter().map(|v| format!("version {}", v.value)).collect(),
        type_name: None,
        members: Vec::new(),
    });
    for item in &file.items {
        match item {
            Item::Record(decl) => fields(&mut out, decl, DeclarationKind::Record, text),
            Item::Action(decl) => fields(&mut out, decl, DeclarationKind::Action, text),
            Item::Rule(rule) => rule_outline(&mut out, rule),
            Item::Ladder(ladder) => {
                let mut facts: Vec<String> =
                    ladder.windows.iter().map(|w| format!("window {}", slice(&range(w.span)))).collect();
                let points: Vec<String> = ladder.points.iter().map(|(s, n, _)| format!("{} {n}", s.name)).collect();
                if !points.is_empty() {
                    facts.push(format!("points {}", points.join(", ")));
                }
                facts.extend(ladder.steps.iter().map(|s| slice(&s.span)));
                out.declarations.push(Declaration {
                    kind: DeclarationKind::Ladder,
                    name: ladder.id.name.clone(),
                    parent: None,
                    span: ladder.span.clone(),
                    name_span: ladder.id.span.clone(),
                    detail: ladder.title.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
                    facts,
                    type_name: None,
                    members: ladder.points.iter().map(|(s, _, _)| s.name.clone()).collect(),
                });
                for step in &ladder.steps {
                    for target in step.restricts.iter().flat_map(|r| &r.targets) {
                        if let RestrictTarget::Type(t) = target {
                            out.uses.push(NameUse {
                                kind: UseKind::Action,
                                name: t.name.clone(),
                                span: t.span.clone(),
                            });
                        }
                    }
                }
            }
            Item::Const(c) => {
                out.declarations.push(Declaration {
                    kind: DeclarationKind::Const,
                    name: c.name.name.clone(),
                    parent: None,
                    span: c.span.clone(),
                    name_span: c.name.span.clone(),
                    detail: slice(&c.value.span),
                    facts: Vec::new(),
                    type_name: None,
                    members: Vec::new(),
                });
                expr_uses(&mut out, &c.value, &[], None);
            }
            Item::List(l) => out.declarations.push(Declaration {
                kind: DeclarationKind::List,
                name: l.name.name.clone(),
                parent: None,
                span: l.span.clone(),
                name_span: l.name.span.clone(),
                detail: l.path.value.clone(),
                facts: Vec::new(),
                type_name: None,
                members: Vec::new(),
            }),
        }
    }
    out
}

fn range((start, end): (usize, usize)) -> Range<usize> {
    start..end
}

/// A record or action and its fields; record names in the fields' types are uses.
fn fields(out: &mut Outline, decl: &FieldsDecl, kind: DeclarationKind, text: &str) {
    out.declarations.push(Declaration {
        kind,
        name: decl.name.name.clone(),
        parent: None,
        span: decl.span.clone(),
        name_span: decl.name.span.clone(),
        detail: String::new(),
        facts: Vec::new(),
        type_name: None,
        members: Vec::new(),
    });
    for field in &decl.fields {
        let type_name = match &field.ty.kind {
            TypeKind::Named(name) => Some(name.name.clone()),
            _ => None,
        };
        out.declarations.push(Declaration {
            kind: DeclarationKind::Field,
            name: field.name.name.clone(),
            parent: Some(decl.name.name.clone()),
            span: field.name.span.start..field.ty.span.end,
            name_span: field.name.span.clone(),
            detail: type_text(text.get(field.ty.span.clone()).unwrap_or("")),
            facts: Vec::new(),
            type_name,
            members: enum_members(&field.ty),
        });
        type_uses(out, &field.ty);
    }
}

/// A type as written, on one line: a type's span runs to the next field, over any comment and
/// line break (an enum's members may be written one a line).
fn type_text(written: &str) -> String {
    let code = written.lines().map(|line| line.split_once('#').map_or(line, |(code, _)| code));
    code.flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
}

fn enum_members(ty: &TypeExpr) -> Vec<String> {
    match &ty.kind {
        TypeKind::Enum(members) => members.iter().map(|m| m.name.clone()).collect(),
        TypeKind::Set(inner) | TypeKind::List(inner) => enum_members(inner),
        TypeKind::Named(_) | TypeKind::Signed(_) => Vec::new(),
    }
}

fn type_uses(out: &mut Outline, ty: &TypeExpr) {
    match &ty.kind {
        TypeKind::Named(name) => {
            out.uses.push(NameUse { kind: UseKind::Record, name: name.name.clone(), span: name.span.clone() });
        }
        TypeKind::Set(inner) | TypeKind::List(inner) => type_uses(out, inner),
        TypeKind::Signed(_) | TypeKind::Enum(_) => {}
    }
}

fn rule_outline(out: &mut Outline, rule: &RuleDecl) {
    let on: Vec<String> = rule
        .clauses
        .iter()
        .filter_map(|c| if let ClauseKind::On(types) = &c.kind { Some(types) } else { None })
        .flatten()
        .map(|t| t.name.clone())
        .collect();
    let mut facts = vec![format!("{} on {}", rule.kind.keyword(), on.join(", "))];
    for clause in &rule.clauses {
        match &clause.kind {
            ClauseKind::Cite(text) => facts.push(format!("cite {}", text.value)),
            ClauseKind::On(types) => {
                for t in types {
                    out.uses.push(NameUse { kind: UseKind::Action, name: t.name.clone(), span: t.span.clone() });
                }
            }
            ClauseKind::Let(_, e) | ClauseKind::When(e) | ClauseKind::Unless(e) | ClauseKind::Require(e) => {
                expr_uses(out, e, &on, None);
            }
            ClauseKind::Then(outcomes) | ClauseKind::Otherwise(outcomes) => {
                for outcome in outcomes {
                    if let OutcomeKind::Breach { ladder: Some(ladder), .. } = &outcome.kind {
                        out.uses.push(NameUse {
                            kind: UseKind::Ladder,
                            name: ladder.name.clone(),
                            span: ladder.span.clone(),
                        });
                    }
                }
            }
            ClauseKind::FulfilledBy(t, filter) => {
                out.uses.push(NameUse { kind: UseKind::Action, name: t.name.clone(), span: t.span.clone() });
                if let Some(filter) = filter {
                    expr_uses(out, filter, std::slice::from_ref(&t.name), None);
                }
            }
            ClauseKind::Message(_, message) => {
                for part in &message.parts {
                    if let MessagePart::Placeholder(segments, _) = part {
                        path_use(out, segments.iter().map(|s| (s.name.clone(), s.span.clone())).collect(), &on, None);
                    }
                }
            }
            ClauseKind::Due(_) | ClauseKind::Every(_) => {}
        }
    }
    out.declarations.push(Declaration {
        kind: DeclarationKind::Rule,
        name: rule.id.name.clone(),
        parent: None,
        span: rule.span.clone(),
        name_span: rule.id.span.clone(),
        detail: rule.title.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
        facts,
        type_name: None,
        members: Vec::new(),
    });
}

fn path_use(out: &mut Outline, segments: Vec<(String, Range<usize>)>, on: &[String], item: Option<&str>) {
    let Some((name, span)) = segments.first().cloned() else { return };
    out.uses.push(NameUse {
        kind: UseKind::Path { segments, on: on.to_vec(), item: item.map(str::to_string) },
        name,
        span,
    });
}

fn expr_uses(out: &mut Outline, e: &Expr, on: &[String], item: Option<&str>) {
    match &e.kind {
        ExprKind::Path(segments) => {
            path_use(out, segments.iter().map(|s| (s.name.clone(), s.span.clone())).collect(), on, item);
        }
        ExprKind::Unary(_, inner) | ExprKind::Presence(inner, _) | ExprKind::Paren(inner) => {
            expr_uses(out, inner, on, item);
        }
        ExprKind::Binary(_, a, b) => {
            expr_uses(out, a, on, item);
            expr_uses(out, b, on, item);
        }
        ExprKind::Set(items) | ExprKind::Call(_, items) => {
            for i in items {
                expr_uses(out, i, on, item);
            }
        }
        ExprKind::Aggregate(aggregate) => {
            let source = &aggregate.source;
            if source.name != "breach" {
                out.uses.push(NameUse { kind: UseKind::Action, name: source.name.clone(), span: source.span.clone() });
                if let Some(field) = &aggregate.field {
                    out.uses.push(NameUse {
                        kind: UseKind::FieldOf(source.name.clone()),
                        name: field.name.clone(),
                        span: field.span.clone(),
                    });
                }
            }
            if let Some(filter) = &aggregate.filter {
                expr_uses(out, filter, on, Some(&source.name));
            }
        }
        ExprKind::Int(_)
        | ExprKind::Decimal(_)
        | ExprKind::Money(..)
        | ExprKind::Duration(_)
        | ExprKind::Text(_)
        | ExprKind::Bool(_)
        | ExprKind::Date(_)
        | ExprKind::DateTime(_)
        | ExprKind::Now
        | ExprKind::Today => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const SRC: &str = "policy p version \"1\" effective 2026-01-01\n\
        record customer { risk: int  # C1..C5\n  tier: one of a,  # the first\n    b\n}\n\
        action sale { customer: customer  kind: one of a, b }\n\
        ladder l window 12 months points major 3 step 6 \"warned\"\n\
        rule r \"T\" cite \"art. 1\" on sale when action.customer.risk > 1 and count(sale where kind = \"a\" within 1 day) > 0 then deny, breach major in l\n";

    #[test]
    fn declarations_and_uses_with_spans() {
        let o = outline("p.probity", SRC);
        let kinds: Vec<_> = o.declarations.iter().map(|d| (d.kind, d.name.as_str())).collect();
        assert!(kinds.contains(&(DeclarationKind::Field, "kind")));
        let kind = o.declarations.iter().find(|d| d.name == "kind").unwrap();
        assert_eq!(kind.detail, "one of a, b");
        assert_eq!(kind.members, ["a", "b"]);
        assert_eq!(kind.parent.as_deref(), Some("sale"));
        let customer =
            o.declarations.iter().find(|d| d.name == "customer" && d.kind == DeclarationKind::Field).unwrap();
        assert_eq!(customer.type_name.as_deref(), Some("customer"));
        let risk = o.declarations.iter().find(|d| d.name == "risk").unwrap();
        assert_eq!(risk.detail, "int", "no comment, no space");
        let tier = o.declarations.iter().find(|d| d.name == "tier").unwrap();
        assert_eq!((tier.detail.as_str(), tier.members.len()), ("one of a, b", 2));
        let rule = o.declarations.iter().find(|d| d.kind == DeclarationKind::Rule).unwrap();
        assert_eq!(rule.detail, "T");
        assert!(rule.facts.contains(&"cite art. 1".to_string()));
        let ladder = o.declarations.iter().find(|d| d.kind == DeclarationKind::Ladder).unwrap();
        assert_eq!(ladder.facts, ["window 12 months", "points major 3", "step 6 \"warned\""]);
        assert_eq!(&SRC[ladder.name_span.clone()], "l");
        assert_eq!(ladder.members, ["major"]);
        let path =
            o.uses.iter().find(|u| matches!(&u.kind, UseKind::Path { segments, .. } if segments.len() == 3)).unwrap();
        assert_eq!(&SRC[path.span.clone()], "action");
        let bare = o.uses.iter().find(|u| u.name == "kind").unwrap();
        assert!(matches!(&bare.kind, UseKind::Path { item: Some(t), .. } if t == "sale"));
        assert!(o.uses.iter().any(|u| u.kind == UseKind::Ladder && &SRC[u.span.clone()] == "l"));
    }

    #[test]
    fn a_broken_declaration_leaves_the_others() {
        let broken = SRC.replace("when action.customer.risk", "when action.");
        let o = outline("p.probity", &broken);
        assert!(o.declarations.iter().any(|d| d.name == "sale"));
        assert!(!o.declarations.iter().any(|d| d.kind == DeclarationKind::Rule));
        assert!(outline("p.probity", "polic").declarations.is_empty());
    }
}
