//! Orders from the shop: bulk upsert keyed by (source, external id), matched to contacts
//! by identity, so the agent sees what the customer bought; refunds kept by the shop's
//! refund id, and deletions remembered, so replays and late deliveries leave the newest
//! state.
//!
//! Every change goes through one transaction per batch (`apply_order_steps`). An order's
//! `refunded_cents` is the sum of its refund rows in the order's currency, or the
//! `refunded` total the shop sent when that is more (it also counts refunds sent without
//! an id; the API and CSV files carry no refund ids at all).

use std::collections::{BTreeMap, BTreeSet};

use super::identity::{self, IdentityClaim, IdentityKind};
use super::{Desk, Error, Result};
use crate::store::{WriteTx, is_conflict, now};
use chrono::{DateTime, Utc};
use entity::{contact, order, order_deletion, order_item, order_refund};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
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

/// A refund as the shop reports it: money paid back on one order, under the shop's own
/// refund id, so the same refund reported again (alone or with its order) counts once.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// The shop, as the order's `source`.
    pub source: String,
    /// The shop's id of the refund.
    pub external_id: String,
    /// The shop's id of the refunded order, which need not be stored yet.
    pub order_external_id: String,
    /// What was paid back, a positive decimal like an order's total.
    pub amount: serde_json::Value,
    /// ISO 4217 code of `amount`.
    pub currency: String,
    pub refunded_at: DateTime<Utc>,
}

/// An order as a shop webhook reports it: its state, its refunds with their ids, and
/// whether the shop restored it after deleting it.
#[derive(Clone, Debug, Default)]
pub struct OrderChange {
    pub order: OrderInput,
    /// Stored one row per refund id; the order's `refunded` is their sum, or
    /// `order.refunded` when that is more.
    pub refunds: Vec<RefundInput>,
    /// The shop restored the order: an earlier deletion no longer holds it back.
    pub restored: bool,
}

impl From<OrderInput> for OrderChange {
    fn from(order: OrderInput) -> OrderChange {
        OrderChange {
            order,
            refunds: Vec::new(),
            restored: false,
        }
    }
}

/// An order with its lines.
#[derive(Debug, Serialize)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: order::Model,
    pub items: Vec<order_item::Model>,
}

/// What a bulk upsert did (for refunds: to their rows; for a deletion: to the order).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct UpsertSummary {
    pub created: u32,
    pub updated: u32,
    /// Changes older than what is stored, or than the shop's deletion of the order.
    pub skipped: u32,
    /// Deliveries equal to what is stored already: a re-run import, a replayed webhook.
    pub unchanged: u32,
}

/// An order line after validation: sku, name, quantity, unit price in minor units.
type CheckedItem = (Option<String>, String, i32, i64);

/// An order after validation.
struct CheckedOrder {
    input: OrderInput,
    source: String,
    external_id: String,
    number: String,
    status: String,
    currency: String,
    total_cents: i64,
    refunded_cents: Option<i64>,
    items: Vec<CheckedItem>,
    identities: Vec<IdentityClaim>,
    normalized: Vec<String>,
    refunds: Vec<CheckedRefund>,
    restored: bool,
}

/// A refund after validation.
struct CheckedRefund {
    source: String,
    external_id: String,
    order_external_id: String,
    amount_cents: i64,
    currency: String,
    refunded_at: DateTime<Utc>,
}

/// One change to the orders, applied in a batch's transaction.
enum Step {
    Order(Box<CheckedOrder>),
    Refund(CheckedRefund),
    /// The shop deleted the order with this (source, external id).
    Delete(String, String),
}

impl Step {
    /// The (source, external id) of the order the step touches.
    fn order_key(&self) -> (&str, &str) {
        match self {
            Step::Order(o) => (&o.source, &o.external_id),
            Step::Refund(r) => (&r.source, &r.order_external_id),
            Step::Delete(source, id) => (source, id),
        }
    }
}

/// Checks an id-like field of a shop's order or refund: 1–`max` bytes, storable.
fn check_key(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > max {
        return Err(Error::invalid(field, format!("must be 1–{max} bytes")));
    }
    super::check_storable(field, value)?;
    Ok(value.to_owned())
}

/// An ISO 4217 code in upper case.
fn check_currency(field: &str, raw: &str) -> Result<String> {
    let currency = raw.trim().to_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(Error::invalid(
            field,
            "expected an ISO 4217 code such as EUR",
        ));
    }
    Ok(currency)
}

/// Prefixes the field of an invalid-input error (`total` → `orders[3].total`).
fn within(prefix: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Invalid { field, message } => Error::invalid(format!("{prefix}{field}"), message),
        other => other,
    }
}

/// Validates a refund; errors name the field.
fn check_refund(r: &RefundInput) -> Result<CheckedRefund> {
    let currency = check_currency("currency", &r.currency)?;
    let amount_cents =
        to_minor_units(&r.amount, &currency).map_err(|m| Error::invalid("amount", m))?;
    if amount_cents < 0 {
        return Err(Error::invalid("amount", "must not be negative"));
    }
    Ok(CheckedRefund {
        source: check_key("source", &r.source, 100)?,
        external_id: check_key("external_id", &r.external_id, 200)?,
        order_external_id: check_key("order_external_id", &r.order_external_id, 200)?,
        amount_cents,
        currency,
        refunded_at: r.refunded_at,
    })
}

impl Desk {
    /// Inserts or updates orders in one transaction; an invalid order rejects the batch
    /// with an error naming it (`orders[3].total`), so nothing is half-imported.
    pub async fn upsert_orders(&self, orders: Vec<OrderInput>) -> Result<UpsertSummary> {
        self.upsert_order_changes(orders.into_iter().map(OrderChange::from).collect())
            .await
    }

    /// Like [`upsert_orders`](Self::upsert_orders) for orders a shop webhook reports with
    /// their refunds (`orders[3].refunds[0].amount` names a bad refund).
    pub async fn upsert_order_changes(&self, orders: Vec<OrderChange>) -> Result<UpsertSummary> {
        check_batch("orders", orders.len())?;
        let steps = orders
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                self.check_order(o)
                    .map(|o| Step::Order(Box::new(o)))
                    .map_err(within(&format!("orders[{i}].")))
            })
            .collect::<Result<Vec<_>>>()?;
        self.apply_order_steps(&steps).await
    }

    /// Stores refunds the shop reported on their own (Shopify's `refunds/create`): each
    /// once by its id; an order already stored gets its `refunded` recomputed, one that
    /// is not yet counts them when it arrives. The summary counts refund rows.
    pub async fn record_refunds(&self, refunds: Vec<RefundInput>) -> Result<UpsertSummary> {
        check_batch("refunds", refunds.len())?;
        let steps = refunds
            .iter()
            .enumerate()
            .map(|(i, r)| {
                check_refund(r)
                    .map(Step::Refund)
                    .map_err(within(&format!("refunds[{i}].")))
            })
            .collect::<Result<Vec<_>>>()?;
        self.apply_order_steps(&steps).await
    }

    /// Records that the shop deleted an order, stored or not: a stored one is marked
    /// `deleted` and no longer counts, and a create or update older than the deletion
    /// is skipped afterwards, while the shop restoring it or a newer update brings it
    /// back. The summary: `updated` when a stored order was marked, `unchanged` for a
    /// deletion known already, `created` when only the deletion could be remembered.
    pub async fn mark_order_deleted(
        &self,
        source: &str,
        external_id: &str,
    ) -> Result<UpsertSummary> {
        let step = Step::Delete(
            check_key("source", source, 100)?,
            check_key("external_id", external_id, 200)?,
        );
        self.apply_order_steps(&[step]).await
    }

    /// Applies checked steps in one transaction, retried when a concurrent writer won a
    /// race; writers touching the same order go one after the other.
    async fn apply_order_steps(&self, steps: &[Step]) -> Result<UpsertSummary> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.store.write().await?;
            let mut summary = UpsertSummary::default();
            let result = async {
                self.lock_orders(&tx, steps).await?;
                // Contacts whose orders or identities changed: one index row each.
                let mut contacts = BTreeSet::new();
                let mut marks = Marks::of(&tx, steps).await?;
                for (i, step) in steps.iter().enumerate() {
                    match step {
                        Step::Order(o) => self
                            .upsert_order(&tx, o, &mut marks, &mut summary, &mut contacts)
                            .await
                            // Names the order, so an import reports it and goes on.
                            .map_err(within(&format!("orders[{i}].")))?,
                        Step::Refund(r) => {
                            let count = match store_refund(&tx, r).await? {
                                Stored::Created => &mut summary.created,
                                Stored::Updated => &mut summary.updated,
                                Stored::Unchanged => &mut summary.unchanged,
                            };
                            *count += 1;
                            marks
                                .refunded
                                .insert((r.source.clone(), r.order_external_id.clone()));
                            recount_refunds(&tx, &r.source, &r.order_external_id, &mut contacts)
                                .await?;
                        }
                        Step::Delete(source, id) => {
                            marks.deleted.insert((source.clone(), id.clone()));
                            delete_order(&tx, source, id, &mut summary, &mut contacts).await?
                        }
                    }
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

    /// On PostgreSQL, a transaction-scoped advisory lock per order the steps touch, so a
    /// refund and its order (or two deliveries of one order) never miss each other's
    /// rows; SQLite writers are serial already. A deadlock between two batches is a
    /// conflict the caller retries.
    async fn lock_orders(&self, tx: &WriteTx, steps: &[Step]) -> Result<()> {
        if !self.store.is_postgres() {
            return Ok(());
        }
        let keys: BTreeSet<String> = steps
            .iter()
            .map(Step::order_key)
            .map(|(source, id)| format!("order\u{1f}{source}\u{1f}{id}"))
            .collect();
        let keys: Vec<String> = keys.into_iter().collect();
        // One round trip per chunk; every writer locks in the same (sorted) order.
        for chunk in keys.chunks(1000) {
            let values = (1..=chunk.len())
                .map(|n| format!("(${n})"))
                .collect::<Vec<_>>()
                .join(",");
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) \
                     FROM (VALUES {values}) AS keys(k)"
                ),
                chunk.iter().map(|k| k.as_str().into()),
            ))
            .await?;
        }
        Ok(())
    }

    /// Validates an order as far as it can be without the store; errors name the field.
    fn check_order(&self, change: OrderChange) -> Result<CheckedOrder> {
        let OrderChange {
            order: o,
            refunds,
            restored,
        } = change;
        let source = check_key("source", &o.source, 100)?;
        let external_id = check_key("external_id", &o.external_id, 200)?;
        let status = check_key("status", &o.status, 50)?.to_lowercase();
        for (field, value, max) in [
            ("number", o.number.as_ref(), 100),
            ("customer.name", o.customer.name.as_ref(), 200),
            ("customer.company", o.customer.company.as_ref(), 200),
        ] {
            if let Some(value) = value {
                if value.trim().len() > max {
                    return Err(Error::invalid(field, format!("longer than {max} bytes")));
                }
                super::check_storable(field, value)?;
            }
        }
        let currency = check_currency("currency", &o.currency)?;
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
        let number = o
            .number
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&external_id)
            .to_owned();
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
                if sku.len() > 200 {
                    return Err(Error::invalid(
                        format!("items[{i}].sku"),
                        "longer than 200 bytes",
                    ));
                }
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
                item.sku
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                item.name.trim().to_owned(),
                item.quantity,
                price,
            ));
        }
        if refunds.len() > 500 {
            return Err(Error::invalid("refunds", "at most 500 refunds"));
        }
        let refunds = refunds
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let r = check_refund(r).map_err(within(&format!("refunds[{i}].")))?;
                if r.source != source || r.order_external_id != external_id {
                    return Err(Error::invalid(
                        format!("refunds[{i}].order_external_id"),
                        "must name this order",
                    ));
                }
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
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
                IdentityClaim::new(IdentityKind::Shop, format!("{source}:{}", id.trim()))
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
                    .map_err(within("customer."))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CheckedOrder {
            source,
            external_id,
            number,
            status,
            currency,
            total_cents,
            refunded_cents,
            items,
            identities,
            normalized,
            refunds,
            restored,
            input: o,
        })
    }

    /// Stores one order and its refunds: skipped when older than the stored state or
    /// than the shop's deletion of it, unchanged when equal to what is stored, else
    /// written with its lines.
    async fn upsert_order(
        &self,
        tx: &WriteTx,
        o: &CheckedOrder,
        marks: &mut Marks,
        summary: &mut UpsertSummary,
        contacts: &mut BTreeSet<i64>,
    ) -> Result<()> {
        let at = now();
        let input = &o.input;
        let source_updated_at = input.updated_at.unwrap_or(input.placed_at);
        let key = (o.source.clone(), o.external_id.clone());
        for r in &o.refunds {
            store_refund(tx, r).await?;
        }
        if !o.refunds.is_empty() {
            marks.refunded.insert(key.clone());
        }
        let existing = find_order(tx, &o.source, &o.external_id).await?;
        let refund_total = if marks.refunded.contains(&key) {
            refund_total(tx, &o.source, &o.external_id, &o.currency).await?
        } else {
            None
        };
        let deletion = if marks.deleted.contains(&key) {
            order_deletion::Entity::find()
                .filter(order_deletion::Column::Source.eq(&o.source))
                .filter(order_deletion::Column::ExternalId.eq(&o.external_id))
                .one(&**tx)
                .await?
        } else {
            None
        };
        let held_back = match &deletion {
            Some(d) if !o.restored => source_updated_at <= d.deleted_at,
            _ => false,
        };
        if held_back
            || existing
                .as_ref()
                .is_some_and(|e| e.source_updated_at > source_updated_at)
        {
            // Refunds that came with a stale delivery still count on the stored order.
            if let Some(e) = &existing {
                set_refunded(tx, e, refund_total, contacts).await?;
            }
            summary.skipped += 1;
            return Ok(());
        }
        if let Some(d) = deletion {
            // Restored, or changed at the shop after the deletion.
            order_deletion::Entity::delete_by_id(d.id)
                .exec(&**tx)
                .await?;
            marks.deleted.remove(&key);
        }
        let (contact_id, contact_changed) = self.order_contact(tx, o, at).await?;
        if contact_changed {
            contacts.insert(contact_id);
        }
        // The shop's own total also counts refunds that came without an id.
        let refunded_cents = match (refund_total, o.refunded_cents) {
            (Some(rows), Some(total)) => rows.max(total),
            (rows, total) => rows
                .or(total)
                .or(existing.as_ref().map(|e| e.refunded_cents))
                .unwrap_or(0),
        };
        let order_id = match existing {
            Some(e) => {
                let same = e.contact_id == contact_id
                    && e.number == o.number
                    && e.status == o.status
                    && e.currency == o.currency
                    && e.total_cents == o.total_cents
                    && e.refunded_cents == refunded_cents
                    && e.placed_at == input.placed_at
                    && e.source_updated_at == source_updated_at
                    && stored_items(tx, e.id).await? == o.items;
                if same {
                    summary.unchanged += 1;
                    return Ok(());
                }
                // An order that changed hands leaves the old contact's document too.
                contacts.insert(e.contact_id);
                contacts.insert(contact_id);
                order::ActiveModel {
                    id: Set(e.id),
                    contact_id: Set(contact_id),
                    number: Set(o.number.clone()),
                    status: Set(o.status.clone()),
                    currency: Set(o.currency.clone()),
                    total_cents: Set(o.total_cents),
                    refunded_cents: Set(refunded_cents),
                    placed_at: Set(input.placed_at),
                    source_updated_at: Set(source_updated_at),
                    updated_at: Set(at),
                    ..Default::default()
                }
                .update(&**tx)
                .await?;
                order_item::Entity::delete_many()
                    .filter(order_item::Column::OrderId.eq(e.id))
                    .exec(&**tx)
                    .await?;
                summary.updated += 1;
                e.id
            }
            None => {
                contacts.insert(contact_id);
                summary.created += 1;
                order::ActiveModel {
                    contact_id: Set(contact_id),
                    source: Set(o.source.clone()),
                    external_id: Set(o.external_id.clone()),
                    number: Set(o.number.clone()),
                    status: Set(o.status.clone()),
                    currency: Set(o.currency.clone()),
                    total_cents: Set(o.total_cents),
                    refunded_cents: Set(refunded_cents),
                    placed_at: Set(input.placed_at),
                    source_updated_at: Set(source_updated_at),
                    created_at: Set(at),
                    updated_at: Set(at),
                    ..Default::default()
                }
                .insert(&**tx)
                .await?
                .id
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
    /// True when the contact is new or gained something (an identity, a name, an
    /// organization), so its search document needs refreshing.
    async fn order_contact(
        &self,
        tx: &WriteTx,
        o: &CheckedOrder,
        at: DateTime<Utc>,
    ) -> Result<(i64, bool)> {
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
        let mut changed = false;
        let contact = match owners.iter().flatten().next() {
            Some(id) => contact::Entity::find_by_id(*id)
                .one(&**tx)
                .await?
                .ok_or_else(|| Error::not_found("contact", id))?,
            None => {
                let resolved = self
                    .resolve_contact(tx, &o.identities[0], &o.normalized[0], name, at)
                    .await?;
                changed = true;
                contact::Entity::find_by_id(resolved.id)
                    .one(&**tx)
                    .await?
                    .ok_or_else(|| Error::not_found("contact", resolved.id))?
            }
        };
        for ((claim, value), owner) in o.identities.iter().zip(&o.normalized).zip(&owners) {
            if owner.is_none() && identity::find(&**tx, claim.kind, value).await?.is_none() {
                identity::insert(&**tx, contact.id, claim.kind, value, true, at).await?;
                changed = true;
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
            changed = true;
        }
        Ok((contact.id, changed))
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

/// Which orders of a batch have refund rows or a remembered deletion: one query per
/// kind and chunk up front, since most orders have neither and then need no look-up of
/// their own. Kept current while the batch runs.
#[derive(Default)]
struct Marks {
    refunded: BTreeSet<(String, String)>,
    deleted: BTreeSet<(String, String)>,
}

impl Marks {
    /// The marks of the orders among `steps`.
    async fn of(tx: &WriteTx, steps: &[Step]) -> Result<Marks> {
        // By source, so the look-ups use the (source, order id) indexes.
        let mut by_source: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for step in steps.iter().filter(|s| matches!(s, Step::Order(_))) {
            let (source, id) = step.order_key();
            by_source.entry(source).or_default().push(id);
        }
        let mut marks = Marks::default();
        for (source, ids) in by_source {
            for chunk in ids.chunks(500) {
                let refunded: Vec<String> = order_refund::Entity::find()
                    .select_only()
                    .column(order_refund::Column::OrderExternalId)
                    .filter(order_refund::Column::Source.eq(source))
                    .filter(order_refund::Column::OrderExternalId.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(&**tx)
                    .await?;
                let deleted: Vec<String> = order_deletion::Entity::find()
                    .select_only()
                    .column(order_deletion::Column::ExternalId)
                    .filter(order_deletion::Column::Source.eq(source))
                    .filter(order_deletion::Column::ExternalId.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(&**tx)
                    .await?;
                let keyed = |id: String| (source.to_owned(), id);
                marks.refunded.extend(refunded.into_iter().map(keyed));
                marks.deleted.extend(deleted.into_iter().map(keyed));
            }
        }
        Ok(marks)
    }
}

/// Refuses an empty or oversized batch.
fn check_batch(field: &str, len: usize) -> Result<()> {
    if len == 0 {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if len > MAX_BATCH {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_BATCH} per request"),
        ));
    }
    Ok(())
}

/// The stored order with this key, if any.
async fn find_order(tx: &WriteTx, source: &str, external_id: &str) -> Result<Option<order::Model>> {
    Ok(order::Entity::find()
        .filter(order::Column::Source.eq(source))
        .filter(order::Column::ExternalId.eq(external_id))
        .one(&**tx)
        .await?)
}

/// A stored order's lines in the form a checked order carries them.
async fn stored_items(tx: &WriteTx, order_id: i64) -> Result<Vec<CheckedItem>> {
    Ok(order_item::Entity::find()
        .filter(order_item::Column::OrderId.eq(order_id))
        .order_by_asc(order_item::Column::Id)
        .all(&**tx)
        .await?
        .into_iter()
        .map(|i| (i.sku, i.name, i.quantity, i.unit_price_cents))
        .collect())
}

/// What storing a row did.
enum Stored {
    Created,
    Updated,
    Unchanged,
}

/// Stores a refund once by (source, refund id); a refund reported again with another
/// amount (a correction at the shop) replaces the stored one.
async fn store_refund(tx: &WriteTx, r: &CheckedRefund) -> Result<Stored> {
    let existing = order_refund::Entity::find()
        .filter(order_refund::Column::Source.eq(&r.source))
        .filter(order_refund::Column::ExternalId.eq(&r.external_id))
        .one(&**tx)
        .await?;
    match existing {
        Some(e)
            if e.order_external_id == r.order_external_id
                && e.amount_cents == r.amount_cents
                && e.currency == r.currency =>
        {
            Ok(Stored::Unchanged)
        }
        Some(e) => {
            order_refund::ActiveModel {
                id: Set(e.id),
                order_external_id: Set(r.order_external_id.clone()),
                amount_cents: Set(r.amount_cents),
                currency: Set(r.currency.clone()),
                refunded_at: Set(r.refunded_at),
                ..Default::default()
            }
            .update(&**tx)
            .await?;
            Ok(Stored::Updated)
        }
        None => {
            order_refund::ActiveModel {
                source: Set(r.source.clone()),
                external_id: Set(r.external_id.clone()),
                order_external_id: Set(r.order_external_id.clone()),
                amount_cents: Set(r.amount_cents),
                currency: Set(r.currency.clone()),
                refunded_at: Set(r.refunded_at),
                created_at: Set(now()),
                ..Default::default()
            }
            .insert(&**tx)
            .await?;
            Ok(Stored::Created)
        }
    }
}

/// The sum of an order's refund rows in its currency; None when it has none (then the
/// shop's `refunded` total stands). Refunds in another currency (a shop's presentment
/// currency) are not added to amounts they cannot be compared with.
async fn refund_total(
    tx: &WriteTx,
    source: &str,
    order_external_id: &str,
    currency: &str,
) -> Result<Option<i64>> {
    let amounts: Vec<i64> = order_refund::Entity::find()
        .select_only()
        .column(order_refund::Column::AmountCents)
        .filter(order_refund::Column::Source.eq(source))
        .filter(order_refund::Column::OrderExternalId.eq(order_external_id))
        .filter(order_refund::Column::Currency.eq(currency))
        .into_tuple()
        .all(&**tx)
        .await?;
    Ok((!amounts.is_empty()).then(|| amounts.iter().sum()))
}

/// Raises a stored order's `refunded` to its refund rows' sum when that is more (the
/// stored total may also hold refunds the shop sent without an id).
async fn set_refunded(
    tx: &WriteTx,
    order: &order::Model,
    total: Option<i64>,
    contacts: &mut BTreeSet<i64>,
) -> Result<()> {
    if let Some(cents) = total.filter(|c| *c > order.refunded_cents) {
        order::ActiveModel {
            id: Set(order.id),
            refunded_cents: Set(cents),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&**tx)
        .await?;
        contacts.insert(order.contact_id);
    }
    Ok(())
}

/// Recomputes a stored order's `refunded` from its refund rows; nothing when the order
/// is not stored yet.
async fn recount_refunds(
    tx: &WriteTx,
    source: &str,
    order_external_id: &str,
    contacts: &mut BTreeSet<i64>,
) -> Result<()> {
    if let Some(order) = find_order(tx, source, order_external_id).await? {
        let total = refund_total(tx, source, order_external_id, &order.currency).await?;
        set_refunded(tx, &order, total, contacts).await?;
    }
    Ok(())
}

/// The status of an order the shop deleted; it no longer counts towards customer value.
pub const DELETED: &str = "deleted";

/// Remembers the shop's deletion of an order and marks a stored one `deleted`.
async fn delete_order(
    tx: &WriteTx,
    source: &str,
    external_id: &str,
    summary: &mut UpsertSummary,
    contacts: &mut BTreeSet<i64>,
) -> Result<()> {
    let known = order_deletion::Entity::find()
        .filter(order_deletion::Column::Source.eq(source))
        .filter(order_deletion::Column::ExternalId.eq(external_id))
        .one(&**tx)
        .await?
        .is_some();
    if !known {
        order_deletion::ActiveModel {
            source: Set(source.to_owned()),
            external_id: Set(external_id.to_owned()),
            deleted_at: Set(now()),
            ..Default::default()
        }
        .insert(&**tx)
        .await?;
    }
    match find_order(tx, source, external_id).await? {
        Some(found) if found.status != DELETED => {
            order::ActiveModel {
                id: Set(found.id),
                status: Set(DELETED.into()),
                updated_at: Set(now()),
                ..Default::default()
            }
            .update(&**tx)
            .await?;
            contacts.insert(found.contact_id);
            summary.updated += 1;
        }
        Some(_) => summary.unchanged += 1,
        None if known => summary.unchanged += 1,
        None => summary.created += 1,
    }
    Ok(())
}

/// Deletes the refund rows of these orders (by source and the shop's order id): part of
/// erasing a contact, inside the caller's transaction.
pub(crate) async fn erase_refunds<'a>(
    db: &impl ConnectionTrait,
    orders: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<u64> {
    let orders: Vec<(&str, &str)> = orders.collect();
    let mut n = 0;
    // Two parameters per order, well inside both engines' limits.
    for chunk in orders.chunks(250) {
        let mut any = Condition::any();
        for (source, external_id) in chunk {
            any = any.add(
                Condition::all()
                    .add(order_refund::Column::Source.eq(*source))
                    .add(order_refund::Column::OrderExternalId.eq(*external_id)),
            );
        }
        n += order_refund::Entity::delete_many()
            .filter(any)
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(n)
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
