//! Admin resources: agents, teams, API tokens, the outbox's failed work and the
//! Prometheus metrics. Listing
//! agents and teams is open to every agent (the console shows names); changing them is
//! for admins.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Ids, Json, Problem, Query};
use crate::desk::Role;
use crate::desk::agents::{AgentUpdate, AgentView, NewAgent, TeamView};
use crate::outbox;
use entity::api_token;

#[derive(Serialize)]
pub struct CreatedAgent {
    #[serde(flatten)]
    agent: AgentView,
    /// The generated password, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

pub async fn list_agents(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<Vec<AgentView>>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.list_agents().await?))
}

pub async fn show_agent(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<AgentView>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.agent(id).await?))
}

pub async fn create_agent(
    State(state): State<AppState>,
    p: Principal,
    Json(new): Json<NewAgent>,
) -> ApiResult<(StatusCode, axum::Json<CreatedAgent>)> {
    p.require(Role::Admin)?;
    let (agent, password) = state.desk.create_agent(new).await?;
    let agent = state.desk.agent(agent.id).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedAgent { agent, password }),
    ))
}

pub async fn update_agent(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(change): Json<AgentUpdate>,
) -> ApiResult<axum::Json<AgentView>> {
    p.require(Role::Admin)?;
    Ok(axum::Json(
        state.desk.update_agent(id, change, p.actor).await?,
    ))
}

pub async fn list_teams(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<Vec<TeamView>>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.list_teams().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    name: String,
}

pub async fn create_team(
    State(state): State<AppState>,
    p: Principal,
    Json(new): Json<NewTeam>,
) -> ApiResult<(StatusCode, axum::Json<TeamView>)> {
    p.require(Role::Admin)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.desk.create_team(&new.name).await?),
    ))
}

pub async fn add_member(
    State(state): State<AppState>,
    p: Principal,
    Ids(team, agent): Ids,
) -> ApiResult<StatusCode> {
    p.require(Role::Admin)?;
    state.desk.set_team_member(team, agent, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_member(
    State(state): State<AppState>,
    p: Principal,
    Ids(team, agent): Ids,
) -> ApiResult<StatusCode> {
    p.require(Role::Admin)?;
    state.desk.set_team_member(team, agent, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<Vec<api_token::Model>>> {
    p.require(Role::Admin)?;
    Ok(axum::Json(state.desk.list_tokens().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    role: Role,
}

#[derive(Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    meta: api_token::Model,
    /// The token, shown this once.
    token: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    p: Principal,
    Json(new): Json<NewToken>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    p.require(Role::Admin)?;
    let (meta, token) = state.desk.create_token(&new.name, new.role).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken { meta, token }),
    ))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<api_token::Model>> {
    p.require(Role::Admin)?;
    Ok(axum::Json(state.desk.revoke_token(id).await?))
}

/// Query of `GET /api/v1/outbox`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `failed` (default) or `pending`.
    status: Option<String>,
    cursor: Option<i64>,
    limit: Option<u64>,
}

#[derive(Serialize)]
pub struct OutboxPage {
    items: Vec<outbox::Row>,
    next: Option<String>,
}

pub async fn list_outbox(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<OutboxQuery>,
) -> ApiResult<axum::Json<OutboxPage>> {
    p.require(Role::Admin)?;
    let status = q.status.as_deref().unwrap_or("failed");
    if !matches!(status, "failed" | "pending") {
        return Err(Problem {
            status: 400,
            ..Problem::invalid("status", "expected failed or pending")
        });
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let items = outbox::list(&state.desk.store, status, q.cursor.unwrap_or(0), limit)
        .await
        .map_err(crate::desk::Error::from)?;
    let next = (items.len() as u64 == limit)
        .then(|| items.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(axum::Json(OutboxPage { items, next }))
}

pub async fn retry_outbox(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    p.require(Role::Admin)?;
    let retried = outbox::retry(&state.desk.store, id)
        .await
        .map_err(crate::desk::Error::from)?;
    if !retried {
        return Err(Problem::not_found(format!("no failed outbox row {id}")));
    }
    state.desk.outbox_kick.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// The process's metrics recorder, installed once (the first app started in a process
/// installs it; later ones share it).
pub fn prometheus() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| tracing::warn!("metrics are off: {e}"))
                .ok()
        })
        .as_ref()
}

/// `GET /metrics` in Prometheus' text format, for admins (a Prometheus job sends an
/// admin token as its bearer token).
pub async fn metrics(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    p.require(Role::Admin)?;
    let handle = prometheus().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_off",
            "metrics are off",
        )
    })?;
    let search = super::SearchReadiness::of(&state)
        .await
        .map_err(crate::desk::Error::from)?;
    metrics::gauge!("switchboard_search_backlog").set(search.backlog as f64);
    metrics::gauge!("switchboard_search_lag_seconds").set(search.lag_seconds as f64);
    metrics::gauge!("switchboard_search_up").set(if search.status == "ok" { 1.0 } else { 0.0 });
    let (pending, failed) = outbox::counts(&state.desk.store)
        .await
        .map_err(crate::desk::Error::from)?;
    metrics::gauge!("switchboard_outbox_pending").set(pending as f64);
    metrics::gauge!("switchboard_outbox_failed").set(failed as f64);
    handle.run_upkeep();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}
