//! Admin resources for configured channels: widget sites with their allowed origins,
//! greeting and secret, and the snippet a shop pastes into its pages; mail accounts
//! with their servers (passwords are taken, never shown).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Id, Json, parse_json};
use crate::desk::Role;
use crate::desk::calls::CTI;
use crate::desk::channels::{
    MAIL, MailAccountChange, NewMailAccount, NewWidget, SHOPIFY, ShopChange, WIDGET, WOOCOMMERCE,
    WidgetChange, WidgetSite,
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
    /// What to enter at the provider, shown when created: webhook addresses, the
    /// WhatsApp verify token, the PBX's secret URL, whether Telegram took the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    setup: Option<serde_json::Value>,
}

/// The `<script>` tag that embeds a widget site, served from this desk.
pub fn snippet(state: &AppState, key: &str) -> String {
    format!(
        "<script src=\"{}/widget.js\" data-site=\"{key}\" async></script>",
        state.config.public_origin()
    )
}

fn view(state: &AppState, mut channel: channel::Model, secret: Option<String>) -> ChannelView {
    let snippet =
        (channel.kind == crate::desk::channels::WIDGET).then(|| snippet(state, &channel.key));
    if channel.kind == CTI {
        // A PBX's key is the secret in its URL: shown once, when created.
        channel.key = String::new();
    }
    ChannelView {
        channel,
        snippet,
        secret,
        setup: None,
    }
}

/// The desk's public address of `path`.
fn public(state: &AppState, path: &str) -> String {
    let mut url = state.config.public_url.clone();
    url.set_path(path);
    url.to_string()
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

/// A new channel: `"kind": "widget"` (the default), `"email"`, `"telegram"`,
/// `"whatsapp"`, `"sms"`, `"cti"`, `"shopify"` or `"woocommerce"`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum NewChannel {
    Widget(NewWidget),
    Email(Box<NewMailAccount>),
    Telegram {
        name: String,
        bot_token: String,
    },
    Whatsapp {
        name: String,
        phone_number_id: String,
        access_token: String,
        app_secret: String,
    },
    Sms {
        name: String,
        phone_number: String,
        account_sid: String,
        auth_token: String,
    },
    Cti {
        name: String,
        #[serde(default)]
        blocked: Vec<String>,
        #[serde(default)]
        extensions: std::collections::BTreeMap<String, i64>,
        #[serde(default)]
        queues: std::collections::BTreeMap<String, i64>,
    },
    /// A Shopify shop: its myshopify.com domain and the app's webhook signing secret.
    Shopify {
        name: String,
        domain: String,
        secret: String,
    },
    /// A WooCommerce store: its address and the webhooks' secret (generated when absent).
    Woocommerce {
        name: String,
        url: String,
        #[serde(default)]
        secret: Option<String>,
    },
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
    let desk = &state.desk;
    let (row, secret, setup) = match new {
        NewChannel::Widget(new) => {
            let (site, secret): (WidgetSite, String) = desk.create_widget(&new).await?;
            (site.channel, Some(secret), None)
        }
        NewChannel::Email(new) => (desk.create_mail_account(&new).await?.channel, None, None),
        NewChannel::Telegram { name, bot_token } => {
            let bot = desk.create_telegram_bot(&name, &bot_token).await?;
            let url = public(&state, &format!("/webhooks/telegram/{}", bot.channel.id));
            let secrets = bot.secrets();
            // Telegram learns the address and the secret now; the bot is kept either way.
            let registered = state
                .clients
                .telegram
                .set_webhook(&secrets.bot_token, &url, &secrets.webhook_secret)
                .await;
            let setup = match registered {
                Ok(()) => json!({"webhook": url, "registered": true}),
                Err(e) => json!({"webhook": url, "registered": false, "error": e.to_string()}),
            };
            (bot.channel, None, Some(setup))
        }
        NewChannel::Whatsapp {
            name,
            phone_number_id,
            access_token,
            app_secret,
        } => {
            let n = desk
                .create_whatsapp_number(&name, &phone_number_id, &access_token, &app_secret)
                .await?;
            let setup = json!({
                "callback_url": public(&state, "/webhooks/whatsapp"),
                "verify_token": n.secrets().verify_token,
            });
            (n.channel, None, Some(setup))
        }
        NewChannel::Sms {
            name,
            phone_number,
            account_sid,
            auth_token,
        } => {
            let n = desk
                .create_sms_number(&name, &phone_number, &account_sid, &auth_token)
                .await?;
            let setup = json!({
                "webhook": public(&state, &format!("/webhooks/twilio/{}", n.channel.id)),
                "status_callback": public(&state, &format!("/webhooks/twilio/{}/status", n.channel.id)),
            });
            (n.channel, None, Some(setup))
        }
        NewChannel::Cti {
            name,
            blocked,
            extensions,
            queues,
        } => {
            let pbx = desk.create_pbx(&name, &blocked, extensions, queues).await?;
            let url = public(&state, &format!("/api/v1/cti/{}", pbx.channel.key));
            (pbx.channel, None, Some(json!({"event_url": url})))
        }
        NewChannel::Shopify {
            name,
            domain,
            secret,
        } => {
            let shop = desk.create_shopify_shop(&name, &domain, &secret).await?;
            let setup = json!({
                "webhook": public(&state, "/webhooks/shopify"),
                "topics": ["orders/create", "orders/updated", "orders/cancelled", "refunds/create"],
                "format": "json",
            });
            (shop.channel, None, Some(setup))
        }
        NewChannel::Woocommerce { name, url, secret } => {
            let generated = secret.as_deref().is_none_or(|s| s.trim().is_empty());
            let shop = desk
                .create_woocommerce_store(&name, &url, secret.as_deref())
                .await?;
            let mut setup = json!({
                // The store is told by the X-WC-Webhook-Source WooCommerce sends; the
                // address with its id works too (behind a proxy that changes the source).
                "delivery_url": public(&state, "/webhooks/woocommerce"),
                "delivery_url_by_id": public(&state, &format!("/webhooks/woocommerce/{}", shop.channel.id)),
                "topics": ["order.created", "order.updated", "order.deleted", "order.restored"],
            });
            if generated {
                // The secret to enter in WooCommerce: shown this once.
                setup["secret"] = json!(shop.signing_secret());
            }
            (shop.channel, None, Some(setup))
        }
    };
    let mut view = view(&state, row, secret);
    view.setup = setup;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

pub async fn update(
    State(state): State<AppState>,
    p: Principal,
    Id(id): Id,
    Json(change): Json<serde_json::Value>,
) -> ApiResult<axum::Json<ChannelView>> {
    p.require(Role::Admin)?;
    // Every kind of channel takes `survey` (on or off); the rest is the kind's own.
    let mut change = change;
    let survey = match change.as_object_mut().and_then(|f| f.remove("survey")) {
        None => None,
        Some(serde_json::Value::Bool(on)) => Some(on),
        Some(_) => {
            return Err(super::error::Problem::invalid(
                "survey",
                "expected true or false",
            ));
        }
    };
    let only_survey = change.as_object().is_some_and(|f| f.is_empty()) && survey.is_some();
    let before = state.desk.channel(id).await?;
    let had = before.settings.get("survey").and_then(|v| v.as_bool());
    if only_survey {
        let row = state.desk.set_channel_survey(id, survey, had).await?;
        return Ok(axum::Json(view(&state, row, None)));
    }
    let change = serde_json::to_vec(&change).unwrap_or_default();
    let kind = before.kind;
    let row = if kind == MAIL {
        let change: MailAccountChange = parse_json(&change)?;
        state.desk.update_mail_account(id, &change).await?.channel
    } else if kind == SHOPIFY || kind == WOOCOMMERCE {
        let change: ShopChange = parse_json(&change)?;
        state.desk.update_shop(id, &change).await?.channel
    } else {
        let change: WidgetChange = parse_json(&change)?;
        state.desk.update_widget(id, &change).await?.channel
    };
    let row = match survey.or(had) {
        Some(_) => state.desk.set_channel_survey(row.id, survey, had).await?,
        None => row,
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
