//! Full-text search through the whole desk: messages arrive over the API, the indexer
//! drains the outbox into the index, and `GET /api/v1/search` finds them. One behaviour
//! suite runs against every backend: the embedded index on SQLite and PostgreSQL, and a
//! real Meilisearch server when `SWITCHBOARD_TEST_MEILISEARCH_URL` and
//! `SWITCHBOARD_TEST_MEILISEARCH_KEY` name one.

use serde_json::{Value, json};
use switchboard::desk::Role;

use crate::on_both;
use crate::support::{Api, Engine, TestApp, eventually};

/// Waits until every change is searchable: no `index` row is left in the outbox.
pub async fn indexed(api: &Api) {
    eventually("the search backlog to drain", || async {
        let (status, body) = api.get("/readyz").await;
        (status == 200 && body["search"]["backlog"] == 0).then_some(())
    })
    .await;
}

/// Searches and returns the reply's JSON, asserting a 200.
async fn search(api: &Api, query: &str) -> Value {
    let (status, body) = api.get(&format!("/api/v1/search?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn numbers(body: &Value) -> Vec<i64> {
    body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect()
}

fn contact_ids(body: &Value) -> Vec<i64> {
    body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

/// The marked words of a snippet.
fn marked(snippet: &Value) -> Vec<String> {
    snippet
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p["mark"] == true)
                .map(|p| p["text"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn text(snippet: &Value) -> String {
    snippet
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect()
}

fn q(words: &str) -> String {
    format!(
        "q={}",
        url::form_urlencoded::byte_serialize(words.as_bytes()).collect::<String>()
    )
}

/// A customer's message over the API channel; returns (ticket id, number, contact id).
pub async fn message(
    api: &Api,
    channel: &str,
    identity: Value,
    name: &str,
    subject: &str,
    text: &str,
) -> (i64, i64, i64) {
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/inbound",
            json!({
                "channel": channel,
                "external_id": format!("{subject}-{text}").chars().take(100).collect::<String>(),
                "identity": identity,
                "name": name,
                "subject": subject,
                "text": text,
            }),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let ticket = body["ticket_id"].as_i64().unwrap();
    let (_, t) = api.get(&format!("/api/v1/tickets/{ticket}")).await;
    (
        ticket,
        t["ticket"]["number"]
            .as_i64()
            .or(t["number"].as_i64())
            .unwrap(),
        t["ticket"]["contact_id"]
            .as_i64()
            .or(t["contact_id"].as_i64())
            .unwrap(),
    )
}

/// The behaviour every backend must show.
pub async fn behaviour(app: &TestApp) {
    let api = app.token(Role::Admin).await;

    let (washer, washer_no, juergen) = message(
        &api,
        "email",
        json!({"kind": "email", "value": "juergen@example.de"}),
        "Jürgen Weiß",
        "Waschmaschine leckt",
        "Die Waschmaschine leckt seit gestern. Der Kundendienstmitarbeiter kam nicht.",
    )
    .await;
    let (_, parcel_no, erika) = message(
        &api,
        "chat",
        json!({"kind": "email", "value": "erika@example.org"}),
        "Erika Mustermann",
        "Lieferstatus",
        "Wo ist mein Paket?",
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
    let (_, invoice_no, anna) = message(
        &api,
        "email",
        json!({"kind": "email", "value": "anna.mueller@example.com"}),
        "Anna Müller",
        "Rechnung fehlt",
        "Meine Rechnung für die Straßenlaterne fehlt noch.",
    )
    .await;
    // Jürgen's phone and Erika's order come from the shop.
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/orders",
            json!({"orders": [
                {"source": "shop", "external_id": "9001", "number": "SO-100234", "status": "paid",
                 "currency": "EUR", "total": "49.90", "placed_at": "2026-11-01T10:00:00Z",
                 "customer": {"email": "erika@example.org"}},
                {"source": "shop", "external_id": "9002", "number": "SO-200777", "status": "paid",
                 "currency": "EUR", "total": "499.00", "placed_at": "2026-10-01T10:00:00Z",
                 "customer": {"email": "juergen@example.de", "phone": "+49 170 1234567"}},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    indexed(&api).await;

    // Typos, with the match marked in the subject and an excerpt of the message.
    let found = search(&api, &q("Waschmashine")).await;
    assert_eq!(numbers(&found)[0], washer_no, "{found}");
    let hit = &found["tickets"][0];
    assert!(text(&hit["subject"]).contains("Waschmaschine"));
    assert!(!marked(&hit["subject"]).is_empty(), "{hit}");
    assert!(
        marked(&hit["snippet"])
            .iter()
            .any(|m| m.starts_with("Waschmaschin")),
        "{hit}"
    );
    assert_eq!(hit["contact_name"], "Jürgen Weiß");
    assert_eq!(numbers(&search(&api, &q("printr")).await), [printer_no]);

    // German umlauts and ß, typed any way.
    for words in ["Müller", "muller", "Mueller", "MÜLLER"] {
        let found = search(&api, &q(words)).await;
        assert_eq!(numbers(&found), [invoice_no], "{words}: {found}");
        assert_eq!(contact_ids(&found), [anna], "{words}: {found}");
    }
    for words in ["Weiß", "Weiss", "Jürgen Weiss", "juergen"] {
        assert!(
            contact_ids(&search(&api, &q(words)).await).contains(&juergen),
            "{words}"
        );
    }
    assert_eq!(
        numbers(&search(&api, &q("Strassenlaterne")).await),
        [invoice_no]
    );

    // Compound words are found by their parts.
    assert_eq!(numbers(&search(&api, &q("Laterne")).await), [invoice_no]);
    for part in ["maschine", "Kundendienst", "mitarbeiter"] {
        assert_eq!(
            numbers(&search(&api, &q(part)).await),
            [washer_no],
            "{part}"
        );
    }

    // Phone numbers in any format.
    for phone in [
        "+491701234567",
        "+49 170 1234567",
        "0170 1234567",
        "(0170) 123-4567",
        "0049 170 1234567",
    ] {
        let found = search(&api, &q(phone)).await;
        assert_eq!(numbers(&found), [washer_no], "{phone}: {found}");
        assert_eq!(contact_ids(&found), [juergen], "{phone}");
    }
    assert_eq!(
        numbers(&search(&api, &q("+1 415 555 0100")).await),
        [printer_no]
    );

    // A number one digit off is someone else's: no typos in numbers.
    assert_eq!(
        numbers(&search(&api, &q("0170 1234568")).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        numbers(&search(&api, &q("SO-100235")).await),
        Vec::<i64>::new()
    );
    // The start of a compound matches in any position of the query.
    assert_eq!(
        numbers(&search(&api, &q("Kundendienst gestern")).await),
        [washer_no]
    );
    // Punctuation alone finds nothing rather than everything.
    assert_eq!(search(&api, &q("!!! ???")).await["ticket_total"], 0);

    // Order numbers and email addresses.
    for words in ["SO-100234", "so-100234", "100234"] {
        let found = search(&api, &q(words)).await;
        assert_eq!(numbers(&found), [parcel_no], "{words}: {found}");
        assert_eq!(contact_ids(&found), [erika], "{words}");
    }
    assert_eq!(
        numbers(&search(&api, &q("erika@example.org")).await),
        [parcel_no]
    );

    // Nothing matches nonsense.
    let none = search(&api, &q("zzzzqqq")).await;
    assert_eq!(none["tickets"], json!([]));
    assert_eq!(none["ticket_total"], 0);

    // A ticket number goes straight to its ticket.
    let found = search(&api, &q(&format!("#{washer_no}"))).await;
    assert_eq!(found["number_match"]["id"], washer);

    // Filters.
    let (status, _) = api
        .send(
            "PATCH",
            &format!("/api/v1/tickets/{printer}"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(status, 200);
    indexed(&api).await;
    assert_eq!(
        numbers(&search(&api, &format!("{}&status=resolved", q("printer"))).await),
        [printer_no]
    );
    assert_eq!(
        numbers(&search(&api, &format!("{}&status=active", q("printer"))).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        numbers(&search(&api, &format!("{}&channel=chat", q("Waschmaschine"))).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        numbers(&search(&api, &format!("{}&channel=email,chat", q("Waschmaschine"))).await),
        [washer_no]
    );
    assert_eq!(
        numbers(&search(&api, &format!("{}&assignee=none", q("Waschmaschine"))).await),
        [washer_no]
    );
    assert_eq!(
        numbers(
            &search(
                &api,
                &format!("{}&updated_to=2000-01-01", q("Waschmaschine"))
            )
            .await
        ),
        Vec::<i64>::new()
    );
    assert_eq!(
        numbers(
            &search(
                &api,
                &format!("{}&created_from=2000-01-01", q("Waschmaschine"))
            )
            .await
        ),
        [washer_no]
    );
    // Filters without words list the newest first, and no contacts.
    let all = search(&api, "status=active&sort=newest").await;
    let mut listed = numbers(&all);
    let times: Vec<i64> = all["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["updated_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{all}");
    listed.sort();
    assert_eq!(listed, [washer_no, parcel_no, invoice_no]);
    assert_eq!(all["ticket_total"], 3);
    assert_eq!(all["contacts"], json!([]));
    let oldest = search(&api, "status=active&sort=oldest").await;
    let times: Vec<i64> = oldest["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["updated_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{oldest}");
    let page = search(&api, "status=active&sort=oldest&limit=1&offset=1").await;
    assert_eq!(numbers(&page), numbers(&oldest)[1..2]);
    assert_eq!(page["ticket_total"], 3);

    // What agents write is found too, as soon as it is indexed.
    let (status, _) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{washer}/note"),
            json!({"text": "Ersatzteil Dichtungsring bestellt"}),
        )
        .await;
    assert_eq!(status, 201);
    indexed(&api).await;
    assert_eq!(
        numbers(&search(&api, &q("Dichtungsring")).await),
        [washer_no]
    );

    // A renamed contact is found by the new name, on the contact and on the tickets.
    let (status, body) = api
        .send(
            "PATCH",
            &format!("/api/v1/contacts/{erika}"),
            json!({"name": "Erika Gabler"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    indexed(&api).await;
    let found = search(&api, &q("Gabler")).await;
    assert_eq!(numbers(&found), [parcel_no]);
    assert_eq!(contact_ids(&found), [erika]);

    // Bad input is a clear 400.
    for bad in [
        "status=bogus",
        "channel=fax",
        "limit=0",
        "limit=1000",
        "sort=random",
        "assignee=x",
        "updated_from=yesterday",
        "nope=1",
    ] {
        let (status, body) = api.get(&format!("/api/v1/search?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // Erasing a contact takes its documents out of the index.
    let (status, body) = api
        .send(
            "DELETE",
            &format!("/api/v1/contacts/{juergen}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    indexed(&api).await;
    for words in ["Waschmaschine", "Jürgen", "0170 1234567", "SO-200777"] {
        let found = search(&api, &q(words)).await;
        assert_eq!(found["tickets"], json!([]), "{words}: {found}");
        assert_eq!(found["contacts"], json!([]), "{words}: {found}");
    }
    // Everyone else is still there.
    assert_eq!(numbers(&search(&api, &q("Rechnung")).await), [invoice_no]);
}

on_both! {
    async fn embedded_search_finds_everything(engine: Engine) {
        let app = TestApp::start(engine).await;
        behaviour(&app).await;
        app.stop().await;
    }
}

#[tokio::test]
#[ignore = "needs Meilisearch (SWITCHBOARD_TEST_MEILISEARCH_URL and SWITCHBOARD_TEST_MEILISEARCH_KEY)"]
async fn meilisearch_search_finds_everything() {
    let url = std::env::var("SWITCHBOARD_TEST_MEILISEARCH_URL")
        .expect("SWITCHBOARD_TEST_MEILISEARCH_URL must name a Meilisearch server for this test");
    let key = std::env::var("SWITCHBOARD_TEST_MEILISEARCH_KEY")
        .expect("SWITCHBOARD_TEST_MEILISEARCH_KEY must hold its master key");
    // Indexes of their own, so runs never see each other's documents.
    let prefix = format!("sb_test_{}_", uuid::Uuid::new_v4().simple());
    let app = TestApp::start_with(
        Engine::Sqlite,
        &[
            ("SWITCHBOARD_MEILISEARCH_URL", &url),
            ("SWITCHBOARD_MEILISEARCH_KEY", &key),
            ("SWITCHBOARD_MEILISEARCH_PREFIX", &prefix),
        ],
    )
    .await;
    behaviour(&app).await;
    app.stop().await;
}

on_both! {
    async fn search_needs_a_signed_in_agent(engine: Engine) {
    let app = TestApp::start(engine).await;
    let anonymous = reqwest::get(app.url("/api/v1/search?q=x")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let anonymous = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let agent = app.token(Role::Agent).await;
    assert_eq!(agent.get("/api/v1/search?q=x").await.0, 200);
    // Metrics are for admins.
    assert_eq!(agent.get("/metrics").await.0, 403);
    let admin = app.token(Role::Admin).await;
    let metrics = admin
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("switchboard_search_backlog"), "{text}");
    app.stop().await;
    }
}
