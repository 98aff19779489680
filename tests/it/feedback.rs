//! Feedback and complaints over the API: agents marking tickets, the complaint
//! workflow's rules, the leads' feedback stream with its filters and paging, and agents
//! refused on the leads' endpoints.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::desk::tickets::Assignment;
use switchboard::desk::{Actor, Channel, Role};

use switchboard::desk::Status;
use switchboard::desk::feedback::FeedbackKind;

use crate::support::{Engine, TestApp, desk};
use crate::survey::{answered, outbox_rows, set_status, ticket_on};

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

crate::on_both! {
    /// Agents mark tickets; a complaint opens its workflow once, with the priority up;
    /// leads work it: an owner who exists, an outcome to resolve or reject, reopening;
    /// every change lands in the ticket's history. Agents may not see or work the board.
    async fn marking_and_the_complaint_workflow(engine: Engine) {
        let app = TestApp::start(engine).await;
        let desk = app.desk.clone();
        let agent = app.signed_in(Role::Agent).await;
        let lead = app.signed_in(Role::Lead).await;
        let started = chrono::Utc::now();
        let id = ticket_on(&desk, Channel::Chat, "visitor-7", "Das Paket war nass").await;
        desk.assign(id, Actor::System, &Assignment { agent_id: Some(Some(agent.agent_id)), team_id: None }).await.unwrap();

        // Bad input names the field.
        let (s, b) = agent.send("POST", &format!("/api/v1/tickets/{id}/feedback"), json!({"kind": "survey"})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("kind")), "{b}");
        let (s, b) = agent.send("POST", &format!("/api/v1/tickets/{id}/feedback"), json!({"kind": "praise", "comment": "x".repeat(2001)})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("comment")), "{b}");
        let (s, _) = agent.send("POST", "/api/v1/tickets/999999/feedback", json!({"kind": "praise"})).await;
        assert_eq!(s, 404);

        let (s, item) = agent.send("POST", &format!("/api/v1/tickets/{id}/feedback"), json!({"kind": "complaint", "comment": "Kunde sehr verärgert"})).await;
        assert_eq!(s, 201, "{item}");
        let t = desk.ticket(id).await.unwrap();
        assert_eq!(item["ticket_number"], t.number);
        assert_eq!(item["ticket_subject"], t.subject.as_str());
        assert_eq!(item["contact_id"], t.contact_id);
        assert_eq!((item["kind"].as_str(), item["source"].as_str(), item["channel"].as_str()), (Some("complaint"), Some("agent"), Some("chat")));
        assert_eq!(item["assignee_id"], agent.agent_id);
        assert_eq!(item["rating"], Value::Null);
        for key in ["id", "ticket_id", "contact_name", "comment", "team_id", "created_at"] {
            assert!(item.get(key).is_some(), "{key} in {item}");
        }
        assert_eq!((t.kind.as_str(), t.priority.as_str()), ("complaint", "high"));
        // A second complaint mark is feedback, not a second complaint.
        let (s, _) = agent.send("POST", &format!("/api/v1/tickets/{id}/feedback"), json!({"kind": "complaint"})).await;
        assert_eq!(s, 201);

        // The leads' endpoints refuse agents.
        assert_eq!(agent.get("/api/v1/complaints").await.0, 403);
        assert_eq!(agent.get("/api/v1/feedback").await.0, 403);
        let (_, board) = lead.get("/api/v1/complaints").await;
        assert_eq!(board["items"].as_array().unwrap().len(), 1, "{board}");
        let c = &board["items"][0];
        assert_eq!((c["state"].as_str(), c["source"].as_str(), c["ticket_id"].as_i64()), (Some("open"), Some("agent"), Some(id)));
        for key in ["ticket_number", "ticket_subject", "contact_name", "owner_id", "outcome", "outcome_note", "team_id", "raised_at", "resolved_at", "resolution_seconds"] {
            assert!(c.get(key).is_some(), "{key} in {c}");
        }
        let cid = c["id"].as_i64().unwrap();
        let path = format!("/api/v1/complaints/{cid}");
        assert_eq!(agent.send("PATCH", &path, json!({"state": "in_progress"})).await.0, 403);

        // The rules.
        let (s, b) = lead.send("PATCH", &path, json!({"state": "resolved"})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("outcome")), "{b}");
        let (s, b) = lead.send("PATCH", &path, json!({"state": "rejected"})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("outcome")), "{b}");
        let (s, b) = lead.send("PATCH", &path, json!({"owner_id": 987654})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("owner_id")), "{b}");
        let (s, b) = lead.send("PATCH", &path, json!({"state": "done"})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("state")), "{b}");
        let (s, b) = lead.send("PATCH", &path, json!({"outcome": "cake"})).await;
        assert_eq!((s, b["field"].as_str()), (422, Some("outcome")), "{b}");
        assert_eq!(lead.send("PATCH", "/api/v1/complaints/987654", json!({"state": "open"})).await.0, 404);

        let (s, b) = lead.send("PATCH", &path, json!({"state": "in_progress", "owner_id": lead.agent_id})).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!((b["state"].as_str(), b["owner_id"].as_i64()), (Some("in_progress"), Some(lead.agent_id)));
        let (s, b) = lead.send("PATCH", &path, json!({"state": "resolved", "outcome": "refund", "outcome_note": "Erstattet <b>voll</b>"})).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!((b["state"].as_str(), b["outcome"].as_str(), b["outcome_note"].as_str()), (Some("resolved"), Some("refund"), Some("Erstattet <b>voll</b>")));
        assert!(b["resolved_at"].is_string());
        // Raised just now and resolved now: a few seconds at most, not zero or days.
        let took = b["resolution_seconds"].as_i64().unwrap();
        let since_start = (chrono::Utc::now() - started).num_seconds();
        assert!((0..=since_start).contains(&took), "{took} of at most {since_start}");
        let (_, resolved) = lead.get("/api/v1/complaints?state=resolved").await;
        assert_eq!(ids(&resolved), vec![cid]);
        let (_, open) = lead.get("/api/v1/complaints?state=open").await;
        assert!(ids(&open).is_empty());
        assert_eq!(lead.get("/api/v1/complaints?state=later").await.0, 400);

        // Raised two hours ago: resolving counts those two hours.
        let (s, _) = lead.send("PATCH", &path, json!({"state": "open"})).await;
        assert_eq!(s, 200);
        entity::complaint::Entity::update_many()
            .col_expr(entity::complaint::Column::RaisedAt, sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::hours(2)))
            .filter(entity::complaint::Column::Id.eq(cid))
            .exec(desk.store.db())
            .await
            .unwrap();
        let (s, b) = lead.send("PATCH", &path, json!({"state": "resolved"})).await;
        assert_eq!(s, 200, "{b}");
        let took = b["resolution_seconds"].as_i64().unwrap();
        assert!((7200..7200 + 60).contains(&took), "{took}");

        // Reopened: no longer resolved; the owner cleared.
        let (s, b) = lead.send("PATCH", &path, json!({"state": "open", "owner_id": null})).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!((b["resolved_at"].clone(), b["resolution_seconds"].clone(), b["owner_id"].clone()), (Value::Null, Value::Null, Value::Null));
        // Rejected with the outcome it already has.
        let (s, b) = lead.send("PATCH", &path, json!({"state": "rejected"})).await;
        assert_eq!((s, b["state"].as_str()), (200, Some("rejected")), "{b}");

        let events = history(&desk, id, "complaint").await;
        // raised, state+owner, state+outcome+note, state, state, state+owner, state
        assert_eq!(events.len(), 11, "{events:?}");
        let (_, praise) = agent.send("POST", &format!("/api/v1/tickets/{id}/feedback"), json!({"kind": "praise"})).await;
        assert_eq!(praise["kind"], "praise");
        assert_eq!(desk.ticket(id).await.unwrap().kind, "praise");
        assert_eq!(lead.get("/api/v1/complaints").await.1["items"].as_array().unwrap().len(), 1);

        // A new complaint on the ticket reopens its closed one: the same complaint, open
        // again and counted from now, its outcome kept until the lead sets a new one,
        // recorded as reopened.
        let before = lead.get("/api/v1/complaints").await.1["items"][0].clone();
        assert_eq!(before["state"], "rejected");
        let (s, _) = agent.send("POST", &format!("/api/v1/tickets/{id}/feedback"), json!({"kind": "complaint", "comment": "Schon wieder nass"})).await;
        assert_eq!(s, 201);
        let (_, board) = lead.get("/api/v1/complaints").await;
        assert_eq!(board["items"].as_array().unwrap().len(), 1, "{board}");
        let c = &board["items"][0];
        assert_eq!(c["id"], before["id"]);
        assert!(c["raised_at"].as_str() > before["raised_at"].as_str(), "{c}");
        assert_eq!((c["state"].as_str(), &c["outcome"], &c["resolved_at"]), (Some("open"), &before["outcome"], &Value::Null), "{c}");
        assert_eq!(desk.ticket(id).await.unwrap().kind, "complaint");
        let reopened = history(&desk, id, "complaint").await;
        assert_eq!(reopened.last().unwrap().data["action"], "reopened");
        // While it is open, another mark changes nothing.
        agent.send("POST", &format!("/api/v1/tickets/{id}/feedback"), json!({"kind": "complaint"})).await;
        let again = history(&desk, id, "complaint").await;
        assert_eq!(again.len(), reopened.len());

        // The survey rule: a first low answer reopens the closed complaint; a changed
        // answer that was low already (2 for 1, a comment added) leaves it closed.
        let state = |board: Value| board["items"][0]["state"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/complaints/{}", c["id"]);
        assert_eq!(lead.send("PATCH", &path, json!({"state": "resolved"})).await.0, 200);
        crate::survey::answered(&desk, id, 1, Some("Nie wieder")).await;
        assert_eq!(state(lead.get("/api/v1/complaints").await.1), "open");
        assert_eq!(lead.send("PATCH", &path, json!({"state": "resolved"})).await.0, 200);
        let s = desk.ticket_survey(id).await.unwrap().unwrap();
        let token = desk.survey_token(&s).unwrap();
        desk.answer_survey(&token, 2, Some("Naja")).await.unwrap().expect("the change link is good");
        assert_eq!(state(lead.get("/api/v1/complaints").await.1), "resolved");

        // Erasing the customer takes their feedback, survey and complaint with them.
        let contact = desk.ticket(id).await.unwrap().contact_id;
        let admin = app.signed_in(Role::Admin).await;
        let (s, b) = admin.send("DELETE", &format!("/api/v1/contacts/{contact}"), Value::Null).await;
        assert_eq!(s, 200, "{b}");
        assert!(ids(&lead.get("/api/v1/complaints").await.1).is_empty());
        assert!(ids(&lead.get("/api/v1/feedback").await.1).is_empty());
        assert!(entity::survey::Entity::find().all(desk.store.db()).await.unwrap().is_empty());
        app.stop().await;
    }
}

crate::on_both! {
    /// The stream filters by rating, kind, team, agent, channel and period, pages
    /// newest first, and refuses bad filters naming them.
    async fn the_feedback_stream(engine: Engine) {
        let app = TestApp::start(engine).await;
        let desk = app.desk.clone();
        let lead = app.signed_in(Role::Lead).await;
        let admin = app.signed_in(Role::Admin).await;
        let a1 = app.signed_in(Role::Agent).await;
        let a2 = app.signed_in(Role::Agent).await;
        let t1 = desk.create_team("Versand").await.unwrap().team.id;
        let t2 = desk.create_team("Kasse").await.unwrap().team.id;
        let mut made = Vec::new();
        for (channel, who, team, agent, rating) in [
            (Channel::Email, "e1@example.de", t1, a1.agent_id, 5),
            (Channel::Chat, "v-1", t1, a2.agent_id, 2),
            (Channel::Sms, "+4917611111111", t2, a1.agent_id, 4),
            (Channel::Email, "e2@example.de", t2, a2.agent_id, 5),
        ] {
            let id = ticket_on(&desk, channel, who, "Frage").await;
            desk.assign(id, Actor::System, &Assignment { agent_id: Some(Some(agent)), team_id: Some(Some(team)) }).await.unwrap();
            answered(&desk, id, rating, None).await;
            made.push(id);
        }
        let (s, _) = a1.send("POST", &format!("/api/v1/tickets/{}/feedback", made[0]), json!({"kind": "suggestion", "comment": "Mehr Farben"})).await;
        assert_eq!(s, 201);
        // One answer from long ago.
        let old = entity::feedback::Entity::find()
            .filter(entity::feedback::Column::TicketId.eq(made[3]))
            .one(desk.store.db())
            .await
            .unwrap()
            .unwrap();
        entity::feedback::Entity::update_many()
            .col_expr(entity::feedback::Column::CreatedAt, sea_orm::sea_query::Expr::value(chrono::DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z").unwrap().with_timezone(&chrono::Utc)))
            .filter(entity::feedback::Column::Id.eq(old.id))
            .exec(desk.store.db())
            .await
            .unwrap();

        let (s, all) = lead.get("/api/v1/feedback").await;
        assert_eq!(s, 200, "{all}");
        let all_ids = ids(&all);
        assert_eq!(all_ids.len(), 5);
        assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "newest first");
        assert_eq!(all["next_cursor"], Value::Null);
        let count = |page: &Value| page["items"].as_array().unwrap().len();
        let tickets = |page: &Value| -> Vec<i64> { page["items"].as_array().unwrap().iter().map(|i| i["ticket_id"].as_i64().unwrap()).collect() };
        let (_, five) = lead.get("/api/v1/feedback?rating=5").await;
        assert_eq!(tickets(&five), vec![made[3], made[0]]);
        let (_, survey) = lead.get("/api/v1/feedback?kind=survey").await;
        assert_eq!(count(&survey), 4);
        let (_, suggestion) = lead.get("/api/v1/feedback?kind=suggestion").await;
        assert_eq!(suggestion["items"][0]["comment"], "Mehr Farben");
        assert_eq!(suggestion["items"][0]["source"], "agent");
        let (_, team2) = admin.get(&format!("/api/v1/feedback?team={t2}")).await;
        assert_eq!(tickets(&team2), vec![made[3], made[2]]);
        let (_, agent2) = lead.get(&format!("/api/v1/feedback?agent={}", a2.agent_id)).await;
        assert_eq!(tickets(&agent2), vec![made[3], made[1]]);
        let (_, email) = lead.get("/api/v1/feedback?channel=email&kind=survey").await;
        assert_eq!(tickets(&email), vec![made[3], made[0]]);
        let (_, chat) = lead.get("/api/v1/feedback?channel=chat").await;
        assert_eq!((tickets(&chat), chat["items"][0]["rating"].as_i64()), (vec![made[1]], Some(2)));
        let (_, january) = lead.get("/api/v1/feedback?from=2026-01-01&to=2026-01-31").await;
        assert_eq!(ids(&january), vec![old.id]);
        let (_, to_day) = lead.get("/api/v1/feedback?to=2026-01-15").await;
        assert_eq!(ids(&to_day), vec![old.id], "the last day counts whole");
        let (_, since) = lead.get("/api/v1/feedback?from=2026-01-16").await;
        assert_eq!(count(&since), 4);
        let (_, combined) = lead.get(&format!("/api/v1/feedback?team={t1}&agent={}&rating=5", a1.agent_id)).await;
        assert_eq!(tickets(&combined), vec![made[0]]);

        // Pages of two.
        let (_, p1) = lead.get("/api/v1/feedback?limit=2").await;
        let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
        let (_, p2) = lead.get(&format!("/api/v1/feedback?limit=2&cursor={cursor}")).await;
        let cursor = p2["next_cursor"].as_str().unwrap().to_owned();
        let (_, p3) = lead.get(&format!("/api/v1/feedback?limit=2&cursor={cursor}")).await;
        assert_eq!(p3["next_cursor"], Value::Null);
        let paged: Vec<i64> = [ids(&p1), ids(&p2), ids(&p3)].concat();
        assert_eq!(paged, all_ids);

        for (bad, field) in [
            ("rating=6", "rating"),
            ("rating=x", "rating"),
            ("kind=rant", "kind"),
            ("channel=pigeon", "channel"),
            ("from=2026-13-01", "from"),
            ("from=2026-02-01&to=2026-01-01", "from"),
            ("limit=101", "limit"),
            ("limit=0", "limit"),
            ("cursor=abc", "cursor"),
            ("colour=red", "query"),
        ] {
            let (s, b) = lead.get(&format!("/api/v1/feedback?{bad}")).await;
            assert_eq!(s, 400, "{bad}: {b}");
            if field != "query" {
                assert_eq!(b["field"], field, "{bad}: {b}");
            }
        }
        app.stop().await;
    }
}

/// Index jobs queued for a ticket.
async fn index_jobs(desk: &switchboard::desk::Desk, ticket_id: i64) -> usize {
    outbox_rows(desk, "index")
        .await
        .iter()
        .filter(|p| p["ticket_id"] == ticket_id)
        .count()
}

/// The ticket's history entries of `kind`.
async fn history(
    desk: &switchboard::desk::Desk,
    ticket_id: i64,
    kind: &str,
) -> Vec<entity::ticket_event::Model> {
    entity::ticket_event::Entity::find()
        .filter(entity::ticket_event::Column::TicketId.eq(ticket_id))
        .filter(entity::ticket_event::Column::Kind.eq(kind))
        .all(desk.store.db())
        .await
        .unwrap()
}

crate::on_both! {
    /// A complaint raised by the low-rating rule sets the ticket's kind to complaint
    /// (one history entry) and queues the ticket for the search index, like an agent's
    /// mark does; neither path sets the kind or queues the index twice.
    async fn raised_complaints_set_the_kind_and_reindex_once(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let id = ticket_on(&desk, Channel::Email, "rita@example.de", "Kaputt").await;
        set_status(&desk, id, Status::Resolved).await;
        let s = desk.ticket_survey(id).await.unwrap().unwrap();
        desk.send_survey(s.id).await.unwrap();
        let before = index_jobs(&desk, id).await;
        let token = desk.survey_token(&s).unwrap();
        desk.answer_survey(&token, 1, Some("Schlecht")).await.unwrap().expect("a good link");
        let t = desk.ticket(id).await.unwrap();
        assert_eq!((t.kind.as_str(), t.priority.as_str()), ("complaint", "high"));
        let kinds = history(&desk, id, "kind").await;
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert_eq!(kinds[0].data["to"], "complaint");
        assert_eq!(kinds[0].actor_kind, "contact");
        assert_eq!(index_jobs(&desk, id).await, before + 1, "the changed ticket is re-indexed once");
        // A changed answer, low again: the one complaint, nothing changes on the ticket.
        let s = desk.ticket_survey(id).await.unwrap().unwrap();
        desk.answer_survey(&desk.survey_token(&s).unwrap(), 2, None).await.unwrap().expect("the change link");
        assert_eq!(history(&desk, id, "kind").await.len(), 1);
        assert_eq!(index_jobs(&desk, id).await, before + 1);
        assert_eq!(desk.complaints(None).await.unwrap().len(), 1);

        // An agent's mark: the kind set once, one index job.
        let marked = ticket_on(&desk, Channel::Email, "sven@example.de", "Falsche Ware").await;
        let before = index_jobs(&desk, marked).await;
        desk.mark_ticket(marked, Actor::System, FeedbackKind::Complaint, None).await.unwrap();
        let t = desk.ticket(marked).await.unwrap();
        assert_eq!((t.kind.as_str(), t.priority.as_str()), ("complaint", "high"));
        let kinds = history(&desk, marked, "kind").await;
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert_eq!(index_jobs(&desk, marked).await, before + 1);
        // Praise on a ticket: the kind set by the mark itself, one index job.
        let praised = ticket_on(&desk, Channel::Email, "tom@example.de", "Danke").await;
        let before = index_jobs(&desk, praised).await;
        desk.mark_ticket(praised, Actor::System, FeedbackKind::Praise, None).await.unwrap();
        assert_eq!(desk.ticket(praised).await.unwrap().kind, "praise");
        assert_eq!(history(&desk, praised, "kind").await.len(), 1);
        assert_eq!(index_jobs(&desk, praised).await, before + 1);
    }
}

crate::on_both! {
    /// Working a complaint and changing a survey answer reach the team's leads live:
    /// `complaint_updated` and `feedback_updated`, with the same item shapes as the
    /// board and the stream.
    async fn complaint_and_answer_changes_are_live(engine: Engine) {
        let app = TestApp::start(engine).await;
        let desk = app.desk.clone();
        let team = desk.create_team("Versand").await.unwrap().team.id;
        let lead = app.signed_in(Role::Lead).await;
        desk.set_team_member(team, lead.agent_id, true).await.unwrap();
        let mut ws = crate::live::open(&app, &lead, &["feedback"]).await;
        let id = ticket_on(&desk, Channel::Email, "uwe@example.de", "Zu spät").await;
        desk.assign(id, Actor::System, &Assignment { team_id: Some(Some(team)), agent_id: None }).await.unwrap();
        answered(&desk, id, 2, Some("Zu langsam")).await;
        let added = crate::live::until(&mut ws, |v| v["type"] == "feedback_added").await;
        let raised = crate::live::until(&mut ws, |v| v["type"] == "complaint_raised").await;
        assert_eq!(raised["reopened"], false);
        let cid = raised["complaint"]["id"].as_i64().unwrap();

        let (s, b) = lead.send("PATCH", &format!("/api/v1/complaints/{cid}"), json!({"state": "in_progress", "owner_id": lead.agent_id})).await;
        assert_eq!(s, 200, "{b}");
        let updated = crate::live::until(&mut ws, |v| v["type"] == "complaint_updated").await;
        assert_eq!(updated["complaint"], b, "the same shape as the API's");
        assert_eq!(updated["complaint"]["state"], "in_progress");

        let s = desk.ticket_survey(id).await.unwrap().unwrap();
        desk.answer_survey(&desk.survey_token(&s).unwrap(), 4, Some("Doch ganz gut")).await.unwrap().expect("the change link");
        let changed = crate::live::until(&mut ws, |v| v["type"] == "feedback_updated").await;
        assert_eq!(changed["feedback"]["id"], added["feedback"]["id"]);
        assert_eq!((changed["feedback"]["rating"].as_i64(), changed["feedback"]["comment"].as_str()), (Some(4), Some("Doch ganz gut")));
        let (_, stream) = lead.get("/api/v1/feedback?kind=survey").await;
        assert_eq!(stream["items"][0], changed["feedback"]);

        // Resolved, then the customer changes a 4 to a 1: the complaint reopens, live.
        let (s, b) = lead.send("PATCH", &format!("/api/v1/complaints/{cid}"), json!({"state": "resolved", "outcome": "apology"})).await;
        assert_eq!(s, 200, "{b}");
        let s = desk.ticket_survey(id).await.unwrap().unwrap();
        desk.answer_survey(&desk.survey_token(&s).unwrap(), 1, Some("Doch nicht")).await.unwrap().expect("the change link");
        let reopened = crate::live::until(&mut ws, |v| v["type"] == "complaint_raised").await;
        assert_eq!((reopened["reopened"].as_bool(), reopened["complaint"]["id"].as_i64()), (Some(true), Some(cid)));
        assert_eq!(reopened["complaint"]["state"], "open");
        app.stop().await;
    }
}

crate::on_both! {
    /// Merging contacts moves the merged contact's feedback to the survivor; erasing a
    /// customer drops the surveys still queued for them.
    async fn merged_contacts_keep_their_feedback(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let kept = ticket_on(&desk, Channel::Email, "vera@example.de", "Frage").await;
        let gone = ticket_on(&desk, Channel::Chat, "visitor-vera", "Noch eine").await;
        let item = desk.mark_ticket(gone, Actor::System, FeedbackKind::Praise, Some("Nett")).await.unwrap();
        let (survivor, merged) = (desk.ticket(kept).await.unwrap().contact_id, desk.ticket(gone).await.unwrap().contact_id);
        assert_eq!(item.contact_id, merged);
        desk.merge_contacts(survivor, merged, Actor::System).await.unwrap();
        let f = entity::feedback::Entity::find_by_id(item.id).one(desk.store.db()).await.unwrap().unwrap();
        assert_eq!(f.contact_id, survivor);

        // A survey queued (not yet sent) for another customer stays; theirs goes.
        let other = ticket_on(&desk, Channel::Email, "walt@example.de", "Hallo").await;
        set_status(&desk, kept, Status::Resolved).await;
        set_status(&desk, other, Status::Resolved).await;
        let theirs = desk.ticket_survey(kept).await.unwrap().unwrap().id;
        let others = desk.ticket_survey(other).await.unwrap().unwrap().id;
        assert_eq!(outbox_rows(&desk, "survey").await.len(), 2);
        desk.erase_contact(survivor, Actor::System).await.unwrap();
        assert_eq!(outbox_rows(&desk, "survey").await, vec![json!({"survey_id": others})]);
        assert!(entity::survey::Entity::find_by_id(theirs).one(desk.store.db()).await.unwrap().is_none());
        assert!(entity::feedback::Entity::find_by_id(item.id).one(desk.store.db()).await.unwrap().is_none());
    }
}

crate::on_both! {
    /// The board lists open and in-progress complaints complete, however old, and the
    /// newest 100 resolved ones, saying that column is cut off.
    async fn the_board_keeps_old_open_complaints(engine: Engine) {
        let (desk, _ts) = desk(engine).await;
        let old = ticket_on(&desk, Channel::Email, "xaver@example.de", "Alt").await;
        desk.mark_ticket(old, Actor::System, FeedbackKind::Complaint, None).await.unwrap();
        entity::complaint::Entity::update_many()
            .col_expr(entity::complaint::Column::RaisedAt, sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::days(400)))
            .exec(desk.store.db())
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let mut rows = Vec::new();
        for n in 0..101 {
            let t = ticket_on(&desk, Channel::Email, &format!("k{n}@example.de"), "Neu").await;
            rows.push(entity::complaint::ActiveModel {
                ticket_id: sea_orm::Set(t),
                state: sea_orm::Set("resolved".into()),
                source: sea_orm::Set("agent".into()),
                outcome: sea_orm::Set(Some("refund".into())),
                raised_at: sea_orm::Set(now - chrono::Duration::minutes(n)),
                resolved_at: sea_orm::Set(Some(now)),
                resolution_seconds: sea_orm::Set(Some(60 * n)),
                updated_at: sea_orm::Set(now),
                ..Default::default()
            });
        }
        entity::complaint::Entity::insert_many(rows).exec(desk.store.db()).await.unwrap();
        let board = desk.complaint_board(None).await.unwrap();
        assert!(board.items.iter().any(|c| c.ticket_id == old && c.state == "open"), "the old open complaint stays");
        let resolved: Vec<_> = board.items.iter().filter(|c| c.state == "resolved").collect();
        assert_eq!(resolved.len(), 100);
        assert_eq!(resolved[0].resolution_seconds, Some(0), "newest first");
        assert_eq!(board.cut_off, vec![switchboard::desk::feedback::ComplaintState::Resolved]);
        let only = desk.complaint_board(Some(switchboard::desk::feedback::ComplaintState::Open)).await.unwrap();
        assert_eq!((only.items.len(), only.cut_off.len()), (1, 0));
    }
}
