//! The team-lead views (`/lead`): served embedded under the strict CSP, and in real
//! headless Chromium a lead sees the feedback stream (hostile comments as text, live
//! additions), narrows it by team, agent, channel, kind, period and rating, opens a ticket
//! in the console in one click, moves a complaint on the board, reads the reports' SVG
//! charts and tables, narrows the reports by team, channel and period, downloads a CSV,
//! switches to German; an agent without the lead role sees the refusal and no data.
//!
//! The fixture makes every filter tell items apart: two teams (Kundendienst, Technik), two
//! agents crossing them (Sam in both, Kim in Kundendienst), three channels, and a ticket
//! with its survey answer three days back.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use switchboard::desk::Role;

use crate::browser::{Driver, screenshot, script, wait_for, wait_script, wait_until};
use crate::console::{contains, sign_in_at};
use crate::search::message;
use crate::support::{Api, Engine, TestApp};

async fn wait_text(c: &Client, what: &str, css: &str, text: &str) {
    let (body, args) = contains(css, text);
    wait_until(c, what, &body, args).await;
}

async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The ticket's contact, channel, team and assignee, from the API.
async fn ticket_facts(api: &Api, id: i64) -> (i64, String, Option<i64>, Option<i64>) {
    let (status, body) = api.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let t = if body["ticket"].is_object() {
        &body["ticket"]
    } else {
        &body
    };
    (
        t["contact_id"].as_i64().unwrap(),
        t["channel"].as_str().unwrap().to_owned(),
        t["team_id"].as_i64(),
        t["assignee_id"].as_i64(),
    )
}

/// A customer's survey answer with the ticket's team and assignee, written straight into
/// the store (the survey page has its own tests; the lead views read what is stored).
async fn survey_answer(app: &TestApp, api: &Api, ticket: i64, rating: i32, comment: &str) {
    survey_answer_at(app, api, ticket, rating, comment, Utc::now()).await;
}

/// A survey answer as [`survey_answer`], given at `at`.
async fn survey_answer_at(
    app: &TestApp,
    api: &Api,
    ticket: i64,
    rating: i32,
    comment: &str,
    at: DateTime<Utc>,
) {
    let (contact, channel, team, assignee) = ticket_facts(api, ticket).await;
    entity::feedback::ActiveModel {
        ticket_id: Set(ticket),
        contact_id: Set(contact),
        kind: Set("survey".into()),
        rating: Set(Some(rating)),
        comment: Set(Some(comment.into())),
        source: Set("survey".into()),
        author_agent_id: Set(None),
        channel: Set(channel),
        team_id: Set(team),
        assignee_id: Set(assignee),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(app.ts.store.db())
    .await
    .unwrap();
}

/// Moves a resolved ticket's whole life (created, last message, resolved) to `at`,
/// straight in the store: the API only makes tickets now.
async fn backdate_ticket(app: &TestApp, ticket: i64, at: DateTime<Utc>) {
    use entity::ticket::{Column, Entity};
    Entity::update_many()
        .col_expr(Column::CreatedAt, Expr::value(at))
        .col_expr(Column::UpdatedAt, Expr::value(at))
        .col_expr(Column::LastMessageAt, Expr::value(at))
        .col_expr(Column::ResolvedAt, Expr::value(at))
        .filter(Column::Id.eq(ticket))
        .exec(app.ts.store.db())
        .await
        .unwrap();
}

/// Waits until the feedback stream has loaded and shows exactly the items of these ticket
/// numbers, in this order (newest first): the ones that match, none that do not.
async fn wait_stream(c: &Client, what: &str, numbers: &[i64]) {
    let want: Vec<String> = numbers.iter().map(|n| format!("#{n}")).collect();
    wait_until(
        c,
        &format!("the stream showing {what}: {want:?}"),
        "const view = document.querySelector('sb-feedback-stream');
         if (!view || view.busy || !view.loaded) return false;
         const shown = [...view.querySelectorAll('li.fb-item .fb-number')].map(e => e.textContent);
         return JSON.stringify(shown) === JSON.stringify(arguments[0]);",
        vec![json!(want)],
    )
    .await;
}

/// Sets a pair of date inputs as the date picker does (the value, then `input` and
/// `change`, which the filter form listens for); both values are in place before the
/// first event, so no half-changed period is ever asked for.
async fn set_period(c: &Client, from: &str, to: &str, period: (NaiveDate, NaiveDate)) {
    c.execute(
        "const [from, to] = [document.querySelector(arguments[0]), document.querySelector(arguments[1])];
         from.value = arguments[2]; to.value = arguments[3];
         for (const e of [from, to]) {
           e.dispatchEvent(new Event('input', { bubbles: true }));
           e.dispatchEvent(new Event('change', { bubbles: true }));
         }
         return true;",
        vec![
            json!(from),
            json!(to),
            json!(period.0.to_string()),
            json!(period.1.to_string()),
        ],
    )
    .await
    .unwrap();
}

/// Waits until the reports show, for `what`, these volume rows (channel, tickets) and
/// teams rows (team, resolved).
async fn wait_volume_and_teams(c: &Client, what: &str, volume: &Value, teams: &Value) {
    wait_report(c, what, "volume", &["Channel", "Tickets"], volume.clone()).await;
    wait_report(c, what, "teams", &["Team", "Resolved"], teams.clone()).await;
}

/// Waits until the reports have loaded and report `name`'s table, cut down to these
/// column headings, has exactly `rows` (in any order; none when it shows no data).
async fn wait_report(c: &Client, what: &str, name: &str, columns: &[&str], rows: Value) {
    wait_until(
        c,
        &format!("{what}: {name} {columns:?} = {rows}"),
        "const [name, columns, want] = arguments;
         const view = document.querySelector('sb-reports');
         if (!view || view.busy || !view.loaded) return false;
         const section = document.querySelector(`section.report-${name}`);
         if (!section) return false;
         const heads = [...section.querySelectorAll('table thead th')].map(c => c.textContent);
         const at = columns.map(c => heads.indexOf(c));
         const rows = [...section.querySelectorAll('table tbody tr')]
           .map(r => JSON.stringify(at.map(i => (i < 0 ? null : r.cells[i].textContent)))).sort();
         return JSON.stringify(rows) === JSON.stringify(want.map(r => JSON.stringify(r)).sort());",
        vec![json!(name), json!(columns), rows],
    )
    .await;
}

#[tokio::test]
async fn the_lead_pages_are_served_embedded_under_the_strict_csp() {
    let app = TestApp::start(Engine::Sqlite).await;
    let client = reqwest::Client::new();
    for path in ["/lead", "/lead/"] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"));
        let page = res.text().await.unwrap();
        assert!(page.contains("/lead/app.js") && page.contains("<sb-lead>"));
        assert!(!page.contains("style=") && !page.contains("<script>"));
    }
    for module in [
        "app.js",
        "strings.js",
        "common.js",
        "feedback.js",
        "complaints.js",
        "reports.js",
        "chart.js",
    ] {
        let res = client
            .get(app.url(&format!("/lead/{module}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{module}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("javascript"),
            "{module}"
        );
        let code = res.text().await.unwrap();
        // Data reaches the page as text nodes and attributes only.
        assert!(!code.contains("innerHTML"), "{module} parses markup");
        assert!(!code.contains(".style."), "{module} sets inline styles");
    }
    let css = client.get(app.url("/lead/lead.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    for path in ["/lead/nothing.js", "/lead/..%2Fconsole%2Fapp.js"] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn a_lead_reviews_feedback_complaints_and_reports_in_the_browser() {
    let app = TestApp::start_public(Engine::Sqlite).await;
    app.agent("lena@example.com", Role::Lead).await;
    let sam_id = app.agent("sam@example.com", Role::Agent).await;
    let kim_id = app.agent("kim@example.com", Role::Agent).await;
    let api = app.token(Role::Admin).await;

    // Five tickets: three by email, one by chat, one by SMS.
    let (washer, washer_no, _) = message(
        &api,
        "email",
        json!({"kind": "email", "value": "juergen@example.de"}),
        "Jürgen Weiß",
        "Waschmaschine leckt",
        "Die Waschmaschine leckt seit gestern.",
    )
    .await;
    let (parcel, parcel_no, _) = message(
        &api,
        "email",
        json!({"kind": "email", "value": "mallory@example.com"}),
        "Mallory",
        "Paket beschädigt",
        "Das Paket kam zerdrückt an.",
    )
    .await;
    let (invoice, invoice_no, _) = message(
        &api,
        "email",
        json!({"kind": "email", "value": "erika@example.org"}),
        "Erika Mustermann",
        "Rechnung fehlt",
        "Bitte schicken Sie mir die Rechnung.",
    )
    .await;
    let (late, late_no, _) = message(
        &api,
        "chat",
        json!({"kind": "email", "value": "tom@example.com"}),
        "Tom Tester",
        "Lieferung verspätet",
        "Wo bleibt meine Bestellung?",
    )
    .await;
    let (printer, printer_no, _) = message(
        &api,
        "sms",
        json!({"kind": "phone", "value": "+14155550100"}),
        "John Smith",
        "Printer not working",
        "The printer shows error E04.",
    )
    .await;
    let mut teams = Vec::new();
    for name in ["Kundendienst", "Technik"] {
        let (status, team) = api
            .send("POST", "/api/v1/teams", json!({"name": name}))
            .await;
        assert_eq!(status, 201, "{team}");
        teams.push(team["id"].as_i64().unwrap());
    }
    let (kundendienst, technik) = (teams[0], teams[1]);
    // Three get resolved: the washer by Sam and the late delivery by Kim for Kundendienst,
    // the printer by Sam for Technik.
    for (id, agent, team) in [
        (washer, sam_id, kundendienst),
        (late, kim_id, kundendienst),
        (printer, sam_id, technik),
    ] {
        let (status, body) = api
            .send(
                "POST",
                &format!("/api/v1/tickets/{id}/assign"),
                json!({"agent_id": agent, "team_id": team}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = api
            .send(
                "PATCH",
                &format!("/api/v1/tickets/{id}"),
                json!({"status": "resolved"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // The printer ticket came, was solved and was answered three days ago; the rest is
    // today's.
    let today = Utc::now().date_naive();
    let earlier = today - Duration::days(3);
    let earlier_noon = earlier.and_hms_opt(12, 0, 0).unwrap().and_utc();
    backdate_ticket(&app, printer, earlier_noon).await;
    survey_answer_at(&app, &api, printer, 4, "Drucker läuft wieder", earlier_noon).await;
    survey_answer(&app, &api, washer, 5, "Super schnell, danke!").await;
    survey_answer(
        &app,
        &api,
        late,
        1,
        "<b>Nie wieder</b> <img src=x onerror=alert(1)>",
    )
    .await;
    let (status, complaint) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{parcel}/feedback"),
            json!({"kind": "complaint", "comment": "Paket kam zerdrückt an"}),
        )
        .await;
    assert_eq!(status, 201, "{complaint}");

    let mut driver = Driver::start().await;
    let c = driver.browser("en").await;
    sign_in_at(&c, &app, "/lead", "lena@example.com").await;
    wait_for(&c, "sb-lead[data-state=ready]").await;
    script(
        &c,
        "window.__alerts = 0; window.alert = () => { window.__alerts += 1; }; return true;",
    )
    .await;

    // The feedback stream: newest first, comments as text, stars and kinds.
    wait_script(
        &c,
        "four feedback items",
        "return document.querySelectorAll('sb-feedback-stream li.fb-item').length === 4;",
    )
    .await;
    let kinds = script(
        &c,
        "return [...document.querySelectorAll('li.fb-item .fb-kind')].map(e => e.textContent);",
    )
    .await;
    assert_eq!(kinds, json!(["Complaint", "Survey", "Survey", "Survey"]));
    let hostile = script(
        &c,
        "const li = document.querySelector('li.fb-item[data-rating=\"1\"]');
         return [li.querySelector('.fb-comment').textContent, li.querySelectorAll('.fb-comment *').length,
                 li.querySelector('.stars').getAttribute('aria-label'), li.querySelector('a.fb-ticket').textContent];",
    )
    .await;
    assert_eq!(
        hostile,
        json!([
            "<b>Nie wieder</b> <img src=x onerror=alert(1)>",
            0,
            "1 of 5 stars",
            format!("#{late_no} Lieferung verspätet")
        ])
    );
    wait_text(
        &c,
        "the contact's name",
        "li.fb-item .fb-contact",
        "Tom Tester",
    )
    .await;
    wait_text(&c, "the channel", "li.fb-item .channel", "Chat").await;

    // Live: praise marked by an agent appears at the top without a reload.
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{invoice}/feedback"),
            json!({"kind": "praise", "comment": "Sehr freundlich am Telefon"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_script(
        &c,
        "the praise arriving live",
        "const first = document.querySelector('li.fb-item');
         return !!first && first.textContent.includes('Sehr freundlich am Telefon');",
    )
    .await;
    screenshot(&c, "lead-feedback").await;

    // Each filter leaves exactly the matching items, newest first. The team and agent
    // lists come with the directory, after the page is ready.
    const RESET: &str = "sb-feedback-stream .filter-actions button[type=button]";
    let all = [invoice_no, parcel_no, late_no, washer_no, printer_no];
    wait_stream(&c, "everything", &all).await;
    wait_for(&c, &format!("#fb-team option[value=\"{technik}\"]")).await;
    wait_for(&c, &format!("#fb-agent option[value=\"{kim_id}\"]")).await;
    // By team: the Kundendienst answers, then Technik's.
    select(&c, "#fb-team", &kundendienst.to_string()).await;
    wait_stream(&c, "Kundendienst's answers", &[late_no, washer_no]).await;
    select(&c, "#fb-team", &technik.to_string()).await;
    wait_stream(&c, "Technik's answer", &[printer_no]).await;
    select(&c, "#fb-team", "").await;
    wait_stream(&c, "every team again", &all).await;
    // By agent: Sam's answers across both teams, then Kim's.
    select(&c, "#fb-agent", &sam_id.to_string()).await;
    wait_stream(&c, "Sam's answers", &[washer_no, printer_no]).await;
    select(&c, "#fb-agent", &kim_id.to_string()).await;
    wait_stream(&c, "Kim's answer", &[late_no]).await;
    click(&c, RESET).await;
    wait_stream(&c, "everything after a reset", &all).await;
    // By channel, and filters together: email and Kundendienst is the washer only; SMS
    // and Kundendienst is nothing, which the list says.
    select(&c, "#fb-channel", "email").await;
    wait_stream(&c, "email feedback", &[invoice_no, parcel_no, washer_no]).await;
    select(&c, "#fb-team", &kundendienst.to_string()).await;
    wait_stream(&c, "Kundendienst's email feedback", &[washer_no]).await;
    select(&c, "#fb-channel", "sms").await;
    wait_stream(&c, "no SMS feedback for Kundendienst", &[]).await;
    wait_text(
        &c,
        "the empty note",
        "sb-feedback-stream .list-status",
        "No feedback matches these filters.",
    )
    .await;
    assert_eq!(
        script(
            &c,
            "return [document.getElementById('fb-team').value, document.getElementById('fb-channel').value];"
        )
        .await,
        json!([kundendienst.to_string(), "sms"]),
        "the form keeps the chosen filters"
    );
    click(&c, RESET).await;
    wait_stream(&c, "everything after a reset", &all).await;
    // By kind.
    select(&c, "#fb-kind", "complaint").await;
    wait_stream(&c, "the complaint", &[parcel_no]).await;
    select(&c, "#fb-kind", "praise").await;
    wait_stream(&c, "the praise", &[invoice_no]).await;
    select(&c, "#fb-kind", "survey").await;
    wait_stream(&c, "the survey answers", &[late_no, washer_no, printer_no]).await;
    click(&c, RESET).await;
    wait_stream(&c, "everything after a reset", &all).await;
    // By period: three days ago is the printer's answer alone; today is all the rest.
    set_period(&c, "#fb-from", "#fb-to", (earlier, earlier)).await;
    wait_stream(&c, "the answer three days ago", &[printer_no]).await;
    assert_eq!(
        script(
            &c,
            "return [document.getElementById('fb-from').value, document.getElementById('fb-to').value];"
        )
        .await,
        json!([earlier.to_string(), earlier.to_string()]),
        "the form keeps the period"
    );
    set_period(&c, "#fb-from", "#fb-to", (today, today)).await;
    wait_stream(
        &c,
        "today's feedback",
        &[invoice_no, parcel_no, late_no, washer_no],
    )
    .await;
    click(&c, RESET).await;
    wait_stream(&c, "everything after a reset", &all).await;

    // Filter by rating: only the one-star answer is left.
    select(&c, "#fb-rating", "1").await;
    wait_script(
        &c,
        "only the one-star answer",
        "const items = [...document.querySelectorAll('li.fb-item')];
         return items.length === 1 && items[0].dataset.rating === '1';",
    )
    .await;

    // One click anywhere on the item opens the ticket in the console.
    click(&c, "li.fb-item .fb-comment").await;
    wait_for(&c, "sb-app[data-state=ready]").await;
    assert_eq!(
        c.current_url().await.unwrap().fragment(),
        Some(format!("ticket/{late}").as_str())
    );
    wait_text(&c, "the ticket open", "sb-ticket", "Lieferung verspätet").await;
    // The console links leads back to their views.
    let href = c
        .find(Locator::Css("header a.lead-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(href.as_deref(), Some("/lead"));

    // The complaints board: the complaint is open; resolving without an outcome is refused
    // with the server's message; moving it to "in progress" works.
    c.goto(&app.url("/lead#complaints")).await.unwrap();
    wait_for(&c, "sb-lead[data-state=ready]").await;
    script(
        &c,
        "window.__alerts = 0; window.alert = () => { window.__alerts += 1; }; return true;",
    )
    .await;
    let card = format!(
        ".board-column[data-state=open] .complaint-card[data-id=\"{}\"]",
        complaint_id(&api, parcel).await
    );
    wait_for(&c, &card).await;
    wait_text(
        &c,
        "the complaint's ticket",
        &card,
        &format!("#{parcel_no}"),
    )
    .await;
    wait_text(&c, "the complaint's customer", &card, "Mallory").await;
    click(&c, &format!("{card} button.cc-edit")).await;
    let focused = script(&c, "return document.activeElement.name;").await;
    assert_eq!(focused, json!("state"), "the form takes focus");
    select(&c, &format!("{card} select[name=state]"), "resolved").await;
    click(&c, &format!("{card} button[type=submit]")).await;
    wait_script(
        &c,
        "the server's refusal on the card",
        "const e = document.querySelector('.complaint-form .form-error');
         return !!e && e.textContent.trim().length > 0;",
    )
    .await;
    let still = script(
        &c,
        "return document.querySelectorAll('.board-column[data-state=open] .complaint-card').length;",
    )
    .await;
    assert_eq!(still, json!(1));
    select(&c, &format!("{card} select[name=state]"), "in_progress").await;
    click(&c, &format!("{card} button[type=submit]")).await;
    let moved = card.replace("data-state=open", "data-state=in_progress");
    wait_for(&c, &moved).await;
    let (status, board) = api.get("/api/v1/complaints?state=in_progress").await;
    assert_eq!(status, 200, "{board}");
    assert_eq!(board["items"].as_array().unwrap().len(), 1, "{board}");
    assert_eq!(board["items"][0]["ticket_id"], json!(parcel));

    // A complaint raised meanwhile: a toast, and its card in the open column at once.
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{invoice}/feedback"),
            json!({"kind": "complaint", "comment": "Rechnung immer noch nicht da"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_text(
        &c,
        "the complaint toast",
        ".toasts .toast",
        &format!("Complaint raised on ticket #{invoice_no}"),
    )
    .await;
    wait_text(
        &c,
        "the new card",
        ".board-column[data-state=open] .complaint-card",
        &format!("#{invoice_no}"),
    )
    .await;

    // Reports (reached from the keyboard): charts drawn as SVG, the numbers in their
    // tables, CSV downloads.
    c.find(Locator::Css("a.lead-tab[data-view=reports]"))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_for(&c, ".report-volume svg.chart rect.bar").await;
    wait_for(&c, ".report-backlog svg.chart path.line").await;
    let volume = script(
        &c,
        "const svg = document.querySelector('.report-volume svg.chart');
         const rows = [...document.querySelectorAll('.report-volume table tbody tr')].map(r => [...r.cells].map(c => c.textContent));
         return [svg.querySelectorAll('rect.bar').length, svg.querySelector('title').textContent,
                 svg.querySelector('desc').textContent.length > 0,
                 document.querySelectorAll('.report-volume .legend li').length, rows.map(r => r.slice(1))];",
    )
    .await;
    assert_eq!(volume[0], json!(3), "one bar per channel and day: {volume}");
    assert_eq!(volume[1], json!("Volume by channel and day"));
    assert_eq!(volume[2], json!(true));
    assert_eq!(volume[3], json!(3));
    let mut rows: Vec<Vec<String>> = serde_json::from_value(volume[4].clone()).unwrap();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            vec!["Chat".to_owned(), "1".into()],
            vec!["Email".to_owned(), "3".into()],
            vec!["SMS".to_owned(), "1".into()],
        ]
    );
    let backlog = c
        .execute(
            "const row = document.querySelector(`.report-backlog table tbody tr[data-key=\"${arguments[0]}\"]`);
             return row ? [...row.cells].slice(1).map(c => c.textContent) : null;",
            vec![json!(today.to_string())],
        )
        .await
        .unwrap();
    assert_eq!(
        backlog,
        json!(["4", "2", "2"]),
        "created, resolved, open today"
    );
    let csat = script(
        &c,
        "return [document.querySelectorAll('.report-csat svg.chart rect.bar').length,
                 [...document.querySelectorAll('.report-csat table tbody td')].map(c => c.textContent)];",
    )
    .await;
    assert_eq!(csat[0], json!(2), "a bar for each day with answers: {csat}");
    assert!(
        csat[1].as_array().unwrap().contains(&json!("2")),
        "two answers today: {csat}"
    );
    // Sam resolved a ticket in each team and both answers were happy; Kim resolved one,
    // answered unhappily. Kundendienst resolved two, one of two answers happy.
    let people = script(
        &c,
        "const row = (name) => [...document.querySelectorAll(`.report-${name} table tbody tr`)].map(r => [...r.cells].map(c => c.textContent));
         const cols = (name) => [...document.querySelectorAll(`.report-${name} table thead th`)].map(c => c.textContent);
         return [cols('agents'), row('agents'), row('teams')];",
    )
    .await;
    let columns: Vec<String> = serde_json::from_value(people[0].clone()).unwrap();
    let at = |key: &str| {
        columns
            .iter()
            .position(|c| c == key)
            .unwrap_or_else(|| panic!("{key} in {columns:?}"))
    };
    let (resolved, answers, csat_at) = (at("Resolved"), at("Answers"), at("CSAT"));
    let agents: Vec<Vec<String>> = serde_json::from_value(people[1].clone()).unwrap();
    let sam_row = agents
        .iter()
        .find(|r| r[0] == "sam")
        .unwrap_or_else(|| panic!("sam in {agents:?}"));
    assert_eq!(
        (
            sam_row[resolved].as_str(),
            sam_row[answers].as_str(),
            sam_row[csat_at].as_str()
        ),
        ("2", "2", "100%"),
        "{agents:?}"
    );
    let kim_row = agents
        .iter()
        .find(|r| r[0] == "kim")
        .unwrap_or_else(|| panic!("kim in {agents:?}"));
    assert_eq!(
        (
            kim_row[resolved].as_str(),
            kim_row[answers].as_str(),
            kim_row[csat_at].as_str()
        ),
        ("1", "1", "0%"),
        "{agents:?}"
    );
    let teams: Vec<Vec<String>> = serde_json::from_value(people[2].clone()).unwrap();
    let mut teams: Vec<[&str; 4]> = teams
        .iter()
        .map(|r| {
            [
                r[0].as_str(),
                r[resolved].as_str(),
                r[answers].as_str(),
                r[csat_at].as_str(),
            ]
        })
        .collect();
    teams.sort();
    assert_eq!(
        teams,
        vec![
            ["Kundendienst", "2", "2", "50%"],
            ["Technik", "1", "1", "100%"]
        ]
    );
    for name in ["times", "sla", "agents", "teams"] {
        wait_for(&c, &format!("section.report-{name} a.csv-link")).await;
    }
    let csv = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = document.querySelector('.report-volume a.csv-link');
             fetch(link.href).then(async r => done([r.status, r.headers.get('content-type'),
                 r.headers.get('content-disposition'), await r.text(), link.getAttribute('download')]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(csv[0], json!(200), "{csv}");
    assert!(csv[1].as_str().unwrap().starts_with("text/csv"), "{csv}");
    assert!(csv[2].as_str().unwrap().contains("attachment"), "{csv}");
    let text = csv[3].as_str().unwrap();
    assert_eq!(text.lines().next(), Some("day,channel,tickets"), "{text}");
    assert!(text.contains(",email,3"), "{text}");
    assert!(csv[4].as_str().unwrap().starts_with("volume-"), "{csv}");
    screenshot(&c, "lead-reports").await;

    // The reports narrowed by team, by channel and by period: the volume and teams
    // tables show only what is inside, the CSV link follows.
    wait_for(&c, &format!("#rp-team option[value=\"{technik}\"]")).await;
    select(&c, "#rp-team", &technik.to_string()).await;
    let (sms, technik_1) = (json!([["SMS", "1"]]), json!([["Technik", "1"]]));
    wait_volume_and_teams(&c, "Technik", &sms, &technik_1).await;
    let href = script(
        &c,
        "return document.querySelector('.report-volume a.csv-link').getAttribute('href');",
    )
    .await;
    assert!(
        href.as_str().unwrap().contains(&format!("team={technik}")),
        "the CSV follows the filters: {href}"
    );
    let (kd_1, kd_2) = (
        json!([["Kundendienst", "1"]]),
        json!([["Kundendienst", "2"]]),
    );
    select(&c, "#rp-team", &kundendienst.to_string()).await;
    let kd_volume = json!([["Chat", "1"], ["Email", "1"]]);
    wait_volume_and_teams(&c, "Kundendienst", &kd_volume, &kd_2).await;
    select(&c, "#rp-channel", "chat").await;
    let chat = json!([["Chat", "1"]]);
    wait_volume_and_teams(&c, "Kundendienst by chat", &chat, &kd_1).await;
    select(&c, "#rp-channel", "email").await;
    let email = json!([["Email", "1"]]);
    wait_volume_and_teams(&c, "Kundendienst by email", &email, &kd_1).await;
    select(&c, "#rp-team", "").await;
    let email = json!([["Email", "3"]]);
    wait_volume_and_teams(&c, "email", &email, &kd_1).await;
    select(&c, "#rp-channel", "").await;
    let everything = json!([["Chat", "1"], ["Email", "3"], ["SMS", "1"]]);
    let both = json!([["Kundendienst", "2"], ["Technik", "1"]]);
    wait_volume_and_teams(&c, "no filter", &everything, &both).await;
    set_period(&c, "#rp-from", "#rp-to", (earlier, earlier)).await;
    wait_volume_and_teams(&c, "three days ago", &sms, &technik_1).await;
    wait_report(&c, "three days ago", "csat", &["Answers"], json!([["1"]])).await;
    set_period(&c, "#rp-from", "#rp-to", (today, today)).await;
    let today_volume = json!([["Chat", "1"], ["Email", "3"]]);
    wait_volume_and_teams(&c, "today", &today_volume, &kd_2).await;
    wait_report(&c, "today", "csat", &["Answers"], json!([["2"]])).await;
    assert_eq!(
        script(
            &c,
            "return ['rp-from', 'rp-to', 'rp-team', 'rp-channel'].map(id => document.getElementById(id).value);"
        )
        .await,
        json!([today.to_string(), today.to_string(), "", ""]),
        "the form keeps the period"
    );

    // An empty period says so instead of drawing an empty chart.
    script(
        &c,
        "const set = (id, v) => { const e = document.getElementById(id); e.value = v; };
         set('rp-from', '2020-01-01'); set('rp-to', '2020-01-31');
         document.querySelector('sb-reports form.filters').requestSubmit(); return true;",
    )
    .await;
    wait_text(
        &c,
        "no data",
        ".report-volume .no-data",
        "No data in this period.",
    )
    .await;

    // German.
    select(&c, "#lang-header", "de").await;
    wait_text(&c, "German tabs", "a.lead-tab", "Beschwerden").await;
    wait_text(
        &c,
        "German report title",
        ".report-volume h2",
        "Volumen nach Kanal und Tag",
    )
    .await;
    wait_text(
        &c,
        "German empty note",
        ".report-volume .no-data",
        "Keine Daten in diesem Zeitraum.",
    )
    .await;
    wait_text(&c, "German filter labels", "sb-reports label", "Kanal").await;
    click(&c, "a.lead-tab[data-view=feedback]").await;
    wait_text(
        &c,
        "German stream",
        "sb-feedback-stream h1",
        "Feedback-Verlauf",
    )
    .await;
    wait_text(&c, "German kinds", "li.fb-item .fb-kind", "Umfrage").await;

    // Paging: fifty more answers fill a page; "Load more" brings the rest.
    for n in 0..50 {
        survey_answer(&app, &api, washer, 3, &format!("Antwort {n}")).await;
    }
    click(&c, "sb-feedback-stream .filter-actions button[type=button]").await;
    wait_script(
        &c,
        "a first page of fifty",
        "return document.querySelectorAll('li.fb-item').length === 50 && !!document.querySelector('button.load-more');",
    )
    .await;
    wait_text(&c, "German load more", "button.load-more", "Mehr laden").await;
    click(&c, "button.load-more").await;
    wait_script(
        &c,
        "all 56 items and no more button",
        "return document.querySelectorAll('li.fb-item').length === 56 && !document.querySelector('button.load-more');",
    )
    .await;
    assert_eq!(script(&c, "return window.__alerts;").await, json!(0));
    c.close().await.unwrap();

    // An agent without the lead role: the refusal, and no data at all.
    let sam = driver.browser("en").await;
    sign_in_at(&sam, &app, "/lead", "sam@example.com").await;
    wait_for(&sam, "sb-lead[data-state=forbidden]").await;
    wait_text(&sam, "the refusal", "main h1", "You need the lead role").await;
    let shown = script(
        &sam,
        "return [document.querySelectorAll('sb-feedback-stream, sb-complaints, sb-reports, li.fb-item, .complaint-card, svg').length,
                 document.body.textContent.includes('Nie wieder')];",
    )
    .await;
    assert_eq!(shown, json!([0, false]));
    let refused = sam
        .execute_async(
            "const done = arguments[arguments.length - 1];
             Promise.all(['/api/v1/feedback', '/api/v1/complaints', '/api/v1/reports/volume']
               .map(p => fetch(p).then(r => r.status))).then(done);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refused, json!([403, 403, 403]));
    // The console offers agents no link to the lead views.
    sam.goto(&app.url("/")).await.unwrap();
    wait_for(&sam, "sb-app[data-state=ready]").await;
    assert!(
        sam.find(Locator::Css("header a.lead-link")).await.is_err(),
        "an agent sees no lead link"
    );
    sam.close().await.unwrap();
    app.stop().await;
}

/// The id of the complaint on a ticket, from the board's API.
async fn complaint_id(api: &Api, ticket: i64) -> i64 {
    let (status, board) = api.get("/api/v1/complaints").await;
    assert_eq!(status, 200, "{board}");
    board["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ticket_id"] == json!(ticket))
        .and_then(|c| c["id"].as_i64())
        .unwrap_or_else(|| panic!("no complaint on ticket {ticket}: {board}"))
}

/// Clears a field and types `text` into it, as a person would.
async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    if !text.is_empty() {
        e.send_keys(text).await.unwrap();
    }
}

/// The stored calendars and SLA policies, from the API.
async fn sla_state(api: &Api) -> (Value, Value) {
    let (status, calendars) = api.get("/api/v1/calendars").await;
    assert_eq!(status, 200, "{calendars}");
    let (status, policies) = api.get("/api/v1/sla-policies").await;
    assert_eq!(status, 200, "{policies}");
    (calendars, policies)
}

/// The `/lead#sla` tab: an admin creates a calendar and a policy through forms, changes the
/// policy, sees a bad time span and an in-use calendar explained; a lead reads both tables
/// with no control to change them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn an_admin_manages_sla_calendars_and_policies_in_the_browser() {
    let app = TestApp::start_public(Engine::Sqlite).await;
    app.agent("ada@example.com", Role::Admin).await;
    app.agent("lena@example.com", Role::Lead).await;
    let api = app.token(Role::Admin).await;
    let (status, team) = api
        .send("POST", "/api/v1/teams", json!({"name": "Kundendienst"}))
        .await;
    assert_eq!(status, 201, "{team}");
    let team_id = team["id"].as_i64().unwrap();

    // Served like the other lead modules: data goes in as text, never as markup.
    let code = reqwest::get(app.url("/lead/sla.js"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(code.contains("customElements.define('sb-sla'"));
    assert!(!code.contains("innerHTML") && !code.contains(".style."));

    let mut driver = Driver::start().await;
    let c = driver.browser("en").await;
    sign_in_at(&c, &app, "/lead#sla", "ada@example.com").await;
    wait_for(&c, "sb-lead[data-state=ready]").await;
    wait_text(
        &c,
        "the SLA heading",
        "sb-sla h1",
        "SLA policies and calendars",
    )
    .await;
    wait_text(
        &c,
        "no policies yet",
        "sb-sla .sla-policy-table td",
        "None yet.",
    )
    .await;
    script(&c, "window.confirm = () => true; return true;").await;

    // A calendar: Berlin office hours Monday to Friday, closed on Christmas Eve.
    click(&c, ".sla-section-calendar button.sla-create").await;
    wait_for(&c, "form.sla-calendar-form #slac-name").await;
    type_into(&c, "#slac-name", "Bürozeiten").await;
    type_into(&c, "#slac-tz", "Europe/Berlin").await;
    for day in ["mon", "tue", "wed", "thu", "fri"] {
        type_into(&c, &format!("#slac-{day}"), "09:00-17:00").await;
    }
    type_into(&c, "#slac-holidays", "2026-12-24").await;
    click(&c, "form.sla-calendar-form button[type=submit]").await;
    wait_text(
        &c,
        "the calendar listed",
        ".sla-calendar-table th",
        "Bürozeiten",
    )
    .await;
    wait_text(
        &c,
        "its hours",
        ".sla-calendar-table td",
        "Mon 09:00-17:00; Tue",
    )
    .await;
    let (calendars, _) = sla_state(&api).await;
    let calendar = &calendars[0];
    let office = json!(["09:00", "17:00"]);
    assert_eq!(calendars.as_array().unwrap().len(), 1, "{calendars}");
    assert_eq!(
        (
            &calendar["name"],
            &calendar["time_zone"],
            &calendar["hours"],
            &calendar["holidays"]
        ),
        (
            &json!("Bürozeiten"),
            &json!("Europe/Berlin"),
            &json!({"mon": [office], "tue": [office], "wed": [office], "thu": [office], "fri": [office]}),
            &json!(["2026-12-24"])
        )
    );
    let calendar_id = calendar["id"].as_i64().unwrap();

    // A policy for the team's high-priority tickets, counted in that calendar.
    click(&c, ".sla-section-policy button.sla-create").await;
    wait_for(&c, "form.sla-policy-form #slap-name").await;
    type_into(&c, "#slap-name", "Kundendienst hoch").await;
    select(&c, "#slap-team", &team_id.to_string()).await;
    select(&c, "#slap-priority", "high").await;
    select(&c, "#slap-calendar", &calendar_id.to_string()).await;
    type_into(&c, "#slap-first_response_minutes", "60").await;
    type_into(&c, "#slap-resolution_minutes", "480").await;
    type_into(&c, "#slap-warn_minutes", "20").await;
    click(&c, "form.sla-policy-form button[type=submit]").await;
    wait_text(
        &c,
        "the policy listed",
        ".sla-policy-table th",
        "Kundendienst hoch",
    )
    .await;
    let row = script(
        &c,
        "return [...document.querySelectorAll('.sla-policy-table tbody tr td:not(.sla-actions)')].map(e => e.textContent);",
    )
    .await;
    assert_eq!(
        row,
        json!([
            "Kundendienst",
            "High",
            "Bürozeiten",
            "1 h",
            "8 h",
            "20 min",
            "Yes"
        ])
    );
    let (_, policies) = sla_state(&api).await;
    let policy = &policies[0];
    assert_eq!(policies.as_array().unwrap().len(), 1, "{policies}");
    let stored = |p: &Value| {
        json!([
            p["name"],
            p["team_id"],
            p["priority"],
            p["calendar_id"],
            p["first_response_minutes"],
            p["resolution_minutes"],
            p["warn_minutes"],
            p["active"]
        ])
    };
    assert_eq!(
        stored(policy),
        json!([
            "Kundendienst hoch",
            team_id,
            "high",
            calendar_id,
            60,
            480,
            20,
            true
        ])
    );
    let policy_id = policy["id"].as_i64().unwrap();

    // Warn 30 minutes ahead instead; the rest stays.
    click(
        &c,
        &format!("[data-focus-key=\"sla-edit-policy-{policy_id}\"]"),
    )
    .await;
    wait_for(&c, "form.sla-policy-form #slap-warn_minutes").await;
    assert_eq!(
        script(&c, "return document.activeElement.id;").await,
        json!("slap-name"),
        "the form takes the focus"
    );
    // A target that is not whole minutes is refused by the form, naming the field, and
    // does not clear the stored target.
    type_into(&c, "#slap-first_response_minutes", "1.5").await;
    click(&c, "form.sla-policy-form button[type=submit]").await;
    wait_text(
        &c,
        "the minutes error",
        "form.sla-policy-form .form-error",
        "whole minutes",
    )
    .await;
    assert_eq!(sla_state(&api).await.1[0]["first_response_minutes"], 60);
    type_into(&c, "#slap-first_response_minutes", "60").await;
    type_into(&c, "#slap-warn_minutes", "30").await;
    c.find(Locator::Css("#slap-warn_minutes"))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_text(&c, "the new warning", ".sla-policy-table td", "30 min").await;
    let (_, policies) = sla_state(&api).await;
    assert_eq!(
        stored(&policies[0]),
        json!([
            "Kundendienst hoch",
            team_id,
            "high",
            calendar_id,
            60,
            480,
            30,
            true
        ])
    );

    // A time that does not exist is refused, naming the day, and nothing changes.
    click(
        &c,
        &format!("[data-focus-key=\"sla-edit-calendar-{calendar_id}\"]"),
    )
    .await;
    wait_for(&c, "form.sla-calendar-form #slac-tue").await;
    type_into(&c, "#slac-tue", "25:00-26:00").await;
    click(&c, "form.sla-calendar-form button[type=submit]").await;
    wait_text(
        &c,
        "the field error",
        "form.sla-calendar-form .form-error",
        "Tuesday: ",
    )
    .await;
    wait_text(
        &c,
        "the bad time",
        "form.sla-calendar-form .form-error",
        "25:00",
    )
    .await;
    assert_eq!(
        script(
            &c,
            "const e = document.getElementById('slac-tue'); return [e.getAttribute('aria-invalid'), document.activeElement === e, e.value];"
        )
        .await,
        json!(["true", true, "25:00-26:00"]),
        "the field is marked, focused and keeps what was typed"
    );
    assert_eq!(sla_state(&api).await.0[0]["hours"]["tue"], json!([office]));
    click(&c, "form.sla-calendar-form button[type=button]").await;
    wait_script(
        &c,
        "the form closed",
        "return !document.querySelector('form.sla-calendar-form');",
    )
    .await;

    // The calendar the policy counts on is not deleted, and the page says why.
    click(
        &c,
        &format!("[data-focus-key=\"sla-delete-calendar-{calendar_id}\"]"),
    )
    .await;
    wait_text(
        &c,
        "the in-use message",
        ".sla-section-calendar .sla-notice",
        "cannot be deleted: the policy Kundendienst hoch counts on it",
    )
    .await;
    assert_eq!(sla_state(&api).await.0.as_array().unwrap().len(), 1);

    // Deactivated, the policy stays listed as inactive.
    click(
        &c,
        &format!("[data-focus-key=\"sla-active-policy-{policy_id}\"]"),
    )
    .await;
    wait_text(
        &c,
        "the activate button",
        ".sla-policy-table button.sla-active",
        "Activate",
    )
    .await;
    assert_eq!(sla_state(&api).await.1[0]["active"], json!(false));

    // German.
    select(&c, "#lang-header", "de").await;
    wait_text(
        &c,
        "German tab",
        "a.lead-tab[data-view=complaints]",
        "Beschwerden",
    )
    .await;
    click(&c, ".sla-section-policy button.sla-create").await;
    wait_text(
        &c,
        "a German label",
        "label[for=slap-warn_minutes]",
        "Warnung vor Fälligkeit (Minuten)",
    )
    .await;
    wait_text(
        &c,
        "a German column",
        ".sla-policy-table thead th",
        "Erstreaktion",
    )
    .await;
    c.close().await.unwrap();

    // A lead reads both tables and has nothing to change them with.
    let lena = driver.browser("en").await;
    sign_in_at(&lena, &app, "/lead#sla", "lena@example.com").await;
    wait_for(&lena, "sb-lead[data-state=ready]").await;
    wait_text(
        &lena,
        "the policy",
        ".sla-policy-table th",
        "Kundendienst hoch",
    )
    .await;
    wait_text(
        &lena,
        "the calendar",
        ".sla-calendar-table th",
        "Bürozeiten",
    )
    .await;
    wait_text(
        &lena,
        "the read-only note",
        "sb-sla .sla-readonly",
        "Only admins",
    )
    .await;
    assert_eq!(
        script(
            &lena,
            "return document.querySelectorAll('sb-sla button, sb-sla form, sb-sla input, sb-sla select, sb-sla textarea, sb-sla .sla-actions').length;"
        )
        .await,
        json!(0)
    );
    lena.close().await.unwrap();
    app.stop().await;
}
