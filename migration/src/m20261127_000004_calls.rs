//! Phone calls from a PBX (computer-telephony integration).

use sea_orm_migration::prelude::*;

use crate::shorthand::{
    create_indexes, create_tables, fk, fk_null, foreign, id, s, s_null, table, ts, ts_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_tables(
            m,
            vec![(
                table(
                    "call",
                    vec![
                        id(),
                        fk("channel_id"),
                        s("call_id"),
                        s("direction"),
                        s("from_number"),
                        s("to_number"),
                        fk_null("contact_id"),
                        s_null("queue"),
                        fk_null("agent_id"),
                        s_null("answered_by"),
                        s("status"),
                        s_null("cause"),
                        fk_null("ticket_id"),
                        ts("started_at"),
                        ts_null("answered_at"),
                        ts_null("ended_at"),
                    ],
                ),
                vec![foreign("call", "channel_id", "channel")],
            )],
        )
        .await?;
        create_indexes(
            m,
            &[
                ("call", &["channel_id", "call_id"][..], true),
                ("call", &["contact_id"][..], false),
                ("call", &["started_at"][..], false),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("call")).to_owned())
            .await
    }
}
