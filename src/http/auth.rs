//! Who is asking, and may they: agents by session cookie (HttpOnly, SameSite, with a
//! CSRF token and an Origin check on every write), integrations by `Authorization:
//! Bearer` token, roles checked on every endpoint, and a rate limit on sign-in.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{ApiResult, Json, Problem};
use crate::desk::{Actor, Role};
use entity::agent;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sb_session";
/// The header that carries the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller of a request, authenticated.
#[derive(Clone, Debug)]
pub struct Principal {
    pub actor: Actor,
    pub role: Role,
    /// The signed-in agent, for session callers.
    pub agent: Option<agent::Model>,
    pub session_id: Option<i64>,
    csrf_token: Option<String>,
}

impl Principal {
    /// Refuses callers whose role does not include `needed`.
    pub fn require(&self, needed: Role) -> Result<(), Problem> {
        if self.role.covers(needed) {
            Ok(())
        } else {
            Err(Problem::forbidden(
                "role",
                format!("this needs the {needed} role"),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let secret = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(Problem::unauthorized)?;
            let (token, role) = state
                .desk
                .token_by_secret(secret)
                .await?
                .ok_or_else(Problem::unauthorized)?;
            return Ok(Principal {
                actor: Actor::Token(token.id),
                role,
                agent: None,
                session_id: None,
                csrf_token: None,
            });
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let cookie = jar.get(SESSION_COOKIE).ok_or_else(Problem::unauthorized)?;
        let signed_in = state
            .desk
            .session_agent(cookie.value(), state.config.session_idle)
            .await?
            .ok_or_else(Problem::unauthorized)?;
        if !is_safe(&parts.method) {
            check_origin(&parts.headers, &state.config.public_origin())?;
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !bool::from(sent.as_bytes().ct_eq(signed_in.csrf_token.as_bytes())) {
                return Err(Problem::forbidden(
                    "csrf",
                    format!("missing or wrong {CSRF_HEADER} header"),
                ));
            }
        }
        Ok(Principal {
            actor: Actor::Agent(signed_in.agent.id),
            role: signed_in.role,
            session_id: Some(signed_in.session_id),
            csrf_token: Some(signed_in.csrf_token),
            agent: Some(signed_in.agent),
        })
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser's write must come from our own origin (cross-site request forgery).
pub fn check_origin(headers: &HeaderMap, public_origin: &str) -> Result<(), Problem> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match origin {
        Some(o) if o.eq_ignore_ascii_case(public_origin) => Ok(()),
        Some(o) => Err(Problem::forbidden(
            "origin",
            format!("requests from {o} are not accepted"),
        )),
        // Same-origin requests from older browsers may omit Origin; the CSRF token still
        // has to match.
        None => Ok(()),
    }
}

/// Sign-in attempts per client address and per account.
pub struct LoginLimiter {
    by_key: DefaultKeyedRateLimiter<String>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> LoginLimiter {
        let n = NonZeroU32::new(per_minute.max(1)).expect("positive");
        LoginLimiter {
            by_key: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Counts one attempt for each key; the first key over its limit refuses.
    fn check(&self, keys: &[String]) -> Result<(), Problem> {
        for key in keys {
            if let Err(not_until) = self.by_key.check_key(key) {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                let mut p = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many sign-in attempts; wait a minute",
                );
                p.retry_after = Some(wait.as_secs().max(1));
                return Err(p);
            }
        }
        Ok(())
    }

    /// Forgets idle keys so the limiter's memory stays bounded.
    pub fn sweep(&self) {
        self.by_key.retain_recent();
    }
}

/// Sign-in form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// What the console learns about the signed-in agent.
#[derive(Serialize)]
pub struct SessionInfo {
    pub agent: agent::Model,
    pub role: Role,
    pub team_ids: Vec<i64>,
    /// Send this in the `X-CSRF-Token` header on every write.
    pub csrf_token: String,
}

/// `POST /api/v1/session`: signs in and sets the session cookie.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(form): Json<Login>,
) -> ApiResult<Response> {
    check_origin(&headers, &state.config.public_origin())?;
    let ip: IpAddr = peer.ip();
    state.login_limiter.check(&[
        format!("ip:{ip}"),
        format!("email:{}", form.email.trim().to_lowercase()),
    ])?;
    let agent = state
        .desk
        .authenticate(&form.email, &form.password)
        .await?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong email or password",
            )
        })?;
    let session = state
        .desk
        .create_session(agent.id, state.config.session_idle)
        .await?;
    tracing::info!(agent = agent.id, "signed in");
    let cookie = Cookie::build((SESSION_COOKIE, session.token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.is_https())
        .path("/")
        .build();
    let team_ids = state.desk.agent_team_ids(agent.id).await?;
    let role = crate::desk::stored(&agent.role)?;
    let body = SessionInfo {
        agent,
        role,
        team_ids,
        csrf_token: session.csrf_token,
    };
    Ok((CookieJar::new().add(cookie), axum::Json(body)).into_response())
}

/// `GET /api/v1/session`: who is signed in, and the CSRF token.
pub async fn current(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<SessionInfo>> {
    let (Some(agent), Some(csrf_token)) = (p.agent, p.csrf_token) else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "no_session",
            "API tokens have no session",
        ));
    };
    let team_ids = state.desk.agent_team_ids(agent.id).await?;
    Ok(axum::Json(SessionInfo {
        agent,
        role: p.role,
        team_ids,
        csrf_token,
    }))
}

/// `DELETE /api/v1/session`: signs out.
pub async fn logout(State(state): State<AppState>, p: Principal) -> ApiResult<Response> {
    let id = p.session_id.ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "no_session",
            "API tokens have no session",
        )
    })?;
    state.desk.end_session(id).await?;
    let gone = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    Ok((CookieJar::new().remove(gone), StatusCode::NO_CONTENT).into_response())
}

/// Keeps the limiter in the state cheaply clonable.
pub type SharedLimiter = Arc<LoginLimiter>;
