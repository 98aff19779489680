//! First-response and resolution targets for the tickets of a team and priority.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "sla_policy")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// The team whose tickets it covers; None covers every team.
    pub team_id: Option<i64>,
    /// The priority it covers; None covers every priority.
    pub priority: Option<String>,
    /// The business hours it counts in; None counts around the clock.
    pub calendar_id: Option<i64>,
    pub first_response_minutes: Option<i32>,
    pub resolution_minutes: Option<i32>,
    /// Minutes before a due time when the console warns.
    pub warn_minutes: i32,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
