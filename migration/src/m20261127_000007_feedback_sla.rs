//! Feedback, complaints, satisfaction surveys, business-hour calendars and SLA policies,
//! and the ticket columns the SLA clocks and the team leads' reports read.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::shorthand::{
    create_indexes, create_tables, fk, fk_null, foreign, id, s, s_null, t, t_null, table, ts,
    ts_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns added to `ticket`, one statement each (SQLite alters one column at a time).
fn ticket_columns() -> Vec<ColumnDef> {
    vec![
        // The SLA policy whose targets the due times follow.
        fk_null("sla_policy_id"),
        ts_null("first_response_due_at"),
        ts_null("resolution_due_at"),
        // Set while the ticket waits on the customer: the clocks stand still.
        ts_null("sla_paused_at"),
        // None: no target (yet); Some(true) missed; Some(false) met.
        boolean_null(Alias::new("first_response_breached")),
        boolean_null(Alias::new("resolution_breached")),
        // Wall-clock seconds from creation, for the reports' medians and percentiles.
        big_integer_null(Alias::new("first_response_seconds")),
        big_integer_null(Alias::new("resolution_seconds")),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for mut column in ticket_columns() {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("ticket"))
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        create_tables(
            m,
            vec![
                (
                    table(
                        "calendar",
                        vec![
                            id(),
                            s("name"),
                            // IANA zone, e.g. Europe/Berlin.
                            s("time_zone"),
                            // JSON: {"mon": [["09:00","17:00"]], …}; a missing day is closed.
                            t("hours"),
                            // JSON: ["2026-12-24", …], whole days closed.
                            t("holidays"),
                            ts("created_at"),
                            ts("updated_at"),
                        ],
                    ),
                    vec![],
                ),
                (
                    table(
                        "sla_policy",
                        vec![
                            id(),
                            s("name"),
                            // Which tickets it covers; null matches any.
                            fk_null("team_id"),
                            s_null("priority"),
                            // Null: around the clock.
                            fk_null("calendar_id"),
                            integer_null(Alias::new("first_response_minutes")),
                            integer_null(Alias::new("resolution_minutes")),
                            // Minutes before a due time when the console warns.
                            integer(Alias::new("warn_minutes")),
                            boolean(Alias::new("active")),
                            ts("created_at"),
                            ts("updated_at"),
                        ],
                    ),
                    vec![
                        foreign("sla_policy", "team_id", "team"),
                        foreign("sla_policy", "calendar_id", "calendar"),
                    ],
                ),
                (
                    table(
                        "feedback",
                        vec![
                            id(),
                            fk("ticket_id"),
                            fk("contact_id"),
                            // survey, complaint, praise, suggestion
                            s("kind"),
                            // 1–5 for survey answers.
                            integer_null(Alias::new("rating")),
                            t_null("comment"),
                            // survey, agent, rule
                            s("source"),
                            // The agent who recorded it (source agent).
                            fk_null("author_agent_id"),
                            // The ticket's channel, team and assignee when it was given,
                            // so the stream and reports filter without joins.
                            s("channel"),
                            fk_null("team_id"),
                            fk_null("assignee_id"),
                            ts("created_at"),
                            ts("updated_at"),
                        ],
                    ),
                    vec![
                        foreign("feedback", "ticket_id", "ticket"),
                        foreign("feedback", "contact_id", "contact"),
                    ],
                ),
                (
                    table(
                        "survey",
                        vec![
                            id(),
                            fk("ticket_id"),
                            s("channel"),
                            // Bumped whenever a link is used, so every link works once.
                            integer(Alias::new("link_version")),
                            // pending, sent, answered, skipped, failed
                            s("status"),
                            t_null("reason"),
                            fk_null("feedback_id"),
                            ts_null("sent_at"),
                            ts("expires_at"),
                            ts_null("answered_at"),
                            ts("created_at"),
                        ],
                    ),
                    vec![foreign("survey", "ticket_id", "ticket")],
                ),
                (
                    table(
                        "complaint",
                        vec![
                            id(),
                            fk("ticket_id"),
                            // open, in_progress, resolved, rejected
                            s("state"),
                            fk_null("owner_id"),
                            // agent or rule
                            s("source"),
                            fk_null("feedback_id"),
                            // refund, replacement, repair, credit, apology, explanation,
                            // rejected
                            s_null("outcome"),
                            t_null("outcome_note"),
                            fk_null("team_id"),
                            ts("raised_at"),
                            ts_null("resolved_at"),
                            big_integer_null(Alias::new("resolution_seconds")),
                            ts("updated_at"),
                        ],
                    ),
                    vec![
                        foreign("complaint", "ticket_id", "ticket"),
                        foreign("complaint", "owner_id", "agent"),
                    ],
                ),
            ],
        )
        .await?;
        create_indexes(
            m,
            &[
                ("feedback", &["created_at"][..], false),
                ("feedback", &["ticket_id"][..], false),
                ("survey", &["ticket_id"][..], true),
                ("complaint", &["ticket_id"][..], true),
                ("complaint", &["state", "raised_at"][..], false),
                ("ticket", &["first_response_due_at"][..], false),
                ("ticket", &["resolution_due_at"][..], false),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in ["complaint", "survey", "feedback", "sla_policy", "calendar"] {
            m.drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        // SQLite drops no column an index still names.
        for name in [
            "ix_ticket_first_response_due_at",
            "ix_ticket_resolution_due_at",
        ] {
            m.drop_index(
                Index::drop()
                    .name(name)
                    .table(Alias::new("ticket"))
                    .to_owned(),
            )
            .await?;
        }
        for column in ticket_columns() {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("ticket"))
                    .drop_column(Alias::new(column.get_column_name()))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
