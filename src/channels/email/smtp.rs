//! Outgoing mail: agent replies, automatic answers and chat answers followed up by mail,
//! composed with our own Message-ID and the customer's thread, sent through lettre's
//! pooled SMTP transport (one pool per mail account).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::mime::MESSAGE_ID_PREFIX;
use crate::desk::Desk;
use crate::desk::channels::{MailAccount, Security};
use crate::desk::email::{Addresses, MailRecipients};
use crate::outbox::JobError;
use entity::{message, ticket};

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The SMTP connection pools, one per mail account, rebuilt when its settings change.
#[derive(Default)]
pub struct Mailer {
    transports: Mutex<HashMap<i64, (chrono::DateTime<chrono::Utc>, Transport)>>,
}

impl Mailer {
    fn transport(&self, account: &MailAccount) -> Result<Transport, JobError> {
        let key = account.channel.id;
        let changed = account.channel.updated_at;
        let mut pools = self.transports.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, t)) = pools.get(&key)
            && *at == changed
        {
            return Ok(t.clone());
        }
        let smtp = account.settings.smtp.as_ref().ok_or_else(|| {
            JobError::Permanent(format!(
                "the mail account {} has no SMTP server",
                account.settings.address
            ))
        })?;
        let tls_err = |e: lettre::transport::smtp::Error| {
            JobError::Permanent(format!("SMTP server {}: {e}", smtp.host))
        };
        let params = || {
            let mut b = TlsParameters::builder(smtp.host.clone());
            if let Some(pem) = &smtp.tls_ca {
                b = b.add_root_certificate(Certificate::from_pem(pem.as_bytes()).map_err(tls_err)?);
            }
            b.build_rustls().map_err(tls_err)
        };
        let tls = match smtp.security {
            Security::Tls => Tls::Wrapper(params()?),
            Security::Starttls => Tls::Required(params()?),
            Security::None => Tls::None,
        };
        let mut builder = Transport::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(60)));
        if let Some(user) = &smtp.user {
            let password = account.secrets().smtp_password.unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let transport = builder.build();
        pools.insert(key, (changed, transport.clone()));
        Ok(transport)
    }

    /// Sends one composed mail; a 5xx answer is permanent, anything else worth a retry.
    async fn send(&self, account: &MailAccount, mail: Message) -> Result<(), JobError> {
        let transport = self.transport(account)?;
        transport.send(mail).await.map(|_| ()).map_err(|e| {
            let reason = format!("SMTP: {e}");
            if e.is_permanent() {
                JobError::Permanent(reason)
            } else {
                JobError::Retry(reason)
            }
        })
    }
}

/// The account a ticket's mail leaves through: the one it came in on, else the first.
async fn account_for(desk: &Desk, t: &ticket::Model) -> Result<MailAccount, JobError> {
    if let Some(id) = t.channel_id
        && let Ok(account) = desk.mail_account(id).await
        && account.channel.active
    {
        return Ok(account);
    }
    desk.mail_accounts()
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| JobError::Retry("no mail account is configured to send from".into()))
}

/// A new Message-ID in the account's domain, without angle brackets.
fn new_message_id(account: &MailAccount) -> String {
    format!(
        "{MESSAGE_ID_PREFIX}{}@{}",
        uuid::Uuid::new_v4().simple(),
        account.domain()
    )
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

/// Sends a queued message of an email ticket: an agent's reply, or an automatic answer
/// (which names its recipient itself).
pub async fn deliver(desk: &Desk, mailer: &Mailer, m: &message::Model) -> Result<(), JobError> {
    let t = desk.ticket(m.ticket_id).await.map_err(retry)?;
    let account = account_for(desk, &t).await?;
    let own: Addresses = m
        .addresses
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let auto = own.auto_submitted.is_some();
    let mut r = desk.mail_recipients(&t).await.map_err(retry)?;
    if auto {
        r.to = own.to.clone();
        r.cc.clear();
    }
    if r.to.is_empty() {
        return Err(JobError::Permanent(
            "the customer has no email address to answer".into(),
        ));
    }
    let id = desk
        .stamp_message_id(m.id, &new_message_id(&account))
        .await
        .map_err(retry)?;
    let files = attachments(desk, m.id).await?;
    let subject = reply_subject(&t);
    let mail = compose(
        &account,
        &r,
        &id,
        &subject,
        &m.text,
        m.html.as_deref(),
        auto,
        files,
    )?;
    mailer.send(&account, mail).await?;
    let sent = Addresses {
        from: account.settings.address.clone(),
        to: r.to,
        cc: r.cc,
        auto_submitted: own.auto_submitted,
        ..Default::default()
    };
    desk.mail_sent(m.id, &sent).await.map_err(retry)
}

/// Sends a copy of a chat answer the visitor was not there to read.
pub async fn follow_up(
    desk: &Desk,
    mailer: &Mailer,
    m: &message::Model,
    to: &str,
) -> Result<(), JobError> {
    let t = desk.ticket(m.ticket_id).await.map_err(retry)?;
    let account = account_for(desk, &t).await?;
    // The same id on every attempt: a repeat is recognised by the receiving side.
    let id = format!("{MESSAGE_ID_PREFIX}chat-{}@{}", m.id, account.domain());
    let r = MailRecipients {
        to: vec![to.to_owned()],
        ..Default::default()
    };
    let text = format!(
        "{}\n\n— You can answer this email, or open the chat on our site again.",
        m.text
    );
    let mail = compose(
        &account,
        &r,
        &id,
        &reply_subject(&t),
        &text,
        None,
        false,
        vec![],
    )?;
    mailer.send(&account, mail).await
}

/// "Re: <subject> [#number]", whatever the subject already carried.
fn reply_subject(t: &ticket::Model) -> String {
    let tag = format!("[#{}]", t.number);
    let subject = t.subject.replace(&tag, "");
    format!("Re: {} {tag}", subject.trim())
}

async fn attachments(
    desk: &Desk,
    message_id: i64,
) -> Result<Vec<(entity::attachment::Model, Vec<u8>)>, JobError> {
    let mut out = Vec::new();
    for a in desk.attachments_of(message_id).await.map_err(retry)? {
        let bytes = desk
            .blobs
            .get(&a.sha256)
            .await
            .map_err(retry)?
            .ok_or_else(|| {
                JobError::Permanent(format!("the file of attachment {} is missing", a.filename))
            })?;
        out.push((a, bytes));
    }
    Ok(out)
}

fn mailbox(address: &str, name: Option<&str>) -> Result<Mailbox, JobError> {
    let email = address
        .parse()
        .map_err(|e| JobError::Permanent(format!("{address:?} is not a mail address: {e}")))?;
    Ok(Mailbox::new(name.map(str::to_owned), email))
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// The text as simple HTML, for mail programs that show only the HTML part: escaped,
/// paragraphs and line breaks kept, and web addresses (a survey's link, say) made links.
fn text_as_html(text: &str) -> String {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    let line = |l: &str| -> String {
        finder
            .spans(l)
            .map(|span| {
                let part = ammonia::clean_text(span.as_str());
                let web = span.kind().is_some()
                    && ["https://", "http://"]
                        .iter()
                        .any(|s| span.as_str().to_ascii_lowercase().starts_with(s));
                if web {
                    format!("<a href=\"{part}\">{part}</a>")
                } else {
                    part
                }
            })
            .collect()
    };
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| {
            let lines: Vec<String> = p.lines().map(line).collect();
            format!("<p>{}</p>", lines.join("<br>"))
        })
        .collect();
    format!(
        "<!doctype html><html><body>{}</body></html>",
        paragraphs.join("\n")
    )
}

#[allow(clippy::too_many_arguments)]
fn compose(
    account: &MailAccount,
    r: &MailRecipients,
    id: &str,
    subject: &str,
    text: &str,
    html: Option<&str>,
    auto: bool,
    files: Vec<(entity::attachment::Model, Vec<u8>)>,
) -> Result<Message, JobError> {
    let s = &account.settings;
    let mut b = Message::builder()
        .from(mailbox(&s.address, s.display_name.as_deref())?)
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .date_now()
        .raw_header(header("X-Loop", &s.address));
    for to in &r.to {
        b = b.to(mailbox(to, None)?);
    }
    // A copy to an address the mail library cannot write must not cost the customer
    // the answer.
    for cc in &r.cc {
        match mailbox(cc, None) {
            Ok(m) => b = b.cc(m),
            Err(_) => {
                tracing::warn!("leaving {cc:?} out of the copy: not a mail address we can write")
            }
        }
    }
    if let Some(parent) = &r.in_reply_to {
        b = b.in_reply_to(format!("<{parent}>"));
    }
    if !r.references.is_empty() {
        let chain: Vec<String> = r.references.iter().map(|id| format!("<{id}>")).collect();
        b = b.references(chain.join(" "));
    }
    if auto {
        // RFC 3834: nobody answers this automatically, and Exchange sends no
        // out-of-office note back.
        b = b
            .raw_header(header("Auto-Submitted", "auto-replied"))
            .raw_header(header("X-Auto-Response-Suppress", "All"));
    }
    let html = html
        .map(str::to_owned)
        .unwrap_or_else(|| text_as_html(text));
    let body = MultiPart::alternative_plain_html(text.to_owned(), html);
    let built = if files.is_empty() {
        b.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for (a, bytes) in files {
            let ct = ContentType::parse(&a.content_type)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
            let part: SinglePart = Attachment::new(a.filename).body(bytes, ct);
            mixed = mixed.singlepart(part);
        }
        b.multipart(mixed)
    };
    built.map_err(|e| JobError::Permanent(format!("composing the mail failed: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_becomes_escaped_paragraphs() {
        let html = super::text_as_html("Hallo <b>Anna</b> & Co\nZeile 2\n\nGrüße");
        assert!(html.contains("&lt;b&gt;Anna"), "{html}");
        assert!(
            html.contains("<br>") && html.matches("<p>").count() == 2,
            "{html}"
        );
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn web_addresses_become_links_and_nothing_else_does() {
        let html = super::text_as_html(
            "Bitte bewerten Sie uns: https://desk.example/survey/1.0.9.a_b-c.\n\
             (siehe http://shop.example/a?b=1&c=\"2\") javascript:alert(1) mail@example.com",
        );
        assert!(
            html.contains(
                "<a href=\"https:&#47;&#47;desk.example&#47;survey&#47;1.0.9.a_b-c\">\
                 https:&#47;&#47;desk.example&#47;survey&#47;1.0.9.a_b-c</a>."
            ),
            "{html}"
        );
        // The quote ends the address; what follows it stays text.
        assert!(
            html.contains("<a href=\"http:&#47;&#47;shop.example&#47;a?b&#61;1&amp;c&#61;\">"),
            "{html}"
        );
        assert_eq!(html.matches("<a ").count(), 2, "{html}");
        assert!(
            html.contains("javascript:alert(1)&#32;mail@example.com"),
            "{html}"
        );
    }
}
