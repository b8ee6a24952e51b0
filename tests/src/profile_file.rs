//! A profile's store file opened directly, for tests that write into it what another program
//! (or an older Between) would: chunks of changes to the shared homework document.

use std::path::PathBuf;

use crate::Device;

/// A device's store, opened beside the `between` processes.
pub struct ProfileFile {
    conn: rusqlite::Connection,
    /// The profile's Automerge actor id (on a synced profile, its device id).
    pub actor: Vec<u8>,
    /// The id of the shared homework document.
    pub doc_id: String,
}

impl ProfileFile {
    /// Opens `device`'s store file.
    pub fn open(device: &Device) -> Self {
        let conn = rusqlite::Connection::open(Self::path(device)).expect("open the store file");
        let actor = conn
            .query_row("SELECT actor_id FROM profile", [], |r| r.get(0))
            .expect("the profile's actor");
        let doc_id = conn
            .query_row("SELECT id FROM documents WHERE kind = 'shared'", [], |r| {
                r.get(0)
            })
            .expect("the shared document");
        Self {
            conn,
            actor,
            doc_id,
        }
    }

    /// The store file of `device`.
    pub fn path(device: &Device) -> PathBuf {
        device
            .data_dir
            .join("profiles")
            .join(&device.profile)
            .join("store.sqlite3")
    }

    /// The shared document as stored: its snapshot followed by every chunk.
    pub fn document_bytes(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self
            .conn
            .query_row(
                "SELECT snapshot FROM documents WHERE id = ?1",
                [&self.doc_id],
                |r| r.get(0),
            )
            .expect("the snapshot");
        let mut chunks = self
            .conn
            .prepare("SELECT data FROM document_chunks WHERE document_id = ?1 ORDER BY seq")
            .expect("read the chunks");
        let rows = chunks
            .query_map([&self.doc_id], |r| r.get::<_, Vec<u8>>(0))
            .expect("read the chunks");
        for chunk in rows {
            bytes.extend(chunk.expect("a chunk"));
        }
        bytes
    }

    /// Appends a chunk of changes to the shared document, as a command would.
    pub fn append_chunk(&self, chunk: &[u8]) {
        self.conn
            .execute(
                "INSERT INTO document_chunks (document_id, data) VALUES (?1, ?2)",
                rusqlite::params![self.doc_id, chunk],
            )
            .expect("append a chunk");
    }

    /// How many rows `table` holds.
    pub fn count(&self, table: &str) -> i64 {
        self.conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count rows")
    }
}
