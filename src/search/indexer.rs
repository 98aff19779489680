//! The indexer: drains the outbox's `index` rows into the search index in batches, and
//! rebuilds an index from the store (`switchboard reindex`).
//!
//! An outage of the backend postpones the claimed rows without using up their attempts,
//! so nothing is lost and the index catches up by itself once the backend answers; a
//! document the backend refuses fails only its own row.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::{Notify, watch};

use super::{SearchError, SearchIndex, document};
use crate::outbox::{self, Job, JobError};
use crate::store::Store;
use entity::{contact, ticket};

/// Rows claimed per batch.
pub const BATCH: u64 = 256;
/// Documents per batch of a rebuild.
const REBUILD_BATCH: u64 = 500;
/// The longest wait between tries while the backend is down.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// How indexing is doing, for /readyz and metrics.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
}

impl Health {
    fn up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("the search backend answers again; indexing catches up");
        }
    }

    fn down(&self, error: &SearchError) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!("indexing waits for the search backend: {error}");
        }
    }

    /// True while the backend does not take documents.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

/// Keeps one index up to date from the outbox.
pub struct Indexer {
    pub store: Store,
    pub index: Arc<dyn SearchIndex>,
    /// Woken after a commit that wrote outbox rows.
    pub kick: Arc<Notify>,
    pub health: Arc<Health>,
    /// How often to look for due rows when not woken.
    pub poll: Duration,
    /// Fill the index from the store before draining the outbox (a new embedded index).
    pub fill: bool,
}

/// What one `index` row asks for.
enum Target {
    Ticket(i64),
    Contact(i64),
}

fn target(job: &Job) -> Option<Target> {
    let p = &job.payload;
    if let Some(id) = p.get("ticket_id").and_then(|v| v.as_i64()) {
        Some(Target::Ticket(id))
    } else {
        p.get("contact_id")
            .and_then(|v| v.as_i64())
            .map(Target::Contact)
    }
}

impl Indexer {
    /// Claims and indexes batches until told to stop.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pause = Duration::from_secs(1);
        let mut prepared = false;
        let mut fill_first = self.fill;
        loop {
            if *stop.borrow() {
                break;
            }
            if !prepared {
                // The indexes and their settings, before the first document; a new index
                // is filled from the store first, so rows written meanwhile come after
                // the fill and nothing older overwrites them.
                let ready = match self.index.prepare().await {
                    Ok(created) if fill_first || created => {
                        // Filling is indexing: no other node's indexer meanwhile.
                        let _turn = loop {
                            if let Some(turn) = turn(&self.store).await {
                                break turn;
                            }
                            tokio::time::sleep(self.poll).await;
                        };
                        fill(&self.store, &*self.index).await
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                };
                match ready {
                    Ok(()) => {
                        prepared = true;
                        fill_first = false;
                        pause = Duration::from_secs(1);
                        self.health.up();
                    }
                    Err(e) => {
                        self.health.down(&e);
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = stop.changed() => {}
                        }
                        pause = (pause * 2).min(MAX_PAUSE);
                        continue;
                    }
                }
            }
            // One indexer at a time across nodes: two writing the same document could
            // leave the older version in the index.
            let Some(turn) = turn(&self.store).await else {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            };
            let jobs = match outbox::claim(&self.store, &[outbox::kind::INDEX], BATCH).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!("claiming index rows failed: {e}");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                // Waiting is not indexing: another node may take its turn meanwhile.
                drop(turn);
                tokio::select! {
                    _ = self.kick.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            match self.index_jobs(&jobs).await {
                Ok(()) => pause = Duration::from_secs(1),
                Err(e) => {
                    // The rows come back when the pause is over; they never fail for this.
                    if let Err(db) =
                        outbox::postpone(&self.store, &jobs, pause, &e.to_string()).await
                    {
                        tracing::error!("postponing index rows failed: {db}");
                    }
                    drop(turn);
                    // A backend that lost its indexes (a new server) gets them and their
                    // settings again before the next batch.
                    prepared = false;
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    /// Indexes one claimed batch and records the outcome of every row; an error means
    /// the backend is unavailable and no row's outcome was recorded.
    async fn index_jobs(&self, jobs: &[Job]) -> Result<(), SearchError> {
        let mut tickets = BTreeSet::new();
        let mut contacts = BTreeSet::new();
        let mut good = Vec::with_capacity(jobs.len());
        for job in jobs {
            match target(job) {
                Some(Target::Ticket(id)) => {
                    tickets.insert(id);
                }
                Some(Target::Contact(id)) => {
                    contacts.insert(id);
                }
                None => {
                    self.finish(
                        job,
                        Err(JobError::Permanent(
                            "an index row names no ticket_id or contact_id".into(),
                        )),
                    )
                    .await;
                    continue;
                }
            }
            good.push(job.clone());
        }
        let tickets: Vec<i64> = tickets.into_iter().collect();
        let contacts: Vec<i64> = contacts.into_iter().collect();
        match self.index(&tickets, &contacts).await {
            Ok(()) => {
                if let Err(e) = outbox::finish_all(&self.store, &good).await {
                    // The claims run out and the rows are indexed again: nothing is lost.
                    tracing::error!("recording indexed rows failed: {e}");
                }
                Ok(())
            }
            Err(SearchError::Rejected(reason)) if good.len() > 1 => {
                // Find the row the backend refuses: each on its own.
                tracing::warn!(
                    "the search backend refused a batch ({reason}); indexing its rows one by one"
                );
                for job in &good {
                    let (t, c) = match target(job) {
                        Some(Target::Ticket(id)) => (vec![id], vec![]),
                        Some(Target::Contact(id)) => (vec![], vec![id]),
                        None => continue,
                    };
                    match self.index(&t, &c).await {
                        Ok(()) => self.finish(job, Ok(())).await,
                        Err(SearchError::Rejected(reason)) => {
                            self.finish(job, Err(JobError::Permanent(reason))).await
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(SearchError::Rejected(reason)) => {
                for job in &good {
                    self.finish(job, Err(JobError::Permanent(reason.clone())))
                        .await;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Loads the documents of these tickets and contacts (and of every ticket of these
    /// contacts) and writes them, a bounded number of tickets at a time.
    async fn index(&self, tickets: &[i64], contacts: &[i64]) -> Result<(), SearchError> {
        let store_error = |e: DbErr| SearchError::Unavailable(format!("reading the store: {e}"));
        let mut tickets = tickets.to_vec();
        tickets.extend(
            document::tickets_of(&self.store, contacts)
                .await
                .map_err(store_error)?,
        );
        tickets.sort_unstable();
        tickets.dedup();
        // A contact with thousands of tickets is written in several batches.
        let mut chunks: Vec<&[i64]> = tickets.chunks(BATCH as usize).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for (i, chunk) in chunks.into_iter().enumerate() {
            let contacts = if i == 0 { contacts } else { &[] };
            let changes = document::load(&self.store, chunk, contacts)
                .await
                .map_err(store_error)?;
            self.write(changes).await?;
        }
        Ok(())
    }

    async fn write(&self, changes: super::Changes) -> Result<(), SearchError> {
        let count = changes.len() as u64;
        match self.index.apply(changes).await {
            Ok(()) => {
                self.health.up();
                metrics::counter!("switchboard_search_documents_indexed_total").increment(count);
                Ok(())
            }
            Err(e @ SearchError::Rejected(_)) => Err(e),
            Err(e) => {
                self.health.down(&e);
                Err(e)
            }
        }
    }

    async fn finish(&self, job: &Job, outcome: Result<(), JobError>) {
        if let Err(e) = outbox::finish(&self.store, job, outcome).await {
            tracing::error!(job = job.id, "recording an index row's outcome failed: {e}");
        }
    }
}

/// How far a rebuild is.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub tickets_done: u64,
    pub tickets_total: u64,
    pub contacts_done: u64,
    pub contacts_total: u64,
    pub elapsed: Duration,
}

/// On PostgreSQL, the cluster-wide indexing lock for one batch (a transaction-scoped
/// advisory lock, released when the returned transaction ends), or None when another
/// node holds it. SQLite has one process: always its turn.
pub async fn turn(store: &Store) -> Option<Option<sea_orm::DatabaseTransaction>> {
    if !store.is_postgres() {
        return Some(None);
    }
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let attempt = async {
        let tx = store.db().begin().await?;
        let row = tx
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT pg_try_advisory_xact_lock({INDEXING_LOCK}) AS mine"),
            ))
            .await?;
        let mine: bool = match row {
            Some(row) => row.try_get("", "mine")?,
            None => false,
        };
        Ok::<_, DbErr>(mine.then_some(tx))
    };
    match attempt.await {
        Ok(Some(tx)) => Some(Some(tx)),
        Ok(None) => None,
        Err(e) => {
            tracing::error!("taking the indexing lock failed: {e}");
            None
        }
    }
}

/// The advisory lock key of indexing on PostgreSQL ("sbindex").
const INDEXING_LOCK: i64 = 0x0073_6269_6e64_6578;

/// Fills a new index from the store.
async fn fill(store: &Store, index: &dyn SearchIndex) -> Result<(), SearchError> {
    tracing::info!("the search index is new; filling it from the store");
    match rebuild(store, index, |_| {}).await {
        Ok(p) => {
            tracing::info!(
                tickets = p.tickets_done,
                contacts = p.contacts_done,
                seconds = p.elapsed.as_secs(),
                "the search index is filled"
            );
            Ok(())
        }
        Err(e) => Err(e
            .downcast::<SearchError>()
            .unwrap_or_else(|e| SearchError::Unavailable(format!("filling the index: {e:#}")))),
    }
}

/// Rebuilds `index` from the store: removes every document, then writes every ticket and
/// every live contact in batches, calling `progress` after each.
pub async fn rebuild(
    store: &Store,
    index: &dyn SearchIndex,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Progress> {
    let started = Instant::now();
    index.prepare().await?;
    index.clear().await?;
    let db = store.db();
    let mut p = Progress {
        tickets_done: 0,
        tickets_total: ticket::Entity::find().count(db).await?,
        contacts_done: 0,
        contacts_total: contact::Entity::find()
            .filter(contact::Column::MergedIntoId.is_null())
            .count(db)
            .await?,
        elapsed: Duration::ZERO,
    };
    let mut after = 0;
    loop {
        let ids: Vec<i64> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::Id.gt(after))
            .order_by_asc(ticket::Column::Id)
            .limit(REBUILD_BATCH)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        let mut changes = document::load(store, &ids, &[]).await?;
        // Contacts come in their own pass.
        changes.contacts.clear();
        p.tickets_done += changes.tickets.len() as u64;
        index.apply(changes).await?;
        p.elapsed = started.elapsed();
        progress(p);
    }
    let mut after = 0;
    loop {
        let ids: Vec<i64> = contact::Entity::find()
            .select_only()
            .column(contact::Column::Id)
            .filter(contact::Column::Id.gt(after))
            .filter(contact::Column::MergedIntoId.is_null())
            .order_by_asc(contact::Column::Id)
            .limit(REBUILD_BATCH)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        let mut changes = document::load(store, &[], &ids).await?;
        changes.deleted_contacts.clear();
        p.contacts_done += changes.contacts.len() as u64;
        index.apply(changes).await?;
        p.elapsed = started.elapsed();
        progress(p);
    }
    index.filled().await?;
    p.elapsed = started.elapsed();
    Ok(p)
}
