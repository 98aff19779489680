//! The configuration and the `switchboard` command as an operator uses them.

use std::process::{Command, Stdio};

use switchboard::config::Config;
use switchboard::desk::{Desk, Rules};
use switchboard::store::Store;

use crate::support::cli;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_run_an_embedded_desk() {
    let c = Config::from_vars(vars(&[])).unwrap();
    assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    assert!(c.database_url.starts_with("sqlite://./data/switchboard.db"));
    assert_eq!(c.public_origin(), "http://127.0.0.1:8080");
}

#[test]
fn a_wrong_value_names_its_variable() {
    for (var, value) in [
        ("SWITCHBOARD_BIND", "localhost"),
        ("SWITCHBOARD_DATABASE_URL", "mysql://x"),
        ("SWITCHBOARD_PUBLIC_URL", "desk.example"),
        ("SWITCHBOARD_PUBLIC_URL", "ftp://desk.example"),
        ("SWITCHBOARD_REOPEN_DAYS", "soon"),
        ("SWITCHBOARD_DEFAULT_REGION", "Germany"),
        ("SWITCHBOARD_SESSION_HOURS", "0"),
        ("SWITCHBOARD_ADMIN_EMAIL", "root"),
        ("SWITCHBOARD_MAX_BODY_BYTES", "12"),
        ("SWITCHBOARD_LOG", "info,[[["),
        ("SWITCHBOARD_CONFIG", "/nonexistent/switchboard.toml"),
    ] {
        let err = Config::from_vars(vars(&[(var, value)])).unwrap_err();
        assert_eq!(err.var, var, "{var}={value}");
        assert!(err.to_string().starts_with(var), "{err}");
    }
}

#[test]
fn a_toml_file_sets_what_the_environment_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(
        &path,
        "bind = \"0.0.0.0:9000\"\nreopen_days = 3\npublic_url = \"https://desk.example\"\n",
    )
    .unwrap();
    let file = path.display().to_string();
    let c = Config::from_vars(vars(&[
        ("SWITCHBOARD_CONFIG", &file),
        ("SWITCHBOARD_BIND", "127.0.0.1:9001"),
    ]))
    .unwrap();
    assert_eq!(c.bind.to_string(), "127.0.0.1:9001", "the environment wins");
    assert_eq!(c.reopen_window.as_secs(), 3 * 86_400);
    assert!(c.is_https());
    std::fs::write(&path, "reopen_days = \"x\"\n").unwrap();
    let err = Config::from_vars(vars(&[("SWITCHBOARD_CONFIG", &file)])).unwrap_err();
    assert!(err.var.ends_with("reopen_days"), "{err}");
    std::fs::write(&path, "colour = 1\n").unwrap();
    assert_eq!(
        Config::from_vars(vars(&[("SWITCHBOARD_CONFIG", &file)]))
            .unwrap_err()
            .var,
        "SWITCHBOARD_CONFIG"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_agents_creates_tokens_and_loads_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = cli(dir.path(), &["migrate"], "");
    assert!(ok, "{err}");
    assert!(out.contains("up to date"));

    let (ok, out, err) = cli(
        dir.path(),
        &[
            "agent",
            "add",
            "--email",
            "Lea@Example.com",
            "--name",
            "Lea",
            "--role",
            "lead",
        ],
        "a long enough password\n",
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("lea@example.com") && !out.contains("password:"),
        "{out}"
    );
    let (ok, out, _) = cli(
        dir.path(),
        &[
            "agent",
            "add",
            "--email",
            "sam@example.com",
            "--name",
            "Sam",
        ],
        "",
    );
    assert!(ok);
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let (ok, _, err) = cli(
        dir.path(),
        &[
            "agent",
            "add",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--role",
            "boss",
        ],
        "",
    );
    assert!(!ok && err.contains("agent, lead or admin"), "{err}");
    let (ok, _, err) = cli(
        dir.path(),
        &["agent", "add", "--email", "y@example.com", "--name", "Y"],
        "short\n",
    );
    assert!(!ok && err.contains("password"), "{err}");

    let (ok, out, err) = cli(
        dir.path(),
        &["token", "create", "--name", "shop", "--role", "agent"],
        "",
    );
    assert!(ok, "{err}");
    let token = out
        .lines()
        .find(|l| l.starts_with("sb_"))
        .unwrap()
        .to_owned();

    let (ok, out, err) = cli(dir.path(), &["demo"], "");
    assert!(ok, "{err}");
    assert!(out.contains("demo data loaded"), "{out}");
    let (ok, _, err) = cli(dir.path(), &["demo"], "");
    assert!(ok, "loading twice is fine: {err}");
    let (ok, out, _) = cli(dir.path(), &["agent", "list"], "");
    assert!(ok && out.contains("Lea") && out.contains("Sam Support"));

    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("switchboard.db").display()
    );
    let store = Store::connect(&url, None).await.unwrap();
    let desk = Desk::new(
        store.clone(),
        Rules::default(),
        switchboard::blobs::Blobs::new(dir.path()),
    );
    assert!(
        desk.authenticate("lea@example.com", "a long enough password")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        desk.authenticate("sam@example.com", &generated)
            .await
            .unwrap()
            .is_some()
    );
    assert!(desk.token_by_secret(&token).await.unwrap().is_some());
    let tickets = desk
        .list_tickets(&Default::default(), None, 100)
        .await
        .unwrap()
        .items;
    assert_eq!(
        tickets.len(),
        6,
        "demo tickets once, whatever the number of loads"
    );
    let channels: std::collections::HashSet<String> =
        tickets.iter().map(|t| t.channel.clone()).collect();
    assert!(channels.len() >= 5);
    store.close().await;

    // A wrong setting stops the command with the variable's name.
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("migrate")
        .env("SWITCHBOARD_BIND", "nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_BIND"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_serve_creates_an_admin_and_sigterm_stops_it_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env_clear()
        .env("SWITCHBOARD_DATA_DIR", dir.path())
        .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the desk came up");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
        (status, stdout)
    })
    .await
    .unwrap();
    assert!(out.0.success(), "a clean exit on SIGTERM");
    assert!(
        out.1.contains(&format!("http://127.0.0.1:{port}/")),
        "{}",
        out.1
    );
    let password = out
        .1
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("switchboard.db").display()
    );
    let store = Store::connect(&url, None).await.unwrap();
    let desk = Desk::new(
        store.clone(),
        Rules::default(),
        switchboard::blobs::Blobs::new(dir.path()),
    );
    let admin = desk
        .authenticate("admin@switchboard.localhost", &password)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.role, "admin");
    store.close().await;
}

#[test]
fn channel_widget_prints_the_snippet_and_the_secret_once() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = cli(
        dir.path(),
        &[
            "channel",
            "widget",
            "--name",
            "Kaffeehaus",
            "--origin",
            "https://shop.example",
            "--greeting",
            "Hallo!",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("<script src=\"http://127.0.0.1:8080/widget.js\" data-site=\""));
    let secret = out.lines().last().unwrap().trim().to_owned();
    assert!(secret.len() >= 40, "{out}");
    let (ok, list, _) = cli(dir.path(), &["channel", "list"], "");
    assert!(ok);
    assert!(
        list.contains("widget") && list.contains("Kaffeehaus"),
        "{list}"
    );
    assert!(!list.contains(&secret));
    let (ok, _, err) = cli(
        dir.path(),
        &[
            "channel",
            "widget",
            "--name",
            "Bad",
            "--origin",
            "shop.example",
        ],
        "",
    );
    assert!(!ok);
    assert!(err.contains("origins"), "{err}");
}

#[test]
fn channel_email_takes_the_password_from_stdin_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = cli(
        dir.path(),
        &[
            "channel",
            "email",
            "--name",
            "Support",
            "--address",
            "Support@Shop.Example",
            "--imap",
            "imap.shop.example:993",
            "--smtp",
            "smtp.shop.example:587",
            "--acknowledge",
            "--language",
            "de",
        ],
        "pa55word-from-stdin\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("support@shop.example"), "{out}");
    let (ok, list, _) = cli(dir.path(), &["channel", "list"], "");
    assert!(ok);
    assert!(list.contains("email") && list.contains("Support"), "{list}");
    assert!(!list.contains("pa55word") && !out.contains("pa55word"));
    let (ok, _, err) = cli(
        dir.path(),
        &[
            "channel",
            "email",
            "--name",
            "X",
            "--address",
            "x@y.z",
            "--imap",
            "no-port",
        ],
        "",
    );
    assert!(!ok);
    assert!(err.contains("host:port"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_the_embedded_index_and_refuses_while_a_server_holds_it() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    use switchboard::search::{Search, SearchIndex};
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = cli(dir.path(), &["demo"], "");
    assert!(ok, "{err}");
    let (ok, out, err) = cli(dir.path(), &["reindex"], "");
    assert!(ok, "{err}");
    assert!(
        err.contains("rebuilding the embedded search index"),
        "{err}"
    );
    assert!(err.contains("tickets "), "progress: {err}");

    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("switchboard.db").display()
    );
    let store = Store::connect(&url, None).await.unwrap();
    let tickets = entity::ticket::Entity::find()
        .count(store.db())
        .await
        .unwrap();
    assert!(tickets > 0);
    assert!(out.contains(&format!("indexed {tickets} tickets")), "{out}");

    // Every ticket is in the index.
    let index = switchboard::search::embedded::Embedded::open(&dir.path().join("search")).unwrap();
    assert!(!index.is_fresh(), "a rebuilt index is marked complete");
    let all = index
        .search(&Search {
            limit: 1,
            ..Search::new("", phonenumber::country::Id::DE)
        })
        .await
        .unwrap();
    assert_eq!(all.ticket_total, tickets);

    // While something holds the index (a running server), reindex says so and stops.
    let (ok, _, err) = cli(dir.path(), &["reindex"], "");
    assert!(!ok);
    assert!(
        err.contains("in use by another Switchboard process"),
        "{err}"
    );
    drop(index);
    store.close().await;
}
