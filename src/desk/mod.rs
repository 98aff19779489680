//! The desk: every rule of the helpdesk, and the one function per way into it.
//!
//! Channel adapters turn wire formats into an [`Inbound`] and call [`Desk::ingest`];
//! agents act through [`Desk::reply`], [`Desk::note`], [`Desk::assign`],
//! [`Desk::update_ticket`], [`Desk::merge_contacts`] and friends. Each of them is one
//! transaction that also records the ticket's history and writes outbox rows, so a rule
//! (threading, contact resolution, reopening) lives in exactly one place.

pub mod agents;
pub mod calls;
pub mod channels;
pub mod contacts;
pub mod email;
pub mod feedback;
pub mod identity;
pub mod ingest;
pub mod orders;
pub mod reports;
pub mod sla;
pub mod surveys;
pub mod tickets;
pub mod visitors;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use sea_orm::DbErr;
use serde::{Deserialize, Serialize};

use crate::blobs::Blobs;
use crate::live::Hub;
use crate::store::Store;

pub use identity::IdentityKind;
pub use ingest::{Inbound, IngestOutcome, NewAttachment, ThreadRef};

/// The rules' settings, taken from the configuration.
#[derive(Clone, Debug)]
pub struct Rules {
    /// A customer message this long after resolution still reopens the ticket.
    pub reopen_window: Duration,
    /// Region assumed for phone numbers without a country code.
    pub default_region: phonenumber::country::Id,
    pub mail: email::MailRules,
    /// Satisfaction surveys: which channels, how long links last, the signing key.
    pub survey: surveys::SurveyRules,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            reopen_window: Duration::from_secs(7 * 86_400),
            default_region: phonenumber::country::Id::DE,
            mail: email::MailRules::default(),
            survey: surveys::SurveyRules::default(),
        }
    }
}

/// The domain service: the store plus the rules applied to it.
#[derive(Clone)]
pub struct Desk {
    pub store: Store,
    pub rules: Rules,
    /// Wakes the outbox workers after a commit that wrote outbox rows.
    pub outbox_kick: Arc<Notify>,
    /// Wakes the search indexer likewise.
    pub index_kick: Arc<Notify>,
    /// Tells connected agents about changes after they commit.
    pub hub: Hub,
    /// Attachment bytes.
    pub blobs: Blobs,
    /// Ingests waiting for SQLite's writer (group commit).
    ingest_queue: Arc<ingest::IngestQueue>,
    /// Report statements running at once (see [`reports::REPORT_SLOTS`]).
    report_slots: Arc<tokio::sync::Semaphore>,
}

impl Desk {
    pub fn new(store: Store, rules: Rules, blobs: Blobs) -> Desk {
        Desk {
            store,
            rules,
            blobs,
            outbox_kick: Arc::new(Notify::new()),
            index_kick: Arc::new(Notify::new()),
            hub: Hub::new(),
            ingest_queue: Arc::default(),
            report_slots: Arc::new(tokio::sync::Semaphore::new(reports::REPORT_SLOTS)),
        }
    }

    /// Called after a commit that wrote outbox rows.
    fn committed(&self) {
        self.outbox_kick.notify_one();
        self.index_kick.notify_one();
    }
}

/// Why a desk operation did not happen; the HTTP layer maps each to a status and code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("store: {0}")]
    Store(#[from] DbErr),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn not_found(what: &'static str, id: impl ToString) -> Error {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who did something: recorded in the ticket's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Agent(i64),
    Token(i64),
    Contact(i64),
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Agent(_) => "agent",
            Actor::Token(_) => "token",
            Actor::Contact(_) => "contact",
            Actor::System => "system",
        }
    }
    pub fn id(&self) -> Option<i64> {
        match self {
            Actor::Agent(id) | Actor::Token(id) | Actor::Contact(id) => Some(*id),
            Actor::System => None,
        }
    }
    pub fn agent_id(&self) -> Option<i64> {
        match self {
            Actor::Agent(id) => Some(*id),
            _ => None,
        }
    }
}

/// Declares a closed set of words stored as text: `as_str`, parsing with a clear error,
/// and serde as the same words.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::invalid(
                        $field,
                        format!("expected one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> { s.parse() }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str { v.as_str() }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use words;

words! {
    /// Where a customer reached us; a ticket's replies go out on its channel.
    Channel, "channel" {
        Email = "email", Chat = "chat", Whatsapp = "whatsapp", Telegram = "telegram",
        Sms = "sms", Voice = "voice", Api = "api",
    }
}

impl Channel {
    /// Conversational channels keep one open ticket per contact; email threads by
    /// references only, since one customer often writes about several things at once.
    pub fn threads_by_contact(self) -> bool {
        self != Channel::Email
    }
}

words! {
    /// Where a ticket is in its life.
    Status, "status" {
        New = "new", Open = "open", Pending = "pending", Resolved = "resolved", Closed = "closed",
    }
}

impl Status {
    /// Statuses of work still to do.
    pub const ACTIVE: [Status; 3] = [Status::New, Status::Open, Status::Pending];
    pub fn is_active(self) -> bool {
        Status::ACTIVE.contains(&self)
    }
}

words! {
    /// How urgent a ticket is.
    Priority, "priority" { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
}

words! {
    /// What kind of concern a ticket is; complaints, praise and suggestions feed the
    /// team leads' feedback views.
    TicketKind, "kind" {
        Question = "question", Problem = "problem", Complaint = "complaint",
        Praise = "praise", Suggestion = "suggestion",
    }
}

words! {
    /// Whether a message came in, went out, or is an internal note.
    Direction, "direction" { In = "in", Out = "out", Note = "note" }
}

words! {
    /// How far a message got on its way.
    DeliveryStatus, "delivery_status" {
        Received = "received", Queued = "queued", Sent = "sent", Delivered = "delivered",
        Read = "read", Failed = "failed", None = "none",
    }
}

words! {
    /// What an agent or token may do: agents work tickets, leads also see feedback and
    /// reports, admins also manage agents, teams, tokens and channels.
    Role, "role" { Agent = "agent", Lead = "lead", Admin = "admin" }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Agent => 0,
            Role::Lead => 1,
            Role::Admin => 2,
        }
    }
    /// True when this role includes everything `needed` may do.
    pub fn covers(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }
}

/// Parses a stored word; a value outside the set means the store was edited by hand,
/// which is reported as a store error rather than trusted.
pub(crate) fn stored<T: std::str::FromStr<Err = Error>>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Store(DbErr::Custom(format!("unexpected stored value {s:?}"))))
}

/// Checks free text an agent or customer sent: not blank, not absurdly long.
pub(crate) fn check_text(field: &str, text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if text.len() > max {
        return Err(Error::invalid(field, format!("longer than {max} bytes")));
    }
    check_storable(field, text)
}

/// Refuses text no store can keep: PostgreSQL text cannot hold a NUL character.
pub(crate) fn check_storable(field: &str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// Sanitizes HTML a customer or agent sent so it can be shown but never runs.
pub fn sanitize_html(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        // Inline images of a mail name their attachment by `cid:`; the console shows them.
        .add_url_schemes(["cid"])
        .clean(html)
        .to_string()
}
