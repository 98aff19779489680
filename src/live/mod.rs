//! The live hub: notifications pushed to connected agents the moment a change commits.
//!
//! The hub is a notification, not a record (invariant 4): events go to whoever is
//! connected now, through one bounded broadcast ring serialized once per event. A
//! connection that falls behind the ring is told to re-sync and dropped, so a slow
//! consumer never grows memory; clients re-read the API after every reconnect.
//!
//! Besides the store's changes the hub keeps who is online and who is viewing or typing
//! on which ticket, for presence and collision detection.

pub mod agent;
pub mod socket;
pub mod widget;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use entity::{message, ticket};

/// Events kept for connections that are behind; a connection further behind re-syncs.
pub const RING: usize = 1024;
/// How long "typing" shows after the last keystroke notice.
pub const TYPING_FOR: Duration = Duration::from_secs(6);

/// A change agents should see.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    TicketCreated {
        ticket: ticket::Model,
    },
    TicketUpdated {
        ticket: ticket::Model,
    },
    MessageAdded {
        ticket_id: i64,
        message: message::Model,
    },
    /// A message's delivery status changed.
    MessageUpdated {
        ticket_id: i64,
        message: message::Model,
    },
    /// The agents online now.
    Presence {
        agents: Vec<i64>,
    },
    /// Who has a ticket open and who is typing a reply on it.
    Viewing {
        ticket_id: i64,
        viewing: Vec<i64>,
        typing: Vec<i64>,
    },
    /// The customer is typing in the chat widget on this ticket.
    CustomerTyping {
        ticket_id: i64,
    },
    /// A phone call rings or was answered: the call and the caller's card (contact,
    /// customer value, last orders, open tickets; null for an unknown caller), for the
    /// console's screen pop.
    Call {
        call: entity::call::Model,
        card: serde_json::Value,
    },
    /// The connection's session ended (logout, deactivation); it closes.
    SessionEnded,
    /// An SLA due time of a ticket comes up within its policy's warning time.
    SlaWarning {
        ticket_id: i64,
        metric: &'static str,
        due_at: chrono::DateTime<chrono::Utc>,
    },
    /// An SLA due time of a ticket passed: the breach is recorded.
    SlaBreached {
        ticket_id: i64,
        metric: &'static str,
        due_at: chrono::DateTime<chrono::Utc>,
    },
    /// Feedback was recorded (a survey answer, or a ticket marked by an agent or rule);
    /// for the team leads' feedback topic.
    FeedbackAdded {
        feedback: crate::desk::feedback::FeedbackItem,
    },
    /// A complaint was raised on a ticket, or its closed one reopened; for the team
    /// leads' feedback topic.
    ComplaintRaised {
        complaint: crate::desk::feedback::ComplaintItem,
        reopened: bool,
    },
    /// A complaint was worked (state, owner, outcome, note); for the feedback topic.
    ComplaintUpdated {
        complaint: crate::desk::feedback::ComplaintItem,
    },
    /// A customer changed their survey answer; for the feedback topic.
    FeedbackUpdated {
        feedback: crate::desk::feedback::FeedbackItem,
    },
}

/// Who may receive an event: everyone watching the queue, a team, one ticket, or presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A ticket's change: goes to `queue`, `team:{team}` and `ticket:{id}` subscribers.
    Ticket {
        id: i64,
        team_id: Option<i64>,
        queue: bool,
    },
    Presence,
    /// A call for the screen pop: to one agent (who answered, or whose extension it
    /// rings), else to the members of the queue's team, else to every agent subscribed
    /// to `calls`.
    Call {
        agent_id: Option<i64>,
        team_id: Option<i64>,
    },
    /// Feedback or a complaint on a ticket of `team_id`: to the leads of that team
    /// subscribed to `feedback`, and to admins and leads without a team.
    Feedback {
        team_id: Option<i64>,
    },
    /// An agent's sessions ended: one (`Some`) or all of them (`None`). Not a topic:
    /// the hub's connections act on it themselves.
    SessionsEnded {
        agent_id: i64,
        session_id: Option<i64>,
    },
}

/// An event as sent: its id, the scope it is for, and its JSON, serialized once and
/// shared by every connection that sends it.
#[derive(Debug)]
pub struct Envelope {
    pub id: u64,
    pub scope: Scope,
    pub json: Utf8Bytes,
}

/// A topic a connection may subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Queue,
    Presence,
    Team(i64),
    Ticket(i64),
    Calls,
    /// Feedback and complaints of the subscriber's teams (leads and admins only).
    Feedback,
    /// Feedback and complaints of every team: added beside [`Topic::Feedback`] for admins
    /// and leads without a team; never parsed from a client's topic name.
    FeedbackAll,
}

impl std::str::FromStr for Topic {
    type Err = String;
    fn from_str(s: &str) -> Result<Topic, String> {
        let id = |rest: &str| rest.parse::<i64>().ok().filter(|id| *id > 0);
        match s {
            "queue" => Ok(Topic::Queue),
            "presence" => Ok(Topic::Presence),
            "calls" => Ok(Topic::Calls),
            "feedback" => Ok(Topic::Feedback),
            _ => match s.split_once(':') {
                Some(("team", rest)) => id(rest).map(Topic::Team),
                Some(("ticket", rest)) => id(rest).map(Topic::Ticket),
                _ => None,
            }
            .ok_or_else(|| format!("unknown topic {s:?}")),
        }
    }
}

impl Scope {
    /// True when a connection of `agent_id` (a member of `teams`) subscribed to `topics`
    /// should get this event.
    pub fn reaches(&self, topics: &BTreeSet<Topic>, agent_id: i64, teams: &[i64]) -> bool {
        match *self {
            Scope::Presence => topics.contains(&Topic::Presence),
            Scope::Call {
                agent_id: to,
                team_id,
            } => {
                topics.contains(&Topic::Calls)
                    && match (to, team_id) {
                        (Some(to), _) => to == agent_id,
                        (None, Some(team)) => teams.contains(&team),
                        (None, None) => true,
                    }
            }
            Scope::SessionsEnded { .. } => false,
            Scope::Feedback { team_id } => {
                topics.contains(&Topic::FeedbackAll)
                    || (topics.contains(&Topic::Feedback)
                        && team_id.is_some_and(|t| teams.contains(&t)))
            }
            Scope::Ticket { id, team_id, queue } => {
                topics.contains(&Topic::Ticket(id))
                    || (queue && topics.contains(&Topic::Queue))
                    || (queue && team_id.is_some_and(|t| topics.contains(&Topic::Team(t))))
            }
        }
    }
}

#[derive(Default)]
struct Collision {
    viewing: HashMap<i64, usize>,
    typing: HashMap<i64, Instant>,
}

#[derive(Default)]
struct Rooms {
    online: HashMap<i64, usize>,
    tickets: HashMap<i64, Collision>,
}

/// The hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Envelope>>,
    next_id: Arc<AtomicU64>,
    order: Arc<Mutex<()>>,
    rooms: Arc<Mutex<Rooms>>,
    /// The connected chat widgets, reached by contact rather than through the ring.
    pub visitors: Arc<widget::Visitors>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (sender, _) = broadcast::channel(RING);
        Hub {
            sender,
            next_id: Arc::new(AtomicU64::new(1)),
            order: Arc::new(Mutex::new(())),
            rooms: Arc::new(Mutex::new(Rooms::default())),
            visitors: Arc::default(),
        }
    }

    /// Sends an event to the connections it concerns. Call only after the change
    /// committed.
    pub fn publish(&self, scope: Scope, event: &Event) {
        let body = match serde_json::to_string(event) {
            Ok(b) if b.starts_with('{') => b,
            Ok(_) | Err(_) => {
                tracing::error!("live event not serializable");
                return;
            }
        };
        // Ids are taken and sent under one lock, so they reach every connection in order.
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let json = Utf8Bytes::from(format!("{{\"id\":{id},{}", &body[1..]));
        // No receivers is fine: nobody is connected.
        let _ = self.sender.send(Arc::new(Envelope { id, scope, json }));
    }

    /// The id the next event will have, for a client's "last seen".
    pub fn last_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed).saturating_sub(1)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.sender.subscribe()
    }

    /// A ticket was created or changed.
    pub fn ticket(&self, ticket: &ticket::Model, created: bool) {
        let scope = Scope::Ticket {
            id: ticket.id,
            team_id: ticket.team_id,
            queue: true,
        };
        let event = if created {
            Event::TicketCreated {
                ticket: ticket.clone(),
            }
        } else {
            Event::TicketUpdated {
                ticket: ticket.clone(),
            }
        };
        self.publish(scope, &event);
    }

    /// A message was added to a ticket.
    pub fn message(&self, ticket: &ticket::Model, message: &message::Model) {
        let scope = Scope::Ticket {
            id: ticket.id,
            team_id: ticket.team_id,
            queue: true,
        };
        self.publish(
            scope,
            &Event::MessageAdded {
                ticket_id: ticket.id,
                message: message.clone(),
            },
        );
        self.visitors.message(ticket, message);
    }

    /// True when a chat widget of this contact is connected.
    pub fn visitor_online(&self, contact_id: i64) -> bool {
        self.visitors.online(contact_id)
    }

    /// The customer is typing in the chat widget; the ticket's viewers see it.
    pub fn customer_typing(&self, ticket_id: i64) {
        let scope = Scope::Ticket {
            id: ticket_id,
            team_id: None,
            queue: false,
        };
        self.publish(scope, &Event::CustomerTyping { ticket_id });
    }

    /// Closes the live connections of an agent's ended sessions.
    pub fn sessions_ended(&self, agent_id: i64, session_id: Option<i64>) {
        self.publish(
            Scope::SessionsEnded {
                agent_id,
                session_id,
            },
            &Event::SessionEnded,
        );
    }

    /// Feedback was recorded; the leads of the ticket's team hear of it.
    pub fn feedback_added(&self, feedback: &crate::desk::feedback::FeedbackItem) {
        self.publish(
            Scope::Feedback {
                team_id: feedback.team_id,
            },
            &Event::FeedbackAdded {
                feedback: feedback.clone(),
            },
        );
    }

    /// A complaint was raised, or a closed one reopened; the leads of the ticket's team
    /// hear of it.
    pub fn complaint_raised(
        &self,
        complaint: &crate::desk::feedback::ComplaintItem,
        reopened: bool,
    ) {
        self.publish(
            Scope::Feedback {
                team_id: complaint.team_id,
            },
            &Event::ComplaintRaised {
                complaint: complaint.clone(),
                reopened,
            },
        );
    }

    /// A complaint was worked; the leads of the ticket's team hear of it.
    pub fn complaint_updated(&self, complaint: &crate::desk::feedback::ComplaintItem) {
        self.publish(
            Scope::Feedback {
                team_id: complaint.team_id,
            },
            &Event::ComplaintUpdated {
                complaint: complaint.clone(),
            },
        );
    }

    /// A survey answer was changed; the leads of the ticket's team hear of it.
    pub fn feedback_updated(&self, feedback: &crate::desk::feedback::FeedbackItem) {
        self.publish(
            Scope::Feedback {
                team_id: feedback.team_id,
            },
            &Event::FeedbackUpdated {
                feedback: feedback.clone(),
            },
        );
    }

    /// An SLA due time comes up (`breached` false) or passed (true); the ticket's queue,
    /// team and viewers hear of it.
    pub fn sla(
        &self,
        ticket: &ticket::Model,
        breached: bool,
        metric: &'static str,
        due_at: chrono::DateTime<chrono::Utc>,
    ) {
        let scope = Scope::Ticket {
            id: ticket.id,
            team_id: ticket.team_id,
            queue: true,
        };
        let ticket_id = ticket.id;
        let event = if breached {
            Event::SlaBreached {
                ticket_id,
                metric,
                due_at,
            }
        } else {
            Event::SlaWarning {
                ticket_id,
                metric,
                due_at,
            }
        };
        self.publish(scope, &event);
    }

    /// A message's delivery status changed; only the ticket's viewers need it.
    /// A call for the screen pop (see [`Scope::Call`] for who gets it).
    pub fn call(
        &self,
        agent_id: Option<i64>,
        team_id: Option<i64>,
        call: &entity::call::Model,
        card: serde_json::Value,
    ) {
        self.publish(
            Scope::Call { agent_id, team_id },
            &Event::Call {
                call: call.clone(),
                card,
            },
        );
    }

    pub fn message_updated(&self, message: &message::Model) {
        let scope = Scope::Ticket {
            id: message.ticket_id,
            team_id: None,
            queue: false,
        };
        self.publish(
            scope,
            &Event::MessageUpdated {
                ticket_id: message.ticket_id,
                message: message.clone(),
            },
        );
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, Rooms> {
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An agent connected (true) or one of their connections closed (false).
    pub fn online(&self, agent_id: i64, connected: bool) {
        let agents = {
            let mut rooms = self.rooms();
            let before = rooms.online.len();
            let count = rooms.online.entry(agent_id).or_default();
            if connected {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    rooms.online.remove(&agent_id);
                }
            }
            if rooms.online.len() == before && connected {
                // Another tab of someone already online: nothing changed.
                return;
            }
            let mut agents: Vec<i64> = rooms.online.keys().copied().collect();
            agents.sort_unstable();
            agents
        };
        self.visitors.set_available(!agents.is_empty());
        self.publish(Scope::Presence, &Event::Presence { agents });
    }

    /// The agents online now.
    pub fn online_agents(&self) -> Vec<i64> {
        let mut agents: Vec<i64> = self.rooms().online.keys().copied().collect();
        agents.sort_unstable();
        agents
    }

    /// An agent opened (true) or left (false) a ticket.
    pub fn viewing(&self, ticket_id: i64, agent_id: i64, open: bool) {
        {
            let mut rooms = self.rooms();
            let room = rooms.tickets.entry(ticket_id).or_default();
            let count = room.viewing.entry(agent_id).or_default();
            if open {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    room.viewing.remove(&agent_id);
                    room.typing.remove(&agent_id);
                }
            }
        }
        self.publish_collision(ticket_id);
    }

    /// An agent is typing a reply; shown for [`TYPING_FOR`] unless repeated.
    pub fn typing(&self, ticket_id: i64, agent_id: i64) {
        let was_typing = {
            let mut rooms = self.rooms();
            let room = rooms.tickets.entry(ticket_id).or_default();
            let until = Instant::now() + TYPING_FOR;
            room.typing
                .insert(agent_id, until)
                .is_some_and(|old| old > Instant::now())
        };
        if !was_typing {
            self.publish_collision(ticket_id);
        }
        self.visitors.agent_typing(ticket_id, agent_id);
        // Clear it when it runs out, unless renewed meanwhile.
        let hub = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(TYPING_FOR + Duration::from_millis(50)).await;
            let expired = {
                let mut rooms = hub.rooms();
                let Some(room) = rooms.tickets.get_mut(&ticket_id) else {
                    return;
                };
                match room.typing.get(&agent_id) {
                    Some(until) if *until <= Instant::now() => {
                        room.typing.remove(&agent_id);
                        true
                    }
                    _ => false,
                }
            };
            if expired {
                hub.publish_collision(ticket_id);
            }
        });
    }

    fn publish_collision(&self, ticket_id: i64) {
        let (viewing, typing) = {
            let mut rooms = self.rooms();
            let now = Instant::now();
            let Some(room) = rooms.tickets.get_mut(&ticket_id) else {
                return;
            };
            let mut viewing: Vec<i64> = room.viewing.keys().copied().collect();
            let mut typing: Vec<i64> = room
                .typing
                .iter()
                .filter(|(_, until)| **until > now)
                .map(|(a, _)| *a)
                .collect();
            viewing.sort_unstable();
            typing.sort_unstable();
            if room.viewing.is_empty() && typing.is_empty() {
                rooms.tickets.remove(&ticket_id);
            }
            (viewing, typing)
        };
        let scope = Scope::Ticket {
            id: ticket_id,
            team_id: None,
            queue: false,
        };
        self.publish(
            scope,
            &Event::Viewing {
                ticket_id,
                viewing,
                typing,
            },
        );
    }

    /// Who views and types on a ticket now (sent to a connection that just subscribed).
    pub fn collision(&self, ticket_id: i64) -> Event {
        let rooms = self.rooms();
        let now = Instant::now();
        let (mut viewing, mut typing) = match rooms.tickets.get(&ticket_id) {
            Some(room) => (
                room.viewing.keys().copied().collect::<Vec<_>>(),
                room.typing
                    .iter()
                    .filter(|(_, until)| **until > now)
                    .map(|(a, _)| *a)
                    .collect::<Vec<_>>(),
            ),
            None => (vec![], vec![]),
        };
        viewing.sort_unstable();
        typing.sort_unstable();
        Event::Viewing {
            ticket_id,
            viewing,
            typing,
        }
    }
}
