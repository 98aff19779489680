//! Column, table, index and foreign-key shorthands shared by the migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub fn ts(col: &'static str) -> ColumnDef {
    timestamp_with_time_zone(Alias::new(col))
}
pub fn ts_null(col: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(Alias::new(col))
}
pub fn id() -> ColumnDef {
    big_pk_auto(Alias::new("id"))
}
pub fn fk(col: &'static str) -> ColumnDef {
    big_integer(Alias::new(col))
}
pub fn fk_null(col: &'static str) -> ColumnDef {
    big_integer_null(Alias::new(col))
}
pub fn s(col: &'static str) -> ColumnDef {
    string(Alias::new(col))
}
pub fn s_null(col: &'static str) -> ColumnDef {
    string_null(Alias::new(col))
}
pub fn t(col: &'static str) -> ColumnDef {
    text(Alias::new(col))
}
pub fn t_null(col: &'static str) -> ColumnDef {
    text_null(Alias::new(col))
}

pub fn table(name: &'static str, cols: Vec<ColumnDef>) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(Alias::new(name));
    for mut c in cols {
        t.col(&mut c);
    }
    t.to_owned()
}

pub fn index(table: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(format!("ix_{}_{}", table, cols.join("_")))
        .table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

pub fn foreign(
    from: &'static str,
    col: &'static str,
    to: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{col}"))
        .from(Alias::new(from), Alias::new(col))
        .to(Alias::new(to), Alias::new("id"))
        .to_owned()
}

/// Creates each table with its foreign keys, in order.
pub async fn create_tables(
    m: &SchemaManager<'_>,
    tables: Vec<(TableCreateStatement, Vec<ForeignKeyCreateStatement>)>,
) -> Result<(), DbErr> {
    for (mut t, fks) in tables {
        for mut f in fks {
            t.foreign_key(&mut f);
        }
        m.create_table(t).await?;
    }
    Ok(())
}

/// Creates indexes given as (table, columns, unique).
pub async fn create_indexes(
    m: &SchemaManager<'_>,
    indexes: &[(&'static str, &[&'static str], bool)],
) -> Result<(), DbErr> {
    for (table, cols, unique) in indexes {
        m.create_index(index(table, cols, *unique)).await?;
    }
    Ok(())
}
