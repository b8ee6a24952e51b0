//! The sync driver on a thread of its own, so that SQLite never runs on the async runtime's
//! threads and the driver (with its store connection) is only ever touched by that thread.
//! The async loop sends it jobs and awaits their results.

use std::path::PathBuf;

use super::driver::{Driver, DriverError, Mode};

type Job = Box<dyn FnOnce(&mut Driver) + Send>;

/// The driver's thread (see the module docs).
pub(crate) struct Core {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Core {
    /// Starts the thread and opens the driver on it.
    pub(crate) fn start(path: PathBuf, mode: Mode) -> Result<Self, DriverError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (ready, opened) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("between-sync-store".to_owned())
            .spawn(move || {
                let mut driver = match Driver::open(&path, mode) {
                    Ok(driver) => {
                        let _ = ready.send(Ok(()));
                        driver
                    }
                    Err(err) => {
                        let _ = ready.send(Err(err));
                        return;
                    }
                };
                while let Ok(job) = queue.recv() {
                    job(&mut driver);
                }
                // Best effort: everything was flushed after each call already, and a
                // compaction left for a quiet moment only saves space.
                let _ = driver.flush();
                let _ = driver.compact_due();
            })
            .map_err(|_| DriverError::Stopped)?;
        opened.recv().map_err(|_| DriverError::Stopped)??;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `f` on the driver's thread and waits for its result.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Driver) -> T + Send + 'static,
    ) -> Result<T, DriverError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let jobs = self.jobs.as_ref().ok_or(DriverError::Stopped)?;
        jobs.send(Box::new(move |driver: &mut Driver| {
            let _ = tx.send(f(driver));
        }))
        .map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
