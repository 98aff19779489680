//! Phone calls from a PBX: the generic CTI events (JSON and form-encoded, as PBX scripts
//! send them), the call record with its durations, the contact found by number, the
//! call-back ticket of a missed call, blocked callers, replays and events out of order.

use serde_json::{Value, json};
use switchboard::desk::Role;
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::{Channel, Inbound};

use crate::support::{Api, Engine, TestApp};

async fn post_json(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/cti/{token}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    crate::support::reply(res).await
}

async fn post_form(app: &TestApp, token: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/cti/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    crate::support::reply(res).await
}

crate::on_both! {
    async fn calls_from_a_pbx(engine: Engine) {
        let app = TestApp::start(engine).await;
        let desk = app.desk.clone();
        let sam = app.agent("sam@switchboard.localhost", Role::Agent).await;
        let pbx = desk
            .create_pbx("Office PBX", &["+49 30 666666".into()], [("ext-21".to_owned(), sam)].into(), Default::default())
            .await
            .unwrap();
        let token = pbx.channel.key.clone();
        // A known customer, by any spelling of her number.
        let known = desk
            .ingest(&Inbound::text(Channel::Api, "k1", IdentityClaim::new(IdentityKind::Phone, "+49 30 1234567"), "hi"))
            .await
            .unwrap();

        // An answered call from her, form-encoded as sipgate-style scripts post it.
        let (s, b) = post_form(&app, &token, &[("event", "newCall"), ("direction", "in"), ("from", "030 1234567"), ("to", "+49301111"), ("callId", "c-1"), ("user[]", "Sam"), ("queue", "support")]).await;
        assert_eq!((s, &b), (200, &json!({})));
        let (s, _) = post_form(&app, &token, &[("event", "answer"), ("direction", "in"), ("from", "030 1234567"), ("to", "+49301111"), ("callId", "c-1"), ("user", "ext-21")]).await;
        assert_eq!(s, 200);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let (s, _) = post_json(&app, &token, json!({"event": "hangup", "direction": "in", "from": "030 1234567", "to": "+49301111", "callId": "c-1", "cause": "normalClearing"})).await;
        assert_eq!(s, 200);
        // The same hangup again changes nothing.
        assert_eq!(post_json(&app, &token, json!({"event": "hangup", "direction": "in", "from": "030 1234567", "to": "+49301111", "callId": "c-1", "cause": "cancel"})).await.0, 200);
        let calls = desk.calls(None, 10).await.unwrap();
        let c = &calls[0];
        assert_eq!(c.call.status, "answered");
        assert_eq!(c.call.cause.as_deref(), Some("normalClearing"));
        assert_eq!(c.call.from_number, "+49301234567");
        assert_eq!(c.call.contact_id, Some(known.contact_id));
        assert_eq!(c.call.agent_id, Some(sam));
        assert_eq!(c.call.queue.as_deref(), Some("support"));
        assert!(c.talking_seconds.unwrap() >= 1);
        assert_eq!(c.call.ticket_id, None);

        // A missed call from an unknown number opens a call-back ticket.
        post_json(&app, &token, json!({"event": "newCall", "direction": "in", "from": "+4917699999999", "to": "+49301111", "callId": "c-2", "user": ["Sam", "Lea"]})).await;
        post_json(&app, &token, json!({"event": "hangup", "direction": "in", "from": "+4917699999999", "to": "+49301111", "callId": "c-2", "cause": "noAnswer"})).await;
        let missed = &desk.calls(None, 10).await.unwrap()[0];
        assert_eq!(missed.call.status, "missed");
        let ticket = desk.ticket(missed.call.ticket_id.expect("a call-back ticket")).await.unwrap();
        assert_eq!(ticket.channel, "voice");
        assert_eq!(ticket.subject, "Call back +4917699999999");
        assert_eq!(missed.call.contact_id, Some(ticket.contact_id));
        // A second missed call from the same number joins the open call-back ticket.
        post_json(&app, &token, json!({"event": "newCall", "direction": "in", "from": "+4917699999999", "to": "+49301111", "callId": "c-3"})).await;
        post_json(&app, &token, json!({"event": "hangup", "direction": "in", "from": "+4917699999999", "to": "+49301111", "callId": "c-3", "cause": "cancel"})).await;
        assert_eq!(desk.calls(None, 10).await.unwrap()[0].call.ticket_id, Some(ticket.id));

        // An answer that comes before its ring, and an outbound call: no ticket.
        post_json(&app, &token, json!({"event": "answer", "direction": "out", "from": "+49301111", "to": "030 1234567", "callId": "c-4", "user": "sam@switchboard.localhost"})).await;
        post_json(&app, &token, json!({"event": "newCall", "direction": "out", "from": "+49301111", "to": "030 1234567", "callId": "c-4"})).await;
        post_json(&app, &token, json!({"event": "hangup", "direction": "out", "from": "+49301111", "to": "030 1234567", "callId": "c-4", "cause": "normalClearing"})).await;
        let out = &desk.calls(None, 10).await.unwrap()[0];
        assert_eq!((out.call.status.as_str(), out.call.direction.as_str()), ("answered", "out"));
        assert_eq!(out.call.contact_id, Some(known.contact_id));

        // A blocked caller is rejected.
        let (s, b) = post_json(&app, &token, json!({"event": "newCall", "direction": "in", "from": "030 666666", "to": "+49301111", "callId": "c-5"})).await;
        assert_eq!((s, b), (200, json!({"action": "reject", "reason": "busy"})));
        assert_eq!(desk.calls(None, 10).await.unwrap()[0].call.status, "rejected");

        // Unknown token, bad event, missing fields, broken bodies.
        assert_eq!(post_json(&app, "x".repeat(32).as_str(), json!({"event": "newCall"})).await.0, 404);
        let (s, b) = post_json(&app, &token, json!({"event": "dial", "from": "1", "to": "2", "callId": "c"})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("event")));
        let (s, b) = post_json(&app, &token, json!({"event": "newCall", "from": "1", "to": "2"})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("callId")));
        let res = reqwest::Client::new().post(app.url(&format!("/api/v1/cti/{token}"))).header("content-type", "application/json").body("{").send().await.unwrap();
        assert_eq!(res.status(), 400);

        // The caller log, for agents only.
        let (_, agent_token) = desk.create_token("console", Role::Agent).await.unwrap();
        let (s, log) = Api::new(&app.base, &agent_token).get("/api/v1/calls?limit=3").await;
        assert_eq!(s, 200);
        assert_eq!(log.as_array().unwrap().len(), 3);
        assert!(log[0]["waiting_seconds"].is_i64() || log[0]["waiting_seconds"].is_null());
        assert_eq!(reqwest::get(app.url("/api/v1/calls")).await.unwrap().status(), 401);
        app.stop().await;
    }
}

/// The screen pop: a ringing call reaches the agents watching calls with the caller's
/// card (orders, open tickets); an answered one reaches the agent who answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_pops_up_with_the_callers_orders() {
    use crate::live::{open, until};
    let app = TestApp::start(Engine::Sqlite).await;
    let desk = app.desk.clone();
    let pbx = desk
        .create_pbx("PBX", &[], Default::default(), Default::default())
        .await
        .unwrap();
    let known = desk
        .ingest(&Inbound::text(
            Channel::Api,
            "k1",
            IdentityClaim::new(IdentityKind::Phone, "+49 30 1234567"),
            "Meine Mühle",
        ))
        .await
        .unwrap();
    desk.upsert_orders(vec![serde_json::from_value(json!({
        "source": "shop", "external_id": "O-1001", "number": "1001", "status": "paid", "currency": "EUR", "total": "129.90",
        "placed_at": "2026-11-01T10:00:00Z", "customer": {"phone": "+49301234567"}, "items": []
    })).unwrap()])
    .await
    .unwrap();
    let sam = app.signed_in(Role::Agent).await;
    let mut ws = open(&app, &sam, &["calls"]).await;
    post_json(&app, &pbx.channel.key, json!({"event": "newCall", "direction": "in", "from": "030 1234567", "to": "+49301111", "callId": "p-1"})).await;
    let pop = until(&mut ws, |v| v["type"] == "call").await;
    assert_eq!(pop["call"]["status"], "ringing");
    assert_eq!(
        pop["card"]["contact"]["id"].as_i64(),
        Some(known.contact_id)
    );
    assert_eq!(pop["card"]["orders"][0]["number"], "1001");
    assert_eq!(
        pop["card"]["open_tickets"][0]["id"].as_i64(),
        Some(known.ticket_id)
    );
    // An unknown caller pops up without a card.
    post_json(&app, &pbx.channel.key, json!({"event": "newCall", "direction": "in", "from": "+4917612300000", "to": "+49301111", "callId": "p-2"})).await;
    let pop = until(&mut ws, |v| {
        v["type"] == "call" && v["call"]["call_id"] == "p-2"
    })
    .await;
    assert!(pop["card"].is_null());
    // A queue mapped to a team pops up at its members only.
    let team = desk.create_team("Hotline").await.unwrap().team.id;
    let member = app.signed_in(Role::Agent).await;
    desk.set_team_member(team, member.agent_id, true)
        .await
        .unwrap();
    let hotline = desk
        .create_pbx(
            "Hotline PBX",
            &[],
            Default::default(),
            [("hotline".to_owned(), team)].into(),
        )
        .await
        .unwrap();
    let mut member_ws = open(&app, &member, &["calls"]).await;
    post_json(&app, &hotline.channel.key, json!({"event": "newCall", "direction": "in", "from": "030 1234567", "to": "+49302222", "callId": "q-1", "queue": "hotline"})).await;
    let pop = until(&mut member_ws, |v| v["type"] == "call").await;
    assert_eq!(pop["call"]["call_id"], "q-1");
    // Sam is not in the team: the next thing he sees is the following unmapped call.
    post_json(&app, &pbx.channel.key, json!({"event": "newCall", "direction": "in", "from": "030 1234567", "to": "+49301111", "callId": "p-3"})).await;
    let next = until(&mut ws, |v| v["type"] == "call").await;
    assert_eq!(next["call"]["call_id"], "p-3");

    // One click makes the unknown caller a contact; the number can have only one.
    let (s, c) = sam.send("POST", "/api/v1/contacts", json!({"name": "Neue Kundin", "identity": {"kind": "phone", "value": "+4917612300000"}})).await;
    assert_eq!(s, 201, "{c}");
    let contact = desk
        .contact_detail(c["id"].as_i64().unwrap())
        .await
        .unwrap();
    assert!(
        contact
            .identities
            .iter()
            .any(|i| i.value == "+4917612300000" && i.verified)
    );
    let (s, b) = sam
        .send(
            "POST",
            "/api/v1/contacts",
            json!({"identity": {"kind": "phone", "value": "0176 12300000"}}),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (409, Some("identity_taken")));
    app.stop().await;
}
