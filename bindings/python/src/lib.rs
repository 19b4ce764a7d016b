//! Python binding of the Probity policy engine: `probity._probity`, wrapped by the pure-Python
//! package `probity` (exception classes, `_replay.py`'s tables). It converts Python values to
//! JSON (`convert`), maps errors (`errors`), releases the GIL around the engine's work and
//! catches panics at the boundary; everything else is the core crate's.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

mod convert;
mod errors;
mod generate;
mod replay;

use convert::{action, history, timestamp};
use errors::{bundle_error, coded, input_error, internal, json_loads, load_error, policy_error, run, to_python};

/// Any Python object, and a dict.
type Obj<'py> = Bound<'py, PyAny>;
type Dict<'py> = Bound<'py, PyDict>;

// The same allocator as the CLI: deciding allocates many small values, from several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A loaded, checked set of policy files.
#[pyclass(module = "probity", name = "PolicySet", frozen)]
struct PolicySet {
    /// The set inside an engine (which shares it behind an `Arc`), for every `Engine` made.
    engine: probity::Engine,
}

fn policy_set(set: probity::PolicySet, require_policy: bool) -> PolicySet {
    PolicySet { engine: probity::Engine::new(set.require_policy(require_policy)) }
}

#[pymethods]
impl PolicySet {
    /// Loads every `.probity` file under a directory.
    #[staticmethod]
    #[pyo3(signature = (path, *, require_policy=false))]
    fn from_dir(py: Python<'_>, path: PathBuf, require_policy: bool) -> PyResult<Self> {
        let set = run(py, move || probity::PolicySet::from_dir(path))?.map_err(|e| load_error(py, e))?;
        Ok(policy_set(set, require_policy))
    }

    /// Loads policies from `{name: text}` (or an iterable of `(name, text)` pairs).
    #[staticmethod]
    #[pyo3(signature = (sources, *, require_policy=false))]
    fn from_sources(py: Python<'_>, sources: &Obj<'_>, require_policy: bool) -> PyResult<Self> {
        if sources.cast::<PyString>().is_ok() {
            return Err(PyTypeError::new_err(
                "`from_sources` takes `{name: text}` or `(name, text)` pairs; for one file write `{\"policy.probity\": text}`",
            ));
        }
        let pairs = sources.cast::<PyDict>().map_or_else(|_| sources.clone(), |dict| dict.items().into_any());
        let pairs: Vec<(String, String)> = pairs.try_iter()?.map(|item| item?.extract()).collect::<PyResult<_>>()?;
        let set = run(py, move || probity::PolicySet::from_sources(pairs))?.map_err(|d| policy_error(py, &d))?;
        Ok(policy_set(set, require_policy))
    }

    /// Loads a signed bundle (`probity bundle`) once its signature verifies with the public key
    /// `trust` and its files match the manifest, as `probity replay --bundle --trust` does.
    #[staticmethod]
    #[pyo3(signature = (path, trust, *, require_policy=false))]
    fn from_bundle(py: Python<'_>, path: PathBuf, trust: PathBuf, require_policy: bool) -> PyResult<Self> {
        let set =
            run(py, move || probity_audit::bundle::load_bundle(&path, &trust))?.map_err(|e| bundle_error(py, &e))?;
        Ok(policy_set(set, require_policy))
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
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Obj<'py>> {
        to_python!(py, &probity::api::warnings(&self.engine))
    }

    fn __repr__(&self) -> String {
        format!("<PolicySet: {}>", probity::api::describe(&self.engine))
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
    fn evaluate(&self, py: Python<'_>, action: &Obj<'_>, history: Option<&Obj<'_>>) -> PyResult<Decision> {
        let (action, history, engine) = (crate::action(action)?, crate::history(history)?, &self.engine);
        let inner = run(py, || engine.evaluate(&action, &history))?.map_err(|e| coded(py, e))?;
        Ok(Decision { inner })
    }

    /// Decides on an action given as JSON text, with a history as JSON text (or `None`).
    #[pyo3(signature = (action, history=None))]
    fn evaluate_json(&self, py: Python<'_>, action: &str, history: Option<&str>) -> PyResult<Decision> {
        let engine = &self.engine;
        let inner = run(py, || engine.evaluate_json(action, history))?.map_err(|e| coded(py, e))?;
        Ok(Decision { inner })
    }

    /// The overdue reports of `history` at time `at`. Pure, like `evaluate`.
    fn overdue(&self, py: Python<'_>, history: &Obj<'_>, at: &Obj<'_>) -> PyResult<Vec<OverdueReport>> {
        let (history, at, engine) = (crate::history(Some(history))?, timestamp(at, "at")?, &self.engine);
        Ok(reports(run(py, || engine.overdue(&history, at))?.map_err(|e| coded(py, e))?))
    }

    /// Replays events through fresh ledgers (see the stubs): `probity/_replay.py` takes it.
    #[pyo3(signature = (events, **options))]
    fn replay<'py>(slf: &Bound<'py, Self>, events: &Obj<'py>, options: Option<&Dict<'py>>) -> PyResult<Obj<'py>> {
        slf.py().import("probity._replay")?.getattr("replay")?.call((slf, events), options)
    }

    /// The native half of `replay` (see `replay::Input::new` and `replay::replay`): `files` are
    /// `(out, report, state)`.
    #[pyo3(signature = (source, payload, as_of, jobs, output, max_skew, files))]
    #[allow(clippy::too_many_arguments)]
    fn _replay<'py>(
        &self,
        py: Python<'py>,
        source: &str,
        payload: &Obj<'py>,
        as_of: Option<&Obj<'py>>,
        jobs: Option<usize>,
        output: &str,
        max_skew: Option<f64>,
        files: (Option<PathBuf>, Option<PathBuf>, Option<String>),
    ) -> PyResult<(Obj<'py>, Dict<'py>)> {
        let output: probity::replay::table::Output = output.parse().map_err(PyValueError::new_err)?;
        let as_of = as_of.filter(|t| !t.is_none()).map(|t| timestamp(t, "as_of")).transpose()?;
        let options = probity::replay::output::options(as_of, jobs, max_skew).map_err(PyValueError::new_err)?;
        let input = replay::Input::new(source, payload)?;
        replay::replay(py, &self.engine, input, &options, output, files)
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
        format!("<Engine: {}>", probity::api::describe(&self.engine))
    }
}

fn reports(reports: Vec<probity::OverdueReport>) -> Vec<OverdueReport> {
    reports.into_iter().map(|inner| OverdueReport { inner }).collect()
}

/// A stateful, per-RM history. Each call takes its lock with the GIL released: calls from
/// several threads run one at a time and never deadlock with the GIL.
#[pyclass(module = "probity", name = "Ledger", frozen)]
struct Ledger {
    /// Poisoned by a panic caught halfway through a change: every later call then raises.
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
    fn load(&self, py: Python<'_>, history: &Obj<'_>) -> PyResult<()> {
        let history = crate::history(Some(history))?;
        self.with(py, |ledger| ledger.load(&history))?.map_err(|e| coded(py, e))
    }

    /// Records an action: reports what fell overdue before it, then decides on it; gives a
    /// `probity.Submission` (a named tuple, `overdue, decision`).
    fn submit<'py>(&self, py: Python<'py>, action: &Obj<'_>) -> PyResult<Obj<'py>> {
        let action = crate::action(action)?;
        let submission = self.with(py, |ledger| ledger.submit(&action))?.map_err(|e| coded(py, e))?;
        let decision = Decision { inner: submission.decision };
        py.import("probity")?.getattr("Submission")?.call1((reports(submission.overdue), decision))
    }

    /// Advances every RM's clock to `at`: the obligations that fell overdue, by deadline.
    fn advance_to(&self, py: Python<'_>, at: &Obj<'_>) -> PyResult<Vec<OverdueReport>> {
        let at = timestamp(at, "at")?;
        self.with(py, |ledger| ledger.advance_to(at)).map(reports)
    }

    /// The ledger's whole state as a dict: `json.loads` of `snapshot_json()`, members in order.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Obj<'py>> {
        json_loads(py, self.snapshot_json(py)?)
    }

    /// The ledger's whole state as compact JSON, byte-identical to the Rust `Ledger::snapshot()`'s.
    fn snapshot_json(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |ledger| probity::api::text::snapshot(ledger))
    }

    /// Adds the RMs of a snapshot (a dict, or its JSON text) to the ledger: all or nothing.
    fn restore(&self, py: Python<'_>, snapshot: &Obj<'_>) -> PyResult<()> {
        let text: String = match snapshot.cast::<PyString>() {
            Ok(text) => text.to_cow()?.into_owned(),
            // Written by `probity/_convert.py`, members in their order (the native converter sorts them).
            Err(_) => py.import("probity._convert")?.getattr("snapshot")?.call1((snapshot,))?.extract()?,
        };
        self.with(py, |ledger| probity::api::restore_json(ledger, &text))?.map_err(|e| coded(py, e))
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

/// The `#[pymethods]` of a class wrapping a core record (`inner`): a getter per field (its
/// JSON form as Python values), `to_dict`, `to_json` (the JSON contract), `==`, and the rest.
macro_rules! record_methods {
    ($class:ident { $($field:ident: $doc:literal),* $(,)? } $($methods:tt)*) => {
        #[pymethods]
        impl $class {
            $(
                #[doc = $doc]
                #[getter]
                fn $field<'py>(&self, py: Python<'py>) -> PyResult<Obj<'py>> {
                    to_python!(py, &self.inner.$field)
                }
            )*

            /// The record as a dict (the JSON contract, decoded by `json.loads`).
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Obj<'py>> {
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
        action: "The action's id.",
        at: "The action's timestamp, RFC 3339.",
        verdict: "`\"allow\"`, `\"review\"` or `\"deny\"`.",
        policies: "Every policy version in force: `{id, version, digest}`.",
        findings: "What fired, as dicts.",
        obligations: "Duties the action started: `{policy, duty, action, due}`.",
        fulfilled: "Earlier obligations the action met: `{policy, duty, action}`.",
        escalations: "Teams to notify.",
        sanctions: "Sanction ladder steps reached: `{policy, ladder, points, step, previous}`.",
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

/// An obligation that passed its deadline.
#[pyclass(module = "probity", name = "OverdueReport", frozen)]
struct OverdueReport {
    inner: probity::OverdueReport,
}

record_methods! {
    OverdueReport {
        rm: "The RM's id.",
        at: "The deadline that passed, RFC 3339.",
        obligation: "The obligation: `{policy, duty, action, due}`, or `{policy, duty, period, due}` for a periodic duty.",
        findings: "One finding of kind `overdue`.",
        escalations: "Teams to notify.",
        sanctions: "Sanction steps reached by the overdue breach.",
    }

    fn __repr__(&self) -> String {
        format!("<OverdueReport {}>", probity::api::describe_overdue(&self.inner))
    }
}

/// The JSON of an RM's state as a SQLite or PostgreSQL state keeps it (the `state` column of
/// `probity_rm`, packed or plain): for `probity.spark`, which carries the RMs' states between
/// runs as text.
#[pyfunction]
fn unpack_state(py: Python<'_>, blob: &[u8]) -> PyResult<String> {
    run(py, || probity::store::unpack_state(blob).map(|text| text.into_owned()))?
        .map_err(|e| input_error(py, format!("the RM state cannot be read: {e}")))
}

/// The native module; `probity/__init__.py` re-exports it.
#[pymodule]
mod _probity {
    #[pymodule_export]
    use super::{
        generate::generate, replay::Records, unpack_state, Decision, Engine, Ledger, OverdueReport, PolicySet,
    };

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        pyo3::types::PyModuleMethods::add(m, "__version__", env!("CARGO_PKG_VERSION"))
    }
}
