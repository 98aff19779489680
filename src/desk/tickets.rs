//! What agents do with tickets — reply, note, assign, change status, priority, kind —
//! and the queries behind the queue and the ticket view.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ingest::record;
use super::{
    Actor, Channel, DeliveryStatus, Desk, Direction, Error, Priority, Result, Status, TicketKind,
    check_text, sanitize_html, stored,
};
use crate::outbox;
use crate::store::{WriteTx, now};
use entity::{attachment, message, team, ticket, ticket_event};

/// Which tickets a queue shows. Empty fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct TicketFilter {
    pub status: Vec<Status>,
    pub channel: Option<Channel>,
    pub assignee: Option<Assignee>,
    pub team_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub kind: Option<TicketKind>,
}

/// Assigned to whom: an agent, or nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    Agent(i64),
    Nobody,
}

/// One page of a list; `next` is the cursor for the following page.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A ticket with everything the ticket view shows.
#[derive(Debug, Serialize)]
pub struct TicketDetail {
    pub ticket: ticket::Model,
    pub messages: Vec<MessageView>,
    pub events: Vec<ticket_event::Model>,
}

/// A message with its attachments.
#[derive(Debug, Serialize)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: message::Model,
    pub attachments: Vec<attachment::Model>,
}

/// An agent's reply: text, optional HTML, and optionally the status to set with it
/// ("send and mark pending").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    pub text: String,
    pub html: Option<String>,
    pub status: Option<Status>,
    /// Files uploaded before (`POST /api/v1/uploads`) to send with the reply.
    #[serde(default)]
    pub attachments: Vec<ReplyFile>,
}

/// A file to send with a reply: the hash the upload returned, and its name and type.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyFile {
    pub sha256: String,
    pub filename: String,
    pub content_type: String,
}

/// Most files one reply carries.
pub const MAX_REPLY_FILES: usize = 20;

/// Field changes on a ticket; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TicketUpdate {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub kind: Option<TicketKind>,
    pub subject: Option<String>,
}

/// Who a ticket is assigned to; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct Assignment {
    pub agent_id: Option<Option<i64>>,
    pub team_id: Option<Option<i64>>,
}

pub const MAX_PAGE: u64 = 200;

/// Active tickets per queue view, for the console's counters.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct QueueCounts {
    pub open: u64,
    pub unassigned: u64,
    pub mine: u64,
    pub my_teams: u64,
    pub channels: std::collections::BTreeMap<String, u64>,
}

impl Desk {
    /// Tickets matching `filter`, newest first, after `cursor`.
    pub async fn list_tickets(
        &self,
        filter: &TicketFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<ticket::Model>> {
        let mut q = ticket::Entity::find();
        if !filter.status.is_empty() {
            q = q.filter(ticket::Column::Status.is_in(filter.status.iter().map(|s| s.as_str())));
        }
        if let Some(c) = filter.channel {
            q = q.filter(ticket::Column::Channel.eq(c.as_str()));
        }
        match filter.assignee {
            Some(Assignee::Agent(id)) => q = q.filter(ticket::Column::AssigneeId.eq(id)),
            Some(Assignee::Nobody) => q = q.filter(ticket::Column::AssigneeId.is_null()),
            None => {}
        }
        if let Some(t) = filter.team_id {
            q = q.filter(ticket::Column::TeamId.eq(t));
        }
        if let Some(c) = filter.contact_id {
            q = q.filter(ticket::Column::ContactId.eq(c));
        }
        if let Some(k) = filter.kind {
            q = q.filter(ticket::Column::Kind.eq(k.as_str()));
        }
        if let Some(cursor) = cursor {
            q = q.filter(ticket::Column::Id.lt(parse_cursor(cursor)?));
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = q
            .order_by_desc(ticket::Column::Id)
            .limit(limit + 1)
            .all(self.store.db())
            .await?;
        let (items, next) = page_of(rows, limit, |t| t.id);
        Ok(Page { items, next })
    }

    /// Counts of active tickets for an agent's queue views.
    pub async fn queue_counts(
        &self,
        agent_id: Option<i64>,
        team_ids: &[i64],
    ) -> Result<QueueCounts> {
        use sea_orm::PaginatorTrait;
        let db = self.store.db();
        let active = || {
            ticket::Entity::find()
                .filter(ticket::Column::Status.is_in(Status::ACTIVE.map(Status::as_str)))
        };
        let mut counts = QueueCounts {
            open: active().count(db).await?,
            unassigned: active()
                .filter(ticket::Column::AssigneeId.is_null())
                .count(db)
                .await?,
            ..Default::default()
        };
        if let Some(me) = agent_id {
            counts.mine = active()
                .filter(ticket::Column::AssigneeId.eq(me))
                .count(db)
                .await?;
        }
        if !team_ids.is_empty() {
            counts.my_teams = active()
                .filter(ticket::Column::TeamId.is_in(team_ids.iter().copied()))
                .count(db)
                .await?;
        }
        let by_channel: Vec<(String, i64)> = active()
            .select_only()
            .column(ticket::Column::Channel)
            .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
            .group_by(ticket::Column::Channel)
            .into_tuple()
            .all(db)
            .await?;
        counts.channels = by_channel.into_iter().map(|(c, n)| (c, n as u64)).collect();
        Ok(counts)
    }

    pub async fn ticket(&self, id: i64) -> Result<ticket::Model> {
        ticket::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("ticket", id))
    }

    /// The ticket with this human-facing number (`#1042`), if there is one.
    pub async fn ticket_numbered<C: sea_orm::ConnectionTrait>(
        db: &C,
        number: i64,
    ) -> Result<Option<ticket::Model>> {
        Ok(ticket::Entity::find()
            .filter(ticket::Column::Number.eq(number))
            .one(db)
            .await?)
    }

    /// A ticket with its messages (oldest first, with attachments) and its history.
    pub async fn ticket_detail(&self, id: i64) -> Result<TicketDetail> {
        let db = self.store.db();
        let ticket = self.ticket(id).await?;
        let messages = message::Entity::find()
            .filter(message::Column::TicketId.eq(id))
            .order_by_asc(message::Column::Id)
            .all(db)
            .await?;
        let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
        let mut attachments = if ids.is_empty() {
            vec![]
        } else {
            attachment::Entity::find()
                .filter(attachment::Column::MessageId.is_in(ids))
                .order_by_asc(attachment::Column::Id)
                .all(db)
                .await?
        };
        let messages = messages
            .into_iter()
            .map(|m| {
                let (mine, rest): (Vec<_>, Vec<_>) =
                    attachments.drain(..).partition(|a| a.message_id == m.id);
                attachments = rest;
                MessageView {
                    message: m,
                    attachments: mine,
                }
            })
            .collect();
        let events = ticket_event::Entity::find()
            .filter(ticket_event::Column::TicketId.eq(id))
            .order_by_asc(ticket_event::Column::Id)
            .all(db)
            .await?;
        Ok(TicketDetail {
            ticket,
            messages,
            events,
        })
    }

    /// An agent's answer to the customer, queued for delivery on the ticket's channel.
    pub async fn reply(
        &self,
        ticket_id: i64,
        actor: Actor,
        input: &ReplyInput,
    ) -> Result<message::Model> {
        check_text("text", &input.text, super::ingest::MAX_TEXT)?;
        let files = self.check_reply_files(&input.attachments)?;
        let tx = self.store.write().await?;
        let t = self.ticket_for_update(&tx, ticket_id).await?;
        if !files.is_empty() && t.channel != Channel::Email.as_str() {
            return Err(Error::invalid(
                "attachments",
                "files can be sent on email tickets only",
            ));
        }
        let at = now();
        if t.channel == Channel::Whatsapp.as_str() {
            self.check_whatsapp_window(&tx, &t, at).await?;
        }
        let html = input.html.as_deref().map(sanitize_html);
        let m = agent_message(&t, Direction::Out, actor, &input.text, html, at)
            .insert(&*tx)
            .await?;
        for (f, size) in files {
            attachment::ActiveModel {
                message_id: Set(m.id),
                filename: Set(f.filename.clone()),
                content_type: Set(f.content_type.clone()),
                size: Set(size),
                sha256: Set(f.sha256.clone()),
                content_id: Set(None),
                created_at: Set(at),
                ..Default::default()
            }
            .insert(&*tx)
            .await?;
        }
        let mut update = ticket::ActiveModel {
            id: Set(t.id),
            updated_at: Set(at),
            last_message_at: Set(at),
            ..Default::default()
        };
        if t.first_response_at.is_none() {
            update.first_response_at = Set(Some(at));
            if let Some(breach) = super::sla::first_response(&t, at, &mut update) {
                breach.record(&*tx, t.id, at).await?;
            }
        }
        // The status change sees the first response just given.
        let t = update.update(&*tx).await?;
        record(&*tx, t.id, actor, "reply", json!({"message_id": m.id}), at).await?;
        let status = match input.status {
            Some(s) => s,
            None if stored::<Status>(&t.status)? == Status::New => Status::Open,
            None => stored(&t.status)?,
        };
        self.set_status(&tx, &t, status, actor, at).await?;
        outbox::enqueue(&*tx, outbox::kind::DELIVER, json!({"message_id": m.id})).await?;
        outbox::enqueue(&*tx, outbox::kind::INDEX, json!({"ticket_id": t.id})).await?;
        tx.commit().await?;
        self.committed();
        self.announce(t.id, Some(&m)).await;
        Ok(m)
    }

    /// An internal note: seen by agents, never sent to the customer.
    pub async fn note(&self, ticket_id: i64, actor: Actor, text: &str) -> Result<message::Model> {
        check_text("text", text, super::ingest::MAX_TEXT)?;
        let tx = self.store.write().await?;
        let t = self.ticket_for_update(&tx, ticket_id).await?;
        let at = now();
        let m = agent_message(&t, Direction::Note, actor, text, None, at)
            .insert(&*tx)
            .await?;
        ticket::ActiveModel {
            id: Set(t.id),
            updated_at: Set(at),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        record(&*tx, t.id, actor, "note", json!({"message_id": m.id}), at).await?;
        outbox::enqueue(&*tx, outbox::kind::INDEX, json!({"ticket_id": t.id})).await?;
        tx.commit().await?;
        self.committed();
        self.announce(t.id, Some(&m)).await;
        Ok(m)
    }

    /// Assigns a ticket to an agent and/or a team (or clears either).
    pub async fn assign(
        &self,
        ticket_id: i64,
        actor: Actor,
        to: &Assignment,
    ) -> Result<ticket::Model> {
        let tx = self.store.write().await?;
        let t = self.ticket_for_update(&tx, ticket_id).await?;
        let at = now();
        let mut update = ticket::ActiveModel {
            id: Set(t.id),
            updated_at: Set(at),
            ..Default::default()
        };
        if let Some(agent_id) = to.agent_id
            && agent_id != t.assignee_id
        {
            if let Some(id) = agent_id {
                super::agents::active_agent(&*tx, "agent_id", id).await?;
            }
            update.assignee_id = Set(agent_id);
            record(
                &*tx,
                t.id,
                actor,
                "assigned",
                json!({"field": "agent", "from": t.assignee_id, "to": agent_id}),
                at,
            )
            .await?;
        }
        if let Some(team_id) = to.team_id
            && team_id != t.team_id
        {
            if let Some(id) = team_id
                && team::Entity::find_by_id(id).one(&*tx).await?.is_none()
            {
                return Err(Error::invalid("team_id", format!("no team {id}")));
            }
            update.team_id = Set(team_id);
            super::sla::reassess(&*tx, &t, team_id, &t.priority, false, &mut update).await?;
            record(
                &*tx,
                t.id,
                actor,
                "assigned",
                json!({"field": "team", "from": t.team_id, "to": team_id}),
                at,
            )
            .await?;
        }
        let t = update.update(&*tx).await?;
        tx.commit().await?;
        self.hub.ticket(&t, false);
        Ok(t)
    }

    /// Changes status, priority, kind or subject; each change is recorded.
    pub async fn update_ticket(
        &self,
        ticket_id: i64,
        actor: Actor,
        change: &TicketUpdate,
    ) -> Result<ticket::Model> {
        if let Some(subject) = &change.subject {
            check_text("subject", subject, 998)?;
        }
        let tx = self.store.write().await?;
        let mut t = self.ticket_for_update(&tx, ticket_id).await?;
        let at = now();
        // A new priority may bring a new policy and due times, which apply while the
        // clocks run: before a running ticket is resolved (so its verdict is judged on
        // them), after a stopped one is reopened.
        let status_first = !stored::<Status>(&t.status)?.is_active();
        if status_first && let Some(status) = change.status {
            self.set_status(&tx, &t, status, actor, at).await?;
            t = self.ticket_for_update(&tx, ticket_id).await?;
        }
        let mut update = ticket::ActiveModel {
            id: Set(t.id),
            updated_at: Set(at),
            ..Default::default()
        };
        // The history lists the status change first, then the fields.
        let mut changes = Vec::new();
        if let Some(p) = change.priority
            && p.as_str() != t.priority
        {
            update.priority = Set(p.as_str().into());
            super::sla::reassess(&*tx, &t, t.team_id, p.as_str(), false, &mut update).await?;
            changes.push(("priority", json!({"from": t.priority, "to": p})));
        }
        if let Some(k) = change.kind
            && k.as_str() != t.kind
        {
            update.kind = Set(k.as_str().into());
            changes.push(("kind", json!({"from": t.kind, "to": k})));
        }
        if let Some(s) = &change.subject {
            let s = s.trim();
            if s != t.subject {
                update.subject = Set(s.to_owned());
                changes.push(("subject", json!({"from": t.subject, "to": s})));
            }
        }
        let t = update.update(&*tx).await?;
        if !status_first && let Some(status) = change.status {
            self.set_status(&tx, &t, status, actor, at).await?;
        }
        for (kind, data) in changes {
            record(&*tx, t.id, actor, kind, data, at).await?;
        }
        outbox::enqueue(&*tx, outbox::kind::INDEX, json!({"ticket_id": t.id})).await?;
        let t = ticket::Entity::find_by_id(t.id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", ticket_id))?;
        tx.commit().await?;
        self.committed();
        self.hub.ticket(&t, false);
        Ok(t)
    }

    /// Moves a ticket to `status`, keeping `resolved_at` in step and recording the change.
    async fn set_status(
        &self,
        tx: &WriteTx,
        t: &ticket::Model,
        status: Status,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let from: Status = stored(&t.status)?;
        if from == status {
            return Ok(());
        }
        let mut update = ticket::ActiveModel {
            id: Set(t.id),
            status: Set(status.as_str().into()),
            updated_at: Set(at),
            ..Default::default()
        };
        if status.is_active() {
            update.resolved_at = Set(None);
        } else if from.is_active() {
            update.resolved_at = Set(Some(at));
        }
        super::sla::status_change(&**tx, t, from, status, actor, at, &mut update).await?;
        update.update(&**tx).await?;
        record(
            &**tx,
            t.id,
            actor,
            "status",
            json!({"from": from, "to": status}),
            at,
        )
        .await?;
        if super::surveys::sends_survey(from, status) {
            self.survey_on_resolve(tx, t, at).await?;
        }
        Ok(())
    }

    /// Locks a ticket's row and reads it. On PostgreSQL its contact is share-locked
    /// first (the lock a second write of the ticket would take for its foreign key),
    /// so the locks come in the order an ingest takes them (contact, then ticket)
    /// and an agent's change and a customer's message on one ticket cannot deadlock.
    async fn ticket_for_update(&self, tx: &WriteTx, id: i64) -> Result<ticket::Model> {
        if self.store.is_postgres() {
            let contact = ticket::Entity::find_by_id(id)
                .select_only()
                .column(ticket::Column::ContactId)
                .into_tuple::<i64>()
                .one(&**tx)
                .await?
                .ok_or_else(|| Error::not_found("ticket", id))?;
            tx.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT id FROM contact WHERE id = $1 FOR KEY SHARE",
                [contact.into()],
            ))
            .await?;
        }
        self.store.lock_row(tx, "ticket", id).await?;
        ticket::Entity::find_by_id(id)
            .one(&**tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", id))
    }

    /// Marks an outgoing message sent or failed (called by the channel that delivered it).
    pub async fn set_delivery(
        &self,
        message_id: i64,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Result<()> {
        self.set_delivery_with(message_id, status, error, None)
            .await
    }

    /// Marks an outgoing message like [`Desk::set_delivery`] and, in the same
    /// transaction, queues a follow-up job (`(kind, payload)`) if the message was still
    /// queued; a repeated delivery therefore never queues it twice.
    pub async fn set_delivery_with(
        &self,
        message_id: i64,
        status: DeliveryStatus,
        error: Option<String>,
        then: Option<(&str, serde_json::Value)>,
    ) -> Result<()> {
        let tx = self.store.write().await?;
        let found = message::Entity::find_by_id(message_id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("message", message_id))?;
        if let Some((kind, payload)) = then {
            if found.delivery_status != DeliveryStatus::Queued.as_str() {
                return Ok(());
            }
            crate::outbox::enqueue(&*tx, kind, payload).await?;
        }
        let m = message::ActiveModel {
            id: Set(found.id),
            delivery_status: Set(status.as_str().into()),
            delivery_error: Set(error),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        tx.commit().await?;
        self.committed();
        self.hub.message_updated(&m);
        Ok(())
    }

    /// Tells connected agents about a committed change to a ticket and, if given, the
    /// message that changed it. A failed read only costs the notification: clients
    /// re-sync from the API.
    pub(crate) async fn announce(&self, ticket_id: i64, message: Option<&message::Model>) {
        match ticket::Entity::find_by_id(ticket_id)
            .one(self.store.db())
            .await
        {
            Ok(Some(t)) => {
                self.hub.ticket(&t, false);
                if let Some(m) = message {
                    self.hub.message(&t, m);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(ticket_id, "live notification skipped: {e}"),
        }
    }

    /// WhatsApp lets a business answer freely only within 24 hours of the customer's last
    /// message; after that only a template message may be sent.
    async fn check_whatsapp_window(
        &self,
        tx: &crate::store::WriteTx,
        t: &ticket::Model,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let last = message::Entity::find()
            .filter(message::Column::Channel.eq(Channel::Whatsapp.as_str()))
            .filter(message::Column::Direction.eq(Direction::In.as_str()))
            .filter(message::Column::AuthorContactId.eq(t.contact_id))
            .order_by_desc(message::Column::CreatedAt)
            .one(&**tx)
            .await?;
        match last {
            Some(m) if at - m.created_at <= chrono::Duration::hours(24) => Ok(()),
            _ => Err(Error::Conflict {
                code: "whatsapp_window",
                message: "more than 24 hours since the customer last wrote on WhatsApp: only a template message can be sent now".into(),
            }),
        }
    }

    /// A provider's report on a message we sent, found by `(channel, external_id)`. It
    /// never moves backwards (a late "sent" after "delivered" changes nothing, nor does
    /// anything after "failed"). Returns whether the message changed.
    pub async fn delivery_reported(
        &self,
        channel: Channel,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Result<bool> {
        let rank = |s: &str| match s {
            "queued" => 0,
            "sent" => 1,
            "delivered" => 2,
            "read" => 3,
            "failed" => 4,
            _ => 0,
        };
        let Some(m) = message::Entity::find()
            .filter(message::Column::Channel.eq(channel.as_str()))
            .filter(message::Column::ExternalId.eq(external_id))
            .filter(message::Column::Direction.eq(Direction::Out.as_str()))
            .one(self.store.db())
            .await?
        else {
            return Ok(false);
        };
        let now_rank = rank(&m.delivery_status);
        let new_rank = rank(status.as_str());
        let forward = if status == DeliveryStatus::Failed {
            now_rank < rank("delivered")
        } else {
            new_rank > now_rank && now_rank != rank("failed")
        };
        if !forward {
            return Ok(false);
        }
        self.set_delivery(m.id, status, error).await?;
        Ok(true)
    }

    /// The files of a message, in the order they came.
    pub async fn attachments_of(&self, message_id: i64) -> Result<Vec<attachment::Model>> {
        Ok(attachment::Entity::find()
            .filter(attachment::Column::MessageId.eq(message_id))
            .order_by_asc(attachment::Column::Id)
            .all(self.store.db())
            .await?)
    }

    /// One attachment's metadata.
    pub async fn attachment(&self, id: i64) -> Result<attachment::Model> {
        attachment::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("attachment", id))
    }

    /// Checks the files of a reply: uploaded before, with a usable name and type.
    fn check_reply_files<'a>(&self, files: &'a [ReplyFile]) -> Result<Vec<(&'a ReplyFile, i64)>> {
        if files.len() > MAX_REPLY_FILES {
            return Err(Error::invalid(
                "attachments",
                format!("at most {MAX_REPLY_FILES} files"),
            ));
        }
        let checked: Vec<(&ReplyFile, i64)> = files
            .iter()
            .map(|f| {
                let size = self.blobs.size(&f.sha256).ok_or_else(|| {
                    Error::invalid("attachments.sha256", "no upload with this hash")
                })?;
                check_text("attachments.filename", &f.filename, 255)?;
                if f.filename.contains(['/', '\\']) || f.filename.chars().any(char::is_control) {
                    return Err(Error::invalid(
                        "attachments.filename",
                        "a file name, no folders",
                    ));
                }
                check_text("attachments.content_type", &f.content_type, 200)?;
                if !f.content_type.contains('/')
                    || f.content_type
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(Error::invalid(
                        "attachments.content_type",
                        "a media type such as application/pdf",
                    ));
                }
                Ok((f, size as i64))
            })
            .collect::<Result<_>>()?;
        let total: i64 = checked.iter().map(|(_, size)| size).sum();
        if total as u64 > self.rules.mail.max_message_bytes {
            return Err(Error::invalid(
                "attachments",
                format!(
                    "together larger than {}",
                    super::email::megabytes(self.rules.mail.max_message_bytes)
                ),
            ));
        }
        Ok(checked)
    }

    /// A message by id.
    pub async fn message(&self, id: i64) -> Result<message::Model> {
        message::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("message", id))
    }

    /// The contact's tickets, newest first (the contact panel's "earlier tickets").
    pub async fn contact_tickets(&self, contact_id: i64, limit: u64) -> Result<Vec<ticket::Model>> {
        Ok(ticket::Entity::find()
            .filter(Condition::all().add(ticket::Column::ContactId.eq(contact_id)))
            .order_by_desc(ticket::Column::Id)
            .limit(limit)
            .all(self.store.db())
            .await?)
    }
}

/// A message an agent (or integration) writes on a ticket: a reply queued for delivery
/// on the ticket's channel, or a note that never leaves the desk.
fn agent_message(
    t: &ticket::Model,
    direction: Direction,
    actor: Actor,
    text: &str,
    html: Option<String>,
    at: DateTime<Utc>,
) -> message::ActiveModel {
    let delivery = if direction == Direction::Out {
        DeliveryStatus::Queued
    } else {
        DeliveryStatus::None
    };
    message::ActiveModel {
        ticket_id: Set(t.id),
        direction: Set(direction.as_str().into()),
        channel: Set(t.channel.clone()),
        author_agent_id: Set(actor.agent_id()),
        author_contact_id: Set(None),
        text: Set(text.to_owned()),
        html: Set(html),
        external_id: Set(None),
        delivery_status: Set(delivery.as_str().into()),
        delivery_error: Set(None),
        created_at: Set(at),
        ..Default::default()
    }
}

/// Cuts rows read with `limit + 1` to a page: the rows and, when there were more, the
/// cursor for the next page (the id of its last row).
pub(crate) fn page_of<T>(
    mut rows: Vec<T>,
    limit: u64,
    id: impl Fn(&T) -> i64,
) -> (Vec<T>, Option<String>) {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(|r| id(r).to_string());
        (rows, next)
    } else {
        (rows, None)
    }
}

/// Reads a list cursor: the id of the last item of the previous page.
pub fn parse_cursor(cursor: &str) -> Result<i64> {
    cursor
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Error::invalid("cursor", "not a cursor from a previous page"))
}
