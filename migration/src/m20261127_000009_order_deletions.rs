//! Orders the shop deleted, remembered by key and time even when the order itself was
//! never stored, so a late, older create cannot bring a deleted order back.

use sea_orm_migration::prelude::*;

use crate::shorthand::{create_indexes, create_tables, id, s, table, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_tables(
            m,
            vec![(
                table(
                    "order_deletion",
                    vec![id(), s("source"), s("external_id"), ts("deleted_at")],
                ),
                vec![],
            )],
        )
        .await?;
        create_indexes(
            m,
            &[("order_deletion", &["source", "external_id"][..], true)],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("order_deletion")).to_owned())
            .await
    }
}
