//! `probity`: check, test, evaluate and replay policies from the command line.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use probity::replay::output;
use probity::{Diagnostics, PolicySet, Severity};
use probity_cli::{audit, files};

mod serve;

// Deciding allocates many small values; mimalloc serves them faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "probity", version, about = "Policy engine for relationship-manager conduct")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check policy files (or directories of them) and report every problem.
    Check {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Decide on one action (JSON file, or `-` for standard input) and print the decision JSON.
    Eval {
        #[command(flatten)]
        policies: Policies,
        /// The action, as a JSON file.
        action: PathBuf,
        /// The RM's history: `{"actions": [...], "breaches": [...], "obligations": [...]}`.
        #[arg(long)]
        history: Option<PathBuf>,
        /// Pretty-print the decision.
        #[arg(long)]
        pretty: bool,
        /// Decide `review`, with an error finding, when no policy is in force for the action.
        #[arg(long)]
        require_policy: bool,
    },
    /// Replay JSON-lines actions through a ledger: decisions and overdue reports as JSON lines,
    /// a summary table on standard error.
    Replay {
        #[command(flatten)]
        policies: Policies,
        /// The events, one action per line (`-` for standard input).
        events: PathBuf,
        /// Where to write the records (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Advance every RM to this time after the last event (RFC 3339).
        #[arg(long)]
        as_of: Option<String>,
        /// Threads to use (RMs are shared among them; the output does not change).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Also write a self-contained HTML report of the replay to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// With `--report`: the labels of a generated stream (`probity generate --labels`); the
        /// report states each labelled rule's precision and recall.
        #[arg(long, value_name = "FILE", requires = "report")]
        labels: Option<PathBuf>,
        /// An action dated more than this ahead of the latest time seen so far in the stream is
        /// an error record that moves no clock (`30m`, `12h`, `1d`; `none` for no bound).
        #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = parse_skew)]
        max_skew: Skew,
        /// Decide `review`, with an error finding, when no policy is in force for an action.
        #[arg(long)]
        require_policy: bool,
        /// Keep the ledger's state in this SQLite file (created if absent) or PostgreSQL
        /// database (`postgres://…`): resume it, and commit it as the replay goes. Lines already
        /// recorded give their recorded decisions and report nothing overdue again.
        #[arg(long, value_name = "PATH|URL")]
        state: Option<String>,
        /// With `--state`: commit every this many lines, or up to twice as many while the last
        /// commit runs (default: 10,000, or sixteen per RM the state tracks if more). The
        /// records of a part are written once it is committed.
        #[arg(long, value_name = "LINES", requires = "state")]
        commit_every: Option<usize>,
        /// Append every decision and overdue report to this hash-chained decision log (created
        /// if absent; an existing log must verify, and its chain is continued).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Speak the Language Server Protocol on standard input and output, for editors: the policy
    /// set is the client's workspace folder (docs/lsp.md).
    Lsp,
    /// Serve decisions over HTTP (`/v1/evaluate`, `/v1/submit`, …), recording submissions in a
    /// state; `SIGHUP` loads the policies again, `SIGTERM` stops cleanly.
    Serve {
        #[command(flatten)]
        policies: Policies,
        /// The ledger's state: a SQLite file (created if absent) or a `postgres://` URL.
        #[arg(long, value_name = "PATH|URL")]
        state: String,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Decide `review`, with an error finding, when no policy is in force for an action.
        #[arg(long)]
        require_policy: bool,
        /// Append every submission's decision and overdue reports, and every advance's reports,
        /// to this hash-chained decision log (created if absent; an existing one must verify).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Inspect a ledger state kept by `replay --state`.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Explain a decision clause by clause: the values each clause read, its result, what each
    /// aggregate counted, and the sanction arithmetic.
    Explain {
        #[command(flatten)]
        policies: Policies,
        /// The action, as a JSON file (`-` for standard input).
        action: PathBuf,
        /// The RM's history: `{"actions": [...], "breaches": [...], "obligations": [...]}`.
        #[arg(long)]
        history: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Decide `review`, with an error finding, when no policy is in force for the action.
        #[arg(long)]
        require_policy: bool,
    },
    /// Run test files (YAML cases) and print a diff for every failure.
    Test {
        /// Test files, or directories searched for `*.yaml`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Report which rules, duties and ladder steps the cases exercised, per policy version.
        #[arg(long)]
        coverage: bool,
        /// Fail (exit status 1) when the cases fire fewer than PERCENT of the rules and duties
        /// and reach fewer than PERCENT of the ladder steps, counted together (implies --coverage).
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
        fail_under: Option<u8>,
    },
    /// Replay the same events under an old and a new policy set and report what changes:
    /// verdicts, findings added and removed per rule, sanction steps reached.
    Diff {
        /// The policies in force now: a directory, or a signed bundle (with `--trust`).
        #[arg(long)]
        old: PathBuf,
        /// The proposed policies: a directory, or a signed bundle (with `--trust`).
        #[arg(long)]
        new: PathBuf,
        /// The public key (`KEY.pub`) that `--old` or `--new`, when a bundle, must be signed with.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// The events, one action per line.
        events: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Decide `review`, with an error finding, when no policy is in force for an action.
        #[arg(long)]
        require_policy: bool,
    },
    /// Write a seeded, realistic JSON-lines stream of RM actions for `policies/cn`, with known
    /// violations injected (the kinds and the rules they trigger: docs/generate-and-report.md).
    Generate {
        /// Relationship managers.
        #[arg(long)]
        rms: u32,
        /// Days to simulate.
        #[arg(long)]
        days: u32,
        /// The PRNG seed: the same arguments give the same bytes.
        #[arg(long)]
        seed: u64,
        /// Average probability that an activity carries one injected violation.
        #[arg(long, default_value_t = 0.02)]
        violation_rate: f64,
        /// The first day (YYYY-MM-DD, Beijing time).
        #[arg(long, default_value = "2026-02-02")]
        start: chrono::NaiveDate,
        /// Where to write the events (`-` for standard output).
        #[arg(long)]
        out: PathBuf,
        /// Where to write the injected violations, one `{"id", "kind", "rule", "policy", "action"}` per line.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// Write a new ed25519 key pair for signing bundles: KEY (private, PKCS#8 PEM) and KEY.pub.
    Keygen {
        /// The private key file to write (the public key goes beside it, with `.pub` appended).
        #[arg(long, value_name = "KEY")]
        out: PathBuf,
    },
    /// Pack a policy directory (every file under it) into a bundle signed with a private key.
    Bundle {
        /// The directory of policy files.
        dir: PathBuf,
        /// The bundle to write.
        #[arg(long)]
        out: PathBuf,
        /// The private key (`probity keygen`'s KEY).
        #[arg(long, value_name = "KEY")]
        sign: PathBuf,
    },
    /// Verify a bundle's signature with a trusted public key and every file against its
    /// manifest; names the file that changed.
    Verify {
        /// The bundle.
        file: PathBuf,
        /// The public key (`KEY.pub`) it must be signed with.
        #[arg(long, value_name = "KEY.pub")]
        trust: PathBuf,
    },
    /// Check a decision log (`replay --log`), or re-derive a logged decision.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Rewrite policy files in the canonical layout (comments kept).
    Fmt {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that would change, with a diff, and fail if any would.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
enum StateCommand {
    /// Summarise a state: RMs, items kept, open obligations, restrictions, policy versions.
    Show {
        /// The SQLite file or PostgreSQL URL.
        location: String,
        /// The policies, to tell which restrictions are in force.
        #[command(flatten)]
        policies: Policies,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Walk the log's hash chain: names the first line edited, removed, inserted or swapped.
    Verify {
        /// The log.
        file: PathBuf,
    },
    /// Re-derive the decision on an action from the logged actions of its RM, compare it byte
    /// for byte with the logged record, and explain it.
    Why {
        /// The log.
        file: PathBuf,
        /// The action's id.
        action_id: String,
        #[command(flatten)]
        policies: Policies,
    },
}

/// Where the policies come from: a directory, or a signed bundle and the key it must verify with.
#[derive(clap::Args)]
struct Policies {
    /// The directory of policy files.
    #[arg(long, value_name = "DIR", conflicts_with = "bundle")]
    policies: Option<PathBuf>,
    /// A signed policy bundle (`probity bundle`) instead of `--policies`: refused unless it
    /// verifies with `--trust`.
    #[arg(long, value_name = "FILE", requires = "trust")]
    bundle: Option<PathBuf>,
    /// The public key (`KEY.pub`) the bundle must be signed with.
    #[arg(long, value_name = "KEY.pub", requires = "bundle")]
    trust: Option<PathBuf>,
}

/// A loaded policy set, named for messages and the decision log.
struct Loaded {
    set: PolicySet,
    name: String,
    /// A bundle's manifest digest.
    bundle: Option<String>,
}

impl Policies {
    fn given(&self) -> bool {
        self.policies.is_some() || self.bundle.is_some()
    }

    fn load(&self, require_policy: bool) -> Result<Loaded, String> {
        match (&self.policies, &self.bundle, &self.trust) {
            (Some(dir), None, _) => load_path(dir, None, require_policy),
            (None, Some(file), Some(trust)) => load_path(file, Some(trust), require_policy),
            _ => Err("give `--policies DIR`, or `--bundle FILE --trust KEY.pub`".into()),
        }
    }
}

/// Loads a directory, or with a trusted key a verified bundle (a bundle that does not verify is
/// refused with its code).
fn load_path(path: &Path, trust: Option<&Path>, require_policy: bool) -> Result<Loaded, String> {
    let name = path.display().to_string();
    let Some(trust) = trust else {
        return Ok(Loaded { set: load_policies(path, require_policy)?, name, bundle: None });
    };
    let verified = probity_audit::bundle::verify(path, trust).map_err(|e| coded(e.code(), &e, e.hint()))?;
    let set = verified.load().map_err(|e| coded(e.code(), &e, e.hint()))?;
    Ok(Loaded { set: set.require_policy(require_policy), name, bundle: Some(verified.manifest_digest) })
}

/// A bundle's or a log's error as the CLI prints it: its code, message and hint.
fn coded(code: &str, e: &dyn std::fmt::Display, hint: &str) -> String {
    format!("[{code}] {e}\nhint: {hint}")
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `--max-skew`: a bound, or none.
#[derive(Clone, Copy, Debug)]
struct Skew(Option<chrono::TimeDelta>);

/// `30s`, `30m`, `12h`, `1d` (whole units), or `none`.
fn parse_skew(text: &str) -> Result<Skew, String> {
    if text == "none" {
        return Ok(Skew(None));
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().map_err(|_| format!("`{text}`: expected a number and a unit (`s`, `m`, `h`, `d`)"))?;
    let delta = match unit {
        "s" => chrono::TimeDelta::try_seconds(n),
        "m" => chrono::TimeDelta::try_minutes(n),
        "h" => chrono::TimeDelta::try_hours(n),
        "d" => chrono::TimeDelta::try_days(n),
        _ => return Err(format!("`{text}`: the unit must be `s`, `m`, `h` or `d`")),
    };
    delta.map(|d| Skew(Some(d))).ok_or_else(|| format!("`{text}` is too long a duration"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<ExitCode, Failure> = match cli.command {
        Command::Check { paths, format, deny_warnings } => check(&paths, format, deny_warnings).map_err(Failure::from),
        Command::Test { files, coverage, fail_under } => test(&files, coverage, fail_under).map_err(Failure::from),
        Command::Diff { old, new, trust, events, format, require_policy } => {
            diff((&old, &new, trust.as_deref()), &events, format, require_policy).map_err(Failure::from)
        }
        Command::Keygen { out } => audit::keygen(&out).map_err(Failure::from),
        Command::Bundle { dir, out, sign } => audit::bundle(&dir, &out, &sign).map_err(Failure::from),
        Command::Verify { file, trust } => audit::verify(&file, &trust).map_err(Failure::from),
        Command::Log { command: LogCommand::Verify { file } } => audit::log_verify(&file).map_err(Failure::from),
        Command::Log { command: LogCommand::Why { file, action_id, policies } } => {
            policies.load(false).and_then(|p| audit::log_why(&file, &action_id, p.set)).map_err(Failure::from)
        }
        Command::Fmt { paths, check } => {
            collect(&paths, "probity").and_then(|files| probity_cli::fmt::run(&files, check)).map_err(Failure::from)
        }
        Command::Explain { policies, action, history, format, require_policy } => {
            explain(&policies, &action, history.as_deref(), format, require_policy)
        }
        Command::Replay {
            policies,
            events,
            out,
            as_of,
            jobs,
            report,
            labels,
            max_skew,
            require_policy,
            state,
            commit_every,
            log,
        } => {
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let state = state.as_deref().map(|location| (location, commit_every));
            let log = log.as_deref();
            let labels = labels.as_deref();
            let options = ReplayOptions {
                as_of: as_of.as_deref(),
                jobs,
                max_skew: max_skew.0,
                require_policy,
                state,
                log,
                labels,
            };
            replay(&policies, &events, out.as_deref(), report.as_deref(), &options).map_err(Failure::from)
        }
        Command::Lsp => Ok(probity_lsp::run()),
        Command::Serve { policies, state, listen, require_policy, log } => {
            serve::run(policies, state, listen, require_policy, log).map_err(Failure::from)
        }
        Command::State { command: StateCommand::Show { location, policies } } => {
            state_show(&location, &policies).map_err(Failure::from)
        }
        Command::Generate { rms, days, seed, violation_rate, start, out, labels } => {
            let config = probity_generate::Config { rms, days, seed, violation_rate, start };
            probity_generate::run(&config, &out, labels.as_deref())
                .map(|stats| eprint!("{}", stats.table()))
                .map(|()| ExitCode::SUCCESS)
                .map_err(Failure::from)
        }
        Command::Eval { policies, action, history, pretty, require_policy } => {
            eval(&policies, &action, history.as_deref(), pretty, require_policy)
        }
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            failure.print();
            ExitCode::from(2)
        }
    }
}

/// Why a command could not run (exit status 2).
enum Failure {
    /// A message: a path that does not exist, policies that do not load, …
    Message(String),
    /// Input that cannot be used, named after the file at fault: `error[I0003]: …` on standard
    /// error, and with `--format json` its record on standard output.
    Input { file: PathBuf, error: probity::InputError, json: bool },
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Message(message)
    }
}

impl Failure {
    fn input(file: &Path, error: probity::InputError, format: Format) -> Self {
        Failure::Input { file: file.to_path_buf(), error, json: format == Format::Json }
    }

    fn print(&self) {
        match self {
            Failure::Message(message) => eprintln!("error: {message}"),
            Failure::Input { file, error, json } => {
                if *json {
                    if let Ok(record) = serde_json::to_string_pretty(&error.record()) {
                        let _ = emit(&record, true);
                    }
                }
                eprintln!("error[{}]: `{}`: {error}", error.code(), file.display());
            }
        }
    }
}

fn collect(paths: &[PathBuf], extension: &str) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, extension: &str, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
        if depth > 32 {
            return Err(format!("`{}`: directories nest too deep", dir.display()));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        found.sort();
        for path in found {
            if path.is_dir() {
                walk(&path, extension, depth.saturating_add(1), out)?;
            } else if path.extension().is_some_and(|e| e == extension) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, extension, 0, &mut out)?;
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(format!("`{}` does not exist", path.display()));
        }
    }
    Ok(out)
}

fn check(paths: &[PathBuf], format: Format, deny_warnings: bool) -> Result<ExitCode, String> {
    let files = collect(paths, "probity")?;
    if files.is_empty() {
        return Err("no `.probity` policy files to check".into());
    }
    let mut sources = Vec::new();
    for file in &files {
        let text = files::read_text(file, probity::limits::MAX_SOURCE_BYTES as u64)?;
        sources.push((file.display().to_string(), text));
    }
    let diagnostics: Diagnostics = PolicySet::diagnose(sources);
    let errors = diagnostics.errors().count();
    let warnings = diagnostics.len().saturating_sub(errors);
    match format {
        Format::Json => {
            let records = diagnostics.records();
            emit(&serde_json::to_string_pretty(&records).map_err(|e| e.to_string())?, true)?;
        }
        Format::Text => {
            let color = std::io::stderr().is_terminal();
            let mut err = std::io::stderr().lock();
            for d in &diagnostics {
                let _ = writeln!(err, "{}", d.render_with(color));
            }
            let _ = writeln!(err, "checked {} file(s): {errors} error(s), {warnings} warning(s)", files.len());
        }
    }
    let failed = errors > 0 || (deny_warnings && diagnostics.iter().any(|d| d.severity() == Severity::Warning));
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn test(paths: &[PathBuf], show_coverage: bool, fail_under: Option<u8>) -> Result<ExitCode, String> {
    let files = probity_testfile::find(paths).map_err(|e| e.to_string())?;
    let mut runner = probity_testfile::Runner::new().allow(paths);
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for file in &files {
        let result = match runner.run(file) {
            Ok(result) => result,
            Err(e) => {
                failed = failed.saturating_add(1);
                let _ = writeln!(out, "✗ {e}");
                continue;
            }
        };
        let _ = writeln!(out, "{} — {}", file.display(), result.name);
        passed = passed.saturating_add(result.passed());
        failed = failed.saturating_add(result.failed());
        for case in &result.cases {
            let _ = writeln!(out, "  {} {}", if case.passed() { '✓' } else { '✗' }, case.name);
            for failure in &case.failures {
                for line in failure.to_string().lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
    }
    if show_coverage || fail_under.is_some() {
        let _ = write!(out, "{}", runner.coverage().report());
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    let short = fail_under.filter(|&p| !runner.coverage().meets(p));
    if let Some(percent) = short {
        let _ = writeln!(out, "coverage is under the {percent}% asked for");
    }
    Ok(if failed == 0 && short.is_none() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn load_policies(dir: &Path, require_policy: bool) -> Result<PolicySet, String> {
    let set = PolicySet::from_dir(dir).map_err(|e| match e {
        probity::LoadError::Policy(d) => format!("the policies in `{}` do not load:\n{}", dir.display(), d.render()),
        other => other.to_string(),
    })?;
    Ok(set.require_policy(require_policy))
}

/// The input error of deciding on `action` with `history`, named after the file at fault: the
/// history's when the action alone decides.
fn blame(
    engine: &probity::Engine,
    action: &probity::Action,
    (action_path, history_path): (&Path, Option<&Path>),
    error: probity::InputError,
    format: Format,
) -> Failure {
    match history_path {
        Some(path) if engine.evaluate(action, &probity::History::new()).is_ok() => Failure::input(path, error, format),
        _ => Failure::input(action_path, error, format),
    }
}

fn eval(
    policies: &Policies,
    action: &Path,
    history: Option<&Path>,
    pretty: bool,
    require_policy: bool,
) -> Result<ExitCode, Failure> {
    let engine = probity::Engine::new(policies.load(require_policy)?.set);
    let (parsed, loaded) = read_action_and_history(action, history, Format::Text)?;
    let decision =
        engine.evaluate(&parsed, &loaded).map_err(|e| blame(&engine, &parsed, (action, history), e, Format::Text))?;
    let json = if pretty { serde_json::to_string_pretty(&decision) } else { serde_json::to_string(&decision) };
    emit(&json.map_err(|e| e.to_string())?, true)?;
    Ok(ExitCode::SUCCESS)
}

/// `probity replay`'s settings besides its paths.
struct ReplayOptions<'a> {
    as_of: Option<&'a str>,
    jobs: usize,
    max_skew: Option<chrono::TimeDelta>,
    require_policy: bool,
    /// `--state` and `--commit-every`.
    state: Option<(&'a str, Option<usize>)>,
    /// `--log`.
    log: Option<&'a Path>,
    /// `--labels`.
    labels: Option<&'a Path>,
}

/// A store's error as the CLI prints it: its code, message and hint.
fn state_error(e: &probity::store::StoreError) -> String {
    format!("[{}] {e}\nhint: {}", e.code(), e.hint())
}

fn state_show(location: &str, policies: &Policies) -> Result<ExitCode, String> {
    let engine = policies.given().then(|| policies.load(false).map(|p| probity::Engine::new(p.set))).transpose()?;
    let mut store = probity_store::open(location).map_err(|e| state_error(&e))?;
    let summary = probity::StateSummary::read(store.as_mut(), engine.as_ref()).map_err(|e| state_error(&e))?;
    emit(&summary.table(), false)?;
    Ok(ExitCode::SUCCESS)
}

fn replay(
    policies: &Policies,
    events: &Path,
    out: Option<&Path>,
    report: Option<&Path>,
    options: &ReplayOptions<'_>,
) -> Result<ExitCode, String> {
    let as_of_text = options.as_of.map(str::to_string);
    let as_of = options
        .as_of
        .map(|t| match probity::parse_timestamp(t) {
            Ok(at) => Ok(at),
            Err(probity::InputError::Field { problem, .. }) => Err(format!("--as-of: {problem}")),
            Err(e) => Err(format!("--as-of: {e}")),
        })
        .transpose()?;
    // Writing over the events would truncate them before they are read.
    for (flag, path) in [("--out", out), ("--report", report), ("--log", options.log)] {
        if let Some(path) = path.filter(|p| events != Path::new("-") && probity::replay::same_file(p, events)) {
            return Err(format!("{flag} `{}` is the events file: refusing to overwrite it", path.display()));
        }
    }
    if let (Some(a), Some(b)) = (out, report) {
        if a == b || (probity::replay::same_file(a, b) && std::fs::metadata(a).is_ok_and(|m| m.is_file())) {
            return Err(format!("--out and --report are both `{}`", a.display()));
        }
    }
    let loaded = policies.load(options.require_policy)?;
    let policies_name = loaded.name;
    let log_policies = probity_audit::LogPolicies::new(&loaded.set, loaded.bundle.as_deref());
    let engine = probity::Engine::new(loaded.set);
    let mut log = options
        .log
        .map(probity_audit::LogWriter::open_append)
        .transpose()
        .map_err(|e| coded(e.code(), &e, e.hint()))?;
    let cannot_read = |e: &dyn std::fmt::Display| {
        if events == Path::new("-") {
            format!("cannot read standard input: {e}")
        } else {
            format!("cannot read `{}`: {e}", events.display())
        }
    };
    let (input, size): (Box<dyn std::io::BufRead>, Option<u64>) = if events == Path::new("-") {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = output::open_events(events).map_err(|e| cannot_read(&e))?;
        let size = file.metadata().ok().filter(std::fs::Metadata::is_file).map(|m| m.len());
        (Box::new(std::io::BufReader::with_capacity(1 << 16, file)), size)
    };
    // Both outputs are started before the work, so that one that cannot be written fails now,
    // and each is renamed into place only once complete.
    let create =
        |path: &Path| output::OutputFile::create(path).map_err(|e| format!("cannot write `{}`: {e}", path.display()));
    let sink = match out.map(create).transpose()? {
        Some(file) => output::Sink::File(file),
        None => output::Sink::Writer(Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()))),
    };
    let report_file = report.map(create).transpose()?;
    let labels = options.labels.map(probity_report::Labels::read).transpose()?;
    let mut collector = report.map(|_| match labels {
        Some(labels) => probity_report::Collector::new(Some(&engine)).with_labels(labels),
        None => probity_report::Collector::new(Some(&engine)),
    });
    let bar = match size {
        Some(len) if std::io::stderr().is_terminal() => {
            let bar = indicatif::ProgressBar::new(len);
            let style =
                indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            Some(bar)
        }
        _ => None,
    };
    let mut pending = 0u64;
    let commit_every = options.state.and_then(|(_, every)| every);
    let settings = probity::replay::Options { as_of, jobs: options.jobs, max_skew: options.max_skew, commit_every };
    let mut progress = |n| {
        pending = pending.saturating_add(n);
        if pending > 1 << 20 {
            if let Some(bar) = &bar {
                bar.inc(pending);
            }
            pending = 0;
        }
    };
    let mut store =
        options.state.map(|(location, _)| probity_store::open(location)).transpose().map_err(|e| state_error(&e))?;
    let state = store.as_mut().map(|s| &mut **s as &mut dyn probity::store::Store);
    let hooks = output::Hooks { progress: Some(&mut progress), interrupted: None, state };
    let ran = match log.as_mut() {
        Some(writer) => {
            let mut tap = probity_audit::LogTap::new(writer, &log_policies, collector.as_mut());
            let ran = output::run(&engine, input, &settings, sink, Some(&mut tap), hooks);
            tap.finish().map_err(|e| coded(e.code(), &e, e.hint()))?;
            ran
        }
        None => output::run(&engine, input, &settings, sink, collector.as_mut(), hooks),
    };
    let (_, summary) = ran.map_err(|e| match (e, out) {
        (output::Failure::Read(e), _) => cannot_read(&e),
        (output::Failure::Write(e), Some(path)) => format!("cannot write `{}`: {e}", path.display()),
        (output::Failure::Write(e), None) => format!("cannot write the output: {e}"),
        (output::Failure::State(e), _) => state_error(&e),
        (e, _) => format!("replay failed: {e}"),
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    eprint!("{}", summary.table());
    if let (Some(path), Some(c), Some(file)) = (report, &collector, report_file) {
        let meta =
            probity_report::Meta { policies: policies_name, events: events.display().to_string(), as_of: as_of_text };
        c.write(file.path(), &meta, Some(&summary))?;
        file.commit().map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    Ok(if summary.errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn explain(
    policies: &Policies,
    action: &Path,
    history: Option<&Path>,
    format: Format,
    require_policy: bool,
) -> Result<ExitCode, Failure> {
    let engine = probity::Engine::new(policies.load(require_policy)?.set);
    let (parsed, loaded) = read_action_and_history(action, history, format)?;
    let explanation =
        engine.explain(&parsed, &loaded).map_err(|e| blame(&engine, &parsed, (action, history), e, format))?;
    match format {
        Format::Text => emit(&explanation.to_text(), false)?,
        Format::Json => emit(&serde_json::to_string_pretty(&explanation).map_err(|e| e.to_string())?, true)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn read_action_and_history(
    action: &Path,
    history: Option<&Path>,
    format: Format,
) -> Result<(probity::Action, probity::History), Failure> {
    let text = files::read_named(action, probity::limits::MAX_ACTION_BYTES as u64)?;
    let parsed = probity::Action::from_json(&text).map_err(|e| Failure::input(action, e, format))?;
    let history = match history {
        Some(path) => {
            let text = files::read_named(path, files::MAX_HISTORY_BYTES)?;
            probity::History::from_json(&text).map_err(|e| Failure::input(path, e, format))?
        }
        None => probity::History::new(),
    };
    Ok((parsed, history))
}

/// `--old` and `--new`: each a directory, or a bundle file verified with `--trust`.
fn diff(
    (old, new, trust): (&Path, &Path, Option<&Path>),
    events: &Path,
    format: Format,
    require_policy: bool,
) -> Result<ExitCode, String> {
    let load = |path: &Path| match trust {
        _ if path.is_dir() => load_path(path, None, require_policy),
        Some(trust) => load_path(path, Some(trust), require_policy),
        None => Err(format!("`{}` is a bundle (not a directory): give `--trust KEY.pub`", path.display())),
    };
    let old = probity::Engine::new(load(old)?.set);
    let new = probity::Engine::new(load(new)?.set);
    let file = output::open_events(events).map_err(|e| format!("cannot read `{}`: {e}", events.display()))?;
    let changes = probity_cli::diff::diff(&old, &new, std::io::BufReader::new(file))
        .map_err(|e| format!("cannot read `{}`: {e}", events.display()))?;
    match format {
        Format::Text => emit(&changes.to_text(), false)?,
        Format::Json => emit(&serde_json::to_string_pretty(&changes).map_err(|e| e.to_string())?, true)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes to standard output. A reader that went away (`probity … | head`) is not an error.
fn emit(text: &str, newline: bool) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) });
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write the output: {e}")),
        _ => Ok(()),
    }
}
