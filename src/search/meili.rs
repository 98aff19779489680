//! The Meilisearch backend, through meilisearch-sdk: for production and for several
//! nodes sharing one index.
//!
//! Two indexes, `{prefix}tickets` and `{prefix}contacts`, with primary key `id`; a
//! ticket's document id is `t-{id}` and a contact's `c-{id}`. Every write is a
//! Meilisearch task: [`SearchIndex::apply`] returns once its tasks finished, so what it
//! wrote is searchable.
//!
//! Requests go through `Http`, the SDK's [`HttpClient`] over a reqwest client with
//! timeouts (the SDK's own client cannot take a configured reqwest client), which also
//! keeps the HTTP status and Meilisearch's own error code of a refused request, so every
//! error says what happened.

use std::time::Duration;

use async_trait::async_trait;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::errors::{Error, ErrorType, MeilisearchError};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::request::{HttpClient, Method, parse_response};
use meilisearch_sdk::search::{SearchQuery, SearchResult, SearchResults, Selectors};
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::{FailedTask, Task};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::query::CONTACT_LIMIT;
use super::{
    Changes, ContactDoc, ContactHit, Filter, Found, Range, Search, SearchError, SearchIndex,
    Snippet, Sort, TicketDoc, TicketHit,
};

/// How often a task's state is asked for while waiting for it.
const TASK_POLL: Duration = Duration::from_millis(50);
const PRE: &str = "<mark>";
const POST: &str = "</mark>";
/// Words around a match in a message excerpt.
const CROP_WORDS: usize = 20;

/// What ticket documents are searched in, filtered and sorted by (the order of the
/// searchable attributes is their weight).
const TICKET_SEARCHABLE: &[&str] = &[
    "subject",
    "messages",
    "contact_name",
    "identities",
    "order_numbers",
    "tags",
];
const TICKET_FILTERABLE: &[&str] = &[
    "status",
    "channel",
    "assignee_id",
    "team_id",
    "kind",
    "priority",
    "created_at",
    "updated_at",
];
const TICKET_SORTABLE: &[&str] = &["created_at", "updated_at"];
const CONTACT_SEARCHABLE: &[&str] = &[
    "name",
    "identities",
    "order_numbers",
    "tags",
    "organization",
];
const CONTACT_SORTABLE: &[&str] = &["updated_at"];

/// The ticket fields a hit needs: the message texts (up to 64 KiB a ticket) come back
/// only as cropped excerpts in `_formatted`, which Meilisearch builds from all
/// displayed fields whatever is retrieved.
const TICKET_RETRIEVED: &[&str] = &[
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
    "updated_at",
];
const TICKET_HIGHLIGHTED: &[&str] = &["subject", "messages"];
const TICKET_CROPPED: &[(&str, Option<usize>)] = &[("messages", None)];
const CONTACT_HIGHLIGHTED: &[&str] = &["name"];

/// How long the backend waits for Meilisearch before calling it unavailable.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// For a whole request, from sending to the last byte of the reply.
    pub request: Duration,
    /// For the tasks of one operation to finish.
    pub task: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(10),
            task: Duration::from_secs(60),
        }
    }
}

/// A Meilisearch server's `tickets` and `contacts` indexes.
pub struct Meili {
    client: Client<Http>,
    http: Http,
    /// The server's base URL without a trailing `/`, as the SDK wants it.
    host: String,
    /// The base URL without credentials, for messages.
    shown: String,
    tickets: Index<Http>,
    contacts: Index<Http>,
    timeouts: Timeouts,
}

impl Meili {
    /// The indexes `{prefix}tickets` and `{prefix}contacts` on the server at `url`, with
    /// the default timeouts.
    pub fn new(url: &str, key: Option<&str>, prefix: &str) -> anyhow::Result<Meili> {
        Meili::with_timeouts(url, key, prefix, Timeouts::default())
    }

    /// Like [`Meili::new`] with other timeouts: for tests and slow networks.
    pub fn with_timeouts(
        url: &str,
        key: Option<&str>,
        prefix: &str,
        timeouts: Timeouts,
    ) -> anyhow::Result<Meili> {
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("the Meilisearch URL {url:?} is not a URL: {e}"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "the Meilisearch URL {url:?} must start with http:// or https://"
        );
        anyhow::ensure!(
            prefix.len() <= 64
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "the Meilisearch index prefix {prefix:?} may hold only letters, digits, - and _ (at most 64)"
        );
        let host = url.trim_end_matches('/').to_owned();
        let mut shown = parsed;
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        let shown = shown.as_str().trim_end_matches('/').to_owned();
        let key = key.filter(|k| !k.is_empty());
        let http = Http::new(key, &timeouts)?;
        let client = Client::new_with_client(host.clone(), key, http.clone());
        Ok(Meili {
            tickets: client.index(format!("{prefix}tickets")),
            contacts: client.index(format!("{prefix}contacts")),
            client,
            http,
            host,
            shown,
            timeouts,
        })
    }

    /// Creates an index unless it exists; another node creating it at the same time is
    /// fine.
    /// Creates the index when missing; true when this call created it (it is empty).
    async fn ensure_index(&self, index: &Index<Http>) -> Result<bool, SearchError> {
        let uid = index.uid.as_str();
        match self.client.get_raw_index(uid).await {
            Ok(_) => return Ok(false),
            Err(e) if refusal_code(&e) == Some("index_not_found") => {}
            Err(e) => return Err(self.failure(e, &format!("looking up index `{uid}`"))),
        }
        let doing = format!("creating index `{uid}`");
        let task = self
            .client
            .create_index(uid, Some("id"))
            .await
            .map_err(|e| self.failure(e, &doing))?;
        match self.wait(&[task], &doing).await?.pop() {
            Some(Task::Failed { content }) if code(&content.error) != "index_already_exists" => {
                Err(task_failed(&content, &doing))
            }
            // Another node created it at the same moment: that node fills it.
            Some(Task::Failed { .. }) => Ok(false),
            _ => Ok(true),
        }
    }

    /// Applies an index's settings: only the ones given, so settings an operator tuned
    /// on the server (typo word sizes, synonyms) stay as they are.
    async fn apply_settings(
        &self,
        index: &Index<Http>,
        settings: Value,
    ) -> Result<(), SearchError> {
        let doing = format!("applying the settings of index `{}`", index.uid);
        // The SDK's `Settings` would also send `null` for every typo-tolerance field it
        // has, resetting those to Meilisearch's defaults: send exactly ours.
        let task: TaskInfo = self
            .http
            .request::<(), Value, TaskInfo>(
                &format!("{}/indexes/{}/settings", self.host, index.uid),
                Method::Patch {
                    query: (),
                    body: settings,
                },
                202,
            )
            .await
            .map_err(|e| self.failure(e, &doing))?;
        self.succeeded(&[task], &doing).await
    }

    /// Waits for every task to finish (succeed or fail), polling its state, and gives up
    /// when they take longer than the task timeout in all.
    async fn wait(&self, tasks: &[TaskInfo], doing: &str) -> Result<Vec<Task>, SearchError> {
        let deadline = tokio::time::Instant::now() + self.timeouts.task;
        let mut done = Vec::with_capacity(tasks.len());
        for info in tasks {
            loop {
                let task =
                    self.client.get_task(info).await.map_err(|e| {
                        self.failure(e, &format!("{doing} (task {})", info.task_uid))
                    })?;
                if matches!(task, Task::Succeeded { .. } | Task::Failed { .. }) {
                    done.push(task);
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(SearchError::Unavailable(format!(
                        "Meilisearch at {} did not finish task {} ({doing}) within {} s",
                        self.shown,
                        info.task_uid,
                        self.timeouts.task.as_secs_f64()
                    )));
                }
                tokio::time::sleep(TASK_POLL).await;
            }
        }
        Ok(done)
    }

    /// Waits for the tasks; a failed one is an error.
    async fn succeeded(&self, tasks: &[TaskInfo], doing: &str) -> Result<(), SearchError> {
        for task in self.wait(tasks, doing).await? {
            if let Task::Failed { content } = task {
                return Err(task_failed(&content, doing));
            }
        }
        Ok(())
    }

    /// The search of the tickets matching `search`, with matched words marked.
    fn ticket_query<'a>(
        &'a self,
        search: &'a Search,
        filter: &'a Option<String>,
    ) -> SearchQuery<'a, Http> {
        let mut query = self.tickets.search();
        query
            .with_query(&search.text)
            .with_limit(search.limit)
            .with_offset(search.offset)
            .with_attributes_to_retrieve(Selectors::Some(TICKET_RETRIEVED))
            .with_attributes_to_highlight(Selectors::Some(TICKET_HIGHLIGHTED))
            .with_attributes_to_crop(Selectors::Some(TICKET_CROPPED))
            .with_crop_length(CROP_WORDS)
            .with_highlight_pre_tag(PRE)
            .with_highlight_post_tag(POST);
        if let Some(filter) = filter {
            query.with_filter(filter);
        }
        match search.order() {
            Sort::Relevance => {}
            Sort::Newest => {
                query.with_sort(&["updated_at:desc"]);
            }
            Sort::Oldest => {
                query.with_sort(&["updated_at:asc"]);
            }
        }
        query.build()
    }

    /// The search of the contacts matching `search`'s words.
    fn contact_query<'a>(&'a self, search: &'a Search) -> SearchQuery<'a, Http> {
        self.contacts
            .search()
            .with_query(&search.text)
            .with_limit(CONTACT_LIMIT)
            .with_attributes_to_highlight(Selectors::Some(CONTACT_HIGHLIGHTED))
            .with_highlight_pre_tag(PRE)
            .with_highlight_post_tag(POST)
            .build()
    }

    /// What a failed request means for the caller.
    fn failure(&self, error: Error, doing: &str) -> SearchError {
        failure(error, doing, &self.shown, &self.timeouts)
    }
}

#[async_trait]
impl SearchIndex for Meili {
    fn backend(&self) -> &'static str {
        "meilisearch"
    }

    async fn prepare(&self) -> Result<bool, SearchError> {
        let created = self.ensure_index(&self.tickets).await?;
        self.apply_settings(
            &self.tickets,
            json!({
                "searchableAttributes": TICKET_SEARCHABLE,
                "filterableAttributes": TICKET_FILTERABLE,
                "sortableAttributes": TICKET_SORTABLE,
                // A phone or order number one digit off is someone else's.
                "typoTolerance": {"enabled": true, "disableOnNumbers": true},
            }),
        )
        .await?;
        let created = self.ensure_index(&self.contacts).await? || created;
        self.apply_settings(
            &self.contacts,
            json!({
                "searchableAttributes": CONTACT_SEARCHABLE,
                "sortableAttributes": CONTACT_SORTABLE,
                "typoTolerance": {"enabled": true, "disableOnNumbers": true},
            }),
        )
        .await?;
        Ok(created)
    }

    async fn apply(&self, changes: Changes) -> Result<(), SearchError> {
        let mut tasks = Vec::new();
        let mut doing = Vec::new();
        if !changes.tickets.is_empty() {
            let what = format!(
                "adding {} to `{}`",
                documents(changes.tickets.len()),
                self.tickets.uid
            );
            let docs: Vec<Value> = changes.tickets.iter().map(ticket_wire).collect();
            let task = self.tickets.add_or_replace(&docs, Some("id")).await;
            tasks.push(task.map_err(|e| self.failure(e, &what))?);
            doing.push(what);
        }
        if !changes.contacts.is_empty() {
            let what = format!(
                "adding {} to `{}`",
                documents(changes.contacts.len()),
                self.contacts.uid
            );
            let docs: Vec<Value> = changes.contacts.iter().map(contact_wire).collect();
            let task = self.contacts.add_or_replace(&docs, Some("id")).await;
            tasks.push(task.map_err(|e| self.failure(e, &what))?);
            doing.push(what);
        }
        if !changes.deleted_tickets.is_empty() {
            let what = format!(
                "deleting {} from `{}`",
                documents(changes.deleted_tickets.len()),
                self.tickets.uid
            );
            let ids: Vec<String> = changes
                .deleted_tickets
                .iter()
                .map(|id| ticket_id(*id))
                .collect();
            let task = self.tickets.delete_documents(&ids).await;
            tasks.push(task.map_err(|e| self.failure(e, &what))?);
            doing.push(what);
        }
        if !changes.deleted_contacts.is_empty() {
            let what = format!(
                "deleting {} from `{}`",
                documents(changes.deleted_contacts.len()),
                self.contacts.uid
            );
            let ids: Vec<String> = changes
                .deleted_contacts
                .iter()
                .map(|id| contact_id(*id))
                .collect();
            let task = self.contacts.delete_documents(&ids).await;
            tasks.push(task.map_err(|e| self.failure(e, &what))?);
            doing.push(what);
        }
        if tasks.is_empty() {
            return Ok(());
        }
        let done = self.wait(&tasks, &doing.join(", ")).await?;
        for (task, what) in done.into_iter().zip(&doing) {
            if let Task::Failed { content } = task {
                return Err(task_failed(&content, what));
            }
        }
        Ok(())
    }

    async fn clear(&self) -> Result<(), SearchError> {
        let mut tasks = Vec::new();
        for index in [&self.tickets, &self.contacts] {
            let doing = format!("deleting all documents of `{}`", index.uid);
            tasks.push(
                index
                    .delete_all_documents()
                    .await
                    .map_err(|e| self.failure(e, &doing))?,
            );
        }
        self.succeeded(&tasks, "deleting all documents").await
    }

    async fn search(&self, search: &Search) -> Result<Found, SearchError> {
        let filter = filter(&search.filter);
        let tickets = self.ticket_query(search, &filter);
        let mut found = Found::default();
        if search.wants_contacts() {
            // Tickets and contacts in one round trip.
            let doing = format!(
                "searching `{}` and `{}`",
                self.tickets.uid, self.contacts.uid
            );
            let mut multi = self.client.multi_search();
            multi
                .with_search_query(tickets)
                .with_search_query(self.contact_query(search));
            let mut results = multi
                .execute::<Value>()
                .await
                .map_err(|e| self.failure(e, &doing))?
                .results
                .into_iter();
            let (Some(tickets), Some(contacts)) = (results.next(), results.next()) else {
                return Err(SearchError::Unavailable(format!(
                    "Meilisearch at {} answered {doing} without a result for each index",
                    self.shown
                )));
            };
            found.ticket_total = total(&tickets);
            found.tickets = hits(tickets.hits, ticket_hit);
            found.contacts = hits(contacts.hits, contact_hit);
        } else {
            let doing = format!("searching `{}`", self.tickets.uid);
            let results: SearchResults<Value> = tickets
                .execute()
                .await
                .map_err(|e| self.failure(e, &doing))?;
            found.ticket_total = total(&results);
            found.tickets = hits(results.hits, ticket_hit);
        }
        Ok(found)
    }

    async fn health(&self) -> Result<(), SearchError> {
        self.client
            .health()
            .await
            .map(|_| ())
            .map_err(|e| self.failure(e, "checking health"))
    }
}

/// A ticket's document id.
fn ticket_id(id: i64) -> String {
    format!("t-{id}")
}

/// A contact's document id.
fn contact_id(id: i64) -> String {
    format!("c-{id}")
}

/// A ticket document as sent: the [`TicketDoc`] with its document id.
fn ticket_wire(doc: &TicketDoc) -> Value {
    with_id(serde_json::to_value(doc), ticket_id(doc.id))
}

/// A contact document as sent: the [`ContactDoc`] with its document id.
fn contact_wire(doc: &ContactDoc) -> Value {
    with_id(serde_json::to_value(doc), contact_id(doc.id))
}

fn with_id(doc: serde_json::Result<Value>, id: String) -> Value {
    let mut doc = doc.expect("a search document serializes");
    doc["id"] = Value::String(id);
    doc
}

/// The Meilisearch filter expression for a search's ticket filters; `None` when there
/// is nothing to filter by.
fn filter(f: &Filter) -> Option<String> {
    let mut parts = Vec::new();
    one_of(&mut parts, "status", f.status.iter().map(|s| s.as_str()));
    one_of(&mut parts, "channel", f.channel.iter().map(|c| c.as_str()));
    one_of(&mut parts, "kind", f.kind.iter().map(|k| k.as_str()));
    one_of(
        &mut parts,
        "priority",
        f.priority.iter().map(|p| p.as_str()),
    );
    for (field, wanted) in [("assignee_id", f.assignee), ("team_id", f.team)] {
        match wanted {
            Some(Some(id)) => parts.push(format!("{field} = {id}")),
            Some(None) => parts.push(format!("{field} IS NULL")),
            None => {}
        }
    }
    between(&mut parts, "created_at", f.created);
    between(&mut parts, "updated_at", f.updated);
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

fn one_of<'a>(parts: &mut Vec<String>, field: &str, values: impl Iterator<Item = &'a str>) {
    let values: Vec<String> = values.map(quote).collect();
    if !values.is_empty() {
        parts.push(format!("{field} IN [{}]", values.join(", ")));
    }
}

fn between(parts: &mut Vec<String>, field: &str, range: Range) {
    if let Some(from) = range.from {
        parts.push(format!("{field} >= {from}"));
    }
    if let Some(to) = range.to {
        parts.push(format!("{field} <= {to}"));
    }
}

/// A string value in a filter expression: double-quoted, with `"` and `\` escaped.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// How many tickets match in all.
fn total<T>(results: &SearchResults<T>) -> u64 {
    results
        .estimated_total_hits
        .or(results.total_hits)
        .unwrap_or(results.hits.len()) as u64
}

/// The hits that read as ours; one that does not (a document some other program put
/// into the index) is logged and skipped rather than failing the whole search.
fn hits<T>(hits: Vec<SearchResult<Value>>, read: fn(SearchResult<Value>) -> Option<T>) -> Vec<T> {
    hits.into_iter()
        .filter_map(|hit| {
            let id = hit.result.get("id").cloned();
            let read = read(hit);
            if read.is_none() {
                tracing::warn!(
                    ?id,
                    "skipping a Meilisearch hit that is not a Switchboard document"
                );
            }
            read
        })
        .collect()
}

/// The ticket fields of a hit.
#[derive(Deserialize)]
struct TicketFields {
    id: String,
    number: i64,
    subject: String,
    /// Absent from documents written before contact ids were indexed.
    #[serde(default)]
    contact_id: i64,
    #[serde(default)]
    contact_name: String,
    status: String,
    channel: String,
    priority: String,
    kind: String,
    assignee_id: Option<i64>,
    team_id: Option<i64>,
    updated_at: i64,
}

/// The contact fields of a hit.
#[derive(Deserialize)]
struct ContactFields {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    identities: Vec<String>,
    #[serde(default)]
    order_numbers: Vec<String>,
    organization: Option<String>,
}

fn ticket_hit(hit: SearchResult<Value>) -> Option<TicketHit> {
    let fields: TicketFields = serde_json::from_value(hit.result).ok()?;
    let id = fields.id.strip_prefix("t-")?.parse().ok()?;
    let formatted = hit.formatted_result.unwrap_or_default();
    let subject = match formatted.get("subject") {
        Some(Value::String(s)) => Snippet::from_tagged(s, PRE, POST),
        _ => Snippet::plain(&fields.subject),
    };
    Some(TicketHit {
        id,
        number: fields.number,
        subject,
        snippet: excerpt(formatted.get("messages")),
        status: fields.status,
        channel: fields.channel,
        priority: fields.priority,
        kind: fields.kind,
        assignee_id: fields.assignee_id,
        team_id: fields.team_id,
        contact_id: fields.contact_id,
        contact_name: fields.contact_name,
        updated_at: fields.updated_at,
    })
}

/// The cropped message with the most marked words (the first of equals), if any
/// message matched.
fn excerpt(messages: Option<&Value>) -> Option<Snippet> {
    let texts: Vec<&str> = match messages? {
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => vec![s.as_str()],
        _ => return None,
    };
    let mut best: Option<(usize, Snippet)> = None;
    for text in texts {
        let snippet = Snippet::from_tagged(text, PRE, POST);
        let marks = snippet.0.iter().filter(|p| p.mark).count();
        if marks > 0 && best.as_ref().is_none_or(|(most, _)| marks > *most) {
            best = Some((marks, snippet));
        }
    }
    best.map(|(_, s)| s)
}

fn contact_hit(hit: SearchResult<Value>) -> Option<ContactHit> {
    let fields: ContactFields = serde_json::from_value(hit.result).ok()?;
    let id = fields.id.strip_prefix("c-")?.parse().ok()?;
    let name = match hit.formatted_result.as_ref().and_then(|f| f.get("name")) {
        Some(Value::String(s)) => Snippet::from_tagged(s, PRE, POST),
        _ => Snippet::plain(&fields.name),
    };
    Some(ContactHit {
        id,
        name,
        identities: fields.identities,
        order_numbers: fields.order_numbers,
        organization: fields.organization,
    })
}

/// Meilisearch's code of a failed task's error. The SDK reads codes it does not know as
/// `unknown`; the documentation link still ends with the code.
fn code(error: &MeilisearchError) -> String {
    let known = error.error_code.to_string();
    if known != "unknown" {
        return known;
    }
    match error.error_link.rsplit_once('#') {
        Some((_, code)) if !code.is_empty() => code.to_owned(),
        _ => known,
    }
}

/// What a failed task means: the server's trouble is worth retrying, anything else
/// was refused.
fn task_failed(task: &FailedTask, doing: &str) -> SearchError {
    let error = &task.error;
    let code = code(error);
    let message = format!(
        "Meilisearch task {} failed while {doing}: {code}: {}",
        task.task.uid, error.error_message
    );
    if code == "index_not_found" {
        return SearchError::Unavailable(format!("{message} ({REINDEX_HINT})"));
    }
    match error.error_type {
        ErrorType::Internal | ErrorType::Unknown => SearchError::Unavailable(message),
        _ => SearchError::Rejected(message),
    }
}

/// "1 document", "3 documents".
fn documents(n: usize) -> String {
    if n == 1 {
        "1 document".to_owned()
    } else {
        format!("{n} documents")
    }
}

const REINDEX_HINT: &str =
    "restart the server to create the indexes, or run `switchboard reindex` to rebuild them";

/// The Meilisearch error code of a refused request, if it was one.
fn refusal_code(error: &Error) -> Option<&str> {
    match error {
        Error::Other(e) => e.downcast_ref::<Refusal>()?.code.as_deref(),
        _ => None,
    }
}

/// Maps an SDK error to what it means for the caller, naming what happened.
fn failure(error: Error, doing: &str, host: &str, timeouts: &Timeouts) -> SearchError {
    match error {
        Error::Other(e) => match e.downcast::<Refusal>() {
            Ok(refusal) => refusal.meaning(doing),
            Err(e) => SearchError::Unavailable(format!(
                "Meilisearch at {host} could not be asked ({doing}): {}",
                chain(&*e)
            )),
        },
        Error::HttpError(e) if e.is_connect() => SearchError::Unavailable(format!(
            "Meilisearch at {host} cannot be reached ({doing}): {}",
            chain(&e.without_url())
        )),
        Error::HttpError(e) if e.is_timeout() => SearchError::Unavailable(format!(
            "Meilisearch at {host} did not answer within {} s ({doing}): {}",
            timeouts.request.as_secs_f64(),
            chain(&e.without_url())
        )),
        Error::HttpError(e) => SearchError::Unavailable(format!(
            "Meilisearch at {host} failed to answer ({doing}): {}",
            chain(&e.without_url())
        )),
        Error::ParseError(e) => SearchError::Unavailable(format!(
            "Meilisearch at {host} sent a reply this version cannot read ({doing}): {e}"
        )),
        // Our client never yields these for a refused request, but the SDK may.
        Error::Meilisearch(e) => {
            let code = code(&e);
            let message = format!(
                "Meilisearch answered {code} while {doing}: {}",
                e.error_message
            );
            match e.error_type {
                ErrorType::Auth => SearchError::Unauthorized(message),
                ErrorType::InvalidRequest if code != "index_not_found" => {
                    SearchError::Rejected(message)
                }
                _ => SearchError::Unavailable(message),
            }
        }
        e => SearchError::Unavailable(format!("Meilisearch at {host} ({doing}): {e}")),
    }
}

/// An error with its causes, which say the useful part ("connection refused").
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

/// A reply other than the one expected, with Meilisearch's own code and message when
/// the body is a Meilisearch error.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status} {}: {message}", .code.as_deref().unwrap_or("(no code)"))]
struct Refusal {
    status: u16,
    code: Option<String>,
    message: String,
}

impl Refusal {
    fn read(status: u16, body: &str) -> Refusal {
        #[derive(Deserialize)]
        struct Body {
            code: Option<String>,
            message: Option<String>,
        }
        match serde_json::from_str::<Body>(body) {
            Ok(Body {
                code,
                message: Some(message),
            }) => Refusal {
                status,
                code,
                message,
            },
            Ok(Body {
                code,
                message: None,
            }) => Refusal {
                status,
                code,
                message: String::new(),
            },
            // A proxy's page, or nothing.
            Err(_) => Refusal {
                status,
                code: None,
                message: body.trim().chars().take(200).collect(),
            },
        }
    }

    /// What the refusal means: auth problems need the operator, server trouble is worth
    /// retrying, and anything else was refused for good.
    fn meaning(&self, doing: &str) -> SearchError {
        let message = format!(
            "Meilisearch answered HTTP {} {} while {doing}: {}",
            self.status,
            self.code.as_deref().unwrap_or("(no code)"),
            self.message
        );
        let code = self.code.as_deref().unwrap_or_default();
        if code == "index_not_found" {
            return SearchError::Unavailable(format!("{message} ({REINDEX_HINT})"));
        }
        if matches!(self.status, 401 | 403)
            || matches!(code, "missing_authorization_header" | "invalid_api_key")
        {
            return SearchError::Unauthorized(message);
        }
        match self.status {
            408 | 429 => SearchError::Unavailable(message),
            400..=499 => SearchError::Rejected(message),
            _ => SearchError::Unavailable(message),
        }
    }
}

/// The SDK's [`HttpClient`] over a reqwest client with connect and request timeouts.
#[derive(Clone, Debug)]
struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new(key: Option<&str>, timeouts: &Timeouts) -> anyhow::Result<Http> {
        use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                anyhow::anyhow!("the Meilisearch key holds characters a header cannot")
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .build()?;
        Ok(Http { client })
    }

    async fn send<Query: Serialize, Output: DeserializeOwned>(
        &self,
        url: &str,
        verb: reqwest::Method,
        query: &Query,
        body: Option<(Vec<u8>, String)>,
        expected_status_code: u16,
    ) -> Result<Output, Error> {
        let url = with_query(url, query)?;
        let mut request = self.client.request(verb, &url);
        if let Some((body, content_type)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != expected_status_code {
            return Err(Error::Other(Box::new(Refusal::read(status, &text))));
        }
        let text = if text.is_empty() {
            "null"
        } else {
            text.as_str()
        };
        parse_response(status, expected_status_code, text, url)
    }
}

/// `url` with `query` appended.
fn with_query<Query: Serialize>(url: &str, query: &Query) -> Result<String, Error> {
    let query = serde_urlencoded::to_string(query).map_err(|e| Error::Other(Box::new(e)))?;
    Ok(match (query.is_empty(), url.contains('?')) {
        (true, _) => url.to_owned(),
        (false, false) => format!("{url}?{query}"),
        (false, true) => format!("{url}&{query}"),
    })
}

fn verb<Q, B>(method: &Method<Q, B>) -> reqwest::Method {
    match method {
        Method::Get { .. } => reqwest::Method::GET,
        Method::Post { .. } => reqwest::Method::POST,
        Method::Patch { .. } => reqwest::Method::PATCH,
        Method::Put { .. } => reqwest::Method::PUT,
        Method::Delete { .. } => reqwest::Method::DELETE,
    }
}

#[async_trait]
impl HttpClient for Http {
    async fn request<Query, Body, Output>(
        &self,
        url: &str,
        method: Method<Query, Body>,
        expected_status_code: u16,
    ) -> Result<Output, Error>
    where
        Query: Serialize + Send + Sync,
        Body: Serialize + Send + Sync,
        Output: DeserializeOwned + 'static + Send,
    {
        let body = match method.body() {
            Some(body) => Some((serde_json::to_vec(body)?, "application/json".to_owned())),
            None => None,
        };
        self.send(
            url,
            verb(&method),
            method.query(),
            body,
            expected_status_code,
        )
        .await
    }

    async fn stream_request<
        Query: Serialize + Send + Sync,
        Body: futures_util::io::AsyncRead + Send + Sync + 'static,
        Output: DeserializeOwned + 'static,
    >(
        &self,
        url: &str,
        method: Method<Query, Body>,
        content_type: &str,
        expected_status_code: u16,
    ) -> Result<Output, Error> {
        use futures_util::io::AsyncReadExt;
        let verb = verb(&method);
        // The query goes into the URL now: the body is read from `method` below.
        let url = with_query(url, method.query())?;
        let body = match method.into_body() {
            Some(body) => {
                let mut bytes = Vec::new();
                std::pin::pin!(body)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| Error::Other(Box::new(e)))?;
                Some((bytes, content_type.to_owned()))
            }
            None => None,
        };
        self.send(&url, verb, &(), body, expected_status_code).await
    }

    /// Lets the SDK sleep on tokio; otherwise it spawns a thread for every sleep.
    fn is_tokio(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::{Channel, Status};

    #[test]
    fn filter_quotes_values_and_joins_every_condition() {
        assert_eq!(filter(&Filter::default()), None);
        let f = Filter {
            status: vec![Status::Open, Status::Pending],
            channel: vec![Channel::Email],
            assignee: Some(None),
            team: Some(Some(3)),
            created: Range {
                from: Some(10),
                to: None,
            },
            updated: Range {
                from: Some(1),
                to: Some(2),
            },
            ..Filter::default()
        };
        assert_eq!(
            filter(&f).unwrap(),
            r#"status IN ["open", "pending"] AND channel IN ["email"] AND assignee_id IS NULL AND team_id = 3 AND created_at >= 10 AND updated_at >= 1 AND updated_at <= 2"#
        );
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }

    #[test]
    fn excerpt_is_the_message_with_most_marks() {
        let messages = json!([
            "no match",
            "one <mark>a</mark>",
            "<mark>a</mark> and <mark>b</mark>",
            "<mark>c</mark> <mark>d</mark>"
        ]);
        assert_eq!(excerpt(Some(&messages)).unwrap().text(), "a and b");
        assert_eq!(excerpt(Some(&json!(["nothing"]))), None);
        assert_eq!(excerpt(None), None);
    }
}
