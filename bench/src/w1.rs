//! W1, live fan-out latency: one document, the client's laptop and phone and the therapist all
//! connected. The laptop appends a 60-character sentence (with its number) to a journal entry,
//! each its own commit, paced at about 100 per second; for each, the time from the laptop's
//! edit to the moment the phone's and the therapist's stores hold it.
//!
//! Every sentence is exactly [`SENTENCE_CHARS`] long, so a device holds sentence `k` once its
//! text is long enough; the length is read from the document in memory (the store holds the
//! same: the driver notifies only after storing). At the end every text must be identical.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use between_cli::live::LiveProfile;
use between_shared::{DocumentId, EntryId};

use crate::scene::{self, Practice, JOURNAL_FIELD};

/// Characters per appended sentence.
const SENTENCE_CHARS: usize = 60;
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
        doc: DocumentId,
        entry: EntryId,
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
                let entry = entry.clone();
                let length = live
                    .read(&doc, move |hw| hw.entry_text_len(&entry, JOURNAL_FIELD))
                    .await??;
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

/// Runs W1 once: `edits` sentences at `rate` per second.
pub(crate) async fn fan_out(edits: usize, rate: f64) -> Result<FanOut> {
    let practice = Practice::start(&[])?;
    let (dr, invite) = practice.therapist("dr-office", "Dr Ada Park")?;
    let laptop = practice.client("sam-laptop", "Sam", &invite)?;
    let phone = practice.pair(&laptop, "sam-phone", "Sam")?;
    let entry = scene::new_journal(&laptop, "Evening journal.")?;
    for device in [&laptop, &phone, &dr, &phone] {
        scene::sync(device)?;
    }

    let devices = [
        Arc::new(scene::open(&laptop, true).await?),
        Arc::new(scene::open(&phone, true).await?),
        Arc::new(scene::open(&dr, true).await?),
    ];
    let mut docs = Vec::new();
    for live in &devices {
        docs.push(scene::document_with(live, &entry).await?.id);
    }
    let author = devices[0].clone();
    let laptop_doc = docs[0].clone();
    let append = |text: String| {
        let (entry, doc, author) = (entry.clone(), laptop_doc.clone(), author.clone());
        async move {
            author
                .edit(&doc, move |hw, me| {
                    let end = hw.entry_text_len(&entry, JOURNAL_FIELD)?;
                    hw.splice_entry_text(me, scene::now(), &entry, JOURNAL_FIELD, end, 0, &text)
                })
                .await
        }
    };

    // A first sentence, not timed, proves every device is connected and subscribed.
    let base = devices[0]
        .read(&docs[0], {
            let entry = entry.clone();
            move |hw| hw.entry_text_len(&entry, JOURNAL_FIELD)
        })
        .await??;
    let warm: Vec<Watcher> = (1..3)
        .map(|i| Watcher::start(devices[i].clone(), docs[i].clone(), entry.clone(), base, 1))
        .collect();
    append(sentence(0)).await?;
    for watcher in warm {
        watcher.finish().await.context("the first sentence")?;
    }

    let base = base + SENTENCE_CHARS;
    let watchers: Vec<Watcher> = (1..3)
        .map(|i| {
            Watcher::start(
                devices[i].clone(),
                docs[i].clone(),
                entry.clone(),
                base,
                edits,
            )
        })
        .collect();
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut edited_at = Vec::with_capacity(edits);
    for k in 0..edits {
        let due = start + period.mul_f64(k as f64);
        tokio::time::sleep_until(due.into()).await;
        edited_at.push(Instant::now());
        append(sentence(k + 1)).await?;
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

    let expected = scene::journal_text(&devices[0], &docs[0], &entry).await?;
    for (i, live) in devices.iter().enumerate().skip(1) {
        let text = scene::journal_text(live, &docs[i], &entry).await?;
        if text != expected {
            bail!("device {i} ended with a different journal text");
        }
    }
    if !expected.ends_with(&sentence(edits)) {
        bail!("the journal does not end with the last sentence");
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
