//! A device profile: where it lives, who it belongs to, and the open homework document.
//!
//! A profile is one device of one person: a folder holding the local store. [`Session`] opens it
//! and picks the homework document a command acts on (a client has one; a therapist has one per
//! client and names it with `--client`). [`Workspace::save`] appends the command's new changes
//! to the store in one transaction before the command returns, and compacts from time to time.

use crate::clock::Clock;
use crate::store::{DocumentRecord, ProfileRecord, Store};
use anyhow::{bail, Context, Result};
use between_shared::{Author, HomeworkDoc, Role};
use std::path::{Path, PathBuf};

/// File name of the local store inside a profile folder.
const STORE_FILE: &str = "store.sqlite3";

/// Resolves the folder of a profile.
pub(crate) fn profile_dir(data_dir: Option<&Path>, profile: &str) -> Result<PathBuf> {
    if profile.is_empty()
        || !profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("'{profile}' is not a valid profile name; use letters, digits, '-' and '_'");
    }
    let base = match data_dir {
        Some(dir) => dir.to_path_buf(),
        None => directories::ProjectDirs::from("org", "Between", "between")
            .context("could not find a home directory for the profile; pass --data-dir")?
            .data_dir()
            .to_path_buf(),
    };
    Ok(base.join("profiles").join(profile))
}

/// The folder and store file for a new profile, refusing a name that is already taken.
pub(crate) fn vacant_profile(data_dir: Option<&Path>, profile: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = profile_dir(data_dir, profile)?;
    let path = store_path(&dir);
    if path.exists() {
        bail!(
            "a profile named '{profile}' already exists at {}; choose another with --profile NAME",
            path.display()
        );
    }
    Ok((dir, path))
}

/// The path of the store file of a profile folder.
pub(crate) fn store_path(dir: &Path) -> PathBuf {
    dir.join(STORE_FILE)
}

/// Parses a stored role name.
pub(crate) fn parse_role(role: &str) -> Result<Role> {
    match role {
        "client" => Ok(Role::Client),
        "therapist" => Ok(Role::Therapist),
        other => {
            bail!("the profile has an unknown role '{other}'; it may come from a newer Between")
        }
    }
}

/// An opened profile.
pub(crate) struct Session {
    pub(crate) store: Store,
    pub(crate) me: Author,
    pub(crate) actor: Vec<u8>,
    pub(crate) clock: Clock,
}

impl Session {
    /// Opens an existing profile's store.
    pub(crate) fn open(data_dir: Option<&Path>, profile: &str) -> Result<Self> {
        let dir = profile_dir(data_dir, profile)?;
        let store = Store::open(&store_path(&dir))?;
        let ProfileRecord {
            role,
            display_name,
            actor_id,
            ..
        } = store.profile()?;
        Ok(Self {
            me: Author::new(parse_role(&role)?, display_name),
            actor: actor_id,
            store,
            clock: Clock::from_env()?,
        })
    }

    /// Picks the homework document to act on: the client's own, or on a therapist's profile
    /// the one named by `--client` (a name or id prefix; optional when there is only one).
    pub(crate) fn select(&self, client: Option<&str>) -> Result<DocumentRecord> {
        let docs = self.store.documents()?;
        if docs.is_empty() {
            match self.me.role {
                Role::Therapist => bail!(
                    "you have no clients yet; start one with `between client new NAME` or import one with `between client import FILE`"
                ),
                Role::Client => bail!("this profile holds no homework document; it may be damaged"),
            }
        }
        let Some(wanted) = client.map(str::trim).filter(|c| !c.is_empty()) else {
            if docs.len() == 1 {
                return docs.into_iter().next().context("one document");
            }
            let names: Vec<_> = docs.iter().map(|d| d.label.as_str()).collect();
            bail!(
                "you have several clients; say which with --client NAME (one of: {})",
                names.join(", ")
            );
        };
        let lower = wanted.to_lowercase();
        let exact: Vec<_> = docs
            .iter()
            .filter(|d| d.label.to_lowercase() == lower || d.id == wanted)
            .collect();
        if let [one] = exact.as_slice() {
            return Ok((*one).clone());
        }
        let partial: Vec<_> = docs
            .iter()
            .filter(|d| d.label.to_lowercase().starts_with(&lower) || d.id.starts_with(wanted))
            .collect();
        match partial.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let names: Vec<_> = docs.iter().map(|d| d.label.as_str()).collect();
                bail!(
                    "no client '{wanted}'; your clients are: {}",
                    names.join(", ")
                )
            }
            many => {
                let names: Vec<_> = many.iter().map(|d| d.label.as_str()).collect();
                bail!(
                    "'{wanted}' matches several clients ({}); type more of the name",
                    names.join(", ")
                )
            }
        }
    }

    /// Opens the selected homework document.
    pub(crate) fn workspace(self, client: Option<&str>) -> Result<Workspace> {
        let record = self.select(client)?;
        let bytes = self.store.load_document(&record.id)?;
        let doc = match HomeworkDoc::load(&bytes, &self.actor) {
            Ok(doc) => doc,
            Err(err) => {
                // A paired device holds an empty document until the first sync brings it.
                if automerge::AutoCommit::load(&bytes).is_ok_and(|mut d| d.get_heads().is_empty()) {
                    bail!(
                        "{}'s homework has not arrived on this device yet; run `between sync` to fetch it",
                        record.label
                    );
                }
                return Err(err).with_context(|| {
                    format!(
                        "the homework document '{}' in {} could not be read; it was left untouched",
                        record.label,
                        self.store.path().display()
                    )
                });
            }
        };
        Ok(Workspace {
            session: self,
            record,
            doc,
        })
    }
}

/// An opened profile with the homework document a command acts on.
pub(crate) struct Workspace {
    pub(crate) session: Session,
    pub(crate) record: DocumentRecord,
    pub(crate) doc: HomeworkDoc,
}

impl Workspace {
    /// Who is acting.
    pub(crate) fn me(&self) -> &Author {
        &self.session.me
    }

    /// Persists the changes made since the document was loaded (one transaction), compacting the
    /// stored history when it has grown.
    pub(crate) fn save(&mut self) -> Result<()> {
        let changes = self.doc.save_incremental();
        let store = &mut self.session.store;
        store.append_changes(&self.record.id, &changes)?;
        if store.needs_compaction(&self.record.id)? {
            let snapshot = self.doc.save();
            store.compact(&self.record.id, &snapshot)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_document_that_has_not_arrived_yet_says_to_sync() {
        let dir = tempfile::tempdir().unwrap();
        let folder = profile_dir(Some(dir.path()), "phone").unwrap();
        std::fs::create_dir_all(&folder).unwrap();
        let mut store = Store::create(
            &store_path(&folder),
            &ProfileRecord {
                role: "client".to_owned(),
                display_name: "Sam".to_owned(),
                actor_id: vec![1; 16],
                created_at_ms: 1,
            },
        )
        .unwrap();
        let id = "ab".repeat(16);
        store
            .add_document(&id, "Sam", 1, &automerge::AutoCommit::new().save())
            .unwrap();
        drop(store);
        let session = Session::open(Some(dir.path()), "phone").unwrap();
        let err = session.workspace(None).err().unwrap().to_string();
        assert!(err.contains("has not arrived on this device yet"), "{err}");
        assert!(err.contains("between sync"), "{err}");
    }
}
