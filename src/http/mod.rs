//! The HTTP surface: the JSON API under `/api/v1`, health checks, and the pages.
//! Every route is authorized in its handler through [`auth::Principal`]; errors are
//! problem documents ([`error::Problem`]).

pub mod admin;
pub mod assets;
pub mod auth;
pub mod channels;
pub mod contacts;
pub mod cti;
pub mod error;
pub mod feedback;
pub mod inbound;
pub mod mail;
pub mod reports;
pub mod search;
pub mod shop;
pub mod sla;
pub mod sms;
pub mod survey;
pub mod tickets;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::desk::Desk;
use error::Problem;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub desk: Desk,
    pub config: Arc<Config>,
    pub login_limiter: auth::SharedLimiter,
    /// Frames per chat widget visitor, across their connections.
    pub widget_limiter: Arc<crate::live::widget::VisitorLimiter>,
    /// SMTP pools and provider API clients.
    pub clients: Arc<crate::channels::Clients>,
    /// The configured search index.
    pub search: Arc<dyn crate::search::SearchIndex>,
    /// How the indexer is doing.
    pub index_health: Arc<crate::search::indexer::Health>,
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// The whole application's routes and middleware.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let api = Router::new()
        .route(
            "/session",
            post(auth::login).get(auth::current).delete(auth::logout),
        )
        .route("/tickets", get(tickets::list))
        .route("/tickets/counts", get(tickets::counts))
        .route("/tickets/{id}", get(tickets::show).patch(tickets::update))
        .route("/tickets/{id}/reply", post(tickets::reply))
        .route("/tickets/{id}/note", post(tickets::note))
        .route("/tickets/{id}/assign", post(tickets::assign))
        .route("/tickets/{id}/feedback", post(feedback::mark))
        .route("/feedback", get(feedback::stream))
        .route("/complaints", get(feedback::complaints))
        .route(
            "/complaints/{id}",
            axum::routing::patch(feedback::update_complaint),
        )
        .route("/contacts", post(contacts::create))
        .route("/contacts/lookup", get(contacts::lookup))
        .route(
            "/contacts/{id}",
            get(contacts::show).patch(contacts::update),
        )
        .route("/contacts/{id}", axum::routing::delete(contacts::erase))
        .route("/contacts/{id}/merge", post(contacts::merge))
        .route("/contacts/{id}/identities", post(contacts::add_identity))
        .route("/inbound", post(inbound::message))
        // These read their bodies themselves, up to the mail size limit.
        .route(
            "/inbound/email",
            post(mail::inbound).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/uploads",
            post(mail::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/attachments/{id}", get(mail::download))
        .route("/cti/{token}", post(cti::event_in))
        .route("/calls", get(cti::list))
        .route("/orders", post(inbound::orders))
        .route("/agents", get(admin::list_agents).post(admin::create_agent))
        .route(
            "/agents/{id}",
            get(admin::show_agent).patch(admin::update_agent),
        )
        .route("/teams", get(admin::list_teams).post(admin::create_team))
        .route(
            "/teams/{id}/members/{agent_id}",
            put(admin::add_member).delete(admin::remove_member),
        )
        .route("/tokens", get(admin::list_tokens).post(admin::create_token))
        .route("/tokens/{id}", axum::routing::delete(admin::revoke_token))
        .route("/channels", get(channels::list).post(channels::create))
        .route(
            "/channels/{id}",
            get(channels::show).patch(channels::update),
        )
        .route("/channels/{id}/secret", post(channels::rotate_secret))
        .route("/search", get(search::search))
        .route("/reports", get(reports::list))
        .route("/reports/{name}", get(reports::show))
        .route("/outbox", get(admin::list_outbox))
        .route(
            "/calendars",
            get(sla::list_calendars).post(sla::create_calendar),
        )
        .route(
            "/calendars/{id}",
            get(sla::show_calendar)
                .patch(sla::update_calendar)
                .delete(sla::delete_calendar),
        )
        .route(
            "/sla-policies",
            get(sla::list_policies).post(sla::create_policy),
        )
        .route(
            "/sla-policies/{id}",
            get(sla::show_policy)
                .patch(sla::update_policy)
                .delete(sla::delete_policy),
        )
        .route("/outbox/{id}/retry", post(admin::retry_outbox))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed);

    Router::new()
        .nest("/api/v1", api)
        .route("/ws/agent", get(crate::live::agent::socket))
        .route("/ws/widget", get(crate::live::widget::socket))
        .route("/webhooks/telegram/{id}", post(webhooks::telegram))
        .route("/webhooks/shopify", post(shop::shopify))
        .route("/webhooks/woocommerce", post(shop::woocommerce_by_source))
        .route("/webhooks/woocommerce/{id}", post(shop::woocommerce))
        .route("/webhooks/twilio/{id}", post(sms::message))
        .route("/webhooks/twilio/{id}/status", post(sms::status))
        .route(
            "/webhooks/whatsapp",
            get(webhooks::whatsapp_verify).post(webhooks::whatsapp),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(admin::metrics))
        .route("/", get(assets::console))
        .route("/console/{*file}", get(assets::console_file))
        .route("/lead", get(assets::lead))
        .route("/lead/", get(assets::lead))
        .route("/lead/{*file}", get(assets::lead_file))
        .route("/widget.js", get(assets::widget_script))
        .route("/survey.css", get(survey::stylesheet))
        .route("/survey/{token}", get(survey::show).post(survey::answer))
        .route("/demo/shop", get(assets::demo_shop))
        .route("/demo/shop.css", get(assets::demo_style))
        .fallback(page_not_found)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(|_| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it was logged").into_response()
        }))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

async fn api_not_found() -> Problem {
    Problem::not_found("no such API endpoint")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

async fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><title>Not found</title><p>Not found.</p>"),
    )
        .into_response()
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize)]
struct Readiness {
    store: &'static str,
    outbox_pending: u64,
    outbox_failed: u64,
    search: SearchReadiness,
}

/// Whether search is current: the backend, whether it answers and takes documents, and
/// how far indexing is behind. The backend's own error stays in the log and in the
/// outbox rows admins see: this page is public.
#[derive(Serialize)]
pub struct SearchReadiness {
    pub backend: &'static str,
    pub status: &'static str,
    /// Changes not yet searchable.
    pub backlog: u64,
    /// Seconds the oldest of them has waited.
    pub lag_seconds: i64,
}

impl SearchReadiness {
    /// Asks the store for the indexing backlog.
    pub async fn of(state: &AppState) -> Result<SearchReadiness, sea_orm::DbErr> {
        let (backlog, oldest) =
            crate::outbox::backlog(&state.desk.store, crate::outbox::kind::INDEX).await?;
        let answers = matches!(
            tokio::time::timeout(Duration::from_secs(2), state.search.health()).await,
            Ok(Ok(()))
        );
        let up = answers && !state.index_health.is_down();
        Ok(SearchReadiness {
            backend: state.search.backend(),
            status: if up { "ok" } else { "unavailable" },
            backlog,
            lag_seconds: oldest
                .map(|t| (crate::store::now() - t).num_seconds().max(0))
                .unwrap_or(0),
        })
    }
}

/// Readiness: the store answers; the outbox backlog is reported.
async fn readyz(State(state): State<AppState>) -> Response {
    let store = &state.desk.store;
    let ping = tokio::time::timeout(Duration::from_secs(3), store.ping()).await;
    if !matches!(ping, Ok(Ok(()))) {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store does not answer",
        )
        .into_response();
    }
    let counts = async {
        let counts = crate::outbox::counts(store).await?;
        Ok::<_, sea_orm::DbErr>((counts, SearchReadiness::of(&state).await?))
    };
    match counts.await {
        Ok(((pending, failed), search)) => axum::Json(Readiness {
            store: "ok",
            outbox_pending: pending,
            outbox_failed: failed,
            search,
        })
        .into_response(),
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store does not answer",
        )
        .into_response(),
    }
}
