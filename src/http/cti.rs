//! `POST /api/v1/cti/{token}`: call events from a PBX (the format is read in
//! [`crate::channels::voice`]); the path token is the integration's secret.
//! `GET /api/v1/calls` is the caller log.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::Value;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Problem, Query};
use crate::channels::voice;
use crate::desk::Role;
use crate::desk::calls::{CallAnswer, CallView};

/// One call event. 200 with `{}` (let it ring) or `{"action": "reject", "reason":
/// "busy"}` for a blocked caller; 404 for an unknown token; 422 naming a bad field.
pub async fn event_in(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let pbx = state
        .desk
        .pbx_by_token(&token)
        .await?
        .ok_or_else(|| Problem::not_found("no such PBX integration"))?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let e = voice::read(json, &body).map_err(|e| match e {
        voice::Unreadable::Body(why) => Problem::new(StatusCode::BAD_REQUEST, "malformed", why),
        voice::Unreadable::Field(e) => e.into(),
    })?;
    let (answer, _call) = state.desk.call_event(&pbx, &e).await?;
    Ok(axum::Json(match answer {
        CallAnswer::Accept => serde_json::json!({}),
        reject => serde_json::to_value(reject).unwrap_or_default(),
    }))
}

/// `?before=&limit=` of the caller log.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsQuery {
    before: Option<i64>,
    limit: Option<u64>,
}

/// Recent calls, newest first.
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<CallsQuery>,
) -> ApiResult<axum::Json<Vec<CallView>>> {
    p.require(Role::Agent)?;
    Ok(axum::Json(
        state.desk.calls(q.before, q.limit.unwrap_or(50)).await?,
    ))
}
