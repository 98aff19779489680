//! The agent console end to end in real headless Chromium: sign-in, a new message
//! appearing live, the contact panel with orders and earlier tickets, replying,
//! collision detection between two agents, and a dropped connection that re-syncs.

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::orders::{CustomerInput, ItemInput, OrderInput};
use switchboard::desk::tickets::TicketUpdate;
use switchboard::desk::{Actor, Channel, Inbound, Role, Status};

use crate::browser::{Driver, screenshot, wait_for, wait_until};
use crate::support::{Engine, PASSWORD, TestApp};

/// Signs in through the login form and waits for the console to be ready.
pub(crate) async fn sign_in(c: &Client, app: &TestApp, email: &str) {
    sign_in_at(c, app, "/", email).await;
    wait_for(c, "sb-app[data-state=ready]").await;
}

/// Opens `path` and fills in the sign-in form it shows (the console's, also at `/lead`).
pub(crate) async fn sign_in_at(c: &Client, app: &TestApp, path: &str, email: &str) {
    c.goto(&app.url(path)).await.unwrap();
    wait_for(c, "form.login input[name=email]")
        .await
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Css("form.login input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The text of the first element matching `css`, as the page shows it. Read in one
/// script, so a list that renders again between finding and reading cannot make it stale.
pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    let text = c
        .execute(
            "const el = document.querySelector(arguments[0]); return el ? el.innerText : null;",
            vec![serde_json::Value::from(css)],
        )
        .await
        .unwrap();
    text.as_str()
        .unwrap_or_else(|| panic!("nothing matches {css}"))
        .to_owned()
}

/// The contact panel's customer-value rows: each term with its amounts (or its text),
/// white space normalized.
async fn value_rows(c: &Client) -> Vec<(String, Vec<String>)> {
    let rows = c
        .execute(
            "const norm = (t) => t.replace(/\\s+/g, ' ').trim();
             return [...document.querySelectorAll('sb-contact .customer-value .value-row')].map((row) => {
               const dd = row.querySelector('dd');
               const money = [...dd.querySelectorAll('.money')].map((m) => norm(m.textContent));
               return [norm(row.querySelector('dt').textContent), money.length ? money : [norm(dd.textContent)]];
             });",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(rows).unwrap()
}

/// A `wait_until` script: some element matching `css` contains `text`.
pub(crate) fn contains(css: &str, text: &str) -> (String, Vec<Value>) {
    (
        "return [...document.querySelectorAll(arguments[0])].some(e => e.textContent.includes(arguments[1]));".to_owned(),
        vec![json!(css), json!(text)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn an_agent_works_a_ticket_live_with_the_customer_story_beside_it() {
    let app = TestApp::start_public(Engine::Sqlite).await;
    app.agent("sam@example.com", Role::Agent).await;
    app.agent("kim@example.com", Role::Agent).await;
    let desk = app.desk.clone();

    // Anna's story: three orders in two currencies, one partly refunded, and an earlier,
    // resolved ticket.
    let placed = "2026-11-15T12:00:00Z".parse().unwrap();
    let older =
        |external_id: &str, currency: &str, total: &str, refunded: Option<&str>, placed: &str| {
            OrderInput {
                source: "shop".into(),
                external_id: external_id.into(),
                number: Some(format!("SB-{external_id}")),
                status: "delivered".into(),
                currency: currency.into(),
                total: json!(total),
                refunded: refunded.map(|r| json!(r)),
                placed_at: placed.parse().unwrap(),
                updated_at: None,
                customer: CustomerInput {
                    email: Some("anna@example.com".into()),
                    ..Default::default()
                },
                items: vec![],
            }
        };
    desk.upsert_orders(vec![
        older(
            "8001",
            "EUR",
            "49.90",
            Some("10.00"),
            "2025-03-05T12:00:00Z",
        ),
        older("8002", "USD", "25.00", None, "2025-07-01T12:00:00Z"),
    ])
    .await
    .unwrap();
    desk.upsert_orders(vec![OrderInput {
        source: "shop".into(),
        external_id: "9001".into(),
        number: Some("SB-9001".into()),
        status: "delivered".into(),
        currency: "EUR".into(),
        total: json!("129.90"),
        refunded: None,
        placed_at: placed,
        updated_at: None,
        customer: CustomerInput {
            email: Some("anna@example.com".into()),
            name: Some("Anna Schneider".into()),
            ..Default::default()
        },
        items: vec![ItemInput {
            sku: Some("GR-12".into()),
            name: "Burr grinder".into(),
            quantity: 1,
            unit_price: json!("129.90"),
        }],
    }])
    .await
    .unwrap();
    let mut earlier = Inbound::text(
        Channel::Email,
        "<old@example.com>",
        IdentityClaim::new(IdentityKind::Email, "anna@example.com"),
        "Where is my grinder?",
    );
    earlier.subject = Some("Delivery time".into());
    let earlier = desk.ingest(&earlier).await.unwrap();
    desk.update_ticket(
        earlier.ticket_id,
        Actor::System,
        &TicketUpdate {
            status: Some(Status::Resolved),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let mut driver = Driver::start().await;
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;

    // A message arrives through the API and appears in the queue without a reload.
    let api = app.token(Role::Agent).await;
    let (status, out) = api
        .send("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "web-form-1", "identity": {"kind": "email", "value": "anna@example.com"}, "name": "Anna Schneider", "subject": "Grinder makes a noise", "text": "Since yesterday it squeaks <script>alert(1)</script>"}))
        .await;
    assert_eq!(status, 201);
    let ticket_id = out["ticket_id"].as_i64().unwrap();
    let row = wait_for(
        &sam,
        &format!("sb-queue .queue-item[data-ticket-id=\"{ticket_id}\"]"),
    )
    .await;
    let (script, args) = contains("button[data-view=unassigned]", "1");
    wait_until(&sam, "the unassigned count to update live", &script, args).await;
    screenshot(&sam, "queue").await;

    // Opening it shows the conversation and Anna's orders and earlier ticket.
    row.click().await.unwrap();
    wait_for(&sam, "sb-ticket .message .message-text").await;
    assert!(
        text_of(&sam, "sb-ticket .message .message-text")
            .await
            .contains("<script>alert(1)</script>"),
        "hostile text shown as text"
    );
    wait_for(
        &sam,
        "sb-contact .order[data-order-number=\"SB-9001\"] .order-item",
    )
    .await;
    wait_for(
        &sam,
        &format!(
            "sb-contact .earlier-ticket[data-ticket-id=\"{}\"]",
            earlier.ticket_id
        ),
    )
    .await;
    assert!(
        text_of(&sam, "sb-contact .contact-name")
            .await
            .contains("Anna Schneider")
    );
    // The customer value, row by row: net lifetime and average per currency, the
    // order count, refunds, the last and the first order.
    assert_eq!(
        value_rows(&sam).await,
        [
            ("Lifetime value", vec!["€169.80", "$25.00"]),
            ("Orders", vec!["3"]),
            ("Average order", vec!["€84.90", "$25.00"]),
            ("Refunded", vec!["€10.00"]),
            ("Last order", vec!["Nov 15, 2026"]),
            ("Customer since", vec!["Mar 5, 2025"]),
        ]
        .map(|(term, values)| (
            term.to_owned(),
            values.iter().map(|v| v.to_string()).collect::<Vec<_>>()
        ))
    );

    // A second agent opens the same ticket: each sees the other viewing, and typing.
    let kim = driver.browser("de").await;
    sign_in(&kim, &app, "kim@example.com").await;
    wait_for(
        &kim,
        &format!("sb-queue .queue-item[data-ticket-id=\"{ticket_id}\"]"),
    )
    .await
    .click()
    .await
    .unwrap();
    wait_for(&kim, "sb-ticket .message").await;
    wait_for(&kim, "sb-contact .customer-value .value-row").await;
    assert_eq!(
        value_rows(&kim).await,
        [
            ("Umsatz gesamt", vec!["169,80 €", "25,00 $"]),
            ("Bestellungen", vec!["3"]),
            ("Durchschnittliche Bestellung", vec!["84,90 €", "25,00 $"]),
            ("Erstattet", vec!["10,00 €"]),
            ("Letzte Bestellung", vec!["15.11.2026"]),
            ("Kunde seit", vec!["05.03.2025"]),
        ]
        .map(|(term, values)| (
            term.to_owned(),
            values.iter().map(|v| v.to_string()).collect::<Vec<_>>()
        ))
    );
    let (script, args) = contains("sb-ticket .collision", "sam");
    wait_until(&kim, "Kim sees Sam viewing", &script, args).await;
    let composer = wait_for(&sam, "sb-ticket textarea[name=reply]").await;
    composer.send_keys("Sorry to hear that! ").await.unwrap();
    let (script, args) = contains("sb-ticket .collision", "…");
    wait_until(&kim, "Kim sees Sam typing", &script, args).await;
    screenshot(&sam, "ticket").await;

    // Sam replies; the reply is stored, queued for the channel and shown to both.
    composer
        .send_keys("We will send a replacement.")
        .await
        .unwrap();
    sam.find(Locator::Css("sb-ticket button.send-reply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (script, args) = contains(
        "sb-ticket .message .message-text",
        "We will send a replacement.",
    );
    wait_until(&sam, "the reply in Sam's timeline", &script, args.clone()).await;
    wait_until(&kim, "the reply in Kim's timeline", &script, args).await;
    let detail = desk.ticket_detail(ticket_id).await.unwrap();
    let reply = detail
        .messages
        .iter()
        .find(|m| m.message.direction == "out")
        .expect("the reply is stored");
    assert_eq!(
        reply.message.text,
        "Sorry to hear that! We will send a replacement."
    );

    // Kim's connection drops; a message that arrives meanwhile is there after the re-sync.
    kim.execute("window.__sbLive.drop(); return true;", vec![])
        .await
        .unwrap();
    api.send("POST", "/api/v1/inbound", json!({"channel": "api", "external_id": "web-form-2", "identity": {"kind": "email", "value": "anna@example.com"}, "text": "Thank you, that was quick!"})).await;
    let (script, args) = contains(
        "sb-ticket .message .message-text",
        "Thank you, that was quick!",
    );
    wait_until(
        &kim,
        "the message sent while Kim was disconnected",
        &script,
        args,
    )
    .await;

    sam.close().await.unwrap();
    kim.close().await.unwrap();
    app.stop().await;
}
