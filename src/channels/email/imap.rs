//! The IMAP poller: one task per mail account reads new mail from its folder, using
//! IDLE where the server has it and polling otherwise.
//!
//! Progress is the (UIDVALIDITY, last UID) checkpoint, written in the transaction that
//! stores each message ([`Checkpoint`]); mail is never deleted or flagged on the server.
//! A changed UIDVALIDITY starts the folder over, and what was stored before is
//! recognised by its Message-ID. A crash anywhere therefore neither loses nor repeats
//! mail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::mime::{self, Context};
use crate::desk::Desk;
use crate::desk::channels::{MailAccount, Security};
use crate::desk::email::{Checkpoint, Received};

/// Most messages fetched per round; the rest come in the next.
const BATCH: usize = 50;
/// How long one connection waits in IDLE before it looks again (servers drop idle
/// clients after 30 minutes).
const IDLE_FOR: Duration = Duration::from_secs(25 * 60);
/// How often the set of mail accounts is checked for changes.
const WATCH_ACCOUNTS: Duration = Duration::from_secs(3);

/// Keeps one poller running per active mail account with an IMAP server, starting,
/// restarting (when an account changed) and stopping them as accounts come and go.
pub async fn supervise(desk: Desk, poll: Duration, mut stop: watch::Receiver<bool>) {
    let mut running: HashMap<i64, (chrono::DateTime<chrono::Utc>, watch::Sender<bool>)> =
        HashMap::new();
    loop {
        match desk.mail_accounts().await {
            Ok(accounts) => {
                let wanted: HashMap<i64, MailAccount> = accounts
                    .into_iter()
                    .filter(|a| a.settings.imap.is_some())
                    .map(|a| (a.channel.id, a))
                    .collect();
                running.retain(|id, (at, halt)| {
                    let keep = wanted.get(id).is_some_and(|a| a.channel.updated_at == *at);
                    if !keep {
                        let _ = halt.send(true);
                    }
                    keep
                });
                for (id, account) in wanted {
                    if running.contains_key(&id) {
                        continue;
                    }
                    let (halt, halted) = watch::channel(false);
                    running.insert(id, (account.channel.updated_at, halt));
                    tokio::spawn(poll_account(desk.clone(), account, poll, halted));
                }
            }
            Err(e) => tracing::warn!("listing mail accounts failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_ACCOUNTS) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    for (_, (_, halt)) in running {
        let _ = halt.send(true);
    }
}

/// Reads one account until halted; after an error it waits (longer each time, up to
/// five minutes) and connects again.
async fn poll_account(
    desk: Desk,
    account: MailAccount,
    poll: Duration,
    mut halt: watch::Receiver<bool>,
) {
    let address = account.settings.address.clone();
    let mut failures = 0u32;
    loop {
        let run = read_account(&desk, &account, poll, &mut halt);
        match run.await {
            Ok(()) => return,
            Err(e) => {
                failures += 1;
                tracing::warn!(account = %address, failures, "IMAP: {e:#}");
            }
        }
        let wait = Duration::from_secs(2u64.saturating_pow(failures.min(8)).min(300));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = halt.wait_for(|h| *h) => return,
        }
    }
}

async fn read_account(
    desk: &Desk,
    account: &MailAccount,
    poll: Duration,
    halt: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let imap = account
        .settings
        .imap
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no IMAP server"))?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((imap.host.as_str(), imap.port)),
    )
    .await
    .map_err(|_| anyhow::anyhow!("connecting to {}:{} timed out", imap.host, imap.port))??;
    let _ = tcp.set_nodelay(true);
    match imap.security {
        Security::None => {
            let client = greeted(tcp).await?;
            session(desk, account, client, poll, halt).await
        }
        Security::Tls => {
            let tls = tls_connect(&imap.host, tcp).await?;
            let client = greeted(tls).await?;
            session(desk, account, client, poll, halt).await
        }
        Security::Starttls => {
            let mut client = greeted(tcp).await?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            let tls = tls_connect(&imap.host, client.into_inner()).await?;
            session(desk, account, async_imap::Client::new(tls), poll, halt).await
        }
    }
}

type Stream = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(host: &str, tcp: TcpStream) -> anyhow::Result<Stream> {
    let roots = tokio_rustls::rustls::RootCertStore::from_iter(
        webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
    );
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// A client that has read the server's greeting.
async fn greeted<T>(stream: T) -> anyhow::Result<async_imap::Client<T>>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the server closed the connection before greeting"))?;
    Ok(client)
}

async fn session<T>(
    desk: &Desk,
    account: &MailAccount,
    client: async_imap::Client<T>,
    poll: Duration,
    halt: &mut watch::Receiver<bool>,
) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let imap = account.settings.imap.as_ref().expect("checked by the caller");
    let user = imap.user.clone().unwrap_or_default();
    let password = account.secrets().imap_password.unwrap_or_default();
    let mut session = client
        .login(&user, &password)
        .await
        .map_err(|(e, _)| anyhow::anyhow!("login as {user:?} failed: {e}"))?;
    let idle = session.capabilities().await?.has_str("IDLE");
    let folder = imap.folder().to_owned();
    tracing::info!(account = %account.settings.address, %folder, idle, "IMAP: reading");
    loop {
        let mailbox = session.select(&folder).await?;
        let uid_validity = mailbox
            .uid_validity
            .ok_or_else(|| anyhow::anyhow!("the server gives no UIDVALIDITY"))?;
        while read_new(desk, account, &mut session, &folder, uid_validity).await? {}
        let halted = *halt.borrow();
        if halted {
            let _ = session.logout().await;
            return Ok(());
        }
        if idle {
            let mut handle = session.idle();
            handle.init().await?;
            let (wait, interrupt) = handle.wait_with_timeout(IDLE_FOR);
            let halted = tokio::select! {
                r = wait => { r?; false }
                _ = halt.wait_for(|h| *h) => true,
            };
            drop(interrupt);
            session = handle.done().await?;
            if halted {
                let _ = session.logout().await;
                return Ok(());
            }
        } else {
            let halted = tokio::select! {
                _ = tokio::time::sleep(poll) => false,
                _ = halt.wait_for(|h| *h) => true,
            };
            if halted {
                let _ = session.logout().await;
                return Ok(());
            }
        }
    }
}

/// Fetches and stores up to [`BATCH`] new messages; true when there may be more.
async fn read_new<T>(
    desk: &Desk,
    account: &MailAccount,
    session: &mut Session<T>,
    folder: &str,
    uid_validity: u32,
) -> anyhow::Result<bool>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let channel_id = account.channel.id;
    let last = match desk.checkpoint(channel_id).await? {
        Some(cp) if cp.uid_validity == i64::from(uid_validity) && cp.folder == folder => {
            cp.last_uid
        }
        Some(cp) => {
            tracing::warn!(
                account = %account.settings.address,
                "IMAP: {folder} changed (UIDVALIDITY {} → {uid_validity}, or another folder); reading it again, stored mail is recognised",
                cp.uid_validity
            );
            desk.reset_checkpoint(&Checkpoint {
                channel_id,
                folder: folder.to_owned(),
                uid_validity: i64::from(uid_validity),
                uid: 0,
            })
            .await?;
            0
        }
        None => 0,
    };
    // Sizes first: a message over the limit is never fetched whole.
    let mut sizes: Vec<(u32, u64)> = session
        .uid_fetch(format!("{}:*", last + 1), "(UID RFC822.SIZE)")
        .await?
        .try_filter_map(|f| async move {
            Ok(f.uid.map(|uid| (uid, u64::from(f.size.unwrap_or(0)))))
        })
        .try_collect()
        .await?;
    // `n:*` names the last message even when it is older than n.
    sizes.retain(|(uid, _)| i64::from(*uid) > last);
    sizes.sort_unstable();
    let more = sizes.len() > BATCH;
    sizes.truncate(BATCH);
    let cx = Context {
        own_addresses: desk.own_addresses().await?,
    };
    for (uid, size) in sizes {
        let checkpoint = Checkpoint {
            channel_id,
            folder: folder.to_owned(),
            uid_validity: i64::from(uid_validity),
            uid: i64::from(uid),
        };
        let too_large = size > desk.rules.mail.max_message_bytes;
        let query = if too_large {
            "(UID BODY.PEEK[HEADER])"
        } else {
            "(UID BODY.PEEK[])"
        };
        let fetched: Vec<_> = session
            .uid_fetch(uid.to_string(), query)
            .await?
            .try_collect()
            .await?;
        let raw = fetched
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| if too_large { f.header() } else { f.body() })
            .map(<[u8]>::to_vec);
        let Some(raw) = raw else {
            // Expunged meanwhile: nothing to read.
            desk.advance_checkpoint(Some(&checkpoint)).await?;
            continue;
        };
        let parsed = if too_large {
            mime::parse_header(&raw, size, &cx)
        } else {
            mime::parse(&raw, &cx)
        };
        match super::receive(desk, parsed, Some(checkpoint.clone()), account).await {
            Ok(received) => {
                if let Received::Ignored { reason } = &received {
                    tracing::info!(account = %account.settings.address, uid, "IMAP: not stored: {reason}");
                }
            }
            Err(super::ReceiveError::Refused(reason)) => {
                // It stays on the server for a person to look at; reading goes on.
                tracing::error!(account = %account.settings.address, uid, "IMAP: mail refused and left in {folder}: {reason}");
                desk.advance_checkpoint(Some(&checkpoint)).await?;
            }
            Err(super::ReceiveError::Failed(e)) => return Err(e),
        }
    }
    Ok(more)
}
