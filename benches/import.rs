//! Order import benchmark: rows and orders per second through the CSV order import
//! (`switchboard::channels::shop_csv`) into a fresh SQLite store, and the process's peak
//! memory, which must stay bounded however long the file is.
//!
//! `cargo bench --bench import`. Settings (environment):
//! - `BENCH_LINES` — data lines in the generated generic-layout file (default 1000000)
//! - `BENCH_LINES_PER_ORDER` — order lines (items) per order (default 2)
//! - `BENCH_CUSTOMERS` — distinct customers the orders spread over (default 50000)
//! - `BENCH_RERUN` — also import the same file a second time, which must find every
//!   order unchanged (default 1; 0 skips it)
//!
//! The file is written to a temporary directory first (not timed); one line in a
//! thousand is bad (an unparseable date) and must be reported without stopping the run.

mod common;
use common::{env_usize, own_rss_kib};

use std::io::Write;
use std::time::{Duration, Instant};

use sea_orm::{EntityTrait, PaginatorTrait};
use switchboard::channels::shop_csv::{self, BadRow, ImportReport, ImportSummary};
use switchboard::desk::{Desk, Rules};
use switchboard::store::Store;

/// Peak resident memory of this process (VmHWM) in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Counts bad rows and prints progress every ten seconds.
struct Report {
    bad: u64,
    last: Instant,
}

impl ImportReport for Report {
    fn bad_row(&mut self, _row: &BadRow) {
        self.bad += 1;
    }

    fn progress(&mut self, s: &ImportSummary, elapsed: Duration) {
        if self.last.elapsed() >= Duration::from_secs(10) {
            self.last = Instant::now();
            println!(
                "  {} rows, {} orders after {:.0} s, VmRSS {} KiB",
                s.rows,
                s.orders,
                elapsed.as_secs_f64(),
                own_rss_kib().unwrap_or(0)
            );
        }
    }
}

fn main() {
    let lines = env_usize("BENCH_LINES", 1_000_000);
    let per_order = env_usize("BENCH_LINES_PER_ORDER", 2);
    let customers = env_usize("BENCH_CUSTOMERS", 50_000);
    let rerun = env_usize("BENCH_RERUN", 1) > 0;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(lines, per_order, customers, rerun));
}

/// Imports the file once; returns the summary and the seconds it took.
async fn import(desk: &Desk, path: &std::path::Path) -> (ImportSummary, u64, f64) {
    let file = std::fs::File::open(path).expect("open");
    let mut report = Report {
        bad: 0,
        last: Instant::now(),
    };
    let started = Instant::now();
    let s = shop_csv::import_orders(
        desk,
        std::io::BufReader::with_capacity(256 * 1024, file),
        None,
        "bench",
        &mut report,
    )
    .await
    .expect("import");
    (s, report.bad, started.elapsed().as_secs_f64())
}

async fn run(lines: usize, per_order: usize, customers: usize, rerun: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("orders.csv");
    let started = Instant::now();
    let (orders, bad) = write_file(&path, lines, per_order, customers);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {lines} lines ({orders} orders, {bad} bad, {:.1} MB) in {:.1} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Store::connect(&url, None).await.expect("store");
    store.migrate().await.expect("migrate");
    let desk = Desk::new(
        store.clone(),
        Rules::default(),
        switchboard::blobs::Blobs::new(dir.path()),
    );
    let rss_before = own_rss_kib().unwrap_or(0);
    let (s, reported_bad, secs) = import(&desk, &path).await;
    let stored = entity::order::Entity::find()
        .count(store.db())
        .await
        .expect("count");
    println!(
        "imported {} rows, {} orders in {secs:.1} s: {} created, {} updated, {} unchanged, {} skipped, {} bad rows",
        s.rows, s.orders, s.created, s.updated, s.unchanged, s.skipped, s.bad_rows
    );
    println!(
        "import: {:.0} rows/s, {:.0} orders/s",
        s.rows as f64 / secs,
        s.created as f64 / secs
    );
    println!(
        "memory: VmRSS {} KiB before the import, {} KiB after; peak VmHWM {} KiB",
        rss_before,
        own_rss_kib().unwrap_or(0),
        peak_rss_kib().unwrap_or(0)
    );
    assert_eq!(s.rows, lines as u64);
    assert_eq!(s.bad_rows, bad as u64);
    assert_eq!(reported_bad, bad as u64);
    assert_eq!(stored, s.created);
    assert_eq!(s.created as usize, orders - bad);

    if rerun {
        // The same file again: every order is compared with the stored one, none written.
        let (again, _, secs) = import(&desk, &path).await;
        println!(
            "re-import: {:.0} rows/s; {} created, {} updated, {} unchanged; peak VmHWM {} KiB",
            again.rows as f64 / secs,
            again.created,
            again.updated,
            again.unchanged,
            peak_rss_kib().unwrap_or(0)
        );
        assert_eq!((again.created, again.updated), (0, 0));
        assert_eq!(again.unchanged, s.created);
    }
    store.close().await;
}

/// Writes the generic-layout file; returns how many orders and bad orders it holds.
fn write_file(
    path: &std::path::Path,
    lines: usize,
    per_order: usize,
    customers: usize,
) -> (usize, usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(file, "{}", shop_csv::GENERIC_COLUMNS.join(",")).expect("write");
    let (mut orders, mut bad) = (0, 0);
    let mut line = 0;
    while line < lines {
        let id = orders;
        orders += 1;
        let customer = id % customers;
        let date = if id % 1000 == 999 {
            bad += 1;
            "someday".to_owned()
        } else {
            format!("2024-{:02}-{:02}T12:00:00Z", 1 + id % 12, 1 + id % 28)
        };
        writeln!(
            file,
            "shop:bench,{id},{id},paid,EUR,{}.90,{date},,customer{customer}@example.com,,C{customer},Customer {customer},,SKU-{},Item {},1,9.90",
            10 + id % 90,
            id % 500,
            id % 500
        )
        .expect("write");
        line += 1;
        for n in 1..per_order {
            if line >= lines {
                break;
            }
            writeln!(file, "shop:bench,{id},,,,,,,,,,,,SKU-{n},Item {n},{n},1.00").expect("write");
            line += 1;
        }
    }
    file.flush().expect("flush");
    (orders, bad)
}
