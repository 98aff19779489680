//! Phone calls in the agent console, in real headless Chromium: a known caller pops up
//! with her value, orders and open ticket; the missed call turns into a call-back ticket
//! the card links to; an unknown caller becomes a contact in one click; several calls
//! stack and Escape dismisses them; the caller log lists the calls, page by page; the
//! card and the log speak German.

use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::{Channel, Inbound, Role};

use crate::browser::{Driver, screenshot, wait_for, wait_until};
use crate::console::{contains, sign_in, text_of};
use crate::support::{Engine, TestApp};

const ANNA: &str = "+49301234567";
const STRANGER: &str = "+4917612300000";
const OTHER: &str = "+4917655500000";
const DESK_LINE: &str = "+49301111";

/// Posts one PBX event as the PBX script would.
async fn pbx(app: &TestApp, token: &str, event: Value) {
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/cti/{token}")))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{event}: {}", res.text().await.unwrap());
}

fn card(call_id: &str) -> String {
    format!("sb-calls .call-card[data-pbx-call-id=\"{call_id}\"]")
}

async fn wait_gone(c: &Client, what: &str, css: &str) {
    wait_until(
        c,
        what,
        "return !document.querySelector(arguments[0]);",
        vec![json!(css)],
    )
    .await;
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .attr(name)
        .await
        .unwrap()
}

async fn click(c: &Client, css: &str) {
    wait_for(c, css).await.click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn an_agent_takes_calls_with_the_callers_story_on_screen() {
    let app = TestApp::start_public(Engine::Sqlite).await;
    let sam_id = app.agent("sam@example.com", Role::Agent).await;
    let desk = app.desk.clone();
    let token = desk
        .create_pbx("PBX", &[], Default::default(), Default::default())
        .await
        .unwrap()
        .channel
        .key;

    // Anna: an open ticket and two orders, known by her phone number.
    let mut first = Inbound::text(
        Channel::Api,
        "k1",
        IdentityClaim::new(IdentityKind::Phone, "+49 30 1234567"),
        "Meine Mühle macht seit gestern Geräusche.",
    );
    first.name = Some("Anna Schneider".into());
    first.subject = Some("Mühle macht Geräusche".into());
    let known = desk.ingest(&first).await.unwrap();
    let placed = chrono::Utc::now() - chrono::Duration::days(12);
    let recent = chrono::Utc::now() - chrono::Duration::days(2);
    desk.upsert_orders(vec![
        serde_json::from_value(json!({
            "source": "shop", "external_id": "O-1001", "number": "SB-1001", "status": "delivered", "currency": "EUR",
            "total": "129.90", "placed_at": placed, "customer": {"phone": ANNA},
            "items": [{"sku": "GR-12", "name": "Burr grinder", "quantity": 1, "unit_price": "129.90"}]
        }))
        .unwrap(),
        serde_json::from_value(json!({
            "source": "shop", "external_id": "O-1017", "number": "SB-1017", "status": "paid", "currency": "EUR",
            "total": "24.50", "placed_at": recent, "customer": {"phone": ANNA},
            "items": [{"sku": "BN-1", "name": "Espresso beans 1 kg", "quantity": 1, "unit_price": "24.50"}]
        }))
        .unwrap(),
    ])
    .await
    .unwrap();

    let mut driver = Driver::start().await;
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;

    // Anna calls: the card pops up with her name, number, value, orders and open ticket.
    let started = Instant::now();
    pbx(&app, &token, json!({"event": "newCall", "direction": "in", "from": "030 1234567", "to": DESK_LINE, "callId": "t-1", "queue": "support"})).await;
    let anna = card("t-1");
    wait_for(
        &sam,
        &format!("{anna} .order[data-order-number=\"SB-1001\"]"),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the card took {:?}",
        started.elapsed()
    );
    assert_eq!(
        text_of(&sam, &format!("{anna} .call-name")).await,
        "Anna Schneider"
    );
    assert_eq!(
        text_of(&sam, &format!("{anna} .call-status")).await,
        "Ringing"
    );
    assert_eq!(
        attr(&sam, &format!("{anna} a.call-number"), "href")
            .await
            .as_deref(),
        Some(format!("tel:{ANNA}").as_str())
    );
    let orders = text_of(&sam, &format!("{anna} .call-orders")).await;
    assert!(
        orders.contains("#SB-1017") && orders.contains("24.50") && orders.contains("Paid"),
        "{orders}"
    );
    assert!(
        text_of(&sam, &format!("{anna} .customer-value"))
            .await
            .contains("154.40")
    );
    wait_for(
        &sam,
        &format!(
            "{anna} a.earlier-ticket[data-ticket-id=\"{}\"]",
            known.ticket_id
        ),
    )
    .await;
    // Screen readers hear who calls.
    let (script, args) = contains("sb-calls [role=alert]", "Incoming call from Anna Schneider");
    wait_until(&sam, "the announcement", &script, args).await;

    // Open contact: her record in the right column.
    click(&sam, &format!("{anna} button.call-open-contact")).await;
    let (script, args) = contains("sb-contact .contact-name", "Anna Schneider");
    wait_until(&sam, "Anna in the contact panel", &script, args).await;
    wait_for(
        &sam,
        "sb-contact .order[data-order-number=\"SB-1001\"] .order-item",
    )
    .await;

    // Her open ticket opens from the card; the card stays.
    click(
        &sam,
        &format!(
            "{anna} a.earlier-ticket[data-ticket-id=\"{}\"]",
            known.ticket_id
        ),
    )
    .await;
    let (script, args) = contains("sb-ticket .message .message-text", "Meine Mühle");
    wait_until(&sam, "Anna's ticket", &script, args).await;
    assert!(sam.find(Locator::Css(&anna)).await.is_ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    screenshot(&sam, "call").await;

    // Nobody answers: the card says so and links the call-back ticket.
    pbx(&app, &token, json!({"event": "hangup", "direction": "in", "from": "030 1234567", "to": DESK_LINE, "callId": "t-1", "cause": "noAnswer"})).await;
    let missed = desk.calls(None, 10).await.unwrap().remove(0);
    assert_eq!(
        (missed.call.call_id.as_str(), missed.call.status.as_str()),
        ("t-1", "missed")
    );
    let callback = missed.call.ticket_id.expect("a call-back ticket");
    let number = desk.ticket(callback).await.unwrap().number;
    let link = format!("{anna} a.call-callback[href=\"#ticket/{callback}\"]");
    let (script, args) = contains(&link, &format!("Call-back ticket #{number}"));
    wait_until(&sam, "the call-back link", &script, args).await;
    assert_eq!(
        text_of(&sam, &format!("{anna} .call-missed-text")).await,
        "Missed call"
    );
    assert_eq!(
        text_of(&sam, &format!("{anna} .call-status")).await,
        "Missed"
    );
    wait_for(
        &sam,
        &format!("sb-queue .queue-item[data-ticket-id=\"{callback}\"]"),
    )
    .await;
    click(&sam, &link).await;
    let (script, args) = contains(
        "sb-ticket .message .message-text",
        &format!("Missed call from {ANNA}"),
    );
    wait_until(&sam, "the call-back ticket", &script, args).await;
    // Beside it, Anna's record lists her other ticket.
    wait_for(
        &sam,
        &format!(
            "sb-contact .earlier-ticket[data-ticket-id=\"{}\"]",
            known.ticket_id
        ),
    )
    .await;

    // Escape on the card dismisses it.
    sam.find(Locator::Css(&format!("{anna} button.call-dismiss")))
        .await
        .unwrap()
        .send_keys(&Key::Escape.to_string())
        .await
        .unwrap();
    wait_gone(&sam, "the dismissed card", &anna).await;

    // Two unknown callers at once: the cards stack, the newest on top.
    pbx(&app, &token, json!({"event": "newCall", "direction": "in", "from": STRANGER, "to": DESK_LINE, "callId": "t-2"})).await;
    pbx(&app, &token, json!({"event": "newCall", "direction": "in", "from": OTHER, "to": DESK_LINE, "callId": "t-3"})).await;
    wait_for(&sam, &card("t-3")).await;
    let order = sam
        .execute("return [...document.querySelectorAll('sb-calls .call-card')].map(e => e.dataset.pbxCallId);", vec![])
        .await
        .unwrap();
    assert_eq!(order, json!(["t-3", "t-2"]));
    let stranger = card("t-2");
    assert_eq!(
        text_of(&sam, &format!("{stranger} .call-name")).await,
        STRANGER
    );
    assert!(
        text_of(&sam, &format!("{stranger} .call-new"))
            .await
            .contains("not in your contacts")
    );

    // One click makes the stranger a contact, shown at once, ready for a name.
    click(&sam, &format!("{stranger} button.call-create-contact")).await;
    let (script, args) = contains("sb-contact .identity-value", STRANGER);
    wait_until(&sam, "the new contact in the panel", &script, args).await;
    let created = desk
        .contact_by_phone(STRANGER)
        .await
        .unwrap()
        .expect("the contact is stored");
    let detail = desk.contact_detail(created).await.unwrap();
    assert!(
        detail
            .identities
            .iter()
            .any(|i| i.kind == "phone" && i.value == STRANGER)
    );
    wait_for(&sam, &format!("{stranger} button.call-open-contact")).await;
    wait_until(
        &sam,
        "focus on the new contact's name",
        "return document.activeElement && document.activeElement.matches('sb-contact button.edit-name');",
        vec![],
    )
    .await;

    // Escape outside the cards dismisses the newest.
    sam.active_element()
        .await
        .unwrap()
        .send_keys(&Key::Escape.to_string())
        .await
        .unwrap();
    wait_gone(&sam, "the newest card", &card("t-3")).await;
    assert!(sam.find(Locator::Css(&stranger)).await.is_ok());

    // Sam answers the stranger's call: talking, then the card closes at the hangup.
    pbx(&app, &token, json!({"event": "answer", "direction": "in", "from": STRANGER, "to": DESK_LINE, "callId": "t-2", "user": "sam@example.com"})).await;
    let (script, args) = contains(&format!("{stranger} .call-status"), "Talking");
    wait_until(&sam, "the answered call", &script, args).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The card's clock runs from the answer.
    wait_until(
        &sam,
        "the call's clock to run",
        "const c = document.querySelector(arguments[0]); return !!c && /^0:0[1-9]$/.test(c.textContent);",
        vec![json!(format!("{stranger} .call-clock"))],
    )
    .await;
    pbx(&app, &token, json!({"event": "hangup", "direction": "in", "from": STRANGER, "to": DESK_LINE, "callId": "t-2", "cause": "normalClearing"})).await;
    wait_gone(&sam, "the card of the finished call", &stranger).await;
    pbx(&app, &token, json!({"event": "hangup", "direction": "in", "from": OTHER, "to": DESK_LINE, "callId": "t-3", "cause": "cancel"})).await;

    // A colleague answers a call that rang at both: that event goes to Kim only, and
    // Sam's card catches up from the caller log (as it does by itself after a while).
    app.agent("kim@example.com", Role::Agent).await;
    pbx(&app, &token, json!({"event": "newCall", "direction": "in", "from": ANNA, "to": DESK_LINE, "callId": "t-5"})).await;
    wait_for(&sam, &card("t-5")).await;
    pbx(&app, &token, json!({"event": "answer", "direction": "in", "from": ANNA, "to": DESK_LINE, "callId": "t-5", "user": "kim@example.com"})).await;
    sam.execute(
        "return document.querySelector('sb-calls').refresh().then(() => true);",
        vec![],
    )
    .await
    .unwrap();
    wait_gone(&sam, "the card of the call Kim took", &card("t-5")).await;
    pbx(&app, &token, json!({"event": "hangup", "direction": "in", "from": ANNA, "to": DESK_LINE, "callId": "t-5", "cause": "normalClearing"})).await;

    let calls = desk.calls(None, 10).await.unwrap();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[2].call.agent_id, Some(sam_id));

    // The caller log, three calls a page: newest first, then the next page.
    sam.execute(
        "document.querySelector('sb-calllog').pageSize = 3; return true;",
        vec![],
    )
    .await
    .unwrap();
    click(&sam, "nav a.nav-calls").await;
    assert_eq!(
        attr(&sam, "nav a.nav-calls", "aria-current")
            .await
            .as_deref(),
        Some("page")
    );
    let rows = "sb-calllog tbody tr";
    wait_until(
        &sam,
        "the first page",
        "return document.querySelectorAll(arguments[0]).length === 3;",
        vec![json!(rows)],
    )
    .await;
    click(&sam, "sb-calllog button.calllog-more").await;
    wait_until(
        &sam,
        "the second page",
        "return document.querySelectorAll(arguments[0]).length === 4;",
        vec![json!(rows)],
    )
    .await;
    wait_until(
        &sam,
        "the end of the log",
        "return document.querySelector('sb-calllog button.calllog-more').hidden;",
        vec![],
    )
    .await;
    let ids = sam
        .execute("return [...document.querySelectorAll(arguments[0])].map(r => Number(r.dataset.callId));", vec![json!(rows)])
        .await
        .unwrap();
    assert_eq!(
        ids,
        json!(calls.iter().map(|c| c.call.id).collect::<Vec<_>>())
    );
    let anna_row = format!("sb-calllog tr[data-call-id=\"{}\"]", missed.call.id);
    let (script, args) = contains(
        &format!("{anna_row} button.calllog-contact"),
        "Anna Schneider",
    );
    wait_until(&sam, "Anna's name in the log", &script, args).await;
    assert_eq!(
        attr(&sam, &format!("{anna_row} a.call-number"), "href")
            .await
            .as_deref(),
        Some(format!("tel:{ANNA}").as_str())
    );
    assert_eq!(
        text_of(&sam, &format!("{anna_row} .call-status")).await,
        "Missed"
    );
    let (script, args) = contains(
        &format!("{anna_row} a.calllog-ticket[href=\"#ticket/{callback}\"]"),
        &format!("#{number}"),
    );
    wait_until(&sam, "the call-back ticket in the log", &script, args).await;
    let answered_row = format!("sb-calllog tr[data-call-id=\"{}\"]", calls[2].call.id);
    assert_eq!(
        text_of(&sam, &format!("{answered_row} .call-status")).await,
        "Answered"
    );
    let talking = text_of(&sam, &format!("{answered_row} .col-talking")).await;
    assert!(talking.starts_with("0:0") && talking != "0:00", "{talking}");
    let (script, args) = contains(
        &format!("{answered_row} .col-number .call-direction"),
        "Incoming",
    );
    wait_until(&sam, "the direction in words", &script, args).await;

    // In German: the log, and a new call's card and announcement.
    sam.find(Locator::Css("select#lang-header"))
        .await
        .unwrap()
        .select_by_value("de")
        .await
        .unwrap();
    let (script, args) = contains("nav a.nav-calls", "Anrufe");
    wait_until(&sam, "the German nav entry", &script, args).await;
    let head = text_of(&sam, "sb-calllog thead").await;
    assert!(
        head.contains("Wartezeit") && head.contains("Gesprächsdauer"),
        "{head}"
    );
    assert_eq!(
        text_of(&sam, &format!("{anna_row} .call-status")).await,
        "Verpasst"
    );
    pbx(&app, &token, json!({"event": "newCall", "direction": "in", "from": ANNA, "to": DESK_LINE, "callId": "t-4"})).await;
    let again = card("t-4");
    let (script, args) = contains(
        &format!("{again} button.call-open-contact"),
        "Kontakt öffnen",
    );
    wait_until(&sam, "the German card", &script, args).await;
    assert_eq!(
        text_of(&sam, &format!("{again} .call-status")).await,
        "Klingelt"
    );
    let (script, args) = contains(
        "sb-calls [role=alert]",
        "Eingehender Anruf von Anna Schneider",
    );
    wait_until(&sam, "the German announcement", &script, args).await;
    // The live call is in the log too.
    wait_until(
        &sam,
        "the ringing call in the log",
        "return document.querySelectorAll(arguments[0]).length === 5;",
        vec![json!(rows)],
    )
    .await;
    pbx(&app, &token, json!({"event": "hangup", "direction": "in", "from": ANNA, "to": DESK_LINE, "callId": "t-4", "cause": "cancel"})).await;
    let (script, args) = contains(&format!("{again} .call-missed-text"), "Verpasster Anruf");
    wait_until(&sam, "the German missed call", &script, args).await;
    sam.find(Locator::Css("select#lang-header"))
        .await
        .unwrap()
        .select_by_value("en")
        .await
        .unwrap();

    // Nothing went wrong on the way.
    let errors = sam
        .execute(
            "return [...document.querySelectorAll('.errors .error-item')].map(e => e.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(errors, json!([]));

    sam.close().await.unwrap();
    app.stop().await;
}
