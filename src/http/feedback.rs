//! `/api/v1/feedback` and `/api/v1/complaints`: the team leads' feedback stream and
//! complaints board, and agents marking a ticket as a complaint, praise or suggestion.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Json, Problem, Query};
use crate::desk::feedback::{
    ComplaintBoard, ComplaintChange, ComplaintItem, ComplaintState, FeedbackFilter, FeedbackItem,
    FeedbackKind, FeedbackPage, Outcome,
};
use crate::desk::{Channel, Role};

/// Query of `GET /api/v1/feedback`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    rating: Option<i32>,
    kind: Option<FeedbackKind>,
    team: Option<i64>,
    agent: Option<i64>,
    channel: Option<Channel>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
}

/// A `YYYY-MM-DD` day of a query parameter.
fn day(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, Problem> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| Problem {
                status: 400,
                ..Problem::invalid(field, "expected a day as YYYY-MM-DD")
            })
        })
        .transpose()
}

/// `GET /api/v1/feedback`: the feedback stream, newest first (leads and admins).
pub async fn stream(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<StreamQuery>,
) -> ApiResult<axum::Json<FeedbackPage>> {
    p.require(Role::Lead)?;
    if let Some(limit) = q.limit
        && !(1..=crate::desk::feedback::MAX_FEEDBACK_PAGE).contains(&limit)
    {
        return Err(Problem {
            status: 400,
            ..Problem::invalid("limit", "expected 1 to 100")
        });
    }
    let filter = FeedbackFilter {
        rating: q.rating,
        kind: q.kind,
        team_id: q.team,
        agent_id: q.agent,
        channel: q.channel,
        from: day("from", q.from.as_deref())?,
        to: day("to", q.to.as_deref())?,
    };
    let page = state
        .desk
        .feedback_stream(&filter, q.cursor.as_deref(), q.limit.unwrap_or(50))
        .await
        .map_err(|e| {
            // A bad filter is a bad query string, as with every list.
            let invalid = matches!(e, crate::desk::Error::Invalid { .. });
            let mut p = Problem::from(e);
            if invalid {
                p.status = 400;
                p.title = "Bad Request";
            }
            p
        })?;
    Ok(axum::Json(page))
}

/// Body of `POST /api/v1/tickets/{id}/feedback`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    kind: FeedbackKind,
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /api/v1/tickets/{id}/feedback`: an agent marks the ticket as a complaint,
/// praise or suggestion.
pub async fn mark(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<MarkInput>,
) -> ApiResult<(StatusCode, axum::Json<FeedbackItem>)> {
    p.require(Role::Agent)?;
    let item = state
        .desk
        .mark_ticket(id, p.actor, input.kind, input.comment.as_deref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

/// Query of `GET /api/v1/complaints`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    state: Option<ComplaintState>,
}

/// `GET /api/v1/complaints`: complaints by state, newest first (leads and admins):
/// `{"items": [complaint…], "cut_off": ["resolved"…]}` — open and in-progress ones
/// complete, resolved and rejected the newest 100, `cut_off` naming the states that
/// had more.
pub async fn complaints(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<BoardQuery>,
) -> ApiResult<axum::Json<ComplaintBoard>> {
    p.require(Role::Lead)?;
    Ok(axum::Json(state.desk.complaint_board(q.state).await?))
}

/// Body of `PATCH /api/v1/complaints/{id}`: absent fields stay, `owner_id: null`
/// clears the owner.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintInput {
    state: Option<ComplaintState>,
    #[serde(default, deserialize_with = "nullable")]
    owner_id: Option<Option<i64>>,
    outcome: Option<Outcome>,
    #[serde(default, deserialize_with = "nullable")]
    outcome_note: Option<Option<String>>,
}

fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/complaints/{id}`: works a complaint (leads and admins).
pub async fn update_complaint(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<ComplaintInput>,
) -> ApiResult<axum::Json<ComplaintItem>> {
    p.require(Role::Lead)?;
    let change = ComplaintChange {
        state: input.state,
        owner_id: input.owner_id,
        outcome: input.outcome,
        outcome_note: input.outcome_note,
    };
    Ok(axum::Json(
        state.desk.update_complaint(id, p.actor, &change).await?,
    ))
}
