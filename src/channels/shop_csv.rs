//! Order CSV files from the shop (a Shopify order export or Switchboard's generic layout)
//! read as a stream into the desk's order upsert, so a shop's purchase history can be
//! loaded without custom code.
//!
//! Both layouts spread one order over several consecutive lines, one per order line
//! (item); the order's own fields are read from its first line. Bad rows are reported
//! with their line number and never stop the import.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::desk::orders::{CustomerInput, ItemInput, OrderInput, to_minor_units};
use crate::desk::{Desk, Error};

/// Orders sent to the desk in one transaction.
pub const BATCH: usize = 500;

/// Most lines (items) one order may have, as the desk accepts.
const MAX_ITEMS: usize = 500;

/// Most bytes one record may take. A longer one is a quote left open, which would
/// swallow the rest of the file into one field (and memory); the import stops there.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// The input, counting the bytes read since the last record ended, so one record can
/// never take more than [`MAX_RECORD_BYTES`] (plus the reader's buffer) of memory.
struct Bounded<R> {
    inner: R,
    since_record: Arc<AtomicU64>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.since_record.load(Ordering::Relaxed) > MAX_RECORD_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "record too long",
            ));
        }
        let n = self.inner.read(buf)?;
        self.since_record.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The columns of the generic layout, in their documented order.
pub const GENERIC_COLUMNS: &[&str] = &[
    "source",
    "order_id",
    "number",
    "status",
    "currency",
    "total",
    "placed_at",
    "updated_at",
    "email",
    "phone",
    "customer_id",
    "name",
    "company",
    "item_sku",
    "item_name",
    "item_quantity",
    "item_price",
];

/// The Shopify export's columns the import reads.
pub const SHOPIFY_COLUMNS: &[&str] = &[
    "Name",
    "Id",
    "Email",
    "Phone",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Currency",
    "Total",
    "Created at",
    "Cancelled at",
    "Refunded Amount",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Billing Name",
    "Billing Company",
    "Billing Phone",
];

/// Which kind of order file this is, told by its header row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Shopify,
    Generic,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Shopify => "Shopify order export",
            Layout::Generic => "generic order CSV",
        })
    }
}

/// Why an import could not run at all (bad rows are not among these).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the header row matches no known layout; expected a Shopify order export (columns {shopify}, …) or the generic layout ({generic})", shopify = SHOPIFY_COLUMNS.join(", "), generic = GENERIC_COLUMNS.join(","))]
    UnknownLayout,
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error("line {line}: a record longer than {max} bytes, probably a quote that is never closed; the import stopped there (orders before it were imported)", max = MAX_RECORD_BYTES)]
    RecordTooLong { line: u64 },
    #[error(transparent)]
    Desk(#[from] Error),
}

/// A row that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    /// The file's line number, the header being line 1.
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// How far an import got, reported after every batch and at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Orders found in them, good or bad.
    pub orders: u64,
    pub created: u64,
    pub updated: u64,
    /// Orders equal to what the store holds (a re-run of the same file).
    pub unchanged: u64,
    /// Orders older than what the store holds.
    pub skipped: u64,
    /// Rows reported as bad.
    pub bad_rows: u64,
}

/// What the import tells its caller while it runs.
pub trait ImportReport {
    /// A row (or the order starting at it) could not be imported.
    fn bad_row(&mut self, row: &BadRow);
    /// A batch landed; `elapsed` is since the start.
    fn progress(&mut self, _summary: &ImportSummary, _elapsed: Duration) {}
}

/// The column positions of a file's layout.
struct Columns {
    layout: Layout,
    index: Vec<Option<usize>>,
}

impl Columns {
    fn detect(headers: &csv::StringRecord) -> Result<Columns, ImportError> {
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
        };
        let (layout, names) = if find("order_id").is_some() {
            (Layout::Generic, GENERIC_COLUMNS)
        } else if find("Name").is_some() && find("Lineitem name").is_some() {
            (Layout::Shopify, SHOPIFY_COLUMNS)
        } else {
            return Err(ImportError::UnknownLayout);
        };
        Ok(Columns {
            layout,
            index: names.iter().map(|n| find(n)).collect(),
        })
    }

    /// The trimmed value of a column of the layout, "" when absent.
    fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        let names = match self.layout {
            Layout::Shopify => SHOPIFY_COLUMNS,
            Layout::Generic => GENERIC_COLUMNS,
        };
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.index[i])
            .and_then(|i| record.get(i))
            .map(str::trim)
            .unwrap_or("")
    }
}

/// The order being gathered from consecutive lines.
struct Pending {
    line: u64,
    key: String,
    /// The order, or why it cannot be imported.
    order: Result<OrderInput, String>,
}

/// Reads an order CSV and upserts its orders in batches of [`BATCH`]; memory stays
/// bounded by one batch whatever the file's size. `source` is used for every order
/// (`--source`), else the generic layout's `source` column, else `default_source`.
pub async fn import_orders<R: Read>(
    desk: &Desk,
    input: R,
    source: Option<&str>,
    default_source: &str,
    report: &mut dyn ImportReport,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let since_record = Arc::new(AtomicU64::new(0));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(Bounded {
            inner: input,
            since_record: since_record.clone(),
        });
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Read(e.to_string()))?
        .clone();
    let columns = Columns::detect(&headers)?;
    let mut summary = ImportSummary::default();
    let mut batch: Vec<(u64, OrderInput)> = Vec::with_capacity(BATCH);
    let mut pending: Option<Pending> = None;
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        since_record.store(0, Ordering::Relaxed);
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Io(_)
                        if since_record.load(Ordering::Relaxed) > MAX_RECORD_BYTES =>
                    {
                        // What came before the broken record lands; nothing after it can
                        // be told apart any more.
                        if let Some(done) = pending.take() {
                            finish(desk, done, &mut batch, &mut summary, report, started).await?;
                        }
                        flush(desk, &mut batch, &mut summary, report, started).await?;
                        return Err(ImportError::RecordTooLong { line });
                    }
                    csv::ErrorKind::Io(_) => return Err(ImportError::Read(e.to_string())),
                    _ => {
                        summary.rows += 1;
                        bad(&mut summary, report, line, malformed(&e));
                        continue;
                    }
                }
            }
        }
        summary.rows += 1;
        let line = record.position().map_or(line, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let key = order_key(&columns, &record, source, default_source);
        match pending.as_mut() {
            // Lines without an order id are each a bad row of their own.
            Some(p) if p.key == key && !key.is_empty() => {
                if let Ok(order) = &mut p.order {
                    match item(&columns, &record, &order.currency) {
                        Ok(Some(_)) if order.items.len() >= MAX_ITEMS => {
                            p.order = Err(format!("more than {MAX_ITEMS} lines in one order"));
                        }
                        Ok(Some(i)) => order.items.push(i),
                        Ok(None) => {}
                        Err(reason) => p.order = Err(format!("the order's line {line}: {reason}")),
                    }
                }
            }
            _ => {
                if let Some(done) = pending.take() {
                    finish(desk, done, &mut batch, &mut summary, report, started).await?;
                }
                summary.orders += 1;
                let order = order(&columns, &record, source, default_source);
                pending = Some(Pending { line, key, order });
            }
        }
    }
    if let Some(done) = pending.take() {
        finish(desk, done, &mut batch, &mut summary, report, started).await?;
    }
    flush(desk, &mut batch, &mut summary, report, started).await?;
    Ok(summary)
}

/// A CSV record the reader could not split into the header's fields, explained.
fn malformed(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("malformed record: {len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "malformed record: not valid UTF-8".to_owned(),
        _ => format!("malformed record: {e}"),
    }
}

/// Counts and reports a bad row.
fn bad(summary: &mut ImportSummary, report: &mut dyn ImportReport, line: u64, reason: String) {
    summary.bad_rows += 1;
    report.bad_row(&BadRow { line, reason });
}

/// Queues a gathered order (or reports it) and sends a full batch.
async fn finish(
    desk: &Desk,
    done: Pending,
    batch: &mut Vec<(u64, OrderInput)>,
    summary: &mut ImportSummary,
    report: &mut dyn ImportReport,
    started: Instant,
) -> Result<(), ImportError> {
    match done.order {
        Ok(order) => batch.push((done.line, order)),
        Err(reason) => bad(summary, report, done.line, reason),
    }
    if batch.len() >= BATCH {
        flush(desk, batch, summary, report, started).await?;
    }
    Ok(())
}

/// Upserts the batch. An order the desk rejects is reported and taken out, and the rest
/// sent again, so one bad order never keeps the good ones out.
async fn flush(
    desk: &Desk,
    batch: &mut Vec<(u64, OrderInput)>,
    summary: &mut ImportSummary,
    report: &mut dyn ImportReport,
    started: Instant,
) -> Result<(), ImportError> {
    while !batch.is_empty() {
        let orders = batch.iter().map(|(_, o)| o.clone()).collect();
        match desk.upsert_orders(orders).await {
            Ok(done) => {
                summary.created += u64::from(done.created);
                summary.updated += u64::from(done.updated);
                summary.skipped += u64::from(done.skipped);
                summary.unchanged += u64::from(done.unchanged);
                batch.clear();
            }
            Err(Error::Invalid { field, message }) => {
                let Some((i, rest)) = field
                    .strip_prefix("orders[")
                    .and_then(|f| f.split_once(']'))
                    .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)))
                    .filter(|(i, _)| *i < batch.len())
                else {
                    return Err(Error::Invalid { field, message }.into());
                };
                let (line, _) = batch.remove(i);
                let field = rest.trim_start_matches('.');
                bad(summary, report, line, format!("{field}: {message}"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    report.progress(summary, started.elapsed());
    Ok(())
}

/// What tells one order's lines from the next: the Shopify `Name`, or the generic
/// layout's source and order id.
/// Empty when the line names no order.
fn order_key(
    columns: &Columns,
    record: &csv::StringRecord,
    source: Option<&str>,
    default_source: &str,
) -> String {
    match columns.layout {
        Layout::Shopify => columns.get(record, "Name").to_owned(),
        Layout::Generic => match columns.get(record, "order_id") {
            "" => String::new(),
            id => format!(
                "{}\u{0}{id}",
                order_source(columns, record, source, default_source)
            ),
        },
    }
}

/// The source of the order on this line: `--source`, else the `source` column, else the
/// default (`import:<file name>`).
fn order_source(
    columns: &Columns,
    record: &csv::StringRecord,
    source: Option<&str>,
    default_source: &str,
) -> String {
    match source {
        Some(s) => s.to_owned(),
        None => match columns.get(record, "source") {
            "" => default_source.to_owned(),
            s => s.to_owned(),
        },
    }
}

/// A non-empty cell's text.
fn some(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// A time as the shops write it: RFC 3339, `2024-01-15 10:23:45 +0100` (Shopify),
/// `2024-01-15 10:23:45` or `2024-01-15` (taken as UTC).
pub fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S %z") {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A time column's value; an unreadable one is the row's error, naming the column.
fn time(
    columns: &Columns,
    record: &csv::StringRecord,
    name: &str,
) -> Result<Option<DateTime<Utc>>, String> {
    match columns.get(record, name) {
        "" => Ok(None),
        v => parse_time(v)
            .map(Some)
            .ok_or_else(|| format!("{name}: not a date and time: {v:?}")),
    }
}

/// The order whose first line this is, checked as far as a line can be checked.
fn order(
    columns: &Columns,
    record: &csv::StringRecord,
    source: Option<&str>,
    default_source: &str,
) -> Result<OrderInput, String> {
    let get = |name| columns.get(record, name);
    let (external_id, number, status, placed, updated, customer, refunded) = match columns.layout {
        Layout::Shopify => {
            let name = get("Name");
            if name.is_empty() {
                return Err("Name: missing".into());
            }
            let placed = time(columns, record, "Created at")?.ok_or("Created at: missing")?;
            let cancelled = time(columns, record, "Cancelled at")?;
            // The export has no last-modified time: the latest event stands in for it.
            let mut updated = placed;
            for t in [
                time(columns, record, "Paid at")?,
                time(columns, record, "Fulfilled at")?,
                cancelled,
            ]
            .into_iter()
            .flatten()
            {
                updated = updated.max(t);
            }
            let status = if cancelled.is_some() {
                "cancelled".to_owned()
            } else {
                match get("Financial Status") {
                    "" => "open".to_owned(),
                    s => s.to_lowercase(),
                }
            };
            let phone = match get("Phone") {
                "" => get("Billing Phone"),
                p => p,
            };
            let customer = CustomerInput {
                email: some(get("Email")),
                // Spreadsheets make `'+49…` of a phone number to keep its plus.
                phone: some(phone.trim_start_matches('\'')),
                id: None,
                name: some(get("Billing Name")),
                company: some(get("Billing Company")),
            };
            let external_id = match get("Id") {
                "" => name,
                id => id,
            };
            let refunded = some(get("Refunded Amount"));
            (
                external_id.to_owned(),
                name.to_owned(),
                status,
                placed,
                Some(updated),
                customer,
                refunded,
            )
        }
        Layout::Generic => {
            let id = get("order_id");
            if id.is_empty() {
                return Err("order_id: missing".into());
            }
            let placed = time(columns, record, "placed_at")?.ok_or("placed_at: missing")?;
            let updated = time(columns, record, "updated_at")?;
            let customer = CustomerInput {
                email: some(get("email")),
                phone: some(get("phone")),
                id: some(get("customer_id")),
                name: some(get("name")),
                company: some(get("company")),
            };
            let status = match get("status") {
                "" => "open".to_owned(),
                s => s.to_lowercase(),
            };
            let number = match get("number") {
                "" => id,
                n => n,
            };
            (
                id.to_owned(),
                number.to_owned(),
                status,
                placed,
                updated,
                customer,
                None,
            )
        }
    };
    let (currency_col, total_col) = match columns.layout {
        Layout::Shopify => ("Currency", "Total"),
        Layout::Generic => ("currency", "total"),
    };
    let currency = get(currency_col).to_uppercase();
    if currency.is_empty() {
        return Err(format!("{currency_col}: missing"));
    }
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!("{currency_col}: not a currency code: {currency:?}"));
    }
    let total = get(total_col);
    if total.is_empty() {
        return Err(format!("{total_col}: missing"));
    }
    to_minor_units(&total.into(), &currency).map_err(|m| format!("{total_col}: {m}"))?;
    if let Some(r) = &refunded {
        to_minor_units(&r.as_str().into(), &currency)
            .map_err(|m| format!("Refunded Amount: {m}"))?;
    }
    if customer.email.is_none() && customer.phone.is_none() && customer.id.is_none() {
        return Err("no customer email, phone or customer id".into());
    }
    let items = item(columns, record, &currency)?.into_iter().collect();
    Ok(OrderInput {
        source: order_source(columns, record, source, default_source),
        external_id,
        number: Some(number),
        status,
        currency,
        total: total.into(),
        placed_at: placed,
        updated_at: updated,
        customer,
        items,
        refunded: refunded.map(Into::into),
    })
}

/// The order line (item) a row carries, if it names one.
fn item(
    columns: &Columns,
    record: &csv::StringRecord,
    currency: &str,
) -> Result<Option<ItemInput>, String> {
    let [sku, name, quantity, price] = match columns.layout {
        Layout::Shopify => [
            "Lineitem sku",
            "Lineitem name",
            "Lineitem quantity",
            "Lineitem price",
        ],
        Layout::Generic => ["item_sku", "item_name", "item_quantity", "item_price"],
    };
    let item_name = columns.get(record, name);
    if item_name.is_empty() {
        return Ok(None);
    }
    let q = columns.get(record, quantity);
    let quantity_value = match q {
        "" => 1,
        q => q
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{quantity}: not a quantity: {q:?}"))?,
    };
    let p = columns.get(record, price);
    to_minor_units(&p.into(), currency).map_err(|m| format!("{price}: {m}"))?;
    Ok(Some(ItemInput {
        sku: some(columns.get(record, sku)),
        name: item_name.to_owned(),
        quantity: quantity_value,
        unit_price: p.into(),
    }))
}
