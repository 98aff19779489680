//! The first schema: contacts and identities, orders, agents and teams, tickets with
//! their messages and history, the outbox, sessions and API tokens.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::shorthand::{
    create_indexes, create_tables, fk, fk_null, foreign, id, s, s_null, t, t_null, table, ts,
    ts_null,
};
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let tables: Vec<(TableCreateStatement, Vec<ForeignKeyCreateStatement>)> = vec![
            (
                table("organization", vec![id(), s("name"), ts("created_at")]),
                vec![],
            ),
            (
                table(
                    "contact",
                    vec![
                        id(),
                        s_null("name"),
                        fk_null("organization_id"),
                        json(Alias::new("tags")),
                        t_null("notes"),
                        fk_null("merged_into_id"),
                        ts("created_at"),
                        ts("updated_at"),
                    ],
                ),
                vec![foreign("contact", "organization_id", "organization")],
            ),
            (
                table(
                    "identity",
                    vec![
                        id(),
                        fk("contact_id"),
                        s("kind"),
                        s("value"),
                        boolean(Alias::new("verified")),
                        ts("created_at"),
                    ],
                ),
                vec![foreign("identity", "contact_id", "contact")],
            ),
            (
                table(
                    "order",
                    vec![
                        id(),
                        fk("contact_id"),
                        s("source"),
                        s("external_id"),
                        s("number"),
                        s("status"),
                        s("currency"),
                        big_integer(Alias::new("total_cents")),
                        ts("placed_at"),
                        ts("source_updated_at"),
                        ts("created_at"),
                        ts("updated_at"),
                    ],
                ),
                vec![foreign("order", "contact_id", "contact")],
            ),
            (
                table(
                    "order_item",
                    vec![
                        id(),
                        fk("order_id"),
                        s_null("sku"),
                        s("name"),
                        integer(Alias::new("quantity")),
                        big_integer(Alias::new("unit_price_cents")),
                    ],
                ),
                vec![foreign("order_item", "order_id", "order")],
            ),
            (
                table("team", vec![id(), s("name"), ts("created_at")]),
                vec![],
            ),
            (
                table(
                    "agent",
                    vec![
                        id(),
                        s("email"),
                        s("name"),
                        s("role"),
                        s("password_hash"),
                        boolean(Alias::new("active")),
                        ts("created_at"),
                        ts_null("last_login_at"),
                    ],
                ),
                vec![],
            ),
            (
                Table::create()
                    .table(Alias::new("team_member"))
                    .col(fk("team_id"))
                    .col(fk("agent_id"))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("team_id"))
                            .col(Alias::new("agent_id")),
                    )
                    .to_owned(),
                vec![
                    foreign("team_member", "team_id", "team"),
                    foreign("team_member", "agent_id", "agent"),
                ],
            ),
            (
                table(
                    "ticket",
                    vec![
                        id(),
                        big_integer(Alias::new("number")),
                        s("subject"),
                        s("status"),
                        s("priority"),
                        s("kind"),
                        s("channel"),
                        fk("contact_id"),
                        fk_null("assignee_id"),
                        fk_null("team_id"),
                        fk_null("previous_ticket_id"),
                        ts_null("first_response_at"),
                        ts_null("resolved_at"),
                        ts("last_message_at"),
                        ts("created_at"),
                        ts("updated_at"),
                    ],
                ),
                vec![
                    foreign("ticket", "contact_id", "contact"),
                    foreign("ticket", "assignee_id", "agent"),
                    foreign("ticket", "team_id", "team"),
                    foreign("ticket", "previous_ticket_id", "ticket"),
                ],
            ),
            (
                table(
                    "message",
                    vec![
                        id(),
                        fk("ticket_id"),
                        s("direction"),
                        s("channel"),
                        fk_null("author_agent_id"),
                        fk_null("author_contact_id"),
                        t("text"),
                        t_null("html"),
                        s_null("external_id"),
                        s("delivery_status"),
                        t_null("delivery_error"),
                        ts("created_at"),
                    ],
                ),
                vec![
                    foreign("message", "ticket_id", "ticket"),
                    foreign("message", "author_agent_id", "agent"),
                    foreign("message", "author_contact_id", "contact"),
                ],
            ),
            (
                table(
                    "attachment",
                    vec![
                        id(),
                        fk("message_id"),
                        s("filename"),
                        s("content_type"),
                        big_integer(Alias::new("size")),
                        s("sha256"),
                        ts("created_at"),
                    ],
                ),
                vec![foreign("attachment", "message_id", "message")],
            ),
            (
                table(
                    "ticket_event",
                    vec![
                        id(),
                        fk("ticket_id"),
                        s("actor_kind"),
                        fk_null("actor_id"),
                        s("kind"),
                        json(Alias::new("data")),
                        ts("created_at"),
                    ],
                ),
                vec![foreign("ticket_event", "ticket_id", "ticket")],
            ),
            (
                table(
                    "outbox",
                    vec![
                        id(),
                        s("kind"),
                        json(Alias::new("payload")),
                        s("status"),
                        integer(Alias::new("attempts")),
                        ts("run_after"),
                        t_null("last_error"),
                        ts("created_at"),
                    ],
                ),
                vec![],
            ),
            (
                table(
                    "session",
                    vec![
                        id(),
                        s("token_hash"),
                        fk("agent_id"),
                        s("csrf_token"),
                        ts("created_at"),
                        ts("expires_at"),
                    ],
                ),
                vec![foreign("session", "agent_id", "agent")],
            ),
            (
                table(
                    "api_token",
                    vec![
                        id(),
                        s("name"),
                        s("prefix"),
                        s("token_hash"),
                        s("role"),
                        ts("created_at"),
                        ts_null("last_used_at"),
                        ts_null("revoked_at"),
                    ],
                ),
                vec![],
            ),
        ];
        create_tables(m, tables).await?;

        // Every lookup the desk and the API make has an index.
        let indexes = [
            ("organization", &["name"][..], false),
            ("contact", &["organization_id"][..], false),
            ("contact", &["merged_into_id"][..], false),
            ("identity", &["kind", "value"][..], true),
            ("identity", &["contact_id"][..], false),
            ("order", &["source", "external_id"][..], true),
            ("order", &["contact_id", "placed_at"][..], false),
            ("order_item", &["order_id"][..], false),
            ("team", &["name"][..], true),
            ("team_member", &["agent_id"][..], false),
            ("agent", &["email"][..], true),
            ("ticket", &["number"][..], true),
            ("ticket", &["contact_id", "channel", "status"][..], false),
            ("ticket", &["contact_id", "id"][..], false),
            ("ticket", &["status", "id"][..], false),
            ("ticket", &["assignee_id", "status", "id"][..], false),
            ("ticket", &["team_id", "status", "id"][..], false),
            ("ticket", &["channel", "status", "id"][..], false),
            ("ticket", &["kind", "status", "id"][..], false),
            ("message", &["channel", "external_id"][..], true),
            ("message", &["ticket_id", "id"][..], false),
            ("attachment", &["message_id"][..], false),
            ("attachment", &["sha256"][..], false),
            ("ticket_event", &["ticket_id", "id"][..], false),
            ("outbox", &["status", "run_after"][..], false),
            ("outbox", &["kind", "status", "run_after"][..], false),
            ("session", &["token_hash"][..], true),
            ("session", &["agent_id"][..], false),
            ("session", &["expires_at"][..], false),
            ("api_token", &["token_hash"][..], true),
        ];
        create_indexes(m, &indexes).await?;

        // Ticket numbers: a sequence (the column's default) on PostgreSQL, so concurrent
        // ingests never wait on each other; SQLite has one writer and takes max + 1.
        if m.get_database_backend() == DatabaseBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "CREATE SEQUENCE ticket_number_seq START WITH 1000 OWNED BY ticket.number; \
                     ALTER TABLE ticket ALTER COLUMN number SET DEFAULT nextval('ticket_number_seq')",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The ticket number sequence belongs to ticket.number and goes with the table.
        for name in [
            "api_token",
            "session",
            "outbox",
            "ticket_event",
            "attachment",
            "message",
            "ticket",
            "team_member",
            "agent",
            "team",
            "order_item",
            "order",
            "identity",
            "contact",
            "organization",
        ] {
            m.drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
