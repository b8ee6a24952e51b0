//! W3, a practice's busy evening: many client documents, each with three connected devices
//! (the client's laptop and phone, their therapist's device), every device making ten small
//! edits at once: the laptop and the phone each append a short line to the client's journal,
//! the therapist comments on it. Measured: the wall time until every device holds all 30
//! edits of its document, edits per second through the relay, and the relay's peak resident
//! memory and CPU time read from `/proc`.
//!
//! Setting up is the slow part (every person and device is made by the real `between`
//! command: a therapist per client, joined with an admin invite; the client's laptop joined
//! with the therapist's invite; the phone paired), so it runs in parallel and happens once;
//! the edits are then made in several rounds over the same connected devices, one per run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use automerge::ReadDoc;
use between_cli::live::LiveProfile;
use between_e2e::Device;
use between_shared::model::CommentTarget;
use between_shared::protocol::DocId;
use between_shared::{EntryId, HomeworkDoc};
use futures_util::future::try_join_all;

use crate::procfs;
use crate::scene::Backing;
use crate::scene::{self, Practice, JOURNAL_FIELD};

/// Edits per device per round.
const EDITS_PER_DEVICE: usize = 10;
/// Characters of each line the laptop and the phone append.
const LINE_CHARS: usize = 20;
/// How many `between` setups run at once (they mostly wait on fsync and the network).
const SETUP_PARALLELISM: usize = 12;
/// How many profiles open (sign in, sharing pass, subscribe) at once.
const OPEN_PARALLELISM: usize = 64;
/// The journal's text when it is set up.
const FIRST_TEXT: &str = "Evening.";
/// How long one round may take before the run fails.
const ROUND_LIMIT: Duration = Duration::from_secs(300);

/// A household's journal entry and its three profiles (laptop, phone, therapist), made.
type MadeHousehold = (EntryId, [Device; 3]);

/// One client's document as the three devices hold it.
struct Household {
    entry: EntryId,
    /// Laptop, phone, therapist.
    devices: [Arc<LiveProfile>; 3],
    /// Each device's id for the document.
    docs: [DocId; 3],
}

/// The practice, set up once and held open across rounds.
pub(crate) struct Evening {
    practice: Practice,
    households: Vec<Household>,
    /// Rounds done so far (each adds 20 lines and 10 comments per document).
    rounds: usize,
    /// Wall time to set everything up (not part of any figure but the report's).
    pub(crate) setup: Duration,
}

/// What one round measured.
pub(crate) struct Round {
    pub(crate) connections: usize,
    pub(crate) edits: usize,
    pub(crate) wall: Duration,
    pub(crate) relay_cpu_s: f64,
    pub(crate) relay_peak_kib: u64,
    pub(crate) relay_resident_kib: u64,
}

/// The `n`th line a device appends: exactly [`LINE_CHARS`] characters.
fn line(device: char, n: usize) -> String {
    let mut text = format!("[{device}{n:03}] felt calmer. ");
    text.truncate(LINE_CHARS);
    while text.len() < LINE_CHARS {
        text.push(' ');
    }
    text
}

/// Where document `doc` of this household stands: the journal's length and how many
/// comments there are (both without reading the whole document).
fn progress(hw: &mut HomeworkDoc, entry: &EntryId) -> Result<(usize, usize)> {
    let length = hw.entry_text_len(entry, JOURNAL_FIELD)?;
    let doc = hw.automerge();
    let comments = match doc.get(automerge::ROOT, "comments")? {
        Some((automerge::Value::Object(_), id)) => doc.length(&id),
        _ => 0,
    };
    Ok((length, comments))
}

impl Evening {
    /// Sets up `clients` households over `backing` (one relay, or two on one PostgreSQL
    /// database with every phone on the second) and opens every device live.
    pub(crate) async fn set_up(clients: usize, backing: Backing<'_>) -> Result<Self> {
        let started = Instant::now();
        let limit = (3 * clients + 100).to_string();
        // Every device connects from 127.0.0.1, all at once.
        let practice = Arc::new(Practice::start_over(
            &[
                "--max-connections-per-address",
                limit.as_str(),
                "--max-handshakes-per-address",
                limit.as_str(),
            ],
            backing,
        )?);
        let made: Arc<Mutex<Vec<Option<MadeHousehold>>>> =
            Arc::new(Mutex::new((0..clients).map(|_| None).collect()));
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..SETUP_PARALLELISM.min(clients))
            .map(|_| {
                let (practice, made, next) = (practice.clone(), made.clone(), next.clone());
                std::thread::spawn(move || -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= clients {
                            return Ok(());
                        }
                        let household = set_up_household(&practice, i)
                            .with_context(|| format!("setting up client {i}"))?;
                        made.lock()
                            .map_err(|_| anyhow!("a setup worker panicked"))?[i] = Some(household);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow!("a setup worker panicked"))??;
        }
        let practice =
            Arc::try_unwrap(practice).map_err(|_| anyhow!("a setup worker is still running"))?;
        let made = Arc::try_unwrap(made)
            .map_err(|_| anyhow!("a setup worker is still running"))?
            .into_inner()
            .map_err(|_| anyhow!("a setup worker panicked"))?;

        let mut households = Vec::with_capacity(clients);
        let mut pending = made.into_iter();
        loop {
            let batch: Vec<_> = pending.by_ref().take(OPEN_PARALLELISM / 3).collect();
            if batch.is_empty() {
                break;
            }
            let opened = try_join_all(batch.into_iter().map(|made| async move {
                let (entry, devices) = made.context("a household was not set up")?;
                open_household(entry, &devices).await
            }))
            .await?;
            households.extend(opened);
        }
        Ok(Self {
            practice,
            households,
            rounds: 0,
            setup: started.elapsed(),
        })
    }

    /// One round: every device makes its ten edits at once; returns when every device holds
    /// all 30 edits of its document.
    pub(crate) async fn round(&mut self) -> Result<Round> {
        let pids = self
            .practice
            .relays()
            .map(|relay| relay.pid().context("a relay is not running"))
            .collect::<Result<Vec<_>>>()?;
        // Summed over the relays (one, or two sharing a PostgreSQL database).
        let sum = |read: fn(u32) -> Result<u64>| -> Result<u64> {
            pids.iter().map(|pid| read(*pid)).sum()
        };
        let cpu = || -> Result<f64> { pids.iter().map(|pid| procfs::cpu_seconds(*pid)).sum() };
        let cpu_before = cpu()?;
        let done_before = self.rounds;
        // Where every device should stand after this round.
        let lines_after = 2 * EDITS_PER_DEVICE * (done_before + 1);
        let comments_after = EDITS_PER_DEVICE * (done_before + 1);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for household in &self.households {
            for (d, live) in household.devices.iter().enumerate() {
                let (live, doc, entry) = (live.clone(), household.docs[d], household.entry.clone());
                tasks.push(tokio::spawn(async move {
                    edit_and_wait(
                        live,
                        d,
                        doc,
                        entry,
                        done_before,
                        FIRST_TEXT.len() + lines_after * LINE_CHARS,
                        comments_after,
                    )
                    .await
                }));
            }
        }
        let connections = tasks.len();
        let all = async {
            for task in tasks {
                task.await.context("a device task failed")??;
            }
            Ok::<_, anyhow::Error>(())
        };
        tokio::time::timeout(ROUND_LIMIT, all)
            .await
            .context("not every device held every edit within the limit")??;
        let wall = started.elapsed();
        self.rounds += 1;
        for relay in self.practice.relays() {
            relay.assert_no_panic();
        }
        Ok(Round {
            connections,
            edits: 3 * EDITS_PER_DEVICE * self.households.len(),
            wall,
            relay_cpu_s: cpu()? - cpu_before,
            relay_peak_kib: sum(procfs::peak_resident_kib)?,
            relay_resident_kib: sum(procfs::resident_kib)?,
        })
    }

    /// Closes every device, checking all three copies of each document are identical.
    pub(crate) async fn close(self) -> Result<()> {
        for household in self.households {
            let mut texts = Vec::new();
            for (live, doc) in household.devices.iter().zip(&household.docs) {
                texts.push(scene::journal_text(live, *doc, &household.entry).await?);
            }
            if texts.iter().any(|t| *t != texts[0]) {
                bail!("a client's devices ended with different journals");
            }
            for live in household.devices {
                Arc::try_unwrap(live)
                    .map_err(|_| anyhow!("a device was still in use at the end"))?
                    .close()
                    .await?;
            }
        }
        Ok(())
    }
}

/// Makes client `i`'s three devices with the real `between` command, everything synced:
/// therapist, laptop (joined with the therapist's invite, with a journal entry), phone.
fn set_up_household(practice: &Practice, i: usize) -> Result<MadeHousehold> {
    let (dr, invite) = practice.therapist(&format!("dr-{i}"), &format!("Dr Number {i}"))?;
    let laptop = practice.client(&format!("c{i}-laptop"), &format!("Client {i}"), &invite)?;
    let entry = scene::new_journal(&laptop, FIRST_TEXT)?;
    scene::sync(&laptop)?;
    let phone = practice.pair(&laptop, &format!("c{i}-phone"), &format!("Client {i}"))?;
    scene::sync(&dr)?;
    Ok((entry, [laptop, phone, dr]))
}

/// Opens a household's three devices live.
async fn open_household(entry: EntryId, devices: &[Device; 3]) -> Result<Household> {
    let mut opened = Vec::with_capacity(3);
    let mut docs = Vec::with_capacity(3);
    for device in devices {
        let live = scene::open(device, true).await?;
        docs.push(scene::document_with(&live, &entry).await?.id);
        opened.push(Arc::new(live));
    }
    let devices: [Arc<LiveProfile>; 3] = opened
        .try_into()
        .map_err(|_| anyhow!("three devices per household"))?;
    let docs: [DocId; 3] = docs
        .try_into()
        .map_err(|_| anyhow!("three documents per household"))?;
    Ok(Household {
        entry,
        devices,
        docs,
    })
}

/// Device `d` of a household (0 laptop, 1 phone, 2 therapist) makes its ten edits of round
/// `round`, then waits until its copy holds `length` characters of journal and `comments`
/// comments, i.e. every edit of the round from all three devices.
async fn edit_and_wait(
    live: Arc<LiveProfile>,
    d: usize,
    doc: DocId,
    entry: EntryId,
    round: usize,
    length: usize,
    comments: usize,
) -> Result<()> {
    let mut changes = live.changes();
    for k in 0..EDITS_PER_DEVICE {
        let n = round * EDITS_PER_DEVICE + k;
        let entry = entry.clone();
        live.edit(doc, move |hw, me| {
            if d == 2 {
                let target = CommentTarget::Entry {
                    id: entry,
                    field: None,
                };
                let text = format!("Comment {n}: well done noticing this.");
                hw.add_comment(me, scene::now(), Some(target), None, &text)
                    .map(drop)
            } else {
                let text = line(if d == 0 { 'L' } else { 'P' }, n);
                let end = hw.entry_text_len(&entry, JOURNAL_FIELD)?;
                hw.splice_entry_text(me, scene::now(), &entry, JOURNAL_FIELD, end, 0, &text)
            }
        })
        .await?;
    }
    loop {
        let entry = entry.clone();
        let (have_length, have_comments) = live.read(doc, move |hw| progress(hw, &entry)).await??;
        if have_length >= length && have_comments >= comments {
            return Ok(());
        }
        changes
            .changed()
            .await
            .context("the device stopped syncing")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_same_length() {
        for (device, n) in [('L', 0), ('P', 29), ('L', 999)] {
            assert_eq!(line(device, n).len(), LINE_CHARS, "{:?}", line(device, n));
        }
    }
}
