//! Demo data for trying the desk: a small shop's customers with organizations, orders
//! with items, and tickets on several channels with replies, notes and history.
//! Everything goes through the desk's own functions, and loading twice changes nothing.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::desk::channels::{NewWidget, WidgetChange, WidgetSite};
use crate::desk::identity::{IdentityClaim, IdentityKind};
use crate::desk::orders::{CustomerInput, ItemInput, OrderInput};
use crate::desk::tickets::{Assignment, ReplyInput, TicketUpdate};
use crate::desk::{Actor, Channel, Desk, Error, Inbound, Priority, Role, Status, TicketKind};

struct Customer {
    name: &'static str,
    email: &'static str,
    phone: &'static str,
    company: Option<&'static str>,
}

const CUSTOMERS: &[Customer] = &[
    Customer {
        name: "Anna Schneider",
        email: "anna.schneider@example.de",
        phone: "+49 30 901820",
        company: None,
    },
    Customer {
        name: "Jonas Weber",
        email: "j.weber@weber-bau.example",
        phone: "+49 89 4521337",
        company: Some("Weber Bau GmbH"),
    },
    Customer {
        name: "Maria Rossi",
        email: "maria.rossi@example.it",
        phone: "+39 347 123 4567",
        company: None,
    },
    Customer {
        name: "Tom Baker",
        email: "tom@bakery.example.co.uk",
        phone: "+44 20 7946 0958",
        company: Some("Baker & Sons"),
    },
    Customer {
        name: "Lena Hoffmann",
        email: "lena.hoffmann@example.at",
        phone: "+43 1 5321400",
        company: None,
    },
    Customer {
        name: "Petra Klein",
        email: "p.klein@weber-bau.example",
        phone: "+49 89 4521338",
        company: Some("Weber Bau GmbH"),
    },
];

const PRODUCTS: &[(&str, &str, &str)] = &[
    ("KB-240", "Espresso machine Barista 240", "349.00"),
    ("GR-12", "Burr grinder Mahlwerk 12", "129.90"),
    ("BN-1KG", "Coffee beans Hausmischung 1 kg", "18.50"),
    ("FL-01", "Descaling liquid", "9.99"),
    ("CUP-6", "Cappuccino cups, set of 6", "39.00"),
    ("MK-2", "Milk frothing jug", "24.90"),
];

/// Loads the demo data and says what is there. `origin` is the desk's own origin: the
/// demo shop page at `/demo/shop` is served from it and embeds the demo widget site.
pub async fn load(desk: &Desk, origin: &str) -> Result<String, Error> {
    let now = Utc::now();

    // Agents and a team, unless they exist; their passwords are generated and shown once.
    let mut agent_ids = Vec::new();
    let mut passwords = Vec::new();
    for (email, name, role) in [
        ("sam@switchboard.localhost", "Sam Support", Role::Agent),
        ("lea@switchboard.localhost", "Lea Lead", Role::Lead),
    ] {
        let id = match desk
            .create_agent(crate::desk::agents::NewAgent {
                email: email.into(),
                name: name.into(),
                role,
                password: None,
            })
            .await
        {
            Ok((a, password)) => {
                passwords.push(format!("{email} / {}", password.unwrap_or_default()));
                a.id
            }
            Err(Error::Conflict { .. }) => desk
                .list_agents()
                .await?
                .into_iter()
                .find(|a| a.agent.email == email)
                .map(|a| a.agent.id)
                .unwrap_or_default(),
            Err(e) => return Err(e),
        };
        agent_ids.push(id);
    }
    let team_id = match desk.create_team("First level").await {
        Ok(t) => t.team.id,
        Err(Error::Conflict { .. }) => desk
            .list_teams()
            .await?
            .into_iter()
            .find(|t| t.team.name == "First level")
            .map(|t| t.team.id)
            .unwrap_or_default(),
        Err(e) => return Err(e),
    };
    for id in &agent_ids {
        desk.set_team_member(team_id, *id, true).await?;
    }

    // Office hours and a standard SLA, so the queue shows due times.
    if desk.sla_policies().await?.is_empty() {
        let office = [("08:00".to_owned(), "18:00".to_owned())];
        let calendar = desk
            .create_calendar(&crate::desk::sla::CalendarInput {
                name: Some("Office hours (Berlin)".into()),
                time_zone: Some("Europe/Berlin".into()),
                hours: Some(
                    ["mon", "tue", "wed", "thu", "fri"]
                        .into_iter()
                        .map(|d| (d.to_owned(), office.to_vec()))
                        .collect(),
                ),
                holidays: Some(vec![]),
            })
            .await?;
        desk.create_sla_policy(&crate::desk::sla::PolicyInput {
            name: Some("Standard".into()),
            calendar_id: Some(Some(calendar.id)),
            first_response_minutes: Some(Some(240)),
            resolution_minutes: Some(Some(2880)),
            warn_minutes: Some(30),
            ..Default::default()
        })
        .await?;
    }

    // Orders: a few per customer over the last year.
    let mut orders = Vec::new();
    for (c, customer) in CUSTOMERS.iter().enumerate() {
        for n in 0..(2 + c % 3) {
            let placed = now - Duration::days((40 * n + 7 * c + 3) as i64);
            let lines: Vec<ItemInput> = (0..(1 + (c + n) % 3))
                .map(|k| {
                    let (sku, name, price) = PRODUCTS[(c + n + k) % PRODUCTS.len()];
                    ItemInput {
                        sku: Some(sku.into()),
                        name: name.into(),
                        quantity: (1 + k % 2) as i32,
                        unit_price: json!(price),
                    }
                })
                .collect();
            let total_cents: i64 = lines
                .iter()
                .map(|l| {
                    crate::desk::orders::to_minor_units(&l.unit_price, "EUR").unwrap_or(0)
                        * l.quantity as i64
                })
                .sum();
            orders.push(OrderInput {
                source: "demo-shop".into(),
                external_id: format!("demo-{c}-{n}"),
                number: Some(format!("SB-{}", 10_400 + c * 10 + n)),
                status: if n == 0 && c == 2 {
                    "cancelled"
                } else if n == 0 {
                    "processing"
                } else {
                    "delivered"
                }
                .into(),
                currency: "EUR".into(),
                total: json!(format!("{}.{:02}", total_cents / 100, total_cents % 100)),
                refunded: None,
                placed_at: placed,
                updated_at: Some(placed),
                customer: CustomerInput {
                    email: Some(customer.email.into()),
                    phone: Some(customer.phone.into()),
                    id: Some(format!("cust-{c}")),
                    name: Some(customer.name.into()),
                    company: customer.company.map(str::to_owned),
                },
                items: lines,
            });
        }
    }
    let order_count = orders.len();
    desk.upsert_orders(orders).await?;

    // Conversations on several channels.
    let conversations: &[(usize, Channel, IdentityKind, &str, &[&str])] = &[
        (
            0,
            Channel::Email,
            IdentityKind::Email,
            "Espresso machine leaking",
            &[
                "Hello, my Barista 240 from last month is leaking water under the drip tray. What can I do?",
                "I tried descaling as you suggested, it still leaks. Can I send it in?",
            ],
        ),
        (
            1,
            Channel::Whatsapp,
            IdentityKind::Phone,
            "",
            &["Hi, we ordered 6 cappuccino cup sets for the office, only 5 arrived."],
        ),
        (
            2,
            Channel::Chat,
            IdentityKind::Visitor,
            "",
            &[
                "Buongiorno! Do you ship the grinder to Italy?",
                "And how long does it take?",
            ],
        ),
        (
            3,
            Channel::Sms,
            IdentityKind::Phone,
            "",
            &["Order SB-10430 still not delivered, tracking hasn't moved for a week."],
        ),
        (
            4,
            Channel::Telegram,
            IdentityKind::Telegram,
            "",
            &["Die Bohnen sind super, danke! Gibt es die Hausmischung auch entkoffeiniert?"],
        ),
        (
            5,
            Channel::Api,
            IdentityKind::Email,
            "Invoice address change",
            &[
                "Please change the invoice address of our last order to Weber Bau GmbH, Lagerstraße 4.",
            ],
        ),
    ];
    let mut tickets = Vec::new();
    for (i, (c, channel, kind, subject, texts)) in conversations.iter().enumerate() {
        let customer = &CUSTOMERS[*c];
        let value = match kind {
            IdentityKind::Email => customer.email.to_owned(),
            IdentityKind::Phone => customer.phone.to_owned(),
            IdentityKind::Visitor => format!("demo-visitor-{c}"),
            _ => format!("{}", 700_000 + c),
        };
        let claim = IdentityClaim::new(*kind, value);
        let mut outcome = None;
        for (k, text) in texts.iter().enumerate() {
            let mut inbound =
                Inbound::text(*channel, format!("demo-{i}-{k}"), claim.clone(), *text);
            inbound.name = Some(customer.name.into());
            inbound.subject = (!subject.is_empty()).then(|| subject.to_string());
            if let Some(o) = &outcome {
                let o: &crate::desk::IngestOutcome = o;
                inbound.thread = Some(crate::desk::ThreadRef::Ticket(o.ticket_number));
            }
            let o = desk.ingest(&inbound).await?;
            // Identities of other kinds the customer is known by, so the panel shows them.
            if *kind != IdentityKind::Email {
                let _ = desk
                    .add_identity(
                        o.contact_id,
                        &IdentityClaim::new(IdentityKind::Email, customer.email),
                        Actor::System,
                    )
                    .await;
            }
            outcome = Some(o);
        }
        if let Some(o) = outcome {
            tickets.push(o);
        }
    }

    // Work on some of them, once.
    if let Some(first) = tickets.first() {
        let detail = desk.ticket_detail(first.ticket_id).await?;
        if !detail.messages.iter().any(|m| m.message.direction == "out") {
            let sam = Actor::Agent(agent_ids[0]);
            desk.assign(
                first.ticket_id,
                sam,
                &Assignment {
                    agent_id: Some(Some(agent_ids[0])),
                    team_id: Some(Some(team_id)),
                },
            )
            .await?;
            desk.note(
                first.ticket_id,
                sam,
                "Second leak report for this batch this week; asked the workshop.",
            )
            .await?;
            desk.reply(first.ticket_id, sam, &ReplyInput {
                text: "Sorry about that! Please send it in with the prepaid label we just emailed you; we repair it within 5 working days.".into(),
                html: None,
                status: Some(Status::Pending),
                attachments: vec![],
            })
            .await?;
            desk.update_ticket(
                first.ticket_id,
                sam,
                &TicketUpdate {
                    priority: Some(Priority::High),
                    kind: Some(TicketKind::Problem),
                    ..Default::default()
                },
            )
            .await?;
            if let Some(cups) = tickets.get(1) {
                desk.update_ticket(
                    cups.ticket_id,
                    sam,
                    &TicketUpdate {
                        kind: Some(TicketKind::Complaint),
                        ..Default::default()
                    },
                )
                .await?;
            }
            if let Some(praise) = tickets.get(4) {
                desk.reply(
                    praise.ticket_id,
                    sam,
                    &ReplyInput {
                        text: "Danke! Eine entkoffeinierte Hausmischung kommt im Frühjahr.".into(),
                        html: None,
                        status: Some(Status::Resolved),
                        attachments: vec![],
                    },
                )
                .await?;
                desk.update_ticket(
                    praise.ticket_id,
                    sam,
                    &TicketUpdate {
                        kind: Some(TicketKind::Praise),
                        ..Default::default()
                    },
                )
                .await?;
            }
        }
    }

    let mut summary = format!(
        "demo data loaded: {} customers, {order_count} orders, {} tickets on {} channels",
        CUSTOMERS.len(),
        tickets.len(),
        conversations.len()
    );
    let site = demo_site(desk, origin).await?;
    summary.push_str(&format!(
        "\ndemo shop with the chat widget (site {}): {origin}/demo/shop",
        site.channel.key
    ));
    if !passwords.is_empty() {
        summary.push_str("\ndemo agents (passwords shown once):");
        for p in passwords {
            summary.push_str(&format!("\n  {p}"));
        }
    }
    Ok(summary)
}

/// The customer the demo shop's "signed in" switch signs in as: the first demo
/// customer, who has orders. Returns (name, email).
pub fn shop_customer() -> (&'static str, &'static str) {
    (CUSTOMERS[0].name, CUSTOMERS[0].email)
}

/// The demo widget site, created on first use; its allowed origin follows the desk's.
pub async fn demo_site(desk: &Desk, origin: &str) -> Result<WidgetSite, Error> {
    if let Some(site) = desk.demo_widget().await? {
        if site.allows(origin) {
            return Ok(site);
        }
        let mut origins = site.settings.origins.clone();
        origins.push(origin.to_owned());
        return desk
            .update_widget(
                site.channel.id,
                &WidgetChange {
                    origins: Some(origins),
                    ..Default::default()
                },
            )
            .await;
    }
    let (site, _secret) = desk
        .create_widget_with(
            &NewWidget {
                name: "Kaffeehaus Demo".into(),
                origins: vec![origin.to_owned()],
                greeting: Some("Hello! Ask us anything about your order or our machines.".into()),
            },
            true,
        )
        .await?;
    Ok(site)
}
