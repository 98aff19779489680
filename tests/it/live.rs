//! The agent WebSocket without a browser: handshake auth and Origin, events after
//! commit, presence and collision, limits on frames and floods, slow consumers, and
//! sessions that end.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::desk::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{Browser, Engine, ORIGIN, TestApp};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    app: &TestApp,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, WsError> {
    let mut req = format!("ws://{}/ws/agent", app.base.trim_start_matches("http://"))
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse().unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

pub(crate) async fn open(app: &TestApp, agent: &Browser, topics: &[&str]) -> Socket {
    let mut ws = connect(app, Some(&agent.cookie), Some(ORIGIN))
        .await
        .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["agent_id"].as_i64(), Some(agent.agent_id));
    send(&mut ws, json!({"type": "subscribe", "topics": topics})).await;
    ws
}

pub(crate) async fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON text frame, within five seconds.
pub(crate) async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Frames until one matches.
pub(crate) async fn until(ws: &mut Socket, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next_json(ws).await;
        if pred(&v) {
            return v;
        }
    }
}

/// Reads until the server closes; returns the close code.
pub(crate) async fn close_code(ws: &mut Socket) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed within 10 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

pub(crate) fn status_of(e: WsError) -> u16 {
    match e {
        WsError::Http(res) => res.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_needs_a_session_and_our_origin() {
    let app = TestApp::start(Engine::Sqlite).await;
    let agent = app.signed_in(Role::Agent).await;
    assert_eq!(
        status_of(connect(&app, None, Some(ORIGIN)).await.unwrap_err()),
        401
    );
    assert_eq!(
        status_of(
            connect(&app, Some("sb_session=forged"), Some(ORIGIN))
                .await
                .unwrap_err()
        ),
        401
    );
    assert_eq!(
        status_of(
            connect(&app, Some(&agent.cookie), Some("https://evil.example"))
                .await
                .unwrap_err()
        ),
        403
    );
    assert_eq!(
        status_of(connect(&app, Some(&agent.cookie), None).await.unwrap_err()),
        403
    );
    // An API token is no session: integrations use the REST API.
    let (_, token) = app.desk.create_token("t", Role::Admin).await.unwrap();
    let mut req = format!("ws://{}/ws/agent", app.base.trim_start_matches("http://"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req.headers_mut().insert("origin", ORIGIN.parse().unwrap());
    assert_eq!(
        status_of(tokio_tungstenite::connect_async(req).await.unwrap_err()),
        403
    );
    assert!(
        connect(&app, Some(&agent.cookie), Some(ORIGIN))
            .await
            .is_ok()
    );
    app.stop().await;
}

crate::on_both! {
    async fn committed_changes_reach_subscribers_in_order(engine: Engine) {
        let app = TestApp::start(engine).await;
        let agent = app.signed_in(Role::Agent).await;
        let mut ws = open(&app, &agent, &["queue"]).await;
        let api = app.token(Role::Agent).await;
        let (status, out) = api.send("POST", "/api/v1/inbound", json!({"channel": "chat", "external_id": "c1", "identity": {"kind": "visitor", "value": "v1"}, "text": "hello?"})).await;
        assert_eq!(status, 201);
        let created = next_json(&mut ws).await;
        assert_eq!(created["type"], "ticket_created");
        assert_eq!(created["ticket"]["id"], out["ticket_id"]);
        let added = next_json(&mut ws).await;
        assert_eq!((added["type"].as_str(), added["message"]["text"].as_str()), (Some("message_added"), Some("hello?")));
        assert!(added["id"].as_u64() > created["id"].as_u64());
        // The event came after commit: the API already has it.
        assert_eq!(api.get(&format!("/api/v1/tickets/{}", out["ticket_id"])).await.0, 200);
        // A replay changes nothing and says nothing.
        api.send("POST", "/api/v1/inbound", json!({"channel": "chat", "external_id": "c1", "identity": {"kind": "visitor", "value": "v1"}, "text": "hello?"})).await;
        agent.send("POST", &format!("/api/v1/tickets/{}/note", out["ticket_id"]), json!({"text": "checking"})).await;
        let next = until(&mut ws, |v| v["type"] == "message_added").await;
        assert_eq!(next["message"]["direction"], "note", "the replay published nothing");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_filtered_and_authorized() {
    let app = TestApp::start(Engine::Sqlite).await;
    let agent = app.signed_in(Role::Agent).await;
    let lead = app.signed_in(Role::Lead).await;
    let team = app.desk.create_team("Returns").await.unwrap().team.id;
    let other_team = app.desk.create_team("Billing").await.unwrap().team.id;
    app.desk
        .set_team_member(team, agent.agent_id, true)
        .await
        .unwrap();

    let mut ws = open(&app, &agent, &[&format!("team:{team}")]).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "topics": [format!("team:{other_team}")]}),
    )
    .await;
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["type"], "error");
    let mut lead_ws = open(&app, &lead, &[&format!("team:{other_team}")]).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "topics": ["bogus", "presence"]}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "error");
    assert_eq!(
        next_json(&mut ws).await["type"],
        "presence",
        "a refused topic does not cost the others"
    );
    send(&mut ws, json!({"type": "dance"})).await;
    // Presence changes (the lead's connection) may arrive first now that it is a topic.
    let reply = loop {
        let m = next_json(&mut ws).await;
        if m["type"] != "presence" {
            break m;
        }
    };
    assert_eq!(reply["type"], "error");

    let api = app.token(Role::Agent).await;
    let (_, a) = api.send("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "a", "identity": {"kind": "email", "value": "a@example.com"}, "text": "a"})).await;
    let (_, b) = api.send("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "b", "identity": {"kind": "email", "value": "b@example.com"}, "text": "b"})).await;
    api.send(
        "POST",
        &format!("/api/v1/tickets/{}/assign", b["ticket_id"]),
        json!({"team_id": other_team}),
    )
    .await;
    api.send(
        "POST",
        &format!("/api/v1/tickets/{}/assign", a["ticket_id"]),
        json!({"team_id": team}),
    )
    .await;
    let mine = next_json(&mut ws).await;
    assert_eq!(
        (mine["type"].as_str(), &mine["ticket"]["id"]),
        (Some("ticket_updated"), &a["ticket_id"]),
        "only my team's ticket"
    );
    let theirs = next_json(&mut lead_ws).await;
    assert_eq!(theirs["ticket"]["id"], b["ticket_id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_viewing_and_typing_are_shared_live() {
    let app = TestApp::start(Engine::Sqlite).await;
    let sam = app.signed_in(Role::Agent).await;
    let kim = app.signed_in(Role::Agent).await;
    let mut sam_ws = open(&app, &sam, &["presence", "ticket:7"]).await;
    let first = until(&mut sam_ws, |v| v["type"] == "presence").await;
    assert_eq!(first["agents"], json!([sam.agent_id]));
    until(&mut sam_ws, |v| v["type"] == "viewing").await;

    let mut kim_ws = open(&app, &kim, &["ticket:7"]).await;
    // (Sam may first see a repeat of the list with only himself: his own arrival.)
    let both = until(&mut sam_ws, |v| {
        v["type"] == "presence" && v["agents"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    assert_eq!(both["agents"], json!([sam.agent_id, kim.agent_id]));
    send(&mut kim_ws, json!({"type": "typing", "ticket_id": 7})).await;
    assert_eq!(
        next_json(&mut kim_ws).await["type"],
        "viewing",
        "snapshot on subscribe"
    );
    assert_eq!(
        next_json(&mut kim_ws).await["type"],
        "error",
        "typing needs viewing first"
    );
    send(&mut kim_ws, json!({"type": "viewing", "ticket_id": 7})).await;
    let viewing = until(&mut sam_ws, |v| v["type"] == "viewing").await;
    assert_eq!(
        (viewing["viewing"].clone(), viewing["typing"].clone()),
        (json!([kim.agent_id]), json!([]))
    );
    send(&mut kim_ws, json!({"type": "typing", "ticket_id": 7})).await;
    let typing = until(&mut sam_ws, |v| v["type"] == "viewing").await;
    assert_eq!(typing["typing"], json!([kim.agent_id]));
    // Closing the connection releases everything.
    kim_ws.close(None).await.unwrap();
    let left = until(&mut sam_ws, |v| v["type"] == "viewing").await;
    assert_eq!(
        (left["viewing"].clone(), left["typing"].clone()),
        (json!([]), json!([]))
    );
    let alone = until(&mut sam_ws, |v| v["type"] == "presence").await;
    assert_eq!(alone["agents"], json!([sam.agent_id]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_binary_and_flooding_input_is_refused_with_a_clear_close_code() {
    let app = TestApp::start(Engine::Sqlite).await;
    let agent = app.signed_in(Role::Agent).await;

    let mut ws = open(&app, &agent, &[]).await;
    let huge = json!({"type": "subscribe", "topics": ["x".repeat(64 * 1024)]}).to_string();
    let _ = ws.send(Message::Text(huge.into())).await;
    assert_eq!(close_code(&mut ws).await, Some(u16::from(CloseCode::Size)));

    let mut ws = open(&app, &agent, &[]).await;
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(
        close_code(&mut ws).await,
        Some(u16::from(CloseCode::Unsupported))
    );

    let mut ws = open(&app, &agent, &[]).await;
    for _ in 0..200 {
        if ws
            .send(Message::Text(
                json!({"type": "subscribe", "topics": ["queue"]})
                    .to_string()
                    .into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(
        close_code(&mut ws).await,
        Some(u16::from(CloseCode::Policy))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_told_to_resync_and_dropped() {
    let app = TestApp::start(Engine::Sqlite).await;
    let agent = app.signed_in(Role::Agent).await;
    let mut ws = open(&app, &agent, &["ticket:1"]).await;
    until(&mut ws, |v| v["type"] == "viewing").await;
    // Far more events than the hub keeps, while the client does not read.
    // Big events fill the socket's buffers, so the connection stalls behind the hub.
    let hub = app.desk.hub.clone();
    let message = entity::message::Model {
        id: 1,
        ticket_id: 1,
        direction: "in".into(),
        channel: "chat".into(),
        author_agent_id: None,
        author_contact_id: None,
        text: "x".repeat(16 * 1024),
        html: None,
        external_id: None,
        addresses: None,
        delivery_status: "received".into(),
        delivery_error: None,
        created_at: chrono::Utc::now(),
    };
    for _ in 0..(switchboard::live::RING * 4) {
        hub.publish(
            switchboard::live::Scope::Ticket {
                id: 1,
                team_id: None,
                queue: false,
            },
            &switchboard::live::Event::MessageAdded {
                ticket_id: 1,
                message: message.clone(),
            },
        );
    }
    let mut resync = false;
    let mut seen = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frames")
        {
            Some(Ok(Message::Text(t))) => {
                seen += 1;
                if t.contains("\"resync\"") {
                    resync = true;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(4000));
                break;
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    assert!(resync, "told to re-sync after {seen} events");
    assert!(
        seen <= switchboard::live::RING * 2,
        "did not get every event ({seen})"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_deactivation_close_live_connections() {
    let app = TestApp::start(Engine::Sqlite).await;
    let agent = app.signed_in(Role::Agent).await;
    let mut first = open(&app, &agent, &[]).await;
    let me: Value = agent
        .client
        .get(app.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = app.login(me["agent"]["email"].as_str().unwrap()).await;
    let mut second = open(&app, &other, &[]).await;
    assert_eq!(
        agent.send("DELETE", "/api/v1/session", Value::Null).await.0,
        204
    );
    assert_eq!(close_code(&mut first).await, Some(4401));
    // The other session of the same agent stays until the agent is deactivated.
    let admin = app.signed_in(Role::Admin).await;
    admin
        .send(
            "PATCH",
            &format!("/api/v1/agents/{}", agent.agent_id),
            json!({"active": false}),
        )
        .await;
    assert_eq!(close_code(&mut second).await, Some(4401));
    app.stop().await;
}
