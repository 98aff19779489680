//! Shop order webhooks: Shopify and WooCommerce deliveries in the shapes their
//! documentation gives (tests/fixtures/shop), signed, forged, replayed and out of order,
//! and what they do to the contact's orders and customer value.

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
        assert_eq!(shopify(&app, "other-shop.myshopify.com", "orders/create", &body, Some(SHOPIFY_SECRET)).await.0, 404);
        assert_eq!(shopify(&app, "", "orders/create", &body, Some(SHOPIFY_SECRET)).await.0, 404);
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

        // The same delivery again changes nothing.
        let (status, _) = shopify(&app, DOMAIN, "orders/create", &body, Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 200);
        assert_eq!(order_count(&app).await, 1);

        // A refund: orders/updated carries it; refunds/create alone is acknowledged.
        let refund = fixture("shopify_refund.json");
        let (status, out) = shopify(&app, DOMAIN, "refunds/create", &bytes(&refund), Some(SHOPIFY_SECRET)).await;
        assert_eq!((status, &out["stored"]), (200, &json!(false)), "{out}");
        let mut refunded = order.clone();
        refunded["updated_at"] = json!("2026-11-22T09:03:20+01:00");
        refunded["financial_status"] = json!("partially_refunded");
        refunded["refunds"] = json!([refund]);
        let (status, out) = shopify(&app, DOMAIN, "orders/updated", &bytes(&refunded), Some(SHOPIFY_SECRET)).await;
        assert_eq!(status, 200, "{out}");
        let value = &contact(&app, &admin, "grete.hansen@example.de").await["value"];
        assert_eq!(value["lifetime"], json!([{"currency": "EUR", "cents": 6480}]));
        assert_eq!(value["refunded"], json!([{"currency": "EUR", "cents": 2490}]));
        assert_eq!(value["average"], json!([{"currency": "EUR", "cents": 6480}]));

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
        assert_eq!(shopify(&app, DOMAIN, "orders/updated", &body, Some(SHOPIFY_SECRET)).await.0, 404);
        let renewed = "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";
        let (status, out) = admin.send("PATCH", &path, json!({"active": true, "secret": renewed})).await;
        assert_eq!(status, 200, "{out}");
        assert!(!out.to_string().contains(renewed));
        assert_eq!(shopify(&app, DOMAIN, "orders/updated", &body, Some(SHOPIFY_SECRET)).await.0, 401);
        assert_eq!(shopify(&app, DOMAIN, "orders/updated", &body, Some(renewed)).await.0, 200);
        let (status, out) = shopify(&app, DOMAIN, "orders/delete", br#"{"id": 5823114297402}"#, Some(renewed)).await;
        assert_eq!((status, &out["deleted"]), (200, &json!(true)), "{out}");
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
        assert!(created["setup"]["delivery_url"].as_str().unwrap().ends_with(&format!("/webhooks/woocommerce/{id}")));

        // WooCommerce's ping when the webhook is saved: form-encoded, unsigned.
        let res = reqwest::Client::new()
            .post(app.url(&format!("/webhooks/woocommerce/{id}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("webhook_id=17")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        let order = fixture("woocommerce_order.json");
        let body = bytes(&order);
        assert_eq!(woo(&app, id, "order.created", &body, None).await.0, 401);
        assert_eq!(woo(&app, id, "order.created", &body, Some("not-the-secret")).await.0, 401);
        assert_eq!(woo(&app, id + 1000, "order.created", &body, Some(&secret)).await.0, 404);
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
        assert_eq!(woo(&app, id, "order.created", &body, Some(&secret)).await.0, 200);
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
        out.contains("/webhooks/woocommerce/") && out.contains("secret"),
        "{out}"
    );
    let (ok, out, _) = cli(dir.path(), &["channel", "list"], "");
    assert!(
        ok && out.contains("shopify") && out.contains("woocommerce"),
        "{out}"
    );
}
