//! SLA clocks through the HTTP API on both engines: who may read and write calendars and
//! policies, the policy a ticket follows by team and priority, due times in business
//! hours, pauses while waiting on the customer, the verdicts and seconds on first
//! response and resolution, and the watcher's warnings and breaches over the agent
//! WebSocket.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use switchboard::desk::Role;

use crate::live::{open, until};
use crate::on_both;
use crate::support::{Api, Browser, Engine, TestApp, eventually};
use entity::{ticket, ticket_event};

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time, got {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Opens a ticket from a new customer; returns its id.
async fn new_ticket(api: &Api, n: &str) -> i64 {
    let (status, r) = api
        .send(
            "POST",
            "/api/v1/inbound",
            json!({"channel": "api", "external_id": format!("sla-{n}"), "identity": {"kind": "email", "value": format!("{n}@example.com")}, "text": "Where is my parcel?"}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    r["ticket_id"].as_i64().unwrap()
}

async fn ticket_json(b: &Browser, id: i64) -> Value {
    let (status, t) = b.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(status, 200, "{t}");
    t["ticket"].clone()
}

/// Minutes from the ticket's creation to a due time.
fn minutes_to(t: &Value, due: &str) -> i64 {
    (at(&t[due]) - at(&t["created_at"])).num_minutes()
}

async fn set_column(app: &TestApp, id: i64, col: ticket::Column, value: Option<DateTime<Utc>>) {
    ticket::Entity::update_many()
        .col_expr(col, Expr::value(value))
        .filter(ticket::Column::Id.eq(id))
        .exec(app.desk.store.db())
        .await
        .unwrap();
}

async fn breach_events(app: &TestApp, id: i64) -> Vec<Value> {
    ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(id))
        .filter(ticket_event::Column::Kind.eq("sla_breached"))
        .order_by_asc(ticket_event::Column::Id)
        .all(app.desk.store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect()
}

const WEEKDAYS_9_17: &str = r#"{"mon": [["09:00","17:00"]], "tue": [["09:00","17:00"]], "wed": [["09:00","17:00"]], "thu": [["09:00","17:00"]], "fri": [["09:00","17:00"]]}"#;

on_both! {
    async fn agents_cannot_write_policies_and_leads_can_read(engine: Engine) {
        let app = TestApp::start(engine).await;
        let agent = app.signed_in(Role::Agent).await;
        let lead = app.signed_in(Role::Lead).await;
        let admin = app.signed_in(Role::Admin).await;
        let hours: Value = serde_json::from_str(WEEKDAYS_9_17).unwrap();
        let calendar = json!({"name": "Berlin office", "time_zone": "Europe/Berlin", "hours": hours, "holidays": ["2026-12-24"]});
        let policy = json!({"name": "Standard", "first_response_minutes": 60});

        // Agents read the policies (the console shows their warning times), not the
        // calendars.
        for (path, agents) in [("/api/v1/calendars", 403), ("/api/v1/sla-policies", 200)] {
            let anonymous = reqwest::get(app.url(path)).await.unwrap();
            assert_eq!(anonymous.status(), 401, "{path}");
            assert_eq!(agent.get(path).await.0, agents, "{path}");
            assert_eq!(lead.get(path).await.0, 200, "{path}");
        }
        assert_eq!(agent.send("POST", "/api/v1/calendars", calendar.clone()).await.0, 403);
        assert_eq!(lead.send("POST", "/api/v1/calendars", calendar.clone()).await.0, 403);
        assert_eq!(agent.send("POST", "/api/v1/sla-policies", policy.clone()).await.0, 403);
        assert_eq!(lead.send("POST", "/api/v1/sla-policies", policy.clone()).await.0, 403);

        let (status, cal) = admin.send("POST", "/api/v1/calendars", calendar).await;
        assert_eq!(status, 201, "{cal}");
        assert_eq!(cal["hours"]["mon"], json!([["09:00", "17:00"]]));
        assert_eq!(cal["holidays"], json!(["2026-12-24"]));
        let cal_id = cal["id"].as_i64().unwrap();
        let (status, p) = admin.send("POST", "/api/v1/sla-policies", json!({"name": "Standard", "first_response_minutes": 60, "calendar_id": cal_id})).await;
        assert_eq!(status, 201, "{p}");
        assert_eq!((p["warn_minutes"].as_i64(), p["active"].as_bool()), (Some(15), Some(true)));
        let pid = p["id"].as_i64().unwrap();

        let (status, list) = lead.get("/api/v1/sla-policies").await;
        assert_eq!((status, list[0]["id"].as_i64()), (200, Some(pid)));
        assert_eq!(lead.get("/api/v1/calendars").await.1[0]["time_zone"], "Europe/Berlin");
        assert_eq!(agent.send("PATCH", &format!("/api/v1/sla-policies/{pid}"), json!({"warn_minutes": 5})).await.0, 403);
        assert_eq!(lead.send("DELETE", &format!("/api/v1/sla-policies/{pid}"), Value::Null).await.0, 403);
        let (status, p) = admin.send("PATCH", &format!("/api/v1/sla-policies/{pid}"), json!({"warn_minutes": 5, "priority": "urgent"})).await;
        assert_eq!((status, p["warn_minutes"].as_i64(), p["priority"].as_str()), (200, Some(5), Some("urgent")));
        let (status, c) = admin.send("PATCH", &format!("/api/v1/calendars/{cal_id}"), json!({"time_zone": "Asia/Tokyo"})).await;
        assert_eq!((status, c["time_zone"].as_str()), (200, Some("Asia/Tokyo")));

        // Bad input names the field.
        let bad = [
            ("/api/v1/calendars", json!({"name": "x", "time_zone": "Mars/Olympus", "hours": hours}), "time_zone"),
            ("/api/v1/calendars", json!({"name": "x", "time_zone": "UTC", "hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}), "hours.mon"),
            ("/api/v1/calendars", json!({"name": "x", "time_zone": "UTC", "hours": {"mon": [["17:00", "09:00"]]}}), "hours.mon[0]"),
            ("/api/v1/calendars", json!({"name": "x", "time_zone": "UTC", "hours": {"mon": [["9", "17:00"]]}}), "hours.mon[0]"),
            ("/api/v1/calendars", json!({"name": "x", "time_zone": "UTC", "hours": {"someday": [["09:00", "17:00"]]}}), "hours.someday"),
            ("/api/v1/calendars", json!({"name": "x", "time_zone": "UTC", "hours": hours, "holidays": ["24.12.2026"]}), "holidays[0]"),
            ("/api/v1/calendars", json!({"time_zone": "UTC", "hours": hours}), "name"),
            ("/api/v1/sla-policies", json!({"name": "x", "first_response_minutes": 0}), "first_response_minutes"),
            ("/api/v1/sla-policies", json!({"name": "x", "resolution_minutes": -5}), "resolution_minutes"),
            ("/api/v1/sla-policies", json!({"name": "x"}), "first_response_minutes"),
            ("/api/v1/sla-policies", json!({"name": "x", "first_response_minutes": 5, "warn_minutes": 0}), "warn_minutes"),
            ("/api/v1/sla-policies", json!({"name": "x", "first_response_minutes": 5, "priority": "asap"}), "priority"),
            ("/api/v1/sla-policies", json!({"name": "x", "first_response_minutes": 5, "team_id": 999_999}), "team_id"),
            ("/api/v1/sla-policies", json!({"name": "x", "first_response_minutes": 5, "calendar_id": 999_999}), "calendar_id"),
            ("/api/v1/sla-policies", json!({"name": "x", "first_response_minutes": "soon"}), "first_response_minutes"),
        ];
        for (path, body, field) in bad {
            let (status, problem) = admin.send("POST", path, body.clone()).await;
            assert_eq!((status, problem["field"].as_str()), (422, Some(field)), "{body}: {problem}");
        }
        assert_eq!(admin.get("/api/v1/sla-policies/999999").await.0, 404);

        // A calendar a policy counts on stays; the policy goes first.
        let (status, problem) = admin.send("DELETE", &format!("/api/v1/calendars/{cal_id}"), Value::Null).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("calendar_in_use")));
        assert_eq!(admin.send("DELETE", &format!("/api/v1/sla-policies/{pid}"), Value::Null).await.0, 204);
        assert_eq!(admin.send("DELETE", &format!("/api/v1/calendars/{cal_id}"), Value::Null).await.0, 204);
        assert_eq!(lead.get("/api/v1/calendars").await.1, json!([]));
        app.stop().await;
    }
}

on_both! {
    async fn the_most_specific_policy_sets_the_due_times(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;

        // Before any policy: no due times, and a first response gets seconds, no verdict.
        let bare = new_ticket(&api, "bare").await;
        let t = ticket_json(&agent, bare).await;
        assert_eq!((t["sla_policy_id"].clone(), t["first_response_due_at"].clone()), (Value::Null, Value::Null));
        assert_eq!(agent.send("POST", &format!("/api/v1/tickets/{bare}/reply"), json!({"text": "On its way."})).await.0, 201);
        let t = ticket_json(&agent, bare).await;
        assert!(t["first_response_seconds"].as_i64().is_some(), "{t}");
        assert_eq!(t["first_response_breached"], Value::Null);

        let team = admin.send("POST", "/api/v1/teams", json!({"name": "Returns"})).await.1["id"].as_i64().unwrap();
        let mut ids = std::collections::HashMap::new();
        for (name, body) in [
            ("any", json!({"first_response_minutes": 240, "resolution_minutes": 2880})),
            ("urgent", json!({"priority": "urgent", "first_response_minutes": 60, "resolution_minutes": 480})),
            ("team", json!({"team_id": team, "first_response_minutes": 120})),
            ("team-urgent", json!({"team_id": team, "priority": "urgent", "first_response_minutes": 30, "resolution_minutes": 240})),
            ("inactive", json!({"priority": "normal", "first_response_minutes": 1, "active": false})),
        ] {
            let mut body = body;
            body["name"] = json!(name);
            let (status, p) = admin.send("POST", "/api/v1/sla-policies", body).await;
            assert_eq!(status, 201, "{p}");
            ids.insert(name, p["id"].as_i64().unwrap());
        }

        let id = new_ticket(&api, "picky").await;
        let t = ticket_json(&agent, id).await;
        assert_eq!(t["sla_policy_id"].as_i64(), Some(ids["any"]));
        assert_eq!((minutes_to(&t, "first_response_due_at"), minutes_to(&t, "resolution_due_at")), (240, 2880));

        let path = format!("/api/v1/tickets/{id}");
        let (_, t) = agent.send("PATCH", &path, json!({"priority": "urgent"})).await;
        assert_eq!(t["sla_policy_id"].as_i64(), Some(ids["urgent"]), "{t}");
        assert_eq!((minutes_to(&t, "first_response_due_at"), minutes_to(&t, "resolution_due_at")), (60, 480));

        let (_, t) = agent.send("POST", &format!("{path}/assign"), json!({"team_id": team})).await;
        assert_eq!(t["sla_policy_id"].as_i64(), Some(ids["team-urgent"]), "{t}");
        assert_eq!((minutes_to(&t, "first_response_due_at"), minutes_to(&t, "resolution_due_at")), (30, 240));

        let (_, t) = agent.send("PATCH", &path, json!({"priority": "normal"})).await;
        assert_eq!(t["sla_policy_id"].as_i64(), Some(ids["team"]), "{t}");
        assert_eq!(minutes_to(&t, "first_response_due_at"), 120);
        assert_eq!(t["resolution_due_at"], Value::Null);

        // After the first response its due time stays; the resolution's follows the policy.
        assert_eq!(agent.send("POST", &format!("{path}/reply"), json!({"text": "Looking into it."})).await.0, 201);
        let (_, t) = agent.send("POST", &format!("{path}/assign"), json!({"team_id": null})).await;
        assert_eq!(t["sla_policy_id"].as_i64(), Some(ids["any"]), "{t}");
        assert_eq!((minutes_to(&t, "first_response_due_at"), minutes_to(&t, "resolution_due_at")), (120, 2880));
        assert_eq!(t["first_response_breached"], json!(false));

        // Changing a policy leaves the due times already set alone.
        admin.send("PATCH", &format!("/api/v1/sla-policies/{}", ids["any"]), json!({"resolution_minutes": 10})).await;
        assert_eq!(minutes_to(&ticket_json(&agent, id).await, "resolution_due_at"), 2880);
        app.stop().await;
    }
}

on_both! {
    async fn friday_afternoon_in_berlin_is_due_monday(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.signed_in(Role::Admin).await;
        let api = app.token(Role::Agent).await;
        let hours: Value = serde_json::from_str(WEEKDAYS_9_17).unwrap();
        let cal = admin.send("POST", "/api/v1/calendars", json!({"name": "Berlin", "time_zone": "Europe/Berlin", "hours": hours, "holidays": ["2026-12-01"]})).await.1["id"].clone();
        let (status, p) = admin.send("POST", "/api/v1/sla-policies", json!({"name": "Office hours", "calendar_id": cal, "first_response_minutes": 60, "resolution_minutes": 960})).await;
        assert_eq!(status, 201, "{p}");

        let id = new_ticket(&api, "friday").await;
        // Friday 27 November 2026, 16:30 in Berlin (CET, UTC+1).
        let friday = at(&json!("2026-11-27T15:30:00Z"));
        set_column(&app, id, ticket::Column::CreatedAt, Some(friday)).await;
        let t = app.desk.recompute_sla(id).await.unwrap();
        // 30 minutes on Friday, 30 on Monday: Monday 09:30 CET.
        assert_eq!(t.first_response_due_at, Some(at(&json!("2026-11-30T08:30:00Z"))));
        // 16 business hours: 0.5 Friday, 8 Monday, Tuesday is a holiday, 7.5 Wednesday.
        assert_eq!(t.resolution_due_at, Some(at(&json!("2026-12-02T15:30:00Z"))));
        app.stop().await;
    }
}

on_both! {
    async fn waiting_on_the_customer_pauses_the_clocks(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240})).await;
        let id = new_ticket(&api, "pause").await;
        let path = format!("/api/v1/tickets/{id}");
        let before = ticket_json(&agent, id).await;

        let (_, t) = agent.send("PATCH", &path, json!({"status": "pending"})).await;
        assert!(t["sla_paused_at"].is_string(), "{t}");
        // As if it had waited on the customer for 30 minutes.
        let paused = at(&t["sla_paused_at"]) - chrono::Duration::minutes(30);
        set_column(&app, id, ticket::Column::SlaPausedAt, Some(paused)).await;
        // The customer answers: the ticket opens and the clocks run again.
        api.send("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "sla-pause-2", "identity": {"kind": "email", "value": "pause@example.com"}, "text": "Here is the photo."})).await;
        let t = ticket_json(&agent, id).await;
        assert_eq!((t["status"].as_str(), t["sla_paused_at"].clone()), (Some("open"), Value::Null));
        for due in ["first_response_due_at", "resolution_due_at"] {
            let moved = (at(&t[due]) - at(&before[due])).num_seconds();
            assert!((1799..1830).contains(&moved), "{due} moved by {moved} s");
        }
        // The pause is in the history, and a recomputation from creation agrees.
        let again = app.desk.recompute_sla(id).await.unwrap();
        assert_eq!(again.first_response_due_at, Some(at(&t["first_response_due_at"])));
        assert_eq!(again.resolution_due_at, Some(at(&t["resolution_due_at"])));

        // Pending after the first reply moves only the resolution's due time.
        agent.send("POST", &format!("{path}/reply"), json!({"text": "Thanks!", "status": "pending"})).await;
        let t = ticket_json(&agent, id).await;
        set_column(&app, id, ticket::Column::SlaPausedAt, Some(at(&t["sla_paused_at"]) - chrono::Duration::minutes(10))).await;
        let (_, after) = agent.send("PATCH", &path, json!({"status": "open"})).await;
        assert_eq!(after["first_response_due_at"], t["first_response_due_at"]);
        let moved = (at(&after["resolution_due_at"]) - at(&t["resolution_due_at"])).num_seconds();
        assert!((599..630).contains(&moved), "resolution moved by {moved} s");
        app.stop().await;
    }
}

on_both! {
    async fn first_response_and_resolution_get_verdicts_and_seconds(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240})).await;

        // On time.
        let good = new_ticket(&api, "good").await;
        agent.send("POST", &format!("/api/v1/tickets/{good}/reply"), json!({"text": "Done.", "status": "resolved"})).await;
        let t = ticket_json(&agent, good).await;
        assert_eq!((t["first_response_breached"].clone(), t["resolution_breached"].clone()), (json!(false), json!(false)));
        assert!((0..30).contains(&t["first_response_seconds"].as_i64().unwrap()), "{t}");
        assert!((0..30).contains(&t["resolution_seconds"].as_i64().unwrap()), "{t}");
        assert!(breach_events(&app, good).await.is_empty());

        // Late: both due times passed (the watcher checks only every 30 s here).
        let late = new_ticket(&api, "late").await;
        let created = at(&ticket_json(&agent, late).await["created_at"]) - chrono::Duration::hours(5);
        set_column(&app, late, ticket::Column::CreatedAt, Some(created)).await;
        app.desk.recompute_sla(late).await.unwrap();
        agent.send("POST", &format!("/api/v1/tickets/{late}/reply"), json!({"text": "Sorry for the wait."})).await;
        let t = ticket_json(&agent, late).await;
        assert_eq!(t["first_response_breached"], json!(true));
        assert!(t["first_response_seconds"].as_i64().unwrap() >= 5 * 3600, "{t}");
        assert_eq!(t["resolution_breached"], Value::Null);
        let (_, t) = agent.send("PATCH", &format!("/api/v1/tickets/{late}"), json!({"status": "resolved"})).await;
        assert_eq!(t["resolution_breached"], json!(true));
        assert!(t["resolution_seconds"].as_i64().unwrap() >= 5 * 3600, "{t}");
        let events = breach_events(&app, late).await;
        let metrics: Vec<_> = events.iter().map(|e| e["metric"].as_str().unwrap()).collect();
        assert_eq!(metrics, ["first_response", "resolution"]);
        assert_eq!(at(&events[0]["due_at"]), at(&t["first_response_due_at"]));

        // A reopen clears the resolution time and keeps the verdict until the next one.
        let (_, t) = agent.send("PATCH", &format!("/api/v1/tickets/{late}"), json!({"status": "open"})).await;
        assert_eq!((t["resolved_at"].clone(), t["resolution_breached"].clone()), (Value::Null, json!(true)));
        agent.send("PATCH", &format!("/api/v1/tickets/{late}"), json!({"status": "closed"})).await;
        assert_eq!(breach_events(&app, late).await.len(), 2, "a breach is recorded once");
        app.stop().await;
    }
}

on_both! {
    async fn the_watcher_warns_and_records_breaches_live(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_SLA_CHECK_SECONDS", "1")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240, "warn_minutes": 10})).await;
        let mut ws = open(&app, &agent, &["queue"]).await;
        let id = new_ticket(&api, "watched").await;

        // Due in five minutes: inside the ten-minute warning.
        let soon = switchboard::store::now() + chrono::Duration::minutes(5);
        set_column(&app, id, ticket::Column::FirstResponseDueAt, Some(soon)).await;
        let warning = until(&mut ws, |v| v["type"] == "sla_warning").await;
        assert_eq!((warning["ticket_id"].as_i64(), warning["metric"].as_str()), (Some(id), Some("first_response")));
        assert_eq!(at(&warning["due_at"]), soon);

        // Passed: the breach is recorded once and sent.
        let past = switchboard::store::now() - chrono::Duration::seconds(1);
        set_column(&app, id, ticket::Column::FirstResponseDueAt, Some(past)).await;
        let breach = until(&mut ws, |v| v["type"] == "sla_breached").await;
        assert_eq!((breach["ticket_id"].as_i64(), breach["metric"].as_str()), (Some(id), Some("first_response")));
        assert_eq!(at(&breach["due_at"]), past);
        let t = ticket_json(&agent, id).await;
        assert_eq!(t["first_response_breached"], json!(true));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let events = eventually("the breach in the history", || async {
            let e = breach_events(&app, id).await;
            (!e.is_empty()).then_some(e)
        })
        .await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["metric"], "first_response");

        // The late reply keeps the verdict and records nothing more.
        agent.send("POST", &format!("/api/v1/tickets/{id}/reply"), json!({"text": "Sorry!"})).await;
        assert_eq!(ticket_json(&agent, id).await["first_response_breached"], json!(true));
        assert_eq!(breach_events(&app, id).await.len(), 1);

        // A paused ticket does not breach.
        let other = new_ticket(&api, "paused").await;
        agent.send("PATCH", &format!("/api/v1/tickets/{other}"), json!({"status": "pending"})).await;
        set_column(&app, other, ticket::Column::ResolutionDueAt, Some(past)).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(ticket_json(&agent, other).await["resolution_breached"], Value::Null);
        app.stop().await;
    }
}

/// Re-reads a ticket and tells the live hub, as a desk change would.
async fn announce(app: &TestApp, id: i64) {
    let t = ticket::Entity::find_by_id(id)
        .one(app.desk.store.db())
        .await
        .unwrap()
        .unwrap();
    app.desk.hub.ticket(&t, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn the_console_shows_due_times_warnings_and_breaches() {
    use crate::browser::{Driver, wait_until};
    use crate::console::{contains, sign_in};

    let addr = format!("127.0.0.1:{}", crate::browser::free_port());
    let public = format!("http://{addr}");
    let app = TestApp::start_with(
        Engine::Sqlite,
        &[
            ("SWITCHBOARD_BIND", &addr),
            ("SWITCHBOARD_PUBLIC_URL", &public),
            ("SWITCHBOARD_SLA_CHECK_SECONDS", "1"),
        ],
    )
    .await;
    app.agent("sla-en@example.com", Role::Agent).await;
    app.agent("sla-de@example.com", Role::Agent).await;
    let policy = switchboard::desk::sla::PolicyInput {
        name: Some("Standard".into()),
        first_response_minutes: Some(Some(120)),
        resolution_minutes: Some(Some(480)),
        warn_minutes: Some(10),
        ..Default::default()
    };
    app.desk.create_sla_policy(&policy).await.unwrap();
    let api = app.token(Role::Agent).await;
    let id = new_ticket(&api, "console").await;

    let mut driver = Driver::start().await;
    let c = driver.browser("en").await;
    sign_in(&c, &app, "sla-en@example.com").await;
    let (script, args) = contains(
        "sb-queue .queue-item .sla.sla-ok",
        "First response due in 2 hr",
    );
    wait_until(&c, "the due time in the queue", &script, args).await;

    // Due in twelve minutes: outside the policy's ten-minute warning time (the console
    // read it; the default would be fifteen), so not amber yet.
    let later = switchboard::store::now() + chrono::Duration::minutes(12);
    set_column(&app, id, ticket::Column::FirstResponseDueAt, Some(later)).await;
    announce(&app, id).await;
    let (script, args) = contains(
        "sb-queue .queue-item .sla.sla-ok",
        "First response due in 12 min",
    );
    wait_until(&c, "no warning yet in the queue", &script, args).await;

    // Due in five minutes: the watcher's warning turns it amber.
    let soon = switchboard::store::now() + chrono::Duration::minutes(5);
    set_column(&app, id, ticket::Column::FirstResponseDueAt, Some(soon)).await;
    announce(&app, id).await;
    let (script, args) = contains(
        "sb-queue .queue-item .sla.sla-warn",
        "First response due in 5 min",
    );
    wait_until(&c, "the warning in the queue", &script, args).await;

    // Passed: the breach turns it red, in the queue and in the ticket's header.
    let past = switchboard::store::now() - chrono::Duration::minutes(3);
    set_column(&app, id, ticket::Column::FirstResponseDueAt, Some(past)).await;
    let (script, args) = contains(
        "sb-queue .queue-item .sla.sla-breached",
        "First response overdue by 3 min",
    );
    wait_until(&c, "the breach in the queue", &script, args).await;
    c.goto(&format!("{public}/#ticket/{id}")).await.unwrap();
    let (script, args) = contains(
        "sb-ticket .ticket-meta .sla.sla-breached",
        "First response overdue by 3 min",
    );
    wait_until(&c, "the breach in the header", &script, args).await;
    let (script, args) = contains(
        "sb-ticket .event-sla_breached",
        "First response target missed",
    );
    wait_until(&c, "the breach in the history", &script, args).await;

    // Waiting on the customer: the due time froze when the pause began, so it is not
    // overdue once the clock on the wall passes it.
    let waiting = new_ticket(&api, "console-waiting").await;
    let (status, _) = api
        .send(
            "PATCH",
            &format!("/api/v1/tickets/{waiting}"),
            json!({"status": "pending"}),
        )
        .await;
    assert_eq!(status, 200);
    let now = switchboard::store::now();
    let paused_at = now - chrono::Duration::minutes(10);
    set_column(&app, waiting, ticket::Column::SlaPausedAt, Some(paused_at)).await;
    set_column(
        &app,
        waiting,
        ticket::Column::FirstResponseDueAt,
        Some(now - chrono::Duration::minutes(3)),
    )
    .await;
    announce(&app, waiting).await;
    c.goto(&format!("{public}/#ticket/{waiting}"))
        .await
        .unwrap();
    let (script, args) = contains("sb-ticket .ticket-meta .sla.sla-paused", "SLA clock paused");
    wait_until(&c, "the paused clock in the header", &script, args).await;

    // In German, and the answered ticket shows the resolution's clock.
    let de = driver.browser("de").await;
    sign_in(&de, &app, "sla-de@example.com").await;
    de.goto(&format!("{public}/#ticket/{id}")).await.unwrap();
    let (script, args) = contains(
        "sb-ticket .ticket-meta .sla.sla-breached",
        "Erste Antwort überfällig seit 3 Min.",
    );
    wait_until(&de, "the German breach", &script, args).await;
    app.desk
        .reply(
            id,
            switchboard::desk::Actor::System,
            &serde_json::from_value(json!({"text": "Sorry!"})).unwrap(),
        )
        .await
        .unwrap();
    let (script, args) = contains("sb-ticket .ticket-meta .sla", "Lösung fällig in");
    wait_until(&de, "the resolution's due time", &script, args).await;
    c.close().await.unwrap();
    de.close().await.unwrap();
    app.stop().await;
}

#[test]
fn the_check_interval_is_a_setting() {
    use switchboard::config::Config;
    let vars = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let c = Config::from_vars(vars(&[])).unwrap();
    assert_eq!(c.sla_check, Duration::from_secs(30));
    let c = Config::from_vars(vars(&[("SWITCHBOARD_SLA_CHECK_SECONDS", "5")])).unwrap();
    assert_eq!(c.sla_check, Duration::from_secs(5));
    for bad in ["0", "3601", "soon"] {
        let err = Config::from_vars(vars(&[("SWITCHBOARD_SLA_CHECK_SECONDS", bad)])).unwrap_err();
        assert_eq!(err.var, "SWITCHBOARD_SLA_CHECK_SECONDS", "{bad}");
    }
}

async fn events_of(app: &TestApp, id: i64, kind: &str) -> Vec<Value> {
    ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(id))
        .filter(ticket_event::Column::Kind.eq(kind))
        .order_by_asc(ticket_event::Column::Id)
        .all(app.desk.store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect()
}

/// Moves a ticket's creation back by `minutes` and sets its due times from it again.
async fn created_ago(app: &TestApp, id: i64, minutes: i64) {
    let t = ticket::Entity::find_by_id(id)
        .one(app.desk.store.db())
        .await
        .unwrap()
        .unwrap();
    set_column(
        app,
        id,
        ticket::Column::CreatedAt,
        Some(t.created_at - chrono::Duration::minutes(minutes)),
    )
    .await;
    app.desk.recompute_sla(id).await.unwrap();
}

on_both! {
    async fn a_stopped_clock_keeps_its_due_times(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_SLA_CHECK_SECONDS", "3600")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Any", "first_response_minutes": 60, "resolution_minutes": 240})).await;
        let high = admin.send("POST", "/api/v1/sla-policies", json!({"name": "High", "priority": "high", "first_response_minutes": 30, "resolution_minutes": 60})).await.1["id"].as_i64().unwrap();

        // A higher priority on a resolved ticket (as a complaint raises it) takes the
        // stricter policy but leaves the stopped clocks' due times and verdicts alone.
        let done = new_ticket(&api, "stopped").await;
        let path = format!("/api/v1/tickets/{done}");
        agent.send("POST", &format!("{path}/reply"), json!({"text": "Done.", "status": "resolved"})).await;
        let before = ticket_json(&agent, done).await;
        let (_, t) = agent.send("PATCH", &path, json!({"priority": "high"})).await;
        assert_eq!(t["sla_policy_id"].as_i64(), Some(high), "{t}");
        for field in ["first_response_due_at", "resolution_due_at", "first_response_breached", "resolution_breached"] {
            assert_eq!(t[field], before[field], "{field}");
        }
        assert_eq!(minutes_to(&t, "resolution_due_at"), 240);
        assert!(at(&t["resolution_due_at"]) > at(&t["resolved_at"]), "{t}");
        // Reopened (with a change of priority in the same request) its clocks run on the
        // new policy, the pause deducted.
        let (_, t) = agent.send("PATCH", &path, json!({"status": "open", "priority": "urgent"})).await;
        assert_eq!((t["status"].as_str(), t["sla_policy_id"].as_i64()), (Some("open"), before["sla_policy_id"].as_i64()), "{t}");
        assert_eq!(minutes_to(&t, "resolution_due_at"), 240, "{t}");
        let (_, t) = agent.send("PATCH", &path, json!({"priority": "high"})).await;
        assert_eq!(minutes_to(&t, "resolution_due_at"), 60, "{t}");
        assert!(breach_events(&app, done).await.is_empty());

        // Resolved and raised in one request: the verdict is judged on the due time the
        // ticket keeps (60 minutes, passed), not on the old one (240, still to come).
        let late = new_ticket(&api, "raised").await;
        created_ago(&app, late, 120).await;
        let path = format!("/api/v1/tickets/{late}");
        agent.send("POST", &format!("{path}/reply"), json!({"text": "On it."})).await;
        let (_, t) = agent.send("PATCH", &path, json!({"status": "resolved", "priority": "high"})).await;
        assert_eq!((t["sla_policy_id"].as_i64(), t["status"].as_str()), (Some(high), Some("resolved")), "{t}");
        assert_eq!(minutes_to(&t, "resolution_due_at"), 60, "{t}");
        assert_eq!(t["resolution_breached"], json!(true), "{t}");
        let events = breach_events(&app, late).await;
        let resolution: Vec<_> = events.iter().filter(|e| e["metric"] == "resolution").collect();
        assert_eq!(resolution.len(), 1, "{events:?}");
        assert_eq!(at(&resolution[0]["due_at"]), at(&t["resolution_due_at"]));
        app.stop().await;
    }
}

on_both! {
    async fn a_breach_is_recorded_only_once_its_due_time_passed(engine: Engine) {
        use switchboard::desk::sla::Metric;
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_SLA_CHECK_SECONDS", "3600")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240})).await;
        let id = new_ticket(&api, "moved").await;
        let now = switchboard::store::now();

        // The watcher read the ticket as due, then its due time moved later: no breach.
        assert_eq!(app.desk.record_breach(Metric::FirstResponse, id, now).await.unwrap(), None);
        assert_eq!(app.desk.record_breach(Metric::Resolution, id, now).await.unwrap(), None);
        let t = ticket_json(&agent, id).await;
        assert_eq!((t["first_response_breached"].clone(), t["resolution_breached"].clone()), (Value::Null, Value::Null));
        assert!(breach_events(&app, id).await.is_empty());

        // Passed: recorded once, with the due time the ticket has.
        let past = now - chrono::Duration::minutes(2);
        set_column(&app, id, ticket::Column::FirstResponseDueAt, Some(past)).await;
        assert_eq!(app.desk.record_breach(Metric::FirstResponse, id, now).await.unwrap(), Some(past));
        assert_eq!(app.desk.record_breach(Metric::FirstResponse, id, now).await.unwrap(), None);
        let events = breach_events(&app, id).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(at(&events[0]["due_at"]), past);
        assert_eq!(ticket_json(&agent, id).await["first_response_breached"], json!(true));
        app.stop().await;
    }
}

on_both! {
    async fn a_customer_and_an_agent_resume_a_pause_once(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_SLA_CHECK_SECONDS", "3600")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240})).await;
        for n in 0..20 {
            let name = format!("race{n}");
            let id = new_ticket(&api, &name).await;
            let path = format!("/api/v1/tickets/{id}");
            agent.send("PATCH", &path, json!({"status": "pending"})).await;
            let before = ticket_json(&agent, id).await;
            let message = json!({"channel": "api", "external_id": format!("sla-{name}-2"), "identity": {"kind": "email", "value": format!("{name}@example.com")}, "text": "Here it is."});
            let (customer, staff) = tokio::join!(
                api.send("POST", "/api/v1/inbound", message),
                agent.send("PATCH", &path, json!({"status": "open"})),
            );
            assert_eq!((customer.0, staff.0), (201, 200), "{} {}", customer.1, staff.1);
            let resumed = events_of(&app, id, "sla_resumed").await;
            assert_eq!(resumed.len(), 1, "ticket {id}: {resumed:?}");
            let t = ticket_json(&agent, id).await;
            assert_eq!((t["status"].as_str(), t["sla_paused_at"].clone()), (Some("open"), Value::Null));
            // The pause (a moment) moved the due times once, by less than a minute.
            let moved = (at(&t["resolution_due_at"]) - at(&before["resolution_due_at"])).num_seconds();
            assert!((0..60).contains(&moved), "moved by {moved} s");
        }
        app.stop().await;
    }
}

on_both! {
    async fn a_pause_before_the_first_policy_is_deducted(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_SLA_CHECK_SECONDS", "3600")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        let id = new_ticket(&api, "policyless").await;
        let path = format!("/api/v1/tickets/{id}");
        let (_, t) = agent.send("PATCH", &path, json!({"status": "pending"})).await;
        assert!(t["sla_paused_at"].is_string(), "the pause is kept without a policy: {t}");
        // Created an hour ago, waiting on the customer for the last 30 minutes.
        let now = at(&t["sla_paused_at"]);
        set_column(&app, id, ticket::Column::CreatedAt, Some(now - chrono::Duration::minutes(60))).await;
        set_column(&app, id, ticket::Column::SlaPausedAt, Some(now - chrono::Duration::minutes(30))).await;
        // The first policy arrives while it waits.
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240})).await;
        let (_, t) = agent.send("PATCH", &path, json!({"priority": "high"})).await;
        assert!(t["sla_policy_id"].is_i64(), "{t}");
        assert_eq!((minutes_to(&t, "first_response_due_at"), minutes_to(&t, "resolution_due_at")), (60, 240));
        // Resumed: both due times move by the 30 minutes it waited.
        let (_, t) = agent.send("PATCH", &path, json!({"status": "open"})).await;
        let (first, resolution) = (minutes_to(&t, "first_response_due_at"), minutes_to(&t, "resolution_due_at"));
        assert!((90..=91).contains(&first) && (270..=271).contains(&resolution), "{first} {resolution}: {t}");
        assert_eq!(events_of(&app, id, "sla_resumed").await.len(), 1);
        // And a recomputation from the history agrees.
        let again = app.desk.recompute_sla(id).await.unwrap();
        assert_eq!(again.resolution_due_at, Some(at(&t["resolution_due_at"])));
        app.stop().await;
    }
}

on_both! {
    async fn a_ticket_resolved_without_a_reply_gets_a_first_response_verdict(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_SLA_CHECK_SECONDS", "3600")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240})).await;

        let quick = new_ticket(&api, "silent-quick").await;
        let (_, t) = agent.send("PATCH", &format!("/api/v1/tickets/{quick}"), json!({"status": "resolved"})).await;
        assert_eq!((t["first_response_breached"].clone(), t["resolution_breached"].clone()), (json!(false), json!(false)), "{t}");
        assert_eq!(t["first_response_seconds"], Value::Null, "no reply, no seconds");

        // Resolved without a reply after its first-response due time: a breach, once.
        let slow = new_ticket(&api, "silent-slow").await;
        created_ago(&app, slow, 90).await;
        let (_, t) = agent.send("PATCH", &format!("/api/v1/tickets/{slow}"), json!({"status": "closed"})).await;
        assert_eq!((t["first_response_breached"].clone(), t["resolution_breached"].clone()), (json!(true), json!(false)), "{t}");
        let events = breach_events(&app, slow).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!((events[0]["metric"].as_str(), at(&events[0]["due_at"])), (Some("first_response"), at(&t["first_response_due_at"])));
        app.stop().await;
    }
}

on_both! {
    async fn a_reply_that_resumes_a_pause_keeps_the_first_response_due_time(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_SLA_CHECK_SECONDS", "3600")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let agent = app.signed_in(Role::Agent).await;
        let api = app.token(Role::Agent).await;
        admin.send("POST", "/api/v1/sla-policies", json!({"name": "Always", "first_response_minutes": 60, "resolution_minutes": 240})).await;
        let id = new_ticket(&api, "pending-reply").await;
        let path = format!("/api/v1/tickets/{id}");
        let (_, t) = agent.send("PATCH", &path, json!({"status": "pending"})).await;
        set_column(&app, id, ticket::Column::SlaPausedAt, Some(at(&t["sla_paused_at"]) - chrono::Duration::minutes(10))).await;
        let before = ticket_json(&agent, id).await;
        // The first reply opens it: the first response is given, so only the resolution's
        // due time moves by the pause.
        assert_eq!(agent.send("POST", &format!("{path}/reply"), json!({"text": "Back to it.", "status": "open"})).await.0, 201);
        let t = ticket_json(&agent, id).await;
        assert_eq!(t["first_response_due_at"], before["first_response_due_at"], "{t}");
        assert_eq!(t["first_response_breached"], json!(false));
        let moved = (at(&t["resolution_due_at"]) - at(&before["resolution_due_at"])).num_seconds();
        assert!((599..630).contains(&moved), "resolution moved by {moved} s");
        app.stop().await;
    }
}
