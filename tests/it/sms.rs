//! SMS through Twilio: webhooks in the shape Twilio's documentation gives (form-encoded,
//! signed with `X-Twilio-Signature`, the signature computed here from the documented
//! algorithm), and answers sent to a local stand-in for Twilio's REST API that checks each
//! request's format (path, Basic auth, form fields) and answers as Twilio does (including
//! its errors). MMS media are fetched from the stand-in, which redirects to another host
//! as Twilio does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use switchboard::desk::tickets::ReplyInput;
use switchboard::desk::{Actor, Role};

use crate::support::eventually as until;
use crate::support::{Engine, ORIGIN, TestApp};

const SID: &str = "AC3f9a1c2b4d5e6f708192a3b4c5d6e7f8";
const TOKEN: &str = "9b1e2d3c4f5a60718293a4b5c6d7e8f9";
/// Our Twilio number, as an admin types it, and in E.164.
const NUMBER: &str = "+49 30 1234567";
const NUMBER_E164: &str = "+49301234567";
/// The customer's mobile.
const CUSTOMER: &str = "+4915123456789";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a small jpeg from an MMS";
const TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// One request the stand-in took at the Messages resource.
#[derive(Clone, Debug)]
struct Sent {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
}

impl Sent {
    fn get(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the stand-in saw and what it should answer next.
#[derive(Default)]
struct Seen {
    sent: Vec<Sent>,
    /// `Authorization` of each media request, at Twilio and at the CDN it redirects to.
    media_auth: Vec<Option<String>>,
    cdn_auth: Vec<Option<String>>,
    failures: VecDeque<(u16, Value)>,
    /// The CDN's address: the same server under another host name.
    cdn: String,
}

#[derive(Clone)]
struct Fake(Arc<Mutex<Seen>>);

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    )
}

fn twilio_error(status: u16, code: i64, message: &str) -> axum::response::Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status
        })),
    )
        .into_response()
}

fn header_of(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, as Twilio documents it.
async fn create_message(
    State(fake): State<Fake>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let sent = Sent {
        path: format!("/2010-04-01/Accounts/{account}/Messages.json"),
        authorization: header_of(&headers, header::AUTHORIZATION),
        content_type: header_of(&headers, header::CONTENT_TYPE),
        form,
    };
    let (failure, n) = {
        let mut seen = fake.0.lock().unwrap();
        seen.sent.push(sent.clone());
        (seen.failures.pop_front(), seen.sent.len())
    };
    if let Some((status, body)) = failure {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    if account != SID || sent.authorization.as_deref() != Some(basic().as_str()) {
        return twilio_error(401, 20003, "Authenticate");
    }
    if sent.content_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return twilio_error(400, 20001, "Unsupported content type");
    }
    for (k, _) in &sent.form {
        if !["To", "From", "Body", "StatusCallback"].contains(&k.as_str()) {
            return twilio_error(400, 20001, &format!("Unknown parameter {k}"));
        }
    }
    let (Some(to), Some(from)) = (sent.get("To"), sent.get("From")) else {
        return twilio_error(400, 21604, "A 'To' phone number is required.");
    };
    let text = sent.get("Body").unwrap_or_default();
    if text.is_empty() {
        return twilio_error(400, 21602, "Message body is required.");
    }
    if text.encode_utf16().count() > 1600 {
        return twilio_error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let sid = format!("SM{n:032x}");
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": text,
            "date_created": "Thu, 27 Nov 2025 10:00:00 +0000",
            "date_sent": null,
            "date_updated": "Thu, 27 Nov 2025 10:00:00 +0000",
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": from,
            "messaging_service_sid": null,
            "num_media": "0",
            "num_segments": "1",
            "price": null,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}/Media.json")},
            "to": to,
            "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json")
        })),
    )
        .into_response()
}

/// A media file of an incoming MMS: Twilio redirects to its CDN.
async fn media(
    State(fake): State<Fake>,
    Path((account, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> axum::response::Response {
    let auth = header_of(&headers, header::AUTHORIZATION);
    let cdn = {
        let mut seen = fake.0.lock().unwrap();
        seen.media_auth.push(auth.clone());
        seen.cdn.clone()
    };
    if account != SID || auth.as_deref() != Some(basic().as_str()) {
        return twilio_error(401, 20003, "Authenticate");
    }
    if media == "ME5005005005005005005005005005005005" {
        return twilio_error(500, 20500, "Internal Server Error");
    }
    if media != "ME0a1b2c3d4e5f60718293a4b5c6d7e8f9" {
        return twilio_error(404, 20404, "The requested resource was not found");
    }
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, format!("{cdn}/cdn/{media}.jpg"))],
    )
        .into_response()
}

async fn cdn(State(fake): State<Fake>, headers: HeaderMap) -> axum::response::Response {
    fake.0
        .lock()
        .unwrap()
        .cdn_auth
        .push(header_of(&headers, header::AUTHORIZATION));
    ([(header::CONTENT_TYPE, "image/jpeg")], PHOTO.to_vec()).into_response()
}

/// The stand-in Twilio on a free port; returns its base URL.
async fn fake_twilio() -> (String, Fake) {
    let fake = Fake(Arc::default());
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            axum::routing::post(create_message),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}",
            axum::routing::get(media),
        )
        .route("/cdn/{file}", axum::routing::get(cdn))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    fake.0.lock().unwrap().cdn = format!("http://localhost:{port}");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{port}"), fake)
}

/// Twilio's documented signature: base64(HMAC-SHA1(auth token, URL + each POST
/// parameter sorted by name, name and value concatenated)).
fn sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An incoming SMS as Twilio's messaging webhook documents it.
fn incoming(message_sid: &str, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ToCountry", "DE".into()),
        ("ToState", "".into()),
        ("SmsMessageSid", message_sid.into()),
        ("NumMedia", "0".into()),
        ("ToCity", "Berlin".into()),
        ("FromZip", "".into()),
        ("SmsSid", message_sid.into()),
        ("FromState", "".into()),
        ("SmsStatus", "received".into()),
        ("FromCity", "".into()),
        ("Body", body.into()),
        ("FromCountry", "DE".into()),
        ("To", NUMBER_E164.into()),
        ("ToZip", "".into()),
        ("NumSegments", "1".into()),
        ("MessageSid", message_sid.into()),
        ("AccountSid", SID.into()),
        ("From", CUSTOMER.into()),
        ("ApiVersion", "2010-04-01".into()),
    ]
}

/// A status callback as Twilio documents it.
fn status_callback(
    message_sid: &str,
    status: &str,
    error: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("SmsSid", message_sid.to_owned()),
        ("SmsStatus", status.to_owned()),
        ("MessageStatus", status.to_owned()),
        ("To", CUSTOMER.to_owned()),
        ("MessageSid", message_sid.to_owned()),
        ("AccountSid", SID.to_owned()),
        ("From", NUMBER_E164.to_owned()),
        ("ApiVersion", "2010-04-01".to_owned()),
    ];
    if let Some(code) = error {
        p.push(("ErrorCode", code.to_owned()));
    }
    p
}

enum Signature<'a> {
    /// Signed with this token over the desk's public URL.
    With(&'a str),
    Header(&'a str),
    Missing,
}

/// Posts a webhook to the desk; the signature is over the public URL
/// (`SWITCHBOARD_PUBLIC_URL` + path), not the address the request goes to.
async fn post(
    app: &TestApp,
    path: &str,
    params: &[(&str, String)],
    signature: Signature<'_>,
) -> (u16, String, String) {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut req = reqwest::Client::new()
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "i-twilio-idempotency-token",
            "e0e4c1d4-6f7b-4f0e-9d0a-1b2c3d4e5f60",
        )
        .body(serde_urlencoded::to_string(&pairs).unwrap());
    match signature {
        Signature::With(token) => {
            req = req.header(
                "x-twilio-signature",
                sign(token, &format!("{ORIGIN}{path}"), &pairs),
            )
        }
        Signature::Header(h) => req = req.header("x-twilio-signature", h),
        Signature::Missing => {}
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, res.text().await.unwrap())
}

async fn status_of(
    desk: &switchboard::desk::Desk,
    id: i64,
    status: &'static str,
) -> entity::message::Model {
    until(&format!("message {id} {status}"), || {
        let desk = desk.clone();
        async move {
            desk.message(id)
                .await
                .ok()
                .filter(|m| m.delivery_status == status)
        }
    })
    .await
}

fn answer(text: &str) -> ReplyInput {
    ReplyInput {
        text: text.into(),
        html: None,
        status: None,
        attachments: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_numbers_are_checked() {
    let app = TestApp::start(Engine::Sqlite).await;
    let desk = &app.desk;
    for (number, sid, token, field) in [
        ("hello", SID, TOKEN, "phone_number"),
        (NUMBER, "AC123", TOKEN, "account_sid"),
        (
            NUMBER,
            "SK3f9a1c2b4d5e6f708192a3b4c5d6e7f8",
            TOKEN,
            "account_sid",
        ),
        (NUMBER, SID, "not-a-token", "auth_token"),
        (
            NUMBER,
            SID,
            "9b1e2d3c4f5a60718293a4b5c6d7e8fz",
            "auth_token",
        ),
    ] {
        match desk.create_sms_number("Shop SMS", number, sid, token).await {
            Err(switchboard::desk::Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{number} {sid} {token}: {other:?}"),
        }
    }
    // A number without a country code is read in the default region (DE).
    let n = desk
        .create_sms_number("Shop SMS", "030 1234567", SID, TOKEN)
        .await
        .unwrap();
    assert_eq!(n.settings.phone_number, NUMBER_E164);
    assert!(matches!(
        desk.create_sms_number("Again", NUMBER, SID, TOKEN).await,
        Err(switchboard::desk::Error::Conflict { .. })
    ));
    // The secrets never show: not serialized, not in Debug.
    let shown = format!(
        "{n:?} {:?} {}",
        n.secrets(),
        serde_json::to_string(&n.channel).unwrap()
    );
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(desk.sms_number(n.channel.id).await.unwrap().is_some());
    assert!(desk.sms_number(n.channel.id + 1).await.unwrap().is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_become_tickets_and_answers_go_back() {
    let (base, fake) = fake_twilio().await;
    let app = TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_TWILIO_API_URL", &base)]).await;
    let desk = app.desk.clone();
    let number = desk
        .create_sms_number("Shop SMS", NUMBER, SID, TOKEN)
        .await
        .unwrap();
    let id = number.channel.id;
    let hook = format!("/webhooks/twilio/{id}");
    let no_tickets = || async {
        desk.list_tickets(&Default::default(), None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    };

    // Forged, missing, signed for another URL, unknown number, malformed: refused, nothing
    // stored.
    let sms = incoming(
        "SM1f0e2d3c4b5a69788796a5b4c3d2e1f0",
        "Wo bleibt meine Bestellung 4711?",
    );
    assert_eq!(
        post(&app, &hook, &sms, Signature::Header("bm90IGEgc2lnbmF0dXJl"))
            .await
            .0,
        401
    );
    assert_eq!(post(&app, &hook, &sms, Signature::Missing).await.0, 401);
    assert_eq!(
        post(
            &app,
            &hook,
            &sms,
            Signature::With("00000000000000000000000000000000")
        )
        .await
        .0,
        401
    );
    let pairs: Vec<(&str, &str)> = sms.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wrong_url = sign(TOKEN, &format!("{}{hook}", app.base), &pairs);
    assert_eq!(
        post(&app, &hook, &sms, Signature::Header(&wrong_url))
            .await
            .0,
        401
    );
    assert_eq!(
        post(&app, "/webhooks/twilio/999", &sms, Signature::With(TOKEN))
            .await
            .0,
        404
    );
    let no_sid: Vec<_> = sms
        .iter()
        .filter(|(k, _)| *k != "MessageSid")
        .cloned()
        .collect();
    assert_eq!(
        post(&app, &hook, &no_sid, Signature::With(TOKEN)).await.0,
        400
    );
    let mut bad_media = sms.clone();
    bad_media.retain(|(k, _)| *k != "NumMedia");
    bad_media.push(("NumMedia", "many".into()));
    assert_eq!(
        post(&app, &hook, &bad_media, Signature::With(TOKEN))
            .await
            .0,
        400
    );
    let json_body = reqwest::Client::new()
        .post(app.url(&hook))
        .header("content-type", "application/json")
        .header(
            "x-twilio-signature",
            sign(TOKEN, &format!("{ORIGIN}{hook}"), &[]),
        )
        .body("{\"MessageSid\": \"SM1\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status().as_u16(), 400);
    assert!(no_tickets().await);

    // Stored once, however often Twilio sends it; answered with empty TwiML.
    let (s, content_type, body) = post(&app, &hook, &sms, Signature::With(TOKEN)).await;
    assert_eq!((s, body.as_str()), (200, TWIML));
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert_eq!(post(&app, &hook, &sms, Signature::With(TOKEN)).await.0, 200);
    // Twilio may sign the URL with the standard port spelled out.
    let with_port = sign(TOKEN, &format!("{ORIGIN}:80{hook}"), &pairs);
    assert_eq!(
        post(&app, &hook, &sms, Signature::Header(&with_port))
            .await
            .0,
        200
    );
    let tickets = desk
        .list_tickets(&Default::default(), None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!((t.channel.as_str(), t.channel_id), ("sms", Some(id)));
    let view = desk.ticket_detail(t.id).await.unwrap();
    assert_eq!(view.messages.len(), 1);
    let first = &view.messages[0].message;
    assert_eq!(first.text, "Wo bleibt meine Bestellung 4711?");
    assert_eq!(
        first.external_id.as_deref(),
        Some(format!("{id}:SM1f0e2d3c4b5a69788796a5b4c3d2e1f0").as_str())
    );
    let contact = desk.contact_detail(t.contact_id).await.unwrap();
    assert!(
        contact
            .identities
            .iter()
            .any(|i| i.kind == "phone" && i.value == CUSTOMER),
        "{:?}",
        contact.identities
    );

    // An MMS with a photo: the same conversation; the photo is fetched with the account's
    // credentials, which do not follow the redirect to the CDN.
    let mm = "MM2a3b4c5d6e7f80918273645546372819";
    let mut mms = incoming(mm, "So kam das Paket an");
    mms.retain(|(k, _)| *k != "NumMedia");
    mms.extend([
        ("NumMedia", "1".to_owned()),
        ("MediaContentType0", "image/jpeg".to_owned()),
        (
            "MediaUrl0",
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/{mm}/Media/ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ),
    ]);
    assert_eq!(post(&app, &hook, &mms, Signature::With(TOKEN)).await.0, 200);
    let view = desk.ticket_detail(t.id).await.unwrap();
    let with_photo = view
        .messages
        .iter()
        .find(|m| m.message.text == "So kam das Paket an")
        .expect("the MMS is on the ticket");
    assert_eq!(with_photo.attachments.len(), 1);
    let a = &with_photo.attachments[0];
    assert_eq!(
        (a.filename.as_str(), a.content_type.as_str()),
        ("media-1.jpg", "image/jpeg")
    );
    assert_eq!(desk.blobs.get(&a.sha256).await.unwrap().unwrap(), PHOTO);
    {
        let seen = fake.0.lock().unwrap();
        assert_eq!(seen.media_auth, vec![Some(basic())]);
        assert_eq!(seen.cdn_auth, vec![None]);
    }
    // A media URL of another account is not fetched with ours: the message says so.
    let mut foreign = incoming("MM9f8e7d6c5b4a39281706f5e4d3c2b1a0", "");
    foreign.retain(|(k, _)| *k != "NumMedia");
    foreign.extend([
        ("NumMedia", "1".to_owned()),
        ("MediaContentType0", "image/png".to_owned()),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/MM9f8e7d6c5b4a39281706f5e4d3c2b1a0/Media/ME1".to_owned(),
        ),
    ]);
    assert_eq!(
        post(&app, &hook, &foreign, Signature::With(TOKEN)).await.0,
        200
    );
    let view = desk.ticket_detail(t.id).await.unwrap();
    assert!(
        view.messages.iter().any(|m| m
            .message
            .text
            .contains("media-1.png (image/png) could not be fetched from Twilio")),
        "{:#?}",
        view.messages
    );
    assert_eq!(fake.0.lock().unwrap().media_auth.len(), 1);

    // Twilio cannot give the file now: 503, nothing stored, so it can be sent again.
    let mut later = incoming("MM7e6d5c4b3a29180f7e6d5c4b3a291807", "");
    later.retain(|(k, _)| *k != "NumMedia");
    later.extend([
        ("NumMedia", "1".to_owned()),
        ("MediaContentType0", "image/jpeg".to_owned()),
        (
            "MediaUrl0",
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM7e6d5c4b3a29180f7e6d5c4b3a291807/Media/ME5005005005005005005005005005005005"),
        ),
    ]);
    let messages_before = desk.ticket_detail(t.id).await.unwrap().messages.len();
    assert_eq!(
        post(&app, &hook, &later, Signature::With(TOKEN)).await.0,
        503
    );
    assert_eq!(
        desk.ticket_detail(t.id).await.unwrap().messages.len(),
        messages_before
    );
    // Senders that are no phone number (an alphanumeric sender id) and other channels'
    // senders: acknowledged, not stored.
    let mut alpha = incoming("SM0000000000000000000000000000aaaa", "Ihr Code: 1234");
    alpha.retain(|(k, _)| *k != "From");
    alpha.push(("From", "PAKETDIENST".to_owned()));
    let mut whatsapp = incoming("SM0000000000000000000000000000bbbb", "Hallo");
    whatsapp.retain(|(k, _)| *k != "From");
    whatsapp.push(("From", format!("whatsapp:{CUSTOMER}")));
    for p in [alpha, whatsapp] {
        let (s, _, body) = post(&app, &hook, &p, Signature::With(TOKEN)).await;
        assert_eq!((s, body.as_str()), (200, TWIML));
    }
    assert_eq!(
        desk.ticket_detail(t.id).await.unwrap().messages.len(),
        messages_before
    );
    assert_eq!(
        desk.list_tickets(&Default::default(), None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // An agent answers: one message at Twilio's Messages resource, in Twilio's format,
    // marked sent and remembering Twilio's SID.
    let (agent, _) = desk.create_token("t", Role::Agent).await.unwrap();
    let reply = desk
        .reply(
            t.id,
            Actor::Token(agent.id),
            &answer("Ihr Paket ist unterwegs."),
        )
        .await
        .unwrap();
    let sent = status_of(&desk, reply.id, "sent").await;
    let request = fake.0.lock().unwrap().sent.last().unwrap().clone();
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(request.authorization, Some(basic()));
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let status_url = format!("{ORIGIN}/webhooks/twilio/{id}/status");
    let mut fields = request.form.clone();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            ("Body".to_owned(), "Ihr Paket ist unterwegs.".to_owned()),
            ("From".to_owned(), NUMBER_E164.to_owned()),
            ("StatusCallback".to_owned(), status_url.clone()),
            ("To".to_owned(), CUSTOMER.to_owned()),
        ]
    );
    let twilio_sid = format!("SM{:032x}", fake.0.lock().unwrap().sent.len());
    assert_eq!(sent.external_id, Some(format!("{id}:{twilio_sid}")));

    // Status callbacks: a forged one changes nothing; sent → delivered; a late "sent" and
    // a late "undelivered" do not undo it.
    let status_path = format!("/webhooks/twilio/{id}/status");
    let delivered = status_callback(&twilio_sid, "delivered", None);
    assert_eq!(
        post(
            &app,
            &status_path,
            &delivered,
            Signature::With("0123456789abcdef0123456789abcdef")
        )
        .await
        .0,
        401
    );
    assert_eq!(
        desk.message(reply.id).await.unwrap().delivery_status,
        "sent"
    );
    let (s, _, body) = post(
        &app,
        &status_path,
        &status_callback(&twilio_sid, "sent", None),
        Signature::With(TOKEN),
    )
    .await;
    assert_eq!((s, body.as_str()), (200, TWIML));
    assert_eq!(
        post(&app, &status_path, &delivered, Signature::With(TOKEN))
            .await
            .0,
        200
    );
    assert_eq!(
        desk.message(reply.id).await.unwrap().delivery_status,
        "delivered"
    );
    assert_eq!(
        post(
            &app,
            &status_path,
            &status_callback(&twilio_sid, "sent", None),
            Signature::With(TOKEN)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &app,
            &status_path,
            &status_callback(&twilio_sid, "undelivered", Some("30003")),
            Signature::With(TOKEN)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        desk.message(reply.id).await.unwrap().delivery_status,
        "delivered"
    );
    // A report on a message we do not know, and one without a status: acknowledged / 400.
    assert_eq!(
        post(
            &app,
            &status_path,
            &status_callback("SMffffffffffffffffffffffffffffffff", "delivered", None),
            Signature::With(TOKEN)
        )
        .await
        .0,
        200
    );
    let no_status: Vec<_> = delivered
        .iter()
        .filter(|(k, _)| !k.ends_with("Status"))
        .cloned()
        .collect();
    assert_eq!(
        post(&app, &status_path, &no_status, Signature::With(TOKEN))
            .await
            .0,
        400
    );

    // Out of order: "delivered" arrives before "sent"; it stays delivered.
    let reply = desk
        .reply(t.id, Actor::Token(agent.id), &answer("Noch eine Frage?"))
        .await
        .unwrap();
    let sent = status_of(&desk, reply.id, "sent").await;
    let sid2 = sent
        .external_id
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_owned();
    assert_eq!(
        post(
            &app,
            &status_path,
            &status_callback(&sid2, "delivered", None),
            Signature::With(TOKEN)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &app,
            &status_path,
            &status_callback(&sid2, "sent", None),
            Signature::With(TOKEN)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        desk.message(reply.id).await.unwrap().delivery_status,
        "delivered"
    );

    // A carrier that cannot deliver: failed, with Twilio's code.
    let reply = desk
        .reply(t.id, Actor::Token(agent.id), &answer("Hallo?"))
        .await
        .unwrap();
    let sent = status_of(&desk, reply.id, "sent").await;
    let sid3 = sent
        .external_id
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_owned();
    assert_eq!(
        post(
            &app,
            &status_path,
            &status_callback(&sid3, "undelivered", Some("30003")),
            Signature::With(TOKEN)
        )
        .await
        .0,
        200
    );
    let failed = desk.message(reply.id).await.unwrap();
    assert_eq!(failed.delivery_status, "failed");
    assert!(failed.delivery_error.unwrap().contains("30003"));

    // Twilio's rate limit and a server error: retried until it goes out.
    let before = fake.0.lock().unwrap().sent.len();
    fake.0.lock().unwrap().failures.extend([
        (429, json!({"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429})),
        (500, json!({"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500})),
    ]);
    let reply = desk
        .reply(
            t.id,
            Actor::Token(agent.id),
            &answer("Wir melden uns morgen."),
        )
        .await
        .unwrap();
    status_of(&desk, reply.id, "sent").await;
    assert_eq!(fake.0.lock().unwrap().sent.len(), before + 3);

    // A number Twilio refuses: failed for good, with Twilio's words.
    fake.0.lock().unwrap().failures.push_back((
        400,
        json!({"code": 21211, "message": "The 'To' number is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}),
    ));
    let before = fake.0.lock().unwrap().sent.len();
    let reply = desk
        .reply(t.id, Actor::Token(agent.id), &answer("Sind Sie noch da?"))
        .await
        .unwrap();
    let failed = status_of(&desk, reply.id, "failed").await;
    assert_eq!(
        failed.delivery_error.as_deref(),
        Some("Twilio error 21211: The 'To' number is not a valid phone number.")
    );
    assert_eq!(fake.0.lock().unwrap().sent.len(), before + 1);

    // A long answer goes out in parts Twilio takes; the message follows the last one.
    let long = "Sehr geehrte Kundin, ".repeat(100);
    let before = fake.0.lock().unwrap().sent.len();
    let reply = desk
        .reply(t.id, Actor::Token(agent.id), &answer(&long))
        .await
        .unwrap();
    let sent = status_of(&desk, reply.id, "sent").await;
    let parts: Vec<Sent> = fake.0.lock().unwrap().sent[before..].to_vec();
    assert_eq!(parts.len(), 2);
    assert!(
        parts
            .iter()
            .all(|p| p.get("Body").unwrap().chars().count() <= 1600)
    );
    assert_eq!(
        parts
            .iter()
            .map(|p| p.get("Body").unwrap())
            .collect::<String>(),
        sent.text
    );
    assert_eq!(
        sent.external_id,
        Some(format!("{id}:SM{:032x}", before + 2))
    );

    // No credential ever reaches a ticket's history or a stored error.
    let view = desk.ticket_detail(t.id).await.unwrap();
    let all = serde_json::to_string(&view).unwrap();
    assert!(!all.contains(TOKEN));
    app.stop().await;
}

/// `switchboard channel sms` stores the number and prints the URLs to enter at Twilio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_an_sms_number() {
    let dir = tempfile::tempdir().unwrap();
    let run = |token: &'static str| {
        let data = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .args([
                    "channel",
                    "sms",
                    "--name",
                    "Shop SMS",
                    "--number",
                    NUMBER,
                    "--account-sid",
                    SID,
                ])
                .env_clear()
                .env("SWITCHBOARD_DATA_DIR", &data)
                .env("SWITCHBOARD_PUBLIC_URL", "https://desk.example")
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
                .write_all(format!("{token}\n").as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
    };
    let out = run("not a token").await.unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("auth_token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(TOKEN).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("sms number 1 (Shop SMS, {NUMBER_E164})")),
        "{stdout}"
    );
    assert!(
        stdout.contains("webhook URL (\"A message comes in\", HTTP POST): https://desk.example/webhooks/twilio/1\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("status callback URL (sent with every message): https://desk.example/webhooks/twilio/1/status\n"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));
}
