//! Deciding one action: the verdict of each rule, the findings, obligations, fulfilments,
//! escalations and sanctions, shared by the engine, the ledger and explanations.

pub(crate) mod explain;
pub(crate) mod periodic;
pub(crate) mod restrict;

use smol_str::SmolStr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};

use crate::action::Decoded;
use crate::decision::{
    AppliedPolicy, Decision, EvidenceValue, Finding, FindingKind, Fulfilment, Obligation, OverdueReport, Sanction,
    Verdict,
};
use crate::eval::history::{BreachRecord, HistoryView, OpenObligation, RmHistory};
use crate::eval::{shift, window, EvalError, Evaluator, Item};
use crate::parse::ast::RuleKind;
use crate::policy_set::PolicySet;
use crate::program::{to_u32, Body, Message, MessagePart, Policy, Rule};
use crate::value::datetime_text;
use crate::value::Clock;

/// What one rule makes of an action.
pub(crate) enum RuleVerdict {
    /// Nothing to report.
    Passes,
    /// A duty with a deadline starts an obligation, due then.
    Starts(DateTime<FixedOffset>),
    /// The rule fires.
    Fires(FindingKind),
    /// A clause could not be evaluated: the clause, the error and the verdict it forces.
    Fails(&'static str, EvalError, Verdict),
}

/// Watches the clauses of a rule as they are evaluated (for explanations).
pub(crate) trait Tracer {
    /// A clause is about to be evaluated.
    fn before(&mut self, _ev: &mut Evaluator<'_>) {}
    /// A clause was evaluated.
    fn after(&mut self, _clause: &'static str, _ev: &mut Evaluator<'_>, _result: &Result<bool, EvalError>) {}
}

/// The tracer of ordinary evaluation: it watches nothing.
pub(crate) struct Silent;

impl Tracer for Silent {}

fn traced(
    clause: &'static str,
    expr: Option<&crate::program::Expr>,
    ev: &mut Evaluator<'_>,
    tracer: &mut impl Tracer,
) -> Result<bool, EvalError> {
    let Some(expr) = expr else { return Ok(true) };
    tracer.before(ev);
    let result = ev.condition(expr);
    tracer.after(clause, ev, &result);
    result
}

/// Runs a rule's clauses: `when`, then `unless`, then the duty's `require` or deadline.
pub(crate) fn verdict_of(
    policy: &Policy,
    rule: &Rule,
    body: &Body,
    ev: &mut Evaluator<'_>,
    tracer: &mut impl Tracer,
) -> RuleVerdict {
    // An error after `when` held must not weaken the rule's own verdict.
    let after_when = policy.on_error.max(rule.outcomes.verdict.unwrap_or(Verdict::Allow));
    match traced("when", body.when.as_ref(), ev, tracer) {
        Ok(true) => {}
        Ok(false) => return RuleVerdict::Passes,
        Err(e) => return RuleVerdict::Fails("when", e, policy.on_error),
    }
    if body.unless.is_some() {
        match traced("unless", body.unless.as_ref(), ev, tracer) {
            Ok(true) => return RuleVerdict::Passes,
            Ok(false) => {}
            Err(e) => return RuleVerdict::Fails("unless", e, after_when),
        }
    }
    match (rule.kind, &rule.deadline) {
        (RuleKind::Duty, Some(deadline)) => match policy.shift(ev.now, deadline.within, true) {
            Ok(due) => RuleVerdict::Starts(due),
            Err(e) => RuleVerdict::Fails("due within", e, after_when),
        },
        (RuleKind::Duty, None) => match traced("require", body.require.as_ref(), ev, tracer) {
            Ok(true) => RuleVerdict::Passes,
            Ok(false) => RuleVerdict::Fires(FindingKind::Duty),
            Err(e) => RuleVerdict::Fails("require", e, after_when),
        },
        (RuleKind::Rule, _) => RuleVerdict::Fires(FindingKind::Rule),
        (RuleKind::Conflict, _) => RuleVerdict::Fires(FindingKind::Conflict),
    }
}

/// What deciding on an action produced, for the ledger to record.
pub(crate) struct Outcome {
    pub(crate) decision: Decision,
    pub(crate) breaches: Vec<BreachRecord>,
    pub(crate) obligations: Vec<OpenObligation>,
    /// The `seq` of each obligation of the history the action meets.
    pub(crate) fulfilled: Vec<u64>,
    /// The restricting steps the decision reaches (for later actions).
    pub(crate) reached: Vec<restrict::Reaching>,
}

/// A breach a decision adds: the policy, its ladder and the points.
struct NewBreach {
    policy: usize,
    ladder: u32,
    points: i64,
}

struct Builder<'a> {
    set: &'a PolicySet,
    action: &'a Decoded,
    history: &'a RmHistory,
    verdict: Verdict,
    findings: Vec<Finding>,
    escalations: Vec<SmolStr>,
    breaches: Vec<BreachRecord>,
    new_breaches: Vec<NewBreach>,
    obligations: Vec<OpenObligation>,
}

pub(crate) fn decide(set: &PolicySet, action: &Decoded, history: &RmHistory) -> Outcome {
    let mut b = Builder::new(set, action, history);
    let mut policies = Vec::new();
    for (pi, clock) in set.in_force_with_clocks(&action.at) {
        let Some(policy) = set.policies.get(pi) else { continue };
        policies.push(AppliedPolicy {
            id: policy.id.clone(),
            version: policy.version.clone(),
            digest: policy.digest.clone(),
        });
        let Some(list) = action.type_id.and_then(|t| policy.by_type.get(t as usize)) else { continue };
        // One evaluator serves the policy's rules in turn.
        let mut evaluator: Option<Evaluator<'_>> = None;
        for &(ri, bi) in list {
            let Some(rule) = policy.rules.get(ri as usize) else { continue };
            let Some(body) = rule.bodies.get(bi as usize) else { continue };
            let ev = match &mut evaluator {
                Some(ev) => {
                    ev.start(body);
                    ev
                }
                None => evaluator.insert(Evaluator::new(body, action, clock, history).recording()),
            };
            b.run_rule(pi, policy, clock, ri, rule, bi, body, ev);
        }
    }
    // Restrictions in effect before the action; they apply whatever policy is in force.
    if restrict::add_findings(set, action, history, &mut b.findings) {
        b.verdict = b.verdict.max(Verdict::Deny);
    }
    if policies.is_empty() && set.require_policy {
        // Fail closed: no policy in force is a gap to review, not a silent `allow`.
        b.verdict = b.verdict.max(Verdict::Review);
        b.findings.push(Finding {
            policy: SmolStr::new_static("probity"),
            rule: SmolStr::new_static(crate::policy_set::NO_POLICY_IN_FORCE),
            kind: FindingKind::Error,
            // Not an evaluation error, but an error finding: it has its own code.
            code: Some(SmolStr::new_static("E0100")),
            outcomes: Arc::from([SmolStr::new_static(Verdict::Review.as_str())]),
            severity: None,
            ladder: None,
            message: format!("no policy is in force for this action at {}", datetime_text(&action.at)).into(),
            messages: Vec::new(),
            cite: Arc::from([]),
            evidence: Vec::new(),
        });
    }
    let fulfilled = b.fulfilment();
    let totals = ladder_totals(set, history.breaches(), &b.new_breaches, action.at);
    let reached = restrict::reached(&totals, action.at);
    let sanctions = sanctions(totals);
    let decision = Decision {
        action: action.id.clone(),
        at: datetime_text(&action.at),
        verdict: b.verdict,
        policies,
        findings: b.findings,
        obligations: b.obligations.iter().filter_map(|o| obligation_record(set, o)).collect(),
        fulfilled: fulfilled
            .iter()
            .filter_map(|&seq| history.obligations.get(seq))
            .filter_map(|o| {
                let r = obligation_record(set, o)?;
                Some(Fulfilment { policy: r.policy, duty: r.duty, action: o.trigger.id.clone() })
            })
            .collect(),
        escalations: b.escalations,
        sanctions,
    };
    Outcome { decision, breaches: b.breaches, obligations: b.obligations, fulfilled, reached }
}

pub(crate) fn obligation_record(set: &PolicySet, o: &OpenObligation) -> Option<Obligation> {
    let policy = set.policies.get(o.policy as usize)?;
    let rule = policy.rules.get(o.rule as usize)?;
    Some(Obligation {
        policy: policy.id.clone(),
        duty: rule.id.clone(),
        action: Some(o.trigger.id.clone()),
        period: None,
        due: datetime_text(&o.due),
    })
}

impl<'a> Builder<'a> {
    fn new(set: &'a PolicySet, action: &'a Decoded, history: &'a RmHistory) -> Self {
        Builder {
            set,
            action,
            history,
            verdict: Verdict::Allow,
            findings: Vec::new(),
            escalations: Vec::new(),
            breaches: Vec::new(),
            new_breaches: Vec::new(),
            obligations: Vec::new(),
        }
    }

    /// Runs a rule in one pass, with an evaluator that records the values it reads (a field
    /// of the action by reference, so recording costs little though most rules do not fire).
    #[allow(clippy::too_many_arguments)]
    fn run_rule(
        &mut self,
        pi: usize,
        policy: &Policy,
        clock: Clock,
        ri: u32,
        rule: &Rule,
        bi: u32,
        body: &Body,
        ev: &mut Evaluator<'_>,
    ) {
        match verdict_of(policy, rule, body, ev, &mut Silent) {
            RuleVerdict::Passes => {}
            RuleVerdict::Starts(due) => self.obligations.push(OpenObligation {
                policy: to_u32(pi),
                rule: ri,
                body: bi,
                trigger: Arc::new(self.action.clone()),
                due,
                reported: false,
                seq: 0,
            }),
            RuleVerdict::Fires(kind) => {
                let finding = self.fired(pi, policy, rule, body, ev, kind, clock.now);
                self.findings.push(finding);
            }
            RuleVerdict::Fails(clause, e, level) => self.error(policy, rule, body, ev, clause, &e, level),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fired(
        &mut self,
        pi: usize,
        policy: &Policy,
        rule: &Rule,
        body: &Body,
        ev: &mut Evaluator<'_>,
        kind: FindingKind,
        at: DateTime<FixedOffset>,
    ) -> Finding {
        let outcomes = &rule.outcomes;
        if let Some(v) = outcomes.verdict {
            self.verdict = self.verdict.max(v);
        }
        add_escalations(&mut self.escalations, &outcomes.escalations);
        let (severity, ladder) = match &outcomes.breach {
            Some(b) => {
                let ladder = policy.ladders.get(b.ladder as usize);
                let points = ladder.and_then(|l| l.points_of(&b.severity)).unwrap_or(0);
                self.new_breaches.push(NewBreach { policy: pi, ladder: b.ladder, points });
                self.breaches.push(BreachRecord {
                    policy: policy.id.clone(),
                    rule: rule.id.clone(),
                    severity: b.severity.clone(),
                    ladder: ladder.map(|l| l.id.clone()),
                    ladder_key: ladder.map(|l| l.key),
                    points,
                    action: self.action.id.clone(),
                    at,
                });
                (Some(b.severity.clone()), ladder.map(|l| l.id.clone()))
            }
            None => (None, None),
        };
        let (message, messages) = render_messages(self.set, rule, body, ev);
        Finding {
            policy: policy.id.clone(),
            rule: rule.id.clone(),
            kind,
            code: None,
            outcomes: Arc::clone(&outcomes.keywords),
            severity,
            ladder,
            message,
            messages,
            cite: Arc::clone(&rule.cites),
            evidence: evidence(self.set, body, ev),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn error(
        &mut self,
        policy: &Policy,
        rule: &Rule,
        body: &Body,
        ev: &mut Evaluator<'_>,
        clause: &str,
        e: &EvalError,
        verdict: Verdict,
    ) {
        self.verdict = self.verdict.max(verdict);
        self.findings.push(Finding {
            policy: policy.id.clone(),
            rule: rule.id.clone(),
            kind: FindingKind::Error,
            code: Some(SmolStr::new_static(e.code())),
            outcomes: Arc::from([SmolStr::new_static(verdict.as_str())]),
            severity: None,
            ladder: None,
            message: format!("cannot evaluate `{clause}`: {e}").into(),
            messages: Vec::new(),
            cite: Arc::clone(&rule.cites),
            evidence: evidence(self.set, body, ev),
        });
    }

    /// The open obligations this action meets (by `seq`), in deadline order. Only the
    /// candidates the index gives are tried: the others' predicates are false without error.
    fn fulfilment(&mut self) -> Vec<u64> {
        let mut met: Vec<u64> = Vec::new();
        let Some(type_id) = self.action.type_id else { return met };
        #[cfg(test)]
        let plain = self.history.plain;
        #[cfg(not(test))]
        let plain = false;
        let obligations = &self.history.obligations;
        for seq in obligations.candidates(type_id, self.action, plain) {
            let Some(o) = obligations.get(seq) else { continue };
            let Some(policy) = self.set.policies.get(o.policy as usize) else { continue };
            let Some(rule) = policy.rules.get(o.rule as usize) else { continue };
            if rule.deadline.as_ref().is_none_or(|d| d.fulfilled_by != type_id) {
                continue;
            }
            let Some(body) = rule.bodies.get(o.body as usize) else { continue };
            let Some(predicate) = &body.fulfilment else {
                met.push(seq);
                continue;
            };
            let mut ev = Evaluator::new(body, &o.trigger, Clock::new(self.action.at, policy.timezone), self.history);
            ev.item = Item::Action(self.action);
            match ev.condition(predicate) {
                Ok(true) => met.push(seq),
                Ok(false) => {}
                Err(e) => self.error(policy, rule, body, &mut ev, "fulfilled by", &e, policy.on_error),
            }
        }
        met.sort_by_key(|&seq| obligations.get(seq).map(|o| (o.due, o.seq)));
        met
    }
}

fn add_escalations(list: &mut Vec<SmolStr>, teams: &[SmolStr]) {
    for team in teams {
        if !list.iter().any(|t| **t == **team) {
            list.push(team.clone());
        }
    }
}

/// The values a rule read, under their labels, in the order the labels appear in the rule.
fn evidence(set: &PolicySet, body: &Body, ev: &mut Evaluator<'_>) -> Vec<(SmolStr, EvidenceValue)> {
    ev.evidence.sort_unstable_by_key(|(i, _)| *i);
    let mut evidence = Vec::with_capacity(ev.evidence.len());
    for (i, value) in &ev.evidence {
        if let Some(label) = body.evidence.get(*i as usize) {
            evidence.push((label.clone(), EvidenceValue::read(value.naming_enums(&set.schema))));
        }
    }
    evidence
}

/// The default message, and the messages of further languages by tag.
fn render_messages(
    set: &PolicySet,
    rule: &Rule,
    body: &Body,
    ev: &mut Evaluator<'_>,
) -> (SmolStr, Vec<(SmolStr, SmolStr)>) {
    let mut rendered = body.messages.iter().map(|m| (m.lang.clone(), render(set, m, ev)));
    let default = match rendered.next() {
        Some((_, text)) => text,
        None => rule.title.clone().unwrap_or_else(|| rule.id.clone()),
    };
    let others = rendered.filter_map(|(lang, text)| lang.map(|l| (l, text))).collect();
    (default, others)
}

fn render(set: &PolicySet, message: &Message, ev: &mut Evaluator<'_>) -> SmolStr {
    if let [MessagePart::Literal(text)] = message.parts.as_slice() {
        return text.clone();
    }
    let mut out = String::new();
    for part in &message.parts {
        match part {
            MessagePart::Literal(s) => out.push_str(s),
            MessagePart::Value(e) => match ev.eval(e) {
                Ok(v) => out.push_str(&v.to_text(&set.schema)),
                Err(_) => out.push('?'),
            },
        }
    }
    out.into()
}

/// A ladder's points when a decision adds breaches to it.
pub(crate) struct LadderTotal<'a> {
    pub(crate) policy: &'a Policy,
    /// The policy version's index in the set, and the ladder's in the version.
    pub(crate) index: usize,
    pub(crate) ladder_index: u32,
    pub(crate) ladder: &'a crate::program::Ladder,
    /// Points inside the window before the new breaches.
    pub(crate) before: i64,
    /// Points the new breaches add.
    pub(crate) added: i64,
}

impl LadderTotal<'_> {
    pub(crate) fn total(&self) -> i64 {
        self.before.saturating_add(self.added)
    }
}

/// The totals of every ladder that gained breaches, in the order the ladders first gained them.
fn ladder_totals<'s>(
    set: &'s PolicySet,
    prior: &[BreachRecord],
    new: &[NewBreach],
    now: DateTime<FixedOffset>,
) -> Vec<LadderTotal<'s>> {
    let mut out = Vec::new();
    let mut done: Vec<(usize, u32)> = Vec::new();
    for nb in new {
        if done.contains(&(nb.policy, nb.ladder)) {
            continue;
        }
        done.push((nb.policy, nb.ladder));
        let Some(policy) = set.policies.get(nb.policy) else { continue };
        let Some(ladder) = policy.ladders.get(nb.ladder as usize) else { continue };
        let from = shift(now, ladder.window, false, policy.timezone)
            .unwrap_or(DateTime::<FixedOffset>::MIN_UTC.fixed_offset());
        let before: i64 = window(prior, |b| b.at, from, now)
            .iter()
            .filter(|b| b.ladder_key == Some(ladder.key))
            .fold(0i64, |sum, b| sum.saturating_add(b.points));
        let added = new
            .iter()
            .filter(|x| x.policy == nb.policy && x.ladder == nb.ladder)
            .fold(0i64, |sum, x| sum.saturating_add(x.points));
        out.push(LadderTotal { policy, index: nb.policy, ladder_index: nb.ladder, ladder, before, added });
    }
    out
}

/// The ladder totals of a decision's new breaches (for explanations).
pub(crate) fn ladder_totals_of<'s>(
    set: &'s PolicySet,
    history: &RmHistory,
    breaches: &[BreachRecord],
    now: DateTime<FixedOffset>,
) -> Vec<LadderTotal<'s>> {
    let in_force: Vec<usize> = set.in_force(&now).collect();
    let new: Vec<NewBreach> = breaches
        .iter()
        .filter_map(|b| {
            let policy = in_force.iter().copied().find(|&i| set.policies.get(i).is_some_and(|p| p.id == b.policy))?;
            let ladders = &set.policies.get(policy)?.ladders;
            let ladder = ladders.iter().position(|l| Some(l.key) == b.ladder_key)?;
            Some(NewBreach { policy, ladder: to_u32(ladder), points: b.points })
        })
        .collect();
    ladder_totals(set, history.breaches(), &new, now)
}

/// One sanction per ladder that gained breaches and reached a step.
fn sanctions(totals: Vec<LadderTotal<'_>>) -> Vec<Sanction> {
    totals
        .into_iter()
        .filter_map(|t| {
            let step = t.ladder.step_for(t.total())?;
            Some(Sanction {
                policy: t.policy.id.clone(),
                ladder: t.ladder.id.clone(),
                points: t.total(),
                step: step.clone(),
                previous: t.ladder.step_for(t.before).cloned(),
            })
        })
        .collect()
}

/// The overdue report for an obligation whose deadline passed, the breach it records and the
/// restricting steps it reaches.
pub(crate) fn overdue_report(
    set: &PolicySet,
    rm: &str,
    o: &OpenObligation,
    history: &RmHistory,
) -> Option<(OverdueReport, Option<BreachRecord>, Vec<restrict::Reaching>)> {
    let pi = o.policy as usize;
    let policy = set.policies.get(pi)?;
    let rule = policy.rules.get(o.rule as usize)?;
    let body = rule.bodies.get(o.body as usize)?;
    let mut ev = Evaluator::new(body, &o.trigger, Clock::new(o.due, policy.timezone), history);
    let mut builder = Builder::new(set, &o.trigger, history);
    let mut finding = builder.fired(pi, policy, rule, body, &mut ev, FindingKind::Overdue, o.due);
    finding.evidence = Vec::new();
    let totals = ladder_totals(set, history.breaches(), &builder.new_breaches, o.due);
    let reached = restrict::reached(&totals, o.due);
    let sanctions = sanctions(totals);
    let report = OverdueReport {
        rm: SmolStr::from(rm),
        at: datetime_text(&o.due),
        obligation: obligation_record(set, o)?,
        findings: vec![finding],
        escalations: builder.escalations,
        sanctions,
    };
    Some((report, builder.breaches.pop(), reached))
}
