//! W5, a year of homework: one client's shared document after one, three and five years of
//! the life of [`crate::year`], on real profiles and the real relay. The life is written in
//! memory (two replicas of the profile's own document, the client's and the therapist's,
//! merged every week so comments and replies refer to what the other wrote), then handed to
//! the client's laptop with `between doc merge` and uploaded with `between sync` — the
//! document's content and history are what a year of use makes; only its Automerge actors are
//! the bench's rather than the devices'.
//!
//! At each mark it reports: the document's save and what the device and relay store; opening
//! the profile (`LiveProfile::open`), taking in a `between` command's write while it is held
//! open, and `between today` / `between progress` (process wall time and peak memory); Automerge's cost to load it, hydrate it, apply one remote change and
//! make one mood check-in; and a new phone's time to the full document (`init --pair`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use between_e2e::Device;
use between_shared::{Author, CommentId, Day, EntryId, HomeworkDoc, Role};

use crate::scene::{self, checked, Practice};
use crate::stats::median;
use crate::year::{at, Life, Plan};

/// The devices' pinned clock ([`Device::new`]): the life ends the day before.
const TODAY: (i32, u32, u32) = (2026, 3, 2);
/// Timed repetitions of each in-process figure (the median is reported).
const REPEATS: usize = 5;

/// Figures at one mark, by name.
pub(crate) type Mark = Vec<(String, f64)>;

/// The document being lived in memory: the client's and the therapist's replicas.
pub(crate) struct Replicas {
    client: HomeworkDoc,
    therapist: HomeworkDoc,
    client_author: Author,
    therapist_author: Author,
    life: Life,
    plan: Plan,
    week: Vec<EntryId>,
    comments: Vec<CommentId>,
    day: Day,
    /// Days lived so far; the therapist looks at the week every seventh.
    lived: i64,
}

impl Replicas {
    /// Lives `days` more days: the client's every day, the therapist's every Monday, the two
    /// replicas merged each week.
    pub(crate) fn live(&mut self, days: i64) -> Result<()> {
        for _ in 0..days {
            let entries = self.life.client_day(
                &mut self.client,
                &self.client_author,
                &mut self.plan,
                self.day,
                &self.comments,
            )?;
            self.comments.clear();
            self.week.extend(entries);
            self.lived += 1;
            if self.lived % 7 == 0 {
                self.therapist.merge(&mut self.client)?;
                let comments = self.life.therapist_week(
                    &mut self.therapist,
                    &self.therapist_author,
                    &mut self.plan,
                    self.day.succ(),
                    &self.week,
                )?;
                self.client.merge(&mut self.therapist)?;
                self.comments = comments;
                self.week.clear();
            }
            self.day = self.day.succ();
        }
        self.therapist.merge(&mut self.client)?;
        self.client.merge(&mut self.therapist)?;
        Ok(())
    }
}

impl Replicas {
    /// Replicas of `laptop`'s shared document (saved with `between doc save` to `file`), the
    /// therapist's first session held on `first`.
    pub(crate) fn of(laptop: &Device, file: &Path, first: Day) -> Result<Self> {
        checked(laptop.run(&["doc", "save", path(file)?]))?;
        let bytes = std::fs::read(file).context("the laptop's saved document")?;
        let mut client = HomeworkDoc::load(&bytes, b"w5-client-replica")?;
        let mut therapist = client.fork(b"w5-therapist-replica");
        let therapist_author = Author::new(Role::Therapist, "Dr Ada Park");
        let mut life = Life::new(5);
        let plan = life.therapist_sets_up(&mut therapist, &therapist_author, first)?;
        client.merge(&mut therapist)?;
        Ok(Self {
            client,
            therapist,
            client_author: Author::new(Role::Client, "Sam"),
            therapist_author,
            life,
            plan,
            week: Vec::new(),
            comments: Vec::new(),
            day: first,
            lived: 0,
        })
    }

    /// Hands what was lived to `laptop` (`between doc merge` of a save written to `file`) and
    /// uploads it with `between sync`; returns the upload's time.
    pub(crate) fn hand_to(&mut self, laptop: &Device, file: &Path) -> Result<Duration> {
        std::fs::write(file, self.client.save()).context("writing the lived document")?;
        checked(laptop.run(&["doc", "merge", path(file)?]))?;
        let started = Instant::now();
        scene::sync(laptop)?;
        Ok(started.elapsed())
    }
}

/// The first day of a life of `days` days that ends the day before the devices' clock.
pub(crate) fn first_day(days: i64) -> Result<Day> {
    let today = Day::from_ymd(TODAY.0, TODAY.1, TODAY.2).context("the devices' day")?;
    Ok(today.add_days(-days))
}

/// Runs W5 once: marks after each of `years` (e.g. 1, 3, 5), each year `days_per_year` days.
pub(crate) async fn run(years: &[u32], days_per_year: i64) -> Result<Vec<(u32, Mark)>> {
    let practice = Practice::start(&[])?;
    let (dr, laptop) = practice.therapist_and_client()?;

    let file = practice.root.path().join("year.automerge");
    let total_days = days_per_year * i64::from(years.iter().copied().max().unwrap_or(1));
    let mut replicas = Replicas::of(&laptop, &file, first_day(total_days)?)?;
    let mut marks = Vec::new();
    let mut lived = 0;
    for (k, &year) in years.iter().enumerate() {
        let days = days_per_year * i64::from(year) - lived;
        let started = Instant::now();
        replicas.live(days)?;
        lived += days;
        let mut mark: Mark = vec![("writing_life_s".into(), started.elapsed().as_secs_f64())];
        mark.extend(in_memory(&mut replicas)?);
        let upload = replicas.hand_to(&laptop, &file)?;
        mark.push(("laptop_upload_ms".into(), upload.as_secs_f64() * 1e3));
        mark.extend(on_devices(&practice, &laptop, &dr, k).await?);
        marks.push((year, mark));
    }
    practice.relay.assert_no_panic();
    Ok(marks)
}

/// Automerge's own costs on the document: its save, loading it (with and without checking its
/// hashes), hydrating it whole, applying one change from the other replica, making a mood
/// check-in.
fn in_memory(replicas: &mut Replicas) -> Result<Mark> {
    let save = replicas.client.save();
    let mut mark: Mark = vec![
        ("save_bytes".into(), save.len() as f64),
        (
            "changes".into(),
            replicas.client.automerge().get_changes(&[]).len() as f64,
        ),
    ];
    let mut load = Vec::new();
    let mut hydrate = Vec::new();
    let mut apply = Vec::new();
    let mut check_in = Vec::new();
    let mut entries = 0;
    for k in 0..REPEATS {
        let started = Instant::now();
        let mut doc = HomeworkDoc::load(&save, b"w5-reader")?;
        load.push(started.elapsed());
        let started = Instant::now();
        let data = doc.data()?;
        entries = data.entries.len();
        hydrate.push(started.elapsed());

        // One comment of the therapist's, as the client's device receives it.
        let mut therapist = HomeworkDoc::load(&save, b"w5-remote")?;
        therapist.save();
        let entry = data
            .entries
            .keys()
            .nth(k)
            .context("an entry to comment on")?;
        let target = between_shared::model::CommentTarget::Entry {
            id: entry.clone(),
            field: None,
        };
        therapist.add_comment(
            &replicas.therapist_author,
            at(replicas.day, 9, 0),
            Some(target),
            None,
            "How did that feel afterwards?",
        )?;
        let change = therapist.save_incremental();
        let started = Instant::now();
        // As the sync engine applies what arrives: straight into the Automerge document.
        doc.automerge().load_incremental(&change)?;
        apply.push(started.elapsed());

        let mut life = Life::new(100 + k as u64);
        let mut plan = replicas.plan.clone();
        let started = Instant::now();
        life.check_in(&mut doc, &replicas.client_author, &mut plan, replicas.day)?;
        check_in.push(started.elapsed());
    }
    mark.push(("entries".into(), entries as f64));
    mark.push(("load_ms".into(), ms(&load)));
    mark.push(("hydrate_ms".into(), ms(&hydrate)));
    mark.push(("apply_remote_change_ms".into(), ms(&apply)));
    mark.push(("mood_check_in_ms".into(), ms(&check_in)));
    let started = Instant::now();
    automerge::AutoCommit::load_with_options(
        &save,
        automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck),
    )
    .context("loading without checking hashes")?;
    mark.push((
        "load_unverified_ms".into(),
        started.elapsed().as_secs_f64() * 1e3,
    ));
    Ok(mark)
}

/// The year on the real devices, once the laptop uploaded it: the laptop's profile opened, `today` and `progress`, a new phone paired, what each side stores.
async fn on_devices(
    practice: &Practice,
    laptop: &Device,
    dr: &Device,
    mark: usize,
) -> Result<Mark> {
    let mut figures: Mark = Vec::new();
    let started = Instant::now();
    scene::sync(dr)?;
    figures.push(("therapist_download_ms".into(), since(started)));

    let mut open = Vec::new();
    let mut shared = None;
    for _ in 0..3 {
        let started = Instant::now();
        let live = scene::open(laptop, false).await?;
        open.push(started.elapsed());
        shared = live.documents().await?.into_iter().find(|d| !d.private);
        live.close().await?;
    }
    let doc = shared.context("the laptop has its shared document")?.id;
    figures.push(("open_profile_ms".into(), ms(&open)));

    // Writes beside a watcher: the profile held open, as `sync --watch` and the app hold it,
    // while `between` commands write beside it. Taking one in (what the next read or poll does)
    // reads what the command appended, not the whole document again. Offline, so that no poll
    // of the connection loop takes the write in before the timed read does.
    let live = scene::open(laptop, false).await?;
    live.read(doc, |_| ()).await?;
    let mut take_in = Vec::new();
    for _ in 0..REPEATS {
        checked(laptop.run(&[
            "entry",
            "new",
            "--template",
            "mood-check-in",
            "--set",
            "mood=4",
        ]))?;
        let started = Instant::now();
        live.read(doc, |_| ()).await?;
        take_in.push(started.elapsed());
    }
    live.close().await?;
    figures.push(("watcher_takes_in_a_write_ms".into(), ms(&take_in)));
    for (name, args) in [("today", &["today"][..]), ("progress", &["progress"][..])] {
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..3 {
            let (time, kib) = timed_with_peak(laptop, args)?;
            times.push(time);
            peak = peak.max(kib);
        }
        figures.push((format!("{name}_ms"), ms(&times)));
        figures.push((format!("{name}_peak_mib"), peak as f64 / 1024.0));
    }

    let code = scene::pairing_code(laptop)?;
    let started = Instant::now();
    let phone = practice.join_paired(&code, &format!("sam-phone-{mark}"), "Sam")?;
    figures.push(("new_phone_full_document_ms".into(), since(started)));
    let started = Instant::now();
    scene::sync(&phone)?;
    figures.push(("phone_idle_sync_ms".into(), since(started)));

    for device in [laptop, &phone, dr] {
        scene::sync(device)?;
    }
    let stored = practice.stored(doc)?;
    figures.push(("relay_bundles".into(), stored.bundles as f64));
    figures.push(("relay_bytes".into(), stored.bytes as f64));
    figures.push((
        "laptop_store_bytes".into(),
        store_bytes(&scene::profile_dir(laptop))? as f64,
    ));
    Ok(figures)
}

/// Bytes of the profile's SQLite files (database and write-ahead log).
fn store_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().contains(".sqlite") || name.to_string_lossy().ends_with(".db") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// Runs `between ARGS` on `device`: its wall time and its peak resident memory (KiB), read
/// from `/proc` while it runs.
fn timed_with_peak(device: &Device, args: &[&str]) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let mut child = device
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting between")?;
    let mut peak = 0;
    let status = loop {
        if let Ok(kib) = crate::procfs::peak_resident_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("`between {}` failed", args.join(" "));
    }
    Ok((elapsed, peak))
}

fn path(file: &Path) -> Result<&str> {
    file.to_str().context("a temporary path that is not UTF-8")
}

fn since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

fn ms(samples: &[Duration]) -> f64 {
    let values: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    median(&values).unwrap_or(f64::NAN)
}
