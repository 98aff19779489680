//! The SLA warnings given, one row per ticket, clock and due time, so that a warning goes
//! out once however many nodes watch and however often one restarts.

use sea_orm_migration::prelude::*;

use crate::shorthand::{create_indexes, create_tables, fk, id, s, table, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_tables(
            m,
            vec![(
                table(
                    "sla_warning",
                    vec![
                        id(),
                        fk("ticket_id"),
                        s("metric"),
                        ts("due_at"),
                        ts("created_at"),
                    ],
                ),
                vec![],
            )],
        )
        .await?;
        create_indexes(
            m,
            &[
                ("sla_warning", &["ticket_id", "metric", "due_at"][..], true),
                ("sla_warning", &["due_at"][..], false),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("sla_warning")).to_owned())
            .await
    }
}
