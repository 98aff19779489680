//! SQLite's report indexes by day: the ticket time indexes of migration 8 lead with the
//! UTC date of their time column instead of the time itself (feedback gets one beside),
//! so that a report's GROUP BY day (and its period filter) walks the index in order
//! instead of sorting every row, and a day's time values come out sorted for picking
//! percentiles.
//!
//! The date is `substr(column, 1, 10)`, the first ten characters of the RFC 3339 text
//! sea-orm stores; the reports spell it exactly so, or SQLite would not match the index.
//! PostgreSQL keeps migration 8's indexes: it plans its day grouping well on them, and
//! a date expression index there would need the time zone spelled into every query.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (migration 8's name and definition, the name and definition by day).
const INDEXES: &[(&str, &str, &str, &str)] = &[
    // volume (grouped by day and channel in index order), backlog, sla, compliance.
    (
        "ix_ticket_report_created",
        "ticket (created_at, team_id, channel, assignee_id, first_response_breached, resolution_breached)",
        "ix_ticket_day_created",
        "ticket (substr(created_at, 1, 10), channel, team_id, assignee_id, first_response_breached, resolution_breached)",
    ),
    // backlog, resolution times (sorted within a day), resolved counts.
    (
        "ix_ticket_report_resolved",
        "ticket (resolved_at, team_id, channel, assignee_id, resolution_seconds, created_at)",
        "ix_ticket_day_resolved",
        "ticket (substr(resolved_at, 1, 10), resolution_seconds, team_id, channel, assignee_id, created_at)",
    ),
    // first-response times (sorted within a day).
    (
        "ix_ticket_report_first_response",
        "ticket (first_response_at, team_id, channel, assignee_id, first_response_seconds)",
        "ix_ticket_day_first_response",
        "ticket (substr(first_response_at, 1, 10), first_response_seconds, team_id, channel, assignee_id)",
    ),
];

/// csat and the answers of the agent and team tables.
const FEEDBACK_DAY: &str = "ix_feedback_day ON feedback (kind, substr(created_at, 1, 10), team_id, channel, assignee_id, rating)";

async fn replace(m: &SchemaManager<'_>, by_day: bool) -> Result<(), DbErr> {
    let db = m.get_connection();
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    for (time_name, by_time, day_name, by_day_definition) in INDEXES {
        let (new, definition, old) = if by_day {
            (day_name, by_day_definition, time_name)
        } else {
            (time_name, by_time, day_name)
        };
        db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {new} ON {definition}"))
            .await?;
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {old}"))
            .await?;
    }
    // Feedback keeps migration 8's index too: the feedback stream filters by kind and
    // time. Survey answers are few beside tickets, so the second index costs little.
    if by_day {
        db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {FEEDBACK_DAY}"))
            .await?;
    } else {
        db.execute_unprepared("DROP INDEX IF EXISTS ix_feedback_day")
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, true).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, false).await
    }
}
