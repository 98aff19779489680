//! One customer concern, from first message to resolution.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "ticket")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The human-facing number, shown as #number.
    pub number: i64,
    pub subject: String,
    /// new, open, pending, resolved, closed
    pub status: String,
    /// low, normal, high, urgent
    pub priority: String,
    /// question, problem, complaint, praise, suggestion
    pub kind: String,
    /// The channel the customer first used; replies go out on it.
    pub channel: String,
    pub contact_id: i64,
    /// The configured channel (mail account, widget site) it came in on, if any; replies
    /// leave through it.
    pub channel_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    /// The earlier ticket this one continues (a message after the reopen window).
    pub previous_ticket_id: Option<i64>,
    pub first_response_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    /// The SLA policy whose targets the due times follow.
    pub sla_policy_id: Option<i64>,
    pub first_response_due_at: Option<DateTimeUtc>,
    pub resolution_due_at: Option<DateTimeUtc>,
    /// Set while the ticket waits on the customer: the SLA clocks stand still.
    pub sla_paused_at: Option<DateTimeUtc>,
    /// None: no target (yet); Some(true) missed; Some(false) met.
    pub first_response_breached: Option<bool>,
    pub resolution_breached: Option<bool>,
    /// Wall-clock seconds from creation to the first response, for the reports.
    pub first_response_seconds: Option<i64>,
    /// Wall-clock seconds from creation to the (latest) resolution, for the reports.
    pub resolution_seconds: Option<i64>,
    pub last_message_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
