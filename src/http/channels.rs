//! Admin resources for configured channels: widget sites with their allowed origins,
//! greeting and secret, and the snippet a shop pastes into its pages.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Json};
use crate::desk::Role;
use crate::desk::channels::{NewWidget, WidgetChange, WidgetSite};
use entity::channel;

/// A channel as admins see it.
#[derive(Serialize)]
pub struct ChannelView {
    #[serde(flatten)]
    channel: channel::Model,
    /// The tag a shop puts into its pages (widget sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
    /// The shared secret: shown when created or rotated, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// The `<script>` tag that embeds a widget site, served from this desk.
pub fn snippet(state: &AppState, key: &str) -> String {
    format!(
        "<script src=\"{}/widget.js\" data-site=\"{key}\" async></script>",
        state.config.public_origin()
    )
}

fn view(state: &AppState, channel: channel::Model, secret: Option<String>) -> ChannelView {
    let snippet =
        (channel.kind == crate::desk::channels::WIDGET).then(|| snippet(state, &channel.key));
    ChannelView {
        channel,
        snippet,
        secret,
    }
}

pub async fn list(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<axum::Json<Vec<ChannelView>>> {
    p.require(Role::Admin)?;
    let rows = state.desk.channels().await?;
    Ok(axum::Json(
        rows.into_iter().map(|c| view(&state, c, None)).collect(),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<ChannelView>> {
    p.require(Role::Admin)?;
    let row = state.desk.channel(id).await?;
    Ok(axum::Json(view(&state, row, None)))
}

pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    Json(new): Json<NewWidget>,
) -> ApiResult<(StatusCode, axum::Json<ChannelView>)> {
    p.require(Role::Admin)?;
    let (site, secret): (WidgetSite, String) = state.desk.create_widget(&new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&state, site.channel, Some(secret))),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(change): Json<WidgetChange>,
) -> ApiResult<axum::Json<ChannelView>> {
    p.require(Role::Admin)?;
    let site = state.desk.update_widget(id, &change).await?;
    Ok(axum::Json(view(&state, site.channel, None)))
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
) -> ApiResult<axum::Json<ChannelView>> {
    p.require(Role::Admin)?;
    let (row, secret) = state.desk.rotate_channel_secret(id).await?;
    Ok(axum::Json(view(&state, row, Some(secret))))
}
