//! Shop order webhooks: Shopify and WooCommerce deliveries in the shapes their
//! documentation gives (tests/fixtures/shop), signed, forged, replayed and out of order,
//! and what they do to the contact's orders and customer value: refunds kept by their id
//! (alone, replayed, before their order, concurrently with it), WooCommerce stores found
//! by `X-WC-Webhook-Source`, and deletions that overtake the order's create.

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use switchboard::channels::shop::signature;
use switchboard::desk::Role;
use switchboard::desk::identity::IdentityKind;

use crate::on_both;
use crate::support::{Engine, TestApp, cli, reply};

const SHOPIFY_SECRET: &str = "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";
const DOMAIN: &str = "kaffeehaus-demo.myshopify.com";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/shop/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn shopify(
    app: &TestApp,
    domain: &str,
    topic: &str,
    body: &[u8],
    secret: Option<&str>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url("/webhooks/shopify"))
        .header("content-type", "application/json")
        .header("x-shopify-shop-domain", domain)
        .header("x-shopify-topic", topic)
        .header("x-shopify-webhook-id", uuid::Uuid::new_v4().to_string());
    if let Some(secret) = secret {
        req = req.header("x-shopify-hmac-sha256", signature(secret, body));
    }
    reply(req.body(body.to_vec()).send().await.unwrap()).await
}

async fn woo(
    app: &TestApp,
    id: i64,
    topic: &str,
    body: &[u8],
    secret: Option<&str>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/woocommerce/{id}")))
        .header("content-type", "application/json")
        .header("x-wc-webhook-topic", topic)
        .header("x-wc-webhook-source", "https://shop.example/");
    if let Some(secret) = secret {
        req = req.header("x-wc-webhook-signature", signature(secret, body));
    }
    reply(req.body(body.to_vec()).send().await.unwrap()).await
}

async fn refund_rows(app: &TestApp) -> u64 {
    entity::order_refund::Entity::find()
        .count(app.desk.store.db())
        .await
        .unwrap()
}

async fn order_count(app: &TestApp) -> u64 {
    entity::order::Entity::find()
        .count(app.desk.store.db())
        .await
        .unwrap()
}

/// The contact owning `email` as the API shows it.
async fn contact(app: &TestApp, api: &crate::support::Api, email: &str) -> Value {
    let c = app
        .desk
        .lookup_contact(IdentityKind::Email, email)
        .await
        .unwrap();
    let (status, detail) = api.get(&format!("/api/v1/contacts/{}", c.id)).await;
    assert_eq!(status, 200, "{detail}");
    detail
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

on_both! {
    async fn shopify_orders_refunds_and_cancellations(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.token(Role::Admin).await;
        let agent = app.token(Role::Agent).await;

        // A shop is connected by an admin; the secret is never shown back.
        let new = json!({"kind": "shopify", "name": "Kaffeehaus", "domain": DOMAIN, "secret": SHOPIFY_SECRET});
        let (status, _) = agent.send("POST", "/api/v1/channels", new.clone()).await;
        assert_eq!(status, 403);
        let (status, created) = admin.send("POST", "/api/v1/channels", new.clone()).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["kind"], "shopify");
        assert!(created["setup"]["webhook"].as_str().unwrap().ends_with("/webhooks/shopify"));
        assert!(!created.to_string().contains(SHOPIFY_SECRET));
        let (status, _) = admin.send("POST", "/api/v1/channels", new).await;
        assert_eq!(status, 409);
        let (status, bad) = admin
            .send("POST", "/api/v1/channels", json!({"kind": "shopify", "name": "X", "domain": "shop.example", "secret": SHOPIFY_SECRET}))
            .await;
        assert_eq!(status, 422, "{bad}");

        let order = fixture("shopify_order.json");
        let body = bytes(&order);

        // Unsigned, forged and other shops' deliveries store nothing.
        assert_eq!(shopify(&app, DOMAIN, "orders/create", &body, None).await.0, 401);
        assert_eq!(shopify(&app, DOMAIN, "orders/create", &body, Some("forged-secret-123")).await.0, 401);
        let mut tampered = order.clone();
        tampered["total_price"] = json!("0.01");
        let (status, _) = reqwest::Client::new()
            .post(app.url("/webhooks/shopify"))
            .header("x-shopify-shop-domain", DOMAIN)
            .header("x-shopify-topic", "orders/create")
            .header("x-shopify-hmac-sha256", signature(SHOPIFY_SECRET, &body))
            .body(bytes(&tampered))
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .unwrap();
        assert_eq!(status, 401);
        // A shop not connected here gets the same answer as a forged signature, so the
        // desk cannot be probed for which shops it serves.
        let forged = shopify(&app, DOMAIN, "orders/create", &body, Some("not-the-secret")).await;
        assert_eq!(forged.0, 401);
        assert_eq!(shopify(&app, "other-shop.myshopify.com", "orders/create", &body, Some(SHOPIFY_SECRET)).await, forged);
        assert_eq!(shopify(&app, "", "orders/create", &body, Some(SHOPIFY_SECRET)).await, forged);
        // Signed but no order: 400, never 500.
        let (status, problem) = shopify(&app, DOMAIN, "orders/create", b"{\"id\": 1,", Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 400, "{problem}");
        let (status, _) = shopify(&app, DOMAIN, "orders/create", b"{\"id\": 1}", Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 400);
        assert_eq!(order_count(&app).await, 0);

        // A new order: the customer becomes a contact with their company and shop id.
        let (status, out) = shopify(&app, DOMAIN, "orders/create", &body, Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["summary"]["created"], 1);
        let detail = contact(&app, &admin, "grete.hansen@example.de").await;
        assert_eq!(detail["contact"]["name"], "Grete Hansen");
        assert_eq!(detail["organization"]["name"], "Hansen Feinkost GmbH");
        let identities: Vec<(String, String)> = detail["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["kind"].as_str().unwrap().to_owned(), i["value"].as_str().unwrap().to_owned()))
            .collect();
        assert!(identities.contains(&("shop".into(), format!("shopify:{DOMAIN}:7412239011898"))), "{identities:?}");
        assert!(identities.contains(&("phone".into(), "+4915112345678".into())), "{identities:?}");
        assert_eq!(detail["orders"][0]["number"], "1042");
        assert_eq!(detail["orders"][0]["status"], "paid");
        assert_eq!(detail["orders"][0]["items"].as_array().unwrap().len(), 2);
        assert_eq!(detail["value"]["order_count"], 1);
        assert_eq!(detail["value"]["lifetime"], json!([{"currency": "EUR", "cents": 8970}]));
        assert_eq!(detail["value"]["refunded"], json!([{"currency": "EUR", "cents": 0}]));
        assert_eq!(detail["value"]["average"], json!([{"currency": "EUR", "cents": 8970}]));

        // The same delivery again changes nothing, and says so.
        let (status, out) = shopify(&app, DOMAIN, "orders/create", &body, Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 200);
        assert_eq!(out["summary"], json!({"created": 0, "updated": 0, "skipped": 0, "unchanged": 1}));
        assert_eq!(order_count(&app).await, 1);

        // A refund alone (refunds/create) counts at once; the orders/updated Shopify sends
        // with it carries the same refund, which still counts once.
        let refund = fixture("shopify_refund.json");
        let (status, out) = shopify(&app, DOMAIN, "refunds/create", &bytes(&refund), Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 200, "{out}");
        assert_eq!((&out["stored"], &out["summary"]["created"]), (&json!(true), &json!(1)), "{out}");
        let value = &contact(&app, &admin, "grete.hansen@example.de").await["value"];
        assert_eq!(value["lifetime"], json!([{"currency": "EUR", "cents": 6480}]));
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 2490}]));
        let mut refunded = order.clone();
        refunded["updated_at"] = json!("2026-11-22T09:03:20+01:00");
        refunded["financial_status"] = json!("partially_refunded");
        refunded["refunds"] = json!([refund]);
        let (status, out) = shopify(&app, DOMAIN, "orders/updated", &bytes(&refunded), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["updated"]), (200, &json!(1)), "{out}");
        let value = &contact(&app, &admin, "grete.hansen@example.de").await["value"];
        assert_eq!(value["lifetime"], json!([{"currency": "EUR", "cents": 6480}]));
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 2490}]));
        assert_eq!(value["average"], json!([{"currency": "EUR", "cents": 6480}]));
        assert_eq!(refund_rows(&app).await, 1);

        // An older update arriving late leaves the newest state.
        let mut older = order.clone();
        older["updated_at"] = json!("2026-11-21T12:00:00+01:00");
        older["total_price"] = json!("1.00");
        let (status, out) = shopify(&app, DOMAIN, "orders/updated", &bytes(&older), Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 200);
        assert_eq!(out["summary"]["skipped"], 1);
        let detail = contact(&app, &admin, "grete.hansen@example.de").await;
        assert_eq!(detail["orders"][0]["status"], "partially_refunded");
        assert_eq!(detail["value"]["lifetime"], json!([{"currency": "EUR", "cents": 6480}]));

        // Topics the desk does not use are acknowledged, so Shopify stops sending them.
        let (status, out) = shopify(&app, DOMAIN, "customers/create", b"{}", Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["stored"]), (200, &json!(false)));

        // Cancelled: the order stays, it no longer counts.
        let mut cancelled = refunded.clone();
        cancelled["updated_at"] = json!("2026-11-23T10:00:00+01:00");
        cancelled["cancelled_at"] = json!("2026-11-23T10:00:00+01:00");
        cancelled["cancel_reason"] = json!("customer");
        let (status, _) = shopify(&app, DOMAIN, "orders/cancelled", &bytes(&cancelled), Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 200);
        let detail = contact(&app, &admin, "grete.hansen@example.de").await;
        assert_eq!(detail["orders"][0]["status"], "cancelled");
        assert_eq!(detail["value"]["order_count"], 0);
        assert_eq!(detail["value"]["lifetime"], json!([]));
        assert_eq!(order_count(&app).await, 1);

        // A paused connection takes nothing; a new secret replaces the old one.
        let path = format!("/api/v1/channels/{}", created["id"]);
        let (status, out) = admin.send("PATCH", &path, json!({"active": false})).await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(shopify(&app, DOMAIN, "orders/updated", &body, Some(SHOPIFY_SECRET)).await.0, 401);
        let renewed = "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";
        let (status, out) = admin.send("PATCH", &path, json!({"active": true, "secret": renewed})).await;
        assert_eq!(status, 200, "{out}");
        assert!(!out.to_string().contains(renewed));
        assert_eq!(shopify(&app, DOMAIN, "orders/updated", &body, Some(SHOPIFY_SECRET)).await.0, 401);
        assert_eq!(shopify(&app, DOMAIN, "orders/updated", &body, Some(renewed)).await.0, 200);
        let (status, out) = shopify(&app, DOMAIN, "orders/delete", br#"{"id": 5823114297402}"#, Some(renewed)).await;
        assert_eq!((status, &out["deleted"]), (200, &json!(true)), "{out}");
        assert_eq!(out["summary"]["updated"], 1, "{out}");

        // Erasing the customer takes the order's refunds along.
        let id = app.desk.lookup_contact(IdentityKind::Email, "grete.hansen@example.de").await.unwrap().id;
        let (status, out) = admin.send("DELETE", &format!("/api/v1/contacts/{id}"), json!(null)).await;
        assert_eq!(status, 200, "{out}");
        assert_eq!((order_count(&app).await, refund_rows(&app).await), (0, 0));
        app.stop().await;
    }
}

on_both! {
    async fn woocommerce_orders_ping_delete_and_restore(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.token(Role::Admin).await;
        let (status, created) = admin
            .send("POST", "/api/v1/channels", json!({"kind": "woocommerce", "name": "Mühlenladen", "url": "https://shop.example/"}))
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_i64().unwrap();
        let secret = created["setup"]["secret"].as_str().unwrap().to_owned();
        assert!(created["setup"]["delivery_url"].as_str().unwrap().ends_with("/webhooks/woocommerce"));
        assert!(created["setup"]["delivery_url_by_id"].as_str().unwrap().ends_with(&format!("/webhooks/woocommerce/{id}")));

        // WooCommerce's ping when the webhook is saved: form-encoded, unsigned. A store
        // that is not connected gets the same answer, by id or by source, so pings cannot
        // probe which stores are.
        let ping = |path: String, source: &'static str| {
            let req = reqwest::Client::new()
                .post(app.url(&path))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-wc-webhook-source", source)
                .body("webhook_id=17");
            async move { reply(req.send().await.unwrap()).await }
        };
        let answer = ping(format!("/webhooks/woocommerce/{id}"), "https://shop.example/").await;
        assert_eq!(answer.0, 200, "{}", answer.1);
        assert_eq!(ping(format!("/webhooks/woocommerce/{}", id + 1000), "").await, answer);
        assert_eq!(ping("/webhooks/woocommerce".into(), "https://shop.example/").await, answer);
        assert_eq!(ping("/webhooks/woocommerce".into(), "https://elsewhere.example/").await, answer);

        let order = fixture("woocommerce_order.json");
        let body = bytes(&order);
        assert_eq!(woo(&app, id, "order.created", &body, None).await.0, 401);
        assert_eq!(woo(&app, id, "order.created", &body, Some("not-the-secret")).await.0, 401);
        assert_eq!(woo(&app, id + 1000, "order.created", &body, Some(&secret)).await.0, 401);
        assert_eq!(woo(&app, id, "order.created", b"<html>", Some(&secret)).await.0, 400);
        assert_eq!(order_count(&app).await, 0);

        let (status, out) = woo(&app, id, "order.created", &body, Some(&secret)).await;
        assert_eq!(status, 200, "{out}");
        let detail = contact(&app, &admin, "jonas.becker@example.org").await;
        assert_eq!(detail["contact"]["name"], "Jonas Becker");
        assert_eq!(detail["orders"][0]["number"], "7315");
        assert_eq!(detail["orders"][0]["items"][0]["unit_price_cents"], 3361);
        assert_eq!(detail["value"]["lifetime"], json!([{"currency": "EUR", "cents": 4480}]));
        assert!(detail["identities"].to_string().contains("woocommerce:shop.example:311"), "{}", detail["identities"]);
        let (status, out) = woo(&app, id, "order.created", &body, Some(&secret)).await;
        assert_eq!((status, &out["summary"]["unchanged"]), (200, &json!(1)), "{out}");
        assert_eq!(order_count(&app).await, 1);

        // A refund on a newer update; an older update after it is skipped.
        let mut refunded = order.clone();
        refunded["status"] = json!("completed");
        refunded["date_modified_gmt"] = json!("2026-11-23T08:00:00");
        refunded["refunds"] = json!([{"id": 7320, "reason": "Mahlwerk fehlte", "total": "-10.00"}]);
        assert_eq!(woo(&app, id, "order.updated", &bytes(&refunded), Some(&secret)).await.0, 200);
        let (status, out) = woo(&app, id, "order.updated", &body, Some(&secret)).await;
        assert_eq!((status, &out["summary"]["skipped"]), (200, &json!(1)));
        let value = &contact(&app, &admin, "jonas.becker@example.org").await["value"];
        assert_eq!(value["lifetime"], json!([{"currency": "EUR", "cents": 3480}]));
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 1000}]));
        assert_eq!(refund_rows(&app).await, 1, "WooCommerce's refund is kept by its id");

        // Deleted: no longer counted; restored: counted again.
        let (status, out) = woo(&app, id, "order.deleted", br#"{"id": 7315}"#, Some(&secret)).await;
        assert_eq!((status, &out["deleted"]), (200, &json!(true)), "{out}");
        let value = &contact(&app, &admin, "jonas.becker@example.org").await["value"];
        assert_eq!(value["order_count"], 0);
        let mut restored = refunded.clone();
        restored["date_modified_gmt"] = json!("2026-11-24T08:00:00");
        assert_eq!(woo(&app, id, "order.restored", &bytes(&restored), Some(&secret)).await.0, 200);
        let value = &contact(&app, &admin, "jonas.becker@example.org").await["value"];
        assert_eq!(value["order_count"], 1);
        assert_eq!(value["lifetime"], json!([{"currency": "EUR", "cents": 3480}]));
        app.stop().await;
    }
}

#[test]
fn the_cli_connects_shops() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = cli(dir.path(), &["migrate"], "");
    assert!(ok, "{err}");
    let shopify = [
        "channel",
        "shopify",
        "--name",
        "Kaffeehaus",
        "--domain",
        DOMAIN,
    ];
    let (ok, _, err) = cli(dir.path(), &shopify, "");
    assert!(!ok && err.contains("secret"), "{err}");
    let (ok, out, err) = cli(dir.path(), &shopify, &format!("{SHOPIFY_SECRET}\n"));
    assert!(ok, "{err}");
    assert!(
        out.contains("/webhooks/shopify") && !out.contains(SHOPIFY_SECRET),
        "{out}"
    );
    let (ok, _, err) = cli(dir.path(), &shopify, &format!("{SHOPIFY_SECRET}\n"));
    assert!(!ok && err.contains("connected already"), "{err}");

    let woo = [
        "channel",
        "woocommerce",
        "--name",
        "Laden",
        "--url",
        "https://shop.example",
    ];
    let (ok, out, err) = cli(dir.path(), &woo, "");
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("delivery URL:")
            && l.contains("/webhooks/woocommerce ")
            && l.contains("/webhooks/woocommerce/"))
            && out.contains("secret"),
        "{out}"
    );
    let (ok, out, _) = cli(dir.path(), &["channel", "list"], "");
    assert!(
        ok && out.contains("shopify") && out.contains("woocommerce"),
        "{out}"
    );
}

/// A Shopify shop connected through the API.
async fn connect_shopify(admin: &crate::support::Api) {
    let (status, out) = admin
        .send("POST", "/api/v1/channels", json!({"kind": "shopify", "name": "Kaffeehaus", "domain": DOMAIN, "secret": SHOPIFY_SECRET}))
        .await;
    assert_eq!(status, 201, "{out}");
}

on_both! {
    async fn shopify_refunds_count_once_whatever_the_order_of_delivery(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.token(Role::Admin).await;
        connect_shopify(&admin).await;
        let order = fixture("shopify_order.json");
        let refund = fixture("shopify_refund.json");
        let refund_body = bytes(&refund);

        // Forged or unsigned refunds store nothing.
        assert_eq!(shopify(&app, DOMAIN, "refunds/create", &refund_body, Some("forged-secret-123")).await.0, 401);
        assert_eq!(shopify(&app, DOMAIN, "refunds/create", &refund_body, None).await.0, 401);
        assert_eq!(refund_rows(&app).await, 0);
        // A signed body that is no refund: 400 naming what is missing.
        let (status, problem) = shopify(&app, DOMAIN, "refunds/create", br#"{"id": 1, "transactions": []}"#, Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 400, "{problem}");
        assert!(problem.to_string().contains("order_id"), "{problem}");
        let mut bad = refund.clone();
        bad["transactions"][0]["amount"] = json!("24,90");
        let (status, problem) = shopify(&app, DOMAIN, "refunds/create", &bytes(&bad), Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 400, "{problem}");

        // The refund arrives before its order: kept, and replayed it counts once.
        let (status, out) = shopify(&app, DOMAIN, "refunds/create", &refund_body, Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["created"]), (200, &json!(1)), "{out}");
        let (status, out) = shopify(&app, DOMAIN, "refunds/create", &refund_body, Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["unchanged"]), (200, &json!(1)), "{out}");
        assert_eq!((refund_rows(&app).await, order_count(&app).await), (1, 0));

        // The order arrives (its payload from before the refund): the refund counts.
        let (status, out) = shopify(&app, DOMAIN, "orders/create", &bytes(&order), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["created"]), (200, &json!(1)), "{out}");
        let detail = contact(&app, &admin, "grete.hansen@example.de").await;
        assert_eq!(detail["orders"][0]["refunded_cents"], 2490);
        assert_eq!(detail["value"]["refunded"], json!([{"currency": "EUR", "cents": 2490}]));
        assert_eq!(detail["value"]["lifetime"], json!([{"currency": "EUR", "cents": 6480}]));

        // The order payload with the same refund, and a second one whose first transaction
        // failed: each refund once, only money that moved.
        let mut second = refund.clone();
        second["id"] = json!(981726354299_i64);
        second["created_at"] = json!("2026-11-23T11:00:00+01:00");
        second["transactions"] = json!([
            {"id": 1, "kind": "refund", "status": "failure", "amount": "5.00", "currency": "EUR"},
            {"id": 2, "kind": "refund", "status": "success", "amount": "5.00", "currency": "EUR"}
        ]);
        let mut updated = order.clone();
        updated["updated_at"] = json!("2026-11-23T11:00:02+01:00");
        updated["financial_status"] = json!("partially_refunded");
        updated["refunds"] = json!([refund, second]);
        let (status, out) = shopify(&app, DOMAIN, "orders/updated", &bytes(&updated), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["updated"]), (200, &json!(1)), "{out}");
        assert_eq!(refund_rows(&app).await, 2);
        let value = &contact(&app, &admin, "grete.hansen@example.de").await["value"];
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 2990}]));
        assert_eq!(value["lifetime"], json!([{"currency": "EUR", "cents": 5980}]));

        // The second refund's own webhook, late: nothing changes.
        let (status, out) = shopify(&app, DOMAIN, "refunds/create", &bytes(&second), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["unchanged"]), (200, &json!(1)), "{out}");
        let value = &contact(&app, &admin, "grete.hansen@example.de").await["value"];
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 2990}]));

        // A refund the shop reports without an id counts in the order's own total, which
        // then stands over the refund rows' sum; a late refund webhook does not lower it.
        let mut no_id = json!({"created_at": "2026-11-24T09:00:00+01:00", "transactions": [
            {"id": 3, "kind": "refund", "status": "success", "amount": "1.00", "currency": "EUR"}
        ]});
        no_id["order_id"] = order["id"].clone();
        let mut later = updated.clone();
        later["updated_at"] = json!("2026-11-24T09:00:02+01:00");
        later["refunds"].as_array_mut().unwrap().push(no_id);
        let (status, out) = shopify(&app, DOMAIN, "orders/updated", &bytes(&later), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["updated"]), (200, &json!(1)), "{out}");
        assert_eq!(refund_rows(&app).await, 2);
        let (status, out) = shopify(&app, DOMAIN, "refunds/create", &bytes(&second), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["unchanged"]), (200, &json!(1)), "{out}");
        let value = &contact(&app, &admin, "grete.hansen@example.de").await["value"];
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 3090}]));

        // Orders without refund ids keep their `refunded` total through the API.
        let (status, out) = admin
            .send("POST", "/api/v1/orders", json!({"orders": [{"source": "pos", "external_id": "K-1", "status": "paid", "currency": "EUR", "total": "20.00", "refunded": "5.00", "placed_at": "2026-11-01T10:00:00Z", "customer": {"email": "grete.hansen@example.de"}}]}))
            .await;
        assert_eq!(status, 200, "{out}");
        let value = &contact(&app, &admin, "grete.hansen@example.de").await["value"];
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 3590}]));
        app.stop().await;
    }
}

on_both! {
    async fn woocommerce_finds_the_store_by_its_source(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.token(Role::Admin).await;
        let (status, created) = admin
            .send("POST", "/api/v1/channels", json!({"kind": "woocommerce", "name": "Mühlenladen", "url": "https://Shop.Example/"}))
            .await;
        assert_eq!(status, 201, "{created}");
        let secret = created["setup"]["secret"].as_str().unwrap().to_owned();
        let (status, other) = admin
            .send("POST", "/api/v1/channels", json!({"kind": "woocommerce", "name": "Laden", "url": "https://example.org/laden", "secret": "laden-secret-0815"}))
            .await;
        assert_eq!(status, 201, "{other}");

        let post = |source: Option<&'static str>, secret: Option<String>, body: Vec<u8>| {
            let mut req = reqwest::Client::new()
                .post(app.url("/webhooks/woocommerce"))
                .header("content-type", "application/json")
                .header("x-wc-webhook-topic", "order.created");
            if let Some(source) = source {
                req = req.header("x-wc-webhook-source", source);
            }
            if let Some(secret) = secret {
                req = req.header("x-wc-webhook-signature", signature(&secret, &body));
            }
            async move { reply(req.body(body).send().await.unwrap()).await }
        };
        let order = fixture("woocommerce_order.json");
        let body = bytes(&order);

        // Unknown, missing or unreadable sources get the answer a forged signature gets.
        let forged = post(Some("https://shop.example/"), Some("not-the-secret".into()), body.clone()).await;
        assert_eq!(forged.0, 401, "{}", forged.1);
        for source in [Some("https://shop.example/other/"), Some("http://shop.example/"), Some("not a url"), None] {
            let out = post(source, Some(secret.clone()), body.clone()).await;
            assert_eq!(out, forged, "{source:?}");
        }
        assert_eq!(post(Some("https://shop.example/"), Some("not-the-secret".into()), body.clone()).await.0, 401);
        assert_eq!(post(Some("https://shop.example/"), None, body.clone()).await.0, 401);
        assert_eq!(order_count(&app).await, 0);
        // The other store's secret does not open this one.
        assert_eq!(post(Some("https://shop.example/"), Some("laden-secret-0815".into()), body.clone()).await.0, 401);

        // WooCommerce's ping names no source and gets its 200.
        let res = reqwest::Client::new()
            .post(app.url("/webhooks/woocommerce"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("webhook_id=17")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        // The site address in any case of host, with or without its slash.
        let (status, out) = post(Some("https://SHOP.example/"), Some(secret.clone()), body.clone()).await;
        assert_eq!((status, &out["summary"]["created"]), (200, &json!(1)), "{out}");
        let (status, out) = post(Some("https://shop.example"), Some(secret.clone()), body.clone()).await;
        assert_eq!((status, &out["summary"]["unchanged"]), (200, &json!(1)), "{out}");
        let detail = contact(&app, &admin, "jonas.becker@example.org").await;
        assert!(detail["identities"].to_string().contains("woocommerce:shop.example:311"), "{}", detail["identities"]);

        // A store under a path is told apart by it.
        let mut elsewhere = order.clone();
        elsewhere["billing"]["email"] = json!("ida@example.org");
        elsewhere["customer_id"] = json!(0);
        let (status, out) = post(Some("https://EXAMPLE.org/laden/"), Some("laden-secret-0815".into()), bytes(&elsewhere)).await;
        assert_eq!((status, &out["summary"]["created"]), (200, &json!(1)), "{out}");
        let sources: Vec<String> = entity::order::Entity::find()
            .all(app.desk.store.db())
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.source)
            .collect();
        assert_eq!(sources, ["woocommerce:shop.example", "woocommerce:example.org/laden"]);

        // A paused store is not found by its source either.
        let path = format!("/api/v1/channels/{}", created["id"]);
        assert_eq!(admin.send("PATCH", &path, json!({"active": false})).await.0, 200);
        assert_eq!(post(Some("https://shop.example/"), Some(secret.clone()), body.clone()).await.0, 401);
        app.stop().await;
    }
}

/// `date_modified_gmt` an hour from now, in WooCommerce's form.
fn woo_later() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

on_both! {
    async fn a_deletion_before_the_create_keeps_the_order_deleted(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.token(Role::Admin).await;
        connect_shopify(&admin).await;
        let (status, created) = admin
            .send("POST", "/api/v1/channels", json!({"kind": "woocommerce", "name": "Mühlenladen", "url": "https://shop.example/"}))
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_i64().unwrap();
        let secret = created["setup"]["secret"].as_str().unwrap().to_owned();
        let order = fixture("woocommerce_order.json");

        // WooCommerce: the deletion overtakes the create; the older create stays out.
        let (status, out) = woo(&app, id, "order.deleted", br#"{"id": 7315}"#, Some(&secret)).await;
        assert_eq!((status, &out["summary"]["created"]), (200, &json!(1)), "{out}");
        let (status, out) = woo(&app, id, "order.deleted", br#"{"id": 7315}"#, Some(&secret)).await;
        assert_eq!((status, &out["summary"]["unchanged"]), (200, &json!(1)), "a replayed deletion: {out}");
        let (status, out) = woo(&app, id, "order.created", &bytes(&order), Some(&secret)).await;
        assert_eq!((status, &out["summary"]["skipped"]), (200, &json!(1)), "{out}");
        assert_eq!(order_count(&app).await, 0);

        // Restored at the shop: back, whatever its time.
        let (status, out) = woo(&app, id, "order.restored", &bytes(&order), Some(&secret)).await;
        assert_eq!((status, &out["summary"]["created"]), (200, &json!(1)), "{out}");
        let value = &contact(&app, &admin, "jonas.becker@example.org").await["value"];
        assert_eq!(value["order_count"], 1);

        // Deleted again; an update from before the deletion stays out, a newer one revives.
        let (status, out) = woo(&app, id, "order.deleted", br#"{"id": 7315}"#, Some(&secret)).await;
        assert_eq!((status, &out["summary"]["updated"]), (200, &json!(1)), "{out}");
        let mut before = order.clone();
        before["status"] = json!("completed");
        before["date_modified_gmt"] = json!("2026-11-22T08:00:00");
        let (status, out) = woo(&app, id, "order.updated", &bytes(&before), Some(&secret)).await;
        assert_eq!((status, &out["summary"]["skipped"]), (200, &json!(1)), "{out}");
        let detail = contact(&app, &admin, "jonas.becker@example.org").await;
        assert_eq!(detail["orders"][0]["status"], "deleted");
        assert_eq!(detail["value"]["order_count"], 0);
        let mut after = before.clone();
        after["date_modified_gmt"] = json!(woo_later());
        let (status, out) = woo(&app, id, "order.updated", &bytes(&after), Some(&secret)).await;
        assert_eq!((status, &out["summary"]["updated"]), (200, &json!(1)), "{out}");
        let detail = contact(&app, &admin, "jonas.becker@example.org").await;
        assert_eq!(detail["orders"][0]["status"], "completed");
        assert_eq!(detail["value"]["order_count"], 1);

        // Shopify: orders/delete for an order not stored yet holds back its create.
        let (status, out) = shopify(&app, DOMAIN, "orders/delete", br#"{"id": 5823114297402}"#, Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["deleted"]), (200, &json!(true)), "{out}");
        let (status, out) = shopify(&app, DOMAIN, "orders/create", &bytes(&fixture("shopify_order.json")), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["summary"]["skipped"]), (200, &json!(1)), "{out}");
        assert_eq!(order_count(&app).await, 1, "only the WooCommerce order");
        app.stop().await;
    }
}

on_both! {
    async fn refunds_and_their_orders_arriving_at_once_count_exactly_once(engine: Engine) {
        let app = TestApp::start(engine).await;
        let admin = app.token(Role::Admin).await;
        connect_shopify(&admin).await;
        let order = fixture("shopify_order.json");
        let refund = fixture("shopify_refund.json");
        // Twenty orders, each with one refund, delivered concurrently: the refund alone and
        // the order from before it, twice each, so only the refund row can count it.
        let mut deliveries = Vec::new();
        for i in 0..20_i64 {
            let mut o = order.clone();
            o["id"] = json!(1000 + i);
            o["name"] = json!(format!("#{}", 2000 + i));
            let mut r = refund.clone();
            r["id"] = json!(5000 + i);
            r["order_id"] = json!(1000 + i);
            r["transactions"][0]["amount"] = json!(format!("{}.00", 1 + i));
            for _ in 0..2 {
                deliveries.push(("refunds/create", bytes(&r)));
                deliveries.push(("orders/create", bytes(&o)));
            }
        }
        let url = app.url("/webhooks/shopify");
        let mut running = tokio::task::JoinSet::new();
        for (topic, body) in deliveries {
            let url = url.clone();
            running.spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .header("x-shopify-shop-domain", DOMAIN)
                    .header("x-shopify-topic", topic)
                    .header("x-shopify-hmac-sha256", signature(SHOPIFY_SECRET, &body))
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
        }
        while let Some(status) = running.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
        assert_eq!((order_count(&app).await, refund_rows(&app).await), (20, 20));
        for o in entity::order::Entity::find().all(app.desk.store.db()).await.unwrap() {
            let i: i64 = o.external_id.parse::<i64>().unwrap() - 1000;
            assert_eq!(o.refunded_cents, (1 + i) * 100, "order {}", o.number);
        }
        app.stop().await;
    }
}
