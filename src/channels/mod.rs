//! Channel adapters: wire formats in, wire formats out. Each turns what a provider sends
//! into a desk [`Inbound`](crate::desk::Inbound) and delivers outgoing messages in the
//! provider's format; none of them knows a helpdesk rule.

pub mod api;
pub mod chat;
pub mod email;
pub mod shop;
pub mod shop_csv;
pub mod sms;
pub mod telegram;
pub mod voice;
pub mod whatsapp;

use std::sync::Arc;

use futures_util::FutureExt;
use serde::Deserialize;

use crate::desk::{Channel, DeliveryStatus, Desk, Direction, Error};
use crate::outbox::{Handler, Job, JobError};

/// A file a messenger's message names, as fetched from the provider.
pub(crate) enum Fetched {
    Bytes(Vec<u8>),
    /// The provider can never give it, for this reason.
    Gone(String),
}

/// Adds a fetched file to a message: its bytes stored once, or, when the provider can
/// never give it, a line in the text that names it, so the message is not lost for it.
pub(crate) async fn attach(
    desk: &Desk,
    inbound: &mut crate::desk::Inbound,
    provider: &str,
    filename: String,
    content_type: String,
    fetched: Fetched,
) -> std::io::Result<()> {
    match fetched {
        Fetched::Gone(why) => {
            if !inbound.text.is_empty() {
                inbound.text.push('\n');
            }
            inbound.text.push_str(&format!(
                "[{filename} ({content_type}) could not be fetched from {provider}: {why}]"
            ));
        }
        Fetched::Bytes(bytes) => {
            let size = bytes.len() as i64;
            let sha256 = desk.blobs.put(bytes).await?;
            inbound.attachments.push(crate::desk::NewAttachment {
                filename,
                content_type,
                size,
                sha256,
                content_id: None,
            });
        }
    }
    Ok(())
}

/// The clients of the outside world the channels talk to: SMTP pools, provider APIs.
pub struct Clients {
    pub mail: email::smtp::Mailer,
    pub telegram: telegram::Api,
    pub sms: sms::Api,
    pub whatsapp: whatsapp::Api,
}

impl Clients {
    pub fn new(config: &crate::config::Config) -> Clients {
        Clients {
            mail: email::smtp::Mailer::default(),
            telegram: telegram::Api::new(config.telegram_api_url.as_str()),
            sms: sms::Api::new(config.twilio_api_url.as_str(), &config.public_url),
            whatsapp: whatsapp::Api::new(config.whatsapp_api_url.as_str()),
        }
    }
}

/// The outbox handler for `deliver` rows: sends a queued reply on its ticket's channel.
/// A message no longer queued was delivered already, so a repeated job does nothing.
pub fn deliver_handler(desk: Desk, clients: Arc<Clients>) -> Handler {
    Arc::new(move |job: Job| {
        let (desk, clients) = (desk.clone(), clients.clone());
        async move { deliver(&desk, &clients, &job).await }.boxed()
    })
}

#[derive(Deserialize)]
struct DeliverPayload {
    message_id: i64,
}

/// The message an outbox job is about, as it goes out (a survey's with its link, see
/// [`Desk::for_delivery`]); a message that is gone fails the job for good. Every
/// delivery reads its message here, so the link is never stored in the text.
pub(crate) async fn job_message(desk: &Desk, id: i64) -> Result<entity::message::Model, JobError> {
    let m = match desk.message(id).await {
        Ok(m) => m,
        Err(Error::NotFound { .. }) => {
            return Err(JobError::Permanent(format!("message {id} is gone")));
        }
        Err(e) => return Err(JobError::Retry(e.to_string())),
    };
    desk.for_delivery(m)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))
}

async fn deliver(desk: &Desk, clients: &Clients, job: &Job) -> Result<(), JobError> {
    let payload: DeliverPayload = serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
    let message = job_message(desk, payload.message_id).await?;
    if message.direction != Direction::Out.as_str()
        || message.delivery_status != DeliveryStatus::Queued.as_str()
    {
        return Ok(());
    }
    let channel: Channel = message
        .channel
        .parse()
        .map_err(|_| JobError::Permanent(format!("unknown channel {:?}", message.channel)))?;
    let result = match channel {
        Channel::Api => api::deliver(desk, &message).await,
        Channel::Chat => chat::deliver(desk, &message).await,
        Channel::Email => email::smtp::deliver(desk, &clients.mail, &message).await,
        Channel::Telegram => telegram::deliver(desk, &clients.telegram, &message).await,
        Channel::Sms => sms::deliver(desk, &clients.sms, &message).await,
        Channel::Whatsapp => whatsapp::deliver(desk, &clients.whatsapp, &message).await,
        other => Err(JobError::Retry(format!(
            "no sender is configured for the {other} channel"
        ))),
    };
    let gives_up = match &result {
        Err(JobError::Permanent(reason)) => Some(reason),
        Err(JobError::Retry(reason)) if job.attempts >= crate::outbox::MAX_ATTEMPTS => Some(reason),
        _ => None,
    };
    if let Some(reason) = gives_up {
        desk.set_delivery(message.id, DeliveryStatus::Failed, Some(reason.clone()))
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
    }
    result
}
