//! A complaint's own workflow on its ticket: owner, state, outcome, time to resolution.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "complaint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    /// open, in_progress, resolved, rejected
    pub state: String,
    pub owner_id: Option<i64>,
    /// agent or rule
    pub source: String,
    /// The feedback that raised it, if any.
    pub feedback_id: Option<i64>,
    /// refund, replacement, repair, credit, apology, explanation, rejected
    pub outcome: Option<String>,
    pub outcome_note: Option<String>,
    pub team_id: Option<i64>,
    pub raised_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolution_seconds: Option<i64>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
