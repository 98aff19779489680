//! What the benchmark binaries share: settings, the desk on a fresh store, process
//! memory, latency distributions, WebSocket clients and the client child process.
// Every benchmark binary compiles this module; each uses only part of it.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use switchboard::app::App;
use switchboard::config::Config;
use switchboard::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A positive number from the environment, or `default`; a bad value stops the run.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{name}: expected a positive number, got {v:?}")),
        Err(_) => default,
    }
}

/// Runs a benchmark: `run` on a multi-threaded runtime or, in the benchmark's client
/// process (`child_var` set, see [`ClientProcess`]), `child` on a single thread.
pub fn bench_main<R, C>(child_var: &str, run: impl FnOnce() -> R, child: impl FnOnce() -> C)
where
    R: Future<Output = ()>,
    C: Future<Output = ()>,
{
    let in_child = std::env::var_os(child_var).is_some();
    let mut builder = if in_child {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let rt = builder.enable_all().build().expect("runtime");
    if in_child {
        rt.block_on(child());
    } else {
        rt.block_on(run());
    }
}

/// The origin the benchmark desk is served at and its clients send.
pub const ORIGIN: &str = "http://desk.test";

/// The desk on a fresh SQLite store in a temporary directory, serving on 127.0.0.1.
pub struct BenchDesk {
    pub app: App,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

/// Starts the desk; `extra` settings come after the common ones.
pub async fn start_desk(extra: &[(&str, &str)]) -> BenchDesk {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Store::connect(&url, None).await.expect("store");
    store.migrate().await.expect("migrate");
    let mut vars = vec![
        ("SWITCHBOARD_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("SWITCHBOARD_PUBLIC_URL".to_owned(), ORIGIN.to_owned()),
        (
            "SWITCHBOARD_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("SWITCHBOARD_DATABASE_URL".to_owned(), url),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_vars(vars).expect("config");
    let app = App::start(config, store.clone()).await.expect("start");
    BenchDesk { app, store, dir }
}

impl BenchDesk {
    pub async fn stop(self) {
        self.app.stop().await;
        self.store.close().await;
    }
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// VmRSS of this process in KiB.
pub fn own_rss_kib() -> Option<u64> {
    rss_kib(&std::process::id().to_string())
}

/// The soft limit on open files, from /proc/self/limits.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Raises the soft limit on open files to the hard limit (inherited by child processes);
/// returns the soft limit in force afterwards.
pub fn raise_open_files_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                println!(
                    "note: could not raise the open-files limit from {} to {}",
                    lim.rlim_cur, lim.rlim_max
                );
            }
        }
    }
    open_files_limit()
}

/// Lets pending work (handshakes, frees) finish before reading VmRSS.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Nearest-rank percentile of sorted values.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A latency distribution in milliseconds.
pub struct Dist {
    pub n: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn dist(mut v: Vec<f64>) -> Dist {
    v.sort_by(f64::total_cmp);
    Dist {
        n: v.len(),
        p50: pct(&v, 50.0),
        p95: pct(&v, 95.0),
        p99: pct(&v, 99.0),
        max: v.last().copied().unwrap_or(f64::NAN),
    }
}

impl std::fmt::Display for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={})",
            self.p50, self.p95, self.p99, self.max, self.n
        )
    }
}

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub fn client_config() -> WebSocketConfig {
    // Small client buffers by default: the client's memory is not what is measured.
    // `BENCH_CLIENT_READ_BUFFER=131072` gives tungstenite's default, as the server uses.
    WebSocketConfig::default()
        .read_buffer_size(env_usize("BENCH_CLIENT_READ_BUFFER", 8 * 1024))
        .write_buffer_size(0)
}

/// Opens a WebSocket with these request headers (and the benchmark's client buffers).
pub async fn connect_ws(url: &str, headers: &[(&'static str, &str)]) -> anyhow::Result<Socket> {
    let mut req = url.into_client_request()?;
    for (name, value) in headers {
        req.headers_mut().insert(*name, value.parse()?);
    }
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(req, Some(client_config()), true).await?;
    Ok(ws)
}

/// Next text frame within ten seconds.
pub async fn next_text(ws: &mut Socket) -> anyhow::Result<String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no frame within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
        match msg {
            Message::Text(t) => return Ok(t.to_string()),
            Message::Close(frame) => anyhow::bail!(
                "closed by the server: {}",
                frame.map_or_else(
                    || "no close frame".to_owned(),
                    |f| format!("{} {}", u16::from(f.code), f.reason)
                )
            ),
            _ => {}
        }
    }
}

/// Keeps reading idle sockets (so the server's pings are answered) until `close`.
pub struct Holder {
    stop: watch::Sender<bool>,
    /// Each ends with why its socket ended before `close`, if it did.
    tasks: Vec<JoinHandle<Option<String>>>,
}

impl Holder {
    pub fn new() -> Holder {
        Holder {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    pub fn hold(&mut self, sockets: Vec<Socket>) {
        for mut ws in sockets {
            let mut stopped = self.stop.subscribe();
            self.tasks.push(tokio::spawn(async move {
                let ended = loop {
                    tokio::select! {
                        msg = ws.next() => match msg {
                            Some(Ok(Message::Close(frame))) => break Some(frame.map_or_else(
                                || "closed without a frame".to_owned(),
                                |f| format!("closed {} {}", u16::from(f.code), f.reason),
                            )),
                            Some(Ok(_)) => {}
                            Some(Err(e)) => break Some(format!("error: {e}")),
                            None => break Some("eof".to_owned()),
                        },
                        _ = stopped.changed() => break None,
                    }
                };
                let _ = ws.close(None).await;
                ended
            }));
        }
    }

    /// Closes every held socket; returns why those that ended before ended.
    pub async fn close(self) -> Vec<String> {
        let _ = self.stop.send(true);
        let mut early = Vec::new();
        for t in self.tasks {
            if let Ok(Some(why)) = t.await {
                early.push(why);
            }
        }
        early
    }
}

/// The benchmark's client process: this binary again with `var` set, so that the
/// growth of this process's memory is the server's side alone. It speaks in lines: it
/// prints one when a batch of sockets is open, reads one before the next batch, and
/// closes its sockets and exits when its standard input closes.
pub struct ClientProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ClientProcess {
    pub fn spawn(var: &str, envs: &[(&str, String)]) -> std::io::Result<ClientProcess> {
        let exe = std::env::current_exe()?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.env(var, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");
        Ok(ClientProcess {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The child's next line (empty when it ended).
    pub async fn line(&mut self) -> String {
        self.lines
            .next_line()
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Sends the child a line.
    pub async fn say(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }

    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(&self.child.id()?.to_string())
    }

    /// Closes the child's standard input and waits for it to close its sockets and
    /// exit; returns what it printed meanwhile.
    pub async fn finish(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let mut said = Vec::new();
        while let Ok(Some(line)) = self.lines.next_line().await {
            said.push(line);
        }
        let _ = self.child.wait().await;
        said
    }

    /// Ends a child that failed.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// In the child: the parent's lines on standard input, one at a time (None once it closed).
pub struct ParentLines(Lines<BufReader<tokio::io::Stdin>>);

impl ParentLines {
    pub fn new() -> ParentLines {
        ParentLines(BufReader::new(tokio::io::stdin()).lines())
    }

    pub async fn next(&mut self) -> Option<String> {
        self.0.next_line().await.ok().flatten()
    }
}

/// In the child: tells the parent something, one line.
pub fn tell_parent(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Signs in once; returns the `sb_session=…` cookie.
pub async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let res = client
        .post(format!("{base}/api/v1/session"))
        .header("origin", ORIGIN)
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == 200,
        "login failed: {} {}",
        res.status(),
        res.text().await.unwrap_or_default()
    );
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with("sb_session="))
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?;
    Ok(cookie.to_owned())
}
