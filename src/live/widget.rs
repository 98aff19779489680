//! `/ws/widget`: the customer chat widget's live connection (protocol in docs/widget.md).
//!
//! The handshake names a widget site and must come from one of its allowed origins.
//! The first frame (`hello`) resumes or starts a visitor, optionally vouched for by
//! the shop's identity signature; from then on the connection carries only that
//! visitor's conversation. A message is acknowledged only after `desk::ingest`
//! committed it, and a repeated client id returns the stored message, so a widget
//! that resends after a cut connection never duplicates anything.
//!
//! Agent replies reach widgets through [`Visitors`], which routes by contact instead
//! of the hub's broadcast ring: ten thousand idle widgets cost nothing per event.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::StreamExt;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::socket::{End, HEARTBEAT, close, finish, heartbeat, is_too_big, ping, send};
use crate::channels::chat::{self, WidgetFrame, WidgetMessage, error_frame};
use crate::desk::channels::WidgetSite;
use crate::desk::visitors::VisitorSession;
use crate::desk::{Channel, Error};
use crate::http::AppState;
use crate::http::error::Problem;
use entity::message;

/// Largest frame a widget may send.
pub const MAX_FRAME: usize = 16 * 1024;
/// How long a new connection may take to say hello.
pub const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Frames one visitor may send per second, across all their tabs ...
pub const VISITOR_RATE: u32 = 4;
/// ... in bursts of this many (a widget resends its unacknowledged messages at once).
pub const VISITOR_BURST: u32 = 40;
/// Pushes queued for one connection; a connection further behind re-syncs.
const PUSH_QUEUE: usize = 64;
/// Acknowledged message ids a connection remembers to skip their live echo.
const ACKED_KEPT: usize = 16;
/// Customer typing notices reach agents at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(2);

/// The per-visitor frame budget, shared by a visitor's connections.
pub type VisitorLimiter = DefaultKeyedRateLimiter<String>;

/// A new visitor frame budget.
pub fn visitor_limiter() -> VisitorLimiter {
    let rate = NonZeroU32::new(VISITOR_RATE).expect("positive");
    let burst = NonZeroU32::new(VISITOR_BURST).expect("positive");
    RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
}

/// Something a connected widget should show.
#[derive(Debug)]
pub enum Push {
    Message(Arc<message::Model>),
    /// An agent is typing on one of the visitor's tickets.
    Typing(i64),
}

struct Route {
    conns: Vec<(u64, mpsc::Sender<Push>)>,
    tickets: Vec<i64>,
}

#[derive(Default)]
struct Routes {
    by_contact: HashMap<i64, Route>,
    ticket_contact: HashMap<i64, i64>,
}

/// The connected widgets, by the contact they speak for.
pub struct Visitors {
    routes: Mutex<Routes>,
    next_conn: AtomicU64,
    /// Whether any agent is online, for the widgets' "nobody is here" notice.
    available: watch::Sender<bool>,
}

impl Default for Visitors {
    fn default() -> Self {
        Visitors {
            routes: Mutex::default(),
            next_conn: AtomicU64::new(1),
            available: watch::Sender::new(false),
        }
    }
}

impl Visitors {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection for a contact with its chat tickets; returns its id.
    fn join(&self, contact_id: i64, tickets: &[i64], sender: mpsc::Sender<Push>) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut routes = self.routes();
        let route = routes.by_contact.entry(contact_id).or_insert(Route {
            conns: Vec::new(),
            tickets: Vec::new(),
        });
        route.conns.push((conn, sender));
        let mut added = Vec::new();
        for t in tickets {
            if !route.tickets.contains(t) {
                route.tickets.push(*t);
                added.push(*t);
            }
        }
        for t in added {
            routes.ticket_contact.insert(t, contact_id);
        }
        conn
    }

    /// Remembers that a contact's widget talks on this ticket (for typing notices).
    fn ticket(&self, contact_id: i64, ticket_id: i64) {
        let mut routes = self.routes();
        if let Some(route) = routes.by_contact.get_mut(&contact_id)
            && !route.tickets.contains(&ticket_id)
        {
            route.tickets.push(ticket_id);
            routes.ticket_contact.insert(ticket_id, contact_id);
        }
    }

    fn leave(&self, contact_id: i64, conn: u64) {
        let mut routes = self.routes();
        let Some(route) = routes.by_contact.get_mut(&contact_id) else {
            return;
        };
        route.conns.retain(|(c, _)| *c != conn);
        if route.conns.is_empty()
            && let Some(route) = routes.by_contact.remove(&contact_id)
        {
            for t in route.tickets {
                routes.ticket_contact.remove(&t);
            }
        }
    }

    /// Hands a push to every widget of a contact. A widget whose queue is full is
    /// dropped from the routes: its connection sees the queue close and re-syncs.
    fn push(&self, contact_id: i64, make: impl Fn() -> Push) {
        let mut routes = self.routes();
        let Some(route) = routes.by_contact.get_mut(&contact_id) else {
            return;
        };
        route
            .conns
            .retain(|(_, sender)| sender.try_send(make()).is_ok());
    }

    /// A message was added to a ticket: widgets of the ticket's contact see it when
    /// it is on a chat ticket and not a note.
    pub fn message(&self, ticket: &entity::ticket::Model, message: &message::Model) {
        if ticket.channel != Channel::Chat.as_str() || message.direction == "note" {
            return;
        }
        self.ticket(ticket.contact_id, ticket.id);
        let message = Arc::new(message.clone());
        self.push(ticket.contact_id, || Push::Message(message.clone()));
    }

    /// An agent is typing on a ticket; its contact's widgets show it.
    pub fn agent_typing(&self, ticket_id: i64, agent_id: i64) {
        let contact = self.routes().ticket_contact.get(&ticket_id).copied();
        if let Some(contact_id) = contact {
            self.push(contact_id, || Push::Typing(agent_id));
        }
    }

    /// True when a widget of this contact is connected now.
    pub fn online(&self, contact_id: i64) -> bool {
        self.routes().by_contact.contains_key(&contact_id)
    }

    /// Tells the widgets whether any agent is online.
    pub fn set_available(&self, available: bool) {
        self.available.send_if_modified(|a| {
            let changed = *a != available;
            *a = available;
            changed
        });
    }

    /// Connected widget connections, for the benchmark and health figures.
    pub fn connections(&self) -> usize {
        self.routes()
            .by_contact
            .values()
            .map(|r| r.conns.len())
            .sum()
    }
}

/// The handshake's query: which site.
#[derive(Deserialize)]
pub struct SiteQuery {
    site: String,
}

/// The upgrade handler.
pub async fn socket(
    State(state): State<AppState>,
    Query(query): Query<SiteQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, Problem> {
    let site = state
        .desk
        .widget_by_key(&query.site)
        .await?
        .ok_or_else(|| Problem::not_found("no active widget site has this key"))?;
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !origin.is_some_and(|o| site.allows(o)) {
        return Err(Problem::forbidden(
            "origin",
            "this page's origin is not one of the widget site's allowed origins",
        ));
    }
    // Small buffers: an idle widget costs a few kilobytes (they grow for a large frame).
    Ok(ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| run(state, site, socket)))
}

/// One widget's connection after the handshake.
struct Conn {
    state: AppState,
    site: WidgetSite,
    visitor: VisitorSession,
    /// The contact's route, once there is a contact: (contact, connection id).
    joined: Option<(i64, u64)>,
    /// The receiving end of a route just joined, for the connection's loop to take.
    fresh: Option<mpsc::Receiver<Push>>,
    /// The visitor's newest chat ticket, for typing notices.
    ticket_id: Option<i64>,
    last_typing: Option<Instant>,
    /// The visitor's first message on this connection was recorded.
    seen: bool,
    /// Messages this connection just acknowledged: their live echo is not sent again.
    acked: std::collections::VecDeque<i64>,
    agent_names: HashMap<i64, String>,
}

async fn run(state: AppState, site: WidgetSite, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let hello = match tokio::time::timeout(HELLO_WITHIN, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<WidgetFrame>(&text).ok(),
        Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => return,
        Ok(Some(Ok(_))) => None,
        Err(_) => {
            return finish(&mut sink, End::Close(close::NO_HELLO, "say hello first")).await;
        }
    };
    let Some(WidgetFrame::Hello {
        token,
        identity,
        after,
    }) = hello
    else {
        return finish(
            &mut sink,
            End::Close(close::POLICY, "the first frame must be hello"),
        )
        .await;
    };
    let verified = match identity {
        None => None,
        Some(signed) => match signed.verify(&site) {
            Some(customer) => Some(customer),
            None => {
                let _ = send(
                    &mut sink,
                    error_frame(
                        "identity_signature",
                        "the identity signature is not this site's; connect without identity",
                        None,
                    ),
                )
                .await;
                return finish(
                    &mut sink,
                    End::Close(close::FORGED_IDENTITY, "identity signature invalid"),
                )
                .await;
            }
        },
    };
    let known = token.and_then(|t| chat::token_visitor(&site, &t));
    let visitor = match state
        .desk
        .open_visitor(site.channel.id, known, verified)
        .await
    {
        Ok(v) => v,
        Err(Error::Invalid { message, .. }) => {
            let _ = send(&mut sink, error_frame("invalid_identity", &message, None)).await;
            return finish(
                &mut sink,
                End::Close(close::FORGED_IDENTITY, "identity not usable"),
            )
            .await;
        }
        Err(e) => {
            tracing::warn!("widget hello failed: {e}");
            return finish(&mut sink, End::Close(close::TRY_AGAIN, "try again")).await;
        }
    };

    let mut conn = Conn {
        state: state.clone(),
        site,
        visitor,
        joined: None,
        fresh: None,
        acked: std::collections::VecDeque::new(),
        ticket_id: None,
        last_typing: None,
        seen: false,
        agent_names: HashMap::new(),
    };
    let welcome = match conn.welcome(after).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("widget history failed: {e}");
            conn.leave();
            return finish(&mut sink, End::Close(close::TRY_AGAIN, "try again")).await;
        }
    };
    let visitors = state.desk.hub.visitors.clone();
    let mut available = visitors.available.subscribe();
    available.mark_unchanged();
    let mut end = (!send(&mut sink, welcome).await).then_some(End::Quiet);
    let mut heartbeat = heartbeat().await;
    let mut last_heard = Instant::now();
    let mut pushes: Option<mpsc::Receiver<Push>> = None;

    while end.is_none() {
        if let Some(fresh) = conn.fresh.take() {
            pushes = Some(fresh);
        }
        tokio::select! {
            push = async { pushes.as_mut()?.recv().await }, if pushes.is_some() => match push {
                Some(push) => {
                    if let Some(frame) = conn.show(push).await && !send(&mut sink, frame).await {
                        end = Some(End::Quiet);
                    }
                }
                // The routes dropped us: we fell behind.
                None => end = Some(End::Close(close::RESYNC, "re-sync")),
            },
            changed = available.changed() => {
                if changed.is_err() {
                    end = Some(End::Quiet);
                } else {
                    let online = *available.borrow_and_update();
                    if !send(&mut sink, json!({"type": "agents", "online": online}).to_string()).await {
                        end = Some(End::Quiet);
                    }
                }
            },
            incoming = stream.next() => {
                last_heard = Instant::now();
                end = match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if state.widget_limiter.check_key(&conn.visitor.visitor_id).is_err() {
                            Some(End::Close(close::POLICY, "too many messages"))
                        } else {
                            conn.handle(&text, &mut sink).await
                        }
                    }
                    Some(Ok(Message::Binary(_))) => Some(End::Close(close::UNSUPPORTED, "text frames only")),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_))) | None => Some(End::Quiet),
                    Some(Err(e)) => Some(if is_too_big(&e) {
                        End::Close(close::TOO_BIG, "frame too big")
                    } else {
                        End::Quiet
                    }),
                };
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > HEARTBEAT * 2 || !ping(&mut sink).await {
                    end = Some(End::Quiet);
                }
            }
        }
    }
    conn.leave();
    if let Some(end) = end {
        finish(&mut sink, end).await;
    }
}

impl Conn {
    /// The welcome frame: the visitor's token, the site, who is online and the history.
    async fn welcome(&mut self, after: Option<i64>) -> crate::desk::Result<String> {
        let desk = self.state.desk.clone();
        let mut messages = Vec::new();
        if let Some(contact_id) = self.visitor.contact_id {
            let (history, tickets) = desk.chat_conversation(contact_id, after).await?;
            self.ticket_id = tickets.iter().max().copied();
            self.join(contact_id, &tickets);
            for m in &history {
                if let Some(shown) = self.view(m).await {
                    messages.push(shown);
                }
            }
        }
        let verified = self
            .visitor
            .verified
            .as_ref()
            .map(|v| json!({"email": v.email, "name": v.name}));
        Ok(json!({
            "type": "welcome",
            "token": chat::visitor_token(&self.site, &self.visitor.visitor_id),
            "site": {"name": self.site.channel.name, "greeting": self.site.settings.greeting},
            "agents_online": *desk.hub.visitors.available.borrow(),
            "email": self.visitor.email,
            "verified": verified,
            "messages": messages,
            "reset": self.visitor.reset,
        })
        .to_string())
    }

    fn join(&mut self, contact_id: i64, tickets: &[i64]) {
        let visitors = self.state.desk.hub.visitors.clone();
        match self.joined {
            Some((joined, _)) if joined == contact_id => {
                for t in tickets {
                    visitors.ticket(contact_id, *t);
                }
            }
            _ => {
                self.leave();
                let (sender, receiver) = mpsc::channel(PUSH_QUEUE);
                let conn = visitors.join(contact_id, tickets, sender);
                self.joined = Some((contact_id, conn));
                self.fresh = Some(receiver);
            }
        }
    }

    fn leave(&mut self) {
        if let Some((contact_id, conn)) = self.joined.take() {
            self.state.desk.hub.visitors.leave(contact_id, conn);
        }
    }

    /// A stored message as this visitor sees it.
    async fn view(&mut self, m: &message::Model) -> Option<WidgetMessage> {
        if let Some(agent_id) = m.author_agent_id {
            self.agent_name(agent_id).await;
        }
        let survey = match self.state.desk.message_survey_url(m).await {
            Ok(url) => url,
            Err(e) => {
                tracing::warn!(message_id = m.id, "survey link not shown: {e}");
                None
            }
        };
        WidgetMessage::of(m, &self.visitor.visitor_id, &self.agent_names, survey)
    }

    async fn agent_name(&mut self, agent_id: i64) -> Option<String> {
        if !self.agent_names.contains_key(&agent_id)
            && let Ok(agent) = self.state.desk.agent(agent_id).await
        {
            self.agent_names.insert(agent_id, agent.agent.name);
        }
        self.agent_names.get(&agent_id).cloned()
    }

    /// The frame for a push, if this widget shows it.
    async fn show(&mut self, push: Push) -> Option<String> {
        match push {
            Push::Message(m) => {
                if self.acked.contains(&m.id) {
                    return None;
                }
                let shown = self.view(&m).await?;
                Some(json!({"type": "message", "message": shown}).to_string())
            }
            Push::Typing(agent_id) => {
                let name = self.agent_name(agent_id).await;
                Some(json!({"type": "typing", "agent": name}).to_string())
            }
        }
    }

    /// Handles one frame after hello; returns how the connection ends, if it does.
    async fn handle<S>(&mut self, text: &str, sink: &mut S) -> Option<End>
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        let frame: WidgetFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(_) => return Some(End::Close(close::POLICY, "not a widget frame")),
        };
        let reply = match frame {
            WidgetFrame::Hello { .. } => {
                return Some(End::Close(close::POLICY, "hello only once"));
            }
            WidgetFrame::Send { client_id, text } => {
                match self.send_message(&client_id, &text).await {
                    Ok(frame) => frame,
                    Err(Error::Invalid { message, .. }) => {
                        error_frame("invalid", &message, Some(&client_id))
                    }
                    Err(e) => {
                        tracing::warn!("widget message not stored: {e}");
                        let _ = send(
                            sink,
                            error_frame("unavailable", "not stored; it will be sent again", None),
                        )
                        .await;
                        return Some(End::Close(close::TRY_AGAIN, "try again"));
                    }
                }
            }
            WidgetFrame::Email { email } => {
                let desk = &self.state.desk;
                match desk
                    .set_visitor_email(&self.visitor.visitor_id, self.site.channel.id, &email)
                    .await
                {
                    Ok(email) => {
                        self.visitor.email = Some(email.clone());
                        json!({"type": "email_saved", "email": email}).to_string()
                    }
                    Err(Error::Invalid { message, .. }) => {
                        error_frame("invalid_email", &message, None)
                    }
                    Err(e) => {
                        tracing::warn!("widget email not stored: {e}");
                        error_frame("unavailable", "not stored; try again", None)
                    }
                }
            }
            WidgetFrame::Typing {} => {
                let due = self.last_typing.is_none_or(|t| t.elapsed() >= TYPING_EVERY);
                if let (Some(ticket_id), true) = (self.ticket_id, due) {
                    self.last_typing = Some(Instant::now());
                    self.state.desk.hub.customer_typing(ticket_id);
                }
                return None;
            }
        };
        if send(sink, reply).await {
            None
        } else {
            Some(End::Quiet)
        }
    }

    /// Stores a visitor message (or finds it stored) and builds its acknowledgement.
    async fn send_message(&mut self, client_id: &str, text: &str) -> crate::desk::Result<String> {
        let inbound = chat::inbound(&self.visitor, client_id, text)?;
        let visitor_id = self.visitor.visitor_id.clone();
        let desk = self.state.desk.clone();
        let outcome = desk.ingest(&inbound).await?;
        if !self.seen {
            desk.visitor_wrote(&visitor_id, self.site.channel.id)
                .await?;
            self.seen = true;
        }
        self.ticket_id = Some(
            self.ticket_id
                .map_or(outcome.ticket_id, |t| t.max(outcome.ticket_id)),
        );
        self.join(outcome.contact_id, &[outcome.ticket_id]);
        if self.acked.len() == ACKED_KEPT {
            self.acked.pop_front();
        }
        self.acked.push_back(outcome.message_id);
        let stored = desk.message(outcome.message_id).await?;
        let shown = self.view(&stored).await.ok_or_else(|| {
            Error::invalid("client_id", "names a message that is not the visitor's")
        })?;
        Ok(json!({"type": "ack", "client_id": client_id, "message": shown}).to_string())
    }
}
