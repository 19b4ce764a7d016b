//! Loading a policy set: every file parsed and checked, versions ordered, retention computed.

use smol_str::SmolStr;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::check::{check_file, Shared};
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile};
use crate::limits;
use crate::parse::parse_file;
use crate::program::{Expr, LadderKey, Policy, Schema, Source};
use crate::refdata::Calendar;
use crate::value::Clock;
use crate::value::Duration;

/// A loaded, checked and compiled set of policy files.
#[derive(Debug)]
pub struct PolicySet {
    pub(crate) schema: Schema,
    /// Ordered by policy id, then by `effective`.
    pub(crate) policies: Vec<Policy>,
    /// For each policy: the day its version stops applying (its `until`, or the next version's
    /// `effective`).
    pub(crate) ends: Vec<Option<NaiveDate>>,
    /// Each policy id with the range of its versions in `policies`.
    pub(crate) groups: Vec<(SmolStr, std::ops::Range<usize>)>,
    pub(crate) ladder_keys: Vec<(SmolStr, SmolStr)>,
    /// How long history of each action type must be kept (`None`: not at all).
    pub(crate) action_retention: Vec<Option<i64>>,
    /// How long breaches must be kept, in seconds.
    pub(crate) breach_retention: Option<i64>,
    /// How long the reachings of restricting steps must be kept, in seconds (the longest
    /// ladder window plus the longest `for`); `None` when no step restricts.
    pub(crate) restriction_retention: Option<i64>,
    /// The longest window of all, in seconds (an upper bound).
    pub(crate) longest_window: i64,
    /// Whether an action with no policy version in force is decided `review` with an error
    /// finding (instead of `allow` with `policies: []`).
    pub(crate) require_policy: bool,
    /// The periodic duties: (policy, rule) indices, in policy order.
    pub(crate) periodic: Vec<(usize, usize)>,
    warnings: Vec<Diagnostic>,
}

/// The rule id of the error finding given when no policy is in force for an action and the
/// set requires one ([`PolicySet::require_policy`]); the finding's policy is `probity`.
pub const NO_POLICY_IN_FORCE: &str = "no-policy-in-force";

/// A rule, conflict or duty of a loaded policy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo<'a> {
    /// The policy id.
    pub policy: &'a str,
    /// The version string.
    pub version: &'a str,
    /// The rule's id.
    pub rule: &'a str,
    /// `rule`, `conflict` or `duty`.
    pub kind: &'static str,
}

/// Why a policy directory did not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read. The source is the operating system's error, or
    /// one made here for what the file system allows but a policy directory does not (no
    /// policy file, not a regular file, too large, not UTF-8, nested too deep).
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The policy text has errors.
    #[error(transparent)]
    Policy(#[from] Diagnostics),
}

impl LoadError {
    /// A load error for a problem that is not the operating system's.
    fn io(path: &Path, kind: ErrorKind, message: impl Into<String>) -> Self {
        LoadError::Io { path: path.to_path_buf(), source: std::io::Error::new(kind, message.into()) }
    }
}

impl PolicySet {
    /// Loads policies from named sources (a name, usually a file name, and the text).
    /// On failure, returns every diagnostic (errors and warnings).
    pub fn from_sources<I, N, T>(sources: I) -> Result<PolicySet, Diagnostics>
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: Into<String>,
    {
        PolicySet::from_sources_with_files(sources, std::iter::empty::<(String, String)>())
    }

    /// Loads policies from named sources, with the text of list and calendar files given in
    /// memory (where there is no file system, as in a browser): each keyed by the path the
    /// engine reads it from, the directory of the source's name joined with the path as
    /// written (`lists/restricted.txt` for a source named `p.probity`). A file not given is read
    /// from the file system.
    pub fn from_sources_with_files<I, N, T, F, P, U>(sources: I, files: F) -> Result<PolicySet, Diagnostics>
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: Into<String>,
        F: IntoIterator<Item = (P, U)>,
        P: Into<String>,
        U: Into<String>,
    {
        let sources = sources.into_iter().map(|(n, t)| Arc::new(SourceFile::new(n, t))).collect();
        let files = files.into_iter().map(|(p, t)| (p.into(), t.into())).collect();
        load(sources, &files)
    }

    /// Loads every `.probity` file under a directory (recursively, in path order). A
    /// directory without one is an error; so is a policy file that is not a regular file (a
    /// FIFO, a device, a link to one) or larger than [`limits::MAX_SOURCE_BYTES`], which is
    /// found before it is read.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<PolicySet, LoadError> {
        let dir = dir.as_ref();
        let mut paths = Vec::new();
        collect_policy_files(dir, 0, &mut paths)?;
        if paths.is_empty() {
            return Err(LoadError::io(dir, ErrorKind::NotFound, "no `.probity` policy files in it"));
        }
        paths.sort();
        let mut sources = Vec::new();
        for path in paths {
            let text = read_policy_file(&path)?;
            sources.push((path.display().to_string(), text));
        }
        Ok(PolicySet::from_sources(sources)?)
    }

    /// With `on`, an action for which no policy version is in force is decided `review`, with
    /// an error finding ([`NO_POLICY_IN_FORCE`]), instead of `allow` with `policies: []`: a
    /// gap between versions, or a set not yet in force, then fails closed.
    #[must_use]
    pub fn require_policy(mut self, on: bool) -> PolicySet {
        self.require_policy = on;
        self
    }

    /// Whether [`PolicySet::require_policy`] is on.
    pub fn requires_policy(&self) -> bool {
        self.require_policy
    }

    /// Checks sources without keeping the result: every error and warning, in order.
    pub fn diagnose<I, N, T>(sources: I) -> Diagnostics
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: Into<String>,
    {
        match PolicySet::from_sources(sources) {
            Ok(set) => Diagnostics::new(set.warnings),
            Err(diagnostics) => diagnostics,
        }
    }

    /// The warnings of a successful load.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// `(id, version)` of every loaded policy file, ordered by id and effective date.
    pub fn versions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.policies.iter().map(|p| (&*p.id, &*p.version))
    }

    /// `(id, version, digest)` of every loaded policy file, in [`PolicySet::versions`] order: the
    /// digest is the one decisions name (`sha256:` + hex, over the file and the list and
    /// calendar files it reads).
    pub fn digests(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.policies.iter().map(|p| (&*p.id, &*p.version, &*p.digest))
    }

    /// Every rule, conflict and duty of every loaded version, in file order.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.policies.iter().flat_map(|p| {
            p.rules.iter().map(move |r| RuleInfo {
                policy: &p.id,
                version: &p.version,
                rule: &r.id,
                kind: r.kind.keyword(),
            })
        })
    }

    /// Every ladder step of every loaded version: `(policy, version, ladder, step label)`.
    pub fn ladder_steps(&self) -> impl Iterator<Item = (&str, &str, &str, &str)> {
        self.policies.iter().flat_map(|p| {
            p.ladders
                .iter()
                .flat_map(move |l| l.steps.iter().map(move |(_, label)| (&*p.id, &*p.version, &*l.id, &**label)))
        })
    }

    /// Every ladder step that restricts action types once reached: `(policy, version, ladder,
    /// step label)`.
    pub fn restricting_steps(&self) -> impl Iterator<Item = (&str, &str, &str, &str)> {
        self.policies.iter().flat_map(|p| {
            p.ladders
                .iter()
                .flat_map(move |l| l.restrictions.iter().map(move |r| (&*p.id, &*p.version, &*l.id, &*r.label)))
        })
    }

    /// The number of rules, conflicts and duties across all files.
    pub fn rule_count(&self) -> usize {
        self.policies.iter().map(|p| p.rules.len()).sum()
    }

    /// The versions in force at an instant: one per policy id at most, ordered by id.
    pub(crate) fn in_force(&self, at: &DateTime<FixedOffset>) -> impl Iterator<Item = usize> + '_ {
        self.in_force_with_clocks(at).map(|(i, _)| i)
    }

    /// The versions in force at `at`, each with the clock at `at` in its time zone (the local
    /// date is worked out once for a run of versions in one time zone).
    pub(crate) fn in_force_with_clocks(&self, at: &DateTime<FixedOffset>) -> impl Iterator<Item = (usize, Clock)> + '_ {
        let at = *at;
        let mut last: Option<Clock> = None;
        self.groups.iter().filter_map(move |(_, range)| {
            range.clone().find_map(|i| {
                let policy = self.policies.get(i)?;
                let clock = match last {
                    Some(clock) if clock.timezone == policy.timezone => clock,
                    _ => Clock::new(at, policy.timezone),
                };
                last = Some(clock);
                let end = self.ends.get(i).copied().flatten();
                (policy.effective <= clock.today && end.is_none_or(|e| clock.today < e)).then_some((i, clock))
            })
        })
    }

    /// The version of a policy id in force at an instant, or one named by version string.
    pub(crate) fn version_of(&self, id: &str, version: Option<&str>, at: &DateTime<FixedOffset>) -> Option<usize> {
        let (_, range) = self.groups.iter().find(|(g, _)| **g == *id)?;
        match version {
            Some(v) => range.clone().find(|&i| self.policies.get(i).is_some_and(|p| *p.version == *v)),
            None => self.in_force(at).find(|i| range.contains(i)),
        }
    }

    /// The version string of a policy in force on a local date (as a periodic duty's period
    /// chooses its version: the one in force on the period's last day).
    pub fn version_in_force_on(&self, policy: &str, date: NaiveDate) -> Option<&str> {
        self.version_on(policy, date).and_then(|i| self.policies.get(i)).map(|p| p.version.as_str())
    }

    /// The version of a policy id in force on a local date (in its own time zone).
    pub(crate) fn version_on(&self, id: &str, date: NaiveDate) -> Option<usize> {
        let (_, range) = self.groups.iter().find(|(g, _)| **g == *id)?;
        range.clone().find(|&i| {
            let end = self.ends.get(i).copied().flatten();
            self.policies.get(i).is_some_and(|p| p.effective <= date) && end.is_none_or(|e| date < e)
        })
    }

    pub(crate) fn ladder_key(&self, policy: &str, ladder: &str) -> Option<LadderKey> {
        let index = self.ladder_keys.iter().position(|(p, l)| **p == *policy && **l == *ladder)?;
        u32::try_from(index).ok()
    }
}

/// A policy file's text, read only if it is a regular file (links followed) within
/// [`limits::MAX_SOURCE_BYTES`], and never more than that many bytes of it (it may grow).
fn read_policy_file(path: &Path) -> Result<String, LoadError> {
    use std::io::Read as _;
    let fail = |message: String| LoadError::io(path, ErrorKind::InvalidData, message);
    let limit = limits::MAX_SOURCE_BYTES as u64;
    let too_large = |size: u64| {
        let message =
            format!("the policy file is {size} bytes, more than the limit of {limit}; split it into several files");
        LoadError::io(path, ErrorKind::FileTooLarge, message)
    };
    let io = |source| LoadError::Io { path: path.to_path_buf(), source };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() {
        return Err(LoadError::io(path, ErrorKind::InvalidInput, "not a regular file"));
    }
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..valid).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count().saturating_add(1);
        fail(format!("line {line} is not UTF-8 (byte {valid} of the file)"))
    })
}

fn collect_policy_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    if depth > 32 {
        return Err(LoadError::io(dir, ErrorKind::InvalidInput, "directories nest too deep"));
    }
    let io = |source| LoadError::Io { path: dir.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_policy_files(&path, depth.saturating_add(1), out)?;
        } else if path.extension().is_some_and(|e| e == "probity") {
            out.push(path);
        }
    }
    Ok(())
}

fn load(
    files: Vec<Arc<SourceFile>>,
    given: &std::collections::BTreeMap<String, String>,
) -> Result<PolicySet, Diagnostics> {
    let mut diagnostics = Vec::new();
    let mut schema = Schema::default();
    let mut ladder_keys = Vec::new();
    let mut compiled: Vec<(Policy, Arc<SourceFile>, crate::parse::ast::Span)> = Vec::new();
    for source in &files {
        let (file, mut errors) = parse_file(source);
        let failed = !errors.is_empty();
        diagnostics.append(&mut errors);
        let Some(file) = file else { continue };
        if failed {
            continue;
        }
        // List and calendar files are read here and join the digest (docs/language.md).
        let (files, mut unread, digest) = crate::refdata::read(source, &file, given);
        diagnostics.append(&mut unread);
        let header_span = file.header.id.span.clone();
        let (policy, mut found) = check_file(
            source,
            &file,
            digest,
            Shared { schema: &mut schema, ladder_keys: &mut ladder_keys, files: &files },
        );
        diagnostics.append(&mut found);
        if let Some(policy) = policy {
            compiled.push((policy, Arc::clone(source), header_span));
        }
    }
    resolve_restrictions(&schema, &mut compiled, &mut diagnostics);
    let rules: usize = compiled.iter().map(|(p, ..)| p.rules.len()).sum();
    if rules > limits::MAX_RULES {
        diagnostics.push(Diagnostic::error(
            "P0010",
            format!("the policy set has {rules} rules, more than the limit of {}", limits::MAX_RULES),
        ));
    }
    compiled.sort_by(|(a, ..), (b, ..)| (&a.id, a.effective).cmp(&(&b.id, b.effective)));
    let ends = version_ends(&compiled, &mut diagnostics);
    if diagnostics.iter().any(|d| d.severity() == crate::Severity::Error) {
        return Err(Diagnostics::new(diagnostics));
    }
    let policies: Vec<Policy> = compiled.into_iter().map(|(p, ..)| p).collect();
    let mut groups: Vec<(SmolStr, std::ops::Range<usize>)> = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        match groups.last_mut() {
            Some((id, range)) if *id == p.id => range.end = i.saturating_add(1),
            _ => groups.push((p.id.clone(), i..i.saturating_add(1))),
        }
    }
    let (action_retention, mut breach_retention) = retention(&schema, &policies);
    let restriction_retention = restriction_retention(&policies);
    breach_retention = breach_retention.max(restriction_retention);
    let longest_window = action_retention.iter().flatten().chain(breach_retention.iter()).copied().max().unwrap_or(0);
    crate::diagnostics::sort(&mut diagnostics);
    let periodic = policies
        .iter()
        .enumerate()
        .flat_map(|(pi, p)| {
            p.rules.iter().enumerate().filter(|(_, r)| r.periodic.is_some()).map(move |(ri, _)| (pi, ri))
        })
        .collect();
    Ok(PolicySet {
        schema,
        policies,
        ends,
        groups,
        ladder_keys,
        action_retention,
        breach_retention,
        restriction_retention,
        longest_window,
        require_policy: false,
        periodic,
        warnings: diagnostics,
    })
}

/// When each version stops applying; overlapping versions of one id are load errors.
fn version_ends(
    compiled: &[(Policy, Arc<SourceFile>, crate::parse::ast::Span)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Option<NaiveDate>> {
    let mut ends = Vec::with_capacity(compiled.len());
    for (i, (policy, source, span)) in compiled.iter().enumerate() {
        let next = compiled.get(i.saturating_add(1)).filter(|(n, ..)| n.id == policy.id);
        let end = match (policy.until, next) {
            (None, None) => None,
            (Some(u), None) => Some(u),
            (None, Some((n, ..))) => Some(n.effective),
            (Some(u), Some((n, ..))) => Some(u.min(n.effective)),
        };
        if let (Some(until), Some((n, next_source, next_span))) = (policy.until, next) {
            if until < n.effective {
                diagnostics.push(
                    Diagnostic::warning(
                        "W0010",
                        format!(
                            "policy `{}` has no version in force from {until} until {} (between `{}` and `{}`)",
                            policy.id, n.effective, policy.version, n.version
                        ),
                    )
                    .at(next_source, next_span.clone())
                    .with_related("the earlier version ends here", source, span.clone())
                    .with_help("if the gap is not meant, end the earlier version on the later one's `effective` date"),
                );
            }
        }
        if let Some((n, next_source, next_span)) = next {
            let overlap = n.effective == policy.effective || policy.until.is_some_and(|u| u > n.effective);
            if overlap {
                let message = format!(
                    "versions `{}` and `{}` of policy `{}` are in force at the same time",
                    policy.version, n.version, policy.id
                );
                let help = if n.effective == policy.effective {
                    "two versions cannot take effect on the same day: change one `effective` date"
                } else {
                    "end the earlier version (`until`) on or before the later version's `effective` date"
                };
                diagnostics.push(
                    Diagnostic::error("P0305", message)
                        .at(next_source, next_span.clone())
                        .with_related("the other version", source, span.clone())
                        .with_help(help),
                );
            }
        }
        ends.push(end);
    }
    ends
}

/// Resolves the action types steps restrict: any file of the set may declare them.
fn resolve_restrictions(
    schema: &Schema,
    compiled: &mut [(Policy, Arc<SourceFile>, crate::parse::ast::Span)],
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (policy, source, _) in compiled {
        for ladder in &mut policy.ladders {
            for r in &mut ladder.restrictions {
                for (name, span) in &r.names {
                    match schema.type_id(name) {
                        Some(t) => r.types.push(t),
                        None => {
                            let names = schema.action_types.iter().map(|a| a.name.as_str());
                            let help = crate::diagnostics::suggestion(name, names).unwrap_or_else(|| {
                                format!("declare it with `action {name} {{ … }}` or restrict a declared action type")
                            });
                            diagnostics.push(
                                Diagnostic::error(
                                    "P0420",
                                    format!("step \"{}\" restricts the unknown action type `{name}`", r.label),
                                )
                                .at(source, span.clone())
                                .with_help(help),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The longest ladder window plus the longest `for`, when some step restricts.
fn restriction_retention(policies: &[Policy]) -> Option<i64> {
    let mut window: Option<i64> = None;
    let mut length = 0i64;
    for policy in policies {
        for ladder in &policy.ladders {
            if ladder.restrictions.is_empty() {
                continue;
            }
            window = window.max(Some(policy.calendar.upper_bound_seconds(ladder.window)));
            for r in &ladder.restrictions {
                if let Some(d) = r.length {
                    length = length.max(policy.calendar.upper_bound_seconds(d));
                }
            }
        }
    }
    window.map(|w| w.saturating_add(length))
}

/// How long each kind of history must be kept for the windows that read it.
fn retention(schema: &Schema, policies: &[Policy]) -> (Vec<Option<i64>>, Option<i64>) {
    let mut actions: Vec<Option<i64>> = vec![None; schema.action_types.len()];
    let mut breaches: Option<i64> = None;
    let mut note = |source: &Source, window: Duration, period: Option<Duration>, calendar: &Calendar| {
        // `within period`: one period plus the grace after it, when the check runs.
        let grace = period.map_or(0, |grace| calendar.upper_bound_seconds(grace));
        let secs = Some(calendar.upper_bound_seconds(window).saturating_add(grace));
        match source {
            Source::Actions(t) => {
                if let Some(slot) = actions.get_mut(*t as usize) {
                    *slot = (*slot).max(secs);
                }
            }
            Source::Breaches => breaches = breaches.max(secs),
        }
    };
    for policy in policies {
        for ladder in &policy.ladders {
            note(&Source::Breaches, ladder.window, None, &policy.calendar);
        }
        for rule in &policy.rules {
            for body in rule.bodies.iter().chain(rule.periodic.as_ref().map(|p| &p.body)) {
                let exprs =
                    body.lets.iter().chain(&body.when).chain(&body.unless).chain(&body.require).chain(&body.fulfilment);
                for e in exprs {
                    visit_aggregates(e, &mut note);
                }
            }
        }
    }
    (actions, breaches)
}

fn visit_aggregates(e: &Expr, f: &mut impl FnMut(&Source, Duration, Option<Duration>, &Calendar)) {
    match e {
        Expr::Aggregate(a) => {
            f(&a.source, a.window, a.period, &a.calendar);
            for inner in a.field.iter().chain(&a.filter) {
                visit_aggregates(inner, f);
            }
        }
        Expr::Not(x) | Expr::Neg(x) | Expr::Presence(x, _) => visit_aggregates(x, f),
        Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(_, a, b) | Expr::Arith(_, a, b) | Expr::TextContains(a, b) => {
            visit_aggregates(a, f);
            visit_aggregates(b, f);
        }
        Expr::Member { element, collection, .. } => {
            visit_aggregates(element, f);
            visit_aggregates(collection, f);
        }
        Expr::Call(_, args) | Expr::Set(args) => args.iter().for_each(|a| visit_aggregates(a, f)),
        Expr::Const(_) | Expr::Field { .. } | Expr::BreachField(_) | Expr::Let(_) | Expr::Now | Expr::Today => {}
    }
}
