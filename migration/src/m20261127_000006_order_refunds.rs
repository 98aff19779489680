//! Refunds on orders as rows of their own, keyed by the shop's refund id, so a refund
//! that arrives alone, twice, or before its order counts exactly once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

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
                    "order_refund",
                    vec![
                        id(),
                        s("source"),
                        s("external_id"),
                        s("order_external_id"),
                        big_integer(Alias::new("amount_cents")),
                        s("currency"),
                        ts("refunded_at"),
                        ts("created_at"),
                    ],
                ),
                // No foreign key: a refund may arrive before its order.
                vec![],
            )],
        )
        .await?;
        create_indexes(
            m,
            &[
                ("order_refund", &["source", "external_id"][..], true),
                ("order_refund", &["source", "order_external_id"][..], false),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("order_refund")).to_owned())
            .await
    }
}
