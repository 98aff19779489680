//! The team leads' reports (`/api/v1/reports/…`) against a fixture whose every figure is
//! worked out by hand below: 17 tickets and 10 feedback rows written straight into the
//! store, around the period 2026-03-02 (Mon) ..= 2026-03-04, on both engines.
//!
//! The fixture (times UTC; fr = first response, res = resolution, seconds; verdicts
//! first response / resolution: f = met, T = breached, - = none):
//!
//! | t   | created     | channel  | team | agent | fr at        | fr s  | res at      | res s  | sla  |
//! |-----|-------------|----------|------|-------|--------------|-------|-------------|--------|------|
//! | T1  | 02-27 10:00 | email    | A    | X     | 02-27 11:00  | 3600  | 03-02 09:00 | 255600 | f T  |
//! | T2  | 02-28 12:00 | chat     | B    | Y     |              |       |             |        | - -  |
//! | T3  | 02-26 08:00 | email    | A    | X     | 02-26 08:10  | 600   | 02-28 08:00 | 172800 | f f  |
//! | T4  | 03-01 23:30 | whatsapp | B    |       | 03-02 05:30  | 21600 | 03-05 10:00 | 297000 | T -  |
//! | T5  | 03-02 00:00 | email    | A    | X     | 03-02 00:30  | 1800  | 03-02 10:00 | 36000  | f f  |
//! | T6  | 03-02 09:15 | email    | A    | X     | 03-02 10:15  | 3600  | 03-03 09:15 | 86400  | f T  |
//! | T7  | 03-02 14:00 | chat     | B    | Y     | 03-02 14:02  | 120   | 03-02 15:00 | 3600   | f f  |
//! | T8  | 03-02 23:59:59 | chat  | A    | Y     | 03-03 00:59:59 | 3600 |            |        | T -  |
//! | T9  | 03-03 08:00 | whatsapp | B    | Y     | 03-03 08:05  | 300   | 03-03 12:00 | 14400  | f f  |
//! | T10 | 03-03 09:00 | email    | A    | X     | 03-03 11:00  | 7200  | 03-04 09:00 | 86400  | T f  |
//! | T11 | 03-03 10:00 | email    | B    | X     | 03-03 10:20  | 1200  | 03-03 11:00 | 3600   | f f  |
//! | T12 | 03-03 11:00 | chat     | A    |       |              |       |             |        | - -  |
//! | T13 | 03-03 16:00 | sms      | B    | Y     | 03-03 16:30  | 1800  | 03-04 16:00 | 86400  | f f  |
//! | T14 | 03-04 07:00 | email    | A    | X     | 03-04 07:01  | 60    | 03-04 08:00 | 3600   | f f  |
//! | T15 | 03-04 12:00 | chat     | A    | Y     | 03-04 12:10  | 600   |             |        | f -  |
//! | T16 | 03-04 23:00 | email    | B    | X     |              |       |             |        | - -  |
//! | T17 | 03-05 00:00 | email    | A    | X     | 03-05 00:10  | 600   | 03-05 01:00 | 3600   | f f  |
//!
//! Feedback (survey ratings unless said): F1 T1 03-02 10:00 email A X 5; F2 T5 03-02 11:00
//! email A X 4; F3 T7 03-02 16:00 chat B Y 2; F4 T9 03-03 13:00 whatsapp B Y 5; F5 T11
//! 03-03 12:00 email B X 3; F6 T6 03-03 10:00 email A X 1; F7 T14 03-04 09:00 email A X 4;
//! F8 T3 03-01 12:00 email A X 5 (before the period); F9 T10 03-04 10:00 a complaint
//! without rating (not an answer); F10 T17 03-05 02:00 email A X 3 (after the period).
//!
//! Percentiles are nearest-rank: rank ⌈p·n⌉ of the ascending values.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use serde_json::{Value, json};
use switchboard::desk::Role;

use crate::on_both;
use crate::support::{Browser, Engine, TestApp};

const PERIOD: &str = "from=2026-03-02&to=2026-03-04";

fn at(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(&format!("2026-{s}"), "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .and_utc()
}

/// One fixture ticket, as in the table of the module docs.
struct T {
    created: &'static str,
    channel: &'static str,
    team: char,
    agent: char,
    first: Option<(&'static str, i64)>,
    resolved: Option<(&'static str, i64)>,
    verdicts: (Option<bool>, Option<bool>),
}

const F: Option<bool> = Some(false);
const B: Option<bool> = Some(true);
const N: Option<bool> = None;

#[rustfmt::skip]
fn tickets() -> Vec<T> {
    let t = |created, channel, team, agent, first, resolved, verdicts| T {
        created, channel, team, agent, first, resolved, verdicts,
    };
    vec![
        t("02-27 10:00:00", "email", 'A', 'X', Some(("02-27 11:00:00", 3600)), Some(("03-02 09:00:00", 255600)), (F, B)),
        t("02-28 12:00:00", "chat", 'B', 'Y', None, None, (N, N)),
        t("02-26 08:00:00", "email", 'A', 'X', Some(("02-26 08:10:00", 600)), Some(("02-28 08:00:00", 172800)), (F, F)),
        t("03-01 23:30:00", "whatsapp", 'B', '-', Some(("03-02 05:30:00", 21600)), Some(("03-05 10:00:00", 297000)), (B, N)),
        t("03-02 00:00:00", "email", 'A', 'X', Some(("03-02 00:30:00", 1800)), Some(("03-02 10:00:00", 36000)), (F, F)),
        t("03-02 09:15:00", "email", 'A', 'X', Some(("03-02 10:15:00", 3600)), Some(("03-03 09:15:00", 86400)), (F, B)),
        t("03-02 14:00:00", "chat", 'B', 'Y', Some(("03-02 14:02:00", 120)), Some(("03-02 15:00:00", 3600)), (F, F)),
        t("03-02 23:59:59", "chat", 'A', 'Y', Some(("03-03 00:59:59", 3600)), None, (B, N)),
        t("03-03 08:00:00", "whatsapp", 'B', 'Y', Some(("03-03 08:05:00", 300)), Some(("03-03 12:00:00", 14400)), (F, F)),
        t("03-03 09:00:00", "email", 'A', 'X', Some(("03-03 11:00:00", 7200)), Some(("03-04 09:00:00", 86400)), (B, F)),
        t("03-03 10:00:00", "email", 'B', 'X', Some(("03-03 10:20:00", 1200)), Some(("03-03 11:00:00", 3600)), (F, F)),
        t("03-03 11:00:00", "chat", 'A', '-', None, None, (N, N)),
        t("03-03 16:00:00", "sms", 'B', 'Y', Some(("03-03 16:30:00", 1800)), Some(("03-04 16:00:00", 86400)), (F, F)),
        t("03-04 07:00:00", "email", 'A', 'X', Some(("03-04 07:01:00", 60)), Some(("03-04 08:00:00", 3600)), (F, F)),
        t("03-04 12:00:00", "chat", 'A', 'Y', Some(("03-04 12:10:00", 600)), None, (F, N)),
        t("03-04 23:00:00", "email", 'B', 'X', None, None, (N, N)),
        t("03-05 00:00:00", "email", 'A', 'X', Some(("03-05 00:10:00", 600)), Some(("03-05 01:00:00", 3600)), (F, F)),
    ]
}

/// (ticket number 1-based, when, kind, rating) with channel, team and assignee copied
/// from the ticket.
#[rustfmt::skip]
const FEEDBACK: &[(usize, &str, &str, Option<i32>)] = &[
    (1, "03-02 10:00:00", "survey", Some(5)),
    (5, "03-02 11:00:00", "survey", Some(4)),
    (7, "03-02 16:00:00", "survey", Some(2)),
    (9, "03-03 13:00:00", "survey", Some(5)),
    (11, "03-03 12:00:00", "survey", Some(3)),
    (6, "03-03 10:00:00", "survey", Some(1)),
    (14, "03-04 09:00:00", "survey", Some(4)),
    (3, "03-01 12:00:00", "survey", Some(5)),
    (10, "03-04 10:00:00", "complaint", None),
    (17, "03-05 02:00:00", "survey", Some(3)),
];

/// The ids the fixture got: teams A, B and agents X, Y.
struct Fixture {
    a: i64,
    b: i64,
    x: i64,
    y: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    use entity::{contact, feedback, team, ticket};
    let db = app.desk.store.db();
    let x = app.agent("xaver@example.com", Role::Agent).await;
    let y = app.agent("yvonne@example.com", Role::Agent).await;
    let mut teams = Vec::new();
    for name in ["Alpha", "Beta"] {
        let t = team::ActiveModel {
            name: Set(name.into()),
            created_at: Set(at("02-01 00:00:00")),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        teams.push(t.id);
    }
    let (a, b) = (teams[0], teams[1]);
    let customer = contact::ActiveModel {
        name: Set(Some("Kim Kunde".into())),
        tags: Set(json!([])),
        created_at: Set(at("02-01 00:00:00")),
        updated_at: Set(at("02-01 00:00:00")),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let mut stored = Vec::new();
    for (i, t) in tickets().into_iter().enumerate() {
        let created = at(t.created);
        let row = ticket::ActiveModel {
            number: Set(5000 + i as i64),
            subject: Set(format!("T{}", i + 1)),
            status: Set(if t.resolved.is_some() {
                "resolved"
            } else {
                "open"
            }
            .into()),
            priority: Set("normal".into()),
            kind: Set("question".into()),
            channel: Set(t.channel.into()),
            contact_id: Set(customer.id),
            assignee_id: Set(match t.agent {
                'X' => Some(x),
                'Y' => Some(y),
                _ => None,
            }),
            team_id: Set(Some(if t.team == 'A' { a } else { b })),
            first_response_at: Set(t.first.map(|(s, _)| at(s))),
            first_response_seconds: Set(t.first.map(|(_, n)| n)),
            resolved_at: Set(t.resolved.map(|(s, _)| at(s))),
            resolution_seconds: Set(t.resolved.map(|(_, n)| n)),
            first_response_breached: Set(t.verdicts.0),
            resolution_breached: Set(t.verdicts.1),
            last_message_at: Set(created),
            created_at: Set(created),
            updated_at: Set(created),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        stored.push(row);
    }
    for (n, when, kind, rating) in FEEDBACK {
        let t = &stored[n - 1];
        feedback::ActiveModel {
            ticket_id: Set(t.id),
            contact_id: Set(customer.id),
            kind: Set((*kind).into()),
            rating: Set(*rating),
            source: Set(if *kind == "survey" { "survey" } else { "agent" }.into()),
            channel: Set(t.channel.clone()),
            team_id: Set(t.team_id),
            assignee_id: Set(t.assignee_id),
            created_at: Set(at(when)),
            updated_at: Set(at(when)),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    Fixture { a, b, x, y }
}

/// The rows of a report, asserting a 200 and the echoed period.
async fn rows(lead: &Browser, name: &str, query: &str) -> Value {
    let (status, body) = lead.get(&format!("/api/v1/reports/{name}?{query}")).await;
    assert_eq!(status, 200, "{name}?{query}: {body}");
    assert_eq!(body["report"], name);
    body["rows"].clone()
}

on_both! {
    async fn reports_match_the_hand_computed_fixture(engine: Engine) {
        let app = TestApp::start(engine).await;
        let Fixture { a, b, x, y } = fixture(&app).await;
        let lead = app.signed_in(Role::Lead).await;

        // Tickets created per day and channel; T4 (03-01) and T17 (03-05) are outside.
        assert_eq!(rows(&lead, "volume", PERIOD).await, json!([
            ["2026-03-02", "chat", 2],      // T7, T8 (23:59:59 still that day)
            ["2026-03-02", "email", 2],     // T5 (00:00:00 exactly), T6
            ["2026-03-03", "chat", 1],      // T12
            ["2026-03-03", "email", 2],     // T10, T11
            ["2026-03-03", "sms", 1],       // T13
            ["2026-03-03", "whatsapp", 1],  // T9
            ["2026-03-04", "chat", 1],      // T15
            ["2026-03-04", "email", 2],     // T14, T16
        ]));

        // Open at the start: T1 (resolved 03-02), T2 (open), T4 (resolved 03-05) = 3;
        // T3 was resolved 02-28. open(d) = open(d-1) + created(d) - resolved(d).
        assert_eq!(rows(&lead, "backlog", PERIOD).await, json!([
            ["2026-03-02", 4, 3, 4],  // resolved T1, T5, T7: 3 + 4 - 3 = 4 (T2 T4 T6 T8)
            ["2026-03-03", 5, 3, 6],  // resolved T6, T9, T11: 4 + 5 - 3 = 6
            ["2026-03-04", 3, 3, 6],  // resolved T10, T13, T14: 6 + 3 - 3 = 6
        ]));

        // First responses by the day they happened, resolutions by the day resolved.
        // 03-02 fr: 120 1800 3600 21600 (T7 T5 T6 T4): median rank 2 → 1800, p90 rank
        //   ⌈3.6⌉ = 4 → 21600; res: 3600 36000 255600 (T7 T5 T1): rank 2, rank ⌈2.7⌉ = 3.
        // 03-03 fr: 300 1200 1800 3600 7200: rank 3 → 1800, rank ⌈4.5⌉ = 5 → 7200;
        //   res: 3600 14400 86400 (T11 T9 T6) → 14400, 86400.
        // 03-04 fr: 60 600: rank 1 → 60, rank ⌈1.8⌉ = 2 → 600; res: 3600 86400 86400.
        assert_eq!(rows(&lead, "times", PERIOD).await, json!([
            ["2026-03-02", 1800, 21600, 36000, 255600],
            ["2026-03-03", 1800, 7200, 14400, 86400],
            ["2026-03-04", 60, 600, 86400, 86400],
        ]));

        // By day of creation, tickets with a verdict; compliance = no breach / tickets.
        // 03-02: T5 ff, T6 fT, T7 ff, T8 T- → 4; fr 3 met 1 breached; res 2 met 1
        //   breached; breached T6 T8 → 2/4 = 0.5.
        // 03-03: T9 ff, T10 Tf, T11 ff, T13 ff (T12 none) → 4; fr 3/1; res 4/0; 3/4.
        // 03-04: T14 ff, T15 f- (T16 none) → 2; fr 2/0; res 1/0; 2/2.
        assert_eq!(rows(&lead, "sla", PERIOD).await, json!([
            ["2026-03-02", 4, 3, 1, 2, 1, 0.5],
            ["2026-03-03", 4, 3, 1, 4, 0, 0.75],
            ["2026-03-04", 2, 2, 0, 1, 0, 1.0],
        ]));

        // Survey ratings by day: 03-02 5 4 2 → 11/3 = 3.67, satisfied 2, 2/3; 03-03 5 3 1
        // → 3.0, 1, 1/3; 03-04 4 (the complaint F9 is no answer) → 4.0, 1, 1.0.
        assert_eq!(rows(&lead, "csat", PERIOD).await, json!([
            ["2026-03-02", 3, 3.67, 2, 0.6667],
            ["2026-03-03", 3, 3.0, 1, 0.3333],
            ["2026-03-04", 1, 4.0, 1, 1.0],
        ]));

        // Per agent (T4, T12 have none). X resolved T1 T5 T6 T10 T11 T14 = 6; fr 60 1200
        // 1800 3600 7200 → 1800, 7200; res 3600 3600 36000 86400 86400 255600 → rank 3
        // 36000, rank ⌈5.4⌉ = 6 255600; answers 5 4 3 1 4 → 5, satisfied 3 → 0.6;
        // created with a verdict T5 T6 T10 T11 T14, breached T6 T10 → 3/5.
        // Y resolved T7 T9 T13 = 3; fr 120 300 600 1800 3600 → 600, 3600; res 3600 14400
        // 86400 → 14400, 86400; answers 2 5 → 1/2; T7 T8 T9 T13 T15, breached T8 → 4/5.
        assert_eq!(rows(&lead, "agents", PERIOD).await, json!([
            [x, "xaver", 6, 1800, 7200, 36000, 255600, 5, 0.6, 0.6],
            [y, "yvonne", 3, 600, 3600, 14400, 86400, 2, 0.5, 0.8],
        ]));

        // Per team. A resolved T1 T5 T6 T10 T14 = 5; fr 60 600 1800 3600 3600 7200 →
        // rank 3 1800, rank 6 7200; res 3600 36000 86400 86400 255600 → 86400, 255600;
        // answers 5 4 1 4 → 4, 3/4; T5 T6 T8 T10 T14 T15, breached T6 T8 T10 → 3/6.
        // B resolved T7 T9 T11 T13 = 4; fr 120 300 1200 1800 21600 → 1200, 21600; res
        // 3600 3600 14400 86400 → rank 2 3600, rank ⌈3.6⌉ = 4 86400; answers 2 5 3 →
        // 1/3; T7 T9 T11 T13 all met → 1.0.
        assert_eq!(rows(&lead, "teams", PERIOD).await, json!([
            [a, "Alpha", 5, 1800, 7200, 86400, 255600, 4, 0.75, 0.5],
            [b, "Beta", 4, 1200, 21600, 3600, 86400, 3, 0.3333, 1.0],
        ]));

        // Filters. Team A's volume: T5 T6 T8 / T10 T12 / T14 T15.
        assert_eq!(rows(&lead, "volume", &format!("{PERIOD}&team={a}")).await, json!([
            ["2026-03-02", "chat", 1], ["2026-03-02", "email", 2],
            ["2026-03-03", "chat", 1], ["2026-03-03", "email", 1],
            ["2026-03-04", "chat", 1], ["2026-03-04", "email", 1],
        ]));
        // Email's backlog: open at the start T1 only; created T5 T6 / T10 T11 / T14 T16;
        // resolved T1 T5 / T6 T11 / T10 T14 → 1 open each evening (T6, T10, T16).
        assert_eq!(rows(&lead, "backlog", &format!("{PERIOD}&channel=email")).await, json!([
            ["2026-03-02", 2, 2, 1],
            ["2026-03-03", 2, 2, 1],
            ["2026-03-04", 2, 2, 1],
        ]));
        // Email's csat: 5 4 → 4.5, 2/2; 3 1 → 2.0, 0/2; 4 → 4.0, 1/1.
        assert_eq!(rows(&lead, "csat", &format!("{PERIOD}&channel=email")).await, json!([
            ["2026-03-02", 2, 4.5, 2, 1.0],
            ["2026-03-03", 2, 2.0, 0, 0.0],
            ["2026-03-04", 1, 4.0, 1, 1.0],
        ]));
        // Team B's agents: X has T11 only (fr 1200, res 3600, answer 3, met); Y has T7 T9
        // T13 (fr 120 300 1800 → 300, 1800; res 3600 14400 86400; answers 2 5; all met).
        assert_eq!(rows(&lead, "agents", &format!("{PERIOD}&team={b}")).await, json!([
            [x, "xaver", 1, 1200, 1200, 3600, 3600, 1, 0.0, 1.0],
            [y, "yvonne", 3, 300, 1800, 14400, 86400, 2, 0.5, 1.0],
        ]));
        assert_eq!(rows(&lead, "teams", &format!("{PERIOD}&team={b}&channel=chat")).await, json!([
            // T7 only: fr 120, res 3600, answer 2, met.  (T2 is older.)
            [b, "Beta", 1, 120, 120, 3600, 3600, 1, 0.0, 1.0],
        ]));
        // Team A's times. 03-02 fr T5 1800 T6 3600 → 1800, 3600; res T5 36000 T1 255600.
        // 03-03 fr T8 3600 T10 7200; res T6 86400. 03-04 fr T14 60 T15 600; res T14 3600
        // T10 86400. With email only, 03-03 loses T8 (chat) and 03-04 loses T15 (chat).
        assert_eq!(rows(&lead, "times", &format!("{PERIOD}&team={a}")).await, json!([
            ["2026-03-02", 1800, 3600, 36000, 255600],
            ["2026-03-03", 3600, 7200, 86400, 86400],
            ["2026-03-04", 60, 600, 3600, 86400],
        ]));
        assert_eq!(rows(&lead, "times", &format!("{PERIOD}&team={a}&channel=email")).await, json!([
            ["2026-03-02", 1800, 3600, 36000, 255600],
            ["2026-03-03", 7200, 7200, 86400, 86400],
            ["2026-03-04", 60, 60, 3600, 86400],
        ]));
        // A one-day period: open at its start is the evening of 03-02 (4).
        assert_eq!(
            rows(&lead, "backlog", "from=2026-03-03&to=2026-03-03").await,
            json!([["2026-03-03", 5, 3, 6]])
        );
        // Days without data are rows of zeros and nulls. 03-05: T17 fr 600 and T17, T4
        // resolved (3600, 297000 → rank 1 3600, rank 2 297000); F10 rated 3.
        assert_eq!(rows(&lead, "times", "from=2026-03-05&to=2026-03-06").await, json!([
            ["2026-03-05", 600, 600, 3600, 297000],
            ["2026-03-06", null, null, null, null],
        ]));
        assert_eq!(rows(&lead, "csat", "from=2026-03-05&to=2026-03-06").await, json!([
            ["2026-03-05", 1, 3.0, 0, 0.0],
            ["2026-03-06", 0, null, 0, null],
        ]));
        assert_eq!(rows(&lead, "agents", "from=2026-03-06&to=2026-03-06").await, json!([]));

        // The default period: the last 30 days up to today.
        let (status, body) = lead.get("/api/v1/reports/sla").await;
        assert_eq!(status, 200, "{body}");
        let today = Utc::now().date_naive();
        assert_eq!(body["to"], json!(today));
        assert_eq!(body["from"], json!(today - chrono::Duration::days(29)));
        assert_eq!(body["rows"].as_array().unwrap().len(), 30);

        // CSV carries the same columns and rows.
        for name in ["volume", "backlog", "times", "sla", "csat", "agents", "teams"] {
            let (_, json_body) = lead.get(&format!("/api/v1/reports/{name}?{PERIOD}")).await;
            for csv_request in [
                lead.client.get(format!("{}/api/v1/reports/{name}?{PERIOD}&format=csv", lead.base)),
                lead.client
                    .get(format!("{}/api/v1/reports/{name}?{PERIOD}", lead.base))
                    .header("accept", "text/csv"),
            ] {
                let res = csv_request.send().await.unwrap();
                assert_eq!(res.status(), 200);
                assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
                assert_eq!(
                    res.headers()["content-disposition"],
                    format!("attachment; filename=\"{name}-2026-03-02-2026-03-04.csv\"").as_str()
                );
                let text = res.text().await.unwrap();
                assert_eq!(text, csv_of(&json_body), "{name}");
            }
        }
        let csv = lead
            .client
            .get(format!("{}/api/v1/reports/csat?{PERIOD}&format=csv", lead.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            csv,
            "day,answers,average,satisfied,csat\n\
             2026-03-02,3,3.67,2,0.6667\n2026-03-03,3,3.0,1,0.3333\n2026-03-04,1,4.0,1,1.0\n"
        );
        app.stop().await;
    }
}

/// The CSV a JSON report must equal, written independently of the server's writer.
fn csv_of(body: &Value) -> String {
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) if s.contains([',', '"', '\n']) => {
            format!("\"{}\"", s.replace('"', "\"\""))
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::new();
    let lines = std::iter::once(body["columns"].clone())
        .chain(body["rows"].as_array().unwrap().iter().cloned());
    for line in lines {
        let cells: Vec<String> = line.as_array().unwrap().iter().map(cell).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

on_both! {
    async fn reports_are_for_leads_and_check_their_parameters(engine: Engine) {
        let app = TestApp::start(engine).await;
        let lead = app.signed_in(Role::Lead).await;
        let (status, body) = lead.get("/api/v1/reports").await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"reports": ["volume", "backlog", "times", "sla", "csat", "agents", "teams"]})
        );
        let admin = app.token(Role::Admin).await;
        assert_eq!(admin.get("/api/v1/reports/volume").await.0, 200);

        let agent = app.signed_in(Role::Agent).await;
        for path in ["/api/v1/reports", "/api/v1/reports/volume", "/api/v1/reports/agents?format=csv"] {
            let (status, body) = agent.get(path).await;
            assert_eq!(status, 403, "{path}: {body}");
            let status = reqwest::get(app.url(path)).await.unwrap().status();
            assert_eq!(status, 401, "{path} without credentials");
        }

        let (status, _) = lead.get("/api/v1/reports/nps").await;
        assert_eq!(status, 404);
        for (query, field) in [
            ("from=2026-13-01", "from"),
            ("from=yesterday", "from"),
            ("to=2026-02-30", "to"),
            // Signed years chrono reads, far outside any store: a 400, not a panic.
            ("to=%2B262143-12-31", "to"),
            ("to=-262144-01-10", "to"),
            ("from=10000-01-01", "from"),
            ("from=2026-03-05&to=2026-03-04", "to"),
            ("from=2025-01-01&to=2026-01-02", "to"),
            ("team=abc", "team"),
            ("team=-4", "team"),
            ("channel=pigeon", "channel"),
            ("format=xml", "format"),
            ("colour=red", "colour"),
        ] {
            let (status, body) = lead.get(&format!("/api/v1/reports/volume?{query}")).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert_eq!(body["field"], field, "{query}: {body}");
        }
        // 366 days is the longest period.
        let (status, body) = lead
            .get("/api/v1/reports/backlog?from=2024-01-01&to=2024-12-31")
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["rows"].as_array().unwrap().len(), 366);
        app.stop().await;
    }
}

on_both! {
    /// The day arithmetic relies on how each engine keeps a UTC time: SQLite as RFC 3339
    /// text whose first ten characters are the UTC date.
    async fn stored_times_are_what_the_day_grouping_expects(engine: Engine) {
        let app = TestApp::start(engine).await;
        fixture(&app).await;
        let store = &app.desk.store;
        if engine == Engine::Sqlite {
            let row = store
                .db()
                .query_one_raw(Statement::from_string(
                    store.backend(),
                    "SELECT created_at, typeof(created_at) AS kind FROM ticket WHERE subject = 'T8'",
                ))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get::<String>("", "kind").unwrap(), "text");
            assert_eq!(
                row.try_get::<String>("", "created_at").unwrap(),
                "2026-03-02T23:59:59+00:00"
            );
        }
        // T8 at 23:59:59 UTC is a 03-02 ticket (PostgreSQL's query names UTC itself,
        // whatever the session's time zone).
        let desk = app.desk.clone();
        let q = switchboard::desk::reports::ReportQuery {
            period: switchboard::desk::reports::Period::new(
                chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
                chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            )
            .unwrap(),
            team: None,
            channel: Some(switchboard::desk::Channel::Chat),
        };
        let report = desk
            .report(switchboard::desk::reports::ReportName::Volume, &q)
            .await
            .unwrap();
        assert_eq!(report.rows, vec![vec![json!("2026-03-02"), json!("chat"), json!(2)]]);
        app.stop().await;
    }
}

/// Nearest-rank percentile (rank ⌈p·n⌉) of sorted values, p in tenths.
fn nearest_rank(sorted: &[i64], tenths: usize) -> Option<i64> {
    let rank = (tenths * sorted.len()).div_ceil(10).max(1);
    sorted.get(rank - 1).copied()
}

on_both! {
    /// A long period's times and agent table against the same percentiles taken by
    /// sorting in Rust: 300 days with one to seven resolved tickets each among three
    /// agents, so SQLite reads its daily ranks in several statements and ranks thousands
    /// of values per agent, and PostgreSQL ranks hundreds of groups.
    async fn a_long_periods_times_match_a_sort(engine: Engine) {
        use entity::{contact, ticket};
        use sea_orm::EntityTrait;
        let app = TestApp::start(engine).await;
        let lead = app.signed_in(Role::Lead).await;
        let db = app.desk.store.db();
        let start = at("01-01 00:00:00") - chrono::Duration::days(400);
        let customer = contact::ActiveModel {
            name: Set(Some("Kim Kunde".into())),
            tags: Set(json!([])),
            created_at: Set(start),
            updated_at: Set(start),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        let mut agents = Vec::new();
        for name in ["ada", "bo", "cy"] {
            agents.push(app.agent(&format!("{name}@example.com"), Role::Agent).await);
        }
        // Per agent: first-response and resolution seconds.
        let mut by_agent: std::collections::BTreeMap<i64, (Vec<i64>, Vec<i64>)> =
            Default::default();
        let mut seed: i64 = 7;
        let mut next = move || {
            seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
            seed
        };
        let mut expected: std::collections::BTreeMap<String, (Vec<i64>, Vec<i64>)> =
            Default::default();
        let mut batch = Vec::new();
        for d in 0..300 {
            let day = start + chrono::Duration::days(d);
            for i in 0..(1 + next() % 7) {
                let created = day + chrono::Duration::minutes(60 * i + next() % 50);
                let first = next() % 86_400;
                let resolution = first + next() % 500_000;
                let resolved = created + chrono::Duration::seconds(resolution);
                let e = expected.entry(created.format("%Y-%m-%d").to_string()).or_default();
                e.0.push(first);
                expected.entry(resolved.format("%Y-%m-%d").to_string()).or_default().1.push(resolution);
                let agent = agents[(next() % 3) as usize];
                let a = by_agent.entry(agent).or_default();
                a.0.push(first);
                a.1.push(resolution);
                batch.push(ticket::ActiveModel {
                    number: Set(10_000 + batch.len() as i64),
                    subject: Set("long".into()),
                    status: Set("resolved".into()),
                    priority: Set("normal".into()),
                    kind: Set("question".into()),
                    channel: Set("email".into()),
                    contact_id: Set(customer.id),
                    assignee_id: Set(Some(agent)),
                    first_response_at: Set(Some(created)),
                    first_response_seconds: Set(Some(first)),
                    resolved_at: Set(Some(resolved)),
                    resolution_seconds: Set(Some(resolution)),
                    last_message_at: Set(created),
                    created_at: Set(created),
                    updated_at: Set(created),
                    ..Default::default()
                });
            }
        }
        for chunk in batch.chunks(200) {
            ticket::Entity::insert_many(chunk.to_vec()).exec(db).await.unwrap();
        }
        let from = start.date_naive();
        let to = from + chrono::Duration::days(365);
        let got = rows(&lead, "times", &format!("from={from}&to={to}")).await;
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), 366);
        let mut checked = 0;
        for row in got {
            let day = row[0].as_str().unwrap();
            let (mut first, mut resolution) = expected.get(day).cloned().unwrap_or_default();
            first.sort_unstable();
            resolution.sort_unstable();
            let want = json!([
                day,
                nearest_rank(&first, 5),
                nearest_rank(&first, 9),
                nearest_rank(&resolution, 5),
                nearest_rank(&resolution, 9),
            ]);
            assert_eq!(row, &want, "{day}");
            checked += first.len() + resolution.len();
        }
        assert!(checked > 1000, "{checked} values");
        let got = rows(&lead, "agents", &format!("from={from}&to={to}")).await;
        let want: Vec<Value> = by_agent
            .into_values()
            .zip(&agents)
            .map(|((mut first, mut resolution), id)| {
                first.sort_unstable();
                resolution.sort_unstable();
                json!([
                    id,
                    null,
                    resolution.len(),
                    nearest_rank(&first, 5),
                    nearest_rank(&first, 9),
                    nearest_rank(&resolution, 5),
                    nearest_rank(&resolution, 9),
                    0,
                    null,
                    null,
                ])
            })
            .collect();
        let mut got = got.as_array().unwrap().clone();
        for row in &mut got {
            row[1] = Value::Null; // the agent's name
        }
        assert_eq!(got, want);
        app.stop().await;
    }
}
