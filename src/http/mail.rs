//! Mail and files over HTTP: `POST /api/v1/inbound/email` (one raw message from an MTA
//! pipe or relay), `POST /api/v1/uploads` (a file for a reply) and
//! `GET /api/v1/attachments/{id}` (a file, for agents only).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Problem, Query};
use crate::channels::email::{self, ReceiveError, mime};
use crate::desk::Role;
use crate::desk::channels::MailAccount;
use crate::desk::email::Received;

/// How much of an oversized mail is kept to read its header.
const HEADER_PREFIX: usize = 256 * 1024;

/// A body read up to a limit: all of it, or its first bytes and its full size.
enum Read {
    Whole(Vec<u8>),
    Cut { prefix: Vec<u8>, size: u64 },
}

/// Reads a body, keeping at most `limit` bytes; the rest of a larger one is counted and
/// thrown away (up to 1 GiB).
async fn read_body(body: Body, limit: u64) -> Result<Read, Problem> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "unreadable_body", e.to_string()))?;
        size += chunk.len() as u64;
        if size > 1 << 30 {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "larger than 1 GiB",
            ));
        }
        if size <= limit {
            kept.extend_from_slice(&chunk);
        } else if kept.len() < HEADER_PREFIX {
            // Over the limit: keep enough of the start to read the header.
            let room = HEADER_PREFIX - kept.len();
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        } else if kept.len() > HEADER_PREFIX {
            kept.truncate(HEADER_PREFIX);
            kept.shrink_to_fit();
        }
    }
    Ok(if size <= limit {
        Read::Whole(kept)
    } else {
        Read::Cut { prefix: kept, size }
    })
}

fn content_type_is(headers: &HeaderMap, allowed: &[&str]) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| allowed.iter().any(|a| m.trim().eq_ignore_ascii_case(a)))
}

/// `?channel=` of `POST /api/v1/inbound/email`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMailQuery {
    /// The mail account it came in on; by default the account whose address the mail
    /// was sent to, else the first.
    channel: Option<i64>,
}

/// Stores one raw RFC 5322 message. 201 when stored, 200 for a replay, 202 when it was
/// a bounce or is not stored (automatic mail with no conversation, our own mail), with
/// the reason — the sender keeps it; 422 for a message that cannot be read. A message over the size limit
/// is recorded as a note and its sender told.
pub async fn inbound(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<InboundMailQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Received>)> {
    p.require(Role::Agent)?;
    if !content_type_is(&headers, &["message/rfc822", "application/octet-stream"]) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the raw message as message/rfc822",
        ));
    }
    let desk = &state.desk;
    let cx = email::context(desk).await?;
    let parsed = match read_body(body, desk.rules.mail.max_message_bytes).await? {
        Read::Whole(raw) => email::read(raw, cx, None).await,
        Read::Cut { mut prefix, size } => {
            let end = header_end(&prefix).ok_or_else(|| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "over the size limit, and no message header in its first 256 KiB",
                )
            })?;
            prefix.truncate(end);
            email::read(prefix, cx, Some(size)).await
        }
    };
    let account = account_for(&state, q.channel, parsed.as_ref().ok()).await?;
    let received = email::receive(desk, parsed, None, &account)
        .await
        .map_err(|e| match e {
            ReceiveError::Refused(reason) => Problem::invalid("message", reason),
            ReceiveError::Failed(e) => {
                tracing::error!("receiving mail failed: {e:#}");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the mail could not be stored now; try again",
                )
            }
        })?;
    let status = match &received {
        Received::Stored(o) if o.created => StatusCode::CREATED,
        Received::Stored(_) => StatusCode::OK,
        _ => StatusCode::ACCEPTED,
    };
    Ok((status, axum::Json(received)))
}

/// Where the header of a raw message ends (after its blank line).
fn header_end(raw: &[u8]) -> Option<usize> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The account a piped mail belongs to: the one named, else the one it was sent to,
/// else the first active one.
async fn account_for(
    state: &AppState,
    named: Option<i64>,
    parsed: Option<&mime::ParsedMail>,
) -> ApiResult<MailAccount> {
    let desk = &state.desk;
    if let Some(id) = named {
        return Ok(desk.mail_account(id).await?);
    }
    let accounts = desk.mail_accounts().await?;
    if let Some(mail) = parsed.and_then(|p| p.inbound.mail.as_deref()) {
        let a = &mail.addresses;
        if let Some(found) = accounts
            .iter()
            .find(|acc| a.to.iter().chain(&a.cc).any(|r| *r == acc.settings.address))
        {
            return Ok(found.clone());
        }
    }
    accounts.into_iter().next().ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "no_mail_account",
            "configure a mail account first (POST /api/v1/channels with kind email)",
        )
    })
}

/// `?filename=` of `POST /api/v1/uploads`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    filename: String,
}

/// What an upload returns: to be named in a reply's `attachments`.
#[derive(Serialize)]
pub struct Uploaded {
    sha256: String,
    size: u64,
    filename: String,
    content_type: String,
}

/// Stores a file for a reply. The body is the file; its Content-Type is kept.
pub async fn upload(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Uploaded>)> {
    p.require(Role::Agent)?;
    let limit = state.desk.rules.mail.max_message_bytes;
    let bytes = match read_body(body, limit).await? {
        Read::Whole(b) => b,
        Read::Cut { .. } => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "files may be up to {}",
                    crate::desk::email::megabytes(limit)
                ),
            ));
        }
    };
    if bytes.is_empty() {
        return Err(Problem::invalid("body", "the file is empty"));
    }
    let filename = q.filename.trim().to_owned();
    if filename.is_empty()
        || filename.len() > 255
        || filename.contains(['/', '\\'])
        || filename.chars().any(char::is_control)
    {
        return Err(Problem::invalid("filename", "a file name, no folders"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| v.contains('/') && v.len() <= 200)
        .unwrap_or_else(|| "application/octet-stream".into());
    let size = bytes.len() as u64;
    let sha256 = state.desk.blobs.put(bytes).await.map_err(|e| {
        tracing::error!("storing an upload failed: {e}");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the file could not be stored now; try again",
        )
    })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Uploaded {
            sha256,
            size,
            filename,
            content_type,
        }),
    ))
}

/// Types a browser may show as they are; everything else is downloaded as bytes.
const SHOWN_AS_IS: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
];

/// A file of a message, for agents. It is always a download, in a sandbox: a file a
/// customer sent never runs in the desk's origin.
pub async fn download(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<Response> {
    p.require(Role::Agent)?;
    let a = state.desk.attachment(id).await?;
    let bytes = state
        .desk
        .blobs
        .get(&a.sha256)
        .await
        .map_err(|e| {
            tracing::error!("reading attachment {id} failed: {e}");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again")
        })?
        .ok_or_else(|| Problem::not_found(format!("the file of attachment {id} is missing")))?;
    let content_type = if SHOWN_AS_IS.contains(&a.content_type.as_str()) {
        a.content_type.clone()
    } else {
        "application/octet-stream".into()
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&a.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    Ok(response)
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266), safe for any name.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
