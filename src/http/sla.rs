//! `/api/v1/calendars` and `/api/v1/sla-policies`: the business hours and the
//! first-response and resolution targets the SLA clocks count by. Leads read them, admins
//! change them; a change applies to tickets whose due times are set afterwards.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Json};
use crate::desk::Role;
use crate::desk::sla::{CalendarInput, CalendarView, PolicyInput};
use entity::sla_policy;

/// `GET /api/v1/calendars`: every calendar, by name (leads).
pub async fn list_calendars(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<Vec<CalendarView>>> {
    p.require(Role::Lead)?;
    Ok(axum::Json(state.desk.calendars().await?))
}

/// `GET /api/v1/calendars/{id}`: one calendar (leads).
pub async fn show_calendar(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<CalendarView>> {
    p.require(Role::Lead)?;
    Ok(axum::Json(state.desk.calendar(id).await?))
}

/// `POST /api/v1/calendars`: creates a calendar (admins); 201 with it.
pub async fn create_calendar(
    State(state): State<AppState>,
    p: Principal,
    Json(input): Json<CalendarInput>,
) -> ApiResult<(StatusCode, axum::Json<CalendarView>)> {
    p.require(Role::Admin)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.desk.create_calendar(&input).await?),
    ))
}

/// `PATCH /api/v1/calendars/{id}`: changes a calendar (admins).
pub async fn update_calendar(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<CalendarInput>,
) -> ApiResult<axum::Json<CalendarView>> {
    p.require(Role::Admin)?;
    Ok(axum::Json(state.desk.update_calendar(id, &input).await?))
}

/// `DELETE /api/v1/calendars/{id}`: deletes a calendar no policy counts on (admins).
pub async fn delete_calendar(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    p.require(Role::Admin)?;
    state.desk.delete_calendar(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/sla-policies`: every SLA policy, by name (every agent: the console
/// shows each ticket's warning time by its policy).
pub async fn list_policies(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<Vec<sla_policy::Model>>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.sla_policies().await?))
}

/// `GET /api/v1/sla-policies/{id}`: one SLA policy (every agent).
pub async fn show_policy(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<sla_policy::Model>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(state.desk.sla_policy(id).await?))
}

/// `POST /api/v1/sla-policies`: creates an SLA policy (admins); 201 with it.
pub async fn create_policy(
    State(state): State<AppState>,
    p: Principal,
    Json(input): Json<PolicyInput>,
) -> ApiResult<(StatusCode, axum::Json<sla_policy::Model>)> {
    p.require(Role::Admin)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.desk.create_sla_policy(&input).await?),
    ))
}

/// `PATCH /api/v1/sla-policies/{id}`: changes an SLA policy (admins).
pub async fn update_policy(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(input): Json<PolicyInput>,
) -> ApiResult<axum::Json<sla_policy::Model>> {
    p.require(Role::Admin)?;
    Ok(axum::Json(state.desk.update_sla_policy(id, &input).await?))
}

/// `DELETE /api/v1/sla-policies/{id}`: deletes a policy no ticket follows (admins).
pub async fn delete_policy(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    p.require(Role::Admin)?;
    state.desk.delete_sla_policy(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
