//! An order the shop deleted, remembered by its key even if it was never stored, so an
//! older create or update arriving late does not bring it back.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "order_deletion")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The shop, as the order's `source`.
    pub source: String,
    /// The shop's id of the deleted order.
    pub external_id: String,
    /// When the deletion reached us; changes the shop made before it stay deleted.
    pub deleted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
