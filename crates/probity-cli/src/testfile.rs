//! Test files (docs/language.md#test-files): policies, cases of steps, and the expectations each
//! step must meet.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use probity::{Action, Decision, Engine, History, OverdueReport, PolicySet, Sanction};
use serde::{Deserialize, Deserializer};

/// A parsed test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The file's title.
    pub name: String,
    /// Inline policy sources (entries with a line break) or paths relative to the file.
    #[serde(default)]
    pub policies: Vec<String>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case: a fresh ledger, optional history, and steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The case's title.
    pub name: String,
    /// Policies replacing the file's.
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    /// History loaded into the ledger as it is.
    #[serde(default)]
    pub history: Option<serde_json::Value>,
    /// Actions and advances, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Loading must fail (at this line, when given).
    #[serde(default)]
    pub expect_error: Option<ExpectError>,
}

/// A load error the case expects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectError {
    /// The line (within a policy source) some error must be on.
    #[serde(default)]
    pub line: Option<usize>,
}

/// A step: submit an action, or advance the clock.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The action to submit.
    #[serde(default)]
    pub action: Option<serde_json::Value>,
    /// The time to advance every RM to.
    #[serde(default)]
    pub advance: Option<String>,
    /// What the step must give.
    #[serde(default)]
    pub expect: Expect,
}

/// Expectations; absent keys are not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    verdict: Option<String>,
    policies: Option<Vec<String>>,
    findings: Option<Vec<FindingMatch>>,
    obligations: Option<Vec<String>>,
    fulfilled: Option<Vec<String>>,
    overdue: Option<Vec<String>>,
    escalations: Option<Vec<String>>,
    sanctions: Option<BTreeMap<String, SanctionMatch>>,
}

/// A rule id, or a map of any of `rule`, `kind`, `severity`, `policy`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FindingMatch {
    Rule(String),
    Fields {
        #[serde(default)]
        rule: Option<String>,
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        severity: Option<String>,
        #[serde(default)]
        policy: Option<String>,
    },
}

/// A step label, or a map of any of `step`, `previous`, `points`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SanctionMatch {
    Step(String),
    Fields {
        #[serde(default)]
        step: Option<String>,
        #[serde(default, deserialize_with = "present")]
        previous: Option<Option<String>>,
        #[serde(default)]
        points: Option<i64>,
    },
}

/// Tells `previous: null` (expected absent) from no `previous` key (not checked).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The case's title.
    pub name: String,
    /// Empty when the case passed; otherwise what differed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What the test cases exercised: for each policy version, its rules and ladder steps, and which
/// of them fired or were reached.
#[derive(Debug, Default)]
pub struct Coverage {
    /// `(policy, version)` → rule id → fired.
    rules: BTreeMap<(String, String), BTreeMap<String, bool>>,
    /// `(policy, version)` → `ladder: step` → reached.
    steps: BTreeMap<(String, String), BTreeMap<String, bool>>,
    /// Obligations seen, with the version that created them: `(policy, duty, action)` → version.
    obligations: BTreeMap<(String, String, String), String>,
}

impl Coverage {
    fn learn(&mut self, set: &PolicySet) {
        for r in set.rules() {
            let key = (r.policy.to_string(), r.version.to_string());
            self.rules.entry(key).or_default().entry(r.rule.to_string()).or_insert(false);
        }
        for (policy, version, ladder, step) in set.ladder_steps() {
            let key = (policy.to_string(), version.to_string());
            self.steps.entry(key).or_default().entry(format!("{ladder}: {step}")).or_insert(false);
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
        for s in sanctions.iter().filter(|s| s.policy == policy) {
            let steps = self.steps.get_mut(&(policy.to_string(), version.to_string()));
            if let Some(reached) = steps.and_then(|m| m.get_mut(&format!("{}: {}", s.ladder, s.step))) {
                *reached = true;
            }
        }
    }

    fn decision(&mut self, d: &Decision) {
        let version_of = |policy: &str| d.policies.iter().find(|p| p.id == policy).map(|p| p.version.to_string());
        for f in &d.findings {
            if let Some(v) = version_of(&f.policy) {
                self.mark(&f.policy, &v, &f.rule);
            }
        }
        for o in &d.obligations {
            if let Some(v) = version_of(&o.policy) {
                // Starting an obligation exercises the duty.
                self.mark(&o.policy, &v, &o.duty);
                self.obligations.insert((o.policy.to_string(), o.duty.to_string(), o.action.to_string()), v);
            }
        }
        for p in &d.policies {
            self.reach(&p.id, &p.version, &d.sanctions);
        }
    }

    fn overdue(&mut self, r: &OverdueReport) {
        let o = &r.obligation;
        if let Some(v) =
            self.obligations.get(&(o.policy.to_string(), o.duty.to_string(), o.action.to_string())).cloned()
        {
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
}

/// Reads and runs a test file.
pub fn run_file(path: &Path) -> Result<(TestFile, Vec<CaseResult>), String> {
    run_file_with(path, &mut Coverage::default())
}

/// Reads and runs a test file, noting what the cases exercised.
pub fn run_file_with(path: &Path, coverage: &mut Coverage) -> Result<(TestFile, Vec<CaseResult>), String> {
    run_file_in(path, &[], coverage)
}

/// [`run_file_with`], where the policy files a test file names may be in its own directory or
/// under one of `roots` (the paths given on the command line), and nowhere else. The file is
/// read within [`crate::files::MAX_TEST_FILE_BYTES`], and its nesting is checked before the YAML
/// parser sees it.
pub fn run_file_in(
    path: &Path,
    roots: &[PathBuf],
    coverage: &mut Coverage,
) -> Result<(TestFile, Vec<CaseResult>), String> {
    let text = crate::files::read_text(path, crate::files::MAX_TEST_FILE_BYTES)?;
    if let Some(line) = crate::files::yaml_too_deep(&text, crate::files::MAX_YAML_DEPTH) {
        return Err(format!(
            "`{}`:{line}: brackets nest deeper than {} levels",
            path.display(),
            crate::files::MAX_YAML_DEPTH
        ));
    }
    let file: TestFile =
        serde_norway::from_str(&text).map_err(|e| format!("`{}` is not a valid test file: {e}", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut allowed: Vec<PathBuf> = roots.iter().filter_map(|r| std::fs::canonicalize(r).ok()).collect();
    allowed.extend(std::fs::canonicalize(if dir.as_os_str().is_empty() { Path::new(".") } else { &dir }).ok());
    let places = Places { dir, allowed };
    let results = file.cases.iter().map(|case| run_case(&file, case, &places, path, coverage)).collect();
    Ok((file, results))
}

/// Where a test file's policy paths are resolved (`dir`) and may lead (`allowed`, canonical).
struct Places {
    dir: PathBuf,
    allowed: Vec<PathBuf>,
}

fn sources(list: &[String], places: &Places, file: &Path) -> Result<Vec<(String, String)>, String> {
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            if entry.contains('\n') {
                Ok((format!("{}#{}", file.display(), i.saturating_add(1)), entry.clone()))
            } else {
                let path: PathBuf = places.dir.join(entry);
                let real = std::fs::canonicalize(&path)
                    .map_err(|e| format!("cannot read policy `{}`: {e}", path.display()))?;
                if !places.allowed.iter().any(|root| real.starts_with(root)) {
                    return Err(format!(
                        "policy `{}` is outside the test file's directory (name it on the command line to allow it)",
                        path.display()
                    ));
                }
                let text = crate::files::read_text(&path, probity::limits::MAX_SOURCE_BYTES as u64)
                    .map_err(|e| format!("policy: {e}"))?;
                Ok((path.display().to_string(), text))
            }
        })
        .collect()
}

fn run_case(file: &TestFile, case: &Case, places: &Places, path: &Path, coverage: &mut Coverage) -> CaseResult {
    let mut failures = Vec::new();
    if let Err(e) = run_case_inner(file, case, places, path, &mut failures, coverage) {
        failures.push(e);
    }
    CaseResult { name: case.name.clone(), failures }
}

fn run_case_inner(
    file: &TestFile,
    case: &Case,
    places: &Places,
    path: &Path,
    failures: &mut Vec<String>,
    coverage: &mut Coverage,
) -> Result<(), String> {
    let sources = sources(case.policies.as_deref().unwrap_or(&file.policies), places, path)?;
    let loaded = PolicySet::from_sources(sources);
    if let Some(expected) = &case.expect_error {
        match loaded {
            Ok(_) => failures.push("expected the policies not to load, but they loaded".into()),
            Err(diagnostics) => {
                if let Some(line) = expected.line {
                    if !diagnostics.errors().any(|d| d.line_column().0 == line) {
                        let lines: Vec<String> = diagnostics.errors().map(|d| d.to_string()).collect();
                        failures.push(format!(
                            "expected an error on line {line}; the errors were:\n  {}",
                            lines.join("\n  ")
                        ));
                    }
                }
            }
        }
        return Ok(());
    }
    let set = loaded.map_err(|d| format!("the policies did not load:\n{}", d.render()))?;
    coverage.learn(&set);
    let engine = Engine::new(set);
    let mut ledger = engine.ledger();
    if let Some(history) = &case.history {
        let history: History = serde_json::from_value(history.clone()).map_err(|e| format!("invalid history: {e}"))?;
        ledger.load(&history).map_err(|e| format!("invalid history: {e}"))?;
    }
    for (i, step) in case.steps.iter().enumerate() {
        let number = i.saturating_add(1);
        match (&step.action, &step.advance) {
            (Some(json), None) => {
                let action =
                    Action::from_value(json.clone()).map_err(|e| format!("step {number}: invalid action: {e}"))?;
                let submission = ledger.submit(&action).map_err(|e| format!("step {number}: {e}"))?;
                submission.overdue.iter().for_each(|r| coverage.overdue(r));
                coverage.decision(&submission.decision);
                let label = format!("step {number} (action {})", action.id());
                compare_decision(&label, &step.expect, &submission.decision, &submission.overdue, failures);
            }
            (None, Some(at)) => {
                let t = chrono::DateTime::parse_from_rfc3339(at)
                    .map_err(|e| format!("step {number}: invalid `advance` time `{at}`: {e}"))?;
                let reports = ledger.advance_to(t);
                reports.iter().for_each(|r| coverage.overdue(r));
                compare_advance(&format!("step {number} (advance to {at})"), &step.expect, &reports, failures);
            }
            _ => return Err(format!("step {number}: a step has either `action` or `advance`")),
        }
    }
    Ok(())
}

fn compare_decision(label: &str, expect: &Expect, d: &Decision, overdue: &[OverdueReport], failures: &mut Vec<String>) {
    let mut out = Vec::new();
    if let Some(v) = &expect.verdict {
        if v != d.verdict.as_str() {
            out.push(format!("verdict\n    - expected: {v}\n    + actual:   {}", d.verdict));
        }
    }
    if let Some(p) = &expect.policies {
        let actual: Vec<String> = d.policies.iter().map(|p| format!("{}@{}", p.id, p.version)).collect();
        multiset("policies", p, &actual, &mut out);
    }
    if let Some(f) = &expect.findings {
        findings(f, &d.findings, &mut out);
    }
    if let Some(o) = &expect.obligations {
        let actual: Vec<String> = d.obligations.iter().map(|o| o.duty.to_string()).collect();
        multiset("obligations", o, &actual, &mut out);
    }
    if let Some(f) = &expect.fulfilled {
        let actual: Vec<String> = d.fulfilled.iter().map(|o| o.duty.to_string()).collect();
        multiset("fulfilled", f, &actual, &mut out);
    }
    if let Some(o) = &expect.overdue {
        let actual: Vec<String> = overdue.iter().map(|r| r.obligation.duty.to_string()).collect();
        multiset("overdue", o, &actual, &mut out);
    }
    if let Some(e) = &expect.escalations {
        multiset("escalations", e, &d.escalations, &mut out);
    }
    if let Some(s) = &expect.sanctions {
        sanctions(s, &d.sanctions, &mut out);
    }
    report(label, out, failures);
}

fn compare_advance(label: &str, expect: &Expect, reports: &[OverdueReport], failures: &mut Vec<String>) {
    let mut out = Vec::new();
    for (key, given) in [
        ("verdict", expect.verdict.is_some()),
        ("policies", expect.policies.is_some()),
        ("obligations", expect.obligations.is_some()),
        ("fulfilled", expect.fulfilled.is_some()),
    ] {
        if given {
            out.push(format!("{key}: an advance step has no `{key}` to check"));
        }
    }
    if let Some(o) = &expect.overdue {
        let actual: Vec<String> = reports.iter().map(|r| r.obligation.duty.to_string()).collect();
        multiset("overdue", o, &actual, &mut out);
    }
    if let Some(f) = &expect.findings {
        let all: Vec<probity::Finding> = reports.iter().flat_map(|r| r.findings.iter().cloned()).collect();
        findings(f, &all, &mut out);
    }
    if let Some(e) = &expect.escalations {
        let actual: Vec<String> = reports.iter().flat_map(|r| r.escalations.iter().map(ToString::to_string)).collect();
        multiset("escalations", e, &actual, &mut out);
    }
    if let Some(s) = &expect.sanctions {
        let mut last: Vec<Sanction> = Vec::new();
        for sanction in reports.iter().flat_map(|r| &r.sanctions) {
            last.retain(|x| x.ladder != sanction.ladder || x.policy != sanction.policy);
            last.push(sanction.clone());
        }
        sanctions(s, &last, &mut out);
    }
    report(label, out, failures);
}

fn report(label: &str, out: Vec<String>, failures: &mut Vec<String>) {
    if !out.is_empty() {
        let mut text = format!("{label}:");
        for line in out {
            let _ = write!(text, "\n  {line}");
        }
        failures.push(text);
    }
}

fn sorted(list: &[String]) -> Vec<String> {
    let mut v = list.to_vec();
    v.sort();
    v
}

fn multiset(key: &str, expected: &[String], actual: &[impl AsRef<str>], out: &mut Vec<String>) {
    let actual: Vec<String> = actual.iter().map(|a| a.as_ref().to_string()).collect();
    if sorted(expected) != sorted(&actual) {
        out.push(format!("{key}\n    - expected: [{}]\n    + actual:   [{}]", expected.join(", "), actual.join(", ")));
    }
}

impl FindingMatch {
    fn matches(&self, f: &probity::Finding) -> bool {
        let kind = serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        match self {
            FindingMatch::Rule(r) => *r == f.rule,
            FindingMatch::Fields { rule, kind: k, severity, policy } => {
                rule.as_ref().is_none_or(|r| *r == f.rule)
                    && k.as_ref().is_none_or(|k| *k == kind)
                    && severity.as_ref().is_none_or(|s| Some(s.as_str()) == f.severity.as_deref())
                    && policy.as_ref().is_none_or(|p| *p == f.policy)
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            FindingMatch::Rule(r) => r.clone(),
            FindingMatch::Fields { rule, kind, severity, policy } => {
                let parts: Vec<String> = [("rule", rule), ("kind", kind), ("severity", severity), ("policy", policy)]
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
        }
    }
}

fn describe_finding(f: &probity::Finding) -> String {
    let kind = serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let mut s = format!("{{rule: {}, kind: {kind}, policy: {}", f.rule, f.policy);
    if let Some(sev) = &f.severity {
        let _ = write!(s, ", severity: {sev}");
    }
    if f.kind == probity::FindingKind::Error {
        let _ = write!(s, ", message: {:?}", f.message);
    }
    s.push('}');
    s
}

/// Whether expected and actual findings pair up one to one (a bipartite matching).
fn findings(expected: &[FindingMatch], actual: &[probity::Finding], out: &mut Vec<String>) {
    fn augment(
        e: usize,
        expected: &[FindingMatch],
        actual: &[probity::Finding],
        owner: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for (a, f) in actual.iter().enumerate() {
            let Some(m) = expected.get(e) else { return false };
            if m.matches(f) && !seen.get(a).copied().unwrap_or(true) {
                if let Some(s) = seen.get_mut(a) {
                    *s = true;
                }
                let current = owner.get(a).copied().flatten();
                if current.is_none_or(|other| augment(other, expected, actual, owner, seen)) {
                    if let Some(o) = owner.get_mut(a) {
                        *o = Some(e);
                    }
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; actual.len()];
    let all = expected.len() == actual.len()
        && (0..expected.len()).all(|e| augment(e, expected, actual, &mut owner, &mut vec![false; actual.len()]));
    if !all {
        let exp: Vec<String> = expected.iter().map(FindingMatch::describe).collect();
        let act: Vec<String> = actual.iter().map(describe_finding).collect();
        out.push(format!("findings\n    - expected: [{}]\n    + actual:   [{}]", exp.join(", "), act.join(", ")));
    }
}

fn sanctions(expected: &BTreeMap<String, SanctionMatch>, actual: &[Sanction], out: &mut Vec<String>) {
    let describe = |s: &Sanction| {
        format!(
            "{}: {{step: {}, previous: {}, points: {}}}",
            s.ladder,
            s.step,
            s.previous.as_deref().unwrap_or("null"),
            s.points
        )
    };
    let mut ok = expected.len() == actual.len();
    for (ladder, m) in expected {
        let Some(s) = actual.iter().find(|s| s.ladder == *ladder) else {
            ok = false;
            continue;
        };
        ok &= match m {
            SanctionMatch::Step(step) => *step == s.step,
            SanctionMatch::Fields { step, previous, points } => {
                step.as_ref().is_none_or(|x| *x == s.step)
                    && previous.as_ref().is_none_or(|p| p.as_deref() == s.previous.as_deref())
                    && points.is_none_or(|p| p == s.points)
            }
        };
    }
    if !ok {
        let exp: Vec<String> = expected
            .iter()
            .map(|(l, m)| match m {
                SanctionMatch::Step(s) => format!("{l}: {s}"),
                SanctionMatch::Fields { step, previous, points } => format!(
                    "{l}: {{step: {}, previous: {}, points: {}}}",
                    step.as_deref().unwrap_or("*"),
                    previous.as_ref().map_or("*".to_string(), |p| p.clone().unwrap_or_else(|| "null".into())),
                    points.map_or("*".to_string(), |p| p.to_string())
                ),
            })
            .collect();
        let act: Vec<String> = actual.iter().map(describe).collect();
        out.push(format!("sanctions\n    - expected: {{{}}}\n    + actual:   {{{}}}", exp.join(", "), act.join(", ")));
    }
}
