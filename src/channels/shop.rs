//! Shop order webhooks: Shopify's and WooCommerce's order JSON read into desk
//! [`OrderInput`]s, and their signatures checked. No order rule lives here.
//!
//! Both shops sign the raw body: base64 of HMAC-SHA256 with the connection's secret, in
//! `X-Shopify-Hmac-Sha256` and `X-WC-Webhook-Signature`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::desk::orders::{CustomerInput, ItemInput, OrderChange, OrderInput, RefundInput};

/// True when `signature` is base64(HMAC-SHA256(secret, body)); compared in constant time.
pub fn signed(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(sent) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    bool::from(expected.as_slice().ct_eq(&sent))
}

/// The signature a shop would send for `body`: for tests and tools.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// What a webhook means for the desk.
#[derive(Debug)]
pub enum Reading {
    /// An order's current state with its refunds, to upsert.
    Order(Box<OrderChange>),
    /// A refund reported on its own, to store once by its id.
    Refund(Box<RefundInput>),
    /// The shop deleted (or trashed) the order with this id.
    Deleted(String),
    /// Nothing to store, for this reason.
    Skip(String),
}

/// Shopify's id: a number in JSON (sometimes a string).
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A field's trimmed text; None when absent or blank.
fn text(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// "Ada" and "Lovelace" as "Ada Lovelace"; None when both are empty.
fn full_name(first: &Option<String>, last: &Option<String>) -> Option<String> {
    let name = [text(first), text(last)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// Adds decimal amounts given as strings ("10.00") exactly, as a decimal string; None
/// when there are none. Amounts are taken as positive (WooCommerce sends refunds negative).
fn sum_amounts(amounts: impl Iterator<Item = String>) -> Result<Option<Value>, String> {
    // Thousandths cover every currency's minor units.
    let mut total: i128 = 0;
    let mut any = false;
    for amount in amounts {
        let a = amount.trim().trim_start_matches('-');
        let (whole, frac) = a.split_once('.').unwrap_or((a, ""));
        if whole.is_empty()
            || frac.len() > 3
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("{amount:?} is not an amount"));
        }
        let whole: i128 = whole
            .parse()
            .map_err(|_| format!("{amount:?} is too large"))?;
        let frac: i128 = format!("{frac:0<3}").parse().unwrap_or(0);
        total = whole
            .checked_mul(1000)
            .and_then(|w| w.checked_add(frac))
            .and_then(|a| total.checked_add(a))
            .ok_or_else(|| format!("{amount:?} is too large"))?;
        any = true;
    }
    Ok(any.then(|| Value::String(format!("{}.{:03}", total / 1000, total % 1000))))
}

/// A Shopify order as its `orders/*` webhooks send it (the fields the desk uses).
#[derive(Debug, Deserialize)]
pub struct ShopifyOrder {
    pub id: Value,
    /// "#1001".
    pub name: Option<String>,
    pub email: Option<String>,
    pub contact_email: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub financial_status: Option<String>,
    pub currency: String,
    pub total_price: Value,
    pub customer: Option<ShopifyCustomer>,
    pub billing_address: Option<ShopifyAddress>,
    #[serde(default)]
    pub line_items: Vec<ShopifyLineItem>,
    #[serde(default)]
    pub refunds: Vec<ShopifyRefund>,
}

/// The customer on a Shopify order.
#[derive(Debug, Deserialize)]
pub struct ShopifyCustomer {
    pub id: Option<Value>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// A Shopify billing address.
#[derive(Debug, Deserialize)]
pub struct ShopifyAddress {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
}

/// One line of a Shopify order.
#[derive(Debug, Deserialize)]
pub struct ShopifyLineItem {
    pub sku: Option<String>,
    pub title: Option<String>,
    pub name: Option<String>,
    pub quantity: i32,
    pub price: Value,
}

/// A refund on a Shopify order (in the order's `refunds`, or alone as `refunds/create`
/// sends it); its successful `refund` transactions are the money paid back.
#[derive(Debug, Deserialize)]
pub struct ShopifyRefund {
    pub id: Option<Value>,
    /// Present when the refund comes alone.
    pub order_id: Option<Value>,
    pub created_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub transactions: Vec<ShopifyTransaction>,
}

/// A payment transaction of a refund.
#[derive(Debug, Deserialize)]
pub struct ShopifyTransaction {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub amount: Value,
    pub currency: Option<String>,
}

impl ShopifyRefund {
    /// The successful `refund` transactions: the money actually paid back.
    fn paid_back(&self) -> impl Iterator<Item = &ShopifyTransaction> {
        self.transactions
            .iter()
            .filter(|t| t.kind.as_deref() == Some("refund"))
            .filter(|t| t.status.as_deref().is_none_or(|s| s == "success"))
    }

    /// The refund as the desk stores it, for the order `order_id` of `source`; None for
    /// a refund without an id (then only the order's total counts it) or, when alone,
    /// without money and currency. `currency` is the order's, when known.
    fn to_input(
        &self,
        source: &str,
        order_id: &str,
        currency: Option<&str>,
        fallback_time: DateTime<Utc>,
    ) -> Result<Option<RefundInput>, String> {
        let Some(id) = self.id.as_ref().and_then(id_text) else {
            return Ok(None);
        };
        let amount = sum_amounts(self.paid_back().map(|t| amount_text(&t.amount)))?;
        let currency = self
            .paid_back()
            .find_map(|t| text(&t.currency))
            .or_else(|| currency.map(str::to_owned));
        let (amount, currency) = match (amount, currency) {
            (amount, Some(currency)) => (
                amount.unwrap_or_else(|| Value::String("0".into())),
                currency,
            ),
            // Restocking alone moves no money.
            (None, None) => return Ok(None),
            (Some(_), None) => return Err("not a Shopify refund: no currency".into()),
        };
        Ok(Some(RefundInput {
            source: source.to_owned(),
            external_id: id,
            order_external_id: order_id.to_owned(),
            amount,
            currency,
            refunded_at: self
                .processed_at
                .or(self.created_at)
                .unwrap_or(fallback_time),
        }))
    }
}

/// An amount as JSON gives it ("10.00" or 10.0), as text.
fn amount_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads a Shopify webhook body of `topic` from the shop whose orders are `source`.
/// Err is a body that is not what the topic promises.
pub fn read_shopify(topic: &str, source: &str, body: &[u8]) -> Result<Reading, String> {
    match topic {
        "orders/create" | "orders/updated" | "orders/cancelled" | "orders/paid"
        | "orders/edited" => {}
        "orders/delete" => {
            let deleted: Value =
                serde_json::from_slice(body).map_err(|e| format!("not a Shopify order: {e}"))?;
            let id = id_text(&deleted["id"]).ok_or("not a Shopify order: no id")?;
            return Ok(Reading::Deleted(id));
        }
        // Stored by its id, so the same refund in the order's `refunds` counts once.
        "refunds/create" => {
            let refund: ShopifyRefund =
                serde_json::from_slice(body).map_err(|e| format!("not a Shopify refund: {e}"))?;
            let order_id = refund
                .order_id
                .as_ref()
                .and_then(id_text)
                .ok_or("not a Shopify refund: no order_id")?;
            if refund.id.as_ref().and_then(id_text).is_none() {
                return Err("not a Shopify refund: no id".into());
            }
            return Ok(
                match refund.to_input(source, &order_id, None, Utc::now())? {
                    Some(r) => Reading::Refund(Box::new(r)),
                    None => Reading::Skip("the refund moves no money".into()),
                },
            );
        }
        other => return Ok(Reading::Skip(format!("topic {other:?} is not used"))),
    }
    let o: ShopifyOrder =
        serde_json::from_slice(body).map_err(|e| format!("not a Shopify order: {e}"))?;
    let external_id = id_text(&o.id).ok_or("not a Shopify order: no id")?;
    let customer = o.customer.as_ref();
    let billing = o.billing_address.as_ref();
    let email = customer
        .and_then(|c| text(&c.email))
        .or_else(|| text(&o.email))
        .or_else(|| text(&o.contact_email));
    let phone = customer
        .and_then(|c| text(&c.phone))
        .or_else(|| text(&o.phone));
    let customer_id = customer.and_then(|c| c.id.as_ref()).and_then(id_text);
    if email.is_none() && phone.is_none() && customer_id.is_none() {
        return Ok(Reading::Skip("the order names no customer".into()));
    }
    let name = customer
        .and_then(|c| full_name(&c.first_name, &c.last_name))
        .or_else(|| billing.and_then(|b| full_name(&b.first_name, &b.last_name)));
    let status = if o.cancelled_at.is_some() || topic == "orders/cancelled" {
        "cancelled".to_owned()
    } else {
        text(&o.financial_status).unwrap_or_else(|| "open".into())
    };
    let refunded = sum_amounts(
        o.refunds
            .iter()
            .flat_map(ShopifyRefund::paid_back)
            .map(|t| amount_text(&t.amount)),
    )?;
    let changed_at = o.updated_at.unwrap_or(o.created_at);
    let mut refunds = Vec::new();
    for r in &o.refunds {
        refunds.extend(r.to_input(source, &external_id, Some(&o.currency), changed_at)?);
    }
    let items = o
        .line_items
        .iter()
        .map(|l| ItemInput {
            sku: text(&l.sku),
            name: text(&l.title)
                .or_else(|| text(&l.name))
                .unwrap_or_else(|| "(item)".into()),
            quantity: l.quantity,
            unit_price: l.price.clone(),
        })
        .collect();
    let order = OrderInput {
        source: source.to_owned(),
        number: text(&o.name)
            .map(|n| n.trim_start_matches('#').to_owned())
            .or_else(|| Some(external_id.clone())),
        external_id,
        status,
        currency: o.currency,
        total: o.total_price,
        refunded: Some(refunded.unwrap_or_else(|| Value::String("0".into()))),
        placed_at: o.created_at,
        updated_at: o.updated_at,
        customer: CustomerInput {
            email,
            phone,
            id: customer_id,
            name,
            company: billing.and_then(|b| text(&b.company)),
        },
        items,
    };
    Ok(Reading::Order(Box::new(OrderChange {
        order,
        refunds,
        restored: false,
    })))
}

/// WooCommerce's `*_gmt` times: UTC without a zone (`2026-11-20T09:41:07`).
fn woo_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S")
        .map(|t| Some(t.and_utc()))
        .map_err(serde::de::Error::custom)
}

/// A WooCommerce order as its `order.*` webhooks send it (the fields the desk uses).
#[derive(Debug, Deserialize)]
pub struct WooOrder {
    pub id: Value,
    pub number: Option<String>,
    pub status: String,
    pub currency: String,
    pub total: Value,
    #[serde(deserialize_with = "woo_time")]
    pub date_created_gmt: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "woo_time")]
    pub date_modified_gmt: Option<DateTime<Utc>>,
    /// 0 for a guest.
    #[serde(default)]
    pub customer_id: Value,
    pub billing: Option<WooBilling>,
    #[serde(default)]
    pub line_items: Vec<WooLineItem>,
    #[serde(default)]
    pub refunds: Vec<WooRefund>,
}

/// A WooCommerce order's billing details.
#[derive(Debug, Deserialize)]
pub struct WooBilling {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// One line of a WooCommerce order.
#[derive(Debug, Deserialize)]
pub struct WooLineItem {
    pub name: String,
    pub sku: Option<String>,
    pub quantity: i32,
    /// The unit price, a number.
    pub price: Value,
}

/// WooCommerce's unit price is a float that may carry tax-exclusive fractions
/// (8.2644628099): rounded to cents.
fn woo_price(price: &Value) -> Value {
    match price.as_f64() {
        Some(p) if price.is_f64() => Value::String(format!("{p:.2}")),
        _ => price.clone(),
    }
}

/// A refund on a WooCommerce order; `total` is negative ("-10.00").
#[derive(Debug, Deserialize)]
pub struct WooRefund {
    pub id: Option<Value>,
    pub total: Value,
}

/// Reads a WooCommerce webhook body of `topic` from the store whose orders are `source`.
pub fn read_woocommerce(topic: &str, source: &str, body: &[u8]) -> Result<Reading, String> {
    match topic {
        "order.created" | "order.updated" | "order.restored" => {}
        "order.deleted" => {
            #[derive(Deserialize)]
            struct Deleted {
                id: Value,
            }
            let d: Deleted = serde_json::from_slice(body)
                .map_err(|e| format!("not a WooCommerce order: {e}"))?;
            let id = id_text(&d.id).ok_or("not a WooCommerce order: no id")?;
            return Ok(Reading::Deleted(id));
        }
        other => return Ok(Reading::Skip(format!("topic {other:?} is not used"))),
    }
    let o: WooOrder =
        serde_json::from_slice(body).map_err(|e| format!("not a WooCommerce order: {e}"))?;
    let external_id = id_text(&o.id).ok_or("not a WooCommerce order: no id")?;
    let placed_at = o
        .date_created_gmt
        .ok_or("not a WooCommerce order: no date_created_gmt")?;
    let billing = o.billing.as_ref();
    let customer_id = id_text(&o.customer_id).filter(|id| id != "0");
    let email = billing.and_then(|b| text(&b.email));
    let phone = billing.and_then(|b| text(&b.phone));
    if email.is_none() && phone.is_none() && customer_id.is_none() {
        return Ok(Reading::Skip("the order names no customer".into()));
    }
    let refunded = sum_amounts(o.refunds.iter().map(|r| amount_text(&r.total)))?;
    let changed_at = o.date_modified_gmt.unwrap_or(placed_at);
    let mut refunds = Vec::new();
    for r in &o.refunds {
        let Some(id) = r.id.as_ref().and_then(id_text) else {
            continue;
        };
        let amount = sum_amounts(std::iter::once(amount_text(&r.total)))?
            .unwrap_or_else(|| Value::String("0".into()));
        refunds.push(RefundInput {
            source: source.to_owned(),
            external_id: id,
            order_external_id: external_id.clone(),
            amount,
            currency: o.currency.clone(),
            refunded_at: changed_at,
        });
    }
    let items = o
        .line_items
        .iter()
        .map(|l| ItemInput {
            sku: text(&l.sku),
            name: l.name.clone(),
            quantity: l.quantity,
            unit_price: woo_price(&l.price),
        })
        .collect();
    let order = OrderInput {
        source: source.to_owned(),
        number: text(&o.number).or_else(|| Some(external_id.clone())),
        external_id,
        status: o.status,
        currency: o.currency,
        total: o.total,
        refunded: Some(refunded.unwrap_or_else(|| Value::String("0".into()))),
        placed_at,
        updated_at: o.date_modified_gmt,
        customer: CustomerInput {
            email,
            phone,
            id: customer_id,
            name: billing.and_then(|b| full_name(&b.first_name, &b.last_name)),
            company: billing.and_then(|b| text(&b.company)),
        },
        items,
    };
    Ok(Reading::Order(Box::new(OrderChange {
        order,
        refunds,
        restored: topic == "order.restored",
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_base64_hmac_of_the_raw_body() {
        let sig = signature("hush", b"{}");
        assert!(signed("hush", b"{}", &sig));
        assert!(!signed("hush", b"{ }", &sig));
        assert!(!signed("other", b"{}", &sig));
        assert!(!signed("hush", b"{}", "not base64!"));
        assert!(!signed("", b"{}", &signature("", b"{}")));
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/shop/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_shopify_refund_alone_is_its_successful_refund_transactions() {
        let refund = fixture("shopify_refund.json");
        let body = serde_json::to_vec(&refund).unwrap();
        let Ok(Reading::Refund(r)) = read_shopify("refunds/create", "shopify:x", &body) else {
            panic!("not read as a refund");
        };
        assert_eq!(
            (r.external_id.as_str(), r.order_external_id.as_str()),
            ("981726354234", "5823114297402")
        );
        assert_eq!(
            (r.amount.as_str(), r.currency.as_str()),
            (Some("24.900"), "EUR")
        );
        assert_eq!(r.refunded_at.to_rfc3339(), "2026-11-22T08:03:18+00:00");

        // Failed transactions and other kinds move no money.
        let mut partly = refund.clone();
        partly["transactions"] = serde_json::json!([
            {"kind": "refund", "status": "failure", "amount": "9.00", "currency": "EUR"},
            {"kind": "sale", "status": "success", "amount": "9.00", "currency": "EUR"},
            {"kind": "refund", "status": "success", "amount": 1.5, "currency": "EUR"}
        ]);
        let body = serde_json::to_vec(&partly).unwrap();
        let Ok(Reading::Refund(r)) = read_shopify("refunds/create", "shopify:x", &body) else {
            panic!("not read as a refund");
        };
        assert_eq!(r.amount.as_str(), Some("1.500"));

        // Restocking alone: nothing to store; no order id or a bad amount: an error.
        let mut restock = refund.clone();
        restock["transactions"] = serde_json::json!([]);
        let body = serde_json::to_vec(&restock).unwrap();
        assert!(matches!(
            read_shopify("refunds/create", "shopify:x", &body),
            Ok(Reading::Skip(_))
        ));
        let mut orphan = refund.clone();
        orphan["order_id"] = Value::Null;
        let body = serde_json::to_vec(&orphan).unwrap();
        assert!(read_shopify("refunds/create", "shopify:x", &body).is_err());
        let mut huge = refund.clone();
        huge["transactions"][0]["amount"] = serde_json::json!("9".repeat(38));
        let body = serde_json::to_vec(&huge).unwrap();
        assert!(read_shopify("refunds/create", "shopify:x", &body).is_err());
    }

    #[test]
    fn order_payloads_carry_their_refunds_by_id() {
        let mut order = fixture("shopify_order.json");
        order["refunds"] = serde_json::json!([fixture("shopify_refund.json")]);
        let body = serde_json::to_vec(&order).unwrap();
        let Ok(Reading::Order(change)) = read_shopify("orders/updated", "shopify:x", &body) else {
            panic!("not read as an order");
        };
        assert_eq!(change.refunds.len(), 1);
        assert_eq!(
            change.refunds[0].order_external_id,
            change.order.external_id
        );
        assert_eq!(
            change.order.refunded.as_ref().and_then(Value::as_str),
            Some("24.900")
        );

        let mut woo = fixture("woocommerce_order.json");
        woo["refunds"] =
            serde_json::json!([{"id": 7320, "reason": "", "total": "-10.00"}, {"total": "-1.00"}]);
        let body = serde_json::to_vec(&woo).unwrap();
        let Ok(Reading::Order(change)) = read_woocommerce("order.restored", "woocommerce:x", &body)
        else {
            panic!("not read as an order");
        };
        assert!(change.restored);
        assert_eq!(
            change.refunds.len(),
            1,
            "a refund without an id only counts in the total"
        );
        assert_eq!(change.refunds[0].amount.as_str(), Some("10.000"));
        assert_eq!(
            change.order.refunded.as_ref().and_then(Value::as_str),
            Some("11.000")
        );
    }

    #[test]
    fn amounts_add_up_exactly() {
        let sum = sum_amounts(["-10.00".to_owned(), "0.1".into(), "5".into()].into_iter());
        assert_eq!(sum, Ok(Some(Value::String("15.100".into()))));
        assert_eq!(sum_amounts(std::iter::empty()), Ok(None));
        assert!(sum_amounts(["1,5".to_owned()].into_iter()).is_err());
    }
}
