//! W1, live fan-out latency: one document, the client's laptop and phone and the therapist all
//! connected. The laptop appends a 60-character sentence (with its number) to a journal entry,
//! each its own commit, paced at about 100 per second; for each, the time from the laptop's
//! edit to the moment the phone's and the therapist's stores hold it.
//!
//! Every sentence is exactly [`SENTENCE_CHARS`] long, so a device holds sentence `k` once its
//! text is long enough; the length is read from the document in memory (the store holds the
//! same: the driver notifies only after storing). At the end every text must be identical.
//!
//! W1r, realistic fan-out, is the same on a document holding a year of homework (W5's life):
//! the sentences go to the day's journal entries, a new one whenever the text would pass
//! [`REALISTIC_TEXT_CHARS`], so no text is longer than people's entries are.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use between_cli::live::LiveProfile;
use between_shared::protocol::DocId;
use between_shared::EntryId;

use crate::scene::{self, Practice, JOURNAL_FIELD};

/// Characters per appended sentence.
const SENTENCE_CHARS: usize = 60;
/// W1r's longest text: a long day's journal entry.
const REALISTIC_TEXT_CHARS: usize = 6_000;
/// The text each of the day's entries starts with.
const OPENING: &str = "Evening journal.";
/// How long to wait for the last edit to arrive everywhere.
const SETTLE: Duration = Duration::from_secs(60);

/// What one run measured.
pub(crate) struct FanOut {
    /// Edit-to-stored latencies on the phone and the therapist's device, one per edit each.
    pub(crate) latencies: Vec<Duration>,
    /// Edits per second the laptop actually made.
    pub(crate) edit_rate: f64,
}

/// The `k`th sentence, exactly [`SENTENCE_CHARS`] characters.
fn sentence(k: usize) -> String {
    let mut text = format!("Sentence {k:05}: I noticed the thought and let it go by. ");
    text.truncate(SENTENCE_CHARS);
    while text.len() < SENTENCE_CHARS {
        text.push('.');
    }
    text
}

/// One device watching the entry: records when each sentence first shows up.
struct Watcher {
    arrivals: Arc<Mutex<Vec<Option<Instant>>>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Watcher {
    fn start(
        live: Arc<LiveProfile>,
        doc: DocId,
        entries: Arc<Vec<EntryId>>,
        base: usize,
        total: usize,
    ) -> Self {
        let arrivals = Arc::new(Mutex::new(vec![None; total]));
        let seen = arrivals.clone();
        let mut changes = live.changes();
        let task = tokio::spawn(async move {
            let mut held = 0;
            while held < total {
                changes
                    .changed()
                    .await
                    .context("the device stopped syncing")?;
                let length = total_length(&live, doc, &entries).await?;
                let now = Instant::now();
                let complete = (length.saturating_sub(base) / SENTENCE_CHARS).min(total);
                let mut arrivals = seen
                    .lock()
                    .map_err(|_| anyhow::anyhow!("a watcher panicked"))?;
                for slot in arrivals.iter_mut().take(complete).skip(held) {
                    *slot = Some(now);
                }
                held = held.max(complete);
            }
            Ok(())
        });
        Self { arrivals, task }
    }

    async fn finish(self) -> Result<Vec<Option<Instant>>> {
        tokio::time::timeout(SETTLE, self.task)
            .await
            .context("not every edit arrived within a minute")???;
        let arrivals = self
            .arrivals
            .lock()
            .map_err(|_| anyhow::anyhow!("a watcher panicked"))?;
        Ok(arrivals.clone())
    }
}

/// The characters of all `entries`' journal texts in `doc` (an entry not there yet counts 0).
async fn total_length(
    live: &LiveProfile,
    doc: DocId,
    entries: &Arc<Vec<EntryId>>,
) -> Result<usize> {
    let entries = entries.clone();
    let length = live
        .read(doc, move |hw| {
            entries
                .iter()
                .map(|entry| hw.entry_text_len(entry, JOURNAL_FIELD).unwrap_or(0))
                .sum::<usize>()
        })
        .await?;
    Ok(length)
}

/// Runs W1 once: `edits` sentences at `rate` per second, all into one journal entry.
pub(crate) async fn fan_out(edits: usize, rate: f64) -> Result<FanOut> {
    let practice = Practice::start(&[])?;
    let (dr, invite) = practice.therapist("dr-office", "Dr Ada Park")?;
    let laptop = practice.client("sam-laptop", "Sam", &invite)?;
    let phone = practice.pair(&laptop, "sam-phone", "Sam")?;
    let entry = scene::new_journal(&laptop, OPENING)?;
    for device in [&laptop, &phone, &dr, &phone] {
        scene::sync(device)?;
    }
    measure(
        &practice,
        [&laptop, &phone, &dr],
        vec![entry],
        usize::MAX,
        edits,
        rate,
    )
    .await
}

/// Runs W1r once: W1 on a document that holds `days` days of W5's life, the sentences going to
/// the day's journal entries, each text at most [`REALISTIC_TEXT_CHARS`] long.
pub(crate) async fn realistic(edits: usize, rate: f64, days: i64) -> Result<FanOut> {
    let practice = Practice::start(&[])?;
    let (dr, laptop) = practice.therapist_and_client()?;
    let file = practice.root.path().join("year.automerge");
    let mut replicas = crate::w5::Replicas::of(&laptop, &file, crate::w5::first_day(days)?)?;
    replicas.live(days)?;
    replicas.hand_to(&laptop, &file)?;

    let per_entry = (REALISTIC_TEXT_CHARS - OPENING.len()) / SENTENCE_CHARS;
    let mut entries = Vec::new();
    for _ in 0..(edits + 1).div_ceil(per_entry) {
        entries.push(scene::new_journal(&laptop, OPENING)?);
    }
    let phone = practice.pair(&laptop, "sam-phone", "Sam")?;
    for device in [&laptop, &phone, &dr, &phone] {
        scene::sync(device)?;
    }
    measure(
        &practice,
        [&laptop, &phone, &dr],
        entries,
        per_entry,
        edits,
        rate,
    )
    .await
}

/// The timed part of W1 and W1r: the three devices open and connected, the laptop appends
/// `edits` sentences at `rate` per second, sentence `k` (0 is the untimed first) to
/// `entries[k / per_entry]`.
async fn measure(
    practice: &Practice,
    [laptop, phone, dr]: [&between_e2e::Device; 3],
    entries: Vec<EntryId>,
    per_entry: usize,
    edits: usize,
    rate: f64,
) -> Result<FanOut> {
    let devices = [
        Arc::new(scene::open(laptop, true).await?),
        Arc::new(scene::open(phone, true).await?),
        Arc::new(scene::open(dr, true).await?),
    ];
    let mut docs = Vec::new();
    let first = entries.first().context("an entry to type into")?.clone();
    for live in &devices {
        docs.push(scene::document_with(live, &first).await?.id);
    }
    let author = devices[0].clone();
    let laptop_doc = docs[0];
    let entries = Arc::new(entries);
    let append = |k: usize, text: String| {
        let entry = entries[(k / per_entry).min(entries.len() - 1)].clone();
        let (doc, author) = (laptop_doc, author.clone());
        async move {
            author
                .edit(doc, move |hw, me| {
                    let end = hw.entry_text_len(&entry, JOURNAL_FIELD)?;
                    hw.splice_entry_text(me, scene::now(), &entry, JOURNAL_FIELD, end, 0, &text)
                })
                .await
        }
    };

    // A first sentence, not timed, proves every device is connected and subscribed.
    // The phone and the therapist watch for `total` sentences past `base` characters.
    let watch = |base: usize, total: usize| -> Vec<Watcher> {
        (1..3)
            .map(|i| Watcher::start(devices[i].clone(), docs[i], entries.clone(), base, total))
            .collect()
    };
    let base = total_length(&devices[0], docs[0], &entries).await?;
    let warm = watch(base, 1);
    append(0, sentence(0)).await?;
    for watcher in warm {
        watcher.finish().await.context("the first sentence")?;
    }

    let base = base + SENTENCE_CHARS;
    let watchers = watch(base, edits);
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut edited_at = Vec::with_capacity(edits);
    for k in 0..edits {
        let due = start + period.mul_f64(k as f64);
        tokio::time::sleep_until(due.into()).await;
        edited_at.push(Instant::now());
        append(k + 1, sentence(k + 1)).await?;
    }
    let edit_rate = edits as f64 / start.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(2 * edits);
    for watcher in watchers {
        let arrivals = watcher.finish().await?;
        for (k, arrived) in arrivals.into_iter().enumerate() {
            let arrived = arrived.with_context(|| format!("sentence {k} never arrived"))?;
            latencies.push(arrived.saturating_duration_since(edited_at[k]));
        }
    }

    for entry in entries.iter() {
        let expected = scene::journal_text(&devices[0], docs[0], entry).await?;
        for (i, live) in devices.iter().enumerate().skip(1) {
            let text = scene::journal_text(live, docs[i], entry).await?;
            if text != expected {
                bail!("device {i} ended with a different journal text");
            }
        }
        if expected.chars().count()
            > OPENING
                .len()
                .saturating_add(per_entry.saturating_mul(SENTENCE_CHARS))
        {
            bail!("a journal text grew past its limit");
        }
    }
    let last = entries[(edits / per_entry).min(entries.len() - 1)].clone();
    let text = scene::journal_text(&devices[0], docs[0], &last).await?;
    if !text.ends_with(&sentence(edits)) {
        bail!("the last journal does not end with the last sentence");
    }
    drop(author);
    for live in devices {
        let live = Arc::try_unwrap(live)
            .map_err(|_| anyhow::anyhow!("a device was still in use at the end"))?;
        live.close().await?;
    }
    practice.relay.assert_no_panic();
    Ok(FanOut {
        latencies,
        edit_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_have_the_same_length_and_their_number() {
        for k in [0, 7, 999, 12_345] {
            let s = sentence(k);
            assert_eq!(s.chars().count(), SENTENCE_CHARS, "{s:?}");
            assert!(s.contains(&format!("{k:05}")));
        }
    }
}
