//! Explanations: why a decision came out as it did, clause by clause.

use smol_str::SmolStr;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::action::{Action, InputError};
use crate::decide::{decide, ladder_totals_of, verdict_of, RuleVerdict, Tracer};
use crate::decision::Decision;
use crate::eval::history::History;
use crate::eval::{EvalError, Evaluator};
use crate::policy_set::PolicySet;
use crate::program::Body;
use crate::value::format_datetime;

/// A decision with the trace of every rule that ran and the sanction arithmetic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct Explanation {
    /// The decision, exactly as [`Engine::evaluate`](crate::Engine::evaluate) gives it.
    pub decision: Decision,
    /// Every rule, conflict and duty of the action's type in the policies in force, in
    /// decision order.
    pub rules: Vec<RuleTrace>,
    /// How each ladder that gained breaches reached its total.
    pub ladders: Vec<LadderTrace>,
    /// Why each restriction in effect for the action holds, in finding order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub restrictions: Vec<RestrictionTrace>,
}

/// Why a restriction holds: the step, when it was reached, and until when it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct RestrictionTrace {
    /// The policy id.
    pub policy: String,
    /// The version whose step applies (the one in force when the step was reached).
    pub version: String,
    /// The ladder id.
    pub ladder: String,
    /// The step's label.
    pub step: String,
    /// The step's threshold.
    pub threshold: i64,
    /// When the step was last reached, with the offset of the record that reached it.
    pub reached: String,
    /// The total when it was reached.
    pub points: i64,
    /// With `for`: the instant it ends (exclusive).
    pub until: Option<String>,
    /// Without `for`: the total at the action's `at`, over the ladder's window.
    pub total_now: Option<i64>,
}

/// One rule's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct RuleTrace {
    /// The policy id.
    pub policy: String,
    /// The policy version.
    pub version: String,
    /// The rule, conflict or duty id.
    pub rule: String,
    /// `rule`, `conflict` or `duty`.
    pub kind: String,
    /// What came of it, in words: `fires`, `passes: when is false`, …
    pub result: String,
    /// The clauses evaluated, in order.
    pub clauses: Vec<ClauseTrace>,
}

/// One clause's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct ClauseTrace {
    /// `when`, `unless` or `require`.
    pub clause: String,
    /// The clause's expression as written.
    pub source: String,
    /// `true`, `false`, or the evaluation error.
    pub result: String,
    /// The values the clause read: paths, `let`s and aggregates, in source order.
    #[serde(with = "crate::decision::ordered_map")]
    #[cfg_attr(feature = "typescript", tsify(type = "Record<string, unknown>"))]
    pub values: Vec<(String, serde_json::Value)>,
    /// For each aggregate, the history items it counted.
    #[serde(with = "crate::decision::ordered_map")]
    #[cfg_attr(feature = "typescript", tsify(type = "Record<string, string[]>"))]
    pub counted: Vec<(String, Vec<String>)>,
}

/// How a ladder's total was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct LadderTrace {
    /// The policy id.
    pub policy: String,
    /// The ladder id.
    pub ladder: String,
    /// The ladder's window.
    pub window: String,
    /// Points inside the window before this action.
    pub before: i64,
    /// Points this action's breaches add.
    pub added: i64,
    /// The sum.
    pub total: i64,
    /// The step reached, if any.
    pub step: Option<String>,
    /// The step reached before, if any.
    pub previous: Option<String>,
    /// The ladder's steps: threshold and label.
    pub steps: Vec<(i64, String)>,
}

struct ClauseTracer<'b> {
    body: &'b Body,
    schema: &'b crate::program::Schema,
    clauses: Vec<ClauseTrace>,
}

impl Tracer for ClauseTracer<'_> {
    fn before(&mut self, ev: &mut Evaluator<'_>) {
        ev.take_evidence();
        if let Some(counted) = ev.counted.as_mut() {
            counted.clear();
        }
    }

    fn after(&mut self, clause: &'static str, ev: &mut Evaluator<'_>, result: &Result<bool, EvalError>) {
        let label = |i: usize| self.body.evidence.get(i).map_or_else(String::new, |l| l.to_string());
        let values = ev.take_evidence().into_iter().map(|(i, v)| (label(i), v.to_json(self.schema))).collect();
        let counted = ev
            .counted
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
            .into_iter()
            .map(|(i, items)| (label(i as usize), items))
            .collect();
        let source = match clause {
            "when" => self.body.sources.when.as_deref(),
            "unless" => self.body.sources.unless.as_deref(),
            _ => self.body.sources.require.as_deref(),
        };
        self.clauses.push(ClauseTrace {
            clause: clause.to_string(),
            source: source.unwrap_or("").to_string(),
            result: match result {
                Ok(b) => b.to_string(),
                Err(e) => format!("error: {}", e),
            },
            values,
            counted,
        });
    }
}

/// Decides on an action and explains the decision (see [`crate::Engine::explain`]).
pub(crate) fn explain(set: &PolicySet, action: &Action, history: &History) -> Result<Explanation, InputError> {
    let decoded = set.schema.decode(action)?;
    let rm = set.history_for(action.rm(), history)?;
    let outcome = decide(set, &decoded, &rm);
    let mut rules = Vec::new();
    for (pi, clock) in set.in_force_with_clocks(&decoded.at) {
        let Some(policy) = set.policies.get(pi) else { continue };
        let Some(list) = decoded.type_id.and_then(|t| policy.by_type.get(t as usize)) else { continue };
        for &(ri, bi) in list {
            let Some(rule) = policy.rules.get(ri as usize) else { continue };
            let Some(body) = rule.bodies.get(bi as usize) else { continue };
            let mut ev = Evaluator::new(body, &decoded, clock, &rm).explaining();
            let mut tracer = ClauseTracer { body, schema: &set.schema, clauses: Vec::new() };
            let verdict = verdict_of(policy, rule, body, &mut ev, &mut tracer);
            let result = match verdict {
                RuleVerdict::Passes => match tracer.clauses.last() {
                    Some(c) if c.clause == "when" => "passes: `when` is false".to_string(),
                    Some(c) if c.clause == "unless" => "passes: `unless` holds".to_string(),
                    Some(c) if c.clause == "require" => "passes: `require` holds".to_string(),
                    _ => "passes".to_string(),
                },
                RuleVerdict::Starts(due) => format!("starts an obligation due {}", format_datetime(&due)),
                RuleVerdict::Fires(_) => format!(
                    "fires: {}",
                    rule.outcomes.keywords.iter().map(SmolStr::as_str).collect::<Vec<_>>().join(", ")
                ),
                RuleVerdict::Fails(clause, e, level) => {
                    format!("cannot evaluate `{clause}` ({}): fails closed to {level}", e)
                }
            };
            rules.push(RuleTrace {
                policy: policy.id.to_string(),
                version: policy.version.to_string(),
                rule: rule.id.to_string(),
                kind: rule.kind.keyword().to_string(),
                result,
                clauses: tracer.clauses,
            });
        }
    }
    let ladders = ladder_totals_of(set, &rm, &outcome.breaches, decoded.at)
        .into_iter()
        .map(|t| LadderTrace {
            policy: t.policy.id.to_string(),
            ladder: t.ladder.id.to_string(),
            window: t.ladder.window.to_string(),
            before: t.before,
            added: t.added,
            total: t.total(),
            step: t.ladder.step_for(t.total()).map(|s| s.to_string()),
            previous: t.ladder.step_for(t.before).map(|s| s.to_string()),
            steps: t.ladder.steps.iter().map(|(n, l)| (*n, l.to_string())).collect(),
        })
        .collect();
    let restrictions = crate::decide::restrict::held(set, &decoded, &rm)
        .into_iter()
        .map(|h| RestrictionTrace {
            policy: h.policy.id.to_string(),
            version: h.policy.version.to_string(),
            ladder: h.ladder.id.to_string(),
            step: h.step.label.to_string(),
            threshold: h.step.threshold,
            reached: format_datetime(&h.reaching.at),
            points: h.reaching.points,
            until: h.until.map(|u| format_datetime(&u)),
            total_now: h
                .step
                .length
                .is_none()
                .then(|| crate::decide::restrict::total_at(&rm, h.policy, h.ladder, decoded.at)),
        })
        .collect();
    Ok(Explanation { decision: outcome.decision, rules, ladders, restrictions })
}

impl Explanation {
    /// The explanation as text for a reader.
    pub fn to_text(&self) -> String {
        let d = &self.decision;
        let mut out = format!("{} at {}: {}\n", d.action, d.at, d.verdict);
        let mut current = String::new();
        for r in &self.rules {
            let header = format!("{} {}", r.policy, r.version);
            if header != current {
                let _ = writeln!(out, "\npolicy {header}");
                current = header;
            }
            let _ = writeln!(out, "  {} {}: {}", r.kind, r.rule, r.result);
            for c in &r.clauses {
                let _ = writeln!(out, "    {} {}  →  {}", c.clause, c.source, c.result);
                for (path, value) in &c.values {
                    let _ = writeln!(out, "      {path} = {value}");
                }
                for (aggregate, items) in &c.counted {
                    let _ = writeln!(out, "      {aggregate} counted {}: {}", items.len(), items.join("; "));
                }
            }
        }
        if !self.ladders.is_empty() {
            let _ = writeln!(out, "\nsanctions");
            for l in &self.ladders {
                let reached = match (&l.step, &l.previous) {
                    (Some(step), Some(prev)) if step != prev => format!("\"{step}\" (was \"{prev}\")"),
                    (Some(step), _) => format!("\"{step}\""),
                    (None, _) => "no step".to_string(),
                };
                let steps: Vec<String> = l.steps.iter().map(|(n, label)| format!("{n} {label}")).collect();
                let _ = writeln!(
                    out,
                    "  {}/{}: {} points in the last {} + {} new = {} → {reached}; steps: {}",
                    l.policy,
                    l.ladder,
                    l.before,
                    l.window,
                    l.added,
                    l.total,
                    steps.join(", ")
                );
            }
        }
        if !self.restrictions.is_empty() {
            let _ = writeln!(out, "\nrestrictions");
            for r in &self.restrictions {
                let holds = match (&r.until, r.total_now) {
                    (Some(until), _) => format!("holds until {until}"),
                    (None, Some(total)) => {
                        format!("holds while the total is at least {}: {total} now", r.threshold)
                    }
                    (None, None) => "holds with no end".to_string(),
                };
                let _ = writeln!(
                    out,
                    "  {}/{}: step {} \"{}\" reached {} at {} points; {holds}",
                    r.policy, r.ladder, r.threshold, r.step, r.reached, r.points
                );
            }
        }
        if !d.obligations.is_empty() {
            let _ = writeln!(out, "\nobligations");
            for o in &d.obligations {
                let _ = writeln!(out, "  {}/{} due {}", o.policy, o.duty, o.due);
            }
        }
        if !d.fulfilled.is_empty() {
            let _ = writeln!(out, "\nfulfilled");
            for f in &d.fulfilled {
                let _ = writeln!(out, "  {}/{} (started by {})", f.policy, f.duty, f.action);
            }
        }
        out
    }
}
