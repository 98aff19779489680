//! A purchase in the shop, kept so agents see what the customer bought.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "order")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contact_id: i64,
    /// Which shop or import the order came from; with external_id it identifies the order.
    pub source: String,
    pub external_id: String,
    /// The order number the customer sees.
    pub number: String,
    pub status: String,
    pub currency: String,
    /// Grand total in minor units (cents).
    pub total_cents: i64,
    /// What the shop paid back, in minor units; customer value is net of it.
    pub refunded_cents: i64,
    pub placed_at: DateTimeUtc,
    /// The shop's own last-modified time, so older updates never overwrite newer ones.
    pub source_updated_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
