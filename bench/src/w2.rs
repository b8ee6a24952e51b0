//! W2, offline catch-up: the laptop, offline, types a journal entry keystroke by keystroke
//! (each its own Automerge commit); then it syncs; then a brand-new phone pairs
//! and syncs the document from nothing. What the relay stores for the document is read with
//! the relay's own admin command after the upload and again after the devices compacted it.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::scene::{self, Practice, Stored, JOURNAL_FIELD};

/// What one run measured.
pub(crate) struct CatchUp {
    /// Typing every keystroke offline (each its own change) and storing them.
    pub(crate) typing: Duration,
    /// `between sync` on the laptop after typing.
    pub(crate) upload: Duration,
    /// `between init --pair` on the new phone: pairing, registering and syncing everything.
    pub(crate) phone: Duration,
    /// A second `between sync` on the phone with nothing new: the fixed cost of a sync.
    pub(crate) phone_idle: Duration,
    /// Bytes the relay sent while the phone joined (its `/metrics` counter).
    pub(crate) phone_bytes: f64,
    /// What the relay stored for the document right after the upload.
    pub(crate) uploaded: Stored,
    /// And after the next syncs of both devices (which compact once enough has piled up).
    pub(crate) compacted: Stored,
}

/// Runs W2 once with `keystrokes` characters.
pub(crate) async fn catch_up(keystrokes: usize) -> Result<CatchUp> {
    let practice = Practice::start(&[])?;
    let invite = practice.relay.invite("client");
    let laptop = practice.client("sam-laptop", "Sam", &invite)?;
    let entry = scene::new_journal(&laptop, "T")?;
    scene::sync(&laptop)?;

    let live = scene::open(&laptop, false).await?;
    let doc = scene::document_with(&live, &entry).await?.id;
    // Every keystroke is its own Automerge change (as an editor makes them); the store gets
    // them in one write at the end, as an editor saving after a burst of typing does.
    let started = Instant::now();
    let typed = entry.clone();
    live.edit(doc, move |hw, me| {
        for k in 1..keystrokes {
            let key = char::from(b'a' + (k % 26) as u8).to_string();
            hw.splice_entry_text(me, scene::now(), &typed, JOURNAL_FIELD, k, 0, &key)?;
        }
        Ok(())
    })
    .await?;
    let typing = started.elapsed();
    let expected = scene::journal_text(&live, doc, &entry).await?;
    live.close().await?;
    if expected.chars().count() != keystrokes {
        bail!("the laptop's journal holds {} characters", expected.len());
    }

    let started = Instant::now();
    scene::sync(&laptop)?;
    let upload = started.elapsed();
    let uploaded = practice.stored(doc)?;

    let code = scene::pairing_code(&laptop)?;
    let sent_before = practice.metric("between_bytes_sent_total").await?;
    let started = Instant::now();
    let phone = practice.join_paired(&code, "sam-phone", "Sam")?;
    let phone_time = started.elapsed();
    let phone_bytes = practice.metric("between_bytes_sent_total").await? - sent_before;

    // The fixed cost of a `between` sync (process, TLS, sign-in, sharing pass, durable
    // bookkeeping), for telling it apart from the document's own cost above.
    let started = Instant::now();
    scene::sync(&phone)?;
    let phone_idle = started.elapsed();

    let phone_live = scene::open(&phone, false).await?;
    let phone_doc = scene::document_with(&phone_live, &entry).await?.id;
    let text = scene::journal_text(&phone_live, phone_doc, &entry).await?;
    phone_live.close().await?;
    if text != expected {
        bail!("the phone's journal differs from the laptop's");
    }
    scene::sync(&laptop)?;
    scene::sync(&phone)?;
    let compacted = practice.stored(doc)?;
    practice.relay.assert_no_panic();
    Ok(CatchUp {
        typing,
        upload,
        phone: phone_time,
        phone_idle,
        phone_bytes,
        uploaded,
        compacted,
    })
}
