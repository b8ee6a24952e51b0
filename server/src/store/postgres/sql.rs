//! How the concern modules talk to PostgreSQL: [`Sql`] runs statements inside the method's
//! transaction (or alone, for a one-statement read), prepares each statement once per
//! connection, and turns every PostgreSQL error into a [`StoreError`] that names the database.
//! Also how ids, roles and sequence numbers travel to and from PostgreSQL's types.

use std::collections::HashMap;
use std::error::Error;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, ToSql, Type};
use postgres::{Client, Row, Statement, Transaction};

use super::Location;
use crate::store::{AccountRole, Seq, StoreError};

/// Statement parameters, as the `postgres` crate takes them.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// What statements run on.
pub(super) enum Conn<'c> {
    /// The connection itself: each statement is its own transaction.
    Direct(&'c mut Client),
    /// The method's transaction (rolled back if dropped before [`Sql::commit`]).
    Transaction(Transaction<'c>),
}

/// Statements of one store method, with their errors already translated (see the module
/// documentation).
pub(super) struct Sql<'c> {
    /// Where statements run.
    conn: Conn<'c>,
    /// The connection's prepared statements, by their SQL.
    statements: &'c mut HashMap<String, Statement>,
    /// The database, for error messages.
    location: &'c Location,
}

impl<'c> Sql<'c> {
    /// Statements on `conn`, prepared through `statements`.
    pub(super) fn new(
        conn: Conn<'c>,
        statements: &'c mut HashMap<String, Statement>,
        location: &'c Location,
    ) -> Sql<'c> {
        Sql {
            conn,
            statements,
            location,
        }
    }

    /// Translates a PostgreSQL error (see [`Location::fail`]).
    pub(super) fn fail(&self, error: postgres::Error) -> StoreError {
        self.location.fail(error)
    }

    /// The prepared statement for `sql`, prepared now if this connection has not yet.
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let prepared = match &mut self.conn {
            Conn::Direct(client) => client.prepare(sql),
            Conn::Transaction(tx) => tx.prepare(sql),
        };
        let statement = prepared.map_err(|err| self.fail(err))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs a statement; returns how many rows it changed (or returned).
    pub(super) fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let outcome = match &mut self.conn {
            Conn::Direct(client) => client.execute(&statement, params),
            Conn::Transaction(tx) => tx.execute(&statement, params),
        };
        outcome.map_err(|err| self.fail(err))
    }

    /// Runs several statements without parameters (savepoints), unprepared.
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let outcome = match &mut self.conn {
            Conn::Direct(client) => client.batch_execute(sql),
            Conn::Transaction(tx) => tx.batch_execute(sql),
        };
        outcome.map_err(|err| self.fail(err))
    }

    /// Every row a query returns, each read by `read`.
    pub(super) fn rows<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        read: impl Fn(&Row) -> Result<T, postgres::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let statement = self.statement(sql)?;
        let rows = match &mut self.conn {
            Conn::Direct(client) => client.query(&statement, params),
            Conn::Transaction(tx) => tx.query(&statement, params),
        };
        rows.and_then(|rows| rows.iter().map(read).collect())
            .map_err(|err| self.fail(err))
    }

    /// The one row a query returns, if any, read by `read`.
    pub(super) fn row<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        read: impl FnOnce(&Row) -> Result<T, postgres::Error>,
    ) -> Result<Option<T>, StoreError> {
        let statement = self.statement(sql)?;
        let row = match &mut self.conn {
            Conn::Direct(client) => client.query_opt(&statement, params),
            Conn::Transaction(tx) => tx.query_opt(&statement, params),
        };
        row.and_then(|row| row.as_ref().map(read).transpose())
            .map_err(|err| self.fail(err))
    }

    /// The first column of the one row a query returns, if any.
    pub(super) fn value<T: for<'r> FromSql<'r>>(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<T>, StoreError> {
        self.row(sql, params, |row| row.try_get(0))
    }

    /// Whether a query returns at least one row (the server stops at the first).
    pub(super) fn exists(&mut self, sql: &str, params: Params<'_>) -> Result<bool, StoreError> {
        Ok(self
            .value(&format!("SELECT EXISTS ({sql})"), params)?
            .unwrap_or(false))
    }

    /// The one row a query must return, read by `read`; no row (or several) is an error.
    pub(super) fn one_row<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        read: impl FnOnce(&Row) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let statement = self.statement(sql)?;
        let row = match &mut self.conn {
            Conn::Direct(client) => client.query_one(&statement, params),
            Conn::Transaction(tx) => tx.query_one(&statement, params),
        };
        row.and_then(|row| read(&row)).map_err(|err| self.fail(err))
    }

    /// Reads the rows of a query with `read` and hands them to `visit` one by one as they
    /// arrive, without holding them all in memory; stops at the first error.
    pub(super) fn for_each_row<T, E: From<StoreError>>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        read: impl Fn(&Row) -> Result<T, postgres::Error>,
        mut visit: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let statement = self.statement(sql)?;
        let location = self.location;
        let params = params.iter().copied();
        let rows = match &mut self.conn {
            Conn::Direct(client) => client.query_raw(&statement, params),
            Conn::Transaction(tx) => tx.query_raw(&statement, params),
        };
        let mut rows = rows.map_err(|err| location.fail(err))?;
        while let Some(row) = rows.next().map_err(|err| location.fail(err))? {
            visit(read(&row).map_err(|err| location.fail(err))?)?;
        }
        Ok(())
    }

    /// Commits the method's transaction (nothing to do for statements run alone).
    pub(super) fn commit(self) -> Result<(), StoreError> {
        match self.conn {
            Conn::Direct(_) => Ok(()),
            Conn::Transaction(tx) => tx.commit().map_err(|err| self.location.fail(err)),
        }
    }
}

/// The error a column conversion reports.
type ConversionError = Box<dyn Error + Sync + Send>;

// The store's ids are the protocol's types, for which this crate cannot implement the `postgres`
// crate's traits: they are bound as their bytes (`doc.as_bytes().as_slice()`, a `BYTEA`) and read
// back with `bytes` (`DocId(bytes(row, 0)?)`). Sequence numbers are bound with `seq` and read with
// `seq_at`.

/// A `BYTEA` of exactly `N` bytes: an id, key or hash.
pub(super) struct Fixed<const N: usize>(pub(super) [u8; N]);

impl<'a, const N: usize> FromSql<'a> for Fixed<N> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, ConversionError> {
        let bytes = <&[u8] as FromSql>::from_sql(ty, raw)?;
        <[u8; N]>::try_from(bytes)
            .map(Fixed)
            .map_err(|_| format!("expected {N} bytes, found {}", bytes.len()).into())
    }

    fn accepts(ty: &Type) -> bool {
        <&[u8] as FromSql>::accepts(ty)
    }
}

/// Column `idx` of `row`: a `BYTEA` of exactly `N` bytes.
pub(super) fn bytes<const N: usize>(row: &Row, idx: usize) -> Result<[u8; N], postgres::Error> {
    row.try_get(idx).map(|Fixed(bytes)| bytes)
}

/// Column `idx` of `row`: a `BYTEA` of exactly `N` bytes, or `NULL`.
pub(super) fn optional_bytes<const N: usize>(
    row: &Row,
    idx: usize,
) -> Result<Option<[u8; N]>, postgres::Error> {
    Ok(row
        .try_get::<_, Option<Fixed<N>>>(idx)?
        .map(|Fixed(bytes)| bytes))
}

impl<'a> FromSql<'a> for AccountRole {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, ConversionError> {
        let token = <&str as FromSql>::from_sql(ty, raw)?;
        AccountRole::parse(token).ok_or_else(|| format!("unknown role {token:?}").into())
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

/// A sequence number as a `BIGINT` (never negative).
struct StoredSeq(Seq);

impl<'a> FromSql<'a> for StoredSeq {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, ConversionError> {
        let number = i64::from_sql(ty, raw)?;
        u64::try_from(number)
            .map(|n| StoredSeq(Seq(n)))
            .map_err(|_| format!("negative sequence number {number}").into())
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as FromSql>::accepts(ty)
    }
}

/// Column `idx` of `row`: a sequence number.
pub(super) fn seq_at(row: &Row, idx: usize) -> Result<Seq, postgres::Error> {
    row.try_get(idx).map(|StoredSeq(seq)| seq)
}

/// Column `idx` of `row`: a sequence number, or `NULL`.
pub(super) fn optional_seq_at(row: &Row, idx: usize) -> Result<Option<Seq>, postgres::Error> {
    Ok(row
        .try_get::<_, Option<StoredSeq>>(idx)?
        .map(|StoredSeq(seq)| seq))
}

/// A sequence number, count or limit as a `BIGINT`. Numbers past `i64::MAX` are never stored,
/// so clamping keeps every comparison with a stored number right.
pub(super) fn big(number: impl TryInto<i64>) -> i64 {
    number.try_into().unwrap_or(i64::MAX)
}

/// A sequence number as a `BIGINT` (see [`big`]).
pub(super) fn seq(seq: Seq) -> i64 {
    big(seq.0)
}

/// A count or size read as a `BIGINT` (never negative) as `u64`.
pub(super) fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// An optional id as an optional `BYTEA`.
pub(super) fn optional<const N: usize>(id: Option<&[u8; N]>) -> Option<&[u8]> {
    id.map(<[u8; N]>::as_slice)
}
