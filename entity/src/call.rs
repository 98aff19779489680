//! A phone call the PBX told us about: who called whom, who answered, how long.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "call")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The PBX integration (a configured channel of kind `cti`).
    pub channel_id: i64,
    /// The PBX's id for the call (`callId`); unique per integration.
    pub call_id: String,
    /// in or out
    pub direction: String,
    /// E.164 where the number could be read, else as the PBX sent it.
    pub from_number: String,
    pub to_number: String,
    /// The customer: the caller of an inbound call, the callee of an outbound one.
    pub contact_id: Option<i64>,
    pub queue: Option<String>,
    /// The agent who answered (or made) the call, when the PBX's user names one.
    pub agent_id: Option<i64>,
    /// The PBX's name of who answered (user or answering number).
    pub answered_by: Option<String>,
    /// ringing, talking, answered, missed, rejected, busy
    pub status: String,
    /// The PBX's reason for the hangup (normalClearing, busy, cancel, noAnswer …).
    pub cause: Option<String>,
    /// The call-back ticket of a missed call.
    pub ticket_id: Option<i64>,
    pub started_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
