//! A damaged or foreign file where a store should be, opened by the real `between` and
//! `between-relay` commands: each is refused, and the folder is left exactly as it was (no
//! `-wal` or `-shm` beside the file, no byte of it changed).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::{binary, Device};
use between_sqlite_file::testing::{
    file_names, folder_contents, noise, scramble, set_wal_mode, write_foreign_database,
};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a refusing command may take before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(60);

/// Spoils the file at a path.
type Spoil = fn(&Path);

/// Ways to spoil a store file that every opener must refuse. Each leaves the file in WAL mode
/// where it is still a SQLite file, as a store (or another program) leaves its database, since
/// that is when SQLite looks for side files.
fn damages() -> Vec<(&'static str, Spoil)> {
    vec![
        ("overwritten with noise", |path| {
            let len = std::fs::metadata(path).unwrap().len();
            std::fs::write(path, noise(usize::try_from(len).unwrap(), 11)).unwrap();
        }),
        ("cut to its first page", |path| {
            let bytes = std::fs::read(path).unwrap();
            std::fs::write(path, &bytes[..4096]).unwrap();
        }),
        ("its schema page scrambled", |path| {
            scramble(path, 100..4096, 42);
        }),
        ("another program's database", |path| {
            std::fs::remove_file(path).unwrap();
            write_foreign_database(path, 0);
            set_wal_mode(path);
        }),
    ]
}

/// Runs `command` to its end (or panics after [`DEADLINE`]); returns whether it succeeded and
/// its standard error. The end is awaited as the end of its output.
fn finish(mut command: Command) -> (bool, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = done.send(text);
    });
    let Ok(text) = ended.recv_timeout(DEADLINE) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{command:?} did not finish within {DEADLINE:?}");
    };
    (child.wait().unwrap().success(), text)
}

#[test]
fn the_client_refuses_a_damaged_store_and_leaves_its_folder_as_it_was() {
    let root = tempfile::tempdir().unwrap();
    let sam = Device::new(root.path(), "sam");
    sam.run(&["init", "--role", "client", "--name", "Sam"])
        .out();
    sam.run(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        "text=Walked by the river",
    ])
    .out();
    let store = sam.store_file();
    let folder = store.parent().unwrap();
    let good = std::fs::read(&store).unwrap();
    assert_eq!(
        file_names(folder),
        ["store.sqlite3"],
        "a closed store alone"
    );

    for (damage, spoil) in damages() {
        std::fs::write(&store, &good).unwrap();
        set_wal_mode(&store);
        spoil(&store);
        let before = folder_contents(folder);
        for args in [
            &["list"][..],
            &["entry", "new", "-t", "journal", "--set", "text=x"],
            &["sync"],
        ] {
            let (ok, stderr) = finish(sam.command(args));
            let command = args.join(" ");
            assert!(!ok, "`between {command}` opened a store {damage}");
            assert!(stderr.contains("store.sqlite3"), "{stderr}");
            assert!(
                folder_contents(folder) == before,
                "`between {command}` on a store {damage} changed its folder: now {:?}",
                file_names(folder)
            );
        }
    }
}

#[test]
fn the_relay_refuses_a_damaged_database_and_leaves_its_folder_as_it_was() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("relay");
    std::fs::create_dir(&folder).unwrap();
    let db = folder.join("relay.sqlite3");
    let relay = |args: &[&str]| {
        let mut command = Command::new(binary("between-relay"));
        command
            .arg("--db")
            .arg(&db)
            .args(args)
            .env_remove("BETWEEN_RELAY_DB")
            .env_remove("BETWEEN_RELAY_CONFIG")
            .env_remove("BETWEEN_RELAY_LISTEN");
        command
    };
    let (ok, stderr) = finish(relay(&["init"]));
    assert!(ok, "{stderr}");
    let good = std::fs::read(&db).unwrap();
    assert_eq!(
        file_names(&folder),
        ["relay.sqlite3"],
        "a closed database alone"
    );

    for (damage, spoil) in damages() {
        std::fs::write(&db, &good).unwrap();
        set_wal_mode(&db);
        spoil(&db);
        let before = folder_contents(&folder);
        for args in [
            &["check"][..],
            &["devices"],
            &["accounts"],
            &["audit", "verify"],
            &["serve", "--listen", "127.0.0.1:0"],
        ] {
            let (ok, stderr) = finish(relay(args));
            let command = args.join(" ");
            assert!(!ok, "`between-relay {command}` opened a database {damage}");
            assert!(stderr.contains("relay.sqlite3"), "{stderr}");
            assert!(
                folder_contents(&folder) == before,
                "`between-relay {command}` on a database {damage} changed its folder: now {:?}",
                file_names(&folder)
            );
        }
    }
}
