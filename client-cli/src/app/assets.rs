//! The app's pages, script and styles, compiled into the binary: nothing is fetched from
//! anywhere, and the app works offline.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLES: &str = include_str!("assets/app.css");

/// The app's one page; the script draws each view into it.
pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// `/assets/NAME`: the script and the styles.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "app.css" => (STYLES, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// What a browser without a session sees: why, and how to open the app. No script.
pub(crate) fn signed_out_page(why: &str) -> Html<String> {
    let why = why
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Between</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><main class="signed-out"><h1>Between</h1><p>{why}</p>
<p>In a terminal, <code>between app</code> opens the app and prints a new link.</p></main></body></html>"#
    ))
}
