//! The email channel: mail in (the IMAP poller, or an MTA handing a raw message to
//! `POST /api/v1/inbound/email`), read by [`mime`] into an [`Inbound`], and mail out
//! through [`smtp`]. The rules (threading, loops, acknowledgements) are the desk's.

pub mod imap;
pub mod mime;
pub mod smtp;

use std::sync::Arc;

use futures_util::FutureExt;
use serde::Deserialize;

use crate::desk::channels::MailAccount;
use crate::desk::email::{Checkpoint, Received};
use crate::desk::{Desk, Error};
use crate::outbox::{Handler, Job, JobError};
use mime::{MimeError, ParsedMail};

/// Why a mail was not received.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The mail itself is unusable (no sender, not a mail, refused by the desk's
    /// checks); trying again will not help.
    #[error("{0}")]
    Refused(String),
    /// Something on our side failed (the store, the disk); try again later.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// Stores the attachments of a parsed mail and hands it to the desk, with the IMAP
/// checkpoint it advances.
pub async fn receive(
    desk: &Desk,
    parsed: Result<ParsedMail, MimeError>,
    checkpoint: Option<Checkpoint>,
    account: &MailAccount,
) -> Result<Received, ReceiveError> {
    let mut parsed = parsed.map_err(|e| ReceiveError::Refused(e.to_string()))?;
    mime::store_files(&mut parsed, &desk.blobs)
        .await
        .map_err(|e| ReceiveError::Failed(anyhow::anyhow!("storing attachments: {e}")))?;
    let mut inbound = parsed.inbound;
    inbound.channel_id = Some(account.channel.id);
    if let Some(mail) = inbound.mail.as_deref_mut() {
        mail.checkpoint = checkpoint;
    }
    desk.receive_mail(inbound).await.map_err(|e| match e {
        Error::Invalid { .. } => ReceiveError::Refused(e.to_string()),
        other => ReceiveError::Failed(other.into()),
    })
}

/// Reads a raw mail (or, for one too large to fetch, its header and size) on a blocking
/// thread: a large mail is milliseconds of CPU the async threads should not spend.
pub async fn read(
    raw: Vec<u8>,
    cx: mime::Context,
    too_large: Option<u64>,
) -> Result<ParsedMail, MimeError> {
    tokio::task::spawn_blocking(move || match too_large {
        Some(size) => mime::parse_header(&raw, size, &cx),
        None => mime::parse(&raw, &cx),
    })
    .await
    .unwrap_or_else(|e| Err(MimeError::Unreadable(e.to_string())))
}

/// The parser's view of the desk: its own addresses.
pub async fn context(desk: &Desk) -> Result<mime::Context, Error> {
    Ok(mime::Context {
        own_addresses: desk.own_addresses().await?,
    })
}

#[derive(Deserialize)]
struct FollowUp {
    message_id: i64,
    to: String,
}

/// The outbox handler for `email` rows: a chat answer followed up by mail.
pub fn follow_up_handler(desk: Desk, clients: Arc<super::Clients>) -> Handler {
    Arc::new(move |job: Job| {
        let (desk, clients) = (desk.clone(), clients.clone());
        async move {
            let p: FollowUp = serde_json::from_value(job.payload.clone())
                .map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
            let m = super::job_message(&desk, p.message_id).await?;
            smtp::follow_up(&desk, &clients.mail, &m, &p.to).await
        }
        .boxed()
    })
}
