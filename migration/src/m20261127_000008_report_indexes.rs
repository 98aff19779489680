//! Indexes for the team leads' reports: each report reads one time range of one table,
//! and these let it do so from the index alone (covering), on SQLite and PostgreSQL.
//!
//! Written as plain SQL because the names must stay short (PostgreSQL cuts identifiers
//! at 63 bytes) and one index is partial, which both engines spell the same way.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (name, definition); the columns after the time are the filters (team, channel), the
/// grouping (assignee) and the measured values, so no report touches the table itself.
const INDEXES: &[(&str, &str)] = &[
    // volume, backlog (created per day), sla, compliance.
    (
        "ix_ticket_report_created",
        "ticket (created_at, team_id, channel, assignee_id, first_response_breached, resolution_breached)",
    ),
    // backlog (resolved per day, open at the start), resolution times, resolved counts.
    (
        "ix_ticket_report_resolved",
        "ticket (resolved_at, team_id, channel, assignee_id, resolution_seconds, created_at)",
    ),
    // first-response times.
    (
        "ix_ticket_report_first_response",
        "ticket (first_response_at, team_id, channel, assignee_id, first_response_seconds)",
    ),
    // backlog: tickets still open that were created before the period.
    (
        "ix_ticket_report_unresolved",
        "ticket (created_at, team_id, channel) WHERE resolved_at IS NULL",
    ),
    // csat and the answers of the agent and team tables.
    (
        "ix_feedback_report",
        "feedback (kind, created_at, team_id, channel, assignee_id, rating)",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, definition) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {definition}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
