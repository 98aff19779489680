//! The Meilisearch backend against a local stand-in server that replays real
//! Meilisearch 1.50 replies (tests/fixtures/meilisearch-1.50) and records every request:
//! what is sent (paths, bodies, the key) and how every reply is read, errors included.
//! Plus what the recordings lack: server errors, slow replies, no server at all, tasks
//! that never finish.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard::desk::{Channel, Status};
use switchboard::search::meili::{Meili, Timeouts};
use switchboard::search::{
    Changes, ContactDoc, Filter, Search, SearchError, SearchIndex, Snippet, Sort, TicketDoc,
};

pub(crate) const KEY: &str = "masterKey";

/// One exchange of the recordings.
pub(crate) fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/meilisearch-1.50/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The recorded request body of an exchange.
fn request_body(name: &str) -> Value {
    fixture(name)["request"]["body"].clone()
}

/// The recorded reply body of an exchange.
pub(crate) fn reply_body(name: &str) -> Value {
    fixture(name)["response"]["body"].clone()
}

/// A recorded task (an enqueued one or its state) made into another task of another
/// index.
pub(crate) fn task_as(name: &str, uid: u64, index: &str) -> Value {
    let mut body = reply_body(name);
    let field = if body.get("taskUid").is_some() {
        "taskUid"
    } else {
        "uid"
    };
    body[field] = json!(uid);
    body["indexUid"] = json!(index);
    body
}

/// A recorded finished task as it looked while still waiting in the queue.
fn still_enqueued(name: &str) -> Value {
    let mut body = reply_body(name);
    body["status"] = json!("enqueued");
    for field in ["startedAt", "finishedAt", "duration"] {
        body[field] = Value::Null;
    }
    body
}

/// A recorded reply that names the index `nope`, about `index` instead.
pub(crate) fn about(name: &str, index: &str) -> Value {
    let text = reply_body(name).to_string().replace("nope", index);
    serde_json::from_str(&text).unwrap()
}

/// A recorded successful task made into a failed one.
pub(crate) fn failed_task(name: &str, code: &str, message: &str) -> Value {
    let mut body = reply_body(name);
    body["status"] = json!("failed");
    body["error"] = json!({
        "message": message,
        "code": code,
        "type": "invalid_request",
        "link": format!("https://docs.meilisearch.com/errors#{code}"),
    });
    body
}

/// A request as the stand-in saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub auth: Option<String>,
    pub body: Option<Value>,
}

impl Seen {
    /// A request as it arrived: a body that is not JSON is kept as a JSON string.
    pub(crate) fn of(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Seen {
        Seen {
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            auth: headers
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            body: (!body.is_empty()).then(|| {
                serde_json::from_slice(body)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(body)))
            }),
        }
    }

    /// `METHOD path?query`.
    pub(crate) fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The reply to a request the stand-in has no answer for.
pub(crate) fn no_reply(line: &str) -> Response {
    let body = json!({
        "message": format!("the stand-in has no reply for {line}"),
        "code": "standin_has_no_reply",
        "type": "internal",
        "link": "",
    });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

#[derive(Clone)]
enum Body {
    Json(Value),
    Text(String),
}

/// A reply the stand-in gives.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: Body,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Body::Json(body),
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Script {
    /// Replies by `METHOD path?query`, in order; the last one repeats.
    replies: Mutex<HashMap<String, VecDeque<Reply>>>,
    seen: Mutex<Vec<Seen>>,
}

/// A local stand-in for a Meilisearch server.
struct Standin {
    url: String,
    script: Arc<Script>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen::of(&method, &uri, &headers, &body);
    let line = seen.line();
    script.seen.lock().unwrap().push(seen);
    let reply = {
        let mut replies = script.replies.lock().unwrap();
        match replies.get_mut(&line) {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => None,
        }
    };
    let Some(reply) = reply else {
        return no_reply(&line);
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    match reply.body {
        Body::Json(body) => (status, axum::Json(body)).into_response(),
        Body::Text(text) => (status, [(header::CONTENT_TYPE, "text/html")], text).into_response(),
    }
}

impl Standin {
    async fn start() -> Standin {
        let script = Arc::new(Script::default());
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Standin {
            url,
            script,
            server,
        }
    }

    /// Answers `line` (`METHOD path?query`) with `reply`, after the replies given before.
    fn on(&self, line: &str, reply: Reply) -> &Standin {
        self.script
            .replies
            .lock()
            .unwrap()
            .entry(line.to_owned())
            .or_default()
            .push_back(reply);
        self
    }

    fn json(&self, line: &str, status: u16, body: Value) -> &Standin {
        self.on(line, Reply::json(status, body))
    }

    /// Answers a recorded exchange's request with its recorded reply.
    fn replay(&self, name: &str) -> &Standin {
        let exchange = fixture(name);
        let line = format!(
            "{} {}",
            exchange["request"]["method"].as_str().unwrap(),
            exchange["request"]["path"].as_str().unwrap()
        );
        let status = exchange["response"]["status"].as_u64().unwrap() as u16;
        self.json(&line, status, exchange["response"]["body"].clone())
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.seen().iter().map(Seen::line).collect()
    }

    /// The body of the only request on `line`.
    fn body_of(&self, line: &str) -> Value {
        let seen: Vec<Seen> = self
            .seen()
            .into_iter()
            .filter(|s| s.line() == line)
            .collect();
        assert_eq!(seen.len(), 1, "one {line} in {:?}", self.lines());
        seen[0].body.clone().unwrap_or(Value::Null)
    }

    /// The backend on this server with the master key and short timeouts.
    fn meili(&self) -> Meili {
        self.meili_with(Some(KEY), quick())
    }

    fn meili_with(&self, key: Option<&str>, timeouts: Timeouts) -> Meili {
        Meili::with_timeouts(&self.url, key, "", timeouts).unwrap()
    }
}

/// Timeouts short enough that a test never waits long.
fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(2),
        task: Duration::from_secs(2),
    }
}

/// The recorded ticket documents as the desk builds them (with their contact).
fn recorded_tickets() -> Vec<TicketDoc> {
    request_body("07-add-documents.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|doc| {
            let mut doc = doc.clone();
            let id: i64 = doc["id"].as_str().unwrap()[2..].parse().unwrap();
            doc["id"] = json!(id);
            doc["contact_id"] = json!(40 + id);
            serde_json::from_value(doc).unwrap()
        })
        .collect()
}

fn a_contact() -> ContactDoc {
    ContactDoc {
        id: 41,
        name: "Jürgen Weiß".into(),
        identities: vec!["+491701234567".into(), "juergen@example.de".into()],
        order_numbers: vec!["1001".into()],
        tags: vec!["reklamation".into()],
        organization: Some("Weiß Haustechnik".into()),
        updated_at: 1764103600,
    }
}

fn unavailable(result: Result<impl std::fmt::Debug, SearchError>) -> String {
    match result {
        Err(SearchError::Unavailable(m)) => m,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn rejected(result: Result<impl std::fmt::Debug, SearchError>) -> String {
    match result {
        Err(SearchError::Rejected(m)) => m,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

fn unauthorized(result: Result<impl std::fmt::Debug, SearchError>) -> String {
    match result {
        Err(SearchError::Unauthorized(m)) => m,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

fn words(text: &str) -> Search {
    Search {
        text: text.into(),
        limit: 20,
        ..Search::default()
    }
}

// ---------------------------------------------------------------------------------
// prepare

#[tokio::test]
async fn prepare_creates_a_missing_index_and_applies_the_recorded_settings() {
    let s = Standin::start().await;
    s.json(
        "GET /indexes/tickets",
        404,
        about("29-get-missing-index.json", "tickets"),
    )
    .replay("03-create-index.json")
    // Polled until it finished.
    .json(
        "GET /tasks/0",
        200,
        still_enqueued("04-create-index-task-succeeded.json"),
    )
    .replay("04-create-index-task-succeeded.json")
    .replay("05-update-settings.json")
    .replay("06-update-settings-task-succeeded.json")
    // The contacts index exists already.
    .json("GET /indexes/contacts", 200, {
        let mut index = reply_body("28-get-index.json");
        index["uid"] = json!("contacts");
        index
    })
    .json(
        "PATCH /indexes/contacts/settings",
        202,
        task_as("05-update-settings.json", 2, "contacts"),
    )
    .json(
        "GET /tasks/2",
        200,
        task_as("06-update-settings-task-succeeded.json", 2, "contacts"),
    );

    s.meili().prepare().await.unwrap();

    assert_eq!(
        s.lines(),
        [
            "GET /indexes/tickets",
            "POST /indexes",
            "GET /tasks/0",
            "GET /tasks/0",
            "PATCH /indexes/tickets/settings",
            "GET /tasks/1",
            "GET /indexes/contacts",
            "PATCH /indexes/contacts/settings",
            "GET /tasks/2",
        ]
    );
    assert_eq!(
        s.body_of("POST /indexes"),
        request_body("03-create-index.json")
    );
    // The recorded settings, and no typos in numbers (a phone or order number one digit
    // off is someone else's).
    let mut settings = request_body("05-update-settings.json");
    settings["typoTolerance"]["disableOnNumbers"] = json!(true);
    assert_eq!(s.body_of("PATCH /indexes/tickets/settings"), settings);
    assert_eq!(
        s.body_of("PATCH /indexes/contacts/settings"),
        json!({
            "searchableAttributes": ["name", "identities", "order_numbers", "tags", "organization"],
            "sortableAttributes": ["updated_at"],
            "typoTolerance": {"enabled": true, "disableOnNumbers": true},
        })
    );
    for seen in s.seen() {
        assert_eq!(
            seen.auth.as_deref(),
            Some("Bearer masterKey"),
            "{}",
            seen.line()
        );
    }
}

#[tokio::test]
async fn prepare_accepts_an_index_another_node_just_created() {
    let s = Standin::start().await;
    s.json(
        "GET /indexes/tickets",
        404,
        about("29-get-missing-index.json", "tickets"),
    )
    .replay("03-create-index.json")
    .json(
        "GET /tasks/0",
        200,
        failed_task(
            "04-create-index-task-succeeded.json",
            "index_already_exists",
            "Index `tickets` already exists.",
        ),
    )
    .replay("05-update-settings.json")
    .replay("06-update-settings-task-succeeded.json")
    .json(
        "GET /indexes/contacts",
        200,
        reply_body("28-get-index.json"),
    )
    .json(
        "PATCH /indexes/contacts/settings",
        202,
        task_as("05-update-settings.json", 2, "contacts"),
    )
    .json(
        "GET /tasks/2",
        200,
        task_as("06-update-settings-task-succeeded.json", 2, "contacts"),
    );
    s.meili().prepare().await.unwrap();
}

#[tokio::test]
async fn prepare_fails_when_the_settings_task_fails() {
    let s = Standin::start().await;
    s.json("GET /indexes/tickets", 200, reply_body("28-get-index.json"))
        .replay("05-update-settings.json")
        .json(
            "GET /tasks/1",
            200,
            failed_task(
                "06-update-settings-task-succeeded.json",
                "invalid_settings_typo_tolerance",
                "Invalid value type at `.typoTolerance`.",
            ),
        );
    let message = rejected(s.meili().prepare().await);
    assert!(
        message.contains("invalid_settings_typo_tolerance"),
        "{message}"
    );
    assert!(
        message.contains("Invalid value type at `.typoTolerance`"),
        "{message}"
    );
    // It stopped at the failure.
    assert_eq!(
        s.lines(),
        [
            "GET /indexes/tickets",
            "PATCH /indexes/tickets/settings",
            "GET /tasks/1"
        ]
    );
}

// ---------------------------------------------------------------------------------
// apply and clear

#[tokio::test]
async fn apply_sends_documents_in_the_recorded_shape_and_deletions_then_waits() {
    let s = Standin::start().await;
    s.replay("07-add-documents.json")
        .json(
            "POST /indexes/contacts/documents?primaryKey=id",
            202,
            task_as("07-add-documents.json", 7, "contacts"),
        )
        .json(
            "POST /indexes/tickets/documents/delete-batch",
            202,
            reply_body("22-delete-document.json"),
        )
        .json(
            "POST /indexes/contacts/documents/delete-batch",
            202,
            task_as("22-delete-document.json", 8, "contacts"),
        )
        .json(
            "GET /tasks/2",
            200,
            still_enqueued("08-add-documents-task-succeeded.json"),
        )
        .replay("08-add-documents-task-succeeded.json")
        .json(
            "GET /tasks/7",
            200,
            task_as("08-add-documents-task-succeeded.json", 7, "contacts"),
        )
        .replay("23-delete-document-task-succeeded.json")
        .json(
            "GET /tasks/8",
            200,
            task_as("23-delete-document-task-succeeded.json", 8, "contacts"),
        );

    s.meili()
        .apply(Changes {
            tickets: recorded_tickets(),
            contacts: vec![a_contact()],
            deleted_tickets: vec![3],
            deleted_contacts: vec![9],
        })
        .await
        .unwrap();

    assert_eq!(
        s.lines(),
        [
            "POST /indexes/tickets/documents?primaryKey=id",
            "POST /indexes/contacts/documents?primaryKey=id",
            "POST /indexes/tickets/documents/delete-batch",
            "POST /indexes/contacts/documents/delete-batch",
            "GET /tasks/2",
            "GET /tasks/2",
            "GET /tasks/7",
            "GET /tasks/5",
            "GET /tasks/8",
        ]
    );
    // The recorded documents, plus the contact id a hit needs.
    let mut expected = request_body("07-add-documents.json");
    for doc in expected.as_array_mut().unwrap() {
        let id: i64 = doc["id"].as_str().unwrap()[2..].parse().unwrap();
        doc["contact_id"] = json!(40 + id);
    }
    assert_eq!(
        s.body_of("POST /indexes/tickets/documents?primaryKey=id"),
        expected
    );
    assert_eq!(
        s.body_of("POST /indexes/contacts/documents?primaryKey=id"),
        json!([{
            "id": "c-41",
            "name": "Jürgen Weiß",
            "identities": ["+491701234567", "juergen@example.de"],
            "order_numbers": ["1001"],
            "tags": ["reklamation"],
            "organization": "Weiß Haustechnik",
            "updated_at": 1764103600,
        }])
    );
    assert_eq!(
        s.body_of("POST /indexes/tickets/documents/delete-batch"),
        json!(["t-3"])
    );
    assert_eq!(
        s.body_of("POST /indexes/contacts/documents/delete-batch"),
        json!(["c-9"])
    );
}

#[tokio::test]
async fn apply_of_nothing_sends_nothing() {
    let s = Standin::start().await;
    s.meili().apply(Changes::default()).await.unwrap();
    assert!(s.seen().is_empty());
}

#[tokio::test]
async fn a_failed_document_task_is_rejected_with_meilisearchs_code() {
    let s = Standin::start().await;
    s.replay("18-add-documents-bad-id.json")
        .replay("19-add-documents-bad-id-task-failed.json");
    let message = rejected(
        s.meili()
            .apply(Changes {
                tickets: vec![recorded_tickets().remove(0)],
                ..Changes::default()
            })
            .await,
    );
    assert!(message.contains("invalid_document_id"), "{message}");
    assert!(message.contains("Document identifier"), "{message}");
    assert!(message.contains("`tickets`"), "{message}");
}

#[tokio::test]
async fn a_task_that_never_finishes_makes_the_backend_unavailable() {
    let s = Standin::start().await;
    s.replay("07-add-documents.json").json(
        "GET /tasks/2",
        200,
        still_enqueued("08-add-documents-task-succeeded.json"),
    );
    let meili = s.meili_with(
        Some(KEY),
        Timeouts {
            task: Duration::from_millis(300),
            ..quick()
        },
    );
    let start = Instant::now();
    let message = unavailable(
        meili
            .apply(Changes {
                tickets: recorded_tickets(),
                ..Changes::default()
            })
            .await,
    );
    assert!(message.contains("did not finish task 2"), "{message}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(s.lines().iter().filter(|l| *l == "GET /tasks/2").count() >= 2);
}

#[tokio::test]
async fn clear_deletes_every_document_of_both_indexes() {
    let s = Standin::start().await;
    s.json(
        "DELETE /indexes/tickets/documents",
        202,
        reply_body("22-delete-document.json"),
    )
    .json(
        "DELETE /indexes/contacts/documents",
        202,
        task_as("22-delete-document.json", 8, "contacts"),
    )
    .replay("23-delete-document-task-succeeded.json")
    .json(
        "GET /tasks/8",
        200,
        task_as("23-delete-document-task-succeeded.json", 8, "contacts"),
    );
    s.meili().clear().await.unwrap();
    assert_eq!(
        s.lines(),
        [
            "DELETE /indexes/tickets/documents",
            "DELETE /indexes/contacts/documents",
            "GET /tasks/5",
            "GET /tasks/8",
        ]
    );
}

// ---------------------------------------------------------------------------------
// search

#[tokio::test]
async fn a_search_with_a_typo_and_filters_finds_the_marked_ticket() {
    let s = Standin::start().await;
    s.replay("09-search-typo-filter-highlight.json");
    let search = Search {
        filter: Filter {
            status: vec![Status::Open],
            channel: vec![Channel::Email, Channel::Chat],
            ..Filter::default()
        },
        ..words("Waschmashine")
    };
    let found = s.meili().search(&search).await.unwrap();

    // The recorded request, with our quoting of filter values, only the fields a hit
    // needs retrieved (message texts come back cropped in `_formatted` all the same),
    // and no explicit `showMatchesPosition: false` (the default).
    let mut expected = request_body("09-search-typo-filter-highlight.json");
    expected["filter"] = json!(r#"status IN ["open"] AND channel IN ["email", "chat"]"#);
    expected["attributesToRetrieve"] = json!([
        "id",
        "number",
        "subject",
        "contact_id",
        "contact_name",
        "status",
        "channel",
        "priority",
        "kind",
        "assignee_id",
        "team_id",
        "updated_at"
    ]);
    expected
        .as_object_mut()
        .unwrap()
        .remove("showMatchesPosition");
    assert_eq!(s.body_of("POST /indexes/tickets/search"), expected);

    assert_eq!(found.ticket_total, 1);
    assert!(found.contacts.is_empty());
    let hit = &found.tickets[0];
    assert_eq!((hit.id, hit.number), (1, 1001));
    assert_eq!(
        hit.subject,
        Snippet::from_tagged("<mark>Waschmaschin</mark>e leckt", "<mark>", "</mark>")
    );
    assert_eq!(hit.subject.text(), "Waschmaschine leckt");
    let snippet = hit.snippet.as_ref().unwrap();
    assert_eq!(snippet.text(), "Die Waschmaschine leckt seit gestern.");
    let marked: Vec<&str> = snippet
        .0
        .iter()
        .filter(|p| p.mark)
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(marked, ["Waschmaschin"]);
    assert_eq!(
        (
            hit.status.as_str(),
            hit.channel.as_str(),
            hit.kind.as_str(),
            hit.priority.as_str()
        ),
        ("open", "email", "complaint", "high")
    );
    assert_eq!((hit.assignee_id, hit.team_id), (Some(2), Some(1)));
    assert_eq!(hit.contact_name, "Jürgen Weiß");
    assert_eq!(hit.updated_at, 1764103600);
    assert_eq!(s.seen()[0].auth.as_deref(), Some("Bearer masterKey"));
}

/// A multi-search reply of a tickets result and a contacts result.
fn multi(tickets: Value, contacts_hits: Value) -> Value {
    let mut tickets = tickets;
    tickets["indexUid"] = json!("tickets");
    let total = contacts_hits.as_array().unwrap().len();
    let query = tickets["query"].clone();
    json!({"results": [tickets, {
        "indexUid": "contacts",
        "hits": contacts_hits,
        "query": query,
        "processingTimeMs": 0,
        "limit": 5,
        "offset": 0,
        "estimatedTotalHits": total,
    }]})
}

#[tokio::test]
async fn words_without_filters_search_tickets_and_contacts_in_one_round_trip() {
    let s = Standin::start().await;
    s.json(
        "POST /multi-search",
        200,
        multi(
            reply_body("10-search-phone.json"),
            json!([{
                "id": "c-41",
                "name": "Jürgen Weiß",
                "identities": ["+491701234567", "juergen@example.de"],
                "order_numbers": ["1001"],
                "tags": ["reklamation"],
                "organization": "Weiß Haustechnik",
                "updated_at": 1764103600,
                "_formatted": {"id": "c-41", "name": "Jürgen Weiß"},
            }]),
        ),
    );
    let search = Search::new("0170 123 4567", phonenumber::country::Id::DE);
    assert_eq!(search.text, "+491701234567");
    let found = s.meili().search(&search).await.unwrap();

    let body = s.body_of("POST /multi-search");
    let queries = body["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 2);
    assert_eq!(queries[0]["indexUid"], "tickets");
    assert_eq!(queries[0]["q"], "+491701234567");
    assert_eq!(queries[0]["limit"], 20);
    assert!(queries[0].get("filter").is_none() && queries[0].get("sort").is_none());
    assert_eq!(
        queries[0]["attributesToHighlight"],
        json!(["subject", "messages"])
    );
    assert_eq!(
        queries[1],
        json!({
            "indexUid": "contacts",
            "q": "+491701234567",
            "limit": 5,
            "attributesToHighlight": ["name"],
            "highlightPreTag": "<mark>",
            "highlightPostTag": "</mark>",
        })
    );

    assert_eq!(found.ticket_total, 1);
    let hit = &found.tickets[0];
    assert_eq!(hit.id, 1);
    // The recorded reply has nothing formatted: the subject is plain, no excerpt.
    assert_eq!(hit.subject, Snippet::plain("Waschmaschine leckt"));
    assert_eq!(hit.snippet, None);
    assert_eq!(found.contacts.len(), 1);
    let contact = &found.contacts[0];
    assert_eq!(contact.id, 41);
    assert_eq!(contact.name.text(), "Jürgen Weiß");
    assert_eq!(contact.identities[0], "+491701234567");
    assert_eq!(contact.order_numbers, ["1001"]);
    assert_eq!(contact.organization.as_deref(), Some("Weiß Haustechnik"));
}

#[tokio::test]
async fn newest_and_oldest_sort_by_update_time() {
    let s = Standin::start().await;
    s.replay("11-search-sort.json");
    let meili = s.meili();
    let newest = Search {
        limit: 2,
        sort: Sort::Newest,
        ..words("")
    };
    let found = meili.search(&newest).await.unwrap();
    // Relevance without words is newest first too.
    meili
        .search(&Search {
            sort: Sort::Relevance,
            ..newest.clone()
        })
        .await
        .unwrap();
    meili
        .search(&Search {
            sort: Sort::Oldest,
            ..newest.clone()
        })
        .await
        .unwrap();

    let sorts: Vec<Value> = s
        .seen()
        .iter()
        .map(|r| {
            let body = r.body.as_ref().unwrap();
            assert_eq!(r.line(), "POST /indexes/tickets/search");
            assert_eq!((&body["q"], &body["limit"]), (&json!(""), &json!(2)));
            body["sort"].clone()
        })
        .collect();
    assert_eq!(
        sorts,
        [
            json!(["updated_at:desc"]),
            json!(["updated_at:desc"]),
            json!(["updated_at:asc"])
        ]
    );
    assert_eq!(
        found.tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!(found.ticket_total, 3);
    assert_eq!(found.tickets[1].assignee_id, None);
    assert_eq!(found.tickets[1].status, "pending");
}

#[tokio::test]
async fn no_hits_is_an_empty_result() {
    let s = Standin::start().await;
    s.json(
        "POST /multi-search",
        200,
        multi(reply_body("12-search-no-hits.json"), json!([])),
    );
    let found = s.meili().search(&words("zzzzqqq")).await.unwrap();
    assert!(found.tickets.is_empty() && found.contacts.is_empty());
    assert_eq!(found.ticket_total, 0);
}

/// A filtered search (tickets only) answered with a recorded reply.
async fn filtered_search_answered(
    name: &str,
    key: Option<&str>,
) -> (Standin, Result<switchboard::search::Found, SearchError>) {
    let s = Standin::start().await;
    let mut exchange = fixture(name);
    let status = exchange["response"]["status"].as_u64().unwrap() as u16;
    let body = exchange["response"]["body"].take();
    let body = serde_json::from_str(&body.to_string().replace("nope", "tickets")).unwrap();
    s.json("POST /indexes/tickets/search", status, body);
    let search = Search {
        filter: Filter {
            status: vec![Status::Open],
            ..Filter::default()
        },
        ..words("x")
    };
    let result = s.meili_with(key, quick()).search(&search).await;
    (s, result)
}

#[tokio::test]
async fn an_invalid_filter_is_rejected_with_meilisearchs_message() {
    let (_, result) = filtered_search_answered("13-search-invalid-filter.json", Some(KEY)).await;
    let message = rejected(result);
    assert!(message.contains("invalid_search_filter"), "{message}");
    assert!(message.contains("is not filterable"), "{message}");
    assert!(message.contains("400"), "{message}");

    let (_, result) = filtered_search_answered("14-search-bad-filter-syntax.json", Some(KEY)).await;
    let message = rejected(result);
    assert!(message.contains("invalid_search_filter"), "{message}");
    assert!(message.contains("Was expecting a value"), "{message}");
}

#[tokio::test]
async fn a_missing_index_is_unavailable_and_says_how_to_fix_it() {
    let (_, result) = filtered_search_answered("15-search-missing-index.json", Some(KEY)).await;
    let message = unavailable(result);
    assert!(message.contains("index_not_found"), "{message}");
    assert!(message.contains("Index `tickets` not found"), "{message}");
    assert!(message.contains("switchboard reindex"), "{message}");
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_unauthorized() {
    let (s, result) = filtered_search_answered("16-search-wrong-key.json", Some("wrong-key")).await;
    let message = unauthorized(result);
    assert!(message.contains("invalid_api_key"), "{message}");
    assert!(
        message.contains("The provided API key is invalid"),
        "{message}"
    );
    assert_eq!(s.seen()[0].auth.as_deref(), Some("Bearer wrong-key"));

    let (s, result) = filtered_search_answered("17-search-no-key.json", None).await;
    let message = unauthorized(result);
    assert!(
        message.contains("missing_authorization_header"),
        "{message}"
    );
    assert_eq!(s.seen()[0].auth, None);
}

// ---------------------------------------------------------------------------------
// health and outages

#[tokio::test]
async fn health_asks_the_health_endpoint() {
    let s = Standin::start().await;
    s.replay("01-health.json");
    s.meili().health().await.unwrap();
    assert_eq!(s.lines(), ["GET /health"]);
}

#[tokio::test]
async fn a_server_error_is_unavailable() {
    let s = Standin::start().await;
    s.on(
        "GET /health",
        Reply {
            status: 502,
            body: Body::Text("<html><body>502 Bad Gateway</body></html>".into()),
            delay: Duration::ZERO,
        },
    );
    let message = unavailable(s.meili().health().await);
    assert!(
        message.contains("502") && message.contains("Bad Gateway"),
        "{message}"
    );

    let s = Standin::start().await;
    s.json(
        "POST /multi-search",
        500,
        json!({
            "message": "An internal error has occurred. `Resource temporarily unavailable`.",
            "code": "internal",
            "type": "internal",
            "link": "https://docs.meilisearch.com/errors#internal",
        }),
    );
    let message = unavailable(s.meili().search(&words("Paket")).await);
    assert!(message.contains("500 internal"), "{message}");
    assert!(
        message.contains("Resource temporarily unavailable"),
        "{message}"
    );
}

#[tokio::test]
async fn a_reply_slower_than_the_timeout_is_unavailable() {
    let s = Standin::start().await;
    s.on(
        "POST /multi-search",
        Reply {
            delay: Duration::from_secs(10),
            ..Reply::json(200, json!({"results": []}))
        },
    );
    let meili = s.meili_with(
        Some(KEY),
        Timeouts {
            request: Duration::from_millis(200),
            ..quick()
        },
    );
    let start = Instant::now();
    let message = unavailable(meili.search(&words("Paket")).await);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(message.contains("did not answer within 0.2 s"), "{message}");
}

#[tokio::test]
async fn no_server_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    // Credentials in the URL stay out of messages.
    let url = format!("http://user:secret@{addr}");
    let meili = Meili::with_timeouts(&url, Some(KEY), "", quick()).unwrap();
    let message = unavailable(meili.health().await);
    assert!(message.contains("cannot be reached"), "{message}");
    assert!(message.contains(&format!("http://{addr}")), "{message}");
    assert!(
        !message.contains("secret") && !message.contains(KEY),
        "{message}"
    );
    unavailable(meili.search(&words("Paket")).await);
}

#[tokio::test]
async fn index_names_carry_the_prefix() {
    let s = Standin::start().await;
    s.json(
        "POST /indexes/shop1_tickets/documents/delete-batch",
        202,
        task_as("22-delete-document.json", 5, "shop1_tickets"),
    )
    .json(
        "GET /tasks/5",
        200,
        task_as("23-delete-document-task-succeeded.json", 5, "shop1_tickets"),
    );
    let meili = Meili::with_timeouts(&format!("{}/", s.url), Some(KEY), "shop1_", quick()).unwrap();
    meili
        .apply(Changes {
            deleted_tickets: vec![3],
            ..Changes::default()
        })
        .await
        .unwrap();
    assert_eq!(
        s.lines(),
        [
            "POST /indexes/shop1_tickets/documents/delete-batch",
            "GET /tasks/5"
        ]
    );
    assert!(Meili::new(&s.url, None, "bad prefix!").is_err());
    assert!(Meili::new("not a url", None, "").is_err());
}
