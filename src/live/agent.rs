//! `/ws/agent`: the agent console's live connection.
//!
//! The handshake is authenticated by the agent's session cookie (never a token in the
//! URL) and must come from the desk's own origin (cross-site WebSocket hijacking). The
//! connection then carries the hub's events for the topics it subscribed to, and the
//! agent's viewing and typing notices the other way. Frames are size-limited, client
//! messages rate-limited, a heartbeat finds dead peers, the session is re-checked so a
//! logout or deactivation ends the connection, and a connection that falls behind the
//! hub is told to re-sync and closed.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::socket::{End, HEARTBEAT, close, finish, heartbeat, is_too_big, ping, send};
use super::{Event, Scope, Topic};
use crate::desk::Role;
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::error::Problem;

/// Largest message a client may send; the console's messages are tiny.
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// Client messages allowed per second (bursts of up to this many).
pub const CLIENT_RATE: u32 = 20;
/// Topics one connection may hold.
pub const MAX_TOPICS: usize = 64;

/// What the console sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe { topics: Vec<String> },
    Unsubscribe { topics: Vec<String> },
    Viewing { ticket_id: i64 },
    Left { ticket_id: i64 },
    Typing { ticket_id: i64 },
}

/// The upgrade handler.
pub async fn socket(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, Problem> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !origin.is_some_and(|o| o.eq_ignore_ascii_case(&state.config.public_origin())) {
        return Err(Problem::forbidden(
            "origin",
            "the live connection must come from the desk's own origin",
        ));
    }
    let (Some(agent), Some(session_id)) = (p.agent.clone(), p.session_id) else {
        return Err(Problem::forbidden(
            "session",
            "the live connection needs a signed-in agent",
        ));
    };
    let teams = state.desk.agent_team_ids(agent.id).await?;
    let conn = Connection {
        state,
        agent_id: agent.id,
        role: p.role,
        session_id,
        teams,
        topics: BTreeSet::new(),
        viewing: HashSet::new(),
    };
    // Small buffers: an idle console costs kilobytes, not the default 128 KiB (they grow
    // for the rare large frame).
    Ok(ws
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| conn.run(socket)))
}

/// One agent's live connection.
struct Connection {
    state: AppState,
    agent_id: i64,
    role: Role,
    session_id: i64,
    teams: Vec<i64>,
    topics: BTreeSet<Topic>,
    viewing: HashSet<i64>,
}

impl Connection {
    async fn run(mut self, socket: WebSocket) {
        let hub = self.state.desk.hub.clone();
        let mut events = hub.subscribe();
        let (mut sink, mut stream) = socket.split();
        hub.online(self.agent_id, true);

        let hello =
            json!({"type": "hello", "agent_id": self.agent_id, "last_event_id": hub.last_id()})
                .to_string();
        let mut end = (!send(&mut sink, hello).await).then_some(End::Quiet);

        let mut heartbeat = heartbeat().await;
        let mut last_heard = Instant::now();
        let mut budget = CLIENT_RATE as f64;
        let mut refilled = Instant::now();

        while end.is_none() {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(envelope) => {
                        if let Scope::SessionsEnded { agent_id, session_id } = envelope.scope {
                            if agent_id == self.agent_id && session_id.is_none_or(|s| s == self.session_id) {
                                let _ = send(&mut sink, envelope.json.clone()).await;
                                end = Some(End::Close(close::SESSION_ENDED, "session ended"));
                            }
                        } else if envelope.scope.reaches(&self.topics, self.agent_id, &self.teams) && !send(&mut sink, envelope.json.clone()).await {
                            end = Some(End::Quiet);
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(agent = self.agent_id, missed, "live connection fell behind; asking it to re-sync");
                        let _ = send(&mut sink, json!({"type": "resync"}).to_string()).await;
                        end = Some(End::Close(close::RESYNC, "re-sync"));
                    }
                    Err(RecvError::Closed) => end = Some(End::Quiet),
                },
                incoming = stream.next() => {
                    last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => {
                            // A token bucket: CLIENT_RATE per second, bursts of CLIENT_RATE.
                            let now = Instant::now();
                            budget = (budget + now.duration_since(refilled).as_secs_f64() * CLIENT_RATE as f64).min(CLIENT_RATE as f64);
                            refilled = now;
                            if budget < 1.0 {
                                end = Some(End::Close(close::POLICY, "too many messages"));
                            } else {
                                budget -= 1.0;
                                let replies = self.handle(&text).await;
                                for reply in replies {
                                    if !send(&mut sink, reply).await {
                                        end = Some(End::Quiet);
                                    }
                                }
                            }
                        }
                        Some(Ok(Message::Binary(_))) => end = Some(End::Close(close::UNSUPPORTED, "text frames only")),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => end = Some(End::Quiet),
                        Some(Err(e)) => {
                            end = Some(if is_too_big(&e) { End::Close(close::TOO_BIG, "message too big") } else { End::Quiet });
                        }
                    }
                },
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > HEARTBEAT * 2 {
                        end = Some(End::Quiet);
                    } else if !self.session_alive().await {
                        end = Some(End::Close(close::SESSION_ENDED, "session ended"));
                    } else if !ping(&mut sink).await {
                        end = Some(End::Quiet);
                    }
                }
            }
        }

        if let Some(end) = end {
            finish(&mut sink, end).await;
        }
        for ticket_id in self.viewing.drain() {
            hub.viewing(ticket_id, self.agent_id, false);
        }
        hub.online(self.agent_id, false);
    }

    /// Applies one client message; returns what to send back.
    async fn handle(&mut self, text: &str) -> Vec<String> {
        let error = |detail: String| vec![json!({"type": "error", "detail": detail}).to_string()];
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => return error(format!("not a message this connection understands: {e}")),
        };
        let hub = &self.state.desk.hub;
        match message {
            ClientMessage::Subscribe { topics } => {
                // Each topic stands alone: a refused one does not cost the others.
                let mut replies = Vec::new();
                for raw in topics {
                    let topic = match raw.parse::<Topic>() {
                        Ok(t) => t,
                        Err(e) => {
                            replies.extend(error(e));
                            continue;
                        }
                    };
                    if let Topic::Team(team) = topic
                        && !self.role.covers(Role::Lead)
                        && !self.teams.contains(&team)
                    {
                        // Membership may have changed since the connection opened.
                        self.teams = self
                            .state
                            .desk
                            .agent_team_ids(self.agent_id)
                            .await
                            .unwrap_or_default();
                        if !self.teams.contains(&team) {
                            replies.extend(error(format!("not a member of team {team}")));
                            continue;
                        }
                    }
                    if topic == Topic::Feedback && !self.role.covers(Role::Lead) {
                        replies.extend(error("the feedback topic needs the lead role".to_owned()));
                        continue;
                    }
                    if self.topics.len() >= MAX_TOPICS && !self.topics.contains(&topic) {
                        replies.extend(error(format!("at most {MAX_TOPICS} topics")));
                        continue;
                    }
                    self.topics.insert(topic);
                    // Admins and leads of no team hear of every team's feedback.
                    if topic == Topic::Feedback
                        && (self.role.covers(Role::Admin) || self.teams.is_empty())
                    {
                        self.topics.insert(Topic::FeedbackAll);
                    }
                    match topic {
                        Topic::Presence => replies.push(to_json(&Event::Presence {
                            agents: hub.online_agents(),
                        })),
                        Topic::Ticket(id) => replies.push(to_json(&hub.collision(id))),
                        _ => {}
                    }
                }
                replies
            }
            ClientMessage::Unsubscribe { topics } => {
                for raw in topics {
                    if let Ok(topic) = raw.parse::<Topic>() {
                        self.topics.remove(&topic);
                        if topic == Topic::Feedback {
                            self.topics.remove(&Topic::FeedbackAll);
                        }
                    }
                }
                vec![]
            }
            ClientMessage::Viewing { ticket_id } => {
                if ticket_id > 0
                    && self.viewing.len() < MAX_TOPICS
                    && self.viewing.insert(ticket_id)
                {
                    hub.viewing(ticket_id, self.agent_id, true);
                }
                vec![]
            }
            ClientMessage::Left { ticket_id } => {
                if self.viewing.remove(&ticket_id) {
                    hub.viewing(ticket_id, self.agent_id, false);
                }
                vec![]
            }
            ClientMessage::Typing { ticket_id } => {
                if self.viewing.contains(&ticket_id) {
                    hub.typing(ticket_id, self.agent_id);
                    vec![]
                } else {
                    error(format!("send viewing for ticket {ticket_id} before typing"))
                }
            }
        }
    }

    /// The session is still live and its agent still active.
    async fn session_alive(&self) -> bool {
        self.state
            .desk
            .session_live(self.session_id)
            .await
            .unwrap_or(true)
    }
}

fn to_json(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_default()
}
