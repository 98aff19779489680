//! The console's search box in real headless Chromium: `/` and Ctrl+K focus it, a typo
//! still finds the ticket with the match marked, arrow keys and Enter open a result, a
//! contact opens in the contact panel, filters narrow and list tickets, "Load more" pages,
//! hostile message text stays text, a search backend that is down is shown as such, and
//! the box speaks German.

use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use switchboard::desk::Role;

use crate::browser::{Driver, free_port, screenshot, script, wait_for, wait_script, wait_until};
use crate::console::{contains, sign_in, text_of};
use crate::search::{indexed, message};
use crate::support::{Engine, TestApp};

const INPUT: &str = "sb-search input#search-input";

/// Presses keys one after the other on whatever has focus, as a person would.
async fn press(c: &Client, keys: &[char]) {
    let mut actions = KeyActions::new("keyboard".into());
    for &key in keys {
        actions = actions
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
    }
    c.perform_actions(actions).await.unwrap();
}

/// Presses a key with Ctrl held.
async fn ctrl(c: &Client, key: char) {
    let control = char::from(Key::Control);
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: control })
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key })
        .then(KeyAction::Up { value: control });
    c.perform_actions(actions).await.unwrap();
}

/// Types into the element that has focus.
async fn type_text(c: &Client, text: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// The ticket and contact ids of the listed results, in order (`t12`, `c3`, `n12`).
async fn options(c: &Client) -> Vec<String> {
    let v = script(
        c,
        "return [...document.querySelectorAll('sb-search [role=option]')].map(o => o.id.replace('search-option-', ''));",
    )
    .await;
    serde_json::from_value(v).unwrap()
}

async fn wait_options(c: &Client, what: &str, expected: &[String]) {
    for _ in 0..100 {
        if options(c).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: the results are {:?}", options(c).await);
}

async fn active_descendant(c: &Client) -> Option<String> {
    c.find(Locator::Css(INPUT))
        .await
        .unwrap()
        .attr("aria-activedescendant")
        .await
        .unwrap()
}

async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

/// Empties the search box (which has focus) by selecting all and deleting, as a person would.
async fn clear_box(c: &Client) {
    script(
        c,
        "document.querySelector('#search-input').select(); return true;",
    )
    .await;
    type_text(c, &Key::Backspace.to_string()).await;
    wait_script(
        c,
        "an empty search box",
        "return document.querySelector('#search-input').value === '';",
    )
    .await;
}

async fn errors(c: &Client) -> Value {
    script(
        c,
        "return [...document.querySelectorAll('.errors .error-item')].map(e => e.textContent);",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn an_agent_finds_tickets_and_contacts_from_the_search_box() {
    let app = TestApp::start_public(Engine::Sqlite).await;
    app.agent("sam@example.com", Role::Agent).await;
    let api = app.token(Role::Admin).await;

    let (washer, washer_no, _) = message(
        &api,
        "email",
        json!({"kind": "email", "value": "juergen@example.de"}),
        "Jürgen Weiß",
        "Waschmaschine leckt",
        "Die Waschmaschine leckt seit gestern. Der Kundendienst kam nicht.",
    )
    .await;
    let (spare, _, erika) = message(
        &api,
        "chat",
        json!({"kind": "email", "value": "erika@example.org"}),
        "Erika Mustermann",
        "Ersatzteil für die Waschmaschine",
        "Ich brauche eine neue Türdichtung für meine Waschmaschine WM-200.",
    )
    .await;
    let (printer, _, _) = message(
        &api,
        "sms",
        json!({"kind": "phone", "value": "+14155550100"}),
        "John Smith",
        "Printer not working",
        "The printer shows error E04.",
    )
    .await;
    let (hostile, _, _) = message(
        &api,
        "email",
        json!({"kind": "email", "value": "mallory@example.com"}),
        "Mallory",
        "Lieferung <b>fehlt</b>",
        "Mein Paket <img src=x onerror=alert(1)> kam nie an.",
    )
    .await;
    let (status, body) = api
        .send(
            "PATCH",
            &format!("/api/v1/contacts/{erika}"),
            json!({"organization": "Beispiel AG"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/orders",
            json!({"orders": [
                {"source": "shop", "external_id": "9001", "number": "SO-100234", "status": "paid",
                 "currency": "EUR", "total": "49.90", "placed_at": "2026-11-01T10:00:00Z",
                 "customer": {"email": "erika@example.org"}},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .send(
            "PATCH",
            &format!("/api/v1/tickets/{printer}"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    indexed(&api).await;

    let mut driver = Driver::start().await;
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;
    // A trap for the hostile text: an alert() it ran would be counted here.
    script(
        &sam,
        "window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m)); return true;",
    )
    .await;

    // `/` focuses the box (and is not typed into it); the panel offers the filters.
    assert_eq!(
        sam.find(Locator::Css(INPUT))
            .await
            .unwrap()
            .attr("aria-expanded")
            .await
            .unwrap()
            .as_deref(),
        Some("false")
    );
    press(&sam, &['/']).await;
    wait_script(
        &sam,
        "focus in the search box",
        "return document.activeElement && document.activeElement.id === 'search-input';",
    )
    .await;
    wait_for(
        &sam,
        "sb-search .search-panel:not([hidden]) select#search-status",
    )
    .await;
    assert_eq!(
        script(
            &sam,
            "return document.querySelector('#search-input').value;"
        )
        .await,
        json!("")
    );
    let input = sam.find(Locator::Css(INPUT)).await.unwrap();
    assert_eq!(
        input.attr("role").await.unwrap().as_deref(),
        Some("combobox")
    );
    assert_eq!(
        input.attr("aria-expanded").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        input.attr("aria-controls").await.unwrap().as_deref(),
        Some("search-results")
    );
    wait_for(&sam, "sb-search #search-results[role=listbox]").await;

    // A typo still finds both washing-machine tickets, the match marked in the subject
    // and in the message's excerpt.
    type_text(&sam, "Waschmashine").await;
    let washer_option = format!("sb-search .search-ticket[data-ticket-id=\"{washer}\"]");
    wait_for(&sam, &format!("{washer_option} .search-subject mark")).await;
    wait_for(
        &sam,
        &format!("sb-search .search-ticket[data-ticket-id=\"{spare}\"] .search-snippet mark"),
    )
    .await;
    let marks = script(
        &sam,
        &format!(
            "return [...document.querySelectorAll('{} .search-snippet mark')].map(m => m.textContent);",
            washer_option.replace('"', "\\\"")
        ),
    )
    .await;
    assert!(
        marks
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("Waschmaschin")),
        "{marks}"
    );
    assert!(
        text_of(&sam, &format!("{washer_option} .search-snippet"))
            .await
            .contains("leckt seit gestern")
    );
    assert_eq!(
        text_of(&sam, &format!("{washer_option} .search-who")).await,
        "Jürgen Weiß"
    );
    assert!(
        text_of(&sam, &format!("{washer_option} .badge.status-new"))
            .await
            .contains("New")
    );
    // The count is said in the polite live region.
    let (s, args) = contains("sb-search [role=status][aria-live=polite]", "2 tickets");
    wait_until(&sam, "the count", &s, args).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    screenshot(&sam, "search").await;

    // Enter opens the first result; focus goes to the ticket.
    let first = options(&sam).await[0].clone();
    let first_id: i64 = first.trim_start_matches("t-").parse().unwrap();
    press(&sam, &[char::from(Key::Enter)]).await;
    wait_script(
        &sam,
        "the first result's ticket",
        &format!("return location.hash === '#ticket/{first_id}';"),
    )
    .await;
    wait_for(&sam, "sb-ticket .message .message-text").await;
    wait_for(&sam, "sb-search .search-panel[hidden]").await;
    wait_script(
        &sam,
        "focus on the ticket",
        "return document.activeElement && document.activeElement.id === 'main';",
    )
    .await;

    // `/` again: the words are still there, selected, so typing replaces them; Escape
    // closes the results and puts focus back on the ticket.
    press(&sam, &['/']).await;
    wait_script(
        &sam,
        "the words selected",
        "const i = document.querySelector('#search-input'); return document.activeElement === i && i.selectionStart === 0 && i.selectionEnd === i.value.length && i.value === 'Waschmashine';",
    )
    .await;
    press(&sam, &[char::from(Key::Escape)]).await;
    wait_for(&sam, "sb-search .search-panel[hidden]").await;
    wait_script(
        &sam,
        "focus back on the ticket",
        "return document.activeElement && document.activeElement.id === 'main';",
    )
    .await;

    // A ticket's number goes straight to it, first.
    press(&sam, &['/']).await;
    type_text(&sam, &format!("#{washer_no}")).await;
    let number = format!("sb-search .search-number[data-ticket-id=\"{washer}\"]");
    let (s, args) = contains(&number, &format!("Ticket #{washer_no}"));
    wait_until(&sam, "the ticket by its number", &s, args).await;
    assert_eq!(options(&sam).await[0], format!("n-{washer}"));
    press(&sam, &[char::from(Key::Escape)]).await;
    wait_for(&sam, "sb-search .search-panel[hidden]").await;

    // Arrow keys move through a ticket and a contact (round the end); Enter opens the
    // selected ticket.
    press(&sam, &['/']).await;
    type_text(&sam, "Erika").await;
    assert_eq!(
        script(
            &sam,
            "return document.querySelector('#search-input').value;"
        )
        .await,
        json!("Erika")
    );
    let expected = [format!("t-{spare}"), format!("c-{erika}")];
    wait_options(&sam, "Erika's ticket and contact", &expected).await;
    let ticket_option = format!("search-option-t-{spare}");
    let contact_option = format!("search-option-c-{erika}");
    let down = char::from(Key::Down);
    let up = char::from(Key::Up);
    press(&sam, &[down]).await;
    assert_eq!(
        active_descendant(&sam).await.as_deref(),
        Some(ticket_option.as_str())
    );
    press(&sam, &[down]).await;
    assert_eq!(
        active_descendant(&sam).await.as_deref(),
        Some(contact_option.as_str())
    );
    assert_eq!(
        sam.find(Locator::Id(&contact_option))
            .await
            .unwrap()
            .attr("aria-selected")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    press(&sam, &[down]).await;
    assert_eq!(
        active_descendant(&sam).await.as_deref(),
        Some(ticket_option.as_str())
    );
    press(&sam, &[up, down, up]).await;
    assert_eq!(
        active_descendant(&sam).await.as_deref(),
        Some(contact_option.as_str())
    );
    press(&sam, &[up]).await;
    assert_eq!(
        active_descendant(&sam).await.as_deref(),
        Some(ticket_option.as_str())
    );
    press(&sam, &[char::from(Key::Enter)]).await;
    wait_script(
        &sam,
        "Erika's ticket",
        &format!("return location.hash === '#ticket/{spare}';"),
    )
    .await;
    let (s, args) = contains("sb-ticket .message .message-text", "Türdichtung");
    wait_until(&sam, "Erika's message", &s, args).await;

    // A contact result: her name marked, her organization, address and order; one click
    // opens her in the contact panel.
    press(&sam, &['/']).await;
    let contact = format!("sb-search .search-contact[data-contact-id=\"{erika}\"]");
    wait_for(&sam, &format!("{contact} .search-name mark")).await;
    assert_eq!(
        text_of(&sam, &format!("{contact} .search-name")).await,
        "Erika Mustermann"
    );
    assert_eq!(
        text_of(&sam, &format!("{contact} .search-org")).await,
        "Beispiel AG"
    );
    let line = text_of(&sam, &format!("{contact} .search-identities")).await;
    assert!(
        line.contains("erika@example.org") && line.contains("SO-100234"),
        "{line}"
    );
    sam.find(Locator::Css(&contact))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&sam, "sb-search .search-panel[hidden]").await;
    wait_for(&sam, "sb-contact .order[data-order-number=\"SO-100234\"]").await;
    let (s, args) = contains("sb-contact .contact-name", "Erika Mustermann");
    wait_until(&sam, "Erika in the contact panel", &s, args).await;

    // A status filter narrows the results: the printer ticket is resolved.
    ctrl(&sam, 'k').await;
    wait_script(
        &sam,
        "Ctrl+K focuses the box",
        "return document.activeElement && document.activeElement.id === 'search-input';",
    )
    .await;
    type_text(&sam, "printr").await;
    let printer_only = [format!("t-{printer}")];
    wait_options(&sam, "the printer ticket", &printer_only).await;
    select(&sam, "select#search-status", "active").await;
    let (s, args) = contains("sb-search .search-summary", "Nothing found.");
    wait_until(&sam, "nothing active about printers", &s, args).await;
    assert!(options(&sam).await.is_empty());
    select(&sam, "select#search-status", "resolved").await;
    wait_options(&sam, "the resolved printer ticket", &printer_only).await;
    let (s, args) = contains(
        &format!("sb-search .search-ticket[data-ticket-id=\"{printer}\"] .badge"),
        "Resolved",
    );
    wait_until(&sam, "the resolved badge", &s, args).await;

    // Filters alone list tickets, newest first; "Load more" pages through them.
    ctrl(&sam, 'k').await;
    wait_script(
        &sam,
        "focus in the search box",
        "return document.activeElement && document.activeElement.id === 'search-input';",
    )
    .await;
    clear_box(&sam).await;
    script(
        &sam,
        "document.querySelector('sb-search').pageSize = 2; return true;",
    )
    .await;
    select(&sam, "select#search-status", "active").await;
    select(&sam, "select#search-sort", "newest").await;
    let more = "sb-search button.search-more";
    wait_script(
        &sam,
        "the first page of active tickets",
        "return document.querySelectorAll('sb-search .search-ticket').length === 2 && !document.querySelector('sb-search button.search-more').hidden;",
    )
    .await;
    let (s, args) = contains("sb-search .search-summary", "3 tickets");
    wait_until(&sam, "three active tickets", &s, args).await;
    assert!(
        text_of(&sam, more).await.contains("2 of 3"),
        "{}",
        text_of(&sam, more).await
    );
    let first_page = options(&sam).await;
    sam.find(Locator::Css(more))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_script(
        &sam,
        "the second page",
        "return document.querySelectorAll('sb-search .search-ticket').length === 3 && document.querySelector('sb-search button.search-more').hidden;",
    )
    .await;
    let mut all = options(&sam).await;
    assert_eq!(all[..2], first_page[..], "the second page is added below");
    all.sort();
    let mut active = vec![
        format!("t-{washer}"),
        format!("t-{spare}"),
        format!("t-{hostile}"),
    ];
    active.sort();
    assert_eq!(all, active);
    let (s, args) = contains("sb-app .announcer", "Showing 3 of 3 tickets");
    wait_until(&sam, "the page announced", &s, args).await;

    // Hostile text in a message is shown as text in the excerpt and runs nothing.
    select(&sam, "select#search-status", "").await;
    select(&sam, "select#search-sort", "relevance").await;
    ctrl(&sam, 'k').await;
    type_text(&sam, "Paket").await;
    let hostile_option = format!("sb-search .search-ticket[data-ticket-id=\"{hostile}\"]");
    wait_for(&sam, &format!("{hostile_option} .search-snippet mark")).await;
    assert!(
        text_of(&sam, &format!("{hostile_option} .search-snippet"))
            .await
            .contains("<img src=x onerror=alert(1)>")
    );
    assert_eq!(
        text_of(&sam, &format!("{hostile_option} .search-subject")).await,
        "Lieferung <b>fehlt</b>"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        script(
            &sam,
            "return [document.querySelectorAll('sb-search img, sb-search b, sb-search script').length, window.__alerts.length];"
        )
        .await,
        json!([0, 0])
    );

    // In German: the box, the filters, the count and the shortcut help.
    select(&sam, "select#lang-header", "de").await;
    wait_script(
        &sam,
        "the German placeholder",
        "return document.querySelector('#search-input').placeholder === 'Tickets und Kontakte durchsuchen';",
    )
    .await;
    ctrl(&sam, 'k').await;
    let (s, args) = contains("sb-search .search-summary", "1 Ticket");
    wait_until(&sam, "the German count", &s, args).await;
    assert_eq!(text_of(&sam, "label[for=search-channel]").await, "Kanal");
    assert_eq!(
        text_of(&sam, "label[for=search-assignee]").await,
        "Bearbeiter"
    );
    let words = script(
        &sam,
        "return ['status', 'assignee', 'sort'].map(n => [...document.querySelector('#search-' + n).options].map(o => o.textContent));",
    )
    .await;
    assert_eq!(words[0][0], "Jeder Status");
    assert_eq!(words[0][1], "Aktiv (neu, offen, wartend)");
    assert_eq!(words[1], json!(["Alle", "Ich", "Nicht zugewiesen"]));
    assert_eq!(words[2][0], "Beste Treffer");
    let (s, args) = contains("sb-search .search-group-title", "Tickets");
    wait_until(&sam, "the German group title", &s, args).await;
    press(&sam, &[char::from(Key::Escape)]).await;
    wait_for(&sam, "sb-search .search-panel[hidden]").await;
    sam.find(Locator::Css("button.help-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (s, args) = contains(
        "dialog.help-dialog[open] .shortcut",
        "Tickets und Kontakte durchsuchen",
    );
    wait_until(&sam, "the search shortcut in the German help", &s, args).await;
    let keys = script(
        &sam,
        "return [...document.querySelector('dialog.help-dialog').querySelectorAll('.shortcut')].find(s => s.textContent.includes('durchsuchen')).textContent;",
    )
    .await;
    let keys = keys.as_str().unwrap();
    assert!(keys.contains('/') && keys.contains("Ctrl+K"), "{keys}");

    assert_eq!(errors(&sam).await, json!([]));
    sam.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn a_search_backend_that_is_down_is_shown_not_hidden() {
    // Nothing listens on port 9 (discard): the configured Meilisearch is unreachable.
    let addr = format!("127.0.0.1:{}", free_port());
    let public = format!("http://{addr}");
    let app = TestApp::start_with(
        Engine::Sqlite,
        &[
            ("SWITCHBOARD_BIND", &addr),
            ("SWITCHBOARD_PUBLIC_URL", &public),
            ("SWITCHBOARD_MEILISEARCH_URL", "http://127.0.0.1:9"),
        ],
    )
    .await;
    app.agent("sam@example.com", Role::Agent).await;

    // The API says so: a 503, not an empty result.
    let api = app.token(Role::Agent).await;
    let (status, body) = api.get("/api/v1/search?q=Waschmaschine").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "search_unavailable", "{body}");

    let mut driver = Driver::start().await;
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;
    press(&sam, &['/']).await;
    wait_script(
        &sam,
        "focus in the search box",
        "return document.activeElement && document.activeElement.id === 'search-input';",
    )
    .await;
    type_text(&sam, "Waschmaschine").await;
    let alert = "sb-search .search-error[role=alert]";
    let (s, args) = contains(alert, "Search is unavailable: ");
    wait_until(&sam, "the search error", &s, args).await;
    let text = text_of(&sam, alert).await;
    assert!(text.contains("does not answer"), "{text}");
    // The server's address stays in the log.
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(
        !text
            .to_lowercase()
            .contains("unavailable: search is unavailable"),
        "{text}"
    );
    // No list pretending nothing matched.
    assert_eq!(
        script(
            &sam,
            "const s = document.querySelector('sb-search .search-summary'); return [document.querySelectorAll('sb-search [role=option]').length, s.hidden || s.textContent === ''];"
        )
        .await,
        json!([0, true])
    );
    // Trying again asks again, and says so again.
    wait_for(&sam, &format!("{alert} button.search-retry"))
        .await
        .click()
        .await
        .unwrap();
    let (s, args) = contains(alert, "Search is unavailable: ");
    wait_until(&sam, "the error after trying again", &s, args).await;
    // A filter-only search fails the same way.
    select(&sam, "select#search-status", "active").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, args) = contains(alert, "Search is unavailable: ");
    wait_until(&sam, "the error for filters", &s, args).await;
    assert!(
        !text_of(&sam, "sb-search .search-panel")
            .await
            .contains("Nothing found"),
    );
    assert_eq!(errors(&sam).await, json!([]));

    sam.close().await.unwrap();
    app.stop().await;
}
