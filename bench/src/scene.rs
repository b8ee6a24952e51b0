//! A practice set up for the relay workloads, the way people set one up: the real
//! `between-relay` serving TLS with a certificate from a fresh practice CA, and real device
//! profiles made by the real `between` command (therapist joins with an admin invite, invites a
//! client, the client's laptop joins with that invite, the phone pairs). The workloads then
//! hold these profiles open in process with [`between_cli::live::LiveProfile`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use between_cli::live::{LiveDocument, LiveProfile};
use between_e2e::postgres::TestDatabase;
use between_e2e::relay::RelayProcess;
use between_e2e::tls::{PracticeCa, ServerFiles, Validity};
use between_e2e::Device;
use between_shared::protocol::DocId;
use between_shared::{EntryId, Timestamp};

/// The long-text field of the journal template the workloads type into.
pub(crate) const JOURNAL_FIELD: &str = "text";

/// A relay serving TLS on loopback and a folder for the devices' profiles.
pub(crate) struct Practice {
    pub(crate) relay: RelayProcess,
    /// A second relay on the same database that paired phones go through, when there is one.
    phones_relay: Option<RelayProcess>,
    /// The practice CA's certificate, as devices pass it to `--ca-file`.
    pub(crate) ca_file: String,
    /// Trusts the practice CA, for fetching `/metrics` over TLS.
    trust: std::sync::Arc<rustls::ClientConfig>,
    /// Holds the relay's database and every profile; removed when dropped.
    pub(crate) root: tempfile::TempDir,
    /// The PostgreSQL database, when the relay runs over one (dropped after the relay).
    _database: Option<TestDatabase>,
}

/// Where a practice's relays keep their data, and how many relays there are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backing<'a> {
    /// One relay over a SQLite file.
    Sqlite,
    /// One relay, or two (`phones_elsewhere`: every paired phone goes through the second, its
    /// laptop and therapist through the first), over a fresh database on this PostgreSQL server.
    Postgres {
        server: &'a str,
        phones_elsewhere: bool,
    },
}

impl Practice {
    /// Starts the relay with a certificate for `127.0.0.1` from a new practice CA, plus
    /// `extra` `serve` flags.
    pub(crate) fn start(extra: &[&str]) -> Result<Self> {
        Self::start_over(extra, Backing::Sqlite)
    }

    /// Like [`Practice::start`], over `backing`.
    pub(crate) fn start_over(extra: &[&str], backing: Backing<'_>) -> Result<Self> {
        let root = tempfile::tempdir().context("a folder for the practice")?;
        let (ca, files) = relay_certificate(root.path());
        let (database, phones_elsewhere) = match backing {
            Backing::Sqlite => (None, false),
            Backing::Postgres {
                server,
                phones_elsewhere,
            } => (Some(TestDatabase::create_on(server)), phones_elsewhere),
        };
        let relay = match &database {
            Some(database) => {
                RelayProcess::start_tls_over(root.path(), database.url(), &files, &ca, extra)
            }
            None => RelayProcess::start_tls(root.path(), &files, &ca, extra),
        };
        let phones_relay = match (&database, phones_elsewhere) {
            (Some(database), true) => {
                let folder = root.path().join("phones-relay");
                std::fs::create_dir_all(&folder).context("a folder for the second relay")?;
                Some(RelayProcess::start_tls_over(
                    &folder,
                    database.url(),
                    &files,
                    &ca,
                    extra,
                ))
            }
            _ => None,
        };
        let ca_file = ca
            .write(root.path(), "practice-ca.pem")
            .to_string_lossy()
            .into_owned();
        Ok(Self {
            relay,
            phones_relay,
            ca_file,
            trust: ca.client_config(),
            root,
            _database: database,
        })
    }

    /// Every relay of the practice, the first one first.
    pub(crate) fn relays(&self) -> impl Iterator<Item = &RelayProcess> {
        std::iter::once(&self.relay).chain(&self.phones_relay)
    }

    /// One counter of the relay's `/metrics` (e.g. `between_bytes_sent_total`), over TLS.
    pub(crate) async fn metric(&self, name: &str) -> Result<f64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.relay.port()))
            .await
            .context("connecting for /metrics")?;
        let server =
            rustls::pki_types::ServerName::try_from("127.0.0.1").context("the relay's name")?;
        let mut tls = tokio_rustls::TlsConnector::from(self.trust.clone())
            .connect(server, tcp)
            .await
            .context("TLS for /metrics")?;
        tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .context("asking for /metrics")?;
        let mut response = Vec::new();
        // The relay may close without a TLS close_notify; what arrived is complete.
        let _ = tls.read_to_end(&mut response).await;
        let response = String::from_utf8_lossy(&response);
        response
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (key == name).then(|| value.trim().parse::<f64>().ok())?
            })
            .with_context(|| format!("/metrics has no {name}"))
    }

    /// What the relay stores for document `id` (a profile's document id): its bundles and
    /// their bytes, and whether a snapshot replaced older ones, from `between-relay documents`.
    pub(crate) fn stored(&self, id: DocId) -> Result<Stored> {
        let out = self.relay.admin(&["documents"]);
        if !out.status.success() {
            bail!(
                "`between-relay documents` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let wanted = id.to_string();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            if columns.first().map(|c| c.replace('-', "")).as_ref() == Some(&wanted) {
                let number = |i: usize| -> Result<u64> {
                    columns
                        .get(i)
                        .and_then(|c| c.parse().ok())
                        .with_context(|| format!("column {i} of {line:?}"))
                };
                return Ok(Stored {
                    bundles: number(1)?,
                    bytes: number(2)?,
                    snapshot: columns.get(4).is_some_and(|c| *c == "covers"),
                });
            }
        }
        bail!("the relay lists no document {id}:\n{text}")
    }

    /// A therapist's first device (profile `profile`), joined with an admin invite, and a
    /// client invite they made with `between client invite`.
    pub(crate) fn therapist(&self, profile: &str, name: &str) -> Result<(Device, String)> {
        let dr = Device::new(self.root.path(), profile);
        let invite = self.relay.invite("therapist");
        checked(dr.run(&[
            "init",
            "--relay",
            &self.relay.origin(),
            "--invite",
            &invite,
            "--role",
            "therapist",
            "--name",
            name,
            "--device-name",
            "office",
            "--ca-file",
            &self.ca_file,
        ]))?;
        let made = checked(dr.run(&["--json", "client", "invite"]))?;
        let json: serde_json::Value =
            serde_json::from_str(&made).context("`client invite --json` printed JSON")?;
        let code = json["invite"]
            .as_str()
            .context("`client invite --json` names the invite")?;
        Ok((dr, code.to_owned()))
    }

    /// The therapist's office device and their client Sam's laptop, joined with the
    /// therapist's client invite, each synced once so both hold the client's homework.
    pub(crate) fn therapist_and_client(&self) -> Result<(Device, Device)> {
        let (dr, invite) = self.therapist("dr-office", "Dr Ada Park")?;
        let laptop = self.client("sam-laptop", "Sam", &invite)?;
        sync(&laptop)?;
        sync(&dr)?;
        Ok((dr, laptop))
    }

    /// A client's first device (`profile`), joined with `invite` (a therapist's, or an admin's
    /// client invite given as `origin#code`... or a bare admin code, with `--relay`).
    pub(crate) fn client(&self, profile: &str, name: &str, invite: &str) -> Result<Device> {
        let laptop = Device::new(self.root.path(), profile);
        let origin = self.relay.origin();
        let mut args = vec!["init"];
        if !invite.contains('#') {
            args.extend(["--relay", origin.as_str()]);
        }
        args.extend([
            "--invite",
            invite,
            "--name",
            name,
            "--device-name",
            "laptop",
            "--ca-file",
            &self.ca_file,
        ]);
        checked(laptop.run(&args))?;
        Ok(laptop)
    }

    /// A new device (`profile`) paired from `from` with `between device add` / `init --pair`.
    pub(crate) fn pair(&self, from: &Device, profile: &str, name: &str) -> Result<Device> {
        let code = pairing_code(from)?;
        self.join_paired(&code, profile, name)
    }

    /// `between init --pair CODE` as a new device (`profile`), through the phones' relay when
    /// the practice has one; it syncs everything the account holds before it returns.
    pub(crate) fn join_paired(&self, code: &str, profile: &str, name: &str) -> Result<Device> {
        let phone = Device::new(self.root.path(), profile);
        let relay = self.phones_relay.as_ref().unwrap_or(&self.relay);
        checked(phone.run(&[
            "init",
            "--relay",
            &relay.origin(),
            "--pair",
            code,
            "--name",
            name,
            "--device-name",
            "phone",
            "--ca-file",
            &self.ca_file,
        ]))?;
        Ok(phone)
    }
}

/// A fresh practice CA and a relay certificate from it for `localhost` and `127.0.0.1`,
/// written to `dir`.
pub(crate) fn relay_certificate(dir: &std::path::Path) -> (PracticeCa, ServerFiles) {
    let ca = PracticeCa::new("Bench Practice CA");
    let files = ca.issue(dir, "relay", &["localhost", "127.0.0.1"], Validity::Current);
    (ca, files)
}

/// What the relay stores for one document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    pub(crate) bundles: u64,
    pub(crate) bytes: u64,
    pub(crate) snapshot: bool,
}

/// A pairing code from `between device add` on `from`.
pub(crate) fn pairing_code(from: &Device) -> Result<String> {
    let added = checked(from.run(&["device", "add"]))?;
    // Not in a terminal, standard output is the code alone.
    let code = added.trim();
    if code.is_empty() {
        bail!("`device add` printed no pairing code");
    }
    Ok(code.to_owned())
}

/// `between sync` on `device`, which must succeed.
pub(crate) fn sync(device: &Device) -> Result<()> {
    checked(device.run(&["sync"])).map(drop)
}

/// A journal entry started on `device` (`between entry new -t journal`), its text `text`.
pub(crate) fn new_journal(device: &Device, text: &str) -> Result<EntryId> {
    let set = format!("{JOURNAL_FIELD}={text}");
    let out = checked(device.run(&["--json", "entry", "new", "-t", "journal", "--set", &set]))?;
    let json: serde_json::Value =
        serde_json::from_str(&out).context("`entry new --json` printed JSON")?;
    let id = json["id"]
        .as_str()
        .context("`entry new --json` names the entry")?;
    Ok(EntryId::from_string(id))
}

/// The folder of a device's profile (what [`LiveProfile::open`] takes).
pub(crate) fn profile_dir(device: &Device) -> PathBuf {
    device.data_dir.join("profiles").join(&device.profile)
}

/// Opens `device`'s profile live (online or not).
pub(crate) async fn open(device: &Device, online: bool) -> Result<LiveProfile> {
    LiveProfile::open(&profile_dir(device), online)
        .await
        .with_context(|| format!("opening the profile {}", device.profile))
}

/// The document of `live` that holds `entry`.
pub(crate) async fn document_with(live: &LiveProfile, entry: &EntryId) -> Result<LiveDocument> {
    for doc in live.documents().await? {
        let entry = entry.clone();
        let found = live
            .read(doc.id, move |hw| {
                hw.entry_text_len(&entry, JOURNAL_FIELD).is_ok()
            })
            .await?;
        if found {
            return Ok(doc);
        }
    }
    bail!("no document on this device holds the entry {entry}")
}

/// The time now, as documents record it.
pub(crate) fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The text of `entry`'s journal field in the document `doc` of `live`.
pub(crate) async fn journal_text(
    live: &LiveProfile,
    doc: DocId,
    entry: &EntryId,
) -> Result<String> {
    let entry = entry.clone();
    let text = live
        .read(doc, move |hw| {
            hw.data().map(|data| {
                data.entries
                    .get(&entry)
                    .and_then(|e| match e.values.get(JOURNAL_FIELD) {
                        Some(between_shared::template::FieldValue::LongText(t)) => {
                            Some(t.as_str().to_owned())
                        }
                        _ => None,
                    })
            })
        })
        .await??;
    text.context("the journal entry has no text")
}

/// The output of a `between` run that must have succeeded, or an error with its stderr.
pub(crate) fn checked(run: between_e2e::Run) -> Result<String> {
    if run.ok {
        Ok(run.stdout)
    } else {
        bail!("`between` failed: {}", run.stderr.trim())
    }
}
