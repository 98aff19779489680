//! Shop order webhooks, outside `/api/v1`: the order's current state stored before the
//! shop gets its 2xx.
//!
//! - `POST /webhooks/shopify`: the shop found by `X-Shopify-Shop-Domain`, the raw body
//!   checked against `X-Shopify-Hmac-Sha256` before it is read, the topic from
//!   `X-Shopify-Topic`.
//! - `POST /webhooks/woocommerce`: the store found by the site address WooCommerce sends
//!   as `X-WC-Webhook-Source`; `POST /webhooks/woocommerce/{channel}` names the store's
//!   channel id instead. The body is checked against `X-WC-Webhook-Signature`, the topic
//!   read from `X-WC-Webhook-Topic`. WooCommerce's unsigned ping (`webhook_id=…`) when a
//!   webhook is saved gets a 200.
//!
//! 401 for a missing or wrong signature and, alike, for a shop not connected here (so the
//! answers cannot be used to probe which shops are; the log tells them apart), 400 for a
//! body that is not what its topic promises, 422 for an order the desk cannot take, 503
//! when the store is unavailable (the shop sends it again); topics the desk does not use
//! and orders without a customer get a 200 saying so, as shops retry anything else.
//! Stored deliveries answer `{"stored": true, "summary": {created, updated, skipped,
//! unchanged}}` (for a refund alone the counts are of refunds).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiResult, Id, Problem};
use crate::channels::shop::{self, Reading};
use crate::desk::channels::ShopConnection;
use crate::desk::{Desk, Error};

/// A header's trimmed value, "" when absent or not text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
}

/// 401 for a delivery whose signature is missing or wrong, or whose shop is not
/// connected here.
fn bad_signature() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "the webhook signature does not match",
    )
}

/// The 401 for a delivery to a shop not connected here, after the same signature work a
/// connected shop's delivery costs, so neither the answer nor its time tells them apart.
fn unknown_shop(body: &[u8], signature: &str) -> Problem {
    let _ = shop::signed("a shop not connected here", body, signature);
    bad_signature()
}

/// `POST /webhooks/shopify`.
pub async fn shopify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let domain = header(&headers, "x-shopify-shop-domain");
    let signature = header(&headers, "x-shopify-hmac-sha256");
    let Some(shop) = state.desk.shopify_shop(domain).await? else {
        tracing::warn!(domain, "Shopify webhook for a shop not connected here");
        return Err(unknown_shop(&body, signature));
    };
    if !shop::signed(shop.signing_secret(), &body, signature) {
        tracing::warn!(domain, "Shopify webhook with a wrong signature refused");
        return Err(bad_signature());
    }
    let topic = header(&headers, "x-shopify-topic");
    let reading = shop::read_shopify(topic, &shop.source(), &body).map_err(malformed)?;
    store(&state.desk, &shop, topic, reading).await
}

/// WooCommerce's unsigned ping, answered alike whether the store is connected or not.
fn woocommerce_ping(headers: &HeaderMap, body: &[u8]) -> Option<axum::Json<Value>> {
    (header(headers, "x-wc-webhook-signature").is_empty() && is_ping(body))
        .then(|| axum::Json(json!({"stored": false, "reason": "ping"})))
}

/// `POST /webhooks/woocommerce/{channel}`.
pub async fn woocommerce(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    if let Some(ping) = woocommerce_ping(&headers, &body) {
        return Ok(ping);
    }
    let Some(store_) = state.desk.woocommerce_store(id).await? else {
        tracing::warn!(id, "WooCommerce webhook for a store not connected here");
        return Err(unknown_shop(
            &body,
            header(&headers, "x-wc-webhook-signature"),
        ));
    };
    woocommerce_delivery(&state.desk, &store_, &headers, &body).await
}

/// `POST /webhooks/woocommerce`: the store told by `X-WC-Webhook-Source`.
pub async fn woocommerce_by_source(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    if let Some(ping) = woocommerce_ping(&headers, &body) {
        return Ok(ping);
    }
    let source = header(&headers, "x-wc-webhook-source");
    let Some(store_) = state.desk.woocommerce_store_at(source).await? else {
        tracing::warn!(
            source,
            "WooCommerce webhook from a store not connected here"
        );
        return Err(unknown_shop(
            &body,
            header(&headers, "x-wc-webhook-signature"),
        ));
    };
    woocommerce_delivery(&state.desk, &store_, &headers, &body).await
}

/// A signed WooCommerce delivery to a known store: the signature, then the order.
async fn woocommerce_delivery(
    desk: &Desk,
    store_: &ShopConnection,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<axum::Json<Value>> {
    let signature = header(headers, "x-wc-webhook-signature");
    if !shop::signed(store_.signing_secret(), body, signature) {
        tracing::warn!(
            store = store_.channel.id,
            "WooCommerce webhook with a wrong signature refused"
        );
        return Err(bad_signature());
    }
    let topic = header(headers, "x-wc-webhook-topic");
    let reading = shop::read_woocommerce(topic, &store_.source(), body).map_err(malformed)?;
    store(desk, store_, topic, reading).await
}

/// WooCommerce's test delivery when a webhook is saved: `webhook_id=12`, form-encoded.
fn is_ping(body: &[u8]) -> bool {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    matches!(fields.as_slice(), [(key, value)] if key == "webhook_id" && value.bytes().all(|b| b.is_ascii_digit()))
}

/// 400 for a signed body that is not what its topic promises.
fn malformed(why: String) -> Problem {
    tracing::warn!("shop webhook with an unreadable body: {why}");
    Problem::new(StatusCode::BAD_REQUEST, "malformed", why)
}

/// Hands what a delivery means to the desk and answers the shop.
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
            let summary = desk
                .mark_order_deleted(&shop.source(), &external_id)
                .await?;
            Ok(axum::Json(
                json!({"stored": true, "deleted": true, "summary": summary}),
            ))
        }
        Reading::Refund(refund) => {
            let summary = desk.record_refunds(vec![*refund]).await?;
            Ok(axum::Json(json!({"stored": true, "summary": summary})))
        }
        Reading::Order(change) => {
            let mut change = *change;
            let summary = match desk.upsert_order_changes(vec![change.clone()]).await {
                // A phone the shop took but no country plan knows must not cost the order.
                Err(Error::Invalid { field, .. })
                    if field.ends_with("customer.phone")
                        && (change.order.customer.email.is_some()
                            || change.order.customer.id.is_some()) =>
                {
                    tracing::info!(channel, "shop order stored without its unreadable phone");
                    change.order.customer.phone = None;
                    desk.upsert_order_changes(vec![change]).await?
                }
                other => other?,
            };
            Ok(axum::Json(json!({"stored": true, "summary": summary})))
        }
    }
}
