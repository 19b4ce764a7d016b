//! What the cases exercised: the rules that fired and the ladder steps reached, per policy version.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use probity::{Decision, OverdueReport, PolicySet, Sanction};

/// What the test cases exercised: for each policy version, its rules and ladder steps, and which
/// of them fired or were reached. A [`crate::Runner`] fills it over every file it runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// `(policy, version)` → rule id → fired.
    rules: BTreeMap<(String, String), BTreeMap<String, bool>>,
    /// `(policy, version)` → `ladder: step` → reached.
    steps: BTreeMap<(String, String), BTreeMap<String, bool>>,
    /// The steps that restrict, `(policy, version)` → `ladder: step`: covered when a test sees
    /// their restriction finding, not when it only reaches them.
    restricting: BTreeMap<(String, String), std::collections::BTreeSet<String>>,
    /// Obligations seen, with the version that created them: `(policy, duty, action)` → version.
    obligations: BTreeMap<(String, String, String), String>,
}

impl Coverage {
    /// Notes every rule and ladder step of a loaded set, none of them exercised yet.
    pub(crate) fn learn(&mut self, set: &PolicySet) {
        for r in set.rules() {
            let key = (r.policy.to_string(), r.version.to_string());
            self.rules.entry(key).or_default().entry(r.rule.to_string()).or_insert(false);
        }
        for (policy, version, ladder, step) in set.ladder_steps() {
            let key = (policy.to_string(), version.to_string());
            self.steps.entry(key).or_default().entry(format!("{ladder}: {step}")).or_insert(false);
        }
        for (policy, version, ladder, step) in set.restricting_steps() {
            let key = (policy.to_string(), version.to_string());
            self.restricting.entry(key).or_default().insert(format!("{ladder}: {step}"));
        }
    }

    fn mark(&mut self, policy: &str, version: &str, rule: &str) {
        if let Some(fired) =
            self.rules.get_mut(&(policy.to_string(), version.to_string())).and_then(|r| r.get_mut(rule))
        {
            *fired = true;
        }
    }

    fn reach(&mut self, policy: &str, version: &str, sanctions: &[Sanction]) {
        let key = (policy.to_string(), version.to_string());
        for s in sanctions.iter().filter(|s| s.policy == policy) {
            let step = format!("{}: {}", s.ladder, s.step);
            if self.restricting.get(&key).is_some_and(|r| r.contains(&step)) {
                continue;
            }
            if let Some(reached) = self.steps.get_mut(&key).and_then(|m| m.get_mut(&step)) {
                *reached = true;
            }
        }
    }

    /// A restriction finding covers its step, in every version of the policy that has it (the
    /// finding does not say which version's step applied).
    fn restricted(&mut self, f: &probity::Finding) {
        let Some(label) =
            f.evidence.iter().find(|(k, _)| k == "step").and_then(|(_, v)| v.to_json().as_str().map(str::to_string))
        else {
            return;
        };
        let step = format!("{}: {label}", f.rule);
        for (key, steps) in self.steps.iter_mut().filter(|(k, _)| k.0 == *f.policy) {
            if self.restricting.get(key).is_some_and(|r| r.contains(&step)) {
                if let Some(reached) = steps.get_mut(&step) {
                    *reached = true;
                }
            }
        }
    }

    /// Notes what a decision fired, started and reached.
    pub(crate) fn decision(&mut self, d: &Decision) {
        let version_of = |policy: &str| d.policies.iter().find(|p| p.id == policy).map(|p| p.version.to_string());
        for f in &d.findings {
            if f.kind == probity::FindingKind::Restriction {
                self.restricted(f);
                continue;
            }
            if let Some(v) = version_of(&f.policy) {
                self.mark(&f.policy, &v, &f.rule);
            }
        }
        for o in &d.obligations {
            if let Some(v) = version_of(&o.policy) {
                // Starting an obligation exercises the duty.
                self.mark(&o.policy, &v, &o.duty);
                let action = o.action.as_deref().unwrap_or("").to_string();
                self.obligations.insert((o.policy.to_string(), o.duty.to_string(), action), v);
            }
        }
        for p in &d.policies {
            self.reach(&p.id, &p.version, &d.sanctions);
        }
    }

    /// Notes what an overdue report fired and reached, under the version that started the
    /// obligation (for a periodic duty: the version in force on the period's last day).
    pub(crate) fn overdue(&mut self, r: &OverdueReport, set: &PolicySet) {
        let o = &r.obligation;
        let version = match (&o.action, &o.period) {
            (Some(action), _) => {
                self.obligations.get(&(o.policy.to_string(), o.duty.to_string(), action.to_string())).cloned()
            }
            (None, Some(period)) => chrono::NaiveDate::parse_from_str(&period.until, "%Y-%m-%d")
                .ok()
                .and_then(|until| until.pred_opt())
                .and_then(|last| set.version_in_force_on(&o.policy, last))
                .map(str::to_string),
            (None, None) => None,
        };
        if let Some(v) = version {
            for f in &r.findings {
                self.mark(&f.policy, &v, &f.rule);
            }
            self.reach(&o.policy, &v, &r.sanctions);
        }
    }

    /// The report: per policy version, how much fired, and what never did.
    pub fn report(&self) -> String {
        let mut out = String::from("coverage\n");
        for (key, rules) in &self.rules {
            let fired = rules.values().filter(|f| **f).count();
            let steps = self.steps.get(key);
            let reached = steps.map_or(0, |s| s.values().filter(|r| **r).count());
            let _ = write!(out, "  {}@{}: {fired}/{} rules fired", key.0, key.1, rules.len());
            if let Some(steps) = steps {
                let _ = write!(out, ", {reached}/{} ladder steps reached", steps.len());
            }
            out.push('\n');
            let never: Vec<&str> = rules.iter().filter(|(_, f)| !**f).map(|(r, _)| r.as_str()).collect();
            if !never.is_empty() {
                let _ = writeln!(out, "    never fired: {}", never.join(", "));
            }
            let unreached: Vec<&str> =
                steps.into_iter().flatten().filter(|(_, r)| !**r).map(|(s, _)| s.as_str()).collect();
            if !unreached.is_empty() {
                let _ = writeln!(out, "    never reached: {}", unreached.join(", "));
            }
        }
        let (covered, total) = self.totals();
        // Tenths of a percent, rounded down, so that 99.96 % is not shown as 100 %.
        let tenths = (covered as u128).saturating_mul(1000).checked_div(total as u128).unwrap_or(1000);
        let _ = writeln!(out, "  total: {covered}/{total} rules and ladder steps ({}.{}%)", tenths / 10, tenths % 10);
        out
    }

    /// Rules fired and ladder steps reached, and how many there are, across every version.
    pub fn totals(&self) -> (usize, usize) {
        let all = self.rules.values().chain(self.steps.values()).flat_map(|m| m.values());
        all.fold((0usize, 0usize), |(covered, total), &hit| {
            (covered.saturating_add(usize::from(hit)), total.saturating_add(1))
        })
    }

    /// Whether every rule fired and every step was reached.
    pub fn complete(&self) -> bool {
        let (covered, total) = self.totals();
        covered == total
    }

    /// Whether at least `percent` % of the rules and ladder steps, counted together, were
    /// exercised (`--fail-under`). Nothing to exercise meets any percentage.
    pub fn meets(&self, percent: u8) -> bool {
        let (covered, total) = self.totals();
        // covered / total >= percent / 100, in integers.
        (covered as u128).saturating_mul(100) >= (total as u128).saturating_mul(u128::from(percent))
    }
}
