//! The team leads' reports: volumes, backlog, response and resolution times, SLA
//! compliance, satisfaction (CSAT), and the same per agent and per team, as SQL
//! aggregates over one period on the indexed time columns of `ticket` and `feedback`.
//!
//! Every report has one shape, [`Report`]: named columns and rows of JSON values, so the
//! HTTP layer can send it as JSON or CSV and the lead views can chart it without knowing
//! each report. Definitions (they are what the numbers mean):
//!
//! - Days are UTC dates; a period is `from`..=`to`, at most [`MAX_DAYS`] days.
//! - **volume**: tickets created per day and channel (only pairs with tickets).
//! - **backlog**: per day, tickets created, tickets resolved (`resolved_at` that day) and
//!   tickets open at the end of the day (created by then and not resolved by then).
//! - **times**: per day, the median and 90th percentile of first-response seconds over
//!   the tickets first answered that day (`first_response_at`), and of resolution
//!   seconds over the tickets resolved that day.
//! - **sla**: per day of creation, the tickets with at least one SLA verdict, how many
//!   met or breached each target, and compliance = tickets without a breach / tickets.
//! - **csat**: per day, survey answers with a rating, their average (two decimals), the
//!   satisfied ones (rating 4–5) and csat = satisfied / answers.
//! - **agents**, **teams**: per assignee or team over the whole period: tickets resolved,
//!   the times as above, survey answers and csat (by the feedback's own assignee and
//!   team, copied when it was given), and SLA compliance of the tickets created in the
//!   period. Tickets without an assignee (team) are not in these tables.
//!
//! Percentiles are nearest-rank: the p-th percentile of n values is the value at rank
//! ⌈p·n⌉ in ascending order, so the median of an even count is the lower middle value and
//! every figure is a value that really occurred. PostgreSQL computes it with
//! `percentile_disc`, which is that definition; SQLite (which lacks it) reads a day's ranks
//! straight from the day's sorted index entries, and numbers an agent's or team's values
//! with window functions to pick theirs. Ratios have four decimals;
//! times are whole seconds; a figure without data is null.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryResult, Statement,
    TransactionTrait, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{Channel, Desk, Error, Result, words};

words! {
    /// The reports a team lead can ask for.
    ReportName, "report" {
        Volume = "volume", Backlog = "backlog", Times = "times", Sla = "sla",
        Csat = "csat", Agents = "agents", Teams = "teams",
    }
}

impl ReportName {
    /// The report's column keys, in row order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ReportName::Volume => &["day", "channel", "tickets"],
            ReportName::Backlog => &["day", "created", "resolved", "open"],
            ReportName::Times => &[
                "day",
                "first_response_median",
                "first_response_p90",
                "resolution_median",
                "resolution_p90",
            ],
            ReportName::Sla => &[
                "day",
                "tickets",
                "first_response_met",
                "first_response_breached",
                "resolution_met",
                "resolution_breached",
                "compliance",
            ],
            ReportName::Csat => &["day", "answers", "average", "satisfied", "csat"],
            ReportName::Agents => &[
                "agent_id",
                "agent",
                "resolved",
                "first_response_median",
                "first_response_p90",
                "resolution_median",
                "resolution_p90",
                "answers",
                "csat",
                "compliance",
            ],
            ReportName::Teams => &[
                "team_id",
                "team",
                "resolved",
                "first_response_median",
                "first_response_p90",
                "resolution_median",
                "resolution_p90",
                "answers",
                "csat",
                "compliance",
            ],
        }
    }
}

/// The longest period a report covers, in days.
pub const MAX_DAYS: i64 = 366;

/// Report scans running at once, desk-wide. A report runs its scans side by side
/// and the lead page asks for all seven at once, but they must leave most of the pool's
/// connections (eight on SQLite) to ingest and the agents.
pub(crate) const REPORT_SLOTS: usize = 4;

/// Percentile picks per statement on SQLite (a compound SELECT has at most 500 parts).
const PICKS: usize = 250;

/// Days a report covers when the caller names no start.
pub const DEFAULT_DAYS: i64 = 30;

/// The UTC days a report covers, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// A checked period: `to` not before `from`, at most [`MAX_DAYS`] days.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period> {
        if to < from {
            return Err(Error::invalid("to", "is before from"));
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            return Err(Error::invalid(
                "to",
                format!("the period is longer than {MAX_DAYS} days"),
            ));
        }
        Ok(Period { from, to })
    }

    /// The period from the caller's optional bounds: `to` defaults to `today`, `from` to
    /// [`DEFAULT_DAYS`] days ending at `to`.
    pub fn or_default(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Period> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
        Period::new(from, to)
    }

    /// The first instant of the period.
    fn start(&self) -> DateTime<Utc> {
        midnight(self.from)
    }

    /// The first instant after the period.
    fn end(&self) -> DateTime<Utc> {
        midnight(self.to + Duration::days(1))
    }

    /// Every day of the period, in order.
    fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let (from, to) = (self.from, self.to);
        from.iter_days().take_while(move |d| *d <= to)
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// What a report is asked for: the period and the optional team and channel filters.
#[derive(Clone, Copy, Debug)]
pub struct ReportQuery {
    pub period: Period,
    pub team: Option<i64>,
    pub channel: Option<Channel>,
}

/// A report's answer: column keys and rows of values in that order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub report: ReportName,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Json>>,
}

/// A statement under construction with the backend's placeholders (`?` or `$n`).
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DbBackend, head: &str) -> Sql {
        Sql {
            backend,
            text: head.to_owned(),
            values: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.values.push(value.into());
        if self.backend == DbBackend::Postgres {
            let n = self.values.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }

    /// `WHERE at in the period [extra] [AND team] [AND channel]`. SQLite compares the
    /// day of `at` with the period's first and last day, as its report indexes lead with
    /// that day (migration 10); PostgreSQL compares the time with the period's bounds.
    fn scope(&mut self, q: &ReportQuery, at: &str, extra: &str) -> &mut Sql {
        if self.backend == DbBackend::Postgres {
            self.push(&format!(" WHERE {at} >= "))
                .bind(q.period.start())
                .push(&format!(" AND {at} < "))
                .bind(q.period.end());
        } else {
            let d = day(self.backend, at);
            self.push(&format!(" WHERE {d} >= "))
                .bind(q.period.from.to_string())
                .push(&format!(" AND {d} <= "))
                .bind(q.period.to.to_string());
        }
        self.push(extra);
        self.filters(q)
    }

    /// The team and channel filters; both tables name the columns alike.
    fn filters(&mut self, q: &ReportQuery) -> &mut Sql {
        if let Some(team) = q.team {
            let col = filter_col(self.backend, "team_id");
            self.push(&format!(" AND {col} = ")).bind(team);
        }
        if let Some(channel) = q.channel {
            let col = filter_col(self.backend, "channel");
            self.push(&format!(" AND {col} = ")).bind(channel.as_str());
        }
        self
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// What rows are grouped by: a UTC day of the time column, the assignee or the team.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Day,
    Assignee,
    Team,
}

/// A group's key as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Day(NaiveDate),
    Id(i64),
}

impl By {
    /// The grouping expression over the time column `at`, and the condition that keeps
    /// ungrouped rows (no assignee, no team) out.
    fn expr(self, backend: DbBackend, at: &str) -> (String, String) {
        let col = match self {
            By::Day => return (day(backend, at), String::new()),
            By::Assignee => filter_col(backend, "assignee_id"),
            By::Team => filter_col(backend, "team_id"),
        };
        (col.clone(), format!(" AND {col} IS NOT NULL"))
    }

    fn read(self, backend: DbBackend, row: &QueryResult) -> Result<Key> {
        Ok(match self {
            By::Day => Key::Day(read_day(backend, row, "k")?),
            By::Assignee | By::Team => Key::Id(row.try_get::<i64>("", "k")?),
        })
    }
}

/// A column that filters or groups but must not choose the index. SQLite would rather
/// walk the older `(team_id, status, id)` or `(assignee_id, …)` index for `team_id = ?`,
/// `IS NOT NULL` or `GROUP BY team_id` and look every ticket up than range-scan the
/// covering time index (ten times slower over a year); a unary `+` keeps it on the time
/// range. PostgreSQL plans by its statistics (and has no `+` for text).
fn filter_col(backend: DbBackend, col: &str) -> String {
    if backend == DbBackend::Postgres {
        col.to_owned()
    } else {
        format!("+{col}")
    }
}

/// The UTC date of a timestamp column. SQLite keeps sea-orm's UTC timestamps as RFC 3339
/// text (`2026-11-27T13:26:55.123456+00:00`), whose first ten characters are the date.
fn day(backend: DbBackend, col: &str) -> String {
    if backend == DbBackend::Postgres {
        format!("(({col}) AT TIME ZONE 'UTC')::date")
    } else {
        format!("substr({col}, 1, 10)")
    }
}

fn read_day(backend: DbBackend, row: &QueryResult, col: &str) -> Result<NaiveDate> {
    if backend == DbBackend::Postgres {
        return Ok(row.try_get::<NaiveDate>("", col)?);
    }
    let text = row.try_get::<String>("", col)?;
    NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
        Error::Store(sea_orm::DbErr::Custom(format!(
            "unexpected stored time {text:?}"
        )))
    })
}

fn count(row: &QueryResult, col: &str) -> Result<i64> {
    Ok(row.try_get::<Option<i64>>("", col)?.unwrap_or(0))
}

/// `part / whole` with four decimals, or null when there is no whole.
fn ratio(part: i64, whole: i64) -> Json {
    if whole == 0 {
        return Json::Null;
    }
    json!(round(part as f64 / whole as f64, 4))
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Median and 90th percentile of a group.
type Spread = (Option<i64>, Option<i64>);

/// Survey answers of a group: (answers, sum of ratings, satisfied).
type Answers = (i64, i64, i64);

/// SLA verdicts of a group: (tickets with a verdict, first response met, breached,
/// resolution met, breached, tickets with any breach).
type Verdicts = [i64; 6];

impl Desk {
    /// Runs one report.
    pub async fn report(&self, name: ReportName, q: &ReportQuery) -> Result<Report> {
        let rows = match name {
            ReportName::Volume => self.volume(q).await?,
            ReportName::Backlog => self.backlog(q).await?,
            ReportName::Times => self.times(q).await?,
            ReportName::Sla => self.sla(q).await?,
            ReportName::Csat => self.csat(q).await?,
            ReportName::Agents => self.table(q, By::Assignee).await?,
            ReportName::Teams => self.table(q, By::Team).await?,
        };
        Ok(Report {
            report: name,
            from: q.period.from,
            to: q.period.to,
            columns: name.columns().iter().map(|c| (*c).to_owned()).collect(),
            rows,
        })
    }

    /// Runs one report statement in one of the desk's report slots.
    async fn all(&self, sql: Sql) -> Result<Vec<QueryResult>> {
        let _slot = self.report_slot().await?;
        Ok(self.store.db().query_all_raw(sql.statement()).await?)
    }

    /// Waits for one of the [`REPORT_SLOTS`].
    async fn report_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.report_slots
            .acquire()
            .await
            .map_err(|e| Error::Store(sea_orm::DbErr::Custom(format!("report slots: {e}"))))
    }

    async fn volume(&self, q: &ReportQuery) -> Result<Vec<Vec<Json>>> {
        let b = self.store.backend();
        let d = day(b, "created_at");
        let mut sql = Sql::new(
            b,
            &format!("SELECT {d} AS k, channel, COUNT(*) AS n FROM ticket"),
        );
        sql.scope(q, "created_at", "")
            .push(&format!(" GROUP BY {d}, channel"));
        let mut rows = Vec::new();
        for row in self.all(sql).await? {
            let day = read_day(b, &row, "k")?;
            let channel = row.try_get::<String>("", "channel")?;
            rows.push((day, channel, count(&row, "n")?));
        }
        rows.sort();
        Ok(rows
            .into_iter()
            .map(|(day, channel, n)| vec![json!(day), json!(channel), json!(n)])
            .collect())
    }

    /// Rows per group of the period: `COUNT(*)` as `n` and the sums in `select`.
    async fn grouped(
        &self,
        q: &ReportQuery,
        table: &str,
        by: By,
        at: &str,
        select: &str,
        extra: &str,
    ) -> Result<Vec<(Key, QueryResult)>> {
        let b = self.store.backend();
        let (k, keep) = by.expr(b, at);
        let mut sql = Sql::new(
            b,
            &format!("SELECT {k} AS k, COUNT(*) AS n{select} FROM {table}"),
        );
        sql.scope(q, at, &format!("{extra}{keep}"))
            .push(&format!(" GROUP BY {k}"));
        let mut out = Vec::new();
        for row in self.all(sql).await? {
            out.push((by.read(b, &row)?, row));
        }
        Ok(out)
    }

    /// Tickets per group whose `at` lies in the period.
    async fn counts(&self, q: &ReportQuery, by: By, at: &str) -> Result<HashMap<Key, i64>> {
        let mut out = HashMap::new();
        for (k, row) in self.grouped(q, "ticket", by, at, "", "").await? {
            out.insert(k, count(&row, "n")?);
        }
        Ok(out)
    }

    async fn backlog(&self, q: &ReportQuery) -> Result<Vec<Vec<Json>>> {
        // Open when the period starts: created before it and not resolved before it, in
        // two index ranges (still unresolved; resolved only later). All four scans run
        // side by side.
        let (created, resolved, unresolved, resolved_later) = tokio::try_join!(
            self.counts(q, By::Day, "created_at"),
            self.counts(q, By::Day, "resolved_at"),
            self.open_at_start(q, false),
            self.open_at_start(q, true),
        )?;
        let mut open = unresolved + resolved_later;
        let mut rows = Vec::new();
        for d in q.period.days() {
            let c = created.get(&Key::Day(d)).copied().unwrap_or(0);
            let r = resolved.get(&Key::Day(d)).copied().unwrap_or(0);
            open += c - r;
            rows.push(vec![json!(d), json!(c), json!(r), json!(open)]);
        }
        Ok(rows)
    }

    /// Tickets created before the period that are still unresolved (or, with
    /// `resolved_later`, were resolved only after the period began).
    async fn open_at_start(&self, q: &ReportQuery, resolved_later: bool) -> Result<i64> {
        let b = self.store.backend();
        let mut sql = Sql::new(b, "SELECT COUNT(*) AS n FROM ticket WHERE created_at < ");
        sql.bind(q.period.start());
        if !resolved_later {
            sql.push(" AND resolved_at IS NULL");
        } else if b == DbBackend::Postgres {
            sql.push(" AND resolved_at >= ").bind(q.period.start());
        } else {
            let d = day(b, "resolved_at");
            sql.push(&format!(" AND {d} >= "))
                .bind(q.period.from.to_string());
        }
        sql.filters(q);
        match self.all(sql).await?.first() {
            Some(row) => count(row, "n"),
            None => Ok(0),
        }
    }

    /// Per group, the tickets whose `at` lies in the period, and the median and 90th
    /// percentile (nearest rank, see the module docs) of their `value`s that are set.
    async fn spread(
        &self,
        q: &ReportQuery,
        by: By,
        at: &str,
        value: &str,
    ) -> Result<HashMap<Key, (i64, Spread)>> {
        let b = self.store.backend();
        if b == DbBackend::Sqlite && by == By::Day {
            return self.daily_spread(q, at, value).await;
        }
        let (k, keep) = by.expr(b, at);
        let sql = if b == DbBackend::Postgres {
            // percentile_disc leaves nulls out; COUNT(*) counts every ticket.
            let mut sql = Sql::new(
                b,
                &format!(
                    "SELECT {k} AS k, COUNT(*) AS n, \
                     percentile_disc(0.5) WITHIN GROUP (ORDER BY {value}) AS median, \
                     percentile_disc(0.9) WITHIN GROUP (ORDER BY {value}) AS p90 FROM ticket"
                ),
            );
            sql.scope(q, at, &keep).push(&format!(" GROUP BY {k}"));
            sql
        } else {
            // ⌈c/2⌉ = (c + 1) / 2 and ⌈9c/10⌉ = (9c + 9) / 10 in integer arithmetic, over
            // the c values that are set (nulls sort last, so they rank after them). Both
            // window functions share one sort; only the picked rows and each group's
            // first (which carries its count) reach the outer GROUP BY.
            let mut sql = Sql::new(
                b,
                &format!(
                    "SELECT k, MIN(n) AS n, \
                     MIN(CASE WHEN rn = (c + 1) / 2 THEN v END) AS median, \
                     MIN(CASE WHEN rn = (9 * c + 9) / 10 THEN v END) AS p90 \
                     FROM (SELECT {k} AS k, {value} AS v, ROW_NUMBER() OVER w AS rn, \
                     COUNT({value}) OVER whole AS c, COUNT(*) OVER whole AS n FROM ticket"
                ),
            );
            sql.scope(q, at, &keep).push(&format!(
                " WINDOW w AS (PARTITION BY {k} ORDER BY {value} NULLS LAST), \
                 whole AS (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) AS x \
                 WHERE rn = 1 OR rn = (c + 1) / 2 OR rn = (9 * c + 9) / 10 GROUP BY k"
            ));
            sql
        };
        let mut out = HashMap::new();
        for row in self.all(sql).await? {
            let spread = (
                row.try_get::<Option<i64>>("", "median")?,
                row.try_get::<Option<i64>>("", "p90")?,
            );
            out.insert(by.read(b, &row)?, (count(&row, "n")?, spread));
        }
        Ok(out)
    }

    /// [`Desk::spread`] by day on SQLite: each day's counts from one GROUP BY that walks
    /// the day index in order, then every picked rank read straight from that day's
    /// sorted index entries (`LIMIT 1 OFFSET rank - 1`), [`PICKS`] to a statement.
    /// Ranking a day's values with window functions instead would sort them all.
    async fn daily_spread(
        &self,
        q: &ReportQuery,
        at: &str,
        value: &str,
    ) -> Result<HashMap<Key, (i64, Spread)>> {
        let b = self.store.backend();
        let d = day(b, at);
        // One read transaction, so the picks see the counts they were ranked by.
        let _slot = self.report_slot().await?;
        let tx = self.store.db().begin().await?;
        let mut sql = Sql::new(
            b,
            &format!("SELECT {d} AS k, COUNT(*) AS n, COUNT({value}) AS c FROM ticket"),
        );
        sql.scope(q, at, "").push(&format!(" GROUP BY {d}"));
        let mut days = Vec::new();
        for row in tx.query_all_raw(sql.statement()).await? {
            days.push((
                read_day(b, &row, "k")?,
                count(&row, "n")?,
                count(&row, "c")?,
            ));
        }
        // (day, 0 for the median or 1 for the 90th percentile, rank); nearest rank as
        // in the module docs.
        let picks: Vec<(NaiveDate, u8, i64)> = days
            .iter()
            .filter(|(_, _, c)| *c > 0)
            .flat_map(|&(day, _, c)| [(day, 0, (c + 1) / 2), (day, 1, (9 * c + 9) / 10)])
            .collect();
        let mut picked = HashMap::new();
        for chunk in picks.chunks(PICKS) {
            let mut sql = Sql::new(b, "");
            for (i, (day, _, rank)) in chunk.iter().enumerate() {
                let union = if i == 0 { "" } else { " UNION ALL " };
                sql.push(&format!(
                    "{union}SELECT {i} AS i, (SELECT {value} FROM ticket WHERE {d} = "
                ))
                .bind(day.to_string())
                .push(&format!(" AND {value} IS NOT NULL"))
                .filters(q)
                .push(&format!(" ORDER BY {value} LIMIT 1 OFFSET "))
                .bind(rank - 1)
                .push(") AS v");
            }
            for row in tx.query_all_raw(sql.statement()).await? {
                let (day, which, _) = usize::try_from(row.try_get::<i64>("", "i")?)
                    .ok()
                    .and_then(|i| chunk.get(i))
                    .copied()
                    .ok_or_else(|| Error::Store(sea_orm::DbErr::Custom("unknown pick".into())))?;
                picked.insert((day, which), row.try_get::<Option<i64>>("", "v")?);
            }
        }
        tx.commit().await?;
        Ok(days
            .into_iter()
            .map(|(day, n, _)| {
                let at = |which: u8| picked.get(&(day, which)).copied().flatten();
                (Key::Day(day), (n, (at(0), at(1))))
            })
            .collect())
    }

    async fn times(&self, q: &ReportQuery) -> Result<Vec<Vec<Json>>> {
        let (first, resolution) = tokio::try_join!(
            self.spread(q, By::Day, "first_response_at", "first_response_seconds"),
            self.spread(q, By::Day, "resolved_at", "resolution_seconds"),
        )?;
        Ok(q.period
            .days()
            .map(|d| {
                let (_, (fm, fp)) = first.get(&Key::Day(d)).copied().unwrap_or_default();
                let (_, (rm, rp)) = resolution.get(&Key::Day(d)).copied().unwrap_or_default();
                vec![json!(d), json!(fm), json!(fp), json!(rm), json!(rp)]
            })
            .collect())
    }

    /// SLA verdicts of the tickets created in the period, per group.
    async fn verdicts(&self, q: &ReportQuery, by: By) -> Result<HashMap<Key, Verdicts>> {
        let select = ", \
            SUM(CASE WHEN first_response_breached = FALSE THEN 1 ELSE 0 END) AS fm, \
            SUM(CASE WHEN first_response_breached = TRUE THEN 1 ELSE 0 END) AS fb, \
            SUM(CASE WHEN resolution_breached = FALSE THEN 1 ELSE 0 END) AS rm, \
            SUM(CASE WHEN resolution_breached = TRUE THEN 1 ELSE 0 END) AS rb, \
            SUM(CASE WHEN first_response_breached = TRUE OR resolution_breached = TRUE \
                THEN 1 ELSE 0 END) AS anyb";
        let extra = " AND (first_response_breached IS NOT NULL OR resolution_breached IS NOT NULL)";
        let mut out = HashMap::new();
        for (k, row) in self
            .grouped(q, "ticket", by, "created_at", select, extra)
            .await?
        {
            let mut v = [0; 6];
            for (slot, col) in v.iter_mut().zip(["n", "fm", "fb", "rm", "rb", "anyb"]) {
                *slot = count(&row, col)?;
            }
            out.insert(k, v);
        }
        Ok(out)
    }

    async fn sla(&self, q: &ReportQuery) -> Result<Vec<Vec<Json>>> {
        let verdicts = self.verdicts(q, By::Day).await?;
        Ok(q.period
            .days()
            .map(|d| {
                let [n, fm, fb, rm, rb, any] =
                    verdicts.get(&Key::Day(d)).copied().unwrap_or_default();
                vec![
                    json!(d),
                    json!(n),
                    json!(fm),
                    json!(fb),
                    json!(rm),
                    json!(rb),
                    ratio(n - any, n),
                ]
            })
            .collect())
    }

    /// Survey answers with a rating given in the period, per group.
    async fn answers(&self, q: &ReportQuery, by: By) -> Result<HashMap<Key, Answers>> {
        let select = ", SUM(rating) AS total, \
            SUM(CASE WHEN rating >= 4 THEN 1 ELSE 0 END) AS satisfied";
        let extra = " AND kind = 'survey' AND rating IS NOT NULL";
        let mut out = HashMap::new();
        for (k, row) in self
            .grouped(q, "feedback", by, "created_at", select, extra)
            .await?
        {
            out.insert(
                k,
                (
                    count(&row, "n")?,
                    count(&row, "total")?,
                    count(&row, "satisfied")?,
                ),
            );
        }
        Ok(out)
    }

    async fn csat(&self, q: &ReportQuery) -> Result<Vec<Vec<Json>>> {
        let answers = self.answers(q, By::Day).await?;
        Ok(q.period
            .days()
            .map(|d| {
                let (n, total, satisfied) = answers.get(&Key::Day(d)).copied().unwrap_or_default();
                let average = if n == 0 {
                    Json::Null
                } else {
                    json!(round(total as f64 / n as f64, 2))
                };
                vec![
                    json!(d),
                    json!(n),
                    average,
                    json!(satisfied),
                    ratio(satisfied, n),
                ]
            })
            .collect())
    }

    /// The agents or teams table: one row per assignee (team) with any figure in the
    /// period, ordered by name.
    async fn table(&self, q: &ReportQuery, by: By) -> Result<Vec<Vec<Json>>> {
        // Four independent scans (first responses, resolutions with their count, survey
        // answers, verdicts) run side by side on the pool's connections.
        let (first, resolution, answers, verdicts) = tokio::try_join!(
            self.spread(q, by, "first_response_at", "first_response_seconds"),
            self.spread(q, by, "resolved_at", "resolution_seconds"),
            self.answers(q, by),
            self.verdicts(q, by),
        )?;
        let ids: BTreeSet<i64> = first
            .keys()
            .chain(resolution.keys())
            .chain(answers.keys())
            .chain(verdicts.keys())
            .filter_map(|k| match k {
                Key::Id(id) => Some(*id),
                Key::Day(_) => None,
            })
            .collect();
        let names = self.names(by, ids.iter().copied().collect()).await?;
        let mut rows: BTreeMap<(Option<String>, i64), Vec<Json>> = BTreeMap::new();
        for id in ids {
            let k = Key::Id(id);
            let name = names.get(&id).cloned();
            let (_, (fm, fp)) = first.get(&k).copied().unwrap_or_default();
            let (resolved, (rm, rp)) = resolution.get(&k).copied().unwrap_or_default();
            let (n, _, satisfied) = answers.get(&k).copied().unwrap_or_default();
            let [tickets, .., any] = verdicts.get(&k).copied().unwrap_or_default();
            let row = vec![
                json!(id),
                json!(name),
                json!(resolved),
                json!(fm),
                json!(fp),
                json!(rm),
                json!(rp),
                json!(n),
                ratio(satisfied, n),
                ratio(tickets - any, tickets),
            ];
            rows.insert((name, id), row);
        }
        Ok(rows.into_values().collect())
    }

    /// The names of agents or teams by id.
    async fn names(&self, by: By, ids: Vec<i64>) -> Result<HashMap<i64, String>> {
        let db = self.store.db();
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            if by == By::Team {
                for t in entity::team::Entity::find()
                    .filter(entity::team::Column::Id.is_in(chunk.to_vec()))
                    .all(db)
                    .await?
                {
                    out.insert(t.id, t.name);
                }
            } else {
                for a in entity::agent::Entity::find()
                    .filter(entity::agent::Column::Id.is_in(chunk.to_vec()))
                    .all(db)
                    .await?
                {
                    out.insert(a.id, a.name);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_are_checked() {
        let today = date("2026-11-27");
        let p = Period::or_default(None, None, today).unwrap();
        assert_eq!((p.from, p.to), (date("2026-10-29"), today));
        assert_eq!(p.days().count(), 30);
        assert!(Period::new(date("2026-01-01"), date("2026-12-31")).is_ok());
        // 2024 is a leap year: 366 days fit, 367 do not.
        assert!(Period::new(date("2024-01-01"), date("2024-12-31")).is_ok());
        assert!(matches!(
            Period::new(date("2024-01-01"), date("2025-01-01")),
            Err(Error::Invalid { field, .. }) if field == "to"
        ));
        assert!(Period::new(date("2026-03-02"), date("2026-03-01")).is_err());
        assert_eq!(
            Period::new(date("2026-03-01"), date("2026-03-01"))
                .unwrap()
                .end(),
            midnight(date("2026-03-02"))
        );
    }

    #[test]
    fn ratios_round_and_know_no_data() {
        assert_eq!(ratio(2, 3), json!(0.6667));
        assert_eq!(ratio(0, 0), Json::Null);
        assert_eq!(ratio(4, 4), json!(1.0));
    }
}
