//! Live-push benchmark: how long a committed change takes to reach the agents' sockets,
//! and what an idle agent connection costs in memory.
//!
//! `cargo bench --bench live`. Settings (environment):
//! - `BENCH_AGENTS` — connected agents during the latency run (default 200)
//! - `BENCH_RATE` — inbound messages per second (default 50)
//! - `BENCH_SECONDS` — how long the inbound traffic runs (default 10)
//! - `BENCH_IDLE` — idle connections for the memory figure (default 1000)
//!
//! The desk runs in this process on a fresh SQLite store in a temporary directory. One
//! agent account signs in once per connected agent through `POST /api/v1/session`, so
//! every socket has a session of its own, as every console tab would.
//!
//! Latency: every socket subscribes to the queue; customer messages go through
//! `Desk::ingest` at a steady rate (open loop: each message starts at its scheduled time
//! whether or not the previous one finished). Each message's text carries its sequence
//! number; each socket is read by a task of its own that notes when every
//! `message_added` arrives. "commit → socket" is arrival minus the moment `ingest`
//! returned (the hub publishes after commit, just before `ingest` returns, so a few
//! arrivals can precede that moment; they count as 0 and are reported). "call → socket"
//! is arrival minus the moment `ingest` was called, which includes the write itself.
//!
//! Memory: the idle connections are opened by a child process (this binary again), so
//! the growth of this process's VmRSS is the server's side alone. Should the child not
//! start, the sockets are opened in-process and the figure is labelled as server and
//! client together (an upper bound for the server).

mod common;
use common::{
    ClientProcess, Dist, Holder, ORIGIN, ParentLines, Socket, bench_main, connect_ws, dist,
    env_usize, login, next_text, open_files_limit, own_rss_kib, settle, start_desk, tell_parent,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt, stream};
use serde_json::json;
use switchboard::desk::agents::NewAgent;
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::{Channel, Inbound, Role};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "correct horse battery";
/// Distinct customers writing; the first message of each opens a ticket, the rest thread.
const VISITORS: usize = 50;
/// Marks a measured message in its text: `bench#<seq> …`.
const MARK: &str = "bench#";
/// The child process that holds the idle client sockets.
const CHILD_VAR: &str = "SWITCHBOARD_BENCH_LIVE_CHILD";

fn main() {
    bench_main(CHILD_VAR, run, child);
}

async fn connect(addr: &str, cookie: &str) -> anyhow::Result<Socket> {
    connect_ws(
        &format!("ws://{addr}/ws/agent"),
        &[("cookie", cookie), ("origin", ORIGIN)],
    )
    .await
}

/// Connects, waits for hello, subscribes to the queue and waits until the server has
/// taken the subscription (a ticket topic is answered with a snapshot, which comes after
/// the queue topic is in place).
async fn open(addr: &str, cookie: &str) -> anyhow::Result<Socket> {
    let mut ws = connect(addr, cookie).await?;
    let hello = next_text(&mut ws).await?;
    anyhow::ensure!(hello.contains("\"hello\""), "expected hello, got {hello}");
    let sub = json!({"type": "subscribe", "topics": ["queue", "ticket:999999999"]}).to_string();
    ws.send(Message::Text(sub.into())).await?;
    loop {
        let t = next_text(&mut ws).await?;
        if t.contains("\"viewing\"") {
            return Ok(ws);
        }
    }
}

/// Opens `n` subscribed sockets, `parallel` handshakes at a time, round-robin over cookies.
async fn open_many(
    addr: &str,
    cookies: &[String],
    n: usize,
    parallel: usize,
) -> anyhow::Result<Vec<Socket>> {
    let results: Vec<anyhow::Result<Socket>> = stream::iter(0..n)
        .map(|i| open(addr, &cookies[i % cookies.len()]))
        .buffer_unordered(parallel)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The sequence number of a `message_added` frame of ours.
fn seq_of(frame: &str) -> Option<usize> {
    if !frame.contains("\"type\":\"message_added\"") {
        return None;
    }
    let at = frame.find(MARK)? + MARK.len();
    let digits: String = frame[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What one socket saw during the latency run.
#[derive(Default)]
struct Seen {
    /// (sequence number, arrival in ns since the shared base)
    arrivals: Vec<(usize, u64)>,
    other_frames: usize,
    resync: bool,
    closed: Option<String>,
}

async fn read_socket(
    mut ws: Socket,
    base: Instant,
    expected: usize,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen {
        arrivals: Vec::with_capacity(expected),
        ..Seen::default()
    };
    loop {
        tokio::select! {
            msg = ws.next() => {
                let at = base.elapsed().as_nanos() as u64;
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let Some(seq) = seq_of(&t) {
                            seen.arrivals.push((seq, at));
                            if seen.arrivals.len() >= expected {
                                break;
                            }
                        } else if t.contains("\"resync\"") {
                            seen.resync = true;
                        } else {
                            seen.other_frames += 1;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        seen.closed = Some(frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)).unwrap_or_else(|| "no frame".into()));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        seen.closed = Some(format!("error: {e}"));
                        break;
                    }
                    None => {
                        seen.closed = Some("eof".into());
                        break;
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
    seen
}

/// One ingested message: when `ingest` was called and when it returned (ns since base).
struct Sent {
    seq: usize,
    called: u64,
    returned: u64,
    ok: bool,
}

struct LatencyFigures {
    agents: usize,
    messages: usize,
    failed: usize,
    seconds: f64,
    deliveries: usize,
    expected: usize,
    early: usize,
    resyncs: usize,
    closed: usize,
    commit: Dist,
    call: Dist,
    ingest: Dist,
    spread: Dist,
}

struct MemoryFigures {
    n: usize,
    before_kib: u64,
    after_kib: u64,
    closed_kib: Option<u64>,
    server_only: bool,
    client_kib: Option<u64>,
    open_secs: f64,
}

async fn run() {
    let agents = env_usize("BENCH_AGENTS", 200);
    let rate = env_usize("BENCH_RATE", 50);
    let seconds = env_usize("BENCH_SECONDS", 10);
    let mut idle = env_usize("BENCH_IDLE", 1000);

    // Each socket costs this process one descriptor on the server side, plus one for the
    // client when it is in-process; keep headroom for the store and the runtime.
    let limit = open_files_limit();
    if let Some(limit) = limit {
        let room = limit.saturating_sub(256) as usize / 2;
        if idle > room {
            println!(
                "note: open-files limit is {limit}; idle connections reduced from {idle} to {room}"
            );
            idle = room;
        }
    }

    let bench = start_desk(&[("SWITCHBOARD_LOGIN_PER_MINUTE", "100000")]).await;
    let addr = bench.app.addr.to_string();
    let base_url = format!("http://{addr}");
    let desk = bench.app.state.desk.clone();

    println!(
        "live-push benchmark: SQLite in {}, desk on {addr}",
        bench.dir.path().display()
    );
    println!(
        "settings: {agents} agents, {rate} msg/s for {seconds} s, {idle} idle connections; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    desk.create_agent(NewAgent {
        email: EMAIL.into(),
        name: "Bench".into(),
        role: Role::Agent,
        password: Some(PASSWORD.into()),
    })
    .await
    .expect("agent");
    let rss_before_logins = own_rss_kib();
    let t = Instant::now();
    let client = reqwest::Client::new();
    let cookies: Vec<String> = stream::iter(0..agents)
        .map(|_| login(&client, &base_url, EMAIL, PASSWORD))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()
        .expect("logins");
    println!(
        "signed in {agents} sessions in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let rss_after_logins = own_rss_kib();
    println!(
        "VmRSS before the logins {} KiB, after {} KiB",
        rss_before_logins.unwrap_or(0),
        rss_after_logins.unwrap_or(0)
    );

    // Memory first, on a quiet desk.
    let memory = idle_memory(&addr, &cookies[0], idle).await;
    let still_online = desk.hub.online_agents();
    if !still_online.is_empty() {
        println!(
            "note: the server still counts agents {still_online:?} online after the idle sockets closed"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let latency = push_latency(&desk, &addr, &cookies, rate, seconds).await;

    println!();
    println!("==================== live push: summary ====================");
    println!(
        "VmRSS after {agents} logins  {} KiB (was {} KiB before them)",
        rss_after_logins.unwrap_or(0),
        rss_before_logins.unwrap_or(0)
    );
    println!("agents connected        {}", latency.agents);
    println!(
        "inbound                 {} messages in {:.1} s ({:.1} msg/s), {} failed",
        latency.messages,
        latency.seconds,
        latency.messages as f64 / latency.seconds,
        latency.failed
    );
    println!(
        "deliveries              {} of {} expected (messages × agents)",
        latency.deliveries, latency.expected
    );
    println!("commit → socket         {}", latency.commit);
    println!("call → socket           {}", latency.call);
    println!("ingest (call → commit)  {}", latency.ingest);
    println!(
        "fan-out spread          {}   (first → last socket per message)",
        latency.spread
    );
    println!(
        "arrived before ingest returned: {} (counted as 0 ms)",
        latency.early
    );
    println!(
        "sockets told to re-sync {}, closed early {}",
        latency.resyncs, latency.closed
    );
    match memory {
        Some(m) => {
            let per = (m.after_kib as f64 - m.before_kib as f64) / m.n as f64;
            let label = if m.server_only {
                "server side per idle connection"
            } else {
                "server+client per connection (upper bound for the server)"
            };
            println!(
                "idle connections        {} opened in {:.1} s",
                m.n, m.open_secs
            );
            println!(
                "VmRSS                   {} KiB before, {} KiB with them open",
                m.before_kib, m.after_kib
            );
            println!("{label}: {per:.1} KiB");
            if let Some(c) = m.client_kib {
                println!(
                    "client process          {:.1} KiB per connection (child VmRSS / N, incl. its runtime)",
                    c as f64 / m.n as f64
                );
            }
            if let Some(c) = m.closed_kib {
                println!(
                    "VmRSS after closing     {c} KiB (server connections ended: {})",
                    still_online.is_empty()
                );
            }
        }
        None => println!("idle connections        not measured (see above)"),
    }
    println!("=============================================================");

    bench.stop().await;
}

async fn push_latency(
    desk: &switchboard::desk::Desk,
    addr: &str,
    cookies: &[String],
    rate: usize,
    seconds: usize,
) -> LatencyFigures {
    let agents = cookies.len();
    let total = rate * seconds;
    let t = Instant::now();
    let sockets = open_many(addr, cookies, agents, 16)
        .await
        .expect("open agent sockets");
    println!(
        "opened {agents} agent sockets in {} ms",
        t.elapsed().as_millis()
    );

    // Warm the path (tickets exist for most visitors, statements prepared) before measuring.
    for i in 0..VISITORS {
        let inbound = Inbound::text(
            Channel::Chat,
            format!("warm-{i}"),
            IdentityClaim::new(IdentityKind::Visitor, format!("visitor-{i}")),
            format!("warm-up {i}"),
        );
        desk.ingest(&inbound).await.expect("warm-up ingest");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let base = Instant::now();
    let (stop, stopped) = watch::channel(false);
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(read_socket(ws, base, total, stopped.clone())))
        .collect();

    println!("sending {total} messages at {rate}/s…");
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let started = Instant::now();
    let mut sends = Vec::with_capacity(total);
    for seq in 0..total {
        tokio::time::sleep_until(start + interval * seq as u32).await;
        let desk = desk.clone();
        sends.push(tokio::spawn(async move {
            let visitor = seq % VISITORS;
            let inbound = Inbound::text(
                Channel::Chat,
                format!("bench-{seq}"),
                IdentityClaim::new(IdentityKind::Visitor, format!("visitor-{visitor}")),
                format!("{MARK}{seq} Hello, where is my order? It was due yesterday."),
            );
            let called = base.elapsed().as_nanos() as u64;
            let ok = desk.ingest(&inbound).await.is_ok();
            let returned = base.elapsed().as_nanos() as u64;
            Sent {
                seq,
                called,
                returned,
                ok,
            }
        }));
    }
    let mut sent: Vec<Option<Sent>> = (0..total).map(|_| None).collect();
    for s in sends {
        let s = s.await.expect("ingest task");
        let seq = s.seq;
        sent[seq] = Some(s);
    }
    let send_secs = started.elapsed().as_secs_f64();
    let failed = sent.iter().flatten().filter(|s| !s.ok).count();

    // Give the sockets up to ten seconds to catch up, then stop the readers.
    let stop = Arc::new(stop);
    let deadline = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let _ = stop.send(true);
        })
    };
    let mut seen = Vec::with_capacity(agents);
    for r in readers {
        seen.push(r.await.expect("reader task"));
    }
    deadline.abort();

    let ms = |ns: i128| ns as f64 / 1e6;
    let mut commit = Vec::with_capacity(total * agents);
    let mut call = Vec::with_capacity(total * agents);
    let mut early = 0;
    let mut first_last: Vec<(u64, u64)> = vec![(u64::MAX, 0); total];
    for s in &seen {
        for &(seq, at) in &s.arrivals {
            let Some(Some(m)) = sent.get(seq) else {
                continue;
            };
            let d = at as i128 - m.returned as i128;
            if d < 0 {
                early += 1;
            }
            commit.push(ms(d.max(0)));
            call.push(ms(at as i128 - m.called as i128));
            let fl = &mut first_last[seq];
            fl.0 = fl.0.min(at);
            fl.1 = fl.1.max(at);
        }
    }
    let ingest: Vec<f64> = sent
        .iter()
        .flatten()
        .filter(|s| s.ok)
        .map(|s| ms(s.returned as i128 - s.called as i128))
        .collect();
    let spread: Vec<f64> = first_last
        .iter()
        .filter(|(a, _)| *a != u64::MAX)
        .map(|(a, b)| ms(*b as i128 - *a as i128))
        .collect();
    let deliveries = commit.len();
    let others: usize = seen.iter().map(|s| s.other_frames).sum();
    println!("latency run done: {deliveries} deliveries, {others} other frames (ticket events)");
    if let Some(s) = seen.iter().find_map(|s| s.closed.clone()) {
        println!("note: a socket closed early: {s}");
    }
    LatencyFigures {
        agents,
        messages: total,
        failed,
        seconds: send_secs,
        deliveries,
        expected: (total - failed) * agents,
        early,
        resyncs: seen.iter().filter(|s| s.resync).count(),
        closed: seen.iter().filter(|s| s.closed.is_some()).count(),
        commit: dist(commit),
        call: dist(call),
        ingest: dist(ingest),
        spread: dist(spread),
    }
}

/// Opens `n` idle, queue-subscribed connections and reports how this process's memory grew.
async fn idle_memory(addr: &str, cookie: &str, n: usize) -> Option<MemoryFigures> {
    if n == 0 {
        return None;
    }
    settle().await;
    let before = own_rss_kib()?;
    let t = Instant::now();

    // Preferably in a child process, so that only the server's side is counted here.
    let child = ClientProcess::spawn(
        CHILD_VAR,
        &[
            ("BENCH_CHILD_ADDR", addr.to_owned()),
            ("BENCH_CHILD_COOKIE", cookie.to_owned()),
            ("BENCH_CHILD_N", n.to_string()),
        ],
    )
    .map_err(|e| {
        println!("note: cannot start the client process ({e}); opening the sockets in-process")
    });
    if let Ok(mut child) = child {
        let ready = child.line().await;
        if ready.trim() != "ready" {
            println!("note: the client process failed: {}", ready.trim());
            child.kill().await;
            return None;
        }
        let open_secs = t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
        let after = own_rss_kib()?;
        let client_kib = child.rss_kib();
        // Closing its stdin tells the child to close its sockets and exit.
        child.finish().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let closed = own_rss_kib();
        return Some(MemoryFigures {
            n,
            before_kib: before,
            after_kib: after,
            closed_kib: closed,
            server_only: true,
            client_kib,
            open_secs,
        });
    }

    let sockets = match open_many(addr, &[cookie.to_owned()], n, 32).await {
        Ok(s) => s,
        Err(e) => {
            println!("note: opening idle connections failed: {e}");
            return None;
        }
    };
    let open_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    let after = own_rss_kib()?;
    drop(sockets);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let closed = own_rss_kib();
    Some(MemoryFigures {
        n,
        before_kib: before,
        after_kib: after,
        closed_kib: closed,
        server_only: false,
        client_kib: None,
        open_secs,
    })
}

/// The child process: opens the idle sockets, says "ready", holds them until stdin closes.
async fn child() {
    let addr = std::env::var("BENCH_CHILD_ADDR").expect("addr");
    let cookie = std::env::var("BENCH_CHILD_COOKIE").expect("cookie");
    let n: usize = std::env::var("BENCH_CHILD_N")
        .expect("n")
        .parse()
        .expect("n");
    let sockets = match open_many(&addr, &[cookie], n, 32).await {
        Ok(s) => s,
        Err(e) => return tell_parent(&format!("error: {e}")),
    };
    let mut holder = Holder::new();
    holder.hold(sockets);
    tell_parent("ready");
    // Hold the sockets until the parent closes our stdin.
    let mut parent = ParentLines::new();
    while parent.next().await.is_some() {}
    holder.close().await;
}
