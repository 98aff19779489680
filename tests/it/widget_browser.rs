//! The chat widget end to end in real headless Chromium: a customer on the demo shop
//! and an agent in the console chatting both ways, the offline notice, a reload that
//! resumes the conversation, a socket cut while sending that still stores the message
//! exactly once, and a signed-in customer whose orders the agent sees.

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use switchboard::desk::tickets::TicketFilter;
use switchboard::desk::{Channel, Desk, IdentityKind, Role};

use crate::browser::{Driver, in_shadow, screenshot, wait_for, wait_for_in_shadow, wait_until};
use crate::console::{contains, sign_in, text_of};
use crate::support::{Engine, TestApp};

/// The widget's element; everything else lives in its open shadow root.
const HOST: &str = "sb-chat";

/// A desk serving the demo shop with the demo widget site allowed on its own origin.
async fn shop_desk() -> TestApp {
    let app = TestApp::start_public(Engine::Sqlite).await;
    switchboard::demo::demo_site(&app.desk, &app.base)
        .await
        .unwrap();
    app
}

/// Opens the demo shop (as a guest or the signed-in demo customer), opens the chat and
/// waits until the widget is connected and welcomed.
async fn open_chat(c: &Client, app: &TestApp, signed_in: bool) {
    let path = if signed_in {
        "/demo/shop?signed_in=true"
    } else {
        "/demo/shop"
    };
    c.goto(&app.url(path)).await.unwrap();
    wait_for_in_shadow(c, HOST, "button.sb-launcher")
        .await
        .click()
        .await
        .unwrap();
    wait_for_in_shadow(c, HOST, "textarea.sb-input").await;
    wait_connected(c).await;
    assert!(visible(c, ".sb-panel").await, "the chat panel is open");
}

async fn wait_connected(c: &Client) {
    wait_until(
        c,
        "the widget to be connected",
        "return Boolean(window.__sbWidget && window.__sbWidget.state.connected);",
        vec![],
    )
    .await;
}

/// `window.__sbWidget.state`: `{connected, pending, last}`.
async fn widget_state(c: &Client) -> Value {
    c.execute("return window.__sbWidget.state;", vec![])
        .await
        .unwrap()
}

/// Whether an element of the widget is shown (it and its ancestors not hidden).
async fn visible(c: &Client, css: &str) -> bool {
    c.execute(
        &in_shadow(
            HOST,
            "return !!root && [...root.querySelectorAll(arguments[0])].some(e => e.checkVisibility());",
        ),
        vec![json!(css)],
    )
    .await
    .unwrap()
        == Value::Bool(true)
}

async fn wait_visible(c: &Client, what: &str, css: &str, shown: bool) {
    let script = in_shadow(
        HOST,
        "return !!root && [...root.querySelectorAll(arguments[0])].some(e => e.checkVisibility()) === arguments[1];",
    );
    wait_until(c, what, &script, vec![json!(css), json!(shown)]).await;
}

/// Types a message into the widget and sends it with the button.
async fn type_and_send(c: &Client, text: &str) {
    wait_for_in_shadow(c, HOST, "textarea.sb-input")
        .await
        .send_keys(text)
        .await
        .unwrap();
    wait_for_in_shadow(c, HOST, "button.sb-send")
        .await
        .click()
        .await
        .unwrap();
}

/// The widget's message bubbles in order: id, client id, classes, author and text.
async fn bubbles(c: &Client) -> Vec<Value> {
    let script = in_shadow(
        HOST,
        "return [...root.querySelectorAll('.sb-msg')].map(m => ({
            id: m.dataset.id || null,
            client_id: m.dataset.clientId || null,
            in: m.classList.contains('sb-in'),
            out: m.classList.contains('sb-out'),
            pending: m.classList.contains('sb-pending'),
            author: (m.querySelector('.sb-author') || {}).textContent || null,
            text: m.querySelector('.sb-text').textContent,
        }));",
    );
    match c.execute(&script, vec![]).await.unwrap() {
        Value::Array(list) => list,
        other => panic!("no bubbles: {other}"),
    }
}

/// Waits until the widget shows `text` as a stored message (it has an id, it is not
/// pending), from the customer (`in`) or from the agent named `author`.
async fn wait_stored(c: &Client, what: &str, text: &str, author: Option<&str>) {
    let script = in_shadow(
        HOST,
        "return !!root && [...root.querySelectorAll('.sb-msg[data-id]:not(.sb-pending)')].some(m =>
            m.querySelector('.sb-text').textContent === arguments[0]
            && (arguments[1] === null
                ? m.classList.contains('sb-in') && m.dataset.clientId
                : m.classList.contains('sb-out') && (m.querySelector('.sb-author') || {}).textContent === arguments[1]));",
    );
    wait_until(c, what, &script, vec![json!(text), json!(author)]).await;
}

/// The chat tickets in the store, newest first.
async fn chat_tickets(desk: &Desk, contact_id: Option<i64>) -> Vec<entity::ticket::Model> {
    let filter = TicketFilter {
        channel: Some(Channel::Chat),
        contact_id,
        ..Default::default()
    };
    desk.list_tickets(&filter, None, 100).await.unwrap().items
}

/// How many stored chat messages have exactly this text.
async fn stored_count(desk: &Desk, text: &str) -> usize {
    let mut n = 0;
    for t in chat_tickets(desk, None).await {
        let detail = desk.ticket_detail(t.id).await.unwrap();
        n += detail
            .messages
            .iter()
            .filter(|m| m.message.text == text)
            .count();
    }
    n
}

async fn open_ticket(agent: &Client, ticket_id: i64) {
    wait_for(
        agent,
        &format!("sb-queue .queue-item[data-ticket-id=\"{ticket_id}\"]"),
    )
    .await
    .click()
    .await
    .unwrap();
    wait_for(agent, "sb-ticket .message .message-text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn a_guest_and_an_agent_chat_both_ways_and_a_reload_resumes_the_conversation() {
    let app = shop_desk().await;
    app.agent("sam@example.com", Role::Agent).await;
    let desk = app.desk.clone();
    let mut driver = Driver::start().await;

    // Nobody is online: the guest is offered to leave an email.
    let guest = driver.browser("en").await;
    open_chat(&guest, &app, false).await;
    wait_visible(&guest, "the offline notice", ".sb-offline", true).await;
    wait_for_in_shadow(&guest, HOST, "input.sb-email")
        .await
        .send_keys("guest@example.org")
        .await
        .unwrap();
    wait_for_in_shadow(&guest, HOST, "button.sb-email-save")
        .await
        .click()
        .await
        .unwrap();
    wait_visible(&guest, "the saved email", ".sb-email-saved", true).await;
    let saved = wait_for_in_shadow(&guest, HOST, ".sb-email-saved")
        .await
        .text()
        .await
        .unwrap();
    assert!(saved.contains("guest@example.org"), "{saved}");

    // An agent signs in: the notice goes away live.
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;
    wait_visible(&guest, "the offline notice to go", ".sb-offline", false).await;

    // The guest writes; the message is stored and a chat ticket appears in the queue.
    let first = "Hello! Does the Barista Uno need descaling?";
    type_and_send(&guest, first).await;
    wait_stored(&guest, "the first message stored", first, None).await;
    assert_eq!(widget_state(&guest).await["pending"], 0);
    let tickets = chat_tickets(&desk, None).await;
    assert_eq!(tickets.len(), 1, "one chat ticket");
    let ticket_id = tickets[0].id;
    let contact_id = tickets[0].contact_id;
    open_ticket(&sam, ticket_id).await;
    assert!(
        text_of(&sam, "sb-ticket .message-in .message-text")
            .await
            .contains(first)
    );

    // Sam answers; the widget shows the answer under Sam's name.
    let answer = "Yes, about every two months. We can send you a descaler.";
    wait_for(&sam, "sb-ticket textarea[name=reply]")
        .await
        .send_keys(answer)
        .await
        .unwrap();
    sam.find(Locator::Css("sb-ticket button.send-reply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_stored(&guest, "Sam's answer in the widget", answer, Some("sam")).await;
    assert!(
        !visible(&guest, ".sb-offline").await,
        "no offline notice while Sam is online"
    );

    // The guest types: Sam sees it; the message then arrives live in the open ticket.
    // Typed word by word, as a person types: typing notices go out at most every 2 s.
    let second = "Great, thank you! Please add one to my next order, the one I place next week.";
    let input = wait_for_in_shadow(&guest, HOST, "textarea.sb-input").await;
    let (script, args) = contains("sb-ticket .customer-typing", "Customer is typing…");
    let mut seen = false;
    for word in second.split_inclusive(' ') {
        input.send_keys(word).await.unwrap();
        seen = seen || sam.execute(&script, args.clone()).await.unwrap() == Value::Bool(true);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    if !seen {
        wait_until(&sam, "Sam sees the customer typing", &script, args).await;
    }
    wait_for_in_shadow(&guest, HOST, "button.sb-send")
        .await
        .click()
        .await
        .unwrap();
    wait_stored(&guest, "the second message stored", second, None).await;
    let (script, args) = contains("sb-ticket .message-in .message-text", second);
    wait_until(
        &sam,
        "the second message in Sam's open ticket",
        &script,
        args,
    )
    .await;
    screenshot(&guest, "widget").await;

    // A reload shows the same conversation, and a new message joins the same ticket.
    guest.refresh().await.unwrap();
    wait_connected(&guest).await;
    wait_stored(&guest, "the first message after the reload", first, None).await;
    wait_stored(&guest, "the answer after the reload", answer, Some("sam")).await;
    wait_stored(&guest, "the second message after the reload", second, None).await;
    let shown: Vec<String> = bubbles(&guest)
        .await
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        shown,
        [first, answer, second],
        "each message once, in order"
    );
    assert!(
        visible(&guest, ".sb-panel").await,
        "the open chat stays open"
    );

    let third = "And do you ship to Austria?";
    type_and_send(&guest, third).await;
    wait_stored(&guest, "the third message stored", third, None).await;
    let (script, args) = contains("sb-ticket .message-in .message-text", third);
    wait_until(
        &sam,
        "the third message in the same open ticket",
        &script,
        args,
    )
    .await;
    let tickets = chat_tickets(&desk, Some(contact_id)).await;
    assert_eq!(tickets.len(), 1, "still one chat ticket for the guest");
    assert_eq!(tickets[0].id, ticket_id);
    let texts: Vec<String> = desk
        .ticket_detail(ticket_id)
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.message.text)
        .collect();
    assert_eq!(texts, [first, answer, second, third]);

    guest.close().await.unwrap();
    sam.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn a_message_sent_while_the_socket_is_cut_is_stored_exactly_once() {
    let app = shop_desk().await;
    let desk = app.desk.clone();
    let mut driver = Driver::start().await;
    let guest = driver.browser("en").await;
    open_chat(&guest, &app, false).await;
    type_and_send(&guest, "Hi there").await;
    wait_stored(&guest, "the first message stored", "Hi there", None).await;

    // Cut, then send at once: the message waits and goes out after the reconnect.
    let cut_first = "Sent while the line was down";
    let script = in_shadow(
        HOST,
        "window.__sbWidget.drop();
         root.querySelector('textarea.sb-input').value = arguments[0];
         root.querySelector('button.sb-send').click();
         return window.__sbWidget.state;",
    );
    let state = guest
        .execute(&script, vec![json!(cut_first)])
        .await
        .unwrap();
    assert_eq!(state["connected"], false, "{state}");
    assert_eq!(state["pending"], 1, "kept until acknowledged: {state}");

    // Send, then cut before the acknowledgement can arrive: resent, stored once.
    wait_stored(&guest, "the message sent while cut", cut_first, None).await;
    wait_connected(&guest).await;
    let cut_after = "Sent just before the line went down";
    let script = in_shadow(
        HOST,
        "root.querySelector('textarea.sb-input').value = arguments[0];
         root.querySelector('button.sb-send').click();
         window.__sbWidget.drop();
         return window.__sbWidget.state;",
    );
    let state = guest
        .execute(&script, vec![json!(cut_after)])
        .await
        .unwrap();
    assert_eq!(state["pending"], 1, "not acknowledged yet: {state}");
    wait_stored(&guest, "the message sent before the cut", cut_after, None).await;
    wait_until(
        &guest,
        "nothing pending",
        "return window.__sbWidget.state.pending === 0 && window.__sbWidget.state.connected;",
        vec![],
    )
    .await;

    for text in [cut_first, cut_after] {
        assert_eq!(stored_count(&desk, text).await, 1, "{text:?} stored once");
        let shown: Vec<Value> = bubbles(&guest)
            .await
            .into_iter()
            .filter(|b| b["text"] == text)
            .collect();
        assert_eq!(shown.len(), 1, "{text:?} shown once: {shown:?}");
        assert_eq!(shown[0]["pending"], false);
        assert!(shown[0]["id"].is_string(), "{shown:?}");
    }
    assert_eq!(chat_tickets(&desk, None).await.len(), 1);

    guest.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn a_signed_in_customer_brings_her_orders_to_the_agent() {
    let app = TestApp::start_public(Engine::Sqlite).await;
    switchboard::demo::load(&app.desk, &app.base).await.unwrap();
    app.agent("sam@example.com", Role::Agent).await;
    let desk = app.desk.clone();
    let mut driver = Driver::start().await;
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;

    // Anna, signed in to the shop, in a German browser.
    let anna = driver.browser("de").await;
    open_chat(&anna, &app, true).await;
    let placeholder = wait_for_in_shadow(&anna, HOST, "textarea.sb-input")
        .await
        .attr("placeholder")
        .await
        .unwrap();
    assert_eq!(placeholder.as_deref(), Some("Nachricht schreiben…"));
    assert!(!visible(&anna, ".sb-offline").await, "Sam is online");
    let text = "Wann kommt meine Bestellung SB-10400?";
    type_and_send(&anna, text).await;
    wait_stored(&anna, "Anna's message stored", text, None).await;
    screenshot(&anna, "widget-de").await;

    let contact = desk
        .lookup_contact(IdentityKind::Email, "anna.schneider@example.de")
        .await
        .unwrap();
    let tickets = chat_tickets(&desk, Some(contact.id)).await;
    assert_eq!(tickets.len(), 1, "the chat joined Anna's contact");
    open_ticket(&sam, tickets[0].id).await;

    // Her name, her email as a verified identity and her orders beside the chat.
    let (script, args) = contains("sb-contact .contact-name", "Anna Schneider");
    wait_until(&sam, "Anna's name in the contact panel", &script, args).await;
    wait_until(
        &sam,
        "Anna's email as a verified identity",
        "return [...document.querySelectorAll('sb-contact .identity[data-kind=email]')].some(i =>
            i.querySelector('.identity-value').textContent === arguments[0]
            && i.querySelector('.identity-verified') !== null);",
        vec![json!("anna.schneider@example.de")],
    )
    .await;
    for number in ["SB-10400", "SB-10401"] {
        wait_for(
            &sam,
            &format!("sb-contact .order[data-order-number=\"{number}\"] .order-item"),
        )
        .await;
    }
    let (script, args) = contains("sb-ticket .message-in .message-text", text);
    wait_until(&sam, "Anna's message in the ticket", &script, args).await;

    anna.close().await.unwrap();
    sam.close().await.unwrap();
    app.stop().await;
}
