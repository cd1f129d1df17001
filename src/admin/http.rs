//! The admin HTTP API on `[admin] listen` (loopback by default):
//! - `GET /health`: 200 while the pipeline streams and HBase takes its writes, 503 with the
//!   reason otherwise;
//! - `GET /metrics`: Prometheus text (see `admin::metrics`);
//! - `GET /status`: the `mysql2hbase status --json` document;
//! - with `[admin] token` set, every request needs `Authorization: Bearer <token>`;
//! - `POST /bootstrap` with `{"table": "db.table", "where": "optional condition"}`: records a
//!   bootstrap job (202 with its id, 400 with the reason when it cannot run).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::admin::commands;
use crate::config::Config;
use crate::telemetry::health::SharedHealth;

#[derive(Clone)]
struct AppState {
    cfg: Arc<Config>,
    health: SharedHealth,
}

#[derive(Deserialize)]
struct BootstrapRequest {
    table: String,
    #[serde(rename = "where")]
    where_clause: Option<String>,
}

/// Binds `[admin] listen` and serves until the process ends.
pub async fn serve(
    cfg: Config,
    health: SharedHealth,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(&cfg.admin.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on admin.listen = {}: {e}", cfg.admin.listen)
        })?;
    let token = cfg
        .admin
        .token
        .as_ref()
        .map(|t| Arc::new(t.expose().to_string()));
    let app = Router::new()
        .route("/health", get(health_handler))
        .route("/status", get(status_handler))
        .route(
            "/metrics",
            get(|| async { crate::telemetry::metrics::render() }),
        )
        .route("/bootstrap", post(bootstrap_handler))
        .with_state(AppState {
            cfg: Arc::new(cfg),
            health,
        });
    let app = match token {
        Some(token) => app.layer(axum::middleware::from_fn(move |req, next| {
            require_token(token.clone(), req, next)
        })),
        None => app,
    };
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    }))
}

async fn health_handler(State(state): State<AppState>) -> Response {
    let h = state.health.lock().expect("health lock").clone();
    let mut servers_down: Vec<&String> = h.hbase_servers_down.keys().collect();
    servers_down.sort();
    if h.streaming && h.hbase_error.is_none() && servers_down.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
    } else if h.streaming && h.hbase_error.is_none() {
        // Writes go on through the other Thrift servers.
        (
            StatusCode::OK,
            Json(json!({"status": "degraded", "hbase_servers_down": servers_down})),
        )
            .into_response()
    } else {
        let reason = h
            .hbase_error
            .or(h.reason)
            .unwrap_or_else(|| "starting".into());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        )
            .into_response()
    }
}

async fn status_handler(State(state): State<AppState>) -> Response {
    match commands::status(&state.cfg).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": format!("{e:#}")})),
        )
            .into_response(),
    }
}

async fn bootstrap_handler(
    State(state): State<AppState>,
    Json(req): Json<BootstrapRequest>,
) -> Response {
    match commands::request_bootstrap(&state.cfg, &req.table, req.where_clause.as_deref()).await {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({"job": id}))).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("{e:#}")})),
        )
            .into_response(),
    }
}

/// With `[admin] token` set, every request needs `Authorization: Bearer <token>`.
async fn require_token(
    token: Arc<String>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "missing or wrong bearer token ([admin] token)"})),
        )
            .into_response()
    }
}

/// Compares without an early exit, so response times do not tell how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
