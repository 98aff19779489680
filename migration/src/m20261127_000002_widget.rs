//! Configured channels (the first kind: chat widget sites) and the widget's visitors.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::shorthand::{create_indexes, create_tables, fk, foreign, id, s, s_null, t, table, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_tables(
            m,
            vec![
                (
                    table(
                        "channel",
                        vec![
                            id(),
                            s("kind"),
                            s("name"),
                            s("key"),
                            t("secret"),
                            t("token_key"),
                            json(Alias::new("settings")),
                            boolean(Alias::new("active")),
                            ts("created_at"),
                            ts("updated_at"),
                        ],
                    ),
                    vec![],
                ),
                (
                    table(
                        "visitor",
                        vec![
                            string(Alias::new("id")).primary_key().take(),
                            fk("channel_id"),
                            s_null("email"),
                            ts("created_at"),
                            ts("last_seen_at"),
                        ],
                    ),
                    vec![foreign("visitor", "channel_id", "channel")],
                ),
            ],
        )
        .await?;
        create_indexes(
            m,
            &[
                ("channel", &["key"][..], true),
                ("channel", &["kind", "name"][..], false),
                ("visitor", &["channel_id"][..], false),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in ["visitor", "channel"] {
            m.drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
