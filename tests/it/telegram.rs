//! Telegram: the Bot API's documented update payloads replayed through the webhook, and
//! answers sent to a local stand-in for the Bot API that checks each request's format and
//! answers as Telegram does (including its errors).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use switchboard::desk::tickets::ReplyInput;
use switchboard::desk::{Actor, Role};

use crate::support::eventually as until;
use crate::support::{Engine, TestApp};

const TOKEN: &str = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";
const OTHER_TOKEN: &str = "987654321:AAG3xYzPq8LmN4oR7sT1uV6wX9yZ2aB5cD0";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a small jpeg";

/// What the stand-in saw and what it should answer next.
#[derive(Default)]
struct Seen {
    calls: Vec<(String, Value)>,
    failures: VecDeque<(u16, Value)>,
}

#[derive(Clone)]
struct Fake(Arc<Mutex<Seen>>);

fn answer(status: u16, body: Value) -> axum::response::Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn bot_api(
    State(fake): State<Fake>,
    Path(path): Path<String>,
    body: Bytes,
) -> axum::response::Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let failure = {
        let mut seen = fake.0.lock().unwrap();
        seen.calls.push((path.clone(), json.clone()));
        if path.ends_with("/sendMessage") {
            seen.failures.pop_front()
        } else {
            None
        }
    };
    if let Some((status, body)) = failure {
        return answer(status, body);
    }
    let unauthorized = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
    if let Some(file) = path.strip_prefix("file/") {
        return if file == format!("bot{TOKEN}/photos/file_7.jpg") {
            PHOTO.to_vec().into_response()
        } else {
            answer(
                404,
                json!({"ok": false, "error_code": 404, "description": "Not Found"}),
            )
        };
    }
    let Some((token, method)) = path.strip_prefix("bot").and_then(|p| p.split_once('/')) else {
        return answer(
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        );
    };
    if token != TOKEN && token != OTHER_TOKEN {
        return answer(401, unauthorized);
    }
    match method {
        "sendMessage" => {
            let chat = json["chat_id"]
                .as_str()
                .map(str::to_owned)
                .or(json["chat_id"].as_i64().map(|i| i.to_string()));
            let text = json["text"].as_str().unwrap_or("");
            if chat.is_none() || text.is_empty() || text.chars().count() > 4096 {
                return answer(
                    400,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"}),
                );
            }
            answer(
                200,
                json!({"ok": true, "result": {
                    "message_id": 500, "date": 1_764_230_400,
                    "chat": {"id": chat.unwrap().parse::<i64>().unwrap(), "type": "private"},
                    "text": text
                }}),
            )
        }
        "getFile" => {
            if json["file_id"] == "AgACAgIAAxkBAAIBQ2big" {
                answer(
                    200,
                    json!({"ok": true, "result": {"file_id": "AgACAgIAAxkBAAIBQ2big", "file_unique_id": "AQADbig", "file_size": PHOTO.len(), "file_path": "photos/file_7.jpg"}}),
                )
            } else {
                answer(
                    400,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid file_id"}),
                )
            }
        }
        "setWebhook" => {
            if json["url"].as_str().is_some_and(|u| u.starts_with("http"))
                && json["secret_token"].as_str().is_some_and(|s| !s.is_empty())
            {
                answer(
                    200,
                    json!({"ok": true, "result": true, "description": "Webhook was set"}),
                )
            } else {
                answer(
                    400,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: bad webhook"}),
                )
            }
        }
        _ => answer(
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        ),
    }
}

/// The stand-in Bot API on a free port; returns its base URL.
async fn fake_telegram() -> (String, Fake) {
    let fake = Fake(Arc::default());
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::any(bot_api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, fake)
}

/// A private text message as the Bot API documents an Update.
fn text_update(update_id: i64, user: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": 42,
            "from": {"id": user, "is_bot": false, "first_name": "Lena", "last_name": "Vogel", "username": "lenav", "language_code": "de"},
            "chat": {"id": user, "first_name": "Lena", "last_name": "Vogel", "username": "lenav", "type": "private"},
            "date": 1_764_230_000,
            "text": text
        }
    })
}

async fn post(
    app: &TestApp,
    bot: i64,
    secret: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/telegram/{bot}")))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = secret {
        req = req.header("x-telegram-bot-api-secret-token", s);
    }
    crate::support::reply(req.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_updates_become_tickets_and_answers_go_back() {
    let (base, fake) = fake_telegram().await;
    let app = TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_TELEGRAM_API_URL", &base)]).await;
    let desk = app.desk.clone();
    let bot = desk.create_telegram_bot("Shop bot", TOKEN).await.unwrap();
    let id = bot.channel.id;
    let secret = bot.secrets().webhook_secret;

    // Forged, missing, unknown bot, malformed: refused, nothing stored.
    let update = text_update(1001, 111, "Wo ist meine Bestellung 4711?").to_string();
    assert_eq!(post(&app, id, Some("forged"), update.clone()).await.0, 401);
    assert_eq!(post(&app, id, None, update.clone()).await.0, 401);
    assert_eq!(post(&app, 999, Some(&secret), update.clone()).await.0, 404);
    assert_eq!(
        post(&app, id, Some(&secret), "{\"update_id\": \"x\"")
            .await
            .0,
        400
    );
    assert!(
        desk.list_tickets(&Default::default(), None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Stored once, however often Telegram sends it.
    let (s, first) = post(&app, id, Some(&secret), update.clone()).await;
    assert_eq!((s, first["stored"].as_bool()), (200, Some(true)), "{first}");
    let (s, again) = post(&app, id, Some(&secret), update.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(again["message_id"], first["message_id"]);
    let ticket_id = first["ticket_id"].as_i64().unwrap();
    let t = desk.ticket(ticket_id).await.unwrap();
    assert_eq!((t.channel.as_str(), t.channel_id), ("telegram", Some(id)));
    let contact = desk.contact_detail(t.contact_id).await.unwrap();
    assert_eq!(contact.contact.name.as_deref(), Some("Lena Vogel"));
    assert!(
        contact
            .identities
            .iter()
            .any(|i| i.kind == "telegram" && i.value == "111")
    );

    // A photo with a caption, a location: the same conversation; the photo is fetched.
    let photo = json!({"update_id": 1002, "message": {"message_id": 43, "date": 1_764_230_100,
        "from": {"id": 111, "is_bot": false, "first_name": "Lena"}, "chat": {"id": 111, "type": "private"},
        "caption": "So kam das Paket an",
        "photo": [{"file_id": "AgACAgIAAxkBAAIBQ2small", "file_unique_id": "AQADsmall", "width": 90, "height": 67, "file_size": 1200},
                  {"file_id": "AgACAgIAAxkBAAIBQ2big", "file_unique_id": "AQADbig", "width": 1280, "height": 960, "file_size": 20}]}});
    let (s, b) = post(&app, id, Some(&secret), photo.to_string()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["ticket_id"].as_i64(), Some(ticket_id));
    let location = json!({"update_id": 1003, "message": {"message_id": 44, "date": 1_764_230_200,
        "from": {"id": 111, "is_bot": false, "first_name": "Lena"}, "chat": {"id": 111, "type": "private"},
        "location": {"latitude": 50.9375, "longitude": 6.9603}}});
    assert_eq!(
        post(&app, id, Some(&secret), location.to_string()).await.0,
        200
    );
    let view = desk.ticket_detail(ticket_id).await.unwrap();
    let with_photo = view
        .messages
        .iter()
        .find(|m| m.message.text == "So kam das Paket an")
        .unwrap();
    assert_eq!(with_photo.attachments.len(), 1);
    assert_eq!(
        desk.blobs
            .get(&with_photo.attachments[0].sha256)
            .await
            .unwrap()
            .unwrap(),
        PHOTO
    );
    assert!(
        view.messages
            .iter()
            .any(|m| m.message.text.contains("50.9375"))
    );

    // Not for the desk: a group message, an edit. Acknowledged, not stored.
    let group = json!({"update_id": 1004, "message": {"message_id": 45, "date": 1, "from": {"id": 5, "is_bot": false, "first_name": "G"}, "chat": {"id": -100, "type": "group"}, "text": "hi"}});
    let (s, b) = post(&app, id, Some(&secret), group.to_string()).await;
    assert_eq!((s, b["stored"].as_bool()), (200, Some(false)));
    let edit = json!({"update_id": 1005, "edited_message": {"message_id": 42, "date": 1, "edit_date": 2, "chat": {"id": 111, "type": "private"}, "text": "edited"}});
    assert_eq!(post(&app, id, Some(&secret), edit.to_string()).await.0, 200);
    // A file Telegram cannot give: the message is stored and says so.
    let broken = json!({"update_id": 1006, "message": {"message_id": 46, "date": 1, "from": {"id": 111, "is_bot": false, "first_name": "Lena"}, "chat": {"id": 111, "type": "private"},
        "document": {"file_id": "gone", "file_unique_id": "x", "file_name": "a.pdf", "mime_type": "application/pdf"}}});
    let (s, b) = post(&app, id, Some(&secret), broken.to_string()).await;
    assert_eq!((s, b["stored"].as_bool()), (200, Some(true)), "{b}");
    let m = desk
        .message(b["message_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert!(
        m.text
            .contains("a.pdf (application/pdf) could not be fetched from Telegram"),
        "{}",
        m.text
    );

    // Update ids are per bot: another bot's update 1001 is another message.
    let other = desk
        .create_telegram_bot("Other bot", OTHER_TOKEN)
        .await
        .unwrap();
    let (s, b) = post(
        &app,
        other.channel.id,
        Some(&other.secrets().webhook_secret),
        update.clone(),
    )
    .await;
    assert_eq!(s, 200);
    assert_ne!(b["message_id"], first["message_id"]);

    // An agent answers: sendMessage to Lena's chat, marked sent.
    let (agent, _) = desk.create_token("t", Role::Agent).await.unwrap();
    let reply = desk
        .reply(
            ticket_id,
            Actor::Token(agent.id),
            &ReplyInput {
                text: "Ihr Paket ist unterwegs.".into(),
                html: None,
                status: None,
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    until("the answer sent", || {
        let desk = desk.clone();
        async move {
            desk.message(reply.id)
                .await
                .ok()
                .filter(|m| m.delivery_status == "sent")
        }
    })
    .await;
    {
        let seen = fake.0.lock().unwrap();
        let (path, body) = seen
            .calls
            .iter()
            .rev()
            .find(|(p, _)| p.ends_with("sendMessage"))
            .unwrap();
        assert_eq!(path, &format!("bot{TOKEN}/sendMessage"));
        assert_eq!(body["chat_id"], "111");
        assert_eq!(body["text"], "Ihr Paket ist unterwegs.");
    }

    // Telegram's rate limit: retried; then a blocked bot: failed with Telegram's words.
    fake.0.lock().unwrap().failures.extend([
        (429, json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})),
        (403, json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})),
    ]);
    let reply = desk
        .reply(
            ticket_id,
            Actor::Token(agent.id),
            &ReplyInput {
                text: "Noch da?".into(),
                html: None,
                status: None,
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    let failed = until("the answer failed", || {
        let desk = desk.clone();
        async move {
            desk.message(reply.id)
                .await
                .ok()
                .filter(|m| m.delivery_status == "failed")
        }
    })
    .await;
    assert!(failed.delivery_error.unwrap().contains("bot was blocked"));
    assert!(
        fake.0
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(p, _)| p.ends_with("sendMessage"))
            .count()
            >= 3
    );
    // No token ever reaches a ticket's history or a stored error.
    let view = desk.ticket_detail(ticket_id).await.unwrap();
    assert!(!serde_json::to_string(&view).unwrap().contains(TOKEN));
    app.stop().await;
}

/// `switchboard channel telegram` stores the bot and points its webhook at the desk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_registers_the_webhook() {
    let (base, fake) = fake_telegram().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["channel", "telegram", "--name", "Shop bot"])
            .env_clear()
            .env("SWITCHBOARD_DATA_DIR", &data)
            .env("SWITCHBOARD_PUBLIC_URL", "https://desk.example")
            .env("SWITCHBOARD_TELEGRAM_API_URL", &base)
            .env("SWITCHBOARD_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{TOKEN}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("webhook registered: https://desk.example/webhooks/telegram/1"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));
    let seen = fake.0.lock().unwrap();
    let (path, body) = seen
        .calls
        .iter()
        .find(|(p, _)| p.ends_with("setWebhook"))
        .unwrap();
    assert_eq!(path, &format!("bot{TOKEN}/setWebhook"));
    assert_eq!(body["url"], "https://desk.example/webhooks/telegram/1");
    assert!(body["secret_token"].as_str().unwrap().len() >= 32);
}

/// Admins add every kind of channel over the API; what to enter at the provider comes
/// back once, and a PBX's secret URL never shows again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channels_api_adds_messengers_and_pbxs() {
    let (base, fake) = fake_telegram().await;
    let app = TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_TELEGRAM_API_URL", &base)]).await;
    let (_, admin_token) = app.desk.create_token("admin", Role::Admin).await.unwrap();
    let (_, agent_token) = app.desk.create_token("agent", Role::Agent).await.unwrap();
    let admin = crate::support::Api::new(&app.base, &admin_token);
    let agent = crate::support::Api::new(&app.base, &agent_token);

    let (s, tg) = admin
        .send(
            "POST",
            "/api/v1/channels",
            json!({"kind": "telegram", "name": "Shop bot", "bot_token": TOKEN}),
        )
        .await;
    assert_eq!(s, 201, "{tg}");
    assert_eq!(tg["setup"]["registered"], true, "{tg}");
    let hook = format!("{}/webhooks/telegram/{}", crate::support::ORIGIN, tg["id"]);
    assert_eq!(tg["setup"]["webhook"], hook);
    assert!(
        fake.0
            .lock()
            .unwrap()
            .calls
            .iter()
            .any(|(p, b)| p.ends_with("setWebhook") && b["url"] == hook.as_str())
    );
    assert!(!tg.to_string().contains(TOKEN));
    let (s, b) = admin
        .send(
            "POST",
            "/api/v1/channels",
            json!({"kind": "telegram", "name": "x", "bot_token": "nope"}),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("bot_token")));
    assert_eq!(
        agent
            .send(
                "POST",
                "/api/v1/channels",
                json!({"kind": "telegram", "name": "x", "bot_token": TOKEN})
            )
            .await
            .0,
        403
    );

    let (s, wa) = admin.send("POST", "/api/v1/channels", json!({"kind": "whatsapp", "name": "WA", "phone_number_id": "106540352242922", "access_token": "EAAGm0PX4ZCpsBAKZCtestaccesstoken0123456789", "app_secret": "4f1a9c0e2b7d4e6f8a1b3c5d7e9f0a2b"})).await;
    assert_eq!(s, 201, "{wa}");
    assert!(wa["setup"]["verify_token"].as_str().unwrap().len() >= 24);
    assert!(!wa.to_string().contains("4f1a9c0e2b7d4e6f8a1b3c5d7e9f0a2b"));

    let (s, sms) = admin.send("POST", "/api/v1/channels", json!({"kind": "sms", "name": "SMS", "phone_number": "+4930 9876543", "account_sid": format!("AC{}", "a".repeat(32)), "auth_token": "b".repeat(32)})).await;
    assert_eq!(s, 201, "{sms}");
    assert!(
        sms["setup"]["status_callback"]
            .as_str()
            .unwrap()
            .ends_with("/status")
    );

    let (s, pbx) = admin
        .send(
            "POST",
            "/api/v1/channels",
            json!({"kind": "cti", "name": "PBX", "blocked": ["030 666666"]}),
        )
        .await;
    assert_eq!(s, 201, "{pbx}");
    let url = pbx["setup"]["event_url"].as_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(pbx["key"], "");
    // The URL works, and the list never shows it again.
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/cti/{token}")))
        .json(&json!({"event": "newCall", "direction": "in", "from": "030 666666", "to": "+49301111", "callId": "api-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["action"], "reject");
    let (_, list) = admin.get("/api/v1/channels").await;
    assert!(!list.to_string().contains(&token));
    assert_eq!(list.as_array().unwrap().len(), 4);
    app.stop().await;
}
