//! The REST API over real HTTP on both engines: auth rules for every role, CSRF and
//! Origin, sessions, tokens, the resources, and bad input on every endpoint.

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::desk::Role;

use crate::on_both;
use crate::support::{Api, Engine, ORIGIN, PASSWORD, TestApp, reply};

/// Every endpoint with a body that would be valid in shape.
fn endpoints() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("GET", "/api/v1/tickets", Value::Null),
        ("GET", "/api/v1/tickets/1", Value::Null),
        ("PATCH", "/api/v1/tickets/1", json!({"status": "open"})),
        ("POST", "/api/v1/tickets/1/reply", json!({"text": "hi"})),
        ("POST", "/api/v1/tickets/1/note", json!({"text": "hi"})),
        (
            "POST",
            "/api/v1/tickets/1/assign",
            json!({"agent_id": null}),
        ),
        ("GET", "/api/v1/contacts/1", Value::Null),
        (
            "GET",
            "/api/v1/contacts/lookup?email=a@example.com",
            Value::Null,
        ),
        ("PATCH", "/api/v1/contacts/1", json!({"name": "x"})),
        ("POST", "/api/v1/contacts/1/merge", json!({"contact_id": 2})),
        (
            "POST",
            "/api/v1/contacts/1/identities",
            json!({"kind": "email", "value": "z@example.com"}),
        ),
        (
            "POST",
            "/api/v1/inbound",
            json!({"channel": "api", "external_id": "x", "identity": {"kind": "email", "value": "a@example.com"}, "text": "hi"}),
        ),
        ("POST", "/api/v1/orders", json!({"orders": []})),
        ("GET", "/api/v1/agents", Value::Null),
        ("GET", "/api/v1/agents/1", Value::Null),
        (
            "POST",
            "/api/v1/agents",
            json!({"email": "n@example.com", "name": "N", "role": "agent"}),
        ),
        ("PATCH", "/api/v1/agents/1", json!({"name": "x"})),
        ("GET", "/api/v1/teams", Value::Null),
        ("POST", "/api/v1/teams", json!({"name": "T"})),
        ("PUT", "/api/v1/teams/1/members/1", Value::Null),
        ("DELETE", "/api/v1/teams/1/members/1", Value::Null),
        ("GET", "/api/v1/tokens", Value::Null),
        (
            "POST",
            "/api/v1/tokens",
            json!({"name": "t", "role": "agent"}),
        ),
        ("DELETE", "/api/v1/tokens/1", Value::Null),
        ("GET", "/api/v1/outbox", Value::Null),
        ("POST", "/api/v1/outbox/1/retry", Value::Null),
        ("GET", "/api/v1/search?q=x&status=active", Value::Null),
        ("DELETE", "/api/v1/contacts/1", Value::Null),
        ("GET", "/api/v1/session", Value::Null),
        ("DELETE", "/api/v1/session", Value::Null),
    ]
}

/// Endpoints only admins may use.
fn admin_only(method: &str, path: &str) -> bool {
    ((path.starts_with("/api/v1/agents") || path.starts_with("/api/v1/teams")) && method != "GET")
        || path.starts_with("/api/v1/tokens")
        || path.starts_with("/api/v1/outbox")
        || (path.starts_with("/api/v1/contacts/") && method == "DELETE")
}

async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    reply(req.send().await.unwrap()).await
}

on_both! {
    async fn every_endpoint_needs_credentials_and_the_right_role(engine: Engine) {
        let app = TestApp::start(engine).await;
        for (method, path, body) in endpoints() {
            let (status, problem) = raw(&app, method, path, &[("content-type", "application/json")], Some(&body.to_string())).await;
            assert_eq!(status, 401, "{method} {path} without credentials");
            assert_eq!(problem["code"], "unauthorized");
            let (status, _) = raw(&app, method, path, &[("authorization", "Bearer sb_not-a-token")], None).await;
            assert_eq!(status, 401, "{method} {path} with a made-up token");
        }
        let agent = app.signed_in(Role::Agent).await;
        let lead = app.signed_in(Role::Lead).await;
        let agent_token = app.token(Role::Agent).await;
        for (method, path, body) in endpoints() {
            if !admin_only(method, path) {
                continue;
            }
            for (who, (status, problem)) in [
                ("agent", agent.send(method, path, body.clone()).await),
                ("lead", lead.send(method, path, body.clone()).await),
                ("agent token", agent_token.send(method, path, body.clone()).await),
            ] {
                assert_eq!(status, 403, "{who}: {method} {path}");
                assert_eq!(problem["code"], "role");
            }
        }
        // Admins get past authorization everywhere (to a 2xx, a 404 or a validation error).
        let admin = app.signed_in(Role::Admin).await;
        for (method, path, body) in endpoints() {
            if path == "/api/v1/session" {
                continue;
            }
            let (status, problem) = admin.send(method, path, body.clone()).await;
            assert!(![401, 403, 500].contains(&status), "admin: {method} {path} → {status} {problem}");
        }
        app.stop().await;
    }
}

on_both! {
    async fn cookie_writes_need_the_csrf_token_and_our_origin(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.signed_in(Role::Admin).await;
        let url = app.url("/api/v1/teams");
        let post = |csrf: Option<&str>, origin: Option<&str>| {
            let mut req = admin.client.post(&url).json(&json!({"name": uuid::Uuid::new_v4().to_string()}));
            if let Some(c) = csrf { req = req.header("x-csrf-token", c); }
            if let Some(o) = origin { req = req.header("origin", o); }
            async move { reply(req.send().await.unwrap()).await }
        };
        let (status, p) = post(None, Some(ORIGIN)).await;
        assert_eq!((status, p["code"].as_str()), (403, Some("csrf")));
        let (status, p) = post(Some("forged"), Some(ORIGIN)).await;
        assert_eq!((status, p["code"].as_str()), (403, Some("csrf")));
        let (status, p) = post(Some(&admin.csrf), Some("https://evil.example")).await;
        assert_eq!((status, p["code"].as_str()), (403, Some("origin")));
        assert_eq!(post(Some(&admin.csrf), Some(ORIGIN)).await.0, 201);
        // Reads need no token.
        assert_eq!(admin.get("/api/v1/teams").await.0, 200);
        // Login from another site is refused too.
        let (status, _) = raw(&app, "POST", "/api/v1/session", &[("content-type", "application/json"), ("origin", "https://evil.example")], Some(&json!({"email": "x@example.com", "password": PASSWORD}).to_string())).await;
        assert_eq!(status, 403);
        app.stop().await;
    }
}

on_both! {
    async fn sessions_end_on_logout_expiry_demotion_and_deactivation(engine: Engine) {
        let app = TestApp::start(engine).await;
        let id = app.agent("sam@example.com", Role::Agent).await;
        let sam = app.login("sam@example.com").await;
        let (status, me) = sam.get("/api/v1/session").await;
        assert_eq!(status, 200);
        assert_eq!(me["agent"]["email"], "sam@example.com");
        assert!(me["agent"].get("password_hash").is_none(), "hashes never leave the server");
        assert_eq!(sam.send("DELETE", "/api/v1/session", Value::Null).await.0, 204);
        assert_eq!(sam.get("/api/v1/tickets").await.0, 401);

        // Expired.
        let sam = app.login("sam@example.com").await;
        entity::session::Entity::update_many()
            .col_expr(entity::session::Column::ExpiresAt, sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)))
            .filter(entity::session::Column::AgentId.eq(id))
            .exec(app.desk.store.db())
            .await
            .unwrap();
        assert_eq!(sam.get("/api/v1/tickets").await.0, 401);

        // Promoted: the session stays; demoted: it ends (open sockets keep their role).
        let admin = app.signed_in(Role::Admin).await;
        let sam = app.login("sam@example.com").await;
        assert_eq!(admin.send("PATCH", &format!("/api/v1/agents/{id}"), json!({"role": "lead"})).await.0, 200);
        assert_eq!(sam.get("/api/v1/tickets").await.0, 200);
        assert_eq!(admin.send("PATCH", &format!("/api/v1/agents/{id}"), json!({"role": "agent"})).await.0, 200);
        assert_eq!(sam.get("/api/v1/tickets").await.0, 401);

        // Deactivated by an admin.
        let sam = app.login("sam@example.com").await;
        let (status, _) = admin.send("PATCH", &format!("/api/v1/agents/{id}"), json!({"active": false})).await;
        assert_eq!(status, 200);
        assert_eq!(sam.get("/api/v1/tickets").await.0, 401);
        let (status, p) = raw(&app, "POST", "/api/v1/session", &[("content-type", "application/json")], Some(&json!({"email": "sam@example.com", "password": PASSWORD}).to_string())).await;
        assert_eq!((status, p["code"].as_str()), (401, Some("bad_credentials")));
        // Admins cannot lock themselves out.
        let me = admin.get("/api/v1/session").await.1["agent"]["id"].as_i64().unwrap();
        assert_eq!(admin.send("PATCH", &format!("/api/v1/agents/{me}"), json!({"active": false})).await.0, 422);
        app.stop().await;
    }
}

on_both! {
    async fn login_is_rate_limited_and_says_nothing_about_accounts(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_LOGIN_PER_MINUTE", "3")]).await;
        app.agent("sam@example.com", Role::Agent).await;
        let attempt = |email: &'static str, password: &'static str| {
            let body = json!({"email": email, "password": password}).to_string();
            let app = &app;
            async move { raw(app, "POST", "/api/v1/session", &[("content-type", "application/json")], Some(&body)).await }
        };
        let (s1, p1) = attempt("sam@example.com", "wrong password!").await;
        let (s2, p2) = attempt("nobody@example.com", "wrong password!").await;
        assert_eq!((s1, s2), (401, 401));
        assert_eq!(p1, p2, "unknown accounts look the same as wrong passwords");
        attempt("sam@example.com", "wrong password!").await;
        let (status, p) = attempt("sam@example.com", "wrong password!").await;
        assert_eq!((status, p["code"].as_str()), (429, Some("rate_limited")));
        // The right password is refused too while the account is throttled.
        assert_eq!(attempt("sam@example.com", PASSWORD).await.0, 429);
        app.stop().await;
    }
}

on_both! {
    async fn tokens_are_shown_once_stored_hashed_and_revocable(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.signed_in(Role::Admin).await;
        let (status, created) = admin.send("POST", "/api/v1/tokens", json!({"name": "shop", "role": "agent"})).await;
        assert_eq!(status, 201);
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("sb_"));
        let stored = entity::api_token::Entity::find().all(app.desk.store.db()).await.unwrap();
        assert!(stored.iter().all(|t| t.token_hash != token && !t.token_hash.contains(&token[3..])));
        let (_, list) = admin.get("/api/v1/tokens").await;
        assert!(!list.to_string().contains(&token), "lists never show the secret");

        let shop = Api::new(&app.base, &token);
        assert_eq!(shop.get("/api/v1/tickets").await.0, 200);
        // Bearer callers need no CSRF token (no cookie is involved).
        let (status, _) = shop.send("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "e1", "identity": {"kind": "email", "value": "a@example.com"}, "text": "hi"})).await;
        assert_eq!(status, 201);
        let id = created["id"].as_i64().unwrap();
        assert_eq!(admin.send("DELETE", &format!("/api/v1/tokens/{id}"), Value::Null).await.0, 200);
        assert_eq!(shop.get("/api/v1/tickets").await.0, 401);
        app.stop().await;
    }
}

on_both! {
    async fn inbound_is_acknowledged_after_commit_and_replays_are_no_ops(engine: Engine) {
        let app = TestApp::start(engine).await;
        let api = app.token(Role::Agent).await;
        let body = json!({"channel": "api", "external_id": "order-form-77", "identity": {"kind": "phone", "value": "0151 23456789"}, "name": "Jo", "text": "Please call me back", "subject": "Callback"});
        let (status, first) = api.send("POST", "/api/v1/inbound", body.clone()).await;
        assert_eq!(status, 201);
        // Acknowledged means committed: a separate connection sees it.
        let other = switchboard::store::Store::connect(&app.ts.url, app.ts.schema.as_deref()).await.unwrap();
        let m = entity::message::Entity::find_by_id(first["message_id"].as_i64().unwrap()).one(other.db()).await.unwrap();
        assert_eq!(m.unwrap().text, "Please call me back");
        other.close().await;

        let (status, again) = api.send("POST", "/api/v1/inbound", body).await;
        assert_eq!(status, 200);
        assert_eq!(again["message_id"], first["message_id"]);
        assert_eq!(again["created"], false);

        // Threading by an earlier external id, and by ticket number.
        let (_, next) = api.send("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "f-2", "identity": {"kind": "phone", "value": "+4915123456789"}, "text": "more", "thread": "order-form-77"})).await;
        assert_eq!(next["ticket_id"], first["ticket_id"]);

        let (status, ticket) = api.get(&format!("/api/v1/tickets/{}", first["ticket_id"])).await;
        assert_eq!(status, 200);
        assert_eq!(ticket["ticket"]["subject"], "Callback");
        assert_eq!(ticket["messages"].as_array().unwrap().len(), 2);

        // The reply goes out through the outbox and is marked sent.
        let (status, sent) = api.send("POST", &format!("/api/v1/tickets/{}/reply", first["ticket_id"]), json!({"text": "Calling you at 3"})).await;
        assert_eq!(status, 201);
        assert_eq!(sent["delivery_status"], "queued");
        let mut delivered = false;
        for _ in 0..100 {
            let (_, t) = api.get(&format!("/api/v1/tickets/{}", first["ticket_id"])).await;
            if t["messages"][2]["delivery_status"] == "sent" { delivered = true; break; }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(delivered, "the worker delivered the reply");
        app.stop().await;
    }
}

on_both! {
    async fn tickets_contacts_orders_agents_and_teams_work_over_http(engine: Engine) {
        let app = TestApp::start(engine).await;
        let agent = app.signed_in(Role::Agent).await;
        let admin = app.signed_in(Role::Admin).await;
        let me = agent.get("/api/v1/session").await.1["agent"]["id"].as_i64().unwrap();
        let api = app.token(Role::Agent).await;
        for i in 0..3 {
            api.send("POST", "/api/v1/inbound", json!({"channel": if i == 2 { "sms" } else { "api" }, "external_id": format!("e{i}"), "identity": {"kind": "email", "value": format!("c{i}@example.com")}, "text": "hi"})).await;
        }
        let (status, page) = agent.get("/api/v1/tickets?status=active&limit=2").await;
        assert_eq!(status, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let (_, page2) = agent.get(&format!("/api/v1/tickets?status=active&limit=2&cursor={}", page["next"].as_str().unwrap())).await;
        assert_eq!(page2["items"].as_array().unwrap().len(), 1);
        assert_eq!(page2["next"], Value::Null);
        assert_eq!(agent.get("/api/v1/tickets?channel=sms").await.1["items"].as_array().unwrap().len(), 1);
        let id = page["items"][0]["id"].as_i64().unwrap();

        let (status, t) = agent.send("POST", &format!("/api/v1/tickets/{id}/assign"), json!({"agent_id": me})).await;
        assert_eq!((status, t["assignee_id"].as_i64()), (200, Some(me)));
        assert_eq!(agent.get("/api/v1/tickets?assignee=me").await.1["items"][0]["id"].as_i64(), Some(id));
        assert_eq!(agent.get("/api/v1/tickets?assignee=none").await.1["items"].as_array().unwrap().len(), 2);
        let (status, t) = agent.send("PATCH", &format!("/api/v1/tickets/{id}"), json!({"status": "resolved", "kind": "complaint", "priority": "urgent"})).await;
        assert_eq!((status, t["status"].as_str(), t["kind"].as_str()), (200, Some("resolved"), Some("complaint")));
        assert_eq!(agent.get("/api/v1/tickets?kind=complaint").await.1["items"].as_array().unwrap().len(), 1);
        assert_eq!(agent.send("POST", &format!("/api/v1/tickets/{id}/note"), json!({"text": "called back"})).await.0, 201);

        // Orders and the contact panel.
        let (status, summary) = api.send("POST", "/api/v1/orders", json!({"orders": [{
            "source": "shop", "external_id": "5001", "number": "SB-5001", "status": "paid", "currency": "EUR", "total": "59.80",
            "placed_at": "2026-10-01T10:00:00Z", "customer": {"email": "C0@example.com", "phone": "+49 30 1234567", "name": "Cleo", "company": "Cleo GmbH"},
            "items": [{"sku": "CUP-6", "name": "Cups", "quantity": 2, "unit_price": "29.90"}]
        }]})).await;
        assert_eq!((status, summary), (200, json!({"created": 1, "updated": 0, "skipped": 0, "unchanged": 0})));
        let (status, c) = agent.get("/api/v1/contacts/lookup?phone=030%201234567").await;
        assert_eq!(status, 200);
        assert_eq!(c["organization"]["name"], "Cleo GmbH");
        assert_eq!(c["value"]["order_count"], 1);
        assert_eq!(c["value"]["lifetime"][0], json!({"currency": "EUR", "cents": 5980}));
        assert_eq!(c["orders"][0]["items"][0]["quantity"], 2);
        assert_eq!(c["tickets"].as_array().unwrap().len(), 1);
        let cid = c["contact"]["id"].as_i64().unwrap();
        let (status, updated) = agent.send("PATCH", &format!("/api/v1/contacts/{cid}"), json!({"tags": ["vip", "b2b"], "notes": "call mornings", "organization": null})).await;
        assert_eq!((status, updated["tags"].clone(), updated["organization_id"].clone()), (200, json!(["vip", "b2b"]), Value::Null));
        let other = agent.get("/api/v1/contacts/lookup?email=c1@example.com").await.1["contact"]["id"].as_i64().unwrap();
        let (status, merged) = agent.send("POST", &format!("/api/v1/contacts/{cid}/merge"), json!({"contact_id": other})).await;
        assert_eq!(status, 200);
        assert_eq!(merged["tickets"].as_array().unwrap().len(), 2);
        let (status, ident) = agent.send("POST", &format!("/api/v1/contacts/{cid}/identities"), json!({"kind": "telegram", "value": "12345"})).await;
        assert_eq!((status, ident["value"].as_str()), (201, Some("12345")));
        assert_eq!(ident["verified"], true, "an agent vouches for what they add");

        // Agents and teams by an admin; a generated password is shown once and works.
        let (status, created) = admin.send("POST", "/api/v1/agents", json!({"email": "New@Example.com", "name": "New One", "role": "lead"})).await;
        assert_eq!(status, 201);
        assert_eq!(created["email"], "new@example.com");
        let password = created["password"].as_str().unwrap();
        assert!(app.desk.authenticate("new@example.com", password).await.unwrap().is_some());
        assert_eq!(admin.send("POST", "/api/v1/agents", json!({"email": "new@example.com", "name": "Dup", "role": "agent"})).await.1["code"], "agent_exists");
        let (_, team) = admin.send("POST", "/api/v1/teams", json!({"name": "Returns"})).await;
        let tid = team["id"].as_i64().unwrap();
        assert_eq!(admin.send("PUT", &format!("/api/v1/teams/{tid}/members/{me}"), Value::Null).await.0, 204);
        assert_eq!(agent.get("/api/v1/session").await.1["team_ids"], json!([tid]));
        assert_eq!(agent.get("/api/v1/agents").await.1.as_array().unwrap().len(), 3);
        let (status, t) = agent.send("POST", &format!("/api/v1/tickets/{id}/assign"), json!({"team_id": tid})).await;
        assert_eq!((status, t["team_id"].as_i64()), (200, Some(tid)));
        assert_eq!(agent.get(&format!("/api/v1/tickets?team={tid}")).await.1["items"].as_array().unwrap().len(), 1);
        app.stop().await;
    }
}

on_both! {
    async fn failed_outbox_rows_are_listed_for_admins_and_can_be_retried(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.signed_in(Role::Admin).await;
        {
            let tx = app.desk.store.write().await.unwrap();
            switchboard::outbox::enqueue(&*tx, "nobody-handles-this", json!({"x": 1})).await.unwrap();
            tx.commit().await.unwrap();
        }
        let job = switchboard::outbox::claim(&app.desk.store, &["nobody-handles-this"], 1).await.unwrap().remove(0);
        switchboard::outbox::finish(&app.desk.store, &job, Err(switchboard::outbox::JobError::Permanent("bad payload".into()))).await.unwrap();
        let (status, page) = admin.get("/api/v1/outbox").await;
        assert_eq!(status, 200);
        assert_eq!(page["items"][0]["last_error"], "bad payload");
        let (status, ready) = raw(&app, "GET", "/readyz", &[], None).await;
        assert_eq!((status, ready["outbox_failed"].as_u64()), (200, Some(1)));
        assert_eq!(admin.send("POST", &format!("/api/v1/outbox/{}/retry", job.id), Value::Null).await.0, 204);
        assert_eq!(admin.send("POST", &format!("/api/v1/outbox/{}/retry", job.id), Value::Null).await.0, 404);
        assert_eq!(admin.get("/api/v1/outbox?status=pending").await.1["items"].as_array().unwrap().len(), 1);
        app.stop().await;
    }
}

on_both! {
    async fn bad_input_gets_a_clear_4xx_on_every_endpoint(engine: Engine) {
        let app = TestApp::start_with(engine, &[("SWITCHBOARD_MAX_BODY_BYTES", "65536")]).await;
        let admin = app.signed_in(Role::Admin).await;
        let token = app.desk.create_token("t", Role::Admin).await.unwrap().1;
        let bearer = format!("Bearer {token}");
        let auth = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        let huge = format!("{{\"text\": \"{}\"}}", "x".repeat(70_000));
        for (method, path, _) in endpoints() {
            if method == "GET" || method == "DELETE" || method == "PUT" || path.ends_with("/retry") {
                continue;
            }
            for (body, expected) in [("{not json", 400), ("[1, 2", 400), (huge.as_str(), 413)] {
                let (status, p) = raw(&app, method, path, &auth, Some(body)).await;
                assert_eq!(status, expected, "{method} {path} with {:.20}: {p}", body);
                assert!(p["code"].is_string(), "{method} {path}: problem document");
            }
            let (status, _) = raw(&app, method, path, &[("authorization", bearer.as_str()), ("content-type", "text/plain")], Some("{}")).await;
            assert_eq!(status, 415, "{method} {path} as text/plain");
            let (status, p) = raw(&app, method, path, &auth, Some("{\"unexpected_field\": 1}")).await;
            assert!(status == 422 || status == 404, "{method} {path} with an unknown field: {status} {p}");
        }
        // Fields are named.
        let cases: Vec<(&str, &str, Value, &str)> = vec![
            ("POST", "/api/v1/inbound", json!({"channel": "pigeon", "external_id": "x", "identity": {"kind": "email", "value": "a@example.com"}, "text": "hi"}), "channel"),
            ("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "x", "identity": {"kind": "email", "value": "not-an-email"}, "text": "hi"}), "identity.value"),
            ("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "x", "identity": {"kind": "email", "value": "a@example.com"}}), "text"),
            ("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "", "identity": {"kind": "email", "value": "a@example.com"}, "text": "x"}), "external_id"),
            ("POST", "/api/v1/orders", json!({"orders": [{"source": "s", "external_id": "1", "status": "paid", "currency": "EUR", "total": "abc", "placed_at": "2026-01-01T00:00:00Z", "customer": {"email": "a@example.com"}}]}), "orders[0].total"),
            ("POST", "/api/v1/orders", json!({"orders": [{"source": "s", "external_id": "1", "status": "paid", "currency": "EUR", "total": "1", "placed_at": "yesterday", "customer": {"email": "a@example.com"}}]}), "orders[0].placed_at"),
            ("POST", "/api/v1/agents", json!({"email": "a@example.com", "name": "A", "role": "boss"}), "role"),
            ("POST", "/api/v1/agents", json!({"email": "a@example.com", "name": "A", "role": "agent", "password": "short"}), "password"),
            ("POST", "/api/v1/tokens", json!({"name": "", "role": "agent"}), "name"),
            ("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "nul", "identity": {"kind": "email", "value": "a@example.com"}, "text": "a\u{0}b"}), "text"),
            ("POST", "/api/v1/orders", json!({"orders": [{"source": "s", "external_id": "1", "status": "paid", "currency": "EUR", "total": "99999999999999", "placed_at": "2026-01-01T00:00:00Z", "customer": {"email": "a@example.com"}}]}), "orders[0].total"),
            ("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "v", "identity": {"kind": "email", "value": "a@example.com", "verified": true}, "text": "x"}), "identity.verified"),
        ];
        for (method, path, body, field) in cases {
            let (status, p) = admin.send(method, path, body).await;
            assert_eq!((status, p["field"].as_str()), (422, Some(field)), "{method} {path}: {p}");
        }
        // Unknown ids are 404s, not 500s.
        for path in ["/api/v1/tickets/999999", "/api/v1/tickets/abc", "/api/v1/tickets/-1", "/api/v1/contacts/999999", "/api/v1/agents/999999", "/api/v1/contacts/lookup?email=nobody@example.com"] {
            assert_eq!(admin.get(path).await.0, 404, "{path}");
        }
        for (method, path, body) in [
            ("POST", "/api/v1/tickets/999999/reply", json!({"text": "x"})),
            ("PATCH", "/api/v1/contacts/999999", json!({"name": "x"})),
            ("POST", "/api/v1/contacts/999999/merge", json!({"contact_id": 1})),
            ("DELETE", "/api/v1/tokens/999999", Value::Null),
            ("PUT", "/api/v1/teams/999999/members/1", Value::Null),
        ] {
            assert_eq!(admin.send(method, path, body).await.0, 404, "{method} {path}");
        }
        // Bad query parameters name themselves.
        for (path, field) in [("/api/v1/tickets?status=bogus", "status"), ("/api/v1/tickets?limit=many", "limit"), ("/api/v1/tickets?channel=fax", "channel"), ("/api/v1/tickets?cursor=zzz", "cursor"), ("/api/v1/contacts/lookup?phone=12", "phone"), ("/api/v1/tickets?color=red", "color")] {
            let (status, p) = admin.get(path).await;
            assert!(status == 400 || status == 422, "{path}: {status}");
            assert!(p["field"].as_str().is_some_and(|f| f.contains(field)) || p["detail"].as_str().is_some_and(|d| d.contains(field)), "{path}: {p}");
        }
        assert_eq!(admin.send("PATCH", "/api/v1/tickets", Value::Null).await.0, 405);
        assert_eq!(admin.get("/api/v1/nothing-here").await.0, 404);
        app.stop().await;
    }
}

on_both! {
    async fn health_readiness_request_ids_and_security_headers(engine: Engine) {
        let app = TestApp::start(engine).await;
        let res = reqwest::get(app.url("/healthz")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("x-request-id").is_some());
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
        let (status, ready) = raw(&app, "GET", "/readyz", &[], None).await;
        assert_eq!((status, ready["store"].as_str()), (200, Some("ok")));
        let res = reqwest::get(app.url("/")).await.unwrap();
        assert_eq!(res.status(), 200);
        app.stop().await;
    }
}
