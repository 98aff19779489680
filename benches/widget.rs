//! Chat widget benchmark: what an idle widget connection costs the server, how many
//! visitor messages per second the desk acknowledges while ten thousand widgets are
//! connected, and how fast an agent's reply reaches a connected widget.
//!
//! `cargo bench --bench widget`. Settings (environment):
//! - `BENCH_WIDGETS` — idle widget connections (default 10000): half new visitors, half
//!   returning ones
//! - `BENCH_ACTIVE` — visitors sending at the same time in the throughput run (default 200)
//! - `BENCH_WINDOW` — messages each active visitor keeps unacknowledged (default 1)
//! - `BENCH_SECONDS` — how long the throughput run sends (default 10)
//! - `BENCH_REPLIES` — agent replies for the push figure (default 200, at 50/s)
//!
//! The desk runs in this process on a fresh SQLite store in a temporary directory, with
//! one widget site. Each 127.0.0.1 connection costs this process one descriptor, so the
//! soft open-files limit is raised to the hard one first (and the run is made smaller,
//! with a note, when even that is too low: `ulimit -Hn` is what to raise then).
//!
//! Memory: the idle connections are opened by a child process (this binary again), so
//! the growth of this process's VmRSS is the server's side alone. A new visitor
//! connects, says `hello` and reads its `welcome`; a returning visitor also sends one
//! message and reads its `ack` (its contact then has a route for pushes). The child
//! first opens and closes a few of each to warm the server up, then opens the new
//! visitors, then the returning ones; VmRSS is read after each batch.
//!
//! Throughput: with the idle connections still open, `BENCH_ACTIVE` visitors connected
//! from this process send `send` frames, each with a unique `client_id`, as fast as their
//! `ack`s come back (closed loop, `BENCH_WINDOW` frames in flight each). A visitor may
//! send 40 frames at once and 4 a second after that; an active visitor that used up that
//! budget leaves and a new visitor takes its place, so the limit never refuses a frame
//! and the figure is the desk's, not the limit's. Latency is send → ack as the client
//! sees it. Afterwards every `client_id` must have been acknowledged exactly once, with
//! distinct message ids, and the store must hold as many new messages as there were acks.
//!
//! Push: a few widgets that wrote once stay connected; an agent replies on their tickets
//! through `Desk::reply` at a steady rate. "commit → widget" is the arrival of the
//! `message` frame minus the moment `reply` returned; "call → widget" counts from the call.

mod common;
use common::{
    BenchDesk, ClientProcess, Dist, Holder, ParentLines, Socket, bench_main, connect_ws, dist,
    env_usize, next_text, own_rss_kib, raise_open_files_limit, settle, start_desk, tell_parent,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt, stream};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use switchboard::desk::agents::NewAgent;
use switchboard::desk::channels::NewWidget;
use switchboard::desk::tickets::ReplyInput;
use switchboard::desk::{Actor, Desk, Role};
use switchboard::live::widget::{VISITOR_BURST, VISITOR_RATE};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// The shop page the widget is embedded in.
const SHOP: &str = "https://shop.example";
/// The child process that holds the idle widget connections.
const CHILD_VAR: &str = "SWITCHBOARD_BENCH_WIDGET_CHILD";
/// Connections of each kind the child opens and closes before the baseline.
const WARM: usize = 100;
/// Handshakes the child runs at a time.
const PARALLEL: usize = 32;
/// Frames of its budget an active visitor leaves unused, for clock differences.
const BUDGET_MARGIN: f64 = 2.0;
/// Widgets that receive the agent replies.
const PROBES: usize = 20;
/// Agent replies per second in the push run.
const REPLY_RATE: usize = 50;
/// Marks a measured reply in its text: `reply#<seq> …`.
const MARK: &str = "reply#";

fn main() {
    raise_open_files_limit();
    bench_main(CHILD_VAR, run, child);
}

async fn send_json(ws: &mut Socket, frame: Value) -> anyhow::Result<()> {
    ws.send(Message::Text(frame.to_string().into())).await?;
    Ok(())
}

/// Opens a widget connection as a new visitor and reads its welcome.
async fn open_visitor(addr: &str, key: &str) -> anyhow::Result<Socket> {
    let url = format!("ws://{addr}/ws/widget?site={key}");
    let mut ws = connect_ws(&url, &[("origin", SHOP)]).await?;
    send_json(&mut ws, json!({"type": "hello"})).await?;
    let welcome = next_text(&mut ws).await?;
    let v: Value = serde_json::from_str(&welcome)?;
    anyhow::ensure!(v["type"] == "welcome", "expected welcome, got {welcome}");
    Ok(ws)
}

/// A visitor who writes once: opens, sends one message and waits for its ack.
/// Returns the socket and the stored message's id.
async fn open_returning(addr: &str, key: &str, client_id: &str) -> anyhow::Result<(Socket, i64)> {
    let mut ws = open_visitor(addr, key).await?;
    let text = "Hi, I ordered a jacket last week. Can you tell me when it ships?";
    send_json(
        &mut ws,
        json!({"type": "send", "client_id": client_id, "text": text}),
    )
    .await?;
    loop {
        let frame = next_text(&mut ws).await?;
        let v: Value = serde_json::from_str(&frame)?;
        match v["type"].as_str() {
            Some("ack") => {
                anyhow::ensure!(v["client_id"] == client_id, "ack for another id: {frame}");
                let id = v["message"]["id"].as_i64();
                return Ok((
                    ws,
                    id.ok_or_else(|| anyhow::anyhow!("ack without id: {frame}"))?,
                ));
            }
            Some("error") => anyhow::bail!("message refused: {frame}"),
            _ => {}
        }
    }
}

/// Opens `n` widget connections, `PARALLEL` at a time; `returning` ones write once first.
async fn open_many(
    addr: &str,
    key: &str,
    n: usize,
    returning: bool,
    tag: &str,
) -> anyhow::Result<Vec<Socket>> {
    let results: Vec<anyhow::Result<Socket>> = stream::iter(0..n)
        .map(|i| async move {
            if returning {
                Ok(open_returning(addr, key, &format!("{tag}{i}")).await?.0)
            } else {
                open_visitor(addr, key).await
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The child process: warms the server up, then opens the new visitors' and the
/// returning visitors' connections, one batch per line from the parent, and holds them
/// until its stdin closes. Reports early ends of held connections last.
async fn child() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}"));
    let addr = var("BENCH_CHILD_ADDR");
    let key = var("BENCH_CHILD_SITE");
    let fresh: usize = var("BENCH_CHILD_FRESH").parse().expect("fresh");
    let returning: usize = var("BENCH_CHILD_RETURNING").parse().expect("returning");
    let mut parent = ParentLines::new();
    let warm = async {
        let mut sockets = open_many(&addr, &key, WARM, false, "").await?;
        sockets.extend(open_many(&addr, &key, WARM, true, "warm-").await?);
        anyhow::Ok(sockets)
    };
    match warm.await {
        Ok(sockets) => {
            for mut ws in sockets {
                let _ = ws.close(None).await;
            }
        }
        Err(e) => return tell_parent(&format!("error: warm-up: {e}")),
    }
    tell_parent("ready");
    let mut holder = Holder::new();
    for (n, returning, tag) in [(fresh, false, ""), (returning, true, "idle-")] {
        if parent.next().await.is_none() {
            return;
        }
        let t = Instant::now();
        match open_many(&addr, &key, n, returning, tag).await {
            Ok(sockets) => holder.hold(sockets),
            Err(e) => return tell_parent(&format!("error: {e}")),
        }
        tell_parent(&format!("ready {:.2}", t.elapsed().as_secs_f64()));
    }
    while parent.next().await.is_some() {}
    let early = holder.close().await;
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for e in early {
        *reasons.entry(e).or_default() += 1;
    }
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort();
    let text: Vec<String> = reasons.iter().map(|(r, n)| format!("{n}× {r}")).collect();
    let text = if text.is_empty() {
        "none".to_owned()
    } else {
        text.join(", ")
    };
    tell_parent(&format!("held connections that ended early: {text}"));
}

struct MemoryFigures {
    fresh: usize,
    returning: usize,
    base_kib: u64,
    fresh_kib: u64,
    returning_kib: u64,
    fresh_secs: f64,
    returning_secs: f64,
    routed: usize,
}

impl MemoryFigures {
    fn per(kib: u64, from: u64, n: usize) -> f64 {
        (kib as f64 - from as f64) / n.max(1) as f64
    }
}

/// Lets the child open its next batch (or, first, finish warming up); returns this
/// process's VmRSS once the batch is open and the seconds the child took.
async fn step(child: &mut ClientProcess, go: bool) -> anyhow::Result<(u64, f64)> {
    if go {
        child.say("go").await;
    }
    let line = child.line().await;
    let Some(rest) = line.strip_prefix("ready") else {
        anyhow::bail!("the client process failed: {line:?}");
    };
    let secs = rest.trim().parse().unwrap_or(0.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    let rss = own_rss_kib().ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok((rss, secs))
}

/// The idle connections: the child opens them batch by batch while this process
/// reads its own VmRSS. Returns the figures and the child, which still holds them.
async fn idle_widgets(
    desk: &Desk,
    addr: &str,
    key: &str,
    n: usize,
) -> anyhow::Result<(MemoryFigures, ClientProcess)> {
    let fresh = n / 2;
    let returning = n - fresh;
    let mut child = ClientProcess::spawn(
        CHILD_VAR,
        &[
            ("BENCH_CHILD_ADDR", addr.to_owned()),
            ("BENCH_CHILD_SITE", key.to_owned()),
            ("BENCH_CHILD_FRESH", fresh.to_string()),
            ("BENCH_CHILD_RETURNING", returning.to_string()),
        ],
    )?;
    let (base_kib, _) = step(&mut child, false).await?;
    println!("warmed up with {WARM} new and {WARM} returning visitors; VmRSS {base_kib} KiB");
    let (fresh_kib, fresh_secs) = step(&mut child, true).await?;
    println!(
        "{fresh} new visitors connected in {fresh_secs:.1} s; VmRSS {fresh_kib} KiB ({:.1} KiB each)",
        MemoryFigures::per(fresh_kib, base_kib, fresh)
    );
    let (returning_kib, returning_secs) = step(&mut child, true).await?;
    let routed = desk.hub.visitors.connections();
    println!(
        "{returning} returning visitors connected and wrote once in {returning_secs:.1} s; \
         VmRSS {returning_kib} KiB ({:.1} KiB each); the server routes {routed} widget connections",
        MemoryFigures::per(returning_kib, fresh_kib, returning)
    );
    Ok((
        MemoryFigures {
            fresh,
            returning,
            base_kib,
            fresh_kib,
            returning_kib,
            fresh_secs,
            returning_secs,
            routed,
        },
        child,
    ))
}

/// A visitor's frame budget as the server keeps it (GCRA: a burst, then a steady rate).
struct Budget {
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            tokens: VISITOR_BURST as f64,
            at: Instant::now(),
        }
    }

    /// Takes a frame from the budget, keeping a margin; false when the visitor should stop.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * VISITOR_RATE as f64;
        self.tokens = (self.tokens + refill).min(VISITOR_BURST as f64);
        self.at = now;
        if self.tokens >= 1.0 + BUDGET_MARGIN {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What one active slot saw: the visitors it went through and their frames.
#[derive(Default)]
struct SlotSeen {
    visitors: usize,
    sent: Vec<String>,
    /// (client id, message id, send → ack in ms, ack time in s since start)
    acks: Vec<(String, i64, f64, f64)>,
    /// Acks whose client id was not in flight on that connection.
    stray_acks: usize,
    /// Frames the protocol did not lead us to expect (errors, closes, timeouts).
    odd: Vec<String>,
    /// `message` frames that carried one of this visitor's own client ids.
    echoes: usize,
    /// Other frames, by type.
    other_frames: HashMap<String, usize>,
}

/// One active slot: a visitor that sends as fast as acks come back, replaced by a new
/// visitor when its frame budget runs low, for `seconds` after the start signal.
async fn active_slot(
    slot: usize,
    addr: String,
    key: String,
    window: usize,
    mut start: watch::Receiver<Option<Instant>>,
    seconds: f64,
) -> SlotSeen {
    let mut seen = SlotSeen::default();
    let mut next = open_visitor(&addr, &key).await;
    let Ok(t0) = start
        .wait_for(|s| s.is_some())
        .await
        .map(|s| s.expect("set"))
    else {
        return seen;
    };
    let stop_at = t0 + Duration::from_secs_f64(seconds);
    let mut seq = 0usize;
    while Instant::now() < stop_at {
        let mut ws = match next {
            Ok(ws) => ws,
            Err(e) => {
                seen.odd.push(format!("connect: {e}"));
                break;
            }
        };
        seen.visitors += 1;
        let mut budget = Budget::new();
        let mut in_flight: HashMap<String, Instant> = HashMap::new();
        let mut spent = false;
        let ok = 'conn: loop {
            while !spent && in_flight.len() < window && Instant::now() < stop_at {
                if !budget.take() {
                    spent = true;
                    break;
                }
                seq += 1;
                let client_id = format!("a{slot}-{seq}");
                let text = format!("Message {seq} from visitor {slot}: is my parcel on its way?");
                let frame = json!({"type": "send", "client_id": client_id, "text": text});
                in_flight.insert(client_id.clone(), Instant::now());
                seen.sent.push(client_id);
                if let Err(e) = send_json(&mut ws, frame).await {
                    seen.odd.push(format!("send: {e}"));
                    break 'conn false;
                }
            }
            if in_flight.is_empty() {
                break true;
            }
            let msg = match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(msg) => msg,
                Err(_) => {
                    seen.odd.push(format!(
                        "no ack within 10 s ({} in flight)",
                        in_flight.len()
                    ));
                    break false;
                }
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("ack") => {
                            let id = v["client_id"].as_str().unwrap_or_default();
                            match in_flight.remove(id) {
                                Some(sent) => seen.acks.push((
                                    id.to_owned(),
                                    v["message"]["id"].as_i64().unwrap_or(-1),
                                    sent.elapsed().as_secs_f64() * 1e3,
                                    t0.elapsed().as_secs_f64(),
                                )),
                                None => seen.stray_acks += 1,
                            }
                        }
                        Some("error") => {
                            if let Some(id) = v["client_id"].as_str() {
                                in_flight.remove(id);
                            }
                            seen.odd.push(format!("error frame: {t}"));
                        }
                        Some("message")
                            if v["message"]["client_id"]
                                .as_str()
                                .is_some_and(|id| id.starts_with(&format!("a{slot}-"))) =>
                        {
                            seen.echoes += 1
                        }
                        other => {
                            let kind = other.unwrap_or("(not JSON)").to_owned();
                            *seen.other_frames.entry(kind).or_default() += 1;
                        }
                    }
                }
                Some(Ok(Message::Close(f))) => {
                    seen.odd.push(format!(
                        "closed by the server: {}",
                        f.map_or("no frame".into(), |f| format!(
                            "{} {}",
                            u16::from(f.code),
                            f.reason
                        ))
                    ));
                    break false;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    seen.odd.push(format!("read: {e}"));
                    break false;
                }
                None => {
                    seen.odd.push("eof".into());
                    break false;
                }
            }
        };
        let _ = ws.close(None).await;
        if !ok {
            break;
        }
        if Instant::now() >= stop_at {
            break;
        }
        next = open_visitor(&addr, &key).await;
    }
    seen
}

struct ThroughputFigures {
    active: usize,
    window: usize,
    visitors: usize,
    sent: usize,
    acked: usize,
    secs: f64,
    latency: Dist,
    missing: usize,
    duplicated: usize,
    stray: usize,
    distinct_ids: usize,
    stored: u64,
    echoes: usize,
    other_frames: HashMap<String, usize>,
    odd: Vec<String>,
    routed_after: usize,
}

async fn count_messages(desk: &Desk) -> u64 {
    entity::message::Entity::find()
        .count(desk.store.db())
        .await
        .expect("count messages")
}

async fn throughput(
    desk: &Desk,
    addr: &str,
    key: &str,
    active: usize,
    window: usize,
    seconds: usize,
) -> ThroughputFigures {
    let stored_before = count_messages(desk).await;
    let (start, started) = watch::channel(None);
    let slots: Vec<_> = (0..active)
        .map(|slot| {
            tokio::spawn(active_slot(
                slot,
                addr.to_owned(),
                key.to_owned(),
                window,
                started.clone(),
                seconds as f64,
            ))
        })
        .collect();
    // Let the first visitors connect before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("{active} visitors sending for {seconds} s, {window} in flight each…");
    let _ = start.send(Some(Instant::now()));
    let mut seen = Vec::with_capacity(active);
    for s in slots {
        seen.push(s.await.expect("slot task"));
    }
    settle().await;
    let stored = count_messages(desk).await - stored_before;

    let mut acked: HashMap<&str, usize> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    let mut latency = Vec::new();
    let mut last_ack: f64 = 0.0;
    for s in &seen {
        for (client_id, message_id, ms, at) in &s.acks {
            *acked.entry(client_id).or_default() += 1;
            ids.insert(*message_id);
            latency.push(*ms);
            last_ack = last_ack.max(*at);
        }
    }
    let sent: usize = seen.iter().map(|s| s.sent.len()).sum();
    let missing = seen
        .iter()
        .flat_map(|s| &s.sent)
        .filter(|id| !acked.contains_key(id.as_str()))
        .count();
    let acks: usize = acked.values().sum();
    ThroughputFigures {
        active,
        window,
        visitors: seen.iter().map(|s| s.visitors).sum(),
        sent,
        acked: acks,
        secs: last_ack.max(seconds as f64),
        latency: dist(latency),
        missing,
        duplicated: acked.values().filter(|n| **n > 1).count(),
        stray: seen.iter().map(|s| s.stray_acks).sum(),
        distinct_ids: ids.len(),
        stored,
        echoes: seen.iter().map(|s| s.echoes).sum(),
        other_frames: seen.iter().flat_map(|s| &s.other_frames).fold(
            HashMap::new(),
            |mut all, (kind, n)| {
                *all.entry(kind.clone()).or_default() += n;
                all
            },
        ),
        odd: seen.iter().flat_map(|s| s.odd.clone()).collect(),
        routed_after: desk.hub.visitors.connections(),
    }
}

/// The replies' sequence number in a widget's `message` frame, when it is one of ours.
fn reply_seq(frame: &Value) -> Option<usize> {
    if frame["type"] != "message" || frame["message"]["direction"] != "out" {
        return None;
    }
    let text = frame["message"]["text"].as_str()?;
    let digits: String = text
        .strip_prefix(MARK)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

struct PushFigures {
    replies: usize,
    failed: usize,
    delivered: usize,
    commit: Dist,
    call: Dist,
    reply: Dist,
}

/// Agent replies to widgets that wrote once, while the idle widgets stay connected.
async fn push_latency(
    desk: &Desk,
    addr: &str,
    key: &str,
    replies: usize,
) -> anyhow::Result<PushFigures> {
    let (agent, _) = desk
        .create_agent(NewAgent {
            email: "widget-bench@example.com".into(),
            name: "Bench Agent".into(),
            role: Role::Agent,
            password: None,
        })
        .await?;
    let mut probes = Vec::with_capacity(PROBES);
    for i in 0..PROBES {
        let (ws, message_id) = open_returning(addr, key, &format!("probe-{i}")).await?;
        let ticket_id = desk.message(message_id).await?.ticket_id;
        probes.push((ws, ticket_id));
    }
    let base = Instant::now();
    let (stop, stopped) = watch::channel(false);
    let mut readers = Vec::new();
    let mut tickets = Vec::new();
    for (mut ws, ticket_id) in probes {
        tickets.push(ticket_id);
        let mut stopped = stopped.clone();
        readers.push(tokio::spawn(async move {
            let mut arrivals = Vec::new();
            loop {
                tokio::select! {
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            let at = base.elapsed().as_nanos() as u64;
                            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                            if let Some(seq) = reply_seq(&v) {
                                arrivals.push((seq, at));
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    _ = stopped.changed() => break,
                }
            }
            let _ = ws.close(None).await;
            arrivals
        }));
    }

    let interval = Duration::from_secs_f64(1.0 / REPLY_RATE as f64);
    let start = tokio::time::Instant::now();
    let mut sends = Vec::with_capacity(replies);
    for seq in 0..replies {
        tokio::time::sleep_until(start + interval * seq as u32).await;
        let desk = desk.clone();
        let ticket_id = tickets[seq % tickets.len()];
        sends.push(tokio::spawn(async move {
            let input = ReplyInput {
                text: format!("{MARK}{seq} Your jacket left our warehouse this morning."),
                html: None,
                status: None,
                attachments: vec![],
            };
            let called = base.elapsed().as_nanos() as u64;
            let ok = desk
                .reply(ticket_id, Actor::Agent(agent.id), &input)
                .await
                .is_ok();
            (called, base.elapsed().as_nanos() as u64, ok)
        }));
    }
    let mut sent = Vec::with_capacity(replies);
    for s in sends {
        sent.push(s.await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop.send(true);
    let mut arrivals = Vec::new();
    for r in readers {
        arrivals.extend(r.await?);
    }
    let ms = |ns: i128| ns as f64 / 1e6;
    let mut commit = Vec::new();
    let mut call = Vec::new();
    for (seq, at) in &arrivals {
        let Some(&(called, returned, _)) = sent.get(*seq) else {
            continue;
        };
        commit.push(ms((*at as i128 - returned as i128).max(0)));
        call.push(ms(*at as i128 - called as i128));
    }
    let reply = sent
        .iter()
        .filter(|s| s.2)
        .map(|(c, r, _)| ms(*r as i128 - *c as i128))
        .collect();
    Ok(PushFigures {
        replies,
        failed: sent.iter().filter(|s| !s.2).count(),
        delivered: arrivals.len(),
        commit: dist(commit),
        call: dist(call),
        reply: dist(reply),
    })
}

async fn run() {
    let mut widgets = env_usize("BENCH_WIDGETS", 10_000);
    let active = env_usize("BENCH_ACTIVE", 200);
    let window = env_usize("BENCH_WINDOW", 1);
    let seconds = env_usize("BENCH_SECONDS", 10);
    let replies = env_usize("BENCH_REPLIES", 200);

    // This process holds the server's side of every connection and both sides of the
    // active and probe ones; keep headroom for the store and the runtime.
    let limit = common::open_files_limit();
    if let Some(limit) = limit {
        let room = (limit as usize).saturating_sub(2 * (active + PROBES) + 512);
        if widgets > room {
            println!(
                "note: the open-files limit is {limit} (raise it with `ulimit -n` / the hard \
                 limit); idle widgets reduced from {widgets} to {room}"
            );
            widgets = room;
        }
    }

    let bench: BenchDesk = start_desk(&[]).await;
    let addr = bench.app.addr.to_string();
    let desk = bench.app.state.desk.clone();
    let (site, _) = desk
        .create_widget(&NewWidget {
            name: "Bench shop".into(),
            origins: vec![SHOP.into()],
            greeting: Some("Hello! How can we help?".into()),
        })
        .await
        .expect("widget site");
    let key = site.channel.key.clone();
    println!(
        "widget benchmark: SQLite in {}, desk on {addr}",
        bench.dir.path().display()
    );
    println!(
        "settings: {widgets} idle widgets, {active} active visitors × {window} in flight for \
         {seconds} s, {replies} agent replies; {} cores, open-files limit {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        limit.map_or("unknown".into(), |l| l.to_string())
    );

    let (memory, child) = match idle_widgets(&desk, &addr, &key, widgets).await {
        Ok(m) => m,
        Err(e) => {
            println!("stopped: {e}");
            bench.stop().await;
            return;
        }
    };
    let client_kib = child.rss_kib();

    let tp = throughput(&desk, &addr, &key, active, window, seconds).await;
    let push = push_latency(&desk, &addr, &key, replies).await;

    let before_close = own_rss_kib();
    let child_said = child.finish().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    let closed_kib = own_rss_kib();
    let routed_at_end = desk.hub.visitors.connections();

    let m = &memory;
    let n = m.fresh + m.returning;
    let overall = MemoryFigures::per(m.returning_kib, m.base_kib, n);
    println!();
    println!("==================== chat widget: summary ====================");
    println!(
        "idle widgets            {n}: {} new visitors (opened in {:.1} s), {} returning \
         (wrote once; {:.1} s)",
        m.fresh, m.fresh_secs, m.returning, m.returning_secs
    );
    println!(
        "server VmRSS            {} KiB before, {} KiB with them open: +{} KiB ({:.1} MiB)",
        m.base_kib,
        m.returning_kib,
        m.returning_kib as i64 - m.base_kib as i64,
        (m.returning_kib as f64 - m.base_kib as f64) / 1024.0
    );
    println!(
        "per idle widget         {overall:.1} KiB overall (target ≤ 20 KiB: {})",
        if overall <= 20.0 { "met" } else { "missed" }
    );
    println!(
        "                        {:.1} KiB per new visitor, {:.1} KiB per returning visitor",
        MemoryFigures::per(m.fresh_kib, m.base_kib, m.fresh),
        MemoryFigures::per(m.returning_kib, m.fresh_kib, m.returning)
    );
    println!(
        "server routes           {} widget connections after the returning ones joined",
        m.routed
    );
    if let Some(c) = client_kib {
        println!(
            "client process          {:.1} KiB per connection (child VmRSS / N, incl. its runtime)",
            c as f64 / n.max(1) as f64
        );
    }
    println!(
        "messages                {} acked of {} sent in {:.1} s: {:.0} msg/s ({} active \
         visitors, {} in flight each, {} visitors in all)",
        tp.acked,
        tp.sent,
        tp.secs,
        tp.acked as f64 / tp.secs,
        tp.active,
        tp.window,
        tp.visitors
    );
    println!("send → ack              {}", tp.latency);
    println!(
        "exactly once            {} not acked, {} acked more than once, {} stray acks; \
         {} distinct message ids; {} messages stored ({})",
        tp.missing,
        tp.duplicated,
        tp.stray,
        tp.distinct_ids,
        tp.stored,
        if tp.missing == 0
            && tp.duplicated == 0
            && tp.stray == 0
            && tp.distinct_ids == tp.acked
            && tp.stored == tp.acked as u64
        {
            "ok"
        } else {
            "MISMATCH"
        }
    );
    if tp.echoes > 0 {
        println!(
            "own messages echoed     {} `message` frames to the sending connection, each \
             repeating a message it also got an ack for",
            tp.echoes
        );
    }
    for (kind, count) in &tp.other_frames {
        println!("other frames            {count}× {kind}");
    }
    if !tp.odd.is_empty() {
        let mut odd: HashMap<&str, usize> = HashMap::new();
        for o in &tp.odd {
            *odd.entry(o.as_str()).or_default() += 1;
        }
        for (o, count) in odd {
            println!("note: {count}× {o}");
        }
    }
    println!(
        "server routes           {} after the active visitors left (idle returning: {})",
        tp.routed_after, m.returning
    );
    match push {
        Ok(p) => {
            println!(
                "agent replies           {} to {PROBES} widgets at {REPLY_RATE}/s, {} failed, \
                 {} delivered",
                p.replies, p.failed, p.delivered
            );
            println!("commit → widget         {}", p.commit);
            println!("call → widget           {}", p.call);
            println!("reply (call → commit)   {}", p.reply);
        }
        Err(e) => println!("agent replies           not measured: {e}"),
    }
    println!(
        "after closing           server VmRSS {} KiB (was {} KiB), routes left {routed_at_end}",
        closed_kib.unwrap_or(0),
        before_close.unwrap_or(0)
    );
    for line in child_said.iter().filter(|l| !l.trim().is_empty()) {
        println!("client process said     {line}");
    }
    println!("===============================================================");

    bench.stop().await;
}
