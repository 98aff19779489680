//! `switchboard import orders`: the shop's purchase history from a Shopify order export
//! or the generic CSV layout, with bad rows reported by line and re-runs changing nothing.

use std::io::Write;
use std::path::Path;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use switchboard::store::Store;

use crate::support::cli;

const GENERIC_HEADER: &str = "source,order_id,number,status,currency,total,placed_at,updated_at,email,phone,customer_id,name,company,item_sku,item_name,item_quantity,item_price";

async fn store(dir: &Path) -> Store {
    let url = format!("sqlite://{}?mode=rwc", dir.join("switchboard.db").display());
    Store::connect(&url, None).await.unwrap()
}

/// Orders, order lines, contacts and identities in the store.
async fn counts(store: &Store) -> [u64; 4] {
    let db = store.db();
    [
        entity::order::Entity::find().count(db).await.unwrap(),
        entity::order_item::Entity::find().count(db).await.unwrap(),
        entity::contact::Entity::find().count(db).await.unwrap(),
        entity::identity::Entity::find().count(db).await.unwrap(),
    ]
}

async fn order(store: &Store, number: &str) -> entity::order::Model {
    entity::order::Entity::find()
        .filter(entity::order::Column::Number.eq(number))
        .one(store.db())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("order {number} was not imported"))
}

async fn items(store: &Store, order_id: i64) -> Vec<entity::order_item::Model> {
    entity::order_item::Entity::find()
        .filter(entity::order_item::Column::OrderId.eq(order_id))
        .all(store.db())
        .await
        .unwrap()
}

async fn contact_of(store: &Store, kind: &str, value: &str) -> entity::contact::Model {
    let identity = entity::identity::Entity::find()
        .filter(entity::identity::Column::Kind.eq(kind))
        .filter(entity::identity::Column::Value.eq(value))
        .one(store.db())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no identity {kind} {value}"));
    entity::contact::Entity::find_by_id(identity.contact_id)
        .one(store.db())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_export_lands_with_its_multi_line_orders_and_a_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shop/orders_export.csv");
    let file = file.to_str().unwrap();
    let (ok, out, err) = cli(dir.path(), &["import", "orders", file], "");
    assert!(ok, "{err}");
    assert!(
        out.contains("6 rows, 3 orders") && out.contains("3 created") && out.contains("0 bad rows"),
        "{out}"
    );

    let store = store(dir.path()).await;
    let first = order(&store, "#1001").await;
    assert_eq!(first.source, "import:orders_export.csv");
    assert_eq!(first.external_id, "5551234001");
    assert_eq!((first.currency.as_str(), first.total_cents), ("EUR", 12470));
    assert_eq!(first.status, "paid");
    assert_eq!(first.placed_at.to_rfc3339(), "2024-03-01T09:14:40+00:00");
    let lines = items(&store, first.id).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1].name, "Teapot \"Classic\", 1 l");
    assert_eq!((lines[0].quantity, lines[0].unit_price_cents), (2, 2990));
    let anna = contact_of(&store, "email", "anna.berg@example.com").await;
    assert_eq!(anna.id, first.contact_id);
    assert_eq!(anna.name.as_deref(), Some("Anna Berg"));

    let b2b = order(&store, "#1002").await;
    assert_eq!(items(&store, b2b.id).await.len(), 3);
    assert_eq!(b2b.refunded_cents, 4000);
    let buyer = entity::contact::Entity::find_by_id(b2b.contact_id)
        .one(store.db())
        .await
        .unwrap()
        .unwrap();
    let org = entity::organization::Entity::find_by_id(buyer.organization_id.unwrap())
        .one(store.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(org.name, "ACME GmbH");

    let cancelled = order(&store, "#1003").await;
    assert_eq!(cancelled.status, "cancelled");
    let carl = contact_of(&store, "phone", "+492219876543").await;
    assert_eq!(carl.id, cancelled.contact_id);

    let before = counts(&store).await;
    assert_eq!(before[..2], [3, 6]);
    let stamp = order(&store, "#1001").await.updated_at;
    let (ok, out, err) = cli(dir.path(), &["import", "orders", file], "");
    assert!(ok, "{err}");
    assert!(
        out.contains("0 created, 0 updated, 3 unchanged, 0 skipped") && out.contains("0 bad rows"),
        "a re-run reports the orders as unchanged: {out}"
    );
    assert_eq!(counts(&store).await, before, "a re-run changes nothing");
    let first = order(&store, "#1001").await;
    assert_eq!(
        (first.total_cents, first.updated_at),
        (12470, stamp),
        "not even rewritten"
    );

    // The same export with one order's line changed: that order is updated, the rest not.
    let edited = dir.path().join("orders_export.csv");
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("Teapot"), "the fixture names its teapot");
    std::fs::write(&edited, text.replacen("Teapot", "Tea pot", 1)).unwrap();
    let (ok, out, err) = cli(
        dir.path(),
        &["import", "orders", edited.to_str().unwrap()],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("0 created, 1 updated, 2 unchanged"), "{out}");
    let lines = items(&store, first.id).await;
    assert!(
        lines.iter().any(|l| l.name.starts_with("Tea pot")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_by_line_and_the_good_ones_land() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let rows = [
        GENERIC_HEADER,
        // 2–3: a good order with two lines.
        ",A1,1001,paid,EUR,59.80,2024-05-01T10:00:00Z,,lea@example.com,,C-1,Lea Kim,,MUG,Mug,2,19.90",
        ",A1,,,,,,,,,,,,TEA,Tea,1,20.00",
        // 4: an unparseable date.
        ",A2,1002,paid,EUR,10.00,yesterday,,max@example.com,,,,,,,,",
        // 5: no currency.
        ",A3,1003,paid,,10.00,2024-05-01,,max@example.com,,,,,,,,",
        // 6: a bad total.
        ",A4,1004,paid,EUR,12;50,2024-05-01,,max@example.com,,,,,,,,",
        // 7: nobody to attach it to.
        ",A5,1005,paid,EUR,10.00,2024-05-01,,,,,,,,,,",
        // 8: a malformed record (one field too many).
        ",A6,1006,paid,EUR,10.00,2024-05-01,,max@example.com,,,,,,,,,extra",
        // 9: a phone number the desk cannot read.
        ",A7,1007,paid,EUR,10.00,2024-05-01,,,not a phone,,,,,,,",
        // 10–11: an order whose second line has a bad price.
        ",A8,1008,paid,EUR,10.00,2024-05-01,,max@example.com,,,,,X,Thing,1,5.00",
        ",A8,,,,,,,,,,,,Y,Other,1,five",
        // 12: a good B2B order by phone, a JPY total, a date with an offset.
        ",A9,1009,open,jpy,1500,2024-05-02 09:30:00 +0900,2024-05-03T00:00:00Z,,+49 30 12345678,,Ola Berg,Berg AG,,,,",
    ];
    std::fs::write(&path, rows.join("\n") + "\n").unwrap();
    let errors = dir.path().join("errors.txt");
    let (ok, out, err) = cli(
        dir.path(),
        &[
            "import",
            "orders",
            path.to_str().unwrap(),
            "--source",
            "shop:kiosk",
            "--errors",
            errors.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "bad rows do not stop the import: {err}");
    assert!(
        out.contains("2 created") && out.contains("7 bad rows"),
        "{out}\n{err}"
    );
    let report = std::fs::read_to_string(&errors).unwrap();
    for (line, reason) in [
        (4, "placed_at"),
        (5, "currency: missing"),
        (6, "total"),
        (7, "no customer email, phone or customer id"),
        (8, "malformed record"),
        (9, "phone"),
        (10, "line 11: item_price"),
    ] {
        let prefix = format!("line {line}: ");
        let found = report.lines().find(|l| l.starts_with(&prefix));
        assert!(
            found.is_some_and(|l| l.contains(reason)),
            "line {line} ({reason}) in:\n{report}"
        );
        assert!(err.contains(&prefix), "stderr names line {line}: {err}");
    }
    assert_eq!(report.lines().count(), 7, "{report}");

    let store = store(dir.path()).await;
    let good = order(&store, "1001").await;
    assert_eq!(good.source, "shop:kiosk");
    assert_eq!(good.total_cents, 5980);
    assert_eq!(items(&store, good.id).await.len(), 2);
    let lea = contact_of(&store, "email", "lea@example.com").await;
    assert_eq!(lea.id, good.contact_id);
    contact_of(&store, "shop", "shop:kiosk:C-1").await;
    let yen = order(&store, "1009").await;
    assert_eq!((yen.currency.as_str(), yen.total_cents), ("JPY", 1500));
    assert_eq!(yen.placed_at.to_rfc3339(), "2024-05-02T00:30:00+00:00");
    assert_eq!(counts(&store).await[0], 2);
}

#[test]
fn an_unknown_layout_or_a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("people.csv");
    std::fs::write(&path, "first,last,email\nLea,Kim,lea@example.com\n").unwrap();
    let (ok, _, err) = cli(
        dir.path(),
        &["import", "orders", path.to_str().unwrap()],
        "",
    );
    assert!(!ok);
    assert!(
        err.contains("people.csv")
            && err.contains("matches no known layout")
            && err.contains("Lineitem name")
            && err.contains(GENERIC_HEADER),
        "{err}"
    );
    let missing = dir.path().join("nope.csv");
    let (ok, _, err) = cli(
        dir.path(),
        &["import", "orders", missing.to_str().unwrap()],
        "",
    );
    assert!(!ok);
    assert!(
        err.contains("cannot open") && err.contains("nope.csv"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_lands_whole() {
    const ORDERS: usize = 25_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "{GENERIC_HEADER}").unwrap();
    for i in 0..ORDERS {
        let customer = i % 5_000;
        let day = 1 + i % 28;
        writeln!(
            file,
            "shop:big,{i},{i},paid,EUR,30.00,2024-02-{day:02}T12:00:00Z,,c{customer}@example.com,,,Customer {customer},,A,Apple,1,10.00"
        )
        .unwrap();
        writeln!(file, "shop:big,{i},,,,,,,,,,,,B,Bread,2,10.00").unwrap();
    }
    // One bad row in the middle of the stream.
    writeln!(
        file,
        "shop:big,bad,,paid,EUR,1.00,never,,x@example.com,,,,,,,,"
    )
    .unwrap();
    drop(file);
    let (ok, out, err) = cli(
        dir.path(),
        &["import", "orders", path.to_str().unwrap()],
        "",
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "read {} rows, {} orders",
            2 * ORDERS + 1,
            ORDERS + 1
        )) && out.contains(&format!("{ORDERS} created"))
            && out.contains("1 bad rows"),
        "{out}"
    );
    assert!(
        err.contains(&format!("line {}: placed_at", 2 * ORDERS + 2)),
        "{err}"
    );
    let store = store(dir.path()).await;
    assert_eq!(
        counts(&store).await,
        [ORDERS as u64, 2 * ORDERS as u64, 5_000, 5_000]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_without_an_order_id_and_an_unclosed_quote_are_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "{GENERIC_HEADER}").unwrap();
    // 2: good; 3 and 4: no order id, each its own bad row; 5: good.
    writeln!(
        file,
        ",B1,,paid,EUR,10.00,2024-05-01,,ida@example.com,,,,,,,,"
    )
    .unwrap();
    writeln!(
        file,
        ",,,paid,EUR,10.00,2024-05-01,,ida@example.com,,,,,,,,"
    )
    .unwrap();
    writeln!(
        file,
        ",,,paid,EUR,11.00,2024-05-01,,ida@example.com,,,,,,,,"
    )
    .unwrap();
    writeln!(
        file,
        ",B2,,paid,EUR,12.00,2024-05-01,,ida@example.com,,,,,,,,"
    )
    .unwrap();
    // 6: a quote never closed, then more than a record may hold.
    writeln!(
        file,
        ",B3,,paid,EUR,13.00,2024-05-01,,\"ida@example.com,,,,,,,,"
    )
    .unwrap();
    let filler = ",B9,,paid,EUR,1.00,2024-05-01,,ida@example.com,,,,,,,,\n".repeat(40_000);
    file.write_all(filler.as_bytes()).unwrap();
    drop(file);
    let (ok, out, err) = cli(
        dir.path(),
        &["import", "orders", path.to_str().unwrap()],
        "",
    );
    assert!(!ok, "an unclosed quote stops the import: {out}");
    for line in [3, 4] {
        assert!(
            err.contains(&format!("line {line}: order_id: missing")),
            "line {line}: {err}"
        );
    }
    assert!(
        err.contains("line 6: a record longer than") && err.contains("quote"),
        "{err}"
    );
    let store = store(dir.path()).await;
    assert_eq!(
        counts(&store).await[0],
        2,
        "the orders before the broken record landed"
    );
}
