//! `GET /api/v1/search`: tickets and contacts by words, with filters and highlighted
//! snippets, from the configured search backend. When the backend does not answer, the
//! answer is a clear 503, never a quieter search of the store.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Problem, Query};
use crate::desk::{Role, Status};
use crate::search::query::{MAX_LIMIT, MAX_OFFSET};
use crate::search::{ContactHit, Range, Search, SearchError, Sort, TicketHit};

/// Query of `GET /api/v1/search`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// The words; a phone number in any format, an email address, an order number.
    #[serde(default)]
    q: String,
    /// Comma-separated statuses, or `active` for new, open and pending.
    status: Option<String>,
    /// Comma-separated channels.
    channel: Option<String>,
    /// Comma-separated kinds.
    kind: Option<String>,
    /// Comma-separated priorities.
    priority: Option<String>,
    /// An agent id, `me` or `none`.
    assignee: Option<String>,
    /// A team id or `none`.
    team: Option<String>,
    /// RFC 3339 times or dates (`2026-11-01`); dates count whole days.
    created_from: Option<String>,
    created_to: Option<String>,
    updated_from: Option<String>,
    updated_to: Option<String>,
    /// relevance (default), newest or oldest.
    sort: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// What a search found.
#[derive(Serialize)]
pub struct SearchReply {
    /// The ticket whose number the query is (`#1042`, `1042`), if there is one.
    pub number_match: Option<NumberMatch>,
    pub tickets: Vec<TicketHit>,
    pub ticket_total: u64,
    pub contacts: Vec<ContactHit>,
    /// `embedded` or `meilisearch`.
    pub backend: &'static str,
    pub took_ms: u64,
}

/// A ticket found by its number.
#[derive(Serialize)]
pub struct NumberMatch {
    pub id: i64,
    pub number: i64,
    pub subject: String,
    pub status: String,
}

fn bad(field: &str, detail: impl Into<String>) -> Problem {
    Problem {
        status: 400,
        ..Problem::invalid(field, detail)
    }
}

fn list<T: std::str::FromStr>(field: &str, raw: Option<&str>) -> Result<Vec<T>, Problem>
where
    T::Err: std::fmt::Display,
{
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| w.parse::<T>().map_err(|e| bad(field, e.to_string())))
        .collect()
}

/// An id, or `none` for "not set".
fn id_or_none(
    field: &str,
    raw: Option<&str>,
    me: Option<i64>,
) -> Result<Option<Option<i64>>, Problem> {
    match raw {
        None => Ok(None),
        Some("none") => Ok(Some(None)),
        Some("me") if field == "assignee" => me
            .map(|id| Some(Some(id)))
            .ok_or_else(|| bad(field, "`me` needs a signed-in agent")),
        Some(id) => id
            .parse::<i64>()
            .map(|id| Some(Some(id)))
            .map_err(|_| bad(field, "expected an id or none")),
    }
}

/// A time bound: RFC 3339, or a date meaning its first (`from`) or last (`to`) second.
fn time(field: &str, raw: Option<&str>, end_of_day: bool) -> Result<Option<i64>, Problem> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.timestamp()));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| bad(field, "expected an RFC 3339 time or a date like 2026-11-27"))?;
    let t = if end_of_day {
        date.and_hms_opt(23, 59, 59)
    } else {
        date.and_hms_opt(0, 0, 0)
    }
    .expect("a valid time of day");
    Ok(Some(
        DateTime::<Utc>::from_naive_utc_and_offset(t, Utc).timestamp(),
    ))
}

fn range(field: &str, from: Option<&str>, to: Option<&str>) -> Result<Range, Problem> {
    let range = Range {
        from: time(&format!("{field}_from"), from, false)?,
        to: time(&format!("{field}_to"), to, true)?,
    };
    if let (Some(a), Some(b)) = (range.from, range.to)
        && a > b
    {
        return Err(bad(&format!("{field}_to"), "is before the start"));
    }
    Ok(range)
}

/// Reads and checks the query string into a [`Search`].
fn search_of(
    q: SearchQuery,
    me: Option<i64>,
    region: phonenumber::country::Id,
) -> Result<Search, Problem> {
    let mut search = Search::new(&q.q, region);
    let mut statuses = Vec::new();
    for word in list::<String>("status", q.status.as_deref())? {
        if word == "active" {
            statuses.extend(Status::ACTIVE);
        } else {
            statuses.push(word.parse::<Status>().map_err(|_| {
                bad(
                    "status",
                    "expected new, open, pending, resolved, closed or active",
                )
            })?);
        }
    }
    statuses.sort_by_key(|s| s.as_str());
    statuses.dedup();
    search.filter.status = statuses;
    search.filter.channel = list("channel", q.channel.as_deref())?;
    search.filter.kind = list("kind", q.kind.as_deref())?;
    search.filter.priority = list("priority", q.priority.as_deref())?;
    search.filter.assignee = id_or_none("assignee", q.assignee.as_deref(), me)?;
    search.filter.team = id_or_none("team", q.team.as_deref(), None)?;
    search.filter.created = range(
        "created",
        q.created_from.as_deref(),
        q.created_to.as_deref(),
    )?;
    search.filter.updated = range(
        "updated",
        q.updated_from.as_deref(),
        q.updated_to.as_deref(),
    )?;
    search.sort = match q.sort.as_deref() {
        None | Some("relevance") => Sort::Relevance,
        Some("newest") => Sort::Newest,
        Some("oldest") => Sort::Oldest,
        Some(_) => return Err(bad("sort", "expected relevance, newest or oldest")),
    };
    search.limit = q.limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&search.limit) {
        return Err(bad("limit", format!("expected 1 to {MAX_LIMIT}")));
    }
    search.offset = q.offset.unwrap_or(0);
    if search.offset > MAX_OFFSET {
        return Err(bad(
            "offset",
            format!("at most {MAX_OFFSET}; narrow the search instead"),
        ));
    }
    Ok(search)
}

/// The problem a backend's failure is shown as. Agents learn what is wrong in words
/// they can act on; the backend's own message (addresses, index names) goes to the log.
pub fn unavailable(e: SearchError) -> Problem {
    tracing::warn!("search failed: {e}");
    match e {
        SearchError::Unavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "the search server does not answer. Nothing is lost: new messages become findable when it is back.",
        ),
        SearchError::Unauthorized(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "the search server refused Switchboard's key (an admin must check SWITCHBOARD_MEILISEARCH_KEY)",
        ),
        SearchError::Rejected(_) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "search_failed",
            "the search server refused the query; the details are in the server's log",
        ),
    }
}

pub async fn search(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<SearchQuery>,
) -> ApiResult<axum::Json<SearchReply>> {
    p.require(Role::Agent)?;
    let started = Instant::now();
    let search = search_of(q, p.actor.agent_id(), state.desk.rules.default_region)?;
    let number_match = match search.text.trim_start_matches('#').parse::<i64>() {
        Ok(number) if search.offset == 0 => {
            crate::desk::Desk::ticket_numbered(state.desk.store.db(), number)
                .await?
                .map(|t| NumberMatch {
                    id: t.id,
                    number: t.number,
                    subject: t.subject,
                    status: t.status,
                })
        }
        _ => None,
    };
    let found = state.search.search(&search).await;
    let took = started.elapsed();
    metrics::histogram!("switchboard_search_seconds").record(took.as_secs_f64());
    let found = found.map_err(|e| {
        metrics::counter!("switchboard_search_errors_total").increment(1);
        unavailable(e)
    })?;
    Ok(axum::Json(SearchReply {
        number_match,
        tickets: found.tickets,
        ticket_total: found.ticket_total,
        contacts: found.contacts,
        backend: state.search.backend(),
        took_ms: took.as_millis() as u64,
    }))
}
