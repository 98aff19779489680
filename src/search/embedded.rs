//! The embedded backend: a tantivy index in the data directory, so a desk without a
//! search server still has real full-text search with typo tolerance.
//!
//! Words are lower-cased and folded to ASCII (`Müller` is found as `muller`, `Weiß` as
//! `weiss`), then matched exactly, with up to one typo from five letters and two from
//! nine (Meilisearch's defaults), and as a prefix while the last word is being typed.
//! Long words are also indexed by their endings, so a part of a German compound finds
//! the whole (`maschine` finds `Waschmaschine`, `dienst` finds
//! `Kundendienstmitarbeiter`).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
    WhitespaceTokenizer,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};

use super::query::CONTACT_LIMIT;
use super::{
    Changes, ContactDoc, ContactHit, Found, Part, Search, SearchError, SearchIndex, Snippet, Sort,
    TicketDoc, TicketHit,
};

/// The analyzer of searchable text.
const WORDS: &str = "switchboard_words";
/// Words this long or longer are also indexed by their endings.
const COMPOUND: usize = 7;
/// The shortest ending indexed, and the shortest query word matched against endings.
const PART: usize = 4;
/// How much memory the writer may use before it writes a segment.
const WRITER_BYTES: usize = 48 << 20;
/// The version of how documents are analyzed and laid out; a different one in an
/// existing index means it is rebuilt.
const LAYOUT: u32 = 1;
/// The file that says which layout the index has and whether it was filled completely.
const MARKER: &str = "switchboard-index.json";
/// Words around the first match a message excerpt keeps.
const BEFORE: usize = 8;
const AFTER: usize = 20;

/// The index's fields.
#[derive(Clone, Copy)]
struct Fields {
    /// `t-1`, `c-1`: what a replacement or deletion finds a document by.
    key: Field,
    /// `ticket` or `contact`.
    doc_type: Field,
    /// A ticket's subject or a contact's name, ranked above the rest.
    title: Field,
    /// Everything searchable.
    all: Field,
    /// Endings of long words.
    parts: Field,
    status: Field,
    channel: Field,
    kind: Field,
    priority: Field,
    /// 0 for nobody.
    assignee_id: Field,
    /// 0 for no team.
    team_id: Field,
    created_at: Field,
    updated_at: Field,
    /// The document itself, as JSON, for hits and highlights.
    source: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let parts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("whitespace")
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        doc_type: b.add_text_field("doc_type", STRING),
        title: b.add_text_field("title", words.clone()),
        all: b.add_text_field("all", words),
        parts: b.add_text_field("parts", parts),
        status: b.add_text_field("status", STRING),
        channel: b.add_text_field("channel", STRING),
        kind: b.add_text_field("kind", STRING),
        priority: b.add_text_field("priority", STRING),
        assignee_id: b.add_i64_field("assignee_id", INDEXED),
        team_id: b.add_i64_field("team_id", INDEXED),
        created_at: b.add_i64_field("created_at", INDEXED | FAST),
        updated_at: b.add_i64_field("updated_at", INDEXED | FAST),
        source: b.add_text_field("source", STORED),
    };
    (b.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(48))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// A tantivy index in a directory of its own; clones are handles on the same index.
#[derive(Clone)]
pub struct Embedded {
    dir: PathBuf,
    reader: IndexReader,
    writer: Arc<Mutex<IndexWriter>>,
    fields: Fields,
    fresh: bool,
}

impl Embedded {
    /// Opens the index in `dir`, creating it when missing. An index written with another
    /// schema (an older Switchboard) is thrown away and created anew: search is derived
    /// and is rebuilt from the store. Fails when another process holds the index.
    pub fn open(dir: &Path) -> anyhow::Result<Embedded> {
        let (schema, fields) = schema();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the search index at {}", dir.display()))?;
        let marker: Option<serde_json::Value> = std::fs::read(dir.join(MARKER))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let layout = marker.as_ref().and_then(|m| m["layout"].as_u64());
        // An index that was never filled completely (a fill cut short) is filled again.
        let mut fresh = marker.as_ref().and_then(|m| m["filled"].as_bool()) != Some(true);
        let index = match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == schema && (layout == Some(LAYOUT.into()) || fresh) => {
                index
            }
            Ok(_) => {
                tracing::warn!(dir = %dir.display(), "the search index has an older layout; it is built anew");
                clear_dir(dir)?;
                fresh = true;
                Index::create_in_dir(dir, schema)?
            }
            Err(tantivy::TantivyError::OpenDirectoryError(_))
            | Err(tantivy::TantivyError::OpenReadError(_))
                if !dir.join("meta.json").exists() =>
            {
                fresh = true;
                Index::open_or_create(MmapDirectory::open(dir)?, schema)?
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot open the search index at {} (delete the directory and run `switchboard reindex`)",
                        dir.display()
                    )
                });
            }
        };
        index.tokenizers().register(WORDS, analyzer());
        index.tokenizers().register(
            "whitespace",
            TextAnalyzer::from(WhitespaceTokenizer::default()),
        );
        let writer: IndexWriter = index.writer(WRITER_BYTES).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => anyhow::anyhow!(
                "the search index at {} is in use by another Switchboard process (stop the server first)",
                dir.display()
            ),
            e => anyhow::Error::from(e).context("cannot write the search index"),
        })?;
        // Merge segments that hold deleted documents early, so an erased contact's words
        // leave the files on disk soon, not only when a segment happens to be merged.
        let mut merges = tantivy::indexer::LogMergePolicy::default();
        merges.set_del_docs_ratio_before_merge(0.1);
        writer.set_merge_policy(Box::new(merges));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Embedded {
            dir: dir.to_owned(),
            reader,
            writer: Arc::new(Mutex::new(writer)),
            fields,
            fresh,
        })
    }

    /// True when this index was just created and holds nothing yet.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Records that the index holds everything in the store (after a rebuild).
    fn mark_filled(&self) -> std::io::Result<()> {
        let marker = serde_json::json!({"layout": LAYOUT, "filled": true});
        let tmp = self.dir.join(format!("{MARKER}.tmp"));
        std::fs::write(&tmp, marker.to_string())?;
        std::fs::rename(tmp, self.dir.join(MARKER))
    }

    fn write(&self, changes: Changes) -> tantivy::Result<()> {
        let f = self.fields;
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut analyzer = analyzer();
        for id in changes.deleted_tickets {
            writer.delete_term(Term::from_field_text(f.key, &format!("t-{id}")));
        }
        for id in changes.deleted_contacts {
            writer.delete_term(Term::from_field_text(f.key, &format!("c-{id}")));
        }
        for t in changes.tickets {
            let key = format!("t-{}", t.id);
            writer.delete_term(Term::from_field_text(f.key, &key));
            let mut doc = TantivyDocument::default();
            doc.add_text(f.key, &key);
            doc.add_text(f.doc_type, "ticket");
            doc.add_text(f.title, &t.subject);
            let texts = std::iter::once(&t.subject)
                .chain(&t.messages)
                .chain(std::iter::once(&t.contact_name))
                .chain(&t.identities)
                .chain(&t.order_numbers)
                .chain(&t.tags);
            add_searchable(&mut doc, f, &mut analyzer, texts);
            doc.add_text(f.status, &t.status);
            doc.add_text(f.channel, &t.channel);
            doc.add_text(f.kind, &t.kind);
            doc.add_text(f.priority, &t.priority);
            doc.add_i64(f.assignee_id, t.assignee_id.unwrap_or(0));
            doc.add_i64(f.team_id, t.team_id.unwrap_or(0));
            doc.add_i64(f.created_at, t.created_at);
            doc.add_i64(f.updated_at, t.updated_at);
            doc.add_text(
                f.source,
                serde_json::to_string(&t).expect("a document serializes"),
            );
            writer.add_document(doc)?;
        }
        for c in changes.contacts {
            let key = format!("c-{}", c.id);
            writer.delete_term(Term::from_field_text(f.key, &key));
            let mut doc = TantivyDocument::default();
            doc.add_text(f.key, &key);
            doc.add_text(f.doc_type, "contact");
            doc.add_text(f.title, &c.name);
            let texts = std::iter::once(&c.name)
                .chain(&c.identities)
                .chain(&c.order_numbers)
                .chain(&c.tags)
                .chain(&c.organization);
            add_searchable(&mut doc, f, &mut analyzer, texts);
            doc.add_i64(f.updated_at, c.updated_at);
            doc.add_text(
                f.source,
                serde_json::to_string(&c).expect("a document serializes"),
            );
            writer.add_document(doc)?;
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()
    }

    fn run(&self, search: &Search) -> tantivy::Result<Found> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let words = Words::of(&search.text);
        let mut found = Found::default();
        if words.words.is_empty() && !search.text.trim().is_empty() {
            // Only punctuation, or words too long to be indexed: nothing can match.
            return Ok(found);
        }

        let mut ticket_query: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, term(f.doc_type, "ticket"))];
        if let Some(q) = words.query(f) {
            ticket_query.push((Occur::Must, q));
        }
        filters(f, search, &mut ticket_query);
        let query = BooleanQuery::new(ticket_query);
        let top = TopDocs::with_limit(search.limit.max(1)).and_offset(search.offset);
        let addresses: Vec<DocAddress> = match search.order() {
            Sort::Relevance => {
                let (hits, total) = searcher.search(&query, &(top.order_by_score(), Count))?;
                found.ticket_total = total as u64;
                hits.into_iter().map(|(_, a)| a).collect()
            }
            order => {
                let order = if order == Sort::Oldest {
                    Order::Asc
                } else {
                    Order::Desc
                };
                let (hits, total) = searcher.search(
                    &query,
                    &(top.order_by_fast_field::<i64>("updated_at", order), Count),
                )?;
                found.ticket_total = total as u64;
                hits.into_iter().map(|(_, a)| a).collect()
            }
        };
        for address in addresses.into_iter().take(search.limit) {
            let doc: TicketDoc = source(&searcher.doc(address)?, f)?;
            found.tickets.push(words.ticket_hit(doc));
        }

        if search.wants_contacts()
            && let Some(q) = words.query(f)
        {
            let query = BooleanQuery::new(vec![
                (Occur::Must, term(f.doc_type, "contact")),
                (Occur::Must, q),
            ]);
            let hits =
                searcher.search(&query, &TopDocs::with_limit(CONTACT_LIMIT).order_by_score())?;
            for (_, address) in hits {
                let doc: ContactDoc = source(&searcher.doc(address)?, f)?;
                found.contacts.push(ContactHit {
                    id: doc.id,
                    name: words.mark(&doc.name),
                    identities: doc.identities,
                    order_numbers: doc.order_numbers,
                    organization: doc.organization,
                });
            }
        }
        Ok(found)
    }
}

/// Adds searchable text to the `all` field, and the endings of its long words to
/// `parts`.
fn add_searchable<'a>(
    doc: &mut TantivyDocument,
    f: Fields,
    analyzer: &mut TextAnalyzer,
    texts: impl Iterator<Item = &'a String>,
) {
    let mut parts = String::new();
    for text in texts {
        if text.is_empty() {
            continue;
        }
        doc.add_text(f.all, text);
        let mut stream = analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            let word = &token.text;
            let chars: Vec<(usize, char)> = word.char_indices().collect();
            if chars.len() < COMPOUND {
                continue;
            }
            // Every ending down to PART letters, the whole word included, so any part of
            // a compound is the start of one of them.
            for &(at, _) in &chars[..=chars.len() - PART] {
                parts.push_str(&word[at..]);
                parts.push(' ');
            }
        }
    }
    if !parts.is_empty() {
        doc.add_text(f.parts, parts);
    }
}

fn source<T: serde::de::DeserializeOwned>(doc: &TantivyDocument, f: Fields) -> tantivy::Result<T> {
    let json = doc
        .get_first(f.source)
        .and_then(|v| v.as_str())
        .ok_or_else(|| tantivy::TantivyError::InternalError("a document without source".into()))?;
    serde_json::from_str(json)
        .map_err(|e| tantivy::TantivyError::InternalError(format!("a document's source: {e}")))
}

fn term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

fn any_of(field: Field, values: impl Iterator<Item = &'static str>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        values.map(|v| (Occur::Should, term(field, v))).collect(),
    ))
}

fn filters(f: Fields, search: &Search, clauses: &mut Vec<(Occur, Box<dyn Query>)>) {
    let filter = &search.filter;
    if !filter.status.is_empty() {
        clauses.push((
            Occur::Must,
            any_of(f.status, filter.status.iter().map(|s| s.as_str())),
        ));
    }
    if !filter.channel.is_empty() {
        clauses.push((
            Occur::Must,
            any_of(f.channel, filter.channel.iter().map(|s| s.as_str())),
        ));
    }
    if !filter.kind.is_empty() {
        clauses.push((
            Occur::Must,
            any_of(f.kind, filter.kind.iter().map(|s| s.as_str())),
        ));
    }
    if !filter.priority.is_empty() {
        clauses.push((
            Occur::Must,
            any_of(f.priority, filter.priority.iter().map(|s| s.as_str())),
        ));
    }
    for (field, value) in [(f.assignee_id, filter.assignee), (f.team_id, filter.team)] {
        if let Some(id) = value {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_i64(field, id.unwrap_or(0)),
                    IndexRecordOption::Basic,
                )),
            ));
        }
    }
    for (field, range) in [
        (f.created_at, filter.created),
        (f.updated_at, filter.updated),
    ] {
        if range.is_open() {
            continue;
        }
        let bound = |v: Option<i64>| match v {
            Some(v) => Bound::Included(Term::from_field_i64(field, v)),
            None => Bound::Unbounded,
        };
        clauses.push((
            Occur::Must,
            Box::new(RangeQuery::new(bound(range.from), bound(range.to))),
        ));
    }
}

/// The words of a query, analyzed like the indexed text.
struct Words {
    words: Vec<String>,
}

impl Words {
    fn of(text: &str) -> Words {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while let Some(token) = stream.next() {
            words.push(token.text.clone());
        }
        Words { words }
    }

    /// Typos allowed in a word of this many letters; none in numbers (a phone or order
    /// number one digit off is someone else's).
    fn typos(word: &str) -> u8 {
        if word.chars().any(|c| c.is_ascii_digit()) {
            return 0;
        }
        match word.chars().count() {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        }
    }

    /// Every word must match somewhere: exactly, with a typo, as a prefix (the last
    /// word), or as a part of a longer word.
    fn query(&self, f: Fields) -> Option<Box<dyn Query>> {
        if self.words.is_empty() {
            return None;
        }
        let last = self.words.len() - 1;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, word) in self.words.iter().enumerate() {
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            let boost = |q: Box<dyn Query>, by: f32| -> (Occur, Box<dyn Query>) {
                (Occur::Should, Box::new(BoostQuery::new(q, by)))
            };
            let all = Term::from_field_text(f.all, word);
            any.push(boost(
                Box::new(TermQuery::new(all.clone(), IndexRecordOption::WithFreqs)),
                3.0,
            ));
            any.push(boost(
                Box::new(TermQuery::new(
                    Term::from_field_text(f.title, word),
                    IndexRecordOption::WithFreqs,
                )),
                2.0,
            ));
            let typos = Words::typos(word);
            if typos > 0 {
                any.push(boost(
                    Box::new(FuzzyTermQuery::new(all.clone(), typos, true)),
                    1.0,
                ));
            }
            let letters = word.chars().count();
            if i == last && letters >= 2 {
                any.push(boost(
                    Box::new(FuzzyTermQuery::new_prefix(all, 0, true)),
                    1.5,
                ));
            }
            if letters >= PART {
                any.push(boost(
                    Box::new(FuzzyTermQuery::new_prefix(
                        Term::from_field_text(f.parts, word),
                        0,
                        true,
                    )),
                    0.8,
                ));
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        Some(Box::new(BooleanQuery::new(must)))
    }

    /// Whether an indexed word matches a query word, by the rules of [`Words::query`].
    fn matches(&self, token: &str) -> bool {
        let last = self.words.len().saturating_sub(1);
        self.words.iter().enumerate().any(|(i, word)| {
            token == word
                || (Words::typos(word) > 0
                    && strsim::osa_distance(token, word) <= Words::typos(word) as usize)
                || (i == last && word.chars().count() >= 2 && token.starts_with(word.as_str()))
                || (word.chars().count() >= PART
                    && token.chars().count() >= COMPOUND
                    && token.contains(word.as_str()))
        })
    }

    /// The words of `text` with the matching ones marked.
    fn marks(&self, text: &str) -> Vec<(usize, usize, bool)> {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while let Some(token) = stream.next() {
            words.push((
                token.offset_from,
                token.offset_to,
                self.matches(&token.text),
            ));
        }
        words
    }

    /// `text` with the matching words marked.
    fn mark(&self, text: &str) -> Snippet {
        let words = self.marks(text);
        snippet(text, &words, 0, text.len())
    }

    /// An excerpt of the message with the most matching words, around the first.
    fn excerpt(&self, messages: &[String]) -> Option<Snippet> {
        let (text, words) = messages
            .iter()
            .map(|m| (m, self.marks(m)))
            .filter(|(_, w)| w.iter().any(|(_, _, hit)| *hit))
            .max_by_key(|(_, w)| w.iter().filter(|(_, _, hit)| *hit).count())?;
        let first = words.iter().position(|(_, _, hit)| *hit)?;
        let from = first.saturating_sub(BEFORE);
        let to = (first + AFTER).min(words.len() - 1);
        let start = if from == 0 { 0 } else { words[from].0 };
        let end = if to == words.len() - 1 {
            text.len()
        } else {
            words[to].1
        };
        Some(snippet(text, &words, start, end))
    }

    fn ticket_hit(&self, doc: TicketDoc) -> TicketHit {
        TicketHit {
            subject: self.mark(&doc.subject),
            snippet: self.excerpt(&doc.messages),
            id: doc.id,
            number: doc.number,
            status: doc.status,
            channel: doc.channel,
            priority: doc.priority,
            kind: doc.kind,
            assignee_id: doc.assignee_id,
            team_id: doc.team_id,
            contact_id: doc.contact_id,
            contact_name: doc.contact_name,
            updated_at: doc.updated_at,
        }
    }
}

/// `text[start..end]` with the marked words marked, and `…` where it was cut.
fn snippet(text: &str, words: &[(usize, usize, bool)], start: usize, end: usize) -> Snippet {
    let mut parts = Snippet::default();
    let mut push = |s: &str, mark: bool| {
        if s.is_empty() {
            return;
        }
        match parts.0.last_mut() {
            Some(last) if last.mark == mark => last.text.push_str(s),
            _ => parts.0.push(Part {
                text: s.to_owned(),
                mark,
            }),
        }
    };
    if start > 0 {
        push("…", false);
    }
    let mut at = start;
    for &(from, to, hit) in words {
        if !hit || from < start || to > end {
            continue;
        }
        push(&text[at..from], false);
        push(&text[from..to], true);
        at = to;
    }
    push(&text[at..end], false);
    if end < text.len() {
        push("…", false);
    }
    parts
}

fn clear_dir(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn failed(e: impl std::fmt::Display) -> SearchError {
    SearchError::Unavailable(format!("the embedded index: {e}"))
}

#[async_trait]
impl SearchIndex for Embedded {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn prepare(&self) -> Result<bool, SearchError> {
        // A new embedded index is known when it is opened (`is_fresh`).
        Ok(false)
    }

    async fn apply(&self, changes: Changes) -> Result<(), SearchError> {
        if changes.is_empty() {
            return Ok(());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.write(changes))
            .await
            .map_err(failed)?
            .map_err(failed)
    }

    async fn clear(&self) -> Result<(), SearchError> {
        let writer = self.writer.clone();
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = writer.lock().unwrap_or_else(|p| p.into_inner());
            writer.delete_all_documents()?;
            writer.commit()?;
            reader.reload()
        })
        .await
        .map_err(failed)?
        .map_err(failed)
    }

    async fn search(&self, search: &Search) -> Result<Found, SearchError> {
        let this = self.clone();
        let search = search.clone();
        tokio::task::spawn_blocking(move || this.run(&search))
            .await
            .map_err(failed)?
            .map_err(failed)
    }

    async fn filled(&self) -> Result<(), SearchError> {
        self.mark_filled().map_err(failed)
    }

    async fn health(&self) -> Result<(), SearchError> {
        if self.dir.join("meta.json").exists() {
            Ok(())
        } else {
            Err(SearchError::Unavailable(format!(
                "the search index at {} is gone",
                self.dir.display()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_mark_matches_and_cut_long_text() {
        let words = Words::of("waschmashine");
        let long = format!(
            "{} Die Waschmaschine leckt. {}",
            "wort ".repeat(30),
            "mehr ".repeat(40)
        );
        let s = words
            .excerpt(&["nichts".into(), long.clone()])
            .expect("a match");
        let marked: Vec<&str> =
            s.0.iter()
                .filter(|p| p.mark)
                .map(|p| p.text.as_str())
                .collect();
        assert_eq!(marked, ["Waschmaschine"]);
        assert!(s.text().starts_with('…') && s.text().ends_with('…'));
        assert!(s.text().len() < long.len());
        assert!(words.excerpt(&["nichts".into()]).is_none());
    }

    #[test]
    fn words_match_folded_with_typos_prefixes_and_parts() {
        let w = Words::of("Müller");
        assert!(w.matches("muller"));
        assert!(w.matches("mueller"));
        let w = Words::of("maschine");
        assert!(w.matches("waschmaschine"));
        let w = Words::of("pak");
        assert!(w.matches("paket"));
        assert!(!Words::of("rot").matches("brot"));
    }
}
