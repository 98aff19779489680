//! Providers' webhooks, outside `/api/v1`: authenticated by the provider's own secret,
//! answered 2xx only after what they brought is stored.
//!
//! - `POST /webhooks/telegram/{channel}`: the bot's updates, with the secret Telegram
//!   sends in `X-Telegram-Bot-Api-Secret-Token` (compared in constant time).
//! - `GET/POST /webhooks/whatsapp`: Meta's handshake, then messages and status
//!   callbacks signed with the app secret (`X-Hub-Signature-256`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{ApiResult, Id, Problem};
use crate::channels::telegram::{self, Reading, ReceiveError};
use crate::outbox::JobError;

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
                    ReceiveError::Provider(JobError::Retry(why) | JobError::Permanent(why))
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

/// `GET /webhooks/whatsapp`: Meta's verification handshake. The `hub.challenge` comes
/// back when `hub.verify_token` is one of our numbers' verify tokens.
pub async fn whatsapp_verify(
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> ApiResult<String> {
    let params: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let token = params
        .get("hub.verify_token")
        .map(String::as_bytes)
        .unwrap_or_default();
    let mut known = false;
    for number in state.desk.whatsapp_numbers().await? {
        known |= bool::from(token.ct_eq(number.secrets().verify_token.as_bytes()));
    }
    match (
        params.get("hub.mode").map(String::as_str),
        params.get("hub.challenge"),
    ) {
        (Some("subscribe"), Some(challenge)) if known && !token.is_empty() => Ok(challenge.clone()),
        _ => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "bad_verify_token",
            "the verify token does not match",
        )),
    }
}

/// `POST /webhooks/whatsapp`: messages and status callbacks. The body must be signed
/// (`X-Hub-Signature-256`) with the app secret of every number it names, or nothing of
/// it is stored (401). 200 after everything in it is stored; 503 when something could
/// not be stored now (Meta sends it again; what was stored is recognised).
pub async fn whatsapp(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Json<serde_json::Value>)> {
    use crate::channels::whatsapp::{self, Notification};
    let desk = &state.desk;
    let notification: Notification = serde_json::from_slice(&body).map_err(|e| {
        tracing::warn!("WhatsApp webhook with an unreadable body: {e}");
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("not a WhatsApp notification: {e}"),
        )
    })?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let numbers = desk.whatsapp_numbers().await?;
    // Check every number the body names before anything is stored.
    let mut work = Vec::new();
    for change in notification.entry.iter().flat_map(|e| &e.changes) {
        let Some(meta) = &change.value.metadata else {
            continue;
        };
        let Some(number) = numbers
            .iter()
            .find(|n| n.settings.phone_number_id == meta.phone_number_id)
        else {
            tracing::warn!(phone_number_id = %meta.phone_number_id, "WhatsApp webhook for a number not set up here");
            continue;
        };
        if !whatsapp::signed(&number.secrets().app_secret, &body, signature) {
            tracing::warn!(
                channel = number.channel.id,
                "WhatsApp webhook with a wrong signature refused"
            );
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "the signature does not match",
            ));
        }
        work.push((number, change));
    }
    let unavailable = |why: String| {
        tracing::warn!("WhatsApp webhook not stored yet: {why}");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "not stored now; send it again",
        )
    };
    let (mut stored, mut statuses) = (0, 0);
    for (number, change) in work {
        let value = &change.value;
        for m in &value.messages {
            let name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == m.from)
                .and_then(|c| c.profile.as_ref()?.name.as_deref());
            let Some((inbound, media)) = whatsapp::read(number.channel.id, m, name) else {
                tracing::info!(kind = %m.kind, "WhatsApp message with nothing the desk can show");
                continue;
            };
            match whatsapp::receive(desk, &state.clients.whatsapp, number, inbound, media).await {
                Ok(_) => stored += 1,
                Err(crate::outbox::JobError::Permanent(why)) => {
                    tracing::warn!(kind = %m.kind, "WhatsApp message not stored: {why}")
                }
                Err(crate::outbox::JobError::Retry(why)) => return Err(unavailable(why)),
            }
        }
        for s in &value.statuses {
            let Some(status) = whatsapp::delivery(&s.status) else {
                continue;
            };
            let error = s.errors.first().map(|e| {
                format!(
                    "WhatsApp {}: {}",
                    e["code"].as_i64().unwrap_or_default(),
                    e["title"].as_str().or(e["message"].as_str()).unwrap_or("")
                )
            });
            desk.delivery_reported(
                crate::desk::Channel::Whatsapp,
                &format!("{}:{}", number.channel.id, s.id),
                status,
                error,
            )
            .await
            .map_err(|e| unavailable(e.to_string()))?;
            statuses += 1;
        }
    }
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({"messages": stored, "statuses": statuses})),
    ))
}
