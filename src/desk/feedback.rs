//! Feedback and complaints: what customers think of the service, recorded as survey
//! answers or marked on tickets by agents and rules, and the complaint workflow (owner,
//! state, outcome, time to resolution) the team leads work through.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ingest::record;
use super::tickets::parse_cursor;
use super::{
    Actor, Channel, Desk, Error, Priority, Result, TicketKind, check_storable, stored, words,
};
use crate::outbox;
use crate::store::{WriteTx, now};
use entity::{complaint, contact, feedback, ticket};

/// Longest comment or outcome note, in characters.
pub const MAX_COMMENT: usize = 2000;
/// Most feedback items one page of the stream carries.
pub const MAX_FEEDBACK_PAGE: u64 = 100;
/// Most complaints the board lists of a closed state (resolved, rejected), newest
/// first; open and in-progress complaints are listed complete.
pub const MAX_CLOSED_COMPLAINTS: u64 = 100;

words! {
    /// What a piece of feedback is: a survey answer, or a complaint, praise or
    /// suggestion marked on a ticket.
    FeedbackKind, "kind" {
        Survey = "survey", Complaint = "complaint", Praise = "praise", Suggestion = "suggestion",
    }
}

words! {
    /// Who recorded a piece of feedback: the customer's survey, an agent, or a rule.
    FeedbackSource, "source" { Survey = "survey", Agent = "agent", Rule = "rule" }
}

words! {
    /// Where a complaint is in its workflow.
    ComplaintState, "state" {
        Open = "open", InProgress = "in_progress", Resolved = "resolved", Rejected = "rejected",
    }
}

impl ComplaintState {
    /// Resolved or rejected: the complaint is done and has an outcome.
    pub fn is_closed(self) -> bool {
        matches!(self, ComplaintState::Resolved | ComplaintState::Rejected)
    }
}

words! {
    /// How a complaint ended.
    Outcome, "outcome" {
        Refund = "refund", Replacement = "replacement", Repair = "repair", Credit = "credit",
        Apology = "apology", Explanation = "explanation", Rejected = "rejected",
    }
}

/// A piece of feedback as the leads' stream shows it: with its ticket and customer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FeedbackItem {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_number: i64,
    pub ticket_subject: String,
    pub contact_id: i64,
    pub contact_name: Option<String>,
    pub kind: String,
    pub rating: Option<i32>,
    pub comment: Option<String>,
    pub source: String,
    pub channel: String,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A complaint as the leads' board shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ComplaintItem {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_number: i64,
    pub ticket_subject: String,
    pub contact_name: Option<String>,
    pub state: String,
    pub owner_id: Option<i64>,
    pub source: String,
    pub outcome: Option<String>,
    pub outcome_note: Option<String>,
    pub team_id: Option<i64>,
    pub raised_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_seconds: Option<i64>,
}

/// The complaints board: its cards, and the closed states that had more complaints
/// than it lists (the UI says so in those columns).
#[derive(Clone, Debug, Serialize)]
pub struct ComplaintBoard {
    pub items: Vec<ComplaintItem>,
    pub cut_off: Vec<ComplaintState>,
}

/// Which feedback the stream shows; empty fields do not filter. `agent_id` is the
/// ticket's assignee when the feedback was given; the period is of UTC days, inclusive.
#[derive(Clone, Debug, Default)]
pub struct FeedbackFilter {
    pub rating: Option<i32>,
    pub kind: Option<FeedbackKind>,
    pub team_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub channel: Option<Channel>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// One page of the feedback stream, newest first.
#[derive(Debug, Serialize)]
pub struct FeedbackPage {
    pub items: Vec<FeedbackItem>,
    pub next_cursor: Option<String>,
}

/// A change to a complaint; absent fields stay. `owner_id: Some(None)` clears the owner,
/// `outcome_note: Some(None)` the note.
#[derive(Clone, Debug, Default)]
pub struct ComplaintChange {
    pub state: Option<ComplaintState>,
    pub owner_id: Option<Option<i64>>,
    pub outcome: Option<Outcome>,
    pub outcome_note: Option<Option<String>>,
}

/// Checks an optional comment: trimmed, at most [`MAX_COMMENT`] characters, storable;
/// blank is no comment.
pub fn check_comment(field: &str, comment: Option<&str>) -> Result<Option<String>> {
    let Some(c) = comment.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if c.chars().count() > MAX_COMMENT {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_COMMENT} characters"),
        ));
    }
    check_storable(field, c)?;
    Ok(Some(c.to_owned()))
}

/// The first UTC instant of a day.
fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// A new feedback row for `t`, copying its channel, team and assignee.
pub(crate) fn feedback_row(
    t: &ticket::Model,
    kind: FeedbackKind,
    source: FeedbackSource,
    rating: Option<i32>,
    comment: Option<String>,
    author: Option<i64>,
    at: DateTime<Utc>,
) -> feedback::ActiveModel {
    feedback::ActiveModel {
        ticket_id: Set(t.id),
        contact_id: Set(t.contact_id),
        kind: Set(kind.as_str().into()),
        rating: Set(rating),
        comment: Set(comment),
        source: Set(source.as_str().into()),
        author_agent_id: Set(author),
        channel: Set(t.channel.clone()),
        team_id: Set(t.team_id),
        assignee_id: Set(t.assignee_id),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
}

impl Desk {
    /// An agent marks a ticket as a complaint, praise or suggestion, with an optional
    /// comment: a feedback row, the ticket's kind set to match, and for a complaint the
    /// complaint workflow opened (one per ticket; a closed one reopens) with the priority
    /// raised to high.
    pub async fn mark_ticket(
        &self,
        ticket_id: i64,
        actor: Actor,
        kind: FeedbackKind,
        comment: Option<&str>,
    ) -> Result<FeedbackItem> {
        let ticket_kind = match kind {
            FeedbackKind::Complaint => TicketKind::Complaint,
            FeedbackKind::Praise => TicketKind::Praise,
            FeedbackKind::Suggestion => TicketKind::Suggestion,
            FeedbackKind::Survey => {
                return Err(Error::invalid(
                    "kind",
                    "expected one of complaint, praise, suggestion",
                ));
            }
        };
        let comment = check_comment("comment", comment)?;
        let tx = self.store.write().await?;
        self.store.lock_row(&tx, "ticket", ticket_id).await?;
        let t = ticket::Entity::find_by_id(ticket_id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", ticket_id))?;
        let at = now();
        let f = feedback_row(
            &t,
            kind,
            FeedbackSource::Agent,
            None,
            comment,
            actor.agent_id(),
            at,
        )
        .insert(&*tx)
        .await?;
        record(
            &*tx,
            t.id,
            actor,
            "feedback",
            json!({"feedback_id": f.id, "kind": kind}),
            at,
        )
        .await?;
        // A complaint raised here sets the ticket's kind itself (and queues the index
        // row for its changes); otherwise the kind is set below.
        let raised = if kind == FeedbackKind::Complaint {
            self.raise_complaint(&tx, &t, actor, FeedbackSource::Agent, Some(f.id), at)
                .await?
        } else {
            None
        };
        if raised.is_none() && t.kind != ticket_kind.as_str() {
            ticket::ActiveModel {
                id: Set(t.id),
                kind: Set(ticket_kind.as_str().into()),
                updated_at: Set(at),
                ..Default::default()
            }
            .update(&*tx)
            .await?;
            record(
                &*tx,
                t.id,
                actor,
                "kind",
                json!({"from": t.kind, "to": ticket_kind}),
                at,
            )
            .await?;
        }
        if raised.is_none() {
            outbox::enqueue(&*tx, outbox::kind::INDEX, json!({"ticket_id": t.id})).await?;
        }
        let item = feedback_items(&*tx, vec![f]).await?.remove(0);
        let complaint = match raised {
            Some((c, reopened)) => {
                Some((complaint_items(&*tx, vec![c]).await?.remove(0), reopened))
            }
            None => None,
        };
        let t = ticket::Entity::find_by_id(t.id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", ticket_id))?;
        tx.commit().await?;
        self.committed();
        self.hub.ticket(&t, false);
        self.hub.feedback_added(&item);
        if let Some(c) = &complaint {
            self.hub.complaint_raised(&c.0, c.1);
        }
        Ok(item)
    }

    /// Opens the complaint workflow on a ticket unless it has an open one (a closed one
    /// is reopened): state open, the ticket's kind set to complaint and its priority
    /// raised to at least high, each recorded, and the ticket queued for the search
    /// index when it changed. Returns the complaint raised, and whether it was reopened.
    pub(crate) async fn raise_complaint(
        &self,
        tx: &WriteTx,
        t: &ticket::Model,
        actor: Actor,
        source: FeedbackSource,
        feedback_id: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<Option<(complaint::Model, bool)>> {
        let exists = complaint::Entity::find()
            .filter(complaint::Column::TicketId.eq(t.id))
            .one(&**tx)
            .await?;
        let source = match source {
            FeedbackSource::Rule | FeedbackSource::Survey => FeedbackSource::Rule,
            FeedbackSource::Agent => FeedbackSource::Agent,
        };
        // A lead may be working the complaint right now: read it under its lock.
        let exists = match exists {
            Some(c) => {
                self.store.lock_row(tx, "complaint", c.id).await?;
                complaint::Entity::find_by_id(c.id).one(&**tx).await?
            }
            None => None,
        };
        // Open, counted from now, for the ticket's team now.
        let mut row = complaint::ActiveModel {
            state: Set(ComplaintState::Open.as_str().into()),
            source: Set(source.as_str().into()),
            team_id: Set(t.team_id),
            raised_at: Set(at),
            resolved_at: Set(None),
            resolution_seconds: Set(None),
            updated_at: Set(at),
            ..Default::default()
        };
        let (c, action) = match exists {
            Some(c) if !stored::<ComplaintState>(&c.state)?.is_closed() => return Ok(None),
            // A complaint on a ticket whose complaint was closed reopens it: the customer
            // is unhappy again. The owner stays, and so do the outcome and its note until
            // the lead sets new ones (as when a lead reopens it).
            Some(c) => {
                row.id = Set(c.id);
                row.feedback_id = Set(feedback_id.or(c.feedback_id));
                (row.update(&**tx).await?, "reopened")
            }
            None => {
                row.ticket_id = Set(t.id);
                row.feedback_id = Set(feedback_id);
                (row.insert(&**tx).await?, "raised")
            }
        };
        record(
            &**tx,
            t.id,
            actor,
            "complaint",
            json!({"complaint_id": c.id, "action": action, "source": source}),
            at,
        )
        .await?;
        let mut row = ticket::ActiveModel {
            id: Set(t.id),
            updated_at: Set(at),
            ..Default::default()
        };
        let mut changed = false;
        if t.kind != TicketKind::Complaint.as_str() {
            row.kind = Set(TicketKind::Complaint.as_str().into());
            changed = true;
            record(
                &**tx,
                t.id,
                actor,
                "kind",
                json!({"from": t.kind, "to": TicketKind::Complaint}),
                at,
            )
            .await?;
        }
        let priority: Priority = stored(&t.priority)?;
        if matches!(priority, Priority::Low | Priority::Normal) {
            row.priority = Set(Priority::High.as_str().into());
            changed = true;
            // A higher priority may fall under a stricter SLA policy.
            super::sla::reassess(
                &**tx,
                t,
                t.team_id,
                Priority::High.as_str(),
                false,
                &mut row,
            )
            .await?;
            record(
                &**tx,
                t.id,
                actor,
                "priority",
                json!({"from": priority, "to": Priority::High, "reason": "complaint"}),
                at,
            )
            .await?;
        }
        if changed {
            row.update(&**tx).await?;
            outbox::enqueue(&**tx, outbox::kind::INDEX, json!({"ticket_id": t.id})).await?;
        }
        Ok(Some((c, action == "reopened")))
    }

    /// The feedback stream: matching feedback newest first, after `cursor`.
    pub async fn feedback_stream(
        &self,
        filter: &FeedbackFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<FeedbackPage> {
        if let Some(r) = filter.rating
            && !(1..=5).contains(&r)
        {
            return Err(Error::invalid("rating", "expected 1 to 5"));
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(Error::invalid("from", "must not be after to"));
        }
        let mut q = feedback::Entity::find();
        if let Some(r) = filter.rating {
            q = q.filter(feedback::Column::Rating.eq(r));
        }
        if let Some(k) = filter.kind {
            q = q.filter(feedback::Column::Kind.eq(k.as_str()));
        }
        if let Some(t) = filter.team_id {
            q = q.filter(feedback::Column::TeamId.eq(t));
        }
        if let Some(a) = filter.agent_id {
            q = q.filter(feedback::Column::AssigneeId.eq(a));
        }
        if let Some(c) = filter.channel {
            q = q.filter(feedback::Column::Channel.eq(c.as_str()));
        }
        if let Some(from) = filter.from {
            q = q.filter(feedback::Column::CreatedAt.gte(day_start(from)));
        }
        if let Some(to) = filter.to {
            let end = to
                .succ_opt()
                .ok_or_else(|| Error::invalid("to", "too far in the future"))?;
            q = q.filter(feedback::Column::CreatedAt.lt(day_start(end)));
        }
        if let Some(cursor) = cursor {
            q = q.filter(feedback::Column::Id.lt(parse_cursor(cursor)?));
        }
        let limit = limit.clamp(1, MAX_FEEDBACK_PAGE);
        let rows = q
            .order_by_desc(feedback::Column::Id)
            .limit(limit + 1)
            .all(self.store.db())
            .await?;
        let (rows, next_cursor) = super::tickets::page_of(rows, limit, |f| f.id);
        Ok(FeedbackPage {
            items: feedback_items(self.store.db(), rows).await?,
            next_cursor,
        })
    }

    /// The complaints board: complaints in `state` (every state when none), newest
    /// first, per state: open and in progress complete, resolved and rejected the
    /// newest [`MAX_CLOSED_COMPLAINTS`], with the states that had more named.
    pub async fn complaint_board(&self, state: Option<ComplaintState>) -> Result<ComplaintBoard> {
        let states = match state {
            Some(s) => vec![s],
            None => ComplaintState::ALL.to_vec(),
        };
        let mut rows = Vec::new();
        let mut cut_off = Vec::new();
        for s in states {
            let mut q = complaint::Entity::find()
                .filter(complaint::Column::State.eq(s.as_str()))
                .order_by_desc(complaint::Column::RaisedAt)
                .order_by_desc(complaint::Column::Id);
            if s.is_closed() {
                q = q.limit(MAX_CLOSED_COMPLAINTS + 1);
            }
            let mut found = q.all(self.store.db()).await?;
            if s.is_closed() && found.len() as u64 > MAX_CLOSED_COMPLAINTS {
                found.truncate(MAX_CLOSED_COMPLAINTS as usize);
                cut_off.push(s);
            }
            rows.extend(found);
        }
        Ok(ComplaintBoard {
            items: complaint_items(self.store.db(), rows).await?,
            cut_off,
        })
    }

    /// The complaints on the board in `state` (every state when none); see
    /// [`Desk::complaint_board`].
    pub async fn complaints(&self, state: Option<ComplaintState>) -> Result<Vec<ComplaintItem>> {
        Ok(self.complaint_board(state).await?.items)
    }

    /// One complaint as the board shows it.
    pub async fn complaint(&self, id: i64) -> Result<ComplaintItem> {
        let c = complaint::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("complaint", id))?;
        Ok(complaint_items(self.store.db(), vec![c]).await?.remove(0))
    }

    /// Works a complaint: its state (open → in_progress → resolved or rejected, and
    /// back to open or in progress to reopen), owner (an active agent), outcome and
    /// note. Resolving or rejecting needs an outcome and records when and how long it
    /// took; reopening clears that. Every change is recorded on the ticket.
    pub async fn update_complaint(
        &self,
        id: i64,
        actor: Actor,
        change: &ComplaintChange,
    ) -> Result<ComplaintItem> {
        let note = match &change.outcome_note {
            Some(n) => Some(check_comment("outcome_note", n.as_deref())?),
            None => None,
        };
        let tx = self.store.write().await?;
        self.store.lock_row(&tx, "complaint", id).await?;
        let c = complaint::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("complaint", id))?;
        let at = now();
        let from_state: ComplaintState = stored(&c.state)?;
        let state = change.state.unwrap_or(from_state);
        let outcome = change
            .outcome
            .map(|o| o.as_str().to_owned())
            .or(c.outcome.clone());
        if state.is_closed() && outcome.is_none() {
            return Err(Error::invalid(
                "outcome",
                format!("a {state} complaint needs an outcome"),
            ));
        }
        let mut update = complaint::ActiveModel {
            id: Set(c.id),
            updated_at: Set(at),
            ..Default::default()
        };
        let mut changes = Vec::new();
        if state != from_state {
            update.state = Set(state.as_str().into());
            if state.is_closed() && !from_state.is_closed() {
                update.resolved_at = Set(Some(at));
                update.resolution_seconds = Set(Some((at - c.raised_at).num_seconds().max(0)));
            } else if !state.is_closed() {
                update.resolved_at = Set(None);
                update.resolution_seconds = Set(None);
            }
            changes.push(json!({"field": "state", "from": from_state, "to": state}));
        }
        if let Some(owner) = change.owner_id
            && owner != c.owner_id
        {
            if let Some(owner) = owner {
                super::agents::active_agent(&*tx, "owner_id", owner).await?;
            }
            update.owner_id = Set(owner);
            changes.push(json!({"field": "owner", "from": c.owner_id, "to": owner}));
        }
        if let Some(o) = change.outcome
            && Some(o.as_str()) != c.outcome.as_deref()
        {
            update.outcome = Set(Some(o.as_str().into()));
            changes.push(json!({"field": "outcome", "from": c.outcome, "to": o}));
        }
        if let Some(note) = note
            && note != c.outcome_note
        {
            changes.push(json!({"field": "outcome_note", "from": c.outcome_note, "to": note}));
            update.outcome_note = Set(note);
        }
        if changes.is_empty() {
            drop(tx);
            return self.complaint(id).await;
        }
        let c = update.update(&*tx).await?;
        for data in changes {
            let mut data = data;
            data["complaint_id"] = json!(c.id);
            record(&*tx, c.ticket_id, actor, "complaint", data, at).await?;
        }
        let item = complaint_items(&*tx, vec![c]).await?.remove(0);
        tx.commit().await?;
        self.hub.complaint_updated(&item);
        Ok(item)
    }
}

/// Erases what customers said about the service on erased tickets and by erased
/// contacts: their complaints, surveys (with surveys still to send) and feedback. Part
/// of a contact's erasure, before their tickets go.
pub(crate) async fn erase_feedback<C: ConnectionTrait>(
    db: &C,
    tickets: &[i64],
    contacts: &[i64],
) -> Result<()> {
    use entity::{outbox as outbox_row, survey};
    // (survey id, outbox row id) of every queued survey job, once one is needed.
    let mut queued: Option<Vec<(i64, i64)>> = None;
    for chunk in tickets.chunks(500) {
        complaint::Entity::delete_many()
            .filter(complaint::Column::TicketId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
        let surveys: Vec<i64> = survey::Entity::find()
            .select_only()
            .column(survey::Column::Id)
            .filter(survey::Column::TicketId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        if !surveys.is_empty() {
            // The queued survey jobs, read once for all chunks.
            if queued.is_none() {
                let rows: Vec<(i64, serde_json::Value)> = outbox_row::Entity::find()
                    .select_only()
                    .column(outbox_row::Column::Id)
                    .column(outbox_row::Column::Payload)
                    .filter(outbox_row::Column::Kind.eq(super::surveys::SURVEY))
                    .into_tuple()
                    .all(db)
                    .await?;
                queued = Some(
                    rows.into_iter()
                        .filter_map(|(id, p)| Some((p.get("survey_id")?.as_i64()?, id)))
                        .collect(),
                );
            }
            let wanted: HashSet<i64> = surveys.iter().copied().collect();
            let unsent: Vec<i64> = queued
                .iter()
                .flatten()
                .filter(|(survey_id, _)| wanted.contains(survey_id))
                .map(|(_, id)| *id)
                .collect();
            if !unsent.is_empty() {
                outbox_row::Entity::delete_many()
                    .filter(outbox_row::Column::Id.is_in(unsent))
                    .exec(db)
                    .await?;
            }
            survey::Entity::delete_many()
                .filter(survey::Column::Id.is_in(surveys))
                .exec(db)
                .await?;
        }
        feedback::Entity::delete_many()
            .filter(feedback::Column::TicketId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    for chunk in contacts.chunks(500) {
        feedback::Entity::delete_many()
            .filter(feedback::Column::ContactId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The tickets and contacts that `ticket_ids` and `contact_ids` name, by id.
async fn tickets_and_contacts<C: ConnectionTrait>(
    db: &C,
    ticket_ids: Vec<i64>,
    contact_ids: Vec<i64>,
) -> Result<(HashMap<i64, ticket::Model>, HashMap<i64, Option<String>>)> {
    let tickets = if ticket_ids.is_empty() {
        HashMap::new()
    } else {
        ticket::Entity::find()
            .filter(ticket::Column::Id.is_in(ticket_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect()
    };
    let mut contact_ids = contact_ids;
    contact_ids.extend(tickets.values().map(|t: &ticket::Model| t.contact_id));
    contact_ids.sort_unstable();
    contact_ids.dedup();
    let names = if contact_ids.is_empty() {
        HashMap::new()
    } else {
        contact::Entity::find()
            .select_only()
            .column(contact::Column::Id)
            .column(contact::Column::Name)
            .filter(contact::Column::Id.is_in(contact_ids))
            .into_tuple::<(i64, Option<String>)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    Ok((tickets, names))
}

/// Feedback rows with their tickets' numbers and subjects and the customers' names.
pub(crate) async fn feedback_items<C: ConnectionTrait>(
    db: &C,
    rows: Vec<feedback::Model>,
) -> Result<Vec<FeedbackItem>> {
    let (tickets, names) = tickets_and_contacts(
        db,
        rows.iter().map(|f| f.ticket_id).collect(),
        rows.iter().map(|f| f.contact_id).collect(),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|f| {
            let t = tickets.get(&f.ticket_id);
            FeedbackItem {
                id: f.id,
                ticket_id: f.ticket_id,
                ticket_number: t.map(|t| t.number).unwrap_or_default(),
                ticket_subject: t.map(|t| t.subject.clone()).unwrap_or_default(),
                contact_id: f.contact_id,
                contact_name: names.get(&f.contact_id).cloned().flatten(),
                kind: f.kind,
                rating: f.rating,
                comment: f.comment,
                source: f.source,
                channel: f.channel,
                team_id: f.team_id,
                assignee_id: f.assignee_id,
                created_at: f.created_at,
            }
        })
        .collect())
}

/// Complaint rows with their tickets' numbers and subjects and the customers' names.
pub(crate) async fn complaint_items<C: ConnectionTrait>(
    db: &C,
    rows: Vec<complaint::Model>,
) -> Result<Vec<ComplaintItem>> {
    let (tickets, names) =
        tickets_and_contacts(db, rows.iter().map(|c| c.ticket_id).collect(), vec![]).await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let t = tickets.get(&c.ticket_id);
            ComplaintItem {
                id: c.id,
                ticket_id: c.ticket_id,
                ticket_number: t.map(|t| t.number).unwrap_or_default(),
                ticket_subject: t.map(|t| t.subject.clone()).unwrap_or_default(),
                contact_name: t.and_then(|t| names.get(&t.contact_id).cloned().flatten()),
                state: c.state,
                owner_id: c.owner_id,
                source: c.source,
                outcome: c.outcome,
                outcome_note: c.outcome_note,
                team_id: c.team_id,
                raised_at: c.raised_at,
                resolved_at: c.resolved_at,
                resolution_seconds: c.resolution_seconds,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_trimmed_and_bounded() {
        assert_eq!(check_comment("comment", Some("  ")).unwrap(), None);
        assert_eq!(
            check_comment("comment", Some(" gut ")).unwrap().as_deref(),
            Some("gut")
        );
        assert!(check_comment("comment", Some(&"ä".repeat(MAX_COMMENT))).is_ok());
        assert!(check_comment("comment", Some(&"ä".repeat(MAX_COMMENT + 1))).is_err());
        assert!(check_comment("comment", Some("a\0b")).is_err());
    }

    #[test]
    fn closed_states() {
        assert!(ComplaintState::Resolved.is_closed());
        assert!(ComplaintState::Rejected.is_closed());
        assert!(!ComplaintState::InProgress.is_closed());
        assert!("done".parse::<ComplaintState>().is_err());
    }
}
