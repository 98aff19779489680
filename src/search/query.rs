//! What a search asks for: the words, the ticket filters, the order and the page, checked
//! once here so both backends receive only valid queries.

use serde::Serialize;

use crate::desk::{Channel, Priority, Status, TicketKind};

/// The most hits one search returns.
pub const MAX_LIMIT: usize = 100;
/// How deep one may page; deeper pages are better reached with a narrower query.
pub const MAX_OFFSET: usize = 1000;
/// How many contacts a search returns next to its tickets.
pub const CONTACT_LIMIT: usize = 5;
/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// One search.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Search {
    /// The words as typed, trimmed; a phone number already in E.164.
    pub text: String,
    pub filter: Filter,
    pub sort: Sort,
    pub limit: usize,
    pub offset: usize,
}

/// Which tickets may be found, beyond the words.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Filter {
    /// Any of these statuses; all when empty.
    pub status: Vec<Status>,
    pub channel: Vec<Channel>,
    pub kind: Vec<TicketKind>,
    pub priority: Vec<Priority>,
    /// `Some(None)`: nobody is assigned.
    pub assignee: Option<Option<i64>>,
    /// `Some(None)`: no team.
    pub team: Option<Option<i64>>,
    pub created: Range,
    pub updated: Range,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// A span of time in Unix seconds; both ends included, either may be open.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Range {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Range {
    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// The order of the hits.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first; without words, the most recently updated first.
    #[default]
    Relevance,
    /// Most recently updated first.
    Newest,
    /// Least recently updated first.
    Oldest,
}

impl Search {
    /// A search for `text`: trimmed, bounded, and a phone number in any format written
    /// the way identities are stored (E.164, read with `region` when it has no country
    /// code).
    pub fn new(text: &str, region: phonenumber::country::Id) -> Search {
        let mut text: String = text.trim().chars().take(MAX_QUERY_CHARS).collect();
        if let Some(e164) = phone(&text, region) {
            text = e164;
        }
        Search {
            text,
            limit: 20,
            ..Search::default()
        }
    }

    /// Whether contacts are searched too: only for words without ticket filters.
    pub fn wants_contacts(&self) -> bool {
        !self.text.is_empty() && self.filter.is_empty() && self.offset == 0
    }

    /// The effective order: relevance needs words to rank by.
    pub fn order(&self) -> Sort {
        match self.sort {
            Sort::Relevance if self.text.is_empty() => Sort::Newest,
            s => s,
        }
    }
}

/// The E.164 form of a query that is a phone number and nothing else. A number must
/// start like one (`+`, `0`, `(`): bare digits are order and ticket numbers.
fn phone(text: &str, region: phonenumber::country::Id) -> Option<String> {
    let phone_like = text.starts_with(['+', '0', '('])
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-/().".contains(c));
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if !phone_like || !(6..=15).contains(&digits) {
        return None;
    }
    crate::desk::identity::normalize_phone(text, region).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id::DE;

    #[test]
    fn phone_numbers_in_any_format_become_e164() {
        for raw in [
            "+49 170 1234567",
            "0170 1234567",
            "0170/1234567",
            "(0170) 123-4567",
            "0049 170 1234567",
            "+491701234567",
        ] {
            assert_eq!(Search::new(raw, DE).text, "+491701234567", "{raw}");
        }
        // Order numbers and words stay as typed.
        assert_eq!(Search::new(" 10023 ", DE).text, "10023");
        assert_eq!(Search::new("3012345678", DE).text, "3012345678");
        assert_eq!(Search::new("Paket 0170", DE).text, "Paket 0170");
    }

    #[test]
    fn relevance_needs_words() {
        let s = Search::new("", DE);
        assert_eq!(s.order(), Sort::Newest);
        assert!(!s.wants_contacts());
        assert!(Search::new("Müller", DE).wants_contacts());
    }
}
