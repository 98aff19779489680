//! The chat widget's visitors: which contact a browser is, which conversation it may
//! read, and how a shop's signed identity ties it to the customer's contact record.
//!
//! A visitor is known by a random id carried in a token the widget keeps. Its messages
//! reach the desk as the `visitor` identity with that id, so [`Desk::ingest`] finds
//! its contact like any other. A visitor the shop vouched for (a valid identity
//! signature) has a verified `visitor` identity on the customer's contact; such a
//! browser is never handed back to an anonymous page, so signing out of the shop
//! hides the customer's conversation from whoever uses the browser next.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::agents::random_secret;
use super::identity::{self, IdentityKind, normalize_email};
use super::{Actor, Channel, DeliveryStatus, Desk, Direction, Error, Result, check_text};
use crate::store::{is_conflict, now};
use entity::{identity as identity_row, message, ticket, visitor};

/// Messages a widget gets when it opens a conversation without a cursor.
pub const HISTORY: u64 = 100;

/// A customer the shop vouched for with a valid signature.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedCustomer {
    pub email: String,
    pub name: Option<String>,
}

/// Who a widget connection speaks for.
#[derive(Clone, Debug)]
pub struct VisitorSession {
    pub visitor_id: String,
    /// The contact, once the visitor wrote or was vouched for.
    pub contact_id: Option<i64>,
    /// The customer the shop vouched for on this page.
    pub verified: Option<VerifiedCustomer>,
    /// The address the visitor gave for an answer by email.
    pub email: Option<String>,
    /// True when the widget's earlier conversation is not this visitor's: it starts
    /// over with a new id.
    pub reset: bool,
}

/// A new random visitor id.
pub fn new_visitor_id() -> String {
    random_secret(16)
}

impl Desk {
    /// Resolves the visitor behind a widget's hello: `known` is the id from a valid
    /// token (none for a first visit), `verified` the customer the shop vouched for.
    pub async fn open_visitor(
        &self,
        channel_id: i64,
        known: Option<String>,
        verified: Option<VerifiedCustomer>,
    ) -> Result<VisitorSession> {
        let found = match &known {
            Some(id) => identity::find(self.store.db(), IdentityKind::Visitor, id).await?,
            None => None,
        };
        let Some(customer) = verified else {
            // An anonymous page. A browser the shop vouched for earlier belongs to that
            // customer: the page no longer says they are here, so start over.
            if found.as_ref().is_some_and(|v| v.verified) {
                return Ok(self.fresh_visitor(true));
            }
            let Some(visitor_id) = known else {
                return Ok(self.fresh_visitor(false));
            };
            let email = visitor_email(self.store.db(), &visitor_id).await?;
            return Ok(VisitorSession {
                visitor_id,
                contact_id: found.map(|v| v.contact_id),
                verified: None,
                email,
                reset: false,
            });
        };
        let email = normalize_email(&customer.email)?;
        if let Some(name) = &customer.name {
            check_text("name", name, 200)?;
        }
        retry_conflicts(|| {
            self.attach_verified(channel_id, known.clone(), &email, customer.name.as_deref())
        })
        .await
    }

    fn fresh_visitor(&self, reset: bool) -> VisitorSession {
        VisitorSession {
            visitor_id: new_visitor_id(),
            contact_id: None,
            verified: None,
            email: None,
            reset,
        }
    }

    /// Ties a visitor to the contact of a verified email (see [`Desk::open_visitor`]).
    async fn attach_verified(
        &self,
        channel_id: i64,
        known: Option<String>,
        email: &str,
        name: Option<&str>,
    ) -> Result<VisitorSession> {
        let at = now();
        let tx = self.store.write().await?;
        let by_email = identity::find(&*tx, IdentityKind::Email, email).await?;
        let visitor = match &known {
            Some(id) => identity::find(&*tx, IdentityKind::Visitor, id).await?,
            None => None,
        };
        let mut visitor_id = known.clone().unwrap_or_else(new_visitor_id);
        let mut reset = false;
        // An anonymous visitor's conversation joins the customer's once the shop vouches.
        let mut merge_from = None;
        // Whether an identity (or a contact) was added here, for the search index.
        let mut added = true;
        let contact_id = match (visitor, by_email) {
            (Some(v), Some(e)) if v.contact_id == e.contact_id => {
                added = false;
                identity::mark_verified(&*tx, v).await?;
                identity::mark_verified(&*tx, e).await?.contact_id
            }
            (Some(v), by_email) if v.verified => {
                // Someone else was signed in on this browser: a new visitor.
                visitor_id = new_visitor_id();
                reset = true;
                let contact_id = match by_email {
                    Some(e) => identity::mark_verified(&*tx, e).await?.contact_id,
                    None => {
                        let c = super::contacts::insert_contact(&*tx, name, at).await?;
                        identity::insert(&*tx, c.id, IdentityKind::Email, email, true, at).await?;
                        c.id
                    }
                };
                identity::insert(
                    &*tx,
                    contact_id,
                    IdentityKind::Visitor,
                    &visitor_id,
                    true,
                    at,
                )
                .await?;
                contact_id
            }
            (Some(v), Some(e)) => {
                // The merge below queues both contacts' index rows.
                added = false;
                merge_from = Some(v.contact_id);
                identity::mark_verified(&*tx, e).await?.contact_id
            }
            (Some(v), None) => {
                identity::insert(&*tx, v.contact_id, IdentityKind::Email, email, true, at).await?;
                identity::mark_verified(&*tx, v).await?.contact_id
            }
            (None, Some(e)) => {
                let e = identity::mark_verified(&*tx, e).await?;
                identity::insert(
                    &*tx,
                    e.contact_id,
                    IdentityKind::Visitor,
                    &visitor_id,
                    true,
                    at,
                )
                .await?;
                e.contact_id
            }
            (None, None) => {
                let c = super::contacts::insert_contact(&*tx, name, at).await?;
                identity::insert(&*tx, c.id, IdentityKind::Email, email, true, at).await?;
                identity::insert(&*tx, c.id, IdentityKind::Visitor, &visitor_id, true, at).await?;
                c.id
            }
        };
        if let Some(name) = name
            && super::contacts::name_if_missing(&*tx, contact_id, name, at).await?
        {
            added = true;
        }
        if added {
            super::contacts::index_contact(&*tx, contact_id).await?;
        }
        upsert_visitor(&*tx, &visitor_id, channel_id, at).await?;
        let given = visitor_email(&*tx, &visitor_id).await?;
        tx.commit().await?;
        if added {
            self.committed();
        }
        if let Some(source) = merge_from {
            self.merge_contacts(contact_id, source, Actor::System)
                .await?;
            let tx = self.store.write().await?;
            if let Some(v) = identity::find(&*tx, IdentityKind::Visitor, &visitor_id).await? {
                identity::mark_verified(&*tx, v).await?;
            }
            tx.commit().await?;
        }
        Ok(VisitorSession {
            visitor_id,
            contact_id: Some(contact_id),
            verified: Some(VerifiedCustomer {
                email: email.to_owned(),
                name: name.map(str::to_owned),
            }),
            email: given,
            reset,
        })
    }

    /// Records that a visitor wrote through a site, so their site is known later, and
    /// gives their contact the address they typed before writing (unverified, and only
    /// when no contact has it). Cheap to repeat.
    pub async fn visitor_wrote(&self, visitor_id: &str, channel_id: i64) -> Result<()> {
        retry_conflicts(|| async {
            let at = now();
            let tx = self.store.write().await?;
            upsert_visitor(&*tx, visitor_id, channel_id, at).await?;
            let attached = match visitor_email(&*tx, visitor_id).await? {
                Some(email) => attach_typed_email(&*tx, visitor_id, &email, at).await?,
                None => false,
            };
            tx.commit().await?;
            if attached {
                self.committed();
            }
            Ok(())
        })
        .await
    }

    /// Keeps the address a visitor typed for an answer by email. It is never trusted:
    /// when no contact has it yet it is added to the visitor's contact unverified;
    /// when another contact has it, it stays with the visitor only, so typing someone
    /// else's address never joins their contact record.
    pub async fn set_visitor_email(
        &self,
        visitor_id: &str,
        channel_id: i64,
        raw: &str,
    ) -> Result<String> {
        let email = normalize_email(raw)?;
        // Should someone take the address meanwhile, the next try leaves it with the
        // visitor only.
        retry_conflicts(|| self.store_visitor_email(visitor_id, channel_id, &email)).await?;
        Ok(email)
    }

    async fn store_visitor_email(
        &self,
        visitor_id: &str,
        channel_id: i64,
        email: &str,
    ) -> Result<()> {
        let at = now();
        let tx = self.store.write().await?;
        upsert_visitor(&*tx, visitor_id, channel_id, at).await?;
        visitor::Entity::update_many()
            .col_expr(visitor::Column::Email, email.into())
            .filter(visitor::Column::Id.eq(visitor_id))
            .exec(&*tx)
            .await?;
        let attached = attach_typed_email(&*tx, visitor_id, email, at).await?;
        tx.commit().await?;
        if attached {
            self.committed();
        }
        Ok(())
    }

    /// The chat conversation a visitor may read: the customer's and agents' messages
    /// (never notes) on the contact's chat tickets, oldest first; with `after`, only
    /// newer ones. Also returns the contact's chat ticket ids.
    pub async fn chat_conversation(
        &self,
        contact_id: i64,
        after: Option<i64>,
    ) -> Result<(Vec<message::Model>, Vec<i64>)> {
        let db = self.store.db();
        let tickets: Vec<i64> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::ContactId.eq(contact_id))
            .filter(ticket::Column::Channel.eq(Channel::Chat.as_str()))
            .into_tuple()
            .all(db)
            .await?;
        if tickets.is_empty() {
            return Ok((vec![], tickets));
        }
        let mut query = message::Entity::find()
            .filter(message::Column::TicketId.is_in(tickets.clone()))
            .filter(
                message::Column::Direction.is_in([Direction::In.as_str(), Direction::Out.as_str()]),
            )
            .order_by_desc(message::Column::Id)
            .limit(HISTORY);
        if let Some(after) = after {
            query = query.filter(message::Column::Id.gt(after));
        }
        let mut messages = query.all(db).await?;
        messages.reverse();
        Ok((messages, tickets))
    }

    /// Records how an agent's chat reply reached the customer. With a widget of the
    /// customer connected it was shown at once: delivered. Otherwise it waits in the
    /// widget (sent) and, when an address is known, a copy goes out by email through
    /// the outbox, queued in the same transaction, so a repeated delivery never queues
    /// it twice.
    pub async fn chat_reply_shown(&self, reply: &message::Model) -> Result<()> {
        let ticket = self.ticket(reply.ticket_id).await?;
        if self.hub.visitor_online(ticket.contact_id) {
            return self
                .set_delivery(reply.id, DeliveryStatus::Delivered, None)
                .await;
        }
        let copy = self.chat_email(ticket.contact_id).await?.map(|to| {
            (
                crate::outbox::kind::EMAIL,
                serde_json::json!({"message_id": reply.id, "to": to, "reason": "chat_offline"}),
            )
        });
        self.set_delivery_with(reply.id, DeliveryStatus::Sent, None, copy)
            .await
    }

    /// Where to send a copy of a chat answer the visitor was not there to read: the
    /// contact's verified email, else the address the visitor gave most recently.
    async fn chat_email(&self, contact_id: i64) -> Result<Option<String>> {
        let db = self.store.db();
        let verified: Option<String> = identity_row::Entity::find()
            .select_only()
            .column(identity_row::Column::Value)
            .filter(identity_row::Column::ContactId.eq(contact_id))
            .filter(identity_row::Column::Kind.eq(IdentityKind::Email.as_str()))
            .filter(identity_row::Column::Verified.eq(true))
            .order_by_asc(identity_row::Column::Id)
            .into_tuple()
            .one(db)
            .await?;
        if verified.is_some() {
            return Ok(verified);
        }
        let visitors: Vec<String> = identity_row::Entity::find()
            .select_only()
            .column(identity_row::Column::Value)
            .filter(identity_row::Column::ContactId.eq(contact_id))
            .filter(identity_row::Column::Kind.eq(IdentityKind::Visitor.as_str()))
            .into_tuple()
            .all(db)
            .await?;
        if visitors.is_empty() {
            return Ok(None);
        }
        Ok(visitor::Entity::find()
            .filter(visitor::Column::Id.is_in(visitors))
            .filter(visitor::Column::Email.is_not_null())
            .order_by_desc(visitor::Column::LastSeenAt)
            .one(db)
            .await?
            .and_then(|v| v.email))
    }
}

/// Runs a write again when it lost a race to a concurrent writer (a unique index or a
/// PostgreSQL serialization failure); the next try sees the winner's row.
async fn retry_conflicts<T, F, Fut>(mut write: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(Error::Store(e)) if is_conflict(&e) && attempt < 3 => attempt += 1,
            other => return other,
        }
    }
}

/// Inserts the visitor's row, or moves its last-seen time.
async fn upsert_visitor<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: &str,
    channel_id: i64,
    at: DateTime<Utc>,
) -> Result<()> {
    visitor::Entity::insert(visitor::ActiveModel {
        id: Set(id.to_owned()),
        channel_id: Set(channel_id),
        email: Set(None),
        created_at: Set(at),
        last_seen_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(visitor::Column::Id)
            .update_column(visitor::Column::LastSeenAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Adds a typed address to the visitor's contact, unverified, when the visitor has a
/// contact and no contact has the address; true when it did (an index row is queued).
async fn attach_typed_email<C: sea_orm::ConnectionTrait>(
    db: &C,
    visitor_id: &str,
    email: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    if let Some(v) = identity::find(db, IdentityKind::Visitor, visitor_id).await?
        && identity::find(db, IdentityKind::Email, email)
            .await?
            .is_none()
    {
        identity::insert(db, v.contact_id, IdentityKind::Email, email, false, at).await?;
        super::contacts::index_contact(db, v.contact_id).await?;
        return Ok(true);
    }
    Ok(false)
}

async fn visitor_email<C: sea_orm::ConnectionTrait>(db: &C, id: &str) -> Result<Option<String>> {
    Ok(visitor::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .and_then(|v| v.email))
}
