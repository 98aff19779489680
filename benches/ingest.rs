//! Ingest benchmark: customer messages per second through `Desk::ingest` on SQLite and
//! on PostgreSQL, beside the raw rate of inserting as many message rows in one
//! transaction, measured in the same run on the same store.
//!
//! `cargo bench --bench ingest`. Settings (environment):
//! - `BENCH_MESSAGES` — messages to ingest (default 20000)
//! - `BENCH_TASKS` — concurrent ingesting tasks (default 16)
//! - `BENCH_RAW_CHUNK` — rows per statement of the raw insert (default 500)
//! - `BENCH_ENGINES` — which engines to run, comma-separated (default `sqlite,postgres`)
//! - `SWITCHBOARD_BENCH_DATABASE_URL` — PostgreSQL to use (default
//!   `postgres://postgres@127.0.0.1:5432/test`); the run works in a fresh schema and drops
//!   it afterwards. When PostgreSQL cannot be reached, that engine is skipped with the
//!   reason.
//!
//! The traffic: about 4,000 customers writing on chat, WhatsApp, email and the API
//! channel. Conversational messages thread into the customer's open ticket on that
//! channel (the first one opens it); most emails answer the customer's previous email by
//! reference, the rest open new tickets. A second pass delivers every message again;
//! replays must change nothing.

mod common;
use common::env_usize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait, Set};
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::{Channel, Desk, Inbound, IngestOutcome, Rules, ThreadRef};
use switchboard::store::{Store, now};

const CUSTOMERS: usize = 4_000;

/// What one engine achieved.
struct Figures {
    engine: &'static str,
    ingest: f64,
    replay: f64,
    raw: f64,
}

/// How one engine's run ended.
enum Outcome {
    Done(Figures),
    Skipped(&'static str, String),
}

const OPENINGS: &[&str] = &[
    "Hello, my order {order} has not arrived yet. Can you tell me where it is?",
    "Hi! I was charged twice for order {order}, please refund one of the payments.",
    "The jacket from order {order} is too small. How do I exchange it for a larger size?",
    "Good morning, can I still change the delivery address for order {order}?",
    "Just wanted to say the delivery of {order} was super fast, thank you!",
    "The blender I got with order {order} stopped working after two days.",
    "Do you ship to Austria? I would like to order the same as in {order}.",
    "Your app shows order {order} as delivered, but there is nothing at my door.",
];

const FOLLOW_UPS: &[&str] = &[
    "Any news on this?",
    "Thanks, that helps. One more question: is the return label included in the parcel?",
    "I attached the photo now. The box was damaged on arrival.",
    "Sorry, the order number was wrong, it is {order}.",
    "Okay, I will wait until Friday then.",
    "Still nothing. This is the third time I am asking, please call me back.",
    "Great, it arrived today. You can close this.",
    "Could you send me the invoice as PDF as well?",
];

/// The messages of one run, in delivery order, deterministic for a given count.
fn traffic(n: usize) -> Vec<Inbound> {
    let mut rng = StdRng::seed_from_u64(0x005b_0a2d);
    let mut last_email: Vec<Option<String>> = vec![None; CUSTOMERS];
    let mut seen: Vec<[bool; 4]> = vec![[false; 4]; CUSTOMERS];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let c = rng.random_range(0..CUSTOMERS);
        // Each customer has a favourite channel and now and then uses another one.
        let favourite = c % 4;
        let slot = if rng.random_bool(0.8) {
            favourite
        } else {
            rng.random_range(0..4)
        };
        let order = format!("SB-{}", 100_000 + c * 7 + rng.random_range(0..5));
        let first = !seen[c][slot];
        seen[c][slot] = true;
        let template = if first {
            OPENINGS[rng.random_range(0..OPENINGS.len())]
        } else {
            FOLLOW_UPS[rng.random_range(0..FOLLOW_UPS.len())]
        };
        let text = template.replace("{order}", &order);
        let (channel, claim, external_id) = match slot {
            0 => (
                Channel::Chat,
                IdentityClaim::new(
                    IdentityKind::Visitor,
                    format!("v-{c:05}-{:08x}", c * 2_654_435_761 % (1 << 32)),
                ),
                format!("chat-{}", uuid::Uuid::new_v4()),
            ),
            1 => (
                Channel::Whatsapp,
                IdentityClaim::new(IdentityKind::Phone, format!("+49151{:08}", 20_000_000 + c)),
                format!("wamid.HBgN{:012}{i:08}", 4_915_120_000_000u64 + c as u64),
            ),
            2 => (
                Channel::Email,
                IdentityClaim::new(IdentityKind::Email, format!("Customer.{c}@Example.org")),
                format!("<{}.{i}@mail.example.org>", uuid::Uuid::new_v4().simple()),
            ),
            _ => (
                Channel::Api,
                IdentityClaim::new(IdentityKind::Shop, format!("shop-customer-{c}")),
                format!("api-{i}-{}", uuid::Uuid::new_v4().simple()),
            ),
        };
        let mut inbound = Inbound::text(channel, external_id.clone(), claim, text);
        if channel == Channel::Email {
            inbound.subject = Some(format!("Question about order {order}"));
            // Most emails answer the previous one by reference; the rest start afresh.
            if let Some(prev) = &last_email[c]
                && rng.random_bool(0.7)
            {
                inbound.thread = Some(ThreadRef::Messages(vec![prev.clone()]));
                inbound.subject = Some(format!("Re: Question about order {order}"));
            }
            last_email[c] = Some(external_id);
        }
        if first {
            inbound.name = Some(format!("Customer {c}"));
        }
        out.push(inbound);
    }
    out
}

/// Ingests every message with `tasks` concurrent tasks; returns the outcomes in order,
/// the elapsed time and the errors seen.
async fn ingest_all(
    desk: &Desk,
    messages: &Arc<Vec<Inbound>>,
    tasks: usize,
) -> (Vec<Option<IngestOutcome>>, Duration, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let desk = desk.clone();
        let messages = messages.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages.len() {
                    break;
                }
                match desk.ingest(&messages[i]).await {
                    Ok(o) => done.push((i, o)),
                    Err(e) => errors.push(format!("message {i}: {e}")),
                }
            }
            (done, errors)
        }));
    }
    let mut outcomes = vec![None; messages.len()];
    let mut errors = Vec::new();
    for h in handles {
        let (done, errs) = h.await.expect("ingest task panicked");
        for (i, o) in done {
            outcomes[i] = Some(o);
        }
        errors.extend(errs);
    }
    (outcomes, started.elapsed(), errors)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn count_messages(store: &Store) -> Result<u64, String> {
    entity::message::Entity::find()
        .count(store.db())
        .await
        .map_err(|e| format!("counting messages: {e}"))
}

/// Runs the three measurements on one store.
async fn measure(
    engine: &'static str,
    store: &Store,
    messages: &Arc<Vec<Inbound>>,
    tasks: usize,
) -> Result<Figures, String> {
    let n = messages.len();
    let raw_chunk = env_usize("BENCH_RAW_CHUNK", 500);
    let desk = Desk::new(
        store.clone(),
        Rules::default(),
        switchboard::blobs::Blobs::new(&std::env::temp_dir().join("switchboard-bench-blobs")),
    );

    // 1. Ingest.
    let (outcomes, took, errors) = ingest_all(&desk, messages, tasks).await;
    let ingest = rate(n, took);
    let ok: Vec<&IngestOutcome> = outcomes.iter().flatten().collect();
    let new_tickets = ok.iter().filter(|o| o.new_ticket).count();
    let contacts: std::collections::HashSet<i64> = ok.iter().map(|o| o.contact_id).collect();
    println!(
        "[{engine}] ingest: {n} messages in {:.2} s = {ingest:.0} msg/s ({} stored, {new_tickets} new tickets, {} contacts, {} errors)",
        took.as_secs_f64(),
        ok.iter().filter(|o| o.created).count(),
        contacts.len(),
        errors.len(),
    );
    if let Some(e) = errors.first() {
        println!("[{engine}]   first error: {e}");
    }
    let stored = count_messages(store).await?;
    if stored != ok.len() as u64 {
        println!(
            "[{engine}]   MISMATCH: {stored} message rows for {} ingested messages",
            ok.len()
        );
    }

    // 2. Replays: the same messages again; each must return what the first pass stored.
    let (replayed, took, errors) = ingest_all(&desk, messages, tasks).await;
    let replay = rate(n, took);
    let changed = replayed
        .iter()
        .zip(&outcomes)
        .filter(|(again, first)| match (again, first) {
            (Some(a), Some(f)) => {
                a.created || a.message_id != f.message_id || a.ticket_id != f.ticket_id
            }
            _ => false,
        })
        .count();
    let after = count_messages(store).await?;
    println!(
        "[{engine}] replay: {n} messages in {:.2} s = {replay:.0} msg/s ({changed} not a no-op, {} errors, message rows {stored} -> {after})",
        took.as_secs_f64(),
        errors.len(),
    );
    if let Some(e) = errors.first() {
        println!("[{engine}]   first error: {e}");
    }

    // 3. Raw baseline: as many message rows, inserted in one transaction in chunks.
    let seed = desk
        .ingest(&Inbound::text(
            Channel::Api,
            "bench-raw-seed",
            IdentityClaim::new(IdentityKind::Shop, "bench-raw-customer"),
            "Ticket that holds the raw rows",
        ))
        .await
        .map_err(|e| format!("creating the ticket for the raw rows: {e}"))?;
    let started = Instant::now();
    let tx = store
        .write()
        .await
        .map_err(|e| format!("raw insert: {e}"))?;
    for (chunk_no, chunk) in messages.chunks(raw_chunk).enumerate() {
        let rows = chunk.iter().enumerate().map(|(j, m)| {
            let at = now();
            entity::message::ActiveModel {
                ticket_id: Set(seed.ticket_id),
                direction: Set("in".into()),
                channel: Set(m.channel.as_str().into()),
                author_agent_id: Set(None),
                author_contact_id: Set(Some(seed.contact_id)),
                text: Set(m.text.clone()),
                html: Set(None),
                external_id: Set(Some(format!("raw-{}", chunk_no * raw_chunk + j))),
                delivery_status: Set("received".into()),
                delivery_error: Set(None),
                created_at: Set(at),
                ..Default::default()
            }
        });
        entity::message::Entity::insert_many(rows)
            .exec(&*tx)
            .await
            .map_err(|e| format!("raw insert: {e}"))?;
    }
    tx.commit()
        .await
        .map_err(|e| format!("raw insert commit: {e}"))?;
    let took = started.elapsed();
    let raw = rate(n, took);
    println!(
        "[{engine}] raw insert: {n} message rows in one transaction ({raw_chunk} per statement) in {:.2} s = {raw:.0} rows/s",
        took.as_secs_f64()
    );
    Ok(Figures {
        engine,
        ingest,
        replay,
        raw,
    })
}

async fn run_sqlite(messages: &Arc<Vec<Inbound>>, tasks: usize) -> Outcome {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "switchboard-bench-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    println!("[sqlite] store: {}", path.display());
    let result = async {
        let store = Store::connect(&url, None)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
        let figures = measure("sqlite", &store, messages, tasks).await;
        store.close().await;
        figures
    }
    .await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    match result {
        Ok(f) => Outcome::Done(f),
        Err(e) => Outcome::Skipped("sqlite", format!("failed: {e}")),
    }
}

async fn run_postgres(messages: &Arc<Vec<Inbound>>, tasks: usize) -> Outcome {
    let url = std::env::var("SWITCHBOARD_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = match tokio::time::timeout(Duration::from_secs(15), Database::connect(&url)).await {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            return Outcome::Skipped("postgres", format!("skipped: cannot connect to {url}: {e}"));
        }
        Err(_) => {
            return Outcome::Skipped(
                "postgres",
                format!("skipped: no answer from {url} within 15 s"),
            );
        }
    };
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await
    {
        let _ = admin.close().await;
        return Outcome::Skipped(
            "postgres",
            format!("skipped: cannot create schema {schema}: {e}"),
        );
    }
    println!("[postgres] store: {url}, schema {schema}");
    let result = async {
        let store = Store::connect(&url, Some(&schema))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
        let figures = measure("postgres", &store, messages, tasks).await;
        store.close().await;
        figures
    }
    .await;
    if let Err(e) = admin
        .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
    {
        println!("[postgres] could not drop schema {schema}: {e}");
    }
    let _ = admin.close().await;
    match result {
        Ok(f) => Outcome::Done(f),
        Err(e) => Outcome::Skipped("postgres", format!("failed: {e}")),
    }
}

fn main() {
    let n = env_usize("BENCH_MESSAGES", 20_000);
    let tasks = env_usize("BENCH_TASKS", 16);
    let messages = Arc::new(traffic(n));
    // Every identity must be one the desk accepts, or the figures would count errors.
    for m in messages.iter() {
        if let Err(e) = m.identity.normalized(Rules::default().default_region) {
            panic!(
                "bench traffic has an invalid identity {:?}: {e}",
                m.identity.value
            );
        }
    }
    let mut per_channel = [0usize; 4];
    for m in messages.iter() {
        per_channel[match m.channel {
            Channel::Chat => 0,
            Channel::Whatsapp => 1,
            Channel::Email => 2,
            _ => 3,
        }] += 1;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "switchboard ingest benchmark: {n} messages from up to {CUSTOMERS} customers \
         (chat {}, whatsapp {}, email {}, api {}), {tasks} concurrent tasks, {} worker threads",
        per_channel[0],
        per_channel[1],
        per_channel[2],
        per_channel[3],
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    );
    let engines = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".into());
    let engines: Vec<&str> = engines
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    for e in &engines {
        assert!(
            matches!(*e, "sqlite" | "postgres"),
            "BENCH_ENGINES: unknown engine {e:?} (expected sqlite, postgres)"
        );
    }
    let outcomes = runtime.block_on(async {
        let mut outcomes = Vec::new();
        if engines.contains(&"sqlite") {
            outcomes.push(run_sqlite(&messages, tasks).await);
        }
        if engines.contains(&"postgres") {
            outcomes.push(run_postgres(&messages, tasks).await);
        }
        outcomes
    });

    println!();
    println!(
        "{:<10} {:>14} {:>14} {:>18}",
        "engine", "ingest msg/s", "replay msg/s", "raw insert rows/s"
    );
    for o in &outcomes {
        match o {
            Outcome::Done(f) => println!(
                "{:<10} {:>14.0} {:>14.0} {:>18.0}",
                f.engine, f.ingest, f.replay, f.raw
            ),
            Outcome::Skipped(engine, why) => println!("{engine:<10} {why}"),
        }
    }
}
