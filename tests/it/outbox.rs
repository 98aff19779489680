//! The outbox on both engines: claims are leases shared without overlap, failures back
//! off and end up visible, retries start over, workers deliver and stop cleanly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::tickets::ReplyInput;
use switchboard::desk::{Actor, Channel, Inbound};
use switchboard::outbox::{self, Job, JobError, MAX_ATTEMPTS, Worker};
use tokio::sync::{Notify, watch};

use crate::on_both;
use crate::support::{Engine, desk};

async fn enqueue(store: &switchboard::store::Store, kind: &str, n: usize) {
    let tx = store.write().await.unwrap();
    for i in 0..n {
        outbox::enqueue(&*tx, kind, json!({"n": i})).await.unwrap();
    }
    tx.commit().await.unwrap();
}

on_both! {
    async fn concurrent_claims_never_hand_out_a_row_twice(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let store = desk.store.clone();
        enqueue(&store, "test", 60).await;
        enqueue(&store, "other", 5).await;
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let jobs = outbox::claim(&store, &["test"], 4).await.unwrap();
                    if jobs.is_empty() { break; }
                    mine.extend(jobs.into_iter().map(|j| j.id));
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks { all.extend(t.await.unwrap()); }
        let unique: HashSet<i64> = all.iter().copied().collect();
        assert_eq!((all.len(), unique.len()), (60, 60), "each row claimed exactly once");
        // Claimed rows are leased: nothing is due until the lease ends, and other kinds wait.
        assert!(outbox::claim(&store, &["test"], 100).await.unwrap().is_empty());
        assert_eq!(outbox::claim(&store, &["other"], 100).await.unwrap().len(), 5);
    }
}

on_both! {
    async fn failures_back_off_then_fail_visibly_and_a_retry_starts_over(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let store = desk.store.clone();
        enqueue(&store, "flaky", 1).await;
        let job = outbox::claim(&store, &["flaky"], 10).await.unwrap().remove(0);
        assert_eq!(job.attempts, 1);
        outbox::finish(&store, &job, Err(JobError::Retry("server said 451".into()))).await.unwrap();
        // Backing off: not due now.
        assert!(outbox::claim(&store, &["flaky"], 10).await.unwrap().is_empty());
        let pending = outbox::list(&store, "pending", 0, 10).await.unwrap();
        assert_eq!(pending[0].last_error.as_deref(), Some("server said 451"));
        assert!(pending[0].run_after > chrono::Utc::now());
        assert!(outbox::backoff(1) < outbox::backoff(5) && outbox::backoff(30) == Duration::from_secs(1800));

        // The last attempt fails for good and shows up in the failed list.
        entity::outbox::ActiveModel { id: Set(job.id), run_after: Set(chrono::Utc::now()), attempts: Set(MAX_ATTEMPTS - 1), ..Default::default() }
            .update(store.db()).await.unwrap();
        let job = outbox::claim(&store, &["flaky"], 10).await.unwrap().remove(0);
        assert_eq!(job.attempts, MAX_ATTEMPTS);
        outbox::finish(&store, &job, Err(JobError::Retry("still down".into()))).await.unwrap();
        let failed = outbox::list(&store, "failed", 0, 10).await.unwrap();
        assert_eq!((failed.len(), failed[0].attempts), (1, MAX_ATTEMPTS));
        assert_eq!(outbox::counts(&store).await.unwrap(), (0, 1));

        assert!(outbox::retry(&store, job.id).await.unwrap());
        assert!(!outbox::retry(&store, job.id).await.unwrap(), "only failed rows are retried");
        let job = outbox::claim(&store, &["flaky"], 10).await.unwrap().remove(0);
        assert_eq!(job.attempts, 1);
        outbox::finish(&store, &job, Ok(())).await.unwrap();
        assert_eq!(outbox::counts(&store).await.unwrap(), (0, 0));

        // A permanent failure fails at once.
        enqueue(&store, "flaky", 1).await;
        let job = outbox::claim(&store, &["flaky"], 10).await.unwrap().remove(0);
        outbox::finish(&store, &job, Err(JobError::Permanent("gone".into()))).await.unwrap();
        assert_eq!(outbox::counts(&store).await.unwrap(), (0, 1));
    }
}

on_both! {
    async fn a_worker_runs_each_job_once_and_stops_cleanly(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let store = desk.store.clone();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let handler: outbox::Handler = Arc::new(move |_job: Job| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<(), JobError>(())
            }
            .boxed()
        });
        let kick = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let worker = Worker { store: store.clone(), handlers: HashMap::from([("count", handler)]), kick: kick.clone(), poll: Duration::from_millis(50), batch: 8 };
        let running = tokio::spawn(worker.run(stopped));
        enqueue(&store, "count", 25).await;
        kick.notify_one();
        for _ in 0..200 {
            if outbox::counts(&store).await.unwrap() == (0, 0) { break; }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(outbox::counts(&store).await.unwrap(), (0, 0));
        assert_eq!(runs.load(Ordering::SeqCst), 25);
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running).await.expect("worker stops").unwrap();
    }
}

on_both! {
    async fn an_api_reply_is_delivered_through_the_outbox(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let store = desk.store.clone();
        let out = desk.ingest(&Inbound::text(Channel::Api, "ext-1", IdentityClaim::new(IdentityKind::Email, "a@example.com"), "hi")).await.unwrap();
        let reply = desk.reply(out.ticket_id, Actor::System, &ReplyInput { text: "hello".into(), html: None, status: None, attachments: vec![] }).await.unwrap();
        let email_ticket = desk.ingest(&Inbound::text(Channel::Email, "<e@x>", IdentityClaim::new(IdentityKind::Email, "a@example.com"), "hi")).await.unwrap();
        let email_reply = desk.reply(email_ticket.ticket_id, Actor::System, &ReplyInput { text: "hello".into(), html: None, status: None, attachments: vec![] }).await.unwrap();

        let clients = switchboard::channels::Clients::new(&crate::support::config(&[]));
        let handler = switchboard::channels::deliver_handler(desk.clone(), std::sync::Arc::new(clients));
        let jobs = outbox::claim(&store, &[outbox::kind::DELIVER], 10).await.unwrap();
        assert_eq!(jobs.len(), 2);
        for job in jobs {
            let outcome = handler(job.clone()).await;
            outbox::finish(&store, &job, outcome).await.unwrap();
        }
        assert_eq!(desk.message(reply.id).await.unwrap().delivery_status, "sent");
        // No sender for email yet: retried later, still queued, and visible with the reason.
        assert_eq!(desk.message(email_reply.id).await.unwrap().delivery_status, "queued");
        let pending = outbox::list(&store, "pending", 0, 50).await.unwrap();
        let row = pending.iter().find(|r| r.kind == "deliver").unwrap();
        assert!(row.last_error.as_deref().unwrap().contains("mail account"));

        // A repeated job (after a crash between sending and recording) sends nothing twice.
        let again = Job { id: 0, kind: "deliver".into(), payload: json!({"message_id": reply.id}), attempts: 2 };
        assert!(handler(again).await.is_ok());
        let gone = Job { id: 0, kind: "deliver".into(), payload: json!({"message_id": 987654}), attempts: 1 };
        assert!(matches!(handler(gone).await, Err(JobError::Permanent(_))));
        // The last attempt marks the message failed with the reason.
        let last = Job { id: 0, kind: "deliver".into(), payload: json!({"message_id": email_reply.id}), attempts: MAX_ATTEMPTS };
        assert!(handler(last).await.is_err());
        let m = desk.message(email_reply.id).await.unwrap();
        assert_eq!(m.delivery_status, "failed");
        assert!(m.delivery_error.unwrap().contains("mail account"));
        let _ = entity::outbox::Entity::find();
    }
}

on_both! {
    async fn an_outcome_after_the_lease_ran_out_does_not_overwrite_the_new_claim(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let store = desk.store.clone();
        enqueue(&store, "slow", 1).await;
        let first = outbox::claim(&store, &["slow"], 1).await.unwrap().remove(0);
        // The lease runs out; another worker claims the row.
        entity::outbox::ActiveModel { id: Set(first.id), run_after: Set(chrono::Utc::now()), ..Default::default() }
            .update(store.db()).await.unwrap();
        let second = outbox::claim(&store, &["slow"], 1).await.unwrap().remove(0);
        assert_eq!(second.attempts, 2);
        assert!(!outbox::finish(&store, &first, Ok(())).await.unwrap(), "the stale outcome is dropped");
        assert_eq!(outbox::counts(&store).await.unwrap(), (1, 0), "the row is still the second worker's");
        assert!(outbox::finish(&store, &second, Ok(())).await.unwrap());
        assert_eq!(outbox::counts(&store).await.unwrap(), (0, 0));
    }
}
