//! Full-text search: the documents tickets and contacts are found by, the
//! [`SearchIndex`] interface with its two backends (Meilisearch in production, an
//! embedded tantivy index by default), and the indexer that keeps an index up to date
//! from the outbox.
//!
//! Search is derived (invariant 5 of the design): every document is built from the
//! store, so an index can always be rebuilt (`switchboard reindex`), and an outage of the
//! backend only delays indexing. There is no fallback: when the configured backend does
//! not answer, a search says so.

pub mod document;
pub mod embedded;
pub mod indexer;
pub mod meili;
pub mod query;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use document::{ContactDoc, TicketDoc};
pub use query::{Filter, Range, Search, Sort};

/// The most bytes of message text one ticket document holds.
pub const MAX_TICKET_TEXT: usize = 64 * 1024;
/// The most bytes one message contributes to its ticket's document.
pub const MAX_MESSAGE_TEXT: usize = 8 * 1024;

/// A set of changes to apply to an index at once.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    /// Documents to add or replace.
    pub tickets: Vec<TicketDoc>,
    pub contacts: Vec<ContactDoc>,
    /// Documents to remove (the ticket or contact is gone, merged or erased).
    pub deleted_tickets: Vec<i64>,
    pub deleted_contacts: Vec<i64>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
            && self.contacts.is_empty()
            && self.deleted_tickets.is_empty()
            && self.deleted_contacts.is_empty()
    }
    /// How many documents this touches.
    pub fn len(&self) -> usize {
        self.tickets.len()
            + self.contacts.len()
            + self.deleted_tickets.len()
            + self.deleted_contacts.len()
    }
}

/// Text with the parts that matched the query marked; shown without ever being read as
/// HTML.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snippet(pub Vec<Part>);

/// One run of a [`Snippet`]'s text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mark: bool,
}

impl Snippet {
    /// Text with nothing marked.
    pub fn plain(text: &str) -> Snippet {
        if text.is_empty() {
            return Snippet::default();
        }
        Snippet(vec![Part {
            text: text.to_owned(),
            mark: false,
        }])
    }
    /// Reads text with marks between `pre` and `post` tags (Meilisearch's `_formatted`).
    pub fn from_tagged(text: &str, pre: &str, post: &str) -> Snippet {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(pre) {
            let after = &rest[start + pre.len()..];
            let Some(end) = after.find(post) else { break };
            push(&mut parts, &rest[..start], false);
            push(&mut parts, &after[..end], true);
            rest = &after[end + post.len()..];
        }
        push(&mut parts, rest, false);
        Snippet(parts)
    }
    /// The text without marks.
    pub fn text(&self) -> String {
        self.0.iter().map(|p| p.text.as_str()).collect()
    }
}

fn push(parts: &mut Vec<Part>, text: &str, mark: bool) {
    if text.is_empty() {
        return;
    }
    match parts.last_mut() {
        Some(last) if last.mark == mark => last.text.push_str(text),
        _ => parts.push(Part {
            text: text.to_owned(),
            mark,
        }),
    }
}

/// A ticket found by a search.
#[derive(Debug, Clone, Serialize)]
pub struct TicketHit {
    pub id: i64,
    pub number: i64,
    /// The subject, with matched words marked.
    pub subject: Snippet,
    /// A cropped excerpt of the message that matched best, if a message matched.
    pub snippet: Option<Snippet>,
    pub status: String,
    pub channel: String,
    pub priority: String,
    pub kind: String,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub contact_id: i64,
    pub contact_name: String,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A contact found by a search.
#[derive(Debug, Clone, Serialize)]
pub struct ContactHit {
    pub id: i64,
    /// The name, with matched words marked.
    pub name: Snippet,
    pub identities: Vec<String>,
    pub order_numbers: Vec<String>,
    pub organization: Option<String>,
}

/// What a search found, best first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Found {
    pub tickets: Vec<TicketHit>,
    /// How many tickets match in all (an estimate on Meilisearch).
    pub ticket_total: u64,
    /// Contacts match only a text query without ticket filters.
    pub contacts: Vec<ContactHit>,
}

/// Why the index could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SearchError {
    /// The backend does not answer, answered with a server error, or took too long:
    /// worth trying again.
    #[error("the search backend is unavailable: {0}")]
    Unavailable(String),
    /// The backend refused what was sent (a document, a filter): trying again will not
    /// help.
    #[error("the search backend refused the request: {0}")]
    Rejected(String),
    /// The backend refused our key: a configuration error.
    #[error("the search backend refused the key: {0}")]
    Unauthorized(String),
}

/// An index tickets and contacts are searched in. Both backends keep the same
/// documents and answer with the same [`Found`] contract.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// `embedded` or `meilisearch`, for logs, /readyz and metrics.
    fn backend(&self) -> &'static str;
    /// Creates the indexes and applies their settings; run at start-up and after an
    /// outage. True when it had to create an index, which is then empty and must be
    /// filled from the store.
    async fn prepare(&self) -> Result<bool, SearchError>;
    /// Adds, replaces and deletes documents, and returns once they are searchable.
    async fn apply(&self, changes: Changes) -> Result<(), SearchError>;
    /// Removes every document (before a rebuild).
    async fn clear(&self) -> Result<(), SearchError>;
    /// Runs a query.
    async fn search(&self, search: &Search) -> Result<Found, SearchError>;
    /// Whether the backend answers.
    async fn health(&self) -> Result<(), SearchError>;
    /// Called when a rebuild has written everything in the store, so an index that was
    /// cut short while filling is known as such on the next start.
    async fn filled(&self) -> Result<(), SearchError> {
        Ok(())
    }
}

/// The configured index: Meilisearch when `SWITCHBOARD_MEILISEARCH_URL` is set, else the
/// embedded index in the data directory. True beside it when the index was just created
/// empty (an embedded index opened for the first time, or after a layout change).
pub fn open(config: &crate::config::Config) -> anyhow::Result<(Arc<dyn SearchIndex>, bool)> {
    match &config.meilisearch_url {
        Some(url) => Ok((
            Arc::new(meili::Meili::new(
                url.as_str(),
                config.meilisearch_key.as_ref().map(|k| k.0.as_str()),
                &config.meilisearch_prefix,
            )?),
            false,
        )),
        None => {
            let index = embedded::Embedded::open(&config.data_dir.join("search"))?;
            let fresh = index.is_fresh();
            Ok((Arc::new(index), fresh))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tagged_text() {
        let s = Snippet::from_tagged("Die <mark>Waschmaschin</mark>e leckt", "<mark>", "</mark>");
        assert_eq!(
            s.0,
            vec![
                Part {
                    text: "Die ".into(),
                    mark: false
                },
                Part {
                    text: "Waschmaschin".into(),
                    mark: true
                },
                Part {
                    text: "e leckt".into(),
                    mark: false
                },
            ]
        );
        assert_eq!(s.text(), "Die Waschmaschine leckt");
        let broken = Snippet::from_tagged("a <mark>b", "<mark>", "</mark>");
        assert_eq!(broken.text(), "a <mark>b");
        assert!(broken.0.iter().all(|p| !p.mark));
    }
}
