//! Twilio's webhooks for an SMS number, outside `/api/v1`:
//!
//! - `POST /webhooks/twilio/{channel}`: an incoming SMS or MMS.
//! - `POST /webhooks/twilio/{channel}/status`: the status callbacks of the messages we
//!   sent (we ask for them with each message).
//!
//! Both are form-encoded and signed by Twilio (`X-Twilio-Signature`, checked in constant
//! time against the desk's public URL, never the Host header). Unknown number: 404;
//! a missing or wrong signature: 401, and nothing is stored; a body that is not the
//! webhook it should be: 400. Answered with an empty TwiML document, for a message only
//! after it was stored; 503 when it could not be stored now.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use super::error::{ApiResult, Id, Problem};
use crate::channels::sms::{self, Form, Reading, ReceiveError};
use crate::desk::channels::SmsNumber;

fn twiml() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        sms::EMPTY_TWIML,
    )
        .into_response()
}

fn malformed(id: i64, why: &str) -> Problem {
    tracing::warn!(number = id, "Twilio webhook with an unreadable body: {why}");
    Problem::new(
        StatusCode::BAD_REQUEST,
        "malformed",
        format!("not a Twilio webhook: {why}"),
    )
}

/// The number and the parameters of a request Twilio signed.
async fn signed(
    state: &AppState,
    id: i64,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<(SmsNumber, Form)> {
    let number = state
        .desk
        .sms_number(id)
        .await?
        .ok_or_else(|| Problem::not_found("no such SMS number"))?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(malformed(id, "expected application/x-www-form-urlencoded"));
    }
    let form = Form::parse(body).map_err(|why| malformed(id, &why))?;
    // The URL Twilio called, as the desk is reached from outside (behind a proxy the
    // Host header and scheme are the proxy's business). Twilio may sign it with the
    // scheme's standard port spelled out, so both forms are accepted.
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let public = &state.config.public_url;
    let mut urls = vec![format!("{}{path}", state.config.public_origin())];
    if public.port().is_none()
        && let (Some(host), Some(port)) = (public.host_str(), public.port_or_known_default())
    {
        urls.push(format!("{}://{host}:{port}{path}", public.scheme()));
    }
    let sent = headers
        .get("x-twilio-signature")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let token = number.secrets().auth_token;
    let valid = urls
        .iter()
        .fold(false, |ok, url| ok | sms::verify(&token, url, &form, sent));
    if !valid {
        tracing::warn!(number = id, "Twilio webhook with a wrong signature refused");
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the X-Twilio-Signature does not match",
        ));
    }
    Ok((number, form))
}

/// An incoming SMS or MMS.
pub async fn message(
    State(state): State<AppState>,
    Id(id): Id,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (number, form) = signed(&state, id, &uri, &headers, &body).await?;
    let sid = form.get("MessageSid").unwrap_or_default().to_owned();
    match sms::read(id, &form).map_err(|why| malformed(id, &why))? {
        Reading::Skip(why) => {
            tracing::info!(number = id, sid, "Twilio message not stored: {why}");
        }
        Reading::Message(inbound, media) => {
            match sms::receive(&state.desk, &state.clients.sms, &number, *inbound, media).await {
                Ok(o) => {
                    tracing::debug!(number = id, sid, message = o.message_id, "SMS stored")
                }
                // Twilio sending it again would not help: acknowledged, and logged.
                Err(ReceiveError::Invalid(why)) => {
                    tracing::warn!(number = id, sid, "Twilio message not stored: {why}");
                }
                Err(ReceiveError::Provider(why) | ReceiveError::Store(why)) => {
                    tracing::warn!(number = id, sid, "Twilio message not stored yet: {why}");
                    return Err(Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "not stored now; send it again",
                    ));
                }
            }
        }
    }
    Ok(twiml())
}

/// A status callback on a message we sent.
pub async fn status(
    State(state): State<AppState>,
    Id(id): Id,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (number, form) = signed(&state, id, &uri, &headers, &body).await?;
    let report = sms::read_status(&form).map_err(|why| malformed(id, &why))?;
    let changed = sms::report(&state.desk, &number, &report).await?;
    tracing::debug!(
        number = id,
        sid = report.sid,
        status = report.twilio_status,
        changed,
        "Twilio status callback"
    );
    Ok(twiml())
}
