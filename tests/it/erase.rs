//! Erasing a contact (the right to erasure) on both engines: every row of the contact
//! and the contacts merged into it goes in one transaction, other customers' data stays,
//! the search index hears of it through the outbox, unshared attachment bytes are
//! deleted; over HTTP for admins only and from the CLI. Also: every change to what a
//! contact's search document holds queues an index row for the contact.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use switchboard::desk::calls::{CallDirection, CallEvent, CtiEvent, Pbx};
use switchboard::desk::channels::NewWidget;
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::orders::{CustomerInput, ItemInput, OrderInput};
use switchboard::desk::tickets::ReplyInput;
use switchboard::desk::{Actor, Channel, Desk, Error, Inbound, NewAttachment, Role, ThreadRef};
use switchboard::store::Store;

use crate::on_both;
use crate::support::{Engine, TestApp, desk};

fn email(external_id: &str, from: &str, subject: &str, text: &str) -> Inbound {
    let mut i = Inbound::text(
        Channel::Email,
        external_id,
        IdentityClaim::new(IdentityKind::Email, from),
        text,
    );
    i.subject = Some(subject.into());
    i
}

/// A file that came with a message, its bytes stored.
async fn file(desk: &Desk, name: &str, bytes: &[u8]) -> NewAttachment {
    let sha256 = desk.blobs.put(bytes.to_vec()).await.unwrap();
    NewAttachment {
        filename: name.into(),
        content_type: "application/octet-stream".into(),
        size: bytes.len() as i64,
        sha256,
        content_id: None,
    }
}

fn order(external_id: &str, email: &str, phone: Option<&str>) -> OrderInput {
    let placed = chrono::Utc::now() - chrono::Duration::days(3);
    OrderInput {
        source: "shop".into(),
        external_id: external_id.into(),
        number: Some(format!("#{external_id}")),
        status: "paid".into(),
        currency: "EUR".into(),
        total: json!("49.90"),
        refunded: None,
        placed_at: placed,
        updated_at: Some(placed),
        customer: CustomerInput {
            email: Some(email.into()),
            phone: phone.map(Into::into),
            ..Default::default()
        },
        items: vec![ItemInput {
            sku: Some("GR-12".into()),
            name: "Grinder".into(),
            quantity: 1,
            unit_price: json!("49.90"),
        }],
    }
}

fn reply(text: &str) -> ReplyInput {
    ReplyInput {
        text: text.into(),
        html: None,
        status: None,
        attachments: vec![],
    }
}

/// One PBX event about call `id` from `from`.
async fn call(desk: &Desk, pbx: &Pbx, event: CallEvent, id: &str, from: &str) {
    let e = CtiEvent {
        event: Some(event),
        call_id: id.into(),
        from: from.into(),
        to: "+49301111111".into(),
        direction: Some(CallDirection::In),
        user: vec![],
        ..Default::default()
    };
    desk.call_event(pbx, &e).await.unwrap();
}

/// The rows of `E` whose `column` is one of `values`.
async fn rows<E>(store: &Store, column: E::Column, values: &[i64]) -> Vec<E::Model>
where
    E: EntityTrait,
{
    E::find()
        .filter(column.is_in(values.iter().copied()))
        .all(store.db())
        .await
        .unwrap()
}

/// Payloads of the outbox rows of `kind`, after the row `after`.
async fn outbox(store: &Store, kind: &str, after: i64) -> Vec<Value> {
    entity::outbox::Entity::find()
        .filter(entity::outbox::Column::Kind.eq(kind))
        .filter(entity::outbox::Column::Id.gt(after))
        .all(store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.payload)
        .collect()
}

async fn last_outbox_id(store: &Store) -> i64 {
    entity::outbox::Entity::find()
        .all(store.db())
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .max()
        .unwrap_or(0)
}

on_both! {
    async fn erasing_a_contact_removes_everything_of_it_and_its_merged_contacts(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let store = &ts.store;
        let (site, _) = desk.create_widget(&NewWidget { name: "Shop".into(), origins: vec!["https://shop.example".into()], greeting: None }).await.unwrap();
        let pbx = desk.create_pbx("PBX", &[], BTreeMap::new(), BTreeMap::new()).await.unwrap();
        let shared = b"the shop's logo, in everyone's mail";

        // Otto: another customer, whose data must stay.
        let mut o_mail = email("<o1@x>", "otto@example.com", "Invoice", "Where is my invoice?");
        o_mail.attachments = vec![file(&desk, "logo.png", shared).await];
        let otto = desk.ingest(&o_mail).await.unwrap();
        let otto_later = desk.ingest(&email("<o2@x>", "otto@example.com", "Again", "Still no invoice")).await.unwrap();
        desk.upsert_orders(vec![order("9001", "otto@example.com", Some("+49 30 9999999"))]).await.unwrap();
        call(&desk, &pbx, CallEvent::NewCall, "otto-1", "+49309999999").await;
        call(&desk, &pbx, CallEvent::Hangup, "otto-1", "+49309999999").await;

        // Anna: a call before she was known by her number, mail with files, a reply
        // waiting to be sent, a chat as an anonymous visitor merged into her, an order
        // that brings her number, a missed call with its call-back ticket, and a reply
        // on Otto's thread she was copied on.
        call(&desk, &pbx, CallEvent::NewCall, "anna-0", "+49 30 1234567").await;
        call(&desk, &pbx, CallEvent::Answer, "anna-0", "+49 30 1234567").await;
        call(&desk, &pbx, CallEvent::Hangup, "anna-0", "+49 30 1234567").await;
        let mut a_mail = email("<a1@x>", "anna@example.com", "Grinder broken", "It makes a noise.");
        a_mail.name = Some("Anna Schneider".into());
        a_mail.attachments = vec![file(&desk, "noise.mp3", b"anna's recording").await, file(&desk, "logo.png", shared).await];
        let anna = desk.ingest(&a_mail).await.unwrap();
        desk.reply(anna.ticket_id, Actor::System, &reply("We send a new one")).await.unwrap();
        let chat = desk.ingest(&Inbound::text(Channel::Chat, "c-1", IdentityClaim::new(IdentityKind::Visitor, "v-anna"), "hello?")).await.unwrap();
        desk.set_visitor_email("v-anna", site.channel.id, "anna@example.com").await.unwrap();
        desk.merge_contacts(anna.contact_id, chat.contact_id, Actor::System).await.unwrap();
        desk.upsert_orders(vec![order("1001", "anna@example.com", Some("030 1234567"))]).await.unwrap();
        call(&desk, &pbx, CallEvent::NewCall, "anna-1", "+49301234567").await;
        call(&desk, &pbx, CallEvent::Hangup, "anna-1", "+49301234567").await;
        let chat_reply = desk.reply(chat.ticket_id, Actor::System, &reply("Here we are")).await.unwrap();
        desk.chat_reply_shown(&chat_reply).await.unwrap();
        let mut cc = email("<a2@x>", "anna@example.com", "Re: Invoice", "Me too");
        cc.thread = Some(ThreadRef::Messages(vec!["<o1@x>".into()]));
        let copied = desk.ingest(&cc).await.unwrap();
        assert_eq!(copied.ticket_id, otto.ticket_id);
        // Otto's later ticket continues Anna's (as a reply to her thread after the window would).
        entity::ticket::ActiveModel { id: Set(otto_later.ticket_id), previous_ticket_id: Set(Some(anna.ticket_id)), ..Default::default() }
            .update(store.db()).await.unwrap();

        let contacts = [anna.contact_id, chat.contact_id];
        let tickets: Vec<i64> = rows::<entity::ticket::Entity>(store, entity::ticket::Column::ContactId, &contacts).await.iter().map(|t| t.id).collect();
        assert_eq!(tickets.len(), 3, "mail, chat and call-back tickets");
        let messages: Vec<i64> = rows::<entity::message::Entity>(store, entity::message::Column::TicketId, &tickets).await.iter().map(|m| m.id).chain([copied.message_id]).collect();
        assert_eq!(messages.len(), 6);
        let orders: Vec<i64> = rows::<entity::order::Entity>(store, entity::order::Column::ContactId, &contacts).await.iter().map(|o| o.id).collect();
        let calls: Vec<i64> = entity::call::Entity::find().filter(entity::call::Column::CallId.starts_with("anna-")).all(store.db()).await.unwrap().iter().map(|c| c.id).collect();
        assert_eq!(calls.len(), 2);
        let pending = |payloads: Vec<Value>| payloads.iter().filter(|p| p["message_id"].as_i64().is_some_and(|m| messages.contains(&m))).count();
        assert_eq!(pending(outbox(store, "deliver", 0).await), 2, "two replies waiting");
        assert_eq!(pending(outbox(store, "email", 0).await), 1, "a copy of the chat reply by mail");
        assert!(!rows::<entity::attachment::Entity>(store, entity::attachment::Column::MessageId, &messages).await.is_empty());
        assert!(!rows::<entity::ticket_event::Entity>(store, entity::ticket_event::Column::TicketId, &tickets).await.is_empty());
        assert!(entity::visitor::Entity::find_by_id("v-anna".to_owned()).one(store.db()).await.unwrap().is_some());
        let otto_before = otto_data(store, otto.contact_id).await;
        let orphan = switchboard::blobs::Blobs::hash(b"anna's recording");
        let logo = switchboard::blobs::Blobs::hash(shared);
        assert!(desk.blobs.get(&orphan).await.unwrap().is_some());

        // A merged contact is not the live record; an unknown one is not there.
        match desk.erase_contact(chat.contact_id, Actor::System).await {
            Err(Error::Conflict { code, message }) => {
                assert_eq!(code, "contact_merged");
                assert!(message.contains(&format!("contact {}", anna.contact_id)), "{message}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(matches!(desk.erase_contact(987_654, Actor::System).await, Err(Error::NotFound { .. })));

        let before = last_outbox_id(store).await;
        let erased = desk.erase_contact(anna.contact_id, Actor::Agent(1)).await.unwrap();
        assert_eq!(
            serde_json::to_value(&erased).unwrap(),
            json!({"contacts": 2, "tickets": 3, "messages": 6, "orders": 1, "calls": 2})
        );

        assert!(rows::<entity::contact::Entity>(store, entity::contact::Column::Id, &contacts).await.is_empty());
        assert!(rows::<entity::identity::Entity>(store, entity::identity::Column::ContactId, &contacts).await.is_empty());
        assert!(rows::<entity::ticket::Entity>(store, entity::ticket::Column::Id, &tickets).await.is_empty());
        assert!(rows::<entity::message::Entity>(store, entity::message::Column::Id, &messages).await.is_empty());
        assert!(rows::<entity::message::Entity>(store, entity::message::Column::AuthorContactId, &contacts).await.is_empty());
        assert!(rows::<entity::attachment::Entity>(store, entity::attachment::Column::MessageId, &messages).await.is_empty());
        assert!(rows::<entity::ticket_event::Entity>(store, entity::ticket_event::Column::TicketId, &tickets).await.is_empty());
        assert!(rows::<entity::order::Entity>(store, entity::order::Column::Id, &orders).await.is_empty());
        assert!(rows::<entity::order_item::Entity>(store, entity::order_item::Column::OrderId, &orders).await.is_empty());
        assert!(rows::<entity::call::Entity>(store, entity::call::Column::Id, &calls).await.is_empty());
        assert_eq!(pending(outbox(store, "deliver", 0).await), 0, "nothing is sent to her afterwards");
        assert_eq!(pending(outbox(store, "email", 0).await), 0);
        assert!(entity::visitor::Entity::find_by_id("v-anna".to_owned()).one(store.db()).await.unwrap().is_none());
        assert!(desk.lookup_contact(IdentityKind::Email, "anna@example.com").await.is_err());
        assert!(desk.blobs.get(&orphan).await.unwrap().is_none(), "bytes only she sent are gone");
        assert!(desk.blobs.get(&logo).await.unwrap().is_some(), "bytes Otto sent too stay");

        // Otto keeps everything but Anna's message on his thread, and his later ticket
        // no longer points at hers.
        let mut expected = otto_before;
        expected.messages.retain(|m| *m != copied.message_id);
        assert_eq!(otto_data(store, otto.contact_id).await, expected);
        assert_eq!(desk.ticket(otto_later.ticket_id).await.unwrap().previous_ticket_id, None);

        // The indexer deletes her documents and refreshes Otto's thread.
        let index: BTreeSet<String> = outbox(store, "index", before).await.iter().map(Value::to_string).collect();
        let mut wanted: BTreeSet<String> = tickets.iter().chain([&otto.ticket_id]).map(|t| json!({"ticket_id": t}).to_string()).collect();
        wanted.extend(contacts.iter().map(|c| json!({"contact_id": c}).to_string()));
        assert_eq!(index, wanted);

        assert!(matches!(desk.erase_contact(anna.contact_id, Actor::System).await, Err(Error::NotFound { .. })));
        // Her next message is a stranger's.
        let again = desk.ingest(&email("<a3@x>", "anna@example.com", "Hi", "new here")).await.unwrap();
        assert!(again.new_ticket);
        assert_eq!(desk.contact_detail(again.contact_id).await.unwrap().tickets.len(), 1);
    }
}

/// Everything of one customer, to compare before and after another's erasure.
#[derive(Debug, PartialEq)]
struct CustomerData {
    tickets: Vec<i64>,
    messages: Vec<i64>,
    identities: Vec<i64>,
    orders: Vec<i64>,
    items: Vec<i64>,
    calls: Vec<i64>,
    attachments: Vec<i64>,
    events: usize,
}

async fn otto_data(store: &Store, contact: i64) -> CustomerData {
    let tickets: Vec<i64> =
        rows::<entity::ticket::Entity>(store, entity::ticket::Column::ContactId, &[contact])
            .await
            .iter()
            .map(|t| t.id)
            .collect();
    let messages: Vec<i64> =
        rows::<entity::message::Entity>(store, entity::message::Column::TicketId, &tickets)
            .await
            .iter()
            .map(|m| m.id)
            .collect();
    let orders: Vec<i64> =
        rows::<entity::order::Entity>(store, entity::order::Column::ContactId, &[contact])
            .await
            .iter()
            .map(|o| o.id)
            .collect();
    CustomerData {
        identities: rows::<entity::identity::Entity>(
            store,
            entity::identity::Column::ContactId,
            &[contact],
        )
        .await
        .iter()
        .map(|i| i.id)
        .collect(),
        items: rows::<entity::order_item::Entity>(
            store,
            entity::order_item::Column::OrderId,
            &orders,
        )
        .await
        .iter()
        .map(|i| i.id)
        .collect(),
        calls: rows::<entity::call::Entity>(store, entity::call::Column::ContactId, &[contact])
            .await
            .iter()
            .map(|c| c.id)
            .collect(),
        attachments: rows::<entity::attachment::Entity>(
            store,
            entity::attachment::Column::MessageId,
            &messages,
        )
        .await
        .iter()
        .map(|a| a.id)
        .collect(),
        events: rows::<entity::ticket_event::Entity>(
            store,
            entity::ticket_event::Column::TicketId,
            &tickets,
        )
        .await
        .len(),
        tickets,
        messages,
        orders,
    }
}

/// How many index rows name this contact, after the row `after`.
async fn contact_rows(store: &Store, contact: i64, after: i64) -> usize {
    outbox(store, "index", after)
        .await
        .iter()
        .filter(|p| **p == json!({"contact_id": contact}))
        .count()
}

on_both! {
    async fn every_change_to_a_contacts_document_queues_its_index_row(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let store = &ts.store;

        let mark = last_outbox_id(store).await;
        let created = desk.create_contact(Some("Bea"), &IdentityClaim::new(IdentityKind::Phone, "+49 30 5555555"), Actor::System).await.unwrap();
        assert_eq!(contact_rows(store, created.id, mark).await, 1, "create_contact");

        let mark = last_outbox_id(store).await;
        desk.update_contact(created.id, &serde_json::from_value(json!({"name": "Bea B.", "tags": ["vip"]})).unwrap()).await.unwrap();
        assert_eq!(contact_rows(store, created.id, mark).await, 1, "update_contact");

        let mark = last_outbox_id(store).await;
        desk.add_identity(created.id, &IdentityClaim::new(IdentityKind::Email, "bea@example.com"), Actor::System).await.unwrap();
        assert_eq!(contact_rows(store, created.id, mark).await, 1, "add_identity");
        // The same identity again changes nothing.
        let mark = last_outbox_id(store).await;
        desk.add_identity(created.id, &IdentityClaim::new(IdentityKind::Email, "BEA@example.com"), Actor::System).await.unwrap();
        assert_eq!(contact_rows(store, created.id, mark).await, 0);

        // Two orders of one contact in one call: one row for it.
        let other = desk.ingest(&email("<c1@x>", "carl@example.com", "Hi", "hello")).await.unwrap().contact_id;
        let mark = last_outbox_id(store).await;
        desk.upsert_orders(vec![order("1", "bea@example.com", None), order("2", "bea@example.com", None), order("3", "carl@example.com", None)]).await.unwrap();
        assert_eq!(contact_rows(store, created.id, mark).await, 1, "upsert_orders");
        assert_eq!(contact_rows(store, other, mark).await, 1);
        // An order that changes hands refreshes both contacts.
        let mark = last_outbox_id(store).await;
        let mut moved = order("3", "bea@example.com", None);
        moved.updated_at = Some(chrono::Utc::now());
        desk.upsert_orders(vec![moved]).await.unwrap();
        assert_eq!((contact_rows(store, created.id, mark).await, contact_rows(store, other, mark).await), (1, 1));

        // A merge: the source's document goes, the survivor's grows.
        let mark = last_outbox_id(store).await;
        desk.merge_contacts(created.id, other, Actor::System).await.unwrap();
        assert_eq!((contact_rows(store, created.id, mark).await, contact_rows(store, other, mark).await), (1, 1), "merge_contacts");

        // The address a chat visitor types becomes an identity of their contact.
        let (site, _) = desk.create_widget(&NewWidget { name: "Shop".into(), origins: vec!["https://shop.example".into()], greeting: None }).await.unwrap();
        let visitor = desk.ingest(&Inbound::text(Channel::Chat, "c-1", IdentityClaim::new(IdentityKind::Visitor, "v-1"), "hi")).await.unwrap().contact_id;
        let mark = last_outbox_id(store).await;
        desk.set_visitor_email("v-1", site.channel.id, "dora@example.com").await.unwrap();
        assert_eq!(contact_rows(store, visitor, mark).await, 1, "a typed address");
        let mark = last_outbox_id(store).await;
        desk.visitor_wrote("v-1", site.channel.id).await.unwrap();
        assert_eq!(contact_rows(store, visitor, mark).await, 0, "nothing new");
    }
}

on_both! {
    async fn only_admins_erase_contacts_over_http(engine: Engine) {
        let app = TestApp::start(engine).await;
        let anna = app.desk.ingest(&email("<a1@x>", "anna@example.com", "Hello", "It broke")).await.unwrap();
        let chat = app.desk.ingest(&Inbound::text(Channel::Chat, "c-1", IdentityClaim::new(IdentityKind::Visitor, "v-1"), "hi")).await.unwrap();
        app.desk.merge_contacts(anna.contact_id, chat.contact_id, Actor::System).await.unwrap();
        let path = format!("/api/v1/contacts/{}", anna.contact_id);

        for (who, (status, problem)) in [
            ("agent", app.signed_in(Role::Agent).await.send("DELETE", &path, Value::Null).await),
            ("lead", app.signed_in(Role::Lead).await.send("DELETE", &path, Value::Null).await),
            ("agent token", app.token(Role::Agent).await.send("DELETE", &path, Value::Null).await),
        ] {
            assert_eq!((status, problem["code"].as_str()), (403, Some("role")), "{who}: {problem}");
        }
        let admin = app.signed_in(Role::Admin).await;
        let res = admin.client.delete(app.url(&path)).header("origin", crate::support::ORIGIN).send().await.unwrap();
        assert_eq!(res.status(), 403, "a cookie without the CSRF token");
        assert!(app.desk.contact(anna.contact_id).await.is_ok());

        let merged = format!("/api/v1/contacts/{}", chat.contact_id);
        let (status, problem) = admin.send("DELETE", &merged, Value::Null).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("contact_merged")), "{problem}");
        let (status, _) = admin.send("DELETE", "/api/v1/contacts/987654", Value::Null).await;
        assert_eq!(status, 404);

        let (status, body) = admin.send("DELETE", &path, Value::Null).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"contacts": 2, "tickets": 2, "messages": 2, "orders": 0, "calls": 0}));
        let (status, problem) = admin.send("DELETE", &path, Value::Null).await;
        assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
        let (status, _) = admin.send("GET", &path, Value::Null).await;
        assert_eq!(status, 404);
        // An admin token may erase too.
        let bob = app.desk.ingest(&email("<b1@x>", "bob@example.com", "Hi", "hello")).await.unwrap();
        let (status, body) = app.token(Role::Admin).await.send("DELETE", &format!("/api/v1/contacts/{}", bob.contact_id), Value::Null).await;
        assert_eq!((status, body["tickets"].as_i64()), (200, Some(1)));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_erases_a_contact_and_prints_what_went() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| crate::support::cli(dir.path(), args, "");
    assert!(run(&["migrate"]).0);
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("switchboard.db").display()
    );
    let store = Store::connect(&url, None).await.unwrap();
    let desk = Desk::new(
        store.clone(),
        switchboard::desk::Rules::default(),
        switchboard::blobs::Blobs::new(dir.path()),
    );
    let anna = desk
        .ingest(&email("<a1@x>", "anna@example.com", "Hello", "It broke"))
        .await
        .unwrap();
    store.close().await;

    let id = anna.contact_id.to_string();
    let (ok, stdout, err) = run(&["contact", "erase", &id]);
    assert!(ok, "{err}");
    assert_eq!(
        stdout.trim(),
        format!("erased contact {id}: 1 contacts, 1 tickets, 1 messages, 0 orders, 0 calls")
    );
    let (ok, _, err) = run(&["contact", "erase", &id]);
    assert!(!ok);
    assert!(err.contains("not found"), "{err}");
}
