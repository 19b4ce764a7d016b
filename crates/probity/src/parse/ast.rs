//! The typed syntax tree of one policy file. Every node carries its byte span.

use std::ops::Range;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

/// A byte range in a source file.
pub type Span = Range<usize>;

/// A name with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A text literal, decoded, with its span (quotes included).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFile {
    pub header: Header,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub id: Ident,
    pub title: Option<Text>,
    pub versions: Vec<Text>,
    pub effective: Vec<(NaiveDate, Span)>,
    pub until: Vec<(NaiveDate, Span)>,
    pub timezones: Vec<Text>,
    pub on_error: Vec<(OnError, Span)>,
    /// `calendar "PATH"` (at most one; the checker says so).
    pub calendars: Vec<Text>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Review,
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Record(FieldsDecl),
    Action(FieldsDecl),
    Rule(RuleDecl),
    Ladder(LadderDecl),
    Const(ConstDecl),
    List(ListDecl),
}

/// `const NAME = literal`: a file-scoped name for one literal.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstDecl {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `list NAME from "PATH"`: a set of text read from a file when the policy loads.
#[derive(Debug, Clone, PartialEq)]
pub struct ListDecl {
    pub name: Ident,
    pub path: Text,
    pub span: Span,
}

/// A `record` or `action` declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldsDecl {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub optional: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    Named(Ident),
    /// `signed money` (the checker accepts only money after `signed`).
    Signed(Ident),
    Set(Box<TypeExpr>),
    List(Box<TypeExpr>),
    Enum(Vec<Ident>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Rule,
    Conflict,
    Duty,
}

impl RuleKind {
    pub fn keyword(self) -> &'static str {
        match self {
            RuleKind::Rule => "rule",
            RuleKind::Conflict => "conflict",
            RuleKind::Duty => "duty",
        }
    }
}

/// A `rule`, `conflict` or `duty`: the clauses in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    pub kind: RuleKind,
    pub id: Ident,
    pub title: Option<Text>,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub kind: ClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClauseKind {
    Cite(Text),
    On(Vec<Ident>),
    Let(Ident, Expr),
    When(Expr),
    Unless(Expr),
    Then(Vec<Outcome>),
    Require(Expr),
    Due(DurationLit),
    FulfilledBy(Ident, Option<Expr>),
    Otherwise(Vec<Outcome>),
    Message(Option<Ident>, MessageText),
    /// `every month | quarter | year` (the period's name, checked by the checker).
    Every(Ident),
}

impl ClauseKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            ClauseKind::Cite(_) => "cite",
            ClauseKind::On(_) => "on",
            ClauseKind::Let(..) => "let",
            ClauseKind::When(_) => "when",
            ClauseKind::Unless(_) => "unless",
            ClauseKind::Then(_) => "then",
            ClauseKind::Require(_) => "require",
            ClauseKind::Due(_) => "due within",
            ClauseKind::FulfilledBy(..) => "fulfilled by",
            ClauseKind::Otherwise(_) => "otherwise",
            ClauseKind::Message(..) => "message",
            ClauseKind::Every(_) => "every",
        }
    }
}

/// A message text split into literal parts and `{placeholder}` paths.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageText {
    pub parts: Vec<MessagePart>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MessagePart {
    Literal(String),
    Placeholder(Vec<Ident>, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeKind {
    Deny,
    Review,
    Warn,
    Breach { severity: Ident, ladder: Option<Ident> },
    Escalate(Text),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LadderDecl {
    pub id: Ident,
    pub title: Option<Text>,
    pub windows: Vec<DurationLit>,
    pub points: Vec<(Ident, i64, Span)>,
    pub steps: Vec<Step>,
    pub span: Span,
}

/// `step N "label" [restricts …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub threshold: i64,
    pub label: Text,
    pub restricts: Option<Restricts>,
    pub span: Span,
}

/// `restricts T, … [for D]`: the action types a reached step holds back, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Restricts {
    pub targets: Vec<RestrictTarget>,
    pub length: Option<DurationLit>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RestrictTarget {
    /// `all`: every action type the policy set declares.
    All(Span),
    Type(Ident),
}

/// A duration literal: an amount of a unit. Where a length of time is given (`due within`, an
/// aggregate's `within`) it may instead name a const (`name`; `amount` and `unit` then unused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationLit {
    pub amount: i64,
    pub unit: DurationUnit,
    pub span: (usize, usize),
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    /// `N business days` (only where a length of time is given, never in an expression).
    BusinessDay,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// The height of the tree below this node (a leaf is 1).
    pub depth: u32,
}

impl Expr {
    /// A node, its depth computed from its direct children.
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let child = |e: &Expr| e.depth;
        let below = match &kind {
            ExprKind::Unary(_, e) | ExprKind::Presence(e, _) | ExprKind::Paren(e) => child(e),
            ExprKind::Binary(_, a, b) => child(a).max(child(b)),
            ExprKind::Set(items) | ExprKind::Call(_, items) => items.iter().map(child).max().unwrap_or(0),
            ExprKind::Aggregate(a) => a.filter.as_ref().map_or(0, child),
            _ => 0,
        };
        Expr { kind, span, depth: below.saturating_add(1) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Decimal(Decimal),
    Money(Decimal, Ident),
    Duration(DurationLit),
    Text(String),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    Set(Vec<Expr>),
    Now,
    Today,
    /// `a.b.c`; a bare name is a path of one segment.
    Path(Vec<Ident>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Presence(Box<Expr>, bool),
    Call(Ident, Vec<Expr>),
    Aggregate(Box<Aggregate>),
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Contains,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::In
                | BinaryOp::NotIn
                | BinaryOp::Contains
        )
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Contains => "contains",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFn {
    Count,
    Exists,
    Sum,
    Min,
    Max,
}

impl AggregateFn {
    pub fn name(self) -> &'static str {
        match self {
            AggregateFn::Count => "count",
            AggregateFn::Exists => "exists",
            AggregateFn::Sum => "sum",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub function: AggregateFn,
    pub source: Ident,
    pub field: Option<Ident>,
    pub filter: Option<Expr>,
    pub window: Option<DurationLit>,
    /// `within period` (in a periodic duty): where `period` is written.
    pub period: Option<Span>,
}
