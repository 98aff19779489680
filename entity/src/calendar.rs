//! Business hours in a time zone with holidays, so SLA clocks count working time only.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "calendar")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// IANA zone, e.g. Europe/Berlin.
    pub time_zone: String,
    /// JSON: {"mon": [["09:00","17:00"]], …}; a missing day is closed.
    pub hours: String,
    /// JSON: ["2026-12-24", …], whole days closed.
    pub holidays: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
