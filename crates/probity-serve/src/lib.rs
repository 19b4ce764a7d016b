//! `probity serve`: the decision service. HTTP (axum on tokio) over the core's JSON interface
//! (`probity::api`) and a durable ledger (`probity::DurableLedger` over a store).
//!
//! - `POST /v1/evaluate`, `POST /v1/explain`: pure, against the policies in force.
//! - `POST /v1/submit`, `POST /v1/advance`: recorded in the state. Submissions are committed by
//!   one writer thread in groups (those that arrive while a commit runs go in the next one), and
//!   answered only once committed.
//! - `GET /v1/policies` (versions and digests in force), `POST /v1/policies` (load the policies
//!   again, atomically; a set that does not load, or a bundle that does not verify, is refused
//!   with its code and the old one stays), also on `SIGHUP`.
//! - With a decision log ([`Config::log`]), every submission's decision and overdue reports and
//!   every advance's reports are appended to it, in commit order, before they are answered.
//! - `GET /health`, `GET /metrics` (Prometheus text), `GET /v1/openapi.json`.
//!
//! `SIGTERM` (or Ctrl-C) stops accepting connections, finishes the requests in flight and the
//! submissions queued, and returns.

mod log;
mod metrics;
mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use probity::api::{self, Error as ApiError};
use probity::Engine;

pub use metrics::Metrics;
use writer::{Job, Writer};

/// The OpenAPI document of the service, as served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The largest request body accepted, in bytes: an action's limit and room for a history.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// How long a request may take before it is answered `408`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the policy set, at the start and on every reload.
pub type Loader = Arc<dyn Fn() -> Result<Loaded, LoadFailure> + Send + Sync>;

/// A policy set loaded.
pub struct Loaded {
    /// The engine over it.
    pub engine: Engine,
    /// Its bundle's manifest digest (`sha256:…`), when it came from a signed bundle.
    pub bundle: Option<String>,
}

/// Why the policies were not loaded: a stable code (a bundle's `B…`, or `policy-errors`) and
/// a message.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    /// The code.
    pub code: String,
    /// What happened, with a hint.
    pub message: String,
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

/// How the service runs.
pub struct Config {
    /// Where to listen (loopback in tests).
    pub listen: SocketAddr,
    /// The state: a SQLite path or a `postgres://` URL.
    pub state: String,
    /// Loads the policies.
    pub loader: Loader,
    /// The hash-chained decision log to append to (created if absent; an existing one must
    /// verify, and its chain is continued).
    pub log: Option<PathBuf>,
}

/// What the handlers share.
struct Shared {
    engine: RwLock<Engine>,
    loader: Loader,
    writer: Writer,
    metrics: Metrics,
}

impl Shared {
    fn engine(&self) -> Engine {
        match self.engine.read() {
            Ok(engine) => engine.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Runs the service until `SIGTERM` or Ctrl-C; `ready` is called with the address once it
/// listens. Errors are messages: the policies or the state cannot be opened, the address is
/// taken.
pub fn run(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), String> {
    serve(config, ready, None)
}

/// [`run`] until `stop` resolves (tests stop a service of their own this way).
pub fn run_until(
    config: Config,
    ready: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    serve(config, ready, Some(Box::pin(stop)))
}

/// What stops the service: a future of the caller's, or (`None`) `SIGTERM` or `SIGINT`.
type Stop = Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;

fn serve(config: Config, ready: impl FnOnce(SocketAddr), stop: Stop) -> Result<(), String> {
    let Loaded { engine, bundle } = (config.loader)().map_err(|e| e.to_string())?;
    let mut store =
        probity_store::open(&config.state).map_err(|e| format!("[{}] {e}\nhint: {}", e.code(), e.hint()))?;
    let log = match &config.log {
        Some(path) => Some(log::DecisionLog::open(path, &engine, bundle.as_deref(), store.as_mut())?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the service's runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let (writer, handle) = Writer::start(store, engine.clone(), log);
        let shared = Arc::new(Shared {
            engine: RwLock::new(engine),
            loader: config.loader,
            writer,
            metrics: Metrics::default(),
        });
        // The signal handlers are installed before the service says it listens: a signal that
        // came before them would take its default action and end the process at once.
        let stop = stop.unwrap_or_else(terminated);
        tokio::spawn(reload_on_hangup(Arc::clone(&shared), hangups()));
        ready(address);
        let served = axum::serve(listener, router(Arc::clone(&shared))).with_graceful_shutdown(stop).await;
        // The requests in flight are answered; the writer commits what is queued, then stops.
        shared.writer.stop();
        let stopped = tokio::task::spawn_blocking(move || handle.join()).await;
        served.map_err(|e| format!("the service failed: {e}"))?;
        match stopped {
            Ok(Ok(())) => Ok(()),
            _ => Err("the state's writer failed".to_string()),
        }
    })
}

/// The service's routes over shared state (also for tests, through `tower::ServiceExt`).
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/explain", post(explain))
        .route("/v1/submit", post(submit))
        .route("/v1/advance", post(advance))
        .route("/v1/policies", get(policies).post(reload))
        .route("/v1/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, ApiError::input("not-found", "no such endpoint")) })
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&shared), timed))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

/// Resolves on `SIGTERM` or `SIGINT` (Ctrl-C). The handlers are installed when it is called,
/// inside the runtime, not when it is first polled.
fn terminated() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            return Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            });
        }
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// `SIGHUP`s, from the moment it is called (inside the runtime).
#[cfg(unix)]
fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangups() -> Option<()> {
    None
}

/// Loads the policies again on every `SIGHUP`.
#[cfg(unix)]
async fn reload_on_hangup(shared: Arc<Shared>, hangups: Option<tokio::signal::unix::Signal>) {
    let Some(mut hangups) = hangups else { return };
    while hangups.recv().await.is_some() {
        if let Err(e) = load_again(&shared).await {
            eprintln!("probity serve: the policies were not reloaded: [{}] {}", e.code, e.message);
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_hangup(_: Arc<Shared>, _: Option<()>) {}

/// Loads the policies and puts them in force for the next requests and submissions; on an
/// error (policies that do not load, a bundle that does not verify: its code) the policies in
/// force stay.
async fn load_again(shared: &Arc<Shared>) -> Result<Engine, ApiError> {
    let loader = Arc::clone(&shared.loader);
    let loaded = tokio::task::spawn_blocking(move || loader()).await;
    let Loaded { engine, bundle } = match loaded {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(failure)) => {
            let error = ApiError::input(&failure.code, failure.message);
            return Err(ApiError { kind: api::ErrorKind::PolicyError, ..error });
        }
        Err(_) => return Err(ApiError::internal("the policy loader failed")),
    };
    match shared.engine.write() {
        Ok(mut slot) => *slot = engine.clone(),
        Err(poisoned) => *poisoned.into_inner() = engine.clone(),
    }
    shared.writer.use_engine(engine.clone(), bundle);
    Ok(engine)
}

/// A JSON answer.
fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error as JSON: `{"error": {"code", "kind", "message", "field"?}}`.
fn failure(status: StatusCode, error: ApiError) -> Response {
    let body = serde_json::json!({ "error": error });
    json_response(status, body.to_string())
}

/// The status of an input error: 409 for an action out of time order or reusing an id, 413
/// for one over the size limit, 400 for the rest; 500 for an internal error.
fn status_of(error: &ApiError) -> StatusCode {
    match (error.kind, error.code.as_str()) {
        (api::ErrorKind::InternalError, _) => StatusCode::INTERNAL_SERVER_ERROR,
        (_, "I0009" | "I0012") => StatusCode::CONFLICT,
        (_, "I0002") => StatusCode::PAYLOAD_TOO_LARGE,
        (api::ErrorKind::PolicyError, _) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn refused(error: ApiError) -> Response {
    failure(status_of(&error), error)
}

/// The request body as JSON text, or why not (a body over the limit, not UTF-8).
fn body_text(body: Result<Bytes, BytesRejection>) -> Result<String, Box<Response>> {
    let bytes = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE { "I0002" } else { "I0011" };
        Box::new(failure(
            e.status(),
            ApiError::input(code, format!("the request body cannot be read: {}", e.body_text())),
        ))
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| Box::new(refused(ApiError::input("I0001", format!("the request body is not UTF-8: {e}")))))
}

/// An `evaluate` or `explain` request: the action itself, or `{"action", "history"?}`.
fn evaluate_request(text: &str) -> Result<api::EvaluateRequest, ApiError> {
    let value = api::action_argument(text)?;
    let wrapped = value.get("action").is_some() && value.get("type").is_none();
    if wrapped {
        api::json_argument("request", text)
    } else {
        Ok(api::EvaluateRequest { action: value, history: None })
    }
}

async fn evaluate(State(shared): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    let text = match body_text(body) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    let decided = evaluate_request(&text).and_then(|request| api::evaluate(&shared.engine(), request));
    match decided {
        Ok(decision) => {
            shared.metrics.decision(&decision);
            json_response(StatusCode::OK, decision.to_json())
        }
        Err(e) => refused(e),
    }
}

async fn explain(State(shared): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    let text = match body_text(body) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    match evaluate_request(&text).and_then(|request| api::explain(&shared.engine(), request)) {
        Ok(explanation) => json_response(StatusCode::OK, api::text::answer(&explanation)),
        Err(e) => refused(e),
    }
}

async fn submit(State(shared): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    let text = match body_text(body) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    let action = match api::action_argument(&text).and_then(api::action) {
        Ok(action) => action,
        Err(e) => return refused(e),
    };
    match shared.writer.ask(|reply| Job::Submit(action, reply)).await {
        Ok(Ok(Ok(submission))) => {
            shared.metrics.decision(&submission.decision);
            let answer = api::SubmitAnswer { overdue: submission.overdue, decision: submission.decision };
            json_response(StatusCode::OK, api::text::answer(&answer))
        }
        Ok(Ok(Err(e))) => refused(e.into()),
        Ok(Err(failed)) => failed.response(),
        Err(stopped) => stopped.response(),
    }
}

async fn advance(State(shared): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    let text = match body_text(body) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    let to = api::text::request::<api::AdvanceRequest>(&text).and_then(|r| api::time("to", &r.to));
    let to = match to {
        Ok(to) => to,
        Err(e) => return refused(e),
    };
    match shared.writer.ask(|reply| Job::Advance(to, reply)).await {
        Ok(Ok(reports)) => json_response(StatusCode::OK, api::text::answer(&reports)),
        Ok(Err(failed)) => failed.response(),
        Err(stopped) => stopped.response(),
    }
}

async fn policies(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, api::text::answer(&api::digests(&shared.engine())))
}

async fn reload(State(shared): State<Arc<Shared>>) -> Response {
    match load_again(&shared).await {
        Ok(engine) => json_response(StatusCode::OK, api::text::answer(&api::digests(&engine))),
        Err(e) => failure(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

/// `{"status":"ok"}`; 503 with the error once the decision log cannot be written (nothing is
/// acknowledged then, until a restart).
async fn health(State(shared): State<Arc<Shared>>) -> Response {
    match shared.writer.log_failure() {
        None => json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_string()),
        Some(message) => {
            let error = ApiError { code: "L0001".into(), ..ApiError::internal(message) };
            let body = serde_json::json!({ "status": "failing", "error": error });
            json_response(StatusCode::SERVICE_UNAVAILABLE, body.to_string())
        }
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let rms = shared.writer.ask(Job::Count).await.ok();
    let text = shared.metrics.render(rms);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Times every request into the latency histogram of its route.
async fn timed(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let response = next.run(request).await;
    shared.metrics.request(&route, response.status().as_u16(), start.elapsed());
    response
}

/// A handler that panicked: a coded internal error, never a dropped connection.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    failure(StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(ApiError::panic_message(panic)))
}
