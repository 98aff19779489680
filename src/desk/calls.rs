//! Phone calls: the events a PBX integration sends (a call rings, is answered, ends), the
//! call record beside the caller's contact, a call-back ticket for a missed call, and
//! blocked numbers.
//!
//! A PBX integration is a configured channel of kind `cti`; its public key is the secret
//! path token the PBX posts to. Events may come twice or out of order (an answer before
//! its ring): each one brings the call record forward and never back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::agents::random_secret;
use super::identity::{IdentityClaim, IdentityKind, normalize_phone};
use super::{Channel, Desk, Error, Inbound, Result, words};
use crate::store::{is_conflict, now};
use entity::{agent, call, channel, identity};

/// The kind of a PBX integration in `channel.kind`.
pub const CTI: &str = "cti";

/// A PBX integration's settings (`channel.settings`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct CtiSettings {
    /// Callers (E.164) whose calls the PBX is told to reject.
    #[serde(default)]
    pub blocked: Vec<String>,
    /// The PBX's user names or extensions → agent ids, for "who answered".
    #[serde(default)]
    pub extensions: BTreeMap<String, i64>,
    /// The PBX's queues → team ids: a queue's calls pop up at its team's agents.
    #[serde(default)]
    pub queues: BTreeMap<String, i64>,
}

words! {
    /// What a PBX tells about a call.
    CallEvent, "event" { NewCall = "newCall", Answer = "answer", Hangup = "hangup" }
}

words! {
    /// Which way a call goes.
    CallDirection, "direction" { In = "in", Out = "out" }
}

/// One event as the PBX sends it (the generic CTI format PBX scripts speak).
#[derive(Clone, Debug, Default)]
pub struct CtiEvent {
    pub event: Option<CallEvent>,
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub direction: Option<CallDirection>,
    /// The PBX users (agents) the call rings at or was answered by.
    pub user: Vec<String>,
    pub queue: Option<String>,
    pub answering_number: Option<String>,
    pub cause: Option<String>,
}

/// What the PBX should do with a new call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CallAnswer {
    /// Let it ring.
    Accept,
    /// Reject it (a blocked caller).
    Reject { reason: String },
}

/// A PBX integration ready to use.
#[derive(Clone, Debug)]
pub struct Pbx {
    pub channel: channel::Model,
    pub settings: CtiSettings,
}

/// A call as the API shows it, with its durations.
#[derive(Clone, Debug, Serialize)]
pub struct CallView {
    #[serde(flatten)]
    pub call: call::Model,
    /// Seconds from the first ring to the answer (or to the end, unanswered).
    pub waiting_seconds: Option<i64>,
    /// Seconds from the answer to the end.
    pub talking_seconds: Option<i64>,
    /// The contact's name, for the caller log.
    pub contact_name: Option<String>,
    /// The call-back ticket's number.
    pub ticket_number: Option<i64>,
}

impl From<call::Model> for CallView {
    fn from(call: call::Model) -> CallView {
        let waiting = call
            .answered_at
            .or(call.ended_at)
            .map(|t| (t - call.started_at).num_seconds().max(0));
        let talking = match (call.answered_at, call.ended_at) {
            (Some(a), Some(e)) => Some((e - a).num_seconds().max(0)),
            _ => None,
        };
        CallView {
            call,
            waiting_seconds: waiting,
            talking_seconds: talking,
            contact_name: None,
            ticket_number: None,
        }
    }
}

fn required(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "required, at most 200 characters"));
    }
    Ok(())
}

impl Desk {
    /// Adds a PBX integration; its key is the token in the URL the PBX posts to.
    pub async fn create_pbx(
        &self,
        name: &str,
        blocked: &[String],
        extensions: BTreeMap<String, i64>,
        queues: BTreeMap<String, i64>,
    ) -> Result<Pbx> {
        let name = name.trim();
        required("name", name)?;
        let blocked = blocked
            .iter()
            .map(|n| normalize_phone(n, self.rules.default_region))
            .collect::<Result<Vec<_>>>()?;
        let settings = CtiSettings {
            blocked,
            extensions,
            queues,
        };
        let at = now();
        let row = channel::ActiveModel {
            kind: Set(CTI.into()),
            name: Set(name.to_owned()),
            key: Set(random_secret(24)),
            secret: Set(String::new()),
            token_key: Set(random_secret(32)),
            settings: Set(json!(settings)),
            active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(self.store.db())
        .await?;
        Ok(Pbx {
            channel: row,
            settings,
        })
    }

    /// The active PBX integration whose URL token this is.
    pub async fn pbx_by_token(&self, token: &str) -> Result<Option<Pbx>> {
        if token.len() < 16 || token.len() > 64 {
            return Ok(None);
        }
        let Some(channel) = channel::Entity::find()
            .filter(channel::Column::Key.eq(token))
            .filter(channel::Column::Kind.eq(CTI))
            .filter(channel::Column::Active.eq(true))
            .one(self.store.db())
            .await?
        else {
            return Ok(None);
        };
        let settings = serde_json::from_value(channel.settings.clone()).unwrap_or_default();
        Ok(Some(Pbx { channel, settings }))
    }

    /// Applies one PBX event to its call; returns what the PBX should do and the call.
    pub async fn call_event(&self, pbx: &Pbx, e: &CtiEvent) -> Result<(CallAnswer, CallView)> {
        let event = e
            .event
            .ok_or_else(|| Error::invalid("event", "newCall, answer or hangup"))?;
        required("callId", &e.call_id)?;
        required("from", &e.from)?;
        required("to", &e.to)?;
        let direction = e.direction.unwrap_or(CallDirection::In);
        let region = self.rules.default_region;
        // Numbers are kept in E.164 where they read as phone numbers, as sent otherwise
        // (an internal extension, "anonymous").
        let number =
            |raw: &str| normalize_phone(raw, region).unwrap_or_else(|_| raw.trim().to_owned());
        let (from, to) = (number(&e.from), number(&e.to));
        let customer = match direction {
            CallDirection::In => &from,
            CallDirection::Out => &to,
        };
        let at = now();
        let mut c = match self.find_call(pbx, &e.call_id).await? {
            Some(c) => c,
            None => {
                let contact_id = self.contact_by_phone(customer).await?;
                let fresh = call::ActiveModel {
                    channel_id: Set(pbx.channel.id),
                    call_id: Set(e.call_id.trim().to_owned()),
                    direction: Set(direction.as_str().into()),
                    from_number: Set(from.clone()),
                    to_number: Set(to.clone()),
                    contact_id: Set(contact_id),
                    queue: Set(e.queue.clone().filter(|q| !q.trim().is_empty())),
                    agent_id: Set(None),
                    answered_by: Set(None),
                    status: Set("ringing".into()),
                    cause: Set(None),
                    ticket_id: Set(None),
                    started_at: Set(at),
                    answered_at: Set(None),
                    ended_at: Set(None),
                    ..Default::default()
                };
                let tx = self.store.write().await?;
                match fresh.insert(&*tx).await {
                    Ok(c) => {
                        tx.commit().await?;
                        c
                    }
                    // The same event twice at once: the other one stored the call.
                    Err(err) if is_conflict(&err) => {
                        drop(tx);
                        self.find_call(pbx, &e.call_id)
                            .await?
                            .ok_or(Error::Store(err))?
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        };
        let blocked = direction == CallDirection::In && pbx.settings.blocked.contains(&from);
        let mut answer = CallAnswer::Accept;
        match event {
            CallEvent::NewCall if blocked => {
                answer = CallAnswer::Reject {
                    reason: "busy".into(),
                };
                if c.ended_at.is_none() {
                    c = self
                        .update_call(c.id, |u| {
                            u.status = Set("rejected".into());
                            u.ended_at = Set(Some(at));
                        })
                        .await?;
                }
            }
            CallEvent::NewCall => {
                // The screen pop: to the agent the call rings at, if the PBX names one we
                // know, else to every agent who watches calls.
                let mut to = None;
                for user in &e.user {
                    if let Some(agent) = self.agent_for(pbx, user).await? {
                        to = Some(agent);
                        break;
                    }
                }
                if e.user.len() > 1 {
                    to = None;
                }
                self.pop(pbx, to, &c).await?;
            }
            CallEvent::Answer if c.answered_at.is_none() && c.ended_at.is_none() => {
                let by = e.user.first().cloned().or(e.answering_number.clone());
                let agent_id = match &by {
                    Some(name) => self.agent_for(pbx, name).await?,
                    None => None,
                };
                // The caller may have become a contact while it rang.
                let contact_id = match c.contact_id {
                    Some(id) => Some(id),
                    None => self.contact_by_phone(customer).await?,
                };
                c = self
                    .update_call(c.id, |u| {
                        u.status = Set("talking".into());
                        u.answered_at = Set(Some(at));
                        u.answered_by = Set(by.clone());
                        u.agent_id = Set(agent_id);
                        u.contact_id = Set(contact_id);
                    })
                    .await?;
                // Everyone it rang at learns who took it; the card stays with them.
                self.pop(pbx, None, &c).await?;
            }
            CallEvent::Answer => {}
            CallEvent::Hangup if c.ended_at.is_none() => {
                let cause = e.cause.clone().filter(|c| !c.trim().is_empty());
                let status = match (&c.answered_at, cause.as_deref()) {
                    (Some(_), _) => "answered",
                    (None, Some("busy")) => "busy",
                    (None, _) => "missed",
                };
                let ticket_id = if status != "answered" && direction == CallDirection::In {
                    self.call_back_ticket(pbx, &c).await?
                } else {
                    None
                };
                let contact_id = match (ticket_id, c.contact_id) {
                    (Some(t), _) => Some(self.ticket(t).await?.contact_id),
                    (None, Some(id)) => Some(id),
                    (None, None) => self.contact_by_phone(customer).await?,
                };
                c = self
                    .update_call(c.id, |u| {
                        u.status = Set(status.into());
                        u.cause = Set(cause.clone());
                        u.ended_at = Set(Some(at));
                        u.ticket_id = Set(ticket_id);
                        u.contact_id = Set(contact_id);
                    })
                    .await?;
            }
            CallEvent::Hangup => {}
        }
        if event == CallEvent::Hangup {
            // The card closes (or shows the call-back ticket).
            self.hub
                .call(None, self.queue_team(pbx, &c), &c, Value::Null);
        }
        Ok((answer, c.into()))
    }

    /// Tells the console about a call, with the caller's card.
    async fn pop(&self, pbx: &Pbx, agent_id: Option<i64>, c: &call::Model) -> Result<()> {
        let card = match c.contact_id {
            Some(id) => {
                let d = self.contact_detail(id).await?;
                json!({
                    "contact": d.contact,
                    "organization": d.organization,
                    "identities": d.identities,
                    "value": d.value,
                    "orders": d.orders.iter().take(3).collect::<Vec<_>>(),
                    "open_tickets": d.tickets.iter().filter(|t| {
                        t.status.parse::<super::Status>().is_ok_and(|s| s.is_active())
                    }).take(5).collect::<Vec<_>>(),
                })
            }
            None => Value::Null,
        };
        self.hub.call(agent_id, self.queue_team(pbx, c), c, card);
        Ok(())
    }

    /// The team a call's queue belongs to, if the integration maps it.
    fn queue_team(&self, pbx: &Pbx, c: &call::Model) -> Option<i64> {
        c.queue
            .as_ref()
            .and_then(|q| pbx.settings.queues.get(q))
            .copied()
    }

    /// Recent calls, newest first (the caller log).
    pub async fn calls(&self, before: Option<i64>, limit: u64) -> Result<Vec<CallView>> {
        let mut q = call::Entity::find().order_by_desc(call::Column::Id);
        if let Some(id) = before {
            q = q.filter(call::Column::Id.lt(id));
        }
        let calls = q.limit(limit.min(200)).all(self.store.db()).await?;
        // Names and ticket numbers for the whole page in two queries.
        let contact_ids: Vec<i64> = calls.iter().filter_map(|c| c.contact_id).collect();
        let ticket_ids: Vec<i64> = calls.iter().filter_map(|c| c.ticket_id).collect();
        let names: std::collections::HashMap<i64, Option<String>> = entity::contact::Entity::find()
            .filter(entity::contact::Column::Id.is_in(contact_ids))
            .all(self.store.db())
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        let numbers: std::collections::HashMap<i64, i64> = entity::ticket::Entity::find()
            .filter(entity::ticket::Column::Id.is_in(ticket_ids))
            .all(self.store.db())
            .await?
            .into_iter()
            .map(|t| (t.id, t.number))
            .collect();
        Ok(calls
            .into_iter()
            .map(|c| {
                let mut v = CallView::from(c);
                v.contact_name = v
                    .call
                    .contact_id
                    .and_then(|id| names.get(&id).cloned().flatten());
                v.ticket_number = v.call.ticket_id.and_then(|id| numbers.get(&id).copied());
                v
            })
            .collect())
    }

    async fn find_call(&self, pbx: &Pbx, call_id: &str) -> Result<Option<call::Model>> {
        Ok(call::Entity::find()
            .filter(call::Column::ChannelId.eq(pbx.channel.id))
            .filter(call::Column::CallId.eq(call_id.trim()))
            .one(self.store.db())
            .await?)
    }

    async fn update_call(
        &self,
        id: i64,
        change: impl FnOnce(&mut call::ActiveModel),
    ) -> Result<call::Model> {
        let mut u = call::ActiveModel {
            id: Set(id),
            ..Default::default()
        };
        change(&mut u);
        let tx = self.store.write().await?;
        let c = u.update(&*tx).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// The contact a phone number (E.164) belongs to, if any.
    pub async fn contact_by_phone(&self, number: &str) -> Result<Option<i64>> {
        Ok(identity::Entity::find()
            .filter(identity::Column::Kind.eq(IdentityKind::Phone.as_str()))
            .filter(identity::Column::Value.eq(number))
            .one(self.store.db())
            .await?
            .map(|i| i.contact_id))
    }

    /// The agent a PBX user name stands for: the integration's map, else an agent with
    /// that email or name.
    async fn agent_for(&self, pbx: &Pbx, user: &str) -> Result<Option<i64>> {
        if let Some(id) = pbx.settings.extensions.get(user) {
            return Ok(Some(*id));
        }
        let lower = user.trim().to_lowercase();
        Ok(agent::Entity::find()
            .filter(agent::Column::Active.eq(true))
            .all(self.store.db())
            .await?
            .into_iter()
            .find(|a| a.email == lower || a.name.to_lowercase() == lower)
            .map(|a| a.id))
    }

    /// A missed call opens (or joins) the caller's call-back ticket on the voice channel;
    /// an anonymous caller cannot be called back and gets none.
    async fn call_back_ticket(&self, pbx: &Pbx, c: &call::Model) -> Result<Option<i64>> {
        let when: DateTime<Utc> = c.started_at;
        let mut text = format!(
            "Missed call from {} at {} UTC",
            c.from_number,
            when.format("%Y-%m-%d %H:%M")
        );
        if let Some(q) = &c.queue {
            text.push_str(&format!(" (queue {q})"));
        }
        text.push_str(". Please call back.");
        let Ok(phone) = normalize_phone(&c.from_number, self.rules.default_region) else {
            return Ok(None);
        };
        let claim = IdentityClaim::new(IdentityKind::Phone, phone);
        let mut inbound = Inbound::text(
            Channel::Voice,
            format!("{}:{}", pbx.channel.id, c.call_id),
            claim,
            text,
        );
        inbound.subject = Some(format!("Call back {}", c.from_number));
        inbound.channel_id = Some(pbx.channel.id);
        Ok(Some(self.ingest(&inbound).await?.ticket_id))
    }
}
