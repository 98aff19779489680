//! The search documents, built from the store: one per ticket and one per contact. Both
//! backends index exactly these.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::{Changes, MAX_MESSAGE_TEXT, MAX_TICKET_TEXT};
use crate::store::Store;
use entity::{contact, identity, message, order, organization, ticket};

/// A ticket as search sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketDoc {
    pub id: i64,
    pub number: i64,
    pub subject: String,
    /// Every message's text (customer's, agents' and notes) in order, bounded by
    /// [`MAX_MESSAGE_TEXT`] each and [`MAX_TICKET_TEXT`] in all.
    pub messages: Vec<String>,
    pub contact_id: i64,
    pub contact_name: String,
    pub identities: Vec<String>,
    pub order_numbers: Vec<String>,
    /// The contact's tags.
    pub tags: Vec<String>,
    pub status: String,
    pub channel: String,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub kind: String,
    pub priority: String,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A contact as search sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactDoc {
    pub id: i64,
    pub name: String,
    pub identities: Vec<String>,
    pub order_numbers: Vec<String>,
    pub tags: Vec<String>,
    pub organization: Option<String>,
    pub updated_at: i64,
}

/// The most order numbers a document lists (the newest).
const MAX_ORDERS: usize = 200;
/// Ids per `IN (…)` list.
const CHUNK: usize = 500;

/// Builds the documents of the given tickets and contacts as the store has them now.
/// A ticket that is gone, or a contact that is gone or merged into another, becomes a
/// deletion. A ticket's contact is refreshed with it, since its name or identities
/// may be what changed.
pub async fn load(
    store: &Store,
    ticket_ids: &[i64],
    contact_ids: &[i64],
) -> Result<Changes, DbErr> {
    let db = store.db();
    let mut changes = Changes::default();

    let mut tickets = Vec::new();
    for ids in ticket_ids.chunks(CHUNK) {
        tickets.extend(
            ticket::Entity::find()
                .filter(ticket::Column::Id.is_in(ids.iter().copied()))
                .all(db)
                .await?,
        );
    }
    let found: HashSet<i64> = tickets.iter().map(|t| t.id).collect();
    changes.deleted_tickets = unique(ticket_ids.iter().copied().filter(|id| !found.contains(id)));

    let wanted_contacts = unique(
        contact_ids
            .iter()
            .copied()
            .chain(tickets.iter().map(|t| t.contact_id)),
    );
    let mut contacts = HashMap::new();
    for ids in wanted_contacts.chunks(CHUNK) {
        for c in contact::Entity::find()
            .filter(contact::Column::Id.is_in(ids.iter().copied()))
            .all(db)
            .await?
        {
            contacts.insert(c.id, c);
        }
    }
    let live: Vec<i64> = contacts
        .values()
        .filter(|c| c.merged_into_id.is_none())
        .map(|c| c.id)
        .collect();
    let details = Details::load(store, &live, &contacts).await?;

    for &id in contact_ids {
        match contacts.get(&id) {
            Some(c) if c.merged_into_id.is_none() => {}
            _ => changes.deleted_contacts.push(id),
        }
    }
    changes.deleted_contacts = unique(changes.deleted_contacts.iter().copied());
    for id in &live {
        let c = &contacts[id];
        let d = details.of(c.id);
        changes.contacts.push(ContactDoc {
            id: c.id,
            name: c.name.clone().unwrap_or_default(),
            identities: d.identities.clone(),
            order_numbers: d.order_numbers.clone(),
            tags: tags(&c.tags),
            organization: c
                .organization_id
                .and_then(|o| details.organizations.get(&o).cloned()),
            updated_at: c.updated_at.timestamp(),
        });
    }
    changes.contacts.sort_by_key(|c| c.id);

    let texts = texts(store, &tickets.iter().map(|t| t.id).collect::<Vec<_>>()).await?;
    for t in tickets {
        let contact = contacts.get(&t.contact_id);
        let d = details.of(t.contact_id);
        changes.tickets.push(TicketDoc {
            id: t.id,
            number: t.number,
            subject: t.subject,
            messages: texts.get(&t.id).cloned().unwrap_or_default(),
            contact_id: t.contact_id,
            contact_name: contact.and_then(|c| c.name.clone()).unwrap_or_default(),
            identities: d.identities.clone(),
            order_numbers: d.order_numbers.clone(),
            tags: contact.map(|c| tags(&c.tags)).unwrap_or_default(),
            status: t.status,
            channel: t.channel,
            assignee_id: t.assignee_id,
            team_id: t.team_id,
            kind: t.kind,
            priority: t.priority,
            created_at: t.created_at.timestamp(),
            updated_at: t.updated_at.timestamp(),
        });
    }
    changes.tickets.sort_by_key(|t| t.id);
    Ok(changes)
}

/// The ids of a contact's tickets, for refreshing them all after the contact changed.
pub async fn tickets_of(store: &Store, contact_ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    let mut ids = Vec::new();
    for chunk in contact_ids.chunks(CHUNK) {
        ids.extend(
            ticket::Entity::find()
                .select_only()
                .column(ticket::Column::Id)
                .filter(ticket::Column::ContactId.is_in(chunk.iter().copied()))
                .into_tuple::<i64>()
                .all(store.db())
                .await?,
        );
    }
    Ok(ids)
}

#[derive(Default, Clone)]
struct ContactDetails {
    identities: Vec<String>,
    order_numbers: Vec<String>,
}

/// Identities, order numbers and organization names of a set of contacts.
#[derive(Default)]
struct Details {
    by_contact: HashMap<i64, ContactDetails>,
    organizations: HashMap<i64, String>,
    none: ContactDetails,
}

impl Details {
    async fn load(
        store: &Store,
        contact_ids: &[i64],
        contacts: &HashMap<i64, contact::Model>,
    ) -> Result<Details, DbErr> {
        let db = store.db();
        let mut details = Details::default();
        for ids in contact_ids.chunks(CHUNK) {
            let rows: Vec<(i64, String, String)> = identity::Entity::find()
                .select_only()
                .columns([
                    identity::Column::ContactId,
                    identity::Column::Kind,
                    identity::Column::Value,
                ])
                .filter(identity::Column::ContactId.is_in(ids.iter().copied()))
                .order_by_asc(identity::Column::Id)
                .into_tuple()
                .all(db)
                .await?;
            for (contact_id, kind, value) in rows {
                // A widget visitor's id means nothing to anyone searching.
                if kind != "visitor" {
                    details
                        .by_contact
                        .entry(contact_id)
                        .or_default()
                        .identities
                        .push(value);
                }
            }
            let rows: Vec<(i64, String)> = order::Entity::find()
                .select_only()
                .columns([order::Column::ContactId, order::Column::Number])
                .filter(order::Column::ContactId.is_in(ids.iter().copied()))
                .order_by_desc(order::Column::PlacedAt)
                .into_tuple()
                .all(db)
                .await?;
            for (contact_id, number) in rows {
                let numbers = &mut details
                    .by_contact
                    .entry(contact_id)
                    .or_default()
                    .order_numbers;
                if numbers.len() < MAX_ORDERS {
                    numbers.push(number);
                }
            }
        }
        let orgs = unique(contacts.values().filter_map(|c| c.organization_id));
        for ids in orgs.chunks(CHUNK) {
            for o in organization::Entity::find()
                .filter(organization::Column::Id.is_in(ids.iter().copied()))
                .all(db)
                .await?
            {
                details.organizations.insert(o.id, o.name);
            }
        }
        Ok(details)
    }

    fn of(&self, contact_id: i64) -> &ContactDetails {
        self.by_contact.get(&contact_id).unwrap_or(&self.none)
    }
}

/// The message texts of each ticket within the bounds, in order: the first message (the
/// concern) and then as many of the newest as fit, so a long thread stays findable by
/// what was said last.
async fn texts(store: &Store, ticket_ids: &[i64]) -> Result<HashMap<i64, Vec<String>>, DbErr> {
    use sea_orm::sea_query::Expr;
    let mut all: HashMap<i64, Vec<String>> = HashMap::new();
    for ids in ticket_ids.chunks(CHUNK) {
        // The store cuts each text, so a multi-megabyte mail is never read whole.
        let rows: Vec<(i64, String)> = message::Entity::find()
            .select_only()
            .column(message::Column::TicketId)
            .column_as(
                Expr::cust(format!("substr(\"text\", 1, {MAX_MESSAGE_TEXT})")),
                "text",
            )
            .filter(message::Column::TicketId.is_in(ids.iter().copied()))
            .order_by_asc(message::Column::TicketId)
            .order_by_asc(message::Column::Id)
            .into_tuple()
            .all(store.db())
            .await?;
        for (ticket_id, text) in rows {
            let text = bounded(text.trim(), MAX_MESSAGE_TEXT);
            if !text.is_empty() {
                all.entry(ticket_id).or_default().push(text.to_owned());
            }
        }
    }
    Ok(all
        .into_iter()
        .map(|(id, list)| (id, within_budget(list)))
        .collect())
}

/// The first text and then the newest that fit in [`MAX_TICKET_TEXT`], in order.
fn within_budget(mut list: Vec<String>) -> Vec<String> {
    let total: usize = list.iter().map(String::len).sum();
    if total <= MAX_TICKET_TEXT || list.is_empty() {
        return list;
    }
    let first = list.remove(0);
    let mut used = first.len();
    let mut newest = Vec::new();
    while let Some(text) = list.pop() {
        if used + text.len() > MAX_TICKET_TEXT {
            break;
        }
        used += text.len();
        newest.push(text);
    }
    newest.push(first);
    newest.reverse();
    newest
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn bounded(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn tags(json: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(json.clone()).unwrap_or_default()
}

fn unique(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_thread_keeps_its_first_and_newest_messages() {
        let text = |i: usize| format!("{i:04}{}", "x".repeat(MAX_MESSAGE_TEXT - 4));
        let thread: Vec<String> = (0..20).map(text).collect();
        let kept = within_budget(thread);
        let heads: Vec<&str> = kept.iter().map(|t| &t[..4]).collect();
        assert_eq!(
            heads,
            [
                "0000", "0013", "0014", "0015", "0016", "0017", "0018", "0019"
            ]
        );
        assert!(kept.iter().map(String::len).sum::<usize>() <= MAX_TICKET_TEXT);
        let short = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(within_budget(short.clone()), short);
    }
}
