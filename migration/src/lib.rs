//! Schema migrations, one module per change, each valid on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_foundation;
mod m20261127_000002_widget;
mod m20261127_000003_email;
mod m20261127_000004_calls;
mod m20261127_000005_refunds;
mod m20261127_000006_order_refunds;
mod m20261127_000007_feedback_sla;
mod m20261127_000008_report_indexes;
mod m20261127_000009_order_deletions;
mod m20261127_000010_report_days;
mod shorthand;

/// Runs every migration in order; `switchboard migrate` and `serve` call it.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_widget::Migration),
            Box::new(m20261127_000003_email::Migration),
            Box::new(m20261127_000004_calls::Migration),
            Box::new(m20261127_000005_refunds::Migration),
            Box::new(m20261127_000006_order_refunds::Migration),
            Box::new(m20261127_000007_feedback_sla::Migration),
            Box::new(m20261127_000008_report_indexes::Migration),
            Box::new(m20261127_000009_order_deletions::Migration),
            Box::new(m20261127_000010_report_days::Migration),
        ]
    }
}
