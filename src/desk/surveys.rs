//! Satisfaction surveys: one per resolved ticket, sent in the ticket's channel with a
//! signed, single-use link, answered on a public page (rating 1–5 and a comment) and
//! changeable for a few days through the new link the answer gives.
//!
//! A link is `/survey/{id}.{link_version}.{expiry}.{signature}`, the signature an
//! HMAC-SHA256 with the desk's survey key over the three numbers. Every answer bumps
//! the survey's `link_version`, so each link works once; a forged or unknown link
//! cannot be told apart from one that never existed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use super::channels::{Language, MailSettings};
use super::email::Addresses;
use super::feedback::{
    FeedbackItem, FeedbackKind, FeedbackSource, check_comment, complaint_items, feedback_items,
    feedback_row,
};
use super::identity::IdentityKind;
use super::ingest::record;
use super::{
    Actor, Channel, DeliveryStatus, Desk, Direction, Error, Result, Status, stored, words,
};
use crate::outbox::{self, Handler, Job, JobError};
use crate::store::{WriteTx, now};
use entity::{channel, feedback, identity, message, survey, ticket, ticket_event};

type HmacSha256 = Hmac<Sha256>;

/// The outbox kind of a survey to send. Payload: `{"survey_id": …}`.
pub const SURVEY: &str = "survey";

words! {
    /// Where a survey is: waiting to be sent, sent, answered, or not sent (skipped
    /// with a reason, failed).
    SurveyStatus, "status" {
        Pending = "pending", Sent = "sent", Answered = "answered", Skipped = "skipped",
        Failed = "failed",
    }
}

/// The server's key that signs survey links: kept in a file of the data directory
/// (created once, mode 0600) or, for tests and tools without one, made up in memory.
#[derive(Clone)]
pub struct SurveyKey {
    file: Option<PathBuf>,
    key: Arc<Mutex<Option<Vec<u8>>>>,
}

impl std::fmt::Debug for SurveyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SurveyKey({:?}, …)", self.file)
    }
}

impl SurveyKey {
    /// A key that lives as long as the process.
    pub fn in_memory() -> SurveyKey {
        SurveyKey {
            file: None,
            key: Arc::new(Mutex::new(Some(random_key()))),
        }
    }

    /// The key in `path`, created there on first use.
    pub fn file(path: PathBuf) -> SurveyKey {
        SurveyKey {
            file: Some(path),
            key: Arc::default(),
        }
    }

    fn bytes(&self) -> Result<Vec<u8>> {
        let mut key = self.key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = key.as_ref() {
            return Ok(k.clone());
        }
        let path = self.file.as_ref().expect("a key without a file is made up");
        let loaded = load_or_create_key(path).map_err(|e| {
            Error::Store(sea_orm::DbErr::Custom(format!(
                "survey key {}: {e}",
                path.display()
            )))
        })?;
        *key = Some(loaded.clone());
        Ok(loaded)
    }
}

fn random_key() -> Vec<u8> {
    use rand::RngCore;
    let mut buf = vec![0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// Reads the key file, or writes a new random key to it (readable by the owner only).
fn load_or_create_key(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let read = |path: &std::path::Path| -> std::io::Result<Vec<u8>> {
        let text = std::fs::read_to_string(path)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .filter(|b| b.len() >= 32)
            .ok_or_else(|| std::io::Error::other("not a key this desk wrote"))?;
        Ok(bytes)
    };
    if path.exists() {
        return read(path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let key = random_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            f.write_all(URL_SAFE_NO_PAD.encode(&key).as_bytes())?;
            f.sync_all()?;
            Ok(key)
        }
        // Another process made it first: theirs counts.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e),
    }
}

/// The survey settings.
#[derive(Clone, Debug)]
pub struct SurveyRules {
    /// Channels whose tickets get a survey when no configured channel says otherwise.
    pub channels: Vec<Channel>,
    /// How long a survey's first link takes an answer.
    pub valid_for: Duration,
    /// How long after the answer the link it gives may change it.
    pub change_for: Duration,
    /// How long after the resolution the survey goes out.
    pub delay: Duration,
    /// The desk's public address the links point at.
    pub public_url: url::Url,
    pub key: SurveyKey,
}

impl Default for SurveyRules {
    fn default() -> Self {
        SurveyRules {
            channels: vec![
                Channel::Email,
                Channel::Chat,
                Channel::Whatsapp,
                Channel::Telegram,
                Channel::Sms,
            ],
            valid_for: Duration::from_secs(14 * 86_400),
            change_for: Duration::from_secs(3 * 86_400),
            delay: Duration::ZERO,
            public_url: url::Url::parse("http://127.0.0.1:8080").expect("a URL"),
            key: SurveyKey::in_memory(),
        }
    }
}

/// What a link in hand is good for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Forged, mangled, or naming no survey: the same answer for all of them.
    Unknown,
    /// Too late to answer or change the answer.
    Expired,
    /// Used already; the answer it gave was recorded.
    Used,
}

/// A survey whose link is good: what its page shows.
#[derive(Clone, Debug, Serialize)]
pub struct SurveyForm {
    pub survey_id: i64,
    pub ticket_number: i64,
    pub ticket_subject: String,
    /// The answer given so far (when the link changes it).
    pub rating: Option<i32>,
    pub comment: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A recorded answer and the new link that may change it.
#[derive(Clone, Debug, Serialize)]
pub struct Answered {
    pub feedback: FeedbackItem,
    /// The new link's token (its path is `/survey/{change_token}`).
    pub change_token: String,
    pub change_url: String,
    pub change_until: DateTime<Utc>,
}

/// Whether an address is one nobody reads (no-reply senders, mailer daemons).
pub fn is_no_reply(address: &str) -> bool {
    let local = address
        .rsplit_once('@')
        .map(|(l, _)| l)
        .unwrap_or(address)
        .to_ascii_lowercase();
    let squashed: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    squashed.starts_with("noreply")
        || squashed.starts_with("donotreply")
        || squashed.starts_with("donotrespond")
        || squashed.starts_with("mailerdaemon")
        || squashed == "postmaster"
        || squashed.starts_with("bounce")
}

fn signature(key: &[u8], id: i64, version: i32, expiry: i64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(format!("survey:{id}:{version}:{expiry}").as_bytes());
    m
}

/// The parts of a well-formed link whose signature is the desk's.
fn verify_token(key: &[u8], token: &str) -> Option<(i64, i32, i64)> {
    if token.len() > 200 {
        return None;
    }
    let mut parts = token.split('.');
    let id = parts.next()?.parse::<i64>().ok().filter(|i| *i > 0)?;
    let version = parts.next()?.parse::<i32>().ok().filter(|v| *v >= 0)?;
    let expiry = parts.next()?.parse::<i64>().ok()?;
    let sig = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    signature(key, id, version, expiry)
        .verify_slice(&sig)
        .ok()?;
    Some((id, version, expiry))
}

impl Desk {
    /// The signed token of a survey's current link.
    pub fn survey_token(&self, s: &survey::Model) -> Result<String> {
        let key = self.rules.survey.key.bytes()?;
        let expiry = s.expires_at.timestamp();
        let sig = signature(&key, s.id, s.link_version, expiry).finalize();
        Ok(format!(
            "{}.{}.{expiry}.{}",
            s.id,
            s.link_version,
            URL_SAFE_NO_PAD.encode(sig.into_bytes())
        ))
    }

    /// The public address of a survey's current link.
    pub fn survey_url(&self, s: &survey::Model) -> Result<String> {
        let mut url = self.rules.survey.public_url.clone();
        url.set_path(&format!("/survey/{}", self.survey_token(s)?));
        url.set_query(None);
        Ok(url.to_string())
    }

    /// The survey of a ticket, if it had one.
    pub async fn ticket_survey(&self, ticket_id: i64) -> Result<Option<survey::Model>> {
        Ok(survey::Entity::find()
            .filter(survey::Column::TicketId.eq(ticket_id))
            .one(self.store.db())
            .await?)
    }

    /// Called in the transaction that resolves a ticket: queues its survey, unless the
    /// ticket had one, its channel has surveys off, or the customer is a machine.
    pub(crate) async fn survey_on_resolve(
        &self,
        tx: &WriteTx,
        t: &ticket::Model,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let had = survey::Entity::find()
            .filter(survey::Column::TicketId.eq(t.id))
            .one(&**tx)
            .await?;
        if had.is_some() || !self.surveys_enabled(tx, t).await? {
            return Ok(());
        }
        if t.channel == Channel::Email.as_str() && self.automatic_sender(tx, t).await? {
            return Ok(());
        }
        let rules = &self.rules.survey;
        let send_at = at + chrono::Duration::from_std(rules.delay).unwrap_or_default();
        let s = survey::ActiveModel {
            ticket_id: Set(t.id),
            channel: Set(t.channel.clone()),
            link_version: Set(0),
            status: Set(SurveyStatus::Pending.as_str().into()),
            reason: Set(None),
            feedback_id: Set(None),
            sent_at: Set(None),
            expires_at: Set(
                send_at + chrono::Duration::from_std(rules.valid_for).unwrap_or_default()
            ),
            answered_at: Set(None),
            created_at: Set(at),
            ..Default::default()
        }
        .insert(&**tx)
        .await?;
        let mut row = outbox::row(SURVEY, json!({"survey_id": s.id}));
        row.run_after = Set(send_at);
        row.insert(&**tx).await?;
        Ok(())
    }

    /// Whether the ticket's channel sends surveys: the configured channel's `survey`
    /// flag where it has one, else the configured list of channels.
    async fn surveys_enabled(&self, tx: &WriteTx, t: &ticket::Model) -> Result<bool> {
        if let Some(id) = t.channel_id
            && let Some(c) = channel::Entity::find_by_id(id).one(&**tx).await?
            && let Some(on) = c.settings.get("survey").and_then(|v| v.as_bool())
        {
            return Ok(on);
        }
        Ok(t.channel
            .parse::<Channel>()
            .is_ok_and(|c| self.rules.survey.channels.contains(&c)))
    }

    /// Whether the ticket's first mail came from a machine: marked automatic when it
    /// came, or from a no-reply style address.
    async fn automatic_sender(&self, tx: &WriteTx, t: &ticket::Model) -> Result<bool> {
        let first = message::Entity::find()
            .filter(message::Column::TicketId.eq(t.id))
            .filter(message::Column::Direction.eq(Direction::In.as_str()))
            .order_by_asc(message::Column::Id)
            .one(&**tx)
            .await?;
        let Some(first) = first else {
            return Ok(false);
        };
        let a: Addresses = first
            .addresses
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(a.auto_submitted.is_some()
            || is_no_reply(&a.from)
            || a.reply_to.as_deref().is_some_and(is_no_reply))
    }

    /// Sends a queued survey (the outbox's `survey` job): an outgoing message on the
    /// ticket with the link, in the customer's language where known, delivered like a
    /// reply. It neither reopens the ticket nor counts as its first response nor moves
    /// it in the queue. A survey that has no way to the customer is skipped with the
    /// reason. Safe to repeat.
    pub async fn send_survey(&self, survey_id: i64) -> Result<()> {
        let tx = self.store.write().await?;
        self.store.lock_row(&tx, "survey", survey_id).await?;
        let Some(s) = survey::Entity::find_by_id(survey_id).one(&*tx).await? else {
            return Err(Error::not_found("survey", survey_id));
        };
        if s.status != SurveyStatus::Pending.as_str() {
            return Ok(());
        }
        let t = ticket::Entity::find_by_id(s.ticket_id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", s.ticket_id))?;
        let at = now();
        let mut addresses = None;
        let unreachable = match stored::<Channel>(&t.channel)? {
            Channel::Email => {
                let r = self.mail_recipients(&t).await?;
                if r.to.is_empty() {
                    Some("the customer has no email address".to_owned())
                } else {
                    addresses = Some(json!(Addresses {
                        to: r.to,
                        auto_submitted: Some("auto-replied".into()),
                        ..Default::default()
                    }));
                    None
                }
            }
            Channel::Chat => {
                self.lacks(&tx, &t, IdentityKind::Visitor, "chat session")
                    .await?
            }
            Channel::Whatsapp | Channel::Sms => {
                self.lacks(&tx, &t, IdentityKind::Phone, "phone number")
                    .await?
            }
            Channel::Telegram => {
                self.lacks(&tx, &t, IdentityKind::Telegram, "Telegram chat")
                    .await?
            }
            other => Some(format!("surveys cannot be sent on the {other} channel")),
        };
        let mut update = survey::ActiveModel {
            id: Set(s.id),
            ..Default::default()
        };
        if let Some(reason) = unreachable {
            update.status = Set(SurveyStatus::Skipped.as_str().into());
            update.reason = Set(Some(reason.clone()));
            update.update(&*tx).await?;
            record(
                &*tx,
                t.id,
                Actor::System,
                "survey_skipped",
                json!({"survey_id": s.id, "reason": reason}),
                at,
            )
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        // The stored text carries a placeholder, never the link: agents read the
        // ticket, the search index stores it, and the link is the customer's alone. The
        // link goes in when the message is delivered ([`Desk::for_delivery`]).
        let text = survey_text(self.language_of(&tx, &t).await?, &t);
        let m = message::ActiveModel {
            ticket_id: Set(t.id),
            direction: Set(Direction::Out.as_str().into()),
            channel: Set(t.channel.clone()),
            author_agent_id: Set(None),
            author_contact_id: Set(None),
            text: Set(text),
            html: Set(None),
            // The `survey_sent` entry of the ticket's history names this message as the
            // survey's (see [`Desk::message_survey`]).
            external_id: Set(None),
            addresses: Set(addresses),
            delivery_status: Set(DeliveryStatus::Queued.as_str().into()),
            delivery_error: Set(None),
            created_at: Set(at),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        update.status = Set(SurveyStatus::Sent.as_str().into());
        update.sent_at = Set(Some(at));
        update.update(&*tx).await?;
        record(
            &*tx,
            t.id,
            Actor::System,
            "survey_sent",
            json!({"survey_id": s.id, "message_id": m.id}),
            at,
        )
        .await?;
        outbox::enqueue(&*tx, outbox::kind::DELIVER, json!({"message_id": m.id})).await?;
        tx.commit().await?;
        self.committed();
        self.hub.message(&t, &m);
        Ok(())
    }

    /// The reason a survey cannot reach the customer when they have no identity of
    /// `kind`.
    async fn lacks(
        &self,
        tx: &WriteTx,
        t: &ticket::Model,
        kind: IdentityKind,
        what: &str,
    ) -> Result<Option<String>> {
        let found = identity::Entity::find()
            .filter(identity::Column::ContactId.eq(t.contact_id))
            .filter(identity::Column::Kind.eq(kind.as_str()))
            .one(&**tx)
            .await?;
        Ok(found
            .is_none()
            .then(|| format!("the customer has no {what}")))
    }

    /// The customer's language, as far as the desk knows it: the mail account's for
    /// mail tickets, else English.
    async fn language_of(&self, tx: &WriteTx, t: &ticket::Model) -> Result<Language> {
        if let Some(id) = t.channel_id
            && let Some(c) = channel::Entity::find_by_id(id).one(&**tx).await?
            && c.kind == super::channels::MAIL
            && let Ok(settings) = serde_json::from_value::<MailSettings>(c.settings)
        {
            return Ok(settings.language);
        }
        Ok(Language::En)
    }

    /// Turns surveys on or off for a configured channel (its settings' `survey` flag),
    /// or, with `None`, keeps the flag it had before a change rewrote its settings.
    pub async fn set_channel_survey(
        &self,
        id: i64,
        on: Option<bool>,
        before: Option<bool>,
    ) -> Result<channel::Model> {
        let c = self.channel(id).await?;
        let Some(flag) = on.or(before) else {
            return Ok(c);
        };
        let mut settings = c.settings.clone();
        let Some(fields) = settings.as_object_mut() else {
            return Err(Error::invalid(
                "survey",
                "this channel has no settings to keep it in",
            ));
        };
        if fields.get("survey").and_then(|v| v.as_bool()) == Some(flag) {
            return Ok(c);
        }
        fields.insert("survey".into(), json!(flag));
        Ok(channel::ActiveModel {
            id: Set(c.id),
            settings: Set(settings),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(self.store.db())
        .await?)
    }

    /// The survey an outgoing message is the message of, if it is one: the ticket's
    /// survey whose `survey_sent` history entry names the message. Retries and a
    /// provider's id in `external_id` do not change the answer.
    pub async fn message_survey(&self, m: &message::Model) -> Result<Option<survey::Model>> {
        if m.direction != Direction::Out.as_str() || m.author_agent_id.is_some() {
            return Ok(None);
        }
        let db = self.store.db();
        let sent = ticket_event::Entity::find()
            .filter(ticket_event::Column::TicketId.eq(m.ticket_id))
            .filter(ticket_event::Column::Kind.eq("survey_sent"))
            .all(db)
            .await?;
        let Some(survey_id) = sent
            .iter()
            .find(|e| e.data.get("message_id").and_then(|v| v.as_i64()) == Some(m.id))
            .and_then(|e| e.data.get("survey_id").and_then(|v| v.as_i64()))
        else {
            return Ok(None);
        };
        Ok(survey::Entity::find_by_id(survey_id).one(db).await?)
    }

    /// The current link of the survey an outgoing message carries, if it is a survey's.
    pub async fn message_survey_url(&self, m: &message::Model) -> Result<Option<String>> {
        match self.message_survey(m).await? {
            Some(s) => Ok(Some(self.survey_url(&s)?)),
            None => Ok(None),
        }
    }

    /// A message as it goes out to the customer: a survey's with the survey's current
    /// link in place of the placeholder its stored text has; any other unchanged.
    pub async fn for_delivery(&self, mut m: message::Model) -> Result<message::Model> {
        if let Some(url) = self.message_survey_url(&m).await? {
            m.text = with_link(&m.text, &url);
        }
        Ok(m)
    }

    /// Whether a page of `origin` may send an answer to this link: the chat widget's
    /// inline rating, on a site the survey's ticket came in through.
    pub async fn survey_origin_allowed(&self, token: &str, origin: &str) -> Result<bool> {
        let key = self.rules.survey.key.bytes()?;
        let Some((id, _, _)) = verify_token(&key, token) else {
            return Ok(false);
        };
        let db = self.store.db();
        let Some(s) = survey::Entity::find_by_id(id).one(db).await? else {
            return Ok(false);
        };
        let Some(t) = ticket::Entity::find_by_id(s.ticket_id).one(db).await? else {
            return Ok(false);
        };
        let Some(c) = (match t.channel_id {
            Some(id) => channel::Entity::find_by_id(id).one(db).await?,
            None => None,
        }) else {
            return Ok(false);
        };
        if c.kind != super::channels::WIDGET {
            return Ok(false);
        }
        Ok(self
            .widget_by_key(&c.key)
            .await?
            .is_some_and(|site| site.allows(origin)))
    }

    /// What a link is good for: the survey page's form, or why not.
    pub async fn survey_link(
        &self,
        token: &str,
    ) -> Result<std::result::Result<SurveyForm, LinkState>> {
        let db = self.store.db();
        let s = match self.check_link(db, token).await? {
            Ok(s) => s,
            Err(state) => return Ok(Err(state)),
        };
        let t = ticket::Entity::find_by_id(s.ticket_id)
            .one(db)
            .await?
            .ok_or_else(|| Error::not_found("ticket", s.ticket_id))?;
        let answer = match s.feedback_id {
            Some(id) => feedback::Entity::find_by_id(id).one(db).await?,
            None => None,
        };
        Ok(Ok(SurveyForm {
            survey_id: s.id,
            ticket_number: t.number,
            ticket_subject: t.subject,
            rating: answer.as_ref().and_then(|f| f.rating),
            comment: answer.and_then(|f| f.comment),
            expires_at: s.expires_at,
        }))
    }

    /// The survey a link names, if the link is the desk's, current and in time.
    async fn check_link<C: sea_orm::ConnectionTrait>(
        &self,
        db: &C,
        token: &str,
    ) -> Result<std::result::Result<survey::Model, LinkState>> {
        let key = self.rules.survey.key.bytes()?;
        let Some((id, version, expiry)) = verify_token(&key, token) else {
            return Ok(Err(LinkState::Unknown));
        };
        let Some(s) = survey::Entity::find_by_id(id).one(db).await? else {
            return Ok(Err(LinkState::Unknown));
        };
        if version < s.link_version {
            return Ok(Err(LinkState::Used));
        }
        if version > s.link_version {
            return Ok(Err(LinkState::Unknown));
        }
        let at = now();
        if at.timestamp() > expiry || at > s.expires_at {
            return Ok(Err(LinkState::Expired));
        }
        Ok(Ok(s))
    }

    /// Records a customer's answer through a link: rating 1–5 and an optional comment
    /// (at most 2000 characters). The first answer makes a feedback row, a change
    /// updates it; either way the link is used up and a new one, good for changing the
    /// answer for a few days, is returned. A rating of 1 or 2 raises a complaint (the
    /// rule's) and the team's leads hear of it.
    pub async fn answer_survey(
        &self,
        token: &str,
        rating: i32,
        comment: Option<&str>,
    ) -> Result<std::result::Result<Answered, LinkState>> {
        if !(1..=5).contains(&rating) {
            return Err(Error::invalid("rating", "expected 1 to 5"));
        }
        let comment = check_comment("comment", comment)?;
        let tx = self.store.write().await?;
        // Read the link once to find its row, then again under the row's lock.
        let id = match self.check_link(&*tx, token).await? {
            Ok(s) => s.id,
            Err(state) => return Ok(Err(state)),
        };
        self.store.lock_row(&tx, "survey", id).await?;
        let s = match self.check_link(&*tx, token).await? {
            Ok(s) => s,
            Err(state) => return Ok(Err(state)),
        };
        self.store.lock_row(&tx, "ticket", s.ticket_id).await?;
        let t = ticket::Entity::find_by_id(s.ticket_id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", s.ticket_id))?;
        let at = now();
        let actor = Actor::Contact(t.contact_id);
        let existing = match s.feedback_id {
            Some(fid) => feedback::Entity::find_by_id(fid).one(&*tx).await?,
            None => None,
        };
        let is_new = existing.is_none();
        // A low rating raises a complaint, or reopens a closed one; a changed answer that
        // was low already (a comment added, 1 for 2) leaves the complaint as the leads
        // left it.
        let newly_low = rating <= 2
            && existing
                .as_ref()
                .is_none_or(|f| f.rating.is_none_or(|r| r > 2));
        let f = match existing {
            Some(f) => {
                feedback::ActiveModel {
                    id: Set(f.id),
                    rating: Set(Some(rating)),
                    comment: Set(comment),
                    updated_at: Set(at),
                    ..Default::default()
                }
                .update(&*tx)
                .await?
            }
            None => {
                feedback_row(
                    &t,
                    FeedbackKind::Survey,
                    FeedbackSource::Survey,
                    Some(rating),
                    comment,
                    None,
                    at,
                )
                .insert(&*tx)
                .await?
            }
        };
        let change_until = match s.answered_at {
            Some(first) => s.expires_at.min(
                first
                    + chrono::Duration::from_std(self.rules.survey.change_for).unwrap_or_default(),
            ),
            None => {
                at + chrono::Duration::from_std(self.rules.survey.change_for).unwrap_or_default()
            }
        };
        let s = survey::ActiveModel {
            id: Set(s.id),
            status: Set(SurveyStatus::Answered.as_str().into()),
            feedback_id: Set(Some(f.id)),
            link_version: Set(s.link_version + 1),
            answered_at: Set(Some(s.answered_at.unwrap_or(at))),
            expires_at: Set(change_until),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        record(
            &*tx,
            t.id,
            actor,
            if is_new {
                "survey_answered"
            } else {
                "survey_changed"
            },
            json!({"survey_id": s.id, "feedback_id": f.id, "rating": rating}),
            at,
        )
        .await?;
        let raised = if newly_low {
            self.raise_complaint(&tx, &t, actor, FeedbackSource::Rule, Some(f.id), at)
                .await?
        } else {
            None
        };
        let item = feedback_items(&*tx, vec![f]).await?.remove(0);
        let complaint = match raised {
            Some((c, reopened)) => {
                Some((complaint_items(&*tx, vec![c]).await?.remove(0), reopened))
            }
            None => None,
        };
        let change_token = self.survey_token(&s)?;
        let change_url = self.survey_url(&s)?;
        tx.commit().await?;
        if is_new {
            self.hub.feedback_added(&item);
        } else {
            self.hub.feedback_updated(&item);
        }
        if let Some(c) = &complaint {
            self.hub.complaint_raised(&c.0, c.1);
            self.announce(t.id, None).await;
        }
        Ok(Ok(Answered {
            feedback: item,
            change_token,
            change_url,
            change_until: s.expires_at,
        }))
    }
}

/// The line that stands for the survey's link in the stored message, in English.
pub const LINK_PLACEHOLDER_EN: &str = "[survey link]";
/// The line that stands for the survey's link in the stored message, in German.
pub const LINK_PLACEHOLDER_DE: &str = "[Link zur Umfrage]";

/// The survey's message as stored: a line or two and, on its own last line, the
/// placeholder that delivery replaces with the link.
fn survey_text(language: Language, t: &ticket::Model) -> String {
    match language {
        Language::De => format!(
            "Ihre Anfrage #{} „{}“ ist erledigt. Wie zufrieden waren Sie mit uns? Bewerten Sie uns mit 1 bis 5 Sternen – das dauert zehn Sekunden:\n{LINK_PLACEHOLDER_DE}",
            t.number, t.subject
        ),
        Language::En => format!(
            "Your request #{} \"{}\" is resolved. How did we do? Rate us from 1 to 5 stars – it takes ten seconds:\n{LINK_PLACEHOLDER_EN}",
            t.number, t.subject
        ),
    }
}

/// A survey message's stored text with the link in place of its placeholder line (the
/// last line; the subject above it may say anything). Text without the placeholder
/// gets the link on a line of its own.
pub fn with_link(text: &str, url: &str) -> String {
    let (head, last) = match text.rsplit_once('\n') {
        Some((head, last)) => (Some(head), last),
        None => (None, text),
    };
    if last.trim() == LINK_PLACEHOLDER_EN || last.trim() == LINK_PLACEHOLDER_DE {
        return match head {
            Some(head) => format!("{head}\n{url}"),
            None => url.to_owned(),
        };
    }
    format!("{text}\n{url}")
}

/// The outbox handler for `survey` rows: [`Desk::send_survey`].
pub fn survey_handler(desk: Desk) -> Handler {
    Arc::new(move |job: Job| {
        let desk = desk.clone();
        async move {
            let id = job
                .payload
                .get("survey_id")
                .and_then(|v| v.as_i64())
                .ok_or_else(|| JobError::Permanent("bad payload: no survey_id".into()))?;
            match desk.send_survey(id).await {
                Ok(()) => Ok(()),
                Err(Error::NotFound { .. }) => {
                    Err(JobError::Permanent(format!("survey {id} is gone")))
                }
                Err(e) => Err(JobError::Retry(e.to_string())),
            }
        }
        .boxed()
    })
}

/// Whether `status` is the one that sends a survey.
pub(crate) fn sends_survey(from: Status, to: Status) -> bool {
    to == Status::Resolved && from != Status::Resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_reply_addresses() {
        for a in [
            "no-reply@shop.example",
            "noreply@x.de",
            "do-not-reply@x.de",
            "DoNotReply@x.de",
            "MAILER-DAEMON@mx.example",
            "bounces+123@list.example",
        ] {
            assert!(is_no_reply(a), "{a}");
        }
        for a in ["anna@example.de", "reply@x.de", "info@x.de"] {
            assert!(!is_no_reply(a), "{a}");
        }
    }

    #[test]
    fn the_link_replaces_only_the_last_placeholder_line() {
        let url = "https://desk.example/survey/1.0.9.sig";
        assert_eq!(
            with_link("Rate us:\n[survey link]", url),
            format!("Rate us:\n{url}")
        );
        assert_eq!(
            with_link("Bewerten Sie uns:\n[Link zur Umfrage]", url),
            format!("Bewerten Sie uns:\n{url}")
        );
        // A subject that says "[survey link]" stays as written.
        assert_eq!(
            with_link(
                "Your request \"[survey link]\" is resolved:\n[survey link]",
                url
            ),
            format!("Your request \"[survey link]\" is resolved:\n{url}")
        );
        assert_eq!(
            with_link("No placeholder", url),
            format!("No placeholder\n{url}")
        );
    }

    #[test]
    fn tokens_verify_only_as_signed() {
        let key = b"k".repeat(32);
        let sig = URL_SAFE_NO_PAD.encode(signature(&key, 7, 0, 1000).finalize().into_bytes());
        let token = format!("7.0.1000.{sig}");
        assert_eq!(verify_token(&key, &token), Some((7, 0, 1000)));
        assert_eq!(verify_token(&key, &format!("8.0.1000.{sig}")), None);
        assert_eq!(verify_token(&key, &format!("7.1.1000.{sig}")), None);
        assert_eq!(verify_token(&key, &format!("7.0.9999.{sig}")), None);
        assert_eq!(verify_token(&b"x".repeat(32), &token), None);
        assert_eq!(verify_token(&key, "7.0.1000"), None);
        assert_eq!(verify_token(&key, &format!("{token}.x")), None);
    }

    #[test]
    fn the_key_file_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/survey.key");
        let a = SurveyKey::file(path.clone()).bytes().unwrap();
        let b = SurveyKey::file(path.clone()).bytes().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
