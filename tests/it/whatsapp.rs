//! WhatsApp Cloud API: the webhook handshake, signed notifications replayed in the shapes
//! Meta documents (text, image, location, statuses), and answers sent to a local stand-in
//! for the Graph API that checks the request format and answers as Meta does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use switchboard::desk::Role;

use crate::support::eventually as until;
use crate::support::{Api, Engine, TestApp};

const ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBAKZCtestaccesstoken0123456789";
const APP_SECRET: &str = "4f1a9c0e2b7d4e6f8a1b3c5d7e9f0a2b";
const PHONE_NUMBER_ID: &str = "106540352242922";
const CUSTOMER: &str = "4917612345678";
const IMAGE: &[u8] = b"\xff\xd8\xff\xe0 whatsapp jpeg";

#[derive(Default)]
struct Seen {
    sends: Vec<Value>,
    failures: VecDeque<(u16, Value)>,
    base: String,
}

#[derive(Clone)]
struct Fake(Arc<Mutex<Seen>>);

fn answer(status: u16, body: Value) -> axum::response::Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {ACCESS_TOKEN}"))
}

fn oauth_error() -> axum::response::Response {
    answer(
        401,
        json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190, "fbtrace_id": "AbCdEf"}}),
    )
}

async fn graph_post(
    State(fake): State<Fake>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    if !authorized(&headers) {
        return oauth_error();
    }
    if path != format!("{PHONE_NUMBER_ID}/messages") {
        return answer(
            400,
            json!({"error": {"message": "Unsupported post request.", "type": "GraphMethodException", "code": 100}}),
        );
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let failure = {
        let mut seen = fake.0.lock().unwrap();
        seen.sends.push(json.clone());
        seen.failures.pop_front()
    };
    if let Some((status, body)) = failure {
        return answer(status, body);
    }
    let well_formed = json["messaging_product"] == "whatsapp"
        && json["type"] == "text"
        && json["to"]
            .as_str()
            .is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit()))
        && json["text"]["body"].as_str().is_some_and(|b| !b.is_empty());
    if !well_formed {
        return answer(
            400,
            json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}),
        );
    }
    let n = fake.0.lock().unwrap().sends.len();
    answer(
        200,
        json!({"messaging_product": "whatsapp", "contacts": [{"input": json["to"], "wa_id": json["to"]}], "messages": [{"id": format!("wamid.OUT{n}")}]}),
    )
}

async fn graph_get(
    State(fake): State<Fake>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> axum::response::Response {
    if !authorized(&headers) {
        return oauth_error();
    }
    if path == "media-bytes/IMG1" {
        return IMAGE.to_vec().into_response();
    }
    if path == "IMG1" {
        let base = fake.0.lock().unwrap().base.clone();
        return answer(
            200,
            json!({"messaging_product": "whatsapp", "url": format!("{base}/media-bytes/IMG1"), "mime_type": "image/jpeg", "sha256": "abc", "file_size": IMAGE.len(), "id": "IMG1"}),
        );
    }
    answer(
        404,
        json!({"error": {"message": "Unsupported get request.", "type": "GraphMethodException", "code": 100}}),
    )
}

async fn fake_graph() -> (String, Fake) {
    let fake = Fake(Arc::default());
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::post(graph_post).get(graph_get))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    fake.0.lock().unwrap().base = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, fake)
}

fn notification(value: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
}

fn messages(messages: Value) -> Value {
    notification(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Kim Berger"}, "wa_id": CUSTOMER}],
        "messages": messages,
    }))
}

fn signature(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!(
        "sha256={}",
        switchboard::blobs::hex(&mac.finalize().into_bytes())
    )
}

async fn post(app: &TestApp, body: &Value, signature_of: Option<&str>) -> (u16, Value) {
    let body = body.to_string();
    let mut req = reqwest::Client::new()
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json");
    if let Some(secret) = signature_of {
        req = req.header("x-hub-signature-256", signature(secret, &body));
    }
    crate::support::reply(req.body(body).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_messages_statuses_and_answers() {
    let (base, fake) = fake_graph().await;
    let app = TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_WHATSAPP_API_URL", &base)]).await;
    let desk = app.desk.clone();

    // The handshake needs a number's verify token.
    let verify = |token: &str| {
        format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        )
    };
    assert_eq!(
        reqwest::get(app.url(&verify("anything")))
            .await
            .unwrap()
            .status(),
        403
    );
    let number = desk
        .create_whatsapp_number("Kaffeehaus", PHONE_NUMBER_ID, ACCESS_TOKEN, APP_SECRET)
        .await
        .unwrap();
    let token = number.secrets().verify_token;
    let res = reqwest::get(app.url(&verify(&token))).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "1158201444");
    assert_eq!(
        reqwest::get(app.url(&verify("wrong")))
            .await
            .unwrap()
            .status(),
        403
    );

    // A text: forged, unsigned and malformed refused; stored once however often it comes.
    let now = chrono::Utc::now().timestamp().to_string();
    let text = messages(
        json!([{"from": CUSTOMER, "id": "wamid.HBgLNDkxNzYxMjM0NTY3OBUCABIYFjNFQjA", "timestamp": now, "type": "text", "text": {"body": "Ist die Mühle lieferbar?"}}]),
    );
    assert_eq!(post(&app, &text, Some("not the app secret")).await.0, 401);
    assert_eq!(post(&app, &text, None).await.0, 401);
    let res = reqwest::Client::new()
        .post(app.url("/webhooks/whatsapp"))
        .header("x-hub-signature-256", signature(APP_SECRET, "{"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        desk.list_tickets(&Default::default(), None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let (s, b) = post(&app, &text, Some(APP_SECRET)).await;
    assert_eq!((s, b["messages"].as_i64()), (200, Some(1)), "{b}");
    assert_eq!(post(&app, &text, Some(APP_SECRET)).await.0, 200);
    let tickets = desk
        .list_tickets(&Default::default(), None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!(
        (t.channel.as_str(), t.channel_id),
        ("whatsapp", Some(number.channel.id))
    );
    let contact = desk.contact_detail(t.contact_id).await.unwrap();
    assert_eq!(contact.contact.name.as_deref(), Some("Kim Berger"));
    assert!(
        contact
            .identities
            .iter()
            .any(|i| i.kind == "phone" && i.value == "+4917612345678")
    );

    // An image with a caption (fetched from the Graph API) and a location: same ticket.
    let media = messages(json!([
        {"from": CUSTOMER, "id": "wamid.IMG", "timestamp": now, "type": "image", "image": {"caption": "Das Typenschild", "mime_type": "image/jpeg", "sha256": "abc", "id": "IMG1"}},
        {"from": CUSTOMER, "id": "wamid.LOC", "timestamp": now, "type": "location", "location": {"latitude": 52.52, "longitude": 13.405, "name": "Laden Mitte", "address": "Torstraße 1, Berlin"}}
    ]));
    let (s, b) = post(&app, &media, Some(APP_SECRET)).await;
    assert_eq!((s, b["messages"].as_i64()), (200, Some(2)), "{b}");
    let view = desk.ticket_detail(t.id).await.unwrap();
    let image = view
        .messages
        .iter()
        .find(|m| m.message.text == "Das Typenschild")
        .unwrap();
    assert_eq!(
        desk.blobs
            .get(&image.attachments[0].sha256)
            .await
            .unwrap()
            .unwrap(),
        IMAGE
    );
    assert!(
        view.messages
            .iter()
            .any(|m| m.message.text.contains("Torstraße 1") && m.message.text.contains("52.52"))
    );

    // The agent answers: the Graph API gets the documented request; statuses move it on.
    let (_, agent_token) = desk.create_token("console", Role::Agent).await.unwrap();
    let api = Api::new(&app.base, &agent_token);
    let (s, reply) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{}/reply", t.id),
            json!({"text": "Ja, ab morgen."}),
        )
        .await;
    assert_eq!(s, 201, "{reply}");
    let reply_id = reply["id"].as_i64().unwrap();
    let sent = until("the answer sent", || {
        let desk = desk.clone();
        async move {
            desk.message(reply_id)
                .await
                .ok()
                .filter(|m| m.delivery_status == "sent")
        }
    })
    .await;
    let wamid = sent
        .external_id
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_owned();
    {
        let seen = fake.0.lock().unwrap();
        let body = seen.sends.last().unwrap();
        assert_eq!(body["to"], CUSTOMER);
        assert_eq!(body["recipient_type"], "individual");
        assert_eq!(body["text"]["body"], "Ja, ab morgen.");
    }
    let status = |s: &str| {
        notification(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [{"id": wamid, "status": s, "timestamp": now, "recipient_id": CUSTOMER}]
        }))
    };
    assert_eq!(
        post(&app, &status("delivered"), Some(APP_SECRET)).await.0,
        200
    );
    assert_eq!(
        desk.message(reply_id).await.unwrap().delivery_status,
        "delivered"
    );
    // Out of order: a late "sent" does not undo "delivered"; "read" moves it on.
    assert_eq!(post(&app, &status("sent"), Some(APP_SECRET)).await.0, 200);
    assert_eq!(
        desk.message(reply_id).await.unwrap().delivery_status,
        "delivered"
    );
    assert_eq!(post(&app, &status("read"), Some(APP_SECRET)).await.0, 200);
    assert_eq!(
        desk.message(reply_id).await.unwrap().delivery_status,
        "read"
    );

    // Meta's own "window closed" error fails the answer with words an agent understands;
    // a server error is retried.
    fake.0.lock().unwrap().failures.extend([
        (500, json!({"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}})),
        (400, json!({"error": {"message": "Re-engagement message", "type": "OAuthException", "code": 131047, "error_data": {"details": "More than 24 hours have passed since the recipient last replied"}}})),
    ]);
    let (_, reply) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{}/reply", t.id),
            json!({"text": "Noch Fragen?"}),
        )
        .await;
    let reply_id = reply["id"].as_i64().unwrap();
    let failed = until("the answer failed", || {
        let desk = desk.clone();
        async move {
            desk.message(reply_id)
                .await
                .ok()
                .filter(|m| m.delivery_status == "failed")
        }
    })
    .await;
    assert!(
        failed.delivery_error.unwrap().contains("template"),
        "a template is needed"
    );

    // A customer silent for more than 24 hours: the desk refuses a free-form answer.
    let old = (chrono::Utc::now() - chrono::Duration::hours(30))
        .timestamp()
        .to_string();
    let late = messages(
        json!([{"from": "4915112345678", "id": "wamid.OLD", "timestamp": old, "type": "text", "text": {"body": "Hallo?"}}]),
    );
    assert_eq!(post(&app, &late, Some(APP_SECRET)).await.0, 200);
    let tickets = desk
        .list_tickets(&Default::default(), None, 10)
        .await
        .unwrap()
        .items;
    let old_ticket = tickets.iter().find(|x| x.id != t.id).unwrap();
    let (s, b) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{}/reply", old_ticket.id),
            json!({"text": "Hallo!"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("whatsapp_window")),
        "{b}"
    );
    app.stop().await;
}
