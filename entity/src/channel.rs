//! A configured way in for customers: the first kind is a chat widget site on a shop.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "channel")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// widget
    pub kind: String,
    pub name: String,
    /// The public key a page names the channel by (a widget's `data-site`).
    pub key: String,
    /// Shared with the shop to sign its customers' identities (HMAC); never sent out
    /// again after it was shown once.
    #[serde(skip_serializing)]
    pub secret: String,
    /// Signs the visitor tokens this channel hands out; the shop never sees it.
    #[serde(skip_serializing)]
    pub token_key: String,
    /// Kind-specific settings (a widget's allowed origins and greeting).
    pub settings: Json,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
