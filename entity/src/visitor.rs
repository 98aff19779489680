//! A browser that opened a chat widget: its conversation is found through the
//! `visitor` identity with the same id.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "visitor")]
pub struct Model {
    /// Random and public; the visitor's signed token carries it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub channel_id: i64,
    /// The address the visitor typed for an answer by email; unverified.
    pub email: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
