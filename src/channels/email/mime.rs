//! A raw RFC 5322 message read into an [`Inbound`]: addresses, subject, text and HTML
//! bodies in any charset, attachments, threading headers and the signs of automatic
//! mail. Parsing never fails on a malformed message; only a message with no sender at
//! all is refused.

use std::borrow::Cow;

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::blobs::Blobs;
use crate::desk::email::{Addresses, Automatic, Forwarded, MailFacts};
use crate::desk::identity::{IdentityClaim, IdentityKind, normalize_email};
use crate::desk::ingest::{MAX_EXTERNAL_ID, MAX_TEXT};
use crate::desk::{Channel, Inbound, ThreadRef};

/// A parsed mail: the desk's message and the attachments' bytes, not stored yet.
pub struct ParsedMail {
    pub inbound: Inbound,
    pub files: Vec<File>,
}

/// One attachment of a parsed mail.
pub struct File {
    pub filename: String,
    pub content_type: String,
    pub content_id: Option<String>,
    pub bytes: Vec<u8>,
}

/// Why a raw message cannot become a desk message.
#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    #[error("not an email message: no header could be read")]
    NotMail,
    #[error("the message names no sender (From, Sender or Return-Path)")]
    NoSender,
    #[error("the message could not be read: {0}")]
    Unreadable(String),
}

/// What the parser needs to know about the desk: its own addresses, to recognise its
/// mail coming back.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The mail accounts' support addresses, lower-case.
    pub own_addresses: Vec<String>,
}

impl Context {
    fn is_own_message_id(&self, id: &str) -> bool {
        id.starts_with(MESSAGE_ID_PREFIX)
            && id.rsplit_once('@').is_some_and(|(_, domain)| {
                self.own_addresses
                    .iter()
                    .any(|a| a.rsplit_once('@').is_some_and(|(_, d)| d == domain))
            })
    }
}

/// Most attachments kept of one mail; the text says how many more there were.
const MAX_FILES: usize = 100;

/// How every Message-ID the desk makes begins.
pub const MESSAGE_ID_PREFIX: &str = "sb.";

/// Reads a whole message.
pub fn parse(raw: &[u8], cx: &Context) -> Result<ParsedMail, MimeError> {
    // Old Mac mail ends lines with CR alone; give the parser lines it can split.
    let fixed;
    let raw = if !raw.contains(&b'\n') && raw.contains(&b'\r') {
        let mut lines = Vec::with_capacity(raw.len() + raw.len() / 32);
        for &b in raw {
            lines.push(b);
            if b == b'\r' {
                lines.push(b'\n');
            }
        }
        fixed = lines;
        &fixed[..]
    } else {
        raw
    };
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(MimeError::NotMail)?;
    if msg.headers().is_empty() {
        return Err(MimeError::NotMail);
    }
    let mut parsed = headers_of(&msg, raw, cx)?;
    let (text, html) = bodies(&msg);
    parsed.inbound.text = text;
    parsed.inbound.html = html;
    parsed.files = files(&msg, raw);
    let more = msg.attachment_count().saturating_sub(MAX_FILES);
    if more > 0 {
        parsed.inbound.text.push_str(&format!(
            "\n\n[{more} more attachments were not stored; the mail has {}]",
            msg.attachment_count()
        ));
    }
    if let Some(mail) = parsed.inbound.mail.as_deref_mut() {
        mail.forwarded = forwarded(&msg, &parsed.inbound.text);
        if let Some(Automatic::Bounce { of, reason }) = &mut mail.automatic {
            bounce_details(&msg, of, reason);
        }
    }
    if parsed.inbound.text.trim().is_empty()
        && parsed.inbound.html.is_none()
        && parsed.files.is_empty()
    {
        parsed.inbound.text = "(empty message)".into();
    }
    Ok(parsed)
}

/// Reads only the header of a message too large to fetch whole (`size` bytes).
pub fn parse_header(header: &[u8], size: u64, cx: &Context) -> Result<ParsedMail, MimeError> {
    let msg = MessageParser::default()
        .parse_headers(header)
        .ok_or(MimeError::NotMail)?;
    let mut parsed = headers_of(&msg, header, cx)?;
    if let Some(mail) = parsed.inbound.mail.as_deref_mut() {
        mail.too_large = Some(size);
    }
    // The desk writes the note's text.
    parsed.inbound.text = "(not fetched)".into();
    Ok(parsed)
}

fn headers_of(msg: &Message<'_>, raw: &[u8], cx: &Context) -> Result<ParsedMail, MimeError> {
    let sender = first_address(msg.from())
        .or_else(|| first_address(msg.sender()))
        .or_else(|| {
            msg.return_address()
                .and_then(|a| normalize_email(a).ok())
                .map(|a| (a, None))
        })
        .ok_or(MimeError::NoSender)?;
    let (from, name) = sender;
    let message_id = msg
        .message_id()
        .map(clean_id)
        .filter(|id| !id.is_empty() && id.len() <= MAX_EXTERNAL_ID)
        .unwrap_or_else(|| synthetic_id(raw));
    let mut references = ids(msg.in_reply_to());
    let mut older = ids(msg.references());
    older.reverse();
    for id in older {
        if !references.contains(&id) {
            references.push(id);
        }
    }
    let subject = msg.subject().map(|s| clean_line(s, 998));
    let addresses = Addresses {
        from: from.clone(),
        reply_to: first_address(msg.reply_to())
            .map(|(a, _)| a)
            .filter(|a| *a != from),
        to: all_addresses(msg.to()),
        cc: all_addresses(msg.cc()),
        ..Default::default()
    };
    let automatic = automatic(msg, &message_id, &from, cx);
    let mut inbound = Inbound::text(
        Channel::Email,
        message_id,
        IdentityClaim::new(IdentityKind::Email, from),
        String::new(),
    );
    inbound.name = name;
    inbound.tag = subject.as_deref().and_then(ticket_tag);
    inbound.subject = subject.map(|s| strip_reply_prefixes(&s).to_owned());
    inbound.thread = (!references.is_empty()).then_some(ThreadRef::Messages(references));
    inbound.sent_at = msg
        .date()
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0));
    inbound.mail = Some(Box::new(MailFacts {
        addresses,
        automatic,
        ..Default::default()
    }));
    Ok(ParsedMail {
        inbound,
        files: vec![],
    })
}

/// Stores a parsed mail's attachments and lists them on its message.
pub async fn store_files(parsed: &mut ParsedMail, blobs: &Blobs) -> std::io::Result<()> {
    for f in parsed.files.drain(..) {
        let size = f.bytes.len() as i64;
        let sha256 = blobs.put(f.bytes).await?;
        parsed.inbound.attachments.push(crate::desk::NewAttachment {
            filename: f.filename,
            content_type: f.content_type,
            size,
            sha256,
            content_id: f.content_id,
        });
    }
    Ok(())
}

fn first_address(a: Option<&Address<'_>>) -> Option<(String, Option<String>)> {
    a?.iter().find_map(|addr| {
        let email = normalize_email(addr.address()?).ok()?;
        let name = addr
            .name()
            .map(|n| clean_line(n, 200))
            .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&email));
        Some((email, name))
    })
}

fn all_addresses(a: Option<&Address<'_>>) -> Vec<String> {
    let Some(a) = a else { return vec![] };
    let mut out: Vec<String> = Vec::new();
    for addr in a.iter().take(100) {
        if let Some(email) = addr.address().and_then(|e| normalize_email(e).ok())
            && !out.contains(&email)
        {
            out.push(email);
        }
    }
    out
}

/// Message-IDs in a header, without angle brackets.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(Cow::as_ref).collect(),
        _ => vec![],
    };
    list.into_iter()
        .map(clean_id)
        .filter(|id| !id.is_empty() && id.len() <= MAX_EXTERNAL_ID)
        .take(100)
        .collect()
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect()
}

/// A stable Message-ID for a message without one: the same message gives the same id,
/// so fetching it again is still recognised, also from another mailbox. The header
/// lines each server adds on the way (`Received`, `Return-Path`, `Delivered-To`…) are
/// left out.
fn synthetic_id(raw: &[u8]) -> String {
    const TRACE: [&str; 5] = [
        "received:",
        "return-path:",
        "delivered-to:",
        "x-original-to:",
        "dkim-signature:",
    ];
    let mut stable = Vec::with_capacity(raw.len());
    let mut skipping = false;
    let mut in_header = true;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if in_header {
            if line == b"\n" || line == b"\r\n" {
                in_header = false;
            } else if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                if skipping {
                    continue;
                }
            } else {
                let lower =
                    String::from_utf8_lossy(&line[..line.len().min(20)]).to_ascii_lowercase();
                skipping = TRACE.iter().any(|t| lower.starts_with(t));
                if skipping {
                    continue;
                }
            }
        }
        stable.extend_from_slice(line);
    }
    format!(
        "{}@synthetic.switchboard.invalid",
        &Blobs::hash(&stable)[..32]
    )
}

/// One line of header text: no control characters, bounded.
fn clean_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if out.len() > max {
        let mut end = max;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// The number in a `[#1234]` tag, the last one if there are several.
pub fn ticket_tag(subject: &str) -> Option<i64> {
    let mut found = None;
    let mut rest = subject;
    while let Some(at) = rest.find("[#") {
        rest = &rest[at + 2..];
        let digits: &str = &rest[..rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len())];
        if !digits.is_empty() && digits.len() <= 15 && rest[digits.len()..].starts_with(']') {
            found = digits.parse().ok();
        }
    }
    found
}

/// "Re: AW: Fwd: x" → "x": the subject a new ticket is titled with.
fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let lower = s.to_lowercase();
        let prefix = [
            "re:", "aw:", "fw:", "fwd:", "wg:", "sv:", "vs:", "tr:", "rv:", "antw:",
        ]
        .into_iter()
        .find(|p| lower.starts_with(p));
        match prefix {
            Some(p) => s = s[p.len()..].trim_start(),
            None => return s,
        }
    }
}

/// The text and the HTML a person reads. The text is what the sender wrote as text or,
/// for HTML-only mail, the HTML's text; it is bounded, and NUL characters are dropped.
fn bodies(msg: &Message<'_>) -> (String, Option<String>) {
    let mut text = String::new();
    for i in 0..msg.text_body_count() {
        if let Some(t) = msg.body_text(i) {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&t);
        }
        if text.len() > MAX_TEXT {
            break;
        }
    }
    let mut text = text.replace('\0', "");
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT - 64;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("\n[… the rest of this message was cut]");
    }
    let html = msg
        .html_bodies()
        .find(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(|h| h.replace('\0', ""))
        // Far larger than anyone reads: keep the text only.
        .filter(|h| h.len() <= 4 * MAX_TEXT);
    (text, html)
}

/// The message's attachments (inline images too) and forwarded messages.
fn files(msg: &Message<'_>, raw: &[u8]) -> Vec<File> {
    let mut out = Vec::new();
    for (i, part) in msg.attachments().enumerate().take(MAX_FILES) {
        // A nameless text part is another form of the body (a calendar invite's
        // text/calendar alternative), not a file someone attached.
        if part.attachment_name().is_none() && part.is_text() && !part.is_text_html() {
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_lowercase();
        let (bytes, fallback) = match &part.body {
            // A forwarded mail is kept as it came, to be opened in a mail program.
            PartType::Message(_) => {
                let (start, end) = (part.offset_body as usize, part.offset_end as usize);
                let bytes = raw.get(start..end.min(raw.len())).unwrap_or_default();
                (bytes.to_vec(), format!("message-{}.eml", i + 1))
            }
            _ => (part.contents().to_vec(), format!("attachment-{}", i + 1)),
        };
        let filename = part
            .attachment_name()
            .map(clean_filename)
            .filter(|n| !n.is_empty())
            .unwrap_or(fallback);
        out.push(File {
            filename,
            content_type: clean_line(&content_type, 200),
            content_id: part.content_id().map(clean_id).filter(|c| !c.is_empty()),
            bytes,
        });
    }
    out
}

/// A file name without folders or control characters, bounded.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    clean_line(base, 200).trim_matches('.').to_owned()
}

fn header_text<'a>(msg: &'a Message<'_>, name: &str) -> Option<Cow<'a, str>> {
    msg.header_raw(name)
        .map(|v| Cow::Owned(v.trim().to_lowercase()))
}

/// The signs of mail no person wrote: RFC 3834 `Auto-Submitted`, the responders' own
/// headers, `Precedence`, list headers, a null Return-Path, delivery reports, and the
/// desk's own mail (its Message-IDs, its `X-Loop`, its support addresses as sender).
fn automatic(msg: &Message<'_>, message_id: &str, from: &str, cx: &Context) -> Option<Automatic> {
    if cx.is_own_message_id(message_id) || cx.own_addresses.iter().any(|a| a == from) {
        return Some(Automatic::Own);
    }
    let loops_through_us = msg
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("X-Loop"))
        .any(|(_, value)| {
            let value = value.to_lowercase();
            cx.own_addresses.iter().any(|a| value.contains(a.as_str()))
        });
    if loops_through_us {
        return Some(Automatic::Own);
    }
    if msg.is_content_type("multipart", "report")
        && msg
            .content_type()
            .and_then(|ct| ct.attribute("report-type"))
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    {
        return Some(Automatic::Bounce {
            of: vec![],
            reason: String::new(),
        });
    }
    if header_text(msg, "Auto-Submitted").is_some_and(|v| v != "no")
        || ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"]
            .iter()
            .any(|h| msg.header_raw(*h).is_some())
    {
        return Some(Automatic::AutoReply);
    }
    if let Some(p) = header_text(msg, "Precedence") {
        if p == "list" {
            return Some(Automatic::List);
        }
        if matches!(p.as_ref(), "bulk" | "junk" | "auto_reply") {
            return Some(Automatic::Bulk);
        }
    }
    if [
        "List-Id",
        "List-Unsubscribe",
        "List-Post",
        "List-Help",
        "List-Owner",
    ]
    .iter()
    .any(|h| msg.header_raw(*h).is_some())
    {
        return Some(Automatic::List);
    }
    if msg.header_raw("Return-Path").is_some_and(|v| {
        v.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .is_empty()
    }) {
        return Some(Automatic::AutoReply);
    }
    None
}

/// The Message-IDs a delivery report is about and the reason it gives.
fn bounce_details(msg: &Message<'_>, of: &mut Vec<String>, reason: &mut String) {
    let mut status = String::new();
    for part in msg.parts.iter() {
        let ct = part.content_type();
        let is = |t: &str, s: &str| {
            ct.is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case(t)
                    && ct.subtype().is_some_and(|x| x.eq_ignore_ascii_case(s))
            })
        };
        if is("message", "delivery-status") {
            let text = String::from_utf8_lossy(part.contents());
            for line in text.lines() {
                let (key, value) = match line.split_once(':') {
                    Some(kv) => kv,
                    None => continue,
                };
                match key.trim().to_ascii_lowercase().as_str() {
                    "diagnostic-code" if reason.is_empty() => {
                        *reason = value.trim().trim_start_matches("smtp;").trim().to_owned();
                    }
                    "status" if status.is_empty() => status = value.trim().to_owned(),
                    _ => {}
                }
            }
        } else if is("text", "rfc822-headers") || is("message", "rfc822-headers") {
            let headers = part.contents();
            if let Some(inner) = MessageParser::default().parse_headers(headers)
                && let Some(id) = inner.message_id()
            {
                of.push(clean_id(id));
            }
        } else if let PartType::Message(inner) = &part.body
            && let Some(id) = inner.message_id()
        {
            of.push(clean_id(id));
        }
    }
    // The report's own references name the failed mail too.
    for id in ids(msg.in_reply_to())
        .into_iter()
        .chain(ids(msg.references()))
    {
        if !of.contains(&id) {
            of.push(id);
        }
    }
    if reason.is_empty() {
        *reason = if status.is_empty() {
            "the receiving server returned the mail".into()
        } else {
            format!("status {status}")
        };
    }
}

/// The original sender of a forwarded mail: an attached message's From, or the first
/// "From:" line after a forward marker in the text.
fn forwarded(msg: &Message<'_>, text: &str) -> Option<Forwarded> {
    let subject = msg.subject().unwrap_or("").trim().to_lowercase();
    let looks_forwarded = ["fwd:", "fw:", "wg:", "tr:", "rv:", "weitergeleitet:"]
        .iter()
        .any(|p| subject.starts_with(p));
    for part in msg.attachments() {
        if let PartType::Message(inner) = &part.body
            && let Some((email, name)) = first_address(inner.from())
            && (looks_forwarded || msg.text_body_count() == 0 || text.trim().len() < 2000)
        {
            return Some(Forwarded { email, name });
        }
    }
    const MARKERS: [&str; 6] = [
        "forwarded message",
        "original message",
        "weitergeleitete nachricht",
        "ursprüngliche nachricht",
        "message transféré",
        "begin forwarded message",
    ];
    let mut lines = text.lines();
    lines.by_ref().find(|l| {
        let l = l.to_lowercase();
        MARKERS.iter().any(|m| l.contains(m))
    })?;
    for line in lines.take(12) {
        let line = line.trim().trim_start_matches('>').trim();
        let line = line.replace('*', "");
        let Some(value) = ["From:", "Von:", "De:", "Van:"]
            .iter()
            .find_map(|k| line.strip_prefix(k))
        else {
            continue;
        };
        let value = value.trim();
        let (name, email) = match (value.rfind('<'), value.rfind('>')) {
            (Some(a), Some(b)) if a < b => {
                (value[..a].trim().trim_matches('"').trim(), &value[a + 1..b])
            }
            _ => ("", value),
        };
        if let Ok(email) = normalize_email(email) {
            let name = (!name.is_empty()).then(|| clean_line(name, 200));
            return Some(Forwarded { email, name });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_prefixes() {
        assert_eq!(ticket_tag("Re: Lieferung [#1042]"), Some(1042));
        assert_eq!(ticket_tag("[#12] and [#34]"), Some(34));
        assert_eq!(ticket_tag("[#] [#12x] #5"), None);
        assert_eq!(strip_reply_prefixes("Re: AW: Fwd:  Lieferung"), "Lieferung");
    }
}
