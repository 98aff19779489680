//! SMS through Twilio's Programmable Messaging: signed, form-encoded webhooks in
//! (`/webhooks/twilio/{channel}` for messages, `/webhooks/twilio/{channel}/status` for
//! the delivery reports of what we sent), MMS media fetched with the account's
//! credentials, answers sent with the Messages resource. The API's base URL is
//! configurable (`SWITCHBOARD_TWILIO_API_URL`) so tests can stand in for Twilio; media
//! URLs in webhooks are fetched through it too.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::desk::channels::{SmsNumber, SmsSecrets};
use crate::desk::identity::{IdentityClaim, IdentityKind};
use crate::desk::{Channel, DeliveryStatus, Desk, Inbound, IngestOutcome};
use crate::outbox::JobError;
use entity::message;

/// The answer to a messaging webhook that sends nothing back.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
/// Longest body one message takes at Twilio (in characters, counted as UTF-16 units so an
/// emoji counts twice); longer answers are split.
pub const MAX_SEND: usize = 1600;
/// Largest media file fetched (Twilio's own limit for MMS is 5 MB).
const MAX_MEDIA: usize = 20 * 1024 * 1024;
/// Most media files one webhook may name (Twilio sends at most 10).
const MAX_MEDIA_FILES: usize = 20;

/// The parameters of a form-encoded webhook, in the order they came.
#[derive(Clone, Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// Reads an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Result<Form, String> {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
        serde_urlencoded::from_str(text)
            .map(Form)
            .map_err(|e| format!("not a form: {e}"))
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Twilio's signature of a webhook: base64 of HMAC-SHA1, keyed with the auth token, over
/// the full URL Twilio called followed by every POST parameter, sorted by name, as name
/// and value without separators.
pub fn signature(auth_token: &str, url: &str, form: &Form) -> String {
    let mut params: Vec<&(String, String)> = form.0.iter().collect();
    params.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(url.as_bytes());
    for (name, value) in params {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `sent` (the `X-Twilio-Signature` header) is the signature of this request;
/// compared in constant time.
pub fn verify(auth_token: &str, url: &str, form: &Form, sent: &[u8]) -> bool {
    if auth_token.is_empty() || sent.is_empty() {
        return false;
    }
    let expected = signature(auth_token, url, form);
    bool::from(expected.as_bytes().ct_eq(sent))
}

/// A media file an MMS names, to be fetched before the message is stored.
#[derive(Debug)]
pub struct MediaRef {
    pub url: String,
    pub content_type: String,
    pub filename: String,
}

/// What an incoming-message webhook means for the desk.
#[derive(Debug)]
pub enum Reading {
    /// A customer's message, with the media to fetch first.
    Message(Box<Inbound>, Vec<MediaRef>),
    /// Nothing for the desk; the reason.
    Skip(&'static str),
}

/// Checks a Twilio SID's shape: two letters and 32 hex digits.
fn check_sid(field: &str, sid: Option<&str>) -> Result<String, String> {
    let sid = sid.map(str::trim).unwrap_or_default();
    let b = sid.as_bytes();
    let valid = b.len() == 34
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..].iter().all(u8::is_ascii_hexdigit);
    if valid {
        Ok(sid.to_owned())
    } else {
        Err(format!("{field} is missing or not a Twilio SID"))
    }
}

/// A file name for a media file from its type: `media-1.jpg`.
fn media_filename(n: usize, content_type: &str) -> String {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ext = match essence.as_str() {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/heic" => "heic",
        "video/mp4" => "mp4",
        "video/3gpp" | "audio/3gpp" => "3gp",
        "audio/mpeg" => "mp3",
        "audio/amr" => "amr",
        "audio/ogg" => "ogg",
        "text/vcard" | "text/x-vcard" => "vcf",
        "text/calendar" => "ics",
        "text/plain" => "txt",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("media-{n}.{ext}")
}

/// Reads an incoming-message webhook of the number `channel_id`. The MessageSid is unique
/// at Twilio; it is namespaced by the number all the same: `{channel}:{MessageSid}`.
/// An error is a request that is no incoming message.
pub fn read(channel_id: i64, form: &Form) -> Result<Reading, String> {
    let sid = check_sid("MessageSid", form.get("MessageSid"))?;
    let from = form
        .get("From")
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .ok_or("From is missing")?;
    let count = match form.get("NumMedia").map(str::trim) {
        None | Some("") => 0,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA_FILES)
            .ok_or_else(|| format!("NumMedia is not a count: {n:?}"))?,
    };
    let mut media = Vec::with_capacity(count);
    for i in 0..count {
        let url = form
            .get(&format!("MediaUrl{i}"))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| format!("MediaUrl{i} is missing"))?;
        let content_type = form
            .get(&format!("MediaContentType{i}"))
            .filter(|t| !t.is_empty())
            .unwrap_or("application/octet-stream");
        media.push(MediaRef {
            url: url.to_owned(),
            content_type: content_type.to_owned(),
            filename: media_filename(i + 1, content_type),
        });
    }
    // Other channels Twilio carries (whatsapp:+49…, messenger:…, rcs:…) name their
    // senders with a prefix; this endpoint is for SMS and MMS.
    if from.contains(':') {
        return Ok(Reading::Skip(
            "not an SMS (a WhatsApp, Messenger or RCS sender)",
        ));
    }
    let text = form.get("Body").unwrap_or_default().to_owned();
    if text.trim().is_empty() && media.is_empty() {
        return Ok(Reading::Skip("an empty message"));
    }
    let mut inbound = Inbound::text(
        Channel::Sms,
        format!("{channel_id}:{sid}"),
        IdentityClaim::new(IdentityKind::Phone, from),
        text,
    );
    inbound.channel_id = Some(channel_id);
    Ok(Reading::Message(Box::new(inbound), media))
}

/// What a status callback reports about one of our messages.
#[derive(Debug, PartialEq)]
pub struct StatusReport {
    /// The SID Twilio gave the message when we sent it.
    pub sid: String,
    /// What it means for the message; None for a state the desk does not record
    /// (accepted, queued, sending: the message is "sent" for us once Twilio took it).
    pub status: Option<(DeliveryStatus, Option<String>)>,
    /// Twilio's word for it, for the log.
    pub twilio_status: String,
}

/// What some of Twilio's delivery error codes mean.
fn error_meaning(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "queue overflow",
        "30002" => "account suspended",
        "30003" => "unreachable destination handset",
        "30004" => "message blocked",
        "30005" => "unknown destination handset",
        "30006" => "landline or unreachable carrier",
        "30007" => "message filtered by the carrier",
        "30008" => "unknown error",
        _ => return None,
    })
}

/// Reads a status callback. An error is a request that is no status callback.
pub fn read_status(form: &Form) -> Result<StatusReport, String> {
    let sid = check_sid("MessageSid", form.get("MessageSid").or(form.get("SmsSid")))?;
    let twilio_status = form
        .get("MessageStatus")
        .or(form.get("SmsStatus"))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .ok_or("MessageStatus is missing")?;
    let error = || {
        let code = form
            .get("ErrorCode")
            .map(str::trim)
            .filter(|c| !c.is_empty() && *c != "0");
        let mut text = format!("Twilio: {twilio_status}");
        if let Some(code) = code {
            text.push_str(&format!(" (error {code}"));
            if let Some(meaning) = error_meaning(code) {
                text.push_str(&format!(": {meaning}"));
            }
            text.push(')');
        }
        Some(text)
    };
    let status = match twilio_status.as_str() {
        "sent" => Some((DeliveryStatus::Sent, None)),
        "delivered" => Some((DeliveryStatus::Delivered, None)),
        "read" => Some((DeliveryStatus::Read, None)),
        "undelivered" | "failed" | "canceled" => Some((DeliveryStatus::Failed, error())),
        _ => None,
    };
    Ok(StatusReport {
        sid,
        status,
        twilio_status,
    })
}

/// Twilio's answer to a new message.
#[derive(Debug, Deserialize)]
pub struct Created {
    pub sid: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// Twilio's error document.
#[derive(Debug, Default, Deserialize)]
struct ApiFailure {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// The Twilio REST API client.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    public_url: url::Url,
}

impl Api {
    /// A client for Twilio's API at `base` (`https://api.twilio.com`); status callbacks
    /// are asked for at the desk's `public_url`.
    pub fn new(base: &str, public_url: &url::Url) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
            public_url: public_url.clone(),
        }
    }

    /// Where Twilio should send the messages of the number `channel_id`.
    pub fn webhook_url(&self, channel_id: i64) -> String {
        let mut url = self.public_url.clone();
        url.set_path(&format!("/webhooks/twilio/{channel_id}"));
        url.to_string()
    }

    /// Where Twilio reports on the messages we send from the number `channel_id`.
    pub fn status_callback_url(&self, channel_id: i64) -> String {
        let mut url = self.public_url.clone();
        url.set_path(&format!("/webhooks/twilio/{channel_id}/status"));
        url.to_string()
    }

    /// Creates one message; returns Twilio's SID and status for it.
    pub async fn create_message(
        &self,
        secrets: &SmsSecrets,
        from: &str,
        to: &str,
        body: &str,
        status_callback: Option<&str>,
    ) -> Result<Created, JobError> {
        let mut form = vec![("To", to), ("From", from), ("Body", body)];
        if let Some(url) = status_callback {
            form.push(("StatusCallback", url));
        }
        let res = self
            .client
            .post(format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base, secrets.account_sid
            ))
            .basic_auth(&secrets.account_sid, Some(&secrets.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("Twilio: {}", e.without_url())))?;
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| JobError::Retry(format!("Twilio: {}", e.without_url())))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| {
                JobError::Permanent(format!(
                    "Twilio: HTTP {status} with an unreadable answer: {e}"
                ))
            });
        }
        let failure: ApiFailure = serde_json::from_str(&text).unwrap_or_default();
        let mut m = format!("Twilio: {}", status.as_u16());
        if let Some(code) = failure.code {
            m = format!("Twilio error {code}");
        }
        match failure.message {
            Some(message) => m.push_str(&format!(": {message}")),
            None => m.push_str(&format!(
                " ({})",
                status.canonical_reason().unwrap_or("error")
            )),
        }
        if status.as_u16() == 429 || status.is_server_error() {
            Err(JobError::Retry(m))
        } else {
            Err(JobError::Permanent(m))
        }
    }

    /// Sends a text, split into parts Twilio takes; returns the SIDs of the parts.
    pub async fn send_text(
        &self,
        secrets: &SmsSecrets,
        from: &str,
        to: &str,
        text: &str,
        status_callback: Option<&str>,
    ) -> Result<Vec<String>, JobError> {
        let mut sids = Vec::new();
        for part in split(text, MAX_SEND) {
            let created = self
                .create_message(secrets, from, to, &part, status_callback)
                .await?;
            sids.push(created.sid);
        }
        Ok(sids)
    }

    /// Downloads a media file a webhook names. Twilio's media URLs are absolute
    /// (`https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…`); they are
    /// fetched through the configured API with the account's credentials, and only when
    /// they belong to this account, so the credentials never go anywhere else.
    pub async fn media(&self, secrets: &SmsSecrets, media_url: &str) -> Result<Vec<u8>, JobError> {
        let url = url::Url::parse(media_url)
            .map_err(|e| JobError::Permanent(format!("not a media URL: {e}")))?;
        let prefix = format!("/2010-04-01/Accounts/{}/", secrets.account_sid);
        if !url.path().starts_with(&prefix) {
            return Err(JobError::Permanent(
                "the media URL is not one of this account's".into(),
            ));
        }
        let mut target = format!("{}{}", self.base, url.path());
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        // Twilio answers with a redirect to the file; reqwest follows it and drops the
        // credentials when the host changes.
        let mut res = self
            .client
            .get(target)
            .basic_auth(&secrets.account_sid, Some(&secrets.auth_token))
            .send()
            .await
            .map_err(|e| JobError::Retry(format!("Twilio media: {}", e.without_url())))?;
        let status = res.status();
        if !status.is_success() {
            let m = format!("Twilio media: HTTP {status}");
            return Err(if status.as_u16() == 429 || status.is_server_error() {
                JobError::Retry(m)
            } else {
                JobError::Permanent(m)
            });
        }
        if res.content_length().is_some_and(|n| n > MAX_MEDIA as u64) {
            return Err(JobError::Permanent("the file is larger than 20 MB".into()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| JobError::Retry(format!("Twilio media: {}", e.without_url())))?
        {
            if bytes.len() + chunk.len() > MAX_MEDIA {
                return Err(JobError::Permanent("the file is larger than 20 MB".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// Splits a text into parts of at most `max` UTF-16 units, at a line break or space near
/// the end of a part where there is one.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut units = 0;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > max {
                end = i;
                break;
            }
            units += c.len_utf16();
        }
        if end < rest.len() {
            // Break after the last whitespace in the part's last fifth, if any.
            let floor = rest[..end]
                .char_indices()
                .map(|(i, _)| i)
                .nth(max * 4 / 5)
                .unwrap_or(0);
            if let Some(ws) = rest[..end].rfind(char::is_whitespace)
                && ws >= floor
            {
                let c = rest[ws..].chars().next().expect("a char at ws");
                end = ws + c.len_utf8();
            }
        }
        parts.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    parts
}

/// Why an incoming message was not stored.
#[derive(Debug)]
pub enum ReceiveError {
    /// Twilio's media could not be fetched now.
    Provider(String),
    /// The message cannot be stored (e.g. a sender that is no phone number).
    Invalid(String),
    /// Our side failed; Twilio should send it again.
    Store(String),
}

/// Fetches the media of a read message and stores it; the webhook is answered 200 only
/// after this returned Ok.
pub async fn receive(
    desk: &Desk,
    api: &Api,
    number: &SmsNumber,
    mut inbound: Inbound,
    media: Vec<MediaRef>,
) -> Result<IngestOutcome, ReceiveError> {
    let secrets = number.secrets();
    for m in media {
        let fetched = match api.media(&secrets, &m.url).await {
            Ok(bytes) => super::Fetched::Bytes(bytes),
            Err(JobError::Permanent(why)) => super::Fetched::Gone(why),
            Err(JobError::Retry(why)) => return Err(ReceiveError::Provider(why)),
        };
        super::attach(
            desk,
            &mut inbound,
            "Twilio",
            m.filename,
            m.content_type,
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

/// Records a status callback on our message it reports on. Returns whether the message
/// changed; a report on a message we do not know (another system's, or one whose SID is
/// not stored yet) and a report that would move backwards change nothing.
pub async fn report(
    desk: &Desk,
    number: &SmsNumber,
    report: &StatusReport,
) -> crate::desk::Result<bool> {
    let Some((status, error)) = &report.status else {
        return Ok(false);
    };
    desk.delivery_reported(
        Channel::Sms,
        &format!("{}:{}", number.channel.id, report.sid),
        *status,
        error.clone(),
    )
    .await
}

/// Sends an agent's answer to the customer's phone from the ticket's number. The message
/// remembers Twilio's SID (of its last part, when it was split) as
/// `{channel}:{sid}`, so status callbacks find it.
pub async fn deliver(desk: &Desk, api: &Api, m: &message::Model) -> Result<(), JobError> {
    let retry = |e: crate::desk::Error| JobError::Retry(e.to_string());
    let t = desk.ticket(m.ticket_id).await.map_err(retry)?;
    let number = match t.channel_id {
        Some(id) => desk.sms_number(id).await.map_err(retry)?,
        None => None,
    }
    .ok_or_else(|| JobError::Permanent("the ticket's SMS number is gone or inactive".into()))?;
    let contact = desk.contact_detail(t.contact_id).await.map_err(retry)?;
    let to = contact
        .identities
        .iter()
        .find(|i| i.kind == IdentityKind::Phone.as_str())
        .ok_or_else(|| JobError::Permanent("the customer has no phone number".into()))?;
    if m.text.trim().is_empty() {
        return Err(JobError::Permanent(
            "an SMS needs text; files are not sent by SMS".into(),
        ));
    }
    let callback = api.status_callback_url(number.channel.id);
    let sids = api
        .send_text(
            &number.secrets(),
            &number.settings.phone_number,
            &to.value,
            &m.text,
            Some(&callback),
        )
        .await?;
    let last = sids
        .last()
        .ok_or_else(|| JobError::Permanent("nothing was sent".into()))?;
    let external_id = desk
        .stamp_message_id(m.id, &format!("{}:{last}", number.channel.id))
        .await
        .map_err(retry)?;
    // Forward only: a status callback may have reported delivery already.
    desk.delivery_reported(Channel::Sms, &external_id, DeliveryStatus::Sent, None)
        .await
        .map_err(retry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The example of Twilio's security documentation.
    #[test]
    fn signature_matches_twilios_example() {
        let f = form(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(signature("12345", url, &f), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        // The order parameters came in does not matter.
        let mut shuffled = f.clone();
        shuffled.0.reverse();
        assert!(verify(
            "12345",
            url,
            &shuffled,
            b"0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify("12346", url, &f, b"0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php",
            &f,
            b"0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify("12345", url, &f, b""));
    }

    #[test]
    fn long_texts_split_at_spaces_within_the_limit() {
        assert_eq!(split("hello", 1600), vec!["hello"]);
        assert!(split("", 1600).is_empty());
        let text = "word ".repeat(700);
        let parts = split(&text, 1600);
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.encode_utf16().count() <= 1600));
        assert!(parts[0].ends_with(' '));
        // No spaces: cut at the limit; emoji count as two units and are never cut.
        let emoji = "😀".repeat(1000);
        let parts = split(&emoji, 1600);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].chars().count(), 800);
        assert_eq!(parts.concat(), emoji);
    }

    #[test]
    fn statuses_map_to_delivery() {
        let r = read_status(&form(&[
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ]))
        .unwrap();
        assert_eq!(
            r.status,
            Some((
                DeliveryStatus::Failed,
                Some("Twilio: undelivered (error 30003: unreachable destination handset)".into())
            ))
        );
        let r = read_status(&form(&[
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("MessageStatus", "sending"),
        ]))
        .unwrap();
        assert_eq!(r.status, None);
        assert!(read_status(&form(&[("MessageStatus", "sent")])).is_err());
        // A SID of multi-byte characters is refused, not sliced.
        let odd = format!("€{}", "a".repeat(31));
        assert!(read_status(&form(&[("MessageSid", &odd), ("MessageStatus", "sent")])).is_err());
    }
}
