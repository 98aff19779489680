//! The email channel against real mail servers: Dovecot (IMAP) and Postfix (SMTP) from
//! Debian's packages, started by `mailserver.rs`. A customer's mail goes in over SMTP,
//! the desk reads it over IMAP (IDLE), answers through Postfix, and the answer lands in
//! the customer's mailbox with the threading headers a mail program needs.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;
use switchboard::desk::channels::{MailServer as Server, NewMailAccount, Security};
use switchboard::desk::email::Checkpoint;
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::tickets::ReplyInput;
use switchboard::desk::{Actor, Channel, Desk, Inbound, Role};
use switchboard::store::Store;

use crate::mailserver::{MailServer, OTHER_DOMAIN, mail_server};
use crate::support::eventually as until;
use crate::support::{Api, Engine, TestApp};

const WAIT: Duration = Duration::from_secs(30);

fn server(ms: &MailServer, imap: bool, user: &str) -> Server {
    Server {
        host: "127.0.0.1".into(),
        port: if imap { ms.imap_port } else { ms.smtp_port },
        security: Security::None,
        user: imap.then(|| user.to_owned()),
        password: imap.then(|| "any password".to_owned()),
        folder: None,
        tls_ca: None,
    }
}

async fn account(desk: &Desk, ms: &MailServer, address: &str, acknowledge: bool) -> i64 {
    desk.create_mail_account(&NewMailAccount {
        name: "Support".into(),
        address: address.into(),
        display_name: Some("Kaffeehaus Support".into()),
        imap: Some(server(ms, true, address)),
        smtp: Some(server(ms, false, address)),
        acknowledge,
        ..Default::default()
    })
    .await
    .unwrap()
    .channel
    .id
}

fn customer_mail(
    from: &str,
    to: &str,
    id: &str,
    subject: &str,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: Clara Kunde <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: {}\r\nMIME-Version: 1.0\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes()
}

/// A customer's mail submitted over SMTP, with a fresh Message-ID, which it returns.
async fn send_mail(
    ms: &MailServer,
    from: &str,
    to: &str,
    subject: &str,
    extra: &str,
    body: &str,
) -> String {
    let id = format!("m-{}@example.test", rand::random::<u32>());
    ms.submit(
        from,
        &[to],
        &customer_mail(from, to, &id, subject, extra, body),
    )
    .await;
    id
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    MessageParser::default()
        .parse(raw)?
        .header_raw(name)
        .map(|v| v.trim().to_owned())
}

async fn tickets(desk: &Desk) -> Vec<entity::ticket::Model> {
    desk.list_tickets(&Default::default(), None, 200)
        .await
        .unwrap()
        .items
}

/// The ticket a customer's first mail opened, once the desk has read it.
async fn first_ticket(desk: &Desk) -> entity::ticket::Model {
    until("the ticket", || {
        let desk = desk.clone();
        async move { tickets(&desk).await.pop() }
    })
    .await
}

/// The whole loop: customer mail → IMAP → ticket (acknowledged) → agent reply with a
/// file → the customer's mailbox, threaded → the customer's answer → the same ticket.
/// The poller runs with a one-hour poll, so only IMAP IDLE can bring the answer in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn a_mail_conversation_over_imap_and_smtp() {
    let ms = mail_server().await;
    let support = ms.address("support");
    let customer = ms.address("clara");
    let app =
        TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_MAIL_POLL_SECONDS", "3600")]).await;
    let desk = app.desk.clone();
    let channel_id = account(&desk, ms, &support, true).await;

    let first_id = send_mail(
        ms,
        &customer,
        &support,
        "Kaffeemühle defekt",
        "",
        "Meine Mühle mahlt nicht mehr. Grüße, Clara",
    )
    .await;
    let ticket = first_ticket(&desk).await;
    assert_eq!(ticket.subject, "Kaffeemühle defekt");
    assert_eq!(ticket.channel, "email");
    assert_eq!(ticket.channel_id, Some(channel_id));

    // The acknowledgement arrives, marked as automatic, with the ticket's number.
    let inbox = ms.wait_for_mail(&customer, 1, WAIT).await;
    assert_eq!(
        header(&inbox[0], "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    let subject = header(&inbox[0], "Subject").unwrap();
    assert!(
        subject.contains(&format!("[#{}]", ticket.number)),
        "{subject}"
    );

    // The agent answers with a file.
    let (_, token) = desk.create_token("console", Role::Agent).await.unwrap();
    let api = Api::new(&app.base, &token);
    let up = reqwest::Client::new()
        .post(app.url("/api/v1/uploads?filename=Anleitung.pdf"))
        .bearer_auth(&token)
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.4 Anleitung".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let up: serde_json::Value = up.json().await.unwrap();
    let (s, reply) = api
        .send("POST", &format!("/api/v1/tickets/{}/reply", ticket.id), json!({
            "text": "Liebe Clara, bitte schicken Sie die Mühle ein. Die Anleitung hängt an.",
            "attachments": [{"sha256": up["sha256"], "filename": "Anleitung.pdf", "content_type": "application/pdf"}],
        }))
        .await;
    assert_eq!(s, 201, "{reply}");
    let reply_id = reply["id"].as_i64().unwrap();
    let inbox = ms.wait_for_mail(&customer, 2, WAIT).await;
    let raw = &inbox[1];
    let answer = MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        answer.from().unwrap().first().unwrap().address(),
        Some(support.as_str())
    );
    assert_eq!(
        answer.from().unwrap().first().unwrap().name(),
        Some("Kaffeehaus Support")
    );
    assert_eq!(
        answer.subject(),
        Some(format!("Re: Kaffeemühle defekt [#{}]", ticket.number).as_str())
    );
    assert_eq!(answer.in_reply_to().as_text(), Some(first_id.as_str()));
    let references = header(raw, "References").unwrap();
    assert!(
        references.contains(&format!("<{first_id}>")),
        "{references}"
    );
    assert!(header(raw, "Auto-Submitted").is_none());
    assert!(
        answer
            .body_text(0)
            .unwrap()
            .contains("bitte schicken Sie die Mühle ein")
    );
    let file = answer.attachments().next().expect("the attachment");
    assert_eq!(file.attachment_name(), Some("Anleitung.pdf"));
    assert_eq!(file.contents(), b"%PDF-1.4 Anleitung");
    // The stored message knows its Message-ID and that it was sent.
    let sent = until("the reply marked sent", || {
        let desk = desk.clone();
        async move {
            desk.message(reply_id)
                .await
                .ok()
                .filter(|m| m.delivery_status == "sent")
        }
    })
    .await;
    let our_id = sent.external_id.clone().unwrap();
    assert_eq!(answer.message_id(), Some(our_id.as_str()));
    assert!(
        our_id.starts_with("sb.") && our_id.ends_with("@example.test"),
        "{our_id}"
    );
    // The job runs again, as after a crash between sending and recording it: nothing is
    // sent twice. Nor after a restart of the desk on the same store.
    switchboard::outbox::enqueue(desk.store.db(), "deliver", json!({"message_id": reply_id}))
        .await
        .unwrap();
    desk.outbox_kick.notify_one();
    until("the repeated job done", || {
        let store = desk.store.clone();
        async move {
            let rows = switchboard::outbox::list(&store, "pending", 0, 200)
                .await
                .unwrap();
            (!rows.iter().any(|r| r.kind == "deliver")).then_some(())
        }
    })
    .await;
    let mut app = app;
    app.app.take().unwrap().stop().await;
    let again = switchboard::app::App::start(
        crate::support::config(&[
            ("SWITCHBOARD_MAIL_POLL_SECONDS", "3600"),
            (
                "SWITCHBOARD_DATA_DIR",
                &app.ts.dir.path().display().to_string(),
            ),
        ]),
        app.ts.store.clone(),
    )
    .await
    .unwrap();
    let desk = again.state.desk.clone();
    app.app = Some(again);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ms.mailbox(&customer).await.len(),
        2,
        "a reply was sent twice"
    );

    // Clara answers from her mail program: the same ticket, read through IDLE.
    send_mail(
        ms,
        &customer,
        &support,
        &format!("Re: Kaffeemühle defekt [#{}]", ticket.number),
        &format!("In-Reply-To: <{our_id}>\r\nReferences: <{first_id}> <{our_id}>\r\n"),
        "Danke, ist unterwegs!",
    )
    .await;
    let view = until("Clara's answer on the ticket", || {
        let desk = desk.clone();
        async move {
            let view = desk.ticket_detail(ticket.id).await.unwrap();
            (view
                .messages
                .iter()
                .filter(|m| m.message.direction == "in")
                .count()
                == 2)
                .then_some(view)
        }
    })
    .await;
    assert!(
        view.messages
            .iter()
            .any(|m| m.message.text.contains("ist unterwegs"))
    );
    assert_eq!(tickets(&desk).await.len(), 1);
    let cp = desk.checkpoint(channel_id).await.unwrap().unwrap();
    assert_eq!(cp.last_uid, 2);

    // The server's UIDVALIDITY "changes": the folder is read again and nothing doubles.
    desk.advance_checkpoint(Some(&Checkpoint {
        channel_id,
        folder: "INBOX".into(),
        uid_validity: cp.uid_validity + 1,
        uid: 2,
    }))
    .await
    .unwrap();
    send_mail(
        ms,
        &customer,
        &support,
        "Noch eine Frage",
        "",
        "Gibt es Ersatzmesser?",
    )
    .await;
    until("the third mail", || {
        let desk = desk.clone();
        async move { (tickets(&desk).await.len() == 2).then_some(()) }
    })
    .await;
    let cp = until("the checkpoint after the resync", || {
        let desk = desk.clone();
        async move {
            desk.checkpoint(channel_id)
                .await
                .unwrap()
                .filter(|c| c.last_uid == 3)
        }
    })
    .await;
    assert_ne!(cp.uid_validity, 0);
    let view = desk.ticket_detail(ticket.id).await.unwrap();
    assert_eq!(
        view.messages
            .iter()
            .filter(|m| m.message.direction == "in")
            .count(),
        2
    );
    app.stop().await;
}

/// Two desks that acknowledge every new ticket: one writes to the other, the answer is
/// automatic, and the other desk does not answer it. Nothing bounces back and forth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn two_desks_answering_each_other_stop_at_once() {
    let ms = mail_server().await;
    let a = ms.address("desk-a");
    let b = ms.address_at("desk-b", OTHER_DOMAIN);
    let desk_a = TestApp::start(Engine::Sqlite).await;
    let desk_b = TestApp::start(Engine::Sqlite).await;
    account(&desk_a.desk, ms, &a, true).await;
    let b_id = account(&desk_b.desk, ms, &b, true).await;

    send_mail(ms, &b, &a, "Bestellung 4711", "", "Wo ist die Ware?").await;
    // A opens a ticket and acknowledges it to B; B reads the acknowledgement and stops.
    ms.wait_for_mail(&b, 1, WAIT).await;
    until("B reading the acknowledgement", || {
        let desk = desk_b.desk.clone();
        async move {
            desk.checkpoint(b_id)
                .await
                .unwrap()
                .filter(|c| c.last_uid >= 1)
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        tickets(&desk_b.desk).await.is_empty(),
        "B opened a ticket for an automatic answer"
    );
    assert_eq!(
        ms.mailbox(&a).await.len(),
        1,
        "A got more than the first mail"
    );
    assert_eq!(
        ms.mailbox(&b).await.len(),
        1,
        "B got more than one acknowledgement"
    );
    assert_eq!(tickets(&desk_a.desk).await.len(), 1);
    desk_a.stop().await;
    desk_b.stop().await;
}

/// A mail over the size limit is not fetched: the header makes a note on a ticket, and
/// the sender is told once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn mail_over_the_limit_is_noted_and_answered_not_fetched() {
    let ms = mail_server().await;
    let support = ms.address("support");
    let customer = ms.address("olaf");
    let app = TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_MAX_MAIL_BYTES", "50000")]).await;
    account(&app.desk, ms, &support, false).await;
    let body = "Foto ".repeat(40_000);
    send_mail(ms, &customer, &support, "Fotos vom Schaden", "", &body).await;
    let ticket = first_ticket(&app.desk).await;
    assert_eq!(ticket.subject, "Fotos vom Schaden");
    let view = app.desk.ticket_detail(ticket.id).await.unwrap();
    let note = &view.messages[0].message;
    assert_eq!(note.direction, "note");
    assert!(note.text.contains("was not fetched"), "{}", note.text);
    assert!(!note.text.contains("Foto Foto"));
    let inbox = ms.wait_for_mail(&customer, 1, WAIT).await;
    assert_eq!(
        header(&inbox[0], "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    app.stop().await;
}

/// A refused recipient fails the reply with the server's reason; a server that cannot
/// be reached keeps it queued and retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn refused_and_unreachable_smtp() {
    let ms = mail_server().await;
    let support = ms.address("support");
    let app = TestApp::start(Engine::Sqlite).await;
    let desk = app.desk.clone();
    let id = account(&desk, ms, &support, false).await;
    let reply = answer_a_new_mail(
        &desk,
        id,
        format!("x{}@elsewhere.invalid", rand::random::<u32>()),
        "someone@elsewhere.invalid",
    )
    .await;
    let failed = until("the reply failed", || {
        let desk = desk.clone();
        async move {
            desk.message(reply.id)
                .await
                .ok()
                .filter(|m| m.delivery_status == "failed")
        }
    })
    .await;
    let reason = failed.delivery_error.unwrap();
    assert!(
        reason.contains("554") || reason.contains("Relay"),
        "{reason}"
    );

    // The same account, its SMTP server now a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut smtp = server(ms, false, &support);
    smtp.port = closed;
    desk.update_mail_account(
        id,
        &switchboard::desk::channels::MailAccountChange {
            smtp: Some(Some(smtp)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let reply = answer_a_new_mail(
        &desk,
        id,
        format!("y{}@example.test", rand::random::<u32>()),
        ms.address("kim"),
    )
    .await;
    let row = until("a retry with the reason", || {
        let store = desk.store.clone();
        async move {
            switchboard::outbox::list(&store, "pending", 0, 50)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.kind == "deliver" && r.last_error.is_some())
        }
    })
    .await;
    assert!(row.last_error.unwrap().contains("SMTP"));
    assert_eq!(
        desk.message(reply.id).await.unwrap().delivery_status,
        "queued"
    );
    app.stop().await;
}

/// A chat answer the visitor was not there to read follows by mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn an_unread_chat_answer_follows_by_mail() {
    let ms = mail_server().await;
    let support = ms.address("support");
    let customer = ms.address("anna");
    let app = TestApp::start(Engine::Sqlite).await;
    account(&app.desk, ms, &support, false).await;
    let o = app
        .desk
        .ingest(&Inbound::text(
            Channel::Chat,
            "v1:c1",
            IdentityClaim::new(IdentityKind::Email, customer.clone()).verified(),
            "Ist die Mühle lieferbar?",
        ))
        .await
        .unwrap();
    app.desk
        .reply(
            o.ticket_id,
            Actor::System,
            &ReplyInput {
                text: "Ja, ab morgen wieder.".into(),
                html: None,
                status: None,
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    let inbox = ms.wait_for_mail(&customer, 1, WAIT).await;
    let mail = MessageParser::default().parse(&inbox[0]).unwrap();
    assert!(mail.body_text(0).unwrap().contains("Ja, ab morgen wieder."));
    let number = app.desk.ticket(o.ticket_id).await.unwrap().number;
    assert!(mail.subject().unwrap().contains(&format!("[#{number}]")));
    app.stop().await;
}

/// The desk as a process, killed with SIGKILL while it reads a full mailbox, then
/// started again: every mail is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn a_killed_desk_loses_and_repeats_no_mail() {
    const MAILS: usize = 300;
    let ms = mail_server().await;
    let support = ms.address("support");
    for i in 0..MAILS {
        let from = format!("kunde{i}@example.test");
        ms.append(
            &support,
            &customer_mail(
                &from,
                &support,
                &format!("bulk-{i}-{}@example.test", rand::random::<u32>()),
                &format!("Frage {i}"),
                "",
                "Eine Frage",
            ),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = desk_process(dir.path(), args, true);
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let imap = format!("127.0.0.1:{}", ms.imap_port);
    let smtp = format!("127.0.0.1:{}", ms.smtp_port);
    run(
        &[
            "channel",
            "email",
            "--name",
            "Support",
            "--address",
            &support,
            "--imap",
            &imap,
            "--smtp",
            &smtp,
            "--security",
            "none",
        ],
        "x\n",
    );

    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("switchboard.db").display()
    );
    let store = Store::connect(&url, None).await.unwrap();
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            use sea_orm::ConnectionTrait;
            let row = store
                .db()
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    sql,
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap() as usize
        }
    };
    let mut desk = desk_process(dir.path(), &["serve"], false);
    until("some mail read", || async {
        (count("SELECT count(*) FROM message").await >= 20).then_some(())
    })
    .await;
    desk.kill().unwrap();
    desk.wait().unwrap();
    let at_kill = count("SELECT count(*) FROM message").await;
    assert!(
        at_kill < MAILS,
        "all {MAILS} were read before the kill; make the mailbox larger"
    );

    let mut desk = desk_process(dir.path(), &["serve"], false);
    until("every mail read", || async {
        (count("SELECT count(*) FROM message").await >= MAILS).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count("SELECT count(*) FROM message").await, MAILS);
    assert_eq!(count("SELECT count(*) FROM ticket").await, MAILS);
    assert_eq!(
        count("SELECT count(DISTINCT external_id) FROM message").await,
        MAILS
    );
    assert_eq!(
        count("SELECT max(last_uid) FROM mail_checkpoint").await,
        MAILS
    );
    // SIGTERM: a graceful stop.
    unsafe { libc::kill(desk.id() as i32, libc::SIGTERM) };
    desk.wait().unwrap();
    store.close().await;
}

/// A mail from `from` on the account, and an answer to it, queued.
async fn answer_a_new_mail(
    desk: &Desk,
    account: i64,
    id: String,
    from: impl Into<String>,
) -> entity::message::Model {
    let mut inbound = Inbound::text(
        Channel::Email,
        id,
        IdentityClaim::new(IdentityKind::Email, from),
        "Hallo",
    );
    inbound.channel_id = Some(account);
    let o = desk.ingest(&inbound).await.unwrap();
    let answer = ReplyInput {
        text: "Antwort".into(),
        html: None,
        status: None,
        attachments: vec![],
    };
    desk.reply(o.ticket_id, Actor::System, &answer)
        .await
        .unwrap()
}

fn desk_process(dir: &std::path::Path, args: &[&str], piped: bool) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_clear()
        .env("SWITCHBOARD_DATA_DIR", dir)
        .env("SWITCHBOARD_BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_LOG", "warn")
        .stdin(if piped { Stdio::piped() } else { Stdio::null() })
        .stdout(if piped { Stdio::piped() } else { Stdio::null() })
        .stderr(if piped {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .unwrap()
}

/// TLS from the first byte (IMAPS, SMTPS) and STARTTLS on the plain ports, against
/// servers whose certificate a private CA signed (the account's `tls_ca`); without that
/// CA nothing is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn mail_over_tls_and_starttls() {
    let ms = mail_server().await;
    let secured = |security, port, user: Option<&str>, ca: Option<&str>| Server {
        host: "127.0.0.1".into(),
        port,
        security,
        user: user.map(str::to_owned),
        password: user.map(|_| "any password".to_owned()),
        folder: None,
        tls_ca: ca.map(str::to_owned),
    };
    for (security, imap_port, smtp_port) in [
        (Security::Tls, ms.imaps_port, ms.smtps_port),
        (Security::Starttls, ms.imap_port, ms.smtp_port),
    ] {
        let support = ms.address("support");
        let customer = ms.address("tls");
        let app = TestApp::start(Engine::Sqlite).await;
        app.desk
            .create_mail_account(&NewMailAccount {
                name: "Support".into(),
                address: support.clone(),
                imap: Some(secured(
                    security,
                    imap_port,
                    Some(&support),
                    Some(&ms.ca_pem),
                )),
                smtp: Some(secured(security, smtp_port, None, Some(&ms.ca_pem))),
                acknowledge: true,
                ..Default::default()
            })
            .await
            .unwrap();
        send_mail(ms, &customer, &support, "Über TLS", "", "Sicher?").await;
        until(&format!("a ticket read over {security:?}"), || {
            let desk = app.desk.clone();
            async move { tickets(&desk).await.pop() }
        })
        .await;
        // The acknowledgement left through the secured SMTP server.
        let inbox = ms.wait_for_mail(&customer, 1, WAIT).await;
        assert_eq!(
            header(&inbox[0], "Auto-Submitted").as_deref(),
            Some("auto-replied")
        );
        app.stop().await;
    }

    // Without the private CA the server's certificate is not trusted: nothing is read.
    let support = ms.address("support");
    let app = TestApp::start(Engine::Sqlite).await;
    app.desk
        .create_mail_account(&NewMailAccount {
            name: "Support".into(),
            address: support.clone(),
            imap: Some(secured(Security::Tls, ms.imaps_port, Some(&support), None)),
            ..Default::default()
        })
        .await
        .unwrap();
    let customer = ms.address("tls");
    send_mail(ms, &customer, &support, "Unsicher", "", "Hallo").await;
    ms.wait_for_mail(&support, 1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        tickets(&app.desk).await.is_empty(),
        "read from a server whose certificate is not trusted"
    );
    app.stop().await;
}

/// The words of `text` that contain `/survey/`: the survey links it carries.
fn survey_links(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|w| w.contains("/survey/"))
        .collect()
}

/// The satisfaction survey end to end over real mail: a customer writes in (SMTP →
/// IMAP), an agent answers and resolves in one go, and the survey (German, as the mail
/// account speaks German) lands in the customer's mailbox through Postfix as an
/// automatic mail on the conversation, with exactly one signed link in place of the
/// stored placeholder. The link, followed over HTTP, shows the form and takes a rating
/// of 2 with a comment: the feedback is stored and a complaint raised. The customer
/// writes again (the ticket reopens), the agent resolves it again: no second survey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dovecot and Postfix"]
async fn a_survey_by_mail_over_smtp_answered_once() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use switchboard::desk::channels::Language;
    use switchboard::desk::surveys::{LINK_PLACEHOLDER_DE, LINK_PLACEHOLDER_EN};

    let ms = mail_server().await;
    let support = ms.address("support");
    let customer = ms.address("clara");
    // The desk's public address is its own, so the link in the mail is followed as is.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let public = format!("http://{bind}");
    let app = TestApp::start_with(
        Engine::Sqlite,
        &[
            ("SWITCHBOARD_BIND", &bind),
            ("SWITCHBOARD_PUBLIC_URL", &public),
            ("SWITCHBOARD_SURVEY_CHANNELS", "email"),
            ("SWITCHBOARD_SURVEY_DELAY_MINUTES", "0"),
            ("SWITCHBOARD_MAIL_POLL_SECONDS", "3600"),
        ],
    )
    .await;
    let desk = app.desk.clone();
    let channel_id = desk
        .create_mail_account(&NewMailAccount {
            name: "Support".into(),
            address: support.clone(),
            display_name: Some("Kaffeehaus Support".into()),
            imap: Some(server(ms, true, &support)),
            smtp: Some(server(ms, false, &support)),
            acknowledge: false,
            language: Language::De,
            ..Default::default()
        })
        .await
        .unwrap()
        .channel
        .id;

    let first_id = send_mail(
        ms,
        &customer,
        &support,
        "Kaffeemühle defekt",
        "",
        "Meine Mühle mahlt nicht mehr. Grüße, Clara",
    )
    .await;
    let ticket = first_ticket(&desk).await;
    assert_eq!(ticket.channel_id, Some(channel_id));

    // The agent answers and resolves in one go.
    let (_, token) = desk.create_token("console", Role::Agent).await.unwrap();
    let api = Api::new(&app.base, &token);
    let (s, reply) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{}/reply", ticket.id),
            json!({"text": "Liebe Clara, eine neue Mühle ist unterwegs.", "status": "resolved"}),
        )
        .await;
    assert_eq!(s, 201, "{reply}");
    let reply_id = reply["id"].as_i64().unwrap();

    // Two mails arrive: the answer and the survey, in either order.
    let inbox = ms.wait_for_mail(&customer, 2, WAIT).await;
    assert_eq!(inbox.len(), 2, "more than the answer and the survey");
    let parsed: Vec<_> = inbox
        .iter()
        .map(|raw| MessageParser::default().parse(raw).unwrap())
        .collect();
    let is_survey = |m: &mail_parser::Message| {
        m.body_text(0)
            .is_some_and(|t| t.contains("/survey/") || t.contains("Umfrage"))
    };
    let surveys: Vec<usize> = (0..2).filter(|i| is_survey(&parsed[*i])).collect();
    assert_eq!(surveys.len(), 1, "one survey mail and the answer");
    let (raw, mail) = (&inbox[surveys[0]], &parsed[surveys[0]]);
    let answer = &parsed[1 - surveys[0]];
    assert!(
        answer
            .body_text(0)
            .unwrap()
            .contains("eine neue Mühle ist unterwegs")
    );

    // Who, what, and on which conversation.
    let number = ticket.number;
    assert_eq!(
        mail.from().unwrap().first().unwrap().address(),
        Some(support.as_str())
    );
    assert_eq!(
        mail.from().unwrap().first().unwrap().name(),
        Some("Kaffeehaus Support")
    );
    let to: Vec<_> = mail
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, vec![customer.as_str()]);
    assert!(mail.cc().is_none());
    assert_eq!(
        mail.subject(),
        Some(format!("Re: Kaffeemühle defekt [#{number}]").as_str())
    );
    assert_eq!(mail.in_reply_to().as_text(), Some(first_id.as_str()));
    let references = header(raw, "References").expect("References");
    assert!(
        references.starts_with(&format!("<{first_id}>")),
        "{references}"
    );
    // Marked automatic, so that no mail program or desk answers it (RFC 3834).
    assert_eq!(
        header(raw, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(raw, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    assert_eq!(header(raw, "X-Loop").as_deref(), Some(support.as_str()));

    // The text in German with exactly one link, where the placeholder stood.
    let text = mail.body_text(0).unwrap().into_owned();
    assert!(
        text.starts_with(&format!(
            "Ihre Anfrage #{number} „Kaffeemühle defekt“ ist erledigt. Wie zufrieden waren Sie mit uns?"
        )),
        "{text}"
    );
    for placeholder in [LINK_PLACEHOLDER_DE, LINK_PLACEHOLDER_EN, "[survey link]"] {
        assert!(!text.contains(placeholder), "{text}");
    }
    let links = survey_links(&text);
    assert_eq!(links.len(), 1, "{text}");
    let link = links[0];
    let link_token = link
        .strip_prefix(&format!("{public}/survey/"))
        .unwrap_or_else(|| panic!("not a link to {public}/survey/…: {link}"));
    let parts: Vec<&str> = link_token.split('.').collect();
    assert_eq!(parts.len(), 4, "{link_token}");
    assert!(
        parts[..3].iter().all(|p| p.parse::<i64>().is_ok()),
        "{link_token}"
    );
    assert!(
        !parts[3].is_empty()
            && parts[3]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{link_token}"
    );
    assert!(
        text.trim_end().ends_with(link),
        "the link on the last line: {text}"
    );
    // The HTML part makes it a link (escaped as the rest of the text is).
    let html = mail.body_html(0).unwrap();
    let escaped = format!("{public}/survey/{link_token}").replace('/', "&#47;");
    let anchor = format!("<a href=\"{escaped}\">{escaped}</a>");
    assert_eq!(
        html.matches(anchor.as_str()).count(),
        1,
        "{anchor} in {html}"
    );
    for placeholder in [LINK_PLACEHOLDER_DE, LINK_PLACEHOLDER_EN] {
        assert!(!html.contains(placeholder), "{html}");
    }
    // It is the survey's current link; the stored message keeps the placeholder only,
    // and knows its Message-ID.
    let s = desk
        .ticket_survey(ticket.id)
        .await
        .unwrap()
        .expect("a survey");
    assert_eq!((s.status.as_str(), s.link_version), ("sent", 0));
    assert_eq!(desk.survey_token(&s).unwrap(), link_token);
    let view = desk.ticket_detail(ticket.id).await.unwrap();
    let stored = view
        .messages
        .iter()
        .map(|m| &m.message)
        .find(|m| m.direction == "out" && m.id != reply_id)
        .expect("the survey message");
    assert!(
        stored.text.ends_with(&format!("\n{LINK_PLACEHOLDER_DE}")),
        "{}",
        stored.text
    );
    assert!(!stored.text.contains(link_token));
    let stored = until("the survey marked sent", || {
        let desk = desk.clone();
        let id = stored.id;
        async move {
            desk.message(id)
                .await
                .ok()
                .filter(|m| m.delivery_status == "sent")
        }
    })
    .await;
    assert_eq!(mail.message_id(), stored.external_id.as_deref());
    assert!(!stored.text.contains(link_token));

    // The customer follows the link: the form, in German.
    let client = reqwest::Client::new();
    let page = client
        .get(link)
        .header("accept-language", "de-DE,de;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Wie zufrieden waren Sie?"), "{page}");
    assert!(
        page.contains(&format!("#{number} – Kaffeemühle defekt")),
        "{page}"
    );
    assert!(
        page.contains(&format!("action=\"/survey/{link_token}\"")),
        "{page}"
    );
    assert!(page.contains("type=\"radio\" name=\"rating\" value=\"2\""));
    // … and answers 2 with a comment, as the browser posts the form.
    let comment = "Die Mühle kam erst nach zwei Wochen.";
    let thanks = client
        .post(link)
        .header("accept-language", "de-DE,de;q=0.9")
        .header("origin", &public)
        .form(&[("rating", "2"), ("comment", comment)])
        .send()
        .await
        .unwrap();
    assert_eq!(thanks.status(), 200, "followed to the change link's page");
    let thanks = thanks.text().await.unwrap();
    assert!(thanks.contains("Vielen Dank!"), "{thanks}");
    assert!(thanks.contains(comment), "{thanks}");
    // The link is used up.
    assert_eq!(client.get(link).send().await.unwrap().status(), 410);

    let s = desk.ticket_survey(ticket.id).await.unwrap().unwrap();
    assert_eq!((s.status.as_str(), s.link_version), ("answered", 1));
    let feedback = entity::feedback::Entity::find()
        .filter(entity::feedback::Column::TicketId.eq(ticket.id))
        .all(desk.store.db())
        .await
        .unwrap();
    assert_eq!(feedback.len(), 1);
    let f = &feedback[0];
    assert_eq!(s.feedback_id, Some(f.id));
    assert_eq!(
        (
            f.kind.as_str(),
            f.source.as_str(),
            f.rating,
            f.comment.as_deref()
        ),
        ("survey", "survey", Some(2), Some(comment))
    );
    // A rating of 2 is a complaint.
    let complaints = entity::complaint::Entity::find()
        .filter(entity::complaint::Column::TicketId.eq(ticket.id))
        .all(desk.store.db())
        .await
        .unwrap();
    assert_eq!(complaints.len(), 1, "{complaints:?}");
    assert_eq!(
        (
            complaints[0].state.as_str(),
            complaints[0].source.as_str(),
            complaints[0].feedback_id
        ),
        ("open", "rule", Some(f.id))
    );
    assert_eq!(desk.ticket(ticket.id).await.unwrap().kind, "complaint");

    // Clara writes again on the conversation: the ticket reopens.
    let our_id = desk
        .message(reply_id)
        .await
        .unwrap()
        .external_id
        .expect("the answer's Message-ID");
    send_mail(
        ms,
        &customer,
        &support,
        &format!("Re: Kaffeemühle defekt [#{number}]"),
        &format!("In-Reply-To: <{our_id}>\r\nReferences: <{first_id}> <{our_id}>\r\n"),
        "Und wo bleibt die Rechnung?",
    )
    .await;
    until("the ticket reopened", || {
        let desk = desk.clone();
        async move {
            desk.ticket(ticket.id)
                .await
                .ok()
                .filter(|t| t.status != "resolved")
        }
    })
    .await;
    assert_eq!(tickets(&desk).await.len(), 1);
    // The agent answers and resolves again: the answer arrives, no second survey.
    let (s2, again) = api
        .send(
            "POST",
            &format!("/api/v1/tickets/{}/reply", ticket.id),
            json!({"text": "Die Rechnung liegt bei.", "status": "resolved"}),
        )
        .await;
    assert_eq!(s2, 201, "{again}");
    assert_eq!(desk.ticket(ticket.id).await.unwrap().status, "resolved");
    let inbox = ms.wait_for_mail(&customer, 3, WAIT).await;
    until("the outbox empty", || {
        let store = desk.store.clone();
        async move {
            switchboard::outbox::list(&store, "pending", 0, 200)
                .await
                .unwrap()
                .is_empty()
                .then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let inbox_now = ms.mailbox(&customer).await;
    assert_eq!(inbox_now.len(), 3, "more mail than the second answer");
    assert_eq!(inbox_now, inbox);
    let last = MessageParser::default().parse(&inbox_now[2]).unwrap();
    assert!(
        last.body_text(0)
            .unwrap()
            .contains("Die Rechnung liegt bei.")
    );
    let surveys_sent = inbox_now
        .iter()
        .filter(|raw| {
            let m = MessageParser::default().parse(raw).unwrap();
            m.body_text(0)
                .is_some_and(|t| !survey_links(&t).is_empty() || t.contains("Umfrage"))
        })
        .count();
    assert_eq!(surveys_sent, 1, "a second survey for the same ticket");
    let all = entity::survey::Entity::find()
        .filter(entity::survey::Column::TicketId.eq(ticket.id))
        .all(desk.store.db())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, "answered");
    app.stop().await;
}
