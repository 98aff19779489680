//! The generic API channel: `POST /api/v1/inbound` for integrations that bring their own
//! transport. Replies on it are handed over by the API itself (the integration reads the
//! ticket's messages), so delivering one means marking it sent.

use serde::Deserialize;

use crate::desk::identity::IdentityClaim;
use crate::desk::{Channel, DeliveryStatus, Desk, Inbound, ThreadRef};
use crate::outbox::JobError;
use entity::message;

/// The JSON body of `POST /api/v1/inbound`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundJson {
    pub channel: Channel,
    pub external_id: String,
    pub identity: IdentityClaim,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// A ticket number, or the external id(s) of the message(s) this answers.
    pub thread: Option<ThreadJson>,
}

/// `thread` as JSON: `1234`, `"ext-id"` or `["ext-1", "ext-2"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ThreadJson {
    Ticket(i64),
    Message(String),
    Messages(Vec<String>),
}

impl From<InboundJson> for Inbound {
    fn from(j: InboundJson) -> Inbound {
        Inbound {
            name: j.name,
            subject: j.subject,
            html: j.html,
            thread: j.thread.map(|t| match t {
                ThreadJson::Ticket(n) => ThreadRef::Ticket(n),
                ThreadJson::Message(id) => ThreadRef::Messages(vec![id]),
                ThreadJson::Messages(ids) => ThreadRef::Messages(ids),
            }),
            ..Inbound::text(j.channel, j.external_id, j.identity, j.text)
        }
    }
}

/// Hands a reply over to the API: the integration picks it up from the ticket.
pub async fn deliver(desk: &Desk, message: &message::Model) -> Result<(), JobError> {
    desk.set_delivery(message.id, DeliveryStatus::Sent, None)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))
}
