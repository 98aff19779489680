//! The email channel without mail servers: the corpus of real-world-shaped messages,
//! the threading and loop rules, the raw-mail endpoint, uploads and downloads.
//! (`mail_servers.rs` runs the same channel against real Dovecot and Postfix.)

use std::path::PathBuf;

use serde_json::{Value, json};
use switchboard::channels::email::mime::{self, Context};
use switchboard::desk::channels::NewMailAccount;
use switchboard::desk::email::{Automatic, Received};
use switchboard::desk::{Actor, Desk, Role, Status};

use crate::support::{Engine, TestApp, desk};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail")
}

fn own() -> Context {
    Context {
        own_addresses: vec!["support@desk.example.com".into()],
    }
}

fn strip(id: &str) -> String {
    id.trim_start_matches('<').trim_end_matches('>').to_owned()
}

fn kind(a: &Option<Automatic>) -> &'static str {
    match a {
        None => "none",
        Some(Automatic::AutoReply) => "auto-reply",
        Some(Automatic::Bulk) => "bulk",
        Some(Automatic::List) => "list",
        Some(Automatic::Bounce { .. }) => "bounce",
        Some(Automatic::Own) => "own",
    }
}

/// Every message of the corpus reads as its manifest says.
#[test]
fn corpus_parses_as_the_manifest_says() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(corpus_dir().join("manifest.toml")).unwrap())
            .unwrap();
    let mails = manifest["mail"].as_array().unwrap();
    assert!(mails.len() >= 40);
    let mut failures = Vec::new();
    for m in mails {
        let file = m["file"].as_str().unwrap();
        let raw = std::fs::read(corpus_dir().join(file)).unwrap();
        let malformed = m.get("malformed").and_then(|v| v.as_bool()) == Some(true);
        let mut fail = |what: String| failures.push(format!("{file}: {what}"));
        let parsed = match mime::parse(&raw, &own()) {
            Ok(p) => p,
            Err(e) => {
                fail(format!("refused: {e}"));
                continue;
            }
        };
        let inbound = &parsed.inbound;
        let mail = inbound.mail.as_deref().unwrap();
        if inbound.text.trim().is_empty() && parsed.files.is_empty() {
            fail("no text and no files".into());
        }
        if let Some(from) = m.get("from").and_then(|v| v.as_str())
            && inbound.identity.value != from
        {
            fail(format!("from {:?}", inbound.identity.value));
        }
        if !malformed {
            if let Some(name) = m.get("name").and_then(|v| v.as_str())
                && inbound.name.as_deref() != Some(name)
            {
                fail(format!("name {:?}", inbound.name));
            }
            if let Some(subject) = m.get("subject").and_then(|v| v.as_str()) {
                // The ticket's subject drops "Re:"-style prefixes.
                let got = inbound.subject.as_deref().unwrap_or("");
                if !subject.ends_with(got) || got.is_empty() {
                    fail(format!("subject {got:?}, expected {subject:?}"));
                }
            }
        }
        for s in m
            .get("text_contains")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let s = s.as_str().unwrap();
            if !inbound.text.contains(s) {
                fail(format!(
                    "text lacks {s:?}: {:?}",
                    &inbound.text.chars().take(300).collect::<String>()
                ));
            }
        }
        for s in m
            .get("text_excludes")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if inbound.text.contains(s.as_str().unwrap()) {
                fail(format!("text has {s}"));
            }
        }
        if let Some(n) = m.get("attachments").and_then(|v| v.as_integer())
            && !malformed
            && parsed.files.len() as i64 != n
        {
            let names: Vec<_> = parsed
                .files
                .iter()
                .map(|f| (&f.filename, &f.content_type))
                .collect();
            fail(format!(
                "{} attachments {names:?}, expected {n}",
                parsed.files.len()
            ));
        }
        for (i, name) in m
            .get("attachment_names")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            let got = parsed.files.get(i).map(|f| f.filename.as_str());
            if got != name.as_str() {
                fail(format!("attachment {i} named {got:?}, expected {name}"));
            }
        }
        match m.get("message_id").and_then(|v| v.as_str()) {
            Some(id) if inbound.external_id != strip(id) => {
                fail(format!("message id {:?}", inbound.external_id))
            }
            None if !inbound
                .external_id
                .ends_with("@synthetic.switchboard.invalid") =>
            {
                fail(format!(
                    "expected a synthetic id, got {:?}",
                    inbound.external_id
                ))
            }
            _ => {}
        }
        let thread: Vec<String> = match &inbound.thread {
            Some(switchboard::desk::ThreadRef::Messages(ids)) => ids.clone(),
            _ => vec![],
        };
        if let Some(parent) = m.get("in_reply_to").and_then(|v| v.as_str())
            && thread.first() != Some(&strip(parent))
        {
            fail(format!("thread starts {:?}", thread.first()));
        }
        for r in m
            .get("references")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if !thread.contains(&strip(r.as_str().unwrap())) {
                fail(format!("thread lacks {r}"));
            }
        }
        for c in m.get("cc").and_then(|v| v.as_array()).into_iter().flatten() {
            if !mail.addresses.cc.iter().any(|x| x == c.as_str().unwrap()) {
                fail(format!("cc lacks {c}"));
            }
        }
        // A Reply-To that names the sender again is no news and is not kept.
        if let Some(r) = m.get("reply_to").and_then(|v| v.as_str())
            && mail.addresses.reply_to.as_deref() != Some(r)
            && !(mail.addresses.reply_to.is_none() && mail.addresses.from == r)
        {
            fail(format!("reply-to {:?}", mail.addresses.reply_to));
        }
        if let Some(tag) = m.get("ticket_tag").and_then(|v| v.as_integer())
            && inbound.tag != Some(tag)
        {
            fail(format!("tag {:?}", inbound.tag));
        }
        let expected = m["automatic"].as_str().unwrap();
        if kind(&mail.automatic) != expected {
            fail(format!(
                "automatic {:?}, expected {expected}",
                mail.automatic
            ));
        }
        if let Some(of) = m.get("bounce_of").and_then(|v| v.as_str()) {
            match &mail.automatic {
                Some(Automatic::Bounce { of: ids, reason }) => {
                    if !ids.contains(&strip(of)) {
                        fail(format!("bounce names {ids:?}"));
                    }
                    if !reason.contains("5.1.1") && !reason.contains("unknown") {
                        fail(format!("bounce reason {reason:?}"));
                    }
                }
                other => fail(format!("not a bounce: {other:?}")),
            }
        }
        if let Some(f) = m.get("forwarded_from").and_then(|v| v.as_str())
            && mail.forwarded.as_ref().map(|f| f.email.as_str()) != Some(f)
        {
            fail(format!("forwarded {:?}", mail.forwarded));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Garbage, truncations and random bytes never panic the parser.
#[test]
fn hostile_bytes_never_panic() {
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        b"\r\n\r\n".to_vec(),
        b"From:\r\n\r\n".to_vec(),
        b"From: <>\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n".to_vec(),
        vec![0xff; 4096],
    ];
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        for cut in [
            1,
            7,
            raw.len() / 3,
            raw.len() / 2,
            raw.len().saturating_sub(5),
        ] {
            inputs.push(raw[..cut.min(raw.len())].to_vec());
        }
    }
    for raw in inputs {
        let _ = mime::parse(&raw, &own());
        let _ = mime::parse_header(&raw, 1 << 30, &own());
    }
}

/// A mail as a client writes it, with the threading headers given.
fn mail(from: &str, id: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@desk.example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: {}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes()
}

async fn account(desk: &Desk, acknowledge: bool) -> i64 {
    desk.create_mail_account(&NewMailAccount {
        name: "Support".into(),
        address: "support@desk.example.com".into(),
        display_name: Some("Example Support".into()),
        acknowledge,
        ..Default::default()
    })
    .await
    .unwrap()
    .channel
    .id
}

async fn receive(desk: &Desk, raw: &[u8]) -> Received {
    let cx = switchboard::channels::email::context(desk).await.unwrap();
    let account = desk.mail_accounts().await.unwrap().remove(0);
    switchboard::channels::email::receive(desk, mime::parse(raw, &cx), None, &account)
        .await
        .unwrap()
}

fn stored(r: Received) -> switchboard::desk::IngestOutcome {
    match r {
        Received::Stored(o) => o,
        other => panic!("not stored: {other:?}"),
    }
}

crate::on_both! {
    /// References first, then a tag only from someone who belongs to the ticket, and
    /// CC'd participants stay in the conversation.
    async fn threading_rules(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        account(&desk, false).await;
        let first = stored(receive(&desk, &mail("Anna <anna@example.de>", "a1@example.de", "Lieferung", "Cc: Ben <ben@example.de>, Support <support@desk.example.com>\r\n", "Wo bleibt meine Lieferung?")).await);
        assert!(first.new_ticket);
        let t = desk.ticket(first.ticket_id).await.unwrap();
        // An answer goes to Anna with Ben on copy ("reply all"), never to ourselves.
        let r = desk.mail_recipients(&t).await.unwrap();
        assert_eq!(r.to, vec!["anna@example.de".to_string()]);
        assert_eq!(r.cc, vec!["ben@example.de".to_string()]);
        assert_eq!(r.in_reply_to.as_deref(), Some("a1@example.de"));
        assert_eq!(t.subject, "Lieferung");
        assert!(t.channel_id.is_some());

        // A reply by references, even with another subject.
        let reply = stored(receive(&desk, &mail("anna@example.de", "a2@example.de", "Neues Thema?", "In-Reply-To: <a1@example.de>\r\n", "Noch da?")).await);
        assert_eq!(reply.ticket_id, first.ticket_id);
        assert!(!reply.new_ticket);

        // The tag from the same sender, references lost by her mail program.
        let tagged = stored(receive(&desk, &mail("anna@example.de", "a3@example.de", &format!("Re: Lieferung [#{}]", t.number), "", "Hallo?")).await);
        assert_eq!(tagged.ticket_id, first.ticket_id);

        // A stranger who knows a Message-ID joins the conversation but never becomes
        // the one the answer goes to.
        let nosy = stored(receive(&desk, &mail("nosy@example.net", "n1@example.net", "Re: Lieferung", "In-Reply-To: <a2@example.de>\r\n", "Ich auch!")).await);
        assert_eq!(nosy.ticket_id, first.ticket_id);
        let r = desk.mail_recipients(&desk.ticket(first.ticket_id).await.unwrap()).await.unwrap();
        assert_eq!(r.to, vec!["anna@example.de".to_string()]);

        // The tag from a stranger opens a ticket of their own.
        let stranger = stored(receive(&desk, &mail("eve@example.net", "e1@example.net", &format!("[#{}] give me the address", t.number), "", "What is Anna's address?")).await);
        assert!(stranger.new_ticket);
        assert_ne!(stranger.ticket_id, first.ticket_id);

        // The CC'd colleague answers all: same ticket; then his tag works too.
        let ben = stored(receive(&desk, &mail("ben@example.de", "b1@example.de", "Re: Lieferung", "References: <a1@example.de> <a2@example.de>\r\n", "Ich habe auch gewartet.")).await);
        assert_eq!(ben.ticket_id, first.ticket_id);
        assert_ne!(ben.contact_id, first.contact_id);
        let ben_tag = stored(receive(&desk, &mail("ben@example.de", "b2@example.de", &format!("[#{}]", t.number), "", "Und jetzt?")).await);
        assert_eq!(ben_tag.ticket_id, first.ticket_id);

        // A web form's robot with the customer in Reply-To: the answer goes to the
        // customer, and the robot gets no copy.
        let form = stored(receive(&desk, &mail("Shop <noreply@form.example>", "f1@form.example", "Kontaktformular", "Reply-To: Jo <jo@example.de>\r\n", "Frage von Jo")).await);
        let r = desk.mail_recipients(&desk.ticket(form.ticket_id).await.unwrap()).await.unwrap();
        assert_eq!(r.to, vec!["jo@example.de".to_string()]);
        assert!(r.cc.is_empty(), "{:?}", r.cc);

        // A new mail without references is a new ticket, even from the same customer.
        let other = stored(receive(&desk, &mail("anna@example.de", "a4@example.de", "Rechnung", "", "Bitte Rechnung schicken")).await);
        assert!(other.new_ticket);

        // A replay is a no-op that names the stored message.
        let again = stored(receive(&desk, &mail("anna@example.de", "a4@example.de", "Rechnung", "", "Bitte Rechnung schicken")).await);
        assert!(!again.created);
        assert_eq!(again.message_id, other.message_id);

        // A reply to a resolved ticket reopens it.
        desk.update_ticket(first.ticket_id, Actor::System, &switchboard::desk::tickets::TicketUpdate { status: Some(Status::Resolved), ..Default::default() }).await.unwrap();
        let late = stored(receive(&desk, &mail("anna@example.de", "a5@example.de", "Re: Lieferung", "In-Reply-To: <a2@example.de>\r\n", "Doch nicht angekommen")).await);
        assert_eq!(late.ticket_id, first.ticket_id);
        assert_eq!(desk.ticket(first.ticket_id).await.unwrap().status, "open");

        // Later the reply answers her latest mail, which Ben was not on.
        let t = desk.ticket(first.ticket_id).await.unwrap();
        let r = desk.mail_recipients(&t).await.unwrap();
        assert_eq!(r.to, vec!["anna@example.de".to_string()]);
        assert!(r.cc.is_empty());
        assert_eq!(r.in_reply_to.as_deref(), Some("a5@example.de"));
        assert_eq!(r.references.first().map(String::as_str), Some("a1@example.de"));
        assert!(!r.cc.iter().chain(&r.to).any(|a| a == "support@desk.example.com"));
    }
}

crate::on_both! {
    /// An agent forwarding a customer's mail opens the customer's ticket; anyone else
    /// forwarding is the customer themselves.
    async fn forwards(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        account(&desk, false).await;
        desk.create_agent(switchboard::desk::agents::NewAgent {
            email: "agent.mia@shop.example.com".into(),
            name: "Mia".into(),
            role: Role::Agent,
            password: None,
        })
        .await
        .unwrap();
        for (file, customer) in [
            ("forward-inline-gmail.eml", "jonas.berger@example.net"),
            ("forward-attached-rfc822.eml", "lea.wolf@example.org"),
        ] {
            let raw = std::fs::read(corpus_dir().join(file)).unwrap();
            let o = stored(receive(&desk, &raw).await);
            assert!(o.new_ticket, "{file}");
            let contact = desk.contact_detail(o.contact_id).await.unwrap();
            assert!(
                contact.identities.iter().any(|i| i.value == customer),
                "{file}: ticket for {contact:?}"
            );
            let t = desk.ticket(o.ticket_id).await.unwrap();
            let r = desk.mail_recipients(&t).await.unwrap();
            assert_eq!(r.to, vec![customer.to_string()], "{file}: the reply goes to the customer");
        }
        // The same forward from someone who is no agent stays theirs.
        let raw = String::from_utf8(std::fs::read(corpus_dir().join("forward-inline-gmail.eml")).unwrap())
            .unwrap()
            .replace("agent.mia@shop.example.com", "friend@example.com")
            .replacen("Message-ID: <", "Message-ID: <x", 1);
        let o = stored(receive(&desk, raw.as_bytes()).await);
        let contact = desk.contact_detail(o.contact_id).await.unwrap();
        assert!(contact.identities.iter().any(|i| i.value == "friend@example.com"));
    }
}

crate::on_both! {
    /// Auto-replies, list mail, bounces and our own mail never open tickets; an
    /// out-of-office answer joins its conversation without waking it up; a bounce
    /// marks our mail failed.
    async fn loop_protection(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        account(&desk, true).await;
        for file in [
            "auto-reply-auto-submitted.eml",
            "auto-reply-precedence-bulk.eml",
            "auto-reply-x-autoreply.eml",
            "auto-reply-x-autorespond.eml",
            "auto-reply-exchange-oof.eml",
            "mailing-list.eml",
            "own-message-id-looped.eml",
            "x-loop-own-address.eml",
            "bounce-dsn.eml",
        ] {
            let raw = std::fs::read(corpus_dir().join(file)).unwrap();
            match receive(&desk, &raw).await {
                Received::Ignored { reason } => assert!(!reason.is_empty()),
                other => panic!("{file}: {other:?}"),
            }
        }
        // Mail from our own support address (a copy an agent sent from the shared mailbox).
        let from_us = mail("Support <support@desk.example.com>", "own1@mua.example", "An Kunden", "", "Hallo");
        assert!(matches!(receive(&desk, &from_us).await, Received::Ignored { .. }));
        let tickets = desk.list_tickets(&Default::default(), None, 50).await.unwrap().items;
        assert!(tickets.is_empty(), "automatic mail opened {tickets:?}");

        // A real conversation, acknowledged once; then the customer's out-of-office.
        let o = stored(receive(&desk, &mail("kim@example.de", "k1@example.de", "Frage", "", "Eine Frage")).await);
        let view = desk.ticket_detail(o.ticket_id).await.unwrap();
        let ack = view.messages.iter().find(|m| m.message.direction == "out").expect("an acknowledgement");
        assert!(ack.message.text.contains(&format!("[#{}]", view.ticket.number)));
        assert_eq!(ack.message.author_agent_id, None);
        desk.stamp_message_id(ack.message.id, "sb.ack1@desk.example.com").await.unwrap();
        desk.update_ticket(o.ticket_id, Actor::System, &switchboard::desk::tickets::TicketUpdate { status: Some(Status::Resolved), ..Default::default() }).await.unwrap();
        let ooo = stored(receive(&desk, &mail("abwesend@example.de", "k2@example.de", "Abwesenheitsnotiz", "Auto-Submitted: auto-replied\r\nIn-Reply-To: <sb.ack1@desk.example.com>\r\n", "Ich bin nicht im Büro.")).await);
        assert_eq!(ooo.ticket_id, o.ticket_id);
        let view = desk.ticket_detail(o.ticket_id).await.unwrap();
        assert_eq!(view.ticket.status, "resolved", "an auto-reply does not reopen");
        let r = desk.mail_recipients(&view.ticket).await.unwrap();
        assert_eq!(r.to, vec!["kim@example.de".to_string()], "an answer never goes to an auto-responder");
        assert_eq!(view.messages.iter().filter(|m| m.message.direction == "out").count(), 1, "no answer to an auto-reply");

        // A bounce of that acknowledgement marks it failed with the server's reason.
        let dsn = String::from_utf8(std::fs::read(corpus_dir().join("bounce-dsn.eml")).unwrap())
            .unwrap()
            .replace("sb.out.4711@desk.example.com", "sb.ack1@desk.example.com")
            // A NUL in the reason (PostgreSQL refuses it) must not stop the mailbox.
            .replacen("5.1.1", "5.1.1\u{0}", 2)
            .replacen("Message-Id: <", "Message-Id: <y", 1);
        match receive(&desk, dsn.as_bytes()).await {
            Received::Bounced { message_id } => {
                let m = desk.message(message_id).await.unwrap();
                assert_eq!(m.delivery_status, "failed");
                assert!(m.delivery_error.unwrap().contains("5.1.1"));
            }
            other => panic!("{other:?}"),
        }
    }
}

crate::on_both! {
    /// Automatic answers are limited per customer: a responder that writes back without
    /// any loop header gets three acknowledgements an hour, not one per mail.
    async fn automatic_answers_are_rate_limited(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        account(&desk, true).await;
        let mut tickets = Vec::new();
        for i in 0..6 {
            let o = stored(receive(&desk, &mail("robot@example.net", &format!("r{i}@example.net"), &format!("Ticket {i}"), "", "Beep")).await);
            assert!(o.new_ticket);
            tickets.push(o.ticket_id);
        }
        let mut acks = 0;
        for t in tickets {
            acks += desk.ticket_detail(t).await.unwrap().messages.iter().filter(|m| m.message.direction == "out").count();
        }
        assert_eq!(acks, 3);
    }
}

crate::on_both! {
    /// The checkpoint is written with the message it covers; a replay moves it on.
    async fn checkpoint_moves_with_the_messages(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let channel_id = account(&desk, false).await;
        let account = desk.mail_account(channel_id).await.unwrap();
        let cx = switchboard::channels::email::context(&desk).await.unwrap();
        let cp = |uid| switchboard::desk::email::Checkpoint { channel_id, folder: "INBOX".into(), uid_validity: 7, uid };
        let raw = mail("a@example.de", "c1@example.de", "One", "", "1");
        switchboard::channels::email::receive(&desk, mime::parse(&raw, &cx), Some(cp(3)), &account).await.unwrap();
        assert_eq!(desk.checkpoint(channel_id).await.unwrap().unwrap().last_uid, 3);
        // The same mail again under a new UID (after a UIDVALIDITY change).
        let r = switchboard::channels::email::receive(&desk, mime::parse(&raw, &cx), Some(cp(9)), &account).await.unwrap();
        assert!(matches!(r, Received::Stored(ref o) if !o.created));
        assert_eq!(desk.checkpoint(channel_id).await.unwrap().unwrap().last_uid, 9);
        // Automatic mail that is not stored moves it too.
        let auto = mail("b@example.de", "c2@example.de", "Out of office", "Auto-Submitted: auto-replied\r\n", "away");
        let r = switchboard::channels::email::receive(&desk, mime::parse(&auto, &cx), Some(cp(10)), &account).await.unwrap();
        assert!(matches!(r, Received::Ignored { .. }));
        assert_eq!(desk.checkpoint(channel_id).await.unwrap().unwrap().last_uid, 10);
    }
}

async fn raw_post(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    crate::support::reply(req.send().await.unwrap()).await
}

/// `POST /api/v1/inbound/email`: the MTA pipe, with every way it can go wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_mail_endpoint() {
    let app = TestApp::start_with(Engine::Sqlite, &[("SWITCHBOARD_MAX_MAIL_BYTES", "20000")]).await;
    let (_, token) = app.desk.create_token("mta", Role::Agent).await.unwrap();
    let path = "/api/v1/inbound/email";
    let raw = mail(
        "Nina <nina@example.de>",
        "n1@example.de",
        "Hallo",
        "",
        "Eine Frage zur Bestellung",
    );

    // No account yet: a clear conflict, nothing stored.
    let (s, b) = raw_post(&app, Some(&token), path, "message/rfc822", raw.clone()).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("no_mail_account")));
    account(&app.desk, false).await;

    assert_eq!(
        raw_post(&app, None, path, "message/rfc822", raw.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        raw_post(&app, Some(&token), path, "text/plain", raw.clone())
            .await
            .0,
        415
    );
    let (s, b) = raw_post(&app, Some(&token), path, "message/rfc822", raw.clone()).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["outcome"], "stored");
    let ticket_id = b["ticket_id"].as_i64().unwrap();
    let (s, b) = raw_post(&app, Some(&token), path, "message/rfc822", raw.clone()).await;
    assert_eq!((s, b["created"].as_bool()), (200, Some(false)));

    let (s, b) = raw_post(
        &app,
        Some(&token),
        path,
        "message/rfc822",
        b"Subject: no sender\r\n\r\nhi".to_vec(),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("sender"));
    let (s, _) = raw_post(&app, Some(&token), path, "message/rfc822", b"".to_vec()).await;
    assert_eq!(s, 422);
    let (s, b) = raw_post(
        &app,
        Some(&token),
        path,
        "message/rfc822",
        std::fs::read(corpus_dir().join("auto-reply-auto-submitted.eml")).unwrap(),
    )
    .await;
    assert_eq!((s, b["outcome"].as_str()), (202, Some("ignored")));

    // Over the limit: the header is read, a note records it, the sender is told.
    let big = mail(
        "Olaf <olaf@example.de>",
        "big1@example.de",
        "Fotos",
        "",
        &"x".repeat(50_000),
    );
    let (s, b) = raw_post(&app, Some(&token), path, "message/rfc822", big).await;
    assert_eq!(s, 201, "{b}");
    let view = app
        .desk
        .ticket_detail(b["ticket_id"].as_i64().unwrap())
        .await
        .unwrap();
    let note = view
        .messages
        .iter()
        .find(|m| m.message.direction == "note")
        .expect("a note");
    assert!(
        note.message.text.contains("olaf@example.de"),
        "{}",
        note.message.text
    );
    assert!(!note.message.text.contains("xxxx"));
    let notice = view
        .messages
        .iter()
        .find(|m| m.message.direction == "out")
        .expect("a notice to the sender");
    assert!(notice.message.text.contains("larger than"));

    // Hostile HTML is stored sanitized; the text survives.
    let (s, b) = raw_post(
        &app,
        Some(&token),
        path,
        "message/rfc822",
        std::fs::read(corpus_dir().join("html-only-hostile.eml")).unwrap(),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let view = app
        .desk
        .ticket_detail(b["ticket_id"].as_i64().unwrap())
        .await
        .unwrap();
    let m = &view.messages[0].message;
    assert!(m.text.contains("Please refund order 10045"));
    let html = m.html.clone().unwrap().to_lowercase();
    for bad in [
        "<script",
        "onerror",
        "javascript:",
        "<iframe",
        "expression(",
    ] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }

    // Attachments: stored once, downloadable by agents only, always as a download.
    let (s, b) = raw_post(
        &app,
        Some(&token),
        path,
        "message/rfc822",
        std::fs::read(corpus_dir().join("gmail-mixed-alternative-pdf.eml")).unwrap(),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let view = app
        .desk
        .ticket_detail(b["ticket_id"].as_i64().unwrap())
        .await
        .unwrap();
    let a = view.messages[0]
        .attachments
        .first()
        .expect("the pdf")
        .clone();
    assert_eq!(a.content_type, "application/pdf");
    let res = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/attachments/{}", a.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, a.size);
    assert!(bytes.starts_with(b"%PDF"));
    let res = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/attachments/{}", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/attachments/999999"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let _ = ticket_id;
    app.stop().await;
}

/// Uploads become a reply's attachments; a reply cannot name a file never uploaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_with_uploaded_files() {
    let app = TestApp::start(Engine::Sqlite).await;
    let (_, token) = app.desk.create_token("console", Role::Agent).await.unwrap();
    let api = crate::support::Api::new(&app.base, &token);
    account(&app.desk, false).await;
    let (_, b) = raw_post(
        &app,
        Some(&token),
        "/api/v1/inbound/email",
        "message/rfc822",
        mail(
            "p@example.de",
            "p1@example.de",
            "Rechnung",
            "",
            "Bitte die Rechnung",
        ),
    )
    .await;
    let ticket_id = b["ticket_id"].as_i64().unwrap();
    let (s, up) = raw_post(
        &app,
        Some(&token),
        "/api/v1/uploads?filename=Rechnung%20M%C3%A4rz.pdf",
        "application/pdf",
        b"%PDF-1.4 test".to_vec(),
    )
    .await;
    assert_eq!(s, 201, "{up}");
    assert_eq!(up["filename"], "Rechnung März.pdf");
    assert_eq!(
        raw_post(
            &app,
            Some(&token),
            "/api/v1/uploads?filename=..%2Fetc",
            "text/plain",
            b"x".to_vec()
        )
        .await
        .0,
        422
    );
    assert_eq!(
        raw_post(
            &app,
            Some(&token),
            "/api/v1/uploads?filename=a.txt",
            "text/plain",
            vec![]
        )
        .await
        .0,
        422
    );
    let (s, b) = api.send("POST", &format!("/api/v1/tickets/{ticket_id}/reply"), json!({
        "text": "Anbei die Rechnung",
        "attachments": [{"sha256": up["sha256"], "filename": "Rechnung März.pdf", "content_type": "application/pdf"}],
    })).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = api.send("POST", &format!("/api/v1/tickets/{ticket_id}/reply"), json!({
        "text": "x",
        "attachments": [{"sha256": "0".repeat(64), "filename": "a.pdf", "content_type": "application/pdf"}],
    })).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("attachments.sha256")));
    // Files go out by mail only.
    let chat = app
        .desk
        .ingest(&switchboard::desk::Inbound::text(
            switchboard::desk::Channel::Chat,
            "v:1",
            switchboard::desk::identity::IdentityClaim::new(
                switchboard::desk::IdentityKind::Email,
                "c@example.de",
            ),
            "hi",
        ))
        .await
        .unwrap();
    let (s, b) = api.send("POST", &format!("/api/v1/tickets/{}/reply", chat.ticket_id), json!({
        "text": "x",
        "attachments": [{"sha256": up["sha256"], "filename": "a.pdf", "content_type": "application/pdf"}],
    })).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("attachments")));
    let view = app.desk.ticket_detail(ticket_id).await.unwrap();
    let out = view
        .messages
        .iter()
        .find(|m| m.message.direction == "out")
        .unwrap();
    assert_eq!(out.attachments.len(), 1);
    assert_eq!(out.attachments[0].size, 13);
    app.stop().await;
}

/// Mail accounts through the admin API: passwords go in and never come out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_accounts_api() {
    let app = TestApp::start(Engine::Sqlite).await;
    let admin = app.token(Role::Admin).await;
    let agent = app.token(Role::Agent).await;
    let body = json!({
        "kind": "email", "name": "Support", "address": "Support@Shop.Example",
        "imap": {"host": "imap.shop.example", "port": 993, "user": "support", "password": "imap-secret"},
        "smtp": {"host": "smtp.shop.example", "port": 587, "security": "starttls", "user": "support", "password": "smtp-secret"},
        "acknowledge": true,
    });
    assert_eq!(
        agent.send("POST", "/api/v1/channels", body.clone()).await.0,
        403
    );
    let (s, b) = admin.send("POST", "/api/v1/channels", body.clone()).await;
    assert_eq!(s, 201, "{b}");
    let text = b.to_string();
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(b["settings"]["address"], "support@shop.example");
    assert_eq!(b["settings"]["imap"]["security"], "tls");
    let id = b["id"].as_i64().unwrap();
    assert_eq!(
        admin.send("POST", "/api/v1/channels", body.clone()).await.0,
        409
    );
    let (s, b) = admin.send("POST", "/api/v1/channels", json!({"kind": "email", "name": "x", "address": "x@y.z", "smtp": {"host": "", "port": 25}})).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("smtp.host")));
    let (s, b) = admin.send("POST", "/api/v1/channels", json!({"kind": "email", "name": "x", "address": "x@y.z", "imap": {"host": "h", "port": 993, "tls_ca": "not a certificate"}})).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("imap.tls_ca")));
    // A password never follows a changed server; an unchanged one keeps it.
    let (s, b) = admin
        .send(
            "PATCH",
            &format!("/api/v1/channels/{id}"),
            json!({"imap": {"host": "imap2.shop.example", "port": 993, "user": "support"}}),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (422, Some("imap.password")),
        "{b}"
    );
    let (s, b) = admin.send("PATCH", &format!("/api/v1/channels/{id}"), json!({"imap": {"host": "imap.shop.example", "port": 993, "user": "support", "folder": "Support"}})).await;
    assert_eq!(s, 200, "{b}");
    let account = app.desk.mail_account(id).await.unwrap();
    assert_eq!(
        account.secrets().imap_password.as_deref(),
        Some("imap-secret")
    );
    assert_eq!(
        account.secrets().smtp_password.as_deref(),
        Some("smtp-secret")
    );
    assert_eq!(
        admin
            .send("POST", &format!("/api/v1/channels/{id}/secret"), json!({}))
            .await
            .0,
        422
    );
    let (_, list) = admin.get("/api/v1/channels").await;
    assert!(!list.to_string().contains("secret"));
    // Widgets are still created without a kind.
    let (s, _) = admin
        .send(
            "POST",
            "/api/v1/channels",
            json!({"name": "Shop", "origins": ["https://shop.example"]}),
        )
        .await;
    assert_eq!(s, 201);
    app.stop().await;
}

crate::on_both! {
    /// Every message of the corpus goes through the desk: people's mail is stored with
    /// its words and files, automatic mail is not, and nothing fails.
    async fn the_whole_corpus_is_stored(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        account(&desk, true).await;
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(corpus_dir().join("manifest.toml")).unwrap()).unwrap();
        for m in manifest["mail"].as_array().unwrap() {
            let file = m["file"].as_str().unwrap();
            let raw = std::fs::read(corpus_dir().join(file)).unwrap();
            let automatic = m["automatic"].as_str().unwrap() != "none";
            match receive(&desk, &raw).await {
                Received::Stored(o) => {
                    let view = desk.ticket_detail(o.ticket_id).await.unwrap();
                    let stored = view.messages.iter().find(|v| v.message.id == o.message_id).unwrap();
                    assert!(!stored.message.text.trim().is_empty() || !stored.attachments.is_empty(), "{file}: nothing kept");
                    for s in m.get("text_contains").and_then(|v| v.as_array()).into_iter().flatten() {
                        assert!(stored.message.text.contains(s.as_str().unwrap()), "{file}: lost {s}");
                    }
                    if let Some(n) = m.get("attachments").and_then(|v| v.as_integer())
                        && m.get("malformed").is_none()
                    {
                        assert_eq!(stored.attachments.len() as i64, n, "{file}");
                        for a in &stored.attachments {
                            assert_eq!(desk.blobs.get(&a.sha256).await.unwrap().map(|b| b.len() as i64), Some(a.size), "{file}");
                        }
                    }
                    if let Some(html) = &stored.message.html {
                        let html = html.to_lowercase();
                        for bad in ["<script", "onerror", "javascript:", "<iframe"] {
                            assert!(!html.contains(bad), "{file}: {bad}");
                        }
                    }
                    // Automatic mail is stored only on a conversation it answers.
                    assert!(!automatic || !o.new_ticket, "{file}: automatic mail opened a ticket");
                }
                Received::Ignored { .. } | Received::Bounced { .. } => {
                    assert!(automatic, "{file}: a person's mail was not stored");
                }
            }
        }
    }
}

/// A mail with more files than are kept says so in its text.
#[test]
fn files_beyond_the_limit_are_counted_not_dropped_silently() {
    let mut raw = String::from(
        "From: a@example.de\r\nSubject: many\r\nMessage-ID: <many@example.de>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the files.\r\n",
    );
    for i in 0..105 {
        raw.push_str(&format!("--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f{i}.bin\"\r\n\r\nx{i}\r\n"));
    }
    raw.push_str("--b--\r\n");
    let parsed = mime::parse(raw.as_bytes(), &own()).unwrap();
    assert_eq!(parsed.files.len(), 100);
    assert!(
        parsed
            .inbound
            .text
            .contains("[5 more attachments were not stored"),
        "{}",
        parsed.inbound.text
    );
}
