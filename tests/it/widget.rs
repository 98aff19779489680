//! The chat widget without a browser: the handshake's site and Origin, exactly-once
//! messages, visitors kept apart, the shop's identity signature, limits, live replies,
//! the email fallback, and the admin API for widget sites.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::channels::chat::identity_signature;
use switchboard::desk::channels::{NewWidget, WidgetSite};
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::tickets::ReplyInput;
use switchboard::desk::{Actor, Channel, Desk, Inbound, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::live::{Socket, close_code, next_json, send, status_of, until};
use crate::support::{Engine, TestApp};

const SHOP: &str = "https://shop.example";

async fn site(desk: &Desk) -> (WidgetSite, String) {
    desk.create_widget(&NewWidget {
        name: "Shop".into(),
        origins: vec![SHOP.into()],
        greeting: Some("Hi!".into()),
    })
    .await
    .unwrap()
}

async fn connect(app: &TestApp, key: &str, origin: Option<&str>) -> Result<Socket, u16> {
    let url = format!(
        "ws://{}/ws/widget?site={key}",
        app.base.trim_start_matches("http://")
    );
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(s, _)| s)
        .map_err(status_of)
}

/// Opens a widget connection and says hello; returns it with the welcome.
async fn hello(app: &TestApp, key: &str, hello: Value) -> (Socket, Value) {
    let mut ws = connect(app, key, Some(SHOP)).await.unwrap();
    send(&mut ws, hello).await;
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

async fn say(ws: &mut Socket, client_id: &str, text: &str) -> Value {
    send(
        ws,
        json!({"type": "send", "client_id": client_id, "text": text}),
    )
    .await;
    until(ws, |f| f["type"] == "ack" || f["type"] == "error").await
}

/// The stored message an ack names.
async fn stored(desk: &Desk, ack: &Value) -> entity::message::Model {
    let id = ack["message"]["id"]
        .as_i64()
        .expect("an ack with a message id");
    desk.message(id).await.unwrap()
}

async fn count_messages(desk: &Desk, text: &str) -> usize {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    entity::message::Entity::find()
        .filter(entity::message::Column::Text.eq(text))
        .count(desk.store.db())
        .await
        .unwrap() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_needs_a_known_site_and_an_allowed_origin() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (site, _) = site(&app.desk).await;
    let key = &site.channel.key;
    assert_eq!(connect(&app, "nope", Some(SHOP)).await.unwrap_err(), 404);
    assert_eq!(
        connect(&app, key, Some("https://evil.example"))
            .await
            .unwrap_err(),
        403
    );
    assert_eq!(
        connect(&app, key, Some("https://shop.example.evil.example"))
            .await
            .unwrap_err(),
        403
    );
    assert_eq!(connect(&app, key, None).await.unwrap_err(), 403);
    // An inactive site is gone for widgets.
    app.desk
        .update_widget(
            site.channel.id,
            &switchboard::desk::channels::WidgetChange {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(connect(&app, key, Some(SHOP)).await.unwrap_err(), 404);
    app.stop().await;
}

crate::on_both! {
async fn a_message_is_acknowledged_once_stored_and_a_replayed_client_id_is_a_no_op(engine: Engine) {
    let app = TestApp::start(engine).await;
    let (site, _) = site(&app.desk).await;
    let (mut ws, welcome) = hello(&app, &site.channel.key, json!({"type": "hello"})).await;
    assert_eq!(welcome["site"]["greeting"], "Hi!");
    assert_eq!(welcome["agents_online"], false);
    assert_eq!(welcome["messages"], json!([]));
    let token = welcome["token"].as_str().unwrap().to_owned();

    let ack = say(&mut ws, "m-1", "Where is my order?").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["client_id"], "m-1");
    let id = ack["message"]["id"].as_i64().unwrap();
    assert_eq!(ack["message"]["client_id"], "m-1");
    assert_eq!(ack["message"]["direction"], "in");
    // Acknowledged means committed: another connection of the store sees it.
    let first = app.desk.message(id).await.unwrap();
    assert_eq!(first.channel, "chat");
    let ticket = app.desk.ticket(first.ticket_id).await.unwrap();
    assert_eq!(ticket.channel, "chat");

    // The same client id again, on this connection and on a new one after a cut.
    let again = say(&mut ws, "m-1", "Where is my order?").await;
    assert_eq!(again["message"]["id"].as_i64(), Some(id));
    drop(ws);
    let (mut ws, welcome) = hello(
        &app,
        &site.channel.key,
        json!({"type": "hello", "token": token}),
    )
    .await;
    assert_eq!(welcome["messages"].as_array().unwrap().len(), 1);
    assert_eq!(welcome["messages"][0]["client_id"], "m-1");
    let again = say(&mut ws, "m-1", "Where is my order?").await;
    assert_eq!(again["message"]["id"].as_i64(), Some(id));
    assert_eq!(count_messages(&app.desk, "Where is my order?").await, 1);

    // A resumed visitor keeps one conversation: the next message joins the ticket.
    let next = say(&mut ws, "m-2", "Order SB-1").await;
    let next = stored(&app.desk, &next).await;
    assert_eq!(next.ticket_id, ticket.id);
    // The sending connection gets the ack, not also a live echo of its own message.
    let echo = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(echo.is_err(), "unexpected frame: {echo:?}");

    // Bad frames are refused with a reason and store nothing.
    let bad = say(&mut ws, "not ok!", "x").await;
    assert_eq!(bad["type"], "error");
    assert_eq!(bad["client_id"], "not ok!");
    let empty = say(&mut ws, "m-3", "   ").await;
    assert_eq!(empty["type"], "error");
    let long = say(&mut ws, "m-4", &"x".repeat(4001)).await;
    assert_eq!(long["type"], "error");
    assert_eq!(count_messages(&app.desk, "   ").await, 0);
    app.stop().await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_never_reads_another_visitors_conversation() {
    let app = TestApp::start(Engine::Sqlite).await;
    let agent = app.agent("sam@example.com", Role::Agent).await;
    let (site, _) = site(&app.desk).await;
    let key = site.channel.key.clone();
    let (mut a, welcome_a) = hello(&app, &key, json!({"type": "hello"})).await;
    let token_a = welcome_a["token"].as_str().unwrap().to_owned();
    let ack = say(&mut a, "same-id", "A's secret: my address is Main St 1").await;
    let a_message = stored(&app.desk, &ack).await;

    // B is a new visitor: nothing of A's.
    let (mut b, welcome_b) = hello(&app, &key, json!({"type": "hello"})).await;
    assert_ne!(welcome_b["token"], welcome_a["token"]);
    assert_eq!(welcome_b["messages"], json!([]));
    // B using A's client id gets a message of its own, not A's.
    let b_ack = say(&mut b, "same-id", "B here").await;
    assert_ne!(b_ack["message"]["id"], ack["message"]["id"]);
    assert_eq!(b_ack["message"]["text"], "B here");

    // A token with A's visitor id but a forged signature is a stranger's.
    let visitor_a = token_a.split('.').next().unwrap();
    for forged in [
        format!("{visitor_a}.AAAA"),
        format!("{visitor_a}."),
        visitor_a.to_owned(),
    ] {
        let (_, w) = hello(&app, &key, json!({"type": "hello", "token": forged})).await;
        assert_eq!(w["messages"], json!([]), "{w}");
        assert!(!w["token"].as_str().unwrap().starts_with(visitor_a));
    }
    // A's token is bound to its site.
    let (other, _) = app
        .desk
        .create_widget(&NewWidget {
            name: "Other".into(),
            origins: vec![SHOP.into()],
            greeting: None,
        })
        .await
        .unwrap();
    let (_, w) = hello(
        &app,
        &other.channel.key,
        json!({"type": "hello", "token": token_a}),
    )
    .await;
    assert_eq!(w["messages"], json!([]));

    // An agent's reply to A reaches A live, with the agent's name, and never B; a note
    // reaches nobody.
    app.desk
        .note(a_message.ticket_id, Actor::Agent(agent), "internal: VIP")
        .await
        .unwrap();
    app.desk
        .reply(
            a_message.ticket_id,
            Actor::Agent(agent),
            &ReplyInput {
                text: "We are on it".into(),
                html: None,
                status: None,
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    let got = until(&mut a, |f| {
        f["type"] == "message" && f["message"]["direction"] == "out"
    })
    .await;
    assert_eq!(got["message"]["text"], "We are on it");
    assert_eq!(got["message"]["author"], "sam");
    send(&mut b, json!({"type": "typing"})).await;
    let quiet = tokio::time::timeout(Duration::from_millis(500), b.next()).await;
    assert!(quiet.is_err(), "B got something: {quiet:?}");
    // Neither the note nor B's message is in A's history.
    let (_, again) = hello(&app, &key, json!({"type": "hello", "token": token_a})).await;
    let texts: Vec<&str> = again["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["A's secret: my address is Main St 1", "We are on it"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_identity_ties_the_visitor_to_the_customer_and_a_forged_one_is_refused() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (site, secret) = site(&app.desk).await;
    let key = site.channel.key.clone();
    // Erika is a known customer (from an email, say).
    let known = app
        .desk
        .ingest(&Inbound::text(
            Channel::Api,
            "erika-1",
            IdentityClaim::new(IdentityKind::Email, "erika@example.com"),
            "earlier question",
        ))
        .await
        .unwrap();

    // A forged signature: an error frame, then close 4403.
    let mut ws = connect(&app, &key, Some(SHOP)).await.unwrap();
    let forged = identity_signature("not the secret", "erika@example.com");
    send(
        &mut ws,
        json!({"type": "hello", "identity": {"email": "erika@example.com", "signature": forged}}),
    )
    .await;
    let error = next_json(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "identity_signature");
    assert_eq!(close_code(&mut ws).await, Some(4403));
    // Signing another email does not carry over.
    let mut ws = connect(&app, &key, Some(SHOP)).await.unwrap();
    let other = identity_signature(&secret, "mallory@example.com");
    send(
        &mut ws,
        json!({"type": "hello", "identity": {"email": "erika@example.com", "signature": other}}),
    )
    .await;
    next_json(&mut ws).await;
    assert_eq!(close_code(&mut ws).await, Some(4403));

    // An anonymous visitor writes first, then signs in at the shop.
    let (mut anon, w) = hello(&app, &key, json!({"type": "hello"})).await;
    let token = w["token"].as_str().unwrap().to_owned();
    say(&mut anon, "before", "question before signing in").await;
    drop(anon);
    let signature = identity_signature(&secret, "erika@example.com");
    let (mut ws, w) = hello(
        &app,
        &key,
        json!({"type": "hello", "token": token, "identity": {"email": "erika@example.com", "name": "Erika Mustermann", "signature": signature}}),
    )
    .await;
    assert_eq!(w["verified"]["email"], "erika@example.com");
    assert_eq!(w["reset"], false);
    // Her anonymous conversation came along.
    assert_eq!(w["messages"][0]["text"], "question before signing in");
    let ack = say(&mut ws, "after", "now signed in").await;
    let m = stored(&app.desk, &ack).await;
    let ticket = app.desk.ticket(m.ticket_id).await.unwrap();
    assert_eq!(ticket.contact_id, known.contact_id);
    let contact = app.desk.contact_detail(known.contact_id).await.unwrap();
    let email = contact
        .identities
        .iter()
        .find(|i| i.kind == "email")
        .unwrap();
    assert!(email.verified);
    assert!(
        contact
            .identities
            .iter()
            .any(|i| i.kind == "visitor" && i.verified)
    );

    // Signed out at the shop: the same browser no longer shows Erika's conversation.
    let token = w["token"].as_str().unwrap().to_owned();
    let (_, w) = hello(&app, &key, json!({"type": "hello", "token": token})).await;
    assert_eq!(w["reset"], true);
    assert_eq!(w["messages"], json!([]));
    assert_ne!(w["token"].as_str().unwrap(), token);
    // Someone else signs in on that browser: a new visitor, not a merge.
    let bob = identity_signature(&secret, "bob@example.com");
    let (_, w) = hello(
        &app,
        &key,
        json!({"type": "hello", "token": token, "identity": {"email": "bob@example.com", "signature": bob}}),
    )
    .await;
    assert_eq!(w["reset"], true);
    assert_eq!(w["messages"], json!([]));
    let bob = app
        .desk
        .lookup_contact(IdentityKind::Email, "bob@example.com")
        .await
        .unwrap();
    assert_ne!(bob.id, known.contact_id);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_email_is_kept_unverified_and_never_joins_another_contact() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (site, _) = site(&app.desk).await;
    let key = site.channel.key.clone();
    let erika = app
        .desk
        .ingest(&Inbound::text(
            Channel::Api,
            "erika-1",
            IdentityClaim::new(IdentityKind::Email, "erika@example.com").verified(),
            "hello",
        ))
        .await
        .unwrap();

    // A visitor claims Erika's address: saved for the answer, but no merge.
    let (mut ws, w) = hello(&app, &key, json!({"type": "hello"})).await;
    let token = w["token"].as_str().unwrap().to_owned();
    let ack = say(&mut ws, "c1", "I am Erika, honest").await;
    send(
        &mut ws,
        json!({"type": "email", "email": "Erika@Example.com"}),
    )
    .await;
    let saved = until(&mut ws, |f| f["type"] == "email_saved").await;
    assert_eq!(saved["email"], "erika@example.com");
    let m = stored(&app.desk, &ack).await;
    let ticket = app.desk.ticket(m.ticket_id).await.unwrap();
    assert_ne!(ticket.contact_id, erika.contact_id);
    let erika_now = app.desk.contact_detail(erika.contact_id).await.unwrap();
    assert!(!erika_now.identities.iter().any(|i| i.kind == "visitor"));
    // The visitor sees none of Erika's messages, now or after a reload.
    let (_, w) = hello(&app, &key, json!({"type": "hello", "token": token})).await;
    assert_eq!(w["email"], "erika@example.com");
    assert_eq!(w["messages"].as_array().unwrap().len(), 1);

    // A free address is added to the visitor's contact, unverified.
    send(
        &mut ws,
        json!({"type": "email", "email": "new@example.com"}),
    )
    .await;
    until(&mut ws, |f| f["type"] == "email_saved").await;
    let contact = app.desk.contact_detail(ticket.contact_id).await.unwrap();
    let new = contact
        .identities
        .iter()
        .find(|i| i.value == "new@example.com")
        .unwrap();
    assert!(!new.verified);
    // An address given before the first message joins the contact that message makes.
    let (mut early, _) = hello(&app, &key, json!({"type": "hello"})).await;
    send(
        &mut early,
        json!({"type": "email", "email": "early@example.com"}),
    )
    .await;
    until(&mut early, |f| f["type"] == "email_saved").await;
    let ack = say(&mut early, "e1", "hello from early").await;
    let m = stored(&app.desk, &ack).await;
    let contact = app.desk.ticket(m.ticket_id).await.unwrap().contact_id;
    let detail = app.desk.contact_detail(contact).await.unwrap();
    assert!(
        detail
            .identities
            .iter()
            .any(|i| i.value == "early@example.com" && !i.verified)
    );

    // A bad address is an error frame, not a close.
    send(&mut ws, json!({"type": "email", "email": "not an email"})).await;
    let e = until(&mut ws, |f| f["type"] == "error").await;
    assert_eq!(e["code"], "invalid_email");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_flooding_input_is_refused_with_a_close_code() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (site, _) = site(&app.desk).await;
    let key = site.channel.key.clone();

    let (mut ws, _) = hello(&app, &key, json!({"type": "hello"})).await;
    let _ = ws.send(Message::Text("x".repeat(20 * 1024).into())).await;
    assert_eq!(close_code(&mut ws).await, Some(1009));

    let (mut ws, _) = hello(&app, &key, json!({"type": "hello"})).await;
    for _ in 0..60 {
        if ws
            .send(Message::Text(json!({"type": "typing"}).to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(close_code(&mut ws).await, Some(1008));

    // Not the protocol: the first frame must be hello; binary frames are refused.
    let mut ws = connect(&app, &key, Some(SHOP)).await.unwrap();
    send(
        &mut ws,
        json!({"type": "send", "client_id": "a", "text": "hi"}),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, Some(1008));
    let (mut ws, _) = hello(&app, &key, json!({"type": "hello"})).await;
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1003));
    let (mut ws, _) = hello(&app, &key, json!({"type": "hello"})).await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1008));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_says_hello_is_closed() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (site, _) = site(&app.desk).await;
    let mut ws = connect(&app, &site.channel.key, Some(SHOP)).await.unwrap();
    let started = std::time::Instant::now();
    // The desk waits HELLO_WITHIN (10 s); nothing arrives before that.
    let closed = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("closed within 30 s");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4400),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_secs(9));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_delivered_live_or_queued_by_email_when_the_visitor_is_away() {
    let app = TestApp::start(Engine::Sqlite).await;
    let agent = app.agent("sam@example.com", Role::Agent).await;
    let (site, _) = site(&app.desk).await;
    let key = site.channel.key.clone();

    let (mut ws, w) = hello(&app, &key, json!({"type": "hello"})).await;
    let token = w["token"].as_str().unwrap().to_owned();
    let ack = say(&mut ws, "c1", "anyone there?").await;
    let m = stored(&app.desk, &ack).await;
    let reply = |text: &str| ReplyInput {
        text: text.into(),
        html: None,
        status: None,
        attachments: vec![],
    };

    // Online: shown at once and marked delivered.
    let live = app
        .desk
        .reply(m.ticket_id, Actor::Agent(agent), &reply("yes, here"))
        .await
        .unwrap();
    until(&mut ws, |f| {
        f["type"] == "message" && f["message"]["id"] == live.id
    })
    .await;
    wait_status(&app.desk, live.id, "delivered").await;

    // Away with an address: sent, and a copy by email waits in the outbox.
    send(
        &mut ws,
        json!({"type": "email", "email": "visitor@example.com"}),
    )
    .await;
    until(&mut ws, |f| f["type"] == "email_saved").await;
    drop(ws);
    wait_offline(&app.desk, m.ticket_id).await;
    let away = app
        .desk
        .reply(
            m.ticket_id,
            Actor::Agent(agent),
            &reply("answer while away"),
        )
        .await
        .unwrap();
    wait_status(&app.desk, away.id, "sent").await;
    let rows = switchboard::outbox::list(&app.desk.store, "pending", 0, 100)
        .await
        .unwrap();
    let copies: Vec<_> = rows
        .iter()
        .filter(|r| r.kind == "email" && r.payload["message_id"] == away.id)
        .collect();
    assert_eq!(copies.len(), 1, "{rows:?}");
    assert_eq!(copies[0].payload["to"], "visitor@example.com");

    // Back later: the answer is in the widget.
    let (_, w) = hello(&app, &key, json!({"type": "hello", "token": token})).await;
    assert!(
        w["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "answer while away")
    );
    app.stop().await;
}

/// Waits until a message has the delivery status.
async fn wait_status(desk: &Desk, id: i64, status: &str) {
    for _ in 0..100 {
        if desk.message(id).await.unwrap().delivery_status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "message {id} is {}, not {status}",
        desk.message(id).await.unwrap().delivery_status
    );
}

/// Waits until no widget of the ticket's contact is connected.
async fn wait_offline(desk: &Desk, ticket_id: i64) {
    let contact = desk.ticket(ticket_id).await.unwrap().contact_id;
    for _ in 0..100 {
        if !desk.hub.visitor_online(contact) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the widget is still connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widgets_hear_when_agents_come_and_go() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (site, _) = site(&app.desk).await;
    let (mut ws, w) = hello(&app, &site.channel.key, json!({"type": "hello"})).await;
    assert_eq!(w["agents_online"], false);
    app.desk.hub.online(7, true);
    let f = until(&mut ws, |f| f["type"] == "agents").await;
    assert_eq!(f["online"], true);
    app.desk.hub.online(7, false);
    let f = until(&mut ws, |f| f["type"] == "agents").await;
    assert_eq!(f["online"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_widget_sites_and_the_secret_is_shown_once() {
    let app = TestApp::start(Engine::Sqlite).await;
    let admin = app.token(Role::Admin).await;
    let agent = app.token(Role::Agent).await;
    let body = json!({"name": "Shop", "origins": ["https://Shop.Example/"], "greeting": "Hallo!"});
    assert_eq!(
        agent.send("POST", "/api/v1/channels", body.clone()).await.0,
        403
    );
    let created = admin.send("POST", "/api/v1/channels", body).await;
    assert_eq!(created.0, 201, "{:?}", created.1);
    let c = created.1;
    assert_eq!(c["kind"], "widget");
    assert_eq!(c["settings"]["origins"], json!(["https://shop.example"]));
    let secret = c["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40);
    assert!(
        c["snippet"]
            .as_str()
            .unwrap()
            .contains(c["key"].as_str().unwrap())
    );
    assert!(c.get("token_key").is_none());

    let id = c["id"].as_i64().unwrap();
    let listed = admin.get("/api/v1/channels").await;
    assert_eq!(listed.0, 200);
    assert!(listed.1[0].get("secret").is_none());
    assert!(!listed.1.to_string().contains(&secret));
    assert_eq!(agent.get("/api/v1/channels").await.0, 403);

    let changed = admin
        .send(
            "PATCH",
            &format!("/api/v1/channels/{id}"),
            json!({"origins": ["https://shop.example", "https://www.shop.example"], "greeting": null}),
        )
        .await;
    assert_eq!(changed.0, 200, "{:?}", changed.1);
    assert_eq!(changed.1["settings"]["greeting"], Value::Null);
    assert_eq!(
        changed.1["settings"]["origins"].as_array().unwrap().len(),
        2
    );

    let rotated = admin
        .send("POST", &format!("/api/v1/channels/{id}/secret"), json!({}))
        .await;
    assert_eq!(rotated.0, 200);
    assert_ne!(rotated.1["secret"].as_str().unwrap(), secret);

    for (body, field) in [
        (json!({"name": "x", "origins": ["shop.example"]}), "origins"),
        (json!({"name": "x", "origins": []}), "origins"),
        (
            json!({"name": " ", "origins": ["https://a.example"]}),
            "name",
        ),
    ] {
        let r = admin.send("POST", "/api/v1/channels", body).await;
        assert_eq!(r.0, 422, "{:?}", r.1);
        assert_eq!(r.1["field"], field);
    }
    assert_eq!(admin.get("/api/v1/channels/999").await.0, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_script_and_the_demo_shop_are_served() {
    let app = TestApp::start(Engine::Sqlite).await;
    let client = reqwest::Client::new();
    let script = client.get(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    // Under 15 KB as it travels (gzip).
    let gz = client
        .get(app.url("/widget.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let size = gz.bytes().await.unwrap().len();
    assert!(size < 15 * 1024, "widget.js is {size} bytes gzipped");

    // No demo site yet: a clear 404.
    let shop = client.get(app.url("/demo/shop")).send().await.unwrap();
    assert_eq!(shop.status(), 404);
    let site = switchboard::demo::demo_site(&app.desk, crate::support::ORIGIN)
        .await
        .unwrap();
    let guest = client.get(app.url("/demo/shop")).send().await.unwrap();
    assert_eq!(guest.status(), 200);
    let html = guest.text().await.unwrap();
    assert!(html.contains(&format!("data-site=\"{}\"", site.channel.key)));
    assert!(html.contains("data-signature=\"\""));
    let signed = client
        .get(app.url("/demo/shop?signed_in=true"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let expected = identity_signature(&site.channel.secret, "anna.schneider@example.de");
    assert!(signed.contains(&expected));
    assert!(!signed.contains("{{"));
    app.stop().await;
}

crate::on_both! {
async fn concurrent_signed_visitors_of_one_new_customer_make_one_contact(engine: Engine) {
    let app = TestApp::start(engine).await;
    let (site, secret) = site(&app.desk).await;
    let customer = switchboard::desk::visitors::VerifiedCustomer {
        email: "Nina@Example.com".into(),
        name: Some("Nina".into()),
    };
    assert!(switchboard::channels::chat::identity_valid(
        &site,
        &customer.email,
        &identity_signature(&secret, &customer.email)
    ));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let desk = app.desk.clone();
        let customer = customer.clone();
        let channel = site.channel.id;
        tasks.push(tokio::spawn(async move {
            desk.open_visitor(channel, None, Some(customer)).await
        }));
    }
    let mut contacts = std::collections::BTreeSet::new();
    for t in tasks {
        let v = t.await.unwrap().unwrap();
        contacts.insert(v.contact_id.unwrap());
    }
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    let c = app
        .desk
        .lookup_contact(IdentityKind::Email, "nina@example.com")
        .await
        .unwrap();
    assert_eq!(contacts.first(), Some(&c.id));
    assert_eq!(c.name.as_deref(), Some("Nina"));
    let detail = app.desk.contact_detail(c.id).await.unwrap();
    assert_eq!(detail.identities.iter().filter(|i| i.kind == "visitor" && i.verified).count(), 10);
    app.stop().await;
}
}
