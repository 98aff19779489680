//! The desk's rules on both engines: ingest and its invariants, threading, reopening,
//! contacts and identities, agent actions, merges, orders.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use switchboard::desk::identity::{IdentityClaim, IdentityKind};
use switchboard::desk::orders::{CustomerInput, ItemInput, OrderInput};
use switchboard::desk::tickets::{Assignee, Assignment, ReplyInput, TicketFilter, TicketUpdate};
use switchboard::desk::{
    Actor, Channel, Error, Inbound, Role, Rules, Status, ThreadRef, TicketKind,
};
use switchboard::store::Store;

use crate::on_both;
use crate::support::{Engine, desk, store};

fn chat(external_id: &str, visitor: &str, text: &str) -> Inbound {
    Inbound::text(
        Channel::Chat,
        external_id,
        IdentityClaim::new(IdentityKind::Visitor, visitor),
        text,
    )
}

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

/// Rows in a table.
pub async fn count(store: &Store, table: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = store
        .db()
        .query_one_raw(sea_orm::Statement::from_string(
            store.backend(),
            format!("SELECT COUNT(*) AS n FROM \"{table}\""),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Rows in the tables ingest writes: contacts, identities, tickets, messages, events, outbox.
async fn counts(store: &Store) -> [i64; 6] {
    let mut n = [0; 6];
    for (i, table) in [
        "contact",
        "identity",
        "ticket",
        "message",
        "ticket_event",
        "outbox",
    ]
    .iter()
    .enumerate()
    {
        n[i] = count(store, table).await;
    }
    n
}

on_both! {
    async fn ingest_stores_contact_ticket_message_history_and_outbox(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let mut inbound = email("<m1@example.com>", "Anna@Example.com", "Broken grinder", "It makes a noise.");
        inbound.name = Some("Anna Schneider".into());
        inbound.html = Some("<p>It makes a <b>noise</b>.<script>alert(1)</script><img src=x onerror=alert(2)></p>".into());
        let out = desk.ingest(&inbound).await.unwrap();
        assert!(out.created && out.new_ticket);
        assert_eq!(counts(&ts.store).await, [1, 1, 1, 1, 1, 1]);

        let detail = desk.ticket_detail(out.ticket_id).await.unwrap();
        assert_eq!(detail.ticket.subject, "Broken grinder");
        assert_eq!(detail.ticket.status, "new");
        assert_eq!(detail.ticket.channel, "email");
        assert!(detail.ticket.number >= 1000);
        let m = &detail.messages[0].message;
        assert_eq!((m.direction.as_str(), m.delivery_status.as_str()), ("in", "received"));
        let html = m.html.as_deref().unwrap();
        assert!(html.contains("<b>noise</b>") && !html.contains("script") && !html.contains("onerror"), "{html}");
        assert_eq!(detail.events[0].kind, "created");
        assert_eq!(detail.events[0].actor_kind, "contact");

        let contact = desk.contact_detail(out.contact_id).await.unwrap();
        assert_eq!(contact.contact.name.as_deref(), Some("Anna Schneider"));
        assert_eq!(contact.identities[0].value, "anna@example.com");
        assert!(!contact.identities[0].verified);
    }
}

on_both! {
    async fn a_replay_returns_the_stored_message_and_changes_nothing(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let inbound = chat("c-1", "visitor-1", "hello");
        let first = desk.ingest(&inbound).await.unwrap();
        let before = counts(&ts.store).await;
        for _ in 0..3 {
            let again = desk.ingest(&inbound).await.unwrap();
            assert!(!again.created);
            assert_eq!((again.ticket_id, again.message_id, again.contact_id), (first.ticket_id, first.message_id, first.contact_id));
        }
        // Even with a different text: the external id is what identifies the message.
        let changed = chat("c-1", "visitor-1", "hello, edited");
        assert_eq!(desk.ingest(&changed).await.unwrap().message_id, first.message_id);
        assert_eq!(counts(&ts.store).await, before);
        // The same external id on another channel is another message.
        let other = Inbound::text(Channel::Sms, "c-1", IdentityClaim::new(IdentityKind::Phone, "+4915112345678"), "hi");
        assert!(desk.ingest(&other).await.unwrap().created);
    }
}

on_both! {
    async fn fifty_concurrent_ingests_of_one_message_store_it_once(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let inbound = Arc::new(Inbound::text(Channel::Whatsapp, "wamid.HBgLNDkxNTE", IdentityClaim::new(IdentityKind::Phone, "+49 151 23456789"), "Where is my order?"));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (desk, inbound) = (desk.clone(), inbound.clone());
            tasks.push(tokio::spawn(async move { desk.ingest(&inbound).await }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap().expect("every concurrent ingest succeeds"));
        }
        assert_eq!(outcomes.iter().filter(|o| o.created).count(), 1);
        assert!(outcomes.iter().all(|o| o.message_id == outcomes[0].message_id && o.ticket_id == outcomes[0].ticket_id));
        assert_eq!(counts(&ts.store).await, [1, 1, 1, 1, 1, 1]);
    }
}

on_both! {
    async fn concurrent_messages_from_a_new_customer_share_one_contact_and_ticket(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let desk = desk.clone();
            tasks.push(tokio::spawn(async move {
                desk.ingest(&Inbound::text(Channel::Telegram, format!("upd-{i}"), IdentityClaim::new(IdentityKind::Telegram, "777001"), format!("part {i}"))).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let [contacts, identities, tickets, messages, _, _] = counts(&ts.store).await;
        assert_eq!((contacts, identities, tickets, messages), (1, 1, 1, 20));
    }
}

on_both! {
    async fn threading_follows_references_then_the_open_ticket_then_opens_a_new_one(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        // Conversational channels: one active ticket per contact and channel.
        let a = desk.ingest(&chat("c-1", "v-1", "hi")).await.unwrap();
        let b = desk.ingest(&chat("c-2", "v-1", "anyone there?")).await.unwrap();
        assert_eq!(a.ticket_id, b.ticket_id);
        assert!(!b.new_ticket);
        // Another channel of the same contact is another conversation.
        let other = desk.ingest(&chat("c-3", "v-2", "hi")).await.unwrap();
        assert_ne!(other.ticket_id, a.ticket_id);

        // Email: a new mail is a new ticket; a reply referencing an earlier message joins it.
        let m1 = desk.ingest(&email("<1@x>", "bob@example.com", "Invoice", "Where is it?")).await.unwrap();
        let m2 = desk.ingest(&email("<2@x>", "bob@example.com", "Another thing", "Other topic")).await.unwrap();
        assert_ne!(m1.ticket_id, m2.ticket_id);
        let mut reply = email("<3@x>", "bob@example.com", "Re: Invoice", "Thanks");
        reply.thread = Some(ThreadRef::Messages(vec!["<unknown@x>".into(), "<1@x>".into()]));
        assert_eq!(desk.ingest(&reply).await.unwrap().ticket_id, m1.ticket_id);
        // A CC'd colleague replying to the thread stays in it too.
        let mut cc = email("<4@x>", "carol@example.com", "Re: Invoice", "Me too");
        cc.thread = Some(ThreadRef::Messages(vec!["<3@x>".into()]));
        assert_eq!(desk.ingest(&cc).await.unwrap().ticket_id, m1.ticket_id);

        // A ticket number is honoured only for the ticket's own contact.
        let t1 = desk.ticket(m1.ticket_id).await.unwrap();
        let mut by_number = email("<5@x>", "bob@example.com", "About my ticket", "More info");
        by_number.thread = Some(ThreadRef::Ticket(t1.number));
        assert_eq!(desk.ingest(&by_number).await.unwrap().ticket_id, m1.ticket_id);
        let mut stranger = email("<6@x>", "mallory@example.com", "About that ticket", "Let me in");
        stranger.thread = Some(ThreadRef::Ticket(t1.number));
        let s = desk.ingest(&stranger).await.unwrap();
        assert!(s.new_ticket && s.ticket_id != m1.ticket_id);

        // A customer message on a pending ticket makes it open again.
        desk.update_ticket(a.ticket_id, Actor::System, &TicketUpdate { status: Some(Status::Pending), ..Default::default() }).await.unwrap();
        desk.ingest(&chat("c-9", "v-1", "still waiting")).await.unwrap();
        assert_eq!(desk.ticket(a.ticket_id).await.unwrap().status, "open");
    }
}

on_both! {
    async fn a_message_after_resolution_reopens_within_the_window_and_links_after_it(engine: Engine) {
        let ts = store(engine).await;
        let desk = ts.desk(Rules { reopen_window: Duration::from_secs(3600), ..Rules::default() });
        let first = desk.ingest(&chat("c-1", "v-1", "help")).await.unwrap();
        desk.update_ticket(first.ticket_id, Actor::System, &TicketUpdate { status: Some(Status::Resolved), ..Default::default() }).await.unwrap();
        assert!(desk.ticket(first.ticket_id).await.unwrap().resolved_at.is_some());

        let again = desk.ingest(&chat("c-2", "v-1", "it broke again")).await.unwrap();
        assert_eq!(again.ticket_id, first.ticket_id);
        let t = desk.ticket(first.ticket_id).await.unwrap();
        assert_eq!(t.status, "open");
        assert!(t.resolved_at.is_none());
        let events = desk.ticket_detail(t.id).await.unwrap().events;
        assert!(events.iter().any(|e| e.kind == "reopened"));

        // Resolved longer ago than the window: a new ticket, linked to the old one.
        desk.update_ticket(first.ticket_id, Actor::System, &TicketUpdate { status: Some(Status::Closed), ..Default::default() }).await.unwrap();
        entity::ticket::ActiveModel {
            id: Set(first.ticket_id),
            resolved_at: Set(Some(chrono::Utc::now() - chrono::Duration::hours(2))),
            ..Default::default()
        }
        .update(ts.store.db())
        .await
        .unwrap();
        let later = desk.ingest(&chat("c-3", "v-1", "new problem")).await.unwrap();
        assert!(later.new_ticket);
        assert_eq!(desk.ticket(later.ticket_id).await.unwrap().previous_ticket_id, Some(first.ticket_id));
        assert_eq!(desk.ticket(first.ticket_id).await.unwrap().status, "closed");
    }
}

on_both! {
    async fn identities_are_normalized_so_one_person_is_one_contact(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let phone = |id: &str, number: &str| Inbound::text(Channel::Sms, id, IdentityClaim::new(IdentityKind::Phone, number), "hi");
        let a = desk.ingest(&phone("s1", "+49 30 1234567")).await.unwrap();
        let b = desk.ingest(&phone("s2", "030 1234567")).await.unwrap();
        let c = desk.ingest(&phone("s3", "0049 (30) 123-4567")).await.unwrap();
        assert!(a.contact_id == b.contact_id && b.contact_id == c.contact_id);
        let found = desk.lookup_contact(IdentityKind::Phone, "+49301234567").await.unwrap();
        assert_eq!(found.id, a.contact_id);
        let e1 = desk.ingest(&email("<a@x>", "Bob@Example.COM", "s", "t")).await.unwrap();
        let e2 = desk.ingest(&email("<b@x>", " bob@example.com ", "s", "t")).await.unwrap();
        assert_eq!(e1.contact_id, e2.contact_id);

        for (bad, field) in [
            (phone("s4", "not a number"), "identity.value"),
            (Inbound::text(Channel::Email, "e", IdentityClaim::new(IdentityKind::Email, "no-at-sign"), "t"), "identity.value"),
            (chat("", "v", "text"), "external_id"),
            (chat("x", "v", "   "), "text"),
        ] {
            match desk.ingest(&bad).await {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected invalid {field}, got {other:?}"),
            }
        }
    }
}

on_both! {
    async fn agent_actions_change_the_ticket_and_are_recorded(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let (agent, _) = desk.create_agent(switchboard::desk::agents::NewAgent { email: "sam@example.com".into(), name: "Sam".into(), role: Role::Agent, password: Some("long enough password".into()) }).await.unwrap();
        let team = desk.create_team("Returns").await.unwrap();
        let out = desk.ingest(&chat("c-1", "v-1", "my order is late")).await.unwrap();
        let me = Actor::Agent(agent.id);

        let outbox_before = count(&ts.store, "outbox").await;
        let reply = desk.reply(out.ticket_id, me, &ReplyInput { text: "Looking into it".into(), html: Some("<p onclick=x()>Looking</p>".into()), status: None, attachments: vec![] }).await.unwrap();
        assert_eq!((reply.direction.as_str(), reply.delivery_status.as_str(), reply.channel.as_str()), ("out", "queued", "chat"));
        assert_eq!(reply.html.as_deref(), Some("<p>Looking</p>"));
        let deliveries = entity::outbox::Entity::find().filter(entity::outbox::Column::Kind.eq("deliver")).all(ts.store.db()).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].payload, json!({"message_id": reply.id}));
        assert_eq!(count(&ts.store, "outbox").await, outbox_before + 2);
        let t = desk.ticket(out.ticket_id).await.unwrap();
        assert_eq!(t.status, "open");
        let first_response = t.first_response_at.expect("first response recorded");

        desk.reply(out.ticket_id, me, &ReplyInput { text: "Shipped today".into(), html: None, status: Some(Status::Pending), attachments: vec![] }).await.unwrap();
        let t = desk.ticket(out.ticket_id).await.unwrap();
        assert_eq!((t.status.as_str(), t.first_response_at), ("pending", Some(first_response)));

        let note = desk.note(out.ticket_id, me, "customer is a regular").await.unwrap();
        assert_eq!((note.direction.as_str(), note.delivery_status.as_str()), ("note", "none"));

        desk.assign(out.ticket_id, me, &Assignment { agent_id: Some(Some(agent.id)), team_id: Some(Some(team.team.id)) }).await.unwrap();
        let t = desk.update_ticket(out.ticket_id, me, &TicketUpdate { status: Some(Status::Resolved), priority: Some(switchboard::desk::Priority::High), kind: Some(TicketKind::Complaint), subject: Some("Late order".into()) }).await.unwrap();
        assert_eq!((t.status.as_str(), t.priority.as_str(), t.kind.as_str(), t.subject.as_str()), ("resolved", "high", "complaint", "Late order"));
        assert_eq!((t.assignee_id, t.team_id), (Some(agent.id), Some(team.team.id)));
        assert!(t.resolved_at.is_some());

        let kinds: Vec<String> = desk.ticket_detail(out.ticket_id).await.unwrap().events.into_iter().map(|e| {
            if e.kind != "created" { assert_eq!((e.actor_kind.as_str(), e.actor_id), ("agent", Some(agent.id))); }
            e.kind
        }).collect();
        assert_eq!(kinds, ["created", "reply", "status", "reply", "status", "note", "assigned", "assigned", "status", "priority", "kind", "subject"]);

        // Bad input changes nothing.
        assert!(matches!(desk.assign(out.ticket_id, me, &Assignment { agent_id: Some(Some(9999)), team_id: None }).await, Err(Error::Invalid { .. })));
        assert!(matches!(desk.reply(424242, me, &ReplyInput { text: "x".into(), html: None, status: None, attachments: vec![] }).await, Err(Error::NotFound { .. })));
        assert!(matches!(desk.note(out.ticket_id, me, "  ").await, Err(Error::Invalid { .. })));

        // The queue's filters.
        let mine = TicketFilter { assignee: Some(Assignee::Agent(agent.id)), ..Default::default() };
        assert_eq!(desk.list_tickets(&mine, None, 10).await.unwrap().items.len(), 1);
        let unassigned_open = TicketFilter { assignee: Some(Assignee::Nobody), status: Status::ACTIVE.to_vec(), ..Default::default() };
        assert!(desk.list_tickets(&unassigned_open, None, 10).await.unwrap().items.is_empty());
    }
}

on_both! {
    async fn the_queue_pages_with_a_cursor(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        for i in 0..7 {
            desk.ingest(&chat(&format!("c-{i}"), &format!("v-{i}"), "hi")).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = desk.list_tickets(&TicketFilter::default(), cursor.as_deref(), 3).await.unwrap();
            seen.extend(page.items.iter().map(|t| t.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7);
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {seen:?}");
        let chat_only = TicketFilter { channel: Some(Channel::Email), ..Default::default() };
        assert!(desk.list_tickets(&chat_only, None, 10).await.unwrap().items.is_empty());
        assert!(matches!(desk.list_tickets(&TicketFilter::default(), Some("garbage"), 3).await, Err(Error::Invalid { .. })));
    }
}

fn order(
    external_id: &str,
    email: Option<&str>,
    phone: Option<&str>,
    total: &str,
    placed_days_ago: i64,
) -> OrderInput {
    let placed = chrono::Utc::now() - chrono::Duration::days(placed_days_ago);
    OrderInput {
        source: "shop".into(),
        external_id: external_id.into(),
        number: Some(format!("#{external_id}")),
        status: "paid".into(),
        currency: "EUR".into(),
        total: json!(total),
        refunded: None,
        placed_at: placed,
        updated_at: Some(placed),
        customer: CustomerInput {
            email: email.map(Into::into),
            phone: phone.map(Into::into),
            id: None,
            name: Some("Anna".into()),
            company: None,
        },
        items: vec![ItemInput {
            sku: Some("GR-12".into()),
            name: "Grinder".into(),
            quantity: 1,
            unit_price: json!(total),
        }],
    }
}

on_both! {
    async fn orders_upsert_by_source_and_id_and_attach_to_the_contact(engine: Engine) {
        let (desk, ts) = desk(engine).await;
        let chat_contact = desk.ingest(&Inbound::text(Channel::Whatsapp, "w1", IdentityClaim::new(IdentityKind::Phone, "+49 151 23456789"), "hi")).await.unwrap().contact_id;

        let s = desk.upsert_orders(vec![
            order("1001", Some("anna@example.com"), Some("0151 23456789"), "129.90", 30),
            order("1002", Some("ANNA@example.com"), None, "18.50", 2),
        ]).await.unwrap();
        assert_eq!((s.created, s.updated, s.skipped), (2, 0, 0));
        let detail = desk.contact_detail(chat_contact).await.unwrap();
        assert_eq!(detail.orders.len(), 2, "matched by phone to the WhatsApp contact");
        assert_eq!(detail.orders[0].order.external_id, "1002", "newest first");
        assert_eq!(detail.orders[0].items[0].unit_price_cents, 1850);
        assert_eq!(detail.value.order_count, 2);
        assert_eq!(detail.value.lifetime[0].cents, 14840);
        assert!(detail.identities.iter().any(|i| i.kind == "email" && i.value == "anna@example.com" && i.verified));

        // An update replaces the order and its lines; an older update is skipped.
        let mut newer = order("1001", Some("anna@example.com"), None, "100.00", 30);
        newer.updated_at = Some(chrono::Utc::now());
        newer.status = "cancelled".into();
        newer.items = vec![
            ItemInput { sku: None, name: "Grinder".into(), quantity: 1, unit_price: json!("80.00") },
            ItemInput { sku: None, name: "Beans".into(), quantity: 2, unit_price: json!("10") },
        ];
        let mut stale = order("1001", Some("anna@example.com"), None, "1.00", 30);
        stale.updated_at = Some(chrono::Utc::now() - chrono::Duration::days(10));
        let s = desk.upsert_orders(vec![newer, stale]).await.unwrap();
        assert_eq!((s.created, s.updated, s.skipped), (0, 1, 1));
        let detail = desk.contact_detail(chat_contact).await.unwrap();
        let o = detail.orders.iter().find(|o| o.order.external_id == "1001").unwrap();
        assert_eq!((o.order.total_cents, o.order.status.as_str(), o.items.len()), (10000, "cancelled", 2));
        assert_eq!(detail.value.order_count, 1, "cancelled orders do not count");
        assert_eq!(detail.value.lifetime[0].cents, 1850);

        // A bad order names itself and stores nothing.
        let orders_before = count(&ts.store, "order").await;
        let mut bad = order("2001", Some("x@example.com"), None, "12.345", 1);
        bad.currency = "EUR".into();
        match desk.upsert_orders(vec![order("2000", Some("y@example.com"), None, "1", 1), bad]).await {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "orders[1].total"),
            other => panic!("expected invalid, got {other:?}"),
        }
        let mut anonymous = order("2002", None, None, "1", 1);
        anonymous.customer = CustomerInput::default();
        assert!(matches!(desk.upsert_orders(vec![anonymous]).await, Err(Error::Invalid { field, .. }) if field == "orders[0].customer"));
        assert_eq!(count(&ts.store, "order").await, orders_before);
    }
}

on_both! {
    async fn merging_contacts_moves_everything_to_the_survivor(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let visitor = desk.ingest(&chat("c-1", "v-1", "hi, I am Anna")).await.unwrap();
        let mail = desk.ingest(&email("<m@x>", "anna@example.com", "Order", "where is it")).await.unwrap();
        desk.upsert_orders(vec![order("1", Some("anna@example.com"), None, "10", 1)]).await.unwrap();
        desk.update_contact(visitor.contact_id, &serde_json::from_value(json!({"tags": ["vip"], "notes": "prefers chat"})).unwrap()).await.unwrap();

        let merged = desk.merge_contacts(mail.contact_id, visitor.contact_id, Actor::System).await.unwrap();
        assert_eq!(merged.id, mail.contact_id);
        assert_eq!(merged.tags, json!(["vip"]));
        let detail = desk.contact_detail(mail.contact_id).await.unwrap();
        assert_eq!(detail.identities.len(), 2);
        assert_eq!(detail.tickets.len(), 2);
        assert_eq!(detail.orders.len(), 1);
        let source = desk.contact(visitor.contact_id).await.unwrap();
        assert_eq!(source.merged_into_id, Some(mail.contact_id));
        assert!(desk.ticket_detail(visitor.ticket_id).await.unwrap().events.iter().any(|e| e.kind == "contact_merged"));
        // The visitor's next message lands on the survivor, in the same chat ticket.
        let next = desk.ingest(&chat("c-2", "v-1", "me again")).await.unwrap();
        assert_eq!((next.contact_id, next.ticket_id), (mail.contact_id, visitor.ticket_id));

        assert!(matches!(desk.merge_contacts(mail.contact_id, visitor.contact_id, Actor::System).await, Err(Error::Invalid { .. })));
        assert!(matches!(desk.merge_contacts(mail.contact_id, mail.contact_id, Actor::System).await, Err(Error::Invalid { .. })));
        assert!(matches!(desk.merge_contacts(mail.contact_id, 9999, Actor::System).await, Err(Error::NotFound { .. })));
    }
}

on_both! {
    async fn an_identity_of_another_contact_is_a_conflict(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let a = desk.ingest(&email("<1@x>", "a@example.com", "s", "t")).await.unwrap();
        let b = desk.ingest(&email("<2@x>", "b@example.com", "s", "t")).await.unwrap();
        let added = desk.add_identity(a.contact_id, &IdentityClaim::new(IdentityKind::Phone, "030 1234567").verified(), Actor::System).await.unwrap();
        assert_eq!((added.value.as_str(), added.verified), ("+49301234567", true));
        // Adding it again is fine; adding it to another contact is not.
        desk.add_identity(a.contact_id, &IdentityClaim::new(IdentityKind::Phone, "+49 30 1234567"), Actor::System).await.unwrap();
        match desk.add_identity(b.contact_id, &IdentityClaim::new(IdentityKind::Phone, "+49301234567"), Actor::System).await {
            Err(Error::Conflict { code, .. }) => assert_eq!(code, "identity_taken"),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
}

on_both! {
    async fn migrations_roll_back_and_apply_again(engine: Engine) {
        use migration::MigratorTrait;
        let ts = store(engine).await;
        migration::Migrator::down(ts.store.db(), None).await.unwrap();
        migration::Migrator::up(ts.store.db(), None).await.unwrap();
        ts.store.migrate().await.unwrap();
        let desk = ts.desk(Rules::default());
        assert!(desk.ingest(&chat("c", "v", "still works")).await.unwrap().created);
    }
}
