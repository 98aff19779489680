//! Email rules: loop protection, the forward of an agent, mail too large to fetch,
//! acknowledgements, who a reply goes to, and the IMAP checkpoint.
//!
//! Threading itself is [`Desk::ingest`]'s: header references first, then a `[#number]`
//! tag whose ticket belongs to the sender, else a new ticket. What is email-only is
//! decided here, from the facts the mail adapter read off the wire ([`MailFacts`]).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::channels::MailSettings;
use super::identity::{IdentityClaim, IdentityKind, normalize_email};
use super::ingest::record;
use super::{
    Actor, Channel, DeliveryStatus, Desk, Direction, Error, IngestOutcome, Result, ThreadRef,
};
use crate::outbox;
use crate::store::{WriteTx, now};
use entity::{agent, channel, identity, mail_checkpoint, message, ticket};

/// Limits of the email rules, from the configuration.
#[derive(Clone, Debug)]
pub struct MailRules {
    /// Larger mail is not fetched; a note records it and the sender is told.
    pub max_message_bytes: u64,
    /// Automatic answers (acknowledgements, notices) one contact gets per hour at most.
    pub auto_answers_per_hour: u64,
}

impl Default for MailRules {
    fn default() -> Self {
        MailRules {
            max_message_bytes: 25 * 1024 * 1024,
            auto_answers_per_hour: 3,
        }
    }
}

/// The mail addresses of one message, lower-cased; kept on the message.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Addresses {
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// The agent who forwarded the message to the desk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<String>,
    /// Set on automatic mail: `auto-replied` on the desk's own automatic answers and on
    /// customers' auto-replies kept on a conversation, `bulk` or `list` for such mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_submitted: Option<String>,
}

/// Why a mail was written by a machine rather than a person.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Automatic {
    /// An auto-responder: out of office, "we got your message" (RFC 3834).
    AutoReply,
    /// `Precedence: bulk` or `junk`: newsletters, old-style responders.
    Bulk,
    /// Mailing-list traffic (`List-Id` and friends).
    List,
    /// A delivery status notification about mail we sent: the Message-IDs it names
    /// and the reason the server gave.
    Bounce { of: Vec<String>, reason: String },
    /// The desk's own outgoing mail, come back.
    Own,
}

impl Automatic {
    /// The word a stored automatic mail is marked with (`auto_submitted`).
    pub fn label(&self) -> &'static str {
        match self {
            Automatic::AutoReply => "auto-replied",
            Automatic::Bulk => "bulk",
            Automatic::List => "list",
            Automatic::Bounce { .. } => "bounce",
            Automatic::Own => "own",
        }
    }
}

impl std::fmt::Display for Automatic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Automatic::AutoReply => "an automatic reply",
            Automatic::Bulk => "bulk mail",
            Automatic::List => "mailing-list mail",
            Automatic::Bounce { .. } => "a bounce",
            Automatic::Own => "our own mail",
        })
    }
}

/// The original sender of a forwarded mail.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Forwarded {
    pub email: String,
    pub name: Option<String>,
}

/// How far an IMAP folder has been read once this message is stored.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Checkpoint {
    pub channel_id: i64,
    pub folder: String,
    pub uid_validity: i64,
    pub uid: i64,
}

/// What only mail has, read off the wire by the mail adapter.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct MailFacts {
    pub addresses: Addresses,
    pub automatic: Option<Automatic>,
    /// Set when the mail forwards someone else's mail.
    pub forwarded: Option<Forwarded>,
    /// The size of a mail that was not fetched because it is over the limit.
    pub too_large: Option<u64>,
    pub checkpoint: Option<Checkpoint>,
}

/// What became of a received mail.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Received {
    /// Stored on a ticket (or found stored already: `created` is false).
    Stored(IngestOutcome),
    /// A bounce: the outgoing message it names is marked failed.
    Bounced { message_id: i64 },
    /// Not stored, for the reason given (automatic mail with no conversation to join,
    /// our own mail come back). Read from IMAP, it stays in the mailbox.
    Ignored { reason: String },
}

/// Who a reply by mail goes to and which conversation it continues.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MailRecipients {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// The customer's latest Message-ID on the ticket.
    pub in_reply_to: Option<String>,
    /// The ticket's Message-IDs, oldest first (bounded).
    pub references: Vec<String>,
}

/// Most Message-IDs a reply's References header carries.
const MAX_REFERENCES: usize = 20;

impl Desk {
    /// Receives one mail: the loop rules first, then [`Desk::ingest`]. Safe to repeat.
    pub async fn receive_mail(&self, mut inbound: super::Inbound) -> Result<Received> {
        if inbound.channel != Channel::Email {
            return Err(Error::invalid("channel", "receive_mail takes email"));
        }
        let mail = inbound.mail.clone().unwrap_or_default();
        match &mail.automatic {
            Some(Automatic::Own) => {
                return self.pass_over(&mail, "our own mail came back".into()).await;
            }
            Some(Automatic::Bounce { of, reason }) => {
                return self.bounced(&mail, of, reason).await;
            }
            Some(automatic) => {
                if !self.references_known(&inbound).await? {
                    return self
                        .pass_over(&mail, format!("{automatic} with no conversation to join"))
                        .await;
                }
                // Kept on its conversation, marked, so that no answer goes to it.
                if let Some(m) = inbound.mail.as_deref_mut() {
                    m.addresses.auto_submitted = Some(automatic.label().into());
                }
            }
            None => {}
        }
        if let Some(forwarded) = &mail.forwarded
            && self.is_agent_address(&mail.addresses.from).await?
            && !self.own_addresses().await?.contains(&forwarded.email)
        {
            // An agent forwards a customer's mail: the customer's ticket, not theirs,
            // and answers go to the customer alone.
            inbound.identity = IdentityClaim::new(IdentityKind::Email, forwarded.email.clone());
            inbound.name = forwarded.name.clone();
            if let Some(m) = inbound.mail.as_deref_mut() {
                m.addresses = Addresses {
                    from: forwarded.email.clone(),
                    forwarded_by: Some(m.addresses.from.clone()),
                    ..Default::default()
                };
            }
        }
        if let Some(size) = mail.too_large {
            inbound.text = format!(
                "An email from {} ({}) was larger than the {} limit and was not fetched. It is still in the mailbox; the sender was told.",
                mail.addresses.from,
                megabytes(size),
                megabytes(self.rules.mail.max_message_bytes),
            );
            inbound.html = None;
            inbound.attachments.clear();
        }
        let outcome = self.ingest(&inbound).await?;
        if !outcome.created {
            // A replay: the first delivery stored it, perhaps without the checkpoint.
            self.advance_checkpoint(mail.checkpoint.as_ref()).await?;
        }
        Ok(Received::Stored(outcome))
    }

    /// Moves a mail account's checkpoint forward past a mail that is not stored (or was
    /// stored before).
    pub async fn advance_checkpoint(&self, checkpoint: Option<&Checkpoint>) -> Result<()> {
        let Some(cp) = checkpoint else {
            return Ok(());
        };
        let tx = self.store.write().await?;
        save_checkpoint(&*tx, cp).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Where a mail account's folder was left, if it was read before.
    pub async fn checkpoint(&self, channel_id: i64) -> Result<Option<mail_checkpoint::Model>> {
        Ok(mail_checkpoint::Entity::find_by_id(channel_id)
            .one(self.store.db())
            .await?)
    }

    /// Starts a folder over (its UIDVALIDITY changed): every mail in it is read again,
    /// and what was stored before is recognised by its Message-ID.
    pub async fn reset_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        self.advance_checkpoint(Some(&Checkpoint {
            uid: 0,
            ..cp.clone()
        }))
        .await
    }

    async fn pass_over(&self, mail: &MailFacts, reason: String) -> Result<Received> {
        tracing::info!(from = %mail.addresses.from, "mail not stored: {reason}");
        self.advance_checkpoint(mail.checkpoint.as_ref()).await?;
        Ok(Received::Ignored { reason })
    }

    /// A bounce marks the outgoing message it is about as failed, with the server's
    /// reason, and records it on the ticket.
    async fn bounced(&self, mail: &MailFacts, of: &[String], reason: &str) -> Result<Received> {
        let ids: Vec<&str> = of.iter().take(20).map(String::as_str).collect();
        let tx = self.store.write().await?;
        let found = message::Entity::find()
            .filter(message::Column::Channel.eq(Channel::Email.as_str()))
            .filter(message::Column::Direction.eq(Direction::Out.as_str()))
            .filter(message::Column::ExternalId.is_in(ids))
            .one(&*tx)
            .await?;
        let Some(m) = found else {
            drop(tx);
            return self
                .pass_over(mail, "a bounce about mail we did not send".into())
                .await;
        };
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(1000)
            .collect();
        let updated = message::ActiveModel {
            id: Set(m.id),
            delivery_status: Set(DeliveryStatus::Failed.as_str().into()),
            delivery_error: Set(Some(reason.clone())),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        record(
            &*tx,
            m.ticket_id,
            Actor::System,
            "bounced",
            json!({"message_id": m.id, "reason": reason}),
            now(),
        )
        .await?;
        if let Some(cp) = &mail.checkpoint {
            save_checkpoint(&*tx, cp).await?;
        }
        tx.commit().await?;
        self.hub.message_updated(&updated);
        Ok(Received::Bounced { message_id: m.id })
    }

    /// Whether a mail names a stored mail of ours in its In-Reply-To or References.
    async fn references_known(&self, inbound: &super::Inbound) -> Result<bool> {
        let Some(ThreadRef::Messages(ids)) = &inbound.thread else {
            return Ok(false);
        };
        let ids: Vec<&str> = ids.iter().take(100).map(String::as_str).collect();
        Ok(message::Entity::find()
            .filter(message::Column::Channel.eq(Channel::Email.as_str()))
            .filter(message::Column::ExternalId.is_in(ids))
            .count(self.store.db())
            .await?
            > 0)
    }

    async fn is_agent_address(&self, email: &str) -> Result<bool> {
        let Ok(email) = normalize_email(email) else {
            return Ok(false);
        };
        Ok(agent::Entity::find()
            .filter(agent::Column::Email.eq(email))
            .filter(agent::Column::Active.eq(true))
            .count(self.store.db())
            .await?
            > 0)
    }

    /// The ticket numbered `number` if the contact belongs to it: it is the ticket's
    /// contact or has written on it. A tag alone never lets a stranger in.
    pub(crate) async fn ticket_of_participant<C: ConnectionTrait>(
        &self,
        db: &C,
        number: i64,
        contact_id: i64,
    ) -> Result<Option<ticket::Model>> {
        let Some(t) = Desk::ticket_numbered(db, number).await? else {
            return Ok(None);
        };
        if t.contact_id == contact_id {
            return Ok(Some(t));
        }
        let wrote = message::Entity::find()
            .filter(message::Column::TicketId.eq(t.id))
            .filter(message::Column::AuthorContactId.eq(contact_id))
            .count(db)
            .await?
            > 0;
        Ok(wrote.then_some(t))
    }

    /// The email part of an ingest, in its transaction: the checkpoint, and the
    /// automatic answer a new ticket or an oversized mail gets.
    pub(crate) async fn mail_received(
        &self,
        tx: &WriteTx,
        inbound: &super::Inbound,
        t: &ticket::Model,
        new_ticket: bool,
        contact_id: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let Some(mail) = inbound.mail.as_deref() else {
            return Ok(());
        };
        if let Some(cp) = &mail.checkpoint {
            save_checkpoint(&**tx, cp).await?;
        }
        // Automatic mail gets no answer, nor does old mail (a mailbox read for the first
        // time, with its history).
        let old = inbound
            .sent_at
            .is_some_and(|sent| at - sent > chrono::Duration::hours(24));
        if mail.automatic.is_some() || old {
            return Ok(());
        }
        let account = match inbound.channel_id {
            Some(id) => channel::Entity::find_by_id(id).one(&**tx).await?,
            None => None,
        };
        let settings = account
            .and_then(|c| serde_json::from_value::<MailSettings>(c.settings).ok())
            .unwrap_or_default();
        let to = mail
            .addresses
            .reply_to
            .clone()
            .unwrap_or_else(|| mail.addresses.from.clone());
        let text = if mail.too_large.is_some() {
            Some(
                settings
                    .texts()
                    .too_large(t, self.rules.mail.max_message_bytes),
            )
        } else if new_ticket && settings.acknowledge && mail.addresses.forwarded_by.is_none() {
            Some(
                settings
                    .texts()
                    .acknowledgement(t, settings.ack_text.as_deref()),
            )
        } else {
            None
        };
        if let Some(text) = text {
            self.auto_answer(tx, t, contact_id, &to, &text, at).await?;
        }
        Ok(())
    }

    /// Queues an automatic answer on the ticket, unless the contact had their share of
    /// them this hour (two desks answering each other stop here at the latest).
    async fn auto_answer(
        &self,
        tx: &WriteTx,
        t: &ticket::Model,
        contact_id: i64,
        to: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let hour_ago = at - chrono::Duration::hours(1);
        let tickets_of_contact = sea_orm::sea_query::Query::select()
            .column(ticket::Column::Id)
            .from(ticket::Entity)
            .and_where(ticket::Column::ContactId.eq(contact_id))
            .to_owned();
        let recent = message::Entity::find()
            .filter(message::Column::TicketId.in_subquery(tickets_of_contact))
            .filter(message::Column::Direction.eq(Direction::Out.as_str()))
            .filter(message::Column::Channel.eq(Channel::Email.as_str()))
            .filter(message::Column::AuthorAgentId.is_null())
            .filter(message::Column::CreatedAt.gt(hour_ago))
            .count(&**tx)
            .await?;
        // The same address may stand behind many senders (a Reply-To): count it too.
        let to_pattern = format!("%\"to\":[{}]%", json!(to));
        let to_recent = message::Entity::find()
            .filter(message::Column::Direction.eq(Direction::Out.as_str()))
            .filter(message::Column::Channel.eq(Channel::Email.as_str()))
            .filter(message::Column::AuthorAgentId.is_null())
            .filter(message::Column::CreatedAt.gt(hour_ago))
            .filter(
                sea_orm::sea_query::Expr::col(message::Column::Addresses)
                    .cast_as(sea_orm::sea_query::Alias::new("TEXT"))
                    .like(to_pattern),
            )
            .count(&**tx)
            .await?;
        if std::cmp::max(recent, to_recent) >= self.rules.mail.auto_answers_per_hour {
            record(
                &**tx,
                t.id,
                Actor::System,
                "auto_answer_held",
                json!({"to": to, "reason": "rate limit"}),
                at,
            )
            .await?;
            return Ok(());
        }
        let addresses = Addresses {
            to: vec![to.to_owned()],
            auto_submitted: Some("auto-replied".into()),
            ..Default::default()
        };
        let m = message::ActiveModel {
            ticket_id: Set(t.id),
            direction: Set(Direction::Out.as_str().into()),
            channel: Set(Channel::Email.as_str().into()),
            author_agent_id: Set(None),
            author_contact_id: Set(None),
            text: Set(text.to_owned()),
            html: Set(None),
            external_id: Set(None),
            addresses: Set(Some(json!(addresses))),
            delivery_status: Set(DeliveryStatus::Queued.as_str().into()),
            delivery_error: Set(None),
            created_at: Set(at),
            ..Default::default()
        }
        .insert(&**tx)
        .await?;
        outbox::enqueue(&**tx, outbox::kind::DELIVER, json!({"message_id": m.id})).await?;
        Ok(())
    }

    /// Who an agent's reply on a mail ticket goes to: the sender of the customer's
    /// latest mail (its Reply-To if it has one) and, as with "reply all", the others it
    /// was addressed to, except the desk's own addresses. Without any mail on the
    /// ticket (a chat that goes on by mail), the contact's email address.
    pub async fn mail_recipients(&self, t: &ticket::Model) -> Result<MailRecipients> {
        let db = self.store.db();
        let mails = message::Entity::find()
            .filter(message::Column::TicketId.eq(t.id))
            .filter(message::Column::Channel.eq(Channel::Email.as_str()))
            .filter(message::Column::ExternalId.is_not_null())
            .order_by_asc(message::Column::Id)
            .all(db)
            .await?;
        let own = self.own_addresses().await?;
        let mut r = MailRecipients::default();
        let addresses = |m: &message::Model| -> Addresses {
            m.addresses
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default()
        };
        // The customer's latest mail written by a person; someone else on the thread
        // (a colleague in copy, or a stranger who knows a Message-ID) never takes
        // the customer's place.
        let from_people: Vec<&message::Model> = mails
            .iter()
            .filter(|m| m.direction == Direction::In.as_str())
            .filter(|m| addresses(m).auto_submitted.is_none())
            .collect();
        let latest_in = from_people
            .iter()
            .rev()
            .find(|m| m.author_contact_id == Some(t.contact_id))
            .or(from_people.last());
        if let Some(m) = latest_in {
            r.in_reply_to = m.external_id.clone();
            let a = addresses(m);
            let sender = a.reply_to.clone().unwrap_or(a.from.clone());
            if !sender.is_empty() && !own.contains(&sender) {
                r.to.push(sender);
            }
            // "Reply all": the others it went to. The From of a mail with a Reply-To
            // (a web form's robot) is not one of them.
            let from = a.reply_to.is_none().then_some(&a.from);
            for addr in a.to.iter().chain(&a.cc).chain(from) {
                if !addr.is_empty()
                    && !own.contains(addr)
                    && !r.to.contains(addr)
                    && !r.cc.contains(addr)
                {
                    r.cc.push(addr.clone());
                }
            }
        }
        if r.to.is_empty() {
            r.cc.clear();
            let email = identity::Entity::find()
                .filter(identity::Column::ContactId.eq(t.contact_id))
                .filter(identity::Column::Kind.eq(IdentityKind::Email.as_str()))
                .order_by_desc(identity::Column::Verified)
                .order_by_asc(identity::Column::Id)
                .one(db)
                .await?;
            if let Some(i) = email {
                r.to.push(i.value);
            }
        }
        let ids: Vec<String> = mails.into_iter().filter_map(|m| m.external_id).collect();
        let skip = ids.len().saturating_sub(MAX_REFERENCES - 1);
        // The first mail starts the thread; keep it, and the latest ones.
        r.references = ids
            .iter()
            .take(1)
            .chain(ids.iter().skip(skip.max(1)))
            .cloned()
            .collect();
        Ok(r)
    }

    /// The addresses of the configured mail accounts, lower-cased.
    pub async fn own_addresses(&self) -> Result<Vec<String>> {
        let accounts = channel::Entity::find()
            .filter(channel::Column::Kind.eq(super::channels::MAIL))
            .all(self.store.db())
            .await?;
        Ok(accounts
            .into_iter()
            .filter_map(|c| serde_json::from_value::<MailSettings>(c.settings).ok())
            .map(|s| s.address)
            .collect())
    }

    /// Gives an outgoing mail its Message-ID before it is first sent, so every retry
    /// sends the same one and replies find the ticket. Returns the id it has.
    pub async fn stamp_message_id(&self, message_id: i64, proposed: &str) -> Result<String> {
        let tx = self.store.write().await?;
        let m = message::Entity::find_by_id(message_id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("message", message_id))?;
        if let Some(id) = m.external_id {
            return Ok(id);
        }
        message::ActiveModel {
            id: Set(m.id),
            external_id: Set(Some(proposed.to_owned())),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        tx.commit().await?;
        Ok(proposed.to_owned())
    }

    /// Records who an outgoing mail went to, once it was sent.
    pub async fn mail_sent(&self, message_id: i64, addresses: &Addresses) -> Result<()> {
        let tx = self.store.write().await?;
        let m = message::ActiveModel {
            id: Set(message_id),
            addresses: Set(Some(json!(addresses))),
            delivery_status: Set(DeliveryStatus::Sent.as_str().into()),
            delivery_error: Set(None),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        tx.commit().await?;
        self.hub.message_updated(&m);
        Ok(())
    }
}

async fn save_checkpoint<C: ConnectionTrait>(db: &C, cp: &Checkpoint) -> Result<()> {
    mail_checkpoint::Entity::insert(mail_checkpoint::ActiveModel {
        channel_id: Set(cp.channel_id),
        folder: Set(cp.folder.clone()),
        uid_validity: Set(cp.uid_validity),
        last_uid: Set(cp.uid),
        updated_at: Set(now()),
    })
    .on_conflict(
        OnConflict::column(mail_checkpoint::Column::ChannelId)
            .update_columns([
                mail_checkpoint::Column::Folder,
                mail_checkpoint::Column::UidValidity,
                mail_checkpoint::Column::LastUid,
                mail_checkpoint::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// A size for people: "31.2 MB".
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}
