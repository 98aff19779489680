//! `Desk::ingest`: the one way a customer message enters, whatever the channel.
//!
//! In one transaction it finds or creates the contact by identity, threads the message
//! into a ticket (or opens one), appends the message, records the ticket's history and
//! writes outbox rows. It is idempotent on `(channel, external_id)`: a replay returns
//! what the first delivery stored and changes nothing (invariant 2).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;

use super::email::MailFacts;
use super::identity::{self, IdentityClaim};
use super::{
    Actor, Channel, DeliveryStatus, Desk, Direction, Error, Priority, Result, Status, TicketKind,
    check_storable, sanitize_html, stored,
};
use crate::outbox;
use crate::store::{WriteTx, is_conflict, now};
use entity::{attachment, contact, message, ticket, ticket_event};

/// Longest message text accepted, in bytes.
pub const MAX_TEXT: usize = 256 * 1024;
/// Longest external id accepted, in bytes.
pub const MAX_EXTERNAL_ID: usize = 998;

/// What a customer sent, in the desk's words, whatever the wire format was.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Inbound {
    pub channel: Channel,
    /// The channel's unique id for this message: Message-ID, wamid, Telegram update id,
    /// MessageSid, the widget's client message id, a call id.
    pub external_id: String,
    /// Who sent it.
    pub identity: IdentityClaim,
    /// The sender's display name, if the channel tells it.
    pub name: Option<String>,
    /// The subject line, where the channel has one.
    pub subject: Option<String>,
    pub text: String,
    /// HTML body as received; it is sanitized before it is stored.
    pub html: Option<String>,
    /// An explicit reference to the conversation this continues.
    pub thread: Option<ThreadRef>,
    /// When the channel says it was sent; defaults to now.
    pub sent_at: Option<DateTime<Utc>>,
    pub attachments: Vec<NewAttachment>,
    /// The configured channel (a mail account) it came in on; a new ticket keeps it so
    /// replies leave the same way.
    #[serde(default)]
    pub channel_id: Option<i64>,
    /// A `[#number]` ticket tag, e.g. from a subject line; honoured after `thread`, and
    /// only when that ticket belongs to the sender.
    #[serde(default)]
    pub tag: Option<i64>,
    /// What only mail has: addresses, signs of automatic mail, a forward, the IMAP
    /// checkpoint this message advances.
    #[serde(default)]
    pub mail: Option<Box<MailFacts>>,
}

impl Inbound {
    /// A plain text message from `identity` on `channel`.
    pub fn text(
        channel: Channel,
        external_id: impl Into<String>,
        identity: IdentityClaim,
        text: impl Into<String>,
    ) -> Inbound {
        Inbound {
            channel,
            external_id: external_id.into(),
            identity,
            name: None,
            subject: None,
            text: text.into(),
            html: None,
            thread: None,
            sent_at: None,
            attachments: vec![],
            channel_id: None,
            tag: None,
            mail: None,
        }
    }
}

/// A reference that ties a message to an earlier conversation.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ThreadRef {
    /// A ticket number; honoured only when that ticket belongs to the sender.
    Ticket(i64),
    /// External ids of earlier messages on the same channel (In-Reply-To, References,
    /// a replied-to message id); the newest one we know wins.
    Messages(Vec<String>),
}

/// Metadata of a file that came with a message; the channel stored the bytes.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// The `Content-ID` an HTML body refers to an inline image by.
    #[serde(default)]
    pub content_id: Option<String>,
}

/// Where an inbound message ended up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    pub ticket_id: i64,
    pub ticket_number: i64,
    pub message_id: i64,
    pub contact_id: i64,
    /// False when this was a replay of a message already stored.
    pub created: bool,
    /// True when the message opened a new ticket.
    pub new_ticket: bool,
}

/// An inbound message after validation, ready for the transaction.
struct Checked {
    identity_value: String,
    html: Option<String>,
    name: Option<String>,
}

impl Desk {
    /// Stores a customer message; see the module docs. Safe to call any number of times
    /// with the same message, concurrently.
    pub async fn ingest(&self, inbound: &Inbound) -> Result<IngestOutcome> {
        let checked = self.check_inbound(inbound)?;
        if self.store.is_postgres() {
            // PostgreSQL runs writers side by side and groups their commits itself.
            return self.ingest_alone(inbound, &checked).await;
        }
        // SQLite has one writer: ingests queue up, and whoever gets the writer's turn
        // commits everyone waiting in one transaction (group commit).
        let (done, mut result) = oneshot::channel();
        self.ingest_queue.push(Pending {
            inbound: inbound.clone(),
            checked,
            done,
        });
        loop {
            tokio::select! {
                biased;
                outcome = &mut result => {
                    return outcome.unwrap_or_else(|_| Err(Error::Store(DbErr::Custom("the ingest batch was dropped".into()))));
                }
                turn = self.store.turn() => {
                    let batch = self.ingest_queue.take(MAX_BATCH);
                    if !batch.is_empty() {
                        // The batch answers other callers too, so it runs to the end
                        // even if this caller goes away (a client disconnect, a timeout).
                        let desk = self.clone();
                        tokio::spawn(async move {
                            desk.ingest_batch(batch).await;
                            drop(turn);
                        });
                    }
                }
            }
        }
    }

    /// Runs a batch in one transaction; if anything in it fails, each message runs
    /// again on its own, so one bad apple costs only itself. Replays and repeats within
    /// the batch are set aside first, so they do not cost the batch its transaction.
    /// The caller holds the turn.
    async fn ingest_batch(&self, batch: Vec<Pending>) {
        let (batch, later) = match self.split_replays(batch).await {
            Ok(split) => split,
            Err((batch, e)) => {
                tracing::warn!("checking a batch for replays failed: {e}");
                (batch, vec![])
            }
        };
        self.ingest_together(batch).await;
        for p in later {
            // A replay is answered from the store; a repeat within the batch finds what
            // its twin just stored.
            let outcome = match self.find_ingested(self.store.db(), &p.inbound).await {
                Ok(Some(found)) => Ok(found),
                _ => self.ingest_alone(&p.inbound, &p.checked).await,
            };
            let _ = p.done.send(outcome);
        }
    }

    /// Splits off messages already stored (or twice in this batch): one query.
    async fn split_replays(
        &self,
        batch: Vec<Pending>,
    ) -> std::result::Result<(Vec<Pending>, Vec<Pending>), (Vec<Pending>, DbErr)> {
        let ids: Vec<String> = batch
            .iter()
            .map(|p| p.inbound.external_id.clone())
            .collect();
        let stored = match message::Entity::find()
            .select_only()
            .column(message::Column::Channel)
            .column(message::Column::ExternalId)
            .filter(message::Column::ExternalId.is_in(ids))
            .into_tuple::<(String, Option<String>)>()
            .all(self.store.db())
            .await
        {
            Ok(rows) => rows,
            Err(e) => return Err((batch, e)),
        };
        let stored: std::collections::HashSet<(String, String)> = stored
            .into_iter()
            .filter_map(|(c, e)| e.map(|e| (c, e)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let (mut fresh, mut later) = (Vec::new(), Vec::new());
        for p in batch {
            let key = (
                p.inbound.channel.as_str().to_owned(),
                p.inbound.external_id.clone(),
            );
            if stored.contains(&key) || !seen.insert(key) {
                later.push(p);
            } else {
                fresh.push(p);
            }
        }
        Ok((fresh, later))
    }

    async fn ingest_together(&self, batch: Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        let together = async {
            let tx = self.store.write_in_turn().await?;
            let mut stored = Vec::with_capacity(batch.len());
            let mut rows = Deferred::default();
            for p in &batch {
                stored.push(
                    self.ingest_in(&tx, &p.inbound, &p.checked, Some(&mut rows))
                        .await?,
                );
            }
            if !rows.events.is_empty() {
                ticket_event::Entity::insert_many(rows.events)
                    .exec(&*tx)
                    .await?;
                entity::outbox::Entity::insert_many(rows.outbox)
                    .exec(&*tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(stored)
        };
        match together.await {
            Ok(stored) => {
                self.committed();
                for (p, (outcome, ticket, message)) in batch.into_iter().zip(stored) {
                    self.hub.ticket(&ticket, outcome.new_ticket);
                    self.hub.message(&ticket, &message);
                    let _ = p.done.send(Ok(outcome));
                }
            }
            Err(_) => {
                for p in batch {
                    let outcome = self.ingest_alone(&p.inbound, &p.checked).await;
                    let _ = p.done.send(outcome);
                }
            }
        }
    }

    /// Ingests one message in a transaction of its own (on SQLite the caller holds the
    /// turn), starting over when it lost a race.
    async fn ingest_alone(&self, inbound: &Inbound, checked: &Checked) -> Result<IngestOutcome> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.store.write_in_turn().await?;
            let result = match self.ingest_in(&tx, inbound, checked, None).await {
                Ok(stored) => tx.commit().await.map(|()| stored).map_err(Error::from),
                Err(e) => {
                    drop(tx);
                    Err(e)
                }
            };
            match result {
                Ok((outcome, ticket, message)) => {
                    self.committed();
                    self.hub.ticket(&ticket, outcome.new_ticket);
                    self.hub.message(&ticket, &message);
                    return Ok(outcome);
                }
                // Lost a race: the message itself was stored meanwhile (a replay, or the
                // same delivery running twice), or a contact or identity was created or
                // merged under us. Whatever won is committed now.
                Err(Error::Store(e)) if is_conflict(&e) || e == DbErr::Custom(RETRY.into()) => {
                    if let Some(found) = self.find_ingested(self.store.db(), inbound).await? {
                        return Ok(found);
                    }
                    if attempt >= 8 {
                        return Err(Error::Store(e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn check_inbound(&self, inbound: &Inbound) -> Result<Checked> {
        let external_id = inbound.external_id.trim();
        if external_id.is_empty() {
            return Err(Error::invalid("external_id", "must not be empty"));
        }
        if inbound.external_id.len() > MAX_EXTERNAL_ID {
            return Err(Error::invalid(
                "external_id",
                format!("longer than {MAX_EXTERNAL_ID} bytes"),
            ));
        }
        if inbound.text.len() > MAX_TEXT {
            return Err(Error::invalid(
                "text",
                format!("longer than {MAX_TEXT} bytes"),
            ));
        }
        for (field, value) in [
            ("external_id", Some(&inbound.external_id)),
            ("text", Some(&inbound.text)),
            ("html", inbound.html.as_ref()),
            ("name", inbound.name.as_ref()),
            ("subject", inbound.subject.as_ref()),
        ] {
            if let Some(value) = value {
                check_storable(field, value)?;
            }
        }
        for a in &inbound.attachments {
            check_storable("attachments.filename", &a.filename)?;
            check_storable("attachments.content_type", &a.content_type)?;
        }
        if inbound.text.trim().is_empty()
            && inbound.attachments.is_empty()
            && inbound.html.is_none()
        {
            return Err(Error::invalid("text", "must not be empty"));
        }
        if let Some(html) = &inbound.html
            && html.len() > 4 * MAX_TEXT
        {
            return Err(Error::invalid("html", "too long"));
        }
        let identity_value = inbound
            .identity
            .normalized(self.rules.default_region)
            .map_err(|e| match e {
                Error::Invalid { message, .. } => Error::invalid("identity.value", message),
                other => other,
            })?;
        let name = inbound
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(200).collect());
        if let Some(subject) = &inbound.subject {
            check_len("subject", subject, 998)?;
        }
        for a in &inbound.attachments {
            check_len("attachments.filename", &a.filename, 255)?;
        }
        Ok(Checked {
            identity_value,
            html: inbound.html.as_deref().map(sanitize_html),
            name,
        })
    }

    async fn find_ingested<C: ConnectionTrait>(
        &self,
        db: &C,
        inbound: &Inbound,
    ) -> Result<Option<IngestOutcome>> {
        let Some(m) = message::Entity::find()
            .filter(message::Column::Channel.eq(inbound.channel.as_str()))
            .filter(message::Column::ExternalId.eq(inbound.external_id.as_str()))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let t = ticket::Entity::find_by_id(m.ticket_id)
            .one(db)
            .await?
            .ok_or_else(|| Error::not_found("ticket", m.ticket_id))?;
        Ok(Some(IngestOutcome {
            ticket_id: t.id,
            ticket_number: t.number,
            message_id: m.id,
            contact_id: m.author_contact_id.unwrap_or(t.contact_id),
            created: false,
            new_ticket: false,
        }))
    }

    /// The transaction's work, in as few round trips as the rules allow: a replay is not
    /// looked for up front but found by the unique `(channel, external_id)` index when
    /// the message is inserted. Returns the outcome and the ticket and message to
    /// announce after commit.
    async fn ingest_in(
        &self,
        tx: &WriteTx,
        inbound: &Inbound,
        checked: &Checked,
        deferred: Option<&mut Deferred>,
    ) -> Result<(IngestOutcome, ticket::Model, message::Model)> {
        let at = now();
        let contact = self
            .resolve_contact(
                tx,
                &inbound.identity,
                &checked.identity_value,
                checked.name.as_deref(),
                at,
            )
            .await?;

        // Automatic mail (an out-of-office note, list mail) joins a conversation but never
        // wakes a ticket up.
        let quiet = inbound.mail.as_ref().is_some_and(|m| m.automatic.is_some());
        let (ticket, new_ticket, reopened) = match self.thread(tx, inbound, &contact, at).await? {
            Threading::Existing(t) => (t, false, false),
            Threading::Reopen(t) => (t, false, !quiet),
            // Automatic mail joins the old conversation even after the reopen window.
            Threading::New {
                previous: Some(old),
            } if quiet => (
                ticket::Entity::find_by_id(old)
                    .one(&**tx)
                    .await?
                    .ok_or_else(|| Error::not_found("ticket", old))?,
                false,
                false,
            ),
            Threading::New { previous } => {
                let t = self
                    .open_ticket(tx, inbound, contact.id, previous, at)
                    .await?;
                (t, true, false)
            }
        };

        let mail = inbound.mail.as_deref();
        // A mail too large to fetch is recorded as a note about it, not as its words.
        let direction = match mail {
            Some(m) if m.too_large.is_some() => Direction::Note,
            _ => Direction::In,
        };
        let m = message::ActiveModel {
            ticket_id: Set(ticket.id),
            direction: Set(direction.as_str().into()),
            channel: Set(inbound.channel.as_str().into()),
            author_agent_id: Set(None),
            author_contact_id: Set(Some(contact.id)),
            text: Set(inbound.text.clone()),
            html: Set(checked.html.clone()),
            external_id: Set(Some(inbound.external_id.clone())),
            addresses: Set(mail.map(|m| json!(m.addresses))),
            delivery_status: Set(DeliveryStatus::Received.as_str().into()),
            delivery_error: Set(None),
            created_at: Set(inbound.sent_at.map(|t| t.min(at)).unwrap_or(at)),
            ..Default::default()
        }
        .insert(&**tx)
        .await?;
        for a in &inbound.attachments {
            attachment::ActiveModel {
                message_id: Set(m.id),
                filename: Set(a.filename.clone()),
                content_type: Set(a.content_type.clone()),
                size: Set(a.size),
                sha256: Set(a.sha256.clone()),
                content_id: Set(a.content_id.clone()),
                created_at: Set(at),
                ..Default::default()
            }
            .insert(&**tx)
            .await?;
        }

        let status: Status = stored(&ticket.status)?;
        // A new ticket was written with this message's times already.
        let ticket = if new_ticket {
            ticket
        } else {
            let mut update = ticket::ActiveModel {
                id: Set(ticket.id),
                last_message_at: Set(at),
                updated_at: Set(at),
                ..Default::default()
            };
            if reopened || (status == Status::Pending && !quiet) {
                update.status = Set(Status::Open.as_str().into());
                let actor = Actor::Contact(contact.id);
                super::sla::status_change(
                    &**tx,
                    &ticket,
                    status,
                    Status::Open,
                    actor,
                    at,
                    &mut update,
                )
                .await?;
            }
            if reopened {
                update.resolved_at = Set(None);
            }
            update.update(&**tx).await?
        };

        let actor = Actor::Contact(contact.id);
        if reopened {
            record(
                &**tx,
                ticket.id,
                actor,
                "reopened",
                json!({"from": status, "message_id": m.id}),
                at,
            )
            .await?;
        }
        let kind = if new_ticket { "created" } else { "message" };
        let event = json!({"message_id": m.id, "channel": inbound.channel});
        if self.store.is_postgres() {
            // One round trip for the history entry and the outbox row: ingest's latency on
            // PostgreSQL is mostly round trips.
            let sql = "WITH event AS (INSERT INTO ticket_event (ticket_id, actor_kind, actor_id, kind, data, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6)) \
                       INSERT INTO outbox (kind, payload, status, attempts, run_after, created_at) VALUES ($7, $8, 'pending', 0, $6, $6)";
            let values: [sea_orm::Value; 8] = [
                ticket.id.into(),
                actor.kind().into(),
                actor.id().into(),
                kind.into(),
                event.into(),
                at.into(),
                outbox::kind::INDEX.into(),
                json!({"ticket_id": ticket.id}).into(),
            ];
            tx.execute_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
        } else if let Some(rows) = deferred {
            // A SQLite batch writes all its history entries and outbox rows at the end.
            rows.events
                .push(event_row(ticket.id, actor, kind, event, at));
            rows.outbox.push(outbox::row(
                outbox::kind::INDEX,
                json!({"ticket_id": ticket.id}),
            ));
        } else {
            record(&**tx, ticket.id, actor, kind, event, at).await?;
            outbox::enqueue(&**tx, outbox::kind::INDEX, json!({"ticket_id": ticket.id})).await?;
        }

        self.mail_received(tx, inbound, &ticket, new_ticket, contact.id, at)
            .await?;

        let outcome = IngestOutcome {
            ticket_id: ticket.id,
            ticket_number: ticket.number,
            message_id: m.id,
            contact_id: contact.id,
            created: true,
            new_ticket,
        };
        Ok((outcome, ticket, m))
    }

    /// Finds the contact that owns this identity, or creates both. On PostgreSQL the
    /// contact is locked in the same statement, so ingests for one contact go one after
    /// the other and two messages can never both open "the" new ticket.
    pub(crate) async fn resolve_contact(
        &self,
        tx: &WriteTx,
        claim: &IdentityClaim,
        value: &str,
        name: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Resolved> {
        let backend = self.store.backend();
        let pg = self.store.is_postgres();
        let sql = format!(
            "SELECT c.id AS id, c.name AS name, c.merged_into_id AS merged_into_id, i.id AS identity_id, i.verified AS verified \
             FROM identity i JOIN contact c ON c.id = i.contact_id WHERE i.kind = {} AND i.value = {}{}",
            if pg { "$1" } else { "?" },
            if pg { "$2" } else { "?" },
            if pg { " FOR UPDATE OF c" } else { "" },
        );
        let row = tx
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [claim.kind.as_str().into(), value.into()],
            ))
            .await?;
        if let Some(row) = row {
            let id: i64 = row.try_get("", "id")?;
            let stored_name: Option<String> = row.try_get("", "name")?;
            if row.try_get::<Option<i64>>("", "merged_into_id")?.is_some() {
                // Merged away while we waited for the lock: look again.
                return Err(Error::Store(DbErr::Custom(RETRY.into())));
            }
            if claim.verified && !row.try_get::<bool>("", "verified")? {
                entity::identity::ActiveModel {
                    id: Set(row.try_get("", "identity_id")?),
                    verified: Set(true),
                    ..Default::default()
                }
                .update(&**tx)
                .await?;
            }
            let mut resolved = Resolved {
                id,
                name: stored_name,
                new: false,
            };
            if resolved.name.is_none()
                && let Some(name) = name
            {
                contact::ActiveModel {
                    id: Set(id),
                    name: Set(Some(name.to_owned())),
                    updated_at: Set(at),
                    ..Default::default()
                }
                .update(&**tx)
                .await?;
                resolved.name = Some(name.to_owned());
            }
            return Ok(resolved);
        }
        let c = super::contacts::insert_contact(&**tx, name, at).await?;
        identity::insert(&**tx, c.id, claim.kind, value, claim.verified, at).await?;
        Ok(Resolved {
            id: c.id,
            name: c.name,
            new: true,
        })
    }

    /// Applies the threading rules: an explicit reference, else (on conversational
    /// channels) the contact's active ticket on this channel, else a new ticket. A
    /// resolved or closed match reopens within the reopen window; after it, the new
    /// ticket links to the old one.
    async fn thread(
        &self,
        tx: &WriteTx,
        inbound: &Inbound,
        contact: &Resolved,
        at: DateTime<Utc>,
    ) -> Result<Threading> {
        let db = &**tx;
        let contact_id = contact.id;
        let mut candidate = match &inbound.thread {
            // A contact created just now owns no ticket yet.
            Some(ThreadRef::Ticket(_)) if contact.new => None,
            Some(ThreadRef::Ticket(number)) => {
                self.ticket_of_participant(db, *number, contact_id).await?
            }
            Some(ThreadRef::Messages(ids)) if !ids.is_empty() => {
                let ids: Vec<&str> = ids.iter().take(100).map(String::as_str).collect();
                let referenced = message::Entity::find()
                    .filter(message::Column::Channel.eq(inbound.channel.as_str()))
                    .filter(message::Column::ExternalId.is_in(ids))
                    .order_by_desc(message::Column::Id)
                    .one(db)
                    .await?;
                match referenced {
                    Some(m) => ticket::Entity::find_by_id(m.ticket_id).one(db).await?,
                    None => None,
                }
            }
            _ => None,
        };
        if candidate.is_none()
            && let Some(number) = inbound.tag
            && !contact.new
        {
            candidate = self.ticket_of_participant(db, number, contact_id).await?;
        }
        if candidate.is_none() && inbound.channel.threads_by_contact() && !contact.new {
            let mine = ticket::Entity::find()
                .filter(ticket::Column::ContactId.eq(contact_id))
                .filter(ticket::Column::Channel.eq(inbound.channel.as_str()));
            candidate = mine
                .clone()
                .filter(ticket::Column::Status.is_in(Status::ACTIVE.map(Status::as_str)))
                .order_by_desc(ticket::Column::Id)
                .one(db)
                .await?;
            if candidate.is_none() {
                candidate = mine
                    .order_by_desc(ticket::Column::Id)
                    .limit(1)
                    .one(db)
                    .await?;
            }
        }
        let Some(t) = candidate else {
            return Ok(Threading::New { previous: None });
        };
        // The message may reopen or resume the ticket: on PostgreSQL, lock its row against
        // an agent changing its status at the same time and judge it as it is now (SQLite's
        // one writer read it in this transaction already).
        let t = if self.store.is_postgres() {
            ticket::Entity::find_by_id(t.id)
                .lock_exclusive()
                .one(db)
                .await?
                .ok_or_else(|| Error::not_found("ticket", t.id))?
        } else {
            t
        };
        if stored::<Status>(&t.status)?.is_active() {
            return Ok(Threading::Existing(t));
        }
        let window =
            chrono::Duration::from_std(self.rules.reopen_window).unwrap_or(chrono::Duration::MAX);
        let resolved_at = t.resolved_at.unwrap_or(t.updated_at);
        if at - resolved_at <= window {
            Ok(Threading::Reopen(t))
        } else {
            Ok(Threading::New {
                previous: Some(t.id),
            })
        }
    }

    async fn open_ticket(
        &self,
        tx: &WriteTx,
        inbound: &Inbound,
        contact_id: i64,
        previous: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<ticket::Model> {
        // PostgreSQL numbers the ticket by the column's default (a sequence).
        let number = if self.store.is_postgres() {
            sea_orm::ActiveValue::NotSet
        } else {
            Set(self.store.next_ticket_number(tx).await?)
        };
        let subject = inbound
            .subject
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| subject_from_text(&inbound.text));
        let mut row = ticket::ActiveModel {
            number,
            subject: Set(subject),
            status: Set(Status::New.as_str().into()),
            priority: Set(Priority::Normal.as_str().into()),
            kind: Set(TicketKind::Question.as_str().into()),
            channel: Set(inbound.channel.as_str().into()),
            contact_id: Set(contact_id),
            channel_id: Set(inbound.channel_id),
            assignee_id: Set(None),
            team_id: Set(None),
            previous_ticket_id: Set(previous),
            first_response_at: Set(None),
            resolved_at: Set(None),
            last_message_at: Set(at),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        };
        super::sla::start(&**tx, None, Priority::Normal, at, &mut row).await?;
        Ok(row.insert(&**tx).await?)
    }
}

/// Most messages committed in one transaction on SQLite.
const MAX_BATCH: usize = 64;

/// An ingest waiting for the writer's turn.
pub(crate) struct Pending {
    inbound: Inbound,
    checked: Checked,
    done: oneshot::Sender<Result<IngestOutcome>>,
}

/// Ingests waiting for SQLite's one writer; see [`Desk::ingest`].
#[derive(Default)]
pub(crate) struct IngestQueue {
    waiting: std::sync::Mutex<Vec<Pending>>,
}

impl IngestQueue {
    fn push(&self, p: Pending) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p);
    }

    fn take(&self, max: usize) -> Vec<Pending> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let n = waiting.len().min(max);
        waiting.drain(..n).collect()
    }
}

/// The contact an inbound message belongs to.
pub(crate) struct Resolved {
    pub id: i64,
    pub name: Option<String>,
    /// Created by this transaction.
    pub new: bool,
}

/// History entries and outbox rows a batch writes in one statement each, at its end.
#[derive(Default)]
pub(crate) struct Deferred {
    events: Vec<ticket_event::ActiveModel>,
    outbox: Vec<entity::outbox::ActiveModel>,
}

/// Marks a transaction that must start over because what it read changed under it.
const RETRY: &str = "retry: the contact changed meanwhile";

enum Threading {
    Existing(ticket::Model),
    Reopen(ticket::Model),
    New { previous: Option<i64> },
}

/// A subject for channels without one: the first line of the text, shortened.
fn subject_from_text(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut subject: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        subject.push('…');
    }
    if subject.is_empty() {
        subject = "(no text)".into();
    }
    subject
}

fn check_len(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        return Err(Error::invalid(field, format!("longer than {max} bytes")));
    }
    Ok(())
}

/// Appends one entry to a ticket's history.
pub(crate) async fn record<C: ConnectionTrait>(
    db: &C,
    ticket_id: i64,
    actor: Actor,
    kind: &str,
    data: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<()> {
    event_row(ticket_id, actor, kind, data, at)
        .insert(db)
        .await?;
    Ok(())
}

/// One entry of a ticket's history, not yet written.
fn event_row(
    ticket_id: i64,
    actor: Actor,
    kind: &str,
    data: serde_json::Value,
    at: DateTime<Utc>,
) -> ticket_event::ActiveModel {
    ticket_event::ActiveModel {
        ticket_id: Set(ticket_id),
        actor_kind: Set(actor.kind().into()),
        actor_id: Set(actor.id()),
        kind: Set(kind.into()),
        data: Set(data),
        created_at: Set(at),
        ..Default::default()
    }
}
