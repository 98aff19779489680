//! Orders from the shop: bulk upsert keyed by (source, external id), matched to contacts
//! by identity, so the agent sees what the customer bought.

use std::collections::BTreeSet;

use super::identity::{self, IdentityClaim, IdentityKind};
use super::{Desk, Error, Result};
use crate::store::{WriteTx, is_conflict, now};
use chrono::{DateTime, Utc};
use entity::{contact, order, order_item};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

/// Most orders accepted in one request.
pub const MAX_BATCH: usize = 1000;

/// An order as the shop sends it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// Which shop the order comes from, e.g. `shopify:my-shop`.
    pub source: String,
    /// The shop's id of the order.
    pub external_id: String,
    /// The order number the customer sees; defaults to the external id.
    pub number: Option<String>,
    pub status: String,
    /// ISO 4217 code, e.g. EUR.
    pub currency: String,
    /// Grand total as a decimal string or number, e.g. "129.90".
    pub total: serde_json::Value,
    /// What the shop has paid back on this order so far, a decimal like `total`; absent
    /// keeps what is stored.
    #[serde(default)]
    pub refunded: Option<serde_json::Value>,
    pub placed_at: DateTime<Utc>,
    /// The shop's last-modified time; an update older than the stored one is skipped.
    pub updated_at: Option<DateTime<Utc>>,
    pub customer: CustomerInput,
    #[serde(default)]
    pub items: Vec<ItemInput>,
}

/// Who placed the order; at least one of email, phone or id.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The shop's customer id.
    pub id: Option<String>,
    pub name: Option<String>,
    /// For B2B orders: the company, which becomes the contact's organization.
    pub company: Option<String>,
}

/// One line of an order as the shop sends it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i32,
    pub unit_price: serde_json::Value,
}

/// An order with its lines.
#[derive(Debug, Serialize)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: order::Model,
    pub items: Vec<order_item::Model>,
}

/// What a bulk upsert did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct UpsertSummary {
    pub created: u32,
    pub updated: u32,
    /// Updates older than what is stored.
    pub skipped: u32,
}

/// An order after validation.
struct CheckedOrder {
    input: OrderInput,
    number: String,
    currency: String,
    total_cents: i64,
    refunded_cents: Option<i64>,
    items: Vec<(Option<String>, String, i32, i64)>,
    identities: Vec<IdentityClaim>,
    normalized: Vec<String>,
}

impl Desk {
    /// Inserts or updates orders in one transaction; an invalid order rejects the batch
    /// with an error naming it (`orders[3].total`), so nothing is half-imported.
    pub async fn upsert_orders(&self, orders: Vec<OrderInput>) -> Result<UpsertSummary> {
        if orders.is_empty() {
            return Err(Error::invalid("orders", "must not be empty"));
        }
        if orders.len() > MAX_BATCH {
            return Err(Error::invalid(
                "orders",
                format!("at most {MAX_BATCH} per request"),
            ));
        }
        let checked = orders
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                self.check_order(o).map_err(|e| match e {
                    Error::Invalid { field, message } => {
                        Error::invalid(format!("orders[{i}].{field}"), message)
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.store.write().await?;
            let mut summary = UpsertSummary::default();
            let result = async {
                // Contacts whose orders or identities changed: one index row each.
                let mut contacts = BTreeSet::new();
                for o in &checked {
                    self.upsert_order(&tx, o, &mut summary, &mut contacts)
                        .await?;
                }
                for id in contacts {
                    super::contacts::index_contact(&*tx, id).await?;
                }
                Ok::<_, Error>(())
            }
            .await;
            let result = match result {
                Ok(()) => tx.commit().await.map_err(Error::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    self.committed();
                    return Ok(summary);
                }
                Err(Error::Store(e)) if attempt < 5 && is_conflict(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn check_order(&self, o: OrderInput) -> Result<CheckedOrder> {
        for (field, value, max) in [
            ("source", &o.source, 100),
            ("external_id", &o.external_id, 200),
            ("status", &o.status, 50),
        ] {
            if value.trim().is_empty() || value.len() > max {
                return Err(Error::invalid(field, format!("must be 1–{max} bytes")));
            }
            super::check_storable(field, value)?;
        }
        for (field, value) in [
            ("number", o.number.as_ref()),
            ("customer.name", o.customer.name.as_ref()),
            ("customer.company", o.customer.company.as_ref()),
        ] {
            if let Some(value) = value {
                super::check_storable(field, value)?;
            }
        }
        let currency = o.currency.trim().to_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(Error::invalid(
                "currency",
                "expected an ISO 4217 code such as EUR",
            ));
        }
        let total_cents =
            to_minor_units(&o.total, &currency).map_err(|m| Error::invalid("total", m))?;
        let refunded_cents = match &o.refunded {
            None | Some(serde_json::Value::Null) => None,
            Some(amount) => {
                let cents =
                    to_minor_units(amount, &currency).map_err(|m| Error::invalid("refunded", m))?;
                if cents < 0 {
                    return Err(Error::invalid("refunded", "must not be negative"));
                }
                Some(cents)
            }
        };
        let number = o.number.clone().unwrap_or_else(|| o.external_id.clone());
        if number.len() > 100 {
            return Err(Error::invalid("number", "longer than 100 bytes"));
        }
        if o.items.len() > 500 {
            return Err(Error::invalid("items", "at most 500 lines"));
        }
        let mut items = Vec::with_capacity(o.items.len());
        for (i, item) in o.items.iter().enumerate() {
            if item.name.trim().is_empty() || item.name.len() > 500 {
                return Err(Error::invalid(
                    format!("items[{i}].name"),
                    "must be 1–500 bytes",
                ));
            }
            super::check_storable(&format!("items[{i}].name"), &item.name)?;
            if let Some(sku) = &item.sku {
                super::check_storable(&format!("items[{i}].sku"), sku)?;
            }
            if item.quantity < 0 {
                return Err(Error::invalid(
                    format!("items[{i}].quantity"),
                    "must not be negative",
                ));
            }
            let price = to_minor_units(&item.unit_price, &currency)
                .map_err(|m| Error::invalid(format!("items[{i}].unit_price"), m))?;
            items.push((
                item.sku.clone().filter(|s| !s.is_empty()),
                item.name.trim().to_owned(),
                item.quantity,
                price,
            ));
        }
        let c = &o.customer;
        let mut identities = Vec::new();
        if let Some(email) = c.email.as_deref().filter(|e| !e.trim().is_empty()) {
            identities.push(IdentityClaim::new(IdentityKind::Email, email).verified());
        }
        if let Some(phone) = c.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            identities.push(IdentityClaim::new(IdentityKind::Phone, phone).verified());
        }
        if let Some(id) = c.id.as_deref().filter(|i| !i.trim().is_empty()) {
            identities.push(
                IdentityClaim::new(
                    IdentityKind::Shop,
                    format!("{}:{}", o.source.trim(), id.trim()),
                )
                .verified(),
            );
        }
        if identities.is_empty() {
            return Err(Error::invalid("customer", "needs an email, phone or id"));
        }
        let normalized = identities
            .iter()
            .map(|claim| {
                claim
                    .normalized(self.rules.default_region)
                    .map_err(|e| match e {
                        Error::Invalid { field, message } => {
                            Error::invalid(format!("customer.{field}"), message)
                        }
                        other => other,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CheckedOrder {
            number,
            currency,
            total_cents,
            refunded_cents,
            items,
            identities,
            normalized,
            input: o,
        })
    }

    async fn upsert_order(
        &self,
        tx: &WriteTx,
        o: &CheckedOrder,
        summary: &mut UpsertSummary,
        contacts: &mut BTreeSet<i64>,
    ) -> Result<()> {
        let at = now();
        let contact_id = self.order_contact(tx, o, at).await?;
        contacts.insert(contact_id);
        let input = &o.input;
        let source_updated_at = input.updated_at.unwrap_or(input.placed_at);
        let existing = order::Entity::find()
            .filter(order::Column::Source.eq(input.source.trim()))
            .filter(order::Column::ExternalId.eq(input.external_id.trim()))
            .one(&**tx)
            .await?;
        let mut model = order::ActiveModel {
            contact_id: Set(contact_id),
            number: Set(o.number.clone()),
            status: Set(input.status.trim().to_lowercase()),
            currency: Set(o.currency.clone()),
            total_cents: Set(o.total_cents),
            placed_at: Set(input.placed_at),
            source_updated_at: Set(source_updated_at),
            updated_at: Set(at),
            ..Default::default()
        };
        if let Some(cents) = o.refunded_cents {
            model.refunded_cents = Set(cents);
        }
        let order_id = match existing {
            Some(e) if e.source_updated_at > source_updated_at => {
                summary.skipped += 1;
                return Ok(());
            }
            Some(e) => {
                // An order that changed hands leaves the old contact's document too.
                contacts.insert(e.contact_id);
                model.id = Set(e.id);
                model.update(&**tx).await?;
                order_item::Entity::delete_many()
                    .filter(order_item::Column::OrderId.eq(e.id))
                    .exec(&**tx)
                    .await?;
                summary.updated += 1;
                e.id
            }
            None => {
                model.source = Set(input.source.trim().to_owned());
                model.external_id = Set(input.external_id.trim().to_owned());
                model.created_at = Set(at);
                summary.created += 1;
                model.insert(&**tx).await?.id
            }
        };
        if !o.items.is_empty() {
            order_item::Entity::insert_many(o.items.iter().map(|(sku, name, quantity, price)| {
                order_item::ActiveModel {
                    order_id: Set(order_id),
                    sku: Set(sku.clone()),
                    name: Set(name.clone()),
                    quantity: Set(*quantity),
                    unit_price_cents: Set(*price),
                    ..Default::default()
                }
            }))
            .exec(&**tx)
            .await?;
        }
        Ok(())
    }

    /// The contact an order belongs to: the first of its identities we know, else a new
    /// contact. Identities the contact lacks are added unless another contact owns them.
    async fn order_contact(
        &self,
        tx: &WriteTx,
        o: &CheckedOrder,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let mut owners = Vec::new();
        for (claim, value) in o.identities.iter().zip(&o.normalized) {
            let found = identity::find(&**tx, claim.kind, value).await?;
            owners.push(found.map(|i| i.contact_id));
        }
        let customer = &o.input.customer;
        let name = customer
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let contact = match owners.iter().flatten().next() {
            Some(id) => contact::Entity::find_by_id(*id)
                .one(&**tx)
                .await?
                .ok_or_else(|| Error::not_found("contact", id))?,
            None => {
                let resolved = self
                    .resolve_contact(tx, &o.identities[0], &o.normalized[0], name, at)
                    .await?;
                contact::Entity::find_by_id(resolved.id)
                    .one(&**tx)
                    .await?
                    .ok_or_else(|| Error::not_found("contact", resolved.id))?
            }
        };
        for ((claim, value), owner) in o.identities.iter().zip(&o.normalized).zip(&owners) {
            if owner.is_none() && identity::find(&**tx, claim.kind, value).await?.is_none() {
                identity::insert(&**tx, contact.id, claim.kind, value, true, at).await?;
            }
        }
        let company = customer
            .company
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if contact.name.is_none() && name.is_some()
            || contact.organization_id.is_none() && company.is_some()
        {
            let org = match company {
                Some(c) if contact.organization_id.is_none() => {
                    Some(self.organization_named(tx, c, at).await?)
                }
                _ => contact.organization_id,
            };
            contact::ActiveModel {
                id: Set(contact.id),
                name: Set(contact.name.clone().or(name.map(str::to_owned))),
                organization_id: Set(org),
                updated_at: Set(at),
                ..Default::default()
            }
            .update(&**tx)
            .await?;
        }
        Ok(contact.id)
    }

    /// Marks an order the shop deleted as `deleted`, so it no longer counts; its time
    /// stays, so the shop restoring it (a newer update) brings it back. False when the
    /// order is unknown.
    pub async fn mark_order_deleted(&self, source: &str, external_id: &str) -> Result<bool> {
        let tx = self.store.write().await?;
        let Some(found) = order::Entity::find()
            .filter(order::Column::Source.eq(source.trim()))
            .filter(order::Column::ExternalId.eq(external_id.trim()))
            .one(&*tx)
            .await?
        else {
            return Ok(false);
        };
        order::ActiveModel {
            id: Set(found.id),
            status: Set("deleted".into()),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        super::contacts::index_contact(&*tx, found.contact_id).await?;
        tx.commit().await?;
        self.committed();
        Ok(true)
    }

    /// The contact's orders with their lines, newest first.
    pub async fn contact_orders(&self, contact_id: i64, limit: u64) -> Result<Vec<OrderView>> {
        let db = self.store.db();
        let orders = order::Entity::find()
            .filter(order::Column::ContactId.eq(contact_id))
            .order_by_desc(order::Column::PlacedAt)
            .order_by_desc(order::Column::Id)
            .limit(limit)
            .all(db)
            .await?;
        let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
        let mut items = if ids.is_empty() {
            vec![]
        } else {
            order_item::Entity::find()
                .filter(order_item::Column::OrderId.is_in(ids))
                .order_by_asc(order_item::Column::Id)
                .all(db)
                .await?
        };
        Ok(orders
            .into_iter()
            .map(|order| {
                let (mine, rest) = items.drain(..).partition(|i| i.order_id == order.id);
                items = rest;
                OrderView { order, items: mine }
            })
            .collect())
    }
}

/// Digits after the decimal point for a currency (ISO 4217 minor units).
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Converts a decimal amount ("129.90", 129.9, "-5") into minor units without floating
/// point rounding. More fractional digits than the currency has is an error.
pub fn to_minor_units(
    value: &serde_json::Value,
    currency: &str,
) -> std::result::Result<i64, String> {
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err("expected a decimal amount such as \"129.90\"".into()),
    };
    let digits = minor_digits(currency);
    let bad = || format!("not a valid {currency} amount: {text:?}");
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > digits as usize {
        return Err(format!(
            "{text:?} has more than {digits} decimal places for {currency}"
        ));
    }
    let scale = 10i64.pow(digits);
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac_value: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = digits as usize)
            .parse()
            .map_err(|_| bad())?
    };
    // Far above any real order, and small enough that sums over many orders never overflow.
    const MAX_MINOR_UNITS: i64 = 1_000_000_000_000_000 / 1000;
    let cents = whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac_value))
        .filter(|c| *c <= MAX_MINOR_UNITS)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    Ok(if negative { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use super::to_minor_units;
    use serde_json::json;

    #[test]
    fn amounts_become_minor_units_exactly() {
        assert_eq!(to_minor_units(&json!("129.90"), "EUR"), Ok(12990));
        assert_eq!(to_minor_units(&json!(129.9), "EUR"), Ok(12990));
        assert_eq!(to_minor_units(&json!(5), "EUR"), Ok(500));
        assert_eq!(to_minor_units(&json!("-0.05"), "EUR"), Ok(-5));
        assert_eq!(to_minor_units(&json!("1500"), "JPY"), Ok(1500));
        assert_eq!(to_minor_units(&json!("1.234"), "KWD"), Ok(1234));
        assert!(to_minor_units(&json!("1.234"), "EUR").is_err());
        assert!(to_minor_units(&json!("12,90"), "EUR").is_err());
        assert!(to_minor_units(&json!("abc"), "EUR").is_err());
        assert!(to_minor_units(&json!(null), "EUR").is_err());
        assert!(to_minor_units(&json!("99999999999999999999"), "EUR").is_err());
    }
}
