//! Email benchmark: how fast raw mail is read (mail-parser, charsets, attachments,
//! loop signs) and how fast it is read and stored (attachments on disk, threading,
//! the desk's transaction), for a mixed corpus built from the test messages in
//! `tests/fixtures/mail` (plain and HTML mail, many charsets, attachments, forwards,
//! auto-replies and bounces, malformed mail) and replies to earlier messages.
//!
//! Settings: `BENCH_MESSAGES` (default 5000), `BENCH_TASKS` concurrent receivers
//! (default 16), `BENCH_ENGINES` (`sqlite,postgres`), `SWITCHBOARD_BENCH_DATABASE_URL`.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::env_usize;
use sea_orm::{ConnectionTrait, Database};
use switchboard::blobs::Blobs;
use switchboard::channels::email::{self, mime};
use switchboard::desk::channels::NewMailAccount;
use switchboard::desk::email::Received;
use switchboard::desk::{Desk, Rules};
use switchboard::store::Store;

/// The corpus with a unique Message-ID per copy; every third mail answers the one
/// before it, so threading by references is part of the work.
fn corpus(n: usize) -> (Vec<Vec<u8>>, usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail");
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/mail")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read(p).expect("a corpus file"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mails = (0..n)
        .map(|i| {
            let mut raw = files[i % files.len()].clone();
            // Lines are rewritten below; a file with lone CRs keeps its line ends.
            if !raw.contains(&b'\n') {
                raw = String::from_utf8_lossy(&raw)
                    .replace('\r', "\r\n")
                    .into_bytes();
            }
            let raw = &raw;
            let split = find_header_end(raw).unwrap_or(raw.len());
            let (head, body) = raw.split_at(split);
            let head = String::from_utf8_lossy(head);
            let mut out = format!("Message-ID: <bench-{i}@bench.example>\r\n");
            if i % 3 == 2 {
                out.push_str(&format!("In-Reply-To: <bench-{}@bench.example>\r\n", i - 1));
            }
            for line in head.split_inclusive('\n') {
                let lower = line.to_ascii_lowercase();
                if !lower.starts_with("message-id:") && !lower.starts_with("in-reply-to:") {
                    out.push_str(line);
                }
            }
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(body);
            bytes
        })
        .collect();
    (mails, files.len())
}

fn find_header_end(raw: &[u8]) -> Option<usize> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = raw.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

struct Figures {
    engine: &'static str,
    per_sec: f64,
    stored: usize,
    ignored: usize,
    refused: usize,
}

async fn measure(
    engine: &'static str,
    store: &Store,
    mails: &Arc<Vec<Vec<u8>>>,
    tasks: usize,
) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let desk = Desk::new(store.clone(), Rules::default(), Blobs::new(dir.path()));
    let account = desk
        .create_mail_account(&NewMailAccount {
            name: "Bench".into(),
            address: "support@desk.example.com".into(),
            acknowledge: true,
            ..Default::default()
        })
        .await
        .expect("account");
    let cx = email::context(&desk).await.expect("context");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (desk, account, cx, mails, next) = (
            desk.clone(),
            account.clone(),
            cx.clone(),
            mails.clone(),
            next.clone(),
        );
        handles.push(tokio::spawn(async move {
            let (mut stored, mut ignored, mut refused) = (0, 0, 0);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(raw) = mails.get(i) else { break };
                match email::receive(&desk, mime::parse(raw, &cx), None, &account).await {
                    Ok(Received::Stored(_) | Received::Bounced { .. }) => stored += 1,
                    Ok(Received::Ignored { .. }) => ignored += 1,
                    Err(e) => {
                        tracing::debug!("refused: {e}");
                        refused += 1
                    }
                }
            }
            (stored, ignored, refused)
        }));
    }
    let (mut stored, mut ignored, mut refused) = (0, 0, 0);
    for h in handles {
        let (s, i, r) = h.await.expect("task");
        stored += s;
        ignored += i;
        refused += r;
    }
    let secs = started.elapsed().as_secs_f64();
    Figures {
        engine,
        per_sec: mails.len() as f64 / secs,
        stored,
        ignored,
        refused,
    }
}

async fn sqlite(mails: &Arc<Vec<Vec<u8>>>, tasks: usize) -> Option<Figures> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Store::connect(&url, None).await.ok()?;
    store.migrate().await.ok()?;
    let f = measure("sqlite", &store, mails, tasks).await;
    store.close().await;
    Some(f)
}

async fn postgres(mails: &Arc<Vec<Vec<u8>>>, tasks: usize) -> Option<Figures> {
    let url = std::env::var("SWITCHBOARD_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Ok(admin) = Database::connect(&url).await else {
        println!("[postgres] skipped: cannot connect to {url}");
        return None;
    };
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await
        .ok()?;
    let store = Store::connect(&url, Some(&schema)).await.ok()?;
    store.migrate().await.ok()?;
    let f = measure("postgres", &store, mails, tasks).await;
    store.close().await;
    let _ = admin
        .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
    Some(f)
}

fn main() {
    let n = env_usize("BENCH_MESSAGES", 5000);
    let tasks = env_usize("BENCH_TASKS", 16);
    let (mails, files) = corpus(n);
    let mails = Arc::new(mails);
    let bytes: usize = mails.iter().map(Vec::len).sum();
    println!(
        "switchboard email benchmark: {n} mails ({:.1} MB) from the {} test messages, {tasks} receivers",
        bytes as f64 / 1e6,
        files
    );

    // Reading alone, on one thread.
    let cx = mime::Context {
        own_addresses: vec!["support@desk.example.com".into()],
    };
    let started = Instant::now();
    let mut parsed = 0;
    for raw in mails.iter() {
        if mime::parse(raw, &cx).is_ok() {
            parsed += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "parse only (1 thread): {:.0} mails/s, {:.1} MB/s ({parsed} of {n} readable)",
        n as f64 / secs,
        bytes as f64 / 1e6 / secs
    );

    let engines = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let figures = rt.block_on(async {
        let mut out = Vec::new();
        if engines.contains("sqlite") {
            out.extend(sqlite(&mails, tasks).await);
        }
        if engines.contains("postgres") {
            out.extend(postgres(&mails, tasks).await);
        }
        out
    });
    println!();
    println!(
        "{:<10} {:>22} {:>8} {:>8} {:>8}",
        "engine", "parse+store mails/s", "stored", "ignored", "refused"
    );
    for f in figures {
        println!(
            "{:<10} {:>22.0} {:>8} {:>8} {:>8}",
            f.engine, f.per_sec, f.stored, f.ignored, f.refused
        );
    }
}
