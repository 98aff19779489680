//! Search benchmark for the embedded backend: a realistic history (by default 1,000,000
//! messages over 200,000 tickets, German and English, with names, phone numbers, email
//! addresses and order numbers) is written to a SQLite store, then the index is built
//! from it (`switchboard reindex`'s code), searched with a mix of what agents type
//! (typos, names, phone numbers in national format, order numbers, parts of compound
//! words, filters), and finally a running desk measures how long a new message takes
//! from the API until a search finds it. The target: search p95 under 50 ms.
//!
//! Settings: `BENCH_TICKETS` (200000), `BENCH_MESSAGES` (1000000), `BENCH_QUERIES`
//! (1000), `BENCH_INBOUND` (100 messages for the inbound-to-searchable latency).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::{dist, env_usize, own_rss_kib};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{EntityTrait, Set, TransactionTrait};
use serde_json::json;
use switchboard::desk::Role;
use switchboard::search::embedded::Embedded;
use switchboard::search::{Search, SearchIndex, Sort, indexer};
use switchboard::store::Store;

const WORDS: &[&str] = &[
    "bestellung",
    "lieferung",
    "paket",
    "rechnung",
    "rücksendung",
    "erstattung",
    "garantie",
    "reparatur",
    "ersatzteil",
    "waschmaschine",
    "kühlschrank",
    "geschirrspüler",
    "staubsauger",
    "kaffeemaschine",
    "fernseher",
    "lautsprecher",
    "kopfhörer",
    "ladegerät",
    "akku",
    "display",
    "defekt",
    "kaputt",
    "beschädigt",
    "verspätet",
    "falsch",
    "fehlt",
    "storniert",
    "bezahlt",
    "überweisung",
    "kreditkarte",
    "gutschein",
    "rabatt",
    "versandkosten",
    "adresse",
    "abholung",
    "kundendienst",
    "techniker",
    "termin",
    "anruf",
    "rückruf",
    "beschwerde",
    "zufrieden",
    "danke",
    "bitte",
    "hallo",
    "grüße",
    "leider",
    "schnell",
    "heute",
    "morgen",
    "gestern",
    "woche",
    "order",
    "delivery",
    "parcel",
    "invoice",
    "refund",
    "return",
    "warranty",
    "repair",
    "broken",
    "damaged",
    "late",
    "missing",
    "wrong",
    "cancelled",
    "payment",
    "voucher",
    "discount",
    "shipping",
    "address",
    "pickup",
    "support",
    "technician",
    "appointment",
    "callback",
    "complaint",
    "thanks",
    "please",
    "hello",
    "regards",
    "unfortunately",
    "quickly",
    "today",
    "tomorrow",
    "yesterday",
    "week",
    "printer",
    "laptop",
    "monitor",
    "keyboard",
    "router",
    "firmware",
    "update",
    "error",
    "password",
    "account",
    "login",
    "newsletter",
    "subscription",
    "dishwasher",
    "fridge",
    "vacuum",
    "espresso",
    "filter",
    "dichtung",
    "schlauch",
    "pumpe",
    "motor",
    "trommel",
    "tür",
    "griff",
    "schublade",
    "straßenlaterne",
    "gartenschlauch",
    "küchenmaschine",
    "wasserkocher",
    "bügeleisen",
    "mikrowelle",
    "backofen",
    "herdplatte",
    "dunstabzugshaube",
    "gefriertruhe",
];
const FILLER: &[&str] = &[
    "die", "der", "das", "und", "ist", "nicht", "mein", "ich", "habe", "sie", "mit", "für", "auf",
    "noch", "the", "and", "is", "not", "my", "have", "you", "with", "for", "on", "still", "a",
    "an", "it", "was", "seit", "wann", "wo", "when", "where", "how", "wie",
];
const FIRST: &[&str] = &[
    "Jürgen",
    "Anna",
    "Erika",
    "Lukas",
    "Sophie",
    "Maximilian",
    "Marie",
    "Felix",
    "Lena",
    "Paul",
    "Emma",
    "Jonas",
    "Mia",
    "Leon",
    "Hannah",
    "John",
    "Mary",
    "James",
    "Linda",
    "Michael",
    "Sarah",
    "David",
    "Laura",
    "Özlem",
    "Søren",
    "Chloé",
    "Björn",
    "Zoë",
];
const LAST: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weiß",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Yılmaz",
    "Nowak",
    "Kowalski",
];
const STATUSES: &[&str] = &[
    "new", "open", "pending", "resolved", "resolved", "closed", "closed", "closed",
];
const CHANNELS: &[&str] = &[
    "email", "email", "email", "chat", "whatsapp", "telegram", "sms", "voice",
];

/// A word, common ones far more often (roughly Zipf).
fn word(rng: &mut StdRng) -> &'static str {
    if rng.random_bool(0.45) {
        return FILLER[rng.random_range(0..FILLER.len())];
    }
    let u: f64 = rng.random();
    WORDS[((u * u * u) * WORDS.len() as f64) as usize]
}

fn sentence(rng: &mut StdRng, min: usize, max: usize) -> String {
    let n = rng.random_range(min..=max);
    let mut s = String::with_capacity(n * 8);
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        let w = word(rng);
        if i == 0 {
            let mut c = w.chars();
            s.extend(c.next().into_iter().flat_map(char::to_uppercase));
            s.push_str(c.as_str());
        } else {
            s.push_str(w);
        }
    }
    s.push('.');
    s
}

/// One typo: a letter replaced, dropped or two swapped.
fn typo(rng: &mut StdRng, w: &str) -> String {
    let mut chars: Vec<char> = w.chars().collect();
    let i = rng.random_range(1..chars.len() - 1);
    match rng.random_range(0..3) {
        0 => chars[i] = 'x',
        1 => {
            chars.remove(i);
        }
        _ => chars.swap(i, i + 1),
    }
    chars.into_iter().collect()
}

struct History {
    /// (name, national phone, order number) of some contacts, for queries.
    samples: Vec<(String, String, String)>,
    messages: usize,
    text_bytes: usize,
}

/// Writes contacts, identities, orders, tickets and messages straight into the store.
async fn generate(store: &Store, tickets: usize, messages: usize) -> History {
    use entity::{contact, identity, message, order, ticket};
    let mut rng = StdRng::seed_from_u64(0x5ea2c4);
    let contacts = (tickets * 2 / 5).max(1);
    let t0 = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
    let span = (Utc::now() - t0).num_seconds();
    let db = store.db();
    let mut samples = Vec::new();
    let mut phones = HashMap::new();

    let tx = db.begin().await.unwrap();
    let mut batch_c = Vec::new();
    let mut batch_i = Vec::new();
    let mut batch_o = Vec::new();
    for id in 1..=contacts as i64 {
        let at = t0 + chrono::Duration::seconds(rng.random_range(0..span));
        let name = format!(
            "{} {}",
            FIRST[rng.random_range(0..FIRST.len())],
            LAST[rng.random_range(0..LAST.len())]
        );
        batch_c.push(contact::ActiveModel {
            id: Set(id),
            name: Set(Some(name.clone())),
            tags: Set(json!([])),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        });
        batch_i.push(identity::ActiveModel {
            contact_id: Set(id),
            kind: Set("email".into()),
            value: Set(format!("kunde{id}@example.com")),
            verified: Set(false),
            created_at: Set(at),
            ..Default::default()
        });
        let national = format!("0170{:07}", id);
        if id % 2 == 0 {
            batch_i.push(identity::ActiveModel {
                contact_id: Set(id),
                kind: Set("phone".into()),
                value: Set(format!("+49170{:07}", id)),
                verified: Set(false),
                created_at: Set(at),
                ..Default::default()
            });
            phones.insert(id, national.clone());
        }
        let number = format!("SO-{}", 100000 + id);
        batch_o.push(order::ActiveModel {
            contact_id: Set(id),
            source: Set("shop".into()),
            external_id: Set(id.to_string()),
            number: Set(number.clone()),
            status: Set("paid".into()),
            currency: Set("EUR".into()),
            total_cents: Set(rng.random_range(500..50000)),
            placed_at: Set(at),
            source_updated_at: Set(at),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        });
        if id % 2 == 0 && samples.len() < 2000 && rng.random_bool(0.05) {
            samples.push((name, national, number));
        }
        if batch_c.len() == 1000 {
            contact::Entity::insert_many(std::mem::take(&mut batch_c))
                .exec(&tx)
                .await
                .unwrap();
            identity::Entity::insert_many(std::mem::take(&mut batch_i))
                .exec(&tx)
                .await
                .unwrap();
            order::Entity::insert_many(std::mem::take(&mut batch_o))
                .exec(&tx)
                .await
                .unwrap();
        }
    }
    if !batch_c.is_empty() {
        contact::Entity::insert_many(batch_c)
            .exec(&tx)
            .await
            .unwrap();
        identity::Entity::insert_many(batch_i)
            .exec(&tx)
            .await
            .unwrap();
        order::Entity::insert_many(batch_o).exec(&tx).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut text_bytes = 0;
    let mut written = 0;
    let tx = db.begin().await.unwrap();
    let mut batch_t = Vec::new();
    let mut batch_m = Vec::new();
    let mut message_id = 0i64;
    for id in 1..=tickets as i64 {
        let contact_id = rng.random_range(1..=contacts as i64);
        let created = t0 + chrono::Duration::seconds(rng.random_range(0..span));
        // Spread the messages: on average messages/tickets per ticket, at least one.
        let remaining_tickets = tickets as i64 - id + 1;
        let remaining = (messages - written) as i64;
        let mean = (remaining / remaining_tickets).max(1);
        let count = if id == tickets as i64 {
            remaining.max(1)
        } else {
            rng.random_range(1..=(mean * 2 - 1).max(1))
                .min(remaining - (remaining_tickets - 1))
                .max(1)
        };
        let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
        let status = STATUSES[rng.random_range(0..STATUSES.len())];
        let mut at = created;
        for i in 0..count {
            message_id += 1;
            let mut text = sentence(&mut rng, 8, 45);
            if rng.random_bool(0.05)
                && let Some(p) = phones.get(&contact_id)
            {
                text.push_str(&format!(" Rufen Sie mich an: {p}."));
            }
            if rng.random_bool(0.05) {
                text.push_str(&format!(" Bestellung SO-{}.", 100000 + contact_id));
            }
            text_bytes += text.len();
            batch_m.push(message::ActiveModel {
                id: Set(message_id),
                ticket_id: Set(id),
                direction: Set((if i % 2 == 0 { "in" } else { "out" }).into()),
                channel: Set(channel.into()),
                author_contact_id: Set((i % 2 == 0).then_some(contact_id)),
                text: Set(text),
                delivery_status: Set((if i % 2 == 0 { "received" } else { "sent" }).into()),
                created_at: Set(at),
                ..Default::default()
            });
            at += chrono::Duration::seconds(rng.random_range(60..86_400));
        }
        written += count as usize;
        batch_t.push(ticket::ActiveModel {
            id: Set(id),
            number: Set(1000 + id),
            subject: Set(sentence(&mut rng, 2, 6).trim_end_matches('.').to_owned()),
            status: Set(status.into()),
            priority: Set("normal".into()),
            kind: Set("question".into()),
            channel: Set(channel.into()),
            contact_id: Set(contact_id),
            last_message_at: Set(at),
            created_at: Set(created),
            updated_at: Set(at),
            ..Default::default()
        });
        if batch_t.len() == 500 {
            ticket::Entity::insert_many(std::mem::take(&mut batch_t))
                .exec(&tx)
                .await
                .unwrap();
        }
        if batch_m.len() >= 2000 {
            // Their tickets first: messages refer to them.
            if !batch_t.is_empty() {
                ticket::Entity::insert_many(std::mem::take(&mut batch_t))
                    .exec(&tx)
                    .await
                    .unwrap();
            }
            message::Entity::insert_many(std::mem::take(&mut batch_m))
                .exec(&tx)
                .await
                .unwrap();
        }
    }
    if !batch_t.is_empty() {
        ticket::Entity::insert_many(batch_t)
            .exec(&tx)
            .await
            .unwrap();
    }
    if !batch_m.is_empty() {
        message::Entity::insert_many(batch_m)
            .exec(&tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    History {
        samples,
        messages: written,
        text_bytes,
    }
}

/// What agents type: (label, query).
fn queries(rng: &mut StdRng, history: &History, n: usize) -> Vec<(&'static str, Search)> {
    let region = phonenumber::country::Id::DE;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let sample = &history.samples[rng.random_range(0..history.samples.len())];
        let long: Vec<&str> = WORDS
            .iter()
            .copied()
            .filter(|w| w.chars().count() >= 8)
            .collect();
        let (label, mut search) = match i % 8 {
            0 => ("word with a typo", {
                let w = long[rng.random_range(0..long.len())];
                Search::new(&typo(rng, w), region)
            }),
            1 => ("contact name", Search::new(&sample.0, region)),
            2 => (
                "phone, national format",
                Search::new(&format!("{} {}", &sample.1[..4], &sample.1[4..]), region),
            ),
            3 => ("order number", Search::new(&sample.2, region)),
            4 => {
                let w = long[rng.random_range(0..long.len())];
                let cut = w.char_indices().nth(w.chars().count() / 2).unwrap().0;
                ("part of a compound", Search::new(&w[cut..], region))
            }
            5 => (
                "two words",
                Search::new(
                    &format!(
                        "{} {}",
                        WORDS[rng.random_range(0..WORDS.len())],
                        WORDS[rng.random_range(0..WORDS.len())]
                    ),
                    region,
                ),
            ),
            6 => {
                let mut s = Search::new(WORDS[rng.random_range(0..WORDS.len())], region);
                s.filter.status = switchboard::desk::Status::ACTIVE.to_vec();
                ("word + status filter", s)
            }
            _ => {
                let mut s = Search::new("", region);
                s.filter.status = vec![switchboard::desk::Status::Open];
                s.sort = Sort::Newest;
                ("filter only, newest", s)
            }
        };
        search.limit = 20;
        out.push((label, search));
    }
    out
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let tickets = env_usize("BENCH_TICKETS", 200_000);
    let messages = env_usize("BENCH_MESSAGES", 1_000_000).max(tickets);
    let query_count = env_usize("BENCH_QUERIES", 1000);
    let inbound = env_usize("BENCH_INBOUND", 100);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Store::connect(&url, None).await.expect("store");
    store.migrate().await.expect("migrate");

    let started = Instant::now();
    let history = generate(&store, tickets, messages).await;
    println!(
        "history: {tickets} tickets, {} messages, {:.0} MB of text, written in {:.1} s",
        history.messages,
        history.text_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // Indexing: the rebuild `switchboard reindex` runs.
    let index_dir = dir.path().join("search");
    let index = Embedded::open(&index_dir).expect("index");
    let started = Instant::now();
    let done = indexer::rebuild(&store, &index, |_| {})
        .await
        .expect("rebuild");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "indexing: {} tickets + {} contacts in {secs:.1} s = {:.0} tickets/s, {:.0} messages/s ({:.1} MB/s of text); index {:.0} MB on disk; RSS {} MiB",
        done.tickets_done,
        done.contacts_done,
        done.tickets_done as f64 / secs,
        history.messages as f64 / secs,
        history.text_bytes as f64 / 1e6 / secs,
        dir_size(&index_dir) as f64 / 1e6,
        own_rss_kib().unwrap_or(0) / 1024
    );

    // Search latency on the index itself, by kind of query.
    let mut rng = StdRng::seed_from_u64(7);
    let mix = queries(&mut rng, &history, query_count);
    for (_, s) in mix.iter().take(50) {
        index.search(s).await.expect("warm-up search");
    }
    let mut all = Vec::new();
    let mut by_label: Vec<(&str, Vec<f64>, u64)> = Vec::new();
    for (label, s) in &mix {
        let t = Instant::now();
        let found = index.search(s).await.expect("search");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        all.push(ms);
        match by_label.iter_mut().find(|(l, _, _)| l == label) {
            Some((_, v, hits)) => {
                v.push(ms);
                *hits += found.ticket_total.min(1);
            }
            None => by_label.push((label, vec![ms], found.ticket_total.min(1))),
        }
    }
    println!(
        "search (embedded index, {} queries): {}",
        all.len(),
        dist(all)
    );
    for (label, v, hits) in by_label {
        let n = v.len();
        println!("  {label:<24} {}  ({hits}/{n} found something)", dist(v));
    }
    drop(index);

    // Inbound to searchable, through a running desk.
    let config = switchboard::config::Config::from_vars(vec![
        ("SWITCHBOARD_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "SWITCHBOARD_PUBLIC_URL".to_owned(),
            common::ORIGIN.to_owned(),
        ),
        (
            "SWITCHBOARD_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("SWITCHBOARD_DATABASE_URL".to_owned(), url.clone()),
    ])
    .expect("config");
    let app = switchboard::app::App::start(config, store.clone())
        .await
        .expect("start");
    let base = format!("http://{}", app.addr);
    let (_, token) = app
        .state
        .desk
        .create_token("bench", Role::Admin)
        .await
        .expect("token");
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    let mut http = Vec::new();
    for i in 0..inbound {
        let marker = format!("zeitmarke{i}x{}", rng.random_range(0..1_000_000));
        let t = Instant::now();
        let res = client
            .post(format!("{base}/api/v1/inbound"))
            .bearer_auth(&token)
            .json(&json!({
                "channel": "api",
                "external_id": marker,
                "identity": {"kind": "email", "value": format!("neu{i}@example.com")},
                "text": format!("Neue Nachricht {marker} zur Bestellung"),
            }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        loop {
            let q = Instant::now();
            let body: serde_json::Value = client
                .get(format!("{base}/api/v1/search?q={marker}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            http.push(q.elapsed().as_secs_f64() * 1000.0);
            if body["ticket_total"].as_u64() == Some(1) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "message {i} never became searchable"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "inbound to searchable ({inbound} messages, API → index → search API): {}",
        dist(latencies)
    );
    println!("search over HTTP while indexing: {}", dist(http));
    println!("RSS at the end: {} MiB", own_rss_kib().unwrap_or(0) / 1024);
    app.stop().await;
    store.close().await;
}
