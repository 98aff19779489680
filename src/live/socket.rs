//! What the agent and widget WebSockets share: close codes, the heartbeat, how a
//! connection ends, and sending with a deadline so a peer that stops reading cannot
//! hold a task forever.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt};

/// Ping interval; a peer silent for two intervals is gone.
pub const HEARTBEAT: Duration = Duration::from_secs(25);
/// A send that takes longer means the peer is not reading.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Close codes: the standard ones, and ours in the 4000 range.
pub mod close {
    pub const UNSUPPORTED: u16 = 1003;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The desk could not store something now: reconnect and send it again.
    pub const TRY_AGAIN: u16 = 1011;
    /// Fell behind: re-read (the API, or the widget's `hello` with `after`) and reconnect.
    pub const RESYNC: u16 = 4000;
    /// A widget said no `hello` in time.
    pub const NO_HELLO: u16 = 4400;
    /// The session ended (logout, expiry, deactivation).
    pub const SESSION_ENDED: u16 = 4401;
    /// A widget's identity signature is not the site's.
    pub const FORGED_IDENTITY: u16 = 4403;
}

/// Why a connection's loop ended, and what to tell the peer.
pub enum End {
    Quiet,
    Close(u16, &'static str),
}

/// Sends a text frame; false when the peer is gone or not reading.
pub async fn send<S>(sink: &mut S, text: impl Into<Utf8Bytes>) -> bool
where
    S: Sink<Message> + Unpin,
{
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// The heartbeat's ticker, its first (immediate) tick taken.
pub async fn heartbeat() -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(HEARTBEAT);
    ticker.tick().await;
    ticker
}

/// Sends a heartbeat ping; false when the peer is gone or not reading.
pub async fn ping<S>(sink: &mut S) -> bool
where
    S: Sink<Message> + Unpin,
{
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Default::default()))).await,
        Ok(Ok(()))
    )
}

/// Says goodbye the way `end` asks: a close frame with code and reason, or nothing.
pub async fn finish<S>(sink: &mut S, end: End)
where
    S: Sink<Message> + Unpin,
{
    if let End::Close(code, reason) = end {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
}

/// True when a read failed because the peer's frame was over the size limit.
pub fn is_too_big(e: &axum::Error) -> bool {
    let text = e.to_string().to_lowercase();
    text.contains("too long") || text.contains("too big")
}
