//! `GET /api/v1/reports` and `GET /api/v1/reports/{name}`: the team leads' reports
//! ([`crate::desk::reports`]) as JSON or as a CSV download, for leads and admins.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiResult, Problem, Query};
use crate::desk::reports::{Period, Report, ReportName, ReportQuery};
use crate::desk::{Channel, Role};

/// Query of `GET /api/v1/reports/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// First UTC day, `YYYY-MM-DD`; default 29 days before `to`.
    from: Option<String>,
    /// Last UTC day, `YYYY-MM-DD`; default today.
    to: Option<String>,
    /// A team id.
    team: Option<String>,
    /// A channel name.
    channel: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The list of reports.
#[derive(Serialize)]
pub struct ReportList {
    pub reports: Vec<&'static str>,
}

/// A 400 naming the query parameter at fault.
fn bad(field: &str, detail: impl Into<String>) -> Problem {
    Problem {
        status: 400,
        title: "Bad Request",
        ..Problem::invalid(field, detail)
    }
}

fn date(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, Problem> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        // Years 1–9999 only: chrono also reads signed years far beyond any store's range.
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|d| (1..=9999).contains(&d.year()) && raw.as_bytes()[0].is_ascii_digit())
            .map(Some)
            .ok_or_else(|| bad(field, "expected a date like 2026-11-27")),
    }
}

/// Reads and checks the query string.
fn query_of(p: &ReportParams, today: NaiveDate) -> Result<ReportQuery, Problem> {
    let from = date("from", p.from.as_deref())?;
    let to = date("to", p.to.as_deref())?;
    let period = Period::or_default(from, to, today).map_err(|e| match e {
        crate::desk::Error::Invalid { field, message } => bad(&field, message),
        e => e.into(),
    })?;
    let team = match p.team.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| bad("team", "expected a team id"))?,
        ),
    };
    let channel = match p
        .channel
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => Some(
            raw.parse::<Channel>()
                .map_err(|e| bad("channel", e.to_string()))?,
        ),
    };
    Ok(ReportQuery {
        period,
        team,
        channel,
    })
}

/// CSV asked for by `?format=csv` or an `Accept` header naming `text/csv`.
fn wants_csv(p: &ReportParams, headers: &HeaderMap) -> Result<bool, Problem> {
    match p.format.as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(bad("format", "expected json or csv")),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                accept
                    .split(',')
                    .any(|m| m.split(';').next().unwrap_or("").trim() == "text/csv")
            })),
    }
}

/// The report as CSV: a header line of the column keys, then the rows; null is empty.
pub fn to_csv(report: &Report) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&report.columns)?;
    for row in &report.rows {
        w.write_record(row.iter().map(|v| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// `GET /api/v1/reports`
pub async fn list(p: Principal) -> ApiResult<axum::Json<ReportList>> {
    p.require(Role::Lead)?;
    Ok(axum::Json(ReportList {
        reports: ReportName::ALL.iter().map(|n| n.as_str()).collect(),
    }))
}

/// `GET /api/v1/reports/{name}`
pub async fn show(
    State(state): State<AppState>,
    p: Principal,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(params): Query<ReportParams>,
) -> ApiResult<Response> {
    p.require(Role::Lead)?;
    let name: ReportName = name
        .parse()
        .map_err(|_| Problem::not_found(format!("no report named {name:?}")))?;
    let q = query_of(&params, chrono::Utc::now().date_naive())?;
    let csv = wants_csv(&params, &headers)?;
    let report = state.desk.report(name, &q).await?;
    if !csv {
        return Ok(axum::Json(report).into_response());
    }
    let body = to_csv(&report).map_err(|e| {
        tracing::error!("report CSV: {e}");
        Problem::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the report could not be written as CSV",
        )
    })?;
    let filename = format!("{}-{}-{}.csv", name, report.from, report.to);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .expect("report names and dates are plain ASCII");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_leaves_null_empty() {
        let report = Report {
            report: ReportName::Agents,
            from: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            columns: vec!["agent_id".into(), "agent".into(), "csat".into()],
            rows: vec![vec![
                serde_json::json!(7),
                serde_json::json!("Müller, \"Max\""),
                serde_json::Value::Null,
            ]],
        };
        let text = String::from_utf8(to_csv(&report).unwrap()).unwrap();
        assert_eq!(text, "agent_id,agent,csat\n7,\"Müller, \"\"Max\"\"\",\n");
    }

    #[test]
    fn parameters_are_named_when_bad() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let params = |from: &str, team: &str| ReportParams {
            from: Some(from.into()),
            to: None,
            team: Some(team.into()),
            channel: None,
            format: None,
        };
        let e = query_of(&params("2026-02-30", ""), today).err().unwrap();
        assert_eq!((e.status, e.field.as_deref()), (400, Some("from")));
        let e = query_of(&params("2025-01-01", ""), today).err().unwrap();
        assert_eq!((e.status, e.field.as_deref()), (400, Some("to")));
        let e = query_of(&params("2026-11-01", "x"), today).err().unwrap();
        assert_eq!((e.status, e.field.as_deref()), (400, Some("team")));
        let q = query_of(&params("2026-11-01", "3"), today).unwrap();
        assert_eq!(
            (q.period.from.to_string(), q.team),
            ("2026-11-01".into(), Some(3))
        );
    }
}
