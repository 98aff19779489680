//! The satisfaction survey of one resolved ticket: at most one per ticket.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "survey")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    /// The channel it goes out on (the ticket's).
    pub channel: String,
    /// Bumped whenever a link is used, so every link works once.
    pub link_version: i32,
    /// pending, sent, answered, skipped, failed
    pub status: String,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    pub feedback_id: Option<i64>,
    pub sent_at: Option<DateTimeUtc>,
    /// After this the link no longer takes an answer (or a change to one).
    pub expires_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
