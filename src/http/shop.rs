//! Shop order webhooks, outside `/api/v1`: the order's current state stored before the
//! shop gets its 2xx.
//!
//! - `POST /webhooks/shopify`: the shop found by `X-Shopify-Shop-Domain`, the raw body
//!   checked against `X-Shopify-Hmac-Sha256` before it is read, the topic from
//!   `X-Shopify-Topic`.
//! - `POST /webhooks/woocommerce/{channel}`: the store's channel id in the path, the body
//!   checked against `X-WC-Webhook-Signature`, the topic from `X-WC-Webhook-Topic`.
//!   WooCommerce's unsigned ping (`webhook_id=…`) when a webhook is saved gets a 200.
//!
//! 401 for a missing or wrong signature, 404 for a shop not connected here, 400 for a
//! body that is not what its topic promises, 422 for an order the desk cannot take, 503
//! when the store is unavailable (the shop sends it again); topics the desk does not use
//! and orders without a customer get a 200 saying so, as shops retry anything else.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiResult, Id, Problem};
use crate::channels::shop::{self, Reading};
use crate::desk::channels::ShopConnection;
use crate::desk::{Desk, Error};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
}

fn bad_signature() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "the webhook signature does not match",
    )
}

/// `POST /webhooks/shopify`.
pub async fn shopify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let domain = header(&headers, "x-shopify-shop-domain");
    let Some(shop) = state.desk.shopify_shop(domain).await? else {
        tracing::warn!(domain, "Shopify webhook for a shop not connected here");
        return Err(Problem::not_found("no shop with this domain is connected"));
    };
    if !shop::signed(
        shop.signing_secret(),
        &body,
        header(&headers, "x-shopify-hmac-sha256"),
    ) {
        tracing::warn!(domain, "Shopify webhook with a wrong signature refused");
        return Err(bad_signature());
    }
    let topic = header(&headers, "x-shopify-topic");
    let reading = shop::read_shopify(topic, &shop.source(), &body).map_err(malformed)?;
    store(&state.desk, &shop, topic, reading).await
}

/// `POST /webhooks/woocommerce/{channel}`.
pub async fn woocommerce(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let Some(store_) = state.desk.woocommerce_store(id).await? else {
        return Err(Problem::not_found("no WooCommerce store with this id"));
    };
    let signature = header(&headers, "x-wc-webhook-signature");
    if signature.is_empty() && is_ping(&body) {
        return Ok(axum::Json(json!({"stored": false, "reason": "ping"})));
    }
    if !shop::signed(store_.signing_secret(), &body, signature) {
        tracing::warn!(
            store = id,
            "WooCommerce webhook with a wrong signature refused"
        );
        return Err(bad_signature());
    }
    let topic = header(&headers, "x-wc-webhook-topic");
    let reading = shop::read_woocommerce(topic, &store_.source(), &body).map_err(malformed)?;
    store(&state.desk, &store_, topic, reading).await
}

/// WooCommerce's test delivery when a webhook is saved: `webhook_id=12`, form-encoded.
fn is_ping(body: &[u8]) -> bool {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    matches!(fields.as_slice(), [(key, value)] if key == "webhook_id" && value.bytes().all(|b| b.is_ascii_digit()))
}

fn malformed(why: String) -> Problem {
    tracing::warn!("shop webhook with an unreadable body: {why}");
    Problem::new(StatusCode::BAD_REQUEST, "malformed", why)
}

async fn store(
    desk: &Desk,
    shop: &ShopConnection,
    topic: &str,
    reading: Reading,
) -> ApiResult<axum::Json<Value>> {
    let channel = shop.channel.id;
    match reading {
        Reading::Skip(why) => {
            tracing::info!(channel, topic, "shop webhook not stored: {why}");
            Ok(axum::Json(json!({"stored": false, "reason": why})))
        }
        Reading::Deleted(external_id) => {
            let known = desk
                .mark_order_deleted(&shop.source(), &external_id)
                .await?;
            Ok(axum::Json(json!({"stored": known, "deleted": known})))
        }
        Reading::Order(order) => {
            let mut order = *order;
            let summary = match desk.upsert_orders(vec![order.clone()]).await {
                // A phone the shop took but no country plan knows must not cost the order.
                Err(Error::Invalid { field, .. })
                    if field.ends_with("customer.phone")
                        && (order.customer.email.is_some() || order.customer.id.is_some()) =>
                {
                    tracing::info!(channel, "shop order stored without its unreadable phone");
                    order.customer.phone = None;
                    desk.upsert_orders(vec![order]).await?
                }
                other => other?,
            };
            Ok(axum::Json(json!({"stored": true, "summary": summary})))
        }
    }
}
