//! Python binding of the Probity policy engine: `probity._probity`, wrapped by the pure-Python
//! package `probity` (which defines the exception classes).
//!
//! The binding stays thin: it converts Python values to JSON (`convert`), maps errors
//! (`errors`), releases the GIL around the engine's work and catches panics at the boundary.
//! Everything else is the core crate's.

use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

mod convert;
mod errors;
mod generate;
mod replay;

use errors::{input_error, internal, load_error, policy_error, run, to_python};

// The same allocator as the CLI: deciding allocates many small values, from several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The deepest nesting accepted in action JSON (as the core's own limit).
const MAX_DEPTH: usize = probity::limits::MAX_JSON_DEPTH;

/// An action from a Python mapping.
fn action(value: &Bound<'_, PyAny>) -> PyResult<probity::Action> {
    let py = value.py();
    let json = convert::to_json(value, MAX_DEPTH).map_err(|e| input_error(py, e.describe("action")))?;
    probity::Action::from_value(json).map_err(|e| input_error(py, e.to_string()))
}

/// A history from a Python mapping (`None`: an empty history).
fn history(value: Option<&Bound<'_, PyAny>>) -> PyResult<probity::History> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(probity::History::new());
    };
    let py = value.py();
    // Two more levels than an action: the history object and its `actions` list.
    let depth = MAX_DEPTH.saturating_add(2);
    let json = convert::to_json(value, depth).map_err(|e| input_error(py, e.describe("history")))?;
    if !json.is_object() {
        // serde would also read a struct from an array (`[]` as an empty history).
        return Err(input_error(
            py,
            "history: expected an object such as `{\"actions\": [...], \"breaches\": [...], \"obligations\": [...]}`",
        ));
    }
    serde_json::from_value(json).map_err(|e| input_error(py, format!("history: {e}")))
}

/// A timestamp from an aware `datetime` or RFC 3339 text, read by the core's own parser.
fn timestamp(value: &Bound<'_, PyAny>, name: &str) -> PyResult<chrono::DateTime<chrono::FixedOffset>> {
    let py = value.py();
    let text = if let Ok(s) = value.cast::<PyString>() {
        s.to_cow()?.into_owned()
    } else if convert::is_datetime(value)? {
        convert::datetime(value).map_err(|e| input_error(py, e.describe(name)))?
    } else {
        return Err(PyTypeError::new_err(format!(
            "`{name}` must be a timezone-aware datetime or RFC 3339 text, found `{}`",
            value.get_type().qualname()?
        )));
    };
    probity::parse_timestamp(&text).map_err(|e| match e {
        probity::InputError::Field { problem, .. } => input_error(py, format!("`{name}`: {problem}")),
        other => input_error(py, format!("`{name}`: {other}")),
    })
}

/// A loaded, checked set of policy files.
#[pyclass(module = "probity", name = "PolicySet", frozen)]
struct PolicySet {
    /// The set, already inside an engine (the core's engine shares it behind an `Arc`), so that
    /// several `Engine`s can be made from one `PolicySet`.
    engine: probity::Engine,
}

#[pymethods]
impl PolicySet {
    /// Loads every `.probity` file under a directory. With `require_policy`, an action no
    /// policy is in force for is decided `review` with an error finding.
    #[staticmethod]
    #[pyo3(signature = (path, *, require_policy=false))]
    fn from_dir(py: Python<'_>, path: std::path::PathBuf, require_policy: bool) -> PyResult<Self> {
        match run(py, move || probity::PolicySet::from_dir(path))? {
            Ok(set) => Ok(PolicySet { engine: probity::Engine::new(set.require_policy(require_policy)) }),
            Err(e) => Err(load_error(py, e)),
        }
    }

    /// Loads policies from `{name: text}` (or an iterable of `(name, text)` pairs).
    #[staticmethod]
    #[pyo3(signature = (sources, *, require_policy=false))]
    fn from_sources(py: Python<'_>, sources: &Bound<'_, PyAny>, require_policy: bool) -> PyResult<Self> {
        if sources.cast::<PyString>().is_ok() {
            return Err(PyTypeError::new_err(
                "`from_sources` takes `{name: text}` or `(name, text)` pairs; for one file write `{\"policy.probity\": text}`",
            ));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Ok(dict) = sources.cast::<PyDict>() {
            for (name, text) in dict.iter() {
                pairs.push((name.extract()?, text.extract()?));
            }
        } else {
            for item in sources.try_iter()? {
                pairs.push(item?.extract()?);
            }
        }
        match run(py, move || probity::PolicySet::from_sources(pairs))? {
            Ok(set) => Ok(PolicySet { engine: probity::Engine::new(set.require_policy(require_policy)) }),
            Err(diagnostics) => Err(policy_error(py, &diagnostics)),
        }
    }

    /// `(id, version)` of every loaded policy file, ordered by id and effective date.
    #[getter]
    fn versions(&self) -> Vec<(String, String)> {
        self.engine.policy_set().versions().map(|(id, v)| (id.to_owned(), v.to_owned())).collect()
    }

    /// The number of rules, conflicts and duties across all files.
    #[getter]
    fn rule_count(&self) -> usize {
        self.engine.policy_set().rule_count()
    }

    /// The warnings of the load, as diagnostic records.
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let records: Vec<probity::DiagnosticRecord> =
            self.engine.policy_set().warnings().iter().map(probity::Diagnostic::record).collect();
        to_python!(py, &records)
    }

    fn __repr__(&self) -> String {
        let set = self.engine.policy_set();
        format!("<PolicySet: {} policy file(s), {} rule(s)>", set.versions().count(), set.rule_count())
    }
}

/// Evaluates actions against a policy set. Pure: `evaluate` records nothing.
#[pyclass(module = "probity", name = "Engine", frozen)]
struct Engine {
    engine: probity::Engine,
}

#[pymethods]
impl Engine {
    #[new]
    fn new(policy_set: PyRef<'_, PolicySet>) -> Self {
        Engine { engine: policy_set.engine.clone() }
    }

    /// Decides on an action (a dict) given the RM's history (a dict, or `None`).
    #[pyo3(signature = (action, history=None))]
    fn evaluate(
        &self,
        py: Python<'_>,
        action: &Bound<'_, PyAny>,
        history: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let action = crate::action(action)?;
        let history = crate::history(history)?;
        let engine = &self.engine;
        let decided = run(py, || engine.evaluate(&action, &history))?;
        decided.map(|inner| Decision { inner }).map_err(|e| input_error(py, e.to_string()))
    }

    /// Decides on an action given as JSON text, with a history as JSON text (or `None`).
    #[pyo3(signature = (action, history=None))]
    fn evaluate_json(&self, py: Python<'_>, action: &str, history: Option<&str>) -> PyResult<Decision> {
        let engine = &self.engine;
        let decided = run(py, || engine.evaluate_json(action, history))?;
        decided.map(|inner| Decision { inner }).map_err(|e| input_error(py, e.to_string()))
    }

    /// The overdue reports of `history` at time `at`. Pure, like `evaluate`.
    fn overdue(
        &self,
        py: Python<'_>,
        history: &Bound<'_, PyAny>,
        at: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<OverdueReport>> {
        let history = crate::history(Some(history))?;
        let at = timestamp(at, "at")?;
        let engine = &self.engine;
        let reports = run(py, || engine.overdue(&history, at))?;
        reports.map(wrap_reports).map_err(|e| input_error(py, e.to_string()))
    }

    /// Replays events through fresh ledgers and returns the records as a table; see
    /// `probity/_replay.py` (which takes the arguments and does the table conversions) and the
    /// stubs.
    #[pyo3(signature = (events, **options))]
    fn replay<'py>(
        slf: &Bound<'py, Self>,
        events: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("probity._replay")?.getattr("replay")?.call((slf, events), options)
    }

    /// The native half of `replay`: see `replay::Input::new` for `source` and `payload`, and
    /// `replay::replay` for what it returns. `max_skew` is in seconds.
    #[pyo3(signature = (
        source, payload, as_of=None, jobs=None, output="decisions", out=None, max_skew=Some(86_400.0), report=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn _replay<'py>(
        &self,
        py: Python<'py>,
        source: &str,
        payload: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
        jobs: Option<usize>,
        output: &str,
        out: Option<std::path::PathBuf>,
        max_skew: Option<f64>,
        report: Option<std::path::PathBuf>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let output: probity::replay::table::Output = output.parse().map_err(PyValueError::new_err)?;
        let jobs = match jobs {
            Some(0) => return Err(PyValueError::new_err("`jobs` must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let as_of = as_of.filter(|t| !t.is_none()).map(|t| timestamp(t, "as_of")).transpose()?;
        let max_skew = max_skew.map(probity::replay::max_skew_seconds).transpose().map_err(PyValueError::new_err)?;
        let input = replay::Input::new(source, payload)?;
        let options = probity::replay::Options { as_of, jobs, max_skew };
        replay::replay(py, &self.engine, input, &options, output, (out, report))
    }

    /// A new, empty ledger over this engine's policy set.
    fn ledger(&self) -> Ledger {
        Ledger { inner: Mutex::new(self.engine.ledger()) }
    }

    /// The policy set the engine evaluates.
    #[getter]
    fn policy_set(&self) -> PolicySet {
        PolicySet { engine: self.engine.clone() }
    }

    fn __repr__(&self) -> String {
        let set = self.engine.policy_set();
        format!("<Engine: {} policy file(s), {} rule(s)>", set.versions().count(), set.rule_count())
    }
}

fn wrap_reports(reports: Vec<probity::OverdueReport>) -> Vec<OverdueReport> {
    reports.into_iter().map(|inner| OverdueReport { inner }).collect()
}

/// A stateful, per-RM history: records submitted actions, tracks obligations and reports the
/// overdue ones as time advances. One ledger may be shared by threads: each call takes its
/// lock with the GIL released, so calls run one at a time and never deadlock with the GIL.
#[pyclass(module = "probity", name = "Ledger", frozen)]
struct Ledger {
    /// Poisoned when a panic was caught halfway through a change (the state may be
    /// inconsistent): every later call then raises.
    inner: Mutex<probity::Ledger>,
}

impl Ledger {
    /// Runs `f` on the ledger with the GIL released and the lock held.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut probity::Ledger) -> T + Send) -> PyResult<T> {
        let inner = &self.inner;
        run(py, move || inner.lock().map(|mut ledger| f(&mut ledger)).map_err(|_| ()))?
            .map_err(|()| internal("this ledger is unusable after an earlier internal error"))
    }
}

#[pymethods]
impl Ledger {
    /// Loads history as it is (nothing is evaluated); breaches and obligations name their `rm`.
    fn load(&self, py: Python<'_>, history: &Bound<'_, PyAny>) -> PyResult<()> {
        let history = crate::history(Some(history))?;
        self.with(py, |ledger| ledger.load(&history))?.map_err(|e| input_error(py, e.to_string()))
    }

    /// Records an action: reports what fell overdue before it, then decides on it.
    fn submit(&self, py: Python<'_>, action: &Bound<'_, PyAny>) -> PyResult<Submission> {
        let action = crate::action(action)?;
        let submission = self.with(py, |ledger| ledger.submit(&action))?.map_err(|e| input_error(py, e.to_string()))?;
        let overdue = PyList::empty(py);
        for inner in submission.overdue {
            overdue.append(OverdueReport { inner })?;
        }
        Ok(Submission { overdue: overdue.unbind(), decision: Py::new(py, Decision { inner: submission.decision })? })
    }

    /// Advances every RM's clock to `at` (an aware datetime or RFC 3339 text), reporting the
    /// obligations that fell overdue, in deadline order.
    fn advance_to(&self, py: Python<'_>, at: &Bound<'_, PyAny>) -> PyResult<Vec<OverdueReport>> {
        let at = timestamp(at, "at")?;
        self.with(py, |ledger| ledger.advance_to(at)).map(wrap_reports)
    }

    /// Open obligations: `(not yet overdue, reported overdue but still open)`.
    fn open_obligations(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        self.with(py, |ledger| ledger.open_obligations())
    }

    /// The number of RMs the ledger tracks.
    #[getter]
    fn rm_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |ledger| ledger.rm_count())
    }

    /// The number of actions, breaches and obligations held.
    #[getter]
    fn retained_items(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |ledger| ledger.retained_items())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let (rms, items) = self.with(py, |ledger| (ledger.rm_count(), ledger.retained_items()))?;
        Ok(format!("<Ledger: {rms} RM(s), {items} item(s)>"))
    }
}

/// What `Ledger.submit` gives: the overdue reports of the implicit advance, then the decision.
/// Unpacks as a pair: `overdue, decision = ledger.submit(action)`.
#[pyclass(module = "probity", name = "Submission", frozen)]
struct Submission {
    overdue: Py<PyList>,
    decision: Py<Decision>,
}

impl Submission {
    fn pair<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, [self.overdue.bind(py).as_any(), self.decision.bind(py).as_any()])
    }
}

#[pymethods]
impl Submission {
    /// The overdue reports of the advance to the action's time.
    #[getter]
    fn overdue(&self, py: Python<'_>) -> Py<PyList> {
        self.overdue.clone_ref(py)
    }

    /// The decision on the action.
    #[getter]
    fn decision(&self, py: Python<'_>) -> Py<Decision> {
        self.decision.clone_ref(py)
    }

    fn __len__(&self) -> usize {
        2
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.pair(py)?.as_any().get_item(index)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.pair(py)?.as_any().try_iter()?.into_any())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let decision = self.decision.bind(py).repr()?;
        Ok(format!("<Submission: {} overdue, {decision}>", self.overdue.bind(py).len()))
    }
}

/// The `#[pymethods]` of a class wrapping a core record (`inner`): a getter per named field,
/// giving its JSON form as Python values (what `to_dict()` holds), `to_dict`, `to_json` (the
/// JSON contract shared by every surface, byte-identical to the Rust engine's), `==`, and the
/// methods given.
macro_rules! record_methods {
    ($class:ident { $($(#[doc = $doc:literal])* $field:ident),* $(,)? } $($methods:tt)*) => {
        #[pymethods]
        impl $class {
            $(
                $(#[doc = $doc])*
                #[getter]
                fn $field<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    to_python!(py, &self.inner.$field)
                }
            )*

            /// The record as a dict (the JSON contract, decoded by `json.loads`).
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                to_python!(py, &self.inner)
            }

            /// The record as compact JSON, byte-identical to the Rust engine's.
            fn to_json(&self) -> PyResult<String> {
                serde_json::to_string(&self.inner).map_err(internal)
            }

            fn __eq__(&self, other: PyRef<'_, $class>) -> bool {
                self.inner == other.inner
            }

            $($methods)*
        }
    };
}

/// The decision on one action.
#[pyclass(module = "probity", name = "Decision", frozen)]
struct Decision {
    inner: probity::Decision,
}

record_methods! {
    Decision {
        /// The action's id.
        action,
        /// The action's timestamp, RFC 3339.
        at,
        /// `"allow"`, `"review"` or `"deny"`.
        verdict,
        /// Every policy version in force: `{id, version, digest}`.
        policies,
        /// What fired, as dicts.
        findings,
        /// Duties the action started: `{policy, duty, action, due}`.
        obligations,
        /// Earlier obligations the action met: `{policy, duty, action}`.
        fulfilled,
        /// Teams to notify.
        escalations,
        /// Sanction ladder steps reached: `{policy, ladder, points, step, previous}`.
        sanctions,
    }

    /// Parses a decision from its JSON (as written by `to_json`).
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        serde_json::from_str(text).map(|inner| Decision { inner }).map_err(|e| input_error(py, format!("decision: {e}")))
    }

    fn __repr__(&self) -> String {
        format!("<Decision {:?}: {}, {} finding(s)>", self.inner.action, self.inner.verdict, self.inner.findings.len())
    }
}

/// An obligation that passed its deadline, reported when a ledger's clock moved past it.
#[pyclass(module = "probity", name = "OverdueReport", frozen)]
struct OverdueReport {
    inner: probity::OverdueReport,
}

record_methods! {
    OverdueReport {
        /// The RM's id.
        rm,
        /// The deadline that passed, RFC 3339.
        at,
        /// The obligation: `{policy, duty, action, due}`.
        obligation,
        /// One finding of kind `overdue`.
        findings,
        /// Teams to notify.
        escalations,
        /// Sanction steps reached by the overdue breach.
        sanctions,
    }

    fn __repr__(&self) -> String {
        let o = &self.inner.obligation;
        format!("<OverdueReport {}/{} of {:?} for RM {:?}, due {}>", o.policy, o.duty, o.action, self.inner.rm, o.due)
    }
}

/// The native module; `probity/__init__.py` re-exports it.
#[pymodule]
fn _probity(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PolicySet>()?;
    m.add_class::<Engine>()?;
    m.add_class::<Ledger>()?;
    m.add_class::<Submission>()?;
    m.add_class::<Decision>()?;
    m.add_class::<OverdueReport>()?;
    m.add_class::<replay::Records>()?;
    m.add_function(wrap_pyfunction!(generate::generate, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
