//! Errors as RFC 9457 problem documents with a stable `code`, and the request
//! extractors (JSON body, query, path id) whose failures become such problems, so bad
//! input always gets a 4xx that names the field and never a 500.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::desk;

/// An error response: `application/problem+json`.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable reason.
    pub code: &'static str,
    /// The input field at fault, where there is one (`orders[2].total`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before trying again (rate limits).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            field: None,
            retry_after: None,
        }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Problem {
        let field = field.into();
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("{field}: {}", detail.into()),
        );
        p.field = Some(field);
        p
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in or send an API token",
        )
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not_found", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/problem+json".parse().expect("static header"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, secs.into());
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("static header"),
            );
        }
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, headers, body).into_response()
    }
}

impl From<desk::Error> for Problem {
    fn from(e: desk::Error) -> Problem {
        match e {
            desk::Error::NotFound { .. } => Problem::not_found(e.to_string()),
            desk::Error::Invalid { field, message } => Problem::invalid(field, message),
            desk::Error::Conflict { code, message } => {
                Problem::new(StatusCode::CONFLICT, code, message)
            }
            desk::Error::Forbidden(m) => Problem::forbidden("forbidden", m),
            desk::Error::Store(e) => {
                tracing::error!("store error: {e}");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the store could not complete the request; try again",
                )
            }
        }
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<T, Problem>;

/// A JSON body, parsed with the path of any bad field in the error.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_problem)?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // Broken JSON is a 400 whatever its shape; only well-formed JSON of the wrong shape
    // is a 422 naming the field.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            Problem::invalid(
                missing_field(&inner.to_string()).unwrap_or_else(|| "body".into()),
                clean_serde_message(&inner.to_string()),
            )
        } else {
            Problem::invalid(path, clean_serde_message(&inner.to_string()))
        }
    })
}

/// serde says "missing field `text` at line 1 column 9"; the field is `text`.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn clean_serde_message(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

pub fn body_problem(e: BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is larger than this endpoint accepts",
        )
    } else {
        Problem::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
    }
}

/// Query-string parameters, parsed with the name of any bad parameter in the error.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = clean_serde_message(&e.into_inner().to_string());
                let field = if path == "." {
                    missing_field(&message).unwrap_or_else(|| "query".into())
                } else {
                    path
                };
                let mut p = Problem::invalid(field, message);
                p.status = StatusCode::BAD_REQUEST.as_u16();
                p.title = "Bad Request";
                p
            })
    }
}

fn form_urlencoded_parse(query: &str) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(query.as_bytes())
}

/// A numeric id from the path; anything else is a 404, since no such resource exists.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<Vec<String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| Problem::not_found("no such resource"))?;
        let first = raw
            .first()
            .ok_or_else(|| Problem::not_found("no such resource"))?;
        first
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Id)
            .ok_or_else(|| Problem::not_found(format!("no resource with id {first:?}")))
    }
}

/// Two numeric ids from the path (`/teams/{id}/members/{agent_id}`).
pub struct Ids(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<Vec<String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| Problem::not_found("no such resource"))?;
        let parse = |s: Option<&String>| s.and_then(|s| s.parse::<i64>().ok()).filter(|id| *id > 0);
        match (parse(raw.first()), parse(raw.get(1))) {
            (Some(a), Some(b)) => Ok(Ids(a, b)),
            _ => Err(Problem::not_found("no such resource")),
        }
    }
}
