//! Refunds on orders, so customer value can be shown net of what the shop paid back.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("order"))
                .add_column(
                    ColumnDef::new(Alias::new("refunded_cents"))
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("order"))
                .drop_column(Alias::new("refunded_cents"))
                .to_owned(),
        )
        .await
    }
}
