//! What was said on a ticket: a customer message, an agent reply or an internal note.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "message")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    /// in, out or note
    pub direction: String,
    pub channel: String,
    pub author_agent_id: Option<i64>,
    pub author_contact_id: Option<i64>,
    pub text: String,
    /// Sanitized HTML; never the raw HTML a sender sent.
    pub html: Option<String>,
    /// The channel's id for this message (Message-ID, wamid, client id …); unique per channel.
    pub external_id: Option<String>,
    /// Mail addresses: `{"from", "reply_to", "to": [], "cc": []}`; email only.
    pub addresses: Option<Json>,
    /// received, queued, sent, delivered, read, failed; none for notes
    pub delivery_status: String,
    pub delivery_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
