//! Outages of the search backend: Meilisearch goes away while messages arrive (its port
//! refuses connections, or a proxy in front of it answers 503), comes back, and every
//! message becomes findable; meanwhile search says it is unavailable, /readyz says so and
//! how much waits, the rows the indexer tried tell admins why, and no outbox row uses up
//! its attempts. And a document Meilisearch refuses fails only its own outbox row.
//!
//! Against a stateful stand-in for Meilisearch that speaks the recorded 1.50 wire format
//! (tests/fixtures/meilisearch-1.50, shared with `meili`): it keeps the indexes, their
//! settings, the documents and the tasks it was given, and answers a search with the
//! documents whose searchable attributes hold the words (a case-insensitive substring:
//! what is checked is what reached the backend, not Meilisearch's ranking).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard::desk::Role;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::meili::{KEY, Seen, about, failed_task, no_reply, reply_body, task_as};
use crate::on_both;
use crate::support::{Api, Engine, TestApp, eventually};

// ---------------------------------------------------------------------------------
// the stand-in

/// One index: its documents by id and the attributes searched.
#[derive(Default)]
struct Index {
    docs: BTreeMap<String, Value>,
    /// From the settings; every attribute until they are applied.
    searchable: Option<Vec<String>>,
}

impl Index {
    /// The texts of a document a search looks in.
    fn texts<'a>(&self, doc: &'a Value) -> Vec<&'a str> {
        let mut texts = Vec::new();
        let Some(fields) = doc.as_object() else {
            return texts;
        };
        for (name, value) in fields {
            let searched = match &self.searchable {
                Some(attributes) => attributes.iter().any(|a| a == name || a == "*"),
                None => true,
            };
            if !searched {
                continue;
            }
            match value {
                Value::String(s) => texts.push(s.as_str()),
                Value::Array(items) => texts.extend(items.iter().filter_map(Value::as_str)),
                _ => {}
            }
        }
        texts
    }
}

#[derive(Default)]
struct Sim {
    indexes: Mutex<BTreeMap<String, Index>>,
    /// Every task by uid, as `GET /tasks/{uid}` shows it (finished at once).
    tasks: Mutex<Vec<Value>>,
    seen: Mutex<Vec<Seen>>,
    /// Answers 503 for everything, as a proxy before a restarting server does.
    failing: AtomicBool,
    /// The requests answered with 503.
    failed: Mutex<Vec<String>>,
    /// A ticket document whose messages hold this text fails its whole task.
    poison: Mutex<Option<String>>,
}

type Answer = (u16, Value);

fn error(code: &str, kind: &str, message: String) -> Value {
    json!({
        "message": message,
        "code": code,
        "type": kind,
        "link": format!("https://docs.meilisearch.com/errors#{code}"),
    })
}

impl Sim {
    /// Records a task that finished as `done` (a recorded task) and answers with the
    /// recorded enqueued reply `enqueued` made into it.
    fn task(&self, enqueued: &str, mut done: Value, index: &str) -> Answer {
        let mut tasks = self.tasks.lock().unwrap();
        let uid = tasks.len() as u64;
        done["uid"] = json!(uid);
        done["batchUid"] = json!(uid);
        done["indexUid"] = json!(index);
        tasks.push(done);
        (202, task_as(enqueued, uid, index))
    }

    fn get_task(&self, uid: &str) -> Answer {
        let tasks = self.tasks.lock().unwrap();
        match uid.parse::<usize>().ok().and_then(|i| tasks.get(i)) {
            Some(task) => (200, task.clone()),
            None => (
                404,
                error(
                    "task_not_found",
                    "invalid_request",
                    format!("Task `{uid}` not found."),
                ),
            ),
        }
    }

    fn get_index(&self, uid: &str) -> Answer {
        if self.indexes.lock().unwrap().contains_key(uid) {
            let mut index = reply_body("28-get-index.json");
            index["uid"] = json!(uid);
            (200, index)
        } else {
            (404, about("29-get-missing-index.json", uid))
        }
    }

    fn create_index(&self, body: &Value) -> Answer {
        let uid = body["uid"].as_str().unwrap_or_default().to_owned();
        let created = {
            let mut indexes = self.indexes.lock().unwrap();
            let fresh = !indexes.contains_key(&uid);
            indexes.entry(uid.clone()).or_default();
            fresh
        };
        let done = if created {
            reply_body("04-create-index-task-succeeded.json")
        } else {
            failed_task(
                "04-create-index-task-succeeded.json",
                "index_already_exists",
                &format!("Index `{uid}` already exists."),
            )
        };
        self.task("03-create-index.json", done, &uid)
    }

    fn settings(&self, uid: &str, body: &Value) -> Answer {
        if let Some(attributes) = body["searchableAttributes"].as_array() {
            let attributes = attributes
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            self.indexes
                .lock()
                .unwrap()
                .entry(uid.to_owned())
                .or_default()
                .searchable = Some(attributes);
        }
        let mut done = reply_body("06-update-settings-task-succeeded.json");
        done["details"] = body.clone();
        self.task("05-update-settings.json", done, uid)
    }

    /// Adds or replaces documents by id; a poisoned ticket document fails the task and
    /// nothing of it is stored, as Meilisearch does with an invalid document.
    fn add(&self, uid: &str, body: &Value) -> Answer {
        let docs = body.as_array().cloned().unwrap_or_default();
        let poison = self.poison.lock().unwrap().clone();
        let poisoned = poison.and_then(|poison| {
            docs.iter()
                .find(|doc| {
                    uid.ends_with("tickets")
                        && doc["messages"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|t| t.as_str() == Some(poison.as_str())))
                })
                .map(|doc| doc["id"].as_str().unwrap_or_default().to_owned())
        });
        let received = docs.len();
        if let Some(id) = poisoned {
            let mut done = reply_body("19-add-documents-bad-id-task-failed.json");
            done["details"] = json!({"receivedDocuments": received, "indexedDocuments": 0});
            let message = done["error"]["message"]
                .as_str()
                .unwrap()
                .replace("bad id with spaces!", &id);
            done["error"]["message"] = json!(message);
            return self.task("07-add-documents.json", done, uid);
        }
        {
            let mut indexes = self.indexes.lock().unwrap();
            let index = indexes.entry(uid.to_owned()).or_default();
            for doc in docs {
                let id = doc["id"].as_str().expect("a document id").to_owned();
                index.docs.insert(id, doc);
            }
        }
        let mut done = reply_body("08-add-documents-task-succeeded.json");
        done["details"] = json!({"receivedDocuments": received, "indexedDocuments": received});
        self.task("07-add-documents.json", done, uid)
    }

    fn delete(&self, uid: &str, body: &Value) -> Answer {
        let ids: Vec<String> = body
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let deleted = {
            let mut indexes = self.indexes.lock().unwrap();
            let index = indexes.entry(uid.to_owned()).or_default();
            ids.iter()
                .filter(|id| index.docs.remove(*id).is_some())
                .count()
        };
        let mut done = reply_body("23-delete-document-task-succeeded.json");
        done["details"] = json!({
            "providedIds": ids.len(),
            "deletedDocuments": deleted,
            "originalFilter": null,
        });
        self.task("22-delete-document.json", done, uid)
    }

    fn clear(&self, uid: &str) -> Answer {
        let deleted = {
            let mut indexes = self.indexes.lock().unwrap();
            let index = indexes.entry(uid.to_owned()).or_default();
            std::mem::take(&mut index.docs).len()
        };
        let mut done = reply_body("23-delete-document-task-succeeded.json");
        done["details"] = json!({
            "providedIds": 0,
            "deletedDocuments": deleted,
            "originalFilter": null,
        });
        self.task("22-delete-document.json", done, uid)
    }

    /// One index's search, in the shape of the recorded reply.
    fn search(&self, uid: &str, query: &Value) -> Result<Value, Answer> {
        let indexes = self.indexes.lock().unwrap();
        let Some(index) = indexes.get(uid) else {
            return Err((404, about("15-search-missing-index.json", uid)));
        };
        if query.get("filter").is_some_and(|f| !f.is_null()) {
            return Err((
                400,
                error(
                    "invalid_search_filter",
                    "invalid_request",
                    "The stand-in does not filter.".into(),
                ),
            ));
        }
        let words = query["q"].as_str().unwrap_or_default();
        let needle = words.to_lowercase();
        let strings = |field: &str| -> Option<Vec<String>> {
            query[field].as_array().map(|list| {
                list.iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let retrieve = strings("attributesToRetrieve").filter(|a| !a.iter().any(|a| a == "*"));
        let highlight = strings("attributesToHighlight").unwrap_or_default();
        let formatted = !highlight.is_empty() || query.get("attributesToCrop").is_some();
        let pre = query["highlightPreTag"].as_str().unwrap_or("<em>");
        let post = query["highlightPostTag"].as_str().unwrap_or("</em>");
        let matching: Vec<&Value> = index
            .docs
            .values()
            .filter(|doc| {
                needle.is_empty()
                    || index
                        .texts(doc)
                        .iter()
                        .any(|text| !occurrences(text, &needle).is_empty())
            })
            .collect();
        let limit = query["limit"].as_u64().unwrap_or(20) as usize;
        let offset = query["offset"].as_u64().unwrap_or(0) as usize;
        let hits: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|doc| {
                let mut hit = match &retrieve {
                    Some(fields) => {
                        let mut hit = serde_json::Map::new();
                        for field in fields {
                            if let Some(value) = doc.get(field) {
                                hit.insert(field.clone(), value.clone());
                            }
                        }
                        Value::Object(hit)
                    }
                    None => (*doc).clone(),
                };
                if formatted {
                    let mut copy = serde_json::Map::new();
                    for (field, value) in doc.as_object().unwrap() {
                        let marked = highlight.iter().any(|h| h == field || h == "*");
                        copy.insert(field.clone(), format(value, marked, &needle, pre, post));
                    }
                    hit["_formatted"] = Value::Object(copy);
                }
                hit
            })
            .collect();
        let mut reply = reply_body("09-search-typo-filter-highlight.json");
        reply["hits"] = json!(hits);
        reply["query"] = json!(words);
        reply["processingTimeMs"] = json!(0);
        reply["limit"] = json!(limit);
        reply["offset"] = json!(offset);
        reply["estimatedTotalHits"] = json!(matching.len());
        Ok(reply)
    }

    fn multi_search(&self, body: &Value) -> Answer {
        let mut results = Vec::new();
        for query in body["queries"].as_array().cloned().unwrap_or_default() {
            let uid = query["indexUid"].as_str().unwrap_or_default();
            match self.search(uid, &query) {
                Ok(mut result) => {
                    result["indexUid"] = json!(uid);
                    results.push(result);
                }
                Err(failure) => return failure,
            }
        }
        let mut reply = reply_body("31-multi-search.json");
        reply["results"] = json!(results);
        (200, reply)
    }
}

/// The byte ranges where `needle` (in lower case) occurs in `text`, ignoring case.
fn occurrences(text: &str, needle: &str) -> Vec<(usize, usize)> {
    let length = needle.chars().count();
    let mut found = Vec::new();
    if length == 0 {
        return found;
    }
    let mut next = 0;
    for (start, _) in text.char_indices() {
        if start < next {
            continue;
        }
        let end = text[start..]
            .char_indices()
            .nth(length)
            .map(|(i, _)| start + i)
            .unwrap_or(text.len());
        if text[start..end].to_lowercase() == needle {
            found.push((start, end));
            next = end;
        }
    }
    found
}

/// A field as `_formatted` shows it: scalars as strings, and the words marked in
/// highlighted ones.
fn format(value: &Value, marked: bool, needle: &str, pre: &str, post: &str) -> Value {
    match value {
        Value::String(text) if marked => {
            let mut out = String::new();
            let mut at = 0;
            for (start, end) in occurrences(text, needle) {
                out.push_str(&text[at..start]);
                out.push_str(pre);
                out.push_str(&text[start..end]);
                out.push_str(post);
                at = end;
            }
            out.push_str(&text[at..]);
            json!(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| format(v, marked, needle, pre, post))
                .collect(),
        ),
        Value::Number(n) => json!(n.to_string()),
        Value::Bool(b) => json!(b.to_string()),
        other => other.clone(),
    }
}

async fn answer(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen::of(&method, &uri, &headers, &body);
    let line = seen.line();
    let auth = seen.auth.clone();
    let body = seen.body.clone().unwrap_or(Value::Null);
    sim.seen.lock().unwrap().push(seen);
    if sim.failing.load(Ordering::SeqCst) {
        sim.failed.lock().unwrap().push(line);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>503 Service Unavailable</h1>No server is available to handle this request.</body></html>",
        )
            .into_response();
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (status, reply) = match (auth.as_deref(), segments.as_slice()) {
        (_, ["health"]) if method == Method::GET => (200, reply_body("01-health.json")),
        (None, _) => (401, reply_body("17-search-no-key.json")),
        (Some(auth), _) if auth != format!("Bearer {KEY}") => {
            (403, reply_body("16-search-wrong-key.json"))
        }
        (_, segments) => match (method.as_str(), segments) {
            ("GET", ["indexes", uid]) => sim.get_index(uid),
            ("POST", ["indexes"]) => sim.create_index(&body),
            ("PATCH", ["indexes", uid, "settings"]) => sim.settings(uid, &body),
            ("POST", ["indexes", uid, "documents"]) => sim.add(uid, &body),
            ("POST", ["indexes", uid, "documents", "delete-batch"]) => sim.delete(uid, &body),
            ("DELETE", ["indexes", uid, "documents"]) => sim.clear(uid),
            ("GET", ["tasks", uid]) => sim.get_task(uid),
            ("POST", ["indexes", uid, "search"]) => match sim.search(uid, &body) {
                Ok(reply) => (200, reply),
                Err(failure) => failure,
            },
            ("POST", ["multi-search"]) => sim.multi_search(&body),
            _ => return no_reply(&line),
        },
    };
    (StatusCode::from_u16(status).unwrap(), axum::Json(reply)).into_response()
}

/// A stateful Meilisearch stand-in that can go away and come back on the same port.
struct Meilisim {
    addr: SocketAddr,
    url: String,
    sim: Arc<Sim>,
    running: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl Drop for Meilisim {
    fn drop(&mut self) {
        if let Some((_, server)) = self.running.take() {
            server.abort();
        }
    }
}

impl Meilisim {
    async fn start() -> Meilisim {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut meili = Meilisim {
            addr,
            url: format!("http://{addr}"),
            sim: Arc::default(),
            running: None,
        };
        meili.serve(listener);
        meili
    }

    fn serve(&mut self, listener: TcpListener) {
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(self.sim.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        self.running = Some((stop, server));
    }

    /// Stops listening and closes every connection, idle kept-alive ones included: a
    /// request is refused until [`Meilisim::restart`].
    async fn stop(&mut self) {
        let (stop, server) = self.running.take().expect("the stand-in runs");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the stand-in closes its connections within 5 s")
            .unwrap();
        assert!(
            tokio::net::TcpStream::connect(self.addr).await.is_err(),
            "nothing listens on {} any more",
            self.addr
        );
    }

    /// Listens on the same port again, with the indexes, documents and tasks it had, as
    /// a restarted Meilisearch has them on disk.
    async fn restart(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(1024).unwrap();
        self.serve(listener);
    }

    /// Loses every index and document, as a server that came back with an empty disk.
    fn forget(&self) {
        self.sim.indexes.lock().unwrap().clear();
    }

    /// Answers 503 for everything (true) or normally again (false).
    fn fail(&self, failing: bool) {
        self.sim.failing.store(failing, Ordering::SeqCst);
    }

    /// Refuses ticket documents whose messages hold `text`.
    fn poison(&self, text: &str) {
        *self.sim.poison.lock().unwrap() = Some(text.to_owned());
    }

    /// The stored ticket document of ticket `id`.
    fn ticket(&self, id: i64) -> Option<Value> {
        self.sim
            .indexes
            .lock()
            .unwrap()
            .get("tickets")
            .and_then(|index| index.docs.get(&format!("t-{id}")).cloned())
    }

    fn seen(&self) -> Vec<Seen> {
        self.sim.seen.lock().unwrap().clone()
    }

    /// The requests answered with 503.
    fn failed(&self) -> Vec<String> {
        self.sim.failed.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------
// the desk's side

/// A desk on `engine` searching in the stand-in.
async fn desk_on(meili: &Meilisim, engine: Engine) -> (TestApp, Api) {
    let app = TestApp::start_with(
        engine,
        &[
            ("SWITCHBOARD_MEILISEARCH_URL", &meili.url),
            ("SWITCHBOARD_MEILISEARCH_KEY", KEY),
        ],
    )
    .await;
    let api = app.token(Role::Admin).await;
    (app, api)
}

/// A message that was posted: its text and ticket.
#[derive(Debug, Clone)]
struct Posted {
    text: String,
    ticket: i64,
    number: i64,
}

/// A customer's email over the API channel, answering ticket number `thread` if given.
async fn post(api: &Api, email: &str, subject: &str, text: &str, thread: Option<i64>) -> Posted {
    let mut body = json!({
        "channel": "email",
        "external_id": format!("{email}-{text}"),
        "identity": {"kind": "email", "value": email},
        "name": email.split('@').next().unwrap(),
        "subject": subject,
        "text": text,
    });
    if let Some(number) = thread {
        body["thread"] = json!(number);
    }
    let (status, reply) = api.send("POST", "/api/v1/inbound", body).await;
    assert_eq!(status, 201, "{reply}");
    Posted {
        text: text.to_owned(),
        ticket: reply["ticket_id"].as_i64().unwrap(),
        number: reply["ticket_number"].as_i64().unwrap(),
    }
}

fn q(words: &str) -> String {
    format!(
        "q={}",
        url::form_urlencoded::byte_serialize(words.as_bytes()).collect::<String>()
    )
}

/// /readyz, which must answer.
async fn readiness(api: &Api) -> Value {
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until indexing has caught up: nothing left, the backend answering.
async fn caught_up(api: &Api) -> Value {
    eventually(
        "the search backlog to drain with the backend up",
        || async {
            let body = readiness(api).await;
            let search = &body["search"];
            (search["backlog"] == 0 && search["status"] == "ok").then_some(body)
        },
    )
    .await
}

/// Outbox rows with `status`, as admins list them.
async fn outbox(api: &Api, status: &str) -> Vec<Value> {
    let (code, body) = api
        .get(&format!("/api/v1/outbox?status={status}&limit=200"))
        .await;
    assert_eq!(code, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// Asserts that a search for the message's text finds its ticket.
async fn findable(api: &Api, posted: &Posted) {
    let (status, body) = api
        .get(&format!("/api/v1/search?{}", q(&posted.text)))
        .await;
    assert_eq!(status, 200, "{}: {body}", posted.text);
    assert_eq!(body["backend"], "meilisearch");
    let numbers: Vec<i64> = body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [posted.number], "{}: {body}", posted.text);
}

/// Asserts that the stand-in holds the message's text in its ticket's document.
fn stored(meili: &Meilisim, posted: &Posted) {
    let doc = meili
        .ticket(posted.ticket)
        .unwrap_or_else(|| panic!("no document of ticket {} in the stand-in", posted.ticket));
    assert!(
        doc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == &json!(posted.text)),
        "{}: {doc}",
        posted.text
    );
}

const CUSTOMERS: [&str; 4] = [
    "jana.berger@example.de",
    "tom.kraus@example.com",
    "li.wang@example.org",
    "ole.hansen@example.dk",
];

#[derive(Clone, Copy, Debug)]
enum Outage {
    /// Nothing listens on the port.
    Refused,
    /// Everything answers 503.
    Unavailable,
}

async fn outage(engine: Engine, how: Outage) {
    let mut meili = Meilisim::start().await;
    let (app, api) = desk_on(&meili, engine).await;

    // Before: two tickets, indexed.
    let mut before = Vec::new();
    for (i, email) in CUSTOMERS.iter().take(2).enumerate() {
        let text = format!("Vorher {i}: die Lieferung kam beschädigt an");
        before.push(post(&api, email, &format!("Lieferung {i}"), &text, None).await);
    }
    caught_up(&api).await;
    for posted in &before {
        findable(&api, posted).await;
    }

    // The backend goes away while messages arrive: a reply to the first ticket, and new
    // tickets and follow-ups from every customer.
    match how {
        Outage::Refused => meili.stop().await,
        Outage::Unavailable => meili.fail(true),
    }
    let down = Instant::now();
    let mut during = vec![
        post(
            &api,
            CUSTOMERS[0],
            "Re: Lieferung 0",
            "Während des Ausfalls: Ersatzlieferung bitte an die Packstation",
            Some(before[0].number),
        )
        .await,
    ];
    assert_eq!(
        during[0].ticket, before[0].ticket,
        "the reply joins its ticket"
    );
    for i in 1..20 {
        let email = CUSTOMERS[i % CUSTOMERS.len()];
        // Each customer's first message opens a ticket, the later ones answer it.
        let thread = during
            .iter()
            .skip(1)
            .find(|p| p.text.starts_with(&format!("Ausfall {email}")))
            .map(|p| p.number);
        let text = format!("Ausfall {email} Nachricht {i}: Kennung AX{i:02}Q");
        during.push(post(&api, email, &format!("Ausfall {email}"), &text, thread).await);
    }
    let tickets: std::collections::BTreeSet<i64> = during.iter().map(|p| p.ticket).collect();
    assert_eq!(
        tickets.len(),
        5,
        "a reply, four new tickets and their follow-ups"
    );

    // /readyz says search is unavailable and how much waits, without the backend's
    // address (the page is public).
    let ready = eventually("/readyz to report the outage", || async {
        let body = readiness(&api).await;
        let search = &body["search"];
        (search["status"] == "unavailable" && search["backlog"].as_u64().unwrap() > 0)
            .then_some(body)
    })
    .await;
    let search = &ready["search"];
    assert_eq!(search["backend"], "meilisearch");
    assert!(search["lag_seconds"].as_i64().unwrap() >= 0, "{ready}");
    assert!(
        !ready.to_string().contains(&meili.addr.to_string()),
        "{ready}"
    );

    // Search says so instead of finding nothing: words (tickets and contacts in one
    // request) and a filtered search (the tickets index alone).
    for query in [
        q(&during[5].text),
        q(&before[1].text),
        format!("{}&status=open", q("Ausfall")),
    ] {
        let (status, body) = api.get(&format!("/api/v1/search?{query}")).await;
        assert_eq!(status, 503, "{query}: {body}");
        assert_eq!(body["code"], "search_unavailable", "{body}");
        assert!(
            !body.to_string().contains(&meili.addr.to_string()),
            "{body}"
        );
    }

    // The indexer met the outage and keeps trying; the rows wait, pending, without
    // using up attempts, and admins see why in the rows it tried.
    let cause = match how {
        Outage::Refused => "cannot be reached",
        Outage::Unavailable => "HTTP 503 (no code)",
    };
    let waiting = eventually("the indexer to meet the outage", || async {
        let rows: Vec<Value> = outbox(&api, "pending")
            .await
            .into_iter()
            .filter(|r| r["kind"] == "index")
            .collect();
        rows.iter()
            .any(|r| r["last_error"].as_str().is_some_and(|e| e.contains(cause)))
            .then_some(rows)
    })
    .await;
    assert_eq!(waiting.len(), during.len(), "{waiting:?}");
    for row in &waiting {
        assert!(row["attempts"].as_i64().unwrap() <= 1, "{row}");
        if let Some(error) = row["last_error"].as_str() {
            assert!(
                error.starts_with("the search backend is unavailable"),
                "{row}"
            );
        }
    }
    if let Outage::Refused = how {
        // Nothing to count on a closed port: stay down until the oldest row has waited
        // past the indexer's first retry (after 1 s).
        eventually("the outage to outlast a retry", || async {
            let lag = readiness(&api).await["search"]["lag_seconds"].as_i64();
            (lag >= Some(2)).then_some(())
        })
        .await;
    }
    if let Outage::Unavailable = how {
        eventually("the indexer to try again", || async {
            let indexer: Vec<String> = meili
                .failed()
                .into_iter()
                .filter(|l| l.contains(" /indexes/") && !l.ends_with("/search"))
                .collect();
            (indexer.len() >= 2).then_some(())
        })
        .await;
    }
    assert_eq!(outbox(&api, "failed").await, Vec::<Value>::new());
    assert_eq!(readiness(&api).await["outbox_failed"], 0);
    // Nothing of it reached the backend.
    for posted in &during {
        assert!(
            meili
                .ticket(posted.ticket)
                .is_none_or(|doc| !doc["messages"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(posted.text))),
            "{posted:?}"
        );
    }

    // It comes back; indexing catches up by itself.
    let was_down = down.elapsed();
    match how {
        Outage::Refused => meili.restart().await,
        Outage::Unavailable => meili.fail(false),
    }
    let back = Instant::now();
    let ready = caught_up(&api).await;
    let catch_up = back.elapsed();
    eprintln!(
        "search outage ({how:?} on {engine:?}): down {:.1} s with {} messages waiting; \
         caught up {:.1} s after the backend came back",
        was_down.as_secs_f64(),
        during.len(),
        catch_up.as_secs_f64()
    );
    assert_eq!(ready["outbox_failed"], 0, "{ready}");
    assert_eq!(outbox(&api, "failed").await, Vec::<Value>::new());

    // Every message is in the backend and findable, the old ones too.
    for posted in during.iter().chain(&before) {
        stored(&meili, posted);
        findable(&api, posted).await;
    }
    // The reply is in its ticket's document with the message it answers.
    let doc = meili.ticket(before[0].ticket).unwrap();
    assert_eq!(
        doc["messages"],
        json!([before[0].text, during[0].text]),
        "{doc}"
    );
    // Each ticket was sent whole: one document per ticket.
    let docs = meili.sim.indexes.lock().unwrap()["tickets"].docs.len();
    assert_eq!(docs, 6);

    app.stop().await;
}

on_both! {
    async fn messages_sent_while_meilisearch_is_gone_become_findable(engine: Engine) {
        outage(engine, Outage::Refused).await;
    }
}

on_both! {
    async fn messages_sent_while_meilisearch_answers_503_become_findable(engine: Engine) {
        outage(engine, Outage::Unavailable).await;
    }
}

on_both! {
    async fn a_document_meilisearch_refuses_fails_only_its_own_row(engine: Engine) {
        let meili = Meilisim::start().await;
        let (app, api) = desk_on(&meili, engine).await;
        let poison = "Dieses Dokument lehnt der Server ab";
        meili.poison(poison);

        let mut posted = vec![
            post(&api, CUSTOMERS[0], "Rechnung 0", "Frage 0: wann kommt die Rechnung", None).await,
        ];
        caught_up(&api).await;
        stored(&meili, &posted[0]);

        // The rows wait out an outage, so they come back as one batch.
        meili.fail(true);
        for (i, email) in CUSTOMERS.iter().enumerate().skip(1) {
            let text = format!("Frage {i}: wann kommt die Rechnung");
            posted.push(post(&api, email, &format!("Rechnung {i}"), &text, None).await);
        }
        let refused = post(&api, "mara.vogt@example.de", "Abgelehnt", poison, None).await;
        eventually("the rows to wait for the backend", || async {
            let search = readiness(&api).await["search"].clone();
            let tried = meili
                .failed()
                .iter()
                .any(|l| l.starts_with("POST /indexes/tickets/documents"));
            (tried && search["status"] == "unavailable" && search["backlog"] == 4).then_some(())
        })
        .await;
        meili.fail(false);
        caught_up(&api).await;

        // The batch of four was refused, then each row went on its own.
        let adds: Vec<usize> = meili
            .seen()
            .iter()
            .filter(|s| s.line() == "POST /indexes/tickets/documents?primaryKey=id")
            .map(|s| s.body.as_ref().unwrap().as_array().unwrap().len())
            .collect();
        assert!(adds.len() >= 5, "{adds:?}");
        assert_eq!(adds[adds.len() - 5..], [4, 1, 1, 1, 1], "{adds:?}");

        // Only the refused document's row failed, saying why.
        let failed = outbox(&api, "failed").await;
        assert_eq!(failed.len(), 1, "{failed:?}");
        let row = &failed[0];
        assert_eq!(row["kind"], "index");
        assert_eq!(row["payload"], json!({"ticket_id": refused.ticket}));
        let reason = row["last_error"].as_str().unwrap();
        assert!(reason.contains("invalid_document_id"), "{reason}");
        assert!(reason.contains(&format!("t-{}", refused.ticket)), "{reason}");
        let ready = readiness(&api).await;
        assert_eq!(ready["outbox_failed"], 1, "{ready}");
        assert_eq!(ready["search"]["status"], "ok", "{ready}");

        // The others are indexed; the refused one is not in the backend.
        for p in &posted {
            stored(&meili, p);
            findable(&api, p).await;
        }
        assert!(meili.ticket(refused.ticket).is_none());
        let (status, body) = api.get(&format!("/api/v1/search?{}", q(poison))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tickets"], json!([]), "{body}");

        app.stop().await;
    }
}

on_both! {
    async fn a_meilisearch_that_comes_back_empty_is_filled_again(engine: Engine) {
        let mut meili = Meilisim::start().await;
        let (app, api) = desk_on(&meili, engine).await;
        let mut posted = Vec::new();
        for (i, email) in CUSTOMERS.iter().take(2).enumerate() {
            let text = format!("Vorher {i}: der Wasserkocher ist undicht");
            posted.push(post(&api, email, &format!("Wasserkocher {i}"), &text, None).await);
        }
        caught_up(&api).await;

        // The server goes away and comes back without its data.
        meili.stop().await;
        posted.push(post(&api, CUSTOMERS[2], "Wasserkocher 2", "Während: der Deckel klemmt", None).await);
        // The indexer tried to write and found the server gone.
        eventually("the indexer to find the server gone", || async {
            outbox(&api, "pending")
                .await
                .iter()
                .any(|row| row["last_error"].is_string())
                .then_some(())
        })
        .await;
        meili.forget();
        meili.restart().await;

        // The indexes are created again with their settings and filled from the store.
        caught_up(&api).await;
        eventually("the older tickets to be back in the index", || async {
            posted.iter().all(|p| meili.ticket(p.ticket).is_some()).then_some(())
        })
        .await;
        for p in &posted {
            stored(&meili, p);
            findable(&api, p).await;
        }
        assert!(
            meili.seen().iter().any(|r| r.line().starts_with("PATCH /indexes/tickets/settings")),
            "the settings are applied again"
        );
        app.stop().await;
    }
}
