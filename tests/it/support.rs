//! The test harness: a fresh store per test on SQLite (a temporary file) or PostgreSQL
//! (a fresh schema in the database named by `SWITCHBOARD_TEST_DATABASE_URL`), and a
//! running desk on a loopback port with HTTP clients for agents and tokens.

use reqwest::header::{HeaderMap, HeaderValue};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use switchboard::app::App;
use switchboard::blobs::Blobs;
use switchboard::config::Config;
use switchboard::desk::agents::NewAgent;
use switchboard::desk::{Desk, Role, Rules};
use switchboard::store::Store;

pub const ORIGIN: &str = "http://desk.test";
pub const PASSWORD: &str = "correct horse battery";

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub fn pg_url() -> String {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store that removes itself (file or schema) when dropped.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    pub schema: Option<String>,
    /// The data directory: the SQLite file and attachments.
    pub dir: tempfile::TempDir,
}

impl TestStore {
    /// A desk with default rules on this store.
    pub fn desk(&self, rules: Rules) -> Desk {
        Desk::new(self.store.clone(), rules, Blobs::new(self.dir.path()))
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(schema) = self.schema.take() {
            let url = pg_url();
            // Drop the schema on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(db) = Database::connect(&url).await {
                        let _ = db
                            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .await;
                        let _ = db.close().await;
                    }
                });
            })
            .join();
        }
    }
}

pub async fn store(engine: Engine) -> TestStore {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            let store = Store::connect(&url, None).await.unwrap();
            store.migrate().await.unwrap();
            TestStore {
                store,
                url,
                schema: None,
                dir,
            }
        }
        Engine::Postgres => {
            let url = pg_url();
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {url} is needed for this test: {e}"));
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            admin.close().await.unwrap();
            let store = Store::connect(&url, Some(&schema)).await.unwrap();
            store.migrate().await.unwrap();
            TestStore {
                store,
                url,
                schema: Some(schema),
                dir: tempfile::tempdir().unwrap(),
            }
        }
    }
}

pub async fn desk(engine: Engine) -> (Desk, TestStore) {
    let ts = store(engine).await;
    (ts.desk(Rules::default()), ts)
}

/// Runs a test body on SQLite and, marked as needing PostgreSQL, on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($(#[$meta:meta])* async fn $name:ident($engine:ident: Engine) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            async fn run($engine: Engine) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::support::Engine::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs PostgreSQL"]
            async fn postgres() {
                run($crate::support::Engine::Postgres).await
            }
        }
    };
}

/// A running desk and what tests need to talk to it.
pub struct TestApp {
    pub app: Option<App>,
    pub base: String,
    pub desk: Desk,
    pub ts: TestStore,
}

pub fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("SWITCHBOARD_BIND".into(), "127.0.0.1:0".into()),
        ("SWITCHBOARD_PUBLIC_URL".into(), ORIGIN.into()),
        (
            "SWITCHBOARD_DATA_DIR".into(),
            std::env::temp_dir()
                .join("switchboard-it")
                .display()
                .to_string(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_vars(vars).unwrap()
}

impl TestApp {
    pub async fn start(engine: Engine) -> TestApp {
        TestApp::start_with(engine, &[]).await
    }

    pub async fn start_with(engine: Engine, extra: &[(&str, &str)]) -> TestApp {
        let ts = store(engine).await;
        let dir = ts.dir.path().display().to_string();
        let mut vars = vec![("SWITCHBOARD_DATA_DIR", dir.as_str())];
        vars.extend_from_slice(extra);
        let app = App::start(config(&vars), ts.store.clone()).await.unwrap();
        let base = format!("http://{}", app.addr);
        let desk = app.state.desk.clone();
        TestApp {
            app: Some(app),
            base,
            desk,
            ts,
        }
    }

    /// A desk whose public URL is its own address, as a browser sees it.
    pub async fn start_public(engine: Engine) -> TestApp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let public = format!("http://{addr}");
        TestApp::start_with(
            engine,
            &[
                ("SWITCHBOARD_BIND", &addr),
                ("SWITCHBOARD_PUBLIC_URL", &public),
            ],
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Adds an agent with the test password.
    pub async fn agent(&self, email: &str, role: Role) -> i64 {
        let (a, _) = self
            .desk
            .create_agent(NewAgent {
                email: email.into(),
                name: email.split('@').next().unwrap().into(),
                role,
                password: Some(PASSWORD.into()),
            })
            .await
            .unwrap();
        a.id
    }

    /// A signed-in agent's browser: cookie jar, our Origin, and the CSRF token.
    pub async fn login(&self, email: &str) -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = client
            .post(self.url("/api/v1/session"))
            .header("origin", ORIGIN)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            res.status(),
            200,
            "login of {email} failed: {}",
            res.text().await.unwrap()
        );
        let body: Value = res.json().await.unwrap();
        Browser {
            client,
            base: self.base.clone(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            cookie,
            agent_id: body["agent"]["id"].as_i64().unwrap(),
        }
    }

    /// An agent of `role` signed in.
    pub async fn signed_in(&self, role: Role) -> Browser {
        let email = format!("{}-{}@example.com", role, uuid::Uuid::new_v4().simple());
        self.agent(&email, role).await;
        self.login(&email).await
    }

    /// An integration with an API token of `role`.
    pub async fn token(&self, role: Role) -> Api {
        let (_, token) = self.desk.create_token("test", role).await.unwrap();
        Api::new(&self.base, &token)
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }
}

/// A signed-in browser session.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub csrf: String,
    /// The session cookie as a `Cookie` header value (`sb_session=…`).
    pub cookie: String,
    pub agent_id: i64,
}

/// A response's status and JSON body (or null).
pub type Reply = (u16, Value);

pub async fn reply(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Browser {
    pub async fn get(&self, path: &str) -> Reply {
        reply(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A write with our Origin and the CSRF token, as the console sends it.
    pub async fn send(&self, method: &str, path: &str, body: Value) -> Reply {
        let req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("origin", ORIGIN)
            .header("x-csrf-token", &self.csrf)
            .json(&body);
        reply(req.send().await.unwrap()).await
    }
}

/// An integration using an API token.
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        Api {
            client: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        reply(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn send(&self, method: &str, path: &str, body: Value) -> Reply {
        reply(
            self.client
                .request(method.parse().unwrap(), format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

/// Polls `check` until it gives a value; panics naming `what` after 30 s.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs the `switchboard` binary on a data directory with only these settings, `stdin`
/// piped in; returns success, stdout and stderr.
pub fn cli_with(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_clear()
        .env("SWITCHBOARD_DATA_DIR", dir)
        .env("SWITCHBOARD_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`cli_with`] with the defaults.
pub fn cli(dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    cli_with(dir, &[], args, stdin)
}
