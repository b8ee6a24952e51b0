//! `between app`: the profile's web app, served by this binary on loopback.
//!
//! The app holds the profile open with [`crate::live`] (so it syncs in the background exactly
//! like `sync --watch`), serves its pages and a JSON API ([`api`], documented in
//! `docs/app-api.md`) on 127.0.0.1, and opens the person's browser at a one-time link
//! ([`guard`]). Every asset is inside the binary: nothing is fetched from anywhere, and it
//! works offline.
//!
//! The pages are plain HTML, CSS and one script, with no build step: they fetch JSON from the
//! API and redraw when the server-sent events of `/api/events` say that something changed.

mod api;
mod assets;
mod events;
mod guard;
mod views;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::cli::AppArgs;
use crate::live::LiveProfile;
use crate::profile::store_path;
use guard::{Admit, RequestFacts, Secrets};

/// How often the app looks for changes that `between` commands stored beside it.
const LOCAL_CHANGES_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A request to open the profile again, with where to answer: how many shared documents the
/// app syncs now.
pub(crate) type Reopen = tokio::sync::oneshot::Sender<Result<usize, crate::live::LiveError>>;

/// What every handler shares: the open profile, the launch's secrets and the sync's state.
pub(crate) struct App {
    /// Behind a lock only so "Look for new clients" can open the profile again ([`App::reopen`]).
    live: tokio::sync::RwLock<LiveProfile>,
    dir: std::path::PathBuf,
    /// Asks [`serve`] to open the profile again (opening is not `Send`, so it runs there, not
    /// in a request's task); the answer comes back on the enclosed channel.
    reopening: tokio::sync::mpsc::Sender<Reopen>,
    secrets: Secrets,
    store_path: std::path::PathBuf,
    events: events::Hub,
}

impl App {
    /// The open profile, for one request.
    async fn live(&self) -> tokio::sync::RwLockReadGuard<'_, LiveProfile> {
        self.live.read().await
    }

    /// Opens the profile again (with its sharing pass) and syncs what it holds now; returns
    /// how many shared documents it syncs. The new one opens before the old one closes, and
    /// no request edits meanwhile, so the old one has nothing left to write.
    /// Asks for [`App::reopen`] (see [`App::reopening`]) and waits for it.
    pub(crate) async fn ask_to_reopen(&self) -> Result<usize, crate::live::LiveError> {
        let (answer, done) = tokio::sync::oneshot::channel();
        let stopped = || crate::live::LiveError::Sync("the app is stopping".to_owned());
        self.reopening.send(answer).await.map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    async fn reopen(&self) -> Result<usize, crate::live::LiveError> {
        let mut live = self.live.write().await;
        let fresh = LiveProfile::open(&self.dir, true).await?;
        self.events.attach(&fresh);
        let old = std::mem::replace(&mut *live, fresh);
        let documents = live
            .documents()
            .await?
            .iter()
            .filter(|d| !d.private)
            .count();
        drop(live);
        // Ends its sync (its pushes are stored, and the new one sends what is left).
        let _ = old.close().await;
        Ok(documents)
    }
}

/// `between app`: serves until Ctrl-C.
pub(crate) fn run(dir: &Path, args: &AppArgs) -> Result<()> {
    crate::sync::runtime()?.block_on(serve(dir, args))
}

async fn serve(dir: &Path, args: &AppArgs) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await
        .with_context(|| {
            format!(
                "could not listen on 127.0.0.1:{}; another program uses that port. Choose another with --port, or leave it out to take a free one",
                args.port
            )
        })?;
    let port = listener
        .local_addr()
        .context("the listening address")?
        .port();
    let live = LiveProfile::open(dir, true)
        .await
        .context("could not open the profile for the app")?;
    let events = events::Hub::start(&live);
    let (reopening, mut reopen_requests) = tokio::sync::mpsc::channel::<Reopen>(4);
    let app = Arc::new(App {
        live: tokio::sync::RwLock::new(live),
        dir: dir.to_path_buf(),
        reopening,
        secrets: Secrets::new(port),
        store_path: store_path(dir),
        events,
    });
    // What `between` commands beside the app store shows on the open pages too.
    let watcher = Arc::downgrade(&app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LOCAL_CHANGES_EVERY);
        loop {
            tick.tick().await;
            // Ends with the app (holding it only while it looks, so stopping can close it).
            let Some(app) = watcher.upgrade() else { break };
            let changed = app.live().await.refresh().await;
            if let Ok(true) = changed {
                app.events.changed();
            }
        }
    });
    let url = app.secrets.opening_url();
    let router = api::routes()
        .layer(axum::middleware::from_fn_with_state(app.clone(), guarded))
        .with_state(app.clone());
    println!("Between is open at {url}");
    println!("That link works once, in one browser. Keep this window open while you use the app; Ctrl-C stops it.");
    if !args.no_open {
        if let Err(err) = open::that_detached(&url) {
            println!("Could not open a browser ({err}); open the link above yourself.");
        }
    }
    let stopping = app.clone();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopping.events.stop();
    });
    let server = std::future::IntoFuture::into_future(server);
    tokio::pin!(server);
    loop {
        tokio::select! {
            served = &mut server => {
                served.context("the app's server stopped")?;
                break;
            }
            Some(answer) = reopen_requests.recv() => {
                let _ = answer.send(app.reopen().await);
            }
        }
    }
    println!("Stopping: sending what is left to send.");
    // A request still holding the app would drop it later, which stops the sync as well.
    if let Ok(app) = Arc::try_unwrap(app) {
        app.live
            .into_inner()
            .close()
            .await
            .context("the last sync")?;
    }
    Ok(())
}

/// Runs [`Secrets::check`] on every request and adds the security headers to every answer.
async fn guarded(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let (decision, wants_page) = decide(&app.secrets, &request);
    let mut response = match decision {
        Ok(Admit::Proceed) => next.run(request).await,
        Ok(Admit::SignIn { cookie }) => {
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
            if wants_page {
                (status, assets::signed_out_page(&refusal.to_string())).into_response()
            } else {
                api::ApiError::new(status, refusal.to_string()).into_response()
            }
        }
    };
    for (name, value) in guard::SECURITY_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// What the guard says about `request`, and whether a refusal should be a page (a person
/// opening the app) rather than JSON (a page's script).
fn decide(secrets: &Secrets, request: &Request) -> (Result<Admit, guard::Refusal>, bool) {
    let text = |name: header::HeaderName| {
        let values: Vec<&str> = request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join("; "))
    };
    let cookies = text(header::COOKIE);
    let host = text(header::HOST);
    let origin = text(header::ORIGIN);
    let fetch_site = text(header::HeaderName::from_static("sec-fetch-site"));
    let csrf = text(header::HeaderName::from_static(guard::CSRF_HEADER));
    let facts = RequestFacts {
        method: request.method().as_str(),
        path: request.uri().path(),
        host: host.as_deref(),
        origin: origin.as_deref(),
        fetch_site: fetch_site.as_deref(),
        cookies: cookies.as_deref(),
        csrf: csrf.as_deref(),
    };
    let wants_page = facts.path == "/" || facts.path == guard::OPEN_PATH;
    (secrets.check(&facts, request.uri().query()), wants_page)
}
