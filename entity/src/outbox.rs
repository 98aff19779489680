//! Durable side effects written with the change that caused them, done by workers after commit.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What to do: deliver, index, …
    pub kind: String,
    pub payload: Json,
    /// pending or failed (done rows are deleted)
    pub status: String,
    pub attempts: i32,
    /// Not before this time: the backoff after a failure, or the lease of a claimed row.
    pub run_after: DateTimeUtc,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
