//! `between-relay migrate --from sqlite:PATH --to postgres://…`: moves a practice's relay from
//! its SQLite file to a PostgreSQL database, so that devices notice nothing but a restart.
//!
//! The two backends keep the same tables with the same columns (the PostgreSQL schema is the
//! SQLite one translated, see `store::postgres::schema`), so the move copies every row as it is
//! — ids, sequence numbers, heads, sealed blobs, and the audit trail with its hashes — rather
//! than replaying operations: the devices' cursors, the relay's sequence numbers and the audit
//! chain continue unchanged. It reads the source in one read transaction (a consistent copy) and
//! writes the target in one transaction under the relay's write lock (all or nothing). The
//! target must be empty: the relay's tables made and nothing in them. Afterwards it checks that
//! every table holds as many rows on both sides and that the audit chain verifies on the target
//! and ends at the same head as the source's.
//!
//! Stop the relay before migrating: what devices push after the copy began would stay behind in
//! the SQLite file.

use crate::store::AuditStore;
use std::path::Path;

use anyhow::{bail, Context, Result};
use postgres::types::{ToSql, Type};
use postgres::Client;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::database::Database;
use crate::store::postgres::target::Target;
use crate::store::postgres::{PostgresStore, WRITE_LOCK_KEY};
use crate::store::sqlite::SqliteStore;
use crate::store::AuditHead;

/// The relay's tables, parents before children (foreign keys are checked row by row).
const TABLES: &[&str] = &[
    "accounts",
    "devices",
    "invites",
    "documents",
    "deleted_documents",
    "members",
    "memberships",
    "bundles",
    "snapshots",
    "snapshot_parts",
    "snapshot_uploads",
    "key_envelopes",
    "pairings",
    "audit",
];

/// What was moved.
#[derive(Debug)]
pub(crate) struct Moved {
    /// Rows per table, in [`TABLES`] order.
    pub(crate) rows: Vec<(&'static str, u64)>,
    /// The audit trail's head, the same on both sides.
    pub(crate) audit: AuditHead,
}

/// Copies the relay at `from` (a SQLite file) into `to` (an empty PostgreSQL database).
pub(crate) fn migrate(from: &Database, to: &Database) -> Result<Moved> {
    let (Database::Sqlite(path), Database::Postgres(url)) = (from, to) else {
        bail!("migrate moves a relay from SQLite to PostgreSQL: --from sqlite:PATH --to postgres://USER@HOST/DATABASE");
    };
    if !between_sqlite_file::exists(path)? {
        bail!(
            "there is no relay database at {}; check --from",
            path.display()
        );
    }
    // Opening checks the file in full and brings its schema up to date, so its columns are the
    // ones the target has.
    SqliteStore::open(path)?
        .verify_audit()
        .with_context(|| format!("the audit trail in {from} does not verify; migrate a database whose trail verifies (a backup)"))?;
    let target = PostgresStore::open(url).with_context(|| format!("could not open {to}"))?;
    let mut source = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("could not read {from}"))?;
    let mut client = Target::parse(url)
        .map_err(anyhow::Error::from)
        .and_then(|target| Ok(target.connect()?))
        .with_context(|| format!("could not connect to {to}"))?;
    let (rows, copied_head) = copy(&mut source, path, &mut client, to)?;
    let target_head = target
        .verify_audit()
        .with_context(|| format!("the audit trail copied to {to} does not verify"))?;
    if target_head != copied_head {
        bail!(
            "the audit trail copied to {to} ends at {target_head}, the source's at {copied_head}"
        );
    }
    for (table, count) in &rows {
        let copied: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
            .get(0);
        if u64::try_from(copied).ok() != Some(*count) {
            bail!("{to} holds {copied} rows of {table} after the copy, the source {count}");
        }
    }
    Ok(Moved {
        rows,
        audit: target_head,
    })
}

/// Copies every table in one read transaction of the source and one write transaction of the
/// target; returns the rows copied per table and the audit head copied.
fn copy(
    source: &mut Connection,
    path: &Path,
    client: &mut Client,
    to: &Database,
) -> Result<(Vec<(&'static str, u64)>, AuditHead)> {
    let read = source
        .transaction()
        .with_context(|| format!("could not read {}", path.display()))?;
    let mut write = client.transaction()?;
    write.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK_KEY])?;
    let occupied: bool = write
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM audit)",
            &[],
        )?
        .get(0);
    if occupied {
        bail!("{to} already holds a relay's data; migrate into an empty database (createdb, then migrate)");
    }
    let mut rows = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let count = copy_table(&read, &mut write, table)
            .with_context(|| format!("could not copy the table {table}"))?;
        rows.push((*table, count));
    }
    let (audit_rows, audit_hash): (i64, Vec<u8>) = read.query_row(
        "SELECT rows, hash FROM audit_head WHERE one = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    write.execute(
        "UPDATE audit_head SET rows = $1, hash = $2 WHERE one = 1",
        &[&audit_rows, &audit_hash],
    )?;
    write
        .commit()
        .context("the copy could not be committed; the target is unchanged")?;
    let head = AuditHead {
        rows: u64::try_from(audit_rows)?,
        hash: audit_hash
            .try_into()
            .map_err(|_| anyhow::anyhow!("the source's audit head is not a 32-byte hash"))?,
    };
    Ok((rows, head))
}

/// Copies one table, row by row, in its insertion order (an account's inviter comes before it).
fn copy_table(
    read: &Connection,
    write: &mut postgres::Transaction<'_>,
    table: &str,
) -> Result<u64> {
    let columns: Vec<String> = read
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let insert = write.prepare(&format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    ))?;
    let types = insert.params().to_vec();
    // `members` has no rowid (and no order to keep).
    let order = if table == "members" {
        ""
    } else {
        " ORDER BY rowid"
    };
    let mut select = read.prepare(&format!(
        "SELECT {} FROM {table}{order}",
        columns.join(", ")
    ))?;
    let mut rows = select.query([])?;
    let mut count = 0_u64;
    while let Some(row) = rows.next()? {
        let values = types
            .iter()
            .enumerate()
            .map(|(i, ty)| value(row.get_ref(i)?, ty, &columns[i]))
            .collect::<Result<Vec<_>>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        write.execute(&insert, &params)?;
        count += 1;
    }
    Ok(count)
}

/// A SQLite value as the PostgreSQL column of type `ty` takes it.
fn value(value: ValueRef<'_>, ty: &Type, column: &str) -> Result<Box<dyn ToSql + Sync>> {
    let converted: Box<dyn ToSql + Sync> = match (value, ty) {
        (ValueRef::Integer(n), &Type::INT8) => Box::new(n),
        (ValueRef::Integer(n), &Type::INT4) => Box::new(i32::try_from(n)?),
        (ValueRef::Blob(bytes), &Type::BYTEA) => Box::new(bytes.to_vec()),
        (ValueRef::Text(text), &Type::TEXT) => Box::new(std::str::from_utf8(text)?.to_owned()),
        (ValueRef::Null, &Type::INT8) => Box::new(None::<i64>),
        (ValueRef::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (ValueRef::Null, &Type::TEXT) => Box::new(None::<String>),
        (other, ty) => bail!(
            "the column {column} holds a {:?} value where PostgreSQL expects {ty}",
            other.data_type()
        ),
    };
    Ok(converted)
}
