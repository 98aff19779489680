//! An SLA warning given: the ticket, its clock and the due time warned about. The row
//! is the claim that makes each warning go out once across nodes and restarts; rows go
//! once their due time has passed.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "sla_warning")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The ticket warned about (no foreign key: a row outlives an erased ticket only
    /// until its due time).
    pub ticket_id: i64,
    /// The clock: `first_response` or `resolution`.
    pub metric: String,
    /// The due time warned about; a moved due time warns again.
    pub due_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
