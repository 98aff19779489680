//! The web pages, embedded in the binary from `web/` (no build step): the agent
//! console at `/` with its modules under `/console/`. Files carry an ETag, so browsers
//! revalidate instead of downloading again.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Web;

/// Serves one embedded file, or 404.
fn file(path: &str, request: &HeaderMap) -> Response {
    let Some(content) = Web::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = format!(
        "\"{}\"",
        content
            .metadata
            .sha256_hash()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if let Ok(v) = HeaderValue::from_str(content.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    (headers, content.data.into_owned()).into_response()
}

/// `GET /`: the agent console.
pub async fn console(headers: HeaderMap) -> Response {
    file("console/index.html", &headers)
}

/// `GET /console/{file}`: the console's modules and styles.
pub async fn console_file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name.contains("..") || name.starts_with('/') {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    file(&format!("console/{name}"), &headers)
}
