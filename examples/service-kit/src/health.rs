//! Liveness and readiness, fed by the background workers' [`WorkerStateWatch`]es and by
//! checks of the service's dependencies (its event store).
//!
//! - `GET /health/live`: 200 while the process serves HTTP at all.
//! - `GET /health/ready`: 200 `{"status": "ready", "workers": [...], "checks": [...]}` while
//!   every watched worker runs and every check passes; 503 `{"status": "not_ready",
//!   "error": "worker_stopped", "stopped": {name: reason}, "unavailable": {name: reason}}`
//!   once a worker stopped for good (`error` is `dependency_unavailable` when only checks
//!   fail). Each check runs on every request, bounded by [`Health::CHECK_TIMEOUT`].
//!
//! A stopped worker is logged at error level the moment it stops. The process keeps
//! serving (its queries still answer and its HTTP commands are still stored): an
//! orchestrator takes it out of rotation through readiness, and an operator reads the
//! reason before restarting it, since a permanent failure repeats after a restart.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cqrs_core::worker::{WorkerState, WorkerStateWatch};
use cqrs_core::EventStore;
use futures::future::BoxFuture;
use serde_json::json;

/// A readiness check: `Ok` while the dependency answers, else why not.
type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The workers and dependencies a service watches, by name.
#[derive(Clone, Default)]
pub struct Health {
    workers: Arc<Mutex<BTreeMap<&'static str, WorkerStateWatch>>>,
    checks: Arc<Mutex<BTreeMap<&'static str, Check>>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let checks: Vec<&str> = lock(&self.checks).keys().copied().collect();
        f.debug_struct("Health")
            .field("workers", &*self.lock())
            .field("checks", &checks)
            .finish()
    }
}

impl Health {
    /// How long one readiness check may take before it counts as failed.
    pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

    /// No workers yet: ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the dependency `name` on every `GET /health/ready`: readiness fails while
    /// `check` returns an error (or takes longer than [`Self::CHECK_TIMEOUT`]), naming it
    /// with the error.
    ///
    /// ```
    /// let health = service_kit::Health::new();
    /// health.check("cache", || async { Err::<(), _>("connection refused") });
    /// ```
    pub fn check<F, Fut, E>(&self, name: &'static str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let check: Check = Arc::new(move || {
            let pending = check();
            Box::pin(async move { pending.await.map_err(|error| error.to_string()) })
        });
        lock(&self.checks).insert(name, check);
    }

    /// Checks the event store `name`: ready while it answers
    /// [`head_position`](EventStore::head_position).
    pub fn check_store<S: EventStore + ?Sized + 'static>(&self, name: &'static str, store: Arc<S>) {
        self.check(name, move || {
            let store = store.clone();
            async move { store.head_position().await.map(|_| ()) }
        });
    }

    /// Watches `worker` under `name`: readiness fails once it stops for good, and that stop
    /// is logged at error level at once (a graceful shutdown is logged at info).
    pub fn watch(&self, name: &'static str, worker: WorkerStateWatch) {
        let mut stopped = worker.clone();
        self.lock().insert(name, worker);
        tokio::spawn(async move {
            match stopped.stopped().await {
                WorkerState::Failed(reason) => {
                    tracing::error!(worker = name, %reason, "background worker stopped for good; /health/ready now answers 503");
                }
                state => tracing::info!(worker = name, ?state, "background worker stopped"),
            }
        });
    }

    /// The workers that are not running, with the reason.
    pub fn stopped(&self) -> BTreeMap<&'static str, String> {
        self.lock()
            .iter()
            .filter_map(|(name, worker)| {
                let state = worker.current();
                state.is_stopped().then(|| (*name, state.to_string()))
            })
            .collect()
    }

    /// The `/health/live` and `/health/ready` routes, to merge into a service's router.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .with_state(self.clone())
    }

    /// The checks that fail now, with the reason (each bounded by [`Self::CHECK_TIMEOUT`],
    /// all run at once).
    pub async fn unavailable(&self) -> BTreeMap<&'static str, String> {
        let checks: Vec<(&'static str, Check)> = lock(&self.checks)
            .iter()
            .map(|(name, check)| (*name, check.clone()))
            .collect();
        let results =
            futures::future::join_all(checks.into_iter().map(|(name, check)| async move {
                match tokio::time::timeout(Self::CHECK_TIMEOUT, check()).await {
                    Ok(Ok(())) => None,
                    Ok(Err(reason)) => Some((name, reason)),
                    Err(_) => Some((name, format!("no answer within {:?}", Self::CHECK_TIMEOUT))),
                }
            }))
            .await;
        results.into_iter().flatten().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, WorkerStateWatch>> {
        lock(&self.workers)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock leaves a consistent map behind.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

async fn ready(State(health): State<Health>) -> Response {
    let stopped = health.stopped();
    let unavailable = health.unavailable().await;
    if stopped.is_empty() && unavailable.is_empty() {
        let workers: Vec<&str> = health.lock().keys().copied().collect();
        let checks: Vec<&str> = lock(&health.checks).keys().copied().collect();
        return Json(json!({ "status": "ready", "workers": workers, "checks": checks }))
            .into_response();
    }
    let mut problems = Vec::new();
    if !stopped.is_empty() {
        let names: Vec<&str> = stopped.keys().copied().collect();
        problems.push(format!(
            "background worker(s) stopped: {}",
            names.join(", ")
        ));
    }
    if !unavailable.is_empty() {
        let names: Vec<&str> = unavailable.keys().copied().collect();
        problems.push(format!("unavailable: {}", names.join(", ")));
    }
    let error = if stopped.is_empty() {
        "dependency_unavailable"
    } else {
        "worker_stopped"
    };
    let body = json!({
        "status": "not_ready",
        "error": error,
        "message": problems.join("; "),
        "stopped": stopped,
        "unavailable": unavailable,
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
