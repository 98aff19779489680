//! Providers' webhooks, outside `/api/v1`: authenticated by the provider's own secret,
//! answered 2xx only after what they brought is stored.
//!
//! - `POST /webhooks/telegram/{channel}`: the bot's updates, with the secret Telegram
//!   sends in `X-Telegram-Bot-Api-Secret-Token` (compared in constant time).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{ApiResult, Id, Problem};
use crate::channels::telegram::{self, ApiError, Reading, ReceiveError};

/// One Telegram update. 200 when stored (or when there is nothing in it for the desk),
/// 401 for a wrong secret, 400 for a body that is no update, 503 when it could not be
/// stored now (Telegram sends it again).
pub async fn telegram(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Json<serde_json::Value>)> {
    let desk = &state.desk;
    let bot = desk
        .telegram_bot(id)
        .await?
        .ok_or_else(|| Problem::not_found("no such Telegram bot"))?;
    let sent = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = bot.secrets().webhook_secret;
    if expected.is_empty() || !bool::from(sent.ct_eq(expected.as_bytes())) {
        tracing::warn!(bot = id, "Telegram webhook with a wrong secret refused");
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the webhook secret does not match",
        ));
    }
    let update: telegram::Update = serde_json::from_slice(&body).map_err(|e| {
        tracing::warn!(bot = id, "Telegram webhook with an unreadable body: {e}");
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("not a Telegram update: {e}"),
        )
    })?;
    let update_id = update.update_id;
    let outcome = match telegram::read(id, update) {
        Reading::Skip(why) => {
            tracing::info!(bot = id, update_id, "Telegram update not stored: {why}");
            serde_json::json!({"stored": false, "reason": why})
        }
        Reading::Message(inbound, files) => {
            match telegram::receive(desk, &state.clients.telegram, &bot, *inbound, files).await {
                Ok(o) => {
                    serde_json::json!({"stored": true, "ticket_id": o.ticket_id, "message_id": o.message_id})
                }
                Err(ReceiveError::Invalid(why)) => {
                    tracing::warn!(bot = id, update_id, "Telegram update not stored: {why}");
                    serde_json::json!({"stored": false, "reason": why})
                }
                Err(
                    ReceiveError::Provider(ApiError::Retry(why) | ApiError::Permanent(why))
                    | ReceiveError::Store(why),
                ) => {
                    tracing::warn!(bot = id, update_id, "Telegram update not stored yet: {why}");
                    return Err(Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "not stored now; send it again",
                    ));
                }
            }
        }
    };
    Ok((StatusCode::OK, axum::Json(outcome)))
}
