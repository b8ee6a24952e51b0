//! Ids in SQL. Document and device ids are TEXT columns holding the id's lower-case hex, as
//! profiles have always stored them; [`Hex`] binds and reads them as the protocol's typed ids
//! (`DocId`, `DeviceId`), so the store's callers never handle an id as text. (The orphan rule
//! keeps rusqlite's traits off the shared crate's types, hence the wrapper.)

use std::fmt::Display;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// A typed id as its hex text in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hex<T>(pub(super) T);

impl<T: Display> ToSql for Hex<T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0.to_string()))
    }
}

impl<T> FromSql for Hex<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map(Hex)
            .map_err(|err| FromSqlError::Other(Box::new(err)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use between_shared::protocol::DocId;
    use rusqlite::Connection;

    #[test]
    fn an_id_is_stored_as_its_hex_and_read_back_typed() {
        let conn = Connection::open_in_memory().unwrap();
        let id = DocId([0xab; 16]);
        let text: String = conn
            .query_row("SELECT ?1", [Hex(id)], |row| row.get(0))
            .unwrap();
        assert_eq!(text, "ab".repeat(16));
        let back: Hex<DocId> = conn
            .query_row("SELECT ?1", [text], |row| row.get(0))
            .unwrap();
        assert_eq!(back, Hex(id));
    }

    #[test]
    fn text_that_is_not_an_id_is_an_error_not_a_wrong_id() {
        let conn = Connection::open_in_memory().unwrap();
        let read = conn.query_row("SELECT 'doc-1'", [], |row| row.get::<_, Hex<DocId>>(0));
        assert!(read.is_err());
    }
}
