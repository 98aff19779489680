//! WhatsApp Business Cloud API: the webhook (`/webhooks/whatsapp`: the GET verification
//! handshake, POSTs signed with `X-Hub-Signature-256`), media fetched from the Graph API,
//! answers sent to `/{phone_number_id}/messages`, status callbacks. The Graph API's base
//! URL is configurable (`SWITCHBOARD_WHATSAPP_API_URL`) so tests can stand in for Meta.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::desk::identity::{IdentityClaim, IdentityKind};
use crate::desk::{Channel, Inbound};
use crate::outbox::JobError;

/// A webhook notification: entries of changes, each for one business phone number.
#[derive(Debug, Deserialize)]
pub struct Notification {
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(default)]
    pub field: String,
    pub value: ChangeValue,
}

#[derive(Debug, Deserialize)]
pub struct ChangeValue {
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub phone_number_id: String,
}

#[derive(Debug, Deserialize)]
pub struct Contact {
    pub wa_id: String,
    pub profile: Option<Profile>,
}

#[derive(Debug, Deserialize)]
pub struct Profile {
    pub name: Option<String>,
}

/// A customer's message (only the parts the desk reads).
#[derive(Debug, Deserialize)]
pub struct Message {
    pub from: String,
    pub id: String,
    pub timestamp: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<TextBody>,
    pub image: Option<Media>,
    pub document: Option<Media>,
    pub audio: Option<Media>,
    pub video: Option<Media>,
    pub location: Option<Location>,
    #[serde(default)]
    pub contacts: Vec<SharedContact>,
    pub button: Option<Value>,
    pub interactive: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct TextBody {
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub struct Media {
    pub id: String,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SharedContact {
    pub name: Option<Value>,
    #[serde(default)]
    pub phones: Vec<Value>,
}

/// What happened to a message we sent.
#[derive(Debug, Deserialize)]
pub struct Status {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// True when `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with `app_secret`;
/// compared in constant time.
pub fn signed(app_secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC takes any key");
    mac.update(body);
    let expected = crate::blobs::hex(&mac.finalize().into_bytes());
    bool::from(
        expected
            .as_bytes()
            .ct_eq(hex.trim().to_ascii_lowercase().as_bytes()),
    )
}

/// A media file a message names, to be fetched before the message is stored.
#[derive(Debug)]
pub struct MediaRef {
    pub id: String,
    pub filename: String,
    pub content_type: String,
}

/// Reads one message of the business number `channel_id`; None when there is nothing
/// the desk can show (a reaction, an unsupported type).
pub fn read(channel_id: i64, m: &Message, name: Option<&str>) -> Option<(Inbound, Vec<MediaRef>)> {
    let mut text = String::new();
    let mut media = Vec::new();
    let line = |s: &str, text: &mut String| {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(s);
    };
    if let Some(t) = &m.text {
        line(&t.body, &mut text);
    }
    for (kind, part) in [
        ("image", &m.image),
        ("document", &m.document),
        ("audio", &m.audio),
        ("video", &m.video),
    ] {
        if let Some(p) = part {
            if let Some(c) = &p.caption {
                line(c, &mut text);
            }
            let content_type = p
                .mime_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            let filename = p.filename.clone().unwrap_or_else(|| {
                let ext = content_type.split(['/', ';']).nth(1).unwrap_or("bin");
                format!("{kind}-{}.{ext}", &p.id[..p.id.len().min(12)])
            });
            media.push(MediaRef {
                id: p.id.clone(),
                filename,
                content_type,
            });
        }
    }
    if let Some(l) = &m.location {
        let label = [l.name.as_deref(), l.address.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        line(
            &format!(
                "Location: {label}{}https://www.openstreetmap.org/?mlat={lat}&mlon={lon} ({lat}, {lon})",
                if label.is_empty() { "" } else { " " },
                lat = l.latitude,
                lon = l.longitude
            ),
            &mut text,
        );
    }
    for c in &m.contacts {
        let name = c
            .name
            .as_ref()
            .and_then(|n| n["formatted_name"].as_str())
            .unwrap_or("");
        let phones: Vec<&str> = c
            .phones
            .iter()
            .filter_map(|p| p["phone"].as_str())
            .collect();
        line(
            &format!("Shared contact: {name} {}", phones.join(", ")),
            &mut text,
        );
    }
    for reply in [&m.button, &m.interactive].into_iter().flatten() {
        let chosen = reply["text"]
            .as_str()
            .or(reply["button_reply"]["title"].as_str())
            .or(reply["list_reply"]["title"].as_str());
        if let Some(chosen) = chosen {
            line(chosen, &mut text);
        }
    }
    if text.trim().is_empty() && media.is_empty() {
        return None;
    }
    let mut inbound = Inbound::text(
        Channel::Whatsapp,
        format!("{channel_id}:{}", m.id),
        IdentityClaim::new(
            IdentityKind::Phone,
            format!("+{}", m.from.trim_start_matches('+')),
        ),
        text,
    );
    inbound.name = name.map(str::to_owned);
    inbound.channel_id = Some(channel_id);
    inbound.sent_at = m
        .timestamp
        .as_deref()
        .and_then(|t| t.parse().ok())
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    Some((inbound, media))
}

/// The delivery status a status callback reports, in the desk's words.
pub fn delivery(status: &str) -> Option<crate::desk::DeliveryStatus> {
    use crate::desk::DeliveryStatus as D;
    Some(match status {
        "sent" => D::Sent,
        "delivered" => D::Delivered,
        "read" => D::Read,
        "failed" => D::Failed,
        _ => return None,
    })
}

/// The error code WhatsApp gives when the 24-hour customer-service window is closed.
const WINDOW_CLOSED: i64 = 131047;

/// The Graph API client.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// A client for the Graph API at `base` (`https://graph.facebook.com/v21.0`).
    pub fn new(base: &str) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn failure(what: &str, status: reqwest::StatusCode, body: &Value) -> JobError {
        let e = &body["error"];
        let code = e["code"].as_i64();
        let mut m = format!(
            "WhatsApp {what}: {} {}",
            status.as_u16(),
            e["message"].as_str().unwrap_or("")
        );
        if code == Some(WINDOW_CLOSED) {
            m = format!(
                "WhatsApp: more than 24 hours since the customer last wrote; only a template message can be sent now ({m})"
            );
        }
        if status.as_u16() == 429 || status.is_server_error() || code == Some(130429) {
            JobError::Retry(m)
        } else {
            JobError::Permanent(m)
        }
    }

    /// Sends a text; returns WhatsApp's message id (wamid).
    pub async fn send_text(
        &self,
        token: &str,
        phone_number_id: &str,
        to: &str,
        text: &str,
    ) -> Result<String, JobError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.trim_start_matches('+'),
            "type": "text",
            "text": {"preview_url": false, "body": text},
        });
        let res = self
            .client
            .post(format!("{}/{phone_number_id}/messages", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("WhatsApp: {}", e.without_url())))?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Api::failure("send", status, &answer));
        }
        answer["messages"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| JobError::Retry("WhatsApp: the answer names no message id".into()))
    }

    /// Downloads a media file: its URL from the Graph API, then the bytes.
    pub async fn media(&self, token: &str, id: &str, max: u64) -> Result<Vec<u8>, JobError> {
        let res = self
            .client
            .get(format!("{}/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("WhatsApp media: {}", e.without_url())))?;
        let status = res.status();
        let info: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Api::failure("media", status, &info));
        }
        if info["file_size"].as_u64().is_some_and(|s| s > max) {
            return Err(JobError::Permanent(
                "the file is larger than the limit".into(),
            ));
        }
        let url = info["url"]
            .as_str()
            .ok_or_else(|| JobError::Permanent("WhatsApp media: no url".into()))?;
        let res = self
            .client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("WhatsApp media: {}", e.without_url())))?;
        if !res.status().is_success() {
            return Err(JobError::Retry(format!(
                "WhatsApp media: HTTP {}",
                res.status()
            )));
        }
        Ok(res
            .bytes()
            .await
            .map_err(|e| JobError::Retry(format!("WhatsApp media: {}", e.without_url())))?
            .to_vec())
    }
}

/// Fetches a message's media and stores it, then the message; a file WhatsApp cannot
/// give is named in the text instead of costing the message.
pub async fn receive(
    desk: &crate::desk::Desk,
    api: &Api,
    number: &crate::desk::channels::WhatsappNumber,
    mut inbound: Inbound,
    media: Vec<MediaRef>,
) -> Result<crate::desk::IngestOutcome, JobError> {
    let token = number.secrets().access_token;
    for f in media {
        let max = desk.rules.mail.max_message_bytes;
        let fetched = match api.media(&token, &f.id, max).await {
            Ok(bytes) => super::Fetched::Bytes(bytes),
            Err(JobError::Permanent(why)) => super::Fetched::Gone(why),
            Err(retry) => return Err(retry),
        };
        super::attach(
            desk,
            &mut inbound,
            "WhatsApp",
            f.filename,
            f.content_type,
            fetched,
        )
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    }
    desk.ingest(&inbound).await.map_err(|e| match e {
        crate::desk::Error::Invalid { .. } => JobError::Permanent(e.to_string()),
        other => JobError::Retry(other.to_string()),
    })
}

/// Sends an agent's answer to the customer's WhatsApp.
pub async fn deliver(
    desk: &crate::desk::Desk,
    api: &Api,
    m: &entity::message::Model,
) -> Result<(), JobError> {
    let retry = |e: crate::desk::Error| JobError::Retry(e.to_string());
    let t = desk.ticket(m.ticket_id).await.map_err(retry)?;
    let number = desk
        .whatsapp_numbers()
        .await
        .map_err(retry)?
        .into_iter()
        .find(|n| Some(n.channel.id) == t.channel_id)
        .ok_or_else(|| {
            JobError::Permanent("the ticket's WhatsApp number is gone or inactive".into())
        })?;
    let contact = desk.contact_detail(t.contact_id).await.map_err(retry)?;
    let phone = contact
        .identities
        .iter()
        .find(|i| i.kind == IdentityKind::Phone.as_str())
        .ok_or_else(|| JobError::Permanent("the customer has no phone number".into()))?;
    let wamid = api
        .send_text(
            &number.secrets().access_token,
            &number.settings.phone_number_id,
            &phone.value,
            &m.text,
        )
        .await?;
    // Status callbacks find the message by its wamid.
    let external = desk
        .stamp_message_id(m.id, &format!("{}:{wamid}", number.channel.id))
        .await
        .map_err(retry)?;
    desk.delivery_reported(
        Channel::Whatsapp,
        &external,
        crate::desk::DeliveryStatus::Sent,
        None,
    )
    .await
    .map_err(retry)?;
    Ok(())
}
