//! Opening Between's SQLite files the careful way, shared by the client's local store and the
//! relay's database.
//!
//! Both stores keep everything in one SQLite file and treat it the same way:
//!
//! - **Inspect before writing.** An existing file is first opened through a *read-only*
//!   connection ([`Format::inspect`]): its size, `PRAGMA application_id`, `PRAGMA user_version`
//!   against the versions this build understands, and `PRAGMA quick_check`. A damaged file,
//!   another program's database or one from a newer build is refused and never written to. Only
//!   then is it opened for writing ([`Format::open`]) and, if older, migrated. `quick_check`
//!   reads the whole file; an opener that cannot wait for it (a server starting) may run it
//!   itself later instead ([`OpenCheck::Deferred`]).
//! - **Create complete or not at all.** A new file is built under a hidden temporary name next to
//!   its final path and moved into place only when complete, never replacing an existing file
//!   ([`Format::create`], [`build_in_place`]). Nothing in the temporary file needs to be durable
//!   before it is moved into place, so it is built with `synchronous=OFF` and synced once,
//!   complete, before the move (one `fsync` where building it took a dozen).
//! - **Migrations by `PRAGMA user_version`.** Entry `n` of [`Format::migrations`] brings a file
//!   from version `n` to `n + 1`; the missing ones run in one transaction.
//! - **Durable connections.** WAL, `synchronous=FULL`, `foreign_keys=ON` and a busy timeout on
//!   every read-write connection ([`Format::configure`]).
//!
//! What differs between the stores is a [`Format`] value (application id, migrations, busy
//! timeout, further pragmas). Failures come back as one [`Error`] type that says *what* went
//! wrong (damaged, not ours, too new, busy, …) about which path; each store maps it into its own
//! error type in one place, in its own words for its own users.
//!
//! With the `testing` feature, the `testing` module has helpers that damage files on purpose.

mod error;
mod format;
mod staging;
mod untouched;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{AtPath, Error};
pub use format::{
    check_integrity, checkpoint_truncate, user_version, Format, Integrity, OpenCheck,
};
pub use staging::{build_in_place, exists, with_suffix};
