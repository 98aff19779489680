//! Telegram's Bot API: webhook updates in (`/webhooks/telegram/{channel}`), files
//! fetched with `getFile`, answers sent with `sendMessage`. The API's base URL is
//! configurable (`SWITCHBOARD_TELEGRAM_API_URL`) so tests can stand in for Telegram.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::desk::channels::TelegramBot;
use crate::desk::identity::{IdentityClaim, IdentityKind};
use crate::desk::{Channel, DeliveryStatus, Desk, Inbound};
use crate::outbox::JobError;
use entity::message;

/// Largest file the Bot API hands out (20 MB).
const MAX_FILE: u64 = 20 * 1024 * 1024;
/// Longest text one `sendMessage` takes, in characters; longer answers are split.
const MAX_SEND: usize = 4096;

/// One webhook update; only what the desk reads.
#[derive(Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
}

/// A message in an update.
#[derive(Debug, Deserialize)]
pub struct Message {
    pub message_id: i64,
    pub date: i64,
    pub chat: Chat,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub photo: Option<Vec<PhotoSize>>,
    #[serde(default)]
    pub document: Option<Document>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub contact: Option<SharedContact>,
}

#[derive(Debug, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PhotoSize {
    pub file_id: String,
    #[serde(default)]
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Document {
    pub file_id: String,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Deserialize)]
pub struct SharedContact {
    pub phone_number: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// A file an update names, to be fetched before the message is stored.
#[derive(Debug)]
pub struct FileRef {
    pub file_id: String,
    pub filename: String,
    pub content_type: String,
}

/// What an update means for the desk.
#[derive(Debug)]
pub enum Reading {
    /// A customer's message, with the files to fetch first.
    Message(Box<Inbound>, Vec<FileRef>),
    /// Nothing for the desk (another kind of update, a group, a bot); the reason.
    Skip(&'static str),
}

/// Reads an update of the bot `channel_id`. Update ids are unique per bot only, so the
/// external id is namespaced by the bot: `{channel}:{update_id}`.
pub fn read(channel_id: i64, update: Update) -> Reading {
    let Some(m) = update.message else {
        return Reading::Skip("not a new message (an edit, a button, a member change)");
    };
    if m.chat.kind != "private" {
        return Reading::Skip("a group or channel message");
    }
    let Some(from) = m.from else {
        return Reading::Skip("a message without a sender");
    };
    if from.is_bot {
        return Reading::Skip("a message from a bot");
    }
    let mut text = m.text.or(m.caption).unwrap_or_default();
    if let Some(l) = &m.location {
        text.push_str(&format!(
            "{}Location: https://www.openstreetmap.org/?mlat={lat}&mlon={lon} ({lat}, {lon})",
            if text.is_empty() { "" } else { "\n" },
            lat = l.latitude,
            lon = l.longitude
        ));
    }
    if let Some(c) = &m.contact {
        let name = [Some(c.first_name.as_str()), c.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        text.push_str(&format!(
            "{}Shared contact: {name}, {}",
            if text.is_empty() { "" } else { "\n" },
            c.phone_number
        ));
    }
    let mut files = Vec::new();
    if let Some(photo) = m.photo.as_ref().and_then(|sizes| sizes.last()) {
        files.push(FileRef {
            file_id: photo.file_id.clone(),
            filename: format!("photo-{}.jpg", m.message_id),
            content_type: "image/jpeg".into(),
        });
    }
    if let Some(d) = &m.document {
        files.push(FileRef {
            file_id: d.file_id.clone(),
            filename: d
                .file_name
                .clone()
                .unwrap_or_else(|| format!("file-{}", m.message_id)),
            content_type: d
                .mime_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
        });
    }
    if text.trim().is_empty() && files.is_empty() {
        return Reading::Skip("nothing the desk can show (a sticker, a poll, a voice note)");
    }
    let name = [Some(from.first_name.as_str()), from.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut inbound = Inbound::text(
        Channel::Telegram,
        format!("{channel_id}:{}", update.update_id),
        IdentityClaim::new(IdentityKind::Telegram, from.id.to_string()),
        text,
    );
    inbound.name = Some(name);
    inbound.channel_id = Some(channel_id);
    inbound.sent_at = chrono::DateTime::from_timestamp(m.date, 0);
    Reading::Message(Box::new(inbound), files)
}

/// The Bot API client.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct Answer<T> {
    ok: bool,
    result: Option<T>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

impl Api {
    /// A client for the Bot API at `base` (`https://api.telegram.org`).
    pub fn new(base: &str) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        token: &str,
        method: &str,
        body: Value,
    ) -> Result<T, JobError> {
        let res = self
            .client
            .post(format!("{}/bot{token}/{method}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("Telegram {method}: {}", without_url(e))))?;
        let status = res.status();
        let answer: Answer<T> = res.json().await.map_err(|e| {
            let m = format!("Telegram {method}: HTTP {status}, {}", without_url(e));
            if status.is_server_error() {
                JobError::Retry(m)
            } else {
                JobError::Permanent(m)
            }
        })?;
        match (answer.ok, answer.result) {
            (true, Some(result)) => Ok(result),
            _ => {
                let mut m = format!(
                    "Telegram {method}: {} {}",
                    status.as_u16(),
                    answer.description.unwrap_or_default()
                );
                if let Some(after) = answer.parameters.and_then(|p| p["retry_after"].as_i64()) {
                    m.push_str(&format!(" (retry after {after} s)"));
                }
                if status.as_u16() == 429 || status.is_server_error() {
                    Err(JobError::Retry(m))
                } else {
                    Err(JobError::Permanent(m))
                }
            }
        }
    }

    /// Sends a text to a chat; returns Telegram's message ids (long texts are split).
    pub async fn send_message(
        &self,
        token: &str,
        chat_id: &str,
        text: &str,
    ) -> Result<Vec<i64>, JobError> {
        let mut ids = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        for part in chars.chunks(MAX_SEND) {
            let part: String = part.iter().collect();
            let sent: Value = self
                .call(
                    token,
                    "sendMessage",
                    json!({"chat_id": chat_id, "text": part}),
                )
                .await?;
            ids.push(sent["message_id"].as_i64().unwrap_or_default());
        }
        Ok(ids)
    }

    /// Points the bot's webhook at `url`; Telegram sends `secret` with every call.
    pub async fn set_webhook(&self, token: &str, url: &str, secret: &str) -> Result<(), JobError> {
        let _: bool = self
            .call(
                token,
                "setWebhook",
                json!({"url": url, "secret_token": secret, "allowed_updates": ["message"]}),
            )
            .await?;
        Ok(())
    }

    /// Downloads a file named in an update.
    pub async fn file(&self, token: &str, file_id: &str) -> Result<Vec<u8>, JobError> {
        let info: Value = self
            .call(token, "getFile", json!({"file_id": file_id}))
            .await?;
        if info["file_size"].as_u64().is_some_and(|s| s > MAX_FILE) {
            return Err(JobError::Permanent("the file is larger than 20 MB".into()));
        }
        let path = info["file_path"]
            .as_str()
            .ok_or_else(|| JobError::Permanent("getFile gave no file_path".into()))?;
        let res = self
            .client
            .get(format!("{}/file/bot{token}/{path}", self.base))
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("Telegram file: {}", without_url(e))))?;
        if !res.status().is_success() {
            return Err(JobError::Retry(format!(
                "Telegram file: HTTP {}",
                res.status()
            )));
        }
        let bytes = res
            .bytes()
            .await
            .map_err(|e| JobError::Retry(format!("Telegram file: {}", without_url(e))))?;
        Ok(bytes.to_vec())
    }
}

/// An HTTP error without its URL, which carries the bot's token.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// Fetches the files of a read update and stores the message; the update is
/// acknowledged only after this returned Ok.
pub async fn receive(
    desk: &Desk,
    api: &Api,
    bot: &TelegramBot,
    mut inbound: Inbound,
    files: Vec<FileRef>,
) -> Result<crate::desk::IngestOutcome, ReceiveError> {
    let token = bot.secrets().bot_token;
    for f in files {
        let fetched = match api.file(&token, &f.file_id).await {
            Ok(bytes) => super::Fetched::Bytes(bytes),
            Err(JobError::Permanent(why)) => super::Fetched::Gone(why),
            Err(retry) => return Err(ReceiveError::Provider(retry)),
        };
        super::attach(
            desk,
            &mut inbound,
            "Telegram",
            f.filename,
            f.content_type,
            fetched,
        )
        .await
        .map_err(|e| ReceiveError::Store(e.to_string()))?;
    }
    desk.ingest(&inbound).await.map_err(|e| match e {
        crate::desk::Error::Invalid { .. } => ReceiveError::Invalid(e.to_string()),
        other => ReceiveError::Store(other.to_string()),
    })
}

/// Why an update was not stored.
#[derive(Debug)]
pub enum ReceiveError {
    /// Telegram's file API failed.
    Provider(JobError),
    /// The update's content cannot be stored.
    Invalid(String),
    /// Our side failed; Telegram should send it again.
    Store(String),
}

/// Sends an agent's answer to the customer's chat.
pub async fn deliver(desk: &Desk, api: &Api, m: &message::Model) -> Result<(), JobError> {
    let retry = |e: crate::desk::Error| JobError::Retry(e.to_string());
    let t = desk.ticket(m.ticket_id).await.map_err(retry)?;
    let bot = match t.channel_id {
        Some(id) => desk.telegram_bot(id).await.map_err(retry)?,
        None => None,
    }
    .ok_or_else(|| JobError::Permanent("the ticket's Telegram bot is gone or inactive".into()))?;
    let contact = desk.contact_detail(t.contact_id).await.map_err(retry)?;
    let chat = contact
        .identities
        .iter()
        .find(|i| i.kind == IdentityKind::Telegram.as_str())
        .ok_or_else(|| JobError::Permanent("the customer has no Telegram chat".into()))?;
    api.send_message(&bot.secrets().bot_token, &chat.value, &m.text)
        .await?;
    desk.set_delivery(m.id, DeliveryStatus::Sent, None)
        .await
        .map_err(retry)
}
