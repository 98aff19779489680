//! The email channel: mail accounts' IMAP checkpoints, the configured channel a ticket
//! came in on, a message's mail addresses, and inline attachments' content ids.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::shorthand::{create_indexes, create_tables, fk, fk_null, foreign, s, s_null, table, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_tables(
            m,
            vec![(
                table(
                    "mail_checkpoint",
                    vec![
                        fk("channel_id").primary_key().take(),
                        s("folder"),
                        big_integer(Alias::new("uid_validity")),
                        big_integer(Alias::new("last_uid")),
                        ts("updated_at"),
                    ],
                ),
                vec![foreign("mail_checkpoint", "channel_id", "channel")],
            )],
        )
        .await?;
        // SQLite cannot add a foreign key to an existing table; the desk checks it.
        for (table, mut column) in [
            ("ticket", fk_null("channel_id")),
            ("message", json_null(Alias::new("addresses"))),
            ("attachment", s_null("content_id")),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        create_indexes(m, &[("ticket", &["channel_id"][..], false)]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_ticket_channel_id")
                .table(Alias::new("ticket"))
                .to_owned(),
        )
        .await?;
        for (table, column) in [
            ("attachment", "content_id"),
            ("message", "addresses"),
            ("ticket", "channel_id"),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        m.drop_table(
            Table::drop()
                .table(Alias::new("mail_checkpoint"))
                .to_owned(),
        )
        .await
    }
}
