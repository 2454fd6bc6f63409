//! Liveness and readiness, fed by the background workers' [`WorkerStateWatch`]es.
//!
//! - `GET /health/live`: 200 while the process serves HTTP at all.
//! - `GET /health/ready`: 200 `{"status": "ready", "workers": {...}}` while every watched
//!   worker runs; 503 `{"status": "not_ready", "error": "worker_stopped", "stopped": {name:
//!   reason}}` once one stopped for good.
//!
//! A stopped worker is logged at error level the moment it stops. The process keeps
//! serving (its queries still answer and its HTTP commands are still stored): an
//! orchestrator takes it out of rotation through readiness, and an operator reads the
//! reason before restarting it, since a permanent failure repeats after a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cqrs_core::worker::{WorkerState, WorkerStateWatch};
use serde_json::json;

/// The workers a service watches, by name.
#[derive(Debug, Clone, Default)]
pub struct Health {
    workers: Arc<Mutex<BTreeMap<&'static str, WorkerStateWatch>>>,
}

impl Health {
    /// No workers yet: ready.
    pub fn new() -> Self {
        Self::default()
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

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, WorkerStateWatch>> {
        // A panic while holding this lock leaves a consistent map behind.
        self.workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

async fn ready(State(health): State<Health>) -> Response {
    let stopped = health.stopped();
    if stopped.is_empty() {
        let workers: Vec<&str> = health.lock().keys().copied().collect();
        return Json(json!({ "status": "ready", "workers": workers })).into_response();
    }
    let names: Vec<&str> = stopped.keys().copied().collect();
    let body = json!({
        "status": "not_ready",
        "error": "worker_stopped",
        "message": format!("background worker(s) stopped: {}", names.join(", ")),
        "stopped": stopped,
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
