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

/// What one account's poller carries from one connection to the next.
#[derive(Default)]
struct Progress {
    /// Connections that failed in a row; reset once a login succeeds.
    failures: u32,
    /// A mail that failed to be stored, and how often: after [`MAX_TRIES`] it is passed
    /// over (it stays on the server) so that the mail after it is read.
    stuck: Option<(u32, u32)>,
}

/// How often a mail may fail to be stored before the poller moves past it.
const MAX_TRIES: u32 = 3;
/// Longest one IMAP command may take before the connection is given up.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `fut`, or fails after `limit`.
async fn within<T, E: Into<anyhow::Error>>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(anyhow::anyhow!(
            "{what} took longer than {} s",
            limit.as_secs()
        )),
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
    let mut progress = Progress::default();
    loop {
        let run = read_account(&desk, &account, poll, &mut halt, &mut progress);
        match run.await {
            Ok(()) => return,
            Err(e) => {
                progress.failures += 1;
                tracing::warn!(account = %address, failures = progress.failures, "IMAP: {e:#}");
            }
        }
        let wait = Duration::from_secs(2u64.saturating_pow(progress.failures.min(8)).min(300));
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
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let imap = account
        .settings
        .imap
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no IMAP server"))?;
    let connect = TcpStream::connect((imap.host.as_str(), imap.port));
    let tcp = within("connecting", Duration::from_secs(30), connect).await?;
    let _ = tcp.set_nodelay(true);
    match imap.security {
        Security::None => {
            let client = greeted(tcp).await?;
            session(desk, account, client, poll, halt, progress).await
        }
        Security::Tls => {
            let tls = tls_connect(&imap.host, imap.tls_ca.as_deref(), tcp).await?;
            let client = greeted(tls).await?;
            session(desk, account, client, poll, halt, progress).await
        }
        Security::Starttls => {
            let mut client = greeted(tcp).await?;
            within(
                "STARTTLS",
                COMMAND_TIMEOUT,
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let tls = tls_connect(&imap.host, imap.tls_ca.as_deref(), client.into_inner()).await?;
            session(
                desk,
                account,
                async_imap::Client::new(tls),
                poll,
                halt,
                progress,
            )
            .await
        }
    }
}

type Stream = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(host: &str, ca: Option<&str>, tcp: TcpStream) -> anyhow::Result<Stream> {
    use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = tokio_rustls::rustls::RootCertStore::from_iter(
        webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
    );
    if let Some(pem) = ca {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.map_err(|e| anyhow::anyhow!("the account's tls_ca: {e}"))?)?;
        }
    }
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    within(
        "the TLS handshake",
        Duration::from_secs(30),
        connector.connect(name, tcp),
    )
    .await
}

/// A client that has read the server's greeting.
async fn greeted<T>(stream: T) -> anyhow::Result<async_imap::Client<T>>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = async_imap::Client::new(stream);
    within(
        "the greeting",
        Duration::from_secs(30),
        client.read_response(),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("the server closed the connection before greeting"))?;
    Ok(client)
}

/// Empties the queue of responses the server sent on its own (EXISTS while we fetched);
/// true if there were any, so new mail may be waiting.
fn drain_news<T>(session: &mut Session<T>) -> bool
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut any = false;
    while session.unsolicited_responses.try_recv().is_ok() {
        any = true;
    }
    any
}

async fn session<T>(
    desk: &Desk,
    account: &MailAccount,
    client: async_imap::Client<T>,
    poll: Duration,
    halt: &mut watch::Receiver<bool>,
    progress: &mut Progress,
) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let imap = account
        .settings
        .imap
        .as_ref()
        .expect("checked by the caller");
    let user = imap.user.clone().unwrap_or_default();
    let password = account.secrets().imap_password.unwrap_or_default();
    let mut session = within("logging in", COMMAND_TIMEOUT, async {
        client
            .login(&user, &password)
            .await
            .map_err(|(e, _)| anyhow::anyhow!("login as {user:?} failed: {e}"))
    })
    .await?;
    progress.failures = 0;
    let idle = within("CAPABILITY", COMMAND_TIMEOUT, session.capabilities())
        .await?
        .has_str("IDLE");
    let folder = imap.folder().to_owned();
    tracing::info!(account = %account.settings.address, %folder, idle, "IMAP: reading");
    let mut rounds_without_idle = 0;
    loop {
        let mailbox = within("SELECT", COMMAND_TIMEOUT, session.select(&folder)).await?;
        let uid_validity = mailbox
            .uid_validity
            .ok_or_else(|| anyhow::anyhow!("the server gives no UIDVALIDITY"))?;
        drain_news(&mut session);
        if mailbox.exists > 0 {
            while read_new(desk, account, &mut session, &folder, uid_validity, progress).await? {}
        }
        let halted = *halt.borrow();
        if halted {
            let _ = within("LOGOUT", COMMAND_TIMEOUT, session.logout()).await;
            return Ok(());
        }
        // Mail that came while we fetched is read before waiting (a few rounds at most).
        if drain_news(&mut session) && rounds_without_idle < 3 {
            rounds_without_idle += 1;
            continue;
        }
        rounds_without_idle = 0;
        if idle {
            let mut handle = session.idle();
            within("IDLE", COMMAND_TIMEOUT, handle.init()).await?;
            let (wait, interrupt) = handle.wait_with_timeout(IDLE_FOR);
            let halted = tokio::select! {
                r = wait => { r?; false }
                _ = halt.wait_for(|h| *h) => true,
            };
            drop(interrupt);
            session = within("DONE", COMMAND_TIMEOUT, handle.done()).await?;
            if halted {
                let _ = within("LOGOUT", COMMAND_TIMEOUT, session.logout()).await;
                return Ok(());
            }
        } else {
            let halted = tokio::select! {
                _ = tokio::time::sleep(poll) => false,
                _ = halt.wait_for(|h| *h) => true,
            };
            if halted {
                let _ = within("LOGOUT", COMMAND_TIMEOUT, session.logout()).await;
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
    progress: &mut Progress,
) -> anyhow::Result<bool>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let channel_id = account.channel.id;
    let address = &account.settings.address;
    let last = match desk.checkpoint(channel_id).await? {
        Some(cp) if cp.uid_validity == i64::from(uid_validity) && cp.folder == folder => {
            cp.last_uid
        }
        Some(cp) => {
            tracing::warn!(
                account = %address,
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
    // Which mail is new (`n:*` names the last message even when it is older than n),
    // then the sizes of the next few: a message over the limit is never fetched whole.
    let search = session.uid_search(format!("UID {}:*", last + 1));
    let mut uids: Vec<u32> = within("UID SEARCH", COMMAND_TIMEOUT, search)
        .await?
        .into_iter()
        .filter(|uid| i64::from(*uid) > last)
        .collect();
    uids.sort_unstable();
    let more = uids.len() > BATCH;
    uids.truncate(BATCH);
    if uids.is_empty() {
        return Ok(false);
    }
    let set: Vec<String> = uids.iter().map(u32::to_string).collect();
    let sizes = async {
        session
            .uid_fetch(set.join(","), "(UID RFC822.SIZE)")
            .await?
            .try_filter_map(|f| async move {
                Ok(f.uid.map(|uid| (uid, u64::from(f.size.unwrap_or(0)))))
            })
            .try_collect::<std::collections::HashMap<u32, u64>>()
            .await
    };
    let sizes = within("UID FETCH sizes", COMMAND_TIMEOUT, sizes).await?;
    let cx = super::context(desk).await?;
    for uid in uids {
        let checkpoint = Checkpoint {
            channel_id,
            folder: folder.to_owned(),
            uid_validity: i64::from(uid_validity),
            uid: i64::from(uid),
        };
        let size = sizes.get(&uid).copied().unwrap_or(0);
        let too_large = size > desk.rules.mail.max_message_bytes;
        let query = if too_large {
            "(UID BODY.PEEK[HEADER])"
        } else {
            "(UID BODY.PEEK[])"
        };
        let fetch = async {
            session
                .uid_fetch(uid.to_string(), query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        let fetched = within("UID FETCH", COMMAND_TIMEOUT, fetch).await?;
        let raw = fetched
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| if too_large { f.header() } else { f.body() })
            .map(<[u8]>::to_vec);
        let Some(raw) = raw else {
            tracing::warn!(account = %address, uid, "IMAP: the server sent no content for this mail (expunged meanwhile?); passing over it");
            desk.advance_checkpoint(Some(&checkpoint)).await?;
            continue;
        };
        let parsed = super::read(raw, cx.clone(), too_large.then_some(size)).await;
        match super::receive(desk, parsed, Some(checkpoint.clone()), account).await {
            Ok(received) => {
                progress.stuck = None;
                if let Received::Ignored { reason } = &received {
                    tracing::info!(account = %address, uid, "IMAP: not stored: {reason}");
                }
            }
            Err(super::ReceiveError::Refused(reason)) => {
                // It stays on the server for a person to look at; reading goes on.
                tracing::error!(account = %address, uid, "IMAP: mail refused and left in {folder}: {reason}");
                desk.advance_checkpoint(Some(&checkpoint)).await?;
            }
            Err(super::ReceiveError::Failed(e)) => {
                let tries = match progress.stuck {
                    Some((stuck, n)) if stuck == uid => n + 1,
                    _ => 1,
                };
                progress.stuck = Some((uid, tries));
                if tries < MAX_TRIES {
                    return Err(e.context(format!("storing mail {uid}")));
                }
                tracing::error!(account = %address, uid, "IMAP: storing this mail failed {tries} times ({e:#}); it is left in {folder} and reading goes on");
                desk.advance_checkpoint(Some(&checkpoint)).await?;
                progress.stuck = None;
            }
        }
    }
    Ok(more)
}
