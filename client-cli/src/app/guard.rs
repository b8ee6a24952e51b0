//! Who may talk to the local web app, decided without IO: the rules every request to
//! `between app` passes before any handler runs, and the headers every answer carries.
//!
//! The app serves the most sensitive data a person has, on a port any program or web page on
//! the machine can reach. So:
//! - **Host** must name loopback on the app's port: a DNS-rebinding page (evil.example
//!   resolving to 127.0.0.1) sends its own name and is refused.
//! - **Origin**, when the browser sends one, and **Sec-Fetch-Site** must say the request comes
//!   from the app's own pages: another local page or a web site cannot drive it.
//! - A **session cookie** is required for everything but the opening link and the public
//!   assets. The opening link carries a per-launch secret, good once, exchanged for the cookie
//!   (HttpOnly, SameSite=Strict, named after the port so two apps in one browser do not
//!   overwrite each other's).
//! - Every **state change is a POST** carrying the page's CSRF token in a header, and an
//!   Origin.
//! - Answers are never cached and run under a Content-Security-Policy that allows no inline
//!   script or style and nothing from anywhere else.

use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// The Content-Security-Policy of every answer: only the app's own script, styles, images and
/// connections; no inline script or style, no frames, no plugins, no form posts elsewhere.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every answer carries, beside the Content-Security-Policy.
pub(crate) const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// The header the pages send their CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Where the opening link points; the secret is its `key` query parameter.
pub(crate) const OPEN_PATH: &str = "/open";

/// The secrets of one launch of the app.
pub(crate) struct Secrets {
    port: u16,
    /// The opening link's secret, until it is used.
    opening: Mutex<Option<String>>,
    session: String,
    csrf: String,
}

/// What a request says about itself, as far as the guard cares.
#[derive(Debug, Default, Clone)]
pub(crate) struct RequestFacts<'a> {
    /// GET, POST, ...
    pub(crate) method: &'a str,
    /// The path, without the query.
    pub(crate) path: &'a str,
    /// The Host header.
    pub(crate) host: Option<&'a str>,
    /// The Origin header.
    pub(crate) origin: Option<&'a str>,
    /// The Sec-Fetch-Site header.
    pub(crate) fetch_site: Option<&'a str>,
    /// Every Cookie header, joined.
    pub(crate) cookies: Option<&'a str>,
    /// The CSRF header.
    pub(crate) csrf: Option<&'a str>,
}

/// Why a request was refused; each says what to do, since a person may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// The Host header does not name this app on loopback.
    #[error("this app answers only at 127.0.0.1 or localhost on its own port; open the link `between app` printed")]
    WrongHost,
    /// Sent by another site or local page.
    #[error(
        "this request came from another page or site, and only Between's own pages may use the app"
    )]
    ForeignOrigin,
    /// No valid session cookie.
    #[error("this browser is not signed in to the app; open the link `between app` printed (or start it again)")]
    NoSession,
    /// A state change without the page's CSRF token.
    #[error("this change did not come from an open Between page; reload the page and try again")]
    NoCsrfToken,
    /// The opening link was wrong or already used.
    #[error("this opening link is not valid any more: each link works once. Stop `between app` (Ctrl-C) and start it again for a new one")]
    UsedLink,
}

impl Refusal {
    /// The HTTP status it is answered with.
    pub(crate) fn status(self) -> u16 {
        match self {
            Refusal::WrongHost => 421,
            Refusal::ForeignOrigin | Refusal::NoCsrfToken => 403,
            Refusal::NoSession | Refusal::UsedLink => 401,
        }
    }
}

/// What the guard lets a request do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Go on to the handler.
    Proceed,
    /// The opening link with the right secret: set this `Set-Cookie` and go to the app.
    SignIn {
        /// The `Set-Cookie` header value.
        cookie: String,
    },
}

/// Draws a secret of 32 random bytes, as hex.
fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Secrets {
    /// Fresh secrets for an app on `port`.
    pub(crate) fn new(port: u16) -> Self {
        Self::with(port, secret(), secret(), secret())
    }

    fn with(port: u16, opening: String, session: String, csrf: String) -> Self {
        Self {
            port,
            opening: Mutex::new(Some(opening)),
            session,
            csrf,
        }
    }

    /// The link that signs a browser in, once.
    pub(crate) fn opening_url(&self) -> String {
        let key = self
            .opening
            .lock()
            .map(|key| key.clone().unwrap_or_default())
            .unwrap_or_default();
        format!("http://127.0.0.1:{}{OPEN_PATH}?key={key}", self.port)
    }

    /// The token pages send with each change.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    fn cookie_name(&self) -> String {
        format!("between_{}", self.port)
    }

    /// Decides about a request (see the module docs); `query` is the raw query string.
    pub(crate) fn check(
        &self,
        req: &RequestFacts<'_>,
        query: Option<&str>,
    ) -> Result<Admit, Refusal> {
        let hosts = [
            format!("127.0.0.1:{}", self.port),
            format!("localhost:{}", self.port),
        ];
        if !req.host.is_some_and(|host| hosts.iter().any(|h| h == host)) {
            return Err(Refusal::WrongHost);
        }
        if let Some(origin) = req.origin {
            if !hosts.iter().any(|h| origin == format!("http://{h}")) {
                return Err(Refusal::ForeignOrigin);
            }
        }
        // A navigation the person started (typed, bookmarked, opened by `between app`) says
        // "none"; the pages' own requests say "same-origin". Anything else is another site.
        if let Some(site) = req.fetch_site {
            if site != "same-origin" && site != "none" {
                return Err(Refusal::ForeignOrigin);
            }
        }
        let reads = matches!(req.method, "GET" | "HEAD");
        if req.path == OPEN_PATH && reads {
            return self.sign_in(query);
        }
        if req.path.starts_with("/assets/") && reads {
            // The binary's own script and styles: nothing personal, and the sign-in page
            // needs its styles before there is a session.
            return Ok(Admit::Proceed);
        }
        if !self.has_session(req.cookies) {
            return Err(Refusal::NoSession);
        }
        if !reads {
            if req.origin.is_none() {
                return Err(Refusal::ForeignOrigin);
            }
            if !req.csrf.is_some_and(|token| same(token, &self.csrf)) {
                return Err(Refusal::NoCsrfToken);
            }
        }
        Ok(Admit::Proceed)
    }

    fn has_session(&self, cookies: Option<&str>) -> bool {
        let name = self.cookie_name();
        cookies
            .into_iter()
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(key, value)| key == name && same(value, &self.session))
    }

    fn sign_in(&self, query: Option<&str>) -> Result<Admit, Refusal> {
        let given = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|pair| pair.strip_prefix("key="))
            .ok_or(Refusal::UsedLink)?;
        let mut opening = self.opening.lock().map_err(|_| Refusal::UsedLink)?;
        match opening.as_deref() {
            Some(key) if same(key, given) => {
                // Good once: a link seen later (in a process list, in history) opens nothing.
                *opening = None;
                Ok(Admit::SignIn {
                    cookie: format!(
                        "{}={}; HttpOnly; SameSite=Strict; Path=/",
                        self.cookie_name(),
                        self.session
                    ),
                })
            }
            _ => Err(Refusal::UsedLink),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::with(7123, "open".into(), "sess".into(), "tok".into())
    }

    fn page<'a>(method: &'a str, path: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            method,
            path,
            host: Some("127.0.0.1:7123"),
            origin: None,
            fetch_site: Some("same-origin"),
            cookies: Some("other=1; between_7123=sess"),
            csrf: None,
        }
    }

    fn post<'a>(path: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            origin: Some("http://127.0.0.1:7123"),
            csrf: Some("tok"),
            ..page("POST", path)
        }
    }

    #[test]
    fn a_signed_in_page_and_its_changes_pass() {
        let s = secrets();
        assert_eq!(
            s.check(&page("GET", "/api/today"), None),
            Ok(Admit::Proceed)
        );
        assert_eq!(s.check(&post("/api/mood"), None), Ok(Admit::Proceed));
        let localhost = RequestFacts {
            host: Some("localhost:7123"),
            origin: Some("http://localhost:7123"),
            ..post("/api/mood")
        };
        assert_eq!(s.check(&localhost, None), Ok(Admit::Proceed));
    }

    #[test]
    fn a_rebinding_host_or_another_port_is_refused() {
        let s = secrets();
        for host in [
            "evil.example:7123",
            "127.0.0.1:7124",
            "127.0.0.1",
            "[::1]:7123",
        ] {
            let req = RequestFacts {
                host: Some(host),
                ..page("GET", "/")
            };
            assert_eq!(s.check(&req, None), Err(Refusal::WrongHost), "{host}");
        }
        let none = RequestFacts {
            host: None,
            ..page("GET", "/")
        };
        assert_eq!(s.check(&none, None), Err(Refusal::WrongHost));
    }

    #[test]
    fn another_origin_or_site_is_refused_even_with_the_cookie_and_token() {
        let s = secrets();
        for origin in ["http://evil.example", "http://127.0.0.1:7124", "null"] {
            let req = RequestFacts {
                origin: Some(origin),
                ..post("/api/mood")
            };
            assert_eq!(s.check(&req, None), Err(Refusal::ForeignOrigin), "{origin}");
        }
        let cross = RequestFacts {
            fetch_site: Some("cross-site"),
            ..page("GET", "/api/today")
        };
        assert_eq!(s.check(&cross, None), Err(Refusal::ForeignOrigin));
        let no_origin = RequestFacts {
            origin: None,
            ..post("/api/mood")
        };
        assert_eq!(s.check(&no_origin, None), Err(Refusal::ForeignOrigin));
    }

    #[test]
    fn no_session_or_a_wrong_one_is_refused() {
        let s = secrets();
        for cookies in [None, Some("between_7123=other"), Some("between_7124=sess")] {
            let req = RequestFacts {
                cookies,
                ..page("GET", "/api/today")
            };
            assert_eq!(s.check(&req, None), Err(Refusal::NoSession), "{cookies:?}");
        }
        // Assets need none: the sign-in page is styled before there is a session.
        let asset = RequestFacts {
            cookies: None,
            ..page("GET", "/assets/app.css")
        };
        assert_eq!(s.check(&asset, None), Ok(Admit::Proceed));
        let asset_post = RequestFacts {
            cookies: None,
            ..post("/assets/app.css")
        };
        assert_eq!(s.check(&asset_post, None), Err(Refusal::NoSession));
    }

    #[test]
    fn a_change_without_the_token_is_refused() {
        let s = secrets();
        for csrf in [None, Some("wrong"), Some("")] {
            let req = RequestFacts {
                csrf,
                ..post("/api/mood")
            };
            assert_eq!(s.check(&req, None), Err(Refusal::NoCsrfToken), "{csrf:?}");
        }
    }

    #[test]
    fn the_opening_link_works_once() {
        let s = secrets();
        assert!(s.opening_url().ends_with("/open?key=open"));
        let open = RequestFacts {
            cookies: None,
            fetch_site: Some("none"),
            ..page("GET", OPEN_PATH)
        };
        assert_eq!(s.check(&open, Some("key=wrong")), Err(Refusal::UsedLink));
        assert_eq!(s.check(&open, None), Err(Refusal::UsedLink));
        let Ok(Admit::SignIn { cookie }) = s.check(&open, Some("key=open")) else {
            panic!("the right key signs in");
        };
        assert_eq!(
            cookie,
            "between_7123=sess; HttpOnly; SameSite=Strict; Path=/"
        );
        assert_eq!(s.check(&open, Some("key=open")), Err(Refusal::UsedLink));
    }
}
