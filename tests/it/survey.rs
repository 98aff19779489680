//! Satisfaction surveys: one per resolved ticket and only where wanted (not to machines,
//! not on channels with surveys off), sent in the ticket's channel without moving the
//! ticket, and the public page's signed, single-use links (forged, reused, expired,
//! changed) with hostile comments shown escaped.

use std::sync::{Arc, Mutex};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::channels::email::mime;
use switchboard::desk::channels::NewMailAccount;
use switchboard::desk::email::Received;
use switchboard::desk::identity::IdentityClaim;
use switchboard::desk::surveys::LinkState;
use switchboard::desk::tickets::TicketUpdate;
use switchboard::desk::{Actor, Channel, Desk, IdentityKind, Inbound, Role, Status};

use crate::support::{Engine, ORIGIN, TestApp, desk, eventually};

fn mail(from: &str, id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@desk.example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes()
}

async fn receive(desk: &Desk, raw: &[u8]) -> i64 {
    let cx = switchboard::channels::email::context(desk).await.unwrap();
    let account = desk.mail_accounts().await.unwrap().remove(0);
    match switchboard::channels::email::receive(desk, mime::parse(raw, &cx), None, &account)
        .await
        .unwrap()
    {
        Received::Stored(o) => o.ticket_id,
        other => panic!("not stored: {other:?}"),
    }
}

pub(crate) async fn set_status(desk: &Desk, ticket_id: i64, status: Status) {
    desk.update_ticket(
        ticket_id,
        Actor::System,
        &TicketUpdate {
            status: Some(status),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

/// Outbox rows of a kind, with their payloads.
pub(crate) async fn outbox_rows(desk: &Desk, kind: &str) -> Vec<Value> {
    entity::outbox::Entity::find()
        .filter(entity::outbox::Column::Kind.eq(kind))
        .all(desk.store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.payload)
        .collect()
}

/// A customer message on `channel` opening a ticket.
pub(crate) async fn ticket_on(desk: &Desk, channel: Channel, who: &str, text: &str) -> i64 {
    let kind = match channel {
        Channel::Email => IdentityKind::Email,
        Channel::Chat => IdentityKind::Visitor,
        Channel::Telegram => IdentityKind::Telegram,
        _ => IdentityKind::Phone,
    };
    desk.ingest(&Inbound::text(
        channel,
        format!("ext-{}", uuid::Uuid::new_v4().simple()),
        IdentityClaim::new(kind, who),
        text,
    ))
    .await
    .unwrap()
    .ticket_id
}

/// Resolves a ticket, sends its survey (what the worker does) and answers it.
pub(crate) async fn answered(desk: &Desk, ticket_id: i64, rating: i32, comment: Option<&str>) {
    set_status(desk, ticket_id, Status::Resolved).await;
    let s = desk
        .ticket_survey(ticket_id)
        .await
        .unwrap()
        .expect("a survey");
    desk.send_survey(s.id).await.unwrap();
    let token = desk.survey_token(&s).unwrap();
    desk.answer_survey(&token, rating, comment)
        .await
        .unwrap()
        .expect("the link is good");
}

crate::on_both! {
    /// Resolving a mail ticket queues one survey, however often it is resolved; the
    /// survey goes out as an automatic mail on the conversation and leaves the ticket
    /// where it was. No survey for a no-reply sender nor on a mail account with
    /// surveys off.
    async fn resolving_sends_one_survey_by_mail(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let account = desk
            .create_mail_account(&NewMailAccount {
                name: "Support".into(),
                address: "support@desk.example.com".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .channel
            .id;
        let id = receive(&desk, &mail("Anna <anna@example.de>", "a1@example.de", "Lieferung", "Wo bleibt sie?")).await;
        assert!(desk.ticket_survey(id).await.unwrap().is_none());
        set_status(&desk, id, Status::Resolved).await;
        let s = desk.ticket_survey(id).await.unwrap().expect("a survey when resolved");
        assert_eq!((s.status.as_str(), s.channel.as_str()), ("pending", "email"));
        // Reopened and resolved again: still the one survey.
        set_status(&desk, id, Status::Open).await;
        set_status(&desk, id, Status::Resolved).await;
        set_status(&desk, id, Status::Closed).await;
        set_status(&desk, id, Status::Resolved).await;
        assert_eq!(outbox_rows(&desk, "survey").await, vec![json!({"survey_id": s.id})]);

        let before = desk.ticket(id).await.unwrap();
        desk.send_survey(s.id).await.unwrap();
        desk.send_survey(s.id).await.unwrap();
        let view = desk.ticket_detail(id).await.unwrap();
        let out: Vec<_> = view.messages.iter().filter(|m| m.message.direction == "out").collect();
        assert_eq!(out.len(), 1, "one survey message, however often the job runs");
        let m = &out[0].message;
        // Stored (what agents and the search index see): the placeholder, no token.
        let token = desk.survey_token(&s).unwrap();
        assert!(!m.text.contains("/survey/") && !m.text.contains(&token), "{}", m.text);
        assert!(m.text.ends_with("\n[survey link]"), "{}", m.text);
        // Delivered: the working link in its place.
        let delivered = desk.for_delivery(m.clone()).await.unwrap();
        assert!(delivered.text.ends_with(&format!("\nhttp://127.0.0.1:8080/survey/{token}")), "{}", delivered.text);
        assert!(!delivered.text.contains("[survey link]"));
        // An agent's reply that looks like a survey is no survey: delivered as written.
        let mut lookalike = m.clone();
        lookalike.author_agent_id = Some(1);
        assert_eq!(desk.for_delivery(lookalike).await.unwrap().text, m.text);
        assert_eq!(m.author_agent_id, None);
        assert_eq!(m.delivery_status, "queued");
        let addresses = m.addresses.clone().unwrap();
        assert_eq!(addresses["to"], json!(["anna@example.de"]));
        assert_eq!(addresses["auto_submitted"], "auto-replied");
        assert!(outbox_rows(&desk, "deliver").await.contains(&json!({"message_id": m.id})));
        // Not a response, not a reopening, not a move in the queue.
        let after = &view.ticket;
        assert_eq!(after.status, "resolved");
        assert_eq!(after.first_response_at, None);
        assert_eq!(after.last_message_at, before.last_message_at);
        assert_eq!(after.updated_at, before.updated_at);
        let s = desk.ticket_survey(id).await.unwrap().unwrap();
        assert_eq!(s.status, "sent");
        assert!(s.sent_at.is_some());
        // The delivered link works.
        assert!(desk.answer_survey(&token, 4, None).await.unwrap().is_ok());

        // A machine gets none.
        let robot = receive(&desk, &mail("Shop <no-reply@shop.example>", "r1@shop.example", "Ihre Bestellung", "Automatisch erzeugt")).await;
        set_status(&desk, robot, Status::Resolved).await;
        assert!(desk.ticket_survey(robot).await.unwrap().is_none());

        // The mail account turned off: none either.
        desk.set_channel_survey(account, Some(false), None).await.unwrap();
        let off = receive(&desk, &mail("ben@example.de", "b1@example.de", "Frage", "Eine Frage")).await;
        set_status(&desk, off, Status::Resolved).await;
        assert!(desk.ticket_survey(off).await.unwrap().is_none());
        assert_eq!(outbox_rows(&desk, "survey").await.len(), 1);
    }
}

crate::on_both! {
    /// Channels without a configured channel follow the configured list; a survey with
    /// no way to the customer is skipped with the reason.
    async fn channel_list_and_skipped_surveys(engine: Engine) {
        let ts = crate::support::store(engine).await;
        let mut rules = switchboard::desk::Rules::default();
        rules.survey.channels = vec![Channel::Sms];
        let desk = ts.desk(rules);
        let chat = ticket_on(&desk, Channel::Chat, "visitor-1", "Hallo").await;
        set_status(&desk, chat, Status::Resolved).await;
        assert!(desk.ticket_survey(chat).await.unwrap().is_none(), "chat is not in the list");
        let sms = ticket_on(&desk, Channel::Sms, "+4917612345678", "Hallo").await;
        set_status(&desk, sms, Status::Resolved).await;
        let s = desk.ticket_survey(sms).await.unwrap().expect("sms is in the list");
        // The phone number is gone by the time the survey goes out.
        let t = desk.ticket(sms).await.unwrap();
        entity::identity::Entity::delete_many()
            .filter(entity::identity::Column::ContactId.eq(t.contact_id))
            .exec(desk.store.db())
            .await
            .unwrap();
        desk.send_survey(s.id).await.unwrap();
        let s = desk.ticket_survey(sms).await.unwrap().unwrap();
        assert_eq!(s.status, "skipped");
        assert_eq!(s.reason.as_deref(), Some("the customer has no phone number"));
        let view = desk.ticket_detail(sms).await.unwrap();
        assert!(view.messages.iter().all(|m| m.message.direction != "out"));
        assert!(view.events.iter().any(|e| e.kind == "survey_skipped"));
    }
}

async fn page(client: &reqwest::Client, url: &str, lang: &str) -> (u16, String, String) {
    let res = client
        .get(url)
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    let csp = res
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (res.status().as_u16(), csp, res.text().await.unwrap())
}

async fn post_form(
    client: &reqwest::Client,
    url: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, String) {
    let mut req = client.post(url).form(form);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The desk's link as the test server serves it.
fn local(app: &TestApp, token: &str) -> String {
    app.url(&format!("/survey/{token}"))
}

crate::on_both! {
    /// The link: a good one shows the form; forged ones (another signature, another
    /// id) and unknown ones look the same; an answer uses it up and gives a new link
    /// that changes the same feedback; hostile comments are shown escaped; a late link
    /// is refused.
    async fn survey_links(engine: Engine) {
        let app = TestApp::start(engine).await;
        let desk = app.desk.clone();
        let id = ticket_on(&desk, Channel::Email, "kim@example.de", "Paket fehlt").await;
        set_status(&desk, id, Status::Resolved).await;
        // The worker sends it.
        let s = eventually("the survey sent", || async {
            desk.ticket_survey(id).await.unwrap().filter(|s| s.status == "sent")
        })
        .await;
        let view = desk.ticket_detail(id).await.unwrap();
        let sent = view.messages.iter().find(|m| m.message.direction == "out").unwrap();
        let token = desk.survey_token(&s).unwrap();
        assert!(!sent.message.text.contains(&token), "no link in the stored text");
        let delivered = desk.for_delivery(sent.message.clone()).await.unwrap();
        assert!(delivered.text.contains(&format!("{ORIGIN}/survey/{token}")));
        let client = reqwest::Client::new();

        let (status, csp, html) = page(&client, &local(&app, &token), "en").await;
        assert_eq!(status, 200, "{html}");
        assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"), "{csp}");
        assert!(html.contains("type=\"radio\" name=\"rating\" value=\"5\""));
        assert!(!html.contains("<script"));
        let (_, _, german) = page(&client, &local(&app, &token), "de-DE,de;q=0.9").await;
        assert!(german.contains("Wie zufrieden waren Sie?"), "{german}");

        // Forged: another signature, another id with the same signature, garbage.
        let (head, sig) = token.rsplit_once('.').unwrap();
        let flipped = if sig.ends_with('A') { "B" } else { "A" };
        let other_sig = format!("{head}.{}{flipped}", &sig[..sig.len() - 1]);
        let other_id = format!("{}{}", s.id + 1, &token[s.id.to_string().len()..]);
        let (_, _, unknown) = page(&client, &local(&app, "1.0.1.x"), "en").await;
        for forged in [other_sig.as_str(), other_id.as_str(), "999.0.99999999999.AAAA", "nonsense"] {
            let (status, _, html) = page(&client, &local(&app, forged), "en").await;
            assert_eq!(status, 404, "{forged}");
            assert_eq!(html, unknown, "every bad link looks the same");
            assert_eq!(post_form(&client, &local(&app, forged), Some(ORIGIN), &[("rating", "5")]).await.0, 404);
        }

        // Refused: another site's form, a rating out of range.
        let (status, _) = post_form(&client, &local(&app, &token), Some("https://evil.example"), &[("rating", "1")]).await;
        assert_eq!(status, 403);
        let (status, html) = post_form(&client, &local(&app, &token), Some(ORIGIN), &[("rating", "9")]).await;
        assert_eq!(status, 422);
        assert!(html.contains("role=\"alert\""), "{html}");
        let long = "x".repeat(2001);
        assert_eq!(post_form(&client, &local(&app, &token), None, &[("rating", "3"), ("comment", &long)]).await.0, 422);
        assert!(desk.ticket_survey(id).await.unwrap().unwrap().feedback_id.is_none());

        // Answered, with a hostile comment: 303 to the new link's page, which thanks,
        // shows the comment escaped and the change form; a reload shows it again.
        let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>";
        let no_follow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = no_follow
            .post(local(&app, &token))
            .header("origin", ORIGIN)
            .form(&[("rating", "4"), ("comment", hostile)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 303);
        let s2 = desk.ticket_survey(id).await.unwrap().unwrap();
        assert_eq!((s2.status.as_str(), s2.link_version), ("answered", 1));
        let change = desk.survey_token(&s2).unwrap();
        assert_eq!(res.headers()["location"], format!("/survey/{change}").as_str());
        for _reload in 0..2 {
            let (status, _, thanks) = page(&client, &local(&app, &change), "en").await;
            assert_eq!(status, 200, "{thanks}");
            assert!(thanks.contains("<h1>Thank you!</h1>"), "{thanks}");
            assert!(!thanks.contains("<script>") && !thanks.contains("<img"), "{thanks}");
            assert!(thanks.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
            assert!(thanks.contains(&format!("action=\"/survey/{change}\"")), "{thanks}");
        }
        assert_eq!(desk.ticket_survey(id).await.unwrap().unwrap().link_version, 1, "reloads post nothing");
        let feedback = entity::feedback::Entity::find().all(desk.store.db()).await.unwrap();
        assert_eq!(feedback.len(), 1);
        assert_eq!((feedback[0].kind.as_str(), feedback[0].rating, feedback[0].source.as_str()), ("survey", Some(4), "survey"));
        assert_eq!(feedback[0].comment.as_deref(), Some(hostile));

        // The first link is used up: 410, saying the answer was recorded.
        let (status, _, used) = page(&client, &local(&app, &token), "en").await;
        assert_eq!(status, 410);
        assert!(used.contains("your answer was recorded"), "{used}");
        assert_eq!(post_form(&client, &local(&app, &token), Some(ORIGIN), &[("rating", "1")]).await.0, 410);

        // The new link shows the answer (escaped) and changes the same feedback.
        let (status, _, form) = page(&client, &local(&app, &change), "en").await;
        assert_eq!(status, 200);
        assert!(form.contains("value=\"4\" checked"));
        assert!(form.contains("&lt;script&gt;") && !form.contains("<script>"));
        let (status, changed) = post_form(&client, &local(&app, &change), Some(ORIGIN), &[("rating", "5"), ("comment", "Alles gut")]).await;
        assert_eq!(status, 200, "followed to the next link's page");
        assert!(changed.contains("value=\"5\" checked") && changed.contains("Alles gut"), "{changed}");
        let feedback = entity::feedback::Entity::find().all(desk.store.db()).await.unwrap();
        assert_eq!(feedback.len(), 1, "a change is no second answer");
        assert_eq!((feedback[0].rating, feedback[0].comment.as_deref()), (Some(5), Some("Alles gut")));
        assert_eq!(post_form(&client, &local(&app, &change), Some(ORIGIN), &[("rating", "2")]).await.0, 410);

        // Too late: the survey's time ran out.
        let s3 = desk.ticket_survey(id).await.unwrap().unwrap();
        let latest = desk.survey_token(&s3).unwrap();
        assert_eq!(page(&client, &local(&app, &latest), "en").await.0, 200);
        entity::survey::Entity::update_many()
            .col_expr(entity::survey::Column::ExpiresAt, sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)))
            .filter(entity::survey::Column::Id.eq(s3.id))
            .exec(desk.store.db())
            .await
            .unwrap();
        let (status, _, expired) = page(&client, &local(&app, &latest), "en").await;
        assert_eq!(status, 410);
        assert!(expired.contains("expired"));
        assert!(matches!(desk.answer_survey(&latest, 3, None).await.unwrap(), Err(LinkState::Expired)));
        assert_eq!(entity::feedback::Entity::find().all(desk.store.db()).await.unwrap()[0].rating, Some(5));
        app.stop().await;
    }
}

crate::on_both! {
    /// A rating of 1 or 2 records the answer, raises a complaint (the rule's) with the
    /// priority up, and the team's leads subscribed to `feedback` hear of it live; an
    /// agent may not subscribe to `feedback`.
    async fn low_ratings_raise_complaints_live(engine: Engine) {
        let app = TestApp::start(engine).await;
        let desk = app.desk.clone();
        let team = desk.create_team("Versand").await.unwrap().team.id;
        let other_team = desk.create_team("Kasse").await.unwrap().team.id;
        let lead = app.signed_in(Role::Lead).await;
        desk.set_team_member(team, lead.agent_id, true).await.unwrap();
        let other_lead = app.signed_in(Role::Lead).await;
        desk.set_team_member(other_team, other_lead.agent_id, true).await.unwrap();
        let agent = app.signed_in(Role::Agent).await;

        let mut agent_ws = crate::live::open(&app, &agent, &["feedback", "queue"]).await;
        let refused = crate::live::next_json(&mut agent_ws).await;
        assert_eq!(refused["type"], "error");
        assert!(refused["detail"].as_str().unwrap().contains("lead"), "{refused}");
        let mut lead_ws = crate::live::open(&app, &lead, &["feedback"]).await;
        let mut other_ws = crate::live::open(&app, &other_lead, &["feedback"]).await;
        let admin = app.signed_in(Role::Admin).await;
        desk.set_team_member(other_team, admin.agent_id, true).await.unwrap();
        let mut admin_ws = crate::live::open(&app, &admin, &["feedback"]).await;

        let id = ticket_on(&desk, Channel::Email, "olga@example.de", "Kaputt angekommen").await;
        desk.assign(id, Actor::System, &switchboard::desk::tickets::Assignment { team_id: Some(Some(team)), agent_id: Some(Some(agent.agent_id)) }).await.unwrap();
        answered(&desk, id, 2, Some("Sehr enttäuscht")).await;

        let added = crate::live::until(&mut lead_ws, |v| v["type"] == "feedback_added").await;
        assert_eq!(added["feedback"]["rating"], 2);
        assert_eq!(added["feedback"]["kind"], "survey");
        assert_eq!(added["feedback"]["ticket_id"], id);
        assert_eq!(added["feedback"]["team_id"], team);
        assert_eq!(added["feedback"]["assignee_id"], agent.agent_id);
        let raised = crate::live::until(&mut lead_ws, |v| v["type"] == "complaint_raised").await;
        assert_eq!(raised["complaint"]["ticket_id"], id);
        assert_eq!(raised["complaint"]["source"], "rule");
        assert_eq!(raised["complaint"]["state"], "open");

        // Admins hear of every team's complaints, whatever their own teams.
        let to_admin = crate::live::until(&mut admin_ws, |v| v["type"] == "complaint_raised").await;
        assert_eq!(to_admin["complaint"]["ticket_id"], id);
        let t = desk.ticket(id).await.unwrap();
        assert_eq!(t.priority, "high");
        let board = desk.complaints(None).await.unwrap();
        assert_eq!(board.len(), 1);
        // The other team's lead heard nothing of it: the next thing they get is their own.
        let theirs = ticket_on(&desk, Channel::Email, "paul@example.de", "Rechnung falsch").await;
        desk.assign(theirs, Actor::System, &switchboard::desk::tickets::Assignment { team_id: Some(Some(other_team)), agent_id: None }).await.unwrap();
        answered(&desk, theirs, 5, Some("Super")).await;
        let first = crate::live::until(&mut other_ws, |v| v["type"] == "feedback_added" || v["type"] == "complaint_raised").await;
        assert_eq!(first["feedback"]["ticket_id"], theirs, "{first}");
        // Praise (5 with a comment) is the survey answer only: no complaint.
        assert_eq!(desk.complaints(None).await.unwrap().len(), 1);
        assert_eq!(entity::feedback::Entity::find().all(desk.store.db()).await.unwrap().len(), 2);
        app.stop().await;
    }
}

/// What the Telegram stand-in was asked to send.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<Value>>>);

async fn bot_api(
    axum::extract::State(sent): axum::extract::State<Sent>,
    axum::extract::Path(path): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if path.ends_with("/sendMessage") {
        sent.0.lock().unwrap().push(json.clone());
        return axum::Json(
            json!({"ok": true, "result": {"message_id": 900 + sent.0.lock().unwrap().len(), "date": 1_764_230_400, "chat": {"id": 111, "type": "private"}, "text": json["text"]}}),
        );
    }
    axum::Json(json!({"ok": true, "result": true}))
}

/// Over a messenger: resolving through the API sends the survey link to the customer's
/// Telegram chat once, through the worker and the bot, and never again for the ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_over_telegram() {
    let sent = Sent::default();
    let stand_in = axum::Router::new()
        .route("/{*path}", axum::routing::any(bot_api))
        .with_state(sent.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, stand_in).await.unwrap() });
    let app = TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_TELEGRAM_API_URL", &base)]).await;
    let desk = app.desk.clone();
    let bot = desk
        .create_telegram_bot("Shop bot", "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0")
        .await
        .unwrap();
    let update = json!({"update_id": 5001, "message": {"message_id": 42, "date": 1_764_230_000,
        "from": {"id": 111, "is_bot": false, "first_name": "Lena"}, "chat": {"id": 111, "type": "private"}, "text": "Wo ist mein Paket?"}});
    let res = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/telegram/{}", bot.channel.id)))
        .header("content-type", "application/json")
        .header(
            "x-telegram-bot-api-secret-token",
            bot.secrets().webhook_secret,
        )
        .body(update.to_string())
        .send()
        .await
        .unwrap();
    let (_, b) = crate::support::reply(res).await;
    let ticket_id = b["ticket_id"].as_i64().unwrap();
    let agent = app.signed_in(Role::Agent).await;
    for status in ["resolved", "open", "resolved"] {
        let (s, b) = agent
            .send(
                "PATCH",
                &format!("/api/v1/tickets/{ticket_id}"),
                json!({"status": status}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let survey = eventually("the survey sent over Telegram", || async {
        let s = sent.0.lock().unwrap().clone();
        s.into_iter()
            .find(|m| m["text"].as_str().is_some_and(|t| t.contains("/survey/")))
    })
    .await;
    assert_eq!(survey["chat_id"].to_string().trim_matches('"'), "111");
    let delivered = eventually("the message delivered", || async {
        let view = desk.ticket_detail(ticket_id).await.unwrap();
        view.messages
            .into_iter()
            .find(|m| m.message.direction == "out" && m.message.delivery_status == "sent")
    })
    .await;
    // The stored message has the placeholder; the Telegram message has the working link.
    assert!(
        !delivered.message.text.contains("/survey/"),
        "{}",
        delivered.message.text
    );
    assert!(delivered.message.text.ends_with("[survey link]"));
    let s = desk.ticket_survey(ticket_id).await.unwrap().unwrap();
    let token = desk.survey_token(&s).unwrap();
    let text = survey["text"].as_str().unwrap();
    assert!(text.ends_with(&format!("/survey/{token}")), "{text}");
    assert!(!text.contains("[survey link]"));
    let link = text.rsplit('\n').next().unwrap();
    let page = reqwest::get(link.replace(ORIGIN, &app.base)).await.unwrap();
    assert_eq!(page.status(), 200, "the delivered link works");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let surveys = sent
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["text"].as_str().is_some_and(|t| t.contains("/survey/")))
        .count();
    assert_eq!(surveys, 1);
    assert_eq!(desk.ticket(ticket_id).await.unwrap().status, "resolved");
    app.stop().await;
}

/// In the chat widget the survey message carries its link, and the widget's inline
/// rating, posted from the shop's page, is taken (with CORS for that page only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_rates_inline() {
    let app = TestApp::start(Engine::Sqlite).await;
    let desk = app.desk.clone();
    let (site, _) = desk
        .create_widget(&switchboard::desk::channels::NewWidget {
            name: "Shop".into(),
            origins: vec!["https://shop.example".into()],
            greeting: None,
        })
        .await
        .unwrap();
    let mut inbound = Inbound::text(
        Channel::Chat,
        "visitor-9:c1",
        IdentityClaim::new(IdentityKind::Visitor, "visitor-9"),
        "Hallo, wo ist mein Paket?",
    );
    inbound.channel_id = Some(site.channel.id);
    let id = desk.ingest(&inbound).await.unwrap().ticket_id;
    set_status(&desk, id, Status::Resolved).await;
    let s = eventually("the survey sent", || async {
        desk.ticket_survey(id)
            .await
            .unwrap()
            .filter(|s| s.status == "sent")
    })
    .await;
    let view = desk.ticket_detail(id).await.unwrap();
    let m = &view
        .messages
        .iter()
        .find(|m| m.message.direction == "out")
        .unwrap()
        .message;
    assert!(!m.text.contains("/survey/"), "no link in the stored text");
    let link = desk.message_survey_url(m).await.unwrap();
    let shown =
        switchboard::channels::chat::WidgetMessage::of(m, "visitor-9", &Default::default(), link)
            .unwrap();
    let url = shown.survey.expect("the widget learns the survey's link");
    assert_eq!(url, desk.survey_url(&s).unwrap());
    assert!(url.starts_with(&format!("{ORIGIN}/survey/")));
    assert!(shown.text.ends_with(&url) && !shown.text.contains("[survey link]"));
    // The customer's own message is no survey, even with a survey-like word in it.
    let first = &view.messages[0].message;
    assert_eq!(desk.message_survey_url(first).await.unwrap(), None);
    let mut typed = Inbound::text(
        Channel::Chat,
        "visitor-9:c2",
        IdentityClaim::new(IdentityKind::Visitor, "visitor-9"),
        "see https://evil.example/survey/1.0.1.x",
    );
    typed.channel_id = Some(site.channel.id);
    let typed = desk.ingest(&typed).await.unwrap();
    let typed = desk.message(typed.message_id).await.unwrap();
    assert_eq!(desk.message_survey_url(&typed).await.unwrap(), None);

    let local = url.replace(ORIGIN, &app.base);
    let client = reqwest::Client::new();
    let rate = |origin: &'static str, rating: &'static str| {
        client
            .post(&local)
            .header("origin", origin)
            .header("accept", "application/json")
            .form(&[("rating", rating)])
            .send()
    };
    let res = rate("https://evil.example", "5").await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = rate("https://shop.example", "0").await.unwrap();
    assert_eq!(res.status(), 422);
    let res = rate("https://shop.example", "5").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["rating"], 5);
    assert!(body["change_url"].as_str().unwrap().contains("/survey/"));
    let res = rate("https://shop.example", "4").await.unwrap();
    assert_eq!(res.status(), 410);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "used");
    let f = entity::feedback::Entity::find()
        .all(desk.store.db())
        .await
        .unwrap();
    assert_eq!(
        (f.len(), f[0].rating, f[0].channel.as_str()),
        (1, Some(5), "chat")
    );

    // Admins turn surveys off per channel; the flag survives the site's other changes.
    let admin = app.signed_in(Role::Admin).await;
    let path = format!("/api/v1/channels/{}", site.channel.id);
    let (s, b) = admin.send("PATCH", &path, json!({"survey": "no"})).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("survey")), "{b}");
    let lead = app.signed_in(Role::Lead).await;
    assert_eq!(
        lead.send("PATCH", &path, json!({"survey": false})).await.0,
        403
    );
    let (s, b) = admin.send("PATCH", &path, json!({"survey": false})).await;
    assert_eq!((s, &b["settings"]["survey"]), (200, &json!(false)), "{b}");
    let (s, b) = admin
        .send("PATCH", &path, json!({"greeting": "Hallo!"}))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (&b["settings"]["survey"], &b["settings"]["greeting"]),
        (&json!(false), &json!("Hallo!"))
    );
    let mut again = Inbound::text(
        Channel::Chat,
        "visitor-10:c1",
        IdentityClaim::new(IdentityKind::Visitor, "visitor-10"),
        "Noch eine Frage",
    );
    again.channel_id = Some(site.channel.id);
    let second = desk.ingest(&again).await.unwrap().ticket_id;
    set_status(&desk, second, Status::Resolved).await;
    assert!(
        desk.ticket_survey(second).await.unwrap().is_none(),
        "surveys are off on this site"
    );
    let body =
        json!({"survey": true, "origins": ["https://shop.example", "https://www.shop.example"]});
    let (s, b) = admin.send("PATCH", &path, body).await;
    assert_eq!((s, &b["settings"]["survey"]), (200, &json!(true)), "{b}");
    assert_eq!(b["settings"]["origins"].as_array().unwrap().len(), 2);
    app.stop().await;
}
