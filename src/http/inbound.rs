//! `POST /api/v1/inbound` (the generic API channel) and `POST /api/v1/orders` (bulk
//! order upsert): integrations feeding the desk.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Json};
use crate::channels::api::InboundJson;
use crate::desk::orders::{OrderInput, UpsertSummary};
use crate::desk::{Inbound, IngestOutcome, Role};

/// Stores a customer message. 201 when it is new, 200 for a replay of a stored one; in
/// both cases the message is committed before the answer is sent.
pub async fn message(
    State(state): State<AppState>,
    p: Principal,
    Json(body): Json<InboundJson>,
) -> ApiResult<(StatusCode, axum::Json<IngestOutcome>)> {
    p.require(Role::Agent)?;
    let outcome = state.desk.ingest(&Inbound::from(body)).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(outcome)))
}

/// Body of `POST /api/v1/orders`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersInput {
    orders: Vec<OrderInput>,
}

#[derive(Serialize)]
pub struct OrdersOutput {
    #[serde(flatten)]
    summary: UpsertSummary,
}

pub async fn orders(
    State(state): State<AppState>,
    p: Principal,
    Json(body): Json<OrdersInput>,
) -> ApiResult<axum::Json<OrdersOutput>> {
    p.require(Role::Agent)?;
    let summary = state.desk.upsert_orders(body.orders).await?;
    Ok(axum::Json(OrdersOutput { summary }))
}
