//! The store's tables as sea-orm entities, one module per table.
//!
//! Entities are plain rows; the rules that keep them consistent live in the
//! server's `desk` module, never here.

pub mod agent;
pub mod api_token;
pub mod attachment;
pub mod calendar;
pub mod call;
pub mod channel;
pub mod complaint;
pub mod contact;
pub mod feedback;
pub mod identity;
pub mod mail_checkpoint;
pub mod message;
pub mod order;
pub mod order_deletion;
pub mod order_item;
pub mod order_refund;
pub mod organization;
pub mod outbox;
pub mod session;
pub mod sla_policy;
pub mod survey;
pub mod team;
pub mod team_member;
pub mod ticket;
pub mod ticket_event;
pub mod visitor;
