//! `POST /api/v1/cti/{token}`: call events from a PBX in the generic CTI format PBX
//! scripts already speak (sipgate, placetel, Asterisk): `event` newCall, answer or
//! hangup, `callId`, `from`, `to`, `direction`, `user` (repeatable), `queue`,
//! `answeringNumber`, `cause`; as JSON or form-encoded. The path token is the
//! integration's secret. `GET /api/v1/calls` is the caller log.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::Value;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Problem, Query};
use crate::desk::Role;
use crate::desk::calls::{CallAnswer, CallView, CtiEvent};

/// Reads an event from JSON or a form, naming the field at fault.
fn event(headers: &HeaderMap, body: &[u8]) -> Result<CtiEvent, Problem> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let pairs: Vec<(String, String)> = if json {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Problem::invalid("body", "a JSON object"))?;
        obj.iter()
            .flat_map(|(k, v)| match v {
                Value::Array(items) => items.iter().map(|i| (k.clone(), text(i))).collect(),
                other => vec![(k.clone(), text(other))],
            })
            .collect()
    } else {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "malformed_form", e.to_string()))?
    };
    let mut e = CtiEvent::default();
    for (key, value) in pairs {
        match key.trim_end_matches("[]") {
            "event" => {
                e.event = Some(
                    value
                        .parse()
                        .map_err(|_| Problem::invalid("event", "newCall, answer or hangup"))?,
                )
            }
            "callId" => e.call_id = value,
            "from" => e.from = value,
            "to" => e.to = value,
            "direction" => {
                e.direction = Some(
                    value
                        .parse()
                        .map_err(|_| Problem::invalid("direction", "in or out"))?,
                )
            }
            "user" if !value.is_empty() => e.user.push(value),
            "queue" => e.queue = Some(value),
            "answeringNumber" => e.answering_number = Some(value),
            "cause" => e.cause = Some(value),
            _ => {}
        }
    }
    Ok(e)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

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
    let e = event(&headers, &body)?;
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
