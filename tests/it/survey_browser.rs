//! Feedback in real headless Chromium: an agent marks a ticket as a complaint with the
//! keyboard in the console, and a customer answers the survey page (no JavaScript on
//! it) with the keyboard, then changes the answer through the new link.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use sea_orm::EntityTrait;
use switchboard::desk::{Channel, Role, Status};

use crate::browser::{Driver, wait_for, wait_until};
use crate::console::{contains, sign_in, text_of};
use crate::support::{Engine, TestApp};
use crate::survey::{set_status, ticket_on};

/// Presses keys in the focused element.
async fn keys(c: &Client, text: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn feedback_by_keyboard_in_the_console_and_on_the_survey_page() {
    let app = TestApp::start_public(Engine::Sqlite).await;
    app.agent("sam@example.com", Role::Agent).await;
    let desk = app.desk.clone();
    let id = ticket_on(
        &desk,
        Channel::Email,
        "mia@example.de",
        "Der Mixer ist kaputt",
    )
    .await;

    let mut driver = Driver::start().await;
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;
    sam.goto(&app.url(&format!("/#ticket/{id}"))).await.unwrap();
    let toggle = wait_for(&sam, "sb-ticket button.mark-feedback").await;
    assert_eq!(toggle.text().await.unwrap(), "Mark as…");
    // Keyboard only: the button opens the form with the kind chosen first.
    sam.execute(
        "document.querySelector('sb-ticket button.mark-feedback').focus()",
        vec![],
    )
    .await
    .unwrap();
    keys(&sam, &Key::Enter).await;
    wait_until(
        &sam,
        "the kind to have the focus",
        "return document.activeElement && document.activeElement.id === 'ticket-feedback-kind';",
        vec![],
    )
    .await;
    keys(&sam, &Key::Tab).await;
    keys(&sam, "Kunde droht mit Anwalt").await;
    keys(&sam, &Key::Enter).await;
    let (script, args) = contains("sb-ticket .event", "recorded feedback: Complaint");
    wait_until(&sam, "the feedback in the history", &script, args).await;
    let t = desk.ticket(id).await.unwrap();
    assert_eq!(
        (t.kind.as_str(), t.priority.as_str()),
        ("complaint", "high")
    );
    let (script, args) = contains("sb-ticket .event", "A complaint was raised");
    wait_until(&sam, "the complaint in the history", &script, args).await;
    assert!(
        wait_for(&sam, "#ticket-feedback-form")
            .await
            .attr("hidden")
            .await
            .unwrap()
            .is_some(),
        "the form closes"
    );
    let feedback = entity::feedback::Entity::find()
        .all(desk.store.db())
        .await
        .unwrap();
    assert_eq!(
        feedback[0].comment.as_deref(),
        Some("Kunde droht mit Anwalt")
    );

    // The customer's survey page, in German, answered with the keyboard.
    set_status(&desk, id, Status::Resolved).await;
    let s = crate::support::eventually("the survey sent", || async {
        desk.ticket_survey(id)
            .await
            .unwrap()
            .filter(|s| s.status == "sent")
    })
    .await;
    let mia = driver.browser("de").await;
    mia.goto(&desk.survey_url(&s).unwrap()).await.unwrap();
    assert_eq!(text_of(&mia, "h1").await, "Wie zufrieden waren Sie?");
    mia.execute(
        "document.querySelector('input[name=rating]').focus()",
        vec![],
    )
    .await
    .unwrap();
    // Arrow keys move along the radio group: 1 → 4.
    for _ in 0..3 {
        keys(&mia, &Key::Right).await;
    }
    keys(&mia, &Key::Tab).await;
    keys(&mia, "<b>Schnell</b> & freundlich").await;
    keys(&mia, &Key::Tab).await;
    keys(&mia, &Key::Enter).await;
    wait_until(
        &mia,
        "the thank-you page",
        "return document.querySelector('h1') && document.querySelector('h1').textContent === 'Vielen Dank!';",
        vec![],
    )
    .await;
    assert_eq!(
        text_of(&mia, ".quote").await,
        "<b>Schnell</b> & freundlich",
        "shown as text"
    );
    let answer = entity::feedback::Entity::find()
        .all(desk.store.db())
        .await
        .unwrap();
    let survey_answer = answer.iter().find(|f| f.kind == "survey").unwrap();
    assert_eq!(survey_answer.rating, Some(4));

    // The thank-you page is the new link's page: a reload shows it again (no second
    // post of the used link), with the change form below.
    assert!(
        mia.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/survey/")
    );
    mia.refresh().await.unwrap();
    wait_until(
        &mia,
        "the thank-you page after a reload",
        "return document.querySelector('h1') && document.querySelector('h1').textContent === 'Vielen Dank!';",
        vec![],
    )
    .await;
    // The form below changes the answer.
    wait_for(&mia, "input[name=rating][value='4']:checked").await;
    mia.find(Locator::Css("input[name=rating][value='5']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let changing = mia.current_url().await.unwrap().to_string();
    mia.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The page it leaves says thank you too: wait for the next link's page.
    wait_until(
        &mia,
        "the thank-you page again",
        "return location.href !== arguments[0] && document.querySelector('h1') && document.querySelector('h1').textContent === 'Vielen Dank!';",
        vec![serde_json::json!(changing)],
    )
    .await;
    let answers = entity::feedback::Entity::find()
        .all(desk.store.db())
        .await
        .unwrap();
    assert_eq!(answers.iter().filter(|f| f.kind == "survey").count(), 1);
    assert_eq!(
        answers.iter().find(|f| f.kind == "survey").unwrap().rating,
        Some(5)
    );
    // Going back to the used link: recorded, not answered again.
    mia.back().await.unwrap();
    mia.refresh().await.unwrap();
    wait_until(
        &mia,
        "the used-link page",
        "return document.querySelector('h1') && document.querySelector('h1').textContent === 'Antwort gespeichert';",
        vec![],
    )
    .await;
    app.stop().await;
}

/// In the chat widget the survey comes as a message with five buttons; a click (or
/// Enter on a focused button) records the rating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn the_widget_shows_an_inline_rating() {
    use crate::browser::{in_shadow, wait_for_in_shadow};
    let app = TestApp::start_public(Engine::Sqlite).await;
    switchboard::demo::demo_site(&app.desk, &app.base)
        .await
        .unwrap();
    let desk = app.desk.clone();
    let mut driver = Driver::start().await;
    let guest = driver.browser("en").await;
    guest.goto(&app.url("/demo/shop")).await.unwrap();
    wait_for_in_shadow(&guest, "sb-chat", "button.sb-launcher")
        .await
        .click()
        .await
        .unwrap();
    wait_for_in_shadow(&guest, "sb-chat", "textarea.sb-input")
        .await
        .send_keys("Is the grinder in stock?")
        .await
        .unwrap();
    wait_for_in_shadow(&guest, "sb-chat", "button.sb-send")
        .await
        .click()
        .await
        .unwrap();
    let ticket = crate::support::eventually("the chat's ticket", || async {
        let page = desk
            .list_tickets(&Default::default(), None, 10)
            .await
            .unwrap();
        page.items.into_iter().find(|t| t.channel == "chat")
    })
    .await;
    set_status(&desk, ticket.id, Status::Resolved).await;
    let star =
        wait_for_in_shadow(&guest, "sb-chat", ".sb-rating button.sb-star:nth-child(4)").await;
    assert_eq!(
        star.attr("aria-label").await.unwrap().as_deref(),
        Some("4 of 5")
    );
    star.click().await.unwrap();
    let script = in_shadow(
        "sb-chat",
        "const n = root && root.querySelector('.sb-rated'); return !!n && !n.hidden && n.textContent === arguments[0];",
    );
    wait_until(
        &guest,
        "the thanks",
        &script,
        vec![serde_json::json!("Thank you for your rating!")],
    )
    .await;
    let f = entity::feedback::Entity::find()
        .all(desk.store.db())
        .await
        .unwrap();
    assert_eq!(
        (f.len(), f[0].rating, f[0].channel.as_str()),
        (1, Some(4), "chat")
    );
    app.stop().await;
}
