//! The durable work queue for side effects (invariant 3 of the design).
//!
//! A desk function writes outbox rows in the same transaction as the change that needs
//! them, so a side effect is never lost and never happens for a change that rolled back.
//! Workers claim due rows (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
//! nodes share the queue), run the handler for the row's kind, and delete the row when
//! it succeeded. A claim is a lease: a worker that dies mid-job leaves the row to be
//! claimed again when the lease runs out, so handlers must be idempotent. Failures are
//! retried with exponential backoff; after [`MAX_ATTEMPTS`] the row is marked `failed`
//! and stays visible to admins until retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, Value,
};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::store::{Store, now};
use entity::outbox;

/// Attempts before a row is marked failed.
pub const MAX_ATTEMPTS: i32 = 12;
/// How long a claimed row is reserved for the worker that claimed it.
pub const LEASE: Duration = Duration::from_secs(300);
/// Longest a handler may run; well inside the lease.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// Kinds of work; each has one handler.
pub mod kind {
    /// Send an outgoing message on its channel. Payload: `{"message_id": …}`.
    pub const DELIVER: &str = "deliver";
    /// Bring search documents up to date. Payload `{"ticket_id": …}`: the ticket's
    /// document and its contact's (a ticket that is gone loses its document);
    /// `{"contact_id": …}`: the contact's document and all its tickets' (a contact that
    /// is gone or merged into another loses its document).
    pub const INDEX: &str = "index";
    /// An email to send (a copy of a chat answer the visitor was not there to read);
    /// the email channel sends it.
    pub const EMAIL: &str = "email";
}

/// Adds a row inside the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    payload: serde_json::Value,
) -> Result<(), DbErr> {
    row(kind, payload).insert(db).await?;
    Ok(())
}

/// A new row, due now, for the caller to insert (alone or with others).
pub fn row(kind: &str, payload: serde_json::Value) -> outbox::ActiveModel {
    let at = now();
    outbox::ActiveModel {
        kind: Set(kind.to_owned()),
        payload: Set(payload),
        status: Set("pending".into()),
        attempts: Set(0),
        run_after: Set(at),
        last_error: Set(None),
        created_at: Set(at),
        ..Default::default()
    }
}

/// One claimed row.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Including this one.
    pub attempts: i32,
}

/// Why a job did not succeed.
#[derive(Debug)]
pub enum JobError {
    /// Worth trying again later (a server was down, a rate limit).
    Retry(String),
    /// Will never succeed (the message it refers to is gone): fail at once.
    Permanent(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Retry(m) | JobError::Permanent(m) => f.write_str(m),
        }
    }
}

/// Runs one job; must be idempotent.
pub type Handler = Arc<dyn Fn(Job) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync>;

/// Claims up to `limit` due rows of the given kinds for [`LEASE`].
pub async fn claim(store: &Store, kinds: &[&str], limit: u64) -> Result<Vec<Job>, DbErr> {
    if kinds.is_empty() {
        return Ok(vec![]);
    }
    let at = now();
    let lease_end = at + chrono::Duration::from_std(LEASE).expect("lease fits");
    let backend = store.backend();
    let pg = backend == DbBackend::Postgres;
    let p = |i: usize| if pg { format!("${i}") } else { "?".to_owned() };
    let mut values: Vec<Value> = vec![lease_end.into(), at.into()];
    let mut kind_params = Vec::new();
    for k in kinds {
        values.push((*k).into());
        kind_params.push(p(values.len()));
    }
    values.push((limit as i64).into());
    let sql = format!(
        "UPDATE outbox SET run_after = {lease}, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND run_after <= {now} \
         AND kind IN ({kinds}) ORDER BY id LIMIT {limit}{skip}) \
         RETURNING id, kind, payload, attempts",
        lease = p(1),
        now = p(2),
        kinds = kind_params.join(", "),
        limit = p(values.len()),
        skip = if pg { " FOR UPDATE SKIP LOCKED" } else { "" },
    );
    let tx = store.write().await?;
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    tx.commit().await?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        jobs.push(Job {
            id: row.try_get("", "id")?,
            kind: row.try_get("", "kind")?,
            payload: row.try_get("", "payload")?,
            attempts: row.try_get("", "attempts")?,
        });
    }
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// The delay before attempt `attempts + 1`: 2 s doubling, capped at 30 minutes.
pub fn backoff(attempts: i32) -> Duration {
    let secs = 2u64.saturating_pow(attempts.clamp(1, 20) as u32).min(1800);
    Duration::from_secs(secs)
}

/// Records the outcome of a claimed job. Only the claim that is still current counts:
/// if the lease ran out and another worker claimed the row meanwhile, this outcome is
/// dropped (returns false) and the other worker's stands.
pub async fn finish(
    store: &Store,
    job: &Job,
    outcome: Result<(), JobError>,
) -> Result<bool, DbErr> {
    let tx = store.write().await?;
    let changed = match outcome {
        Ok(()) => {
            outbox::Entity::delete_many()
                .filter(outbox::Column::Id.eq(job.id))
                .filter(outbox::Column::Attempts.eq(job.attempts))
                .exec(&*tx)
                .await?
                .rows_affected
        }
        Err(err) => {
            let (permanent, message) = match err {
                JobError::Retry(m) => (false, m),
                JobError::Permanent(m) => (true, m),
            };
            let failed = permanent || job.attempts >= MAX_ATTEMPTS;
            let run_after =
                now() + chrono::Duration::from_std(backoff(job.attempts)).expect("fits");
            tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, failed, "outbox job failed: {message}");
            outbox::Entity::update_many()
                .col_expr(
                    outbox::Column::Status,
                    (if failed { "failed" } else { "pending" }).into(),
                )
                .col_expr(outbox::Column::RunAfter, run_after.into())
                .col_expr(
                    outbox::Column::LastError,
                    Some(truncate(&message, 2000)).into(),
                )
                .filter(outbox::Column::Id.eq(job.id))
                .filter(outbox::Column::Attempts.eq(job.attempts))
                .exec(&*tx)
                .await?
                .rows_affected
        }
    };
    tx.commit().await?;
    if changed == 0 {
        tracing::warn!(
            job = job.id,
            "outbox job outlived its lease; its outcome is dropped"
        );
    }
    Ok(changed == 1)
}

/// Records the success of many claimed jobs at once (the indexer's batches). As with
/// [`finish`], a row whose claim is no longer current is left alone.
pub async fn finish_all(store: &Store, jobs: &[Job]) -> Result<(), DbErr> {
    if jobs.is_empty() {
        return Ok(());
    }
    let tx = store.write().await?;
    for chunk in jobs.chunks(200) {
        outbox::Entity::delete_many()
            .filter(still_claimed(chunk))
            .exec(&*tx)
            .await?;
    }
    tx.commit().await
}

/// The rows of these jobs whose claim is still theirs: a lease that ran out belongs to
/// whoever claimed the row since.
fn still_claimed(jobs: &[Job]) -> sea_orm::Condition {
    use sea_orm::Condition;
    jobs.iter().fold(Condition::any(), |any, job| {
        any.add(
            Condition::all()
                .add(outbox::Column::Id.eq(job.id))
                .add(outbox::Column::Attempts.eq(job.attempts)),
        )
    })
}

/// Puts claimed jobs back for later without counting the attempt: for work that waits
/// on an outage (the search backend), which must not use up a row's attempts and end
/// as failed.
pub async fn postpone(
    store: &Store,
    jobs: &[Job],
    delay: Duration,
    reason: &str,
) -> Result<(), DbErr> {
    if jobs.is_empty() {
        return Ok(());
    }
    let run_after = now() + chrono::Duration::from_std(delay).expect("fits");
    let tx = store.write().await?;
    for chunk in jobs.chunks(200) {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::RunAfter, run_after.into())
            .col_expr(
                outbox::Column::Attempts,
                sea_orm::sea_query::ExprTrait::sub(
                    sea_orm::sea_query::Expr::col(outbox::Column::Attempts),
                    1,
                ),
            )
            .col_expr(
                outbox::Column::LastError,
                Some(truncate(reason, 2000)).into(),
            )
            .filter(still_claimed(chunk))
            .filter(outbox::Column::Status.eq("pending"))
            .exec(&*tx)
            .await?;
    }
    tx.commit().await
}

/// Pending rows of one kind and the age of the oldest, for /readyz and metrics.
pub async fn backlog(store: &Store, kind: &str) -> Result<(u64, Option<DateTime<Utc>>), DbErr> {
    use sea_orm::PaginatorTrait;
    let pending = outbox::Entity::find()
        .filter(outbox::Column::Status.eq("pending"))
        .filter(outbox::Column::Kind.eq(kind));
    let count = pending.clone().count(store.db()).await?;
    let oldest = pending
        .select_only()
        .column(outbox::Column::CreatedAt)
        .order_by_asc(outbox::Column::Id)
        .into_tuple::<DateTime<Utc>>()
        .one(store.db())
        .await?;
    Ok((count, oldest))
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A row as admins see it.
#[derive(Debug, Serialize)]
pub struct Row {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i32,
    pub run_after: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<outbox::Model> for Row {
    fn from(m: outbox::Model) -> Row {
        Row {
            id: m.id,
            kind: m.kind,
            payload: m.payload,
            status: m.status,
            attempts: m.attempts,
            run_after: m.run_after,
            last_error: m.last_error,
            created_at: m.created_at,
        }
    }
}

/// Rows with the given status, oldest first, after the id `after`.
pub async fn list(store: &Store, status: &str, after: i64, limit: u64) -> Result<Vec<Row>, DbErr> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Status.eq(status))
        .filter(outbox::Column::Id.gt(after))
        .order_by_asc(outbox::Column::Id)
        .limit(limit)
        .all(store.db())
        .await?
        .into_iter()
        .map(Row::from)
        .collect())
}

/// Counts of pending and failed rows, for /readyz.
pub async fn counts(store: &Store) -> Result<(u64, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let pending = outbox::Entity::find()
        .filter(outbox::Column::Status.eq("pending"))
        .count(store.db())
        .await?;
    let failed = outbox::Entity::find()
        .filter(outbox::Column::Status.eq("failed"))
        .count(store.db())
        .await?;
    Ok((pending, failed))
}

/// Puts a failed row back in the queue with a fresh set of attempts.
/// Returns false when there is no failed row with that id.
pub async fn retry(store: &Store, id: i64) -> Result<bool, DbErr> {
    let tx = store.write().await?;
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, "pending".into())
        .col_expr(outbox::Column::Attempts, 0.into())
        .col_expr(outbox::Column::RunAfter, now().into())
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::Status.eq("failed"))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(res.rows_affected == 1)
}

/// Claims and runs jobs until told to stop; a stop lets the current batch finish.
pub struct Worker {
    pub store: Store,
    pub handlers: HashMap<&'static str, Handler>,
    /// Woken after a commit that wrote rows, so work starts at once instead of at the
    /// next poll.
    pub kick: Arc<Notify>,
    pub poll: Duration,
    pub batch: u64,
}

impl Worker {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let kinds: Vec<&str> = self.handlers.keys().copied().collect();
        loop {
            if *stop.borrow() {
                break;
            }
            let jobs = match claim(&self.store, &kinds, self.batch).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!("outbox claim failed: {e}");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    _ = self.kick.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            for job in jobs {
                let handler = &self.handlers[job.kind.as_str()];
                // A job must end well inside its lease, or another worker would run it too.
                let outcome = match tokio::time::timeout(JOB_TIMEOUT, handler(job.clone())).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(JobError::Retry(format!(
                        "took longer than {} s",
                        JOB_TIMEOUT.as_secs()
                    ))),
                };
                if let Err(e) = finish(&self.store, &job, outcome).await {
                    // The lease runs out and the job is claimed again: nothing is lost.
                    tracing::error!(job = job.id, "recording the outcome failed: {e}");
                }
            }
        }
    }
}
