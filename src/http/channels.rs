//! Admin resources for configured channels: widget sites with their allowed origins,
//! greeting and secret, and the snippet a shop pastes into its pages; mail accounts
//! with their servers (passwords are taken, never shown).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Json, parse_json};
use crate::desk::Role;
use crate::desk::channels::{
    MAIL, MailAccountChange, NewMailAccount, NewWidget, WIDGET, WidgetChange, WidgetSite,
};
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

/// A new channel: `"kind": "widget"` (the default) or `"email"`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum NewChannel {
    Widget(NewWidget),
    Email(Box<NewMailAccount>),
}

pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    Json(mut body): Json<serde_json::Value>,
) -> ApiResult<(StatusCode, axum::Json<ChannelView>)> {
    p.require(Role::Admin)?;
    if let Some(fields) = body.as_object_mut() {
        fields.entry("kind").or_insert_with(|| WIDGET.into());
    }
    let new: NewChannel = parse_json(&serde_json::to_vec(&body).unwrap_or_default())?;
    let (row, secret) = match new {
        NewChannel::Widget(new) => {
            let (site, secret): (WidgetSite, String) = state.desk.create_widget(&new).await?;
            (site.channel, Some(secret))
        }
        NewChannel::Email(new) => (state.desk.create_mail_account(&new).await?.channel, None),
    };
    Ok((StatusCode::CREATED, axum::Json(view(&state, row, secret))))
}

pub async fn update(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(change): Json<serde_json::Value>,
) -> ApiResult<axum::Json<ChannelView>> {
    p.require(Role::Admin)?;
    let change = serde_json::to_vec(&change).unwrap_or_default();
    let row = if state.desk.channel(id).await?.kind == MAIL {
        let change: MailAccountChange = parse_json(&change)?;
        state.desk.update_mail_account(id, &change).await?.channel
    } else {
        let change: WidgetChange = parse_json(&change)?;
        state.desk.update_widget(id, &change).await?.channel
    };
    Ok(axum::Json(view(&state, row, None)))
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
