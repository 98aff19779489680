//! Real Dovecot (IMAP + LMTP) and Postfix (SMTP) on loopback ports, for the email-channel
//! tests (Debian's `dovecot-imapd`, `dovecot-lmtpd` and `postfix`, which `.ci/run` installs).
//!
//! The first [`mail_server`] call of a test process starts one Dovecot and one Postfix in a
//! fresh directory `/tmp/switchboard-mail-*` (their configs, the logs `dovecot.log` and
//! `postfix.log`, the Postfix queue, the maildirs, and in `tls/` the test CA and the
//! servers' certificate); every later call, from any test, gets the same pair. Nothing
//! outside that directory is read or changed: no `/etc/postfix` edits, no system service,
//! and ports are picked free on 127.0.0.1.
//!
//! - Postfix on `127.0.0.1:smtp_port` takes mail for any address on [`DOMAIN`] and
//!   [`OTHER_DOMAIN`] from any loopback client, without authentication or TLS (STARTTLS is
//!   offered, not required; the app's relay for agent replies: lettre's
//!   `builder_dangerous("127.0.0.1").port(smtp_port)`), and hands it to Dovecot over LMTP
//!   at once. Recipients on other domains are refused at RCPT time (`554 Relay access
//!   denied`); nothing ever leaves the machine. Postfix leaves headers as the client sent
//!   them (it adds no Message-ID, Date or From), so the mailbox shows what the app wrote
//!   plus the usual `Received:` / `Return-Path:` / `Delivered-To:`.
//! - Dovecot on `127.0.0.1:imap_port` serves every address on those domains as a mailbox
//!   (INBOX created on first use), LOGIN/AUTHENTICATE PLAIN with any password, no TLS
//!   needed (STARTTLS is offered), IDLE. Logins are case-insensitive. `name+tag@domain` is
//!   delivered to `name@domain`'s INBOX (Dovecot's default `recipient_delimiter`).
//! - TLS, for the app's TLS code paths: a private CA made at start-up (with the `openssl`
//!   command, which Dovecot's and Postfix's packages pull in) signs a server certificate
//!   for `localhost` and `127.0.0.1` (both in its subjectAltName; EC P-256, valid 3 days).
//!   [`MailServer::ca_pem`] is that CA, to be the only root a test trusts. Besides the
//!   optional STARTTLS on the plain ports above, two more ports speak TLS from the first
//!   byte: IMAPS on `imaps_port`, and SMTP in "wrapper mode" (as on port 465) on
//!   `smtps_port`, where Postfix requires TLS but is otherwise the same relay. Clients
//!   verify the name they connect to: with webpki (rustls, also under lettre's
//!   `tokio1-rustls`) "127.0.0.1" matches the certificate's IP entry when it is given as
//!   an IP (`ServerName::IpAddress`, which `ServerName::try_from("127.0.0.1")` and
//!   lettre's `TlsParameters::builder("127.0.0.1".into())` produce), and "localhost" its
//!   DNS entry; no other name.
//!
//! Clean-up: the two master daemons are children of this process, each leading its own
//! process group (their helpers share it). Should the process die abruptly (`kill -9`, a
//! CI timeout), a watchdog `sh` whose stdin is a pipe from this process sees end-of-file
//! and SIGKILLs both groups; Dovecot also gets `PR_SET_PDEATHSIG` (spawned from a thread
//! that lives as long as the process). On a normal exit (libtest ends with `exit`, passed
//! or failed) an `atexit` handler stops them first: SIGTERM, SIGKILL after 5 s, waits for
//! and reaps their helpers, and removes the directory (kept if
//! `SWITCHBOARD_TEST_KEEP_MAIL_DIR` is set). After a kill the directory stays in /tmp.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use async_imap::Session;
use futures_util::TryStreamExt;
use lettre::address::{Address, Envelope};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::net::TcpStream as AsyncTcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// The test domain: every address on it is a mailbox.
pub const DOMAIN: &str = "example.test";
/// A second domain with the same treatment, for "another desk".
pub const OTHER_DOMAIN: &str = "example.org";

/// How long the servers may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Set (to anything) to keep the servers' directory after the tests, for a look at the logs.
const KEEP_DIR_VAR: &str = "SWITCHBOARD_TEST_KEEP_MAIL_DIR";
/// The system user that owns the maildirs (Dovecot refuses to deliver as root).
const MAIL_USER: &str = "mail";
/// How long the test CA and the server certificate are valid, from start-up.
const CERT_DAYS: u32 = 3;

/// Real Dovecot + Postfix on loopback, started once per test process and shared.
#[allow(dead_code)] // a test-support API: not every build of the tests reads every field
pub struct MailServer {
    /// Plain SMTP (STARTTLS offered, not required).
    pub smtp_port: u16,
    /// Plain IMAP (STARTTLS offered, not required).
    pub imap_port: u16,
    /// IMAP over TLS from the first byte (IMAPS).
    pub imaps_port: u16,
    /// SMTP over TLS from the first byte (Postfix's wrapper mode, like port 465).
    pub smtps_port: u16,
    /// The PEM of the private test CA that signed the servers' certificate (for DNS
    /// `localhost` and IP `127.0.0.1`): the root for a client that verifies them.
    pub ca_pem: String,
    dir: PathBuf,
    /// Held open for the life of the process: the watchdog's stdin (see `spawn_watchdog`).
    _watchdog: ChildStdin,
}

/// The outcome of the one start-up attempt of this process, shared by every test.
static SERVER: tokio::sync::OnceCell<Result<MailServer, String>> =
    tokio::sync::OnceCell::const_new();

/// Starts the servers the first time, returns the shared instance.
///
/// Panics with the reason (a missing binary, or the servers' logs) if they cannot start;
/// every later call panics with the same message without trying again.
pub async fn mail_server() -> &'static MailServer {
    let started = SERVER
        .get_or_init(|| async {
            // Dovecot gets SIGKILL when the thread that spawned it ends (that is what
            // PR_SET_PDEATHSIG tracks, not the process), and every test runs on a thread that
            // ends with the test, so the servers are spawned from a thread that never ends.
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("mail-servers".into())
                .spawn(move || {
                    let started = start();
                    let ok = started.is_ok();
                    let _ = tx.send(started);
                    if ok {
                        loop {
                            std::thread::park();
                        }
                    }
                })
                .expect("spawn the thread that owns the mail servers");
            rx.await
                .unwrap_or_else(|_| Err("the mail server thread died while starting".into()))
        })
        .await;
    match started {
        Ok(server) => server,
        Err(e) => panic!("the test mail servers (Dovecot, Postfix) did not start: {e}"),
    }
}

#[allow(dead_code)] // a test-support API: not every build of the tests uses every helper
impl MailServer {
    /// A fresh, unique address on [`DOMAIN`], e.g. "support-3f9a1c07@example.test". Any
    /// address on the domain is a valid mailbox; any password logs in.
    pub fn address(&self, prefix: &str) -> String {
        self.address_at(prefix, DOMAIN)
    }

    /// Like [`MailServer::address`], on another domain ([`DOMAIN`] or [`OTHER_DOMAIN`]).
    pub fn address_at(&self, prefix: &str, domain: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let random = rand::random::<u32>() & 0xff_ffff;
        format!("{prefix}-{n:x}{random:06x}@{domain}").to_lowercase()
    }

    /// The directory that holds the configs, logs, queue and maildirs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last lines of both servers' logs, for failure messages.
    pub fn logs(&self) -> String {
        logs(&self.dir)
    }

    /// Submits one raw RFC 5322 message over SMTP to Postfix (envelope from/to given; an
    /// empty `envelope_from` is the null sender `<>`). Panics if Postfix refuses it.
    pub async fn submit(&self, envelope_from: &str, to: &[&str], raw: &[u8]) {
        if let Err(e) = self.try_submit(envelope_from, to, raw).await {
            panic!(
                "Postfix refused the message from <{envelope_from}> to {to:?}: {e}\n{}",
                self.logs()
            );
        }
    }

    /// Like [`MailServer::submit`], returning Postfix's refusal (e.g. for another domain).
    pub async fn try_submit(
        &self,
        envelope_from: &str,
        to: &[&str],
        raw: &[u8],
    ) -> Result<(), String> {
        let parse = |a: &str| {
            a.parse::<Address>()
                .unwrap_or_else(|e| panic!("bad address {a:?}: {e}"))
        };
        let from = (!envelope_from.is_empty()).then(|| parse(envelope_from));
        let envelope = Envelope::new(from, to.iter().map(|a| parse(a)).collect())
            .unwrap_or_else(|e| panic!("bad envelope {envelope_from:?} → {to:?}: {e}"));
        let transport = self.smtp_transport();
        let sent = transport.send_raw(&envelope, raw).await;
        transport.shutdown().await;
        sent.map(|_| ()).map_err(|e| e.to_string())
    }

    /// A lettre transport to Postfix as the app builds it: plain SMTP, no TLS, no auth.
    pub fn smtp_transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.smtp_port)
            .timeout(Some(Duration::from_secs(30)))
            .build()
    }

    /// A logged-in IMAP session of `address` (any password), nothing selected.
    pub async fn login(&self, address: &str) -> Session<AsyncTcpStream> {
        match self.try_login(address).await {
            Ok(session) => session,
            Err(e) => panic!("IMAP login as {address} failed: {e}\n{}", self.logs()),
        }
    }

    async fn try_login(&self, address: &str) -> Result<Session<AsyncTcpStream>, String> {
        let tcp = AsyncTcpStream::connect(("127.0.0.1", self.imap_port))
            .await
            .map_err(|e| format!("connect to 127.0.0.1:{}: {e}", self.imap_port))?;
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .map_err(|e| format!("reading the greeting: {e}"))?
            .ok_or("the server closed the connection before its greeting")?;
        client
            .login(address, "any password")
            .await
            .map_err(|(e, _)| e.to_string())
    }

    /// All messages currently in the INBOX of `address`, raw bytes, in UID order.
    pub async fn mailbox(&self, address: &str) -> Vec<Vec<u8>> {
        match self.try_mailbox(address).await {
            Ok(messages) => messages,
            Err(e) => panic!(
                "reading the INBOX of {address} failed: {e}\n{}",
                self.logs()
            ),
        }
    }

    async fn try_mailbox(&self, address: &str) -> Result<Vec<Vec<u8>>, String> {
        let mut session = self.try_login(address).await?;
        let inbox = session
            .select("INBOX")
            .await
            .map_err(|e| format!("SELECT INBOX: {e}"))?;
        let mut messages = Vec::new();
        if inbox.exists > 0 {
            let fetched: Vec<_> = session
                .uid_fetch("1:*", "(UID BODY.PEEK[])")
                .await
                .map_err(|e| format!("UID FETCH: {e}"))?
                .try_collect()
                .await
                .map_err(|e| format!("UID FETCH: {e}"))?;
            for fetch in &fetched {
                let uid = fetch.uid.ok_or("a FETCH response without UID")?;
                let body = fetch.body().ok_or("a FETCH response without BODY[]")?;
                messages.push((uid, body.to_vec()));
            }
        }
        let _ = session.logout().await;
        messages.sort_by_key(|(uid, _)| *uid);
        Ok(messages.into_iter().map(|(_, body)| body).collect())
    }

    /// Waits (polling, up to `timeout`) until the INBOX of `address` holds at least `count`
    /// messages and returns them all; panics with what it found on timeout.
    pub async fn wait_for_mail(
        &self,
        address: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.mailbox(address).await;
            if messages.len() >= count {
                return messages;
            }
            if Instant::now() >= deadline {
                let found: Vec<String> = messages.iter().map(|m| summary(m)).collect();
                panic!(
                    "{address} got {} of {count} messages within {timeout:?}: {found:#?}\n{}",
                    messages.len(),
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Appends a raw message directly into the INBOX of `address` over IMAP APPEND
    /// (bypassing SMTP).
    pub async fn append(&self, address: &str, raw: &[u8]) {
        let mut session = self.login(address).await;
        if let Err(e) = session.append("INBOX", None, None, raw).await {
            panic!("IMAP APPEND to {address} failed: {e}\n{}", self.logs());
        }
        let _ = session.logout().await;
    }
}

/// The Subject line of a message (or its first bytes), for failure messages.
fn summary(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("subject:"))
        .map(str::to_owned)
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// The last lines of each log in `dir`.
fn logs(dir: &Path) -> String {
    let mut out = format!(
        "(configs, logs and maildirs in {}; removed at exit unless {KEEP_DIR_VAR} is set)",
        dir.display()
    );
    for name in [
        "dovecot.log",
        "dovecot.stderr",
        "postfix.log",
        "postfix.stderr",
    ] {
        let Ok(text) = fs::read_to_string(dir.join(name)) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("\n--- {name} (last lines) ---\n"));
        out.push_str(&lines[lines.len().saturating_sub(40)..].join("\n"));
    }
    out
}

// ---- start-up --------------------------------------------------------------------------

/// Starts both servers (blocking), retrying with new ports if one was taken meanwhile.
fn start() -> Result<MailServer, String> {
    let dovecot = find_binary("dovecot")?;
    let postfix = find_binary("postfix")?;
    let postconf = find_binary("postconf")?;
    let openssl = find_binary("openssl")?;
    let daemon_directory =
        command_output(Command::new(&postconf).args(["-dh", "daemon_directory"]))?;
    let master = Path::new(daemon_directory.trim()).join("master");
    if !master.is_file() {
        return Err(format!(
            "Postfix's master daemon is not at {}",
            master.display()
        ));
    }
    let mail_user = user(MAIL_USER)?;
    let mut attempt = 1;
    loop {
        match start_once(&dovecot, &postfix, &master, &openssl, mail_user) {
            Ok(server) => return Ok(server),
            // Another process may take a port between our probe and the server's bind.
            Err(e) if attempt < 3 && e.contains("in use") => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

fn start_once(
    dovecot: &Path,
    postfix: &Path,
    master: &Path,
    openssl: &Path,
    (mail_uid, mail_gid): (u32, u32),
) -> Result<MailServer, String> {
    let dir = tempfile::Builder::new()
        .prefix("switchboard-mail-")
        .tempdir_in("/tmp")
        .map_err(|e| format!("cannot create a directory in /tmp: {e}"))?
        .keep();
    let io = |what: &str, e: std::io::Error| format!("{what} in {}: {e}", dir.display());
    // Dovecot's and Postfix's unprivileged processes must reach their files in here.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(|e| io("chmod", e))?;
    let [smtp_port, smtps_port, imap_port, imaps_port, lmtp_port] = free_ports();
    let ca_pem = make_certificates(openssl, &dir.join("tls"))?;
    let tls_client = tls_client_config(&ca_pem)?;

    let mail = dir.join("mail");
    fs::create_dir(&mail).map_err(|e| io("mkdir mail", e))?;
    std::os::unix::fs::chown(&mail, Some(mail_uid), Some(mail_gid))
        .map_err(|e| io("chown mail", e))?;
    fs::set_permissions(&mail, fs::Permissions::from_mode(0o700)).map_err(|e| io("chmod", e))?;
    let dovecot_conf = dir.join("dovecot.conf");
    fs::write(
        &dovecot_conf,
        dovecot_config(&dir, mail_uid, imap_port, imaps_port, lmtp_port),
    )
    .map_err(|e| io("write dovecot.conf", e))?;

    let postfix_conf = dir.join("postfix");
    fs::create_dir(&postfix_conf).map_err(|e| io("mkdir postfix", e))?;
    fs::create_dir(dir.join("postfix-queue")).map_err(|e| io("mkdir postfix-queue", e))?;
    for (name, text) in [
        ("main.cf", postfix_main_cf(&dir, lmtp_port)),
        ("master.cf", postfix_master_cf(smtp_port, smtps_port)),
    ] {
        let path = postfix_conf.join(name);
        fs::write(&path, text).map_err(|e| io(name, e))?;
        // Postfix waits until a config file is a couple of seconds old before it reads it
        // (to not read one being edited), which would add 2 s to every start.
        let past = SystemTime::now() - Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(past))
            .map_err(|e| io(name, e))?;
    }
    // Creates the queue's subdirectories with their owners, and checks the config.
    command_output(
        Command::new(postfix)
            .arg("-c")
            .arg(&postfix_conf)
            .arg("check"),
    )
    .map_err(|e| format!("{e}\n{}", logs(&dir)))?;

    let mut pids = Vec::new();
    let mut watchdog = None;
    let started = (|| {
        let mut dovecot_cmd = Command::new(dovecot);
        dovecot_cmd.arg("-F").arg("-c").arg(&dovecot_conf);
        let dovecot_pid = spawn(&mut dovecot_cmd, &dir, "dovecot", true)?;
        pids.push(dovecot_pid);
        // What `postfix start-fg` runs after its checks (`postfix check` above), but as our
        // own child rather than a shell's. It makes itself a session leader.
        let mut master_cmd = Command::new(master);
        master_cmd.arg("-c").arg(&postfix_conf).arg("-s");
        let postfix_pid = spawn(&mut master_cmd, &dir, "postfix", false)?;
        pids.push(postfix_pid);
        watchdog = Some(spawn_watchdog(&pids)?);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        // The implicit-TLS ports are greeted through TLS, which checks the certificate too.
        let tls = Some(&tls_client);
        for (what, port, tls, greeting, bye) in [
            ("Dovecot IMAP", imap_port, None, "* OK", "a LOGOUT\r\n"),
            ("Dovecot IMAPS", imaps_port, tls, "* OK", "a LOGOUT\r\n"),
            ("Dovecot LMTP", lmtp_port, None, "220 ", "QUIT\r\n"),
            ("Postfix SMTP", smtp_port, None, "220 ", "QUIT\r\n"),
            ("Postfix SMTPS", smtps_port, tls, "220 ", "QUIT\r\n"),
        ] {
            wait_for_greeting(
                what,
                port,
                tls,
                greeting,
                bye,
                deadline,
                &[dovecot_pid, postfix_pid],
            )?;
        }
        Ok::<_, String>(())
    })();
    let watchdog = match (started, watchdog) {
        (Ok(()), Some(watchdog)) => watchdog,
        (started, watchdog) => {
            if let Some((pid, _stdin)) = watchdog {
                kill_and_reap(pid);
            }
            stop(&pids);
            kill_groups(&pids);
            let e = started.err().unwrap_or_default();
            return Err(format!("{e}\n{}", logs(&dir)));
        }
    };
    let (watchdog_pid, watchdog_stdin) = watchdog;
    register_cleanup(Cleanup {
        watchdog: watchdog_pid,
        daemons: pids,
        dir: dir.clone(),
    });
    Ok(MailServer {
        smtp_port,
        imap_port,
        imaps_port,
        smtps_port,
        ca_pem,
        dir,
        _watchdog: watchdog_stdin,
    })
}

fn dovecot_config(
    dir: &Path,
    mail_uid: u32,
    imap_port: u16,
    imaps_port: u16,
    lmtp_port: u16,
) -> String {
    let d = dir.display();
    format!(
        r#"# Test Dovecot for Switchboard's integration tests: IMAP and LMTP on loopback.
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {d}/dovecot-run
state_dir = {d}/dovecot-state
instance_name = switchboard-test-{imap_port}
log_path = {d}/dovecot.log
# TLS is offered (STARTTLS on imap_port, and the IMAPS port), never required: plaintext
# LOGIN without TLS stays allowed (Dovecot 2.3's name for it; 2.4 calls it
# auth_allow_cleartext).
ssl = yes
ssl_cert = <{d}/tls/server.pem
ssl_key = <{d}/tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
auth_verbose = yes
first_valid_uid = {mail_uid}
mail_location = maildir:~/Maildir
mailbox_idle_check_interval = 1 secs
mail_fsync = never

# Any user, any password; every user's mail belongs to the system user {MAIL_USER}.
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={MAIL_USER} gid={MAIL_USER} home={d}/mail/%u allow_all_users=yes
}}

protocol imap {{
  mail_max_userip_connections = 1000
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"#
    )
}

fn postfix_main_cf(dir: &Path, lmtp_port: u16) -> String {
    let d = dir.display();
    format!(
        r#"# Test Postfix for Switchboard's integration tests: loopback only, delivers
# {DOMAIN} and {OTHER_DOMAIN} to Dovecot over LMTP, nothing else anywhere.
compatibility_level = 3.6
queue_directory = {d}/postfix-queue
data_directory = {d}/postfix-data
maillog_file = {d}/postfix.log
maillog_file_prefixes = {d}
myhostname = mail.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_transport = error:local delivery is disabled
relay_domains =
relay_transport = error:the test mail server relays nothing
default_transport = error:the test mail server relays nothing
virtual_mailbox_domains = {DOMAIN} {OTHER_DOMAIN}
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
# No auth, any loopback client; recipients outside the domains are refused.
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
# TLS: STARTTLS offered (not required) on the plain port; the wrapper-mode port
# (master.cf) requires it. Logs one line per TLS session.
smtpd_tls_security_level = may
smtpd_tls_cert_file = {d}/tls/server.pem
smtpd_tls_key_file = {d}/tls/server.key
smtpd_tls_loglevel = 1
smtp_tls_security_level = none
lmtp_tls_security_level = none
# Leave the client's headers alone (no Message-ID, Date or From added).
local_header_rewrite_clients =
always_add_missing_headers = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
in_flow_delay = 0s
message_size_limit = 67108864
biff = no
"#
    )
}

fn postfix_master_cf(smtp_port: u16, smtps_port: u16) -> String {
    format!(
        r#"# service type private unpriv chroot wakeup maxproc command
127.0.0.1:{smtp_port} inet n - n - - smtpd
127.0.0.1:{smtps_port} inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
tlsmgr unix - - n 1000? 1 tlsmgr
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
postlog unix-dgram n - n - 1 postlogd
"#
    )
}

/// `N` distinct ports that were free a moment ago on 127.0.0.1.
fn free_ports<const N: usize>() -> [u16; N] {
    // All bound at once, so that they differ.
    let listeners: [TcpListener; N] =
        std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"));
    listeners.map(|l| l.local_addr().expect("a bound port").port())
}

/// The `openssl req` settings for the test CA and the servers' certificate. rustls
/// (webpki) accepts a leaf only as an end entity for server authentication, and an issuer
/// only as a CA that may sign certificates.
const OPENSSL_CNF: &str = r#"# Test certificates for Switchboard's integration tests.
[ req ]
distinguished_name = req_distinguished_name
prompt = no
[ req_distinguished_name ]
# Unused: every command gives -subj.
CN = unused
[ test_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ test_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"#;

/// Makes a private CA and a server certificate it signs (EC P-256, [`CERT_DAYS`] days)
/// in `tls`: `ca.pem`, `ca.key`, `server.pem`, `server.key`. Returns the CA's PEM.
fn make_certificates(openssl: &Path, tls: &Path) -> Result<String, String> {
    let io = |what: &str, e: std::io::Error| format!("{what} in {}: {e}", tls.display());
    fs::create_dir(tls).map_err(|e| io("mkdir", e))?;
    let cnf = tls.join("openssl.cnf");
    fs::write(&cnf, OPENSSL_CNF).map_err(|e| io("write openssl.cnf", e))?;
    let days = CERT_DAYS.to_string();
    // Self-signed with -x509 alone; signed by the CA with -CA/-CAkey (OpenSSL 3.0). The keys
    // stay root's, mode 0600: Dovecot's config process and Postfix's smtpd read them as
    // root, before they drop privileges.
    let req = |name: &str, subject: &str, extensions: &str| {
        let mut cmd = Command::new(openssl);
        cmd.arg("req").arg("-config").arg(&cnf);
        cmd.args("-x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc".split(' '));
        cmd.arg("-days").arg(&days).arg("-subj").arg(subject);
        cmd.arg("-extensions").arg(extensions);
        cmd.arg("-keyout").arg(tls.join(format!("{name}.key")));
        cmd.arg("-out").arg(tls.join(format!("{name}.pem")));
        cmd
    };
    // A CA name of its own per run, so that a certificate from another run's servers fails
    // as "unknown issuer", not as a bad signature.
    let run = tls
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    command_output(&mut req(
        "ca",
        &format!("/O=Switchboard tests/CN=Test CA {run}"),
        "test_ca",
    ))?;
    command_output(
        req("server", "/O=Switchboard tests/CN=localhost", "test_server")
            .arg("-CA")
            .arg(tls.join("ca.pem"))
            .arg("-CAkey")
            .arg(tls.join("ca.key")),
    )?;
    fs::read_to_string(tls.join("ca.pem")).map_err(|e| io("read ca.pem", e))
}

/// A rustls client configuration that trusts only the test CA `ca_pem`.
fn tls_client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("the test CA's PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("the test CA's certificate: {e}"))?;
    }
    // Explicitly ring, the provider the app uses, rather than a process-wide default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Spawns a daemon whose output goes to `<dir>/<name>.stderr`, with SIGKILL as its
/// parent-death signal (fired when the spawning thread ends; Dovecot keeps it, the Postfix
/// master drops it, see `spawn_watchdog`). Returns its pid.
fn spawn(cmd: &mut Command, dir: &Path, name: &str, own_group: bool) -> Result<i32, String> {
    let out = fs::File::create(dir.join(format!("{name}.stderr")))
        .map_err(|e| format!("create {name}.stderr: {e}"))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    if own_group {
        // So that stray helpers can be killed as a group at the end.
        cmd.process_group(0);
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    // Reaped by pid in `stop`; dropping the handle neither kills nor waits.
    Ok(child.id() as i32)
}

/// Starts a `sh` that waits for end-of-file on its stdin and then SIGKILLs the daemons'
/// process groups. The write end stays open in this process (in [`MailServer`]) and closes
/// when the process ends, however it ends, so this takes the servers down even after a
/// `kill -9` of the tests. PDEATHSIG alone is not enough: the Postfix master loses it at
/// start-up (it changes credentials), and would outlive the tests.
fn spawn_watchdog(daemons: &[i32]) -> Result<(i32, ChildStdin), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"read -r _; kill -9 "$@" 2>/dev/null"#)
        .arg("switchboard-mail-watchdog")
        .args(daemons.iter().map(|pid| format!("-{pid}")))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group, so that Ctrl-C ends the tests, not it.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run /bin/sh for the watchdog: {e}"))?;
    let stdin = child.stdin.take().expect("piped stdin");
    Ok((child.id() as i32, stdin))
}

/// Connects until the server greets, or a daemon exits, or the deadline passes.
fn wait_for_greeting(
    what: &str,
    port: u16,
    tls: Option<&Arc<rustls::ClientConfig>>,
    greeting: &str,
    bye: &str,
    deadline: Instant,
    pids: &[i32],
) -> Result<(), String> {
    loop {
        for &pid in pids {
            if let Some(status) = exited(pid) {
                return Err(format!(
                    "a server exited during start-up (pid {pid}, {status})"
                ));
            }
        }
        let Err(last_error) = greet(port, tls, greeting, bye) else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "{what} did not answer on 127.0.0.1:{port} within {STARTUP_TIMEOUT:?}: {last_error}"
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Connects (through TLS to the name 127.0.0.1 if `tls` is given), reads the greeting,
/// says goodbye.
fn greet(
    port: u16,
    tls: Option<&Arc<rustls::ClientConfig>>,
    greeting: &str,
    bye: &str,
) -> Result<(), String> {
    const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));
    let addr = std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(TIMEOUT).map_err(|e| e.to_string())?;
    tcp.set_write_timeout(TIMEOUT).map_err(|e| e.to_string())?;
    let Some(config) = tls else {
        return converse(tcp, greeting, bye);
    };
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let connection = rustls::ClientConnection::new(Arc::clone(config), name)
        .map_err(|e| format!("rustls: {e}"))?;
    // The handshake runs on the first read.
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    converse(&mut stream, greeting, bye).map_err(|e| format!("over TLS: {e}"))?;
    stream.conn.send_close_notify();
    let _ = stream.flush();
    Ok(())
}

fn converse(mut stream: impl Read + Write, greeting: &str, bye: &str) -> Result<(), String> {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if !line.starts_with(greeting) {
        return Err(format!("unexpected greeting {line:?}"));
    }
    let _ = reader.get_mut().write_all(bye.as_bytes());
    let _ = reader.read_line(&mut line);
    Ok(())
}

/// `Some(status)` once `pid` (our child) has exited; reaps it.
fn exited(pid: i32) -> Option<String> {
    let mut status = 0;
    // SAFETY: plain syscall on our own child.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        0 => None,
        p if p == pid => Some(if libc::WIFEXITED(status) {
            format!("exit code {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        }),
        _ => Some("already reaped".into()),
    }
}

fn find_binary(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "`{name}` is not installed (apt-get install dovecot-imapd dovecot-lmtpd postfix, \
                 which bring openssl; .ci/run does it)"
            )
        })
}

fn command_output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text)
}

/// The uid and gid of a system user.
fn user(name: &str) -> Result<(u32, u32), String> {
    let c_name = std::ffi::CString::new(name).unwrap();
    // SAFETY: getpwnam returns null or a pointer to a static record, read at once (only
    // the start-up thread calls it).
    let pw = unsafe { libc::getpwnam(c_name.as_ptr()) };
    if pw.is_null() {
        return Err(format!(
            "there is no system user `{name}` to own the test mailboxes"
        ));
    }
    // SAFETY: checked non-null above.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

// ---- clean-up --------------------------------------------------------------------------

/// What the exit handler stops and removes.
struct Cleanup {
    watchdog: i32,
    daemons: Vec<i32>,
    dir: PathBuf,
}

static CLEANUP: Mutex<Vec<Cleanup>> = Mutex::new(Vec::new());

fn register_cleanup(cleanup: Cleanup) {
    CLEANUP
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(cleanup);
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()`.
        unsafe { libc::atexit(cleanup_at_exit) };
    });
}

/// Runs when the test process exits normally (libtest ends with `exit`): stops the
/// servers and removes their directory.
extern "C" fn cleanup_at_exit() {
    let entries = std::mem::take(&mut *CLEANUP.lock().unwrap_or_else(|p| p.into_inner()));
    if entries.is_empty() {
        return;
    }
    // The Postfix master exits without waiting for its helpers; adopt them so that they
    // are reaped here rather than left to init as zombies for a while. No test runs now.
    // SAFETY: plain prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    for Cleanup {
        watchdog,
        daemons,
        dir,
    } in entries
    {
        // Not needed any more, and it must not fire at process groups that are gone.
        kill_and_reap(watchdog);
        stop(&daemons);
        reap_groups(&daemons);
        if std::env::var_os(KEEP_DIR_VAR).is_some() {
            continue;
        }
        // A helper that outlived its master by a moment may still have written a file.
        for _ in 0..10 {
            if fs::remove_dir_all(&dir).is_ok() || !dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// SIGTERM to each daemon (they stop their helpers), SIGKILL after 5 s; reaps them.
fn stop(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: plain syscalls on our own children.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut running: Vec<i32> = pids.to_vec();
    while !running.is_empty() && Instant::now() < deadline {
        running.retain(|&pid| exited(pid).is_none());
        std::thread::sleep(Duration::from_millis(10));
    }
    for &pid in &running {
        kill_and_reap(pid);
    }
}

/// Waits (up to 5 s, then SIGKILL) until the daemons' process groups are empty, reaping
/// the helpers this process adopted. Both daemons lead their own process group (Dovecot
/// through `process_group(0)`, the Postfix master through its own setsid), which their
/// helpers share.
fn reap_groups(pids: &[i32]) {
    let group_alive = |pid: i32| {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(-pid, 0) == 0 }
    };
    let reap = || {
        let mut status = 0;
        // SAFETY: reaps any exited child; no test runs any more.
        while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&pid| group_alive(pid)) && Instant::now() < deadline {
        reap();
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_groups(pids);
    std::thread::sleep(Duration::from_millis(10));
    reap();
}

fn kill_and_reap(pid: i32) {
    let mut status = 0;
    // SAFETY: plain syscalls on our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
}

/// SIGKILL to whatever is left in the daemons' process groups.
fn kill_groups(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: plain syscall; the groups are the daemons' own.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}
