//! Money the shop paid back on an order, one row per refund, so a refund counts once
//! however often and in whatever order the shop reports it.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "order_refund")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The shop the refund comes from, as the order's `source`.
    pub source: String,
    /// The shop's id of the refund; with `source` it identifies the refund.
    pub external_id: String,
    /// The shop's id of the refunded order (the order may not be stored yet).
    pub order_external_id: String,
    /// What was paid back, in minor units.
    pub amount_cents: i64,
    pub currency: String,
    pub refunded_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
