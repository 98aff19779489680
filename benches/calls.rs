//! Screen-pop benchmark: how long from a PBX's `newCall` event until every agent watching
//! calls has the caller's card (contact, value, orders, open tickets) on their socket.
//! The target is 100 ms.
//!
//! Settings: `BENCH_AGENTS` connected agents (default 20), `BENCH_CALLS` calls one after
//! the other (default 300).

mod common;

use std::time::Instant;

use common::{Dist, ORIGIN, connect_ws, dist, env_usize, login, next_text, start_desk};
use futures_util::SinkExt;
use serde_json::json;
use switchboard::desk::agents::NewAgent;
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::orders::OrderInput;
use switchboard::desk::{Channel, Inbound, Role};
use tokio_tungstenite::tungstenite::Message;

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let agents = env_usize("BENCH_AGENTS", 20);
    let calls = env_usize("BENCH_CALLS", 300);
    let bench = start_desk(&[]).await;
    let desk = bench.app.state.desk.clone();
    let addr = bench.app.addr.to_string();
    let base = format!("http://{addr}");
    desk.create_agent(NewAgent {
        email: "bench@example.com".into(),
        name: "Bench".into(),
        role: Role::Agent,
        password: Some("correct horse battery".into()),
    })
    .await
    .expect("agent");
    // A known caller with history: the card has something to carry.
    desk.ingest(&Inbound::text(
        Channel::Api,
        "k1",
        IdentityClaim::new(IdentityKind::Phone, "+49301234567"),
        "Frage",
    ))
    .await
    .expect("a ticket");
    let orders: Vec<OrderInput> = (0..10)
        .map(|i| {
            serde_json::from_value(json!({
                "source": "shop", "external_id": format!("O-{i}"), "status": "paid", "currency": "EUR",
                "total": "49.90", "placed_at": "2026-11-01T10:00:00Z", "customer": {"phone": "+49301234567"},
                "items": [{"name": "Mühle", "quantity": 1, "unit_price": "49.90"}]
            }))
            .expect("an order")
        })
        .collect();
    desk.upsert_orders(orders).await.expect("orders");
    let pbx = desk
        .create_pbx("Bench PBX", &[], Default::default(), Default::default())
        .await
        .expect("pbx");

    let client = reqwest::Client::new();
    let cookie = login(&client, &base, "bench@example.com", "correct horse battery")
        .await
        .expect("login");
    let mut sockets = Vec::new();
    for _ in 0..agents {
        let mut ws = connect_ws(
            &format!("ws://{addr}/ws/agent"),
            &[("cookie", &cookie), ("origin", ORIGIN)],
        )
        .await
        .expect("socket");
        next_text(&mut ws).await.expect("hello");
        let sub = json!({"type": "subscribe", "topics": ["calls"]}).to_string();
        ws.send(Message::Text(sub.into())).await.expect("subscribe");
        sockets.push(ws);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let url = format!("{base}/api/v1/cti/{}", pbx.channel.key);
    let (mut post, mut all) = (Vec::new(), Vec::new());
    for i in 0..calls {
        let id = format!("bench-{i}");
        let started = Instant::now();
        let res = client
            .post(&url)
            .json(&json!({"event": "newCall", "direction": "in", "from": "+49301234567", "to": "+49301111", "callId": id}))
            .send()
            .await
            .expect("post");
        assert!(res.status().is_success());
        post.push(started.elapsed().as_secs_f64() * 1000.0);
        for ws in sockets.iter_mut() {
            loop {
                let frame = next_text(ws).await.expect("a frame");
                if frame.contains("\"type\":\"call\"") && frame.contains(&format!("\"{id}\"")) {
                    assert!(frame.contains("\"orders\""), "the card came without orders");
                    break;
                }
            }
        }
        all.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let show = |name: &str, d: Dist| {
        println!(
            "{name:<38} p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
            d.p50, d.p95, d.p99, d.max
        )
    };
    println!("switchboard screen-pop benchmark: {calls} calls, {agents} agents watching (SQLite)");
    show("newCall answered (HTTP round trip)", dist(post));
    show("card on every agent's socket", dist(all));
    bench.stop().await;
}
