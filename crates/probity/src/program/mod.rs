//! The compiled form of a policy set: names resolved to indices, types checked, rules indexed
//! by action type. Nothing here is looked up by name while evaluating.

pub(crate) mod node;

use smol_str::SmolStr;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::decision::Verdict;
use crate::parse::ast::{AggregateFn, RuleKind};
use crate::refdata::Calendar;
use crate::value::{Duration, EnumId, EnumNames, RecordId, Ty, Value};

/// An action type's index in the policy set.
pub(crate) type TypeId = u32;
/// A ladder's index in the policy set (policy id and ladder id, across versions).
pub(crate) type LadderKey = u32;

/// The types every policy file shares: action types with their decoded slots, enums, records.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    pub(crate) action_types: Vec<ActionType>,
    /// Action type names and ids, in [`crate::program::node::key_order`] of the names.
    type_ids: Vec<(SmolStr, TypeId)>,
    pub(crate) enums: Vec<Vec<SmolStr>>,
    pub(crate) records: Vec<RecordType>,
}

/// An action type: one slot per distinct (field path, type) pair that the policies read, so an
/// action is decoded once however many policies read it, and only as far as they read it.
#[derive(Debug, Default)]
pub(crate) struct ActionType {
    pub(crate) name: SmolStr,
    pub(crate) slots: Vec<Slot>,
    /// The members the slots read, in the order of an action's members
    /// ([`crate::program::node::key_order`]).
    pub(crate) members: Vec<MemberPlan>,
    /// The slots, in order, whose type can hold an amount that must not be negative (money,
    /// or a set, list or record): decoding checks only these.
    pub(crate) money_slots: Vec<u32>,
}

/// A value an action type's rules read: the field at `path` (`["customer", "risk_level"]`
/// for `action.customer.risk_level`), decoded as `ty`. A record's fields have slots of their
/// own, so reading one neither builds nor searches the record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Slot {
    pub(crate) path: Box<[SmolStr]>,
    pub(crate) ty: Ty,
}

/// A member of an action (or of an object within it) that slots read.
#[derive(Debug, Default)]
pub(crate) struct MemberPlan {
    pub(crate) name: Box<str>,
    /// The slots holding the member's own value, one per type it is read as.
    pub(crate) slots: Vec<u32>,
    /// The members of this member (an object, then) that slots read, in member order.
    pub(crate) members: Vec<MemberPlan>,
    /// Every slot read through `members`, however deep: each is invalid when this member is
    /// not an object.
    pub(crate) below: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RecordType {
    pub(crate) name: SmolStr,
    pub(crate) fields: Vec<(SmolStr, Ty, bool)>,
}

impl Schema {
    pub(crate) fn intern_enum(&mut self, members: Vec<SmolStr>) -> EnumId {
        intern(&mut self.enums, members)
    }

    pub(crate) fn intern_record(&mut self, record: RecordType) -> RecordId {
        intern(&mut self.records, record)
    }

    /// The id of the action type `name`, if a policy declares it.
    pub(crate) fn type_id(&self, name: &str) -> Option<TypeId> {
        let at = self.type_ids.binary_search_by(|(n, _)| crate::program::node::key_order(n, name)).ok()?;
        self.type_ids.get(at).map(|(_, id)| *id)
    }

    /// The id of the action type `name`, declaring it if it is new.
    pub(crate) fn action_type(&mut self, name: &str) -> TypeId {
        match self.type_ids.binary_search_by(|(n, _)| crate::program::node::key_order(n, name)) {
            Ok(at) => self.type_ids.get(at).map_or(u32::MAX, |(_, id)| *id),
            Err(at) => {
                let id = u32::try_from(self.action_types.len()).unwrap_or(u32::MAX);
                self.action_types.push(ActionType { name: name.into(), ..ActionType::default() });
                self.type_ids.insert(at, (name.into(), id));
                id
            }
        }
    }

    /// The slot of the field at `path` of an action type, read as `ty` (added on first use).
    pub(crate) fn slot(&mut self, type_id: TypeId, path: &[SmolStr], ty: &Ty) -> u32 {
        let Some(action) = self.action_types.get_mut(type_id as usize) else { return u32::MAX };
        let known = action.slots.len();
        let index = intern(&mut action.slots, Slot { path: path.into(), ty: ty.clone() });
        if index as usize == known {
            action.plan(path, index);
            if may_hold_money(ty) {
                action.money_slots.push(index);
            }
        }
        index
    }
}

/// Whether a value of type `ty` can hold money declared `money` (not `signed money`).
fn may_hold_money(ty: &Ty) -> bool {
    match ty {
        Ty::Money | Ty::Record(_) => true,
        Ty::Set(t) | Ty::List(t) => may_hold_money(t),
        _ => false,
    }
}

impl ActionType {
    /// Adds a new slot to the plan of the members to decode.
    fn plan(&mut self, path: &[SmolStr], slot: u32) {
        let mut level = &mut self.members;
        let mut segments = path.iter().peekable();
        while let Some(name) = segments.next() {
            let at = match level.binary_search_by(|m| crate::program::node::key_order(&m.name, name)) {
                Ok(at) => at,
                Err(at) => {
                    level.insert(at, MemberPlan { name: name.as_str().into(), ..MemberPlan::default() });
                    at
                }
            };
            let Some(member) = level.get_mut(at) else { return };
            if segments.peek().is_none() {
                member.slots.push(slot);
                return;
            }
            member.below.push(slot);
            level = &mut member.members;
        }
    }
}

impl EnumNames for Schema {
    fn member(&self, id: EnumId, index: u32) -> Option<&SmolStr> {
        self.enums.get(id as usize)?.get(index as usize)
    }
}

fn intern<T: PartialEq>(table: &mut Vec<T>, item: T) -> u32 {
    let index = table.iter().position(|t| *t == item).unwrap_or_else(|| {
        table.push(item);
        table.len().saturating_sub(1)
    });
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// One policy file, compiled.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) id: SmolStr,
    pub(crate) version: SmolStr,
    pub(crate) digest: SmolStr,
    pub(crate) effective: NaiveDate,
    pub(crate) until: Option<NaiveDate>,
    pub(crate) timezone: Tz,
    pub(crate) on_error: Verdict,
    pub(crate) rules: Vec<Rule>,
    /// By action type id, the rule bodies to run, in file order: (rule, body).
    pub(crate) by_type: Vec<Vec<(u32, u32)>>,
    pub(crate) ladders: Vec<Ladder>,
    /// Holidays and workdays for business days (empty without a `calendar`).
    pub(crate) calendar: Arc<Calendar>,
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: SmolStr,
    pub(crate) kind: RuleKind,
    pub(crate) title: Option<SmolStr>,
    pub(crate) cites: Arc<[SmolStr]>,
    pub(crate) outcomes: Outcomes,
    pub(crate) deadline: Option<Deadline>,
    pub(crate) bodies: Vec<Body>,
    /// A periodic duty (`every …`): checked by the calendar, not on actions (no `bodies`).
    pub(crate) periodic: Option<Periodic>,
}

/// A periodic duty: its period, its grace and the body its check evaluates.
#[derive(Debug)]
pub(crate) struct Periodic {
    pub(crate) every: Period,
    /// `due within D`: how long after the period's end the check waits (zero without it).
    pub(crate) grace: Duration,
    pub(crate) body: Body,
}

/// The calendar periods of `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Month,
    Quarter,
    Year,
}

impl Period {
    /// The period's length in calendar months.
    pub(crate) fn months(self) -> u32 {
        match self {
            Period::Month => 1,
            Period::Quarter => 3,
            Period::Year => 12,
        }
    }

    /// The first day of the period holding `date`.
    pub(crate) fn start_of(self, date: NaiveDate) -> NaiveDate {
        use chrono::Datelike;
        let month0 = date.month0();
        let first = month0.saturating_sub(month0.checked_rem(self.months()).unwrap_or(0));
        NaiveDate::from_ymd_opt(date.year(), first.saturating_add(1), 1).unwrap_or(date)
    }
}

/// The outcomes of a rule's `then` (or a duty's `otherwise`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcomes {
    /// The outcome keywords in the order written, as findings list them.
    pub(crate) keywords: Arc<[SmolStr]>,
    pub(crate) verdict: Option<Verdict>,
    pub(crate) breach: Option<BreachOutcome>,
    pub(crate) escalations: Vec<SmolStr>,
}

#[derive(Debug, Clone)]
pub(crate) struct BreachOutcome {
    pub(crate) severity: SmolStr,
    /// Index of the ladder in its policy.
    pub(crate) ladder: u32,
}

#[derive(Debug)]
pub(crate) struct Deadline {
    /// Counted in the policy's time zone and calendar ([`Policy::shift`]).
    pub(crate) within: Duration,
    pub(crate) fulfilled_by: TypeId,
}

/// A rule compiled for one of the action types it is `on`.
#[derive(Debug)]
pub(crate) struct Body {
    pub(crate) action_type: TypeId,
    pub(crate) lets: Vec<Expr>,
    pub(crate) when: Option<Expr>,
    pub(crate) unless: Option<Expr>,
    pub(crate) require: Option<Expr>,
    /// For a duty with a deadline: the `fulfilled by … where` predicate.
    pub(crate) fulfilment: Option<Expr>,
    pub(crate) messages: Vec<Message>,
    /// Evidence labels: the paths, `let`s and aggregates the body reads, in source order.
    pub(crate) evidence: Vec<SmolStr>,
    /// For each `let`, its evidence index.
    pub(crate) let_evidence: Vec<u32>,
    /// The source text of each clause, for explanations.
    pub(crate) sources: ClauseSources,
}

/// The source text of a body's clauses, white space collapsed.
#[derive(Debug, Default)]
pub(crate) struct ClauseSources {
    pub(crate) when: Option<SmolStr>,
    pub(crate) unless: Option<SmolStr>,
    pub(crate) require: Option<SmolStr>,
}

#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) lang: Option<SmolStr>,
    pub(crate) parts: Vec<MessagePart>,
}

#[derive(Debug)]
pub(crate) enum MessagePart {
    Literal(SmolStr),
    Value(Expr),
}

#[derive(Debug)]
pub(crate) struct Ladder {
    pub(crate) key: LadderKey,
    pub(crate) id: SmolStr,
    pub(crate) window: Duration,
    pub(crate) points: Vec<(SmolStr, i64)>,
    pub(crate) steps: Vec<(i64, SmolStr)>,
    /// The steps that restrict action types once reached, in step order.
    pub(crate) restrictions: Vec<Restriction>,
}

/// `step N "label" restricts T, … [for D]`.
#[derive(Debug)]
pub(crate) struct Restriction {
    pub(crate) threshold: i64,
    pub(crate) label: SmolStr,
    /// `restricts all`: every action type the set declares.
    pub(crate) all: bool,
    /// The listed types, resolved once every file of the set is checked (types may be
    /// declared in another file).
    pub(crate) types: Vec<TypeId>,
    /// The listed type names and where they are written, for that resolution.
    pub(crate) names: Vec<(SmolStr, std::ops::Range<usize>)>,
    /// `for D`: how long it holds after it is reached; without it, while the total holds.
    pub(crate) length: Option<Duration>,
}

impl Restriction {
    pub(crate) fn covers(&self, type_id: Option<TypeId>) -> bool {
        type_id.is_some_and(|t| self.all || self.types.contains(&t))
    }
}

impl Ladder {
    pub(crate) fn points_of(&self, severity: &str) -> Option<i64> {
        self.points.iter().find(|(s, _)| &**s == severity).map(|(_, p)| *p)
    }

    pub(crate) fn step_for(&self, total: i64) -> Option<&SmolStr> {
        self.steps.iter().rev().find(|(threshold, _)| *threshold <= total).map(|(_, label)| label)
    }
}

/// Where a field path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// A field of the action type (or of a record within it), by slot.
    Slot(u32),
    Id,
    At,
}

/// The fields of a breach, as history items in `breach` aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreachField {
    Rule,
    Policy,
    Severity,
    Ladder,
    Points,
    Action,
    At,
}

impl BreachField {
    pub(crate) const ALL: [(&'static str, BreachField, Ty); 7] = [
        ("rule", BreachField::Rule, Ty::Text),
        ("policy", BreachField::Policy, Ty::Text),
        ("severity", BreachField::Severity, Ty::Text),
        ("ladder", BreachField::Ladder, Ty::Text),
        ("points", BreachField::Points, Ty::Int),
        ("action", BreachField::Action, Ty::Text),
        ("at", BreachField::At, Ty::DateTime),
    ];
}

/// Which record a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// The action being decided (in a fulfilment predicate: the action that created the
    /// obligation).
    Action,
    /// The history item of an aggregate, or the later action of a fulfilment predicate.
    Item,
}

#[derive(Debug)]
pub(crate) enum Expr {
    Const(Value),
    Field { subject: Subject, root: Root, evidence: Option<u32>, label: SmolStr },
    BreachField(BreachField),
    Let(u32),
    Now,
    Today,
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Comparison, Box<Expr>, Box<Expr>),
    Member { element: Box<Expr>, collection: Box<Expr>, negated: bool },
    TextContains(Box<Expr>, Box<Expr>),
    Arith(Arith, Box<Expr>, Box<Expr>),
    Presence(Box<Expr>, bool),
    Call(Function, Vec<Expr>),
    Aggregate(Box<Aggregate>),
    Set(Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Year,
    Month,
    Age,
    DaysBetween,
    Date,
    Hour,
    Weekday,
    Len,
    Lower,
    Abs,
    Min,
    Max,
    Amount,
    Currency,
}

#[derive(Debug)]
pub(crate) enum Source {
    Actions(TypeId),
    Breaches,
}

#[derive(Debug)]
pub(crate) struct Aggregate {
    pub(crate) function: AggregateFn,
    pub(crate) source: Source,
    /// The summed (or compared) field of each item.
    pub(crate) field: Option<Expr>,
    pub(crate) filter: Option<Expr>,
    pub(crate) window: Duration,
    /// `within period`: the periodic check's period (`window` is its length), with the
    /// duty's grace (which the history must also be kept for).
    pub(crate) period: Option<Duration>,
    /// The policy's calendar, for a window in business days.
    pub(crate) calendar: Arc<Calendar>,
    /// The zero of a sum, by the field's type.
    pub(crate) zero: Value,
    pub(crate) evidence: Option<u32>,
}

/// An index into the compiled tables as stored (they never hold more than `u32::MAX` items).
pub(crate) fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
