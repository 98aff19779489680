//! SLA clocks: business hours in a time zone with holidays, the policy a ticket follows,
//! its first-response and resolution due times, the pauses while it waits on the
//! customer, the verdicts (met or breached), and the watcher that warns before a due time
//! and records a breach when one passes.
//!
//! Due times are set when a ticket is created and when its team or priority changes while
//! its clocks run (a resolved or closed ticket keeps the due times it was judged on);
//! later edits of a policy or calendar leave the due times of existing tickets alone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use super::ingest::record;
use super::{Actor, Desk, Error, Priority, Result, Status, check_text};
use crate::store::now;
use entity::{calendar, sla_policy, team, ticket, ticket_event};

/// Weekday keys of a calendar's hours, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The furthest a due time is searched for: a calendar open this rarely has no due time.
const MAX_DAYS: u32 = 3 * 366;

/// How far back the watcher looks for due times that passed without a verdict.
const LOOKBACK_DAYS: i64 = 7;

/// Most tickets the watcher handles per metric and round.
const WATCH_BATCH: u64 = 500;

/// Opening hours in one time zone: per weekday the spans open (minutes after local
/// midnight, ordered, not overlapping; 1440 is midnight at the day's end), and the whole
/// days closed.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: Tz,
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

/// A calendar as the API reads and writes it: `hours` like `{"mon": [["09:00","17:00"]]}`
/// (a missing day is closed) and `holidays` like `["2026-12-24"]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Hours {
    /// IANA time zone the hours are in, like `Europe/Berlin`.
    pub time_zone: String,
    /// Per weekday key (`mon`…`sun`) the open spans as `["HH:MM", "HH:MM"]`.
    pub hours: BTreeMap<String, Vec<(String, String)>>,
    /// Whole days closed, as `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Parses "HH:MM" (00:00 to 24:00) into minutes after midnight.
fn minutes(field: &str, s: &str) -> Result<u32> {
    let bad = || Error::invalid(field, format!("expected a time HH:MM, got {s:?}"));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Calendar {
    /// Checks and builds a calendar; errors name the field at fault.
    pub fn new(spec: &Hours) -> Result<Calendar> {
        let tz: Tz = spec.time_zone.parse().map_err(|_| {
            Error::invalid(
                "time_zone",
                format!(
                    "unknown time zone {:?} (expected an IANA name like Europe/Berlin)",
                    spec.time_zone
                ),
            )
        })?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, spans) in &spec.hours {
            let Some(i) = DAYS.iter().position(|d| d == day) else {
                return Err(Error::invalid(
                    format!("hours.{day}"),
                    format!("expected one of {}", DAYS.join(", ")),
                ));
            };
            let mut parsed = Vec::with_capacity(spans.len());
            for (n, (from, to)) in spans.iter().enumerate() {
                let field = format!("hours.{day}[{n}]");
                let (a, b) = (minutes(&field, from)?, minutes(&field, to)?);
                if a >= b {
                    return Err(Error::invalid(field, "a span must end after it starts"));
                }
                parsed.push((a, b));
            }
            parsed.sort_unstable();
            if parsed.windows(2).any(|w| w[1].0 < w[0].1) {
                return Err(Error::invalid(
                    format!("hours.{day}"),
                    "spans must not overlap",
                ));
            }
            week[i] = parsed;
        }
        if week.iter().all(Vec::is_empty) {
            return Err(Error::invalid(
                "hours",
                "give the open hours of at least one day",
            ));
        }
        let mut holidays = BTreeSet::new();
        for (n, h) in spec.holidays.iter().enumerate() {
            let d = NaiveDate::parse_from_str(h, "%Y-%m-%d").map_err(|_| {
                Error::invalid(
                    format!("holidays[{n}]"),
                    format!("expected a date YYYY-MM-DD, got {h:?}"),
                )
            })?;
            holidays.insert(d);
        }
        Ok(Calendar { tz, week, holidays })
    }

    /// The calendar of a stored row.
    pub fn from_model(m: &calendar::Model) -> Result<Calendar> {
        Calendar::new(&hours_of(m)?)
    }

    /// The UTC instant of a local wall-clock time on `date` (`minute` may be 1440). In a
    /// DST gap the clock is read as if it had not jumped; an ambiguous time counts as the
    /// earlier instant for a span's start and the later one for its end, so an open span
    /// keeps its full length.
    fn instant(&self, date: NaiveDate, minute: u32, end: bool) -> DateTime<Utc> {
        let (date, minute) = if minute >= 1440 {
            (date.succ_opt().unwrap_or(date), minute - 1440)
        } else {
            (date, minute)
        };
        let local: NaiveDateTime = date
            .and_hms_opt(minute / 60, minute % 60, 0)
            .unwrap_or_default();
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(early, late) => {
                if end { late } else { early }.with_timezone(&Utc)
            }
            chrono::LocalResult::None => {
                let before = self
                    .tz
                    .offset_from_utc_datetime(&(local - chrono::Duration::days(1)))
                    .fix();
                (local - chrono::Duration::seconds(before.local_minus_utc().into())).and_utc()
            }
        }
    }

    /// The open spans of one local date as UTC instants; none on a holiday.
    fn spans(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> {
        let spans: &[(u32, u32)] = if self.holidays.contains(&date) {
            &[]
        } else {
            &self.week[date.weekday().num_days_from_monday() as usize]
        };
        spans
            .iter()
            .map(move |&(a, b)| (self.instant(date, a, false), self.instant(date, b, true)))
    }

    /// The local date of an instant in the calendar's time zone.
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }
}

/// The stored hours of a calendar row, read back into their API form.
pub fn hours_of(m: &calendar::Model) -> Result<Hours> {
    let bad = |e: serde_json::Error| {
        Error::Store(sea_orm::DbErr::Custom(format!(
            "calendar {} is not readable: {e}",
            m.id
        )))
    };
    Ok(Hours {
        time_zone: m.time_zone.clone(),
        hours: serde_json::from_str(&m.hours).map_err(bad)?,
        holidays: serde_json::from_str(&m.holidays).map_err(bad)?,
    })
}

/// The clock an SLA counts on: around the clock, or a calendar's business hours.
#[derive(Clone, Debug)]
pub enum Clock {
    /// Every second counts: no calendar.
    Always,
    /// Only the calendar's open hours count.
    Hours(Calendar),
}

impl Clock {
    /// The instant when `seconds` of business time have passed since `from`; None when
    /// the calendar is not open that much within three years.
    #[cfg(test)]
    pub fn add(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        self.add_span(from, chrono::Duration::seconds(seconds))
    }

    /// Like [`Clock::add`], to the nanosecond.
    pub fn add_span(&self, from: DateTime<Utc>, span: chrono::Duration) -> Option<DateTime<Utc>> {
        let cal = match self {
            Clock::Always => return from.checked_add_signed(span),
            Clock::Hours(cal) => cal,
        };
        let mut left = span.max(chrono::Duration::zero());
        let mut date = cal.local_date(from);
        for _ in 0..MAX_DAYS {
            for (start, end) in cal.spans(date) {
                if end <= from {
                    continue;
                }
                let start = start.max(from);
                let open = end - start;
                if left <= open {
                    return Some(start + left);
                }
                left -= open;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Business seconds between two instants (0 when `to` is not after `from`).
    #[cfg(test)]
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        self.span(from, to).num_seconds()
    }

    /// Like [`Clock::between`], to the nanosecond.
    pub fn span(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> chrono::Duration {
        if to <= from {
            return chrono::Duration::zero();
        }
        let cal = match self {
            Clock::Always => return to - from,
            Clock::Hours(cal) => cal,
        };
        let last = cal.local_date(to);
        let mut date = cal.local_date(from);
        let mut total = chrono::Duration::zero();
        while date <= last {
            for (start, end) in cal.spans(date) {
                let (a, b) = (start.max(from), end.min(to));
                if b > a {
                    total += b - a;
                }
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        total
    }
}

super::words! {
    /// Which SLA clock: the first agent reply, or the resolution.
    Metric, "metric" { FirstResponse = "first_response", Resolution = "resolution" }
}

/// A policy with the clock it counts on.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The stored policy: its targets and what it covers.
    pub model: sla_policy::Model,
    /// The clock its targets count on (its calendar's hours, or around the clock).
    pub clock: Clock,
}

impl Policy {
    fn target(&self, metric: Metric) -> Option<chrono::Duration> {
        match metric {
            Metric::FirstResponse => self.model.first_response_minutes,
            Metric::Resolution => self.model.resolution_minutes,
        }
        .map(|m| chrono::Duration::minutes(m.into()))
    }

    /// The due time of `metric` for a ticket created at `created`, its clock having stood
    /// still for `paused` of business time.
    pub fn due(
        &self,
        metric: Metric,
        created: DateTime<Utc>,
        paused: chrono::Duration,
    ) -> Option<DateTime<Utc>> {
        self.clock.add_span(created, self.target(metric)? + paused)
    }
}

/// How specific a policy is for a team and priority (higher wins), or None when it does
/// not cover them: team and priority > team > priority > neither.
pub fn specificity(p: &sla_policy::Model, team_id: Option<i64>, priority: &str) -> Option<u8> {
    let team = match p.team_id {
        None => 0,
        Some(t) if Some(t) == team_id => 2,
        Some(_) => return None,
    };
    let prio = match p.priority.as_deref() {
        None => 0,
        Some(pr) if pr == priority => 1,
        Some(_) => return None,
    };
    Some(team + prio)
}

/// The most specific of `policies` for a team and priority (the oldest on a tie).
pub fn choose<'a>(
    policies: &'a [sla_policy::Model],
    team_id: Option<i64>,
    priority: &str,
) -> Option<&'a sla_policy::Model> {
    policies
        .iter()
        .filter(|p| p.active)
        .filter_map(|p| specificity(p, team_id, priority).map(|s| (s, std::cmp::Reverse(p.id), p)))
        .max_by_key(|(s, id, _)| (*s, *id))
        .map(|(_, _, p)| p)
}

async fn with_clock<C: ConnectionTrait>(db: &C, model: sla_policy::Model) -> Result<Policy> {
    let clock = match model.calendar_id {
        None => Clock::Always,
        Some(id) => match calendar::Entity::find_by_id(id).one(db).await? {
            Some(c) => match Calendar::from_model(&c) {
                Ok(cal) => Clock::Hours(cal),
                Err(e) => {
                    tracing::warn!(
                        calendar = id,
                        "calendar unreadable, counting around the clock: {e}"
                    );
                    Clock::Always
                }
            },
            None => Clock::Always,
        },
    };
    Ok(Policy { model, clock })
}

/// The active policy that covers a team and priority, with its clock.
pub(crate) async fn policy_for<C: ConnectionTrait>(
    db: &C,
    team_id: Option<i64>,
    priority: &str,
) -> Result<Option<Policy>> {
    let mut cond = Condition::any().add(sla_policy::Column::TeamId.is_null());
    if let Some(t) = team_id {
        cond = cond.add(sla_policy::Column::TeamId.eq(t));
    }
    let candidates = sla_policy::Entity::find()
        .filter(sla_policy::Column::Active.eq(true))
        .filter(cond)
        .filter(
            Condition::any()
                .add(sla_policy::Column::Priority.is_null())
                .add(sla_policy::Column::Priority.eq(priority)),
        )
        .all(db)
        .await?;
    match choose(&candidates, team_id, priority) {
        Some(p) => Ok(Some(with_clock(db, p.clone()).await?)),
        None => Ok(None),
    }
}

/// A policy by id (active or not), with its clock.
pub(crate) async fn policy_by_id<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<Policy>> {
    match sla_policy::Entity::find_by_id(id).one(db).await? {
        Some(p) => Ok(Some(with_clock(db, p).await?)),
        None => Ok(None),
    }
}

/// True for the statuses in which the SLA clocks stand still.
fn paused(s: Status) -> bool {
    matches!(s, Status::Pending | Status::Resolved | Status::Closed)
}

/// Sets a new ticket's policy and due times.
pub(crate) async fn start<C: ConnectionTrait>(
    db: &C,
    team_id: Option<i64>,
    priority: Priority,
    created: DateTime<Utc>,
    row: &mut ticket::ActiveModel,
) -> Result<()> {
    if let Some(p) = policy_for(db, team_id, priority.as_str()).await? {
        row.sla_policy_id = Set(Some(p.model.id));
        let zero = chrono::Duration::zero();
        row.first_response_due_at = Set(p.due(Metric::FirstResponse, created, zero));
        row.resolution_due_at = Set(p.due(Metric::Resolution, created, zero));
    }
    Ok(())
}

/// The business time a ticket's clocks stood still, per metric, from the pauses in its
/// history (`sla_resumed` entries) as counted by `clock`. The first-response clock counts
/// only pauses that began before the first response.
async fn paused_time<C: ConnectionTrait>(
    db: &C,
    t: &ticket::Model,
    clock: &Clock,
) -> Result<(chrono::Duration, chrono::Duration)> {
    let pauses = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(t.id))
        .filter(ticket_event::Column::Kind.eq("sla_resumed"))
        .all(db)
        .await?;
    let (mut first, mut all) = (chrono::Duration::zero(), chrono::Duration::zero());
    for e in pauses {
        let at = |k: &str| {
            e.data
                .get(k)
                .and_then(|v| v.as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        let (Some(from), Some(to)) = (at("paused_at"), at("resumed_at")) else {
            continue;
        };
        let stood = clock.span(from, to);
        all += stood;
        if t.first_response_at.is_none_or(|r| from < r) {
            first += stood;
        }
    }
    Ok((first, all))
}

/// Chooses a ticket's policy again for its (new) team and priority and sets its due
/// times from its creation, pauses deducted; a first response already given keeps its due
/// time, and so do both clocks of a resolved or closed ticket (they stopped and got their
/// verdict against the due times they had; a reopen moves them by the pause).
/// Nothing changes when the policy stays the same, unless `force`.
pub(crate) async fn reassess<C: ConnectionTrait>(
    db: &C,
    t: &ticket::Model,
    team_id: Option<i64>,
    priority: &str,
    force: bool,
    row: &mut ticket::ActiveModel,
) -> Result<()> {
    let policy = policy_for(db, team_id, priority).await?;
    let id = policy.as_ref().map(|p| p.model.id);
    if id == t.sla_policy_id && !force {
        return Ok(());
    }
    row.sla_policy_id = Set(id);
    if !super::stored::<Status>(&t.status)?.is_active() {
        return Ok(());
    }
    let Some(p) = policy else {
        if t.first_response_at.is_none() {
            row.first_response_due_at = Set(None);
        }
        row.resolution_due_at = Set(None);
        return Ok(());
    };
    let (first, all) = paused_time(db, t, &p.clock).await?;
    if t.first_response_at.is_none() {
        row.first_response_due_at = Set(p.due(Metric::FirstResponse, t.created_at, first));
    }
    row.resolution_due_at = Set(p.due(Metric::Resolution, t.created_at, all));
    Ok(())
}

/// A breach to record in the ticket's history.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Breach {
    /// The clock that breached.
    pub metric: Metric,
    /// The due time it passed.
    pub due_at: DateTime<Utc>,
}

impl Breach {
    /// Writes the breach into the ticket's history (`sla_breached`, by the system).
    pub(crate) async fn record<C: ConnectionTrait>(
        self,
        db: &C,
        ticket_id: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        record(
            db,
            ticket_id,
            Actor::System,
            "sla_breached",
            json!({"metric": self.metric, "due_at": self.due_at}),
            at,
        )
        .await
    }
}

/// The verdict on a clock that stops at `stopped` (or stopped when the ticket was
/// paused): breached when that is after the due time, or when it was breached before (a
/// breach once given stays); None without a due time. Returns the verdict and, when it
/// newly turns into a breach, the breach to record.
fn verdict(
    metric: Metric,
    due: Option<DateTime<Utc>>,
    before: Option<bool>,
    stopped: DateTime<Utc>,
) -> (Option<bool>, Option<Breach>) {
    let Some(due_at) = due else {
        return (before, None);
    };
    let breached = before == Some(true) || stopped > due_at;
    let newly = (breached && before != Some(true)).then_some(Breach { metric, due_at });
    (Some(breached), newly)
}

/// The first agent reply on a ticket at `at`: its seconds and verdict on `row`; returns
/// the breach to record, if it is a new one.
pub(crate) fn first_response(
    t: &ticket::Model,
    at: DateTime<Utc>,
    row: &mut ticket::ActiveModel,
) -> Option<Breach> {
    row.first_response_seconds = Set(Some((at - t.created_at).num_seconds().max(0)));
    let stopped = t.sla_paused_at.unwrap_or(at).min(at);
    let (v, breach) = verdict(
        Metric::FirstResponse,
        t.first_response_due_at,
        t.first_response_breached,
        stopped,
    );
    row.first_response_breached = Set(v);
    breach
}

/// A ticket's status changes from `from` to `to` at `at`: the one SLA hook of every
/// status change (agent or customer). It pauses or resumes the clocks (a resume moves the
/// due times later by the business time of the pause and records the pause in the
/// history as `sla_resumed`, with or without a policy, so a policy given later deducts
/// it), and when the ticket is resolved or closed writes the resolution's seconds and
/// verdict. A ticket resolved without any agent reply gets its first-response verdict
/// then too, judged at the same instant its clocks stopped (a later reply can still turn
/// a met verdict into a breach, never back). New breaches are recorded in the history.
pub(crate) async fn status_change<C: ConnectionTrait>(
    db: &C,
    t: &ticket::Model,
    from: Status,
    to: Status,
    actor: Actor,
    at: DateTime<Utc>,
    row: &mut ticket::ActiveModel,
) -> Result<()> {
    let mut breaches = Vec::new();
    if from.is_active() && !to.is_active() {
        row.resolution_seconds = Set(Some((at - t.created_at).num_seconds().max(0)));
        let stopped = match (from, t.sla_paused_at) {
            (Status::Pending, Some(p)) => p.min(at),
            _ => at,
        };
        let (v, b) = verdict(
            Metric::Resolution,
            t.resolution_due_at,
            t.resolution_breached,
            stopped,
        );
        row.resolution_breached = Set(v);
        breaches.extend(b);
        if t.first_response_at.is_none() && t.first_response_due_at.is_some() {
            let (v, b) = verdict(
                Metric::FirstResponse,
                t.first_response_due_at,
                t.first_response_breached,
                stopped,
            );
            row.first_response_breached = Set(v);
            breaches.extend(b);
        }
    }
    if !paused(from) && paused(to) {
        row.sla_paused_at = Set(Some(at));
    }
    if paused(from) && !paused(to) {
        row.sla_paused_at = Set(None);
        if let Some(since) = t.sla_paused_at {
            let clock = match t.sla_policy_id {
                Some(id) => policy_by_id(db, id).await?.map(|p| p.clock),
                None => None,
            }
            .unwrap_or(Clock::Always);
            let later = |due: Option<DateTime<Utc>>| match due {
                Some(d) if d > since => clock.add_span(at, clock.span(since, d)),
                other => other,
            };
            if t.first_response_at.is_none() {
                row.first_response_due_at = Set(later(t.first_response_due_at));
            }
            row.resolution_due_at = Set(later(t.resolution_due_at));
            record(
                db,
                t.id,
                actor,
                "sla_resumed",
                json!({"paused_at": since, "resumed_at": at}),
                at,
            )
            .await?;
        }
    }
    for b in breaches {
        b.record(db, t.id, at).await?;
    }
    Ok(())
}

/// The due times already warned about, so each warns once.
#[derive(Debug, Default)]
pub struct Warned(HashSet<(i64, Metric, DateTime<Utc>)>);

impl Metric {
    fn due_column(self) -> ticket::Column {
        match self {
            Metric::FirstResponse => ticket::Column::FirstResponseDueAt,
            Metric::Resolution => ticket::Column::ResolutionDueAt,
        }
    }
    fn breached_column(self) -> ticket::Column {
        match self {
            Metric::FirstResponse => ticket::Column::FirstResponseBreached,
            Metric::Resolution => ticket::Column::ResolutionBreached,
        }
    }
    /// Tickets whose clock of this metric runs now and has no breach yet.
    fn running(self) -> Condition {
        let open = Condition::all()
            .add(ticket::Column::Status.is_in([Status::New.as_str(), Status::Open.as_str()]))
            .add(ticket::Column::SlaPausedAt.is_null());
        match self {
            Metric::FirstResponse => open
                .add(ticket::Column::FirstResponseAt.is_null())
                .add(ticket::Column::FirstResponseBreached.is_null()),
            // A reopened ticket keeps its last verdict; a met one may still breach now.
            Metric::Resolution => open.add(
                Condition::any()
                    .add(ticket::Column::ResolutionBreached.is_null())
                    .add(ticket::Column::ResolutionBreached.eq(false)),
            ),
        }
    }
    fn due_of(self, t: &ticket::Model) -> Option<DateTime<Utc>> {
        match self {
            Metric::FirstResponse => t.first_response_due_at,
            Metric::Resolution => t.resolution_due_at,
        }
    }
}

/// Body of `POST`/`PATCH /api/v1/sla-policies`; absent fields stay (or take their
/// default on creation), `null` clears a nullable one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// The policy's name (required on creation).
    pub name: Option<String>,
    /// The team it covers; `null` for every team.
    #[serde(default, deserialize_with = "nullable")]
    pub team_id: Option<Option<i64>>,
    /// The priority it covers; `null` for every priority.
    #[serde(default, deserialize_with = "nullable")]
    pub priority: Option<Option<Priority>>,
    /// The calendar whose hours count; `null` for around the clock.
    #[serde(default, deserialize_with = "nullable")]
    pub calendar_id: Option<Option<i64>>,
    /// Business minutes to the first agent reply; `null` for no target.
    #[serde(default, deserialize_with = "nullable")]
    pub first_response_minutes: Option<Option<i32>>,
    /// Business minutes to the resolution; `null` for no target.
    #[serde(default, deserialize_with = "nullable")]
    pub resolution_minutes: Option<Option<i32>>,
    /// Minutes before a due time the watcher warns (15 by default).
    pub warn_minutes: Option<i32>,
    /// Whether new and reassessed tickets may get this policy (true by default).
    pub active: Option<bool>,
}

/// Body of `POST`/`PATCH /api/v1/calendars`; absent fields stay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    /// The calendar's name (required on creation).
    pub name: Option<String>,
    /// IANA time zone (required on creation).
    pub time_zone: Option<String>,
    /// Open spans per weekday, as in [`Hours`] (required on creation).
    pub hours: Option<BTreeMap<String, Vec<(String, String)>>>,
    /// Whole days closed, as `YYYY-MM-DD`.
    pub holidays: Option<Vec<String>>,
}

/// A calendar as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CalendarView {
    /// The calendar's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// IANA time zone of its hours.
    pub time_zone: String,
    /// Open spans per weekday, as in [`Hours`].
    pub hours: BTreeMap<String, Vec<(String, String)>>,
    /// Whole days closed, as `YYYY-MM-DD`.
    pub holidays: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl CalendarView {
    fn of(m: calendar::Model) -> Result<CalendarView> {
        let h = hours_of(&m)?;
        Ok(CalendarView {
            id: m.id,
            name: m.name,
            time_zone: h.time_zone,
            hours: h.hours,
            holidays: h.holidays,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_minutes(field: &str, m: Option<i32>) -> Result<()> {
    match m {
        Some(m) if !(1..=525_600).contains(&m) => Err(Error::invalid(
            field,
            "expected minutes between 1 and 525600 (a year)",
        )),
        _ => Ok(()),
    }
}

/// Longest name of a calendar or policy.
const MAX_NAME: usize = 200;

impl Desk {
    /// Every calendar, by name.
    pub async fn calendars(&self) -> Result<Vec<CalendarView>> {
        calendar::Entity::find()
            .order_by_asc(calendar::Column::Name)
            .order_by_asc(calendar::Column::Id)
            .all(self.store.db())
            .await?
            .into_iter()
            .map(CalendarView::of)
            .collect()
    }

    /// One calendar.
    pub async fn calendar(&self, id: i64) -> Result<CalendarView> {
        let m = calendar::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("calendar", id))?;
        CalendarView::of(m)
    }

    /// Creates a calendar (name, time_zone and hours are required).
    pub async fn create_calendar(&self, input: &CalendarInput) -> Result<CalendarView> {
        let name = input
            .name
            .as_deref()
            .ok_or_else(|| Error::invalid("name", "is required"))?;
        check_text("name", name, MAX_NAME)?;
        let spec = Hours {
            time_zone: input
                .time_zone
                .clone()
                .ok_or_else(|| Error::invalid("time_zone", "is required"))?,
            hours: input
                .hours
                .clone()
                .ok_or_else(|| Error::invalid("hours", "is required"))?,
            holidays: input.holidays.clone().unwrap_or_default(),
        };
        Calendar::new(&spec)?;
        let at = now();
        let tx = self.store.write().await?;
        let m = calendar::ActiveModel {
            name: Set(name.trim().to_owned()),
            time_zone: Set(spec.time_zone.clone()),
            hours: Set(json!(spec.hours).to_string()),
            holidays: Set(json!(spec.holidays).to_string()),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        tx.commit().await?;
        CalendarView::of(m)
    }

    /// Changes a calendar; tickets' due times already set stay as they are.
    pub async fn update_calendar(&self, id: i64, input: &CalendarInput) -> Result<CalendarView> {
        let tx = self.store.write().await?;
        let m = calendar::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("calendar", id))?;
        let mut spec = hours_of(&m)?;
        if let Some(tz) = &input.time_zone {
            spec.time_zone = tz.clone();
        }
        if let Some(h) = &input.hours {
            spec.hours = h.clone();
        }
        if let Some(h) = &input.holidays {
            spec.holidays = h.clone();
        }
        Calendar::new(&spec)?;
        let mut row = calendar::ActiveModel {
            id: Set(m.id),
            time_zone: Set(spec.time_zone.clone()),
            hours: Set(json!(spec.hours).to_string()),
            holidays: Set(json!(spec.holidays).to_string()),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(name) = &input.name {
            check_text("name", name, MAX_NAME)?;
            row.name = Set(name.trim().to_owned());
        }
        let m = row.update(&*tx).await?;
        tx.commit().await?;
        CalendarView::of(m)
    }

    /// Deletes a calendar no policy counts on.
    pub async fn delete_calendar(&self, id: i64) -> Result<()> {
        let tx = self.store.write().await?;
        calendar::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("calendar", id))?;
        let used = sla_policy::Entity::find()
            .filter(sla_policy::Column::CalendarId.eq(id))
            .one(&*tx)
            .await?;
        if let Some(p) = used {
            return Err(Error::Conflict {
                code: "calendar_in_use",
                message: format!("SLA policy {} ({}) counts on this calendar", p.id, p.name),
            });
        }
        calendar::Entity::delete_by_id(id).exec(&*tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every SLA policy, by name.
    pub async fn sla_policies(&self) -> Result<Vec<sla_policy::Model>> {
        Ok(sla_policy::Entity::find()
            .order_by_asc(sla_policy::Column::Name)
            .order_by_asc(sla_policy::Column::Id)
            .all(self.store.db())
            .await?)
    }

    /// One SLA policy.
    pub async fn sla_policy(&self, id: i64) -> Result<sla_policy::Model> {
        sla_policy::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("SLA policy", id))
    }

    /// Checks a policy's fields against the store: the team and calendar exist, the
    /// minutes are positive, and it has a target.
    async fn check_policy<C: ConnectionTrait>(db: &C, p: &sla_policy::Model) -> Result<()> {
        check_text("name", &p.name, MAX_NAME)?;
        if let Some(id) = p.team_id
            && team::Entity::find_by_id(id).one(db).await?.is_none()
        {
            return Err(Error::invalid("team_id", format!("no team {id}")));
        }
        if let Some(id) = p.calendar_id
            && calendar::Entity::find_by_id(id).one(db).await?.is_none()
        {
            return Err(Error::invalid("calendar_id", format!("no calendar {id}")));
        }
        check_minutes("first_response_minutes", p.first_response_minutes)?;
        check_minutes("resolution_minutes", p.resolution_minutes)?;
        if p.first_response_minutes.is_none() && p.resolution_minutes.is_none() {
            return Err(Error::invalid(
                "first_response_minutes",
                "give first_response_minutes and/or resolution_minutes",
            ));
        }
        check_minutes("warn_minutes", Some(p.warn_minutes))
    }

    /// Creates an SLA policy (active, warning 15 minutes ahead, unless told otherwise).
    pub async fn create_sla_policy(&self, input: &PolicyInput) -> Result<sla_policy::Model> {
        let name = input
            .name
            .as_deref()
            .ok_or_else(|| Error::invalid("name", "is required"))?;
        let at = now();
        let policy = sla_policy::Model {
            id: 0,
            name: name.trim().to_owned(),
            team_id: input.team_id.flatten(),
            priority: input.priority.flatten().map(|p| p.as_str().to_owned()),
            calendar_id: input.calendar_id.flatten(),
            first_response_minutes: input.first_response_minutes.flatten(),
            resolution_minutes: input.resolution_minutes.flatten(),
            warn_minutes: input.warn_minutes.unwrap_or(15),
            active: input.active.unwrap_or(true),
            created_at: at,
            updated_at: at,
        };
        let tx = self.store.write().await?;
        Desk::check_policy(&*tx, &policy).await?;
        let mut row = sla_policy::ActiveModel::from(policy).reset_all();
        row.id = sea_orm::ActiveValue::NotSet;
        let m = row.insert(&*tx).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// Changes an SLA policy; due times already set on tickets stay as they are.
    pub async fn update_sla_policy(
        &self,
        id: i64,
        input: &PolicyInput,
    ) -> Result<sla_policy::Model> {
        let tx = self.store.write().await?;
        let mut p = sla_policy::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("SLA policy", id))?;
        if let Some(n) = &input.name {
            p.name = n.trim().to_owned();
        }
        if let Some(v) = input.team_id {
            p.team_id = v;
        }
        if let Some(v) = input.priority {
            p.priority = v.map(|p| p.as_str().to_owned());
        }
        if let Some(v) = input.calendar_id {
            p.calendar_id = v;
        }
        if let Some(v) = input.first_response_minutes {
            p.first_response_minutes = v;
        }
        if let Some(v) = input.resolution_minutes {
            p.resolution_minutes = v;
        }
        if let Some(v) = input.warn_minutes {
            p.warn_minutes = v;
        }
        if let Some(v) = input.active {
            p.active = v;
        }
        p.updated_at = now();
        Desk::check_policy(&*tx, &p).await?;
        let m = sla_policy::ActiveModel::from(p)
            .reset_all()
            .update(&*tx)
            .await?;
        tx.commit().await?;
        Ok(m)
    }

    /// Deletes an SLA policy no ticket follows; one in use can be deactivated instead.
    pub async fn delete_sla_policy(&self, id: i64) -> Result<()> {
        let tx = self.store.write().await?;
        sla_policy::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("SLA policy", id))?;
        let used = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::SlaPolicyId.eq(id))
            .into_tuple::<i64>()
            .one(&*tx)
            .await?;
        if used.is_some() {
            return Err(Error::Conflict {
                code: "policy_in_use",
                message: "tickets follow this policy; set active to false instead".into(),
            });
        }
        sla_policy::Entity::delete_by_id(id).exec(&*tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Chooses a ticket's policy again and sets its due times from its creation (pauses
    /// deducted), as if it had just been created with its current team and priority.
    pub async fn recompute_sla(&self, ticket_id: i64) -> Result<ticket::Model> {
        let tx = self.store.write().await?;
        self.store.lock_row(&tx, "ticket", ticket_id).await?;
        let t = ticket::Entity::find_by_id(ticket_id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", ticket_id))?;
        let mut row = ticket::ActiveModel {
            id: Set(t.id),
            ..Default::default()
        };
        reassess(&*tx, &t, t.team_id, &t.priority.clone(), true, &mut row).await?;
        let t = row.update(&*tx).await?;
        tx.commit().await?;
        self.hub.ticket(&t, false);
        Ok(t)
    }

    /// One round of the watcher: records the breaches of due times that passed and
    /// warns about the ones coming up within their policy's warning time, each once.
    pub async fn sla_check(&self, warned: &mut Warned) -> Result<()> {
        let at = now();
        for metric in Metric::ALL {
            self.breach_round(*metric, at).await?;
        }
        let policies: HashMap<i64, i32> = sla_policy::Entity::find()
            .all(self.store.db())
            .await?
            .into_iter()
            .map(|p| (p.id, p.warn_minutes))
            .collect();
        let Some(ahead) = policies.values().copied().max().filter(|m| *m > 0) else {
            return Ok(());
        };
        let horizon = at + chrono::Duration::minutes(ahead.into());
        warned.0.retain(|(_, _, due)| *due > at);
        for metric in Metric::ALL {
            let soon = self.running_due(*metric, at, horizon).await?;
            for t in soon {
                let (Some(due), Some(pid)) = (metric.due_of(&t), t.sla_policy_id) else {
                    continue;
                };
                let warn = policies.get(&pid).copied().unwrap_or(ahead);
                if due - chrono::Duration::minutes(warn.into()) > at
                    || !warned.0.insert((t.id, *metric, due))
                {
                    continue;
                }
                self.hub.sla(&t, false, metric.as_str(), due);
            }
        }
        Ok(())
    }

    /// Tickets whose clock of `metric` runs, without a breach, due in (`after`, `until`],
    /// soonest first.
    async fn running_due(
        &self,
        metric: Metric,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ticket::Model>> {
        let backend = self.store.db().get_database_backend();
        let statement = running_due_statement(metric, after, until, backend);
        Ok(ticket::Entity::find()
            .from_raw_sql(statement)
            .all(self.store.db())
            .await?)
    }

    /// Marks the running clocks of `metric` whose due time passed as breached.
    async fn breach_round(&self, metric: Metric, at: DateTime<Utc>) -> Result<()> {
        let since = at - chrono::Duration::days(LOOKBACK_DAYS);
        for t in self.running_due(metric, since, at).await? {
            self.record_breach(metric, t.id, at).await?;
        }
        Ok(())
    }

    /// Records the breach of a ticket's clock of `metric` if, at `at`, it runs without a
    /// breach and its due time has passed: once even with several nodes watching or the
    /// due time moved since it was read. Records it in the history and tells the queue;
    /// returns the due time breached, or None when nothing was to record.
    pub async fn record_breach(
        &self,
        metric: Metric,
        ticket_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let tx = self.store.write().await?;
        let changed = ticket::Entity::update_many()
            .col_expr(metric.breached_column(), Expr::value(true))
            .filter(ticket::Column::Id.eq(ticket_id))
            .filter(metric.due_column().lte(at))
            .filter(metric.running())
            .exec(&*tx)
            .await?;
        if changed.rows_affected != 1 {
            return Ok(None);
        }
        let t = ticket::Entity::find_by_id(ticket_id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("ticket", ticket_id))?;
        let Some(due_at) = metric.due_of(&t) else {
            return Ok(None);
        };
        Breach { metric, due_at }.record(&*tx, t.id, at).await?;
        tx.commit().await?;
        self.hub.sla(&t, true, metric.as_str(), due_at);
        self.hub.ticket(&t, false);
        Ok(Some(due_at))
    }
}

/// The watcher's query for tickets whose clock of `metric` runs, without a breach, due in
/// (`after`, `until`], soonest first. SQLite is told to read the due time's index: its
/// planner would otherwise pick the status index and read the whole backlog every round.
fn running_due_statement(
    metric: Metric,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    backend: sea_orm::DbBackend,
) -> sea_orm::Statement {
    let col = metric.due_column();
    let mut statement = ticket::Entity::find()
        .filter(col.gt(after))
        .filter(col.lte(until))
        .filter(metric.running())
        .order_by_asc(col)
        .limit(WATCH_BATCH)
        .build(backend);
    if backend == sea_orm::DbBackend::Sqlite {
        let index = match metric {
            Metric::FirstResponse => "ix_ticket_first_response_due_at",
            Metric::Resolution => "ix_ticket_resolution_due_at",
        };
        statement.sql = statement.sql.replacen(
            "FROM \"ticket\"",
            &format!("FROM \"ticket\" INDEXED BY \"{index}\""),
            1,
        );
    }
    statement
}

/// The watcher: every `every`, records passed due times as breaches and warns about
/// coming ones, until `stop`.
pub async fn watch(desk: Desk, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut warned = Warned::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = desk.sla_check(&mut warned).await {
            tracing::warn!("SLA check failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cal(tz: &str, days: &[(&str, &[(&str, &str)])], holidays: &[&str]) -> Clock {
        let spec = Hours {
            time_zone: tz.into(),
            hours: days
                .iter()
                .map(|(d, spans)| {
                    (
                        d.to_string(),
                        spans
                            .iter()
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                            .collect(),
                    )
                })
                .collect(),
            holidays: holidays.iter().map(|h| h.to_string()).collect(),
        };
        Clock::Hours(Calendar::new(&spec).unwrap())
    }

    const NINE_FIVE: &[(&str, &str)] = &[("09:00", "17:00")];

    fn weekdays(tz: &str, holidays: &[&str]) -> Clock {
        cal(
            tz,
            &[
                ("mon", NINE_FIVE),
                ("tue", NINE_FIVE),
                ("wed", NINE_FIVE),
                ("thu", NINE_FIVE),
                ("fri", NINE_FIVE),
            ],
            holidays,
        )
    }

    #[test]
    fn around_the_clock() {
        let c = Clock::Always;
        let t = utc("2026-11-27T15:30:00Z");
        assert_eq!(c.add(t, 3600), Some(utc("2026-11-27T16:30:00Z")));
        assert_eq!(c.between(t, utc("2026-11-28T15:30:00Z")), 86_400);
        assert_eq!(c.between(utc("2026-11-28T15:30:00Z"), t), 0);
    }

    #[test]
    fn within_business_hours() {
        let c = weekdays("Europe/Berlin", &[]);
        // Wednesday 10:00 CET + 2 h = 12:00 CET (11:00 UTC).
        assert_eq!(
            c.add(utc("2026-11-25T09:00:00Z"), 7200),
            Some(utc("2026-11-25T11:00:00Z"))
        );
        // Ends exactly at closing time.
        assert_eq!(
            c.add(utc("2026-11-25T15:00:00Z"), 3600),
            Some(utc("2026-11-25T16:00:00Z"))
        );
        // 1 h before closing plus 2 h: 1 h on Thursday morning.
        assert_eq!(
            c.add(utc("2026-11-25T15:00:00Z"), 7200),
            Some(utc("2026-11-26T09:00:00Z"))
        );
    }

    #[test]
    fn over_the_weekend() {
        let c = weekdays("Europe/Berlin", &[]);
        // Friday 16:30 CET + 1 h: 30 min on Friday, 30 min on Monday → Monday 09:30 CET.
        let friday = utc("2026-11-27T15:30:00Z");
        let due = c.add(friday, 3600).unwrap();
        assert_eq!(due, utc("2026-11-30T08:30:00Z"));
        assert_eq!(c.between(friday, due), 3600);
        // Nothing counts on Saturday and Sunday.
        assert_eq!(
            c.between(utc("2026-11-28T00:00:00Z"), utc("2026-11-30T00:00:00Z")),
            0
        );
        // A whole week is five eight-hour days.
        assert_eq!(
            c.between(utc("2026-11-30T00:00:00Z"), utc("2026-12-07T00:00:00Z")),
            5 * 8 * 3600
        );
    }

    #[test]
    fn holidays_are_closed() {
        let c = weekdays("Europe/Berlin", &["2026-12-24", "2026-12-25"]);
        // Wednesday 23 Dec 16:00 CET + 2 h → 1 h that day, Thursday and Friday closed,
        // so Monday 28 Dec 10:00 CET.
        assert_eq!(
            c.add(utc("2026-12-23T15:00:00Z"), 7200),
            Some(utc("2026-12-28T09:00:00Z"))
        );
        assert_eq!(
            c.between(utc("2026-12-24T00:00:00Z"), utc("2026-12-26T00:00:00Z")),
            0
        );
    }

    #[test]
    fn start_outside_hours() {
        let c = weekdays("Europe/Berlin", &[]);
        // Tuesday 06:00 CET: the clock starts at 09:00.
        assert_eq!(
            c.add(utc("2026-12-01T05:00:00Z"), 1800),
            Some(utc("2026-12-01T08:30:00Z"))
        );
        // Tuesday 20:00 CET: Wednesday 09:30.
        assert_eq!(
            c.add(utc("2026-12-01T19:00:00Z"), 1800),
            Some(utc("2026-12-02T08:30:00Z"))
        );
        // Saturday: Monday 09:00 plus the time.
        assert_eq!(
            c.add(utc("2026-12-05T12:00:00Z"), 60),
            Some(utc("2026-12-07T08:01:00Z"))
        );
        // Zero business time from outside hours is the next opening.
        assert_eq!(
            c.add(utc("2026-12-05T12:00:00Z"), 0),
            Some(utc("2026-12-07T08:00:00Z"))
        );
    }

    #[test]
    fn dst_switch_in_berlin() {
        // Summer time ends Sunday 25 Oct 2026: Friday 16:30 CEST (14:30 UTC) + 1 h is
        // Monday 09:30 CET (08:30 UTC).
        let c = weekdays("Europe/Berlin", &[]);
        assert_eq!(
            c.add(utc("2026-10-23T14:30:00Z"), 3600),
            Some(utc("2026-10-26T08:30:00Z"))
        );
        // Summer time starts Sunday 29 Mar 2026; Monday opens at 09:00 CEST = 07:00 UTC.
        assert_eq!(
            c.add(utc("2026-03-27T15:30:00Z"), 3600),
            Some(utc("2026-03-30T07:30:00Z"))
        );
        // Around the clock in Berlin local hours over the spring switch: the night of the
        // switch has 23 hours.
        let always = cal(
            "Europe/Berlin",
            &DAYS.map(|d| (d, &[("00:00", "24:00")][..])),
            &[],
        );
        assert_eq!(
            always.between(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z")),
            23 * 3600
        );
        // A span over the hour that repeats in autumn keeps its full length (3 h).
        let night = cal("Europe/Berlin", &[("sun", &[("01:00", "03:00")])], &[]);
        assert_eq!(
            night.between(utc("2026-10-24T00:00:00Z"), utc("2026-10-26T00:00:00Z")),
            3 * 3600
        );
        // A span starting in the spring gap opens when the clock would have shown it.
        let gap = cal("Europe/Berlin", &[("sun", &[("02:30", "04:00")])], &[]);
        assert_eq!(
            gap.between(utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z")),
            30 * 60
        );
    }

    #[test]
    fn zones_far_from_utc() {
        // Tokyo 09:00–17:00 is 00:00–08:00 UTC: a span that starts at UTC midnight.
        let tokyo = weekdays("Asia/Tokyo", &[]);
        // Friday 16:00 JST (07:00 UTC) + 2 h → Monday 10:00 JST (01:00 UTC).
        assert_eq!(
            tokyo.add(utc("2026-11-27T07:00:00Z"), 7200),
            Some(utc("2026-11-30T01:00:00Z"))
        );
        // Los Angeles 09:00–17:00 PST is 17:00–01:00 UTC: it crosses UTC midnight.
        let la = weekdays("America/Los_Angeles", &[]);
        // Monday 16:00 PST (Tuesday 00:00 UTC) + 90 min → Tuesday 09:30 PST (17:30 UTC).
        assert_eq!(
            la.add(utc("2026-12-01T00:00:00Z"), 5400),
            Some(utc("2026-12-01T17:30:00Z"))
        );
        // The UTC day of Tuesday holds Monday's last hour and Tuesday's first seven.
        assert_eq!(
            la.between(utc("2026-12-01T00:00:00Z"), utc("2026-12-02T00:00:00Z")),
            8 * 3600
        );
        // Friday 16:00 PST (Saturday 00:00 UTC) + 2 h → Monday 10:00 PST (18:00 UTC).
        assert_eq!(
            la.add(utc("2026-12-05T00:00:00Z"), 7200),
            Some(utc("2026-12-07T18:00:00Z"))
        );
    }

    #[test]
    fn several_spans_a_day() {
        let c = cal(
            "Europe/Berlin",
            &[("mon", &[("13:00", "17:00"), ("08:00", "12:00")])],
            &[],
        );
        // Monday 11:00 CET + 2 h: 1 h before lunch, 1 h after → 14:00 CET.
        assert_eq!(
            c.add(utc("2026-11-30T10:00:00Z"), 7200),
            Some(utc("2026-11-30T13:00:00Z"))
        );
        // The next Monday after the last span.
        assert_eq!(
            c.add(utc("2026-11-30T15:30:00Z"), 3600),
            Some(utc("2026-12-07T07:30:00Z"))
        );
    }

    #[test]
    fn long_targets_stay_fast() {
        let c = weekdays("Europe/Berlin", &["2026-12-24"]);
        let start = std::time::Instant::now();
        // A year of business time.
        let due = c.add(utc("2026-01-01T00:00:00Z"), 250 * 8 * 3600).unwrap();
        assert!(due > utc("2026-12-01T00:00:00Z"));
        assert_eq!(c.between(utc("2026-01-01T00:00:00Z"), due), 250 * 8 * 3600);
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }

    #[test]
    fn bad_calendars_name_the_field() {
        let bad = |tz: &str, day: &str, a: &str, b: &str, hol: &str| {
            let spec = Hours {
                time_zone: tz.into(),
                hours: [(day.to_string(), vec![(a.to_string(), b.to_string())])].into(),
                holidays: vec![hol.to_string()],
            };
            match Calendar::new(&spec) {
                Err(Error::Invalid { field, .. }) => field,
                other => panic!("expected invalid, got {other:?}"),
            }
        };
        assert_eq!(
            bad("Mars/Olympus", "mon", "09:00", "17:00", "2026-12-24"),
            "time_zone"
        );
        assert_eq!(
            bad("UTC", "monday", "09:00", "17:00", "2026-12-24"),
            "hours.monday"
        );
        assert_eq!(
            bad("UTC", "mon", "9:00", "17:00", "2026-12-24"),
            "hours.mon[0]"
        );
        assert_eq!(
            bad("UTC", "mon", "17:00", "09:00", "2026-12-24"),
            "hours.mon[0]"
        );
        assert_eq!(
            bad("UTC", "mon", "09:00", "24:30", "2026-12-24"),
            "hours.mon[0]"
        );
        assert_eq!(
            bad("UTC", "mon", "09:00", "17:00", "2026-02-30"),
            "holidays[0]"
        );
        let overlap = Hours {
            time_zone: "UTC".into(),
            hours: [(
                "tue".to_string(),
                vec![
                    ("09:00".to_string(), "12:00".to_string()),
                    ("11:00".to_string(), "13:00".to_string()),
                ],
            )]
            .into(),
            holidays: vec![],
        };
        assert!(matches!(
            Calendar::new(&overlap),
            Err(Error::Invalid { field, .. }) if field == "hours.tue"
        ));
        assert!(matches!(
            Calendar::new(&Hours { time_zone: "UTC".into(), ..Default::default() }),
            Err(Error::Invalid { field, .. }) if field == "hours"
        ));
    }

    fn policy(id: i64, team: Option<i64>, priority: Option<&str>) -> sla_policy::Model {
        sla_policy::Model {
            id,
            name: format!("p{id}"),
            team_id: team,
            priority: priority.map(str::to_owned),
            calendar_id: None,
            first_response_minutes: Some(60),
            resolution_minutes: None,
            warn_minutes: 10,
            active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_breach_once_given_stays() {
        let due = utc("2026-11-27T12:00:00Z");
        let (early, late) = (utc("2026-11-27T11:00:00Z"), utc("2026-11-27T13:00:00Z"));
        let fr = Metric::FirstResponse;
        // Before the due time: met; after it: a new breach to record.
        assert!(matches!(
            verdict(fr, Some(due), None, early),
            (Some(false), None)
        ));
        assert!(
            matches!(verdict(fr, Some(due), None, late), (Some(true), Some(b)) if b.due_at == due)
        );
        assert!(matches!(
            verdict(fr, Some(due), Some(false), late),
            (Some(true), Some(_))
        ));
        // A recorded breach stays a breach even if the clock is later seen to stop in
        // time, and is not recorded again.
        assert!(matches!(
            verdict(fr, Some(due), Some(true), early),
            (Some(true), None)
        ));
        assert!(matches!(
            verdict(fr, Some(due), Some(true), late),
            (Some(true), None)
        ));
        // No due time: the verdict stays as it was.
        assert!(matches!(
            verdict(fr, None, Some(true), late),
            (Some(true), None)
        ));
    }

    #[test]
    fn the_watcher_reads_the_due_index_on_sqlite() {
        let (a, b) = (utc("2026-11-20T00:00:00Z"), utc("2026-11-27T00:00:00Z"));
        for (metric, index) in [
            (Metric::FirstResponse, "ix_ticket_first_response_due_at"),
            (Metric::Resolution, "ix_ticket_resolution_due_at"),
        ] {
            let sql = running_due_statement(metric, a, b, sea_orm::DbBackend::Sqlite).sql;
            let hint = format!("FROM \"ticket\" INDEXED BY \"{index}\"");
            assert_eq!(sql.matches(&hint).count(), 1, "{sql}");
            let sql = running_due_statement(metric, a, b, sea_orm::DbBackend::Postgres).sql;
            assert!(!sql.contains("INDEXED BY"), "{sql}");
            assert!(
                sql.contains(index.trim_start_matches("ix_ticket_")),
                "{sql}"
            );
        }
    }

    #[test]
    fn the_most_specific_policy_wins() {
        let all = vec![
            policy(1, None, None),
            policy(2, None, Some("urgent")),
            policy(3, Some(7), None),
            policy(4, Some(7), Some("urgent")),
        ];
        let pick = |team, prio| choose(&all, team, prio).map(|p| p.id);
        assert_eq!(pick(Some(7), "urgent"), Some(4));
        assert_eq!(pick(Some(7), "normal"), Some(3));
        assert_eq!(pick(Some(8), "urgent"), Some(2));
        assert_eq!(pick(None, "urgent"), Some(2));
        assert_eq!(pick(None, "low"), Some(1));
        let mut inactive = all.clone();
        inactive[3].active = false;
        assert_eq!(choose(&inactive, Some(7), "urgent").map(|p| p.id), Some(3));
        assert_eq!(choose(&all[2..3], Some(8), "low").map(|p| p.id), None);
    }
}
