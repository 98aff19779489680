//! The web pages, embedded in the binary from `web/` (no build step): the agent
//! console at `/` with its modules under `/console/`, and the team-lead views at `/lead`
//! with theirs under `/lead/`. Files carry an ETag, so browsers
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
        crate::blobs::hex(&content.metadata.sha256_hash()[..12])
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

/// `GET /lead`: the team-lead views (feedback, complaints, reports).
pub async fn lead(headers: HeaderMap) -> Response {
    file("lead/index.html", &headers)
}

/// `GET /lead/{file}`: the lead views' modules and styles.
pub async fn lead_file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name.contains("..") || name.starts_with('/') {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    file(&format!("lead/{name}"), &headers)
}

/// `GET /widget.js`: the chat widget a shop embeds.
pub async fn widget_script(headers: HeaderMap) -> Response {
    file("widget/widget.js", &headers)
}

/// `GET /demo/shop.css`: the demo shop's styles.
pub async fn demo_style(headers: HeaderMap) -> Response {
    file("demo/shop.css", &headers)
}

/// Which demo shop visitor to show.
#[derive(serde::Deserialize)]
pub struct DemoQuery {
    #[serde(default)]
    signed_in: bool,
}

/// `GET /demo/shop`: a small shop page with the widget of the demo site, browsing as a
/// guest or as a signed-in customer whose identity is signed like a real shop would
/// (this page plays the shop's server, which knows the site's secret).
pub async fn demo_shop(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    axum::extract::Query(query): axum::extract::Query<DemoQuery>,
) -> Result<Response, super::error::Problem> {
    let Some(site) = state.desk.demo_widget().await? else {
        return Err(super::error::Problem::not_found(
            "no demo widget site: run `switchboard demo` to set one up",
        ));
    };
    let page = Web::get("demo/shop.html")
        .ok_or_else(|| super::error::Problem::not_found("the demo page is missing"))?;
    let page = String::from_utf8_lossy(&page.data).into_owned();
    let (name, email, signature, who, href, label) = if query.signed_in {
        let (name, email) = crate::demo::shop_customer();
        let signature = crate::channels::chat::identity_signature(&site.channel.secret, email);
        (name, email, signature, name, "/demo/shop", "Sign out")
    } else {
        (
            "",
            "",
            String::new(),
            "Guest",
            "/demo/shop?signed_in=true",
            "Sign in as the demo customer",
        )
    };
    let page = [
        ("{{site}}", site.channel.key.as_str()),
        ("{{email}}", email),
        ("{{name}}", name),
        ("{{signature}}", signature.as_str()),
        ("{{who}}", who),
        ("{{switch_href}}", href),
        ("{{switch_label}}", label),
    ]
    .iter()
    .fold(page, |page, (placeholder, value)| {
        page.replace(placeholder, &ammonia::clean_text(value))
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((headers, page).into_response())
}
