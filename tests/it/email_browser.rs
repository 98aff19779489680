//! The email channel in the agent console, in real headless Chromium: a mail with a CC
//! and a PDF shows its address line and a download link for the file; the agent attaches
//! a file to the reply (an oversized one is refused inline), sends it, and the reply is
//! stored with the file; the desk's automatic answer is marked and a failed delivery
//! shows its reason.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use switchboard::channels::email::{self, mime};
use switchboard::desk::channels::NewMailAccount;
use switchboard::desk::email::Received;
use switchboard::desk::{Desk, Role};

use crate::browser::{Driver, screenshot, wait_for, wait_until};
use crate::console::{contains, sign_in, text_of};
use crate::support::{Engine, TestApp};

/// The largest mail, and so the largest upload, this test's desk takes.
const MAX_MAIL_BYTES: usize = 20_000;

/// A desk whose public URL is its own address, with a small mail size limit.
async fn desk_with_small_limit() -> TestApp {
    let port = crate::browser::free_port();
    let addr = format!("127.0.0.1:{port}");
    let public = format!("http://{addr}");
    let limit = MAX_MAIL_BYTES.to_string();
    TestApp::start_with(
        Engine::Sqlite,
        &[
            ("SWITCHBOARD_BIND", &addr),
            ("SWITCHBOARD_PUBLIC_URL", &public),
            ("SWITCHBOARD_MAX_MAIL_BYTES", &limit),
        ],
    )
    .await
}

/// A mail of the corpus, as if it was written just now (the desk acknowledges only
/// fresh mail).
fn corpus_mail(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mail")
        .join(name);
    let raw = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
    let date = raw
        .lines()
        .find(|l| l.starts_with("Date: "))
        .expect("a Date header")
        .to_owned();
    raw.replacen(
        &date,
        &format!("Date: {}", chrono::Utc::now().to_rfc2822()),
        1,
    )
}

/// The corpus's Gmail message with a PDF, copied to a colleague.
fn mail_with_pdf_and_cc() -> Vec<u8> {
    let raw = corpus_mail("gmail-mixed-alternative-pdf.eml");
    let to = "\r\nTo: support@desk.example.com\r\n";
    assert!(raw.contains(to));
    raw.replacen(
        to,
        "\r\nTo: support@desk.example.com\r\nCc: Ben Koch <Ben.Koch@example.org>\r\n",
        1,
    )
    .into_bytes()
}

/// Receives a raw mail on the desk's only mail account; the ticket it went to.
async fn receive(desk: &Desk, raw: &[u8]) -> i64 {
    let cx = email::context(desk).await.unwrap();
    let account = desk.mail_accounts().await.unwrap().remove(0);
    match email::receive(desk, mime::parse(raw, &cx), None, &account)
        .await
        .unwrap()
    {
        Received::Stored(o) => o.ticket_id,
        other => panic!("not stored: {other:?}"),
    }
}

/// Attributes of the first element matching `css`.
async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .attr(name)
        .await
        .unwrap()
}

/// True when the first element matching `css` is disabled.
async fn disabled(c: &Client, css: &str) -> bool {
    c.execute(
        "return document.querySelector(arguments[0]).disabled;",
        vec![json!(css)],
    )
    .await
    .unwrap()
        == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver"]
async fn an_agent_reads_a_mail_with_files_and_answers_with_one() {
    let app = desk_with_small_limit().await;
    app.agent("sam@example.com", Role::Agent).await;
    let desk = app.desk.clone();
    // No servers: mail comes in through `receive`, and sending fails for want of SMTP.
    desk.create_mail_account(&NewMailAccount {
        name: "Support".into(),
        address: "support@desk.example.com".into(),
        display_name: Some("Example Support".into()),
        acknowledge: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let ticket_id = receive(&desk, &mail_with_pdf_and_cc()).await;
    let detail = desk.ticket_detail(ticket_id).await.unwrap();
    let pdf = detail.messages[0]
        .attachments
        .first()
        .expect("the PDF is stored")
        .clone();
    assert_eq!(pdf.filename, "invoice-55190.pdf");

    let mut driver = Driver::start().await;
    let sam = driver.browser("en").await;
    sign_in(&sam, &app, "sam@example.com").await;
    wait_for(
        &sam,
        &format!("sb-queue .queue-item[data-ticket-id=\"{ticket_id}\"]"),
    )
    .await
    .click()
    .await
    .unwrap();

    // The mail's address line: From and Cc, only what the mail had.
    let incoming = "sb-ticket .message-in";
    wait_for(&sam, &format!("{incoming} .mail-head")).await;
    let from = text_of(&sam, &format!("{incoming} .mail-from")).await;
    assert!(
        from.contains("From") && from.contains("tomasz.nowak@example.com"),
        "{from}"
    );
    let cc = text_of(&sam, &format!("{incoming} .mail-cc")).await;
    assert!(
        cc.contains("Cc") && cc.contains("ben.koch@example.org"),
        "{cc}"
    );
    let to = text_of(&sam, &format!("{incoming} .mail-to")).await;
    assert!(to.contains("support@desk.example.com"), "{to}");
    assert!(
        sam.find(Locator::Css(&format!("{incoming} .mail-replyTo")))
            .await
            .is_err(),
        "no Reply-To line for a mail without one"
    );

    // The PDF is a download link with its name and size, and it downloads for the agent.
    let link = format!("{incoming} a.attachment-link");
    wait_for(&sam, &link).await;
    assert_eq!(
        attr(&sam, &link, "href").await.as_deref(),
        Some(format!("/api/v1/attachments/{}", pdf.id).as_str())
    );
    assert_eq!(
        attr(&sam, &link, "download").await.as_deref(),
        Some("invoice-55190.pdf")
    );
    let text = text_of(&sam, &link).await;
    assert!(
        text.starts_with(&format!("invoice-55190.pdf · {} ", pdf.size)),
        "{text}"
    );
    let fetched = sam
        .execute(
            "return fetch(arguments[0]).then(async r => [r.status, r.headers.get('content-disposition'), (await r.arrayBuffer()).byteLength]);",
            vec![json!(format!("/api/v1/attachments/{}", pdf.id))],
        )
        .await
        .unwrap();
    assert_eq!(fetched[0], 200, "{fetched}");
    assert!(
        fetched[1].as_str().unwrap().starts_with("attachment;"),
        "{fetched}"
    );
    assert_eq!(fetched[2], pdf.size);

    // An inline image whose file cannot be had (not an image, gone) and a `cid:` no
    // file has stay as they are; the Outlook mail below shows one filled in.
    let rewritten = sam
        .execute(
            "return import('/console/ticket.js').then(m => m.inlineImages(arguments[0], arguments[1]));",
            vec![
                json!("<p>Logo <img alt=\"x\" src=\"cid:image001.png@01DB4F2A\"> <img src=\"cid:other@x\"></p>"),
                json!([{"id": 999_999, "content_id": "image001.png@01DB4F2A", "content_type": "image/png", "size": 10}]),
            ],
        )
        .await
        .unwrap();
    let rewritten = rewritten.as_str().unwrap();
    assert!(
        rewritten.contains("src=\"cid:image001.png@01DB4F2A\"")
            && rewritten.contains("src=\"cid:other@x\""),
        "{rewritten}"
    );

    // The desk's acknowledgement is marked as an automatic answer; it could not be sent.
    let (script, args) = contains("sb-ticket .message-out .auto-badge", "Automatic answer");
    wait_until(&sam, "the automatic answer's label", &script, args).await;
    let (script, args) = contains("sb-ticket .message-out .delivery-error", "no SMTP server");
    wait_until(&sam, "the reason the acknowledgement failed", &script, args).await;

    // Attaching: the file input is a real one, with a label; too large a file is refused
    // inline, a good one becomes a chip, and Send waits for it.
    let files = tempfile::tempdir().unwrap();
    let good = files.path().join("Gutschrift März.pdf");
    let credit_note = b"%PDF-1.4\n% a credit note\n%%EOF\n";
    std::fs::write(&good, credit_note).unwrap();
    let big = files.path().join("photos.zip");
    std::fs::write(&big, vec![b'x'; MAX_MAIL_BYTES + 1]).unwrap();
    assert_eq!(
        text_of(&sam, "sb-ticket label.attach-label").await,
        "Attach files"
    );
    let input = "sb-ticket input[type=file]#composer-files";
    // Tab from the text reaches the file input, and its label shows the focus.
    let composer = wait_for(&sam, "sb-ticket textarea[name=reply]").await;
    composer.click().await.unwrap();
    composer.send_keys(&Key::Tab.to_string()).await.unwrap();
    let focus = sam
        .execute(
            "const l = document.querySelector('sb-ticket label.attach-label'); return [document.activeElement.id, getComputedStyle(l).outlineStyle];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focus, json!(["composer-files", "solid"]));
    sam.find(Locator::Css(input))
        .await
        .unwrap()
        .send_keys(big.to_str().unwrap())
        .await
        .unwrap();
    let (script, args) = contains(
        "sb-ticket .file-chip.is-failed",
        "Not uploaded: too large to send",
    );
    wait_until(&sam, "the oversized file's error", &script, args).await;
    sam.find(Locator::Css(
        "sb-ticket .file-chip.is-failed button.file-remove[aria-label=\"Remove photos.zip\"]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_until(
        &sam,
        "the failed chip to go",
        "return !document.querySelector('sb-ticket .file-chip');",
        vec![],
    )
    .await;

    sam.find(Locator::Css(input))
        .await
        .unwrap()
        .send_keys(good.to_str().unwrap())
        .await
        .unwrap();
    let (script, args) = contains("sb-ticket .file-chip.is-done", "Gutschrift März.pdf");
    wait_until(&sam, "the uploaded file's chip", &script, args).await;
    assert!(!disabled(&sam, "sb-ticket button.send-reply").await);
    assert_eq!(
        attr(
            &sam,
            "sb-ticket .file-chip.is-done button.file-remove",
            "aria-label"
        )
        .await
        .as_deref(),
        Some("Remove Gutschrift März.pdf")
    );
    composer
        .send_keys("Here is the corrected invoice as a credit note.")
        .await
        .unwrap();
    // A taller window, to show the whole mail above the composer.
    sam.set_window_size(1280, 1120).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sam.execute(
        "document.querySelector('sb-ticket .timeline-box').scrollTop = 0; return true;",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&sam, "email-ticket").await;

    // In German the same controls speak German.
    sam.find(Locator::Css("select#lang-header"))
        .await
        .unwrap()
        .select_by_value("de")
        .await
        .unwrap();
    let (script, args) = contains("sb-ticket label.attach-label", "Dateien anhängen");
    wait_until(&sam, "the German label", &script, args).await;
    assert!(
        text_of(&sam, &format!("{incoming} .mail-from"))
            .await
            .contains("Von")
    );
    assert!(
        text_of(&sam, "sb-ticket .message-out .auto-badge")
            .await
            .contains("Automatische Antwort")
    );
    sam.find(Locator::Css("select#lang-header"))
        .await
        .unwrap()
        .select_by_value("en")
        .await
        .unwrap();

    // Send: the reply carries the file, the chips are gone, the file shows on the reply.
    sam.find(Locator::Css("sb-ticket button.send-reply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (script, args) = contains(
        "sb-ticket .message-out .message-text",
        "Here is the corrected invoice",
    );
    wait_until(&sam, "the reply in the timeline", &script, args).await;
    wait_until(
        &sam,
        "the chips to be cleared",
        "return !document.querySelector('sb-ticket .file-chip');",
        vec![],
    )
    .await;
    let (script, args) = contains(
        "sb-ticket .message-out a.attachment-link",
        "Gutschrift März.pdf",
    );
    wait_until(&sam, "the file on the sent reply", &script, args).await;

    let detail = desk.ticket_detail(ticket_id).await.unwrap();
    let reply = detail
        .messages
        .iter()
        .find(|m| m.message.direction == "out" && m.message.text.contains("corrected invoice"))
        .expect("the reply is stored");
    assert_eq!(reply.attachments.len(), 1, "{:?}", reply.attachments);
    assert_eq!(reply.attachments[0].filename, "Gutschrift März.pdf");
    assert_eq!(reply.attachments[0].content_type, "application/pdf");
    assert_eq!(reply.attachments[0].size, credit_note.len() as i64);

    // Outlook's mail with its logo inline: the console fetches the image (the sandboxed
    // frame could not: it has an opaque origin and no session) and hands it over as
    // data.
    let outlook = receive(&desk, corpus_mail("outlook-related-cp1252.eml").as_bytes()).await;
    let detail = desk.ticket_detail(outlook).await.unwrap();
    let logo = detail.messages[0].attachments[0].clone();
    assert_eq!(
        logo.content_id.as_deref(),
        Some("image001.png@01DB4F2A.7C3E5D90")
    );
    wait_for(
        &sam,
        &format!("sb-queue .queue-item[data-ticket-id=\"{outlook}\"]"),
    )
    .await
    .click()
    .await
    .unwrap();
    // The mail came live, without its files; the console fetches them.
    wait_for(
        &sam,
        &format!(
            "sb-ticket .message-in a.attachment-link[data-attachment-id=\"{}\"]",
            logo.id
        ),
    )
    .await;
    wait_for(&sam, "sb-ticket .message-in button.toggle-html")
        .await
        .click()
        .await
        .unwrap();
    let frame = "sb-ticket .message-in iframe.message-html";
    wait_for(&sam, frame).await;
    assert_eq!(attr(&sam, frame, "sandbox").await.as_deref(), Some(""));
    let start = std::time::Instant::now();
    let srcdoc = loop {
        let srcdoc = attr(&sam, frame, "srcdoc").await.unwrap();
        if srcdoc.contains("src=\"data:image/png;base64,")
            || start.elapsed() > std::time::Duration::from_secs(10)
        {
            break srcdoc;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        srcdoc.contains("src=\"data:image/png;base64,") && !srcdoc.contains("cid:"),
        "{srcdoc}"
    );

    sam.close().await.unwrap();
    app.stop().await;
}
