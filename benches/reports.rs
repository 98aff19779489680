//! Report benchmark: how long each team-lead report (`switchboard::desk::reports`) takes
//! over a large history, on SQLite and PostgreSQL. The target is under 200 ms per report
//! over 1,000,000 tickets.
//!
//! `cargo bench --bench reports`. Settings (environment):
//! - `BENCH_TICKETS` — tickets over two years up to today (default 1000000)
//! - `BENCH_FEEDBACK` — survey answers with a rating (default 150000)
//! - `BENCH_RUNS` — timed runs per report and period, after one warm-up (default 5)
//! - `BENCH_ENGINES` — `sqlite,postgres` (default both)
//! - `BENCH_PG_URL` — PostgreSQL (default postgres://postgres@127.0.0.1:5432/test); the
//!   history goes into a fresh schema that is dropped afterwards
//! - `BENCH_SQLITE_KEEP` — a path to keep the SQLite file at (to look at query plans)
//! - `BENCH_PG_KEEP` — set: keep the PostgreSQL schema (its name is printed)
//! - `BENCH_REUSE` — set: time the SQLite file at `BENCH_SQLITE_KEEP` again without
//!   writing a new history (its "today" is the day it was written)
//!
//! The history is written with multi-row INSERTs straight into a migrated store (not
//! timed against the target), then `ANALYZE` (PostgreSQL: `VACUUM ANALYZE`). Tickets
//! arrive mostly on weekdays and in the daytime, spread over seven channels, eight teams
//! and 50 agents; about 60 % got a first response and 55 % were resolved, with SLA
//! verdicts on most. Each report runs over the default period (the last 30 days), the
//! last 30 days of one team and channel, and a whole year.

mod common;
use common::env_usize;

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use switchboard::blobs::Blobs;
use switchboard::desk::reports::{Period, ReportName, ReportQuery};
use switchboard::desk::{Channel, Desk, Rules};
use switchboard::store::Store;

const TEAMS: i64 = 8;
const AGENTS: i64 = 50;
const CONTACTS: i64 = 50_000;
const BATCH: usize = 1000;

/// Channels with their share of tickets in percent.
const CHANNELS: &[(&str, u32)] = &[
    ("email", 40),
    ("chat", 25),
    ("whatsapp", 12),
    ("voice", 10),
    ("sms", 6),
    ("telegram", 5),
    ("api", 2),
];

/// Ratings 1..=5 with their share in percent.
const RATINGS: &[(i32, u32)] = &[(1, 10), (2, 8), (3, 12), (4, 25), (5, 45)];

fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut n = rng.random_range(0..total);
    for (v, w) in weighted {
        if n < *w {
            return *v;
        }
        n -= w;
    }
    weighted[0].0
}

/// A timestamp as sea-orm stores it on SQLite (RFC 3339, `+00:00`), which PostgreSQL
/// reads as well.
fn lit(t: DateTime<Utc>) -> String {
    format!(
        "'{}'",
        t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    )
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into())
}

fn flag(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "TRUE",
        Some(false) => "FALSE",
        None => "NULL",
    }
}

/// A resolved ticket, for the survey answers given after it.
struct Resolved {
    id: i64,
    at: DateTime<Utc>,
    channel: &'static str,
    team: Option<i64>,
    agent: Option<i64>,
}

/// Writes the history into `store`; returns when it is committed.
async fn generate(store: &Store, tickets: usize, feedback: usize, now: DateTime<Utc>) {
    let mut rng = StdRng::seed_from_u64(0x2e9024);
    let db = store.db();
    let t0 = now - Duration::days(730);
    let tx = db.begin().await.unwrap();
    let mut sql = String::from("INSERT INTO team (id, name, created_at) VALUES ");
    for id in 1..=TEAMS {
        let sep = if id > 1 { "," } else { "" };
        write!(sql, "{sep}({id}, 'Team {id}', {})", lit(t0)).unwrap();
    }
    tx.execute_unprepared(&sql).await.unwrap();
    let mut sql = String::from(
        "INSERT INTO agent (id, email, name, role, password_hash, active, created_at) VALUES ",
    );
    for id in 1..=AGENTS {
        let sep = if id > 1 { "," } else { "" };
        write!(
            sql,
            "{sep}({id}, 'agent{id}@example.com', 'Agent {id}', 'agent', '', TRUE, {})",
            lit(t0)
        )
        .unwrap();
    }
    tx.execute_unprepared(&sql).await.unwrap();
    let mut rows = Vec::with_capacity(BATCH);
    for id in 1..=CONTACTS {
        rows.push(format!("({id}, 'Kunde {id}', '[]', {t}, {t})", t = lit(t0)));
        if rows.len() == BATCH || id == CONTACTS {
            tx.execute_unprepared(&format!(
                "INSERT INTO contact (id, name, tags, created_at, updated_at) VALUES {}",
                rows.join(",")
            ))
            .await
            .unwrap();
            rows.clear();
        }
    }

    let span = (now - t0).num_seconds();
    let mut resolved = Vec::new();
    for id in 1..=tickets as i64 {
        // Mostly weekdays and daytime (rejection sampling).
        let created = loop {
            let t = t0 + Duration::seconds(rng.random_range(0..span));
            let weekend = matches!(
                chrono::Datelike::weekday(&t),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            );
            let night = !(7..20).contains(&chrono::Timelike::hour(&t));
            let keep = if weekend { 0.35 } else { 1.0 } * if night { 0.3 } else { 1.0 };
            if rng.random_bool(keep) {
                break t;
            }
        };
        let channel = pick(&mut rng, CHANNELS);
        let team = rng.random_bool(0.95).then(|| rng.random_range(1..=TEAMS));
        let agent = rng.random_bool(0.9).then(|| {
            // Agent i works in team i % TEAMS + 1.
            let t = team.unwrap_or(1);
            let k = rng.random_range(0..(AGENTS / TEAMS));
            (k * TEAMS + t - 1) % AGENTS + 1
        });
        let age = (now - created).num_seconds();
        // Seconds spread from a minute to two days, log-uniform.
        let first_s = rng
            .random_bool(0.6)
            .then(|| (rng.random_range((60f64).ln()..(172_800f64).ln())).exp() as i64);
        let first_s = first_s.filter(|s| *s < age);
        let resolved_s = match first_s {
            Some(f) if rng.random_bool(0.9) => Some(f + rng.random_range(60..864_000)),
            None if rng.random_bool(0.06) => Some(rng.random_range(60..432_000)),
            _ => None,
        }
        .filter(|s| *s < age);
        let with_policy = rng.random_bool(0.9);
        let first_breached = with_policy
            .then(|| match first_s {
                Some(s) => Some(s > 4 * 3600),
                None => (age > 4 * 3600).then_some(true),
            })
            .flatten();
        let resolution_breached = with_policy
            .then(|| match resolved_s {
                Some(s) => Some(s > 3 * 86_400),
                None => (age > 3 * 86_400).then_some(true),
            })
            .flatten();
        let first_at = first_s.map(|s| created + Duration::seconds(s));
        let resolved_at = resolved_s.map(|s| created + Duration::seconds(s));
        if let Some(at) = resolved_at {
            resolved.push(Resolved {
                id,
                at,
                channel,
                team,
                agent,
            });
        }
        let status = if resolved_at.is_some() {
            "resolved"
        } else {
            "open"
        };
        let last = resolved_at.or(first_at).unwrap_or(created);
        rows.push(format!(
            "({id}, {id}, 'Ticket {id}', '{status}', 'normal', 'question', '{channel}', {contact}, \
             {agent}, {team}, {first_at}, {resolved_at}, {fb}, {rb}, {first_s}, {resolved_s}, \
             {last}, {created}, {last})",
            contact = rng.random_range(1..=CONTACTS),
            agent = opt(agent),
            team = opt(team),
            first_at = first_at.map(lit).unwrap_or_else(|| "NULL".into()),
            resolved_at = resolved_at.map(lit).unwrap_or_else(|| "NULL".into()),
            fb = flag(first_breached),
            rb = flag(resolution_breached),
            first_s = opt(first_s),
            resolved_s = opt(resolved_s),
            last = lit(last),
            created = lit(created),
        ));
        if rows.len() == BATCH || id == tickets as i64 {
            tx.execute_unprepared(&format!(
                "INSERT INTO ticket (id, number, subject, status, priority, kind, channel, \
                 contact_id, assignee_id, team_id, first_response_at, resolved_at, \
                 first_response_breached, resolution_breached, first_response_seconds, \
                 resolution_seconds, last_message_at, created_at, updated_at) VALUES {}",
                rows.join(",")
            ))
            .await
            .unwrap();
            rows.clear();
        }
    }

    for id in 1..=feedback as i64 {
        let t = &resolved[rng.random_range(0..resolved.len())];
        let at = (t.at + Duration::seconds(rng.random_range(60..259_200))).min(now);
        rows.push(format!(
            "({id}, {ticket}, {contact}, 'survey', {rating}, NULL, 'survey', '{channel}', \
             {team}, {agent}, {at}, {at})",
            ticket = t.id,
            contact = rng.random_range(1..=CONTACTS),
            rating = pick(&mut rng, RATINGS),
            channel = t.channel,
            team = opt(t.team),
            agent = opt(t.agent),
            at = lit(at),
        ));
        if rows.len() == BATCH || id == feedback as i64 {
            tx.execute_unprepared(&format!(
                "INSERT INTO feedback (id, ticket_id, contact_id, kind, rating, comment, source, \
                 channel, team_id, assignee_id, created_at, updated_at) VALUES {}",
                rows.join(",")
            ))
            .await
            .unwrap();
            rows.clear();
        }
    }
    tx.commit().await.unwrap();
    if store.is_postgres() {
        // Identities continue after the ids written here.
        for table in ["team", "agent", "contact", "ticket", "feedback"] {
            db.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            ))
            .await
            .unwrap();
        }
        db.execute_unprepared("VACUUM ANALYZE").await.unwrap();
    } else {
        db.execute_unprepared("ANALYZE").await.unwrap();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

/// Times every report over each period; returns how many missed 200 ms (median).
async fn measure(engine: &str, desk: &Desk, runs: usize, today: chrono::NaiveDate) -> usize {
    let month = Period::or_default(None, None, today).unwrap();
    let year = Period::new(today - Duration::days(364), today).unwrap();
    let cases = [
        (
            "30 days",
            ReportQuery {
                period: month,
                team: None,
                channel: None,
            },
        ),
        (
            "30 days, team 3, email",
            ReportQuery {
                period: month,
                team: Some(3),
                channel: Some(Channel::Email),
            },
        ),
        (
            "365 days",
            ReportQuery {
                period: year,
                team: None,
                channel: None,
            },
        ),
    ];
    let mut missed = 0;
    println!("{engine}: report         period                     median ms   max ms   rows");
    for (label, q) in &cases {
        for name in ReportName::ALL {
            let warm = desk.report(*name, q).await.expect("report");
            let mut times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                desk.report(*name, q).await.expect("report");
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let max = times.iter().copied().fold(0.0, f64::max);
            let med = median(&mut times);
            if med >= 200.0 {
                missed += 1;
            }
            println!(
                "{engine}: {:<14} {:<26} {:>9.1} {:>8.1} {:>6}{}",
                name.as_str(),
                label,
                med,
                max,
                warm.rows.len(),
                if med >= 200.0 { "  over 200 ms" } else { "" }
            );
        }
    }
    missed
}

async fn run_engine(engine: &str, tickets: usize, feedback: usize, runs: usize) -> usize {
    let now = Utc::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let pg_url = std::env::var("BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("bench_reports_{}", uuid::Uuid::new_v4().simple());
    let mut reuse = false;
    let store = if engine == "postgres" {
        let admin = Database::connect(&pg_url).await.expect("PostgreSQL");
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        Store::connect(&pg_url, Some(&schema)).await.expect("store")
    } else {
        let path = std::env::var("BENCH_SQLITE_KEEP")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| dir.path().join("reports.db"));
        reuse = std::env::var_os("BENCH_REUSE").is_some() && path.exists();
        if !reuse {
            let _ = std::fs::remove_file(&path);
        }
        Store::connect(&format!("sqlite://{}?mode=rwc", path.display()), None)
            .await
            .expect("store")
    };
    store.migrate().await.expect("migrate");
    let started = Instant::now();
    if reuse {
        println!("{engine}: timing the history kept from an earlier run");
    } else {
        generate(&store, tickets, feedback, now).await;
        println!(
            "{engine}: {tickets} tickets and {feedback} survey answers written and analyzed in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    let desk = Desk::new(store.clone(), Rules::default(), Blobs::new(dir.path()));
    let missed = measure(engine, &desk, runs, now.date_naive()).await;
    store.close().await;
    if engine == "postgres" && std::env::var_os("BENCH_PG_KEEP").is_some() {
        println!("postgres: the history stays in schema {schema}");
    } else if engine == "postgres" {
        let admin = Database::connect(&pg_url).await.expect("PostgreSQL");
        admin
            .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
    missed
}

fn main() {
    let tickets = env_usize("BENCH_TICKETS", 1_000_000);
    let feedback = env_usize("BENCH_FEEDBACK", 150_000);
    let runs = env_usize("BENCH_RUNS", 5);
    let engines = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut missed = 0;
        for engine in engines.split(',').map(str::trim) {
            match engine {
                "sqlite" | "postgres" => {
                    missed += run_engine(engine, tickets, feedback, runs).await;
                }
                other => panic!("BENCH_ENGINES: unknown engine {other:?}"),
            }
        }
        println!("reports over 200 ms (median): {missed}");
    });
}
