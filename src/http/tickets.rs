//! `/api/v1/tickets`: the queue, one ticket, and the agent's actions on it.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Json, Problem, Query};
use crate::desk::tickets::{
    Assignee, Assignment, Page, ReplyInput, TicketDetail, TicketFilter, TicketUpdate,
};
use crate::desk::{Channel, Role, Status, TicketKind};
use entity::{message, ticket};

/// Query of `GET /api/v1/tickets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated statuses, or `active` for new, open and pending.
    status: Option<String>,
    channel: Option<Channel>,
    /// An agent id, `me` or `none`.
    assignee: Option<String>,
    team: Option<i64>,
    contact: Option<i64>,
    kind: Option<TicketKind>,
    cursor: Option<String>,
    limit: Option<u64>,
}

pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Page<ticket::Model>>> {
    p.require(Role::Agent)?;
    let mut filter = TicketFilter {
        channel: q.channel,
        team_id: q.team,
        contact_id: q.contact,
        kind: q.kind,
        ..Default::default()
    };
    if let Some(status) = q.status.as_deref() {
        for word in status.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "active" {
                filter.status.extend(Status::ACTIVE);
            } else {
                filter.status.push(word.parse().map_err(|_| Problem {
                    status: 400,
                    ..Problem::invalid(
                        "status",
                        "expected new, open, pending, resolved, closed or active",
                    )
                })?);
            }
        }
    }
    filter.assignee = match q.assignee.as_deref() {
        None => None,
        Some("none") => Some(Assignee::Nobody),
        Some("me") => Some(Assignee::Agent(p.actor.agent_id().ok_or_else(|| {
            Problem {
                status: 400,
                ..Problem::invalid("assignee", "`me` needs a signed-in agent")
            }
        })?)),
        Some(id) => Some(Assignee::Agent(id.parse().map_err(|_| Problem {
            status: 400,
            ..Problem::invalid("assignee", "expected an agent id, me or none")
        })?)),
    };
    let page = state
        .desk
        .list_tickets(&filter, q.cursor.as_deref(), q.limit.unwrap_or(50))
        .await?;
    Ok(axum::Json(page))
}

pub async fn counts(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<crate::desk::tickets::QueueCounts>> {
    p.require(Role::Agent)?;
    let me = p.actor.agent_id();
    let teams = match me {
        Some(id) => state.desk.agent_team_ids(id).await?,
        None => vec![],
    };
    Ok(axum::Json(state.desk.queue_counts(me, &teams).await?))
}

pub async fn show(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<TicketDetail>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.ticket_detail(id).await?))
}

pub async fn reply(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<ReplyInput>,
) -> ApiResult<(StatusCode, axum::Json<message::Model>)> {
    p.require(Role::Agent)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.desk.reply(id, p.actor, &input).await?),
    ))
}

/// Body of `POST /api/v1/tickets/{id}/note`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    text: String,
}

pub async fn note(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<NoteInput>,
) -> ApiResult<(StatusCode, axum::Json<message::Model>)> {
    p.require(Role::Agent)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.desk.note(id, p.actor, &input.text).await?),
    ))
}

/// Body of `POST /api/v1/tickets/{id}/assign`: absent fields stay, `null` unassigns.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignInput {
    #[serde(default, deserialize_with = "nullable")]
    agent_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    team_id: Option<Option<i64>>,
}

fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

pub async fn assign(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<AssignInput>,
) -> ApiResult<axum::Json<ticket::Model>> {
    p.require(Role::Agent)?;
    if input.agent_id.is_none() && input.team_id.is_none() {
        return Err(Problem::invalid("agent_id", "give agent_id and/or team_id"));
    }
    let to = Assignment {
        agent_id: input.agent_id,
        team_id: input.team_id,
    };
    Ok(axum::Json(state.desk.assign(id, p.actor, &to).await?))
}

/// Body of `PATCH /api/v1/tickets/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    status: Option<Status>,
    priority: Option<crate::desk::Priority>,
    kind: Option<TicketKind>,
    subject: Option<String>,
}

pub async fn update(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<UpdateInput>,
) -> ApiResult<axum::Json<ticket::Model>> {
    p.require(Role::Agent)?;
    let change = TicketUpdate {
        status: input.status,
        priority: input.priority,
        kind: input.kind,
        subject: input.subject,
    };
    Ok(axum::Json(
        state.desk.update_ticket(id, p.actor, &change).await?,
    ))
}
