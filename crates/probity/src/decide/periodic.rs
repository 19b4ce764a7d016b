//! Periodic duties (`every month | quarter | year`): which checks fall due when an RM's clock
//! advances, and the overdue report of a failed one.

use smol_str::SmolStr;

use chrono::{DateTime, FixedOffset, LocalResult, Months, NaiveDate, TimeDelta, TimeZone};
use chrono_tz::Tz;

use super::{sanctions, verdict_of, Builder, RuleVerdict, Silent};
use crate::action::Decoded;
use crate::decision::{FindingKind, Obligation, ObligationPeriod, OverdueReport};
use crate::eval::history::{BreachRecord, HistoryView, RmHistory};
use crate::eval::{first_after_gap, Evaluator};
use crate::policy_set::PolicySet;
use crate::program::Periodic;
use crate::value::{datetime_text, local_date, Clock};

/// An RM's standing with periodic duties, kept for as long as the RM is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Subject {
    /// The RM's first recorded action (seeded or submitted, of any type): the RM is subject
    /// from the first period that starts at or after it.
    pub(crate) first: Option<DateTime<FixedOffset>>,
    /// Every check due before this instant has run (none has before the first advance).
    pub(crate) checked: Option<DateTime<FixedOffset>>,
}

/// One periodic check of one RM: a duty of a policy version and one of its periods.
#[derive(Debug, Clone)]
pub(crate) struct PeriodCheck {
    /// The policy version (in force on the period's last local day) and the duty.
    pub(crate) policy: usize,
    pub(crate) rule: usize,
    pub(crate) from: NaiveDate,
    pub(crate) until: NaiveDate,
    pub(crate) start: DateTime<FixedOffset>,
    pub(crate) end: DateTime<FixedOffset>,
    pub(crate) due: DateTime<FixedOffset>,
}

/// The first instant of a local date: its midnight, or the first instant after a clock change
/// that skips it.
pub(crate) fn local_midnight(date: NaiveDate, tz: Tz) -> Option<DateTime<FixedOffset>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    let instant = match tz.from_local_datetime(&midnight) {
        LocalResult::Single(x) => x,
        LocalResult::Ambiguous(earliest, _) => earliest,
        LocalResult::None => first_after_gap(midnight, tz)?,
    };
    Some(instant.fixed_offset())
}

/// The checks of a subject RM due in `[subject.checked, before)` (all before `before` on the
/// first advance), in no particular order.
pub(crate) fn due_checks(set: &PolicySet, subject: Subject, before: DateTime<FixedOffset>) -> Vec<PeriodCheck> {
    let mut out = Vec::new();
    let Some(first) = subject.first else { return out };
    for &(pi, ri) in &set.periodic {
        let Some(policy) = set.policies.get(pi) else { continue };
        let Some(periodic) = policy.rules.get(ri).and_then(|r| r.periodic.as_ref()) else { continue };
        let tz = policy.timezone;
        let months = Months::new(periodic.every.months());
        // The first period that starts at or after the first action.
        let mut from = periodic.every.start_of(local_date(&first, tz));
        if local_midnight(from, tz).is_none_or(|start| start < first) {
            let Some(next) = from.checked_add_months(months) else { continue };
            from = next;
        }
        // No earlier than a period that can still be due (its end within a grace and a
        // period of the last check), nor than one ending in this version.
        let grace = policy.calendar.upper_bound_seconds(periodic.grace);
        let lower = subject.checked.and_then(|c| {
            let back = TimeDelta::try_seconds(grace.saturating_add(86_400))?;
            let date = local_date(&c.checked_sub_signed(back)?, tz);
            periodic.every.start_of(date).checked_sub_months(months)
        });
        let effective = periodic.every.start_of(policy.effective);
        from = from.max(lower.unwrap_or(from)).max(effective);
        let end_of_version = set.ends.get(pi).copied().flatten();
        while let Some(check) = period_check(set, pi, ri, periodic, from, tz) {
            if check.due >= before || end_of_version.is_some_and(|e| check.until > e) {
                break;
            }
            let fresh = subject.checked.is_none_or(|c| check.due >= c);
            // The version in force on the period's last local day checks it.
            let last_day = check.until.pred_opt().unwrap_or(check.until);
            let in_force = set.version_on(&policy.id, last_day) == Some(pi);
            let next = check.until;
            if fresh && in_force {
                out.push(check);
            }
            from = next;
        }
    }
    out
}

/// The check of the period starting on `from`, if its instants can be written.
fn period_check(
    set: &PolicySet,
    policy: usize,
    rule: usize,
    periodic: &Periodic,
    from: NaiveDate,
    tz: Tz,
) -> Option<PeriodCheck> {
    let until = from.checked_add_months(Months::new(periodic.every.months()))?;
    let start = local_midnight(from, tz)?;
    let end = local_midnight(until, tz)?;
    let due = set.policies.get(policy)?.shift(end, periodic.grace, true).ok()?;
    Some(PeriodCheck { policy, rule, from, until, start, end, due })
}

/// The report of a check that failed (or could not be evaluated), and the breach it records;
/// `None` when the check passes.
pub(crate) fn periodic_report(
    set: &PolicySet,
    rm: &str,
    check: &PeriodCheck,
    history: &RmHistory,
) -> Option<(OverdueReport, Option<BreachRecord>, Vec<super::restrict::Reaching>)> {
    let policy = set.policies.get(check.policy)?;
    let rule = policy.rules.get(check.rule)?;
    let body = &rule.periodic.as_ref()?.body;
    // No action is decided: `now` is the period's end, and the RM is the one checked.
    let nobody = Decoded {
        type_id: None,
        id: SmolStr::default(),
        at: check.end,
        rm: rm.into(),
        slots: Box::from([]),
        source: None,
    };
    let clock = Clock::new(check.end, policy.timezone);
    let mut ev = Evaluator::new(body, &nobody, clock, history).recording();
    ev.period = Some((check.start, check.end));
    let mut builder = Builder::new(set, &nobody, history);
    match verdict_of(policy, rule, body, &mut ev, &mut Silent) {
        RuleVerdict::Fires(_) => {
            let finding = builder.fired(check.policy, policy, rule, body, &mut ev, FindingKind::Overdue, check.due);
            builder.findings.push(finding);
        }
        RuleVerdict::Fails(clause, e, level) => builder.error(policy, rule, body, &mut ev, clause, &e, level),
        RuleVerdict::Passes | RuleVerdict::Starts(_) => return None,
    }
    let totals = super::ladder_totals(set, history.breaches(), &builder.new_breaches, check.due);
    let reached = super::restrict::reached(&totals, check.due);
    let sanctions = sanctions(totals);
    let report = OverdueReport {
        rm: SmolStr::from(rm),
        at: datetime_text(&check.due),
        obligation: Obligation {
            policy: policy.id.clone(),
            duty: rule.id.clone(),
            action: None,
            period: Some(ObligationPeriod {
                from: check.from.to_string().into(),
                until: check.until.to_string().into(),
            }),
            due: datetime_text(&check.due),
        },
        findings: builder.findings,
        escalations: builder.escalations,
        sanctions,
    };
    Some((report, builder.breaches.pop(), reached))
}
