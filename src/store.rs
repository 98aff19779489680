//! The one store behind every ticket: connecting to SQLite or PostgreSQL, running the
//! migrations, and the write-transaction discipline both engines share.
//!
//! SQLite allows one writer at a time, so writers queue on an in-process lock and start
//! with `BEGIN IMMEDIATE` instead of failing with "database is locked". PostgreSQL runs
//! writers concurrently; callers retry a transaction that lost a unique-constraint race
//! ([`is_conflict`]), and the retry finds what the winner stored.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqlErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The database connection pool plus what it takes to write to it safely.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Serializes writers on SQLite; unused on PostgreSQL.
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction; on SQLite it also holds the writer's turn until it ends.
pub struct WriteTx {
    pub tx: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }
}

/// The current time at the precision both engines store (microseconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). `schema` selects a PostgreSQL
    /// schema other than `public` (tests use one per run).
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Store, DbErr> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(10));
        if url.starts_with("sqlite:") {
            opts.max_connections(8).min_connections(1);
            opts.map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
        } else {
            opts.max_connections(20).min_connections(1);
            if let Some(schema) = schema {
                opts.set_schema_search_path(schema.to_owned());
            }
        }
        let db = Database::connect(opts).await?;
        Ok(Store {
            db,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    /// Brings the schema up to date; safe to run on every start.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn is_postgres(&self) -> bool {
        self.backend() == DbBackend::Postgres
    }

    /// Starts a write transaction (see the module docs for why SQLite waits its turn).
    pub async fn write(&self) -> Result<WriteTx, DbErr> {
        if self.is_postgres() {
            let tx = self.db.begin().await?;
            return Ok(WriteTx { tx, _turn: None });
        }
        let turn = self.turn().await;
        let mut tx = self.write_in_turn().await?;
        tx._turn = Some(turn);
        Ok(tx)
    }

    /// Waits for the writer's turn on SQLite (see the module docs); cancel-safe.
    pub async fn turn(&self) -> OwnedMutexGuard<()> {
        self.write_lock.clone().lock_owned().await
    }

    /// Starts a write transaction for a caller that already holds the [`turn`](Self::turn)
    /// (or on PostgreSQL, where there is none).
    pub async fn write_in_turn(&self) -> Result<WriteTx, DbErr> {
        let tx = if self.is_postgres() {
            self.db.begin().await?
        } else {
            self.db
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await?
        };
        Ok(WriteTx { tx, _turn: None })
    }

    /// The next human-facing ticket number on SQLite, inside the caller's transaction
    /// (PostgreSQL numbers tickets by the column's default).
    pub async fn next_ticket_number(&self, tx: &WriteTx) -> Result<i64, DbErr> {
        let sql = "SELECT COALESCE(MAX(number), 999) + 1 AS n FROM ticket";
        let row = tx
            .query_one_raw(Statement::from_string(self.backend(), sql))
            .await?
            .ok_or_else(|| DbErr::Custom("no ticket number".into()))?;
        row.try_get::<i64>("", "n")
    }

    /// Takes a row lock on PostgreSQL (`SELECT … FOR UPDATE`) so writers touching the
    /// same record go one after the other; SQLite writers are serial already.
    pub async fn lock_row(&self, tx: &WriteTx, table: &str, id: i64) -> Result<(), DbErr> {
        if self.is_postgres() {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT id FROM \"{table}\" WHERE id = $1 FOR UPDATE"),
                [id.into()],
            ))
            .await?;
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

/// True when the error is a unique-constraint violation (a concurrent writer won a race)
/// or a PostgreSQL serialization/deadlock failure.
pub fn is_conflict(e: &DbErr) -> bool {
    if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    let text = e.to_string();
    text.contains("40001") || text.contains("40P01") || text.contains("deadlock detected")
}
