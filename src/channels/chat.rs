//! The chat widget's wire format: visitor tokens, the shop's identity signature, the
//! frames the widget sends and receives (docs/widget.md), and delivery of agent
//! replies to a visitor who may or may not be connected.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use crate::desk::channels::WidgetSite;
use crate::desk::identity::{IdentityClaim, IdentityKind};
use crate::desk::visitors::{VerifiedCustomer, VisitorSession};
use crate::desk::{Channel, Desk, Direction, Error, Inbound};
use crate::outbox::JobError;
use entity::message;

type HmacSha256 = Hmac<Sha256>;

/// Longest chat message, in characters.
pub const MAX_CHAT_TEXT: usize = 4000;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    HmacSha256::new_from_slice(key).expect("HMAC accepts any key length")
}

/// The token a widget keeps: `{visitor id}.{signature}`, signed with the site's token
/// key and bound to the site, so it cannot be forged or carried to another site.
pub fn visitor_token(site: &WidgetSite, visitor_id: &str) -> String {
    let mut m = mac(site.channel.token_key.as_bytes());
    m.update(format!("visitor:{}:{visitor_id}", site.channel.key).as_bytes());
    format!(
        "{visitor_id}.{}",
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

/// The visitor id in a token, if this site signed it (checked in constant time).
pub fn token_visitor(site: &WidgetSite, token: &str) -> Option<String> {
    let (visitor_id, signature) = token.split_once('.')?;
    if visitor_id.is_empty() || visitor_id.len() > 64 || !is_token_char(visitor_id) {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut m = mac(site.channel.token_key.as_bytes());
    m.update(format!("visitor:{}:{visitor_id}", site.channel.key).as_bytes());
    m.verify_slice(&signature).ok()?;
    Some(visitor_id.to_owned())
}

fn is_token_char(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The signature a shop puts beside a signed-in customer's email:
/// lower-case hex of HMAC-SHA256(site secret, email).
pub fn identity_signature(secret: &str, email: &str) -> String {
    let mut m = mac(secret.as_bytes());
    m.update(email.as_bytes());
    crate::blobs::hex(&m.finalize().into_bytes())
}

/// True when `signature` is the site's signature of `email` (constant time).
pub fn identity_valid(site: &WidgetSite, email: &str, signature: &str) -> bool {
    let Some(bytes) = decode_hex(signature.trim()) else {
        return false;
    };
    let mut m = mac(site.channel.secret.as_bytes());
    m.update(email.as_bytes());
    m.verify_slice(&bytes).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The identity a shop page passes for its signed-in customer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIdentity {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    pub signature: String,
}

impl SignedIdentity {
    /// The customer, when the signature is the site's.
    pub fn verify(&self, site: &WidgetSite) -> Option<VerifiedCustomer> {
        identity_valid(site, &self.email, &self.signature).then(|| VerifiedCustomer {
            email: self.email.clone(),
            name: self
                .name
                .clone()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
        })
    }
}

/// A frame the widget sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WidgetFrame {
    Hello {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        identity: Option<SignedIdentity>,
        #[serde(default)]
        after: Option<i64>,
    },
    Send {
        client_id: String,
        text: String,
    },
    Email {
        email: String,
    },
    Typing {},
}

/// Checks a widget's client message id: 1–64 of `A-Za-z0-9_-`.
pub fn check_client_id(client_id: &str) -> bool {
    !client_id.is_empty() && client_id.len() <= 64 && is_token_char(client_id)
}

/// A widget's `send` frame as the desk's [`Inbound`]: the visitor's identity (verified
/// when the shop vouched for this visitor), the client id in the visitor's namespace,
/// the text checked against the widget's limits.
pub fn inbound(
    visitor: &VisitorSession,
    client_id: &str,
    text: &str,
) -> crate::desk::Result<Inbound> {
    if !check_client_id(client_id) {
        return Err(Error::invalid(
            "client_id",
            "1 to 64 letters, digits, - or _",
        ));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::invalid("text", "must not be empty"));
    }
    if text.chars().count() > MAX_CHAT_TEXT {
        return Err(Error::invalid(
            "text",
            format!("at most {MAX_CHAT_TEXT} characters"),
        ));
    }
    let mut claim = IdentityClaim::new(IdentityKind::Visitor, visitor.visitor_id.clone());
    if visitor.verified.is_some() {
        claim = claim.verified();
    }
    let mut inbound = Inbound::text(
        Channel::Chat,
        external_id(&visitor.visitor_id, client_id),
        claim,
        text,
    );
    inbound.name = visitor.verified.as_ref().and_then(|v| v.name.clone());
    Ok(inbound)
}

/// The external id of a widget message: the client id within the visitor's own
/// namespace, so one visitor's ids can never name another visitor's message.
pub fn external_id(visitor_id: &str, client_id: &str) -> String {
    format!("{visitor_id}:{client_id}")
}

/// A message as the widget shows it: no notes, no internal fields.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WidgetMessage {
    pub id: i64,
    pub direction: &'static str,
    pub text: String,
    /// The agent's name on replies.
    pub author: Option<String>,
    pub at: DateTime<Utc>,
    /// Set on the visitor's own messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Set on a satisfaction survey: its link, which takes the widget's inline rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<String>,
}

impl WidgetMessage {
    /// The widget's view of a stored message, for the visitor `visitor_id`; `None` for
    /// what a visitor never sees (notes). `survey` is the link of the survey the
    /// message is, as the desk builds it from the survey row
    /// ([`Desk::message_survey_url`](crate::desk::Desk::message_survey_url)); it goes
    /// into the text in place of the placeholder and takes the inline rating.
    pub fn of(
        message: &message::Model,
        visitor_id: &str,
        agents: &HashMap<i64, String>,
        survey: Option<String>,
    ) -> Option<WidgetMessage> {
        let direction = if message.direction == Direction::In.as_str() {
            "in"
        } else if message.direction == Direction::Out.as_str() {
            "out"
        } else {
            return None;
        };
        let client_id = message
            .external_id
            .as_deref()
            .and_then(|e| e.strip_prefix(visitor_id))
            .and_then(|e| e.strip_prefix(':'))
            .map(str::to_owned);
        let survey = survey.filter(|_| direction == "out");
        Some(WidgetMessage {
            id: message.id,
            direction,
            text: match &survey {
                Some(url) => crate::desk::surveys::with_link(&message.text, url),
                None => message.text.clone(),
            },
            author: message
                .author_agent_id
                .and_then(|a| agents.get(&a).cloned()),
            at: message.created_at,
            client_id,
            survey,
        })
    }
}

/// An error frame; with a client id, that message was refused.
pub fn error_frame(code: &str, detail: &str, client_id: Option<&str>) -> String {
    let mut frame = json!({"type": "error", "code": code, "detail": detail});
    if let Some(c) = client_id {
        frame["client_id"] = json!(c);
    }
    frame.to_string()
}

/// Delivers an agent's reply on a chat ticket: the widget got it live when it
/// committed, or gets it when the visitor returns; the desk decides whether a copy goes
/// out by email ([`Desk::chat_reply_shown`]).
pub async fn deliver(desk: &Desk, message: &message::Model) -> Result<(), JobError> {
    desk.chat_reply_shown(message)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))
}
