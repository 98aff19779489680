//! Contacts: the customer record beside every ticket — identities, organization, orders,
//! earlier tickets and customer value — and the agent's edits to it (update, add an
//! identity, merge two contacts into one), and an admin's erasure of everything personal
//! about a customer (the right to erasure).
//!
//! Every change to what a contact's search document holds (name, identities, orders,
//! tags, organization) writes an index row for the contact in its transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::identity::{self, IdentityClaim, IdentityKind, normalize};
use super::ingest::record;
use super::orders::OrderView;
use super::{Actor, Desk, Error, Result};
use crate::outbox;
use crate::store::{WriteTx, now};
use entity::{
    attachment, call, contact, message, order, order_item, organization, ticket, ticket_event,
    visitor,
};

/// Everything the contact panel shows.
#[derive(Debug, Serialize)]
pub struct ContactDetail {
    pub contact: contact::Model,
    pub organization: Option<organization::Model>,
    pub identities: Vec<entity::identity::Model>,
    pub value: CustomerValue,
    /// Newest first.
    pub orders: Vec<OrderView>,
    /// Newest first.
    pub tickets: Vec<ticket::Model>,
}

/// What a customer is worth to the shop: orders and their totals.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct CustomerValue {
    pub order_count: i64,
    /// Sum of order totals net of refunds, in minor units, one entry per currency.
    pub lifetime: Vec<Money>,
    /// What the shop paid back, one entry per currency (zero amounts too).
    pub refunded: Vec<Money>,
    /// The net lifetime value divided by the number of orders, per currency (rounded).
    pub average: Vec<Money>,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
}

/// An amount in minor units of a currency.
#[derive(Debug, Serialize, PartialEq)]
pub struct Money {
    pub currency: String,
    pub cents: i64,
}

/// An agent's edit of a contact; absent fields stay, `null` clears.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    #[serde(default, deserialize_with = "some")]
    pub name: Option<Option<String>>,
    /// The organization's name; created when new.
    #[serde(default, deserialize_with = "some")]
    pub organization: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some")]
    pub notes: Option<Option<String>>,
}

/// Tells "absent" (None) from "null" (Some(None)) in a JSON patch.
pub(crate) fn some<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// What erasing a contact removed, for the admin who asked and the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// The contact and the contacts merged into it.
    pub contacts: u64,
    pub tickets: u64,
    /// Messages on those tickets, and the ones the contacts wrote on other tickets.
    pub messages: u64,
    pub orders: u64,
    pub calls: u64,
}

/// One currency's orders: currency, count, total and refunded cents, first and last order.
type CurrencyTotals = (String, i64, i64, i64, DateTime<Utc>, DateTime<Utc>);

/// Orders shown in the contact panel; the value covers all of them.
const PANEL_ORDERS: u64 = 50;
const PANEL_TICKETS: u64 = 50;
/// Order statuses that do not count towards customer value (`deleted` marks an order
/// the shop deleted; `trash` and `failed` are WooCommerce's).
pub const VOID_ORDER_STATUSES: [&str; 6] = [
    "cancelled",
    "canceled",
    "voided",
    "deleted",
    "trash",
    "failed",
];

impl Desk {
    pub async fn contact(&self, id: i64) -> Result<contact::Model> {
        contact::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("contact", id))
    }

    /// The contact with everything the panel shows.
    pub async fn contact_detail(&self, id: i64) -> Result<ContactDetail> {
        let db = self.store.db();
        let contact = self.contact(id).await?;
        let organization = match contact.organization_id {
            Some(org) => organization::Entity::find_by_id(org).one(db).await?,
            None => None,
        };
        let identities = entity::identity::Entity::find()
            .filter(entity::identity::Column::ContactId.eq(id))
            .order_by_asc(entity::identity::Column::Id)
            .all(db)
            .await?;
        let orders = self.contact_orders(id, PANEL_ORDERS).await?;
        let tickets = self.contact_tickets(id, PANEL_TICKETS).await?;
        let value = self.customer_value(id).await?;
        Ok(ContactDetail {
            contact,
            organization,
            identities,
            value,
            orders,
            tickets,
        })
    }

    /// Order count, lifetime value (net of refunds), refunds and average order per currency,
    /// first and last order: one aggregate query.
    pub async fn customer_value(&self, contact_id: i64) -> Result<CustomerValue> {
        let rows: Vec<CurrencyTotals> = order::Entity::find()
            .select_only()
            .column(order::Column::Currency)
            .column_as(Expr::cust("COUNT(*)"), "n")
            .column_as(Expr::cust("CAST(SUM(total_cents) AS BIGINT)"), "total")
            .column_as(
                Expr::cust("CAST(SUM(refunded_cents) AS BIGINT)"),
                "refunded",
            )
            .column_as(order::Column::PlacedAt.min(), "first")
            .column_as(order::Column::PlacedAt.max(), "last")
            .filter(order::Column::ContactId.eq(contact_id))
            .filter(order::Column::Status.is_not_in(VOID_ORDER_STATUSES))
            .group_by(order::Column::Currency)
            .order_by_asc(order::Column::Currency)
            .into_tuple()
            .all(self.store.db())
            .await?;
        let mut value = CustomerValue::default();
        for (currency, n, total, refunded, first, last) in rows {
            value.order_count += n;
            let net = total - refunded;
            let average = if n > 0 {
                (net + net.signum() * n / 2) / n
            } else {
                0
            };
            value.lifetime.push(Money {
                currency: currency.clone(),
                cents: net,
            });
            value.refunded.push(Money {
                currency: currency.clone(),
                cents: refunded,
            });
            value.average.push(Money {
                currency,
                cents: average,
            });
            value.first_order_at = Some(value.first_order_at.map_or(first, |f| f.min(first)));
            value.last_order_at = Some(value.last_order_at.map_or(last, |l| l.max(last)));
        }
        Ok(value)
    }

    /// The contact owning an identity, given in any format (`kind` email or phone …).
    pub async fn lookup_contact(&self, kind: IdentityKind, value: &str) -> Result<contact::Model> {
        let value = normalize(kind, value, self.rules.default_region)?;
        let found = identity::find(self.store.db(), kind, &value)
            .await?
            .ok_or_else(|| Error::not_found("contact with identity", format!("{kind}:{value}")))?;
        self.contact(found.contact_id).await
    }

    /// Applies an agent's edit.
    pub async fn update_contact(&self, id: i64, change: &ContactUpdate) -> Result<contact::Model> {
        let at = now();
        let tx = self.store.write().await?;
        let c = live_contact(&tx, id).await?;
        let mut update = contact::ActiveModel {
            id: Set(c.id),
            updated_at: Set(at),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            let name = name.as_deref().map(str::trim).filter(|n| !n.is_empty());
            if name.is_some_and(|n| n.len() > 200) {
                return Err(Error::invalid("name", "longer than 200 bytes"));
            }
            if let Some(n) = name {
                super::check_storable("name", n)?;
            }
            update.name = Set(name.map(str::to_owned));
        }
        if let Some(org) = &change.organization {
            let org_id = match org.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(name) => Some(self.organization_named(&tx, name, at).await?),
                None => None,
            };
            update.organization_id = Set(org_id);
        }
        if let Some(tags) = &change.tags {
            update.tags = Set(json!(clean_tags(tags)?));
        }
        if let Some(notes) = &change.notes {
            if notes.as_ref().is_some_and(|n| n.len() > MAX_NOTES) {
                return Err(Error::invalid("notes", "longer than 64 KiB"));
            }
            if let Some(n) = notes {
                super::check_storable("notes", n)?;
            }
            update.notes = Set(notes.clone().filter(|n| !n.trim().is_empty()));
        }
        let c = update.update(&*tx).await?;
        index_contact(&*tx, c.id).await?;
        tx.commit().await?;
        self.committed();
        Ok(c)
    }

    /// Finds or creates an organization by exact name.
    pub(crate) async fn organization_named(
        &self,
        tx: &WriteTx,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        if name.len() > 200 {
            return Err(Error::invalid("organization", "longer than 200 bytes"));
        }
        super::check_storable("organization", name)?;
        if let Some(o) = organization::Entity::find()
            .filter(organization::Column::Name.eq(name))
            .one(&**tx)
            .await?
        {
            return Ok(o.id);
        }
        Ok(organization::ActiveModel {
            name: Set(name.to_owned()),
            created_at: Set(at),
            ..Default::default()
        }
        .insert(&**tx)
        .await?
        .id)
    }

    /// Creates a contact with one identity (an agent's "create contact" for an unknown
    /// caller). An identity someone already has is a conflict naming that contact.
    pub async fn create_contact(
        &self,
        name: Option<&str>,
        claim: &IdentityClaim,
        actor: Actor,
    ) -> Result<contact::Model> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = name {
            super::check_text("name", n, 200)?;
        }
        let mut claim = claim.clone();
        if matches!(actor, Actor::Agent(_)) {
            claim = claim.verified();
        }
        let value = claim.normalized(self.rules.default_region)?;
        let tx = self.store.write().await?;
        if let Some(i) = identity::find(&*tx, claim.kind, &value).await? {
            return Err(Error::Conflict {
                code: "identity_taken",
                message: format!(
                    "{}:{} belongs to contact {}",
                    claim.kind, value, i.contact_id
                ),
            });
        }
        let at = now();
        let c = insert_contact(&*tx, name, at).await?;
        identity::insert(&*tx, c.id, claim.kind, &value, claim.verified, at).await?;
        index_contact(&*tx, c.id).await?;
        tx.commit().await?;
        self.committed();
        Ok(c)
    }

    /// Attaches an identity to a contact. An identity an agent adds is verified (they
    /// talked to the customer). An identity that belongs to another contact is a
    /// conflict: the agent merges the two contacts instead.
    pub async fn add_identity(
        &self,
        contact_id: i64,
        claim: &IdentityClaim,
        actor: Actor,
    ) -> Result<entity::identity::Model> {
        let vouched;
        let claim = if matches!(actor, Actor::Agent(_)) && !claim.verified {
            vouched = claim.clone().verified();
            &vouched
        } else {
            claim
        };
        let value = claim.normalized(self.rules.default_region)?;
        let tx = self.store.write().await?;
        let c = live_contact(&tx, contact_id).await?;
        let existing = identity::find(&*tx, claim.kind, &value).await?;
        let id = match existing {
            Some(i) if i.contact_id != c.id => {
                return Err(Error::Conflict {
                    code: "identity_taken",
                    message: format!(
                        "{}:{} belongs to contact {}; merge the contacts instead",
                        claim.kind, value, i.contact_id
                    ),
                });
            }
            Some(i) if claim.verified => identity::mark_verified(&*tx, i).await?,
            Some(i) => i,
            None => {
                let i =
                    identity::insert(&*tx, c.id, claim.kind, &value, claim.verified, now()).await?;
                index_contact(&*tx, c.id).await?;
                i
            }
        };
        tx.commit().await?;
        self.committed();
        Ok(id)
    }

    /// Merges `source` into `target`: identities, tickets, orders and messages move to the
    /// target, which keeps its own name and organization (taking the source's where it
    /// has none); the source remains as a pointer to the target.
    pub async fn merge_contacts(
        &self,
        target_id: i64,
        source_id: i64,
        actor: Actor,
    ) -> Result<contact::Model> {
        if target_id == source_id {
            return Err(Error::invalid(
                "contact_id",
                "cannot merge a contact into itself",
            ));
        }
        let at = now();
        let tx = self.store.write().await?;
        // Lock both in id order so two opposite merges cannot deadlock.
        for id in [target_id.min(source_id), target_id.max(source_id)] {
            self.store.lock_row(&tx, "contact", id).await?;
        }
        let target = live_contact(&tx, target_id).await?;
        let source = live_contact(&tx, source_id).await.map_err(|e| match e {
            Error::Conflict { message, .. } => Error::invalid("contact_id", message),
            other => other,
        })?;

        entity::identity::Entity::update_many()
            .col_expr(entity::identity::Column::ContactId, Expr::value(target.id))
            .filter(entity::identity::Column::ContactId.eq(source.id))
            .exec(&*tx)
            .await?;
        order::Entity::update_many()
            .col_expr(order::Column::ContactId, Expr::value(target.id))
            .filter(order::Column::ContactId.eq(source.id))
            .exec(&*tx)
            .await?;
        message::Entity::update_many()
            .col_expr(message::Column::AuthorContactId, Expr::value(target.id))
            .filter(message::Column::AuthorContactId.eq(source.id))
            .exec(&*tx)
            .await?;
        // What the customer said about the service stays theirs.
        entity::feedback::Entity::update_many()
            .col_expr(entity::feedback::Column::ContactId, Expr::value(target.id))
            .filter(entity::feedback::Column::ContactId.eq(source.id))
            .exec(&*tx)
            .await?;
        let moved: Vec<i64> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::ContactId.eq(source.id))
            .into_tuple()
            .all(&*tx)
            .await?;
        ticket::Entity::update_many()
            .col_expr(ticket::Column::ContactId, Expr::value(target.id))
            .col_expr(ticket::Column::UpdatedAt, Expr::value(at))
            .filter(ticket::Column::ContactId.eq(source.id))
            .exec(&*tx)
            .await?;
        for ticket_id in &moved {
            record(
                &*tx,
                *ticket_id,
                actor,
                "contact_merged",
                json!({"from": source.id, "to": target.id}),
                at,
            )
            .await?;
            crate::outbox::enqueue(
                &*tx,
                crate::outbox::kind::INDEX,
                json!({"ticket_id": ticket_id}),
            )
            .await?;
        }
        // Contacts merged into the source earlier now point at the survivor.
        contact::Entity::update_many()
            .col_expr(contact::Column::MergedIntoId, Expr::value(target.id))
            .filter(contact::Column::MergedIntoId.eq(source.id))
            .exec(&*tx)
            .await?;

        let mut tags: Vec<String> = serde_json::from_value(target.tags.clone()).unwrap_or_default();
        for t in serde_json::from_value::<Vec<String>>(source.tags.clone()).unwrap_or_default() {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        tags.truncate(MAX_TAGS);
        let notes = match (&target.notes, &source.notes) {
            (Some(a), Some(b)) => Some(truncate_at(format!("{a}\n\n{b}"), MAX_NOTES)),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let merged = contact::ActiveModel {
            id: Set(target.id),
            name: Set(target.name.clone().or(source.name.clone())),
            organization_id: Set(target.organization_id.or(source.organization_id)),
            tags: Set(json!(tags)),
            notes: Set(notes),
            updated_at: Set(at),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        contact::ActiveModel {
            id: Set(source.id),
            merged_into_id: Set(Some(target.id)),
            updated_at: Set(at),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        // The source's document goes; the survivor's gains its identities and orders.
        index_contact(&*tx, source.id).await?;
        index_contact(&*tx, target.id).await?;
        tx.commit().await?;
        self.committed();
        for ticket_id in moved {
            self.announce(ticket_id, None).await;
        }
        Ok(merged)
    }

    /// Erases a customer (the right to erasure): in one transaction the contact, the
    /// contacts merged into it, their identities, tickets with messages, attachments and
    /// history, orders, calls, widget visitors and replies not yet sent; the indexer
    /// deletes their search documents through the outbox. Attachment bytes no remaining
    /// message uses are deleted after commit. A contact merged into another is refused,
    /// naming the live record to erase. The history goes with the tickets, so the log
    /// line is what records who erased whom.
    pub async fn erase_contact(&self, id: i64, actor: Actor) -> Result<Erased> {
        let tx = self.store.write().await?;
        // Writers that attach something to the contact wait for the erasure (and then
        // fail) rather than leave a row behind that points at nothing.
        self.store.lock_row(&tx, "contact", id).await?;
        let root = contact::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("contact", id))?;
        if let Some(into) = root.merged_into_id {
            return Err(Error::Conflict {
                code: "contact_merged",
                message: format!(
                    "contact {id} was merged into contact {into}; erase contact {into} instead"
                ),
            });
        }
        let (erased, shas) = erase_in(&tx, root.id).await?;
        tx.commit().await?;
        self.committed();

        // Bytes are stored once by content, so another message may still use them. The
        // erasure has committed: a failure here is logged, not returned.
        let shas: Vec<String> = shas.into_iter().collect();
        let mut blobs = 0u64;
        match ids_in::<attachment::Entity, _, String>(
            self.store.db(),
            &[attachment::Column::Sha256],
            attachment::Column::Sha256,
            &shas,
        )
        .await
        {
            Ok(kept) => {
                let kept: BTreeSet<String> = kept.into_iter().collect();
                for sha in shas.iter().filter(|s| !kept.contains(*s)) {
                    match self.blobs.remove(sha).await {
                        Ok(removed) => blobs += u64::from(removed),
                        Err(e) => {
                            tracing::warn!(sha, "bytes of an erased attachment not deleted: {e}")
                        }
                    }
                }
            }
            Err(e) => tracing::error!(
                contact = id,
                "bytes of erased attachments not deleted, their use is unknown: {e}"
            ),
        }
        tracing::info!(
            actor = actor.kind(),
            actor_id = actor.id(),
            contact = id,
            contacts = erased.contacts,
            tickets = erased.tickets,
            messages = erased.messages,
            orders = erased.orders,
            calls = erased.calls,
            blobs,
            "contact erased"
        );
        Ok(erased)
    }
}

/// Ids per `IN (…)` list, well inside both engines' limits on parameters.
const CHUNK: usize = 500;

/// The `select` columns of the rows of `E` whose `filter` column is one of `values`.
async fn ids_in<E, V, T>(
    db: &impl ConnectionTrait,
    select: &[E::Column],
    filter: E::Column,
    values: &[V],
) -> Result<Vec<T>>
where
    E: EntityTrait,
    V: Into<sea_orm::Value> + Clone,
    T: sea_orm::TryGetableMany,
{
    let mut out = Vec::new();
    for chunk in values.chunks(CHUNK) {
        out.extend(
            E::find()
                .select_only()
                .columns(select.iter().copied())
                .filter(filter.is_in(chunk.iter().cloned()))
                .into_tuple::<T>()
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Deletes the rows of `E` whose `filter` column is one of `values`; returns how many.
async fn delete_in<E, V>(db: &impl ConnectionTrait, filter: E::Column, values: &[V]) -> Result<u64>
where
    E: EntityTrait,
    V: Into<sea_orm::Value> + Clone,
{
    let mut n = 0;
    for chunk in values.chunks(CHUNK) {
        n += E::delete_many()
            .filter(filter.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(n)
}

/// The work of [`Desk::erase_contact`] inside its transaction, children before parents
/// since both engines enforce the foreign keys. Returns the summary and the content
/// hashes of the attachments it removed.
async fn erase_in(tx: &WriteTx, root: i64) -> Result<(Erased, BTreeSet<String>)> {
    let db = &**tx;
    // A merge points every earlier source at the survivor; chains are followed anyway.
    let mut contacts = vec![root];
    let mut frontier = vec![root];
    while !frontier.is_empty() {
        let merged: Vec<i64> = ids_in::<contact::Entity, _, _>(
            db,
            &[contact::Column::Id],
            contact::Column::MergedIntoId,
            &frontier,
        )
        .await?;
        frontier = merged
            .into_iter()
            .filter(|c| !contacts.contains(c))
            .collect();
        contacts.extend(&frontier);
    }
    let tickets: Vec<i64> = ids_in::<ticket::Entity, _, _>(
        db,
        &[ticket::Column::Id],
        ticket::Column::ContactId,
        &contacts,
    )
    .await?;
    let ticket_set: BTreeSet<i64> = tickets.iter().copied().collect();

    // Their tickets' messages, and what they wrote on other customers' tickets (a reply
    // to a thread they were copied on): their words and their address.
    let mut messages: BTreeSet<i64> = ids_in::<message::Entity, _, i64>(
        db,
        &[message::Column::Id],
        message::Column::TicketId,
        &tickets,
    )
    .await?
    .into_iter()
    .collect();
    let written: Vec<(i64, i64)> = ids_in::<message::Entity, _, (i64, i64)>(
        db,
        &[message::Column::Id, message::Column::TicketId],
        message::Column::AuthorContactId,
        &contacts,
    )
    .await?;
    let mut touched = BTreeSet::new();
    for (m, t) in written {
        messages.insert(m);
        if !ticket_set.contains(&t) {
            touched.insert(t);
        }
    }

    let shas: BTreeSet<String> = ids_in::<attachment::Entity, _, String>(
        db,
        &[attachment::Column::Sha256],
        attachment::Column::MessageId,
        &messages.iter().copied().collect::<Vec<_>>(),
    )
    .await?
    .into_iter()
    .collect();
    let message_ids: Vec<i64> = messages.iter().copied().collect();
    delete_in::<attachment::Entity, _>(db, attachment::Column::MessageId, &message_ids).await?;

    // Nothing goes out to them afterwards: replies waiting for delivery, mail copies.
    let queued: Vec<(i64, serde_json::Value)> = entity::outbox::Entity::find()
        .select_only()
        .column(entity::outbox::Column::Id)
        .column(entity::outbox::Column::Payload)
        .filter(entity::outbox::Column::Kind.is_in([outbox::kind::DELIVER, outbox::kind::EMAIL]))
        .into_tuple()
        .all(db)
        .await?;
    let unsent: Vec<i64> = queued
        .into_iter()
        .filter(|(_, payload)| {
            payload
                .get("message_id")
                .and_then(serde_json::Value::as_i64)
                .is_some_and(|m| messages.contains(&m))
        })
        .map(|(row, _)| row)
        .collect();
    delete_in::<entity::outbox::Entity, _>(db, entity::outbox::Column::Id, &unsent).await?;

    let identities: Vec<(String, String)> =
        ids_in::<entity::identity::Entity, _, (String, String)>(
            db,
            &[
                entity::identity::Column::Kind,
                entity::identity::Column::Value,
            ],
            entity::identity::Column::ContactId,
            &contacts,
        )
        .await?;
    let of_kind = |kind: IdentityKind| -> Vec<String> {
        identities
            .iter()
            .filter(|(k, _)| k == kind.as_str())
            .map(|(_, v)| v.clone())
            .collect()
    };
    let (phones, visitors) = (of_kind(IdentityKind::Phone), of_kind(IdentityKind::Visitor));

    // Their calls: by contact, by call-back ticket, and calls from or to their number
    // that never found a contact.
    let mut calls: BTreeSet<i64> = BTreeSet::new();
    calls.extend(
        ids_in::<call::Entity, _, i64>(db, &[call::Column::Id], call::Column::ContactId, &contacts)
            .await?,
    );
    calls.extend(
        ids_in::<call::Entity, _, i64>(db, &[call::Column::Id], call::Column::TicketId, &tickets)
            .await?,
    );
    for chunk in phones.chunks(CHUNK) {
        calls.extend(
            call::Entity::find()
                .select_only()
                .column(call::Column::Id)
                .filter(call::Column::ContactId.is_null())
                .filter(
                    Condition::any()
                        .add(call::Column::FromNumber.is_in(chunk.iter().cloned()))
                        .add(call::Column::ToNumber.is_in(chunk.iter().cloned())),
                )
                .into_tuple::<i64>()
                .all(db)
                .await?,
        );
    }
    let calls: Vec<i64> = calls.into_iter().collect();
    let call_count = delete_in::<call::Entity, _>(db, call::Column::Id, &calls).await?;

    // Their feedback, surveys and complaints.
    super::feedback::erase_feedback(db, &tickets, &contacts).await?;
    delete_in::<ticket_event::Entity, _>(db, ticket_event::Column::TicketId, &tickets).await?;
    // A later ticket, theirs or anyone's, no longer continues an erased one.
    for chunk in tickets.chunks(CHUNK) {
        ticket::Entity::update_many()
            .col_expr(
                ticket::Column::PreviousTicketId,
                Expr::value(Option::<i64>::None),
            )
            .filter(ticket::Column::PreviousTicketId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    let message_count =
        delete_in::<message::Entity, _>(db, message::Column::Id, &message_ids).await?;

    let orders: Vec<(i64, String, String)> = ids_in::<order::Entity, _, _>(
        db,
        &[
            order::Column::Id,
            order::Column::Source,
            order::Column::ExternalId,
        ],
        order::Column::ContactId,
        &contacts,
    )
    .await?;
    // Their orders' refunds, kept by the shop's order id (see desk::orders).
    super::orders::erase_refunds(db, orders.iter().map(|(_, s, e)| (s.as_str(), e.as_str())))
        .await?;
    let orders: Vec<i64> = orders.into_iter().map(|(id, _, _)| id).collect();
    delete_in::<order_item::Entity, _>(db, order_item::Column::OrderId, &orders).await?;
    let order_count = delete_in::<order::Entity, _>(db, order::Column::Id, &orders).await?;

    delete_in::<entity::identity::Entity, _>(db, entity::identity::Column::ContactId, &contacts)
        .await?;
    delete_in::<visitor::Entity, _>(db, visitor::Column::Id, &visitors).await?;
    let ticket_count = delete_in::<ticket::Entity, _>(db, ticket::Column::Id, &tickets).await?;

    let organizations: Vec<i64> = ids_in::<contact::Entity, _, Option<i64>>(
        db,
        &[contact::Column::OrganizationId],
        contact::Column::Id,
        &contacts,
    )
    .await?
    .into_iter()
    .flatten()
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect();
    let contact_count = delete_in::<contact::Entity, _>(db, contact::Column::Id, &contacts).await?;
    // An organization no one belongs to any more may be a household's name.
    let still: BTreeSet<i64> = ids_in::<contact::Entity, _, Option<i64>>(
        db,
        &[contact::Column::OrganizationId],
        contact::Column::OrganizationId,
        &organizations,
    )
    .await?
    .into_iter()
    .flatten()
    .collect();
    let orphans: Vec<i64> = organizations
        .into_iter()
        .filter(|o| !still.contains(o))
        .collect();
    delete_in::<organization::Entity, _>(db, organization::Column::Id, &orphans).await?;

    // The indexer deletes the documents of what is gone and refreshes the other
    // customers' tickets that lost a message.
    let rows: Vec<entity::outbox::ActiveModel> = tickets
        .iter()
        .chain(&touched)
        .map(|t| outbox::row(outbox::kind::INDEX, json!({"ticket_id": t})))
        .chain(
            contacts
                .iter()
                .map(|c| outbox::row(outbox::kind::INDEX, json!({"contact_id": c}))),
        )
        .collect();
    for chunk in rows.chunks(CHUNK) {
        entity::outbox::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }

    Ok((
        Erased {
            contacts: contact_count,
            tickets: ticket_count,
            messages: message_count,
            orders: order_count,
            calls: call_count,
        },
        shas,
    ))
}

/// Queues the refresh of a contact's search document, and of its tickets' (they show
/// the contact's name, identities, orders and tags), in the caller's transaction.
pub(crate) async fn index_contact<C: ConnectionTrait>(db: &C, contact_id: i64) -> Result<()> {
    outbox::enqueue(db, outbox::kind::INDEX, json!({"contact_id": contact_id})).await?;
    Ok(())
}

/// Stores a new contact with nothing but a name.
pub(crate) async fn insert_contact<C: sea_orm::ConnectionTrait>(
    db: &C,
    name: Option<&str>,
    at: DateTime<Utc>,
) -> Result<contact::Model> {
    Ok(contact::ActiveModel {
        name: Set(name.map(str::to_owned)),
        organization_id: Set(None),
        tags: Set(json!([])),
        notes: Set(None),
        merged_into_id: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Gives a contact a name when it has none yet; true when it did.
pub(crate) async fn name_if_missing<C: sea_orm::ConnectionTrait>(
    db: &C,
    contact_id: i64,
    name: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let res = contact::Entity::update_many()
        .col_expr(contact::Column::Name, Expr::value(name))
        .col_expr(contact::Column::UpdatedAt, Expr::value(at))
        .filter(contact::Column::Id.eq(contact_id))
        .filter(contact::Column::Name.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// A contact that has not been merged away; edits to a merged contact are refused.
async fn live_contact(tx: &WriteTx, id: i64) -> Result<contact::Model> {
    let c = contact::Entity::find_by_id(id)
        .one(&**tx)
        .await?
        .ok_or_else(|| Error::not_found("contact", id))?;
    if let Some(into) = c.merged_into_id {
        return Err(Error::Conflict {
            code: "contact_merged",
            message: format!("contact {id} was merged into contact {into}"),
        });
    }
    Ok(c)
}

/// Most tags on a contact.
const MAX_TAGS: usize = 50;
/// Longest notes on a contact, in bytes.
const MAX_NOTES: usize = 64 * 1024;

/// Cuts text to at most `max` bytes at a character boundary.
fn truncate_at(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim();
        if t.is_empty() || t.len() > 50 || t.chars().any(char::is_control) {
            return Err(Error::invalid("tags", format!("not a valid tag: {t:?}")));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}
