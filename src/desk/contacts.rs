//! Contacts: the customer record beside every ticket — identities, organization, orders,
//! earlier tickets and customer value — and the agent's edits to it (update, add an
//! identity, merge two contacts into one).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::identity::{self, IdentityClaim, IdentityKind, normalize};
use super::ingest::record;
use super::orders::OrderView;
use super::{Actor, Desk, Error, Result};
use crate::store::{WriteTx, now};
use entity::{contact, message, order, organization, ticket};

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
    /// Sum of order totals in minor units, one entry per currency.
    pub lifetime: Vec<Money>,
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

/// One currency's orders: currency, count, total cents, first and last order.
type CurrencyTotals = (String, i64, i64, DateTime<Utc>, DateTime<Utc>);

/// Orders shown in the contact panel; the value covers all of them.
const PANEL_ORDERS: u64 = 50;
const PANEL_TICKETS: u64 = 50;
/// Order statuses that do not count towards customer value.
pub const VOID_ORDER_STATUSES: [&str; 3] = ["cancelled", "canceled", "voided"];

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

    /// Order count, lifetime value per currency, first and last order: one aggregate query.
    pub async fn customer_value(&self, contact_id: i64) -> Result<CustomerValue> {
        let rows: Vec<CurrencyTotals> = order::Entity::find()
            .select_only()
            .column(order::Column::Currency)
            .column_as(Expr::cust("COUNT(*)"), "n")
            .column_as(Expr::cust("CAST(SUM(total_cents) AS BIGINT)"), "total")
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
        for (currency, n, cents, first, last) in rows {
            value.order_count += n;
            value.lifetime.push(Money { currency, cents });
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
        tx.commit().await?;
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
        tx.commit().await?;
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
            None => identity::insert(&*tx, c.id, claim.kind, &value, claim.verified, now()).await?,
        };
        tx.commit().await?;
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
        tx.commit().await?;
        self.committed();
        for ticket_id in moved {
            self.announce(ticket_id, None).await;
        }
        Ok(merged)
    }
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

/// Gives a contact a name when it has none yet.
pub(crate) async fn name_if_missing<C: sea_orm::ConnectionTrait>(
    db: &C,
    contact_id: i64,
    name: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    contact::Entity::update_many()
        .col_expr(contact::Column::Name, Expr::value(name))
        .col_expr(contact::Column::UpdatedAt, Expr::value(at))
        .filter(contact::Column::Id.eq(contact_id))
        .filter(contact::Column::Name.is_null())
        .exec(db)
        .await?;
    Ok(())
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
