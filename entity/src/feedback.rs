//! What a customer thinks of the service: a survey answer, or a complaint, praise or
//! suggestion marked on a ticket.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "feedback")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub contact_id: i64,
    /// survey, complaint, praise, suggestion
    pub kind: String,
    /// 1–5 for survey answers.
    pub rating: Option<i32>,
    pub comment: Option<String>,
    /// survey, agent, rule
    pub source: String,
    /// The agent who recorded it (source agent).
    pub author_agent_id: Option<i64>,
    /// The ticket's channel, team and assignee when it was given.
    pub channel: String,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
